#pragma once
// The report of a sweep directory (see pipeline/sweep/sweep_plan.hpp for its layout): one row per
// point from its metrics.json and calibrate/log.jsonl, the best learning rate per block size,
// failures with their reason; report.md, report.csv and gnuplot PNGs in plots/.
#include <optional>
#include <string>
#include <vector>

namespace circal {

struct Interval {
  double lo = 0.0;
  double hi = 0.0;
};

struct SweepRow {
  std::string name;
  std::string run_dir;               // relative to the sweep directory
  int block_size = 0;                // 0: allocated a matrix at a time (project.block_size auto)
  double allocated_compression = 0;  // the allocated point's project.compression; 0 when uniform
  std::string structure;             // project.structure: circulant | lowrank
  double lr = 0.0;
  std::string student;  // the student the row reports: calibrated when present
  // Filled when the point finished (metrics.json exists); otherwise `failure` says why.
  double compression_ratio = 0.0;
  double kl_mean = 0.0;
  Interval kl_ci95;
  double top1 = 0.0;
  double top5_overlap = 0.0;
  double match_rate = 0.0;
  int calibration_steps = 0;
  double calibration_seconds = 0.0;
  bool best_lr = false;  // lowest test KL mean among the finished rows of its structure and block size
                         // (allocated: and compression)
  std::string failure;   // empty when the point finished
};

// Reads SWEEP_DIR/sweep.json and every point. CircalError(kExitInput) when sweep.json is
// missing or not a sweep plan.
std::vector<SweepRow> read_sweep_rows(const std::string& sweep_dir);

// Marks best_lr per structure and block size (the lowest KL mean among finished rows).
void mark_best_lr(std::vector<SweepRow>& rows);

// One sentence per block size at which more than one structure finished: which structure's
// best point has the lower test KL, by how much, with both 95% intervals (and whether they
// overlap). Empty when the sweep has one structure.
std::vector<std::string> structure_verdicts(const std::vector<SweepRow>& rows);

// Indices of the finished rows on the Pareto front of (compression ratio up, KL mean down),
// sorted by compression ratio.
std::vector<size_t> pareto_front(const std::vector<SweepRow>& rows);

std::string sweep_report_csv(const std::vector<SweepRow>& rows);
std::string sweep_report_markdown(const std::vector<SweepRow>& rows);

// Writes report.md, report.csv and plots/{kl_vs_compression,loss_curves}.png (when gnuplot is
// installed) into the sweep directory. Returns the rows.
std::vector<SweepRow> write_sweep_report(const std::string& sweep_dir);

}  // namespace circal
