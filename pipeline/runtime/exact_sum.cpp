#include "pipeline/runtime/exact_sum.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "pipeline/base/errors.hpp"

namespace circal {

namespace {

constexpr double kScale = 17592186044416.0;  // 2^44
// Adding and subtracting 1.5 * 2^52 rounds |x| < 2^51 to the nearest integer, ties to even:
// std::nearbyint's result in the default rounding mode, without its library call (which
// took most of the per-prompt accumulation time).
constexpr double kRoundingShift = 6755399441055744.0;
constexpr double kShiftLimit = 2251799813685248.0;  // 2^51

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
  const double fast_limit = std::min(limit_, kShiftLimit);
  for (size_t i = 0; i < n; ++i) {
    const double scaled = double(values[i]) * kScale;
    if (std::abs(scaled) < fast_limit)
      sums_[i] += static_cast<int64_t>((scaled + kRoundingShift) - kRoundingShift);
    else
      sums_[i] += to_fixed(values[i]);  // large, out of range or NaN
  }
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
