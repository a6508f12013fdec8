#pragma once
// Distillation loss per position: tau^2 * KL(softmax(zT/tau) || softmax(zS/tau)).
namespace circal {

// zT, zS, dzS [T, V]. Returns the sum over the T positions of the loss; writes
// dzS = grad_scale * d(sum)/dzS = grad_scale * tau * (pS - pT) (pass 1/global_positions
// for the mean over a distributed batch). dzS may be nullptr when only the loss is wanted.
double kl_divergence(const float* zT, const float* zS, float* dzS, int T, int V, float tau, float grad_scale);

}  // namespace circal
