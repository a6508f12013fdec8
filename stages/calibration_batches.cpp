#include "stages/calibration_batches.hpp"

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

}  // namespace circal
