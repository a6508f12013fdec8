#pragma once
// `circal bench sensitivity`: how well does a cheap estimate rank the matrices by what
// compressing them costs (the block-size allocation's proxy, docs/DESIGN.md 3.1)? For every
// patched matrix i and candidate block size b it measures the mean KL per test position of
// the teacher with only matrix i replaced by its least-squares projection at b, and sets
// three estimates beside it, all from the validation prompts and capture's statistics:
// gauss_newton 1/2 E[(g . delta)^2] (the proxy), its diagonal, and 1/2 F_i E_i(b) (channel and
// token averages taken apart). Prints the table and Spearman's rank correlation of each
// estimate with the measured KL per b (across matrices) and overall; writes them as JSON.
#include <string>
#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/runtime/mpi_context.hpp"

namespace circal {

struct SensitivityBenchOptions {
  std::vector<int> block_sizes;  // candidates; empty = capture.block_sizes
  std::string json_path;         // the JSON result; empty = run_dir/bench_sensitivity.json
  int samples = 16;              // sampled-target backward passes a validation prompt
};

// Runs capture first when the run directory has none (with capture.block_sizes = the
// candidates). The work runs on rank 0.
void run_sensitivity_bench(MpiContext& mpi, Config config, const SensitivityBenchOptions& options);

}  // namespace circal
