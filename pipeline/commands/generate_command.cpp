// `circal generate --model DIR --prompt TEXT [--tokens N]`: the teacher's greedy continuation.
#include <algorithm>
#include <iostream>

#include "pipeline/commands/cli_options.hpp"
#include "pipeline/commands/commands.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/model_weights.hpp"
#include "pipeline/transformer.hpp"

namespace circal {

int generate_command(MpiContext& mpi, const Args& args) {
  po::options_description desc("circal generate options");
  desc.add_options()
      ("model", po::value<std::string>()->required(), "model folder (config.json, model.safetensors, tokenizer.model)")
      ("prompt", po::value<std::string>()->required(), "prompt text")
      ("tokens", po::value<int>()->default_value(32), "number of tokens to append (stops early at EOS)")
      ("student", po::value<std::string>(), "student checkpoint (not supported yet)");
  const auto vm = parse_options(mpi, "generate", "--model DIR --prompt TEXT [--tokens N]", desc, args);
  if (!vm) return kExitOk;
  if (vm->count("student")) {
    fail(kExitUsage, "circal generate: --student " + (*vm)["student"].as<std::string>() + " is not supported yet");
  }
  const int n = (*vm)["tokens"].as<int>();
  const ModelWeights model = load_model((*vm)["model"].as<std::string>());
  const Tokenizer tokenizer((*vm)["model"].as<std::string>());
  const std::vector<int> prompt = prompt_ids(tokenizer, model.config, (*vm)["prompt"].as<std::string>());
  if (n < 1 || prompt.size() + static_cast<std::size_t>(n) > static_cast<std::size_t>(model.config.max_position_embeddings)) {
    fail(kExitUsage, "circal generate: --tokens " + std::to_string(n) + " must be in [1, " +
                         std::to_string(model.config.max_position_embeddings - static_cast<int>(prompt.size())) +
                         "] for this prompt (max_position_embeddings " +
                         std::to_string(model.config.max_position_embeddings) + ")");
  }
  if (!mpi.is_root()) return kExitOk;  // one continuation, printed once

  Transformer teacher(model);
  std::vector<int> continuation = teacher.generate_greedy(prompt, n);
  const auto eos = std::find(continuation.begin(), continuation.end(), model.config.eos_token_id);
  continuation.erase(eos, continuation.end());
  // Decoding prompt and continuation together keeps the word boundary between them.
  std::vector<int> all(prompt.begin() + 1, prompt.end());
  all.insert(all.end(), continuation.begin(), continuation.end());
  std::cout << tokenizer.decode(all) << std::endl;
  return kExitOk;
}

}  // namespace circal
