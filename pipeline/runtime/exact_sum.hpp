#pragma once
// Sums over a global batch that do not depend on how prompts are spread over ranks: each
// prompt's contribution is rounded to a fixed-point int64 grid (resolution 2^-44, about
// 6e-14) and integers add exactly in any order, so 1, 2 or 4 ranks give bitwise identical
// gradients, losses and therefore parameters (given bitwise identical per-prompt terms).
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace circal {

class ExactSum {
 public:
  // `size` vector entries plus one scalar; `max_terms` bounds the terms so the sum of
  // in-range terms cannot overflow.
  ExactSum(size_t size, size_t max_terms);
  // Back to zero terms, keeping the buffer (a calibration step reuses one sum).
  void clear();
  // Adds one term: values[size] (may be null when size is 0) and a scalar. A value beyond the
  // representable range is a CircalError(kExitInternal) (a diverged calibration).
  void add(const float* values, double scalar);
  // Collective: sums every rank's terms, so that result() is the global sum on every rank.
  void allreduce(MPI_Comm comm);
  // The sum into out[size] (may be null when size is 0); returns the scalar sum.
  double result(float* out) const;

 private:
  int64_t to_fixed(double value) const;
  std::vector<int64_t> sums_;  // size entries, then the scalar
  double limit_;
};

}  // namespace circal
