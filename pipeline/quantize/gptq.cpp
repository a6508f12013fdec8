#include "pipeline/quantize/gptq.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <numeric>
#include <string>

#include "pipeline/base/errors.hpp"

namespace circal {

namespace {

void refuse_unfactorable(lapack_int info, double percdamp) {
  if (info != 0)
    fail(kExitInput, "GPTQ: the dampened input Gram is not positive definite (LAPACK info " + std::to_string(info) +
                         "); raise quantize.percdamp (now " + std::to_string(percdamp) + ")");
}

// U upper with U^T U = (H + damp I)^-1, row-major, the strict lower triangle zero: the
// reference's cholesky(cholesky_inverse(cholesky(H)), upper=True).
std::vector<double> inverse_cholesky_upper(std::vector<double> H, int n, double percdamp) {
  double mean_diagonal = 0;
  for (int j = 0; j < n; ++j) mean_diagonal += H[std::size_t(j) * n + j];
  const double damp = percdamp * mean_diagonal / n;
  for (int j = 0; j < n; ++j) H[std::size_t(j) * n + j] += damp;
  refuse_unfactorable(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, H.data(), n), percdamp);
  refuse_unfactorable(LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', n, H.data(), n), percdamp);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) H[std::size_t(i) * n + j] = H[std::size_t(j) * n + i];
  refuse_unfactorable(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, H.data(), n), percdamp);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < i; ++j) H[std::size_t(i) * n + j] = 0;
  return H;
}

// The column order: by descending H_jj with act_order (stable, so ties keep their order),
// else as given.
std::vector<int> column_order(const std::vector<double>& H, int n, bool act_order) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (act_order)
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return H[std::size_t(a) * n + a] > H[std::size_t(b) * n + b]; });
  return order;
}

// The quantization state: W and H in the column order, the result filled column by column.
struct GptqState {
  int m, n;
  std::vector<int> order;
  std::vector<double> W;  // [m, n], columns in `order`; updated lazily block by block
  std::vector<double> U;  // upper Cholesky factor of the inverse of the dampened H, in order
  QuantizedMatrix result;
};

GptqState prepare(const float* W, int m, int n, std::vector<double> H, const GptqOptions& options) {
  std::vector<bool> dead(n);
  for (int j = 0; j < n; ++j)
    if (H[std::size_t(j) * n + j] == 0) {
      dead[j] = true;
      H[std::size_t(j) * n + j] = 1;
    }
  GptqState s{m, n, column_order(H, n, options.act_order), {}, {}, {}};
  s.W.resize(std::size_t(m) * n);
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < n; ++j)
      s.W[std::size_t(r) * n + j] = dead[s.order[j]] ? 0.0 : double(W[std::size_t(r) * n + s.order[j]]);
  std::vector<double> P(std::size_t(n) * n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) P[std::size_t(i) * n + j] = H[std::size_t(s.order[i]) * n + s.order[j]];
  s.U = inverse_cholesky_upper(std::move(P), n, options.percdamp);
  QuantizedMatrix& q = s.result;
  q.rows = m;
  q.cols = n;
  q.grid = options.grid;
  q.codes.resize(std::size_t(m) * n);
  q.scales.resize(std::size_t(m) * q.groups());
  q.zeros.resize(q.scales.size());
  if (options.act_order) {
    q.group_of_column.resize(n);
    for (int j = 0; j < n; ++j) q.group_of_column[s.order[j]] = j / options.grid.group_size;
  }
  return s;
}

// Fits the scales of the group starting at column `first` (in order) from the weights as
// they stand in s.W.
void fit_groups(GptqState& s, int first, std::vector<GroupScale>& groups) {
  const QuantizationGrid& grid = s.result.grid;
  const int count = std::min(grid.group_size, s.n - first), g = first / grid.group_size;
  for (int r = 0; r < s.m; ++r) {
    groups[r] = fit_group_scale(&s.W[std::size_t(r) * s.n + first], count, grid.max_code());
    s.result.scales[std::size_t(r) * s.result.groups() + g] = groups[r].scale;
    s.result.zeros[std::size_t(r) * s.result.groups() + g] = uint8_t(groups[r].zero);
  }
}

// Columns [i1, i2): each quantized in turn, its scaled error spread over the rest of the
// block at once and over the columns after the block in one GEMM at the end.
void quantize_block(GptqState& s, int i1, int i2, std::vector<GroupScale>& groups) {
  const int m = s.m, n = s.n, count = i2 - i1, max_code = s.result.grid.max_code();
  std::vector<double> W1(std::size_t(m) * count), E1(W1.size()), err(m);
  for (int r = 0; r < m; ++r) std::copy_n(&s.W[std::size_t(r) * n + i1], count, &W1[std::size_t(r) * count]);
  for (int i = 0; i < count; ++i) {
    const int column = i1 + i;
    if (column % s.result.grid.group_size == 0) fit_groups(s, column, groups);
    const double d = s.U[std::size_t(column) * n + column];
    for (int r = 0; r < m; ++r) {
      const double w = W1[std::size_t(r) * count + i];
      const int code = groups[r].code(w, max_code);
      s.result.codes[std::size_t(r) * n + s.order[column]] = uint8_t(code);
      err[r] = (w - double(groups[r].value(code))) / d;
      E1[std::size_t(r) * count + i] = err[r];
    }
    cblas_dger(CblasRowMajor, m, count - i, -1.0, err.data(), 1, &s.U[std::size_t(column) * n + column], 1, &W1[i],
               count);
  }
  if (i2 < n)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n - i2, count, -1.0, E1.data(), count,
                &s.U[std::size_t(i1) * n + i2], n, 1.0, &s.W[i2], n);
}

}  // namespace

QuantizedMatrix quantize_gptq(const float* W, int m, int n, const std::vector<double>& H, const GptqOptions& options) {
  GptqState s = prepare(W, m, n, H, options);
  std::vector<GroupScale> groups(m);
  for (int i1 = 0; i1 < n; i1 += options.block_columns)
    quantize_block(s, i1, std::min(i1 + options.block_columns, n), groups);
  return std::move(s.result);
}

}  // namespace circal
