#pragma once
// Rotary position embeddings, HF rotate_half convention: dimension i of a head pairs with
// i + head_dim/2, rotated by angle pos * inv_freq[i]; unscaled inv_freq[i] = theta^(-2i/head_dim)
// (rope_scaling changes the frequencies only: rope_inverse_frequencies in llama_config.hpp).
#include <vector>

namespace circal {

// theta^(-2i/head_dim) for i < head_dim / 2.
std::vector<double> rope_unscaled_frequencies(int head_dim, double theta);

class RopeTable {
 public:
  RopeTable(int head_dim, float theta);
  explicit RopeTable(std::vector<double> inv_freq);  // [head_dim / 2]
  // Grow-only: makes positions [0, positions) available.
  void reserve(int positions);
  int head_dim() const { return head_dim_; }
  const float* cos_at(int pos) const { return cos_.data() + static_cast<long>(pos) * half_; }
  const float* sin_at(int pos) const { return sin_.data() + static_cast<long>(pos) * half_; }

 private:
  int head_dim_;
  int half_;
  std::vector<double> inv_freq_;
  int positions_ = 0;
  std::vector<float> cos_, sin_;
};

// Rotates x [T, n_heads * head_dim] in place; row t sits at position pos0 + t.
void rope_forward(float* x, int T, int n_heads, int pos0, const RopeTable& table);
// The rotation is orthogonal: the backward rotates the gradient by the inverse angle.
void rope_backward(float* dx, int T, int n_heads, int pos0, const RopeTable& table);

}  // namespace circal
