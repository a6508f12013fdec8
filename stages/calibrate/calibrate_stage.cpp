// calibrate: KL distillation of the student's circulant vectors against the captured teacher
// (DESIGN section 4). Starts from project.h5's `c`, resumes from the newest usable
// checkpoint in run_dir/calibrate/, and writes run_dir/calibrate.h5 with the best parameters
// in project.h5's layout plus the loss history.
#include <filesystem>
#include <iostream>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "stages/calibrate/calibrate_stage.hpp"
#include "stages/calibrate/calibrator.hpp"
#include "stages/common/student_checkpoint.hpp"

namespace circal {

namespace {

void write_calibration_result(const StageContext& context, const StudentLayout& layout, const CalibrationState& state) {
  CheckpointWriter file(context.mpi.comm(), context.output_path(Stage::Calibrate),
                        {"calibrate", context.fingerprint(Stage::Calibrate), context.config_yaml()});
  write_student_parameters(file, layout, state.best_params.data());
  if (!state.train_loss.empty()) file.write("/history/train_loss", {state.train_loss.size()}, state.train_loss.data());
  if (!state.validation_kl.empty()) {
    file.write("/history/validation_step", {state.validation_step.size()}, state.validation_step.data());
    file.write("/history/validation_kl", {state.validation_kl.size()}, state.validation_kl.data());
  }
  file.set_attr("/history", "steps", state.step);
  file.set_attr("/history", "best_step", state.best_step);
  file.set_attr("/history", "best_validation_kl", state.best_validation);
  file.set_attr("/history", "stopped_early", int64_t(state.stopped_early));
  file.set_attr("/history", "block_size", int64_t(layout.block_size));
  file.set_attr("/", "block_size", int64_t(layout.block_size));
  file.set_attr("/", "structure", std::string(name_of(layout.structure)));
  stamp_student_model(file, context.model);
  file.commit();
}

}  // namespace

void calibrate_stage(const StageContext& context) {
  const Config& config = context.config;
  const CalibrateConfig& settings = config.calibrate;
  const StudentLayout layout = run_student_layout(context);
  const auto project = context.open_output(Stage::Project);
  // capture.h5 is refused by open_output, as project refuses it (a stale file names the keys
  // that differ); CalibrationData then reads the file it accepted.
  context.open_output(Stage::Capture);
  CalibrationData data(context.output_path(Stage::Capture), "", layout.first_layer(), context.model.config.hidden_size,
                       float(settings.temperature), context.model.embed_tokens, context.model.config.vocab_size,
                       size_t(settings.data_budget_mb) << 20);
  Transformer model(context.model);
  Calibrator calibrator(context.mpi.comm(), model, layout, data, settings, read_student_parameters(project, layout));

  const std::string dir = (std::filesystem::path(config.run_dir) / "calibrate").string();
  const std::string fingerprint = context.fingerprint(Stage::Calibrate);
  const CheckpointPolicy policy{dir,
                                {kCalibrationCheckpointStage, fingerprint, context.config_yaml()},
                                settings.checkpoint_every,
                                settings.keep_checkpoints};
  auto resumed = newest_calibration_checkpoint(dir, fingerprint, layout.total_size,
                                               [&](const std::string& line) { context.mpi.log("calibrate: " + line); });
  if (resumed) context.mpi.log("calibrate: resuming after step " + std::to_string(resumed->step));
  const int resumed_step = resumed ? int(resumed->step) : 0;
  ProgressLog log(context.mpi.is_root(), dir + "/log.jsonl", settings.log_every, settings.steps, resumed_step,
                  std::cout);
  context.mpi.log("calibrate: " + std::to_string(layout.matrices.size()) + " " + name_of(layout.structure) +
                  " matrices, " + std::to_string(layout.total_size) + " parameters, " +
                  std::to_string(data.calibration().size()) + " calibration / " +
                  std::to_string(data.validation().size()) + " validation prompts, " +
                  std::to_string(context.mpi.size()) + " ranks");
  const CalibrationState state =
      calibrator.run(resumed ? std::move(*resumed) : calibrator.initial_state(), log, policy);
  write_calibration_result(context, layout, state);
  context.mpi.log("calibrate: best validation KL " + std::to_string(state.best_validation) + " at step " +
                  std::to_string(state.best_step) + " -> " + context.output_path(Stage::Calibrate));
}

}  // namespace circal
