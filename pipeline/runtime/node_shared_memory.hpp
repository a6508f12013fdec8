#pragma once
// One read-only copy per node: an MPI-3 shared-memory window (MPI_Comm_split_type with
// MPI_COMM_TYPE_SHARED, MPI_Win_allocate_shared) that every rank of a node maps. The node's
// rank 0 allocates all the bytes (contiguous, in its memory); the others allocate none and
// query its base address. Frees the window and the node communicator on destruction
// (collective over the node, so every rank must destroy it; ranks that threw first abort the
// job through MpiContext instead).
#include <mpi.h>

#include <cstddef>

namespace circal {

// The ranks of `comm` that share memory with this one (a new communicator, caller frees), in
// the order of their ranks in comm.
MPI_Comm split_node_comm(MPI_Comm comm);

class NodeSharedMemory {
 public:
  // Collective over comm: `bytes` shared by the ranks of each node (uninitialised: the
  // caller writes them, then calls sync()).
  NodeSharedMemory(MPI_Comm comm, std::size_t bytes);
  ~NodeSharedMemory();
  NodeSharedMemory(const NodeSharedMemory&) = delete;
  NodeSharedMemory& operator=(const NodeSharedMemory&) = delete;

  // False when some rank of the node could not map the window: data() is then null.
  bool allocated() const { return win_ != MPI_WIN_NULL; }
  void* data() const { return base_; }
  std::size_t size() const { return bytes_; }
  MPI_Comm node_comm() const { return node_; }
  int node_rank() const { return node_rank_; }
  int node_size() const { return node_size_; }
  // Collective over the node: after every rank's writes, before anyone reads them.
  void sync() const;

 private:
  MPI_Comm node_ = MPI_COMM_NULL;
  MPI_Win win_ = MPI_WIN_NULL;
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
  int node_rank_ = 0;
  int node_size_ = 1;
};

}  // namespace circal
