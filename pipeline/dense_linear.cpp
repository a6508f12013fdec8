#include "pipeline/dense_linear.hpp"

#include <cblas.h>

namespace circal {

void DenseLinear::forward(const float* X, float* Y, int T) {
  if (T <= 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, m_, n_, 1.f, X, n_, W_, n_, 0.f, Y,
              m_);
}

void DenseLinear::backward(const float*, const float* dY, float* dX, int T) {
  if (T <= 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, n_, m_, 1.f, dY, m_, W_, n_, 0.f,
              dX, n_);
}

}  // namespace circal
