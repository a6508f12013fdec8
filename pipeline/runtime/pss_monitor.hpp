#pragma once
// Peak proportional set size (PSS, /proc/PID/smaps_rollup: shared pages divided among the
// processes that map them, so a node-shared teacher counts once per node, not once per rank)
// of every rank, and of every node as the sum over its ranks sampled at the same instants.
// The node's rank 0 samples all the node's ranks from a thread every `interval_ms`; the peaks
// are gathered to world rank 0 by stop(). RSS would count the shared teacher in every rank.
#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace circal {

// PSS of a process in bytes (-1 when unreadable).
int64_t process_pss_bytes(long pid);

struct PssPeaks {
  std::vector<int64_t> rank_peak;  // per world rank (the max over the samples)
  std::vector<int64_t> node_peak;  // per node: max over samples of the sum over its ranks
  int samples = 0;                 // on world rank 0's node
  std::vector<int64_t> node_end;   // per node: the sum at the last sample (after the work)
};

class PssMonitor {
 public:
  // Collective over comm: starts sampling.
  PssMonitor(MPI_Comm comm, int interval_ms = 200);
  ~PssMonitor();
  PssMonitor(const PssMonitor&) = delete;
  PssMonitor& operator=(const PssMonitor&) = delete;
  // Collective over comm: one last sample, stops the thread, returns the peaks (complete on
  // world rank 0; other ranks get their node's).
  PssPeaks stop();

 private:
  void sample();
  MPI_Comm comm_, node_ = MPI_COMM_NULL;
  int node_rank_ = 0;
  std::vector<long> pids_;  // the node's ranks (on node rank 0)
  std::vector<int64_t> peak_;
  int64_t node_peak_ = 0, node_last_ = 0;
  int samples_ = 0;
  std::mutex mutex_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  int interval_ms_;
};

}  // namespace circal
