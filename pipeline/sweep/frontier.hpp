#pragma once
// The equal-bytes frontier of a sweep (DESIGN section 8.4): every evaluated student of the
// finished points (the best learning rate of each structure and block size), placed by its
// bits per patched-MLP weight against its test KL and perplexity, each with its 95% interval.
// The quantized teachers (rtn_Nbit, gptq_Nbit) and the dense teacher do not depend on the
// block size: each is taken once, from the first point that evaluated it.
#include <string>
#include <vector>

#include "pipeline/sweep/sweep_report.hpp"

namespace circal {

struct FrontierPoint {
  std::string student;  // its key in metrics.json: calibrated, lowrank_aware, gptq_4bit, ...
  std::string method;   // its series: the name without the bit width (rtn, gptq; calibrated_rtn b=16)
  std::string point;    // the sweep point it came from
  int block_size = 0;   // that point's (what a circulant or low-rank student's size follows)
  double bits = 0;      // bits per patched-MLP weight
  double kl_mean = 0;
  Interval kl_ci95;
  double perplexity = 0;
  Interval perplexity_ci95;
  bool pareto = false;  // no other point has both fewer (or equal) bits and a lower (or equal) KL
};

// From SWEEP_DIR/<point>/metrics.json of the finished rows with best_lr (mark_best_lr first);
// students without bits_per_patched_weight (files from before it) and zeroed are left out.
// Sorted by bits, descending; pareto marked.
std::vector<FrontierPoint> read_frontier(const std::string& sweep_dir, const std::vector<SweepRow>& rows);

// The report.md section: a sentence on how to read it, the table, the plot.
std::string frontier_markdown(const std::vector<FrontierPoint>& points);

// plots/frontier.png (test KL against bits per weight, one line per method, 95% intervals,
// log scales): false with a warning when gnuplot is missing or fails.
bool write_frontier_plot(const std::string& sweep_dir, const std::vector<FrontierPoint>& points,
                         std::ostream& warnings);

}  // namespace circal
