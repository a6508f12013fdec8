#include "pipeline/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <bit>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>

#include "pipeline/base/errors.hpp"

namespace circal {

namespace {

using nlohmann::json;

// Header bigger than this is not a model header but a corrupt length field (the format's own
// reader caps it at 100 MB too).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

[[noreturn]] void bad_file(const std::string& path, const std::string& problem) {
  fail(kExitInput, path + ": " + problem);
}

TensorDtype parse_dtype(const std::string& path, const std::string& name, const std::string& text) {
  if (text == "F32") return TensorDtype::F32;
  if (text == "F16") return TensorDtype::F16;
  if (text == "BF16") return TensorDtype::BF16;
  bad_file(path, "tensor " + name + " has unsupported dtype " + text + " (supported: F32, F16, BF16)");
}

// A shape extent or byte offset: a non-negative JSON integer. Converting a float or a
// negative number instead would be lossy or undefined.
uint64_t header_count(const std::string& path, const std::string& name, const char* field,
                      const nlohmann::json& value) {
  if (value.is_number_integer() && !value.is_number_unsigned())
    bad_file(path, "tensor " + name + " has a negative " + field + " entry " + value.dump());
  if (!value.is_number_unsigned())
    bad_file(path, "tensor " + name + ": " + field + " entry " + value.dump() + " is not an integer");
  return value.get<uint64_t>();
}

uint64_t read_le64(const unsigned char* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

uint16_t read_le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

}  // namespace

std::size_t dtype_bytes(TensorDtype dtype) { return dtype == TensorDtype::F32 ? 4 : 2; }

const char* dtype_name(TensorDtype dtype) {
  switch (dtype) {
    case TensorDtype::F32: return "F32";
    case TensorDtype::F16: return "F16";
    case TensorDtype::BF16: return "BF16";
  }
  return "?";
}

// By hand rather than through _Float16, which clang < 15 does not offer on x86 (the fuzz and
// sanitizer builds use clang 14).
float half_to_float(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
  if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  const float subnormal = std::ldexp(static_cast<float>(mantissa), -24);  // exact in float
  return sign ? -subnormal : subnormal;
}

float bfloat16_to_float(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

uint16_t float_to_bfloat16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  // Adding 0x7fff plus the kept part's lowest bit carries into it exactly when the dropped half
  // is above the midpoint, or at it with an odd kept part.
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

uint16_t float_to_half(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520, halfway past 65504: inf
  if (magnitude < 0x38800000u) {
    // Below 2^-14 the half is a multiple of 2^-24: scaling by 2^24 is exact and nearbyint
    // rounds to even in the default mode; 1024 is the smallest normal, bits 0x0400 alike.
    const float units = std::nearbyint(std::bit_cast<float>(magnitude) * 0x1p24f);
    return sign | static_cast<uint16_t>(units);
  }
  const uint32_t rebiased = magnitude - 0x38000000u;  // exponent bias 127 -> 15
  return sign | static_cast<uint16_t>((rebiased + 0xfffu + ((rebiased >> 13) & 1u)) >> 13);
}

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(kExitInput, path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(kExitInput, path + ": not a regular file");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail(kExitInput, path + ": cannot memory-map (" + std::strerror(err) + ")");
    }
    data_ = static_cast<const unsigned char*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
}

MappedFile::MappedFile(MappedFile&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
}

int64_t TensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path)
    : path_(path), map_(path), tensors_(parse_safetensors(map_.data(), map_.size(), path)) {}

std::map<std::string, TensorInfo> parse_safetensors(const unsigned char* bytes, std::size_t size,
                                                    const std::string& path) {
  if (size < 8) bad_file(path, "truncated: " + std::to_string(size) + " bytes, no header length");
  const uint64_t header_len = read_le64(bytes);
  if (header_len > kMaxHeaderBytes || header_len > size - 8) {
    bad_file(path, "header length " + std::to_string(header_len) + " out of range (file has " + std::to_string(size) +
                       " bytes)");
  }
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_begin, header_begin + header_len);
  } catch (const nlohmann::json::exception& e) {
    bad_file(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) bad_file(path, "header is not a JSON object");

  const unsigned char* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  std::map<std::string, TensorInfo> tensors;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    try {
      TensorInfo info{};
      info.dtype = parse_dtype(path, name, entry.at("dtype").get<std::string>());
      const json& shape = entry.at("shape");
      if (!shape.is_array()) bad_file(path, "tensor " + name + ": shape is not a list");
      // The byte count is computed overflow-checked: a product that wraps could otherwise
      // match a small data range and the conversion would then write past its buffer.
      uint64_t expected = dtype_bytes(info.dtype);
      for (const json& d : shape) {
        const uint64_t extent = header_count(path, name, "shape", d);
        if (extent > uint64_t(INT64_MAX) || __builtin_mul_overflow(expected, extent, &expected) ||
            expected > uint64_t(INT64_MAX))
          bad_file(path, "tensor " + name + ": shape " + shape.dump() + " is too large");
        info.shape.push_back(static_cast<int64_t>(extent));
      }
      const json& offsets_entry = entry.at("data_offsets");
      if (!offsets_entry.is_array() || offsets_entry.size() != 2)
        bad_file(path, "tensor " + name + ": data_offsets must have 2 entries");
      const uint64_t offsets[2] = {header_count(path, name, "data_offsets", offsets_entry[0]),
                                   header_count(path, name, "data_offsets", offsets_entry[1])};
      if (offsets[0] > offsets[1] || offsets[1] - offsets[0] != expected) {
        bad_file(path, "tensor " + name + ": data_offsets [" + std::to_string(offsets[0]) + ", " +
                           std::to_string(offsets[1]) + "] out of range for " + std::to_string(expected) +
                           " bytes of " + dtype_name(info.dtype));
      }
      if (offsets[1] > data_size) {
        bad_file(path, "truncated: tensor " + name + " ends at data byte " + std::to_string(offsets[1]) +
                           " but the file holds " + std::to_string(data_size));
      }
      info.bytes = data + offsets[0];
      info.nbytes = expected;
      tensors.emplace(name, std::move(info));
    } catch (const nlohmann::json::exception& e) {
      bad_file(path, "tensor " + name + ": malformed header entry (" + e.what() + ")");
    }
  }
  return tensors;
}

const TensorInfo& SafetensorsFile::tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) bad_file(path_, "missing tensor " + name);
  return it->second;
}

void SafetensorsFile::read_float32(const std::string& name, float* out) const { tensor_to_float32(tensor(name), out); }

void tensor_to_float32(const TensorInfo& info, float* out) {
  const int64_t n = info.elements();
  // Byte-wise little-endian reads: the format does not promise aligned tensor offsets.
  switch (info.dtype) {
    case TensorDtype::F32:
      if (info.nbytes > 0) std::memcpy(out, info.bytes, info.nbytes);  // out may be null then
      break;
    case TensorDtype::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = half_to_float(read_le16(info.bytes + 2 * i));
      break;
    case TensorDtype::BF16:
      // The residency of issue 26 runs this before every GEMM: on a little-endian host the
      // plain loads below vectorize (the byte-wise read does not), the same bits either way.
      if constexpr (std::endian::native == std::endian::little) {
        for (int64_t i = 0; i < n; ++i) {
          uint16_t bits;
          std::memcpy(&bits, info.bytes + 2 * i, sizeof bits);
          out[i] = bfloat16_to_float(bits);
        }
      } else {
        for (int64_t i = 0; i < n; ++i) out[i] = bfloat16_to_float(read_le16(info.bytes + 2 * i));
      }
      break;
  }
}

}  // namespace circal
