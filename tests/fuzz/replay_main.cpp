// Runs a harness over committed inputs without libFuzzer (any compiler): each argument is a
// file or a directory of files, each file one call of LLVMFuzzerTestOneInput. A finding ends
// the process as it would under libFuzzer (uncaught exception, sanitizer report).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::cerr << file.string() << ": unreadable\n";
    return 1;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int inputs = 0, failures = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg = argv[i];
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg))
        if (entry.is_regular_file()) files.push_back(entry.path());
    } else {
      files.push_back(arg);
    }
    for (const auto& file : files) {
      std::cout << "replay " << file.string() << std::endl;  // names the culprit if it crashes
      failures += replay(file);
      ++inputs;
    }
  }
  std::cout << inputs << " inputs replayed, " << failures << " unreadable\n";
  return inputs == 0 || failures != 0;
}
