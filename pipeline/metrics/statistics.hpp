#pragma once
// Summaries of a per-position metric: mean, median, p90, p99, max, and a 95% bootstrap
// interval of the mean in which whole PROMPTS are resampled (positions of one prompt are
// correlated, so resampling positions would understate the uncertainty).
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace circal {

// Percentile q in [0, 1] of ascending `sorted` by linear interpolation between order
// statistics (numpy's default "linear" method): h = (n - 1) q, i = floor(h),
// value = x[i] + (h - i) (x[i+1] - x[i]); x[n-1] when i = n - 1. NaN for an empty array.
double percentile_sorted(const std::vector<double>& sorted, double q);

// A uniform integer in [0, n) from a 64-bit engine, by rejection of the top partial range so
// that every value is equally likely and the sequence is the same on every platform
// (std::uniform_int_distribution is implementation-defined).
uint64_t uniform_index(std::mt19937_64& engine, uint64_t n);

struct BootstrapOptions {
  int samples = 1000;
  uint64_t seed = 4321;
  double level = 0.95;
};

// Percentile-bootstrap interval of the pooled mean of `values` (mean over all positions),
// where value v belongs to group group_of[v] (a prompt). Each resample draws as many groups
// as there are, with replacement, and takes the mean over all their values. The interval's
// ends are the (1-level)/2 and (1+level)/2 percentiles (percentile_sorted) of the resampled
// means. Returns {NaN, NaN} for no values.
std::pair<double, double> bootstrap_mean_interval(const std::vector<double>& values, const std::vector<int>& group_of,
                                                  const BootstrapOptions& options);

struct Summary {
  size_t count = 0;
  double mean = 0, median = 0, p90 = 0, p99 = 0, max = 0;
  double ci_low = 0, ci_high = 0;
};

// Every statistic of `values` (percentiles by percentile_sorted), the interval by
// bootstrap_mean_interval over group_of.
Summary summarize(const std::vector<double>& values, const std::vector<int>& group_of, const BootstrapOptions& options);

// Spearman's rank correlation of paired values: the Pearson correlation of their ranks, tied
// values sharing the mean of their ranks. NaN for fewer than two pairs or a constant side.
double spearman_correlation(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace circal
