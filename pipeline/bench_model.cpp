#include "pipeline/bench_model.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "pipeline/commands/cli_options.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/model_weights.hpp"
#include "pipeline/prompts.hpp"
#include "pipeline/transformer.hpp"

namespace circal {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Seconds of one forward per prompt, over all prompts.
double per_prompt_pass(Transformer& model, const std::vector<std::vector<int>>& prompts) {
  const auto start = Clock::now();
  for (const auto& ids : prompts) model.forward(ids);
  return seconds_since(start);
}

// Seconds of forward_batch over consecutive groups of `batch` prompts, over all prompts.
double batched_pass(Transformer& model, const std::vector<std::vector<std::vector<int>>>& groups) {
  const auto start = Clock::now();
  for (const auto& group : groups) model.forward_batch(group);
  return seconds_since(start);
}

// Seconds of decode_tokens - 1 greedy steps per prompt: generate(N) - generate(1), i.e.
// without the prompt's prefill.
double decode_pass(Transformer& model, const std::vector<std::vector<int>>& prompts, int decode_tokens) {
  double decode = 0.0;
  for (const auto& ids : prompts) {
    auto start = Clock::now();
    model.generate_greedy(ids, 1);
    const double first = seconds_since(start);
    start = Clock::now();
    model.generate_greedy(ids, decode_tokens);
    decode += seconds_since(start) - first;
  }
  return decode;
}

// Median seconds of `repeats` timed calls after one untimed warm-up (buffers, page faults).
template <typename Pass>
double median_of(int repeats, Pass pass) {
  pass();
  std::vector<double> seconds;
  for (int r = 0; r < repeats; ++r) seconds.push_back(pass());
  return median(seconds);
}

}  // namespace

int bench_model(MpiContext& mpi, const Args& args) {
  po::options_description desc("circal bench model options");
  desc.add_options()
      ("model", po::value<std::string>()->default_value(std::string(CIRCAL_SOURCE_DIR) + "/data/models/manpages-llama-5m"), "model folder")
      ("prompts", po::value<std::string>()->default_value(std::string(CIRCAL_SOURCE_DIR) + "/data/prompts.txt"), "prompts file")
      ("batch", po::value<int>()->default_value(0), "prompts per batched forward (0: all of them in one)")
      ("decode-tokens", po::value<int>()->default_value(32), "greedy tokens per prompt for the decode rate")
      ("repeats", po::value<int>()->default_value(3), "timed passes (the median is reported)");
  const auto vm = parse_options(mpi, "bench model", "[--model DIR] [--prompts FILE] [--batch B] [--decode-tokens N] [--repeats R]", desc, args);
  if (!vm) return kExitOk;
  const int decode_tokens = (*vm)["decode-tokens"].as<int>();
  const int repeats = (*vm)["repeats"].as<int>();
  const int batch = (*vm)["batch"].as<int>();
  if (batch < 0) fail(kExitUsage, "circal bench model: --batch must be at least 0");
  if (decode_tokens < 2) fail(kExitUsage, "circal bench model: --decode-tokens must be at least 2");
  if (repeats < 1) fail(kExitUsage, "circal bench model: --repeats must be at least 1");
  if (!mpi.is_root()) return kExitOk;  // a single-process benchmark

  const std::string dir = (*vm)["model"].as<std::string>();
  const ModelWeights weights = load_model(dir);
  const Tokenizer tokenizer(dir);
  std::vector<std::vector<int>> prompts;
  long prompt_tokens = 0;
  for (const auto& p : read_prompts((*vm)["prompts"].as<std::string>())) {
    prompts.push_back(prompt_ids(tokenizer, weights.config, p.text));
    prompt_tokens += static_cast<long>(prompts.back().size());
  }
  const std::size_t group = batch == 0 ? prompts.size() : static_cast<std::size_t>(batch);
  std::vector<std::vector<std::vector<int>>> groups;
  for (std::size_t i = 0; i < prompts.size(); i += group)
    groups.emplace_back(prompts.begin() + i, prompts.begin() + std::min(prompts.size(), i + group));

  Transformer model(weights);
  const double per_prompt = median_of(repeats, [&] { return per_prompt_pass(model, prompts); });
  const double batched = median_of(repeats, [&] { return batched_pass(model, groups); });
  const double decode = median_of(repeats, [&] { return decode_pass(model, prompts, decode_tokens); });
  const long decode_steps = static_cast<long>(prompts.size()) * (decode_tokens - 1);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("openblas core: %s (OPENBLAS_CORETYPE=%s), threads: %d\n", openblas_get_corename(),
              coretype ? coretype : "unset", openblas_get_num_threads());
  std::printf("prompts: %zu, prompt tokens: %ld, decode steps: %ld, repeats: %d (median)\n", prompts.size(),
              prompt_tokens, decode_steps, repeats);
  std::printf("prompt processing, one prompt per forward: %.0f tokens/s\n", static_cast<double>(prompt_tokens) / per_prompt);
  std::printf("prompt processing, %zu prompts per forward: %.0f tokens/s\n", group,
              static_cast<double>(prompt_tokens) / batched);
  std::printf("decode: %.0f tokens/s\n", static_cast<double>(decode_steps) / decode);
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace circal
