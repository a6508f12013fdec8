#pragma once
// Elementwise exp over float arrays, vectorised through glibc's libmvec (AVX2 where the CPU
// has it, SSE otherwise): the softmax of the distillation loss and SwiGLU's sigmoid spend most
// of their time in exp. Accuracy: libmvec's expf is within a few float ulps (at worst 2.1e-7
// relative); tests/unit/test_vector_exp.cpp pins it against std::exp in double.
#include "pipeline/base/simd_clones.hpp"

namespace circal {

// e[i] = exp((x[i] - shift) * scale) for i < n, the argument rounded to float; returns the sum
// of the e[i] in double. With shift = max x and scale > 0 no e[i] overflows and the largest is 1.
double exp_shifted_sum(const float* x, float shift, float scale, float* e, long n);

// s[i] = 1 / (1 + exp(-x[i])) for i < n: exactly 0 below x ~ -88, 1 above x ~ 17. s may be x.
void sigmoid(const float* x, float* s, long n);

}  // namespace circal
