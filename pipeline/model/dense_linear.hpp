#pragma once
// A dense weight as a LinearOperator: the teacher's matrices, unpatched student ones, or a
// student's matrix kept dense (block size 1), which is trained: then backward accumulates its
// weight gradient. The zero matrix lives in stages/common/zeroed_student.hpp.
#include "pipeline/model/linear_operator.hpp"

namespace circal {

class DenseLinear : public LinearOperator {
 public:
  // W [m, n] = [out, in] row-major, not owned, must outlive the operator. dW: its gradient
  // [m, n] that backward accumulates into (+=); nullptr = frozen. Not owned.
  DenseLinear(int m, int n, const float* W, float* dW = nullptr) : m_(m), n_(n), W_(W), dW_(dW) {}
  int in_features() const override { return n_; }
  int out_features() const override { return m_; }
  void forward(const float* X, float* Y, int T) override;
  // dX = dY W; dW += dY^T X when trained.
  void backward(const float* X, const float* dY, float* dX, int T) override;

 private:
  int m_, n_;
  const float* W_;
  float* dW_;
};

}  // namespace circal
