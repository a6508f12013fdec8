// Weight quantization (pipeline/quantize): RTN and GPTQ against the float64 PyTorch reference
// written from the GPTQ paper (tests/reference/make_quantization.py), RTN against an obvious
// per-weight twin, GPTQ against RTN on the output error it minimises, and the byte counts.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/io/safetensors.hpp"
#include "pipeline/quantize/gptq.hpp"
#include "pipeline/quantize/weight_quantization.hpp"

#include "tests/reference_files.hpp"
#include "tests/unit/circulant_test_support.hpp"
#include "tests/unit/error_of.hpp"

namespace {

using circal::GptqOptions;
using circal::QuantizationGrid;
using circal_test::random_vector;

// Entries where got and want differ at all (both hold s (q - z) with s a half: exact values).
int differing(const std::vector<float>& got, const std::vector<double>& want) {
  int count = 0;
  for (std::size_t i = 0; i < got.size(); ++i) count += double(got[i]) != want[i];
  return got.size() == want.size() ? count : -1;
}

// H = X^T X of correlated inputs X [T, n] with a few loud features.
std::vector<double> input_gram(int T, int n, unsigned seed) {
  const std::vector<float> white = random_vector(std::size_t(T) * n, seed);
  const std::vector<float> mix = random_vector(std::size_t(n) * n, seed + 1, 1.f / std::sqrt(float(n)));
  std::vector<double> X(std::size_t(T) * n, 0.0), H(std::size_t(n) * n, 0.0);
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < n; ++j) {
      double x = white[std::size_t(t) * n + j];
      for (int i = 0; i < n; ++i) x += white[std::size_t(t) * n + i] * mix[std::size_t(i) * n + j];
      X[std::size_t(t) * n + j] = j % 7 == 0 ? 6 * x : x;
    }
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) H[std::size_t(i) * n + j] += X[std::size_t(t) * n + i] * X[std::size_t(t) * n + j];
  return H;
}

}  // namespace

TEST_CASE("RTN and GPTQ match the float64 PyTorch reference of every case") {
  circal::CheckpointReader ref(circal::test::reference_file("quantization.h5"));
  const double percdamp = ref.attr_double("/", "percdamp");
  for (const std::string& name : ref.children("/")) {
    CAPTURE(name);
    const int m = int(ref.attr_int(name, "m")), n = int(ref.attr_int(name, "n"));
    const QuantizationGrid grid{int(ref.attr_int(name, "bits")), int(ref.attr_int(name, "group_size"))};
    const GptqOptions options{grid, percdamp, ref.attr_int(name, "act_order") != 0,
                              int(ref.attr_int(name, "block_columns"))};
    const std::vector<float> W = ref.read_float(name + "/W");
    const std::vector<double> H = ref.read_double(name + "/H");
    CHECK(differing(circal::quantize_rtn(W.data(), m, n, grid).dequantized(), ref.read_double(name + "/rtn")) == 0);
    CHECK(differing(circal::quantize_gptq(W.data(), m, n, H, options).dequantized(), ref.read_double(name + "/gptq")) ==
          0);
  }
}

TEST_CASE("RTN matches the obvious per-weight twin") {
  const int m = 7, n = 45;
  std::vector<float> W = random_vector(std::size_t(m) * n, 11, 0.1f);
  std::fill_n(W.begin() + n, n, 0.f);                                 // a zero row: the range [-1, 1]
  for (int j = 0; j < n; ++j) W[2 * n + j] = std::abs(W[2 * n + j]);  // a positive row: min clamps to 0
  for (int bits : {2, 3, 4, 8})
    for (int group : {1, 8, 16, 45, 64}) {
      CAPTURE(bits);
      CAPTURE(group);
      const circal::QuantizedMatrix q = circal::quantize_rtn(W.data(), m, n, {bits, group});
      const std::vector<float> got = q.dequantized();
      const int max_code = (1 << bits) - 1;
      for (int r = 0; r < m; ++r)
        for (int j = 0; j < n; ++j) {
          const int first = j / group * group, last = std::min(first + group, n);
          double low = 0, high = 0;
          for (int k = first; k < last; ++k) {
            low = std::min<double>(low, W[std::size_t(r) * n + k]);
            high = std::max<double>(high, W[std::size_t(r) * n + k]);
          }
          if (low == 0 && high == 0) low = -1, high = 1;
          const float scale = std::max(circal::half_to_float(circal::float_to_half(float((high - low) / max_code))),
                                       circal::half_to_float(1));
          const double zero = std::clamp(std::nearbyint(-low / scale), 0.0, double(max_code));
          const double code =
              std::clamp(std::nearbyint(W[std::size_t(r) * n + j] / scale) + zero, 0.0, double(max_code));
          REQUIRE(got[std::size_t(r) * n + j] == float(scale * (code - zero)));
          REQUIRE(q.codes[std::size_t(r) * n + j] == int(code));
          // A weight moves by at most half a step, plus what rounding the scale to a half
          // moved the range's ends (half an ulp of the scale per code: 2^-11 relative, or
          // 2^-25 absolute among the subnormal halves).
          const double ulp = std::max(scale / 1024.0, std::ldexp(1.0, -24));
          CHECK(std::abs(got[std::size_t(r) * n + j] - W[std::size_t(r) * n + j]) <= 0.5 * scale + max_code * ulp);
        }
    }
}

TEST_CASE("GPTQ on an identity Gram is RTN: no correlation, no error to spread") {
  const int m = 9, n = 70;
  const std::vector<float> W = random_vector(std::size_t(m) * n, 5, 0.05f);
  std::vector<double> I(std::size_t(n) * n, 0.0);
  for (int j = 0; j < n; ++j) I[std::size_t(j) * n + j] = 1;
  for (bool act_order : {false, true}) {
    const QuantizationGrid grid{3, 16};
    const circal::QuantizedMatrix gptq = circal::quantize_gptq(W.data(), m, n, I, {grid, 0.01, act_order, 32});
    const circal::QuantizedMatrix rtn = circal::quantize_rtn(W.data(), m, n, grid);
    CHECK(gptq.codes == rtn.codes);
    CHECK(gptq.dequantized() == rtn.dequantized());
  }
}

TEST_CASE("GPTQ beats RTN on the output error tr((W - Q) H (W - Q)^T) it minimises") {
  const int m = 24, n = 96;
  const std::vector<float> W = random_vector(std::size_t(m) * n, 9, 0.05f);
  const std::vector<double> H = input_gram(3 * n, n, 21);
  for (int bits : {2, 3, 4, 8})
    for (bool act_order : {false, true}) {
      CAPTURE(bits);
      CAPTURE(act_order);
      const QuantizationGrid grid{bits, 32};
      const std::vector<float> rtn = circal::quantize_rtn(W.data(), m, n, grid).dequantized();
      const std::vector<float> gptq =
          circal::quantize_gptq(W.data(), m, n, H, {grid, 0.01, act_order, 128}).dequantized();
      const double rtn_error = circal::relative_output_error(W.data(), rtn.data(), m, n, H);
      const double gptq_error = circal::relative_output_error(W.data(), gptq.data(), m, n, H);
      CHECK(rtn_error > 0);
      CHECK(gptq_error < 0.9 * rtn_error);
    }
}

TEST_CASE("the scale gradient sum over a group of (q - z) dL/dW: the obvious loop, and exact for a linear loss") {
  // A ragged last group (70 = 4 x 16 + 6), and GPTQ's activation order (groups of scattered columns).
  const int m = 5, n = 70;
  const std::vector<float> W = random_vector(std::size_t(m) * n, 3, 0.05f);
  const std::vector<float> dW = random_vector(std::size_t(m) * n, 4);
  const std::vector<double> H = input_gram(2 * n, n, 8);
  for (bool act_order : {false, true}) {
    CAPTURE(act_order);
    const QuantizationGrid grid{3, 16};
    const circal::QuantizedMatrix q = act_order ? circal::quantize_gptq(W.data(), m, n, H, {grid, 0.01, true, 32})
                                                : circal::quantize_rtn(W.data(), m, n, grid);
    REQUIRE(q.group_of_column.empty() != act_order);
    const std::vector<double> got = q.scale_gradient(dW.data());
    const int groups = q.groups();
    REQUIRE(got.size() == std::size_t(m) * groups);
    // Slow twin: each group's members found by scanning every column.
    for (int r = 0; r < m; ++r)
      for (int g = 0; g < groups; ++g) {
        double want = 0;
        int members = 0;
        for (int j = 0; j < n; ++j)
          if (q.group_of(j) == g) {
            ++members;
            want += double(int(q.codes[std::size_t(r) * n + j]) - int(q.zeros[std::size_t(r) * groups + g])) *
                    double(dW[std::size_t(r) * n + j]);
          }
        CHECK(members == (g == groups - 1 ? n - 16 * (groups - 1) : 16));
        CHECK(got[std::size_t(r) * groups + g] == want);
      }
    // L = sum dW * W_hat is linear in each scale: moving one scale by d moves L by d dL/ds
    // (float64 dequantization, so the difference is exact up to rounding).
    const auto loss = [&](const circal::QuantizedMatrix& quantized) {
      double L = 0;
      for (int r = 0; r < m; ++r)
        for (int j = 0; j < n; ++j) {
          const std::size_t at = std::size_t(r) * groups + quantized.group_of(j);
          L += double(dW[std::size_t(r) * n + j]) * double(quantized.scales[at]) *
               double(int(quantized.codes[std::size_t(r) * n + j]) - int(quantized.zeros[at]));
        }
      return L;
    };
    circal::QuantizedMatrix moved = q;
    const std::size_t g = 2 * std::size_t(groups) + 1;
    moved.scales[g] *= 1.25f;
    CHECK(loss(moved) - loss(q) == doctest::Approx(0.25 * double(q.scales[g]) * got[g]).epsilon(1e-9));
  }
}

TEST_CASE("stored bytes: packed codes and zero points, half scales, the group map") {
  // 3 x 10 at 3 bits, groups of 4: 9 groups; codes 90 bits -> 12 bytes, scales 18 bytes,
  // zero points 27 bits -> 4 bytes; the group map 10 int32.
  CHECK(circal::quantized_storage_bytes(3, 10, {3, 4}, false) == 12 + 18 + 4);
  CHECK(circal::quantized_storage_bytes(3, 10, {3, 4}, true) == 12 + 18 + 4 + 40);
  // 4096 x 4096 at 4 bits, groups of 128: 4 + 16/128 + 4/128 bits per weight.
  CHECK(circal::quantized_storage_bytes(4096, 4096, {4, 128}, false) * 8 ==
        std::size_t(4096) * 4096 * 4 + 4096 * 32 * 20);
  const std::vector<float> W = random_vector(30, 3);
  CHECK(circal::quantize_rtn(W.data(), 3, 10, {3, 4}).storage_bytes() == 34);
  std::vector<double> I(100, 0.0);
  for (int j = 0; j < 10; ++j) I[j * 10 + j] = 1;
  CHECK(circal::quantize_gptq(W.data(), 3, 10, I, {{3, 4}, 0.01, true, 128}).storage_bytes() == 74);
  CHECK(circal::quantize_gptq(W.data(), 3, 10, I, {{3, 4}, 0.01, false, 128}).storage_bytes() == 34);
}

TEST_CASE("GPTQ refuses a Gram it cannot factor, naming percdamp") {
  const std::vector<float> W = random_vector(12, 4);
  std::vector<double> H(16, 0.0);
  for (int j = 0; j < 4; ++j) H[j * 4 + j] = -1;
  const circal::CircalError e = circal::testing::error_of([&] {
    circal::quantize_gptq(W.data(), 3, 4, H, {{4, 4}, 0.01, false, 128});
  });
  CHECK(e.code() == circal::kExitInput);
  CHECK(std::string(e.what()).find("quantize.percdamp") != std::string::npos);
}
