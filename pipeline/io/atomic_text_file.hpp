#pragma once
// Text outputs of a stage (metrics.json, report.md) written so a reader sees the old file or
// the new one, never a partial one.
#include <cstddef>
#include <string>

namespace circal {

// A file written from the start: every failure (cannot create, disk full, file-size limit) is a
// CircalError(kExitIo) naming the path and the system's reason. Unless finish() succeeded, the
// destructor closes and removes the partial file.
class OutputFile {
 public:
  explicit OutputFile(std::string path);  // creates or truncates
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  void write(const void* data, std::size_t size);
  void finish();  // fsync and close: the bytes are on disk
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void failed(const char* doing);
  std::string path_;
  int fd_ = -1;
};

// Writes PATH.tmp (creating parent directories), fsyncs it and renames it over PATH.
// CircalError(kExitIo) naming the path and the system's reason on failure.
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace circal
