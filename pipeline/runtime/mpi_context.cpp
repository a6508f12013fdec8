#include "pipeline/runtime/mpi_context.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

namespace circal {

MpiContext::MpiContext(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    MPI_Init(argc, argv);
    owns_ = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiContext::MpiContext() : MpiContext(nullptr, nullptr) {}

MpiContext::~MpiContext() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (owns_ && !finalised) MPI_Finalize();
}

void MpiContext::barrier() const { MPI_Barrier(MPI_COMM_WORLD); }

std::vector<int> MpiContext::shard(int n) const {
  std::vector<int> mine;
  for (int i = rank_; i < n; i += size_) mine.push_back(i);
  return mine;
}

void MpiContext::log(const std::string& line) const {
  if (rank_ != 0) return;
  std::cout << line << '\n' << std::flush;
}

void MpiContext::abort(int exit_code, const std::string& message) const {
  std::string prefix = size_ > 1 ? "[rank " + std::to_string(rank_) + "] " : "";
  std::fprintf(stderr, "circal: error: %s%s\n", prefix.c_str(), message.c_str());
  std::fflush(stderr);
  std::cout << std::flush;
  int finalised = 0;
  MPI_Finalized(&finalised);
  // Another rank may sit in a collective waiting for this one: only MPI_Abort releases it.
  // Most errors reach every rank together; rank 0 alone holds the run-directory lock, so the
  // others give it a moment to finish unwinding (lock and temporary files removed) and end
  // the job itself, rather than killing it half way.
  if (size_ > 1 && !finalised && rank_ != 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  if (size_ > 1 && !finalised) MPI_Abort(MPI_COMM_WORLD, exit_code);
  if (owns_ && !finalised) MPI_Finalize();
  std::exit(exit_code);
}

std::string broadcast_string(MPI_Comm comm, std::string value, int root) {
  unsigned long long length = value.size();
  MPI_Bcast(&length, 1, MPI_UNSIGNED_LONG_LONG, root, comm);
  value.resize(length);
  MPI_Bcast(value.data(), static_cast<int>(length), MPI_CHAR, root, comm);
  return value;
}

}  // namespace circal
