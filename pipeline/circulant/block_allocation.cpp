#include "pipeline/circulant/block_allocation.hpp"

#include <limits>
#include <numeric>
#include <string>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"

namespace circal {

std::int64_t block_parameters(int m, int n, int b) {
  if (b == 1) return std::int64_t(m) * n;
  return std::int64_t(block_count(m, b)) * block_count(n, b) * b;
}

namespace {

std::int64_t cost_unit(const std::vector<std::vector<BlockOption>>& matrices) {
  std::int64_t unit = 0;
  for (const auto& options : matrices)
    for (const BlockOption& o : options) unit = std::gcd(unit, o.parameters);
  return unit;
}

void check_options(const std::vector<std::vector<BlockOption>>& matrices, std::int64_t budget) {
  std::int64_t cheapest = 0;
  for (std::size_t i = 0; i < matrices.size(); ++i) {
    if (matrices[i].empty() || matrices[i].size() > 255)
      fail(kExitUsage, "block allocation: matrix " + std::to_string(i) + " has " + std::to_string(matrices[i].size()) +
                           " options (1 to 255)");
    std::int64_t least = std::numeric_limits<std::int64_t>::max();
    for (const BlockOption& o : matrices[i]) {
      if (o.parameters <= 0) fail(kExitUsage, "block allocation: an option without parameters");
      least = std::min(least, o.parameters);
    }
    cheapest += least;
  }
  if (cheapest > budget)
    fail(kExitUsage, "block allocation: a budget of " + std::to_string(budget) + " parameters is below the " +
                         std::to_string(cheapest) + " of the smallest student (every matrix at its cheapest option)");
}

}  // namespace

BlockAllocation allocate_block_sizes(const std::vector<std::vector<BlockOption>>& matrices, std::int64_t budget,
                                     std::int64_t max_cells) {
  check_options(matrices, budget);
  const std::size_t N = matrices.size();
  if (N == 0) return {};
  const std::int64_t unit = cost_unit(matrices);
  const std::int64_t units = budget / unit;
  if (std::int64_t(N) * (units + 1) > max_cells)
    fail(kExitUsage, "block allocation: " + std::to_string(units) + " budget units of " + std::to_string(unit) +
                         " parameters x " + std::to_string(N) + " matrices is too fine a grid");
  const std::size_t U = std::size_t(units) + 1;
  // best[u]: least loss of the matrices so far within u units (and its parameters, for ties);
  // chosen[i][u]: matrix i's option at that optimum, for the walk back.
  constexpr double kNone = std::numeric_limits<double>::infinity();
  std::vector<double> best(U, 0.0), next(U);
  std::vector<std::int64_t> used(U, 0), next_used(U);
  std::vector<std::uint8_t> chosen(N * U, 0);
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t u = 0; u < U; ++u) {
      next[u] = kNone;
      next_used[u] = 0;
      for (std::size_t j = 0; j < matrices[i].size(); ++j) {
        const BlockOption& o = matrices[i][j];
        const std::size_t cost = std::size_t(o.parameters / unit);
        if (cost > u || best[u - cost] == kNone) continue;
        const double loss = best[u - cost] + o.loss;
        const std::int64_t params = used[u - cost] + o.parameters;
        if (loss < next[u] || (loss == next[u] && params < next_used[u])) {
          next[u] = loss;
          next_used[u] = params;
          chosen[i * U + u] = std::uint8_t(j);
        }
      }
    }
    best.swap(next);
    used.swap(next_used);
  }
  BlockAllocation result;
  result.option.assign(N, 0);
  std::size_t u = U - 1;
  for (std::size_t i = N; i-- > 0;) {
    const int j = chosen[i * U + u];
    result.option[i] = j;
    u -= std::size_t(matrices[i][j].parameters / unit);
  }
  for (std::size_t i = 0; i < N; ++i) {
    result.loss += matrices[i][result.option[i]].loss;
    result.parameters += matrices[i][result.option[i]].parameters;
  }
  return result;
}

}  // namespace circal
