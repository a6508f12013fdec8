#include "pipeline/ops/linear.hpp"

#include <cblas.h>

namespace circal {

void linear_forward(const float* X, const float* W, float* Y, int T, int in, int out) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.0f, X, in, W, in, 0.0f, Y,
              out);
}

void linear_backward_input(const float* dY, const float* W, float* dX, int T, int in, int out,
                           bool accumulate) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, out, 1.0f, dY, out, W, in,
              accumulate ? 1.0f : 0.0f, dX, in);
}

}  // namespace circal
