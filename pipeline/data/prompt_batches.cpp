#include "pipeline/data/prompt_batches.hpp"

#include <algorithm>

namespace circal {

std::vector<PromptRound> prompt_rounds(int prompts, int ranks, int rank, int batch) {
  std::vector<PromptRound> rounds;
  for (int begin = 0; begin < prompts; begin += ranks * batch) {
    const int end = std::min(begin + ranks * batch, prompts);
    const int mine_begin = std::min(begin + rank * batch, end);
    rounds.push_back({begin, end, mine_begin, std::min(mine_begin + batch, end)});
  }
  return rounds;
}

}  // namespace circal
