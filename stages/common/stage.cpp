#include "stages/common/stage.hpp"

#include <algorithm>

#include "pipeline/base/errors.hpp"
#include "stages/common/fingerprint.hpp"
#include "stages/common/stale_reason.hpp"

namespace circal {

namespace {

// Keys that change how often something is logged or saved, or how much memory the same
// arithmetic uses (recomputation gives bitwise the same gradients: test_recompute), never a result.
// Keys that only an allocated run (project.block_size: auto) reads: counted only there, so a
// uniform run's fingerprint is what it was before they existed.
bool allocation_key(const std::string& key) {
  return key == "project.compression" || key == "project.sensitivity_samples";
}

bool affects_results(const std::string& key) {
  return key != "calibrate.log_every" && key != "calibrate.checkpoint_every" && key != "calibrate.keep_checkpoints" &&
         key != "calibrate.enabled" && key != "calibrate.data_budget_mb" && key != "calibrate.recompute" &&
         key != "calibrate.activation_budget_mb" && !allocation_key(key);
}

// What a stage's fingerprint reads itself; the upstream stages' fingerprints chain the rest.
struct StageDependencies {
  std::vector<Stage> upstream;
  std::vector<std::pair<std::string, std::string>> files;  // (key, the file it names): content counts
  std::vector<std::string> keys;
  std::string section;  // every result-affecting key of this config section
};

// data.source = corpus: the corpus files' contents and the keys that choose the windows.
// With the prompt files (the default) none of the data.* keys count, so fingerprints stay
// those of earlier versions.
void add_corpus(StageDependencies& stage, const Config& config, const std::vector<std::string>& counts) {
  for (const std::string& path : config.data.corpus) stage.files.push_back({"data.corpus", path});
  for (const char* key : {"data.source", "data.window_tokens", "data.seed", "data.test_document_fraction"})
    stage.keys.push_back(key);
  stage.keys.insert(stage.keys.end(), counts.begin(), counts.end());
}

StageDependencies dependencies(const Config& config, Stage stage) {
  switch (stage) {
    case Stage::Capture: {
      StageDependencies capture{{}, {}, {"patch.layers", "patch.projections"}, "capture"};
      if (config.data.source == DataSource::Corpus) {
        // The calibration and validation windows (pipeline/data/corpus_windows.hpp); the test
        // count does not change them.
        add_corpus(capture, config, {"data.calibration_windows", "data.validation_windows"});
      } else {
        capture.files = {{"prompts.calibration", config.prompts.calibration},
                         {"prompts.validation", config.prompts.validation}};
      }
      // capture.block_sizes = [] means the projection statistics are for project.block_size.
      if (config.capture.block_sizes.empty()) capture.keys.push_back("project.block_size");
      return capture;
    }
    case Stage::Project: {
      StageDependencies project{{Stage::Capture}, {}, {}, "project"};
      if (config.project.allocate_blocks) project.keys = {"project.compression", "project.sensitivity_samples"};
      return project;
    }
    case Stage::Calibrate: {
      StageDependencies calibrate{{Stage::Project}, {}, {}, "calibrate"};
      // The scales of recalibrated_rtn (DESIGN section 8.4) are in calibrate.h5 only when
      // evaluated, so other runs keep their fingerprints.
      if (recalibrates_scales(config))
        calibrate.keys = {"quantize.bits", "quantize.group_size", "quantize.recalibrate_steps",
                          "quantize.recalibrate_lr"};
      return calibrate;
    }
    case Stage::Evaluate: {
      StageDependencies evaluate{{Stage::Project}, {}, {}, "evaluate"};
      if (test_data_source(config) == DataSource::Corpus)
        add_corpus(evaluate, config, {"data.test_windows"});
      else
        evaluate.files = {{"prompts.test", config.prompts.test}};
      // Only a test source other than the calibration data's counts (earlier fingerprints kept).
      if (config.data.test_source != TestSource::Same) evaluate.keys.push_back("data.test_source");
      if (config.calibrate.enabled) evaluate.upstream.push_back(Stage::Calibrate);
      for (StudentKind kind : evaluated_students(config))
        if (student_source(kind).quantized) {
          for (const char* key : {"quantize.bits", "quantize.group_size", "quantize.percdamp", "quantize.act_order"})
            evaluate.keys.push_back(key);
          break;
        }
      return evaluate;
    }
  }
  return {};
}

std::vector<std::string> section_keys(const std::string& section) {
  std::vector<std::string> keys;
  for (const std::string& key : config_keys())
    if (key.rfind(section + ".", 0) == 0 && affects_results(key)) keys.push_back(key);
  return keys;
}

// The config keys a stage's fingerprint reads, itself and through the stages it chains.
std::vector<std::string> fingerprint_keys(const Config& config, Stage stage) {
  const StageDependencies own = dependencies(config, stage);
  std::vector<std::string> keys;
  if (stage == Stage::Capture) keys.push_back("model.path");
  for (Stage upstream : own.upstream)
    for (const std::string& key : fingerprint_keys(config, upstream))
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  for (const auto& [key, path] : own.files)
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  keys.insert(keys.end(), own.keys.begin(), own.keys.end());
  for (const std::string& key : section_keys(own.section)) keys.push_back(key);
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

std::string StageContext::output_path(Stage stage) const { return config.run_dir + "/" + stage_name(stage) + ".h5"; }

std::string StageContext::config_yaml() const { return to_yaml(config); }

CheckpointReader StageContext::open_output(Stage stage) const {
  const std::string path = output_path(stage);
  CheckpointReader file = CheckpointReader::open(path, stage_name(stage));
  const std::string found = file.has_attr("/", "fingerprint") ? file.attr_string("/", "fingerprint") : "";
  if (found != fingerprint(stage))
    fail(kExitCheckpoint, path + ": made for another run (" +
                              stale_reason(file, config, fingerprint_keys(config, stage)) +
                              "); `circal run` recomputes it");
  return file;
}

std::string StageContext::fingerprint(Stage stage) const {
  const StageDependencies own = dependencies(config, stage);
  Fingerprint fingerprint;
  fingerprint.add("stage", stage_name(stage));
  if (stage == Stage::Capture) fingerprint.add("weights", model.weights_hash);
  for (Stage upstream : own.upstream) fingerprint.add(stage_name(upstream), this->fingerprint(upstream));
  if (stage == Stage::Capture) {
    fingerprint.add_file(config.model.path + "/config.json");
    for (const std::string& file : tokenizer.files()) fingerprint.add_file(file);
  }
  for (const auto& [key, path] : own.files) fingerprint.add_file(path);
  for (const std::string& key : own.keys) fingerprint.add_key(config, key);
  for (const std::string& key : section_keys(own.section)) fingerprint.add_key(config, key);
  return fingerprint.hex();
}

}  // namespace circal
