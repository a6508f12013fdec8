#include "pipeline/runtime/run_directory.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
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
  std::string job;   // SLURM_JOB_ID, empty outside Slurm
  long restart = 0;  // SLURM_RESTART_COUNT: how often Slurm requeued the job
};

std::string this_host() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

LockHolder this_process() {
  LockHolder me;
  me.pid = ::getpid();
  me.host = this_host();
  me.job = environment("SLURM_JOB_ID");
  me.restart = std::atol(environment("SLURM_RESTART_COUNT").c_str());
  return me;
}

std::string describe(const LockHolder& holder) {
  std::string text = "circal pid " + std::to_string(holder.pid) + " on host " + holder.host;
  if (!holder.job.empty()) text += " (Slurm job " + holder.job + ", restart " + std::to_string(holder.restart) + ")";
  return text;
}

// nullopt when the file is gone or does not (yet) hold both fields.
std::optional<LockHolder> read_holder(const std::string& lock) {
  std::ifstream in(lock);
  LockHolder holder;
  std::string key;
  while (in >> key) {
    if (key == "pid")
      in >> holder.pid;
    else if (key == "host")
      in >> holder.host;
    else if (key == "job")
      in >> holder.job;
    else if (key == "restart")
      in >> holder.restart;
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
  struct stat opened {
  }, named{};
  return ::fstat(fd, &opened) == 0 && ::stat(lock.c_str(), &named) == 0 && opened.st_dev == named.st_dev &&
         opened.st_ino == named.st_ino;
}

void write_holder(int fd, const std::string& dir, const std::string& lock) {
  const LockHolder me = this_process();
  std::string text = "pid " + std::to_string(me.pid) + "\nhost " + me.host + "\n";
  if (!me.job.empty()) text += "job " + me.job + "\nrestart " + std::to_string(me.restart) + "\n";
  const bool ok = ::ftruncate(fd, 0) == 0 &&
                  ::pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  if (!ok) fail(kExitIo, dir + ": cannot write lock file " + lock + ": " + std::strerror(errno));
}

// Seconds since the lock file's holder last refreshed it (its mtime).
long seconds_since_refresh(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return 0;
  return static_cast<long>(std::time(nullptr) - st.st_mtime);
}

// Why another host's lock file may be taken over although flock cannot tell: empty when it
// may not be.
std::string gone_because(const LockHolder& previous, long silent_seconds) {
  const LockHolder me = this_process();
  if (!me.job.empty() && previous.job == me.job && previous.restart < me.restart)
    return "an earlier run of this Slurm job";
  if (silent_seconds > kLockStaleSeconds) return "not refreshed for " + std::to_string(silent_seconds) + " s";
  return "";
}

[[noreturn]] void refuse_other_host(const std::string& dir, const std::string& lock, const LockHolder& holder,
                                    long silent_seconds) {
  fail(kExitLocked, dir + ": in use by " + describe(holder) + ": its lock was refreshed " +
                        std::to_string(silent_seconds) + " s ago; it is taken over once not refreshed for " +
                        std::to_string(kLockStaleSeconds) + " s (if " + holder.host + " is down, remove " + lock + ")");
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
      std::string why = "no process holds it";
      if (previous->host != this_host()) {
        const long silent = seconds_since_refresh(fd);
        why = gone_because(*previous, silent);
        if (why.empty()) {
          ::close(fd);
          refuse_other_host(dir, lock, *previous, silent);
        }
      }
      std::cerr << "circal: notice: " << dir << ": taking over the stale lock of " << describe(*previous) << " (" << why
                << ")\n";
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
  if (lock_fd_ >= 0) start_heartbeat();
}

void RunDirectory::start_heartbeat() {
  heartbeat_ = std::thread([this] {
    std::unique_lock<std::mutex> hold(heartbeat_mutex_);
    while (!heartbeat_wake_.wait_for(hold, std::chrono::seconds(kLockHeartbeatSeconds), [this] { return stopping_; }))
      ::futimens(lock_fd_, nullptr);  // a failed refresh only makes the lock look older to other hosts
  });
}

void RunDirectory::stop_heartbeat() {
  if (!heartbeat_.joinable()) return;
  {
    std::lock_guard<std::mutex> hold(heartbeat_mutex_);
    stopping_ = true;
  }
  heartbeat_wake_.notify_all();
  heartbeat_.join();
}

RunDirectory::~RunDirectory() {
  stop_heartbeat();
  if (lock_fd_ < 0) return;
  // Unlink before unlocking: a process waiting on this inode then sees it is no longer named.
  std::remove(lock_path().c_str());
  ::close(lock_fd_);
}

}  // namespace circal
