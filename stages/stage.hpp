#pragma once
// What every stage gets: the MPI context, the resolved config, the run directory and the
// loaded teacher. Each stage reads earlier stages' HDF5 files and writes its own atomically;
// its fingerprint (config keys it depends on + input content hashes + upstream fingerprints)
// decides whether `circal run` can skip it.
#include <string>

#include "pipeline/checkpoint_store.hpp"
#include "pipeline/config.hpp"
#include "pipeline/model_weights.hpp"
#include "pipeline/mpi_context.hpp"

namespace circal {

enum class Stage { Capture, Project, Calibrate, Evaluate };

const char* stage_name(Stage stage);

struct StageContext {
  MpiContext& mpi;
  Config config;  // patch.layers resolved against the model
  const ModelWeights& model;

  // run_dir/capture.h5, run_dir/project.h5, ...
  std::string output_path(Stage stage) const;
  // The stage's fingerprint; chained through the stages it reads.
  std::string fingerprint(Stage stage) const;
  // The resolved config as YAML, for the files' metadata.
  std::string config_yaml() const;
  // The stage's output, refused (CircalError kExitCheckpoint) unless complete, of that stage
  // and of the current fingerprint; a stale file's refusal names the keys that differ.
  CheckpointReader open_output(Stage stage) const;
};

void capture_stage(const StageContext& context);
void project_stage(const StageContext& context);
void calibrate_stage(const StageContext& context);
void evaluate_stage(const StageContext& context);
// metrics.json beside evaluate.h5 exists and carries `fingerprint` (it is written after the
// other reports, so then they all are current).
bool evaluation_reports_current(const std::string& evaluate_h5, const std::string& fingerprint);

}  // namespace circal
