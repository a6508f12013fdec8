#include "pipeline/io/file_hash_cache.hpp"

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/atomic_text_file.hpp"
#include "pipeline/io/input_files.hpp"

namespace circal {

namespace {

// The cache names its hash: a cache of another hash function is ignored, not trusted.
constexpr const char* kFormat = "circal file hashes 1";

std::vector<HashedFile> read_cache(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  try {
    const nlohmann::json cache = nlohmann::json::parse(in);
    if (cache.at("format").get<std::string>() != kFormat || cache.at("hash").get<std::string>() != content_hash_name())
      return {};
    std::vector<HashedFile> files;
    for (const nlohmann::json& entry : cache.at("files")) {
      HashedFile file;
      file.identity.device = entry.at("device").get<uint64_t>();
      file.identity.inode = entry.at("inode").get<uint64_t>();
      file.identity.size = entry.at("size").get<uint64_t>();
      file.identity.mtime_ns = entry.at("mtime_ns").get<int64_t>();
      file.hash = entry.at("content_hash").get<std::string>();
      files.push_back(file);
    }
    return files;
  } catch (const std::exception&) {
    return {};  // corrupt or of another layout: hash again
  }
}

}  // namespace

FileIdentity file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(kExitInput, path + ": cannot stat (" + std::strerror(errno) + ")");
  FileIdentity identity;
  identity.device = uint64_t(st.st_dev);
  identity.inode = uint64_t(st.st_ino);
  identity.size = uint64_t(st.st_size);
  identity.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return identity;
}

FileHashCache::FileHashCache(std::string path) : path_(std::move(path)), files_(read_cache(path_)) {}

std::string FileHashCache::hash(const std::string& path) {
  const FileIdentity before = file_identity(path);
  for (const HashedFile& file : files_)
    if (file.identity == before) return file.hash;
  const std::string hash = file_content_hash(path);
  ++files_read_;
  // A file rewritten while it was read has no hash worth keeping.
  if (file_identity(path) == before) remember({before, hash});
  return hash;
}

void FileHashCache::remember(const HashedFile& file) {
  for (HashedFile& known : files_)
    if (known.identity == file.identity) {
      changed_ = changed_ || known.hash != file.hash;
      known.hash = file.hash;
      return;
    }
  files_.push_back(file);
  changed_ = true;
}

void FileHashCache::save() const {
  if (!changed_ || path_.empty()) return;
  nlohmann::json files = nlohmann::json::array();
  for (const HashedFile& file : files_)
    files.push_back({{"device", file.identity.device},
                     {"inode", file.identity.inode},
                     {"size", file.identity.size},
                     {"mtime_ns", file.identity.mtime_ns},
                     {"content_hash", file.hash}});
  const nlohmann::json cache = {{"format", kFormat}, {"hash", content_hash_name()}, {"files", files}};
  write_file_atomically(path_, cache.dump(1) + "\n");
}

}  // namespace circal
