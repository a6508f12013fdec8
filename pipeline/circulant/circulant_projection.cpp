#include "pipeline/circulant/circulant_projection.hpp"

#include <cblas.h>
#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <lapacke.h>

#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"

namespace circal {
namespace {

struct DoublePlanDeleter {
  void operator()(fftw_plan plan) const { fftw_destroy_plan(plan); }
};
using DoublePlan = std::unique_ptr<std::remove_pointer_t<fftw_plan>, DoublePlanDeleter>;

// rows [T, blocks * b] -> spectrum [bins][T][blocks] (column-major blocks x T per bin).
// FFTW_ESTIMATE: deterministic on every rank and leaves the arrays alone while planning.
void rows_spectrum(std::vector<double>& rows, int b, int blocks, int T,
                   std::vector<std::complex<double>>& out) {
  const int howmany = T * blocks;
  out.resize(std::size_t(b / 2 + 1) * howmany);
  DoublePlan plan(fftw_plan_many_dft_r2c(1, &b, howmany, rows.data(), nullptr, 1, b,
                                         reinterpret_cast<fftw_complex*>(out.data()), nullptr,
                                         howmany, 1, FFTW_ESTIMATE));
  fftw_execute(plan.get());
}

// Rows of A [T, width] (float) widened to double and zero-padded to `padded` columns.
std::vector<double> padded_rows(const float* A, int width, int padded, int T) {
  std::vector<double> rows(std::size_t(T) * padded, 0.0);
  for (int t = 0; t < T; ++t)
    std::copy_n(A + std::size_t(t) * width, width, rows.begin() + std::size_t(t) * padded);
  return rows;
}

}  // namespace

std::vector<float> project_frobenius(const float* W, int m, int n, int b) {
  const int p = block_count(m, b), q = block_count(n, b);
  std::vector<double> sums(std::size_t(p) * q * b, 0.0);
  std::vector<int> counts(sums.size(), 0);
  for (int r = 0; r < m; ++r)
    for (int s = 0; s < n; ++s) {
      const std::size_t at = circulant_index(r, s, b, q);
      sums[at] += W[std::size_t(r) * n + s];
      ++counts[at];
    }
  std::vector<float> c(sums.size(), 0.f);
  for (std::size_t i = 0; i < c.size(); ++i)
    if (counts[i] > 0) c[i] = static_cast<float>(sums[i] / counts[i]);
  return c;
}

LeastSquaresProjector::LeastSquaresProjector(const float* W, int m, int n, int b,
                                             int chunk_tokens)
    : W_(W), m_(m), n_(n), b_(b), p_(block_count(m, b)), q_(block_count(n, b)),
      chunk_(std::max(1, chunk_tokens)) {
  check_block_size(b);
  gram_.assign(std::size_t(bins()) * q_ * q_, 0.0);
  cross_.assign(std::size_t(bins()) * p_ * q_, 0.0);
}

void LeastSquaresProjector::accumulate(const float* X, long T) {
  for (long t0 = 0; t0 < T; t0 += chunk_)
    accumulate_chunk(X + std::size_t(t0) * n_, static_cast<int>(std::min<long>(chunk_, T - t0)));
}

void LeastSquaresProjector::accumulate_chunk(const float* X, int T) {
  std::vector<float> Y(std::size_t(T) * m_);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, m_, n_, 1.f, X, n_, W_, n_, 0.f,
              Y.data(), m_);
  std::vector<double> x_rows = padded_rows(X, n_, q_ * b_, T);
  std::vector<double> y_rows = padded_rows(Y.data(), m_, p_ * b_, T);
  for (double v : x_rows) sum_squares_ += v * v;
  tokens_ += T;
  std::vector<cdouble> xf, yf;
  rows_spectrum(x_rows, b_, q_, T, xf);
  rows_spectrum(y_rows, b_, p_, T, yf);
  const cdouble one(1.0);
  for (int k = 0; k < bins(); ++k) {
    const cdouble* xk = xf.data() + std::size_t(k) * q_ * T;
    cblas_zherk(CblasColMajor, CblasLower, CblasNoTrans, q_, T, 1.0, xk, q_, 1.0,
                gram_.data() + std::size_t(k) * q_ * q_, q_);
    cblas_zgemm(CblasColMajor, CblasNoTrans, CblasConjTrans, p_, q_, T, &one,
                yf.data() + std::size_t(k) * p_ * T, p_, xk, q_, &one,
                cross_.data() + std::size_t(k) * p_ * q_, p_);
  }
}

void LeastSquaresProjector::allreduce(MPI_Comm comm) {
  MPI_Allreduce(MPI_IN_PLACE, gram_.data(), static_cast<int>(gram_.size()),
                MPI_C_DOUBLE_COMPLEX, MPI_SUM, comm);
  MPI_Allreduce(MPI_IN_PLACE, cross_.data(), static_cast<int>(cross_.size()),
                MPI_C_DOUBLE_COMPLEX, MPI_SUM, comm);
  MPI_Allreduce(MPI_IN_PLACE, &sum_squares_, 1, MPI_DOUBLE, MPI_SUM, comm);
  MPI_Allreduce(MPI_IN_PLACE, &tokens_, 1, MPI_LONG, MPI_SUM, comm);
}

double LeastSquaresProjector::mean_gram_diagonal() const { return sum_squares_ / n_; }

std::vector<float> LeastSquaresProjector::solve(double ridge_relative) const {
  return solve_absolute(ridge_relative * mean_gram_diagonal());
}

std::vector<float> LeastSquaresProjector::solve_absolute(double ridge_abs) const {
  // With unnormalised FFTs ||C||_F^2 = (1/b) sum_k ||Cf[k]||^2 (interior bins counted
  // twice, like the data term), so the penalty enters every bin as b * ridge_abs.
  const double lambda = b_ * ridge_abs;
  const std::size_t pq = std::size_t(p_) * q_;
  std::vector<cdouble> spectrum(bins() * pq);  // [bins][p][q]: block (i, j) at i * q + j
  std::vector<cdouble> gram(std::size_t(q_) * q_), rhs(pq);
  for (int k = 0; k < bins(); ++k) {
    std::copy_n(gram_.begin() + k * std::size_t(q_) * q_, gram.size(), gram.begin());
    for (int j = 0; j < q_; ++j) gram[std::size_t(j) * q_ + j] += lambda;
    // (G + lambda I) Z = R^H, then Cf = Z^H (G is Hermitian).
    const cdouble* cross = cross_.data() + k * pq;
    for (int i = 0; i < p_; ++i)
      for (int j = 0; j < q_; ++j)
        rhs[std::size_t(i) * q_ + j] = std::conj(cross[std::size_t(j) * p_ + i]);
    const lapack_int info =
        LAPACKE_zposv(LAPACK_COL_MAJOR, 'L', q_, p_, gram.data(), q_, rhs.data(), q_);
    if (info != 0)
      fail(kExitInput, "least-squares projection: Gram matrix of bin " + std::to_string(k) +
                           " is singular (" + std::to_string(tokens_) +
                           " tokens); raise project.ridge");
    const bool real_bin = k == 0 || 2 * k == b_;  // the spectrum of real data is real there
    for (std::size_t at = 0; at < pq; ++at) {
      const cdouble v = std::conj(rhs[at]);
      spectrum[k * pq + at] = real_bin ? cdouble(v.real(), 0.0) : v;
    }
  }
  std::vector<double> c(pq * b_);
  const int howmany = static_cast<int>(pq);
  DoublePlan plan(fftw_plan_many_dft_c2r(1, &b_, howmany,
                                         reinterpret_cast<fftw_complex*>(spectrum.data()),
                                         nullptr, howmany, 1, c.data(), nullptr, 1, b_,
                                         FFTW_ESTIMATE));
  fftw_execute(plan.get());
  std::vector<float> result(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) result[i] = static_cast<float>(c[i] / b_);
  return result;
}

double relative_frobenius_error(const float* W, const float* c, int m, int n, int b) {
  const int q = block_count(n, b);
  double diff = 0, norm = 0;
  for (int r = 0; r < m; ++r)
    for (int s = 0; s < n; ++s) {
      const double w = W[std::size_t(r) * n + s];
      const double v = c[circulant_index(r, s, b, q)];
      diff += (w - v) * (w - v);
      norm += w * w;
    }
  return std::sqrt(diff / norm);
}

double relative_output_error(const float* W, const float* c, int m, int n, int b,
                             const float* X, long T) {
  constexpr long kChunk = 1024;
  CirculantLinear op(m, n, b, c, nullptr);
  double diff = 0, norm = 0;
  std::vector<float> dense(std::size_t(std::min(T, kChunk)) * m), circ(dense.size());
  for (long t0 = 0; t0 < T; t0 += kChunk) {
    const int rows = static_cast<int>(std::min(kChunk, T - t0));
    const float* x = X + std::size_t(t0) * n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, m, n, 1.f, x, n, W, n, 0.f,
                dense.data(), m);
    op.forward(x, circ.data(), rows);
    for (std::size_t i = 0; i < std::size_t(rows) * m; ++i) {
      diff += double(dense[i] - circ[i]) * (dense[i] - circ[i]);
      norm += double(dense[i]) * dense[i];
    }
  }
  return std::sqrt(diff / norm);
}

}  // namespace circal
