#include "pipeline/model/dense_linear.hpp"

#include "pipeline/model/ops/linear.hpp"

namespace circal {

void DenseLinear::forward(const float* X, float* Y, int T) {
  if (T > 0) linear_forward(X, W_, Y, T, n_, m_);
}

void DenseLinear::backward(const float*, const float* dY, float* dX, int T) {
  if (T > 0 && dX) linear_backward_input(dY, W_, dX, T, n_, m_);
}

}  // namespace circal
