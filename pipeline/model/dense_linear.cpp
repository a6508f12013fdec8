#include "pipeline/model/dense_linear.hpp"

#include "pipeline/model/ops/linear.hpp"

namespace circal {

void DenseLinear::forward(const float* X, float* Y, int T) {
  if (T > 0) linear_forward(X, weight().data(), Y, T, n_, m_);
}

void DenseLinear::backward(const float*, const float* dY, float* dX, int T) {
  if (T > 0 && dX) linear_backward_input(dY, weight().data(), dX, T, n_, m_);
}

Float32View DenseLinear::weight() const { return Float32View(W_, int64_t(m_) * n_, scratch_); }

}  // namespace circal
