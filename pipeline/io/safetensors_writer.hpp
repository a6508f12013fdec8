#pragma once
// Writer of the safetensors format that safetensors.hpp reads: 8-byte little-endian header
// length, the JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {"format":
// "pt"}} padded with spaces so the data start on an 8-byte boundary, then the tensors' bytes
// in header order. Tensors are produced one at a time while writing, so a writer holds one
// tensor in memory, not the model.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/io/safetensors.hpp"

namespace circal {

struct OutputTensor {
  std::string name;
  TensorDtype dtype;
  std::vector<int64_t> shape;
  // Fills `out` (nbytes() of it, little-endian) with the tensor's bytes.
  std::function<void(unsigned char* out)> fill;

  std::size_t nbytes() const;
};

// The header bytes, length field and padding included, for tensors laid out in name order
// (the order HF's writer uses, so offsets grow with the keys).
std::string safetensors_header(std::vector<const OutputTensor*> tensors);

// Writes `tensors` to path; CircalError(kExitIo) naming it when it cannot be written (a partial
// file is removed).
void write_safetensors(const std::string& path, const std::vector<OutputTensor>& tensors);

// Converts float32 values to `dtype`'s little-endian bytes (F32 copied; BF16 and F16 rounded to
// nearest even).
void float32_to_bytes(const float* values, std::size_t count, TensorDtype dtype, unsigned char* out);

}  // namespace circal
