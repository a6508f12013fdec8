#pragma once
// Which prompts each calibration step uses: a seeded permutation per epoch (the same on every
// machine and standard library: mt19937_64 and a Fisher-Yates with explicit modulo), consumed
// in global batches that continue into the next epoch's permutation when one runs out.
#include <cstdint>
#include <vector>

namespace circal {

// Permutation of 0..n-1 for `epoch`, a pure function of (n, seed, epoch).
std::vector<int> epoch_permutation(int n, uint64_t seed, int64_t epoch);

// The read position in the sequence of epoch permutations (what a checkpoint stores).
struct BatchCursor {
  int64_t epoch = 0;
  int64_t position = 0;  // next index into epoch_permutation(n, seed, epoch)
};

// The next `batch` prompt indices (global batch order) starting at `cursor`, which advances.
std::vector<int> next_global_batch(int n, uint64_t seed, int batch, BatchCursor& cursor);

// The entries of a global batch that rank `rank` of `ranks` handles: positions j with
// j % ranks == rank, in order.
std::vector<int> rank_share(const std::vector<int>& global_batch, int rank, int ranks);

// The fixed groups of a global batch: runs of `group` consecutive entries (the last one may
// be shorter), independent of the rank count. Calibration runs a group through the
// transformer as one stacked pass and adds its gradient to the exact sum as one term, so
// the grouping, not the rank count, decides the float arithmetic.
std::vector<std::vector<int>> prompt_groups(const std::vector<int>& global_batch, int group);
// The groups that rank `rank` of `ranks` handles: group k with k % ranks == rank, in order.
std::vector<std::vector<int>> rank_groups(const std::vector<int>& global_batch, int group,
                                          int rank, int ranks);

}  // namespace circal
