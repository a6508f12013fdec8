#include "pipeline/run_directory.hpp"

#include <fcntl.h>
#include <signal.h>
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

#include "pipeline/errors.hpp"

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

bool process_alive(long pid) { return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM; }

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

// O_CREAT|O_EXCL: of two processes racing for the lock, exactly one creates it.
bool try_create_lock(const std::string& dir, const std::string& lock) {
  const int fd = ::open(lock.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    fail(kExitIo, dir + ": cannot create lock file " + lock + ": " + std::strerror(errno));
  }
  const std::string text = "pid " + std::to_string(::getpid()) + "\nhost " + this_host() + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    std::remove(lock.c_str());
    fail(kExitIo, dir + ": cannot write lock file " + lock);
  }
  return true;
}

std::optional<LockHolder> read_holder_patiently(const std::string& lock) {
  // A holder that has just created the file may not have written its pid yet.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (auto holder = read_holder(lock)) return holder;
    if (!fs::exists(lock)) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

void acquire_lock(const std::string& dir, const std::string& lock) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (try_create_lock(dir, lock)) return;
    const std::optional<LockHolder> holder = read_holder_patiently(lock);
    if (!holder) {
      if (!fs::exists(lock)) continue;  // released meanwhile
      fail(kExitLocked, dir + ": lock file " + lock + " is unreadable (remove it if no circal process runs here)");
    }
    if (holder->host != this_host() || process_alive(holder->pid)) fail(kExitLocked, dir + ": in use by " + describe(*holder));
    std::cerr << "circal: notice: " << dir << ": taking over the stale lock of " << describe(*holder)
              << " (process gone)\n";
    std::remove(lock.c_str());
  }
  fail(kExitLocked, dir + ": cannot take lock file " + lock + " (other processes keep taking it)");
}

}  // namespace

RunDirectory::RunDirectory(MpiContext& mpi, const std::string& path) : mpi_(mpi), path_(path) {
  run_on_root_and_agree(mpi.comm(), kExitIo, [&] {
    require_writable(path_);
    acquire_lock(path_, lock_path());
  });
  holds_lock_ = mpi.is_root();
}

RunDirectory::~RunDirectory() {
  if (!holds_lock_) return;
  // Remove only our own lock: never one another process took over meanwhile.
  const std::optional<LockHolder> holder = read_holder(lock_path());
  if (holder && holder->pid == ::getpid() && holder->host == this_host()) std::remove(lock_path().c_str());
}

}  // namespace circal
