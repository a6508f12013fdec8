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
#include "pipeline/commands/commands.hpp"

namespace circal {

// args: the words after `bench calibrate`.
int bench_calibrate(MpiContext& mpi, const Args& args);

}  // namespace circal
