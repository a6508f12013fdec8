#pragma once
// Runs stages in order: a stage whose output exists, is complete and has the current
// fingerprint is skipped with a one-line notice; a changed key reruns that stage and the
// stages after it (their fingerprints chain), no more.
#include <optional>
#include <vector>

#include "pipeline/runtime/mpi_context.hpp"
#include "stages/common/memory_budget.hpp"
#include "stages/common/stage.hpp"

namespace circal {

struct RunOptions {
  std::vector<Stage> stages;  // in order
  std::optional<Stage> from;  // rerun from this stage on, whatever the fingerprints say
  bool force = false;         // rerun every stage
};

// Collective: refuses (kExitUsage, one line) a run whose node would pass runtime.node_memory_gb
// (stages/common/memory_budget), from config.json alone, against the ranks of this rank's node.
// A folder without config.json is left to load_teacher to refuse, in its words.
void refuse_memory_shortfall_on_node(const MpiContext& mpi, Config config);
// Collective: model.resident_dtype resolved for this rank's node (stages/common/memory_budget's
// choose_residency, from config.json and the weight files' headers).
TeacherResidency teacher_residency_on_node(const MpiContext& mpi, Config config);

// runtime.threads for OpenBLAS, FFTW and the OpenMP loops of this process.
void apply_runtime_threads(const Config& config);
// The teacher as runtime.* says: threads applied, its matrices kept as model.resident_dtype
// resolves (one line in the log says which and why), then one float32 copy per node shared by
// its ranks (runtime.shared_weights, collective over mpi) or one copy per rank; the whole folder,
// tokenizer included, checked and read by open_teacher (the stages use this one tokenizer).
// Weight files the run directory's hash cache knows unchanged are not read to be hashed.
Teacher load_teacher(const MpiContext& mpi, const Config& config);
// Collective, once the run directory is held and the stages succeeded: records the teacher's weight-file hashes in the
// run directory's cache (RUN_DIR/weight_hashes.json, written only when it learned something),
// so that later stages and reruns hash the weights by a stat.
void save_weight_hashes(const MpiContext& mpi, const Config& config, const ModelWeights& model);

// Locks the run directory, loads the model, resolves the layers, runs the stages.
void run_stages(MpiContext& mpi, Config config, const RunOptions& options);

// True on every rank when `path` is a complete circal file of `stage` with `fingerprint`
// (rank 0 looks, then broadcasts).
bool stage_output_current(const MpiContext& mpi, const std::string& path, Stage stage, const std::string& fingerprint);

}  // namespace circal
