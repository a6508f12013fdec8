#pragma once
// A teacher matrix as it is kept in memory: float32, or the file's BF16/F16 bytes (inside the
// read-only map of its safetensors file, shared by every rank and job of a node through the
// page cache). Float32View is the one way to read it as float32: the pointer itself for a
// float32 tensor, else the exact conversion (tensor_to_float32's) into a reused scratch buffer,
// so the same float32 values enter the same GEMMs either way.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "pipeline/io/safetensors.hpp"

namespace circal {

class ResidentTensor {
 public:
  ResidentTensor() = default;
  ResidentTensor(const float* values) : data_(values) {}  // NOLINT: a float32 tensor, as before
  ResidentTensor(const unsigned char* bytes, TensorDtype dtype) : data_(bytes), dtype_(dtype) {}

  TensorDtype dtype() const { return dtype_; }
  bool is_float32() const { return dtype_ == TensorDtype::F32; }
  explicit operator bool() const { return data_ != nullptr; }
  // The float32 values; CircalError(kExitInternal) when the tensor is kept in another dtype.
  const float* float32() const;
  // Elements [first, first + count) converted to float32 into out (an embedding row).
  void to_float32(int64_t first, int64_t count, float* out) const;

 private:
  const void* data_ = nullptr;
  TensorDtype dtype_ = TensorDtype::F32;
};

// Grow-only float32 buffer a rank reuses for every conversion; one view at a time.
class Float32Scratch {
 public:
  std::size_t capacity() const { return buffer_.size(); }

 private:
  friend class Float32View;
  std::vector<float> buffer_;
  bool in_use_ = false;
};

// `elements` floats of `tensor` as float32, valid while the view lives. `scratch` may be null
// for a float32 tensor (viewed in place).
class Float32View {
 public:
  Float32View(const ResidentTensor& tensor, int64_t elements, Float32Scratch* scratch);
  ~Float32View();
  Float32View(const Float32View&) = delete;
  Float32View& operator=(const Float32View&) = delete;

  const float* data() const { return data_; }

 private:
  const float* data_ = nullptr;
  Float32Scratch* held_ = nullptr;  // the scratch this view converted into
};

}  // namespace circal
