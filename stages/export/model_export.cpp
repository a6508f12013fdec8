#include "stages/export/model_export.hpp"

#include <nlohmann/json.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <vector>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/atomic_text_file.hpp"
#include "pipeline/io/safetensors_writer.hpp"
#include "stages/common/quantized_student.hpp"
#include "stages/common/student.hpp"
#include "stages/export/modeling_circal_source.hpp"

namespace circal {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Files of an HF folder that describe the tokenizer and decoding, copied as they are.
constexpr const char* kCopiedFiles[] = {"tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "generation_config.json"};

struct ExportedStudent {
  StudentLayout layout;
  std::vector<float> params;
};

[[noreturn]] void lacks_student(const StageContext& context, StudentKind kind, const std::string& why) {
  fail(kExitUsage,
       "circal export: run " + context.config.run_dir + " has no student " + name_of(kind) + " (" + why + ")");
}

// The student as evaluate reads it: project.h5 (and calibrate.h5 for a calibrated one), each
// refused with kExitCheckpoint unless complete and of this config.
ExportedStudent read_student(const StageContext& context, StudentKind kind) {
  const StudentSource source = student_source(kind);
  if (source.quantized) {  // dequantized weights at the first of quantize.bits
    QuantizedStudent quantized = quantize_student(context, kind, context.config.quantize.bits.front());
    return {std::move(quantized.layout), std::move(quantized.params)};
  }
  if (!source.has_parameters) lacks_student(context, kind, "it has no parameters to export");
  const LlamaConfig& model = context.model.config;
  StudentLayout layout = run_student_layout(context);
  const CheckpointReader project = context.open_output(Stage::Project);
  if (source.structure != layout.structure) {
    const std::optional<StudentLayout> other = StudentLayout::with_structure(context.config, model, source.structure);
    const std::string missing = other ? comparison_missing(project, kind) : "no such student at this block size";
    if (!missing.empty())
      lacks_student(context, kind, "project.structure is " + std::string(name_of(layout.structure)) + "; " + missing);
    return {*other, read_student_parameters(project, *other, source.variant)};
  }
  if (!source.calibrated) return {layout, read_student_parameters(project, layout, source.variant)};
  std::vector<float> params = read_student_parameters(context.open_output(Stage::Calibrate), layout);
  return {std::move(layout), std::move(params)};
}

TensorDtype tensor_dtype(WeightDtype dtype) {
  switch (dtype) {
    case WeightDtype::F32: return TensorDtype::F32;
    case WeightDtype::BF16: return TensorDtype::BF16;
    case WeightDtype::F16: return TensorDtype::F16;
  }
  return TensorDtype::F32;
}

const char* torch_dtype_name(TensorDtype dtype) {
  switch (dtype) {
    case TensorDtype::F32: return "float32";
    case TensorDtype::BF16: return "bfloat16";
    case TensorDtype::F16: return "float16";
  }
  return "?";
}

std::string weight_name(const PatchedMatrix& matrix) {
  return "model.layers." + std::to_string(matrix.layer) + ".mlp." + name_of(matrix.projection) + ".weight";
}

// DIR.tmp while it is written; DIR only once complete. Removed on any failure, so an
// interrupted export leaves the old DIR (or none) and no partial folder under DIR's name.
class StagingFolder {
 public:
  StagingFolder(std::string out, bool force) : out_(std::move(out)), tmp_(out_ + ".tmp") {
    if (fs::exists(out_) && !force) fail(kExitUsage, "circal export: " + out_ + " exists (--force replaces it)");
    std::error_code ec;
    fs::remove_all(tmp_, ec);  // left by an export that was killed
    if (const fs::path parent = fs::path(tmp_).parent_path(); !parent.empty()) fs::create_directories(parent, ec);
    if (!fs::create_directory(tmp_, ec) || ec)
      fail(kExitIo, tmp_ + ": cannot create (" + (ec ? ec.message() : "exists") + ")");
  }
  ~StagingFolder() {
    std::error_code ignored;
    if (!committed_) fs::remove_all(tmp_, ignored);
  }
  StagingFolder(const StagingFolder&) = delete;
  StagingFolder& operator=(const StagingFolder&) = delete;

  std::string path(const std::string& name) const { return (fs::path(tmp_) / name).string(); }

  // An old DIR is moved aside first and removed last, so DIR is at every moment the old
  // folder, absent, or the new one.
  void commit() {
    const std::string old = out_ + ".old";
    std::error_code ec;
    fs::remove_all(old, ec);
    if (fs::exists(out_)) fs::rename(out_, old, ec);
    if (!ec) fs::rename(tmp_, out_, ec);
    if (ec) fail(kExitIo, out_ + ": cannot rename " + tmp_ + " to it (" + ec.message() + ")");
    committed_ = true;
    fs::remove_all(old, ec);
  }

 private:
  std::string out_, tmp_;
  bool committed_ = false;
};

// The bytes of `count` float32 values, as `out`.
std::function<void(unsigned char*)> converted(const float* values, std::size_t count, TensorDtype out) {
  return [values, count, out](unsigned char* bytes) { float32_to_bytes(values, count, out, bytes); };
}

// The tensors that stand for one patched matrix: its dense expansion under the teacher's name,
// or (circulant format) its own parameters under that name's stem, ending in the dataset's
// name as project.h5 calls it (`.c`, or `.U` and `.V`), so a reader needs no other map.
void add_student_tensors(std::vector<OutputTensor>& tensors, ExportFormat format, const ExportedStudent& student,
                         const PatchedMatrix& matrix, const TensorInfo& teacher, TensorDtype out) {
  if (format == ExportFormat::Dense) {
    tensors.push_back({weight_name(matrix), out, teacher.shape, [&student, &matrix, out](unsigned char* bytes) {
                         const std::vector<float> dense =
                             student_dense_matrix(student.layout, matrix, student.params.data());
                         float32_to_bytes(dense.data(), dense.size(), out, bytes);
                       }});
    return;
  }
  const std::string stem = weight_name(matrix).substr(0, weight_name(matrix).size() - std::strlen("weight"));
  const std::vector<std::string> names = parameter_datasets(student.layout.structure);
  const auto shapes = parameter_shapes(student.layout, matrix);
  const float* values = student.params.data() + matrix.offset;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::vector<int64_t> shape(shapes[i].begin(), shapes[i].end());
    std::size_t count = 1;
    for (uint64_t extent : shapes[i]) count *= extent;
    tensors.push_back({stem + names[i], out, shape, converted(values, count, out)});
    values += count;
  }
}

// Every tensor of the teacher, in name order: the patched matrices replaced by the student's
// (add_student_tensors), the others the teacher's bytes (converted only when the dtype changes).
std::vector<OutputTensor> model_tensors(const WeightSource& teacher, const ExportedStudent& student,
                                        ExportFormat format, std::optional<TensorDtype> dtype) {
  std::map<std::string, const PatchedMatrix*> patched;
  for (const PatchedMatrix& matrix : student.layout.matrices) patched[weight_name(matrix)] = &matrix;
  std::vector<OutputTensor> tensors;
  for (const auto& [name, file] : teacher.location) {
    const TensorInfo& info = file->tensor(name);
    const TensorDtype out = dtype.value_or(info.dtype);
    if (const auto it = patched.find(name); it != patched.end()) {
      add_student_tensors(tensors, format, student, *it->second, info, out);
    } else if (out == info.dtype) {
      tensors.push_back({name, out, info.shape, [&info](unsigned char* bytes) {
                           if (info.nbytes) std::memcpy(bytes, info.bytes, info.nbytes);
                         }});
    } else {
      tensors.push_back({name, out, info.shape, [&info, out](unsigned char* bytes) {
                           std::vector<float> values(std::size_t(info.elements()));
                           tensor_to_float32(info, values.data());
                           float32_to_bytes(values.data(), values.size(), out, bytes);
                         }});
    }
  }
  return tensors;
}

// Consecutive runs of tensors of at most `limit` bytes each (a larger tensor alone in its shard).
std::vector<std::vector<OutputTensor>> shards_of(std::vector<OutputTensor> tensors, std::size_t limit) {
  std::vector<std::vector<OutputTensor>> shards(1);
  std::size_t bytes = 0;
  for (OutputTensor& tensor : tensors) {
    if (!shards.back().empty() && bytes + tensor.nbytes() > limit) {
      shards.emplace_back();
      bytes = 0;
    }
    bytes += tensor.nbytes();
    shards.back().push_back(std::move(tensor));
  }
  return shards;
}

std::string shard_name(std::size_t index, std::size_t count) {
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

// model.safetensors, or HF's shards and model.safetensors.index.json.
void write_weights(const StagingFolder& folder, std::vector<OutputTensor> tensors, std::size_t shard_bytes) {
  const auto shards = shards_of(std::move(tensors), shard_bytes);
  if (shards.size() == 1) return write_safetensors(folder.path("model.safetensors"), shards[0]);
  Json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", Json::object()}};
  std::size_t total = 0;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const std::string name = shard_name(i, shards.size());
    write_safetensors(folder.path(name), shards[i]);
    for (const OutputTensor& tensor : shards[i]) {
      index["weight_map"][tensor.name] = name;
      total += tensor.nbytes();
    }
  }
  index["metadata"]["total_size"] = total;
  write_file_atomically(folder.path("model.safetensors.index.json"), index.dump(2) + "\n");
}

Json read_json(const std::string& path) {
  std::ifstream in(path);
  const Json json = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!in || !json.is_object()) fail(kExitInput, path + ": missing or not a JSON object");
  return json;
}

void copy_into(const StagingFolder& folder, const std::string& from, const std::string& name) {
  std::error_code ec;
  fs::copy_file(from, folder.path(name), ec);
  if (ec) fail(kExitIo, folder.path(name) + ": cannot copy " + from + " (" + ec.message() + ")");
}

// What a reader of the circulant folder needs to rebuild each patched matrix from its tensors.
Json circal_section(const ExportedStudent& student, StudentKind kind) {
  const StudentLayout& layout = student.layout;
  Json matrices = Json::array();
  for (const PatchedMatrix& matrix : layout.matrices) {
    Json entry = {{"layer", matrix.layer},
                  {"projection", name_of(matrix.projection)},
                  {"out_features", matrix.out_features},
                  {"in_features", matrix.in_features}};
    if (layout.structure == Structure::LowRank)
      entry["rank"] = matrix.rank;
    else
      entry["block_size"] = matrix.block_size;  // 1: kept dense, c [m, n, 1] is W
    matrices.push_back(entry);
  }
  const char* rule = layout.structure == Structure::LowRank
                         ? "W = U V"
                         : "W[r, s] = c[r / b, s / b, (r - s) mod b] for r < out_features, s < in_features";
  Json section = {{"structure", name_of(layout.structure)},
                  {"block_size", layout.block_size},  // 0: each matrix its own (allocated)
                  {"student", name_of(kind)},
                  {"matrices", matrices},
                  {"rule", rule},
                  {"modeling", "modeling_circal.py"}};
  if (layout.structure == Structure::Circulant) {
    section["index_convention"] = "C_ij[r, s] = c_ij[(r - s) mod b], c [p, q, b], p = ceil(m / b), q = ceil(n / b)";
    section["padding"] = "W is C [p b, q b] cut to [m, n]: inputs zero-padded to q b, outputs past m dropped";
  }
  return section;
}

// The teacher's description files: config.json with the dtype written (and, for the circulant
// format, the `circal` section), the rest as they are.
void write_model_files(const StagingFolder& folder, const std::string& teacher_dir, TensorDtype written,
                       const Json& circal) {
  Json config = read_json((fs::path(teacher_dir) / "config.json").string());
  config["torch_dtype"] = torch_dtype_name(written);
  if (!circal.is_null()) config["circal"] = circal;
  write_file_atomically(folder.path("config.json"), config.dump(2) + "\n");
  for (const char* name : kCopiedFiles) {
    const fs::path from = fs::path(teacher_dir) / name;
    if (fs::exists(from)) copy_into(folder, from.string(), name);
  }
}

void write_folder(const StageContext& context, const ExportRequest& request, const ExportedStudent& student) {
  const std::string& teacher_dir = context.config.model.path;
  const WeightSource teacher = open_weight_source(teacher_dir);
  const std::optional<TensorDtype> dtype = request.dtype ? std::optional(tensor_dtype(*request.dtype)) : std::nullopt;
  // Without --dtype the student's tensors keep their teacher matrices' dtype: config.json says that one.
  const std::string first = weight_name(student.layout.matrices.front());
  const TensorDtype written = dtype.value_or(teacher.location.at(first)->tensor(first).dtype);
  StagingFolder folder(request.out, request.force);
  write_weights(folder, model_tensors(teacher, student, request.format, dtype), request.shard_bytes);
  const bool compact = request.format == ExportFormat::Circulant;
  write_model_files(folder, teacher_dir, written, compact ? circal_section(student, request.student) : Json());
  // The PyTorch module that reads the compact folder travels with it (no LLaMA loader does).
  if (compact) write_file_atomically(folder.path("modeling_circal.py"), kModelingCircalPy);
  folder.commit();
}

}  // namespace

void export_student(const StageContext& context, const ExportRequest& request) {
  if (student_source(request.student).quantized && request.format != ExportFormat::Dense)
    fail(kExitUsage, "circal export: --format " + std::string(name_of(request.format)) + ": student " +
                         name_of(request.student) + " is exported dequantized (--format dense)");
  const ExportedStudent student = read_student(context, request.student);
  run_on_root_and_agree(context.mpi.comm(), kExitIo, [&] { write_folder(context, request, student); });
  context.mpi.log("circal export: student " + std::string(name_of(request.student)) + " (" +
                  std::to_string(student.layout.matrices.size()) + " matrices, format " + name_of(request.format) +
                  ") -> " + request.out);
}

}  // namespace circal
