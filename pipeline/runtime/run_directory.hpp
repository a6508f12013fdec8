#pragma once
// The run directory of a pipeline run: created and checked writable up front, and held by an
// exclusive lock on DIR/.circal.lock ("pid P" / "host H" / "job J" / "restart R") for the
// lifetime of the object, so two circal processes never write the same run. The lock is an
// flock() on the file: the kernel drops it when its holder dies, however it dies, so a lock
// file left by a dead process is taken over, and two processes taking over the same stale file
// cannot both win.
// flock may not reach across hosts on a shared file system, so a free flock on a file naming
// another host proves nothing by itself. That file is taken over only when its holder is
// known to be gone: it is an earlier incarnation of this same Slurm job (Slurm ends every step
// of a job before it requeues it), or the holder stopped refreshing the file's mtime, which it
// does every kLockHeartbeatSeconds, for kLockStaleSeconds (its node died). Otherwise it is
// refused. Rank 0 does the file-system work; every rank fails together.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "pipeline/runtime/mpi_context.hpp"

namespace circal {

inline constexpr int kLockHeartbeatSeconds = 30;
inline constexpr int kLockStaleSeconds = 300;

class RunDirectory {
 public:
  // Collective. CircalError(kExitIo) when DIR cannot be created or written,
  // CircalError(kExitLocked, "DIR: in use by circal pid P on host H...") when a live process
  // holds it, or may (another host's lock, refreshed within kLockStaleSeconds).
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

  // Rank 0 refreshes the lock file's mtime so that other hosts can tell it is alive.
  void start_heartbeat();
  void stop_heartbeat();
  std::thread heartbeat_;
  std::mutex heartbeat_mutex_;
  std::condition_variable heartbeat_wake_;
  bool stopping_ = false;
};

}  // namespace circal
