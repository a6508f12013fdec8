#include "stages/calibrate/calibration_checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <regex>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/checkpoint_reader.hpp"

namespace circal {

namespace fs = std::filesystem;

namespace {

// Step-numbered checkpoint files of dir, oldest first.
std::vector<std::pair<int64_t, std::string>> checkpoint_files(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> files;
  if (!fs::is_directory(dir)) return files;
  static const std::regex name_pattern(R"(step-(\d+)\.h5)");
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, match, name_pattern))
      files.emplace_back(std::stoll(match[1].str()), entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void write_floats(CheckpointWriter& file, const std::string& name, const std::vector<float>& v) {
  file.write(name, {v.size()}, v.data());
}

}  // namespace

std::string calibration_checkpoint_path(const std::string& dir, int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%06lld.h5", static_cast<long long>(step));
  return (fs::path(dir) / name).string();
}

void save_calibration_checkpoint(MPI_Comm comm, const std::string& path, const CheckpointMeta& meta,
                                 const CalibrationState& state) {
  CheckpointWriter file(comm, path, meta);
  write_floats(file, "/state/params", state.params);
  write_floats(file, "/state/adam_m", state.adam_m);
  write_floats(file, "/state/adam_v", state.adam_v);
  write_floats(file, "/state/best_params", state.best_params);
  file.set_attr("/state", "step", state.step);
  file.set_attr("/state", "epoch", state.epoch);
  file.set_attr("/state", "epoch_position", state.epoch_position);
  file.set_attr("/state", "best_step", state.best_step);
  file.set_attr("/state", "evaluations_without_improvement", state.evaluations_without_improvement);
  file.set_attr("/state", "stopped_early", static_cast<int64_t>(state.stopped_early));
  file.set_attr("/state", "best_validation", state.best_validation);
  if (!state.train_loss.empty()) file.write("/history/train_loss", {state.train_loss.size()}, state.train_loss.data());
  if (!state.validation_kl.empty()) {
    file.write("/history/validation_step", {state.validation_step.size()}, state.validation_step.data());
    file.write("/history/validation_kl", {state.validation_kl.size()}, state.validation_kl.data());
  }
  file.commit();
}

CalibrationState load_calibration_checkpoint(const std::string& path, const std::string& fingerprint) {
  const auto file = CheckpointReader::open(path, kCalibrationCheckpointStage, fingerprint);
  CalibrationState state;
  state.params = file.read_float("/state/params");
  state.adam_m = file.read_float("/state/adam_m");
  state.adam_v = file.read_float("/state/adam_v");
  state.best_params = file.read_float("/state/best_params");
  state.step = file.attr_int("/state", "step");
  state.epoch = file.attr_int("/state", "epoch");
  state.epoch_position = file.attr_int("/state", "epoch_position");
  state.best_step = file.attr_int("/state", "best_step");
  state.evaluations_without_improvement = file.attr_int("/state", "evaluations_without_improvement");
  state.stopped_early = file.attr_int("/state", "stopped_early") != 0;
  state.best_validation = file.attr_double("/state", "best_validation");
  if (file.exists("/history/train_loss")) state.train_loss = file.read_double("/history/train_loss");
  if (file.exists("/history/validation_kl")) {
    state.validation_step = file.read_int64("/history/validation_step");
    state.validation_kl = file.read_double("/history/validation_kl");
  }
  const size_t n = state.params.size();
  if (state.adam_m.size() != n || state.adam_v.size() != n || state.best_params.size() != n ||
      state.train_loss.size() != static_cast<size_t>(state.step) ||
      state.validation_step.size() != state.validation_kl.size())
    fail(kExitCheckpoint,
         path + ": inconsistent calibration state (sizes do not match step " + std::to_string(state.step) + ")");
  return state;
}

std::optional<CalibrationState> newest_calibration_checkpoint(const std::string& dir, const std::string& fingerprint,
                                                              size_t parameter_count,
                                                              const std::function<void(const std::string&)>& report) {
  auto files = checkpoint_files(dir);
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    try {
      CalibrationState state = load_calibration_checkpoint(it->second, fingerprint);
      if (state.params.size() != parameter_count)
        fail(kExitCheckpoint, it->second + ": holds " + std::to_string(state.params.size()) +
                                  " parameters, the student has " + std::to_string(parameter_count));
      return state;
    } catch (const CircalError& error) {
      report("skipping checkpoint: " + std::string(error.what()));
    }
  }
  return std::nullopt;
}

void prune_calibration_checkpoints(const std::string& dir, int keep) {
  if (keep <= 0) return;
  const auto files = checkpoint_files(dir);
  for (size_t i = 0; i + keep < files.size(); ++i) fs::remove(files[i].second);
}

}  // namespace circal
