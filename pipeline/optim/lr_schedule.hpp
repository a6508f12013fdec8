#pragma once
// Learning rate per step: linear warm-up, then cosine decay to min_lr_ratio * lr over the
// remaining steps, or constant.
#include "pipeline/config/names.hpp"

namespace circal {

class LrSchedule {
 public:
  // total_steps >= 1.
  LrSchedule(double lr, ScheduleKind kind, int warmup_steps, int total_steps, double min_lr_ratio);

  // Rate of update number `step` (0-based): warm-up ramps (step + 1) / warmup_steps * lr, so
  // no update runs at rate 0; cosine reaches min_lr_ratio * lr at step total_steps.
  double at(int step) const;

 private:
  double lr_;
  bool cosine_;
  int warmup_;
  int total_;
  double min_ratio_;
};

}  // namespace circal
