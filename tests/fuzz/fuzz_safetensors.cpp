// safetensors bytes -> parse_safetensors, then every accepted tensor converted to float32,
// so a header that lies about sizes shows up as an out-of-bounds read or write.
#include <vector>

#include "pipeline/io/safetensors.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  circal::fuzz::accept_or_refuse([&] {
    // An exact-size heap copy: ASan then sees a read past the end of the input.
    const std::vector<unsigned char> bytes(data, data + size);
    for (const auto& [name, info] : circal::parse_safetensors(bytes.data(), bytes.size(), "fuzz.safetensors")) {
      std::vector<float> values(static_cast<size_t>(info.elements()));
      circal::tensor_to_float32(info, values.data());
    }
  });
  return 0;
}
