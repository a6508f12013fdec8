#pragma once
// Which prompts each calibration step uses: a seeded permutation per epoch (the same on every
// machine and standard library: mt19937_64 and a Fisher-Yates with explicit modulo), consumed
// in global batches that continue into the next epoch's permutation when one runs out.
#include <cstdint>
#include <functional>
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

// Tokens of a prompt (its positions in the loss).
using PromptTokens = std::function<int(int prompt)>;

// The fixed groups of a global batch, independent of the rank count: ceil(n / group) groups
// of at most `group` entries whose token totals are as even as a greedy makes them, since
// every rank waits at the allreduce for the one with the most tokens. Entries by decreasing
// tokens (ties: batch order) each join the group with the fewest tokens that has room (ties:
// the lower index); a group lists its entries in batch order. Calibration runs a group through
// the transformer as one stacked pass and adds its gradient to the exact sum as one term, so
// the grouping, a function of the batch and the token counts alone, decides the float
// arithmetic, not the rank count.
std::vector<std::vector<int>> prompt_groups(const std::vector<int>& global_batch, int group,
                                            const PromptTokens& tokens);
// The groups that rank `rank` of `ranks` handles: group k with k % ranks == rank, in order.
std::vector<std::vector<int>> rank_groups(const std::vector<int>& global_batch, int group, const PromptTokens& tokens,
                                          int rank, int ranks);

}  // namespace circal
