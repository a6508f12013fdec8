// parse_safetensors on headers that crashed the fuzz harness (tests/fuzz/corpus/safetensors/crash_*):
// each is refused with a CircalError naming the tensor, instead of overflowing or converting
// a float where an integer belongs.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/safetensors.hpp"

using circal::CircalError;

namespace {

// The safetensors bytes of a header (JSON text) followed by `data_bytes` zero bytes.
std::vector<unsigned char> file_bytes(const std::string& header, size_t data_bytes = 0) {
  std::vector<unsigned char> bytes(8);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(uint64_t(header.size()) >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + data_bytes, 0);
  return bytes;
}

std::string refusal(const std::string& header, size_t data_bytes = 0) {
  const std::vector<unsigned char> bytes = file_bytes(header, data_bytes);
  try {
    circal::parse_safetensors(bytes.data(), bytes.size(), "model.safetensors");
  } catch (const CircalError& e) {
    CHECK(e.code() == circal::kExitInput);
    return e.what();
  }
  return "(accepted)";
}

}  // namespace

TEST_CASE("a shape whose element count overflows 64 bits is refused, not wrapped to 0 bytes") {
  const std::string message =
      refusal(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})");
  CHECK(message.find("model.safetensors") != std::string::npos);
  CHECK(message.find("tensor w") != std::string::npos);
  CHECK(message.find("too large") != std::string::npos);
}

TEST_CASE("a byte count that overflows only after the dtype width is refused") {
  CHECK(refusal(R"({"w":{"dtype":"F16","shape":[4611686018427387904,4],"data_offsets":[0,0]}})").find("too large") !=
        std::string::npos);
}

TEST_CASE("shape and data_offsets entries must be non-negative integers") {
  // 1.5 used to be truncated to 1 and accepted; 1e300 was an undefined conversion.
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4).find("not an integer") !=
        std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}})", 4).find("not an integer") !=
        std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4.5]}})", 4).find("not an integer") !=
        std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4).find("negative") != std::string::npos);
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4).find("negative") != std::string::npos);
}

TEST_CASE("a zero-element tensor is accepted and converts without touching its output") {
  const std::vector<unsigned char> bytes = file_bytes(R"({"w":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})");
  const auto tensors = circal::parse_safetensors(bytes.data(), bytes.size(), "model.safetensors");
  REQUIRE(tensors.count("w") == 1);
  CHECK(tensors.at("w").elements() == 0);
  // An empty std::vector's data() is null: memcpy must not be reached with it (UBSan).
  circal::tensor_to_float32(tensors.at("w"), nullptr);
}
