#include "pipeline/metrics/logit_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace circal {

std::vector<double> log_softmax(const float* z, int vocab) {
  const double zmax = *std::max_element(z, z + vocab);
  double sum = 0;
  for (int v = 0; v < vocab; ++v) sum += std::exp(double(z[v]) - zmax);
  const double log_norm = zmax + std::log(sum);
  std::vector<double> out(vocab);
  for (int v = 0; v < vocab; ++v) out[v] = double(z[v]) - log_norm;
  return out;
}

int argmax(const float* z, int vocab) {
  return int(std::max_element(z, z + vocab) - z);  // first maximum: lowest index wins ties
}

std::vector<int> top_k_indices(const float* z, int vocab, int k) {
  k = std::clamp(k, 0, vocab);
  std::vector<int> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [z](int a, int b) { return z[a] > z[b] || (z[a] == z[b] && a < b); });
  order.resize(k);
  return order;
}

namespace {

// |first k of t ∩ first k of s| / k, where t and s are top lists at least k long (the top-k
// list is the prefix of any longer top list, as the order is total).
double prefix_overlap(const std::vector<int>& t, const std::vector<int>& s, size_t k) {
  if (k == 0) return 0;
  std::vector<int> a(t.begin(), t.begin() + k), b(s.begin(), s.begin() + k);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<int> common;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(common));
  return double(common.size()) / double(k);
}

// Cosine of two vectors; a zero vector has no direction, so it is 1 against another zero
// vector and 0 against anything else.
double cosine(double dot, double norm2_a, double norm2_b) {
  if (norm2_a == 0 || norm2_b == 0) return (norm2_a == 0 && norm2_b == 0) ? 1.0 : 0.0;
  return dot / (std::sqrt(norm2_a) * std::sqrt(norm2_b));
}

}  // namespace

PositionMetrics compare_logits(const float* zT, const float* zS, int vocab, const std::vector<int>& ks,
                               int reference_token) {
  const std::vector<double> logT = log_softmax(zT, vocab);
  const std::vector<double> logS = log_softmax(zS, vocab);
  double kl = 0, dot = 0, normT = 0, normS = 0, diff2 = 0;
  for (int v = 0; v < vocab; ++v) {
    kl += std::exp(logT[v]) * (logT[v] - logS[v]);
    const double t = zT[v], s = zS[v];
    dot += t * s;
    normT += t * t;
    normS += s * s;
    diff2 += (t - s) * (t - s);
  }
  PositionMetrics m;
  m.kl = std::max(kl, 0.0);  // rounding can leave -1e-17 where the distributions agree
  m.cosine = cosine(dot, normT, normS);
  m.l2 = std::sqrt(diff2);
  m.mse = diff2 / vocab;
  m.top1 = argmax(zT, vocab) == argmax(zS, vocab) ? 1.0 : 0.0;
  const int kmax = ks.empty() ? 0 : *std::max_element(ks.begin(), ks.end());
  const std::vector<int> topT = top_k_indices(zT, vocab, kmax), topS = top_k_indices(zS, vocab, kmax);
  for (int k : ks) m.topk_overlap.push_back(prefix_overlap(topT, topS, size_t(std::clamp(k, 0, vocab))));
  m.teacher_nll = -logT[reference_token];
  m.student_nll = -logS[reference_token];
  m.delta_p = std::exp(logS[reference_token]) - std::exp(logT[reference_token]);
  return m;
}

}  // namespace circal
