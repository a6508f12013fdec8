#include "pipeline/runtime/stop_signal.hpp"

#include "pipeline/base/errors.hpp"

namespace circal {

namespace {

volatile std::sig_atomic_t received_signal = 0;

extern "C" void record_stop_signal(int signal_number) { received_signal = signal_number; }

int agreed_signal(MPI_Comm comm) {
  int mine = static_cast<int>(received_signal), any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
  return any;
}

std::string signal_name(int signal_number) {
  if (signal_number == SIGTERM) return "SIGTERM";
  if (signal_number == SIGUSR1) return "SIGUSR1";
  return "signal " + std::to_string(signal_number);
}

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

std::string agreed_stop_signal(MPI_Comm comm) {
  const int signal_number = agreed_signal(comm);
  return signal_number == 0 ? "" : signal_name(signal_number);
}

void stop_if_signalled(MPI_Comm comm, const std::string& where, const std::string& what) {
  const std::string name = agreed_stop_signal(comm);
  if (!name.empty()) fail(kExitPreempted, where + ": stopped by " + name + "; " + what);
}

}  // namespace circal
