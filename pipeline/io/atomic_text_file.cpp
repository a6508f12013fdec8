#include "pipeline/io/atomic_text_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "pipeline/base/errors.hpp"

namespace circal {

OutputFile::OutputFile(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(kExitIo, path_ + ": cannot create (" + std::strerror(errno) + ")");
}

OutputFile::~OutputFile() {
  if (fd_ < 0) return;
  ::close(fd_);
  std::remove(path_.c_str());
}

void OutputFile::failed(const char* doing) {
  const std::string reason = std::strerror(errno);
  ::close(fd_);
  fd_ = -1;
  std::remove(path_.c_str());
  fail(kExitIo, path_ + ": cannot " + doing + " (" + reason + ")");
}

void OutputFile::write(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd_, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) failed("write");
    done += std::size_t(n);
  }
}

void OutputFile::finish() {
  if (::fsync(fd_) != 0) failed("write");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(path_.c_str());
    fail(kExitIo, path_ + ": cannot write (" + reason + ")");
  }
}

void write_file_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ignored);
  OutputFile file(tmp);
  file.write(content.data(), content.size());
  file.finish();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    fail(kExitIo, path + ": cannot write (" + reason + ")");
  }
}

}  // namespace circal
