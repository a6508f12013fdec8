// `circal logits --model DIR --prompts FILE --out OUT.h5 [--student CHECKPOINT]`: the
// teacher's tokens and logits of every prompt (and a student's logits beside them), one HDF5
// file. Prompts run in batches shared among ranks as pipeline/data/prompt_batches.hpp says, so the
// file is bit-identical at any rank count.
#include <memory>
#include <string>
#include <vector>

#include "cli/cli_options.hpp"
#include "cli/commands.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/data/prompt_batches.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/io/checkpoint_writer.hpp"
#include "pipeline/io/input_files.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/model/transformer.hpp"
#include "stages/common/student_checkpoint.hpp"

namespace circal {

namespace {

struct LogitsOptions {
  std::string model_dir;
  std::string prompts_file;
  std::string out;
  std::string student;  // empty: teacher only
  int batch;
};

std::optional<LogitsOptions> parse_logits_options(const MpiContext& mpi, const Args& args) {
  po::options_description desc("circal logits options");
  desc.add_options()("model", po::value<std::string>()->required(),
                     "model folder (config.json, model.safetensors, tokenizer.json or tokenizer.model)")(
      "prompts", po::value<std::string>()->required(), "prompts file, one prompt per non-empty line")(
      "out", po::value<std::string>()->required(), "output HDF5 file")(
      "student", po::value<std::string>()->default_value(""),
      "student checkpoint (project.h5 or calibrate.h5): adds /prompt{i}/student_logits")(
      "batch", po::value<int>()->default_value(16), "prompts per forward on each rank (rows stacked into one matrix)");
  const auto vm = parse_options(
      mpi, "logits", "--model DIR --prompts FILE --out OUT.h5 [--student CHECKPOINT] [--batch B]", desc, args);
  if (!vm) return std::nullopt;
  const int batch = (*vm)["batch"].as<int>();
  if (batch < 1) fail(kExitUsage, "circal logits: --batch must be at least 1 (got " + std::to_string(batch) + ")");
  return LogitsOptions{(*vm)["model"].as<std::string>(), (*vm)["prompts"].as<std::string>(),
                       (*vm)["out"].as<std::string>(), (*vm)["student"].as<std::string>(), batch};
}

std::string group_of(int prompt) { return "/prompt" + std::to_string(prompt); }

// This rank's prompts of one round and their logits, teacher and (optional) student.
struct RoundLogits {
  std::vector<int> prompts;
  std::vector<long> row0;  // first row of each prompt in the arrays below
  std::vector<float> teacher, student;
};

void run_batch(Transformer& net, const std::vector<std::vector<int>>& batch, std::vector<float>& logits,
               std::vector<long>& row0) {
  const float* rows = net.forward_batch(batch);
  logits.assign(rows, rows + static_cast<long>(net.tokens()) * net.config().vocab_size);
  row0.clear();
  for (std::size_t s = 0; s < batch.size(); ++s) row0.push_back(net.row_offset(static_cast<int>(s)));
}

void run_round(Transformer& teacher, StudentNet* student, const std::vector<std::vector<int>>& tokens,
               RoundLogits& round) {
  if (round.prompts.empty()) return;
  std::vector<std::vector<int>> batch;
  for (int i : round.prompts) batch.push_back(tokens[static_cast<std::size_t>(i)]);
  run_batch(teacher, batch, round.teacher, round.row0);
  if (student) run_batch(student->net, batch, round.student, round.row0);
}

}  // namespace

int logits_command(MpiContext& mpi, const Args& args) {
  const auto options = parse_logits_options(mpi, args);
  if (!options) return kExitOk;
  const Teacher opened = open_teacher(options->model_dir);
  const ModelWeights& model = opened.weights;
  const Tokenizer& tokenizer = opened.tokenizer;
  const std::vector<Prompt> prompts = read_prompts(options->prompts_file);
  // Every rank tokenizes every prompt: dataset creation is collective and needs each T.
  const std::vector<std::vector<int>> tokens =
      tokenize_prompts(prompts, options->prompts_file, tokenizer, model.config);

  Transformer teacher(model);
  std::unique_ptr<StudentNet> student;
  std::string student_hash;
  if (!options->student.empty()) {
    student = std::make_unique<StudentNet>(model, read_student_checkpoint(options->student, model));
    student_hash = ":" + file_content_hash(options->student);
  }

  const CheckpointMeta meta{"logits",
                            model.weights_hash + ":" + file_content_hash(options->prompts_file) + student_hash,
                            "model: " + options->model_dir + "\nprompts: " + options->prompts_file + "\n" +
                                (options->student.empty() ? "" : "student: " + options->student + "\n")};
  CheckpointWriter out(mpi.comm(), options->out, meta);
  out.set_attr("/", "model", options->model_dir);
  out.set_attr("/", "prompts", static_cast<int64_t>(prompts.size()));
  out.set_attr("/", "vocab_size", static_cast<int64_t>(model.config.vocab_size));
  if (!options->student.empty()) out.set_attr("/", "student", options->student);

  const int count = static_cast<int>(prompts.size());
  const auto vocab = static_cast<uint64_t>(model.config.vocab_size);
  RoundLogits mine;
  for (const PromptRound& round : prompt_rounds(count, mpi.size(), mpi.rank(), options->batch)) {
    mine.prompts.clear();
    for (int i = round.mine_begin; i < round.mine_end; ++i) mine.prompts.push_back(i);
    run_round(teacher, student.get(), tokens, mine);
    for (int i = round.begin; i < round.end; ++i) {
      const auto& ids = tokens[static_cast<std::size_t>(i)];
      const uint64_t T = ids.size();
      const bool own = round.mine(i);
      const long row0 = own ? mine.row0[static_cast<std::size_t>(i - round.mine_begin)] : 0;
      const std::vector<int32_t> ids32(ids.begin(), ids.end());
      out.write(group_of(i) + "/tokens", {T}, ids32.data());
      out.create(group_of(i) + "/logits", H5Type::Float32, {T, vocab});
      out.write_rows(group_of(i) + "/logits", 0, own ? T : 0, mine.teacher.data() + row0 * vocab);
      if (student) {
        out.create(group_of(i) + "/student_logits", H5Type::Float32, {T, vocab});
        out.write_rows(group_of(i) + "/student_logits", 0, own ? T : 0, mine.student.data() + row0 * vocab);
      }
      out.set_attr(group_of(i), "text", prompts[static_cast<std::size_t>(i)].text);
    }
  }
  out.commit();
  mpi.log("circal logits: " + std::to_string(prompts.size()) + " prompts" +
          (options->student.empty() ? "" : " (teacher and student " + options->student + ")") + " -> " + options->out);
  return kExitOk;
}

}  // namespace circal
