#include "pipeline/runtime/pss_monitor.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>

#include "pipeline/runtime/node_shared_memory.hpp"

namespace circal {

int64_t process_pss_bytes(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  while (in >> key) {
    if (key == "Pss:") {
      int64_t kb = -1;
      in >> kb;
      return kb < 0 ? -1 : kb * 1024;
    }
    in.ignore(1 << 16, '\n');
  }
  return -1;
}

PssMonitor::PssMonitor(MPI_Comm comm, int interval_ms) : comm_(comm), interval_ms_(interval_ms) {
  node_ = split_node_comm(comm);
  int node_size = 1;
  MPI_Comm_rank(node_, &node_rank_);
  MPI_Comm_size(node_, &node_size);
  long pid = ::getpid();
  pids_.assign(std::size_t(node_size), 0);
  MPI_Gather(&pid, 1, MPI_LONG, pids_.data(), 1, MPI_LONG, 0, node_);
  peak_.assign(pids_.size(), 0);
  if (node_rank_ == 0) {
    sample();
    running_ = true;
    thread_ = std::thread([this] {
      while (running_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms_));
        if (running_) sample();
      }
    });
  }
  MPI_Barrier(node_);
}

void PssMonitor::sample() {
  std::lock_guard<std::mutex> lock(mutex_);
  int64_t sum = 0;
  for (std::size_t i = 0; i < pids_.size(); ++i) {
    const int64_t pss = std::max<int64_t>(0, process_pss_bytes(pids_[i]));
    peak_[i] = std::max(peak_[i], pss);
    sum += pss;
  }
  node_peak_ = std::max(node_peak_, sum);
  node_last_ = sum;
  ++samples_;
}

PssMonitor::~PssMonitor() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
  if (node_ != MPI_COMM_NULL) MPI_Comm_free(&node_);
}

PssPeaks PssMonitor::stop() {
  MPI_Barrier(node_);  // every rank is past its work: the last sample sees it
  if (node_rank_ == 0) {
    running_ = false;
    if (thread_.joinable()) thread_.join();
    sample();
  }
  // Each rank learns its own peak from its node's rank 0, then world rank 0 gathers them.
  int64_t mine = 0;
  MPI_Scatter(peak_.data(), 1, MPI_INT64_T, &mine, 1, MPI_INT64_T, 0, node_);
  int world = 1, rank = 0;
  MPI_Comm_size(comm_, &world);
  MPI_Comm_rank(comm_, &rank);
  PssPeaks peaks;
  peaks.rank_peak.assign(std::size_t(world), 0);
  MPI_Gather(&mine, 1, MPI_INT64_T, peaks.rank_peak.data(), 1, MPI_INT64_T, 0, comm_);
  // Node peaks: one entry per node, from each node's rank 0 (others send -1).
  const int64_t node_value = node_rank_ == 0 ? node_peak_ : -1;
  std::vector<int64_t> all(std::size_t(world), -1);
  MPI_Gather(&node_value, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, 0, comm_);
  for (int64_t v : all)
    if (v >= 0) peaks.node_peak.push_back(v);
  const int64_t last_value = node_rank_ == 0 ? node_last_ : -1;
  MPI_Gather(&last_value, 1, MPI_INT64_T, all.data(), 1, MPI_INT64_T, 0, comm_);
  for (int64_t v : all)
    if (v >= 0) peaks.node_end.push_back(v);
  peaks.samples = samples_;
  if (rank != 0) {
    peaks.node_peak = {node_peak_};
    peaks.node_end = {node_last_};
  }
  return peaks;
}

}  // namespace circal
