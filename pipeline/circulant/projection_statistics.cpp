#include "pipeline/circulant/projection_statistics.hpp"

#include <cblas.h>
#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#define lapack_complex_float std::complex<float>
#define lapack_complex_double std::complex<double>
#include <lapacke.h>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"

namespace circal {
namespace {

struct DoublePlanDeleter {
  void operator()(fftw_plan plan) const { fftw_destroy_plan(plan); }
};
using DoublePlan = std::unique_ptr<std::remove_pointer_t<fftw_plan>, DoublePlanDeleter>;

// One batch of rows_spectrum: its plan runs only on arrays of the alignments it was made on.
struct RowsPlan {
  int T = 0, in_align = -1, out_align = -1;
  DoublePlan plan;
};

}  // namespace

struct StatisticsPlans {
  std::map<std::pair<int, int>, RowsPlan> rows;  // by (b, blocks)
};

StatisticsScratch::StatisticsScratch() : plans(std::make_unique<StatisticsPlans>()) {}
StatisticsScratch::~StatisticsScratch() = default;

namespace {

int alignment_of(void* p) { return fftw_alignment_of(static_cast<double*>(p)); }

// rows [T, blocks * b] -> spectrum [bins][T][blocks] (column-major blocks x T per bin).
// FFTW_ESTIMATE: deterministic on every rank and leaves the arrays alone while planning, so it
// plans on the arrays themselves; the plan is kept and replanned only when T or an alignment
// changes. `out` only grows (see StatisticsScratch).
void rows_spectrum(std::vector<double>& rows, int b, int blocks, int T, std::vector<cdouble>& out,
                   StatisticsPlans& plans) {
  const int howmany = T * blocks;
  if (out.size() < std::size_t(b / 2 + 1) * howmany) out.resize(std::size_t(b / 2 + 1) * howmany);
  auto* spectrum = reinterpret_cast<fftw_complex*>(out.data());
  RowsPlan& kept = plans.rows[{b, blocks}];
  const int in_align = alignment_of(rows.data()), out_align = alignment_of(spectrum);
  if (!kept.plan || kept.T != T || kept.in_align != in_align || kept.out_align != out_align) {
    kept.plan.reset(fftw_plan_many_dft_r2c(1, &b, howmany, rows.data(), nullptr, 1, b, spectrum, nullptr, howmany, 1,
                                           FFTW_ESTIMATE));
    kept.T = T;
    kept.in_align = in_align;
    kept.out_align = out_align;
  }
  fftw_execute_dft_r2c(kept.plan.get(), rows.data(), spectrum);
}

// Rows of A [T, width] (float) widened to double and zero-padded to `padded` columns, into
// the first T * padded entries of `rows` (which only grows); returns their sum of squares.
double padded_rows(const float* A, int width, int padded, int T, std::vector<double>& rows) {
  if (rows.size() < std::size_t(T) * padded) rows.resize(std::size_t(T) * padded);
  double squares = 0;
  for (int t = 0; t < T; ++t) {
    double* row = rows.data() + std::size_t(t) * padded;
    std::copy_n(A + std::size_t(t) * width, width, row);
    std::fill(row + width, row + padded, 0.0);
  }
  for (std::size_t i = 0; i < std::size_t(T) * padded; ++i) squares += rows[i] * rows[i];
  return squares;
}

// Adds the chunk's input spectra to `input`, leaving them in scratch.xf for the cross terms.
void add_input_chunk(const float* X, int T, InputStatistics* input, StatisticsScratch& scratch) {
  const int n = input->n, b = input->b, q = input->q, bins = input->bins();
  input->sum_squares() += padded_rows(X, n, q * b, T, scratch.rows);
  input->tokens() += T;
  std::vector<cdouble>& xf = scratch.xf;
  rows_spectrum(scratch.rows, b, q, T, xf, *scratch.plans);
  for (int k = 0; k < bins; ++k)
    cblas_zherk(CblasColMajor, CblasLower, CblasNoTrans, q, T, 1.0, xf.data() + std::size_t(k) * q * T, q, 1.0,
                input->gram() + std::size_t(k) * q * q, q);
}

// Adds the chunk's outputs Y [T, m] against its input spectra scratch.xf to `out`.
void add_output_chunk(const float* Y, int T, OutputStatistics* out, StatisticsScratch& scratch) {
  const int m = out->m, p = out->p, q = out->q, b = out->b, bins = out->bins();
  out->sum_squares() += padded_rows(Y, m, p * b, T, scratch.rows);
  std::vector<cdouble>& xf = scratch.xf;
  std::vector<cdouble>& yf = scratch.yf;
  rows_spectrum(scratch.rows, b, p, T, yf, *scratch.plans);
  const cdouble one(1.0);
  for (int k = 0; k < bins; ++k)
    cblas_zgemm(CblasColMajor, CblasNoTrans, CblasConjTrans, p, q, T, &one, yf.data() + std::size_t(k) * p * T, p,
                xf.data() + std::size_t(k) * q * T, q, &one, out->cross() + std::size_t(k) * p * q, p);
}

// Spectra of c [p, q, b]: [bins][p][q], block (i, j) at i * q + j (Cf = unnormalised rFFT of c).
std::vector<cdouble> circulant_spectra(const float* c, int p, int q, int b) {
  const int howmany = p * q;
  std::vector<double> rows(c, c + std::size_t(howmany) * b);
  std::vector<cdouble> out(std::size_t(b / 2 + 1) * howmany);
  DoublePlan plan(fftw_plan_many_dft_r2c(1, &b, howmany, rows.data(), nullptr, 1, b,
                                         reinterpret_cast<fftw_complex*>(out.data()), nullptr, howmany, 1,
                                         FFTW_ESTIMATE));
  fftw_execute(plan.get());
  return out;
}

}  // namespace

InputStatistics::InputStatistics(int n_, int b_) : n(n_), b(b_), q(block_count(n_, b_)) {
  check_block_size(b);
  values.assign(2 * gram_size() + 2, 0.0);
}

OutputStatistics::OutputStatistics(int m_, int n_, int b_)
    : m(m_), n(n_), b(b_), p(block_count(m_, b_)), q(block_count(n_, b_)) {
  check_block_size(b);
  values.assign(2 * cross_size() + 1, 0.0);
}

FullGram::FullGram(int n_) : n(n_) { values.assign(std::size_t(n) * n + 1, 0.0); }

void FullGram::accumulate(const float* X, long T, int chunk) {
  chunk = std::max(1, chunk);
  // Every entry adds its tokens' products one at a time, in token order: OpenBLAS dsyrk gave
  // different bits for the same rows from one run to the next (its kernels depend on buffer
  // alignment). Token-by-token rank-1 updates of the whole triangle stream all 8 n^2 / 2 bytes
  // of it through memory per token (33 MB at n = 2048); a tile of the triangle instead stays
  // in L1 while the chunk's rows pass, with the same additions in the same order (same bits).
  constexpr int kTileRows = 16, kTileColumns = 128;
  std::vector<double> a;
  for (long t0 = 0; t0 < T; t0 += chunk) {
    const int rows = int(std::min<long>(chunk, T - t0));
    a.assign(X + std::size_t(t0) * n, X + std::size_t(t0 + rows) * n);
    for (int j0 = 0; j0 < n; j0 += kTileColumns) {
      const int j1 = std::min(n, j0 + kTileColumns);
      for (int i0 = j0; i0 < n; i0 += kTileRows) {  // rows above j0 have no entry in these columns
        const int i1 = std::min(n, i0 + kTileRows);
        for (int t = 0; t < rows; ++t) {
          const double* x = a.data() + std::size_t(t) * n;
          for (int i = i0; i < i1; ++i) {
            double* row = values.data() + std::size_t(i) * n;
            const double xi = x[i];
            const int end = std::min(j1, i + 1);
            for (int j = j0; j < end; ++j) row[j] += xi * x[j];
          }
        }
      }
    }
    tokens() += rows;
  }
}

void FullGram::finish() {
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) values[std::size_t(i) * n + j] = values[std::size_t(j) * n + i];
}

namespace {

// The chunk loop both accumulations share; output_rows(j, t0, rows) gives matrix j's outputs
// of the chunk's tokens [rows, m_j].
template <typename OutputRows>
void accumulate_chunks(const float* X, long T, int chunk, InputStatistics* input,
                       const std::vector<OutputStatistics*>& outputs, StatisticsScratch* scratch,
                       OutputRows output_rows) {
  StatisticsScratch local;
  StatisticsScratch& work = scratch ? *scratch : local;
  chunk = std::max(1, chunk);
  for (long t0 = 0; t0 < T; t0 += chunk) {
    const int rows = int(std::min<long>(chunk, T - t0));
    add_input_chunk(X + std::size_t(t0) * input->n, rows, input, work);
    for (std::size_t j = 0; j < outputs.size(); ++j) add_output_chunk(output_rows(j, t0, rows), rows, outputs[j], work);
  }
}

}  // namespace

void accumulate_statistics(const float* X, long T, int chunk, InputStatistics* input,
                           const std::vector<const float*>& weights, std::vector<OutputStatistics*> outputs,
                           StatisticsScratch* scratch) {
  const int n = input->n;
  std::vector<float> Y;
  accumulate_chunks(X, T, chunk, input, outputs, scratch, [&](std::size_t j, long t0, int rows) {
    const int m = outputs[j]->m;
    Y.resize(std::size_t(rows) * m);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, m, n, 1.f, X + std::size_t(t0) * n, n, weights[j], n,
                0.f, Y.data(), m);
    return static_cast<const float*>(Y.data());
  });
}

void accumulate_statistics_of_outputs(const float* X, long T, int chunk, InputStatistics* input,
                                      const std::vector<const float*>& Y, std::vector<OutputStatistics*> outputs,
                                      StatisticsScratch* scratch) {
  accumulate_chunks(X, T, chunk, input, outputs, scratch,
                    [&](std::size_t j, long t0, int) { return Y[j] + std::size_t(t0) * outputs[j]->m; });
}

std::vector<float> solve_least_squares(const InputStatistics& input, const OutputStatistics& output, double ridge_abs) {
  // With unnormalised FFTs ||C||_F^2 = (1/b) sum_k ||Cf[k]||^2 (interior bins counted
  // twice, like the data term), so the penalty enters every bin as b * ridge_abs.
  const int b = input.b, p = output.p, q = input.q, bins = input.bins();
  if (output.q != q || output.b != b) fail(kExitInternal, "least-squares projection: statistics of different shapes");
  const double lambda = b * ridge_abs;
  const std::size_t pq = std::size_t(p) * q;
  std::vector<cdouble> spectrum(bins * pq);  // [bins][p][q]: block (i, j) at i * q + j
  std::vector<cdouble> gram(std::size_t(q) * q), rhs(pq);
  for (int k = 0; k < bins; ++k) {
    std::copy_n(input.gram() + k * std::size_t(q) * q, gram.size(), gram.begin());
    for (int j = 0; j < q; ++j) gram[std::size_t(j) * q + j] += lambda;
    // (G + lambda I) Z = R^H, then Cf = Z^H (G is Hermitian).
    const cdouble* cross = output.cross() + k * pq;
    for (int i = 0; i < p; ++i)
      for (int j = 0; j < q; ++j) rhs[std::size_t(i) * q + j] = std::conj(cross[std::size_t(j) * p + i]);
    const lapack_int info = LAPACKE_zposv(LAPACK_COL_MAJOR, 'L', q, p, gram.data(), q, rhs.data(), q);
    if (info != 0)
      fail(kExitInput, "least-squares projection: Gram matrix of bin " + std::to_string(k) + " is singular (" +
                           std::to_string(long(input.tokens())) + " tokens); raise project.ridge");
    const bool real_bin = k == 0 || 2 * k == b;  // the spectrum of real data is real there
    for (std::size_t at = 0; at < pq; ++at) {
      const cdouble v = std::conj(rhs[at]);
      spectrum[k * pq + at] = real_bin ? cdouble(v.real(), 0.0) : v;
    }
  }
  std::vector<double> c(pq * b);
  const int howmany = static_cast<int>(pq);
  DoublePlan plan(fftw_plan_many_dft_c2r(1, &b, howmany, reinterpret_cast<fftw_complex*>(spectrum.data()), nullptr,
                                         howmany, 1, c.data(), nullptr, 1, b, FFTW_ESTIMATE));
  fftw_execute(plan.get());
  std::vector<float> result(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) result[i] = static_cast<float>(c[i] / b);
  return result;
}

double statistics_output_error(const InputStatistics& input, const OutputStatistics& output, const float* c) {
  const int b = input.b, p = output.p, q = input.q, bins = input.bins();
  const std::vector<cdouble> cf = circulant_spectra(c, p, q, b);
  const std::size_t pq = std::size_t(p) * q;
  double correction = 0;
  std::vector<cdouble> row(q);
  for (int k = 0; k < bins; ++k) {
    const cdouble* C = cf.data() + k * pq;                     // C(i, j) at i * q + j
    const cdouble* G = input.gram() + k * std::size_t(q) * q;  // G(a, b) for a >= b at b * q + a
    const cdouble* R = output.cross() + k * pq;                // R(i, j) at j * p + i
    double quadratic = 0, linear = 0;
    for (int i = 0; i < p; ++i) {
      // row = C(i, :) G, then quadratic += row . conj(C(i, :))
      std::fill(row.begin(), row.end(), cdouble(0));
      for (int a = 0; a < q; ++a) {
        const cdouble ca = C[std::size_t(i) * q + a];
        for (int bb = 0; bb < q; ++bb) {
          const cdouble g = a >= bb ? G[std::size_t(bb) * q + a] : std::conj(G[std::size_t(a) * q + bb]);
          row[bb] += ca * g;
        }
      }
      for (int j = 0; j < q; ++j) {
        quadratic += (row[j] * std::conj(C[std::size_t(i) * q + j])).real();
        linear += (std::conj(C[std::size_t(i) * q + j]) * R[std::size_t(j) * p + i]).real();
      }
    }
    const double weight = (k == 0 || 2 * k == b) ? 1.0 : 2.0;
    correction += weight * (quadratic - 2 * linear);
  }
  const double reference = output.sum_squares();
  const double error = std::max(0.0, reference + correction / b);
  return reference > 0 ? std::sqrt(error / reference) : 0.0;
}

}  // namespace circal
