#include "pipeline/optim/adam_optimizer.hpp"

#include <cmath>
#include <string>

#include "pipeline/base/errors.hpp"
#include "pipeline/base/simd_clones.hpp"

namespace circal {

AdamOptimizer::AdamOptimizer(size_t size, const AdamSettings& settings)
    : settings_(settings), m_(size, 0.0f), v_(size, 0.0f) {}

// Elementwise, hence a simd loop (this file is compiled with -fopenmp-simd). Like every
// CIRCAL_SIMD_CLONES function it may round differently in its FMA clone: bitwise
// reproducible on one machine, not across CPUs.
CIRCAL_SIMD_CLONES
void AdamOptimizer::step(float* params, const float* grads, double lr) {
  ++updates_;
  const double b1 = settings_.beta1, b2 = settings_.beta2;
  const double step_size = lr / (1.0 - std::pow(b1, static_cast<double>(updates_)));
  const double v_correction = 1.0 / (1.0 - std::pow(b2, static_cast<double>(updates_)));
  const double decay = 1.0 - lr * settings_.weight_decay, eps = settings_.eps;
  float* __restrict m_out = m_.data();
  float* __restrict v_out = v_.data();
#pragma omp simd
  for (size_t i = 0; i < m_.size(); ++i) {
    const double g = grads[i];
    const double m = b1 * m_out[i] + (1.0 - b1) * g;
    const double v = b2 * v_out[i] + (1.0 - b2) * g * g;
    m_out[i] = static_cast<float>(m);
    v_out[i] = static_cast<float>(v);
    const double denom = std::sqrt(v * v_correction) + eps;
    params[i] = static_cast<float>(decay * params[i] - step_size * m / denom);
  }
}

void AdamOptimizer::restore(int64_t updates, std::vector<float> first_moment, std::vector<float> second_moment) {
  if (first_moment.size() != m_.size() || second_moment.size() != v_.size())
    fail(kExitCheckpoint, "Adam state of " + std::to_string(first_moment.size()) + " values does not fit " +
                              std::to_string(m_.size()) + " parameters");
  updates_ = updates;
  m_ = std::move(first_moment);
  v_ = std::move(second_moment);
}

}  // namespace circal
