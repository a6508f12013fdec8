#pragma once
// Dense projections with HF weights W [out, in] (row-major), X [T, in], Y [T, out].
namespace circal {

// Y = X W^T (+ bias [out] on every row, unless bias is nullptr).
void linear_forward(const float* X, const float* W, float* Y, int T, int in, int out, const float* bias = nullptr);
// dX = dY W, or dX += dY W when accumulate. Frozen weights: no weight gradient; a bias is
// frozen too and adds nothing to dX, so the same call serves projections with a bias.
void linear_backward_input(const float* dY, const float* W, float* dX, int T, int in, int out, bool accumulate = false);

}  // namespace circal
