// The libmvec-backed exp and sigmoid of ops/vector_exp against std::exp in double, over the
// whole float range, and SwiGLU built on them against a scalar double twin.
#include <doctest/doctest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

#include "pipeline/model/ops/swiglu.hpp"
#include "pipeline/model/ops/vector_exp.hpp"

using namespace circal;

namespace {

// libmvec's expf is within about 2 float ulps (2^-23 relative each) of exp; results below the
// smallest normal float may be rounded or flushed towards 0 by up to that float.
constexpr double kRelTol = 5e-7;
constexpr double kAbsTol = FLT_MIN;

// Arguments from -120 (underflow to 0) to 88 (near overflow), a length that leaves a tail
// after any vector width, with the region around 0 sampled densely.
std::vector<float> wide_arguments() {
  std::vector<float> x;
  for (double a = -120.0; a <= 88.0; a += 0.0371) x.push_back(float(a));
  for (float a : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-10f, -1e-10f, 1e-7f, -1e-7f, 6e-8f, -6e-8f, 1e-3f, -1e-3f, 0.5f,
                  -0.5f, FLT_MIN, -FLT_MIN})
    x.push_back(a);
  for (int k = -1000; k <= 1000; ++k) x.push_back(float(k) * 1e-4f);
  for (float a : {-87.3f, -88.0f, -100.0f, -103.9f, -104.0f, -150.0f, -1e4f, -FLT_MAX}) x.push_back(a);
  return x;
}

}  // namespace

TEST_CASE("exp_shifted_sum equals std::exp in double over the float range") {
  const std::vector<float> x = wide_arguments();
  const long n = long(x.size());
  std::vector<float> e(n);
  const double sum = exp_shifted_sum(x.data(), 0.0f, 1.0f, e.data(), n);
  double exact_sum = 0.0, worst_rel = 0.0;
  for (long i = 0; i < n; ++i) {
    const double exact = std::exp(double(x[i]));
    exact_sum += exact;
    CAPTURE(x[i]);
    CHECK(std::abs(e[i] - exact) <= kRelTol * exact + kAbsTol);
    if (exact >= FLT_MIN) worst_rel = std::max(worst_rel, std::abs(e[i] - exact) / exact);
    if (x[i] < -104.0f) CHECK(e[i] == 0.0f);
    if (x[i] == 0.0f) CHECK(e[i] == 1.0f);
  }
  CHECK(std::abs(sum - exact_sum) <= 1e-6 * exact_sum);
  MESSAGE("worst relative error of exp over normal results: " << worst_rel);
}

TEST_CASE("exp_shifted_sum with a shift and a scale: a softmax numerator") {
  std::mt19937 rng(17);
  std::normal_distribution<float> dist(0.0f, 8.0f);
  const long n = 4099;
  std::vector<float> x(n), e(n);
  for (float& v : x) v = dist(rng);
  const float peak = *std::max_element(x.begin(), x.end());
  for (float scale : {1.0f, 0.5f, 1.0f / 3.0f}) {
    const double sum = exp_shifted_sum(x.data(), peak, scale, e.data(), n);
    double exact_sum = 0.0;
    for (long i = 0; i < n; ++i) {
      const double arg = (double(x[i]) - peak) * scale;
      const double exact = std::exp(arg);
      exact_sum += exact;
      // The argument is rounded to float twice (difference, product): 2^-23 relative of it.
      CAPTURE(x[i]);
      CHECK(std::abs(e[i] - exact) <= (kRelTol + std::abs(arg) * 0x1p-23) * exact + kAbsTol);
      CHECK(e[i] <= 1.0f);
    }
    CHECK(std::abs(sum - exact_sum) <= 1e-6 * exact_sum);
    CHECK(*std::max_element(e.begin(), e.end()) == 1.0f);
  }
}

TEST_CASE("sigmoid equals 1 / (1 + exp(-x)) in double, also in place") {
  std::vector<float> x = wide_arguments();
  for (float& v : std::vector<float>(x)) x.push_back(-v);  // and the mirror images
  const long n = long(x.size());
  std::vector<float> s(n);
  sigmoid(x.data(), s.data(), n);
  for (long i = 0; i < n; ++i) {
    const double exact = 1.0 / (1.0 + std::exp(-double(x[i])));
    CAPTURE(x[i]);
    CHECK(std::abs(s[i] - exact) <= kRelTol * exact + kAbsTol);
  }
  sigmoid(x.data(), x.data(), n);
  CHECK(x == s);
}

TEST_CASE("swiglu forward and backward equal a scalar double twin") {
  std::mt19937 rng(23);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const long n = 2500;  // several blocks of sigmoids and a partial one
  std::vector<float> gate(n), up(n), dout(n), out(n), dgate(n), dup(n);
  for (long i = 0; i < n; ++i) {
    // Mostly ordinary gates, some far out where exp(-g) overflows or the sigmoid is 1.
    gate[i] = i % 50 == 0 ? 120.0f * dist(rng) : 4.0f * dist(rng);
    up[i] = dist(rng);
    dout[i] = dist(rng);
  }
  // Where the sigmoid underflows (g < -87) float keeps no relative accuracy: absolute 1e-30.
  const double tiny = 1e-30;
  swiglu_forward(gate.data(), up.data(), out.data(), n);
  swiglu_backward(dout.data(), gate.data(), up.data(), dgate.data(), dup.data(), n);
  for (long i = 0; i < n; ++i) {
    const double g = gate[i], u = up[i], dy = dout[i];
    const double s = 1.0 / (1.0 + std::exp(-g)), silu = g * s;
    CAPTURE(g);
    CHECK(std::abs(out[i] - silu * u) <= 1e-6 * std::abs(silu * u) + tiny);
    CHECK(std::abs(dup[i] - dy * silu) <= 1e-6 * std::abs(dy * silu) + tiny);
    // silu'(g) = s + silu (1 - s) crosses 0 near g = -1.28: relative to its terms' size.
    const double terms = std::abs(dy * u) * (s + std::abs(silu) * (1.0 - s));
    CHECK(std::abs(dgate[i] - dy * u * (s + silu * (1.0 - s))) <= 1e-6 * terms + tiny);
  }
}
