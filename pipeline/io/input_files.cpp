#include "pipeline/io/input_files.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <xxhash.h>

#include <cstdio>
#include <memory>

#include "pipeline/base/errors.hpp"

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
  const std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  if (!state || XXH3_64bits_reset(state.get()) != XXH_OK) fail(kExitInternal, "XXH3: cannot create a hash state");
  std::vector<char> block(std::size_t(4) << 20);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    XXH3_64bits_update(state.get(), block.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) fail(kExitInput, path + ": read error (" + std::strerror(errno) + ")");
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(XXH3_64bits_digest(state.get())));
  return text;
}

const char* content_hash_name() { return "xxh3-64"; }

}  // namespace circal
