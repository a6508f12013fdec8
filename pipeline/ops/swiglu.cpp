#include "pipeline/ops/swiglu.hpp"

#include <cmath>

namespace circal {

namespace {
inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
}  // namespace

void swiglu_forward(const float* gate, const float* up, float* out, long n) {
  for (long i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

// silu'(g) = s + g s (1 - s), s = sigmoid(g).
void swiglu_backward(const float* dout, const float* gate, const float* up, float* dgate,
                     float* dup, long n) {
  for (long i = 0; i < n; ++i) {
    const float s = sigmoid(gate[i]);
    const float silu = gate[i] * s;
    dup[i] = dout[i] * silu;
    dgate[i] = dout[i] * up[i] * (s + silu * (1.0f - s));
  }
}

}  // namespace circal
