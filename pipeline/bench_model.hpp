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
#include "pipeline/commands/commands.hpp"

namespace circal {

// args: the words after `bench model` (--model DIR --prompts FILE --batch B --decode-tokens N
// --repeats R).
int bench_model(MpiContext& mpi, const Args& args);

}  // namespace circal
