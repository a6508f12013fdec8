// Projection with its tokens sharded over the ranks equals the one-rank answer, and the
// circulant operator runs identical FFTW plans (bitwise identical outputs) on every rank.
#include <doctest/doctest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/circulant/circulant_projection.hpp"
#include "pipeline/circulant/fft_plans.hpp"

#include "tests/unit/circulant_test_support.hpp"

namespace {

using circal_test::random_vector;
using circal_test::relative_error;

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

}  // namespace

TEST_CASE("least-squares projection over token shards equals the one-rank projection") {
  const int m = 72, n = 40, b = 16, T = 203;  // m, n not multiples of b; T not of the rank count
  const std::vector<float> W = random_vector(std::size_t(m) * n, 5);
  const std::vector<float> X = random_vector(std::size_t(T) * n, 6);

  circal::LeastSquaresProjector whole(W.data(), m, n, b, 64);
  whole.accumulate(X.data(), T);
  const std::vector<float> expected = whole.solve(1e-3);

  // rank r holds the prompts r, r + R, ...: here rows in blocks of 10 tokens
  circal::LeastSquaresProjector sharded(W.data(), m, n, b, 64);
  for (int t0 = 10 * world_rank(); t0 < T; t0 += 10 * world_size())
    sharded.accumulate(X.data() + std::size_t(t0) * n, std::min(10, T - t0));
  sharded.allreduce(MPI_COMM_WORLD);
  CHECK(sharded.tokens() == T);
  CHECK(sharded.mean_gram_diagonal() == doctest::Approx(whole.mean_gram_diagonal()).epsilon(1e-12));
  CHECK(relative_error(sharded.solve(1e-3), expected) < 1e-6);
  CHECK(relative_error(sharded.solve_absolute(0.0), whole.solve_absolute(0.0)) < 1e-6);
}

TEST_CASE("collectively planned circulant transforms give bitwise identical results on every rank") {
  circal::fft_setup(MPI_COMM_WORLD, "", true);
  const int m = 96, n = 64, b = 32, T = 24;
  circal::prepare_circulant_plans(MPI_COMM_WORLD, {{m, n, b, T}});
  const std::vector<float> c = random_vector(3 * 2 * 32, 8);
  const std::vector<float> X = random_vector(std::size_t(T) * n, 9);
  circal::CirculantLinear op(m, n, b, c.data(), nullptr);
  std::vector<float> Y(std::size_t(T) * m), Y_root;
  op.forward(X.data(), Y.data(), T);
  Y_root = Y;
  MPI_Bcast(Y_root.data(), static_cast<int>(Y_root.size()), MPI_FLOAT, 0, MPI_COMM_WORLD);
  CHECK(std::equal(Y.begin(), Y.end(), Y_root.begin()));
  circal::fft_setup(MPI_COMM_WORLD, "", false);  // leave the estimate planner for later tests
}
