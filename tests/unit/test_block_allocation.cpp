// The block-size allocation (pipeline/circulant/block_allocation) against brute force: on
// random small instances every one of the option combinations is tried, and the dynamic
// programme's choice has the least summed loss among those within the budget, its loss and
// parameters recomputed from the choice. Then the parameter formula and the refusals.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "pipeline/circulant/block_allocation.hpp"

#include "tests/unit/error_of.hpp"

using namespace circal;

namespace {

using Options = std::vector<std::vector<BlockOption>>;

// Least summed loss (summed in matrix order, as the allocation sums) over every combination
// within the budget; the parameters of the cheapest combination reaching it.
BlockAllocation brute_force(const Options& matrices, std::int64_t budget) {
  BlockAllocation best;
  best.loss = std::numeric_limits<double>::infinity();
  std::vector<int> pick(matrices.size(), 0);
  for (;;) {
    double loss = 0.0;
    std::int64_t params = 0;
    for (std::size_t i = 0; i < matrices.size(); ++i) {
      loss += matrices[i][pick[i]].loss;
      params += matrices[i][pick[i]].parameters;
    }
    if (params <= budget && (loss < best.loss || (loss == best.loss && params < best.parameters)))
      best = {pick, params, loss};
    std::size_t i = 0;
    while (i < pick.size() && ++pick[i] == int(matrices[i].size())) pick[i++] = 0;
    if (i == pick.size()) return best;
  }
}

// Matrices as the MLP's: m x n at block sizes 1 (dense) to 64, the loss falling with the
// parameters kept, each matrix with its own random sensitivity.
Options random_instance(std::mt19937& rng, int count) {
  const int shapes[][2] = {{176, 64}, {64, 176}, {96, 64}, {64, 96}};
  std::uniform_real_distribution<double> sensitivity(0.1, 10.0), jitter(0.5, 1.5);
  Options matrices;
  for (int i = 0; i < count; ++i) {
    const auto& s = shapes[rng() % 4];
    const double weight = sensitivity(rng);
    std::vector<BlockOption> options;
    for (int b : {1, 4, 8, 16, 32, 64}) {
      const double loss = b == 1 ? 0.0 : weight * jitter(rng) * std::log2(double(b));
      options.push_back({b, block_parameters(s[0], s[1], b), loss});
    }
    matrices.push_back(options);
  }
  return matrices;
}

}  // namespace

TEST_CASE("block allocation: the dynamic programme finds brute force's optimum") {
  std::mt19937 rng(20261207);
  for (int trial = 0; trial < 40; ++trial) {
    CAPTURE(trial);
    const Options matrices = random_instance(rng, 2 + trial % 5);
    std::int64_t dense = 0, cheapest = 0;
    for (const auto& options : matrices) {
      dense += options.front().parameters;
      cheapest += options.back().parameters;
    }
    // Budgets from the smallest student to past the dense model, compression 1.5x to 64x.
    for (double compression : {1.0, 1.5, 4.0, 8.0, 16.0, 32.0}) {
      const std::int64_t budget = std::max(cheapest, std::int64_t(double(dense) / compression));
      CAPTURE(budget);
      const BlockAllocation dp = allocate_block_sizes(matrices, budget);
      const BlockAllocation bf = brute_force(matrices, budget);
      CHECK(dp.loss == bf.loss);
      CHECK(dp.parameters == bf.parameters);
      CHECK(dp.parameters <= budget);
      double loss = 0.0;
      std::int64_t params = 0;
      for (std::size_t i = 0; i < matrices.size(); ++i) {
        loss += matrices[i][dp.option[i]].loss;
        params += matrices[i][dp.option[i]].parameters;
      }
      CHECK(loss == dp.loss);
      CHECK(params == dp.parameters);
    }
  }
}

TEST_CASE("block allocation: a budget of the dense size keeps every matrix dense") {
  std::mt19937 rng(3);
  const Options matrices = random_instance(rng, 6);
  std::int64_t dense = 0;
  for (const auto& options : matrices) dense += options.front().parameters;
  const BlockAllocation all = allocate_block_sizes(matrices, dense);
  for (int j : all.option) CHECK(j == 0);
  CHECK(all.loss == 0.0);
}

TEST_CASE("block parameters: dense at 1, padded blocks otherwise") {
  CHECK(block_parameters(176, 64, 1) == 176 * 64);
  CHECK(block_parameters(176, 64, 16) == 11 * 4 * 16);
  CHECK(block_parameters(176, 64, 32) == 6 * 2 * 32);  // 176 = 5.5 blocks of 32: one padded
  CHECK(block_parameters(5632, 2048, 64) == 88 * 32 * 64);
}

TEST_CASE("block allocation: refusals name the budget or the options") {
  std::mt19937 rng(5);
  const Options matrices = random_instance(rng, 3);
  std::int64_t cheapest = 0;
  for (const auto& options : matrices) cheapest += options.back().parameters;
  const CircalError low = testing::error_of([&] { allocate_block_sizes(matrices, cheapest - 1); });
  CHECK(low.code() == kExitUsage);
  CHECK(std::string(low.what()).find("budget of " + std::to_string(cheapest - 1)) != std::string::npos);
  CHECK(testing::error_of([&] { allocate_block_sizes(matrices, cheapest); }).code() == -1);
  const CircalError fine = testing::error_of([&] { allocate_block_sizes(matrices, 1 << 20, 100); });
  CHECK(std::string(fine.what()).find("too fine a grid") != std::string::npos);
  const CircalError empty = testing::error_of([&] { allocate_block_sizes({{}}, 100); });
  CHECK(std::string(empty.what()).find("matrix 0 has 0 options") != std::string::npos);
}
