#pragma once
// What the evaluate stage turns its per-position arrays into: metrics.json (aggregates,
// breakdowns, compression) and report.md (tables a person reads first). Both are pure
// functions of the arrays, so the aggregates can be recomputed from evaluate.h5 and checked.
#include <nlohmann/json.hpp>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pipeline/config/names.hpp"
#include "pipeline/metrics/statistics.hpp"

namespace circal {

using Json = nlohmann::ordered_json;  // keeps students and metrics in the order written

// Per-position arrays of one student ([N] each, global position order) and its generation
// drift per test prompt ([P] each).
struct EvaluatedStudent {
  std::string name;
  std::map<std::string, std::vector<double>> positions;  // metric name -> [N]
  std::vector<double> drift_match_rate;                  // matching greedy tokens / generated
  std::vector<double> drift_first_divergence;            // first differing index, n if none
  // 8 x the bytes its patched matrices take / their weights (dense float32: 32; a circulant
  // of block size b: about 32 / b; a quantized one: its codes, scales, zero points); NaN in
  // files from before it was stored.
  double bits_per_patched_weight = std::nan("");
};

struct EvaluationTables {
  std::vector<std::string> family;    // [P] template family of each test prompt
  std::vector<std::string> language;  // [P] EN | DE
  std::vector<int> position_prompt;   // [N] test prompt of each position
  std::vector<int> position_is_last;  // [N] 1 at the last position of its prompt
  std::vector<int> topk;              // the k of the top-k overlaps
  int generate_tokens = 0;
  std::vector<EvaluatedStudent> students;
};

struct CompressionCounts {
  uint64_t mlp_params_dense = 0;      // every MLP matrix of the model, dense
  uint64_t mlp_params_circulant = 0;  // the same with the patched matrices block-circulant
  // The run's structure (project.structure) and the MLP parameters with the patched matrices
  // in it; for a circulant student the same as mlp_params_circulant. 0 in files from before
  // low-rank students: read as circulant.
  Structure structure = Structure::Circulant;
  uint64_t mlp_params_student = 0;
  // The same with the patched matrices low rank at this block size (the low-rank student of
  // equal parameters); 0 when some matrix has no rank there, or in files from before.
  uint64_t mlp_params_lowrank = 0;
  // Each patched matrix's block size, in layout order; allocated: one chosen a matrix by
  // project (project.block_size auto). Empty in files from before.
  struct PatchedBlock {
    int layer;
    Projection projection;
    int block_size;
  };
  std::vector<PatchedBlock> blocks = {};
  bool allocated = false;
  uint64_t student_params() const { return mlp_params_student ? mlp_params_student : mlp_params_circulant; }
};

// Names of the per-position arrays, in storage order: kl, cosine, l2, mse, top1,
// top{k}_overlap for each k, delta_p, teacher_nll, student_nll.
std::vector<std::string> position_metric_names(const std::vector<int>& topk);
// The ones summarised as statistic objects (all but the NLLs, which feed the perplexities).
std::vector<std::string> summarized_metric_names(const std::vector<int>& topk);

// Statistic object {mean, median, p90, p99, max, ci95: [lo, hi]} (NaN -> null).
Json statistic_json(const Summary& summary);

// metrics.json: {"students": {name: {positions, prompts, <metric>: statistic..., ppl_ratio,
// perplexity, teacher_perplexity, scored_positions, drift: {match_rate,
// first_divergence_mean, tokens}, last_position: {<metric>: statistic}, by_family: {family:
// {...}}, by_language: {language: {...}}}}, perplexity: {teacher, scored_positions, scored},
// compression, test_prompts, fingerprint, topk, generate_tokens, bootstrap, delta_p_reference}.
// Perplexities are exp(mean NLL of the actual next token) over every position but the last of
// each prompt (scored_positions of them).
Json metrics_json(const EvaluationTables& tables, const CompressionCounts& compression,
                  const BootstrapOptions& bootstrap, const std::string& fingerprint);

}  // namespace circal
