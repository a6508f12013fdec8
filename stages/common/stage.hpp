#pragma once
// What every stage gets: the MPI context, the resolved config, the run directory and the
// loaded teacher with its tokenizer (read once, by open_teacher). Each stage reads earlier
// stages' HDF5 files and writes its own atomically; its fingerprint (config keys it depends on
// + input content hashes + upstream fingerprints) decides whether `circal run` can skip it.
#include <string>

#include "pipeline/config/config.hpp"
#include "pipeline/io/checkpoint_reader.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/runtime/mpi_context.hpp"

namespace circal {

enum class Stage { Capture, Project, Calibrate, Evaluate };

const char* stage_name(Stage stage);

struct StageContext {
  MpiContext& mpi;
  Config config;  // patch.layers resolved against the model
  const ModelWeights& model;
  const Tokenizer& tokenizer;

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

}  // namespace circal
