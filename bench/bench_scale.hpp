#pragma once
// `circal bench scale` (make bench-scale): the whole pipeline at a real model shape on this
// machine, each stage measured. Writes the synthetic checkpoint first when model.path has no
// config.json (bench/make_synthetic_checkpoint.py --shape SHAPE, rank 0), takes the first N
// calibration / validation / test prompts of the config's files, clears run_dir, then loads
// the teacher (runtime.shared_weights, runtime.threads) and runs capture, project, calibrate
// and evaluate once each. Per stage it prints wall time, tokens/s, peak PSS per rank and per
// node (pipeline/runtime/pss_monitor.hpp), and output size; one JSON line of all of it (and
// the load average) is appended to --json.
#include <string>

#include "pipeline/config/config.hpp"
#include "pipeline/runtime/mpi_context.hpp"

namespace circal {

struct ScaleBenchOptions {
  std::string shape = "tinyllama-1.1b";  // make_synthetic_checkpoint.py --shape, when generating
  int calibration_prompts = 64;
  int validation_prompts = 8;
  int test_prompts = 16;
  std::string json_path;   // empty: run_dir/../bench_scale.jsonl
  bool load_only = false;  // measure loading the teacher only (memory of 1 vs N ranks)
};

// Collective.
void run_scale_bench(MpiContext& mpi, Config config, const ScaleBenchOptions& options);

}  // namespace circal
