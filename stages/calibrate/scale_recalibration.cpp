#include "stages/calibrate/scale_recalibration.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "pipeline/optim/adam_optimizer.hpp"
#include "pipeline/optim/lr_schedule.hpp"
#include "stages/calibrate/calibration_batches.hpp"
#include "stages/common/quantized_student.hpp"

namespace circal {

namespace {

std::vector<float> flat_scales(const std::vector<QuantizedMatrix>& quantized) {
  std::vector<float> scales;
  for (const QuantizedMatrix& q : quantized) scales.insert(scales.end(), q.scales.begin(), q.scales.end());
  return scales;
}

void set_scales(std::vector<QuantizedMatrix>& quantized, const std::vector<float>& scales) {
  auto next = scales.begin();
  for (QuantizedMatrix& q : quantized) {
    std::copy(next, next + std::ptrdiff_t(q.scales.size()), q.scales.begin());
    next += std::ptrdiff_t(q.scales.size());
  }
}

// The scales and the c they make, put in the student.
class ScaledStudent {
 public:
  ScaledStudent(Calibrator& calibrator, const StudentLayout& layout, std::vector<QuantizedMatrix> quantized)
      : calibrator_(calibrator), layout_(layout), quantized_(std::move(quantized)), c_(layout.total_size) {}

  void install(const std::vector<float>& scales) {
    set_scales(quantized_, scales);
    dequantize_circulant(layout_, quantized_, c_.data());
    calibrator_.set_parameters(c_);
  }
  const std::vector<QuantizedMatrix>& quantized() const { return quantized_; }

 private:
  Calibrator& calibrator_;
  const StudentLayout& layout_;
  std::vector<QuantizedMatrix> quantized_;
  std::vector<float> c_;
};

}  // namespace

std::vector<float> log_scale_gradient(const StudentLayout& layout, const std::vector<QuantizedMatrix>& quantized,
                                      const float* dc) {
  std::vector<float> du;
  for (std::size_t k = 0; k < quantized.size(); ++k) {
    const std::vector<double> ds = quantized[k].scale_gradient(dc + layout.matrices[k].offset);
    for (std::size_t g = 0; g < ds.size(); ++g) du.push_back(float(double(quantized[k].scales[g]) * ds[g]));
  }
  return du;
}

RecalibratedScales recalibrate_scales(Calibrator& calibrator, const StudentLayout& layout,
                                      const std::vector<float>& calibrated_c, int bits, const Config& config,
                                      int calibration_prompts, bool validating,
                                      const std::function<void(int step)>& after_step) {
  const CalibrateConfig& settings = config.calibrate;
  const int steps = config.quantize.recalibrate_steps;
  ScaledStudent student(calibrator, layout,
                        quantize_circulant(layout, calibrated_c.data(), {bits, config.quantize.group_size}));
  const std::vector<float> rtn = flat_scales(student.quantized());
  std::vector<float> log_scale(rtn.size(), 0.0f), masters(rtn), halves(rtn);
  AdamOptimizer adam(rtn.size(), {settings.beta1, settings.beta2, settings.eps, 0.0});
  const LrSchedule schedule(config.quantize.recalibrate_lr, settings.schedule, 0, std::max(1, steps),
                            settings.min_lr_ratio);

  RecalibratedScales result;
  result.bits = bits;
  std::vector<float> best = rtn;
  result.best_validation_kl = std::numeric_limits<double>::infinity();
  const auto validate = [&](int step) {
    for (std::size_t g = 0; g < masters.size(); ++g) halves[g] = stored_scale(masters[g]);
    student.install(halves);
    const double kl = calibrator.validation_kl();
    result.validation_step.push_back(step);
    result.validation_kl.push_back(kl);
    if (kl < result.best_validation_kl) {
      result.best_validation_kl = kl;
      result.best_step = step;
      best = halves;
    }
  };
  if (validating) validate(0);
  const int batch = std::min(settings.batch_prompts, calibration_prompts);
  BatchCursor cursor;
  for (int step = 0; step < steps; ++step) {
    student.install(masters);
    const BatchGradient gradient =
        calibrator.batch_gradient(next_global_batch(calibration_prompts, settings.seed, batch, cursor));
    result.train_loss.push_back(gradient.loss);
    const std::vector<float> du = log_scale_gradient(layout, student.quantized(), calibrator.gradients().data());
    adam.step(log_scale.data(), du.data(), schedule.at(step));
    for (std::size_t g = 0; g < masters.size(); ++g)
      masters[g] = float(double(rtn[g]) * std::exp(double(log_scale[g])));
    const bool last = step + 1 == steps;
    if (validating && ((step + 1) % settings.eval_every == 0 || last)) validate(step + 1);
    if (after_step) after_step(step + 1);
  }
  if (!validating) {
    for (std::size_t g = 0; g < masters.size(); ++g) best[g] = stored_scale(masters[g]);
    result.best_step = steps;
    result.best_validation_kl = std::numeric_limits<double>::quiet_NaN();
  }
  student.install(best);
  result.quantized = student.quantized();
  return result;
}

}  // namespace circal
