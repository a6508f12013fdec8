#include "pipeline/model/ops/rmsnorm.hpp"

#include <cmath>

#include "pipeline/base/simd_clones.hpp"

// The double sums are simd reductions (this file is compiled with -fopenmp-simd): a serial
// double chain per row made both passes latency-bound.
namespace circal {

CIRCAL_SIMD_CLONES
void rmsnorm_forward(const float* x, const float* w, float* y, float* inv_rms, int T, int d, float eps) {
  for (int t = 0; t < T; ++t) {
    const float* xt = x + static_cast<long>(t) * d;
    float* yt = y + static_cast<long>(t) * d;
    double sum_sq = 0.0;
#pragma omp simd reduction(+ : sum_sq)
    for (int i = 0; i < d; ++i) sum_sq += static_cast<double>(xt[i]) * xt[i];
    const float r = static_cast<float>(1.0 / std::sqrt(sum_sq / d + eps));
    inv_rms[t] = r;
    for (int i = 0; i < d; ++i) yt[i] = xt[i] * r * w[i];
  }
}

// With xhat = x * r: dx = r * (g - xhat * mean(g . xhat)), g = dy . w.
CIRCAL_SIMD_CLONES
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* inv_rms, float* dx, int T, int d) {
  for (int t = 0; t < T; ++t) {
    const float* xt = x + static_cast<long>(t) * d;
    const float* dyt = dy + static_cast<long>(t) * d;
    float* dxt = dx + static_cast<long>(t) * d;
    const float r = inv_rms[t];
    double dot = 0.0;
#pragma omp simd reduction(+ : dot)
    for (int i = 0; i < d; ++i) dot += static_cast<double>(dyt[i]) * w[i] * xt[i] * r;
    const float mean_dot = static_cast<float>(dot / d);
    for (int i = 0; i < d; ++i) dxt[i] += r * (dyt[i] * w[i] - xt[i] * r * mean_dot);
  }
}

}  // namespace circal
