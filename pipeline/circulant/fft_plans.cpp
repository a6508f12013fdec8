#include "pipeline/circulant/fft_plans.hpp"

#include <fftw3-mpi.h>

#include <algorithm>
#include <map>
#include <memory>
#include <tuple>

#include "pipeline/base/errors.hpp"

namespace circal {
namespace {

enum class Direction { RealToComplex, ComplexToReal };

struct PlanDeleter {
  void operator()(fftwf_plan plan) const { fftwf_destroy_plan(plan); }
};
using PlanHandle = std::unique_ptr<std::remove_pointer_t<fftwf_plan>, PlanDeleter>;

struct FftwBuffer {
  explicit FftwBuffer(std::size_t bytes) : base(static_cast<char*>(fftwf_malloc(bytes + 64))) {}
  ~FftwBuffer() { fftwf_free(base); }
  FftwBuffer(const FftwBuffer&) = delete;
  FftwBuffer& operator=(const FftwBuffer&) = delete;
  char* base;
};

// A plan only runs on arrays with the SIMD alignment it was planned with, so the key holds
// both alignments next to the layout, and the threads it was planned for.
using PlanKey = std::tuple<Direction, FftBatch, int, int, int>;

struct PlannerState {
  bool measure = false;
  bool shared_wisdom = false;  // size > 1: never measure on one rank alone
  bool planning_on_root = false;
  int threads = 1;
  std::map<PlanKey, PlanHandle> plans;
};

PlannerState& state() {
  static PlannerState s;
  return s;
}

// Elements touched by one side of the batch: the last index + 1.
std::size_t extent(int n_outer, int outer, int n_inner, int inner, int count, int stride) {
  return std::size_t(n_outer - 1) * outer + std::size_t(n_inner - 1) * inner +
         std::size_t(count - 1) * stride + 1;
}

fftwf_plan make_plan(Direction dir, const FftBatch& bt, unsigned flags, char* in, char* out) {
  const fftwf_iodim dim{bt.length, bt.in_stride, bt.out_stride};
  const fftwf_iodim loops[2] = {{bt.n_outer, bt.in_outer, bt.out_outer},
                                {bt.n_inner, bt.in_inner, bt.out_inner}};
  if (dir == Direction::RealToComplex)
    return fftwf_plan_guru_dft_r2c(1, &dim, 2, loops, reinterpret_cast<float*>(in),
                                   reinterpret_cast<fftwf_complex*>(out), flags);
  return fftwf_plan_guru_dft_c2r(1, &dim, 2, loops, reinterpret_cast<fftwf_complex*>(in),
                                 reinterpret_cast<float*>(out), flags);
}

PlanHandle plan_on_scratch(Direction dir, const FftBatch& bt, int in_align, int out_align) {
  const int bins = bt.length / 2 + 1;
  const bool r2c = dir == Direction::RealToComplex;
  const std::size_t in_bytes =
      extent(bt.n_outer, bt.in_outer, bt.n_inner, bt.in_inner, r2c ? bt.length : bins,
             bt.in_stride) * (r2c ? sizeof(float) : sizeof(fftwf_complex));
  const std::size_t out_bytes =
      extent(bt.n_outer, bt.out_outer, bt.n_inner, bt.out_inner, r2c ? bins : bt.length,
             bt.out_stride) * (r2c ? sizeof(fftwf_complex) : sizeof(float));
  // Planning may overwrite its arrays: plan on scratch shifted to the callers' alignment.
  FftwBuffer in(in_bytes), out(out_bytes);
  char* in_ptr = in.base + in_align;
  char* out_ptr = out.base + out_align;
  const PlannerState& s = state();
  fftwf_plan plan = nullptr;
  if (!s.measure) {
    plan = make_plan(dir, bt, FFTW_ESTIMATE, in_ptr, out_ptr);
  } else if (!s.shared_wisdom || s.planning_on_root) {
    plan = make_plan(dir, bt, FFTW_MEASURE, in_ptr, out_ptr);
  } else {
    plan = make_plan(dir, bt, FFTW_MEASURE | FFTW_WISDOM_ONLY, in_ptr, out_ptr);
    if (!plan) plan = make_plan(dir, bt, FFTW_ESTIMATE, in_ptr, out_ptr);
  }
  if (!plan) fail(kExitInternal, "FFTW could not plan a batched transform of length " +
                                     std::to_string(bt.length));
  return PlanHandle(plan);
}

fftwf_plan cached_plan(Direction dir, const FftBatch& bt, const void* in, const void* out) {
  const int in_align = fftwf_alignment_of(static_cast<float*>(const_cast<void*>(in)));
  const int out_align = fftwf_alignment_of(static_cast<float*>(const_cast<void*>(out)));
  auto& plans = state().plans;
  const PlanKey key{dir, bt, in_align, out_align, state().threads};
  auto it = plans.find(key);
  if (it == plans.end())
    it = plans.emplace(key, plan_on_scratch(dir, bt, in_align, out_align)).first;
  return it->second.get();
}

}  // namespace

void fft_r2c(const FftBatch& batch, const float* in, std::complex<float>* out) {
  // r2c out of place leaves its input intact (FFTW_PRESERVE_INPUT is its default).
  fftwf_execute_dft_r2c(cached_plan(Direction::RealToComplex, batch, in, out),
                        const_cast<float*>(in), reinterpret_cast<fftwf_complex*>(out));
}

void fft_c2r(const FftBatch& batch, std::complex<float>* in, float* out) {
  fftwf_execute_dft_c2r(cached_plan(Direction::ComplexToReal, batch, in, out),
                        reinterpret_cast<fftwf_complex*>(in), out);
}

// FFTW's threads before FFTW-MPI, as its manual asks.
static void ensure_fftw_threads() {
  static bool initialised = false;
  if (!initialised && !fftwf_init_threads()) fail(kExitInternal, "fftwf_init_threads failed");
  initialised = true;
}

static void ensure_fftw_mpi() {
  ensure_fftw_threads();
  static bool initialised = false;
  if (!initialised) fftwf_mpi_init();
  initialised = true;
}

void fft_set_threads(int threads) {
  ensure_fftw_threads();
  state().threads = std::max(1, threads);
  fftwf_plan_with_nthreads(state().threads);
}

int fft_threads() { return state().threads; }

void fft_setup(MPI_Comm comm, const std::string& wisdom_file, bool measure) {
  ensure_fftw_mpi();
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  PlannerState& s = state();
  s.measure = measure;
  s.shared_wisdom = size > 1;
  int loaded = 1;
  if (rank == 0 && !wisdom_file.empty()) {
    if (FILE* probe = std::fopen(wisdom_file.c_str(), "r")) {
      std::fclose(probe);
      loaded = fftwf_import_wisdom_from_filename(wisdom_file.c_str());
    }
  }
  MPI_Bcast(&loaded, 1, MPI_INT, 0, comm);
  if (!loaded) fail(kExitUsage, "runtime.fftw_wisdom: " + wisdom_file + " is not FFTW wisdom");
  fftwf_mpi_broadcast_wisdom(comm);
}

void fft_save_wisdom(MPI_Comm comm, const std::string& wisdom_file) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  int saved = 1;
  if (rank == 0 && !wisdom_file.empty())
    saved = fftwf_export_wisdom_to_filename(wisdom_file.c_str());
  MPI_Bcast(&saved, 1, MPI_INT, 0, comm);
  if (!saved) fail(kExitIo, "runtime.fftw_wisdom: cannot write " + wisdom_file);
}

void plan_collectively(MPI_Comm comm, const std::function<void()>& make_plans) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  ensure_fftw_mpi();
  PlannerState& s = state();
  if (rank == 0) {
    s.planning_on_root = true;
    make_plans();
    s.planning_on_root = false;
  }
  fftwf_mpi_broadcast_wisdom(comm);
  if (rank != 0) make_plans();
}

bool fftw_aligned(const void* p) {
  return fftwf_alignment_of(static_cast<float*>(const_cast<void*>(p))) == 0;
}

std::size_t fft_plan_count() { return state().plans.size(); }

}  // namespace circal
