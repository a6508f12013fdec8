// The safetensors writer read back by circal's own reader, and the float32 -> bfloat16 / half
// rounding of `circal export --dtype` against slow twins that pick the nearest representable
// value by comparing distances in double (ties to the even bit pattern).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "pipeline/io/safetensors.hpp"
#include "pipeline/io/safetensors_writer.hpp"
#include "tests/unit/error_of.hpp"
#include "tests/unit/scratch_dir.hpp"

using namespace circal;

namespace {

// Of two neighbouring patterns (same sign, magnitudes lo < hi), the one nearer to |value|;
// a tie goes to the even pattern.
uint16_t nearer(double magnitude, uint16_t lo, double lo_value, uint16_t hi, double hi_value) {
  const double below = magnitude - lo_value, above = hi_value - magnitude;
  if (below != above) return below < above ? lo : hi;
  return (lo & 1u) ? hi : lo;
}

// float32 -> bfloat16, obviously: truncate, then maybe step one pattern up. Past the largest
// finite bfloat16 the next step is 2^128 (inf), as IEEE rounding treats overflow.
uint16_t slow_bfloat16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const auto lo = static_cast<uint16_t>(bits >> 16);
  if (std::isinf(value) || bits << 16 == 0) return lo;
  const auto hi = static_cast<uint16_t>(lo + 1);
  const double hi_value = (lo & 0x7fffu) == 0x7f7fu ? std::ldexp(1.0, 128) : std::fabs(double(bfloat16_to_float(hi)));
  return nearer(std::fabs(double(value)), lo, std::fabs(double(bfloat16_to_float(lo))), hi, hi_value);
}

// float32 -> half by search over the table of every non-negative finite half (65536, the
// step past the largest, standing for inf).
uint16_t slow_half(float value) {
  static const std::vector<double> table = [] {
    std::vector<double> t;
    for (uint32_t k = 0; k < 0x7c00u; ++k) t.push_back(double(half_to_float(static_cast<uint16_t>(k))));
    t.push_back(65536.0);
    return t;
  }();
  const uint16_t sign = std::signbit(value) ? 0x8000u : 0u;
  const double magnitude = std::fabs(double(value));
  if (magnitude >= 65536.0) return sign | 0x7c00u;
  const auto k = static_cast<uint16_t>(std::lower_bound(table.begin(), table.end(), magnitude) - table.begin());
  if (table[k] == magnitude) return sign | k;
  return sign | nearer(magnitude, static_cast<uint16_t>(k - 1), table[k - 1u], k, table[k]);
}

float float_of(uint32_t bits) { return std::bit_cast<float>(bits); }

// Random floats and, for every pattern of the narrow type, the float halfway to the next one
// and its neighbours: the ties and near-ties where a rounding bug shows.
std::vector<float> probes(int shift) {
  std::vector<float> values;
  std::mt19937 rng(23);
  for (int i = 0; i < 400000; ++i) {
    const float v = float_of(rng());
    if (!std::isnan(v)) values.push_back(v);
  }
  for (uint32_t k = 0; k < 0x8000u; ++k) {
    const float a = shift == 16 ? bfloat16_to_float(static_cast<uint16_t>(k)) : half_to_float(static_cast<uint16_t>(k));
    const float b =
        shift == 16 ? bfloat16_to_float(static_cast<uint16_t>(k + 1)) : half_to_float(static_cast<uint16_t>(k + 1));
    if (!std::isfinite(a) || !std::isfinite(b)) continue;
    const float mid = float(0.5 * (double(a) + double(b)));  // exact: both are float32 with few bits
    for (float v : {mid, std::nextafter(mid, 0.f), std::nextafter(mid, 1e30f), a}) values.insert(values.end(), {v, -v});
  }
  return values;
}

// How many probes `fast` rounds otherwise than `slow` (the first few reported).
template <class Fast, class Slow>
int mismatches(const std::vector<float>& values, Fast fast, Slow slow) {
  int count = 0;
  for (float v : values) {
    if (fast(v) != slow(v) && ++count < 5)
      FAIL_CHECK("bits " << std::bit_cast<uint32_t>(v) << ": " << fast(v) << " vs " << slow(v));
  }
  return count;
}

}  // namespace

TEST_CASE("float_to_bfloat16 rounds to nearest even like the slow twin, on ties and at random") {
  CHECK(mismatches(probes(16), float_to_bfloat16, slow_bfloat16) == 0);
  CHECK(float_to_bfloat16(1.0f) == 0x3f80u);
  CHECK(float_to_bfloat16(float_of(0x3f808000u)) == 0x3f80u);              // tie, even stays
  CHECK(float_to_bfloat16(float_of(0x3f818000u)) == 0x3f82u);              // tie, odd goes up
  CHECK(float_to_bfloat16(std::numeric_limits<float>::max()) == 0x7f80u);  // overflows to inf
  CHECK(float_to_bfloat16(-std::numeric_limits<float>::infinity()) == 0xff80u);
  CHECK(float_to_bfloat16(float_of(0x00000001u)) == 0x0000u);  // smallest subnormal rounds to 0
  CHECK(float_to_bfloat16(-0.0f) == 0x8000u);
}

TEST_CASE("float_to_half rounds to nearest even like the slow twin, subnormals and overflow included") {
  CHECK(mismatches(probes(13), float_to_half, slow_half) == 0);
  CHECK(float_to_half(65504.0f) == 0x7bffu);
  CHECK(float_to_half(65519.99f) == 0x7bffu);
  CHECK(float_to_half(65520.0f) == 0x7c00u);  // the tie past the largest half goes to inf
  CHECK(float_to_half(std::ldexp(1.0f, -24)) == 0x0001u);
  CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0x0000u);  // tie with 0, even
  CHECK(float_to_half(std::ldexp(1.5f, -25)) == 0x0001u);
  CHECK(float_to_half(-0.0f) == 0x8000u);
}

TEST_CASE("NaN stays a quiet NaN of its sign in both narrow types") {
  for (uint32_t bits : {0x7fc00000u, 0x7f800001u, 0xffc00001u, 0x7fffffffu, 0xff800001u}) {
    const float nan = float_of(bits);
    CHECK(std::isnan(bfloat16_to_float(float_to_bfloat16(nan))));
    CHECK(std::isnan(half_to_float(float_to_half(nan))));
    CHECK(std::signbit(bfloat16_to_float(float_to_bfloat16(nan))) == std::signbit(nan));
    CHECK(std::signbit(half_to_float(float_to_half(nan))) == std::signbit(nan));
  }
}

TEST_CASE("write_safetensors round-trips through circal's reader, header aligned, in name order") {
  const testing::ScratchDir dir("safetensors-writer");
  const std::vector<float> a{1.f, -2.5f, 3.25f, 1e-3f, 7.f, -0.f};
  const std::vector<float> b{0.1f, 65504.f, -1e-8f};
  const std::vector<float> none;
  auto from = [](const std::vector<float>& values, TensorDtype dtype) {
    return [&values, dtype](unsigned char* out) { float32_to_bytes(values.data(), values.size(), dtype, out); };
  };
  const std::vector<OutputTensor> tensors{{"z.weight", TensorDtype::F32, {2, 3}, from(a, TensorDtype::F32)},
                                          {"a.bias", TensorDtype::BF16, {3}, from(b, TensorDtype::BF16)},
                                          {"m.half", TensorDtype::F16, {3, 1}, from(b, TensorDtype::F16)},
                                          {"e.empty", TensorDtype::F32, {0, 4}, from(none, TensorDtype::F32)}};
  const std::string path = dir.file("model.safetensors");
  write_safetensors(path, tensors);

  const SafetensorsFile file(path);
  REQUIRE(file.tensors().size() == 4);
  std::vector<float> got(6);
  file.read_float32("z.weight", got.data());
  CHECK(std::memcmp(got.data(), a.data(), a.size() * sizeof(float)) == 0);  // F32 bit for bit
  CHECK(file.tensor("z.weight").shape == std::vector<int64_t>{2, 3});
  file.read_float32("a.bias", got.data());
  for (int i = 0; i < 3; ++i) CHECK(got[i] == bfloat16_to_float(float_to_bfloat16(b[i])));
  file.read_float32("m.half", got.data());
  for (int i = 0; i < 3; ++i) CHECK(got[i] == half_to_float(float_to_half(b[i])));
  CHECK(file.tensor("e.empty").nbytes == 0);

  std::ifstream in(path, std::ios::binary);
  unsigned char length[8];
  in.read(reinterpret_cast<char*>(length), 8);
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length[i];
  CHECK((8 + header_bytes) % 8 == 0);
  std::string header(header_bytes, '\0');
  in.read(header.data(), std::streamsize(header_bytes));
  const auto json = nlohmann::json::parse(header);
  CHECK(json["__metadata__"]["format"] == "pt");
  // Offsets grow with the names: a.bias, e.empty, m.half, z.weight.
  CHECK(json["a.bias"]["data_offsets"] == nlohmann::json::array({0, 6}));
  CHECK(json["m.half"]["data_offsets"] == nlohmann::json::array({6, 12}));
  CHECK(json["z.weight"]["data_offsets"] == nlohmann::json::array({12, 36}));
}

TEST_CASE("write_safetensors to an unwritable place is an I/O error naming the path, no file left") {
  const testing::ScratchDir dir("safetensors-unwritable");
  const std::string path = dir.file("missing-folder/model.safetensors");
  const CircalError error = testing::error_of([&] { write_safetensors(path, {}); });
  CHECK(error.code() == kExitIo);
  CHECK(std::string(error.what()).find(path + ": cannot create") == 0);
}
