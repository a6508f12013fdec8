#pragma once
// Projection of a dense weight W [m, n] onto block-circulant matrices (DESIGN.md section 3),
// giving time-domain vectors c [p, q, b] in CirculantLinear's convention.
#include <mpi.h>

#include <complex>
#include <vector>

#include "pipeline/circulant/projection_statistics.hpp"

namespace circal {

// Best Frobenius-norm fit: c_ij[d] = mean of W_ij on wrapped diagonal d over the entries
// inside W (padding is no target; 0 where no entry is).
std::vector<float> project_frobenius(const float* W, int m, int n, int b);

// Data-aware fit: argmin_c sum_t ||W x_t - C x_t||^2 + ridge_abs ||C||_F^2 over captured
// inputs x_t. Per frequency k (Parseval decouples them): Cf[k] = R[k] (G[k] + b ridge_abs I)^-1,
// G[k] = Xf[k] Xf[k]^H [q, q], R[k] = Yf[k] Xf[k]^H [p, q], accumulated in double.
// Memory is O(bins * (q^2 + p q) + chunk * (m + n)), independent of the token count.
// Where m is not a multiple of b the padded outputs of the last block row are fitted as
// zeros (the per-frequency solve cannot drop them); the real outputs stay least-squares
// optimal only when m % b == 0.
class LeastSquaresProjector {
 public:
  // W [m, n] row-major, not owned, must outlive the projector. chunk_tokens bounds memory.
  LeastSquaresProjector(const float* W, int m, int n, int b, int chunk_tokens = 2048);

  // Adds the tokens X [T, n] (Y = X W^T is formed inside, chunk by chunk).
  void accumulate(const float* X, long T);
  // Collective: sums G, R and the token statistics over comm (every rank then solves alike).
  void allreduce(MPI_Comm comm);

  // ridge_relative scales the mean diagonal of the time-domain Gram matrix X^T X,
  // mean_gram_diagonal() = sum_t ||x_t||^2 / n (= the Parseval-weighted mean diagonal of
  // G[k] divided by b), so ridge_abs = ridge_relative * mean_gram_diagonal().
  std::vector<float> solve(double ridge_relative) const;
  // The same with the penalty ridge_abs ||C||_F^2 given directly (lambda_k = b ridge_abs).
  std::vector<float> solve_absolute(double ridge_abs) const;

  double mean_gram_diagonal() const { return input_.mean_gram_diagonal(); }
  long tokens() const { return long(input_.tokens()); }
  // True when the padded outputs of the last block row were fitted as zeros.
  bool pads_outputs() const { return m_ % b_ != 0; }
  const InputStatistics& input_statistics() const { return input_; }
  const OutputStatistics& output_statistics() const { return output_; }

 private:
  const float* W_;
  int m_, n_, b_, chunk_;
  InputStatistics input_;
  OutputStatistics output_;
};

// ||W - C||_F / ||W||_F.
double relative_frobenius_error(const float* W, const float* c, int m, int n, int b);
// ||X (W - C)^T||_F / ||X W^T||_F over the tokens X [T, n].
double relative_output_error(const float* W, const float* c, int m, int n, int b, const float* X, long T);

}  // namespace circal
