// ExactSum's fixed-point grid against its slow, obvious twin: every term rounded to the
// nearest multiple of 2^-44 (ties to even, std::nearbyint) and added as an int64. The fast
// path rounds with a floating-point shift instead of a library call; both must give the same
// integers, so the sums (and the calibration built on them) are bitwise the same.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "pipeline/runtime/exact_sum.hpp"

using namespace circal;

namespace {

constexpr double kGrid = 17592186044416.0;  // 2^44, the resolution DESIGN section 4 states

// The twin: sum of nearbyint(value * 2^44) over the terms, back to a double.
std::vector<double> twin_sum(const std::vector<std::vector<float>>& terms) {
  std::vector<int64_t> sums(terms.front().size(), 0);
  for (const auto& term : terms)
    for (size_t i = 0; i < term.size(); ++i) sums[i] += int64_t(std::nearbyint(double(term[i]) * kGrid));
  std::vector<double> out(sums.size());
  for (size_t i = 0; i < sums.size(); ++i) out[i] = double(sums[i]) / kGrid;
  return out;
}

}  // namespace

TEST_CASE("exact sum: terms round to the nearest 2^-44 step, as the slow twin rounds them") {
  std::mt19937 rng(44);
  std::vector<std::vector<float>> terms;
  for (int t = 0; t < 5; ++t) {
    std::vector<float> term;
    for (int e = -50; e <= 8; e += 2) {  // magnitudes from below the grid to well above it
      std::normal_distribution<float> normal(0.0f, std::ldexp(1.0f, e));
      for (int k = 0; k < 20; ++k) term.push_back(normal(rng));
    }
    // Values a truncating or floor-rounding sum gets wrong: 0.75, -0.75 and 1.5 grid steps.
    for (double steps : {0.75, -0.75, 1.5, -1.5, 2.5}) term.push_back(float(steps / kGrid));
    terms.push_back(term);
  }
  ExactSum sum(terms.front().size(), terms.size());
  for (const auto& term : terms) sum.add(term.data(), 0.0);
  std::vector<float> got(terms.front().size());
  sum.result(got.data());
  const std::vector<double> want = twin_sum(terms);
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == float(want[i]));
  }
  // 0.75 steps five times rounds to 1 each time: 5 steps, not 0 (truncation) nor 3.75.
  CHECK(double(got[got.size() - 5]) * kGrid == doctest::Approx(5.0));
  CHECK(double(got[got.size() - 4]) * kGrid == doctest::Approx(-5.0));
  CHECK(double(got[got.size() - 3]) * kGrid == doctest::Approx(10.0));  // 1.5 -> 2 (ties to even)
  CHECK(double(got[got.size() - 1]) * kGrid == doctest::Approx(10.0));  // 2.5 -> 2 (ties to even)
}

TEST_CASE("exact sum: the scalar goes through the same grid") {
  ExactSum sum(0, 3);
  for (int t = 0; t < 3; ++t) sum.add(nullptr, 0.75 / kGrid);
  CHECK(sum.result(nullptr) * kGrid == doctest::Approx(3.0));
}
