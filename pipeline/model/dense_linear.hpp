#pragma once
// A frozen dense HF weight as a LinearOperator (the teacher's matrices, or unpatched student
// ones). The zero matrix lives in stages/common/zeroed_student.hpp.
#include "pipeline/model/linear_operator.hpp"

namespace circal {

class DenseLinear : public LinearOperator {
 public:
  // W [m, n] = [out, in] row-major, not owned, must outlive the operator.
  DenseLinear(int m, int n, const float* W) : m_(m), n_(n), W_(W) {}
  int in_features() const override { return n_; }
  int out_features() const override { return m_; }
  void forward(const float* X, float* Y, int T) override;
  // Frozen: only dX = dY W.
  void backward(const float* X, const float* dY, float* dX, int T) override;

 private:
  int m_, n_;
  const float* W_;
};

}  // namespace circal
