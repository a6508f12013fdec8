// Per-position teacher-vs-student metrics against closed forms and a long-double reference.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "pipeline/metrics/logit_metrics.hpp"

using namespace circal;

namespace {

PositionMetrics compare(const std::vector<float>& zT, const std::vector<float>& zS, const std::vector<int>& ks, int y) {
  REQUIRE(zT.size() == zS.size());
  return compare_logits(zT.data(), zS.data(), int(zT.size()), ks, y);
}

// Textbook KL in long double from explicit softmaxes (no log-sum-exp tricks).
long double reference_kl(const std::vector<float>& zT, const std::vector<float>& zS) {
  long double sumT = 0, sumS = 0;
  for (size_t v = 0; v < zT.size(); ++v) {
    sumT += std::exp((long double)zT[v]);
    sumS += std::exp((long double)zS[v]);
  }
  long double kl = 0;
  for (size_t v = 0; v < zT.size(); ++v) {
    const long double pT = std::exp((long double)zT[v]) / sumT;
    const long double pS = std::exp((long double)zS[v]) / sumS;
    kl += pT * std::log(pT / pS);
  }
  return kl;
}

}  // namespace

TEST_CASE("identical logits: KL exactly 0, cosine 1, no distance, full agreement") {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> z(4096);
  for (float& v : z) v = normal(rng);
  const PositionMetrics m = compare(z, z, {5, 10}, 17);
  CHECK(m.kl == 0.0);
  CHECK(m.l2 == 0.0);
  CHECK(m.mse == 0.0);
  CHECK(m.cosine == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(m.top1 == 1.0);
  CHECK(m.topk_overlap == std::vector<double>{1.0, 1.0});
  CHECK(m.delta_p == 0.0);
  CHECK(m.teacher_nll == m.student_nll);
}

TEST_CASE("two-token closed forms: KL, delta_p and NLLs") {
  // pT = (1/2, 1/2), pS = (3/4, 1/4): KL = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3).
  const std::vector<float> zT{0.0f, 0.0f};
  const std::vector<float> zS{float(std::log(3.0)), 0.0f};
  const PositionMetrics m = compare(zT, zS, {1}, 0);
  CHECK(m.kl == doctest::Approx(0.5 * std::log(4.0 / 3.0)).epsilon(1e-7));
  CHECK(m.delta_p == doctest::Approx(0.25).epsilon(1e-7));
  CHECK(m.teacher_nll == doctest::Approx(std::log(2.0)).epsilon(1e-12));
  CHECK(m.student_nll == doctest::Approx(-std::log(0.75)).epsilon(1e-7));
  // reference token 1: pS(1) - pT(1) = 1/4 - 1/2
  CHECK(compare(zT, zS, {1}, 1).delta_p == doctest::Approx(-0.25).epsilon(1e-7));
}

TEST_CASE("cosine, L2 and MSE of small vectors") {
  const PositionMetrics m = compare({1, 0, 0}, {1, 1, 0}, {}, 0);
  CHECK(m.cosine == doctest::Approx(1.0 / std::sqrt(2.0)).epsilon(1e-15));
  CHECK(m.l2 == doctest::Approx(1.0));
  CHECK(m.mse == doctest::Approx(1.0 / 3.0));
  const PositionMetrics far = compare({3, 4}, {0, 0}, {}, 0);
  CHECK(far.l2 == doctest::Approx(5.0));
  CHECK(far.mse == doctest::Approx(12.5));
  CHECK(far.cosine == 0.0);  // a zero vector has no direction
  CHECK(compare({0, 0}, {0, 0}, {}, 0).cosine == 1.0);
  CHECK(compare({1, 2}, {-1, -2}, {}, 0).cosine == doctest::Approx(-1.0));
}

TEST_CASE("a shift of all logits leaves the distribution: KL 0 but L2 and cosine see it") {
  const std::vector<float> zT{1.0f, -2.0f, 0.5f, 3.0f};
  std::vector<float> zS = zT;
  for (float& v : zS) v += 2.0f;
  const PositionMetrics m = compare(zT, zS, {2}, 3);
  CHECK(m.kl == doctest::Approx(0.0).epsilon(1e-7));
  CHECK(m.l2 == doctest::Approx(4.0));
  CHECK(m.cosine < 0.99);
  CHECK(m.top1 == 1.0);
}

TEST_CASE("KL of large logits stays finite (log-sum-exp)") {
  // pT ~ (1, e^-1000), pS ~ (e^-1000, 1): KL = ln pT(0) - ln pS(0) ~ 1000.
  const PositionMetrics m = compare({1000.0f, 0.0f}, {0.0f, 1000.0f}, {1}, 0);
  CHECK(std::isfinite(m.kl));
  CHECK(m.kl == doctest::Approx(1000.0).epsilon(1e-9));
  CHECK(m.top1 == 0.0);
  CHECK(m.student_nll == doctest::Approx(1000.0).epsilon(1e-9));
}

TEST_CASE("KL of random logits agrees with a long-double reference") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<float> zT(4096), zS(4096);
    for (size_t v = 0; v < zT.size(); ++v) {
      zT[v] = normal(rng);
      zS[v] = zT[v] + 0.3f * normal(rng);
    }
    const double expected = double(reference_kl(zT, zS));
    CHECK(compare(zT, zS, {}, 0).kl == doctest::Approx(expected).epsilon(1e-10));
  }
}

TEST_CASE("top-k: ordered by value, ties to the lower index") {
  const std::vector<float> z{1, 2, 2, 0};
  CHECK(argmax(z.data(), 4) == 1);
  CHECK(top_k_indices(z.data(), 4, 2) == std::vector<int>{1, 2});
  CHECK(top_k_indices(z.data(), 4, 3) == std::vector<int>{1, 2, 0});
  const std::vector<float> flat{3, 3, 3};
  CHECK(top_k_indices(flat.data(), 3, 2) == std::vector<int>{0, 1});
  CHECK(top_k_indices(flat.data(), 3, 10) == std::vector<int>{0, 1, 2});  // k clamped
}

TEST_CASE("top-k overlap counts the shared indices") {
  const std::vector<float> zT{4, 3, 2, 1};
  const std::vector<float> zS{1, 2, 3, 4};
  const PositionMetrics m = compare(zT, zS, {1, 2, 3, 4}, 0);
  CHECK(m.topk_overlap[0] == 0.0);                         // {0} vs {3}
  CHECK(m.topk_overlap[1] == 0.0);                         // {0,1} vs {3,2}
  CHECK(m.topk_overlap[2] == doctest::Approx(2.0 / 3.0));  // {0,1,2} vs {3,2,1}
  CHECK(m.topk_overlap[3] == 1.0);
  CHECK(m.top1 == 0.0);
  // ties in the student resolve to the lower index, so the tie {1,2} against T's {0,1}
  const PositionMetrics tie = compare({5, 4, 0}, {0, 1, 1}, {2}, 0);
  CHECK(tie.topk_overlap[0] == doctest::Approx(0.5));
}
