#pragma once
// Where a calibration step spends its time, for `circal bench calibrate`. The calibrator only
// reads the clock when a StepTimings is attached, and reading it changes no arithmetic, so a
// timed run computes the same bits as an untimed one.
#include <chrono>

namespace circal {

// Seconds summed over every step since the last reset, per phase.
struct StepTimings {
  double forward = 0.0;     // transformer forward of this rank's prompts
  double loss = 0.0;        // KL and dL/dlogits against the cached teacher logits
  double backward = 0.0;    // transformer backward (input and circulant gradients)
  double accumulate = 0.0;  // clearing the gradient and adding it to the exact sum, per prompt
  double allreduce = 0.0;   // inside MPI_Allreduce (includes waiting for the slowest rank)
  double optimizer = 0.0;   // clipping, Adam, refreshing the circulant spectra
  double total() const { return forward + loss + backward + accumulate + allreduce + optimizer; }
};

// Adds the seconds between construction and destruction to *sink; does nothing when sink is
// null (untimed runs never read the clock).
class PhaseTimer {
 public:
  explicit PhaseTimer(double* sink) : sink_(sink) {
    if (sink_) start_ = std::chrono::steady_clock::now();
  }
  ~PhaseTimer() {
    if (sink_) *sink_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  double* sink_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace circal
