#include "pipeline/optim/gradient_clipping.hpp"

#include <cmath>

namespace circal {

double global_norm(const float* grads, size_t size) {
  double sum = 0.0;
  for (size_t i = 0; i < size; ++i) sum += static_cast<double>(grads[i]) * grads[i];
  return std::sqrt(sum);
}

double clip_global_norm(float* grads, size_t size, double max_norm) {
  const double norm = global_norm(grads, size);
  if (max_norm > 0.0 && norm > max_norm) {
    const float scale = static_cast<float>(max_norm / norm);
    for (size_t i = 0; i < size; ++i) grads[i] *= scale;
  }
  return norm;
}

}  // namespace circal
