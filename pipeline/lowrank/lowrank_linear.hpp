#pragma once
// Low-rank linear map (DESIGN.md section 8.2): W [m, n] is replaced by U V with U [m, r] and
// V [r, n], applied as y = U (V x): two GEMMs, 2 r (m + n) flops per token instead of 2 m n.
// Like CirculantLinear, the parameters and their gradient live in caller-owned buffers, so a
// calibrator keeps every student matrix of the model in one buffer (one allreduce); one
// matrix's slice is U then V, both row-major: [U (m r values) | V (r n values)].
#include <cstddef>
#include <vector>

#include "pipeline/model/linear_operator.hpp"

namespace circal {

// The rank that gives a low-rank student the parameters of a block-circulant one with block
// size b: r = floor(m n / (b (m + n))), so r (m + n) <= m n / b (equal when b (m + n)
// divides m n, e.g. 256 x 768 at b = 16: r = 12, 12288 parameters either way). 0 when even
// rank 1 would have more parameters than the circulant.
int lowrank_rank(int m, int n, int b);
inline std::size_t lowrank_parameter_count(int m, int n, int r) { return std::size_t(r) * (std::size_t(m) + n); }

class LowRankLinear : public LinearOperator {
 public:
  // m = out features, n = in features, r >= 1. params: [U | V] (r (m + n) values), read only,
  // not owned. grads: the same layout, backward accumulates (+=) into it; may be nullptr.
  LowRankLinear(int m, int n, int r, const float* params, float* grads);

  int in_features() const override { return n_; }
  int out_features() const override { return m_; }
  int rank() const { return r_; }
  std::size_t parameter_count() const { return lowrank_parameter_count(m_, n_, r_); }
  const float* U() const { return params_; }
  const float* V() const { return params_ + std::size_t(m_) * r_; }

  // Y [T, m] = (X V^T) U^T; keeps Z = X V^T [T, r] for the backward of the same X.
  void forward(const float* X, float* Y, int T) override;
  // dZ = dY U [T, r]; dU += dY^T Z; dV += dZ^T X; dX = dZ V.
  void backward(const float* X, const float* dY, float* dX, int T) override;

  // The materialised matrix U V [m, n] (tests and error metrics).
  std::vector<float> to_dense() const;

 private:
  void project_inputs(const float* X, int T);  // z_ = X V^T

  int m_, n_, r_;
  const float* params_;
  float* grads_;
  std::vector<float> z_, dz_;
  // z_ holds X V^T of these rows (the latest forward's X) until the next call.
  const float* z_rows_of_ = nullptr;
  int z_rows_ = 0;
};

}  // namespace circal
