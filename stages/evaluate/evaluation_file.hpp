#pragma once
// evaluate.h5, written in parallel and read back for the aggregates:
//   /prompts/offsets int64 [P+1]          position rows of test prompt i: [offsets[i], offsets[i+1])
//   /prompts attrs families, languages    one line per prompt (newline-joined)
//   /positions/prompt int32 [N]           test prompt of each position
//   /positions/is_last int32 [N]          1 at the last position of its prompt
//   /positions/token int32 [N]            the token at that position (its logits predict the next)
//   /students/{name}/{metric} float64 [N] position_metric_names(topk): kl, cosine, l2, mse,
//                                         top1, top{k}_overlap, delta_p, teacher_nll, student_nll
//   /students/{name}/drift_match_rate float64 [P], /students/{name}/drift_first_divergence float64 [P]
//   /students attr names (newline-joined, evaluation order), bits_per_patched_weight (list, same order)
//   / attrs topk (list), generate_tokens; /compression attrs mlp_params_dense, mlp_params_circulant, structure,
//   mlp_params_student
#include <map>
#include <string>
#include <vector>

#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/runtime/mpi_context.hpp"
#include "stages/evaluate/evaluation_report.hpp"
#include "stages/evaluate/test_prompts.hpp"

namespace circal {

// What one student did on one prompt.
struct PromptEvaluation {
  std::vector<std::vector<double>> metrics;  // [metric][T], position_metric_names order
  double match_rate = 0;                     // greedy tokens equal to the teacher's / generated
  double first_divergence = 0;               // index of the first differing token, n if none
};

// This rank's share of the evaluation: results[s] holds student s's prompts of this rank.
struct LocalEvaluation {
  std::vector<std::string> students;
  std::vector<int> topk;
  int generate_tokens = 0;
  std::vector<std::map<int, PromptEvaluation>> results;
  CompressionCounts compression;
  std::vector<double> bits_per_patched_weight = {};  // of each student; empty: not stored
};

// Collective: creates and fills every dataset. Prompt i's rows are written by rank i % R in
// round i / R; every rank makes the same sequence of calls (empty writes when it has no
// prompt in a round).
void write_evaluation_file(CheckpointWriter& file, const MpiContext& mpi, const TestSplit& split,
                           const LocalEvaluation& local);

// The per-position tables metrics.json is computed from, as stored.
EvaluationTables read_evaluation_tables(const CheckpointReader& file);
CompressionCounts read_compression(const CheckpointReader& file);

}  // namespace circal
