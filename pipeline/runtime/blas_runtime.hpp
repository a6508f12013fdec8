#pragma once
// The OpenBLAS runtime: which kernel it picked and how many threads it runs.
// OpenBLAS 0.3.21 does not know recent AVX-512 CPUs and falls back to the slow "Prescott"
// kernel; the kernel is chosen when the library loads, so only OPENBLAS_CORETYPE in the
// environment of a fresh process can change it (see reexec_with_fast_openblas).
#include <string>

namespace circal {

std::string openblas_core_name();
int blas_threads();
void set_blas_threads(int threads);
// runtime.threads: OpenBLAS threads and the OpenMP element-wise loops' threads (FFTW's are set
// by fft_set_threads, in the circulant layer). OpenMP is absent from builds without it: then
// only OpenBLAS follows.
void set_runtime_threads(int threads);

// The faster kernel this CPU can run when OpenBLAS fell back to a generic one
// ("SkylakeX" with AVX-512, "Haswell" with AVX2), or "" when the current one is fine or
// OPENBLAS_CORETYPE is already set by the user.
std::string better_openblas_core();

// For main(), before MPI_Init: when better_openblas_core() names a kernel, sets
// OPENBLAS_CORETYPE to it and re-executes /proc/self/exe with the same argv (once: the
// variable is then set). Returns only when no re-exec happened. CIRCAL_NO_REEXEC=1 opts out.
void reexec_with_fast_openblas(char** argv);

}  // namespace circal
