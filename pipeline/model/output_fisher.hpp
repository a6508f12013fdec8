#pragma once
// How much the teacher's loss cares about the outputs y = W x of an MLP matrix, from gradients
// of a next-token NLL at y: per channel, the diagonal Fisher F_o = mean over tokens of
// (dNLL/dy_to)^2; with kept rows and targets drawn from the teacher, the second-order estimate
// of KL(teacher || student) for any replacement of the matrix (estimate_kl), the block-size
// allocation's proxy (docs/DESIGN.md 3.1).
#include <random>
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

  // With keep_rows, every backward's X [T, n] and dY [T, m] are kept, one entry a pass: what a
  // directional estimate (g . delta)^2 needs, for small validation sets.
  void keep_rows(bool on) { keep_rows_ = on; }
  struct Rows {
    std::vector<float> X, dY;
    int T;
  };
  const std::vector<Rows>& kept() const { return kept_; }

 private:
  LinearOperator& inner_;
  std::vector<double> squares_;
  long tokens_ = 0;
  bool keep_rows_ = false;
  std::vector<Rows> kept_;
};

// The streaming form of estimate_kl for many replacements at once (project's allocation at
// scale keeps no rows): stands in for a matrix's operator, and at each backward (one a pass)
// records, for every candidate replacement, the pass's g . delta with delta = inner(X) -
// candidate(X), in exactly estimate_kl's order of operations.
class MoveProbe : public LinearOperator {
 public:
  MoveProbe(LinearOperator& inner, std::vector<LinearOperator*> candidates)
      : inner_(inner), candidates_(std::move(candidates)) {}
  int in_features() const override { return inner_.in_features(); }
  int out_features() const override { return inner_.out_features(); }
  void forward(const float* X, float* Y, int T) override { inner_.forward(X, Y, T); }
  void backward(const float* X, const float* dY, float* dX, int T) override;

  // Per pass since the last call, per candidate: g . delta (pass-major); then forgets them.
  std::vector<double> take_dots();

 private:
  LinearOperator& inner_;
  std::vector<LinearOperator*> candidates_;
  std::vector<double> dots_;
  std::vector<float> y_, moved_;
};

// Forward of one prompt (ids with BOS) through `net`, whose probed matrices are FisherProbes,
// then the backward of its summed next-token NLL. Returns that NLL. With `sample`, every
// row's target (the last row's too) is drawn from the model's own distribution there instead
// of being the prompt's next token: gradients of the true Fisher, whose expected outer
// product is the Hessian of KL(teacher || student) at the teacher (the empirical Fisher of
// the data's tokens is not).
double add_prompt_to_fisher(Transformer& net, const std::vector<int>& tokens, std::mt19937_64* sample = nullptr);

// Second-order estimates of KL(teacher || student) per position when a matrix's operator
// `teacher` is replaced by `student`, from passes kept with sampled targets: the output moves
// delta = teacher(x) - student(x) on the kept inputs, the kept gradients g. The score g has
// mean zero and covariance the Fisher of the model's own distribution, which is the Hessian of
// the KL at the teacher, so gauss_newton = 1/2 mean over passes of (g . delta)^2 / positions is
// unbiased for its quadratic term (all of a pass's positions at once: scores at different
// positions are uncorrelated). diagonal keeps only sum g^2 delta^2, dropping the cross terms.
struct KlEstimate {
  double gauss_newton = 0, diagonal = 0;
};
KlEstimate estimate_kl(const std::vector<FisherProbe::Rows>& rows, LinearOperator& teacher, LinearOperator& student);

// The Gauss-Newton estimate from a pass's g . delta and positions, summed over passes in order:
// 1/2 sum dot^2 / positions (estimate_kl's gauss_newton).
double gauss_newton_estimate(const std::vector<double>& dots, long positions);

}  // namespace circal
