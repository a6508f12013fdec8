#include "pipeline/stop_signal.hpp"

namespace circal {

namespace {

volatile std::sig_atomic_t received_signal = 0;

extern "C" void record_stop_signal(int signal_number) { received_signal = signal_number; }

}  // namespace

StopSignalGuard::StopSignalGuard() {
  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // interrupted MPI/HDF5 system calls resume
  sigaction(SIGTERM, &action, &previous_term_);
  sigaction(SIGUSR1, &action, &previous_usr1_);
}

StopSignalGuard::~StopSignalGuard() {
  sigaction(SIGTERM, &previous_term_, nullptr);
  sigaction(SIGUSR1, &previous_usr1_, nullptr);
}

bool stop_requested() { return received_signal != 0; }

int stop_signal_number() { return static_cast<int>(received_signal); }

void clear_stop_request() { received_signal = 0; }

bool stop_agreed(MPI_Comm comm) {
  int mine = stop_requested() ? 1 : 0, any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
  return any != 0;
}

}  // namespace circal
