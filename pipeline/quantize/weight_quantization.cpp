#include "pipeline/quantize/weight_quantization.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "pipeline/io/safetensors.hpp"

namespace circal {

namespace {

std::size_t packed_bytes(std::size_t values, int bits) { return (values * std::size_t(bits) + 7) / 8; }

}  // namespace

// A scale below the smallest positive half would store as 0.
float stored_scale(double scale) {
  const float smallest = half_to_float(1);
  return std::max(half_to_float(float_to_half(float(scale))), smallest);
}

int GroupScale::code(double x, int max_code) const {
  const double q = std::nearbyint(x / double(scale)) + zero;
  return int(std::clamp(q, 0.0, double(max_code)));
}

GroupScale fit_group_scale(const double* x, int count, int max_code) {
  double low = 0, high = 0;
  for (int i = 0; i < count; ++i) {
    low = std::min(low, x[i]);
    high = std::max(high, x[i]);
  }
  if (low == 0 && high == 0) low = -1, high = 1;
  GroupScale group;
  group.scale = stored_scale((high - low) / max_code);
  group.zero = int(std::clamp(std::nearbyint(-low / double(group.scale)), 0.0, double(max_code)));
  return group;
}

std::vector<float> QuantizedMatrix::dequantized() const {
  std::vector<float> W(std::size_t(rows) * cols);
  const int g = groups();
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) {
      const std::size_t at = std::size_t(r) * g + group_of(j);
      const GroupScale group{scales[at], zeros[at]};
      W[std::size_t(r) * cols + j] = group.value(codes[std::size_t(r) * cols + j]);
    }
  return W;
}

std::vector<double> QuantizedMatrix::scale_gradient(const float* dW) const {
  const int g = groups();
  std::vector<double> ds(std::size_t(rows) * g, 0.0);
  for (int r = 0; r < rows; ++r) {
    double* row = ds.data() + std::size_t(r) * g;
    const std::size_t first = std::size_t(r) * cols;
    for (int j = 0; j < cols; ++j) {
      const int group = group_of(j);
      row[group] += double(int(codes[first + j]) - int(zeros[std::size_t(r) * g + group])) * double(dW[first + j]);
    }
  }
  return ds;
}

std::size_t quantized_storage_bytes(int m, int n, const QuantizationGrid& grid, bool with_group_map) {
  const std::size_t groups = std::size_t(m) * ((n + grid.group_size - 1) / grid.group_size);
  return packed_bytes(std::size_t(m) * n, grid.bits) + 2 * groups + packed_bytes(groups, grid.bits) +
         (with_group_map ? 4 * std::size_t(n) : 0);
}

std::size_t QuantizedMatrix::storage_bytes() const {
  return quantized_storage_bytes(rows, cols, grid, !group_of_column.empty());
}

QuantizedMatrix quantize_rtn(const float* W, int m, int n, const QuantizationGrid& grid) {
  QuantizedMatrix q{m, n, grid, std::vector<uint8_t>(std::size_t(m) * n), {}, {}, {}};
  const int groups = q.groups(), max_code = grid.max_code();
  q.scales.resize(std::size_t(m) * groups);
  q.zeros.resize(std::size_t(m) * groups);
  std::vector<double> x(grid.group_size);
  for (int r = 0; r < m; ++r)
    for (int g = 0; g < groups; ++g) {
      const int first = g * grid.group_size, count = std::min(grid.group_size, n - first);
      const float* row = W + std::size_t(r) * n + first;
      std::copy(row, row + count, x.begin());
      const GroupScale group = fit_group_scale(x.data(), count, max_code);
      q.scales[std::size_t(r) * groups + g] = group.scale;
      q.zeros[std::size_t(r) * groups + g] = uint8_t(group.zero);
      for (int i = 0; i < count; ++i) q.codes[std::size_t(r) * n + first + i] = uint8_t(group.code(x[i], max_code));
    }
  return q;
}

double relative_output_error(const float* W, const float* A, int m, int n, const std::vector<double>& H) {
  std::vector<double> D(std::size_t(m) * n), Wd(D.size()), DH(D.size()), WH(D.size());
  for (std::size_t i = 0; i < D.size(); ++i) {
    Wd[i] = W[i];
    D[i] = double(W[i]) - double(A[i]);
  }
  cblas_dsymm(CblasRowMajor, CblasRight, CblasLower, m, n, 1.0, H.data(), n, D.data(), n, 0.0, DH.data(), n);
  cblas_dsymm(CblasRowMajor, CblasRight, CblasLower, m, n, 1.0, H.data(), n, Wd.data(), n, 0.0, WH.data(), n);
  double error = 0, reference = 0;
  for (std::size_t i = 0; i < D.size(); ++i) {
    error += D[i] * DH[i];
    reference += Wd[i] * WH[i];
  }
  return reference > 0 ? std::sqrt(std::max(error, 0.0) / reference) : 0.0;
}

}  // namespace circal
