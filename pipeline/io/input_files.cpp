#include "pipeline/io/input_files.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/base/fnv1a.hpp"

namespace circal {

namespace fs = std::filesystem;

std::ifstream open_input_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(kExitInput, path + ": missing");
  if (!fs::is_regular_file(path, ec)) fail(kExitInput, path + ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(kExitInput, path + ": cannot open (" + std::strerror(errno) + ")");
  return in;
}

std::string file_content_hash(const std::string& path) {
  std::ifstream in = open_input_file(path);
  Fnv1a hash;
  std::vector<char> block(1 << 20);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    hash.mix(block.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) fail(kExitInput, path + ": read error (" + std::strerror(errno) + ")");
  return hash.hex();
}

}  // namespace circal
