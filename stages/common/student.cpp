#include "stages/common/student.hpp"

#include <algorithm>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"

namespace circal {

std::string PatchedMatrix::dataset() const {
  return "/layers/" + std::to_string(layer) + "/" + projection;
}

StudentLayout StudentLayout::from_config(const Config& config, const LlamaConfig& model) {
  StudentLayout layout;
  layout.block_size = config.project.block_size;
  std::vector<int> layers = config.patch.layers;
  std::sort(layers.begin(), layers.end());
  for (int layer : layers) {
    for (const std::string& projection : projection_names()) {
      const auto& chosen = config.patch.projections;
      if (std::find(chosen.begin(), chosen.end(), projection) == chosen.end()) continue;
      PatchedMatrix matrix{layer, projection, mlp_out_features(model, projection),
                           mlp_in_features(model, projection), layout.total_size, 0};
      // A block wider than the matrix in either direction is mostly padding: a model that
      // keeps almost nothing of the matrix, which is never what was meant.
      if (layout.block_size > std::min(matrix.out_features, matrix.in_features))
        fail(kExitUsage, "config: project.block_size: " + std::to_string(layout.block_size) + " is larger than layer " +
                             std::to_string(layer) + " " + projection + " (" + std::to_string(matrix.out_features) +
                             " x " + std::to_string(matrix.in_features) + ")");
      matrix.size = size_t(block_count(matrix.out_features, layout.block_size)) *
                    block_count(matrix.in_features, layout.block_size) * layout.block_size;
      layout.total_size += matrix.size;
      layout.matrices.push_back(matrix);
    }
  }
  if (layout.matrices.empty()) fail(kExitUsage, "config: patch: no matrix selected");
  return layout;
}

int StudentLayout::first_layer() const { return matrices.front().layer; }

size_t StudentLayout::dense_parameters() const {
  size_t total = 0;
  for (const auto& matrix : matrices) total += size_t(matrix.out_features) * matrix.in_features;
  return total;
}

std::vector<float> read_student_parameters(const CheckpointReader& file, const StudentLayout& layout,
                                           const std::string& name) {
  std::vector<float> params(layout.total_size);
  for (const auto& matrix : layout.matrices) {
    const std::string path = matrix.dataset() + "/" + name;
    if (!file.exists(path)) fail(kExitCheckpoint, file.path() + ": has no " + path);
    std::vector<float> values = file.read_float(path);
    if (values.size() != matrix.size)
      fail(kExitCheckpoint, file.path() + ": " + path + " has " + std::to_string(values.size()) +
                                " values, the config's block size needs " + std::to_string(matrix.size));
    std::copy(values.begin(), values.end(), params.begin() + matrix.offset);
  }
  return params;
}

void write_student_parameters(CheckpointWriter& file, const StudentLayout& layout, const float* params,
                              const std::string& name) {
  const uint64_t b = layout.block_size;
  for (const auto& matrix : layout.matrices) {
    const uint64_t p = block_count(matrix.out_features, b), q = block_count(matrix.in_features, b);
    file.write(matrix.dataset() + "/" + name, {p, q, b}, params + matrix.offset);
  }
}

StudentModel::StudentModel(Transformer& model, const StudentLayout& layout, float* params, float* grads)
    : model_(model), layout_(layout) {
  for (const auto& matrix : layout.matrices) {
    ops_.push_back(std::make_unique<CirculantLinear>(matrix.out_features, matrix.in_features,
                                                     layout.block_size, params + matrix.offset,
                                                     grads ? grads + matrix.offset : nullptr));
    model_.set_mlp_operator(matrix.layer, matrix.projection, ops_.back().get());
  }
}

StudentModel::~StudentModel() {
  for (const auto& matrix : layout_.matrices) model_.set_mlp_operator(matrix.layer, matrix.projection, nullptr);
}

void StudentModel::parameters_changed() {
  for (auto& op : ops_) op->parameters_changed();
}

}  // namespace circal
