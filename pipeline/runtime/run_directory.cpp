#include "pipeline/runtime/run_directory.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "pipeline/base/errors.hpp"

namespace circal {

namespace {

namespace fs = std::filesystem;

struct LockHolder {
  long pid = -1;
  std::string host;
};

std::string this_host() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

std::string describe(const LockHolder& holder) {
  return "circal pid " + std::to_string(holder.pid) + " on host " + holder.host;
}

// nullopt when the file is gone or does not (yet) hold both fields.
std::optional<LockHolder> read_holder(const std::string& lock) {
  std::ifstream in(lock);
  LockHolder holder;
  std::string key;
  while (in >> key) {
    if (key == "pid") in >> holder.pid;
    else if (key == "host") in >> holder.host;
  }
  if (holder.pid <= 0 || holder.host.empty()) return std::nullopt;
  return holder;
}

void require_writable(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(kExitIo, dir + ": cannot create run directory: " + ec.message());
  // Permission bits do not tell (root, read-only mounts, full disks): write a probe.
  const std::string probe = dir + "/.circal.probe." + std::to_string(::getpid());
  bool written = false;
  {
    std::ofstream out(probe);
    written = static_cast<bool>(out << "probe\n" << std::flush);
  }
  std::remove(probe.c_str());
  if (!written) fail(kExitIo, dir + ": run directory not writable");
}

std::optional<LockHolder> read_holder_patiently(const std::string& lock) {
  // A holder that has just taken the lock may not have written its pid yet.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (auto holder = read_holder(lock)) return holder;
    if (!fs::exists(lock)) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

// A releasing holder unlinks the file while still locking it: whoever locked that inode
// meanwhile holds a lock on a name that no longer exists, and must start again.
bool still_named(int fd, const std::string& lock) {
  struct stat opened {}, named {};
  return ::fstat(fd, &opened) == 0 && ::stat(lock.c_str(), &named) == 0 && opened.st_dev == named.st_dev &&
         opened.st_ino == named.st_ino;
}

void write_holder(int fd, const std::string& dir, const std::string& lock) {
  const std::string text = "pid " + std::to_string(::getpid()) + "\nhost " + this_host() + "\n";
  const bool ok = ::ftruncate(fd, 0) == 0 &&
                  ::pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  if (!ok) fail(kExitIo, dir + ": cannot write lock file " + lock + ": " + std::strerror(errno));
}

// Returns the open, locked file descriptor.
int acquire_lock(const std::string& dir, const std::string& lock) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail(kExitIo, dir + ": cannot create lock file " + lock + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd);
      if (error != EWOULDBLOCK)
        fail(kExitIo, dir + ": cannot lock " + lock + " (file system without flock?): " + std::strerror(error));
      if (const auto holder = read_holder_patiently(lock)) fail(kExitLocked, dir + ": in use by " + describe(*holder));
      fail(kExitLocked, dir + ": in use by another circal process (lock file " + lock + " names none yet)");
    }
    if (!still_named(fd, lock)) {
      ::close(fd);
      continue;
    }
    if (const auto previous = read_holder(lock)) {
      if (previous->host != this_host()) {
        ::close(fd);
        fail(kExitLocked, dir + ": in use by " + describe(*previous));
      }
      std::cerr << "circal: notice: " << dir << ": taking over the stale lock of " << describe(*previous)
                << " (no process holds it)\n";
    }
    write_holder(fd, dir, lock);
    return fd;
  }
  fail(kExitLocked, dir + ": cannot take lock file " + lock + " (other processes keep taking it)");
}

}  // namespace

RunDirectory::RunDirectory(MpiContext& mpi, const std::string& path) : mpi_(mpi), path_(path) {
  run_on_root_and_agree(mpi.comm(), kExitIo, [&] {
    require_writable(path_);
    lock_fd_ = acquire_lock(path_, lock_path());
  });
}

RunDirectory::~RunDirectory() {
  if (lock_fd_ < 0) return;
  // Unlink before unlocking: a process waiting on this inode then sees it is no longer named.
  std::remove(lock_path().c_str());
  ::close(lock_fd_);
}

}  // namespace circal
