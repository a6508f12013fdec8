#include "stages/exact_sum.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "pipeline/errors.hpp"

namespace circal {

namespace {

constexpr double kScale = 17592186044416.0;  // 2^44

}  // namespace

ExactSum::ExactSum(size_t size, size_t max_terms)
    : sums_(size + 1, 0), limit_(std::ldexp(1.0, 62) / double(std::max<size_t>(1, max_terms))) {}

int64_t ExactSum::to_fixed(double value) const {
  const double scaled = std::nearbyint(value * kScale);
  if (!(std::abs(scaled) < limit_))  // also catches NaN
    fail(kExitInternal, "calibrate: gradient or loss term " + std::to_string(value) +
                            " is out of range (diverged? lower calibrate.lr)");
  return static_cast<int64_t>(scaled);
}

void ExactSum::add(const float* values, double scalar) {
  const size_t n = sums_.size() - 1;
  for (size_t i = 0; i < n; ++i) sums_[i] += to_fixed(values[i]);
  sums_[n] += to_fixed(scalar);
}

void ExactSum::clear() { std::fill(sums_.begin(), sums_.end(), 0); }

void ExactSum::allreduce(MPI_Comm comm) {
  MPI_Allreduce(MPI_IN_PLACE, sums_.data(), int(sums_.size()), MPI_INT64_T, MPI_SUM, comm);
}

double ExactSum::result(float* out) const {
  const size_t n = sums_.size() - 1;
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(double(sums_[i]) / kScale);
  return double(sums_[n]) / kScale;
}

}  // namespace circal
