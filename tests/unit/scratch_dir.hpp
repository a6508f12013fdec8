#pragma once
// A fresh temporary directory per test, removed at the end of the scope.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace circal::testing {

struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& tag = "test") {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("circal-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  // The path of NAME in the directory.
  std::string file(const std::string& name) const { return (path / name).string(); }
  // Writes NAME with exactly these bytes and returns its path.
  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path / name, std::ios::binary) << bytes;
    return (path / name).string();
  }
};

}  // namespace circal::testing
