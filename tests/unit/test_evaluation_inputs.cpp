// The evaluate stage's zero-operator baseline.
#include <doctest/doctest.h>

#include <vector>

#include "stages/common/zeroed_student.hpp"

using namespace circal;

TEST_CASE("ZeroLinear maps everything to zero, forward and backward") {
  ZeroLinear zero(3, 2);
  CHECK(zero.out_features() == 3);
  CHECK(zero.in_features() == 2);
  const std::vector<float> x = {1, 2, 3, 4};
  std::vector<float> y(6, 7.0f), dx(4, 7.0f);
  zero.forward(x.data(), y.data(), 2);
  zero.backward(x.data(), y.data(), dx.data(), 2);
  CHECK(y == std::vector<float>(6, 0.0f));
  CHECK(dx == std::vector<float>(4, 0.0f));
}
