#include "pipeline/runtime/dealt_work.hpp"

#include <algorithm>
#include <cstdint>

namespace circal {

namespace {

constexpr std::size_t kMessage = std::size_t(1) << 28;  // elements per message, below INT_MAX

template <typename T>
void broadcast_elements(MPI_Comm comm, std::vector<T>& values, MPI_Datatype type, int owner) {
  for (std::size_t at = 0; at < values.size(); at += kMessage)
    MPI_Bcast(values.data() + at, int(std::min(kMessage, values.size() - at)), type, owner, comm);
}

}  // namespace

void broadcast_result(MPI_Comm comm, DealtResult& result, int owner) {
  // The shape: how many arrays, each one's length, how many values.
  std::vector<uint64_t> shape{uint64_t(result.arrays.size()), uint64_t(result.values.size())};
  for (const std::vector<float>& array : result.arrays) shape.push_back(array.size());
  uint64_t shape_size = shape.size();
  MPI_Bcast(&shape_size, 1, MPI_UINT64_T, owner, comm);
  shape.resize(shape_size);
  MPI_Bcast(shape.data(), int(shape_size), MPI_UINT64_T, owner, comm);
  result.arrays.resize(shape[0]);
  result.values.resize(shape[1]);
  for (std::size_t a = 0; a < result.arrays.size(); ++a) {
    result.arrays[a].resize(shape[2 + a]);
    broadcast_elements(comm, result.arrays[a], MPI_FLOAT, owner);
  }
  broadcast_elements(comm, result.values, MPI_DOUBLE, owner);
}

std::vector<DealtResult> solve_dealt(MPI_Comm comm, std::size_t count, const DealtSolve& solve,
                                     const DealtRoundDone& after_round) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::vector<DealtResult> results(count);
  for (std::size_t begin = 0; begin < count; begin += std::size_t(size)) {
    const std::size_t end = std::min(count, begin + std::size_t(size));
    if (begin + std::size_t(rank) < end) results[begin + rank] = solve(begin + rank);
    for (std::size_t item = begin; item < end; ++item) broadcast_result(comm, results[item], int(item - begin));
    if (after_round) after_round(begin, end, results);
  }
  return results;
}

}  // namespace circal
