#pragma once
// Calibration progress: on rank 0 one human line per interval (step, loss, validation KL,
// tokens/s, ETA) and a JSON-lines record of every step in run_dir/calibrate/log.jsonl.
// Other ranks construct it too and do nothing, so callers need no rank checks.
#include <cstdint>
#include <fstream>
#include <optional>
#include <ostream>
#include <string>

namespace circal {

struct StepRecord {
  int step = 0;       // updates done, 1-based
  double loss = 0.0;  // mean training loss of the step's global batch
  double lr = 0.0;
  double grad_norm = 0.0;               // before clipping
  int64_t tokens = 0;                   // positions of the global batch
  double seconds = 0.0;                 // wall time of the step
  std::optional<double> validation_kl;  // when the step ran a validation
};

class ProgressLog {
 public:
  // `resumed_step` > 0: records of later steps in an existing log (from a run killed after
  // its last checkpoint) are dropped, so the log holds every step exactly once.
  ProgressLog(bool root, const std::string& jsonl_path, int log_every, int total_steps, int resumed_step,
              std::ostream& console);

  void record(const StepRecord& record);
  // A free-form event line ({"event": name, "step": step, "detail": detail}), also printed.
  void event(const std::string& name, int step, const std::string& detail);

 private:
  void print_interval(const StepRecord& last);

  bool root_;
  int log_every_;
  int total_steps_;
  std::ostream& console_;
  std::ofstream jsonl_;
  int interval_steps_ = 0;
  int64_t interval_tokens_ = 0;
  double interval_seconds_ = 0.0;
  std::optional<double> last_validation_;
};

// Keeps the lines of a JSON-lines file whose "step" is at most max_step (lines without a step
// stay). A missing file is left missing.
void truncate_jsonl_after(const std::string& path, int max_step);

}  // namespace circal
