#pragma once
// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers", 2023; DESIGN.md section 11) of a dense W [m, n] given the input Gram
// H = X^T X [n, n]: columns are quantized one at a time, in order, and the error of each is
// spread over the columns not yet quantized through the inverse Hessian's upper Cholesky
// factor, which minimises tr((W - Q) H (W - Q)^T) column by column. As in the authors'
// reference implementation (gptq.py, fasterquant): dead inputs (H_jj = 0) get H_jj = 1 and
// W_:j = 0; the dampening percdamp * mean(diag H) is added to the diagonal; with act_order
// the columns go by descending H_jj; updates are lazy over blocks of 128 columns; a group's
// scales are fitted when its first column comes up, from the weights as updated at the start
// of the current block (exactly current when G is a multiple of 128). Every factorisation is
// LAPACK's, in float64.
#include <vector>

#include "pipeline/quantize/weight_quantization.hpp"

namespace circal {

struct GptqOptions {
  QuantizationGrid grid;
  double percdamp = 0.01;
  bool act_order = true;
  int block_columns = 128;  // the lazy batch; changes rounding only, not the algorithm
};

// W [m, n] row-major float32; H full symmetric [n, n] row-major. A Cholesky failure
// (H + damp I not positive definite) is a CircalError(kExitInput) naming percdamp.
QuantizedMatrix quantize_gptq(const float* W, int m, int n, const std::vector<double>& H, const GptqOptions& options);

}  // namespace circal
