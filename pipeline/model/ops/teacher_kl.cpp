#include "pipeline/model/ops/teacher_kl.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "pipeline/model/ops/vector_exp.hpp"

namespace circal {

TeacherRows teacher_rows(const float* zT, int T, int V, float tau) {
  TeacherRows rows{T, V, tau, std::vector<float>(size_t(T) * V), std::vector<double>(T), std::vector<double>(T)};
  std::vector<double> e(V);
  for (int t = 0; t < T; ++t) {
    const float* z = zT + size_t(t) * V;
    const double peak = *std::max_element(z, z + V) / double(tau);
    double sum = 0.0;
    for (int i = 0; i < V; ++i) sum += e[i] = std::exp(z[i] / double(tau) - peak);
    float* p = rows.probs.data() + size_t(t) * V;
    double mass = 0.0, p_log_p = 0.0;
    for (int i = 0; i < V; ++i) {
      p[i] = float(e[i] / sum);
      mass += p[i];
      if (p[i] > 0.0f) p_log_p += double(p[i]) * std::log(double(p[i]));
    }
    rows.mass[t] = mass;
    rows.p_log_p[t] = p_log_p;
  }
  return rows;
}

// Per row, with s = zS / tau and L = logsumexp(s):
//   KL = sum p log p - sum p log softmax(s) = p_log_p - (sum p s - mass L),
//   d(tau^2 KL)/dzS = tau (mass softmax(s) - p).
// The exps are float (ops/vector_exp); their sum, sum p s and the loss are double: for nearly
// equal distributions KL is a small difference of large terms. Each row takes three simd loops
// (this file is compiled with -fopenmp-simd): max and sum p zS, the exps, the gradient.
CIRCAL_SIMD_CLONES
double teacher_kl_divergence(const TeacherRows& teacher, const float* zS, float* dzS, float grad_scale) {
  const int V = teacher.V;
  const double inv_tau = 1.0 / double(teacher.tau), tau = teacher.tau;
  std::vector<float> e(V);
  double total = 0.0;
  for (int t = 0; t < teacher.T; ++t) {
    const float* z = zS + size_t(t) * V;
    const float* p = teacher.probs.data() + size_t(t) * V;
    float z_max = -std::numeric_limits<float>::infinity();
    double dot = 0.0;
    // (std::max would not vectorise: GCC 12 cannot if-convert its reference result.)
#pragma omp simd reduction(max : z_max) reduction(+ : dot)
    for (int i = 0; i < V; ++i) {
      z_max = z_max < z[i] ? z[i] : z_max;
      dot += double(p[i]) * double(z[i]);
    }
    const double sum = exp_shifted_sum(z, z_max, float(inv_tau), e.data(), V);
    const double log_sum = z_max * inv_tau + std::log(sum);
    total += tau * tau * (teacher.p_log_p[t] - (dot * inv_tau - teacher.mass[t] * log_sum));
    if (!dzS) continue;
    float* d = dzS + size_t(t) * V;
    const double scale = grad_scale * tau, ps_scale = teacher.mass[t] / sum;
#pragma omp simd
    for (int i = 0; i < V; ++i) d[i] = float(scale * (ps_scale * double(e[i]) - double(p[i])));
  }
  return total;
}

}  // namespace circal
