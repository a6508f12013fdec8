#pragma once
// A frozen dense HF weight as a LinearOperator (the teacher's matrices, or unpatched student
// ones). The zero matrix lives in stages/common/zeroed_student.hpp.
#include "pipeline/io/resident_tensor.hpp"
#include "pipeline/model/linear_operator.hpp"

namespace circal {

class DenseLinear : public LinearOperator {
 public:
  // W [m, n] = [out, in] row-major, not owned, must outlive the operator. Kept in file dtype,
  // it is converted into `scratch` (not owned) before each GEMM.
  DenseLinear(int m, int n, ResidentTensor W, Float32Scratch* scratch = nullptr)
      : m_(m), n_(n), W_(W), scratch_(scratch) {}
  int in_features() const override { return n_; }
  int out_features() const override { return m_; }
  void forward(const float* X, float* Y, int T) override;
  // Frozen: only dX = dY W.
  void backward(const float* X, const float* dY, float* dX, int T) override;

 private:
  Float32View weight() const;
  int m_, n_;
  ResidentTensor W_;
  Float32Scratch* scratch_;
};

}  // namespace circal
