#include "bench/bench_model.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "bench/machine_load.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/model/transformer.hpp"
#include "stages/common/student.hpp"

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

// decode_tokens - 1 greedy steps per prompt, timed from the end of the prompt's pass (the
// prefill) to the last token.
Seconds decode_pass(Transformer& model, const std::vector<std::vector<int>>& prompts, int decode_tokens) {
  Seconds decode;
  for (const auto& ids : prompts) {
    std::optional<Stopwatch> steps;
    model.generate_greedy(ids, decode_tokens, nullptr, [&] { steps.emplace(); });
    decode += steps->elapsed();
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

void print_core() {
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("openblas core: %s (OPENBLAS_CORETYPE=%s), threads: %d\n", openblas_get_corename(),
              coretype ? coretype : "unset", openblas_get_num_threads());
}

// One model of the payoff comparison: the teacher, or a random circulant student over it.
struct Variant {
  std::string name;
  Transformer net;
  StudentLayout layout;
  std::vector<float> params;
  std::unique_ptr<StudentModel> installed;  // declared after net and layout: removed first
  double bytes_per_token = 0;
  std::vector<double> prompt_rate, decode_rate, prompt_cpu_rate, decode_cpu_rate;
  explicit Variant(const ModelWeights& weights) : net(weights) {}
};

std::unique_ptr<Variant> random_student(const ModelWeights& weights, int block, unsigned seed) {
  auto variant = std::make_unique<Variant>(weights);
  Config config;
  config.project.block_size = block;
  resolve_layers(config, weights.config.num_hidden_layers);
  variant->layout = StudentLayout::from_config(config, weights.config);
  variant->params.resize(variant->layout.total_size);
  std::mt19937 rng(seed + static_cast<unsigned>(block));
  for (const PatchedMatrix& matrix : variant->layout.matrices) {
    // Outputs of the scale of the teacher's: no denormals, no overflow in the timed passes.
    std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(static_cast<float>(matrix.in_features)));
    for (std::size_t i = 0; i < matrix.size; ++i) variant->params[matrix.offset + i] = normal(rng);
  }
  variant->installed = std::make_unique<StudentModel>(variant->net, variant->layout, variant->params.data(), nullptr);
  variant->name = "b=" + std::to_string(block);
  variant->bytes_per_token = decode_weight_bytes(weights.config, &variant->layout);
  return variant;
}

double best_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

// Per round, the student's rate over the teacher's of the same round; the median of those.
double median_ratio(const std::vector<double>& student, const std::vector<double>& teacher) {
  std::vector<double> ratios;
  for (std::size_t r = 0; r < student.size(); ++r) ratios.push_back(student[r] / teacher[r]);
  return median(ratios);
}

void run_payoff(const ModelWeights& weights, const std::vector<std::vector<int>>& prompts,
                const std::vector<std::vector<std::vector<int>>>& groups, long prompt_tokens,
                const ModelBenchOptions& options) {
  std::vector<std::unique_ptr<Variant>> variants;
  variants.push_back(std::make_unique<Variant>(weights));
  variants[0]->name = "teacher";
  variants[0]->bytes_per_token = decode_weight_bytes(weights.config);
  for (int block : options.student_blocks) variants.push_back(random_student(weights, block, options.seed));
  const long decode_steps = static_cast<long>(prompts.size()) * (options.decode_tokens - 1);
  const double load_before = load_average_1min();
  for (auto& v : variants) {  // untimed: buffers, FFTW plans, page faults
    batched_pass(v->net, groups);
    decode_pass(v->net, {prompts.front()}, 2);
  }
  for (int round = 0; round < options.repeats; ++round) {
    for (auto& v : variants) {
      const Seconds prompt = batched_pass(v->net, groups);
      const Seconds decode = decode_pass(v->net, prompts, options.decode_tokens);
      v->prompt_rate.push_back(static_cast<double>(prompt_tokens) / prompt.wall);
      v->prompt_cpu_rate.push_back(static_cast<double>(prompt_tokens) / prompt.cpu);
      v->decode_rate.push_back(static_cast<double>(decode_steps) / decode.wall);
      v->decode_cpu_rate.push_back(static_cast<double>(decode_steps) / decode.cpu);
    }
    std::printf("round %d of %d done\n", round + 1, options.repeats);
    std::fflush(stdout);
  }
  const double load_after = load_average_1min();
  std::printf(
      "prompts: %zu, prompt tokens: %ld, decode steps: %ld, rounds: %d (interleaved), load average before %.2f, "
      "after %.2f\n",
      prompts.size(), prompt_tokens, decode_steps, options.repeats, load_before, load_after);
  std::printf("%-8s %14s %23s %23s %9s %9s\n", "model", "weight MB/tok", "prompt tok/s med/best",
              "decode tok/s med/best", "prompt x", "decode x");
  const Variant& teacher = *variants[0];
  for (const auto& v : variants) {
    char prompt_text[64], decode_text[64];
    std::snprintf(prompt_text, sizeof prompt_text, "%.1f / %.1f", median(v->prompt_rate), best_of(v->prompt_rate));
    std::snprintf(decode_text, sizeof decode_text, "%.2f / %.2f", median(v->decode_rate), best_of(v->decode_rate));
    std::printf("%-8s %14.1f %23s %23s %9.2f %9.2f\n", v->name.c_str(), v->bytes_per_token / 1e6, prompt_text,
                decode_text, median_ratio(v->prompt_rate, teacher.prompt_rate),
                median_ratio(v->decode_rate, teacher.decode_rate));
  }
  std::printf("CPU-time rates (median): ");
  for (const auto& v : variants)
    std::printf("%s prompt %.1f decode %.2f; ", v->name.c_str(), median(v->prompt_cpu_rate),
                median(v->decode_cpu_rate));
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

double decode_weight_bytes(const LlamaConfig& c, const StudentLayout* student) {
  const double H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const double q = double(c.num_attention_heads) * c.head_dim, kv = double(c.num_key_value_heads) * c.head_dim;
  const double attention = H * q + 2 * H * kv + q * H + (c.qkv_bias ? q + 2 * kv : 0) + (c.o_bias ? H : 0) +
                           (c.qk_norm ? 2.0 * c.head_dim : 0) + 2 * H;
  double floats = c.num_hidden_layers * (attention + 3 * H * I) + H + V * H + H;
  if (student) {
    for (const PatchedMatrix& m : student->matrices) {
      floats -= double(m.out_features) * m.in_features;
      if (student->structure == Structure::LowRank) {
        floats += double(m.size);
      } else {
        const double b = student->block_size;
        floats += 2 * (b / 2 + 1) * std::ceil(m.out_features / b) * std::ceil(m.in_features / b);
      }
    }
  }
  return 4 * floats;
}

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

  if (!options.student_blocks.empty()) {
    print_core();
    run_payoff(weights, prompts, groups, prompt_tokens, options);
    return;
  }
  Transformer model(weights);
  const Seconds per_prompt = median_of(options.repeats, [&] { return per_prompt_pass(model, prompts); });
  const Seconds batched = median_of(options.repeats, [&] { return batched_pass(model, groups); });
  const Seconds decode = median_of(options.repeats, [&] { return decode_pass(model, prompts, options.decode_tokens); });
  const long decode_steps = static_cast<long>(prompts.size()) * (options.decode_tokens - 1);
  print_core();
  std::printf("prompts: %zu, prompt tokens: %ld, decode steps: %ld, repeats: %d (median)\n", prompts.size(),
              prompt_tokens, decode_steps, options.repeats);
  print_rate("prompt processing, one prompt per forward", prompt_tokens, per_prompt);
  print_rate("prompt processing, " + std::to_string(group) + " prompts per forward", prompt_tokens, batched);
  print_rate("decode", decode_steps, decode);
  std::fflush(stdout);
}

}  // namespace circal
