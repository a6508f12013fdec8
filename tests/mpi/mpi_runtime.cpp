// MPI runtime at 1, 2 and 4 ranks: sharding by global index, rank-0 agreement helpers, and a
// run-directory lock that makes every rank fail together.
#include <doctest/doctest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "pipeline/base/errors.hpp"
#include "pipeline/runtime/mpi_context.hpp"
#include "pipeline/runtime/run_directory.hpp"

namespace fs = std::filesystem;
using namespace circal;

namespace {

// Gathers every rank's shard of n items: owner[i] = the rank that listed item i (-1: none,
// -2: listed twice).
std::vector<int> owners_of(const MpiContext& mpi, int n) {
  const std::vector<int> mine = mpi.shard(n);
  const int count = static_cast<int>(mine.size());
  std::vector<int> counts(mpi.size()), offsets(mpi.size(), 0);
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, mpi.comm());
  for (int r = 1; r < mpi.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
  std::vector<int> all(offsets.back() + counts.back());
  MPI_Allgatherv(mine.data(), count, MPI_INT, all.data(), counts.data(), offsets.data(), MPI_INT, mpi.comm());
  std::vector<int> owner(n, -1);
  for (int r = 0; r < mpi.size(); ++r)
    for (int k = offsets[r]; k < offsets[r] + counts[r]; ++k) {
      REQUIRE(all[k] >= 0);
      REQUIRE(all[k] < n);
      owner[all[k]] = owner[all[k]] == -1 ? r : -2;
    }
  return owner;
}

}  // namespace

TEST_CASE("shard covers 0..n-1 exactly once across ranks, item i on rank i mod R, ascending") {
  MpiContext mpi;
  for (int n : {0, 1, 3, 4, 7, 50}) {
    CAPTURE(n);
    const std::vector<int> owner = owners_of(mpi, n);
    for (int i = 0; i < n; ++i) CHECK(owner[i] == i % mpi.size());
    const std::vector<int> mine = mpi.shard(n);
    CHECK(std::is_sorted(mine.begin(), mine.end()));
  }
}

TEST_CASE("broadcast_string and run_on_root_and_agree share rank 0's answer") {
  MpiContext mpi;
  const std::string text = broadcast_string(mpi.comm(), mpi.is_root() ? "from root\nwith lines" : "other");
  CHECK(text == "from root\nwith lines");

  int ran = 0;
  run_on_root_and_agree(mpi.comm(), kExitIo, [&] { ++ran; });
  CHECK(ran == (mpi.is_root() ? 1 : 0));

  ExitCode code = kExitOk;
  std::string message;
  try {
    run_on_root_and_agree(mpi.comm(), kExitIo, [] { fail(kExitLocked, "held elsewhere"); });
  } catch (const CircalError& e) {
    code = e.code();
    message = e.what();
  }
  CHECK(code == kExitLocked);
  CHECK(message == "held elsewhere");
}

TEST_CASE("a held run directory is refused on every rank, naming the holder") {
  MpiContext mpi;
  std::string dir =
      mpi.is_root() ? (fs::temp_directory_path() / ("circal-rundir-" + std::to_string(::getpid()))).string() : "";
  dir = broadcast_string(mpi.comm(), dir);
  const std::string root_pid = broadcast_string(mpi.comm(), std::to_string(::getpid()));
  {
    RunDirectory held(mpi, dir);
    CHECK(fs::exists(dir + "/.circal.lock"));
    int refused = 0;
    try {
      RunDirectory second(mpi, dir);
    } catch (const CircalError& e) {
      refused = e.code() == kExitLocked &&
                std::string(e.what()).find("in use by circal pid " + root_pid + " on host ") != std::string::npos;
    }
    int refused_everywhere = 0;
    MPI_Allreduce(&refused, &refused_everywhere, 1, MPI_INT, MPI_MIN, mpi.comm());
    CHECK(refused_everywhere == 1);
    mpi.barrier();
  }
  mpi.barrier();
  CHECK_FALSE(fs::exists(dir + "/.circal.lock"));
  mpi.barrier();
  if (mpi.is_root()) fs::remove_all(dir);
}
