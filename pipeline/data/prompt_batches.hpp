#pragma once
// How commands that write per-prompt rows collectively (logits, capture) share prompts among
// ranks when they run batched forwards: batches of B consecutive prompts, batch k on rank
// k % R, walked in rounds of R batches (one per rank) so every rank computes, then all write
// the round together. A batch's GEMMs round according to the rows stacked in it, so fixing
// the batches independently of R keeps the written files bit-identical at any rank count.
#include <vector>

namespace circal {

struct PromptRound {
  int begin, end;            // prompts [begin, end) of the round, over all ranks
  int mine_begin, mine_end;  // this rank's batch, a sub-range (empty when it has none)
  bool mine(int prompt) const { return prompt >= mine_begin && prompt < mine_end; }
};

std::vector<PromptRound> prompt_rounds(int prompts, int ranks, int rank, int batch);

}  // namespace circal
