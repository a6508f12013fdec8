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

// One timed pass: (prefill seconds over all prompts, decode seconds of decode_tokens - 1 steps
// per prompt). Decode time is generate(N) - generate(1), i.e. without the prompt's prefill.
std::pair<double, double> timed_pass(Transformer& model, const std::vector<std::vector<int>>& prompts, int decode_tokens) {
  double prefill = 0.0, decode = 0.0;
  for (const auto& ids : prompts) {
    auto start = Clock::now();
    model.forward(ids);
    prefill += seconds_since(start);
    start = Clock::now();
    model.generate_greedy(ids, 1);
    const double first = seconds_since(start);
    start = Clock::now();
    model.generate_greedy(ids, decode_tokens);
    decode += seconds_since(start) - first;
  }
  return {prefill, decode};
}

}  // namespace

int bench_model(MpiContext& mpi, const Args& args) {
  po::options_description desc("circal bench model options");
  desc.add_options()
      ("model", po::value<std::string>()->default_value(std::string(CIRCAL_SOURCE_DIR) + "/data/models/manpages-llama-5m"), "model folder")
      ("prompts", po::value<std::string>()->default_value(std::string(CIRCAL_SOURCE_DIR) + "/data/prompts.txt"), "prompts file")
      ("decode-tokens", po::value<int>()->default_value(32), "greedy tokens per prompt for the decode rate")
      ("repeats", po::value<int>()->default_value(3), "timed passes (the median is reported)");
  const auto vm = parse_options(mpi, "bench model", "[--model DIR] [--prompts FILE] [--decode-tokens N] [--repeats R]", desc, args);
  if (!vm) return kExitOk;
  const int decode_tokens = (*vm)["decode-tokens"].as<int>();
  const int repeats = (*vm)["repeats"].as<int>();
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
  Transformer model(weights);
  timed_pass(model, prompts, decode_tokens);  // warm-up: buffers, page faults, BLAS threads

  std::vector<double> prefill, decode;
  for (int r = 0; r < repeats; ++r) {
    const auto [p, d] = timed_pass(model, prompts, decode_tokens);
    prefill.push_back(p);
    decode.push_back(d);
  }
  const long decode_steps = static_cast<long>(prompts.size()) * (decode_tokens - 1);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("openblas core: %s (OPENBLAS_CORETYPE=%s), threads: %d\n", openblas_get_corename(),
              coretype ? coretype : "unset", openblas_get_num_threads());
  std::printf("prompts: %zu, prompt tokens: %ld, decode steps: %ld, repeats: %d (median)\n", prompts.size(),
              prompt_tokens, decode_steps, repeats);
  std::printf("prompt processing: %.0f tokens/s\n", static_cast<double>(prompt_tokens) / median(prefill));
  std::printf("decode: %.0f tokens/s\n", static_cast<double>(decode_steps) / median(decode));
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace circal
