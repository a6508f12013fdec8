#include "pipeline/ops/kl_divergence.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace circal {

namespace {

// log softmax(z / tau) in double: the KL of nearly equal distributions is a small
// difference of large terms.
void log_softmax(const float* z, double* out, int V, double tau) {
  double peak = z[0] / tau;
  for (int i = 0; i < V; ++i) peak = std::max(peak, z[i] / tau);
  double sum = 0.0;
  for (int i = 0; i < V; ++i) {
    out[i] = z[i] / tau - peak;
    sum += std::exp(out[i]);
  }
  const double log_sum = std::log(sum);
  for (int i = 0; i < V; ++i) out[i] -= log_sum;
}

}  // namespace

double kl_divergence(const float* zT, const float* zS, float* dzS, int T, int V, float tau,
                     float grad_scale) {
  std::vector<double> log_pt(V), log_ps(V);
  double total = 0.0;
  for (int t = 0; t < T; ++t) {
    const long row = static_cast<long>(t) * V;
    log_softmax(zT + row, log_pt.data(), V, tau);
    log_softmax(zS + row, log_ps.data(), V, tau);
    double kl = 0.0;
    for (int i = 0; i < V; ++i) {
      const double pt = std::exp(log_pt[i]);
      kl += pt * (log_pt[i] - log_ps[i]);
      if (dzS) {
        const double ps = std::exp(log_ps[i]);
        dzS[row + i] = static_cast<float>(grad_scale * tau * (ps - pt));
      }
    }
    total += static_cast<double>(tau) * tau * kl;
  }
  return total;
}

}  // namespace circal
