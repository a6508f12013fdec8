#pragma once
// Projection of a dense weight W [m, n] onto rank-r matrices U V (DESIGN.md section 8.2), in
// LowRankLinear's parameter layout [U (m x r) | V (r x n)], both row-major. Every SVD,
// Cholesky and eigen decomposition is LAPACK's (float64).
//
// The rank-r product P_r S_r Q_r^T is split evenly, U = P_r S_r^(1/2), V = S_r^(1/2) Q_r^T
// (up to the SVD's signs), so both factors start at the same scale for calibration.
#include <mpi.h>

#include <vector>

namespace circal {

// Data-free (the analogue of the circulant Frobenius projection): the truncated SVD of W,
// the best rank-r fit in the Frobenius norm (Eckart-Young).
std::vector<float> project_truncated_svd(const float* W, int m, int n, int r);

// The full input Gram H = sum_t x_t x_t^T [n, n] of a matrix's inputs, float64, over tokens.
// What the activation-aware projection needs and nothing else, so it can be filled from raw
// inputs (accumulate) or from statistics someone else summed (add_gram).
class InputGram {
 public:
  explicit InputGram(int n);
  int width() const { return n_; }
  // Adds the tokens X [T, n].
  void accumulate(const float* X, long T);
  // Adds a Gram already summed over `tokens` tokens (full symmetric [n, n], row-major).
  void add_gram(const double* H, long tokens);
  // Collective: sums H and the token count over comm (every rank then solves alike).
  void allreduce(MPI_Comm comm);
  // H, full symmetric [n, n] row-major.
  std::vector<double> matrix() const;
  // trace(H) / n = sum_t ||x_t||^2 / n: the scale of the ridge, as for the circulant
  // least squares (LeastSquaresProjector::mean_gram_diagonal).
  double mean_diagonal() const;
  long tokens() const { return tokens_; }

 private:
  int n_;
  std::vector<double> lower_;  // [n, n] row-major, lower triangle accumulated
  long tokens_ = 0;
};

// Activation-aware (whitened SVD, as in SVD-LLM): argmin over rank r of
// ||(W - U V) X||_F^2 + ridge_abs ||W - U V||_F^2 = ||(W - U V) S||_F^2 with
// S S^T = H + ridge_abs I (Cholesky, S lower): U V = (W S)_r S^-1. The ridge has the
// circulant least squares' convention: ridge_abs = ridge_relative * gram.mean_diagonal()
// (the penalty is on the departure from W, which keeps the solve well posed where H is
// rank deficient). A Cholesky failure (H + ridge I not positive definite) is a
// CircalError(kExitInput) asking for a larger project.ridge.
std::vector<float> project_whitened_svd(const float* W, int m, int n, int r, const InputGram& gram,
                                        double ridge_relative);
// The same with H [n, n] (full symmetric, row-major) and the absolute ridge given.
std::vector<float> project_whitened_svd(const float* W, int m, int n, int r, const std::vector<double>& H,
                                        double ridge_abs);

// ||W - U V||_F / ||W||_F.
double lowrank_relative_frobenius_error(const float* W, const float* params, int m, int n, int r);
// ||(W - U V) X||_F / ||W X||_F over every token the Gram H [n, n] summed:
// sqrt(tr(D H D^T) / tr(W H W^T)) with D = W - U V.
double lowrank_relative_output_error(const float* W, const float* params, int m, int n, int r,
                                     const std::vector<double>& H);

}  // namespace circal
