#include "pipeline/lowrank/lowrank_projection.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "pipeline/base/errors.hpp"

namespace circal {
namespace {

std::vector<double> widened(const float* A, std::size_t size) { return std::vector<double>(A, A + size); }

void check_rank(int m, int n, int r) {
  if (m < 1 || n < 1 || r < 1 || r > std::min(m, n))
    fail(kExitUsage, "low-rank projection: rank " + std::to_string(r) + " of a " + std::to_string(m) + "x" +
                         std::to_string(n) + " matrix must be in 1.." + std::to_string(std::min(m, n)));
}

// The rank-r truncation of the SVD of A [m, n] (row-major, destroyed), split evenly:
// params [U | V'] with U = P_r S^(1/2) [m, r], V' = S^(1/2) Q_r^T [r, n] (double).
void truncated_factors(std::vector<double>& A, int m, int n, int r, std::vector<double>& U, std::vector<double>& Vt) {
  const int k = std::min(m, n);
  std::vector<double> s(k), P(std::size_t(m) * k), Qt(std::size_t(k) * n);
  const lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', m, n, A.data(), n, s.data(), P.data(), k, Qt.data(), n);
  if (info != 0)
    fail(kExitInternal, "low-rank projection: dgesdd did not converge (info " + std::to_string(info) + ")");
  U.assign(std::size_t(m) * r, 0.0);
  Vt.assign(std::size_t(r) * n, 0.0);
  for (int j = 0; j < r; ++j) {
    const double root = std::sqrt(std::max(s[j], 0.0));
    for (int i = 0; i < m; ++i) U[std::size_t(i) * r + j] = P[std::size_t(i) * k + j] * root;
    for (int i = 0; i < n; ++i) Vt[std::size_t(j) * n + i] = Qt[std::size_t(j) * n + i] * root;
  }
}

std::vector<float> pack(const std::vector<double>& U, const std::vector<double>& V) {
  std::vector<float> params(U.size() + V.size());
  std::copy(U.begin(), U.end(), params.begin());
  std::copy(V.begin(), V.end(), params.begin() + U.size());
  return params;
}

// D = W - U V [m, n] in double.
std::vector<double> residual(const float* W, const float* params, int m, int n, int r) {
  std::vector<double> D = widened(W, std::size_t(m) * n);
  const std::vector<double> U = widened(params, std::size_t(m) * r);
  const std::vector<double> V = widened(params + std::size_t(m) * r, std::size_t(r) * n);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, r, -1.0, U.data(), r, V.data(), n, 1.0, D.data(), n);
  return D;
}

// tr(A H A^T) for A [m, n] and symmetric H [n, n].
double quadratic_trace(const std::vector<double>& A, int m, int n, const std::vector<double>& H) {
  std::vector<double> AH(A.size());
  cblas_dsymm(CblasRowMajor, CblasRight, CblasLower, m, n, 1.0, H.data(), n, A.data(), n, 0.0, AH.data(), n);
  double sum = 0;
  for (std::size_t i = 0; i < A.size(); ++i) sum += A[i] * AH[i];
  return sum;
}

}  // namespace

std::vector<float> project_truncated_svd(const float* W, int m, int n, int r) {
  check_rank(m, n, r);
  std::vector<double> A = widened(W, std::size_t(m) * n), U, Vt;
  truncated_factors(A, m, n, r, U, Vt);
  return pack(U, Vt);
}

InputGram::InputGram(int n) : n_(n), lower_(std::size_t(n) * n, 0.0) {}

void InputGram::accumulate(const float* X, long T) {
  constexpr long kChunk = 1024;
  std::vector<double> rows;
  for (long t0 = 0; t0 < T; t0 += kChunk) {
    const int rows_now = int(std::min(kChunk, T - t0));
    rows.assign(X + std::size_t(t0) * n_, X + std::size_t(t0 + rows_now) * n_);
    // lower(H) += X^T X
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, n_, rows_now, 1.0, rows.data(), n_, 1.0, lower_.data(), n_);
  }
  tokens_ += T;
}

void InputGram::add_gram(const double* H, long tokens) {
  for (int i = 0; i < n_; ++i)
    for (int j = 0; j <= i; ++j) lower_[std::size_t(i) * n_ + j] += H[std::size_t(i) * n_ + j];
  tokens_ += tokens;
}

void InputGram::allreduce(MPI_Comm comm) {
  MPI_Allreduce(MPI_IN_PLACE, lower_.data(), int(lower_.size()), MPI_DOUBLE, MPI_SUM, comm);
  MPI_Allreduce(MPI_IN_PLACE, &tokens_, 1, MPI_LONG, MPI_SUM, comm);
}

std::vector<double> InputGram::matrix() const {
  std::vector<double> H(lower_.size());
  for (int i = 0; i < n_; ++i)
    for (int j = 0; j <= i; ++j)
      H[std::size_t(i) * n_ + j] = H[std::size_t(j) * n_ + i] = lower_[std::size_t(i) * n_ + j];
  return H;
}

double InputGram::mean_diagonal() const {
  double trace = 0;
  for (int i = 0; i < n_; ++i) trace += lower_[std::size_t(i) * n_ + i];
  return trace / n_;
}

std::vector<float> project_whitened_svd(const float* W, int m, int n, int r, const InputGram& gram,
                                        double ridge_relative) {
  return project_whitened_svd(W, m, n, r, gram.matrix(), ridge_relative * gram.mean_diagonal());
}

std::vector<float> project_whitened_svd(const float* W, int m, int n, int r, const std::vector<double>& H,
                                        double ridge_abs) {
  check_rank(m, n, r);
  // S S^T = H + ridge I, S lower (row-major; the upper triangle zeroed for trmm/trsm).
  std::vector<double> S = H;
  for (int i = 0; i < n; ++i) S[std::size_t(i) * n + i] += ridge_abs;
  const lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, S.data(), n);
  if (info != 0)
    fail(kExitInput, "low-rank projection: the input Gram (" + std::to_string(n) + "x" + std::to_string(n) +
                         ") plus ridge is not positive definite (pivot " + std::to_string(info) +
                         "); raise project.ridge");
  for (int i = 0; i < n; ++i) std::fill_n(S.begin() + std::size_t(i) * n + i + 1, n - i - 1, 0.0);
  // W S, its rank-r truncation split as U [m, r], V' [r, n]; then V = V' S^-1.
  std::vector<double> WS = widened(W, std::size_t(m) * n), U, V;
  cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, m, n, 1.0, S.data(), n, WS.data(), n);
  truncated_factors(WS, m, n, r, U, V);
  cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, r, n, 1.0, S.data(), n, V.data(), n);
  return pack(U, V);
}

double lowrank_relative_frobenius_error(const float* W, const float* params, int m, int n, int r) {
  const std::vector<double> D = residual(W, params, m, n, r);
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < D.size(); ++i) {
    diff += D[i] * D[i];
    norm += double(W[i]) * W[i];
  }
  return std::sqrt(diff / norm);
}

double lowrank_relative_output_error(const float* W, const float* params, int m, int n, int r,
                                     const std::vector<double>& H) {
  const double reference = quadratic_trace(widened(W, std::size_t(m) * n), m, n, H);
  const double error = quadratic_trace(residual(W, params, m, n, r), m, n, H);
  return reference > 0 ? std::sqrt(std::max(error, 0.0) / reference) : 0.0;
}

}  // namespace circal
