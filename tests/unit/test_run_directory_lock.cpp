// The run-directory lock is an flock (pipeline/runtime/run_directory.hpp): whoever holds the flock
// holds the directory, whatever the lock file says; the pid in the file only names the holder.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "pipeline/base/errors.hpp"
#include "pipeline/runtime/mpi_context.hpp"
#include "pipeline/runtime/run_directory.hpp"
#include "scratch_dir.hpp"

using circal::CircalError;
using circal::MpiContext;
using circal::RunDirectory;
using circal::testing::ScratchDir;

namespace {

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

// An flock on the file through a descriptor of its own, as another process would hold it.
struct ForeignFlock {
  int fd;
  explicit ForeignFlock(const std::string& path) : fd(::open(path.c_str(), O_RDWR)) {
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  }
  ~ForeignFlock() { ::close(fd); }
};

}  // namespace

TEST_CASE("run directory lock: a held flock refuses, naming whom the file names") {
  ScratchDir dir;
  MpiContext mpi;
  const std::string run = dir.path.string();
  dir.write(".circal.lock", "pid 4242\nhost " + host_name() + "\n");
  ForeignFlock holder(run + "/.circal.lock");
  try {
    RunDirectory refused(mpi, run);
    FAIL("the lock was taken although another descriptor holds its flock");
  } catch (const CircalError& e) {
    CHECK(e.code() == circal::kExitLocked);
    CHECK(std::string(e.what()) == run + ": in use by circal pid 4242 on host " + host_name());
  }
  CHECK(std::filesystem::exists(run + "/.circal.lock"));  // the refused one leaves it alone
}

TEST_CASE("run directory lock: a file naming a live process that holds no flock is taken over") {
  ScratchDir dir;
  MpiContext mpi;
  const std::string run = dir.path.string();
  // The parent process is alive but is no circal holding this directory (a reused pid).
  dir.write(".circal.lock", "pid " + std::to_string(::getppid()) + "\nhost " + host_name() + "\n");
  {
    RunDirectory taken(mpi, run);
    std::ifstream in(taken.lock_path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == "pid " + std::to_string(::getpid()) + "\nhost " + host_name() + "\n");
  }
  CHECK_FALSE(std::filesystem::exists(run + "/.circal.lock"));
}
