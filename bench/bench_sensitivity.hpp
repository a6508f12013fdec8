#pragma once
// `circal bench sensitivity`: is the block-size allocation's proxy (docs/DESIGN.md 3.1) any good?
// For every patched matrix i and candidate block size b it predicts the loss of projecting
// only that matrix at b, L_i(b) = 1/2 F_i E_i(b) per token (F_i the mean over output channels
// of the teacher's NLL Fisher on the validation data, E_i(b) the least-squares output error
// over the calibration tokens from capture's statistics), and measures it: the mean KL per
// test position of the teacher with only matrix i replaced by its least-squares projection.
// Prints both and Spearman's rank correlation per b (across matrices) and overall.
#include <string>
#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/runtime/mpi_context.hpp"

namespace circal {

struct SensitivityBenchOptions {
  std::vector<int> block_sizes;  // candidates; empty = capture.block_sizes
  std::string json_path;         // the JSON result; empty = run_dir/bench_sensitivity.json
};

// Runs capture first when the run directory has none (with capture.block_sizes = the
// candidates). The work runs on rank 0.
void run_sensitivity_bench(MpiContext& mpi, Config config, const SensitivityBenchOptions& options);

}  // namespace circal
