#pragma once
// Weight quantization of a dense matrix W [m, n] (DESIGN.md section 11): each row's input
// columns fall in groups of G; a group of a row has one scale s (stored as IEEE half) and one
// zero point z (an integer code, stored at the codes' width), and each weight one code
// q in [0, 2^bits - 1], standing for s (q - z). The grid is asymmetric and always holds 0
// (as in GPTQ's reference quantizer), so a zero column stays exactly zero.
//
// This is a simulation: circal runs the dequantized float32 matrix through the dense GEMM.
// It measures the quality at a byte count, not the speed of an integer kernel.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace circal {

struct QuantizationGrid {
  int bits = 4;          // 2..8
  int group_size = 128;  // input columns per group (the last group of a row may be shorter)
  int max_code() const { return (1 << bits) - 1; }
};

// One group's scale and zero point, fitted the reference's way: the range [min(x, 0),
// max(x, 0)] (a range of width 0 becomes [-1, 1]) spread over the 2^bits codes; the scale is
// rounded to the half it is stored as (at least the smallest positive half), and the zero
// point is round(-min / scale) in [0, max code].
struct GroupScale {
  float scale = 1;
  int zero = 0;
  int code(double x, int max_code) const;  // clamp(round(x / s) + z, 0, max_code), ties to even
  float value(int code) const { return scale * float(code - zero); }  // exact in float32
};
GroupScale fit_group_scale(const double* x, int count, int max_code);
// The half a scale is stored as (round to nearest even), at least the smallest positive half.
float stored_scale(double scale);

// Codes in the original column order; scales and zero points [m, groups] by row. With
// GPTQ's activation order the groups are formed in the quantization order, so column j's
// group is group_of_column[j] (stored, as the reference's g_idx); empty: column j / G.
struct QuantizedMatrix {
  int rows = 0, cols = 0;
  QuantizationGrid grid;
  std::vector<uint8_t> codes;            // [rows, cols]
  std::vector<float> scales;             // [rows, groups], each a half value
  std::vector<uint8_t> zeros;            // [rows, groups]
  std::vector<int32_t> group_of_column;  // [cols] or empty

  int groups() const { return (cols + grid.group_size - 1) / grid.group_size; }
  int group_of(int column) const {
    return group_of_column.empty() ? column / grid.group_size : group_of_column[column];
  }
  // W_hat [rows, cols] row-major: s (q - z) of each weight.
  std::vector<float> dequantized() const;
  // d loss / d scales [rows, groups] from d loss / d W [rows, cols]: W = s (q - z) is linear
  // in each group's scale, so the gradient is the sum over the group of (q - z) dL/dW.
  std::vector<double> scale_gradient(const float* dW) const;
  // What the stored form takes: codes and zero points packed at `bits` bits, scales as halves,
  // the column-to-group map as int32 when there is one. DESIGN.md section 11.
  std::size_t storage_bytes() const;
};

// Bytes of an m x n matrix quantized on `grid` (QuantizedMatrix::storage_bytes without the
// matrix), with or without a stored column-to-group map.
std::size_t quantized_storage_bytes(int m, int n, const QuantizationGrid& grid, bool with_group_map);

// Round to nearest: every group fitted to its own weights, every weight rounded alone.
QuantizedMatrix quantize_rtn(const float* W, int m, int n, const QuantizationGrid& grid);

// ||(W - A) X||_F / ||W X||_F over the tokens whose Gram H = X^T X [n, n] (full symmetric,
// row-major) is given: sqrt(tr(D H D^T) / tr(W H W^T)), D = W - A.
double relative_output_error(const float* W, const float* A, int m, int n, const std::vector<double>& H);

}  // namespace circal
