#pragma once
// How much the teacher's loss cares about each output channel of an MLP matrix: the diagonal
// empirical Fisher F_o = mean over tokens t of (dNLL/dy_to)^2 at y = W x, with NLL the
// next-token loss summed over a prompt. The block-size allocation predicts the loss a matrix
// at block size b costs as 1/2 sum_o F_o [(W - C_b) H (W - C_b)^T]_oo (docs/DESIGN.md 3.1).
#include <vector>

#include "pipeline/model/linear_operator.hpp"
#include "pipeline/model/transformer.hpp"

namespace circal {

// Stands in for a matrix's operator (forward and dX through `inner`) and adds up, per output
// channel, the squares of the gradients that reach it.
class FisherProbe : public LinearOperator {
 public:
  explicit FisherProbe(LinearOperator& inner) : inner_(inner), squares_(inner.out_features(), 0.0) {}
  int in_features() const override { return inner_.in_features(); }
  int out_features() const override { return inner_.out_features(); }
  void forward(const float* X, float* Y, int T) override { inner_.forward(X, Y, T); }
  void backward(const float* X, const float* dY, float* dX, int T) override;

  // F_o over every token seen so far.
  std::vector<double> fisher() const;
  long tokens() const { return tokens_; }

 private:
  LinearOperator& inner_;
  std::vector<double> squares_;
  long tokens_ = 0;
};

// Forward of one prompt (ids with BOS) through `net`, whose probed matrices are FisherProbes,
// then the backward of its summed next-token NLL. Returns that NLL.
double add_prompt_to_fisher(Transformer& net, const std::vector<int>& tokens);

}  // namespace circal
