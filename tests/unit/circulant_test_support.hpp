#pragma once
// Helpers shared by the circulant operator and projection tests.
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace circal_test {

inline std::string circulant_reference_path() {
  return std::string(CIRCAL_SOURCE_DIR) + "/../shared/reference/circulant.h5";
}

inline std::vector<float> random_vector(std::size_t size, unsigned seed, float scale = 1.f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.f, scale);
  std::vector<float> v(size);
  for (float& x : v) x = normal(gen);
  return v;
}

// ||got - want|| / ||want||, in double.
template <class Got, class Want>
double relative_error(const std::vector<Got>& got, const std::vector<Want>& want) {
  if (got.size() != want.size()) return INFINITY;
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    diff += (double(got[i]) - double(want[i])) * (double(got[i]) - double(want[i]));
    norm += double(want[i]) * double(want[i]);
  }
  return std::sqrt(diff / norm);
}

}  // namespace circal_test
