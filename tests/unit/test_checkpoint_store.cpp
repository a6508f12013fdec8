// Checkpoint store (round trip, atomicity, refusals, h5py-written references), content hash
// and the run-directory lock, all on one rank.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "pipeline/base/errors.hpp"
#include "pipeline/base/version_stamp.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/io/hdf5_handle.hpp"
#include "pipeline/io/input_files.hpp"
#include "pipeline/runtime/mpi_context.hpp"
#include "pipeline/runtime/run_directory.hpp"
#include "tests/reference_files.hpp"
#include "tests/unit/error_of.hpp"
#include "tests/unit/scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace circal;

namespace {

using testing::error_of;
using testing::ScratchDir;

const CheckpointMeta kMeta{"capture", "fp-1234", "model:\n  path: m\nrun_dir: runs/x\n"};

void write_small_checkpoint(const std::string& path, const CheckpointMeta& meta = kMeta) {
  CheckpointWriter writer(MPI_COMM_SELF, path, meta);
  const std::vector<float> values = {1.5f, -2.25f, 3.0f};
  writer.write("values", {3}, values.data());
  writer.commit();
}

std::string fixture_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("checkpoint round trip: every dtype, row writes, gzip chunks, attributes") {
  ScratchDir dir;
  const std::string path = dir.file("sub/dir/capture.h5");  // parents are created
  const std::vector<float> f32 = {0.1f, -1e-30f, 3.4e38f, 7.0f, -0.0f, 1.0f / 3.0f};
  const std::vector<double> f64 = {M_PI, -1e-300, 1e300, 2.5, 0.0, -1.0 / 7.0};
  const std::vector<int32_t> i32 = {INT32_MIN, -1, 0, 1, 42, INT32_MAX};
  const std::vector<int64_t> i64 = {INT64_MIN, -1, 0, 1, 1LL << 40, INT64_MAX};
  std::vector<float> big(50 * 7);
  for (size_t i = 0; i < big.size(); ++i) big[i] = std::sin(0.37f * static_cast<float>(i)) * 1000.0f;
  {
    CheckpointWriter writer(MPI_COMM_SELF, path, kMeta);
    writer.write("f32", {2, 3}, f32.data());
    writer.write("group/f64", {3, 2}, f64.data());
    writer.write("layers/1/gate_proj/i32", {6}, i32.data());
    writer.write("i64", {6}, i64.data());
    writer.create("big", H5Type::Float32, {50, 7}, /*gzip_level=*/4, /*chunk_rows=*/8);
    writer.write_rows("big", 0, 23, big.data());
    writer.write_rows("big", 23, 0, static_cast<const float*>(nullptr));
    writer.write_rows("big", 23, 27, big.data() + 23 * 7);
    writer.set_attr("/", "note", std::string("line one\nline two"));
    writer.set_attr("/", "empty", std::string());
    writer.set_attr("group", "scale", 0.125);
    writer.set_attr("group/f64", "count", int64_t{-7});
    writer.set_attr("made/on/demand", "losses", std::vector<double>{1.0, 0.5, 0.25});
    CHECK(fs::exists(path + ".tmp"));
    CHECK_FALSE(fs::exists(path));
    writer.commit();
  }
  CHECK_FALSE(fs::exists(path + ".tmp"));
  const CheckpointReader reader = CheckpointReader::open(path, "capture", "fp-1234");
  CHECK(reader.read_float("f32") == f32);
  CHECK(reader.read_double("group/f64") == f64);
  CHECK(reader.read_int32("layers/1/gate_proj/i32") == i32);
  CHECK(reader.read_int64("i64") == i64);
  CHECK(reader.read_float("big") == big);
  CHECK(reader.read_float_rows("big", 10, 5) == std::vector<float>(big.begin() + 70, big.begin() + 105));
  CHECK(reader.read_int32_rows("layers/1/gate_proj/i32", 2, 3) == std::vector<int32_t>{0, 1, 42});
  CHECK(reader.read_double("f32")[5] == static_cast<double>(f32[5]));  // HDF5 converts
  CHECK(reader.shape("f32") == std::vector<uint64_t>{2, 3});
  CHECK(reader.shape("big") == std::vector<uint64_t>{50, 7});
  CHECK(reader.dtype_name("i64") == "int64");
  CHECK(reader.dtype_name("group/f64") == "float64");
  CHECK(reader.children("/") == std::vector<std::string>{"big", "f32", "group", "i64", "layers", "made"});
  CHECK(reader.is_group("layers/1"));
  CHECK_FALSE(reader.is_group("big"));
  CHECK(reader.exists("layers/1/gate_proj/i32"));
  CHECK_FALSE(reader.exists("layers/2/gate_proj/i32"));

  CHECK(reader.attr_string("/", "note") == "line one\nline two");
  CHECK(reader.attr_string("/", "empty").empty());
  CHECK(reader.attr_double("group", "scale") == 0.125);
  CHECK(reader.attr_int("group/f64", "count") == -7);
  CHECK(reader.attr_doubles("made/on/demand", "losses") == std::vector<double>{1.0, 0.5, 0.25});
  CHECK(reader.attr_kind("group", "scale") == CheckpointReader::AttrKind::Float);
  CHECK(reader.attr_kind("/", "ranks") == CheckpointReader::AttrKind::Integer);

  CHECK(reader.attr_string("/", "stage") == "capture");
  CHECK(reader.attr_string("/", "fingerprint") == "fp-1234");
  CHECK(reader.attr_string("/", "config") == kMeta.config_yaml);
  CHECK(reader.attr_string("/", "circal_version") == std::string(circal_version()));
  CHECK(reader.attr_string("/", "git_commit") == std::string(circal_git_commit()));
  CHECK(std::regex_match(reader.attr_string("/", "git_commit"), std::regex(R"(([0-9a-f]{12}(-dirty)?)|unknown)")));
  CHECK(reader.attr_int("/", "ranks") == 1);
  CHECK(reader.attr_int("/", "complete") == 1);
  CHECK(std::regex_match(reader.attr_string("/", "created"), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
}

TEST_CASE("a writer destroyed without commit leaves neither PATH nor PATH.tmp") {
  ScratchDir dir;
  const std::string path = dir.file("project.h5");
  {
    CheckpointWriter writer(MPI_COMM_SELF, path, kMeta);
    const std::vector<double> values(100, 1.0);
    writer.write("values", {100}, values.data());
    REQUIRE(fs::exists(path + ".tmp"));
  }
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK(error_of([&] { CheckpointReader::open(path, "capture"); }).code() == kExitCheckpoint);
}

TEST_CASE("readers refuse missing, incomplete, truncated, wrong-stage and stale files") {
  ScratchDir dir;
  const std::string path = dir.file("capture.h5");
  write_small_checkpoint(path);
  REQUIRE(CheckpointReader::open(path, "capture", "fp-1234").read_float("values").size() == 3);

  SUBCASE("missing") {
    const CircalError e = error_of([&] { CheckpointReader::open(dir.file("nope.h5"), "capture"); });
    CHECK(e.code() == kExitCheckpoint);
    CHECK(std::string(e.what()) == dir.file("nope.h5") + ": missing");
  }
  SUBCASE("complete flag 0") {
    {
      H5File file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
      REQUIRE(file.valid());
      H5Attribute complete(H5Aopen(file.get(), "complete", H5P_DEFAULT));
      const int64_t zero = 0;
      REQUIRE(H5Awrite(complete.get(), H5T_NATIVE_INT64, &zero) >= 0);
    }
    const CircalError e = error_of([&] { CheckpointReader::open(path, "capture"); });
    CHECK(e.code() == kExitCheckpoint);
    CHECK(std::string(e.what()) == path + ": incomplete (written by a process that did not finish)");
  }
  SUBCASE("truncated") {
    const std::string truncated = dir.file("truncated.h5");
    fs::copy_file(path, truncated);
    fs::resize_file(truncated, fs::file_size(path) / 2);
    const CircalError e = error_of([&] { CheckpointReader::open(truncated, "capture"); });
    CHECK(e.code() == kExitCheckpoint);
    CHECK(std::string(e.what()) == truncated + ": not an HDF5 file or truncated");
  }
  SUBCASE("not HDF5") {
    const std::string text = dir.file("text.h5");
    std::ofstream(text) << "model: x\n";
    CHECK(std::string(error_of([&] { CheckpointReader reader(text); }).what()) ==
          text + ": not an HDF5 file or truncated");
  }
  SUBCASE("another stage") {
    const CircalError e = error_of([&] { CheckpointReader::open(path, "project"); });
    CHECK(e.code() == kExitCheckpoint);
    CHECK(std::string(e.what()) == path + ": is a 'capture' checkpoint, expected 'project'");
  }
  SUBCASE("another fingerprint") {
    const CircalError e = error_of([&] { CheckpointReader::open(path, "capture", "fp-9999"); });
    CHECK(e.code() == kExitCheckpoint);
    CHECK(std::string(e.what()) ==
          path + ": fingerprint fp-1234 does not match the current config/input fp-9999 (stale)");
  }
  SUBCASE("missing dataset names file and dataset") {
    const CheckpointReader reader = CheckpointReader::open(path, "capture");
    const CircalError e = error_of([&] { reader.read_float("layers/0/c"); });
    CHECK(e.code() == kExitCheckpoint);
    CHECK(std::string(e.what()).find(path) == 0);
    CHECK(std::string(e.what()).find("'layers/0/c'") != std::string::npos);
  }
}

TEST_CASE("h5py-written reference files: variable-length text attributes and numeric attributes") {
  const CheckpointReader teacher(circal::test::reference_file("teacher.h5"));
  const std::string text = teacher.attr_string("prompt0", "text");
  CHECK(text.rfind("The fast Fourier transform", 0) == 0);
  CHECK(teacher.attr_kind("prompt0", "text") == CheckpointReader::AttrKind::String);
  CHECK(teacher.attr_string("/", "model") == "manpages-llama-5m");
  const std::vector<uint64_t> logits = teacher.shape("prompt0/logits");
  REQUIRE(logits.size() == 2);
  CHECK(logits[0] == teacher.shape("prompt0/tokens")[0]);
  CHECK(teacher.dtype_name("prompt0/logits") == "float64");
  CHECK(teacher.read_double("prompt0/logits").size() == logits[0] * logits[1]);
  CHECK(teacher.read_int32("prompt0/greedy16").size() == 16);

  const CheckpointReader klgrad(circal::test::reference_file("klgrad.h5"));
  CHECK(klgrad.attr_int("/", "block_size") == 32);
  CHECK(klgrad.attr_ints("/", "layers") == std::vector<int64_t>{1, 3});
  CHECK(klgrad.attr_double("tau2", "tau") == 2.0);
  // Not a circal checkpoint: no complete/stage attributes.
  CHECK(error_of([&] { CheckpointReader::open(circal::test::reference_file("klgrad.h5"), "capture"); }).code() ==
        kExitCheckpoint);
}

TEST_CASE("file_content_hash: XXH3-64 test vectors, streamed across 4 MiB blocks") {
  ScratchDir dir;
  const std::string empty = dir.file("empty"), a = dir.file("a");
  std::ofstream(empty).close();
  std::ofstream(a) << "a";
  CHECK(file_content_hash(empty) == "2d06800538d394c2");  // XXH3_64bits of no bytes, seed 0
  CHECK(file_content_hash(a) == "e6c632b61e964e1f");

  const std::string big = dir.file("big"), changed = dir.file("changed");
  std::string bytes((9 << 20) + 7, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::ofstream(big, std::ios::binary) << bytes;
  bytes[(8 << 20) + 1] ^= 1;  // one bit in the third block
  std::ofstream(changed, std::ios::binary) << bytes;
  CHECK(fixture_text(big).size() == bytes.size());
  // Streamed over 4 MiB blocks, the hash equals XXH3 of the whole content at once.
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(XXH3_64bits(bytes.data(), bytes.size())));
  CHECK(file_content_hash(changed) == hex);
  CHECK(file_content_hash(big) != file_content_hash(changed));
  CHECK(error_of([&] { file_content_hash(dir.file("absent")); }).code() == kExitInput);
}

TEST_CASE("run directory: created, locked with host and pid, second holder refused, released") {
  ScratchDir dir;
  MpiContext mpi;
  const std::string run = dir.file("runs/a");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  {
    RunDirectory first(mpi, run);
    REQUIRE(fs::exists(first.lock_path()));
    const std::string lock = fixture_text(first.lock_path());
    CHECK(lock.find("pid " + std::to_string(::getpid())) != std::string::npos);
    const CircalError e = error_of([&] { RunDirectory second(mpi, run); });
    CHECK(e.code() == kExitLocked);
    CHECK(std::string(e.what()) == run + ": in use by circal pid " + std::to_string(::getpid()) + " on host " + host);
    CHECK(fs::exists(first.lock_path()));  // the refused one did not remove it
  }
  CHECK_FALSE(fs::exists(run + "/.circal.lock"));
  RunDirectory again(mpi, run);
  CHECK(fs::exists(again.lock_path()));
}

TEST_CASE("run directory: a stale lock of a dead process is taken over, another host's fresh one is not") {
  ScratchDir dir;
  MpiContext mpi;
  const std::string run = dir.file("run");
  fs::create_directories(run);
  char host[256] = {};
  gethostname(host, sizeof host - 1);

  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  REQUIRE(child > 0);
  ::waitpid(child, nullptr, 0);  // now a pid of no live process
  std::ofstream(run + "/.circal.lock") << "pid " << child << "\nhost " << host << "\n";
  {
    RunDirectory taken(mpi, run);
    CHECK(fixture_text(taken.lock_path()).find("pid " + std::to_string(::getpid())) != std::string::npos);
  }

  std::ofstream(run + "/.circal.lock") << "pid " << child << "\nhost elsewhere.example\n";
  const CircalError e = error_of([&] { RunDirectory refused(mpi, run); });
  CHECK(e.code() == kExitLocked);
  const std::string message = e.what();
  const std::string holder = run + ": in use by circal pid " + std::to_string(child) + " on host elsewhere.example";
  const std::string advice =
      " s ago; it is taken over once not refreshed for 300 s (if elsewhere.example is down, remove " + run +
      "/.circal.lock)";
  CHECK(message.rfind(holder + ": its lock was refreshed ", 0) == 0);  // the seconds depend on the clock
  CHECK(message.size() > advice.size());
  CHECK(message.compare(message.size() - advice.size(), advice.size(), advice) == 0);
  CHECK(fixture_text(run + "/.circal.lock").find("host elsewhere.example") != std::string::npos);  // left as it was

  // Not refreshed for longer than kLockStaleSeconds: its host is taken to be gone.
  const timespec stale[2] = {{::time(nullptr) - kLockStaleSeconds - 5, 0},
                             {::time(nullptr) - kLockStaleSeconds - 5, 0}};
  REQUIRE(::utimensat(AT_FDCWD, (run + "/.circal.lock").c_str(), stale, 0) == 0);
  RunDirectory taken(mpi, run);
  CHECK(fixture_text(taken.lock_path()).find("host " + std::string(host)) != std::string::npos);
}

TEST_CASE("run directory that cannot be created is an I/O error naming it") {
  ScratchDir dir;
  MpiContext mpi;
  std::ofstream(dir.file("plain-file")) << "x";
  const std::string run = dir.file("plain-file/run");
  const CircalError e = error_of([&] { RunDirectory bad(mpi, run); });
  CHECK(e.code() == kExitIo);
  CHECK(std::string(e.what()).rfind(run + ": ", 0) == 0);
}
