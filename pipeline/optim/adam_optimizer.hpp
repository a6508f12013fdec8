#pragma once
// Adam with decoupled weight decay (AdamW) over one contiguous parameter buffer. The moments
// are plain vectors so a checkpoint can save and restore them exactly (bit-for-bit resume).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace circal {

struct AdamSettings {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // decoupled: p -= lr * weight_decay * p, not added to the gradient
};

class AdamOptimizer {
 public:
  AdamOptimizer(size_t size, const AdamSettings& settings);

  // One update of params[size] from grads[size] at learning rate lr (bias-corrected with the
  // number of updates done so far, this one included).
  void step(float* params, const float* grads, double lr);

  size_t size() const { return m_.size(); }
  int64_t updates() const { return updates_; }
  const std::vector<float>& first_moment() const { return m_; }
  const std::vector<float>& second_moment() const { return v_; }
  // Restores a saved state; sizes must match size() (CircalError(kExitCheckpoint) otherwise).
  void restore(int64_t updates, std::vector<float> first_moment, std::vector<float> second_moment);

 private:
  AdamSettings settings_;
  int64_t updates_ = 0;
  std::vector<float> m_;
  std::vector<float> v_;
};

}  // namespace circal
