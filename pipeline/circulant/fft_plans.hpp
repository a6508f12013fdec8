#pragma once
// FFTW plans for the batched real transforms of the block-circulant operator. FFTW's own
// style: whoever transforms makes its plans once (FftPlan) and keeps them, and afterwards only
// executes; making a plan is not thread-safe, executing one is. Plans are identical on every
// MPI rank: FFTW_MEASURE picks different plans on different ranks (and runs), so under MPI
// the plans are measured on rank 0 only, shared as wisdom with fftwf_mpi_broadcast_wisdom,
// and every rank then plans from that wisdom alone (see plan_collectively).
#include <mpi.h>

#include <fftw3.h>

#include <complex>
#include <cstddef>
#include <functional>
#include <new>
#include <string>

namespace circal {

// howmany = n_outer * n_inner transforms of length `length`; transform (o, i) reads its
// input at o * in_outer + i * in_inner (element stride in_stride) and writes its output at
// o * out_outer + i * out_inner (element stride out_stride). Strides count elements of the
// side's own type (float for the real side, complex for the spectrum).
struct FftBatch {
  int length = 0;
  int n_outer = 1, in_outer = 0, out_outer = 0;
  int n_inner = 1, in_inner = 0, out_inner = 0;
  int in_stride = 1, out_stride = 1;
  auto operator<=>(const FftBatch&) const = default;
};

// Real -> half spectrum (length / 2 + 1 bins per transform), or back; unnormalised (a round
// trip multiplies by length).
enum class FftDirection { RealToComplex, ComplexToReal };

// One FFTW plan of a batch, made with the planner fft_setup chose at fft_threads() threads,
// for arrays with FFTW's SIMD alignment (FftwArray; callers stage other arrays into one, so a
// plan never depends on where a caller's data happens to sit). Move-only; a moved-from or
// default plan holds nothing and refuses to execute.
class FftPlan {
 public:
  FftPlan() = default;
  FftPlan(FftDirection direction, const FftBatch& batch);
  ~FftPlan();
  FftPlan(FftPlan&& other) noexcept;
  FftPlan& operator=(FftPlan&& other) noexcept;
  FftPlan(const FftPlan&) = delete;
  FftPlan& operator=(const FftPlan&) = delete;

  // RealToComplex; keeps `in` (out-of-place r2c preserves its input).
  void execute(const float* in, std::complex<float>* out) const;
  // ComplexToReal; destroys `in`.
  void execute(std::complex<float>* in, float* out) const;

  // True when it was made for (direction, batch) at today's fft_threads(). A planner chosen
  // later by fft_setup applies to plans made after it only (every planner gives plans that
  // are identical on every rank).
  bool fits(FftDirection direction, const FftBatch& batch) const;
  explicit operator bool() const { return plan_ != nullptr; }

 private:
  void check(FftDirection direction, const void* in, const void* out) const;
  fftwf_plan plan_ = nullptr;
  FftDirection direction_ = FftDirection::RealToComplex;
  FftBatch batch_;
  int threads_ = 0;
};

// `plan` itself when it fits (direction, batch), else a new plan put in its place: for a
// holder whose batch can change between calls (the token count of a forward).
FftPlan& refit(FftPlan& plan, FftDirection direction, const FftBatch& batch);

// Collective over comm. Initialises FFTW-MPI, chooses the planner (measure: FFTW_MEASURE,
// else FFTW_ESTIMATE), loads wisdom_file on rank 0 when it exists (empty = none) and
// broadcasts it. Without a call every plan is FFTW_ESTIMATE (deterministic everywhere).
void fft_setup(MPI_Comm comm, const std::string& wisdom_file, bool measure);
// Collective: rank 0 writes the accumulated wisdom to wisdom_file (no-op when empty).
void fft_save_wisdom(MPI_Comm comm, const std::string& wisdom_file);
// Collective: rank 0 runs make_plans with the full planner, the wisdom is broadcast, then
// every other rank runs make_plans from that wisdom, so all ranks hold identical plans.
// make_plans should plan every transform a run needs: the plans live on as wisdom, from which
// every rank later makes the same plans again. Plans first made later by one rank alone use
// wisdom when it has them, else FFTW_ESTIMATE: never a rank-local measure.
void plan_collectively(MPI_Comm comm, const std::function<void()>& make_plans);
// A growable buffer from fftwf_malloc: SIMD-aligned, so every plan made on these buffers is
// the same plan whatever the allocation (caller arrays of other alignments are staged).
template <class T>
class FftwArray {
 public:
  FftwArray() = default;
  ~FftwArray() { fftwf_free(data_); }
  FftwArray(const FftwArray&) = delete;
  FftwArray& operator=(const FftwArray&) = delete;
  // Contents are not kept when it grows.
  T* ensure(std::size_t count) {
    if (count > capacity_) {
      fftwf_free(data_);
      data_ = static_cast<T*>(fftwf_malloc(count * sizeof(T)));
      if (!data_) throw std::bad_alloc();
      capacity_ = count;
    }
    return data_;
  }
  T* data() const { return data_; }

 private:
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// True when FFTW would run a plan made on an FftwArray on this pointer.
bool fftw_aligned(const void* p);

// Threads of the plans made from now on (fftwf_plan_with_nthreads; runtime.threads). A plan
// made at another count no longer fits (FftPlan::fits), so its holder makes it again.
void fft_set_threads(int threads);
int fft_threads();

}  // namespace circal
