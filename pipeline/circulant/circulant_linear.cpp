#include "pipeline/circulant/circulant_linear.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"

namespace circal {
namespace {

// Distance between the matrices of consecutive bins. Padded by one cache line: T * blocks is
// often a power of two, and bins that far apart fight over the same cache sets (measured:
// ~2x on the transforms at T = 128).
int bin_stride(int matrix_elements) { return matrix_elements + 8; }

// Transform (t, j) of a [T, rows of `ld` floats] real array <-> bin k of a [bins][T][blocks]
// spectrum at k * T * blocks + t * blocks + j.
FftBatch rows_batch(int b, int blocks, int T, int ld) {
  FftBatch batch;
  batch.length = b;
  batch.n_outer = T;
  batch.in_outer = ld;
  batch.out_outer = blocks;
  batch.n_inner = blocks;
  batch.in_inner = b;
  batch.out_inner = 1;
  batch.in_stride = 1;
  batch.out_stride = bin_stride(T * blocks);
  return batch;
}

// The same batch read from the spectrum side (c2r): swap in and out.
FftBatch inverse_of(FftBatch batch) {
  std::swap(batch.in_outer, batch.out_outer);
  std::swap(batch.in_inner, batch.out_inner);
  std::swap(batch.in_stride, batch.out_stride);
  return batch;
}

// Block (i, j) of a [p, q, b] parameter array <-> bin k of a [bins][q][p] spectrum
// (bin matrices bin_stride(p q) apart).
FftBatch parameter_batch(int b, int p, int q) {
  FftBatch batch;
  batch.length = b;
  batch.n_outer = q;
  batch.in_outer = b;
  batch.out_outer = p;
  batch.n_inner = p;  // unit output stride innermost: neighbouring transforms share lines
  batch.in_inner = q * b;
  batch.out_inner = 1;
  batch.in_stride = 1;
  batch.out_stride = bin_stride(p * q);
  return batch;
}

}  // namespace

CirculantLinear::CirculantLinear(int m, int n, int b, const float* c, float* dc)
    : m_(m), n_(n), b_(b), p_(0), q_(0), c_(c), dc_(dc) {
  if (m < 1 || n < 1)
    fail(kExitUsage, "circulant operator: shape " + std::to_string(m) + "x" + std::to_string(n) + " is empty");
  check_block_size(b);
  p_ = block_count(m, b);
  q_ = block_count(n, b);
}

CirculantLinear::Scratch& CirculantLinear::scratch() {
  static Scratch shared;
  return shared;
}

CirculantLinear::~CirculantLinear() {
  // A later operator at this address must not find "its" spectrum.
  if (scratch().spectrum_owner == this) scratch().spectrum_owner = nullptr;
}

void CirculantLinear::refresh_spectrum() {
  const std::size_t size = std::size_t(bins()) * bin_stride(p_ * q_);
  cfloat* cf = cf_.ensure(size);
  const float* c = c_;
  if (!fftw_aligned(c)) {
    float* aligned = scratch().staging.ensure(parameter_count());
    std::memcpy(aligned, c, parameter_count() * sizeof(float));
    c = aligned;
  }
  refit(parameter_plan_, FftDirection::RealToComplex, parameter_batch(b_, p_, q_)).execute(c, cf);
  spectrum_stale_ = false;
}

void CirculantLinear::spectrum_of_rows(FftPlan& plan, const float* A, int width, int blocks, int T, cfloat* out) {
  const int padded = blocks * b_;
  if (width != padded || !fftw_aligned(A)) {
    float* rows = scratch().staging.ensure(std::size_t(T) * padded);
    for (int t = 0; t < T; ++t) {
      std::memcpy(rows + std::size_t(t) * padded, A + std::size_t(t) * width, width * sizeof(float));
      std::fill(rows + std::size_t(t) * padded + width, rows + std::size_t(t + 1) * padded, 0.f);
    }
    A = rows;
  }
  refit(plan, FftDirection::RealToComplex, rows_batch(b_, blocks, T, padded)).execute(A, out);
}

void CirculantLinear::rows_from_spectrum(FftPlan& plan, cfloat* spectrum, int width, int blocks, int T, float* out) {
  const int padded = blocks * b_;
  const FftPlan& inverse = refit(plan, FftDirection::ComplexToReal, inverse_of(rows_batch(b_, blocks, T, padded)));
  if (width == padded && fftw_aligned(out)) {
    inverse.execute(spectrum, out);
    return;
  }
  float* rows = scratch().staging.ensure(std::size_t(T) * padded);
  inverse.execute(spectrum, rows);
  for (int t = 0; t < T; ++t)
    std::memcpy(out + std::size_t(t) * width, rows + std::size_t(t) * padded, width * sizeof(float));
}

void CirculantLinear::forward(const float* X, float* Y, int T) {
  if (T <= 0) return;
  if (spectrum_stale_) refresh_spectrum();
  Scratch& s = scratch();
  cfloat* xf = s.in_spec.ensure(std::size_t(bins()) * bin_stride(T * q_));
  cfloat* yf = s.out_spec.ensure(std::size_t(bins()) * bin_stride(T * p_));
  spectrum_of_rows(input_rows_plan_, X, n_, q_, T, xf);
  s.spectrum_owner = this;
  s.spectrum_rows_of = X;
  s.spectrum_rows = T;
  // FFTW is unnormalised: the 1/b of the inverse transform rides on alpha.
  const cfloat alpha(1.f / b_), beta(0.f);
  for (int k = 0; k < bins(); ++k)
    cblas_cgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, p_, T, q_, &alpha,
                cf_.data() + std::size_t(k) * bin_stride(p_ * q_), p_, xf + std::size_t(k) * bin_stride(q_ * T), q_,
                &beta, yf + std::size_t(k) * bin_stride(p_ * T), p_);
  rows_from_spectrum(output_plan_, yf, m_, p_, T, Y);
}

void CirculantLinear::backward(const float* X, const float* dY, float* dX, int T) {
  if (T <= 0) return;
  if (spectrum_stale_) refresh_spectrum();
  Scratch& s = scratch();
  // ensure() keeps the contents only when the buffer does not grow: check the size first.
  const bool have_x_spectrum =
      s.spectrum_owner == this && X == s.spectrum_rows_of && T == s.spectrum_rows && s.in_spec.data() != nullptr;
  cfloat* dyf = s.out_spec.ensure(std::size_t(bins()) * bin_stride(T * p_));
  cfloat* xf = s.in_spec.ensure(std::size_t(bins()) * bin_stride(T * q_));
  s.spectrum_owner = nullptr;  // xf is about to hold dX's spectrum
  spectrum_of_rows(output_rows_plan_, dY, m_, p_, T, dyf);
  if (dc_) {
    if (!have_x_spectrum) spectrum_of_rows(input_rows_plan_, X, n_, q_, T, xf);
    accumulate_parameter_gradient(dyf, xf, T);
  }
  if (!dX) return;
  const cfloat alpha(1.f / b_), beta(0.f);
  for (int k = 0; k < bins(); ++k)
    cblas_cgemm(CblasColMajor, CblasConjTrans, CblasNoTrans, q_, T, p_, &alpha,
                cf_.data() + std::size_t(k) * bin_stride(p_ * q_), p_, dyf + std::size_t(k) * bin_stride(p_ * T), p_,
                &beta, xf + std::size_t(k) * bin_stride(q_ * T), q_);
  rows_from_spectrum(input_plan_, xf, n_, q_, T, dX);
}

// dc_ij = irFFT(sum_t dYf_i conj(Xf_j)) / b: the adjoint of the forward product, exact
// because the parameters live in the time domain (DESIGN.md section 2).
void CirculantLinear::accumulate_parameter_gradient(const cfloat* dyf, const cfloat* xf, int T) {
  cfloat* gf = scratch().grad_spec.ensure(std::size_t(bins()) * bin_stride(p_ * q_));
  const cfloat alpha(1.f / b_), beta(0.f);
  for (int k = 0; k < bins(); ++k)
    cblas_cgemm(CblasColMajor, CblasNoTrans, CblasConjTrans, p_, q_, T, &alpha,
                dyf + std::size_t(k) * bin_stride(p_ * T), p_, xf + std::size_t(k) * bin_stride(q_ * T), q_, &beta,
                gf + std::size_t(k) * bin_stride(p_ * q_), p_);
  float* block = scratch().dc_block.ensure(parameter_count());
  refit(gradient_plan_, FftDirection::ComplexToReal, inverse_of(parameter_batch(b_, p_, q_))).execute(gf, block);
  cblas_saxpy(static_cast<int>(parameter_count()), 1.f, block, 1, dc_, 1);
}

std::vector<float> CirculantLinear::to_dense() const {
  std::vector<float> W(std::size_t(m_) * n_);
  for (int r = 0; r < m_; ++r)
    for (int s = 0; s < n_; ++s) {
      W[std::size_t(r) * n_ + s] = c_[circulant_index(r, s, b_, q_)];
    }
  return W;
}

void prepare_circulant_plans(MPI_Comm comm, const std::vector<CirculantShape>& shapes) {
  plan_collectively(comm, [&shapes] {
    for (const CirculantShape& shape : shapes) {
      const int p = block_count(shape.m, shape.b), q = block_count(shape.n, shape.b);
      std::vector<float> c(std::size_t(p) * q * shape.b, 0.f), dc(c.size(), 0.f);
      FftwArray<float> x, y;
      x.ensure(std::size_t(shape.tokens) * shape.n);
      y.ensure(std::size_t(shape.tokens) * shape.m);
      std::fill_n(x.data(), std::size_t(shape.tokens) * shape.n, 0.f);
      std::fill_n(y.data(), std::size_t(shape.tokens) * shape.m, 0.f);
      CirculantLinear op(shape.m, shape.n, shape.b, c.data(), dc.data());
      op.forward(x.data(), y.data(), shape.tokens);
      op.backward(x.data(), y.data(), x.data(), shape.tokens);
    }
  });
}

}  // namespace circal
