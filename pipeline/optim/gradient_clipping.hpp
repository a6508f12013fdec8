#pragma once
// Global-norm clipping of one gradient buffer (after the allreduce, so every rank clips alike).
#include <cstddef>

namespace circal {

// Euclidean norm of grads[size], accumulated in double in index order (deterministic).
double global_norm(const float* grads, size_t size);

// Scales grads by max_norm / norm when norm > max_norm (max_norm <= 0 disables clipping).
// Returns the norm before clipping.
double clip_global_norm(float* grads, size_t size, double max_norm);

}  // namespace circal
