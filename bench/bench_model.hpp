#pragma once
// `circal bench model`: teacher throughput, 1 process, over a prompts file: prompt processing
// with one prompt per forward and with --batch prompts per forward (rows stacked), and greedy
// decoding with the KV cache, in tokens/s of wall-clock and of CPU time.
// bench/torch_forward.py measures the same with PyTorch for the ratio.
//
// OpenBLAS kernel: Debian's DYNAMIC_ARCH OpenBLAS picks its core once, when the library loads,
// from the CPU or from OPENBLAS_CORETYPE (set it before the process starts; it cannot be
// changed at run time). The benchmark prints the core in use. Measured on the project's
// machines: on AMD EPYC (AVX2, no AVX-512) the auto-detected "Zen" core is right and
// Haswell is equivalent; OPENBLAS_CORETYPE=SkylakeX dies with SIGILL there, so only set
// SkylakeX on CPUs with AVX-512 that OpenBLAS 0.3.21 misdetects as "Prescott" (check
// /proc/cpuinfo for avx512f and rerun the teacher reference test under the chosen core).
#include <string>

namespace circal {

struct ModelBenchOptions {
  std::string model;       // model folder
  std::string prompts;     // prompts file
  int batch = 0;           // prompts per batched forward (0: all of them in one)
  int decode_tokens = 32;  // greedy tokens per prompt for the decode rate, at least 2
  int repeats = 3;         // timed passes (the median is reported)
};

// Prints the rates (stdout). Single process: call it on one rank.
void run_model_bench(const ModelBenchOptions& options);

}  // namespace circal
