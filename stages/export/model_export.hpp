#pragma once
// `circal export`: a run's student as a model folder other tools load (stages/FILES.md, "Export
// folder"). It reads the run's checkpoints as evaluate does, so a stale or incomplete one is
// refused the same way, and writes DIR.tmp, renamed to DIR once every file is on disk.
#include <cstddef>
#include <optional>
#include <string>

#include "pipeline/config/names.hpp"
#include "stages/common/stage.hpp"

namespace circal {

struct ExportRequest {
  ExportFormat format = ExportFormat::Dense;
  StudentKind student = StudentKind::Calibrated;
  std::string out;
  std::optional<WeightDtype> dtype;                // none: every tensor keeps the teacher file's dtype
  bool force = false;                              // replace an existing `out`
  std::size_t shard_bytes = std::size_t(2) << 30;  // larger models are split into shards
};

// Collective: every rank reads the student (so refusals reach all alike), rank 0 writes.
void export_student(const StageContext& context, const ExportRequest& request);

}  // namespace circal
