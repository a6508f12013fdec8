/* LD_PRELOAD shim for the signal and kill tests (built by job_control.bash): holds a circal rank
 * at a known point, so a test acts on a state instead of racing the clock.
 *
 * CIRCAL_PAUSE_DIR=DIR CIRCAL_PAUSE_AT=TEXT: the first time the process writes TEXT (fwrite or
 * write; rank 0's log lines such as "project: running"), it creates DIR/paused.PID and waits,
 * before writing, until DIR/go exists.
 * With CIRCAL_PAUSE_DIR set, the SIGTERM/SIGUSR1 handlers circal installs with sigaction are
 * wrapped: after the handler has run, DIR/signal.PID exists (so a test knows the signal arrived).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int paused_once;

static void touch(const char* dir, const char* name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.%d", dir, name, (int)getpid());
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
}

static void maybe_pause(const void* data, size_t size) {
  const char* dir = getenv("CIRCAL_PAUSE_DIR");
  const char* at = getenv("CIRCAL_PAUSE_AT");
  if (paused_once || !dir || !at || !*at || !data || !memmem(data, size, at, strlen(at))) return;
  paused_once = 1;
  char go[4096];
  snprintf(go, sizeof go, "%s/go", dir);
  touch(dir, "paused");
  const struct timespec tick = {0, 2000000};
  while (access(go, F_OK) != 0) nanosleep(&tick, NULL); /* a signal only shortens one tick */
}

size_t fwrite(const void* data, size_t size, size_t count, FILE* stream) {
  static size_t (*real)(const void*, size_t, size_t, FILE*);
  if (!real) real = (size_t(*)(const void*, size_t, size_t, FILE*))dlsym(RTLD_NEXT, "fwrite");
  maybe_pause(data, size * count);
  return real(data, size, count, stream);
}

ssize_t write(int fd, const void* data, size_t size) {
  static ssize_t (*real)(int, const void*, size_t);
  if (!real) real = (ssize_t(*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
  maybe_pause(data, size);
  return real(fd, data, size);
}

static void (*handlers[NSIG])(int);
static char signal_marker[4096];

/* Runs circal's handler, then leaves the marker (open and close are async-signal-safe). */
static void noted_handler(int signal_number) {
  const int saved = errno;
  if (handlers[signal_number]) handlers[signal_number](signal_number);
  int fd = open(signal_marker, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
  errno = saved;
}

int sigaction(int signal_number, const struct sigaction* action, struct sigaction* previous) {
  static int (*real)(int, const struct sigaction*, struct sigaction*);
  if (!real) real = (int (*)(int, const struct sigaction*, struct sigaction*))dlsym(RTLD_NEXT, "sigaction");
  const char* dir = getenv("CIRCAL_PAUSE_DIR");
  int result;
  if (dir && action && (signal_number == SIGTERM || signal_number == SIGUSR1) && !(action->sa_flags & SA_SIGINFO) &&
      action->sa_handler != SIG_DFL && action->sa_handler != SIG_IGN && action->sa_handler != noted_handler) {
    snprintf(signal_marker, sizeof signal_marker, "%s/signal.%d", dir, (int)getpid());
    struct sigaction wrapped = *action;
    wrapped.sa_handler = noted_handler;
    void (*before)(int) = handlers[signal_number];
    handlers[signal_number] = action->sa_handler;
    result = real(signal_number, &wrapped, previous);
    if (previous && previous->sa_handler == noted_handler) previous->sa_handler = before;
    return result;
  }
  result = real(signal_number, action, previous);
  if (previous && previous->sa_handler == noted_handler) previous->sa_handler = handlers[signal_number];
  return result;
}
