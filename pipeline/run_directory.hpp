#pragma once
// The run directory of a pipeline run: created and checked writable up front, and held by an
// exclusive lock file DIR/.circal.lock ("pid P" / "host H") for the lifetime of the object,
// so two circal processes never write the same run. A lock left by a dead process on this
// host is taken over. Rank 0 does the file-system work; every rank fails together.
#include <string>

#include "pipeline/mpi_context.hpp"

namespace circal {

class RunDirectory {
 public:
  // Collective. CircalError(kExitIo) when DIR cannot be created or written,
  // CircalError(kExitLocked, "DIR: in use by circal pid P on host H") when a live process
  // holds it.
  RunDirectory(MpiContext& mpi, const std::string& path);
  ~RunDirectory();  // rank 0 removes the lock (only if it is still ours)
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::string& path() const { return path_; }
  std::string lock_path() const { return path_ + "/.circal.lock"; }

 private:
  MpiContext& mpi_;
  std::string path_;
  bool holds_lock_ = false;
};

}  // namespace circal
