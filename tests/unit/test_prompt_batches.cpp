// Sharing batched prompts among ranks: every prompt is computed by exactly one rank, and the
// batches (which prompts share a forward) are the same at every rank count.
#include <doctest/doctest.h>

#include <set>
#include <utility>
#include <vector>

#include "pipeline/data/prompt_batches.hpp"

using namespace circal;

namespace {

// Every rank's non-empty batches, as [begin, end) ranges, over all ranks.
std::set<std::pair<int, int>> batches(int prompts, int ranks, int batch) {
  std::set<std::pair<int, int>> all;
  std::vector<int> owners(prompts, 0);
  std::size_t rounds = 0;
  for (int rank = 0; rank < ranks; ++rank) {
    const std::vector<PromptRound> mine = prompt_rounds(prompts, ranks, rank, batch);
    if (rank > 0) CHECK(mine.size() == rounds);  // every rank joins the same collective rounds
    rounds = mine.size();
    for (const PromptRound& round : mine) {
      CHECK(round.begin <= round.mine_begin);
      CHECK(round.mine_end <= round.end);
      CHECK(round.mine_end - round.mine_begin <= batch);  // no forward stacks more than a batch
      CHECK(round.end - round.begin <= batch * ranks);
      for (int i = round.mine_begin; i < round.mine_end; ++i) ++owners[i];
      if (round.mine_begin < round.mine_end) all.insert({round.mine_begin, round.mine_end});
    }
  }
  for (int count : owners) CHECK(count == 1);
  return all;
}

}  // namespace

TEST_CASE("prompt batches: each prompt once, the same batches at every rank count") {
  for (int prompts : {1, 3, 7, 16, 51}) {
    for (int batch : {1, 2, 5, 16}) {
      CAPTURE(prompts);
      CAPTURE(batch);
      const auto one = batches(prompts, 1, batch);
      for (int ranks : {2, 3, 4, 8}) {
        CAPTURE(ranks);
        CHECK(batches(prompts, ranks, batch) == one);
      }
    }
  }
}
