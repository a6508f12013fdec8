#include "stages/common/stage.hpp"

#include "pipeline/base/errors.hpp"
#include "stages/common/fingerprint.hpp"
#include "stages/common/stale_reason.hpp"

namespace circal {

namespace {

// Keys that change how often something is logged or saved, never a result.
bool affects_results(const std::string& key) {
  return key != "calibrate.log_every" && key != "calibrate.checkpoint_every" &&
         key != "calibrate.keep_checkpoints" && key != "calibrate.enabled";
}

void add_section(Fingerprint& fingerprint, const Config& config, const std::string& section) {
  for (const std::string& key : config_keys())
    if (key.rfind(section + ".", 0) == 0 && affects_results(key)) fingerprint.add_key(config, key);
}

// The config keys a stage's fingerprint reads, itself and through the stages it chains.
std::vector<std::string> fingerprint_keys(const Config& config, Stage stage) {
  std::vector<std::string> keys = {"model.path", "prompts.calibration", "prompts.validation", "patch.layers",
                                   "patch.projections"};
  std::vector<std::string> sections = {"capture"};
  if (stage != Stage::Capture) sections.push_back("project");
  if (stage == Stage::Calibrate || (stage == Stage::Evaluate && config.calibrate.enabled)) sections.push_back("calibrate");
  if (stage == Stage::Evaluate) {
    keys.push_back("prompts.test");
    sections.push_back("evaluate");
  }
  for (const std::string& section : sections)
    for (const std::string& key : config_keys())
      if (key.rfind(section + ".", 0) == 0 && affects_results(key)) keys.push_back(key);
  return keys;
}

}  // namespace

const char* stage_name(Stage stage) {
  switch (stage) {
    case Stage::Capture: return "capture";
    case Stage::Project: return "project";
    case Stage::Calibrate: return "calibrate";
    case Stage::Evaluate: return "evaluate";
  }
  return "?";
}

std::string StageContext::output_path(Stage stage) const {
  return config.run_dir + "/" + stage_name(stage) + ".h5";
}

std::string StageContext::config_yaml() const { return to_yaml(config); }

CheckpointReader StageContext::open_output(Stage stage) const {
  const std::string path = output_path(stage);
  CheckpointReader file = CheckpointReader::open(path, stage_name(stage));
  const std::string found = file.has_attr("/", "fingerprint") ? file.attr_string("/", "fingerprint") : "";
  if (found != fingerprint(stage))
    fail(kExitCheckpoint, path + ": made for another run (" + stale_reason(file, config, fingerprint_keys(config, stage)) +
                              "); `circal run` recomputes it");
  return file;
}

std::string StageContext::fingerprint(Stage stage) const {
  Fingerprint fingerprint;
  fingerprint.add("stage", stage_name(stage));
  switch (stage) {
    case Stage::Capture:
      fingerprint.add("weights", model.weights_hash)
          .add_file(config.model.path + "/config.json")
          .add_file(config.model.path + "/tokenizer.model")
          .add_file(config.prompts.calibration)
          .add_file(config.prompts.validation)
          .add_key(config, "patch.layers")
          .add_key(config, "patch.projections");
      add_section(fingerprint, config, "capture");
      break;
    case Stage::Project:
      fingerprint.add("capture", this->fingerprint(Stage::Capture));
      add_section(fingerprint, config, "project");
      break;
    case Stage::Calibrate:
      fingerprint.add("project", this->fingerprint(Stage::Project));
      add_section(fingerprint, config, "calibrate");
      break;
    case Stage::Evaluate:
      fingerprint.add("project", this->fingerprint(Stage::Project));
      if (config.calibrate.enabled) fingerprint.add("calibrate", this->fingerprint(Stage::Calibrate));
      fingerprint.add_file(config.prompts.test);
      add_section(fingerprint, config, "evaluate");
      break;
  }
  return fingerprint.hex();
}

}  // namespace circal
