#pragma once
// log softmax(z / tau) and softmax(z / tau) of one row, in double: the distillation KL of nearly
// equal distributions is a small difference of large terms, and the NLL of a confident row is
// a small number beside log V. Shared by kl_divergence and next_token_nll.
#include <algorithm>
#include <cmath>

namespace circal {

inline void softmax_and_log(const float* z, double* log_p, double* p, int V, double tau) {
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

}  // namespace circal
