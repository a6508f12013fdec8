#include "pipeline/circulant/fft_plans.hpp"

#include <fftw3-mpi.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "pipeline/base/errors.hpp"

namespace circal {
namespace {

struct PlannerState {
  bool measure = false;
  bool shared_wisdom = false;  // size > 1: never measure on one rank alone
  bool planning_on_root = false;
  int threads = 1;
};

PlannerState& state() {
  static PlannerState s;
  return s;
}

struct FftwBuffer {
  explicit FftwBuffer(std::size_t bytes) : base(static_cast<char*>(fftwf_malloc(bytes))) {
    if (!base) throw std::bad_alloc();
  }
  ~FftwBuffer() { fftwf_free(base); }
  FftwBuffer(const FftwBuffer&) = delete;
  FftwBuffer& operator=(const FftwBuffer&) = delete;
  char* base;
};

// Elements touched by one side of the batch: the last index + 1.
std::size_t extent(int n_outer, int outer, int n_inner, int inner, int count, int stride) {
  return std::size_t(n_outer - 1) * outer + std::size_t(n_inner - 1) * inner + std::size_t(count - 1) * stride + 1;
}

fftwf_plan make_plan(FftDirection dir, const FftBatch& bt, unsigned flags, char* in, char* out) {
  const fftwf_iodim dim{bt.length, bt.in_stride, bt.out_stride};
  const fftwf_iodim loops[2] = {{bt.n_outer, bt.in_outer, bt.out_outer}, {bt.n_inner, bt.in_inner, bt.out_inner}};
  if (dir == FftDirection::RealToComplex)
    return fftwf_plan_guru_dft_r2c(1, &dim, 2, loops, reinterpret_cast<float*>(in),
                                   reinterpret_cast<fftwf_complex*>(out), flags);
  return fftwf_plan_guru_dft_c2r(1, &dim, 2, loops, reinterpret_cast<fftwf_complex*>(in), reinterpret_cast<float*>(out),
                                 flags);
}

// FFTW_MEASURE only where every rank gets the same answer: alone, or on rank 0 inside
// plan_collectively; otherwise the shared wisdom, else FFTW_ESTIMATE.
fftwf_plan plan_with_current_planner(FftDirection dir, const FftBatch& bt, char* in, char* out) {
  const PlannerState& s = state();
  if (!s.measure) return make_plan(dir, bt, FFTW_ESTIMATE, in, out);
  if (!s.shared_wisdom || s.planning_on_root) return make_plan(dir, bt, FFTW_MEASURE, in, out);
  if (fftwf_plan plan = make_plan(dir, bt, FFTW_MEASURE | FFTW_WISDOM_ONLY, in, out)) return plan;
  return make_plan(dir, bt, FFTW_ESTIMATE, in, out);
}

fftwf_plan plan_on_scratch(FftDirection dir, const FftBatch& bt) {
  const int bins = bt.length / 2 + 1;
  const bool r2c = dir == FftDirection::RealToComplex;
  const std::size_t in_bytes =
      extent(bt.n_outer, bt.in_outer, bt.n_inner, bt.in_inner, r2c ? bt.length : bins, bt.in_stride) *
      (r2c ? sizeof(float) : sizeof(fftwf_complex));
  const std::size_t out_bytes =
      extent(bt.n_outer, bt.out_outer, bt.n_inner, bt.out_inner, r2c ? bins : bt.length, bt.out_stride) *
      (r2c ? sizeof(fftwf_complex) : sizeof(float));
  // Measuring overwrites the arrays, so never the caller's: aligned scratch like FftwArray.
  FftwBuffer in(in_bytes), out(out_bytes);
  fftwf_plan plan = plan_with_current_planner(dir, bt, in.base, out.base);
  if (!plan) fail(kExitInternal, "FFTW could not plan a batched transform of length " + std::to_string(bt.length));
  return plan;
}

}  // namespace

FftPlan::FftPlan(FftDirection direction, const FftBatch& batch)
    : plan_(plan_on_scratch(direction, batch)), direction_(direction), batch_(batch), threads_(state().threads) {}

FftPlan::~FftPlan() {
  if (plan_) fftwf_destroy_plan(plan_);
}

FftPlan::FftPlan(FftPlan&& other) noexcept
    : plan_(std::exchange(other.plan_, nullptr)),
      direction_(other.direction_),
      batch_(other.batch_),
      threads_(other.threads_) {}

FftPlan& FftPlan::operator=(FftPlan&& other) noexcept {
  if (this != &other) {
    if (plan_) fftwf_destroy_plan(plan_);
    plan_ = std::exchange(other.plan_, nullptr);
    direction_ = other.direction_;
    batch_ = other.batch_;
    threads_ = other.threads_;
  }
  return *this;
}

bool FftPlan::fits(FftDirection direction, const FftBatch& batch) const {
  return plan_ && direction_ == direction && batch_ == batch && threads_ == state().threads;
}

// FFTW's new-array execute is undefined on arrays of another alignment than the planned one.
void FftPlan::check(FftDirection direction, const void* in, const void* out) const {
  if (!plan_) fail(kExitInternal, "FFT plan executed after it was moved from");
  if (direction != direction_) fail(kExitInternal, "FFT plan executed in the wrong direction");
  if (!fftw_aligned(in) || !fftw_aligned(out))
    fail(kExitInternal, "FFT plan executed on arrays without FFTW's alignment (stage them)");
}

void FftPlan::execute(const float* in, std::complex<float>* out) const {
  check(FftDirection::RealToComplex, in, out);
  // The planner's default for out-of-place r2c is FFTW_PRESERVE_INPUT: `in` is only read.
  fftwf_execute_dft_r2c(plan_, const_cast<float*>(in), reinterpret_cast<fftwf_complex*>(out));
}

void FftPlan::execute(std::complex<float>* in, float* out) const {
  check(FftDirection::ComplexToReal, in, out);
  fftwf_execute_dft_c2r(plan_, reinterpret_cast<fftwf_complex*>(in), out);
}

FftPlan& refit(FftPlan& plan, FftDirection direction, const FftBatch& batch) {
  if (!plan.fits(direction, batch)) plan = FftPlan(direction, batch);
  return plan;
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
  if (rank == 0 && !wisdom_file.empty()) saved = fftwf_export_wisdom_to_filename(wisdom_file.c_str());
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

bool fftw_aligned(const void* p) { return fftwf_alignment_of(static_cast<float*>(const_cast<void*>(p))) == 0; }

}  // namespace circal
