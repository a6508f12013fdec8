#pragma once
// recalibrated_rtn (DESIGN section 8.4): after calibration, the circulant's c RTN-quantized at
// one width, then a short KL calibration of the group scales alone, codes and zero points
// frozen. The gradient is exact: c = s (q - z) is linear in s, so dL/ds of a group is the sum
// over it of (q - z) dL/dc, a reduction of the gradient the calibrator already computes (with
// its exact allreduce, so the scales have the same bits at any rank count).
#include <cstdint>
#include <functional>
#include <vector>

#include "pipeline/config/config.hpp"
#include "pipeline/quantize/weight_quantization.hpp"
#include "stages/calibrate/calibrator.hpp"

namespace circal {

struct RecalibratedScales {
  int bits = 0;
  std::vector<QuantizedMatrix> quantized;  // every matrix, the best scales in place (half values)
  std::vector<double> train_loss;          // per step, of the scales before its update
  std::vector<int64_t> validation_step;    // validation KL of the scales rounded to half
  std::vector<double> validation_kl;
  int64_t best_step = 0;  // 0: the RTN scales themselves
  double best_validation_kl = 0;
};

// Adam on the scales' logarithms u (s = s_RTN exp(u), dL/du = s dL/ds: a relative step, the
// same for scales of any size), float32 master scales during the run, the calibrate
// schedule's shape over `quantize.recalibrate_steps` on the calibration batches calibrate
// itself draws first. Validation (every calibrate.eval_every steps and at the end) sees the
// scales rounded to half, as stored; the best of them, the RTN scales included, is kept.
// Collective over the calibrator's communicator; `after_step` runs after every step (the stage
// checks stop signals there).
RecalibratedScales recalibrate_scales(Calibrator& calibrator, const StudentLayout& layout,
                                      const std::vector<float>& calibrated_c, int bits, const Config& config,
                                      int calibration_prompts, bool validating,
                                      const std::function<void(int step)>& after_step = {});

// The reduction dL/du of every matrix's groups, one flat vector in the layout's order:
// s_g sum over group g of (q - z) dL/dc, with s the scales in `quantized`.
std::vector<float> log_scale_gradient(const StudentLayout& layout, const std::vector<QuantizedMatrix>& quantized,
                                      const float* dc);

}  // namespace circal
