#pragma once
// SIGTERM / SIGUSR1 (Slurm's warning before the time limit, a preemption) become a flag that
// the calibration loop checks at step boundaries; the ranks agree on it with one allreduce so
// they all stop after the same step and write the same checkpoint.
#include <mpi.h>

#include <csignal>
#include <string>

namespace circal {

// Installs the handlers for its lifetime and restores the previous ones afterwards.
class StopSignalGuard {
 public:
  StopSignalGuard();
  ~StopSignalGuard();
  StopSignalGuard(const StopSignalGuard&) = delete;
  StopSignalGuard& operator=(const StopSignalGuard&) = delete;

 private:
  struct sigaction previous_term_ {};
  struct sigaction previous_usr1_ {};
};

// This process has received SIGTERM or SIGUSR1 since the last clear (async-signal-safe flag).
bool stop_requested();
// The signal number received last, 0 when none.
int stop_signal_number();
// Forgets a received signal (tests; a new run in the same process).
void clear_stop_request();
// Collective over comm: the stop signal any rank has received ("SIGTERM", "SIGUSR1"), or ""
// on every rank when none has.
std::string agreed_stop_signal(MPI_Comm comm);
// Collective over comm: when any rank has received a stop signal, every rank throws
// CircalError(kExitPreempted, "WHERE: stopped by SIGTERM; WHAT") (the signal any rank got).
// For stages that hold no resumable state: the throw unwinds their writers, which remove
// their temporary files, so nothing a reader would accept is left.
void stop_if_signalled(MPI_Comm comm, const std::string& where, const std::string& what);

}  // namespace circal
