#include "bench/bench_model.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "pipeline/base/errors.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/model/transformer.hpp"

namespace circal {

namespace {

using Clock = std::chrono::steady_clock;

// Wall seconds and the process's CPU seconds. On a shared machine the CPU seconds are what
// the benchmark really used; the wall seconds also count the time it waited for a core.
struct Seconds {
  double wall = 0.0, cpu = 0.0;
  Seconds& operator+=(const Seconds& o) {
    wall += o.wall, cpu += o.cpu;
    return *this;
  }
  Seconds operator-(const Seconds& o) const { return {wall - o.wall, cpu - o.cpu}; }
};

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

class Stopwatch {
 public:
  Seconds elapsed() const {
    return {std::chrono::duration<double>(Clock::now() - wall0_).count(), cpu_seconds() - cpu0_};
  }

 private:
  Clock::time_point wall0_ = Clock::now();
  double cpu0_ = cpu_seconds();
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One forward per prompt, over all prompts.
Seconds per_prompt_pass(Transformer& model, const std::vector<std::vector<int>>& prompts) {
  const Stopwatch watch;
  for (const auto& ids : prompts) model.forward(ids);
  return watch.elapsed();
}

// forward_batch over consecutive groups of prompts, over all prompts.
Seconds batched_pass(Transformer& model, const std::vector<std::vector<std::vector<int>>>& groups) {
  const Stopwatch watch;
  for (const auto& group : groups) model.forward_batch(group);
  return watch.elapsed();
}

// decode_tokens - 1 greedy steps per prompt: generate(N) - generate(1), i.e. without the
// prompt's prefill.
Seconds decode_pass(Transformer& model, const std::vector<std::vector<int>>& prompts, int decode_tokens) {
  Seconds decode;
  for (const auto& ids : prompts) {
    const Stopwatch first;
    model.generate_greedy(ids, 1);
    const Seconds prefill = first.elapsed();
    const Stopwatch full;
    model.generate_greedy(ids, decode_tokens);
    decode += full.elapsed() - prefill;
  }
  return decode;
}

// Medians (wall and CPU separately) of `repeats` timed calls after one untimed warm-up
// (buffers, page faults).
template <typename Pass>
Seconds median_of(int repeats, Pass pass) {
  pass();
  std::vector<double> wall, cpu;
  for (int r = 0; r < repeats; ++r) {
    const Seconds s = pass();
    wall.push_back(s.wall);
    cpu.push_back(s.cpu);
  }
  return {median(wall), median(cpu)};
}

void print_rate(const std::string& what, long tokens, const Seconds& s) {
  std::printf("%s: %.0f tokens/s wall, %.0f tokens/s CPU time\n", what.c_str(), static_cast<double>(tokens) / s.wall,
              static_cast<double>(tokens) / s.cpu);
}

}  // namespace

void run_model_bench(const ModelBenchOptions& options) {
  const std::string& dir = options.model;
  const Teacher teacher = open_teacher(dir);
  const ModelWeights& weights = teacher.weights;
  const Tokenizer& tokenizer = teacher.tokenizer;
  std::vector<std::vector<int>> prompts;
  long prompt_tokens = 0;
  prompts = tokenize_prompts(read_prompts(options.prompts), options.prompts, tokenizer, weights.config);
  for (const auto& ids : prompts) prompt_tokens += static_cast<long>(ids.size());
  const std::size_t group = options.batch == 0 ? prompts.size() : static_cast<std::size_t>(options.batch);
  std::vector<std::vector<std::vector<int>>> groups;
  for (std::size_t i = 0; i < prompts.size(); i += group)
    groups.emplace_back(prompts.begin() + i, prompts.begin() + std::min(prompts.size(), i + group));

  Transformer model(weights);
  const Seconds per_prompt = median_of(options.repeats, [&] { return per_prompt_pass(model, prompts); });
  const Seconds batched = median_of(options.repeats, [&] { return batched_pass(model, groups); });
  const Seconds decode = median_of(options.repeats, [&] { return decode_pass(model, prompts, options.decode_tokens); });
  const long decode_steps = static_cast<long>(prompts.size()) * (options.decode_tokens - 1);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("openblas core: %s (OPENBLAS_CORETYPE=%s), threads: %d\n", openblas_get_corename(),
              coretype ? coretype : "unset", openblas_get_num_threads());
  std::printf("prompts: %zu, prompt tokens: %ld, decode steps: %ld, repeats: %d (median)\n", prompts.size(),
              prompt_tokens, decode_steps, options.repeats);
  print_rate("prompt processing, one prompt per forward", prompt_tokens, per_prompt);
  print_rate("prompt processing, " + std::to_string(group) + " prompts per forward", prompt_tokens, batched);
  print_rate("decode", decode_steps, decode);
  std::fflush(stdout);
}

}  // namespace circal
