#pragma once
// The index convention of a block-circulant matrix C [m, n] with block size b, stored as
// c [p, q, b] with p = ceil(m / b), q = ceil(n / b): block (i, j) is circulant with first
// column c_ij, C[r, s] = c_ij[(r - s) mod b] (tests/reference/README.md). One home for it.
#include <cstddef>
#include <string>

#include "pipeline/base/errors.hpp"

namespace circal {

// Blocks of b that cover `width` (the last one zero-padded).
inline int block_count(int width, int b) { return (width + b - 1) / b; }

// Position in c [p, q, b] of C's entry (r, s): block (r / b, s / b), wrapped diagonal
// (r - s) mod b.
inline std::size_t circulant_index(int r, int s, int b, int q) {
  return (std::size_t(r / b) * q + s / b) * b + std::size_t(((r % b) - (s % b) + b) % b);
}

// FFT-based products need an even block size (the r2c spectrum's Nyquist bin).
inline void check_block_size(int b) {
  if (b < 2 || b % 2 != 0)
    fail(kExitUsage, "circulant block size " + std::to_string(b) + " is not an even number >= 2");
}

}  // namespace circal
