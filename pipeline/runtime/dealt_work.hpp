#pragma once
// Independent items (one solve per patched matrix, say) shared out over the ranks and the
// results gathered everywhere: item i is solved by rank i mod R (the rule MpiContext::shard
// uses), and what it returns is broadcast bit for bit from that rank. So every rank ends with
// the same results, and they are the one-rank results at any rank count, provided the solve
// is a function of the item alone (not of which rank runs it or what it ran before).
#include <mpi.h>

#include <cstddef>
#include <functional>
#include <vector>

namespace circal {

// What one item's solve returns: float arrays (the fitted parameters) and double values
// (errors, counts), of any sizes; the sizes travel with them.
struct DealtResult {
  std::vector<std::vector<float>> arrays;
  std::vector<double> values;
};

// Collective over comm. Items go in rounds of R (items [k R, k R + R)): each rank solves its
// item of the round, the round's results are gathered on every rank, then `after_round(begin,
// end, results)` runs on every rank (logging, stop checks: every rank reaches it together; it
// may move the round's results out).
// A solve that throws on one rank ends the job the way any rank's error does (MpiContext::abort).
using DealtSolve = std::function<DealtResult(std::size_t item)>;
using DealtRoundDone = std::function<void(std::size_t begin, std::size_t end, std::vector<DealtResult>& results)>;
std::vector<DealtResult> solve_dealt(MPI_Comm comm, std::size_t count, const DealtSolve& solve,
                                     const DealtRoundDone& after_round = {});

// Collective: the owner's result on every rank, bitwise (sizes first, then the data in
// messages below INT_MAX elements).
void broadcast_result(MPI_Comm comm, DealtResult& result, int owner);

}  // namespace circal
