#include "stages/common/student.hpp"

#include <algorithm>
#include <cmath>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"
#include "pipeline/model/dense_linear.hpp"
#include "pipeline/model/model_loader.hpp"
#include "stages/common/stage.hpp"

namespace circal {

std::string PatchedMatrix::dataset() const { return "/layers/" + std::to_string(layer) + "/" + name_of(projection); }

namespace {

std::string matrix_name(const PatchedMatrix& matrix) {
  return "layer " + std::to_string(matrix.layer) + " " + name_of(matrix.projection) + " (" +
         std::to_string(matrix.out_features) + " x " + std::to_string(matrix.in_features) + ")";
}

// A matrix's parameter count in `structure` at its block size.
void size_matrix(PatchedMatrix& matrix, Structure structure) {
  const int m = matrix.out_features, n = matrix.in_features, b = matrix.block_size;
  if (structure == Structure::LowRank) {
    matrix.rank = lowrank_rank(m, n, b);
    if (matrix.rank < 1)
      fail(kExitUsage, "config: project.block_size: " + std::to_string(b) + " leaves " + matrix_name(matrix) +
                           " no rank for a low-rank student");
    matrix.size = lowrank_parameter_count(m, n, matrix.rank);
  } else {
    matrix.size = size_t(block_count(m, b)) * block_count(n, b) * b;
  }
}

}  // namespace

StudentLayout StudentLayout::from_config(const Config& config, const LlamaConfig& model,
                                         const std::vector<int>& block_sizes) {
  StudentLayout layout;
  const bool allocated = config.project.allocate_blocks;
  layout.block_size = allocated ? 0 : config.project.block_size;
  layout.structure = config.project.structure;
  size_t listed = 0;  // patched matrices so far, kept dense ones included
  std::vector<int> layers = config.patch.layers;
  std::sort(layers.begin(), layers.end());
  for (int layer : layers) {
    for (Projection projection : kProjections) {
      const auto& chosen = config.patch.projections;
      if (std::find(chosen.begin(), chosen.end(), projection) == chosen.end()) continue;
      PatchedMatrix matrix{
          layer, projection, mlp_out_features(model, projection), mlp_in_features(model, projection), layout.total_size,
          0};
      const size_t index = listed;
      if (allocated && index >= block_sizes.size())
        fail(kExitInternal, "student layout: no allocated block size for " + matrix_name(matrix));
      matrix.block_size = allocated ? block_sizes[index] : layout.block_size;
      ++listed;
      // Kept dense: the teacher's own matrix, no student parameters (its operator stays).
      if (matrix.block_size == 1) continue;
      // A block wider than the matrix in either direction is mostly padding: a model that
      // keeps almost nothing of the matrix, which is never what was meant.
      if (matrix.block_size > std::min(matrix.out_features, matrix.in_features))
        fail(kExitUsage, "config: project.block_size: " + std::to_string(matrix.block_size) + " is larger than " +
                             matrix_name(matrix));
      size_matrix(matrix, layout.structure);
      layout.total_size += matrix.size;
      layout.matrices.push_back(matrix);
    }
  }
  if (allocated && block_sizes.size() != listed)
    fail(kExitInternal, "student layout: " + std::to_string(block_sizes.size()) + " allocated block sizes for " +
                            std::to_string(listed) + " matrices");
  if (layout.matrices.empty())
    fail(kExitUsage, allocated ? "config: project.compression: " + std::to_string(config.project.compression) +
                                     " keeps every patched matrix dense; nothing is compressed"
                               : "config: patch: no matrix selected");
  return layout;
}

StudentLayout run_student_layout(const StageContext& context) {
  if (!context.config.project.allocate_blocks) return StudentLayout::from_config(context.config, context.model.config);
  return StudentLayout::from_config(context.config, context.model.config,
                                    allocated_block_sizes(context.open_output(Stage::Project)));
}

std::vector<int> allocated_block_sizes(const CheckpointReader& project) {
  if (!project.exists("/allocation/block_size"))
    fail(kExitCheckpoint,
         project.path() + ": has no /allocation/block_size (made without project.block_size auto; rerun project)");
  const std::vector<int32_t> sizes = project.read_int32("/allocation/block_size");
  return {sizes.begin(), sizes.end()};
}

std::optional<StudentLayout> StudentLayout::with_structure(const Config& config, const LlamaConfig& model,
                                                           Structure structure) {
  Config other = config;
  other.project.structure = structure;
  if (structure == Structure::LowRank && config.project.allocate_blocks) {
    // An allocated student's low-rank rival: every matrix at the budget's compression.
    other.project.allocate_blocks = false;
    other.project.block_size = int(std::lround(config.project.compression));
  }
  if (structure == Structure::LowRank) {
    Config circulant = other;
    circulant.project.structure = Structure::Circulant;
    for (const PatchedMatrix& matrix : from_config(circulant, model).matrices)
      if (lowrank_rank(matrix.out_features, matrix.in_features, matrix.block_size) < 1) return std::nullopt;
  }
  return from_config(other, model);
}

StudentLayout StudentLayout::patched_matrices(const Config& config, const LlamaConfig& model) {
  // Settings an allocation cannot serve are refused here, where every run asks first.
  if (config.project.allocate_blocks && config.project.structure != Structure::Circulant)
    fail(kExitUsage, "config: project.block_size: auto allocates circulant block sizes; project.structure is " +
                         std::string(name_of(config.project.structure)));
  if (config.project.allocate_blocks && config.project.down_inputs == DownInputs::Student)
    fail(kExitUsage,
         "config: project.down_inputs: student is not supported with project.block_size auto (the sensitivities "
         "are of the teacher's inputs); use teacher");
  Config uniform = config;
  uniform.project.allocate_blocks = false;
  return from_config(uniform, model);
}

StudentLayout StudentLayout::dense(const Config& config, const LlamaConfig& model) {
  StudentLayout layout = patched_matrices(config, model);
  layout.dense_slices = true;
  layout.total_size = 0;
  for (PatchedMatrix& matrix : layout.matrices) {
    matrix.offset = layout.total_size;
    matrix.size = size_t(matrix.out_features) * matrix.in_features;
    matrix.rank = 0;
    layout.total_size += matrix.size;
  }
  return layout;
}

int StudentLayout::first_layer() const { return matrices.front().layer; }

size_t StudentLayout::dense_parameters() const {
  size_t total = 0;
  for (const auto& matrix : matrices) total += size_t(matrix.out_features) * matrix.in_features;
  return total;
}

size_t StudentLayout::circulant_parameters() const {
  size_t total = 0;
  for (PatchedMatrix matrix : matrices) {
    size_matrix(matrix, Structure::Circulant);
    total += matrix.size;
  }
  return total;
}

std::vector<std::string> parameter_datasets(Structure structure, const std::string& variant) {
  const std::string suffix = variant.empty() ? "" : "_" + variant;
  if (structure == Structure::LowRank) return {"U" + suffix, "V" + suffix};
  return {"c" + suffix};
}

std::vector<std::vector<uint64_t>> parameter_shapes(const StudentLayout& layout, const PatchedMatrix& matrix) {
  const uint64_t m = matrix.out_features, n = matrix.in_features, b = matrix.block_size;
  if (layout.structure == Structure::LowRank) return {{m, uint64_t(matrix.rank)}, {uint64_t(matrix.rank), n}};
  return {{uint64_t(block_count(int(m), int(b))), uint64_t(block_count(int(n), int(b))), b}};
}

std::vector<float> read_student_parameters(const CheckpointReader& file, const StudentLayout& layout,
                                           const std::string& variant) {
  std::vector<float> params(layout.total_size);
  const std::vector<std::string> names = parameter_datasets(layout.structure, variant);
  for (const auto& matrix : layout.matrices) {
    size_t at = matrix.offset;
    const auto shapes = parameter_shapes(layout, matrix);
    for (size_t d = 0; d < names.size(); ++d) {
      const std::string path = matrix.dataset() + "/" + names[d];
      if (!file.exists(path))
        fail(kExitCheckpoint,
             file.path() + ": has no " + path + " (project.structure " + name_of(layout.structure) + ")");
      std::vector<float> values = file.read_float(path);
      const size_t expected = size_t(shapes[d][0]) * shapes[d][1] * (shapes[d].size() > 2 ? shapes[d][2] : 1);
      if (values.size() != expected)
        fail(kExitCheckpoint, file.path() + ": " + path + " has " + std::to_string(values.size()) +
                                  " values, the config's block size needs " + std::to_string(expected));
      std::copy(values.begin(), values.end(), params.begin() + at);
      at += expected;
    }
  }
  return params;
}

void write_student_parameters(CheckpointWriter& file, const StudentLayout& layout, const float* params,
                              const std::string& variant) {
  const std::vector<std::string> names = parameter_datasets(layout.structure, variant);
  for (const auto& matrix : layout.matrices) {
    size_t at = matrix.offset;
    const auto shapes = parameter_shapes(layout, matrix);
    for (size_t d = 0; d < names.size(); ++d) {
      file.write(matrix.dataset() + "/" + names[d], shapes[d], params + at);
      at += size_t(shapes[d][0]) * shapes[d][1] * (shapes[d].size() > 2 ? shapes[d][2] : 1);
    }
  }
}

std::unique_ptr<LinearOperator> make_student_operator(const StudentLayout& layout, const PatchedMatrix& matrix,
                                                      const float* params, float* grads) {
  const float* p = params + matrix.offset;
  float* g = grads ? grads + matrix.offset : nullptr;
  if (layout.dense_slices) return std::make_unique<DenseLinear>(matrix.out_features, matrix.in_features, p);
  if (layout.structure == Structure::LowRank)
    return std::make_unique<LowRankLinear>(matrix.out_features, matrix.in_features, matrix.rank, p, g);
  return std::make_unique<CirculantLinear>(matrix.out_features, matrix.in_features, matrix.block_size, p, g);
}

std::string comparison_missing(const CheckpointReader& project, StudentKind kind) {
  if (kind != StudentKind::LowRankAware) return "project.h5 holds the students of project.structure only";
  if (!project.has_attr("/", "lowrank_comparison")) return "project.compare_lowrank is false";
  const std::string comparison = project.attr_string("/", "lowrank_comparison");
  const char* aware = student_source(kind).variant;
  return comparison == aware ? "" : "project.h5's low-rank comparison is " + comparison;
}

std::vector<float> student_dense_matrix(const StudentLayout& layout, const PatchedMatrix& matrix, const float* params) {
  const float* p = params + matrix.offset;
  if (layout.dense_slices) return {p, p + matrix.size};
  if (layout.structure == Structure::LowRank)
    return LowRankLinear(matrix.out_features, matrix.in_features, matrix.rank, p, nullptr).to_dense();
  return CirculantLinear(matrix.out_features, matrix.in_features, matrix.block_size, p, nullptr).to_dense();
}

StudentModel::StudentModel(Transformer& model, const StudentLayout& layout, float* params, float* grads)
    : model_(model), layout_(layout) {
  for (const auto& matrix : layout.matrices) {
    ops_.push_back(make_student_operator(layout, matrix, params, grads));
    if (auto* circulant = dynamic_cast<CirculantLinear*>(ops_.back().get())) circulants_.push_back(circulant);
    model_.set_mlp_operator(matrix.layer, matrix.projection, ops_.back().get());
  }
}

StudentModel::~StudentModel() {
  for (const auto& matrix : layout_.matrices) model_.set_mlp_operator(matrix.layer, matrix.projection, nullptr);
}

void StudentModel::parameters_changed() {
  for (CirculantLinear* op : circulants_) op->parameters_changed();
}

}  // namespace circal
