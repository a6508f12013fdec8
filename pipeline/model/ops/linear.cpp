#include "pipeline/model/ops/linear.hpp"

#include <cblas.h>

namespace circal {

namespace {

void add_bias(float* Y, const float* bias, int T, int out) {
  for (long t = 0; t < T; ++t)
    for (int j = 0; j < out; ++j) Y[t * out + j] += bias[j];
}

}  // namespace

void linear_forward(const float* X, const float* W, float* Y, int T, int in, int out, const float* bias) {
  // One token (a decode step): sgemv streams W once, where sgemm would first pack all of it.
  if (T == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, W, in, X, 1, 0.0f, Y, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.0f, X, in, W, in, 0.0f, Y, out);
  }
  if (bias) add_bias(Y, bias, T, out);
}

void linear_backward_input(const float* dY, const float* W, float* dX, int T, int in, int out, bool accumulate) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, out, 1.0f, dY, out, W, in, accumulate ? 1.0f : 0.0f, dX,
              in);
}

}  // namespace circal
