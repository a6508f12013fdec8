// Percentiles of known arrays and the prompt-level bootstrap.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "pipeline/metrics/statistics.hpp"

using namespace circal;

TEST_CASE("linear-interpolated percentiles of known arrays (numpy 'linear')") {
  const std::vector<double> x{1, 2, 3, 4, 5};
  CHECK(percentile_sorted(x, 0.0) == 1.0);
  CHECK(percentile_sorted(x, 0.5) == 3.0);
  CHECK(percentile_sorted(x, 0.9) == doctest::Approx(4.6));    // h = 3.6
  CHECK(percentile_sorted(x, 0.99) == doctest::Approx(4.96));  // h = 3.96
  CHECK(percentile_sorted(x, 1.0) == 5.0);
  CHECK(percentile_sorted({1, 3}, 0.5) == 2.0);
  CHECK(percentile_sorted({10}, 0.99) == 10.0);
  CHECK(std::isnan(percentile_sorted({}, 0.5)));
  // 0..100: the q-th percentile is 100 q exactly
  std::vector<double> ramp(101);
  for (int i = 0; i <= 100; ++i) ramp[i] = i;
  CHECK(percentile_sorted(ramp, 0.37) == doctest::Approx(37.0));
}

TEST_CASE("summarize sorts its input and reports every statistic") {
  const std::vector<double> values{5, 1, 4, 2, 3};
  const std::vector<int> prompts{0, 1, 2, 3, 4};
  const Summary s = summarize(values, prompts, {200, 1, 0.95});
  CHECK(s.count == 5);
  CHECK(s.mean == 3.0);
  CHECK(s.median == 3.0);
  CHECK(s.p90 == doctest::Approx(4.6));
  CHECK(s.p99 == doctest::Approx(4.96));
  CHECK(s.max == 5.0);
  CHECK(s.ci_low <= s.mean);
  CHECK(s.ci_high >= s.mean);
  CHECK(s.ci_low >= 1.0);
  CHECK(s.ci_high <= 5.0);
}

TEST_CASE("uniform_index covers [0, n) evenly") {
  std::mt19937_64 engine(99);
  std::vector<int> counts(6, 0);
  const int draws = 60000;
  for (int i = 0; i < draws; ++i) counts[uniform_index(engine, 6)]++;
  for (int c : counts) CHECK(std::abs(c - draws / 6) < draws / 6 / 20);  // within 5%
  std::mt19937_64 one(1);
  for (int i = 0; i < 10; ++i) CHECK(uniform_index(one, 1) == 0);
}

TEST_CASE("bootstrap: deterministic for a seed, different for another") {
  std::mt19937 rng(3);
  std::exponential_distribution<double> expo(1.0);
  std::vector<double> values;
  std::vector<int> prompts;
  for (int p = 0; p < 40; ++p)
    for (int t = 0; t < 5 + p % 7; ++t) {
      values.push_back(expo(rng));
      prompts.push_back(p);
    }
  const auto a = bootstrap_mean_interval(values, prompts, {500, 42, 0.95});
  const auto b = bootstrap_mean_interval(values, prompts, {500, 42, 0.95});
  const auto c = bootstrap_mean_interval(values, prompts, {500, 43, 0.95});
  CHECK(a == b);
  CHECK(a != c);
  double mean = 0;
  for (double v : values) mean += v;
  mean /= double(values.size());
  CHECK(a.first < mean);
  CHECK(a.second > mean);
}

TEST_CASE("bootstrap interval width matches the normal approximation over prompts") {
  // 400 prompts, one value each, N(0, 1): the 95% interval of the mean is ~ +-1.96 / 20.
  std::mt19937 rng(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> values(400);
  std::vector<int> prompts(400);
  for (int p = 0; p < 400; ++p) {
    values[p] = normal(rng);
    prompts[p] = p;
  }
  double mean = 0, var = 0;
  for (double v : values) mean += v;
  mean /= 400;
  for (double v : values) var += (v - mean) * (v - mean);
  const double se = std::sqrt(var / 399 / 400);
  const auto [lo, hi] = bootstrap_mean_interval(values, prompts, {2000, 7, 0.95});
  CHECK((hi - lo) == doctest::Approx(2 * 1.96 * se).epsilon(0.15));
  CHECK(std::abs((lo + hi) / 2 - mean) < 0.3 * se);
}

TEST_CASE("bootstrap resamples prompts, not positions") {
  // 20 prompts whose positions all carry the prompt's own value: the spread between prompts
  // is all the uncertainty there is, so treating positions as independent understates it.
  std::vector<double> values;
  std::vector<int> prompts, positions;
  for (int p = 0; p < 20; ++p)
    for (int t = 0; t < 10; ++t) {
      values.push_back(p % 2 ? 1.0 : 0.0);
      prompts.push_back(p);
      positions.push_back(int(positions.size()));
    }
  const auto by_prompt = bootstrap_mean_interval(values, prompts, {1000, 9, 0.95});
  const auto by_position = bootstrap_mean_interval(values, positions, {1000, 9, 0.95});
  CHECK((by_prompt.second - by_prompt.first) > 2.0 * (by_position.second - by_position.first));
  // equal prompts: every resample has the same mean, the interval collapses onto it
  const auto constant = bootstrap_mean_interval(std::vector<double>(30, 0.25), std::vector<int>(30, 0), {100, 1, 0.95});
  CHECK(constant.first == 0.25);
  CHECK(constant.second == 0.25);
}

TEST_CASE("spearman correlation: the rank formula without ties, mean ranks with them") {
  std::mt19937_64 engine(17);
  std::normal_distribution<double> normal;
  std::vector<double> a(30), b(30);
  for (size_t i = 0; i < a.size(); ++i) a[i] = normal(engine), b[i] = a[i] + normal(engine);
  // Without ties: 1 - 6 sum d^2 / (n (n^2 - 1)), d the rank differences by counting.
  double d2 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double ra = 1, rb = 1;
    for (size_t j = 0; j < a.size(); ++j) ra += a[j] < a[i], rb += b[j] < b[i];
    d2 += (ra - rb) * (ra - rb);
  }
  const double n = double(a.size());
  CHECK(spearman_correlation(a, b) == doctest::Approx(1 - 6 * d2 / (n * (n * n - 1))).epsilon(1e-12));
  // Ranks only: a monotone map of one side changes nothing; reversing it flips the sign.
  std::vector<double> exp_a(a.size()), minus_a(a.size());
  for (size_t i = 0; i < a.size(); ++i) exp_a[i] = std::exp(a[i]), minus_a[i] = -a[i];
  CHECK(spearman_correlation(exp_a, a) == doctest::Approx(1.0));
  CHECK(spearman_correlation(minus_a, a) == doctest::Approx(-1.0));
  // Ties: ranks {1, 2.5, 2.5, 4} against {1, 3, 2, 4} give 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10).
  CHECK(spearman_correlation({1, 2, 2, 3}, {1, 3, 2, 4}) == doctest::Approx(3 / std::sqrt(10.0)).epsilon(1e-12));
  CHECK(std::isnan(spearman_correlation({1, 1, 1}, {1, 2, 3})));
  CHECK(std::isnan(spearman_correlation({1}, {2})));
}
