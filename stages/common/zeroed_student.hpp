#pragma once
// The "zeroed" baseline: the patched matrices replaced by zero operators, i.e. what the
// model does without them. Any projection worth having must beat it.
#include <memory>
#include <vector>

#include "pipeline/model/linear_operator.hpp"
#include "pipeline/model/transformer.hpp"
#include "stages/common/student.hpp"

namespace circal {

// A [out, in] matrix of zeros: Y = 0, dX = 0.
class ZeroLinear : public LinearOperator {
 public:
  ZeroLinear(int out_features, int in_features) : out_(out_features), in_(in_features) {}
  int in_features() const override { return in_; }
  int out_features() const override { return out_; }
  void forward(const float* X, float* Y, int T) override;
  void backward(const float* X, const float* dY, float* dX, int T) override;

 private:
  int out_, in_;
};

// Installs ZeroLinear for every matrix of the layout; restores the teacher when destroyed.
class ZeroedStudent {
 public:
  ZeroedStudent(Transformer& model, const StudentLayout& layout);
  ~ZeroedStudent();
  ZeroedStudent(const ZeroedStudent&) = delete;
  ZeroedStudent& operator=(const ZeroedStudent&) = delete;

 private:
  Transformer& model_;
  const StudentLayout& layout_;
  std::vector<std::unique_ptr<ZeroLinear>> ops_;
};

}  // namespace circal
