#pragma once
// Reader of the safetensors format (huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw tensor bytes.
// The file is memory-mapped; tensors are converted to float32 on request.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace circal {

enum class TensorDtype { F32, F16, BF16 };

std::size_t dtype_bytes(TensorDtype dtype);
const char* dtype_name(TensorDtype dtype);

// IEEE half and bfloat16 bit patterns to float32 (both exact).
float half_to_float(uint16_t bits);
float bfloat16_to_float(uint16_t bits);
// float32 to bfloat16 and IEEE half bit patterns for writers: round to nearest, ties to even
// (what torch's .to() does), so a value already representable comes back unchanged; a NaN
// stays a quiet NaN of its sign and a value beyond the largest finite one becomes inf.
uint16_t float_to_bfloat16(float value);
uint16_t float_to_half(float value);

// Read-only memory map of a whole file; unmapped on destruction.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws CircalError(kExitInput)
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile& operator=(MappedFile&&) = delete;

  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

struct TensorInfo {
  TensorDtype dtype;
  std::vector<int64_t> shape;
  const unsigned char* bytes;  // inside the mapping
  std::size_t nbytes;

  int64_t elements() const;
};

// The tensors described by the safetensors bytes [data, data + size): the header is validated
// (see SafetensorsFile) and every TensorInfo points into those bytes. `name` is the file name
// errors carry. Throws CircalError(kExitInput). Separate from the file so it can be driven
// from bytes in memory (tests/fuzz).
std::map<std::string, TensorInfo> parse_safetensors(const unsigned char* data, std::size_t size,
                                                    const std::string& name);

// The tensor's bytes converted to float32; `out` holds info.elements() floats.
void tensor_to_float32(const TensorInfo& info, float* out);

// One .safetensors file, header validated on open: every tensor's dtype is supported and its
// byte range lies inside the file and matches its shape. Errors name the file.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // throws CircalError(kExitInput)

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& tensor(const std::string& name) const;  // throws if absent

  // The tensor converted to float32; `out` holds elements() floats.
  void read_float32(const std::string& name, float* out) const;

 private:
  std::string path_;
  MappedFile map_;
  std::map<std::string, TensorInfo> tensors_;
};

}  // namespace circal
