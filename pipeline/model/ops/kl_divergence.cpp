#include "pipeline/model/ops/kl_divergence.hpp"

#include <vector>

#include "pipeline/model/ops/log_softmax.hpp"

namespace circal {

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
