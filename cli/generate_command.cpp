// `circal generate --model DIR --prompt TEXT [--tokens N] [--student CHECKPOINT] [--ids]`: the
// teacher's greedy continuation; with a student, both continuations and a token table that
// marks where they part. --ids prints each continuation's token ids instead (for comparing
// another implementation token for token).
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/cli_options.hpp"
#include "cli/commands.hpp"
#include "pipeline/base/errors.hpp"
#include "pipeline/data/prompts.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/model/transformer.hpp"
#include "pipeline/model/utf8_text.hpp"
#include "stages/common/student_checkpoint.hpp"

namespace circal {

namespace {

// Greedy continuation up to (not including) EOS.
std::vector<int> continuation(Transformer& net, const std::vector<int>& prompt, int n, int eos) {
  std::vector<int> ids = net.generate_greedy(prompt, n);
  ids.erase(std::find(ids.begin(), ids.end(), eos), ids.end());
  return ids;
}

// Prompt and continuation decoded together, which keeps the word boundary between them (the
// prompt's BOS, if the tokenizer adds one, decodes to no text).
std::string text_of(const Tokenizer& tokenizer, const std::vector<int>& prompt, const std::vector<int>& ids) {
  std::vector<int> all = prompt;
  all.insert(all.end(), ids.begin(), ids.end());
  return tokenizer.decode(all);
}

// One token of a continuation, quoted, with line breaks and tabs escaped so each table row
// stays on one line.
std::string piece(const Tokenizer& tokenizer, const std::vector<int>& ids, std::size_t j) {
  if (j >= ids.size()) return "(end)";
  std::string quoted = "\"";
  for (const char c : tokenizer.decode({ids[j]})) {
    if (c == '\n')
      quoted += "\\n";
    else if (c == '\t')
      quoted += "\\t";
    else if (c == '"' || c == '\\')
      quoted += std::string("\\") + c;
    else
      quoted += c;
  }
  return quoted + "\"";
}

void print_side_by_side(const Tokenizer& tokenizer, const std::vector<int>& prompt, const std::vector<int>& teacher,
                        const std::vector<int>& student) {
  std::cout << "teacher: " << text_of(tokenizer, prompt, teacher) << "\n"
            << "student: " << text_of(tokenizer, prompt, student) << "\n";
  const std::size_t n = std::max(teacher.size(), student.size());
  std::size_t first = n;
  std::printf("%5s  %-24s %-24s\n", "token", "teacher", "student");
  std::fflush(stdout);
  for (std::size_t j = 0; j < n; ++j) {
    const bool same = j < teacher.size() && j < student.size() && teacher[j] == student[j];
    if (!same && first == n) first = j;
    std::printf("%5zu  %-24s %-24s%s\n", j, piece(tokenizer, teacher, j).c_str(), piece(tokenizer, student, j).c_str(),
                same ? "" : (j == first ? "  <- diverges" : "  *"));
  }
  if (first == n)
    std::printf("no divergence in %zu tokens\n", n);
  else
    std::printf("first divergence at token %zu of %zu\n", first, n);
  std::fflush(stdout);
}

void print_ids_line(const char* who, const std::vector<int>& ids) {
  std::printf("%s ids:", who);
  for (const int id : ids) std::printf(" %d", id);
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

int generate_command(MpiContext& mpi, const Args& args) {
  po::options_description desc("circal generate options");
  desc.add_options()("model", po::value<std::string>()->required(),
                     "model folder (config.json, model.safetensors, tokenizer.json or tokenizer.model)")(
      "prompt", po::value<std::string>()->required(), "prompt text")("tokens", po::value<int>()->default_value(32),
                                                                     "number of tokens to append (stops early at EOS)")(
      "student", po::value<std::string>()->default_value(""),
      "student checkpoint (project.h5 or calibrate.h5): print both continuations")(
      "ids", "print each continuation's token ids instead of text (lines 'teacher ids:', 'student ids:')");
  const auto vm = parse_options(mpi, "generate",
                                "--model DIR --prompt TEXT [--tokens N] [--student CHECKPOINT] [--ids]", desc, args);
  if (!vm) return kExitOk;
  const int n = (*vm)["tokens"].as<int>();
  const std::string student_path = (*vm)["student"].as<std::string>();
  const bool print_ids = vm->count("ids") > 0;
  if (!valid_utf8((*vm)["prompt"].as<std::string>())) fail(kExitInput, "circal generate: --prompt: invalid UTF-8");
  const Teacher opened = open_teacher((*vm)["model"].as<std::string>());
  const ModelWeights& model = opened.weights;
  const Tokenizer& tokenizer = opened.tokenizer;
  // Tokenized as a prompt file's line is, so a prompt too long for the model is refused as logits
  // and the stages refuse it (exit 3), not as a --tokens out of range.
  const std::vector<int> prompt =
      tokenize_prompts({Prompt{(*vm)["prompt"].as<std::string>(), "", ""}}, "--prompt", tokenizer, model.config).at(0);
  if (n < 1 ||
      prompt.size() + static_cast<std::size_t>(n) > static_cast<std::size_t>(model.config.max_position_embeddings)) {
    fail(kExitUsage, "circal generate: --tokens " + std::to_string(n) + " must be in [1, " +
                         std::to_string(model.config.max_position_embeddings - static_cast<int>(prompt.size())) +
                         "] for this prompt (max_position_embeddings " +
                         std::to_string(model.config.max_position_embeddings) + ")");
  }
  std::unique_ptr<StudentNet> student;
  if (!student_path.empty())
    student = std::make_unique<StudentNet>(model, read_student_checkpoint(student_path, model));
  if (!mpi.is_root()) return kExitOk;  // one continuation, printed once

  Transformer teacher(model);
  const std::vector<int> ids = continuation(teacher, prompt, n, model.config.eos_token_id);
  const std::vector<int> student_ids =
      student ? continuation(student->net, prompt, n, model.config.eos_token_id) : std::vector<int>();
  if (print_ids) {  // no text: ids a tokenizer cannot decode (a synthetic model's) print too
    print_ids_line("teacher", ids);
    if (student) print_ids_line("student", student_ids);
  } else if (!student) {
    std::cout << text_of(tokenizer, prompt, ids) << std::endl;
  } else {
    print_side_by_side(tokenizer, prompt, ids, student_ids);
  }
  return kExitOk;
}

}  // namespace circal
