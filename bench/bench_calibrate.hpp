#pragma once
// `circal bench calibrate`: the calibration step of a config (default: config/default.yaml),
// timed per phase (forward, loss, backward, gradient accumulation, allreduce, optimizer) at
// the rank count it runs on, tokens/s, the OpenBLAS core, and one JSON line that
// bench/torch_calibrate_step.py reads to run exactly the same steps in PyTorch.
//
// It needs capture.h5 and project.h5 in run_dir: it runs those stages first when they are
// missing or stale (a run directory after `make run` is reused as it is). It runs the
// calibrate stage's first N steps twice from project.h5's parameters: once untimed (warm-up:
// prompts loaded, plans made, buffers grown), then timed, and checks that both passes agree
// bit for bit (timing changes no result).
#include <string>

#include "pipeline/config/config.hpp"
#include "pipeline/runtime/mpi_context.hpp"

namespace circal {

struct CalibrateBenchOptions {
  int steps = 20;         // timed steps: the calibrate stage's first N, at least 1
  std::string json_path;  // the JSON line is appended here; empty: run_dir/bench_calibrate.jsonl
};

// Collective: every rank calls it; rank 0 prints and writes the JSON line.
void run_calibrate_bench(MpiContext& mpi, Config config, const CalibrateBenchOptions& options);

}  // namespace circal
