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

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"
#include "pipeline/circulant/circulant_linear.hpp"

namespace circal {
namespace {}  // namespace

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

LeastSquaresProjector::LeastSquaresProjector(const float* W, int m, int n, int b, int chunk_tokens)
    : W_(W), m_(m), n_(n), b_(b), chunk_(std::max(1, chunk_tokens)), input_(n, b), output_(m, n, b) {}

void LeastSquaresProjector::accumulate(const float* X, long T) {
  accumulate_statistics(X, T, chunk_, &input_, {W_}, {&output_});
}

void LeastSquaresProjector::allreduce(MPI_Comm comm) {
  MPI_Allreduce(MPI_IN_PLACE, input_.values.data(), static_cast<int>(input_.values.size()), MPI_DOUBLE, MPI_SUM, comm);
  MPI_Allreduce(MPI_IN_PLACE, output_.values.data(), static_cast<int>(output_.values.size()), MPI_DOUBLE, MPI_SUM,
                comm);
}

std::vector<float> LeastSquaresProjector::solve(double ridge_relative) const {
  return solve_absolute(ridge_relative * mean_gram_diagonal());
}

std::vector<float> LeastSquaresProjector::solve_absolute(double ridge_abs) const {
  return solve_least_squares(input_, output_, ridge_abs);
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

double relative_output_error(const float* W, const float* c, int m, int n, int b, const float* X, long T) {
  constexpr long kChunk = 1024;
  CirculantLinear op(m, n, b, c, nullptr);
  double diff = 0, norm = 0;
  std::vector<float> dense(std::size_t(std::min(T, kChunk)) * m), circ(dense.size());
  for (long t0 = 0; t0 < T; t0 += kChunk) {
    const int rows = static_cast<int>(std::min(kChunk, T - t0));
    const float* x = X + std::size_t(t0) * n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, m, n, 1.f, x, n, W, n, 0.f, dense.data(), m);
    op.forward(x, circ.data(), rows);
    for (std::size_t i = 0; i < std::size_t(rows) * m; ++i) {
      diff += double(dense[i] - circ[i]) * (dense[i] - circ[i]);
      norm += double(dense[i]) * dense[i];
    }
  }
  return std::sqrt(diff / norm);
}

}  // namespace circal
