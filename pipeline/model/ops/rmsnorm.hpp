#pragma once
// RMSNorm over rows: y = x / rms(x) * w, rms(x) = sqrt(mean(x^2) + eps).
namespace circal {

// x, y [T, d]; inv_rms [T] is saved for the backward.
void rmsnorm_forward(const float* x, const float* w, float* y, float* inv_rms, int T, int d, float eps);

// Adds dL/dx to dx [T, d] (+=), so the residual stream can collect it in place.
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* inv_rms, float* dx, int T, int d);

}  // namespace circal
