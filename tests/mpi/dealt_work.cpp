// Items dealt over the ranks (pipeline/runtime/dealt_work): rank i mod R solves item i, every
// rank ends with every result bitwise as one rank computes it, rounds arrive in order, and
// results of any shape (none, several arrays, empty arrays) travel whole.
#include <doctest/doctest.h>
#include <mpi.h>

#include <cmath>
#include <vector>

#include "pipeline/runtime/dealt_work.hpp"

namespace {

int world(int (*query)(MPI_Comm, int*)) {
  int value = 0;
  query(MPI_COMM_WORLD, &value);
  return value;
}

// An item's result, a function of the item alone: item % 3 arrays of lengths item * 7, 0, ...
// and values whose low bits a rounding difference would change.
circal::DealtResult solve_item(std::size_t item) {
  circal::DealtResult result;
  for (std::size_t a = 0; a < item % 3; ++a) {
    std::vector<float> array(a == 1 ? 0 : item * 7 + a);
    for (std::size_t k = 0; k < array.size(); ++k) array[k] = std::sin(float(item * 31 + k)) / 3.0f;
    result.arrays.push_back(array);
  }
  for (std::size_t k = 0; k <= item % 4; ++k) result.values.push_back(std::exp(double(item) / 7.0 + k) / 3.0);
  return result;
}

}  // namespace

TEST_CASE("dealt items: each solved once by rank i mod R, every rank holds the one-rank results bitwise") {
  const int rank = world(MPI_Comm_rank), size = world(MPI_Comm_size);
  const std::size_t count = 11;  // not a multiple of 2 or 4: the last round is short
  std::vector<int> solved_here;
  std::vector<std::pair<std::size_t, std::size_t>> rounds;
  const std::vector<circal::DealtResult> results = circal::solve_dealt(
      MPI_COMM_WORLD, count,
      [&](std::size_t item) {
        solved_here.push_back(int(item));
        return solve_item(item);
      },
      [&](std::size_t begin, std::size_t end, std::vector<circal::DealtResult>& round) {
        rounds.emplace_back(begin, end);
        for (std::size_t item = begin; item < end; ++item) CHECK(round[item].values.size() == item % 4 + 1);
      });
  for (std::size_t k = 0; k < solved_here.size(); ++k) CHECK(solved_here[k] == rank + int(k) * size);
  CHECK(rounds.size() == (count + size - 1) / size);
  for (std::size_t r = 0; r < rounds.size(); ++r) {
    CHECK(rounds[r].first == r * size);
    CHECK(rounds[r].second == std::min(count, (r + 1) * size));
  }
  REQUIRE(results.size() == count);
  for (std::size_t item = 0; item < count; ++item) {
    const circal::DealtResult expected = solve_item(item);
    CHECK(results[item].arrays == expected.arrays);  // float ==: bitwise for these finite values
    CHECK(results[item].values == expected.values);
  }
}

TEST_CASE("no items: no solve, no round, no result") {
  bool called = false;
  const auto results = circal::solve_dealt(
      MPI_COMM_WORLD, 0,
      [&](std::size_t) {
        called = true;
        return circal::DealtResult{};
      },
      [&](std::size_t, std::size_t, std::vector<circal::DealtResult>&) { called = true; });
  CHECK(results.empty());
  CHECK_FALSE(called);
}
