#pragma once
// The run directory of a pipeline run: created and checked writable up front, and held by an
// exclusive lock on DIR/.circal.lock ("pid P" / "host H") for the lifetime of the object,
// so two circal processes never write the same run. The lock is an flock() on the file: the
// kernel drops it when its holder dies, however it dies, so a lock file left by a dead process
// is taken over, and two processes taking over the same stale file cannot both win. A file
// naming another host is refused (flock may not reach across hosts on a shared file system).
// Rank 0 does the file-system work; every rank fails together.
#include <string>

#include "pipeline/runtime/mpi_context.hpp"

namespace circal {

class RunDirectory {
 public:
  // Collective. CircalError(kExitIo) when DIR cannot be created or written,
  // CircalError(kExitLocked, "DIR: in use by circal pid P on host H") when a live process
  // holds it.
  RunDirectory(MpiContext& mpi, const std::string& path);
  ~RunDirectory();  // rank 0 removes the lock file, then releases the lock
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::string& path() const { return path_; }
  std::string lock_path() const { return path_ + "/.circal.lock"; }

 private:
  MpiContext& mpi_;
  std::string path_;
  int lock_fd_ = -1;  // rank 0: the open, flock'ed lock file
};

}  // namespace circal
