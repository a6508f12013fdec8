#include "pipeline/optim/lr_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace circal {

LrSchedule::LrSchedule(double lr, ScheduleKind kind, int warmup_steps, int total_steps, double min_lr_ratio)
    : lr_(lr),
      cosine_(kind == ScheduleKind::Cosine),
      warmup_(std::max(0, warmup_steps)),
      total_(std::max(1, total_steps)),
      min_ratio_(min_lr_ratio) {}

double LrSchedule::at(int step) const {
  if (step < warmup_) return lr_ * (step + 1) / warmup_;
  if (!cosine_) return lr_;
  const int decay_steps = std::max(1, total_ - warmup_);
  const double progress = std::min(1.0, static_cast<double>(step - warmup_) / decay_steps);
  const double min_lr = min_ratio_ * lr_;
  return min_lr + (lr_ - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace circal
