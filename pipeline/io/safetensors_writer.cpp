#include "pipeline/io/safetensors_writer.hpp"

#include <nlohmann/json.hpp>
#include <algorithm>
#include <cstring>

#include "pipeline/io/atomic_text_file.hpp"

namespace circal {

namespace {

std::vector<const OutputTensor*> in_name_order(std::vector<const OutputTensor*> tensors) {
  std::sort(tensors.begin(), tensors.end(),
            [](const OutputTensor* a, const OutputTensor* b) { return a->name < b->name; });
  return tensors;
}

void put_le16(uint16_t value, unsigned char* out) {
  out[0] = static_cast<unsigned char>(value & 0xffu);
  out[1] = static_cast<unsigned char>(value >> 8);
}

}  // namespace

std::size_t OutputTensor::nbytes() const {
  std::size_t n = dtype_bytes(dtype);
  for (int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

std::string safetensors_header(std::vector<const OutputTensor*> tensors) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::size_t offset = 0;
  for (const OutputTensor* t : in_name_order(std::move(tensors))) {
    header[t->name] = {
        {"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->nbytes()}}};
    offset += t->nbytes();
  }
  std::string json = header.dump();
  // The format asks for the data to start 8-byte aligned and allows trailing spaces in the JSON.
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[std::size_t(i)] = static_cast<char>((uint64_t(json.size()) >> (8 * i)) & 0xffu);
  return bytes + json;
}

void write_safetensors(const std::string& path, const std::vector<OutputTensor>& tensors) {
  std::vector<const OutputTensor*> order;
  for (const OutputTensor& t : tensors) order.push_back(&t);
  order = in_name_order(std::move(order));
  OutputFile file(path);
  const std::string header = safetensors_header(order);
  file.write(header.data(), header.size());
  std::vector<unsigned char> bytes;
  for (const OutputTensor* t : order) {
    bytes.resize(t->nbytes());
    t->fill(bytes.data());
    file.write(bytes.data(), bytes.size());
  }
  file.finish();
}

void float32_to_bytes(const float* values, std::size_t count, TensorDtype dtype, unsigned char* out) {
  switch (dtype) {
    case TensorDtype::F32:
      if (count > 0) std::memcpy(out, values, count * sizeof(float));  // little-endian hosts only, as the reader
      break;
    case TensorDtype::BF16:
      for (std::size_t i = 0; i < count; ++i) put_le16(float_to_bfloat16(values[i]), out + 2 * i);
      break;
    case TensorDtype::F16:
      for (std::size_t i = 0; i < count; ++i) put_le16(float_to_half(values[i]), out + 2 * i);
      break;
  }
}

}  // namespace circal
