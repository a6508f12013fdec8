#pragma once
// `circal bench model`: teacher throughput, 1 process, over a prompts file: prompt processing
// with one prompt per forward and with --batch prompts per forward (rows stacked), and greedy
// decoding with the KV cache, in tokens/s of wall-clock and of CPU time.
// bench/torch_forward.py measures the same with PyTorch for the ratio.
//
// With student block sizes (--student-blocks 16,64,256) it measures the payoff instead: the
// teacher against a student of every MLP matrix block-circulant at each block size (random c:
// the speed does not depend on the values), in interleaved rounds (teacher, b1, b2, ... per
// round), prompt processing and decode tokens/s (median and best of the rounds, and the ratio
// to the teacher of the same round, median), and the float32 weight bytes a decoded token reads
// (decode_weight_bytes). bench/torch_payoff.py measures modeling_circal.py the same way.
//
// OpenBLAS kernel: Debian's DYNAMIC_ARCH OpenBLAS picks its core once, when the library loads,
// from the CPU or from OPENBLAS_CORETYPE (set it before the process starts; it cannot be
// changed at run time). The benchmark prints the core in use. Measured on the project's
// machines: on AMD EPYC (AVX2, no AVX-512) the auto-detected "Zen" core is right and
// Haswell is equivalent; OPENBLAS_CORETYPE=SkylakeX dies with SIGILL there, so only set
// SkylakeX on CPUs with AVX-512 that OpenBLAS 0.3.21 misdetects as "Prescott" (check
// /proc/cpuinfo for avx512f and rerun the teacher reference test under the chosen core).
#include <string>
#include <vector>

#include "pipeline/model/llama_config.hpp"

namespace circal {

struct StudentLayout;

struct ModelBenchOptions {
  std::string model;                // model folder
  std::string prompts;              // prompts file
  int batch = 0;                    // prompts per batched forward (0: all of them in one)
  int decode_tokens = 32;           // greedy tokens per prompt for the decode rate, at least 2
  int repeats = 3;                  // timed passes (the median is reported); rounds with student blocks
  std::vector<int> student_blocks;  // empty: the teacher alone
  unsigned seed = 1;                // of the random students
};

// Bytes of weights one decoded token reads, float32: every layer's attention (projections,
// biases, norms) and MLP, the final norm, the LM head and one embedding row. With a student,
// each patched matrix reads the spectrum its operator keeps instead of W: (b/2 + 1) p q complex
// floats (CirculantLinear), or U and V for a low-rank one.
double decode_weight_bytes(const LlamaConfig& config, const StudentLayout* student = nullptr);

// Prints the rates (stdout). Single process: call it on one rank.
void run_model_bench(const ModelBenchOptions& options);

}  // namespace circal
