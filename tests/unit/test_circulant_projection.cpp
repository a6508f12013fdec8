// Frobenius and data-aware least-squares projections against the float64 reference
// (tests/reference/circulant.h5) and against their defining properties.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/circulant/circulant_projection.hpp"
#include "pipeline/io/checkpoint_reader.hpp"

#include "tests/unit/circulant_test_support.hpp"

namespace {

using circal_test::random_vector;
using circal_test::relative_error;

// Inputs with correlated features (a random mixing of white noise), like hidden states.
std::vector<float> correlated_inputs(int T, int n, unsigned seed) {
  const std::vector<float> white = random_vector(std::size_t(T) * n, seed);
  const std::vector<float> mix = random_vector(std::size_t(n) * n, seed + 1, 1.f / std::sqrt(n));
  std::vector<float> X(white.size(), 0.f);
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        X[std::size_t(t) * n + j] += white[std::size_t(t) * n + i] * mix[std::size_t(i) * n + j];
  return X;
}

}  // namespace

TEST_CASE("projections match the float64 reference for every case") {
  circal::CheckpointReader ref(circal_test::circulant_reference_path());
  for (const std::string& name : ref.children("/")) {
    CAPTURE(name);
    const auto [m, n, b, T] = circal_test::reference_shape(ref, name);
    const std::vector<float> W = ref.read_float(name + "/W");
    const std::vector<float> X = ref.read_float(name + "/X");
    CHECK(relative_error(circal::project_frobenius(W.data(), m, n, b), ref.read_double(name + "/c_frobenius")) < 1e-5);
    if (!ref.exists(name + "/c_least_squares")) continue;
    circal::LeastSquaresProjector projector(W.data(), m, n, b, 100);  // several chunks
    projector.accumulate(X.data(), T);
    CHECK(projector.tokens() == T);
    CHECK(relative_error(projector.solve_absolute(0.0), ref.read_double(name + "/c_least_squares")) < 1e-4);
    const std::string ridged = name + "/c_least_squares_ridge";
    const double ridge = ref.attr_double(ridged, "ridge");
    // The reference penalty is ridge * ||C||_F^2 with `ridge` absolute (it matches to 1e-7);
    // its value is 0.1 * sum_t ||x_t||^2 / (n T), i.e. relative ridge 0.1 / T in solve()'s terms.
    CHECK(ridge == doctest::Approx(0.1 * projector.mean_gram_diagonal() / T).epsilon(1e-5));
    CHECK(relative_error(projector.solve_absolute(ridge), ref.read_double(ridged)) < 1e-4);
    CHECK(relative_error(projector.solve(0.1 / T), ref.read_double(ridged)) < 1e-4);
  }
}

TEST_CASE("an exactly block-circulant W is recovered exactly by both projections") {
  struct Shape {
    int m, n, b;
  };
  for (const Shape s : {Shape{64, 48, 16}, Shape{40, 72, 8}, Shape{48, 30, 16}, Shape{50, 30, 16}}) {
    CAPTURE(s.m);
    circal::CirculantLinear probe(s.m, s.n, s.b, nullptr, nullptr);
    std::vector<float> c = random_vector(probe.parameter_count(), 3);
    circal::CirculantLinear op(s.m, s.n, s.b, c.data(), nullptr);
    const std::vector<float> W = op.to_dense();
    const std::vector<float> frob = circal::project_frobenius(W.data(), s.m, s.n, s.b);
    CHECK(circal::relative_frobenius_error(W.data(), frob.data(), s.m, s.n, s.b) < 1e-6);
    // With m % b != 0 the padded outputs of C are not zero but are fitted as zeros (see
    // LeastSquaresProjector), so only the Frobenius projection can be exact there.
    if (s.m % s.b != 0) continue;
    const int T = 300;
    const std::vector<float> X = random_vector(std::size_t(T) * s.n, 4);
    circal::LeastSquaresProjector projector(W.data(), s.m, s.n, s.b);
    projector.accumulate(X.data(), T);
    const std::vector<float> ls = projector.solve(0.0);
    CHECK(circal::relative_frobenius_error(W.data(), ls.data(), s.m, s.n, s.b) < 1e-5);
    CHECK(circal::relative_output_error(W.data(), ls.data(), s.m, s.n, s.b, X.data(), T) < 1e-5);
    if (s.n % s.b == 0) {  // with padded inputs the padded entries of c have no data to fit
      std::vector<double> want(c.begin(), c.end());
      CHECK(relative_error(ls, want) < 1e-5);
    }
  }
}

TEST_CASE("the data-aware output error is never above the Frobenius one on the same inputs") {
  struct Shape {
    int m, n, b;
  };
  for (const Shape s : {Shape{96, 64, 16}, Shape{64, 96, 32}, Shape{48, 40, 8}}) {
    CAPTURE(s.m);
    const int T = 400;
    const std::vector<float> W = random_vector(std::size_t(s.m) * s.n, 31);
    const std::vector<float> X = correlated_inputs(T, s.n, 32);
    circal::LeastSquaresProjector projector(W.data(), s.m, s.n, s.b, 128);
    projector.accumulate(X.data(), T);
    const std::vector<float> frob = circal::project_frobenius(W.data(), s.m, s.n, s.b);
    const double frob_err = circal::relative_output_error(W.data(), frob.data(), s.m, s.n, s.b, X.data(), T);
    for (double ridge : {0.0, 1e-4, 1e-2}) {
      const std::vector<float> ls = projector.solve(ridge);
      const double ls_err = circal::relative_output_error(W.data(), ls.data(), s.m, s.n, s.b, X.data(), T);
      CAPTURE(ridge);
      CHECK(ls_err <= frob_err);
      // Frobenius is the best fit in ||W - C||_F
      CHECK(circal::relative_frobenius_error(W.data(), frob.data(), s.m, s.n, s.b) <=
            circal::relative_frobenius_error(W.data(), ls.data(), s.m, s.n, s.b));
    }
  }
}

TEST_CASE("with white-noise inputs the data-aware projection tends to the Frobenius one") {
  const int m = 32, n = 32, b = 8, T = 20000;
  const std::vector<float> W = random_vector(std::size_t(m) * n, 41);
  const std::vector<float> X = random_vector(std::size_t(T) * n, 42);
  circal::LeastSquaresProjector projector(W.data(), m, n, b);
  projector.accumulate(X.data(), T);
  const std::vector<float> frob = circal::project_frobenius(W.data(), m, n, b);
  CHECK(relative_error(projector.solve(0.0), frob) < 0.05);
}

TEST_CASE("statistics from given outputs equal those computing W x, for two matrices on one input") {
  // Capture hands the teacher pass's own W x to accumulate_statistics_of_outputs; the twin
  // computes W x chunk by chunk. Both GEMMs round alike up to float rounding of y.
  const int n = 40, b = 8, T = 300, chunk = 128;
  const std::vector<int> outs = {56, 24};
  const std::vector<float> X = correlated_inputs(T, n, 41);
  std::vector<std::vector<float>> W, Y;
  for (std::size_t j = 0; j < outs.size(); ++j) {
    W.push_back(random_vector(std::size_t(outs[j]) * n, 42 + unsigned(j)));
    std::vector<float> y(std::size_t(T) * outs[j], 0.f);
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < outs[j]; ++i) {
        double sum = 0;
        for (int k = 0; k < n; ++k) sum += double(W[j][std::size_t(i) * n + k]) * X[std::size_t(t) * n + k];
        y[std::size_t(t) * outs[j] + i] = float(sum);
      }
    Y.push_back(y);
  }
  circal::InputStatistics computed_in(n, b), given_in(n, b);
  std::vector<circal::OutputStatistics> computed, given;
  for (int m : outs) computed.emplace_back(m, n, b), given.emplace_back(m, n, b);
  circal::accumulate_statistics(X.data(), T, chunk, &computed_in, {W[0].data(), W[1].data()},
                                {&computed[0], &computed[1]});
  circal::accumulate_statistics_of_outputs(X.data(), T, chunk, &given_in, {Y[0].data(), Y[1].data()},
                                           {&given[0], &given[1]});
  CHECK(computed_in.values == given_in.values);  // the input side is the same code on the same rows
  for (std::size_t j = 0; j < outs.size(); ++j) {
    CAPTURE(j);
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < given[j].values.size(); ++i) {
      diff = std::max(diff, std::abs(given[j].values[i] - computed[j].values[i]));
      norm = std::max(norm, std::abs(computed[j].values[i]));
    }
    CHECK(norm > 0);
    CHECK(diff / norm < 1e-6);
    // And the least-squares fits agree.
    const std::vector<float> a = circal::solve_least_squares(computed_in, computed[j], 1e-6);
    const std::vector<float> c = circal::solve_least_squares(given_in, given[j], 1e-6);
    CHECK(relative_error(c, a) < 1e-5);
  }
}
