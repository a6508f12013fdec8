#pragma once
// The calibration loop (DESIGN section 4) over any communicator: data-parallel KL distillation
// of the student's circulant vectors with Adam, the schedule, clipping, validation with early
// stopping, periodic and signal-triggered checkpoints. The stage wraps it; tests run it on
// MPI_COMM_WORLD and on a one-rank communicator to compare.
#include <mpi.h>

#include <functional>
#include <string>
#include <vector>

#include "pipeline/base/progress_log.hpp"
#include "pipeline/base/step_timings.hpp"
#include "pipeline/config/config.hpp"
#include "pipeline/model/transformer.hpp"
#include "pipeline/optim/adam_optimizer.hpp"
#include "pipeline/optim/lr_schedule.hpp"
#include "pipeline/runtime/exact_sum.hpp"
#include "stages/calibrate/calibration_batches.hpp"
#include "stages/calibrate/calibration_checkpoint.hpp"
#include "stages/calibrate/calibration_data.hpp"
#include "stages/common/student.hpp"

namespace circal {

struct CheckpointPolicy {
  std::string dir;  // empty: no checkpoints (and no signal stop)
  CheckpointMeta meta;
  int every = 0;  // steps; 0 = only on a stop signal
  int keep = 0;
};

// One step's reduced outcome.
struct BatchGradient {
  double loss = 0.0;      // mean over the global batch's positions
  int64_t positions = 0;  // of the global batch
};

struct StepOutcome {
  BatchGradient gradient;
  double grad_norm = 0.0;  // global norm before clipping
};

class Calibrator {
 public:
  // `model` gets the student's operators for the Calibrator's lifetime; params start at
  // `initial` (layout.total_size values).
  Calibrator(MPI_Comm comm, Transformer& model, const StudentLayout& layout, CalibrationData& data,
             const CalibrateConfig& settings, std::vector<float> initial);

  // Runs from `state` (a fresh one: initial_state(); or a loaded checkpoint) to the end: the
  // configured steps or an early stop. A stop signal writes a checkpoint (when the policy has
  // a dir) and throws CircalError(kExitPreempted).
  CalibrationState run(CalibrationState state, ProgressLog& log, const CheckpointPolicy& policy);
  CalibrationState initial_state() const;

  // Forward + backward over this rank's groups of `global_batch` and the allreduce: afterwards
  // gradients() holds d(mean loss)/d params, the same on every rank. The batch splits into
  // fixed groups of at most settings.group_prompts prompts, balanced by tokens
  // (prompt_groups), group k on rank k % ranks; each group is one stacked forward/backward pass whose gradient and loss
  // enter the exact sum as one term, so the result has the same bits at any rank count.
  BatchGradient batch_gradient(const std::vector<int>& global_batch);
  // One optimizer update on `global_batch` at learning rate lr: batch_gradient, clipping,
  // Adam. What run() does per step, without validation, logging or checkpoints.
  StepOutcome train_step(const std::vector<int>& global_batch, double lr);
  // Mean validation KL of the current parameters (grouped and distributed like a batch,
  // forward only).
  double validation_kl();

  // Puts parameters, Adam state and step back to `state`'s.
  void restore(const CalibrationState& state);
  // From now on adds each step's phase times to *timings (null: stop timing).
  void attach_timings(StepTimings* timings) { timings_ = timings; }

  // Puts `params` (layout.total_size values) in the student, leaving Adam's state alone.
  void set_parameters(const std::vector<float>& params);
  std::vector<float>& parameters() { return params_; }
  const std::vector<float>& gradients() const { return grads_; }

 private:
  void evaluate(CalibrationState& state, int step);
  void save(CalibrationState& state, const CheckpointPolicy& policy) const;
  // The student's forward over `group`, its hidden states stacked into one pass; returns the
  // logits [sum T, vocab] (prompt i's rows from model_.row_offset(i)).
  const float* forward_group(const std::vector<int>& group);
  // calibrate.recompute for a pass over prompts of these lengths: on, off, or (auto) on from
  // the first pass whose activations would pass calibrate.activation_budget_mb, and then kept
  // on (no switching back and forth between buffer sets).
  void choose_recompute(const std::vector<int>& lengths);
  // Sum over the group's prompts of the distillation loss of `logits` (forward_group's);
  // writes the rows of dL/dlogits (times grad_scale) unless dlogits is null.
  double group_loss(const std::vector<int>& group, const float* logits, float* dlogits, float grad_scale);
  PromptTokens prompt_tokens() const {
    return [this](int prompt) { return data_.tokens(prompt); };
  }
  // The timing sink of one phase, null when untimed.
  double* phase(double StepTimings::*member) { return timings_ ? &(timings_->*member) : nullptr; }

  MPI_Comm comm_;
  int rank_ = 0, ranks_ = 1;
  Transformer& model_;
  const StudentLayout& layout_;
  CalibrationData& data_;
  CalibrateConfig settings_;
  std::vector<float> params_, grads_, dlogits_;
  std::vector<float> stacked_hidden_;  // a group's hidden states, prompt after prompt
  std::vector<int> lengths_;           // and their token counts
  StudentModel student_;
  AdamOptimizer adam_;
  LrSchedule schedule_;
  ExactSum gradient_sum_;  // kept across steps: no 8-byte-per-parameter allocation per step
  StepTimings* timings_ = nullptr;
};

}  // namespace circal
