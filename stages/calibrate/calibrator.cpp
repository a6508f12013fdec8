#include "stages/calibrate/calibrator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "pipeline/base/errors.hpp"
#include "pipeline/optim/gradient_clipping.hpp"
#include "pipeline/runtime/exact_sum.hpp"
#include "pipeline/runtime/stop_signal.hpp"
#include "stages/calibrate/calibration_batches.hpp"

namespace circal {

namespace {

int comm_rank(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}

int comm_size(MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size;
}

AdamSettings adam_settings(const CalibrateConfig& c) { return AdamSettings{c.beta1, c.beta2, c.eps, c.weight_decay}; }

}  // namespace

Calibrator::Calibrator(MPI_Comm comm, Transformer& model, const StudentLayout& layout, CalibrationData& data,
                       const CalibrateConfig& settings, std::vector<float> initial)
    : comm_(comm),
      rank_(comm_rank(comm)),
      ranks_(comm_size(comm)),
      model_(model),
      layout_(layout),
      data_(data),
      settings_(settings),
      params_(std::move(initial)),
      grads_(params_.size(), 0.0f),
      student_(model, layout, params_.data(), grads_.data()),
      adam_(params_.size(), adam_settings(settings)),
      schedule_(settings.lr, settings.schedule, settings.warmup_steps, settings.steps, settings.min_lr_ratio),
      gradient_sum_(params_.size(), size_t(std::max(1, settings.batch_prompts))) {
  if (params_.size() != layout.total_size)
    fail(kExitInternal, "calibrate: " + std::to_string(params_.size()) + " initial parameters for a student of " +
                            std::to_string(layout.total_size));
}

CalibrationState Calibrator::initial_state() const {
  CalibrationState state;
  state.params = params_;
  state.adam_m = adam_.first_moment();
  state.adam_v = adam_.second_moment();
  state.best_params = params_;
  return state;
}

void Calibrator::choose_recompute(const std::vector<int>& lengths) {
  if (settings_.recompute != Recompute::Auto) {
    model_.set_recompute(settings_.recompute == Recompute::On);
    return;
  }
  if (model_.recompute()) return;
  const double budget = double(settings_.activation_budget_mb) * (1 << 20);
  if (Transformer::activation_bytes(model_.config(), layout_.first_layer(), lengths, false) > budget)
    model_.set_recompute(true);
}

const float* Calibrator::forward_group(const std::vector<int>& group) {
  const int first = layout_.first_layer();
  lengths_.clear();
  for (int prompt : group) lengths_.push_back(data_.tokens(prompt));
  choose_recompute(lengths_);
  if (group.size() == 1) return model_.forward_from(first, data_.hidden(group[0]), data_.tokens(group[0]));
  const size_t width = size_t(model_.config().hidden_size);
  stacked_hidden_.clear();
  for (int prompt : group) {
    const float* h = data_.hidden(prompt);
    stacked_hidden_.insert(stacked_hidden_.end(), h, h + size_t(data_.tokens(prompt)) * width);
  }
  return model_.forward_from(first, stacked_hidden_.data(), lengths_);
}

double Calibrator::group_loss(const std::vector<int>& group, const float* logits, float* dlogits, float grad_scale) {
  const int vocab = model_.config().vocab_size;
  double loss = 0.0;
  for (size_t i = 0; i < group.size(); ++i) {
    const long row = model_.row_offset(int(i));
    loss += data_.distillation_loss(group[i], logits + row * vocab, dlogits ? dlogits + row * vocab : nullptr, vocab,
                                    grad_scale);
  }
  return loss;
}

BatchGradient Calibrator::batch_gradient(const std::vector<int>& global_batch) {
  const int64_t positions = data_.total_tokens(global_batch);
  const float scale = 1.0f / float(positions);
  const int vocab = model_.config().vocab_size;
  if (global_batch.size() > size_t(std::max(1, settings_.batch_prompts)))
    gradient_sum_ = ExactSum(grads_.size(), global_batch.size());
  gradient_sum_.clear();
  for (const auto& group : rank_groups(global_batch, settings_.group_prompts, prompt_tokens(), rank_, ranks_)) {
    {
      PhaseTimer timer(phase(&StepTimings::accumulate));
      std::fill(grads_.begin(), grads_.end(), 0.0f);
    }
    const float* logits;
    {
      PhaseTimer timer(phase(&StepTimings::forward));
      logits = forward_group(group);
    }
    double loss;
    {
      PhaseTimer timer(phase(&StepTimings::loss));
      dlogits_.resize(size_t(model_.tokens()) * vocab);
      loss = group_loss(group, logits, dlogits_.data(), scale);
    }
    {
      PhaseTimer timer(phase(&StepTimings::backward));
      model_.backward(dlogits_.data(), /*input_gradient=*/false);
    }
    PhaseTimer timer(phase(&StepTimings::accumulate));
    gradient_sum_.add(grads_.data(), loss / double(positions));
  }
  {
    PhaseTimer timer(phase(&StepTimings::allreduce));
    gradient_sum_.allreduce(comm_);
  }
  PhaseTimer timer(phase(&StepTimings::accumulate));
  return BatchGradient{gradient_sum_.result(grads_.data()), positions};
}

StepOutcome Calibrator::train_step(const std::vector<int>& global_batch, double lr) {
  StepOutcome outcome;
  outcome.gradient = batch_gradient(global_batch);
  PhaseTimer timer(phase(&StepTimings::optimizer));
  outcome.grad_norm = clip_global_norm(grads_.data(), grads_.size(), settings_.clip_norm);
  adam_.step(params_.data(), grads_.data(), lr);
  student_.parameters_changed();
  return outcome;
}

double Calibrator::validation_kl() {
  const auto& prompts = data_.validation();
  const double positions = double(data_.total_tokens(prompts));
  ExactSum sum(0, prompts.size());
  for (const auto& group : rank_groups(prompts, settings_.group_prompts, prompt_tokens(), rank_, ranks_))
    sum.add(nullptr, group_loss(group, forward_group(group), nullptr, 1.0f) / positions);
  sum.allreduce(comm_);
  return sum.result(nullptr);
}

void Calibrator::restore(const CalibrationState& state) {
  if (state.params.size() != params_.size())
    fail(kExitCheckpoint, "calibrate: checkpoint of " + std::to_string(state.params.size()) +
                              " parameters for a student of " + std::to_string(params_.size()));
  std::copy(state.params.begin(), state.params.end(), params_.begin());
  adam_.restore(state.step, state.adam_m, state.adam_v);
  student_.parameters_changed();
}

void Calibrator::set_parameters(const std::vector<float>& params) {
  if (params.size() != params_.size())
    fail(kExitInternal, "calibrate: " + std::to_string(params.size()) + " parameters for a student of " +
                            std::to_string(params_.size()));
  std::copy(params.begin(), params.end(), params_.begin());
  student_.parameters_changed();
}

void Calibrator::evaluate(CalibrationState& state, int step) {
  const double kl = validation_kl();
  state.validation_step.push_back(step);
  state.validation_kl.push_back(kl);
  if (kl < state.best_validation) {
    state.best_validation = kl;
    state.best_step = step;
    state.best_params = params_;
    state.evaluations_without_improvement = 0;
  } else {
    ++state.evaluations_without_improvement;
    if (settings_.patience > 0 && state.evaluations_without_improvement >= settings_.patience)
      state.stopped_early = true;
  }
}

void Calibrator::save(CalibrationState& state, const CheckpointPolicy& policy) const {
  state.params = params_;
  state.adam_m = adam_.first_moment();
  state.adam_v = adam_.second_moment();
  save_calibration_checkpoint(comm_, calibration_checkpoint_path(policy.dir, state.step), policy.meta, state);
  if (rank_ == 0) prune_calibration_checkpoints(policy.dir, policy.keep);
  MPI_Barrier(comm_);
}

CalibrationState Calibrator::run(CalibrationState state, ProgressLog& log, const CheckpointPolicy& policy) {
  restore(state);
  const bool validating = !data_.validation().empty() && settings_.eval_every > 0;
  // The starting point competes too: calibration must never return something worse.
  if (validating && state.step == 0 && state.validation_step.empty()) evaluate(state, 0);
  const int n = int(data_.calibration().size());
  if (n == 0) fail(kExitInput, "calibrate: the capture holds no calibration prompts");
  const int batch = std::min(settings_.batch_prompts, n);
  BatchCursor cursor{state.epoch, state.epoch_position};
  StopSignalGuard signals;
  while (state.step < settings_.steps && !state.stopped_early) {
    const auto started = std::chrono::steady_clock::now();
    const auto prompts = next_global_batch(n, settings_.seed, batch, cursor);
    const double lr = schedule_.at(int(state.step));
    const StepOutcome outcome = train_step(prompts, lr);
    const BatchGradient& gradient = outcome.gradient;
    ++state.step;
    state.epoch = cursor.epoch;
    state.epoch_position = cursor.position;
    state.train_loss.push_back(gradient.loss);
    const int step = int(state.step);
    const bool eval_now = validating && (step % settings_.eval_every == 0 || step == settings_.steps);
    if (eval_now) evaluate(state, step);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    log.record(StepRecord{step, gradient.loss, lr, outcome.grad_norm, gradient.positions, seconds,
                          eval_now ? std::optional<double>(state.validation_kl.back()) : std::nullopt});
    const bool periodic = !policy.dir.empty() && policy.every > 0 && step % policy.every == 0;
    if (periodic) save(state, policy);
    const std::string signal = policy.dir.empty() ? "" : agreed_stop_signal(comm_);
    if (!signal.empty()) {
      if (!periodic) save(state, policy);
      const std::string file = calibration_checkpoint_path(policy.dir, state.step);
      const std::string what =
          "stopped by " + signal + " after step " + std::to_string(step) + ", checkpoint written to " + file;
      log.event("stopped", step, what);
      fail(kExitPreempted, "calibrate: " + what);
    }
  }
  if (state.stopped_early)
    log.event("early_stop", int(state.step),
              "early stop after step " + std::to_string(state.step) + ": best validation KL " +
                  std::to_string(state.best_validation) + " at step " + std::to_string(state.best_step));
  state.params = params_;
  state.adam_m = adam_.first_moment();
  state.adam_v = adam_.second_moment();
  if (!validating) {
    state.best_params = params_;
    state.best_step = state.step;
  }
  return state;
}

}  // namespace circal
