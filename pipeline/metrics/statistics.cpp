#include "pipeline/metrics/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "pipeline/base/errors.hpp"

namespace circal {

double percentile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double h = double(sorted.size() - 1) * std::clamp(q, 0.0, 1.0);
  const size_t i = size_t(std::floor(h));
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (h - double(i)) * (sorted[i + 1] - sorted[i]);
}

uint64_t uniform_index(std::mt19937_64& engine, uint64_t n) {
  // Accept draws below the largest multiple of n that fits in 2^64; n <= 2^63 assumed.
  const uint64_t rejected = (std::numeric_limits<uint64_t>::max() - n + 1) % n;  // 2^64 mod n
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - rejected;
  uint64_t draw = engine();
  while (draw > limit) draw = engine();
  return draw % n;
}

namespace {

// Per-group sums and counts: a resample only needs these, not the values.
struct GroupTotals {
  std::vector<double> sum;
  std::vector<double> count;
};

GroupTotals group_totals(const std::vector<double>& values, const std::vector<int>& group_of) {
  if (values.size() != group_of.size())
    fail(kExitInternal, "bootstrap: " + std::to_string(values.size()) + " values but " +
                            std::to_string(group_of.size()) + " group ids");
  std::map<int, size_t> slot;  // group id -> dense index, in ascending id order
  for (int g : group_of) slot.emplace(g, 0);
  size_t next = 0;
  for (auto& entry : slot) entry.second = next++;
  GroupTotals totals{std::vector<double>(slot.size(), 0.0), std::vector<double>(slot.size(), 0.0)};
  for (size_t v = 0; v < values.size(); ++v) {
    const size_t s = slot[group_of[v]];
    totals.sum[s] += values[v];
    totals.count[s] += 1;
  }
  return totals;
}

}  // namespace

std::pair<double, double> bootstrap_mean_interval(const std::vector<double>& values, const std::vector<int>& group_of,
                                                  const BootstrapOptions& options) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (values.empty() || options.samples <= 0) return {nan, nan};
  const GroupTotals totals = group_totals(values, group_of);
  const uint64_t groups = totals.sum.size();
  std::mt19937_64 engine(options.seed);
  std::vector<double> means(options.samples);
  for (double& mean : means) {
    double sum = 0, count = 0;
    for (uint64_t draw = 0; draw < groups; ++draw) {
      const uint64_t g = uniform_index(engine, groups);
      sum += totals.sum[g];
      count += totals.count[g];
    }
    mean = sum / count;
  }
  std::sort(means.begin(), means.end());
  const double tail = (1 - options.level) / 2;
  return {percentile_sorted(means, tail), percentile_sorted(means, 1 - tail)};
}

Summary summarize(const std::vector<double>& values, const std::vector<int>& group_of,
                  const BootstrapOptions& options) {
  Summary s;
  s.count = values.size();
  if (values.empty()) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    s.mean = s.median = s.p90 = s.p99 = s.max = s.ci_low = s.ci_high = nan;
    return s;
  }
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / double(values.size());
  s.median = percentile_sorted(sorted, 0.5);
  s.p90 = percentile_sorted(sorted, 0.9);
  s.p99 = percentile_sorted(sorted, 0.99);
  s.max = sorted.back();
  std::tie(s.ci_low, s.ci_high) = bootstrap_mean_interval(values, group_of, options);
  return s;
}

namespace {

// 1-based ranks, ties at the mean of the ranks they span.
std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return x[i] < x[j]; });
  std::vector<double> rank(x.size());
  for (size_t start = 0; start < order.size();) {
    size_t end = start + 1;
    while (end < order.size() && x[order[end]] == x[order[start]]) ++end;
    for (size_t k = start; k < end; ++k) rank[order[k]] = 0.5 * double(start + 1 + end);
    start = end;
  }
  return rank;
}

}  // namespace

double spearman_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  if (n < 2 || b.size() != n) return std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> ra = average_ranks(a), rb = average_ranks(b);
  const double mean = 0.5 * double(n + 1);  // of any set of average ranks
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (ra[i] - mean) * (rb[i] - mean);
    saa += (ra[i] - mean) * (ra[i] - mean);
    sbb += (rb[i] - mean) * (rb[i] - mean);
  }
  if (saa == 0 || sbb == 0) return std::numeric_limits<double>::quiet_NaN();
  return sab / std::sqrt(saa * sbb);
}

}  // namespace circal
