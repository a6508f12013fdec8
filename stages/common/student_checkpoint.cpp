#include "stages/common/student_checkpoint.hpp"

#include <algorithm>

#include "pipeline/base/errors.hpp"
#include "pipeline/circulant/block_layout.hpp"
#include "pipeline/io/checkpoint_reader.hpp"

namespace circal {

namespace {

constexpr const char* kWeightsAttribute = "model_weights_hash";

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Layers named in /layers as numbers, ascending (HDF5 lists them as sorted strings).
std::vector<int> stored_layers(const CheckpointReader& file) {
  std::vector<int> layers;
  for (const std::string& name : file.children("/layers")) {
    std::size_t used = 0;
    int layer = -1;
    try {
      layer = std::stoi(name, &used);
    } catch (const std::exception&) {
    }
    if (used != name.size() || layer < 0)
      fail(kExitCheckpoint, file.path() + ": /layers/" + name + " is not a layer number");
    layers.push_back(layer);
  }
  std::sort(layers.begin(), layers.end());
  return layers;
}

// The layout the file holds, each matrix's shape checked against `model`.
StudentLayout stored_layout(const CheckpointReader& file, const LlamaConfig& model) {
  if (!file.exists("/layers")) fail(kExitCheckpoint, file.path() + ": has no /layers (no student parameters)");
  StudentLayout layout;
  for (int layer : stored_layers(file)) {
    if (layer >= model.num_hidden_layers)
      fail(kExitCheckpoint, file.path() + ": is for another model: it patches layer " + std::to_string(layer) +
                                ", the model has " + std::to_string(model.num_hidden_layers) + " layers");
    for (Projection projection : kProjections) {
      PatchedMatrix matrix{
          layer, projection, mlp_out_features(model, projection), mlp_in_features(model, projection), layout.total_size,
          0};
      if (!file.exists(matrix.dataset() + "/c") && file.exists(matrix.dataset() + "/U")) {
        // A low-rank student: U [m, r], V [r, n].
        layout.structure = Structure::LowRank;
        const std::string u = matrix.dataset() + "/U", v = matrix.dataset() + "/V";
        const std::vector<uint64_t> u_shape = file.shape(u);
        const uint64_t r = u_shape.size() == 2 ? u_shape[1] : 0;
        const std::vector<uint64_t> want_u = {uint64_t(matrix.out_features), r},
                                    want_v = {r, uint64_t(matrix.in_features)};
        if (r == 0 || u_shape != want_u || !file.exists(v) || file.shape(v) != want_v)
          fail(kExitCheckpoint, file.path() + ": is for another model: " + u + " is " + shape_text(u_shape) +
                                    ", this model's " + std::to_string(matrix.out_features) + " x " +
                                    std::to_string(matrix.in_features) + " matrix needs U [m, r] and V [r, n]");
        matrix.rank = int(r);
        matrix.size = lowrank_parameter_count(matrix.out_features, matrix.in_features, matrix.rank);
        layout.total_size += matrix.size;
        layout.matrices.push_back(matrix);
        continue;
      }
      const std::string path = matrix.dataset() + "/c";
      if (!file.exists(path)) continue;
      const std::vector<uint64_t> shape = file.shape(path);
      const int b = shape.size() == 3 ? int(shape[2]) : 0;  // each matrix its own (allocated students)
      const std::vector<uint64_t> expected = {uint64_t(block_count(matrix.out_features, std::max(b, 1))),
                                              uint64_t(block_count(matrix.in_features, std::max(b, 1))), uint64_t(b)};
      if (b <= 0 || shape != expected)
        fail(kExitCheckpoint, file.path() + ": is for another model: " + path + " is " + shape_text(shape) +
                                  ", this model's " + std::to_string(matrix.out_features) + " x " +
                                  std::to_string(matrix.in_features) + " matrix needs " + shape_text(expected));
      matrix.size = expected[0] * expected[1] * expected[2];
      matrix.block_size = b;
      layout.block_size = layout.matrices.empty() || layout.block_size == b ? b : 0;
      layout.total_size += matrix.size;
      layout.matrices.push_back(matrix);
    }
  }
  if (layout.matrices.empty())
    fail(kExitCheckpoint, file.path() + ": has no /layers/{l}/{proj}/c or U (no student parameters)");
  if (layout.structure == Structure::LowRank && file.has_attr("/", "block_size")) {
    layout.block_size = int(file.attr_int("/", "block_size"));
    for (PatchedMatrix& matrix : layout.matrices) matrix.block_size = layout.block_size;
  }
  return layout;
}

}  // namespace

StudentCheckpoint read_student_checkpoint(const std::string& path, const ModelWeights& model) {
  const CheckpointReader file = CheckpointReader::open_one_of(path, {"project", "calibrate"});
  const std::string stage = file.attr_string("/", "stage");
  const std::string fitted_to = file.has_attr("/", kWeightsAttribute) ? file.attr_string("/", kWeightsAttribute) : "";
  if (!fitted_to.empty() && fitted_to.rfind(kWeightsHashPrefix, 0) != 0)
    fail(kExitCheckpoint, path + ": made by an older circal (its weights hash " + fitted_to + " is not " +
                              kWeightsHashPrefix + "); rerun project (capture reruns too)");
  if (!fitted_to.empty() && fitted_to != model.weights_hash)
    fail(kExitCheckpoint, path + ": is for another model: fitted to weights " +
                              file.attr_string("/", kWeightsAttribute) + ", the model's are " + model.weights_hash);
  StudentCheckpoint student{stage, stored_layout(file, model.config), {}};
  student.params = read_student_parameters(file, student.layout);
  return student;
}

void stamp_student_model(CheckpointWriter& file, const ModelWeights& model) {
  file.set_attr("/", kWeightsAttribute, model.weights_hash);
}

}  // namespace circal
