// Parallel checkpoint writes at any rank count: uneven row ranges (some ranks without rows)
// of a gzip-chunked float dataset and an int32 dataset, written collectively, read back equal
// to the serial expectation and to a file written by rank 0 alone.
#include <doctest/doctest.h>
#include <mpi.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/runtime/mpi_context.hpp"

namespace fs = std::filesystem;
using namespace circal;

namespace {

constexpr uint64_t kRows = 37;
constexpr uint64_t kCols = 5;

float float_value(uint64_t row, uint64_t col) {
  return std::sin(0.1f * static_cast<float>(row * kCols + col)) * 100.0f + static_cast<float>(row);
}
int32_t int_value(uint64_t row) { return static_cast<int32_t>(row * row) - 500; }

// Rows of rank r: weights 0 for odd ranks, r + 1 otherwise, so ranges are uneven and, from two
// ranks on, some ranks write nothing.
std::pair<uint64_t, uint64_t> rows_of(int rank, int size) {
  auto weight = [](int r) -> uint64_t { return r % 2 == 1 ? 0 : r + 1; };
  uint64_t before = 0, total = 0;
  for (int r = 0; r < size; ++r) {
    if (r < rank) before += weight(r);
    total += weight(r);
  }
  const uint64_t begin = kRows * before / total;
  const uint64_t end = kRows * (before + weight(rank)) / total;
  return {begin, end - begin};
}

void write_checkpoint(MPI_Comm comm, const std::string& path) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const auto [row0, nrows] = rows_of(rank, size);
  std::vector<float> floats;
  std::vector<int32_t> ints;
  for (uint64_t r = row0; r < row0 + nrows; ++r) {
    ints.push_back(int_value(r));
    for (uint64_t c = 0; c < kCols; ++c) floats.push_back(float_value(r, c));
  }
  CheckpointWriter writer(comm, path, {"capture", "fp-parallel", "ranks: any\n"});
  // Chunks of 4 rows straddle the rank boundaries.
  writer.create("hidden/x", H5Type::Float32, {kRows, kCols}, /*gzip_level=*/6, /*chunk_rows=*/4);
  writer.create("tokens", H5Type::Int32, {kRows});
  writer.write_rows("hidden/x", row0, nrows, floats.data());
  writer.write_rows("tokens", row0, nrows, ints.data());
  writer.set_attr("hidden/x", "rows", static_cast<int64_t>(kRows));
  writer.commit();
}

std::string shared_scratch(const MpiContext& mpi) {
  std::string dir;
  if (mpi.is_root()) {
    dir = (fs::temp_directory_path() / ("circal-parallel-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  return broadcast_string(mpi.comm(), dir);
}

}  // namespace

TEST_CASE("row ranges cover every row once, some ranks own none") {
  MpiContext mpi;
  uint64_t next = 0;
  for (int r = 0; r < mpi.size(); ++r) {
    const auto [row0, nrows] = rows_of(r, mpi.size());
    CHECK(row0 == next);
    next = row0 + nrows;
  }
  CHECK(next == kRows);
  if (mpi.size() > 1) CHECK(rows_of(1, mpi.size()).second == 0);
}

TEST_CASE("collective gzip-chunked writes equal the serial expectation and a 1-rank file") {
  MpiContext mpi;
  const std::string dir = shared_scratch(mpi);
  const std::string parallel_path = dir + "/parallel.h5";
  const std::string single_path = dir + "/single.h5";

  write_checkpoint(mpi.comm(), parallel_path);
  MPI_Comm alone;
  MPI_Comm_split(mpi.comm(), mpi.is_root() ? 0 : MPI_UNDEFINED, 0, &alone);
  if (mpi.is_root()) {
    write_checkpoint(alone, single_path);
    MPI_Comm_free(&alone);
  }
  mpi.barrier();

  std::vector<float> expected_floats;
  std::vector<int32_t> expected_ints;
  for (uint64_t r = 0; r < kRows; ++r) {
    expected_ints.push_back(int_value(r));
    for (uint64_t c = 0; c < kCols; ++c) expected_floats.push_back(float_value(r, c));
  }
  // Every rank reads on its own (sec2 driver), concurrently.
  const CheckpointReader parallel = CheckpointReader::open(parallel_path, "capture", "fp-parallel");
  const CheckpointReader single = CheckpointReader::open(single_path, "capture", "fp-parallel");
  CHECK(parallel.read_float("hidden/x") == expected_floats);
  CHECK(parallel.read_int32("tokens") == expected_ints);
  CHECK(parallel.read_float("hidden/x") == single.read_float("hidden/x"));
  CHECK(parallel.read_int32("tokens") == single.read_int32("tokens"));
  CHECK(parallel.shape("hidden/x") == std::vector<uint64_t>{kRows, kCols});
  CHECK(parallel.attr_int("hidden/x", "rows") == static_cast<int64_t>(kRows));
  CHECK(parallel.attr_int("/", "ranks") == mpi.size());
  CHECK(single.attr_int("/", "ranks") == 1);
  CHECK(parallel.attr_int("/", "complete") == 1);
  const auto [row0, nrows] = rows_of(mpi.rank(), mpi.size());
  CHECK(parallel.read_float_rows("hidden/x", row0, nrows) ==
        std::vector<float>(expected_floats.begin() + row0 * kCols, expected_floats.begin() + (row0 + nrows) * kCols));

  mpi.barrier();
  if (mpi.is_root()) fs::remove_all(dir);
}

TEST_CASE("a parallel writer dropped without commit leaves no file on any rank") {
  MpiContext mpi;
  const std::string dir = shared_scratch(mpi);
  const std::string path = dir + "/dropped.h5";
  {
    CheckpointWriter writer(mpi.comm(), path, {"project", "fp", ""});
    writer.create("x", H5Type::Float64, {8, 2}, 1);
    const auto [row0, nrows] = rows_of(mpi.rank(), mpi.size());
    std::vector<double> zeros(16, 0.0);
    writer.write_rows("x", row0 * 8 / kRows, (row0 + nrows) * 8 / kRows - row0 * 8 / kRows, zeros.data());
  }
  mpi.barrier();
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(path + ".tmp"));
  mpi.barrier();
  if (mpi.is_root()) fs::remove_all(dir);
}
