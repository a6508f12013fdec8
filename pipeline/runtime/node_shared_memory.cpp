#include "pipeline/runtime/node_shared_memory.hpp"

#include <sys/resource.h>
#include <sys/statvfs.h>

#include <exception>
#include <string>

#include "pipeline/base/errors.hpp"

namespace circal {

MPI_Comm split_node_comm(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
  return node;
}

namespace {

// Whether this process may create a `bytes`-long file in /dev/shm: under its file-size limit
// (ulimit -f) and within the free space there.
bool window_fits(std::size_t bytes) {
  rlimit limit{};
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < bytes) return false;
  struct statvfs shm {};
  if (statvfs("/dev/shm", &shm) == 0 && double(shm.f_bavail) * double(shm.f_frsize) < double(bytes)) return false;
  return true;
}

}  // namespace

NodeSharedMemory::NodeSharedMemory(MPI_Comm comm, std::size_t bytes) : bytes_(bytes) {
  node_ = split_node_comm(comm);
  MPI_Comm_rank(node_, &node_rank_);
  MPI_Comm_size(node_, &node_size_);
  // Contiguous allocation in node rank 0's share ("alloc_shared_noncontig" false); at least
  // one byte, as a zero-byte window has no base address to query.
  const MPI_Aint mine = node_rank_ == 0 ? MPI_Aint(bytes > 0 ? bytes : 1) : 0;
  // Open MPI backs the window with a file in /dev/shm and cannot recover from a failed
  // allocation (measured: the ranks spin), so a window the node cannot hold (a file-size
  // limit, a small /dev/shm) is not attempted: the caller falls back to private copies.
  int fits = window_fits(bytes) ? 1 : 0;
  MPI_Allreduce(MPI_IN_PLACE, &fits, 1, MPI_INT, MPI_MIN, node_);
  if (!fits) return;
  void* local = nullptr;
  if (MPI_Win_allocate_shared(mine, 1, MPI_INFO_NULL, node_, &local, &win_) != MPI_SUCCESS) {
    MPI_Comm_free(&node_);
    fail(kExitInternal, "MPI_Win_allocate_shared of " + std::to_string(bytes) + " bytes failed");
  }
  MPI_Aint size = 0;
  int unit = 0;
  MPI_Win_shared_query(win_, 0, &size, &unit, &base_);
  sync();
}

NodeSharedMemory::~NodeSharedMemory() {
  // MPI_Win_free is collective: a rank unwinding an error would wait there for ranks that are
  // in another collective, and the job would hang instead of aborting (measured: disk full in
  // capture). The job ends on that error anyway (MpiContext aborts), so the window is left.
  if (std::uncaught_exceptions() > 0) return;
  if (win_ != MPI_WIN_NULL) MPI_Win_free(&win_);
  if (node_ != MPI_COMM_NULL) MPI_Comm_free(&node_);
}

void NodeSharedMemory::sync() const {
  // Memory barrier, then every rank of the node is past its writes (the "unified" memory
  // model of shared windows: plain loads see the stores after this).
  MPI_Win_lock_all(MPI_MODE_NOCHECK, win_);
  MPI_Win_sync(win_);
  MPI_Barrier(node_);
  MPI_Win_sync(win_);
  MPI_Win_unlock_all(win_);
}

}  // namespace circal
