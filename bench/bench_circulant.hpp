#pragma once
// `circal bench circulant`: block-circulant forward/backward against dense sgemm and against
// the low-rank student of the same parameter count on LLaMA MLP shapes, one thread, medians
// of repeated timings after a warm-up.
#include <string>

namespace circal {

struct CirculantBenchOptions {
  bool quick = false;  // a subset that runs in well under a minute
  // Instead: block-circulant vs low rank at equal parameters (rank floor(m n / (b (m + n))))
  // on the TinyLlama-1.1B MLP shapes, b = 4 to 64, T = 1 and 128, forward only, medians of
  // `reps` alternating rounds, with the load average before and after.
  bool lowrank = false;
  int reps = 5;     // timed samples per figure (the median is reported)
  std::string csv;  // CSV output file, empty = none
};

// Prints the table (stdout) and writes the CSV. Single process: call it on one rank.
void run_circulant_bench(const CirculantBenchOptions& options);

}  // namespace circal
