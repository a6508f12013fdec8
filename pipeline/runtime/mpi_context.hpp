#pragma once
// RAII MPI runtime: init/finalize, rank/size, rank-0 logging, whole-job abort on error,
// deterministic sharding (item i belongs to rank i mod R).
#include <mpi.h>

#include <exception>
#include <string>
#include <vector>

#include "pipeline/base/errors.hpp"

namespace circal {

class MpiContext {
 public:
  // Initialises MPI unless it already is (tests initialise it in their main); finalizes
  // only what it initialised.
  MpiContext(int* argc, char*** argv);
  MpiContext();  // wraps an already-initialised MPI_COMM_WORLD
  ~MpiContext();
  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  MPI_Comm comm() const { return MPI_COMM_WORLD; }
  void barrier() const;

  // Items of a list of n owned by this rank: i with i % size == rank, ascending.
  std::vector<int> shard(int n) const;

  // Rank 0 prints (stdout, flushed); other ranks stay quiet.
  void log(const std::string& line) const;
  // Any rank: prints "circal: error: MESSAGE" (prefixed "[rank r]" when size > 1) to stderr
  // and aborts the whole job with the code, so no rank waits in a collective.
  [[noreturn]] void abort(int exit_code, const std::string& message) const;

 private:
  int rank_ = 0;
  int size_ = 1;
  bool owns_ = false;
};

// Rank `root`'s value on every rank of comm (collective).
std::string broadcast_string(MPI_Comm comm, std::string value, int root = 0);

// Collective: runs `action` on rank 0 only (file-system work done once); the error it throws
// (if any) reaches every rank, and all ranks throw CircalError(code, message) together, so
// none is left waiting in the next collective.
template <typename Action>
void run_on_root_and_agree(MPI_Comm comm, ExitCode code, Action action) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  std::string error;
  ExitCode error_code = code;
  if (rank == 0) {
    try {
      action();
    } catch (const CircalError& e) {
      error = e.what();
      error_code = e.code();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  int shared_code = error_code;
  MPI_Bcast(&shared_code, 1, MPI_INT, 0, comm);
  error = broadcast_string(comm, error);
  if (!error.empty()) fail(static_cast<ExitCode>(shared_code), error);
}

}  // namespace circal
