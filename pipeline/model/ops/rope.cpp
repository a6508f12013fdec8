#include "pipeline/model/ops/rope.hpp"

#include <cmath>
#include <utility>

namespace circal {

std::vector<double> rope_unscaled_frequencies(int head_dim, double theta) {
  std::vector<double> inv(static_cast<std::size_t>(head_dim / 2));
  for (std::size_t i = 0; i < inv.size(); ++i) inv[i] = std::pow(theta, -2.0 * static_cast<double>(i) / head_dim);
  return inv;
}

RopeTable::RopeTable(int head_dim, float theta) : RopeTable(rope_unscaled_frequencies(head_dim, theta)) {}

RopeTable::RopeTable(std::vector<double> inv_freq)
    : head_dim_(2 * static_cast<int>(inv_freq.size())),
      half_(static_cast<int>(inv_freq.size())),
      inv_freq_(std::move(inv_freq)) {}

void RopeTable::reserve(int positions) {
  if (positions <= positions_) return;
  cos_.resize(static_cast<long>(positions) * half_);
  sin_.resize(static_cast<long>(positions) * half_);
  for (int p = positions_; p < positions; ++p) {
    for (int i = 0; i < half_; ++i) {
      const double angle = p * inv_freq_[i];
      cos_[static_cast<long>(p) * half_ + i] = static_cast<float>(std::cos(angle));
      sin_[static_cast<long>(p) * half_ + i] = static_cast<float>(std::sin(angle));
    }
  }
  positions_ = positions;
}

namespace {

// direction +1 rotates forward, -1 applies the transpose.
void rotate(float* x, int T, int n_heads, int pos0, const RopeTable& table, float direction) {
  const int d = table.head_dim();
  const int half = d / 2;
  for (int t = 0; t < T; ++t) {
    const float* c = table.cos_at(pos0 + t);
    const float* s = table.sin_at(pos0 + t);
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (static_cast<long>(t) * n_heads + h) * d;
      for (int i = 0; i < half; ++i) {
        const float a = v[i], b = v[i + half];
        const float si = direction * s[i];
        v[i] = a * c[i] - b * si;
        v[i + half] = b * c[i] + a * si;
      }
    }
  }
}

}  // namespace

void rope_forward(float* x, int T, int n_heads, int pos0, const RopeTable& table) {
  rotate(x, T, n_heads, pos0, table, 1.0f);
}

void rope_backward(float* dx, int T, int n_heads, int pos0, const RopeTable& table) {
  rotate(dx, T, n_heads, pos0, table, -1.0f);
}

}  // namespace circal
