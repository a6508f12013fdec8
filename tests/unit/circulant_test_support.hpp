#pragma once
// Helpers shared by the circulant operator and projection tests.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "pipeline/io/checkpoint_reader.hpp"
#include "tests/reference_files.hpp"

namespace circal_test {

inline std::string circulant_reference_path() { return circal::test::reference_file("circulant.h5"); }

// The shape of one case of circulant.h5: W [m, n], block size b, T input rows.
struct ReferenceShape {
  int m, n, b, T;
};

inline ReferenceShape reference_shape(const circal::CheckpointReader& ref, const std::string& name) {
  return {static_cast<int>(ref.attr_int(name, "m")), static_cast<int>(ref.attr_int(name, "n")),
          static_cast<int>(ref.attr_int(name, "b")), static_cast<int>(ref.shape(name + "/X")[0])};
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
