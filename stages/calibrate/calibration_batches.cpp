#include "stages/calibrate/calibration_batches.hpp"

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

std::vector<std::vector<int>> prompt_groups(const std::vector<int>& global_batch, int group,
                                            const PromptTokens& tokens) {
  const size_t n = global_batch.size(), size = size_t(std::max(1, group));
  std::vector<int64_t> length(n);
  for (size_t j = 0; j < n; ++j) length[j] = tokens(global_batch[j]);
  std::vector<size_t> by_length(n);
  std::iota(by_length.begin(), by_length.end(), size_t(0));
  std::stable_sort(by_length.begin(), by_length.end(), [&](size_t a, size_t b) { return length[a] > length[b]; });
  const size_t count = (n + size - 1) / size;
  std::vector<std::vector<size_t>> members(count);
  std::vector<int64_t> load(count, 0);
  for (size_t j : by_length) {
    size_t best = count;
    for (size_t k = 0; k < count; ++k)
      if (members[k].size() < size && (best == count || load[k] < load[best])) best = k;
    members[best].push_back(j);
    load[best] += length[j];
  }
  std::vector<std::vector<int>> groups(count);
  for (size_t k = 0; k < count; ++k) {
    std::sort(members[k].begin(), members[k].end());
    for (size_t j : members[k]) groups[k].push_back(global_batch[j]);
  }
  return groups;
}

std::vector<std::vector<int>> rank_groups(const std::vector<int>& global_batch, int group, const PromptTokens& tokens,
                                          int rank, int ranks) {
  std::vector<std::vector<int>> groups = prompt_groups(global_batch, group, tokens), mine;
  for (size_t k = size_t(rank); k < groups.size(); k += size_t(std::max(1, ranks)))
    mine.push_back(std::move(groups[k]));
  return mine;
}

}  // namespace circal
