// `circal logits --model DIR --prompts FILE --out OUT.h5`: the teacher's tokens and logits of
// every prompt, prompts sharded over ranks (prompt i on rank i % R), one HDF5 file.
#include <string>
#include <vector>

#include "pipeline/checkpoint_store.hpp"
#include "pipeline/commands/cli_options.hpp"
#include "pipeline/commands/commands.hpp"
#include "pipeline/errors.hpp"
#include "pipeline/model_weights.hpp"
#include "pipeline/prompts.hpp"
#include "pipeline/transformer.hpp"

namespace circal {

namespace {

struct LogitsOptions {
  std::string model_dir;
  std::string prompts_file;
  std::string out;
};

std::optional<LogitsOptions> parse_logits_options(const MpiContext& mpi, const Args& args) {
  po::options_description desc("circal logits options");
  desc.add_options()
      ("model", po::value<std::string>()->required(), "model folder (config.json, model.safetensors, tokenizer.model)")
      ("prompts", po::value<std::string>()->required(), "prompts file, one prompt per non-empty line")
      ("out", po::value<std::string>()->required(), "output HDF5 file")
      ("student", po::value<std::string>(), "student checkpoint (not supported yet)");
  const auto vm = parse_options(mpi, "logits", "--model DIR --prompts FILE --out OUT.h5", desc, args);
  if (!vm) return std::nullopt;
  if (vm->count("student")) {
    fail(kExitUsage, "circal logits: --student " + (*vm)["student"].as<std::string>() + " is not supported yet");
  }
  return LogitsOptions{(*vm)["model"].as<std::string>(), (*vm)["prompts"].as<std::string>(),
                       (*vm)["out"].as<std::string>()};
}

std::string group_of(int prompt) { return "/prompt" + std::to_string(prompt); }

}  // namespace

int logits_command(MpiContext& mpi, const Args& args) {
  const auto options = parse_logits_options(mpi, args);
  if (!options) return kExitOk;
  const ModelWeights model = load_model(options->model_dir);
  const Tokenizer tokenizer(options->model_dir);
  const std::vector<Prompt> prompts = read_prompts(options->prompts_file);
  // Every rank tokenizes every prompt: dataset creation is collective and needs each T.
  std::vector<std::vector<int>> tokens;
  for (const auto& prompt : prompts) tokens.push_back(prompt_ids(tokenizer, model.config, prompt.text));

  const CheckpointMeta meta{"logits", model.weights_hash + ":" + file_content_hash(options->prompts_file),
                            "model: " + options->model_dir + "\nprompts: " + options->prompts_file + "\n"};
  CheckpointWriter out(mpi.comm(), options->out, meta);
  out.set_attr("/", "model", options->model_dir);
  out.set_attr("/", "prompts", static_cast<int64_t>(prompts.size()));
  out.set_attr("/", "vocab_size", static_cast<int64_t>(model.config.vocab_size));

  Transformer teacher(model);
  const int ranks = mpi.size();
  const auto vocab = static_cast<uint64_t>(model.config.vocab_size);
  std::vector<float> mine;
  // Rounds of R prompts (one per rank): every rank computes its prompt, then all write the
  // round collectively, so no rank idles in a collective while another computes the lot.
  for (int round0 = 0; round0 < static_cast<int>(prompts.size()); round0 += ranks) {
    const int own = round0 + mpi.rank();
    if (own < static_cast<int>(prompts.size())) {
      const float* logits = teacher.forward(tokens[static_cast<std::size_t>(own)]);
      mine.assign(logits, logits + tokens[static_cast<std::size_t>(own)].size() * vocab);
    }
    for (int i = round0; i < std::min<int>(round0 + ranks, static_cast<int>(prompts.size())); ++i) {
      const auto& ids = tokens[static_cast<std::size_t>(i)];
      const uint64_t T = ids.size();
      const std::vector<int32_t> ids32(ids.begin(), ids.end());
      out.write(group_of(i) + "/tokens", {T}, ids32.data());
      out.create(group_of(i) + "/logits", H5Type::Float32, {T, vocab});
      out.write_rows(group_of(i) + "/logits", 0, i == own ? T : 0, mine.data());
      out.set_attr(group_of(i), "text", prompts[static_cast<std::size_t>(i)].text);
    }
  }
  out.commit();
  mpi.log("circal logits: " + std::to_string(prompts.size()) + " prompts -> " + options->out);
  return kExitOk;
}

}  // namespace circal
