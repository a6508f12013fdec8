#include "pipeline/model/ops/vector_exp.hpp"

#include <cmath>

// GCC turns expf calls in `#pragma omp simd` loops (this file is compiled with -fopenmp-simd,
// see CMakeLists.txt) into calls of libmvec's vector variants (_ZGVdN8v_expf in the AVX2 clone,
// _ZGVbN4v_expf in the baseline one) when expf is declared `simd`. glibc's <math.h> makes that
// declaration only under -ffast-math, which would also change the semantics of every other
// line; this is the same declaration alone. libm.so's linker script links libmvec AS_NEEDED.
// Clang knows neither the attribute nor this use: it builds plain loops calling expf.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
extern "C" __attribute__((simd("notinbranch"))) float expf(float) noexcept;
#endif

namespace circal {

CIRCAL_SIMD_CLONES
double exp_shifted_sum(const float* __restrict x, float shift, float scale, float* __restrict e, long n) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (long i = 0; i < n; ++i) {
    e[i] = expf((x[i] - shift) * scale);
    sum += e[i];
  }
  return sum;
}

// x and s may alias, hence no __restrict: each s[i] depends on x[i] alone, which the simd
// loop reads before it writes.
CIRCAL_SIMD_CLONES
void sigmoid(const float* x, float* s, long n) {
#pragma omp simd
  for (long i = 0; i < n; ++i) s[i] = 1.0f / (1.0f + expf(-x[i]));
}

}  // namespace circal
