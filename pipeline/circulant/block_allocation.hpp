#pragma once
// A block size for each patched matrix under one parameter budget (issue: allocation by
// sensitivity): a multiple-choice knapsack, one option per matrix, solved exactly.
// docs/DESIGN.md section 5.6 gives the objective and why the dynamic programme is exact.
#include <cstdint>
#include <vector>

namespace circal {

// One way to store a matrix: its block size (1 = kept dense), what it costs and what it is
// predicted to cost the output.
struct BlockOption {
  int block_size = 0;
  std::int64_t parameters = 0;
  double loss = 0.0;
};

struct BlockAllocation {
  std::vector<int> option;  // per matrix, the index of its chosen option
  std::int64_t parameters = 0;
  double loss = 0.0;  // summed in matrix order
};

// Parameters of an m x n matrix at block size b: dense at b = 1, else p q b with the last
// block row and column zero-padded (pipeline/circulant/block_layout.hpp).
std::int64_t block_parameters(int m, int n, int b);

// The options of least summed loss whose parameters total at most `budget`, exactly: dynamic
// programming over the budget in units of the greatest common divisor of all option costs.
// Ties go to fewer parameters, then to the earlier option. Exits with a usage error naming
// the budget when even the cheapest options do not fit, or when the grid would be too fine
// to hold (more than max_cells matrix x budget-unit cells).
BlockAllocation allocate_block_sizes(const std::vector<std::vector<BlockOption>>& matrices, std::int64_t budget,
                                     std::int64_t max_cells = std::int64_t(1) << 28);

}  // namespace circal
