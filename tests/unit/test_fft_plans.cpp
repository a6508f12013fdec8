// FftPlan against a naive O(n^2) DFT in double on a strided two-loop batch, and the life of a
// plan: moved from, refitted to another batch, refused on unaligned arrays.
#include <doctest/doctest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <utility>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/fft_plans.hpp"

#include "tests/unit/circulant_test_support.hpp"

namespace {

using circal::FftBatch;
using circal::FftDirection;
using circal::FftPlan;
using circal::FftwArray;
using cfloat = std::complex<float>;
using cdouble = std::complex<double>;

// The layout CirculantLinear transforms its rows in: `rows` rows of `blocks` blocks of length
// b <-> a [bins][rows][blocks] spectrum whose bins lie `bin_stride` apart.
struct Layout {
  int b, blocks, rows, bin_stride;
  int bins() const { return b / 2 + 1; }
  std::size_t real_size() const { return std::size_t(rows) * blocks * b; }
  std::size_t spectrum_size() const { return std::size_t(bins()) * bin_stride; }
  std::size_t real_at(int t, int j, int s) const { return (std::size_t(t) * blocks + j) * b + s; }
  std::size_t bin_at(int t, int j, int k) const { return std::size_t(k) * bin_stride + std::size_t(t) * blocks + j; }
  FftBatch forward() const { return {b, rows, blocks * b, blocks, blocks, b, 1, 1, bin_stride}; }
  FftBatch inverse() const { return {b, rows, blocks, blocks * b, blocks, 1, b, bin_stride, 1}; }
};

// Half spectrum of every block by the definition, in double.
std::vector<cdouble> naive_r2c(const Layout& l, const float* x) {
  std::vector<cdouble> out(l.spectrum_size());
  for (int t = 0; t < l.rows; ++t)
    for (int j = 0; j < l.blocks; ++j)
      for (int k = 0; k < l.bins(); ++k) {
        cdouble sum = 0;
        for (int s = 0; s < l.b; ++s)
          sum += double(x[l.real_at(t, j, s)]) * std::polar(1.0, -2 * std::numbers::pi * k * s / l.b);
        out[l.bin_at(t, j, k)] = sum;
      }
  return out;
}

// The unnormalised inverse of a half spectrum (Hermitian symmetry fills the other half; the
// imaginary parts of bins 0 and b / 2 are ignored, as FFTW does).
std::vector<double> naive_c2r(const Layout& l, const cfloat* f) {
  std::vector<double> out(l.real_size());
  for (int t = 0; t < l.rows; ++t)
    for (int j = 0; j < l.blocks; ++j)
      for (int s = 0; s < l.b; ++s) {
        double sum = 0;
        for (int k = 0; k < l.b; ++k) {
          const bool mirrored = k >= l.bins();
          const cdouble bin = f[l.bin_at(t, j, mirrored ? l.b - k : k)];
          const cdouble v = mirrored ? std::conj(bin) : (k == 0 || 2 * k == l.b) ? cdouble(bin.real()) : bin;
          sum += (v * std::polar(1.0, 2 * std::numbers::pi * k * s / l.b)).real();
        }
        out[l.real_at(t, j, s)] = sum;
      }
  return out;
}

// ||got - want|| / ||want|| over the bins of the layout only (the bin padding is not written).
double spectrum_error(const Layout& l, const cfloat* got, const std::vector<cdouble>& want) {
  double diff = 0, norm = 0;
  for (int t = 0; t < l.rows; ++t)
    for (int j = 0; j < l.blocks; ++j)
      for (int k = 0; k < l.bins(); ++k) {
        const std::size_t at = l.bin_at(t, j, k);
        diff += std::norm(cdouble(got[at]) - want[at]);
        norm += std::norm(want[at]);
      }
  return std::sqrt(diff / norm);
}

const Layout kLayout{16, 3, 5, 5 * 3 + 8};

}  // namespace

TEST_CASE("FftPlan: r2c and c2r of a strided batch equal the naive DFT in double") {
  const Layout l = kLayout;
  const std::vector<float> x = circal_test::random_vector(l.real_size(), 3);
  FftwArray<float> real;
  FftwArray<cfloat> spectrum;
  std::copy(x.begin(), x.end(), real.ensure(l.real_size()));
  spectrum.ensure(l.spectrum_size());
  const FftPlan r2c(FftDirection::RealToComplex, l.forward());
  r2c.execute(real.data(), spectrum.data());
  CHECK(std::equal(x.begin(), x.end(), real.data()));  // r2c keeps its input
  CHECK(spectrum_error(l, spectrum.data(), naive_r2c(l, x.data())) < 1e-6);

  const std::vector<double> want = naive_c2r(l, spectrum.data());
  const FftPlan c2r(FftDirection::ComplexToReal, l.inverse());
  c2r.execute(spectrum.data(), real.data());
  CHECK(circal_test::relative_error(std::vector<float>(real.data(), real.data() + l.real_size()), want) < 1e-6);
  // A round trip multiplies by b.
  for (std::size_t i = 0; i < l.real_size(); ++i) CHECK(real.data()[i] == doctest::Approx(l.b * x[i]).epsilon(1e-4));
}

TEST_CASE("FftPlan: a moved-from plan holds nothing, refuses to run and takes a plan again") {
  const Layout l = kLayout;
  FftwArray<float> real;
  FftwArray<cfloat> spectrum, reference;
  const std::vector<float> x = circal_test::random_vector(l.real_size(), 4);
  std::copy(x.begin(), x.end(), real.ensure(l.real_size()));
  FftPlan first(FftDirection::RealToComplex, l.forward());
  first.execute(real.data(), reference.ensure(l.spectrum_size()));

  FftPlan second(std::move(first));
  CHECK_FALSE(first);
  CHECK(second);
  CHECK_FALSE(first.fits(FftDirection::RealToComplex, l.forward()));
  CHECK_THROWS_AS(first.execute(real.data(), spectrum.ensure(l.spectrum_size())), circal::CircalError);
  second.execute(real.data(), spectrum.data());
  CHECK(spectrum_error(l, spectrum.data(), naive_r2c(l, x.data())) < 1e-6);

  first = std::move(second);  // into the moved-from plan; `second` is destroyed empty
  CHECK(first);
  CHECK_FALSE(second);
  first.execute(real.data(), spectrum.data());
  for (int k = 0; k < l.bins(); ++k) CHECK(spectrum.data()[l.bin_at(0, 0, k)] == reference.data()[l.bin_at(0, 0, k)]);
  second = FftPlan();  // assigning an empty plan to an empty one
  CHECK_FALSE(second);
}

TEST_CASE("FftPlan: refit keeps a fitting plan, replans another batch; wrong use is refused") {
  const Layout l = kLayout;
  FftPlan plan;
  FftPlan& fitted = circal::refit(plan, FftDirection::RealToComplex, l.forward());
  CHECK(&fitted == &plan);
  CHECK(plan.fits(FftDirection::RealToComplex, l.forward()));
  CHECK_FALSE(plan.fits(FftDirection::ComplexToReal, l.inverse()));

  const Layout fewer{l.b, l.blocks, 2, 2 * l.blocks + 8};  // another token count
  circal::refit(plan, FftDirection::RealToComplex, fewer.forward());
  CHECK(plan.fits(FftDirection::RealToComplex, fewer.forward()));
  CHECK_FALSE(plan.fits(FftDirection::RealToComplex, l.forward()));
  const std::vector<float> x = circal_test::random_vector(fewer.real_size(), 5);
  FftwArray<float> real;
  FftwArray<cfloat> spectrum;
  std::copy(x.begin(), x.end(), real.ensure(fewer.real_size() + 1));
  plan.execute(real.data(), spectrum.ensure(fewer.spectrum_size()));
  CHECK(spectrum_error(fewer, spectrum.data(), naive_r2c(fewer, x.data())) < 1e-6);

  CHECK_THROWS_AS(plan.execute(spectrum.data(), real.data()), circal::CircalError);      // r2c plan as c2r
  CHECK_THROWS_AS(plan.execute(real.data() + 1, spectrum.data()), circal::CircalError);  // unaligned
}
