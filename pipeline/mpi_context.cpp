#include "pipeline/mpi_context.hpp"

#include <cstdio>
#include <iostream>

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
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
  if (owns_) MPI_Finalize();
  std::exit(exit_code);
}

}  // namespace circal
