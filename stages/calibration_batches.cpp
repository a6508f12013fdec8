#include "stages/calibration_batches.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <utility>

namespace circal {

std::vector<int> epoch_permutation(int n, uint64_t seed, int64_t epoch) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Distinct, well-mixed streams per epoch; mt19937_64's output is fixed by the standard.
  std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(epoch + 1)));
  for (int i = n - 1; i > 0; --i) {
    const auto j = static_cast<int>(rng() % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

std::vector<int> next_global_batch(int n, uint64_t seed, int batch, BatchCursor& cursor) {
  std::vector<int> prompts;
  if (n <= 0) return prompts;
  std::vector<int> order = epoch_permutation(n, seed, cursor.epoch);
  while (static_cast<int>(prompts.size()) < batch) {
    if (cursor.position >= n) {
      ++cursor.epoch;
      cursor.position = 0;
      order = epoch_permutation(n, seed, cursor.epoch);
    }
    prompts.push_back(order[cursor.position++]);
  }
  return prompts;
}

std::vector<int> rank_share(const std::vector<int>& global_batch, int rank, int ranks) {
  std::vector<int> mine;
  for (size_t j = rank; j < global_batch.size(); j += ranks) mine.push_back(global_batch[j]);
  return mine;
}

std::vector<std::vector<int>> prompt_groups(const std::vector<int>& global_batch, int group) {
  const size_t size = size_t(std::max(1, group));
  std::vector<std::vector<int>> groups;
  for (size_t start = 0; start < global_batch.size(); start += size)
    groups.emplace_back(global_batch.begin() + long(start),
                        global_batch.begin() + long(std::min(global_batch.size(), start + size)));
  return groups;
}

std::vector<std::vector<int>> rank_groups(const std::vector<int>& global_batch, int group,
                                          int rank, int ranks) {
  std::vector<std::vector<int>> groups = prompt_groups(global_batch, group), mine;
  for (size_t k = size_t(rank); k < groups.size(); k += size_t(std::max(1, ranks)))
    mine.push_back(std::move(groups[k]));
  return mine;
}

}  // namespace circal
