// Distillation against a top-k teacher (capture.logits_format = topk): with k = V it is the
// full KL, and its gradient matches central finite differences of its own loss for k < V.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "pipeline/model/ops/kl_divergence.hpp"
#include "stages/calibrate/calibration_data.hpp"

using namespace circal;

namespace {

struct TopkTeacher {
  std::vector<int32_t> ids;
  std::vector<float> logits, logsumexp;
};

TopkTeacher top_k(const std::vector<float>& zT, int T, int V, int k) {
  TopkTeacher out;
  for (int t = 0; t < T; ++t) {
    const float* z = zT.data() + t * V;
    std::vector<int> order(V);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) { return z[a] > z[b]; });
    double peak = *std::max_element(z, z + V), sum = 0.0;
    for (int i = 0; i < V; ++i) sum += std::exp(z[i] - peak);
    out.logsumexp.push_back(float(peak + std::log(sum)));
    for (int j = 0; j < k; ++j) {
      out.ids.push_back(order[j]);
      out.logits.push_back(z[order[j]]);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("top-k distillation: equals the full KL at k = V, gradient matches finite differences") {
  const int T = 3, V = 11;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  std::vector<float> zT(T * V), zS(T * V);
  for (auto& z : zT) z = normal(rng);
  for (auto& z : zS) z = normal(rng);

  const TopkTeacher all = top_k(zT, T, V, V);
  std::vector<float> d_full(T * V), d_topk(T * V);
  const double full = kl_divergence(zT.data(), zS.data(), d_full.data(), T, V, 1.0f, 0.5f);
  const double kept = topk_kl_divergence(all.ids.data(), all.logits.data(), all.logsumexp.data(), V, zS.data(),
                                         d_topk.data(), T, V, 0.5f);
  CHECK(kept == doctest::Approx(full).epsilon(1e-5));
  for (int i = 0; i < T * V; ++i) CHECK(d_topk[i] == doctest::Approx(d_full[i]).epsilon(1e-4).scale(1e-6));

  const int k = 4;
  const TopkTeacher some = top_k(zT, T, V, k);
  const auto loss = [&](const std::vector<float>& z) {
    return topk_kl_divergence(some.ids.data(), some.logits.data(), some.logsumexp.data(), k, z.data(), nullptr, T, V,
                              1.0f);
  };
  std::vector<float> grad(T * V);
  topk_kl_divergence(some.ids.data(), some.logits.data(), some.logsumexp.data(), k, zS.data(), grad.data(), T, V, 1.0f);
  CHECK(loss(zS) > 0.0);
  CHECK(loss(zS) <= full + 1e-9);  // lumping the tail never increases the KL
  for (int i = 0; i < T * V; ++i) {
    std::vector<float> plus = zS, minus = zS;
    const float h = 1e-2f;
    plus[i] += h;
    minus[i] -= h;
    const double numeric = (loss(plus) - loss(minus)) / (2.0 * h);
    CHECK(grad[i] == doctest::Approx(numeric).epsilon(1e-3).scale(1e-3));
  }
}
