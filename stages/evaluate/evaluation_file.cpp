#include "stages/evaluate/evaluation_file.hpp"

#include <sstream>

#include "pipeline/base/errors.hpp"
#include "pipeline/model/tokenizer.hpp"

namespace circal {

namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" : "") + lines[i];
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string student_dataset(const std::string& student, const std::string& name) {
  return "/students/" + student + "/" + name;
}

void create_datasets(CheckpointWriter& file, const TestSplit& split, const LocalEvaluation& local) {
  const uint64_t positions = uint64_t(split.offsets.back()), prompts = uint64_t(split.size());
  for (const char* name : {"/positions/prompt", "/positions/is_last", "/positions/token"})
    file.create(name, H5Type::Int32, {positions});
  for (const std::string& student : local.students) {
    for (const std::string& metric : position_metric_names(local.topk))
      file.create(student_dataset(student, metric), H5Type::Float64, {positions});
    file.create(student_dataset(student, "drift_match_rate"), H5Type::Float64, {prompts});
    file.create(student_dataset(student, "drift_first_divergence"), H5Type::Float64, {prompts});
  }
}

// One round: this rank writes prompt `prompt` (or nothing when prompt < 0) into every dataset.
void write_round(CheckpointWriter& file, const TestSplit& split, const LocalEvaluation& local, int prompt) {
  const bool mine = prompt >= 0;
  const uint64_t row0 = mine ? uint64_t(split.offsets[prompt]) : 0;
  const uint64_t rows = mine ? uint64_t(split.offsets[prompt + 1]) - row0 : 0;
  std::vector<int32_t> prompt_ids(rows, prompt), is_last(rows, 0), tokens;
  if (mine) {
    is_last.back() = 1;
    tokens.assign(split.tokens[prompt].begin(), split.tokens[prompt].end());
  }
  file.write_rows("/positions/prompt", row0, rows, prompt_ids.data());
  file.write_rows("/positions/is_last", row0, rows, is_last.data());
  file.write_rows("/positions/token", row0, rows, tokens.data());
  const std::vector<std::string> metrics = position_metric_names(local.topk);
  for (size_t s = 0; s < local.students.size(); ++s) {
    const PromptEvaluation* result = mine ? &local.results[s].at(prompt) : nullptr;
    for (size_t m = 0; m < metrics.size(); ++m)
      file.write_rows(student_dataset(local.students[s], metrics[m]), row0, rows,
                      mine ? result->metrics[m].data() : nullptr);
    const uint64_t prompt_row = mine ? uint64_t(prompt) : 0, prompt_rows = mine ? 1 : 0;
    file.write_rows(student_dataset(local.students[s], "drift_match_rate"), prompt_row, prompt_rows,
                    mine ? &result->match_rate : nullptr);
    file.write_rows(student_dataset(local.students[s], "drift_first_divergence"), prompt_row, prompt_rows,
                    mine ? &result->first_divergence : nullptr);
  }
}

// /compression/{layer, projection, block_size} int32 [N] (projection: 0 gate, 1 up, 2 down).
void write_patched_blocks(CheckpointWriter& file, const CompressionCounts& compression) {
  std::vector<int32_t> layers, projections, sizes;
  for (const auto& block : compression.blocks) {
    layers.push_back(block.layer);
    projections.push_back(int32_t(block.projection));
    sizes.push_back(block.block_size);
  }
  const uint64_t N = sizes.size();
  if (N == 0) return;  // files written without a layout (tests of the file itself)
  file.write("/compression/layer", {N}, layers.data());
  file.write("/compression/projection", {N}, projections.data());
  file.write("/compression/block_size", {N}, sizes.data());
  file.set_attr("/compression", "allocated", int64_t(compression.allocated));
}

void read_patched_blocks(const CheckpointReader& file, CompressionCounts& counts) {
  if (!file.exists("/compression/block_size")) return;
  const std::vector<int32_t> layers = file.read_int32("/compression/layer"),
                             projections = file.read_int32("/compression/projection"),
                             sizes = file.read_int32("/compression/block_size");
  if (layers.size() != sizes.size() || projections.size() != sizes.size())
    fail(kExitCheckpoint, file.path() + ": /compression block sizes of inconsistent length");
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (projections[i] < 0 || projections[i] >= int(kProjections.size()))
      fail(kExitCheckpoint, file.path() + ": /compression/projection holds " + std::to_string(projections[i]));
    counts.blocks.push_back({layers[i], kProjections[projections[i]], sizes[i]});
  }
  counts.allocated = file.attr_int("/compression", "allocated") != 0;
}

void write_attributes(CheckpointWriter& file, const TestSplit& split, const LocalEvaluation& local) {
  file.write("/prompts/offsets", {uint64_t(split.offsets.size())}, split.offsets.data());
  file.set_attr("/prompts", "families", joined(split.family));
  file.set_attr("/prompts", "languages", joined(split.language));
  file.set_attr("/students", "names", joined(local.students));
  if (!local.bits_per_patched_weight.empty())
    file.set_attr("/students", "bits_per_patched_weight", local.bits_per_patched_weight);
  file.set_attr("/", "topk", std::vector<double>(local.topk.begin(), local.topk.end()));
  file.set_attr("/", "generate_tokens", int64_t(local.generate_tokens));
  file.set_attr("/compression", "mlp_params_dense", int64_t(local.compression.mlp_params_dense));
  file.set_attr("/compression", "mlp_params_circulant", int64_t(local.compression.mlp_params_circulant));
  file.set_attr("/compression", "structure", std::string(name_of(local.compression.structure)));
  file.set_attr("/compression", "mlp_params_student", int64_t(local.compression.student_params()));
  if (local.compression.mlp_params_lowrank)
    file.set_attr("/compression", "mlp_params_lowrank", int64_t(local.compression.mlp_params_lowrank));
  write_patched_blocks(file, local.compression);
}

}  // namespace

void write_evaluation_file(CheckpointWriter& file, const MpiContext& mpi, const TestSplit& split,
                           const LocalEvaluation& local) {
  write_attributes(file, split, local);
  create_datasets(file, split, local);
  const int rounds = (split.size() + mpi.size() - 1) / mpi.size();
  for (int round = 0; round < rounds; ++round) {
    const int prompt = round * mpi.size() + mpi.rank();
    write_round(file, split, local, prompt < split.size() ? prompt : -1);
  }
}

EvaluationTables read_evaluation_tables(const CheckpointReader& file) {
  EvaluationTables tables;
  tables.family = split_lines(file.attr_string("/prompts", "families"));
  tables.language = split_lines(file.attr_string("/prompts", "languages"));
  for (int32_t v : file.read_int32("/positions/prompt")) tables.position_prompt.push_back(v);
  for (int32_t v : file.read_int32("/positions/is_last")) tables.position_is_last.push_back(v);
  for (double k : file.attr_doubles("/", "topk")) tables.topk.push_back(int(k));
  tables.generate_tokens = int(file.attr_int("/", "generate_tokens"));
  const std::vector<std::string> names = split_lines(file.attr_string("/students", "names"));
  std::vector<double> bits(names.size(), std::nan(""));
  if (file.has_attr("/students", "bits_per_patched_weight"))
    bits = file.attr_doubles("/students", "bits_per_patched_weight");
  if (bits.size() != names.size())
    fail(kExitCheckpoint, file.path() + ": /students bits_per_patched_weight does not match names");
  for (size_t s = 0; s < names.size(); ++s) {
    const std::string& name = names[s];
    EvaluatedStudent student{name, {}, {}, {}, bits[s]};
    for (const std::string& metric : position_metric_names(tables.topk))
      student.positions[metric] = file.read_double(student_dataset(name, metric));
    student.drift_match_rate = file.read_double(student_dataset(name, "drift_match_rate"));
    student.drift_first_divergence = file.read_double(student_dataset(name, "drift_first_divergence"));
    tables.students.push_back(std::move(student));
  }
  if (tables.family.size() + 1 != file.shape("/prompts/offsets").at(0))
    fail(kExitCheckpoint, file.path() + ": /prompts attributes do not match /prompts/offsets");
  return tables;
}

CompressionCounts read_compression(const CheckpointReader& file) {
  CompressionCounts counts{uint64_t(file.attr_int("/compression", "mlp_params_dense")),
                           uint64_t(file.attr_int("/compression", "mlp_params_circulant"))};
  if (file.has_attr("/compression", "structure"))
    counts.structure = parse_name<Structure>(file.attr_string("/compression", "structure"));
  if (file.has_attr("/compression", "mlp_params_student"))
    counts.mlp_params_student = uint64_t(file.attr_int("/compression", "mlp_params_student"));
  if (file.has_attr("/compression", "mlp_params_lowrank"))
    counts.mlp_params_lowrank = uint64_t(file.attr_int("/compression", "mlp_params_lowrank"));
  read_patched_blocks(file, counts);
  return counts;
}

}  // namespace circal
