#include "pipeline/model/ops/kl_divergence.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace circal {

namespace {

// log softmax(z / tau) and softmax(z / tau) in double: the KL of nearly equal
// distributions is a small difference of large terms.
void softmax_and_log(const float* z, double* log_p, double* p, int V, double tau) {
  double peak = z[0] / tau;
  for (int i = 0; i < V; ++i) peak = std::max(peak, z[i] / tau);
  double sum = 0.0;
  for (int i = 0; i < V; ++i) {
    log_p[i] = z[i] / tau - peak;
    p[i] = std::exp(log_p[i]);
    sum += p[i];
  }
  const double log_sum = std::log(sum), inv_sum = 1.0 / sum;
  for (int i = 0; i < V; ++i) {
    log_p[i] -= log_sum;
    p[i] *= inv_sum;
  }
}

}  // namespace

double kl_divergence(const float* zT, const float* zS, float* dzS, int T, int V, float tau, float grad_scale) {
  std::vector<double> log_pt(V), log_ps(V), pt(V), ps(V);
  double total = 0.0;
  for (int t = 0; t < T; ++t) {
    const long row = static_cast<long>(t) * V;
    softmax_and_log(zT + row, log_pt.data(), pt.data(), V, tau);
    softmax_and_log(zS + row, log_ps.data(), ps.data(), V, tau);
    double kl = 0.0;
    for (int i = 0; i < V; ++i) kl += pt[i] * (log_pt[i] - log_ps[i]);
    if (dzS)
      for (int i = 0; i < V; ++i) dzS[row + i] = static_cast<float>(grad_scale * tau * (ps[i] - pt[i]));
    total += static_cast<double>(tau) * tau * kl;
  }
  return total;
}

}  // namespace circal
