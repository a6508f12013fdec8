#pragma once
// `circal bench circulant`: block-circulant forward/backward against dense sgemm on LLaMA
// MLP shapes, one thread, medians of repeated timings after a warm-up.
#include <string>

namespace circal {

struct CirculantBenchOptions {
  bool quick = false;   // a subset that runs in well under a minute
  int reps = 5;         // timed samples per figure (the median is reported)
  std::string csv;      // CSV output file, empty = none
};

// Prints the table (stdout) and writes the CSV. Single process: call it on one rank.
void run_circulant_bench(const CirculantBenchOptions& options);

}  // namespace circal
