// Content hashes (XXH3 64) and their cache keyed by device, inode, size and mtime: the
// streamed hash against libxxhash's one-shot XXH3_64bits over the same bytes (larger than one
// read block) and the published hash of the empty input; a cache hit reads nothing, a changed
// file or a touched one is read again, a corrupt cache is an empty one.
#include <doctest/doctest.h>
#include <xxhash.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/file_hash_cache.hpp"
#include "pipeline/io/input_files.hpp"
#include "tests/unit/error_of.hpp"
#include "tests/unit/scratch_dir.hpp"

namespace fs = std::filesystem;

namespace {

using TempDir = circal::testing::ScratchDir;

void write_text(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string hex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = char(rng() & 0xff);
  return bytes;
}

}  // namespace

TEST_CASE("file_content_hash is XXH3 64 of the bytes, streamed in blocks") {
  TempDir dir;
  write_text(dir.path / "empty", "");
  CHECK(circal::file_content_hash((dir.path / "empty").string()) == "2d06800538d394c2");  // XXH3_64bits("")
  const std::string bytes = random_bytes((std::size_t(9) << 20) + 13, 1);                 // over two 4 MiB blocks
  write_text(dir.path / "big", bytes);
  CHECK(circal::file_content_hash((dir.path / "big").string()) == hex(XXH3_64bits(bytes.data(), bytes.size())));
  CHECK(std::string(circal::content_hash_name()) == "xxh3-64");
}

TEST_CASE("a cached hash is returned without reading the file, until the file changes") {
  TempDir dir;
  const fs::path file = dir.path / "weights.bin", cache_path = dir.path / "cache.json";
  write_text(file, random_bytes(4096, 2));
  const std::string expected = circal::file_content_hash(file.string());

  circal::FileHashCache first(cache_path.string());
  CHECK(first.hash(file.string()) == expected);
  CHECK(first.files_read() == 1);
  CHECK(first.hash(file.string()) == expected);
  CHECK(first.files_read() == 1);  // remembered in memory too
  first.save();
  REQUIRE(fs::exists(cache_path));
  CHECK_FALSE(fs::exists(cache_path.string() + ".tmp"));

  circal::FileHashCache second(cache_path.string());
  CHECK(second.hash(file.string()) == expected);
  CHECK(second.files_read() == 0);

  SUBCASE("same size, other bytes, later mtime: read again, a new hash") {
    const auto mtime = fs::last_write_time(file);
    write_text(file, random_bytes(4096, 3));
    fs::last_write_time(file, mtime + std::chrono::seconds(2));
    circal::FileHashCache third(cache_path.string());
    CHECK(third.hash(file.string()) == circal::file_content_hash(file.string()));
    CHECK(third.hash(file.string()) != expected);
    CHECK(third.files_read() == 1);
  }
  SUBCASE("only touched: read again, the same hash") {
    fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(2));
    circal::FileHashCache third(cache_path.string());
    CHECK(third.hash(file.string()) == expected);
    CHECK(third.files_read() == 1);
  }
  SUBCASE("another file of the same bytes (another inode): read, not confused") {
    fs::copy_file(file, dir.path / "copy.bin");
    circal::FileHashCache third(cache_path.string());
    CHECK(third.hash((dir.path / "copy.bin").string()) == expected);
    CHECK(third.files_read() == 1);
  }
}

TEST_CASE("a corrupt or foreign cache is an empty cache, not an error") {
  TempDir dir;
  const fs::path file = dir.path / "weights.bin", cache_path = dir.path / "cache.json";
  write_text(file, random_bytes(1000, 4));
  const circal::FileIdentity identity = circal::file_identity(file.string());
  const std::string entry = "{\"device\": " + std::to_string(identity.device) +
                            ", \"inode\": " + std::to_string(identity.inode) +
                            ", \"size\": " + std::to_string(identity.size) +
                            ", \"mtime_ns\": " + std::to_string(identity.mtime_ns) + ", \"content_hash\": \"0bad\"}";
  for (const std::string& content : std::vector<std::string>{
           std::string("not json at all"),
           std::string("{\"format\": \"circal file hashes 1\", \"hash\": \"xxh3-64\", \"files\": [{"),
           "{\"format\": \"circal file hashes 1\", \"hash\": \"fnv1a-64\", \"files\": [" + entry + "]}",
           "{\"format\": \"circal file hashes 1\", \"hash\": \"xxh3-64\", \"files\": [{\"device\": \"x\"}]}",
           std::string("{\"format\": 7}"), std::string("[]"), std::string()}) {
    CAPTURE(content);
    write_text(cache_path, content);
    circal::FileHashCache cache(cache_path.string());
    CHECK(cache.hash(file.string()) == circal::file_content_hash(file.string()));
    CHECK(cache.files_read() == 1);
  }
  // The same entry under the right hash name is trusted (so the foreign one above was refused
  // for its name, not for its layout).
  write_text(cache_path, "{\"format\": \"circal file hashes 1\", \"hash\": \"xxh3-64\", \"files\": [" + entry + "]}");
  circal::FileHashCache trusted(cache_path.string());
  CHECK(trusted.hash(file.string()) == "0bad");
  CHECK(trusted.files_read() == 0);
}

TEST_CASE("a cache that cannot be written names its path") {
  TempDir dir;
  write_text(dir.path / "file", "x");
  write_text(dir.path / "blocker", "a file where the cache's directory should be");
  circal::FileHashCache cache((dir.path / "blocker" / "cache.json").string());
  cache.hash((dir.path / "file").string());
  const circal::CircalError error = circal::testing::error_of([&] { cache.save(); });
  CHECK(error.code() == circal::kExitIo);
  CHECK(std::string(error.what()).find("blocker") != std::string::npos);
}
