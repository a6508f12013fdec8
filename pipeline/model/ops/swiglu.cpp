#include "pipeline/model/ops/swiglu.hpp"

#include <algorithm>

#include "pipeline/model/ops/vector_exp.hpp"

namespace circal {

namespace {
// The sigmoids are computed a block at a time into a stack buffer that stays in L1 cache.
constexpr long kBlock = 1024;
// Above this many elements the blocks are shared over the OpenMP threads (runtime.threads).
// A block is computed the same way whichever thread takes it, so the bits do not depend on
// the thread count.
constexpr long kParallelElements = 1 << 16;

CIRCAL_SIMD_CLONES
void forward_span(const float* gate, const float* up, float* out, long n) {
  float s[kBlock];
  for (long i0 = 0; i0 < n; i0 += kBlock) {
    const long m = std::min(kBlock, n - i0);
    const float *g = gate + i0, *u = up + i0;
    float* o = out + i0;
    sigmoid(g, s, m);
    for (long i = 0; i < m; ++i) o[i] = g[i] * s[i] * u[i];
  }
}

// silu'(g) = s + g s (1 - s), s = sigmoid(g).
CIRCAL_SIMD_CLONES
void backward_span(const float* dout, const float* gate, const float* up, float* dgate, float* dup, long n) {
  float s[kBlock];
  for (long i0 = 0; i0 < n; i0 += kBlock) {
    const long m = std::min(kBlock, n - i0);
    const float *dy = dout + i0, *g = gate + i0, *u = up + i0;
    float *dg = dgate + i0, *du = dup + i0;
    sigmoid(g, s, m);
    for (long i = 0; i < m; ++i) {
      const float silu = g[i] * s[i];
      du[i] = dy[i] * silu;
      dg[i] = dy[i] * u[i] * (s[i] + silu * (1.0f - s[i]));
    }
  }
}

}  // namespace

void swiglu_forward(const float* gate, const float* up, float* out, long n) {
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (long i0 = 0; i0 < n; i0 += kBlock) forward_span(gate + i0, up + i0, out + i0, std::min(kBlock, n - i0));
}

void swiglu_backward(const float* dout, const float* gate, const float* up, float* dgate, float* dup, long n) {
#pragma omp parallel for schedule(static) if (n > kParallelElements)
  for (long i0 = 0; i0 < n; i0 += kBlock)
    backward_span(dout + i0, gate + i0, up + i0, dgate + i0, dup + i0, std::min(kBlock, n - i0));
}

}  // namespace circal
