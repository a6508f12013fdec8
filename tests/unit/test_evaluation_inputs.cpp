// The evaluate stage's inputs: prompt families and languages, the zero operator baseline.
#include <doctest/doctest.h>

#include <vector>

#include "stages/test_prompts.hpp"
#include "stages/zeroed_student.hpp"

using namespace circal;

TEST_CASE("prompt family is the text before the first colon, else the first four words") {
  CHECK(prompt_family("Continue: The approximation error can accumulate because") == "Continue");
  CHECK(prompt_family("Complete the sentence: A: B") == "Complete the sentence");
  CHECK(prompt_family("Explain in one sentence why FFT helps.") == "Explain in one sentence");
  CHECK(prompt_family(": odd") == "(none)");
  CHECK(family_language("Fuehre fort") == "DE");
  CHECK(family_language("Vervollstaendige den Satz") == "DE");
  CHECK(family_language("Continue") == "EN");
}

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
