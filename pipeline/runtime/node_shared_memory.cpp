#include "pipeline/runtime/node_shared_memory.hpp"

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

NodeSharedMemory::NodeSharedMemory(MPI_Comm comm, std::size_t bytes) : bytes_(bytes) {
  node_ = split_node_comm(comm);
  MPI_Comm_rank(node_, &node_rank_);
  MPI_Comm_size(node_, &node_size_);
  // Contiguous allocation in node rank 0's share ("alloc_shared_noncontig" false); at least
  // one byte, as a zero-byte window has no base address to query.
  const MPI_Aint mine = node_rank_ == 0 ? MPI_Aint(bytes > 0 ? bytes : 1) : 0;
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
