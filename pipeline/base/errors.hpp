#pragma once
// Every failure a user can cause is a CircalError: a one-line message naming the file, key
// or value, and an exit code from the documented classes below (README "Exit codes").
#include <stdexcept>
#include <string>

namespace circal {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 2,       // bad command line or config (key, type, range, missing config file)
  kExitInput = 3,       // bad input data: model folder, prompt files, tokenizer
  kExitCheckpoint = 4,  // checkpoint missing, truncated, incomplete, of another stage/fingerprint
  kExitIo = 5,          // cannot write: run directory not writable, disk full
  kExitLocked = 6,      // run directory held by another live circal process
  kExitInternal = 70,   // a bug: an invariant broke
  kExitPreempted = 75,  // calibrate checkpointed on SIGTERM/SIGUSR1 and stopped (EX_TEMPFAIL)
};

class CircalError : public std::runtime_error {
 public:
  CircalError(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

[[noreturn]] inline void fail(ExitCode code, const std::string& message) { throw CircalError(code, message); }

}  // namespace circal
