#pragma once
// SIGTERM / SIGUSR1 (Slurm's warning before the time limit, a preemption) become a flag that
// the calibration loop checks at step boundaries; the ranks agree on it with one allreduce so
// they all stop after the same step and write the same checkpoint.
#include <mpi.h>

#include <csignal>

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
// Collective over comm: true on every rank when any rank has received a stop signal.
bool stop_agreed(MPI_Comm comm);

}  // namespace circal
