// The full input Gram of capture: its tiled accumulation must give the bits of token-by-token
// rank-1 updates (what makes capture.h5 bit-identical at any rank count and from run to run),
// and the value sum_t x_t x_t^T.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "pipeline/circulant/projection_statistics.hpp"
#include "tests/unit/circulant_test_support.hpp"

namespace {

// The lower triangle by rank-1 updates, one token after the other.
std::vector<double> token_by_token(const std::vector<float>& X, int n) {
  std::vector<double> H(std::size_t(n) * n, 0.0);
  for (std::size_t t = 0; t < X.size() / n; ++t)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j <= i; ++j) H[std::size_t(i) * n + j] += double(X[t * n + i]) * double(X[t * n + j]);
  return H;
}

}  // namespace

TEST_CASE("the tiled full Gram has the bits of token-by-token rank-1 updates, at any chunk and width") {
  for (const int n : {1, 17, 300}) {
    const int T = 700;
    const std::vector<float> X = circal_test::random_vector(std::size_t(T) * n, 11 + n);
    const std::vector<double> want = token_by_token(X, n);
    for (const int chunk : {1, 64, 1024}) {
      circal::FullGram gram(n);
      gram.accumulate(X.data(), 300, chunk);  // two calls: a chunk boundary inside a batch
      gram.accumulate(X.data() + std::size_t(300) * n, T - 300, chunk);
      CHECK(gram.tokens() == T);
      bool same = true;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j)
          same = same &&
                 std::memcmp(&gram.values[std::size_t(i) * n + j], &want[std::size_t(i) * n + j], sizeof(double)) == 0;
      CHECK_MESSAGE(same, "n ", n, ", chunk ", chunk);
      if (chunk != 64) continue;
      gram.finish();  // both triangles: sum_t x_t x_t^T to float64 rounding
      double worst = 0;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          long double exact = 0;
          for (int t = 0; t < T; ++t) exact += (long double)X[std::size_t(t) * n + i] * X[std::size_t(t) * n + j];
          worst =
              std::max(worst, double(std::fabs(gram.values[std::size_t(i) * n + j] - exact) / (1 + std::fabs(exact))));
        }
      CHECK(worst < 1e-12);
    }
  }
}
