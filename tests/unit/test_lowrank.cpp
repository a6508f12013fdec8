// LowRankLinear against its dense twin (U V materialised) and finite differences; the
// truncated and whitened SVD projections against slow obvious twins (eigen decompositions
// of the reduced problems) and against each other on the data objective.
#include <doctest/doctest.h>

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/lowrank/lowrank_linear.hpp"
#include "pipeline/lowrank/lowrank_projection.hpp"

#include "tests/unit/circulant_test_support.hpp"

namespace {

using circal::InputGram;
using circal::LowRankLinear;
using circal_test::random_vector;
using circal_test::relative_error;

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// C [rows, cols] = A [rows, inner] B [inner, cols] (row-major, double).
std::vector<double> matmul(const std::vector<double>& A, const std::vector<double>& B, int rows, int inner, int cols,
                           bool transpose_a = false, bool transpose_b = false) {
  std::vector<double> C(std::size_t(rows) * cols);
  cblas_dgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_b ? CblasTrans : CblasNoTrans, rows,
              cols, inner, 1.0, A.data(), transpose_a ? rows : inner, B.data(), transpose_b ? inner : cols, 0.0,
              C.data(), cols);
  return C;
}

// tr(D H D^T) with D = W - A: the data objective ||(W - A) X||_F^2 when H = X^T X.
double data_objective(const std::vector<float>& W, const std::vector<double>& A, int m, int n,
                      const std::vector<double>& H) {
  std::vector<double> D(A.size());
  for (std::size_t i = 0; i < D.size(); ++i) D[i] = W[i] - A[i];
  const std::vector<double> DH = matmul(D, H, m, n, n);
  double sum = 0;
  for (std::size_t i = 0; i < D.size(); ++i) sum += D[i] * DH[i];
  return sum;
}

// Eigenvectors of symmetric M [k, k] for the `top` largest eigenvalues, as columns [k, top].
std::vector<double> top_eigenvectors(std::vector<double> M, int k, int top, std::vector<double>* values = nullptr) {
  std::vector<double> w(k);
  REQUIRE(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', k, M.data(), k, w.data()) == 0);
  std::vector<double> P(std::size_t(k) * top);
  for (int j = 0; j < top; ++j)  // ascending eigenvalues: take from the end
    for (int i = 0; i < k; ++i) P[std::size_t(i) * top + j] = M[std::size_t(i) * k + (k - 1 - j)];
  if (values) *values = w;
  return P;
}

// Correlated inputs: X = Z M with a random mixing M, so H is far from a multiple of I.
std::vector<float> correlated_inputs(int T, int n, unsigned seed) {
  const std::vector<float> Z = random_vector(std::size_t(T) * n, seed);
  std::vector<float> M = random_vector(std::size_t(n) * n, seed + 1, 0.3f);
  for (int i = 0; i < n; ++i) M[std::size_t(i) * n + i] += float(1 + 3 * (i % 5));
  std::vector<float> X(Z.size());
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, n, n, 1.f, Z.data(), n, M.data(), n, 0.f, X.data(), n);
  return X;
}

}  // namespace

TEST_CASE("low-rank rank matches the circulant parameter count") {
  CHECK(circal::lowrank_rank(256, 768, 16) == 12);
  CHECK(circal::lowrank_parameter_count(256, 768, 12) == 256 * 768 / 16);  // equal here
  for (int b : {4, 8, 16, 32, 64}) {
    for (auto [m, n] : {std::pair{2048, 5632}, std::pair{5632, 2048}, std::pair{100, 37}, std::pair{4096, 11008}}) {
      CAPTURE(m);
      CAPTURE(n);
      CAPTURE(b);
      const int r = circal::lowrank_rank(m, n, b);
      CHECK(double(circal::lowrank_parameter_count(m, n, r)) <= double(m) * n / b);
      CHECK(double(circal::lowrank_parameter_count(m, n, r + 1)) > double(m) * n / b);
    }
  }
}

TEST_CASE("low-rank forward and backward equal the dense twin U V") {
  struct Shape {
    int m, n, r, T;
  };
  unsigned seed = 40;
  for (const Shape& s : {Shape{50, 30, 4, 7}, Shape{33, 70, 1, 5}, Shape{17, 9, 9, 3}, Shape{96, 256, 12, 40}}) {
    CAPTURE(s.m);
    CAPTURE(s.n);
    CAPTURE(s.r);
    const std::vector<float> params = random_vector(circal::lowrank_parameter_count(s.m, s.n, s.r), seed++);
    std::vector<float> grads(params.size(), 0.f);
    LowRankLinear op(s.m, s.n, s.r, params.data(), grads.data());
    const std::vector<double> U = widen({params.begin(), params.begin() + std::size_t(s.m) * s.r});
    const std::vector<double> V = widen({params.begin() + std::size_t(s.m) * s.r, params.end()});
    const std::vector<double> A = matmul(U, V, s.m, s.r, s.n);  // dense twin [m, n]
    CHECK(relative_error(op.to_dense(), A) < 1e-6);

    const std::vector<float> X = random_vector(std::size_t(s.T) * s.n, seed++);
    const std::vector<float> dY = random_vector(std::size_t(s.T) * s.m, seed++);
    std::vector<float> Y(dY.size()), dX(X.size());
    op.forward(X.data(), Y.data(), s.T);
    CHECK(relative_error(Y, matmul(widen(X), A, s.T, s.n, s.m, false, true)) < 1e-5);
    op.backward(X.data(), dY.data(), dX.data(), s.T);
    CHECK(relative_error(dX, matmul(widen(dY), A, s.T, s.m, s.n)) < 1e-5);
    // Dense gradient dW = dY^T X, chained through A = U V: dU = dW V^T, dV = U^T dW.
    const std::vector<double> dW = matmul(widen(dY), widen(X), s.m, s.T, s.n, true);
    const std::vector<double> dU = matmul(dW, V, s.m, s.n, s.r, false, true);
    const std::vector<double> dV = matmul(U, dW, s.r, s.m, s.n, true);
    std::vector<double> expected = dU;
    expected.insert(expected.end(), dV.begin(), dV.end());
    CHECK(relative_error(grads, expected) < 1e-5);
    // backward accumulates
    op.backward(X.data(), dY.data(), nullptr, s.T);
    for (double& v : expected) v *= 2;
    CHECK(relative_error(grads, expected) < 1e-5);
  }
}

TEST_CASE("low-rank backward: the saved Z reused or recomputed gives the same bits") {
  const int m = 40, n = 24, r = 5, T = 6;
  const std::vector<float> params = random_vector(circal::lowrank_parameter_count(m, n, r), 50);
  const std::vector<float> X = random_vector(std::size_t(T) * n, 51), other = random_vector(X.size(), 52);
  const std::vector<float> dY = random_vector(std::size_t(T) * m, 53);
  std::vector<float> Y(dY.size()), fresh(params.size(), 0.f), dX_fresh(X.size());
  LowRankLinear(m, n, r, params.data(), fresh.data()).backward(X.data(), dY.data(), dX_fresh.data(), T);
  std::vector<float> grads(params.size(), 0.f), dX(X.size());
  LowRankLinear op(m, n, r, params.data(), grads.data());
  op.forward(X.data(), Y.data(), T);
  op.backward(X.data(), dY.data(), dX.data(), T);
  CHECK(grads == fresh);
  CHECK(dX == dX_fresh);
  std::fill(grads.begin(), grads.end(), 0.f);
  op.forward(other.data(), Y.data(), T);
  op.backward(X.data(), dY.data(), dX.data(), T);
  CHECK(grads == fresh);
}

TEST_CASE("low-rank gradients agree with central finite differences") {
  const int m = 14, n = 10, r = 3, T = 4;
  const std::vector<double> p_ref = widen(random_vector(circal::lowrank_parameter_count(m, n, r), 60));
  const std::vector<double> X_ref = widen(random_vector(std::size_t(T) * n, 61));
  const std::vector<float> weights = random_vector(std::size_t(T) * m, 62);
  // loss = sum(Y * weights) in double: bilinear in (U, V), so the central difference is exact
  // up to rounding.
  auto loss = [&](const std::vector<double>& p, const std::vector<double>& X) {
    const std::vector<double> U(p.begin(), p.begin() + m * r), V(p.begin() + m * r, p.end());
    const std::vector<double> Y = matmul(X, matmul(U, V, m, r, n), T, n, m, false, true);
    double sum = 0;
    for (std::size_t i = 0; i < Y.size(); ++i) sum += Y[i] * weights[i];
    return sum;
  };
  std::vector<float> p(p_ref.begin(), p_ref.end()), X(X_ref.begin(), X_ref.end());
  std::vector<float> grads(p.size(), 0.f), dX(X.size());
  LowRankLinear op(m, n, r, p.data(), grads.data());
  op.backward(X.data(), weights.data(), dX.data(), T);
  const double h = 1e-3;
  for (std::size_t i = 0; i < p.size(); ++i) {
    auto up = p_ref, down = p_ref;
    up[i] += h;
    down[i] -= h;
    CHECK(grads[i] == doctest::Approx((loss(up, X_ref) - loss(down, X_ref)) / (2 * h)).epsilon(1e-4).scale(1.0));
  }
  for (std::size_t i = 0; i < X.size(); ++i) {
    auto up = X_ref, down = X_ref;
    up[i] += h;
    down[i] -= h;
    CHECK(dX[i] == doctest::Approx((loss(p_ref, up) - loss(p_ref, down)) / (2 * h)).epsilon(1e-4).scale(1.0));
  }
  // A 1% error in one factor's gradient is caught by the same check.
  CHECK_FALSE(grads[0] * 1.01f == doctest::Approx(grads[0]).epsilon(1e-4).scale(1.0));
}

TEST_CASE("truncated SVD is the Eckart-Young optimum, checked by an eigen decomposition of W^T W") {
  const int m = 30, n = 18, r = 5;
  const std::vector<float> W = random_vector(std::size_t(m) * n, 70);
  const std::vector<float> params = circal::project_truncated_svd(W.data(), m, n, r);
  REQUIRE(params.size() == circal::lowrank_parameter_count(m, n, r));
  // Twin: A = W Q Q^T with Q the top-r eigenvectors of W^T W.
  std::vector<double> eigenvalues;
  const std::vector<double> Q = top_eigenvectors(matmul(widen(W), widen(W), n, m, n, true), n, r, &eigenvalues);
  const std::vector<double> twin = matmul(matmul(widen(W), Q, m, n, r), Q, m, r, n, false, true);
  const std::vector<float> A = LowRankLinear(m, n, r, params.data(), nullptr).to_dense();
  CHECK(relative_error(A, twin) < 1e-5);
  double tail = 0, total = 0;  // squared error = the sum of the discarded eigenvalues
  for (int i = 0; i < n; ++i) {
    total += eigenvalues[i];
    if (i < n - r) tail += eigenvalues[i];
  }
  const double error = circal::lowrank_relative_frobenius_error(W.data(), params.data(), m, n, r);
  CHECK(error * error == doctest::Approx(tail / total).epsilon(1e-6));
  // Balanced split: U^T U = V V^T (= the top singular values).
  const std::vector<double> U = widen({params.begin(), params.begin() + m * r});
  const std::vector<double> V = widen({params.begin() + m * r, params.end()});
  CHECK(relative_error(matmul(U, U, r, m, r, true), matmul(V, V, r, n, r, false, true)) < 1e-5);
}

TEST_CASE("whitened SVD minimises the data objective: eigen twin, beats truncated SVD, ridge limit") {
  const int m = 24, n = 20, r = 4, T = 300;
  const std::vector<float> W = random_vector(std::size_t(m) * n, 80);
  const std::vector<float> X = correlated_inputs(T, n, 81);
  InputGram gram(n);
  gram.accumulate(X.data(), 100);  // in pieces, as shards and chunks arrive
  gram.accumulate(X.data() + 100 * n, T - 100);
  CHECK(gram.tokens() == T);
  const std::vector<double> H = gram.matrix();
  CHECK(relative_error(H, matmul(widen(X), widen(X), n, T, n, true)) < 1e-12);

  const double ridge_relative = 1e-3;
  const double ridge = ridge_relative * gram.mean_diagonal();
  const std::vector<float> aware = circal::project_whitened_svd(W.data(), m, n, r, gram, ridge_relative);
  const std::vector<float> svd = circal::project_truncated_svd(W.data(), m, n, r);
  const std::vector<float> A_aware = LowRankLinear(m, n, r, aware.data(), nullptr).to_dense();
  const std::vector<float> A_svd = LowRankLinear(m, n, r, svd.data(), nullptr).to_dense();

  // Twin, without Cholesky or inverse: the optimum of ||(W - A) S||_F over rank r is
  // A = P P^T W with P the top-r eigenvectors of W (H + ridge I) W^T [m, m].
  std::vector<double> Hr = H;
  for (int i = 0; i < n; ++i) Hr[std::size_t(i) * n + i] += ridge;
  const std::vector<double> Wd = widen(W);
  const std::vector<double> P = top_eigenvectors(matmul(matmul(Wd, Hr, m, n, n), Wd, m, n, m, false, true), m, r);
  const std::vector<double> twin = matmul(P, matmul(P, Wd, r, m, n, true), m, r, n);
  CHECK(relative_error(A_aware, twin) < 1e-5);

  // The data objective (with its ridge) and the plain output error: aware below truncated;
  // the Frobenius error the other way round.
  const double objective_aware = data_objective(W, widen(A_aware), m, n, Hr);
  const double objective_svd = data_objective(W, widen(A_svd), m, n, Hr);
  MESSAGE("data objective: whitened " << objective_aware << ", truncated " << objective_svd);
  CHECK(objective_aware < 0.95 * objective_svd);
  const double out_aware = circal::lowrank_relative_output_error(W.data(), aware.data(), m, n, r, H);
  const double out_svd = circal::lowrank_relative_output_error(W.data(), svd.data(), m, n, r, H);
  CHECK(out_aware < out_svd);
  CHECK(std::sqrt(data_objective(W, widen(A_svd), m, n, H) /
                  data_objective(W, std::vector<double>(W.size(), 0.0), m, n, H)) ==
        doctest::Approx(out_svd).epsilon(1e-6));  // A_svd is U V rounded to float
  CHECK(circal::lowrank_relative_frobenius_error(W.data(), svd.data(), m, n, r) <
        circal::lowrank_relative_frobenius_error(W.data(), aware.data(), m, n, r));

  // White inputs (H = c I) make it the truncated SVD; a huge ridge does too.
  std::vector<double> white(std::size_t(n) * n, 0.0);
  for (int i = 0; i < n; ++i) white[std::size_t(i) * n + i] = 7.0;
  const std::vector<float> aware_white = circal::project_whitened_svd(W.data(), m, n, r, white, 0.0);
  CHECK(relative_error(LowRankLinear(m, n, r, aware_white.data(), nullptr).to_dense(), widen(A_svd)) < 1e-5);
  const std::vector<float> aware_ridge = circal::project_whitened_svd(W.data(), m, n, r, gram, 1e9);
  CHECK(relative_error(LowRankLinear(m, n, r, aware_ridge.data(), nullptr).to_dense(), widen(A_svd)) < 1e-5);
}

TEST_CASE("whitened SVD: exact on a rank-r W, refuses a singular Gram without ridge") {
  const int m = 16, n = 12, r = 3, T = 8;  // T < n: H is singular
  std::vector<float> W(std::size_t(m) * n);
  const std::vector<float> factors = random_vector(circal::lowrank_parameter_count(m, n, r), 90);
  W = LowRankLinear(m, n, r, factors.data(), nullptr).to_dense();
  const std::vector<float> X = random_vector(std::size_t(T) * n, 91);
  InputGram gram(n);
  gram.accumulate(X.data(), T);
  CHECK_THROWS_AS(circal::project_whitened_svd(W.data(), m, n, r, gram, 0.0), circal::CircalError);
  const std::vector<float> aware = circal::project_whitened_svd(W.data(), m, n, r, gram, 1e-6);
  CHECK(circal::lowrank_relative_frobenius_error(W.data(), aware.data(), m, n, r) < 1e-5);
  CHECK_THROWS_AS(circal::project_truncated_svd(W.data(), m, n, 13), circal::CircalError);
}
