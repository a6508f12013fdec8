#include "pipeline/io/io_failure.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace circal {

std::string io_failure_reason(const std::string& path, int error) {
  if (error == ENOSPC || error == EFBIG || error == EDQUOT || error == EROFS || error == EACCES)
    return std::string(" (") + std::strerror(error) + ")";
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  struct statvfs fs {};
  // Less than 1 MiB left: HDF5 allocates metadata and chunks in blocks of about that size.
  if (::statvfs(parent.empty() ? "." : parent.c_str(), &fs) == 0 &&
      static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize < (1ull << 20))
    return " (disk full: " + std::to_string(static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize / 1024) +
           " KiB free)";
  struct rlimit limit {};
  struct stat file {};
  if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && ::stat(path.c_str(), &file) == 0 &&
      static_cast<rlim_t>(file.st_size) + (1u << 20) >= limit.rlim_cur)
    return " (file-size limit of " + std::to_string(limit.rlim_cur / 1024) + " KiB reached)";
  return "";
}

}  // namespace circal
