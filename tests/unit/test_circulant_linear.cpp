// CirculantLinear against the float64 reference (tests/reference/circulant.h5), against
// its own dense materialisation on awkward shapes, and against finite differences.
#include <doctest/doctest.h>

#include <cblas.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/io/checkpoint_reader.hpp"

#include "tests/unit/circulant_test_support.hpp"

namespace {

using circal_test::random_vector;
using circal_test::relative_error;

using circal::CirculantLinear;

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Y = X A^T with A dense [m, n].
std::vector<float> dense_forward(const std::vector<float>& A, int m, int n, const std::vector<float>& X, int T) {
  std::vector<float> Y(std::size_t(T) * m);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, m, n, 1.f, X.data(), n, A.data(), n, 0.f, Y.data(), m);
  return Y;
}

struct Shape {
  int m, n, b, T;
};

}  // namespace

TEST_CASE("circulant forward, dX and dc match the float64 reference for every case") {
  circal::CheckpointReader ref(circal_test::circulant_reference_path());
  for (const std::string& name : ref.children("/")) {
    CAPTURE(name);
    const auto [m, n, b, T] = circal_test::reference_shape(ref, name);
    std::vector<float> c = ref.read_float(name + "/c");
    const std::vector<float> X = ref.read_float(name + "/X");
    const std::vector<float> G = ref.read_float(name + "/G");
    std::vector<float> dc(c.size(), 0.f);
    CirculantLinear op(m, n, b, c.data(), dc.data());

    CHECK(relative_error(op.to_dense(), ref.read_double(name + "/C_dense")) < 1e-6);
    std::vector<float> Y(std::size_t(T) * m), dX(std::size_t(T) * n);
    op.forward(X.data(), Y.data(), T);
    CHECK(relative_error(Y, ref.read_double(name + "/Y")) < 1e-5);
    op.backward(X.data(), G.data(), dX.data(), T);
    CHECK(relative_error(dX, ref.read_double(name + "/dX")) < 1e-5);
    CHECK(relative_error(dc, ref.read_double(name + "/dc")) < 1e-5);
    // backward accumulates into dc
    op.backward(X.data(), G.data(), dX.data(), T);
    std::vector<double> twice = ref.read_double(name + "/dc");
    for (double& v : twice) v *= 2;
    CHECK(relative_error(dc, twice) < 1e-5);
  }
}

TEST_CASE("circulant forward and backward equal the dense materialisation on awkward shapes") {
  const std::vector<Shape> shapes = {{50, 30, 16, 7}, {33, 70, 8, 5},    {64, 64, 64, 1},
                                     {17, 9, 2, 3},   {100, 37, 32, 13}, {96, 256, 32, 40}};
  unsigned seed = 1;
  for (const Shape& s : shapes) {
    CAPTURE(s.m);
    CAPTURE(s.n);
    CAPTURE(s.b);
    CirculantLinear probe(s.m, s.n, s.b, nullptr, nullptr);
    std::vector<float> c = random_vector(probe.parameter_count(), seed++);
    std::vector<float> dc(c.size(), 0.f);
    CirculantLinear op(s.m, s.n, s.b, c.data(), dc.data());
    const std::vector<float> A = op.to_dense();
    const std::vector<float> X = random_vector(std::size_t(s.T) * s.n, seed++);
    const std::vector<float> dY = random_vector(std::size_t(s.T) * s.m, seed++);

    std::vector<float> Y(std::size_t(s.T) * s.m), dX(std::size_t(s.T) * s.n);
    op.forward(X.data(), Y.data(), s.T);
    CHECK(relative_error(Y, widen(dense_forward(A, s.m, s.n, X, s.T))) < 1e-5);

    op.backward(X.data(), dY.data(), dX.data(), s.T);
    std::vector<float> dX_dense(dX.size());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.T, s.n, s.m, 1.f, dY.data(), s.m, A.data(), s.n, 0.f,
                dX_dense.data(), s.n);
    CHECK(relative_error(dX, widen(dX_dense)) < 1e-5);

    // dense gradient dW = dY^T X folded onto the wrapped diagonals (DESIGN.md section 2)
    std::vector<float> dW(std::size_t(s.m) * s.n);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.m, s.n, s.T, 1.f, dY.data(), s.m, X.data(), s.n, 0.f,
                dW.data(), s.n);
    std::vector<double> folded(c.size(), 0.0);
    const int q = op.block_cols();
    for (int r = 0; r < s.m; ++r)
      for (int col = 0; col < s.n; ++col)
        folded[(std::size_t(r / s.b) * q + col / s.b) * s.b + ((r % s.b) - (col % s.b) + s.b) % s.b] +=
            dW[std::size_t(r) * s.n + col];
    CHECK(relative_error(dc, folded) < 1e-5);
  }
}

TEST_CASE("circulant backward: the forward's spectrum reused, dX optional, same bits") {
  const Shape s{96, 64, 16, 9};
  CirculantLinear probe(s.m, s.n, s.b, nullptr, nullptr);
  const std::vector<float> c = random_vector(probe.parameter_count(), 21);
  const std::vector<float> X = random_vector(std::size_t(s.T) * s.n, 22);
  const std::vector<float> other = random_vector(X.size(), 23);
  const std::vector<float> dY = random_vector(std::size_t(s.T) * s.m, 24);
  std::vector<float> Y(dY.size());
  // The slow way: backward with no forward before it computes X's spectrum itself.
  std::vector<float> dc_fresh(c.size(), 0.f), dX_fresh(X.size());
  CirculantLinear(s.m, s.n, s.b, c.data(), dc_fresh.data()).backward(X.data(), dY.data(), dX_fresh.data(), s.T);
  SUBCASE("after a forward of the same X") {
    std::vector<float> dc(c.size(), 0.f), dX(X.size());
    CirculantLinear op(s.m, s.n, s.b, c.data(), dc.data());
    op.forward(X.data(), Y.data(), s.T);
    op.backward(X.data(), dY.data(), dX.data(), s.T);
    CHECK(dc == dc_fresh);
    CHECK(dX == dX_fresh);
  }
  SUBCASE("after a forward of another X") {
    std::vector<float> dc(c.size(), 0.f), dX(X.size());
    CirculantLinear op(s.m, s.n, s.b, c.data(), dc.data());
    op.forward(X.data(), Y.data(), s.T);
    op.forward(other.data(), Y.data(), s.T);
    op.backward(X.data(), dY.data(), dX.data(), s.T);
    CHECK(dc == dc_fresh);
  }
  SUBCASE("without dX only the parameter gradient") {
    std::vector<float> dc(c.size(), 0.f);
    CirculantLinear op(s.m, s.n, s.b, c.data(), dc.data());
    op.forward(X.data(), Y.data(), s.T);
    op.backward(X.data(), dY.data(), nullptr, s.T);
    CHECK(dc == dc_fresh);
  }
}

TEST_CASE("circulant gradients agree with central finite differences") {
  const Shape s{20, 12, 8, 3};
  CirculantLinear probe(s.m, s.n, s.b, nullptr, nullptr);
  std::vector<double> c_ref = widen(random_vector(probe.parameter_count(), 11));
  const std::vector<double> X_ref = widen(random_vector(std::size_t(s.T) * s.n, 12));
  const std::vector<float> weights = random_vector(std::size_t(s.T) * s.m, 13);
  // loss = sum(Y * weights), evaluated in float from double copies so steps stay exact
  auto loss = [&](const std::vector<double>& c, const std::vector<double>& X) {
    std::vector<float> cf(c.begin(), c.end()), Xf(X.begin(), X.end()), Y(weights.size());
    CirculantLinear op(s.m, s.n, s.b, cf.data(), nullptr);
    op.forward(Xf.data(), Y.data(), s.T);
    double sum = 0;
    for (std::size_t i = 0; i < Y.size(); ++i) sum += double(Y[i]) * weights[i];
    return sum;
  };
  std::vector<float> c(c_ref.begin(), c_ref.end()), X(X_ref.begin(), X_ref.end());
  std::vector<float> dc(c.size(), 0.f), dX(X.size());
  CirculantLinear op(s.m, s.n, s.b, c.data(), dc.data());
  op.backward(X.data(), weights.data(), dX.data(), s.T);

  const double h = 1e-2;  // loss is linear in each argument: only rounding limits the step
  for (std::size_t i = 0; i < c.size(); i += 7) {
    auto up = c_ref, down = c_ref;
    up[i] += h;
    down[i] -= h;
    CHECK(dc[i] == doctest::Approx((loss(up, X_ref) - loss(down, X_ref)) / (2 * h)).epsilon(1e-3).scale(1.0));
  }
  for (std::size_t i = 0; i < X.size(); i += 5) {
    auto up = X_ref, down = X_ref;
    up[i] += h;
    down[i] -= h;
    CHECK(dX[i] == doctest::Approx((loss(c_ref, up) - loss(c_ref, down)) / (2 * h)).epsilon(1e-3).scale(1.0));
  }
}

TEST_CASE("the cached spectrum follows c only after parameters_changed") {
  const Shape s{32, 32, 16, 4};
  std::vector<float> c = random_vector(2 * 2 * 16, 21);
  const std::vector<float> X = random_vector(std::size_t(s.T) * s.n, 22);
  CirculantLinear op(s.m, s.n, s.b, c.data(), nullptr);
  std::vector<float> Y(std::size_t(s.T) * s.m);
  op.forward(X.data(), Y.data(), s.T);
  for (float& v : c) v *= 2;
  op.parameters_changed();
  op.forward(X.data(), Y.data(), s.T);
  CHECK(relative_error(Y, widen(dense_forward(op.to_dense(), s.m, s.n, X, s.T))) < 1e-5);
}

TEST_CASE("circulant operator rejects odd block sizes") {
  CHECK_THROWS_AS(CirculantLinear(8, 8, 3, nullptr, nullptr), circal::CircalError);
}
