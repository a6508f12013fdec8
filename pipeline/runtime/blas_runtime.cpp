#include "pipeline/runtime/blas_runtime.hpp"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace circal {

std::string openblas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

int blas_threads() { return openblas_get_num_threads(); }

void set_blas_threads(int threads) { openblas_set_num_threads(threads); }

void set_runtime_threads(int threads) {
  set_blas_threads(threads);
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
}

std::string better_openblas_core() {
  if (std::getenv("OPENBLAS_CORETYPE")) return "";
  const std::string core = openblas_core_name();
  const bool generic = core == "Prescott" || core == "Core2" || core == "Nehalem" || core == "Sandybridge" ||
                       core == "Barcelona" || core == "Opteron";
  if (!generic) return "";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return "";
}

void reexec_with_fast_openblas(char** argv) {
  if (const char* off = std::getenv("CIRCAL_NO_REEXEC"); off && std::string(off) == "1") return;
  const std::string core = better_openblas_core();
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  // The binary's own path, not /proc/self/exe: exec takes the process name from the path, and
  // `pgrep circal`, Slurm's and the tests' process lists must still see "circal", not "exe".
  std::error_code error;
  const std::string self = std::filesystem::read_symlink("/proc/self/exe", error).string();
  execv(error ? "/proc/self/exe" : self.c_str(), argv);
  // exec failed: carry on with the slow kernel rather than not at all
}

}  // namespace circal
