#include "pipeline/io/resident_tensor.hpp"

#include "pipeline/base/errors.hpp"

namespace circal {

const float* ResidentTensor::float32() const {
  if (!is_float32())
    fail(kExitInternal, std::string("a teacher matrix is kept in ") + dtype_name(dtype_) +
                            " (model.resident_dtype: file) where float32 is read directly");
  return static_cast<const float*>(data_);
}

void ResidentTensor::to_float32(int64_t first, int64_t count, float* out) const {
  const std::size_t size = dtype_bytes(dtype_);
  const auto* bytes = static_cast<const unsigned char*>(data_) + std::size_t(first) * size;
  tensor_to_float32(TensorInfo{dtype_, {count}, bytes, std::size_t(count) * size}, out);
}

Float32View::Float32View(const ResidentTensor& tensor, int64_t elements, Float32Scratch* scratch) {
  if (tensor.is_float32()) {
    data_ = tensor.float32();
    return;
  }
  if (!scratch) fail(kExitInternal, "a teacher matrix kept in file dtype is read with no scratch buffer");
  if (scratch->in_use_) fail(kExitInternal, "two float32 views of teacher matrices share one scratch buffer");
  if (scratch->buffer_.size() < std::size_t(elements)) scratch->buffer_.resize(std::size_t(elements));
  tensor.to_float32(0, elements, scratch->buffer_.data());
  scratch->in_use_ = true;
  held_ = scratch;
  data_ = scratch->buffer_.data();
}

Float32View::~Float32View() {
  if (held_) held_->in_use_ = false;
}

}  // namespace circal
