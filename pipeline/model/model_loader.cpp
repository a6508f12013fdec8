// load_model: config.json + model.safetensors (or the shards of model.safetensors.index.json)
// -> ModelWeights, every tensor checked by name and shape and converted to float32 once (or,
// for F16/BF16 matrices under file residency, left in the mapped file).
#include <nlohmann/json.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "pipeline/base/errors.hpp"
#include "pipeline/config/names.hpp"
#include "pipeline/io/input_files.hpp"
#include "pipeline/io/safetensors.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/tokenizer.hpp"
#include "pipeline/runtime/mpi_context.hpp"
#include "pipeline/runtime/node_shared_memory.hpp"

namespace circal {

namespace {

namespace fs = std::filesystem;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

WeightSource single_file_source(const std::string& path) {
  WeightSource source;
  source.described_by = path;
  source.files.push_back(std::make_unique<SafetensorsFile>(path));
  for (const auto& [name, info] : source.files.back()->tensors()) source.location[name] = source.files.back().get();
  return source;
}

std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
  std::ifstream in(index_path);
  if (!in) fail(kExitInput, index_path + ": missing or unreadable");
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(in);
    const nlohmann::json& map = index.at("weight_map");
    if (!map.is_object() || map.empty()) throw std::runtime_error("weight_map is not a non-empty object");
    return map.get<std::map<std::string, std::string>>();
  } catch (const std::exception& e) {
    fail(kExitInput, index_path + ": not a safetensors index with a weight_map (" + e.what() + ")");
  }
}

WeightSource sharded_source(const std::string& dir, const std::string& index_path) {
  const auto weight_map = read_weight_map(index_path);
  WeightSource source;
  source.described_by = index_path;
  std::map<std::string, const SafetensorsFile*> shard_by_name;
  for (const auto& [tensor, shard] : weight_map) {
    if (shard.empty() || fs::path(shard).filename() != fs::path(shard)) {
      fail(kExitInput, index_path + ": tensor " + tensor + " maps to invalid shard name \"" + shard + "\"");
    }
    if (!shard_by_name.count(shard)) {
      source.files.push_back(std::make_unique<SafetensorsFile>((fs::path(dir) / shard).string()));
      shard_by_name[shard] = source.files.back().get();
    }
    const SafetensorsFile* file = shard_by_name[shard];
    if (!file->contains(tensor)) {
      fail(kExitInput, file->path() + ": missing tensor " + tensor + " (listed in " + index_path + ")");
    }
    source.location[tensor] = file;
  }
  for (const auto& file : source.files) {
    for (const auto& [name, info] : file->tensors()) {
      const auto it = source.location.find(name);
      if (it == source.location.end() || it->second != file.get()) {
        fail(kExitInput, file->path() + ": tensor " + name + " is not listed for this shard in " + index_path);
      }
    }
  }
  return source;
}

// The content hashes of the source's files, in path order, joined by '-', and what each was
// hashed from, into model. With a node communicator, file i is hashed by node rank i mod size
// (or found in `hashes`) and the hashes are shared.
void hash_weights(const WeightSource& source, ModelWeights& model, FileHashCache* hashes,
                  MPI_Comm node = MPI_COMM_NULL) {
  FileHashCache none;
  if (!hashes) hashes = &none;
  std::vector<std::string> paths;
  for (const auto& file : source.files) paths.push_back(file->path());
  std::sort(paths.begin(), paths.end());
  int rank = 0, size = 1;
  if (node != MPI_COMM_NULL) {
    MPI_Comm_rank(node, &rank);
    MPI_Comm_size(node, &size);
  }
  model.weights_hash = kWeightsHashPrefix;
  model.weight_files.clear();
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const int owner = int(i % std::size_t(size));
    std::string part = owner == rank ? hashes->hash(paths[i]) : std::string();
    if (size > 1) part = broadcast_string(node, part, owner);
    if (i > 0) model.weights_hash += '-';
    model.weights_hash += part;
    model.weight_files.push_back({file_identity(paths[i]), part});
  }
}

// A tensor the config implies and where its pointer goes: a vector (always float32) or a
// matrix (float32, or kept in file dtype).
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float** slot = nullptr;
  ResidentTensor* matrix = nullptr;
  ExpectedTensor(std::string n, std::vector<int64_t> s, const float** vector)
      : name(std::move(n)), shape(std::move(s)), slot(vector) {}
  ExpectedTensor(std::string n, std::vector<int64_t> s, ResidentTensor* kept)
      : name(std::move(n)), shape(std::move(s)), matrix(kept) {}
};

void add_attention_extras(const LlamaConfig& c, const std::string& prefix, LayerWeights& layer,
                          std::vector<ExpectedTensor>& expected) {
  const int64_t q_out = int64_t{c.num_attention_heads} * c.head_dim;
  const int64_t kv_out = int64_t{c.num_key_value_heads} * c.head_dim;
  if (c.qkv_bias) {
    expected.push_back({prefix + "self_attn.q_proj.bias", {q_out}, &layer.q_bias});
    expected.push_back({prefix + "self_attn.k_proj.bias", {kv_out}, &layer.k_bias});
    expected.push_back({prefix + "self_attn.v_proj.bias", {kv_out}, &layer.v_bias});
  }
  if (c.o_bias) expected.push_back({prefix + "self_attn.o_proj.bias", {c.hidden_size}, &layer.o_bias});
  if (c.qk_norm) {
    expected.push_back({prefix + "self_attn.q_norm.weight", {c.head_dim}, &layer.q_norm});
    expected.push_back({prefix + "self_attn.k_norm.weight", {c.head_dim}, &layer.k_norm});
  }
}

std::vector<ExpectedTensor> expected_tensors(ModelWeights& model) {
  const LlamaConfig& c = model.config;
  const int64_t hidden = c.hidden_size, inter = c.intermediate_size;
  const int64_t q_out = int64_t{c.num_attention_heads} * c.head_dim;
  const int64_t kv_out = int64_t{c.num_key_value_heads} * c.head_dim;
  std::vector<ExpectedTensor> expected = {{"model.embed_tokens.weight", {c.vocab_size, hidden}, &model.embed_tokens}};
  model.layers.assign(static_cast<std::size_t>(c.num_hidden_layers), LayerWeights{});
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights& layer = model.layers[static_cast<std::size_t>(i)];
    const std::string prefix = "model.layers." + std::to_string(i) + ".";
    expected.push_back({prefix + "input_layernorm.weight", {hidden}, &layer.input_layernorm});
    expected.push_back({prefix + "self_attn.q_proj.weight", {q_out, hidden}, &layer.q_proj});
    expected.push_back({prefix + "self_attn.k_proj.weight", {kv_out, hidden}, &layer.k_proj});
    expected.push_back({prefix + "self_attn.v_proj.weight", {kv_out, hidden}, &layer.v_proj});
    expected.push_back({prefix + "self_attn.o_proj.weight", {hidden, q_out}, &layer.o_proj});
    expected.push_back({prefix + "post_attention_layernorm.weight", {hidden}, &layer.post_attention_layernorm});
    expected.push_back({prefix + "mlp.gate_proj.weight", {inter, hidden}, &layer.gate_proj});
    expected.push_back({prefix + "mlp.up_proj.weight", {inter, hidden}, &layer.up_proj});
    expected.push_back({prefix + "mlp.down_proj.weight", {hidden, inter}, &layer.down_proj});
    add_attention_extras(c, prefix, layer, expected);
  }
  expected.push_back({"model.norm.weight", {hidden}, &model.norm});
  if (!c.tie_word_embeddings) expected.push_back({"lm_head.weight", {c.vocab_size, hidden}, &model.lm_head});
  return expected;
}

// Older HF checkpoints store the RoPE frequencies; they follow from rope_theta, so skip them.
bool is_derived_buffer(const std::string& name) {
  const std::string suffix = "rotary_emb.inv_freq";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void check_tensor_set(const WeightSource& source, const std::vector<ExpectedTensor>& expected,
                      const std::string& config_path) {
  std::set<std::string> wanted;
  for (const auto& e : expected) {
    wanted.insert(e.name);
    const auto it = source.location.find(e.name);
    if (it == source.location.end()) {
      fail(kExitInput, source.described_by + ": missing tensor " + e.name + " (expected by " + config_path + ")");
    }
    const TensorInfo& info = it->second->tensor(e.name);
    if (info.shape != e.shape) {
      fail(kExitInput, it->second->path() + ": tensor " + e.name + " has shape " + shape_text(info.shape) + ", " +
                           config_path + " implies " + shape_text(e.shape));
    }
  }
  for (const auto& [name, file] : source.location) {
    if (!wanted.count(name) && !is_derived_buffer(name)) {
      fail(kExitInput, file->path() + ": unexpected tensor " + name + " (" + config_path +
                           " implies no such tensor: an unsupported feature)");
    }
  }
}

// Whether the tensor stays in the mapped file: a F16/BF16 matrix under file residency.
bool kept_in_file(const WeightSource& source, const ExpectedTensor& e, ResidentDtype resident) {
  return resident == ResidentDtype::File && e.matrix &&
         source.location.at(e.name)->tensor(e.name).dtype != TensorDtype::F32;
}

// Floats of the tensors converted to float32 (the others stay in the mapped files).
std::size_t total_elements(const WeightSource& source, const std::vector<ExpectedTensor>& expected,
                           ResidentDtype resident) {
  std::size_t total = 0;
  for (const auto& e : expected)
    if (!kept_in_file(source, e, resident))
      total += static_cast<std::size_t>(source.location.at(e.name)->tensor(e.name).elements());
  return total;
}

// Converts the tensors into `base` (total_elements floats), one after the other in `expected`
// order, and points the slots at them (those kept in file dtype at their mapped bytes). Of
// `parts` converters, this is `part`: it converts the tensors that start in its equal share of
// the elements (every pointer is set regardless).
void convert_tensors(const WeightSource& source, const std::vector<ExpectedTensor>& expected, ModelWeights& model,
                     float* base, ResidentDtype resident, int part = 0, int parts = 1) {
  const std::size_t total = total_elements(source, expected, resident);
  std::size_t offset = 0;
  for (const auto& e : expected) {
    const SafetensorsFile& file = *source.location.at(e.name);
    if (kept_in_file(source, e, resident)) {
      const TensorInfo& info = file.tensor(e.name);
      *e.matrix = ResidentTensor(info.bytes, info.dtype);
      continue;
    }
    float* dst = base + offset;
    const int owner = total == 0 ? 0 : int((offset * std::size_t(parts)) / total);
    if (owner == part) file.read_float32(e.name, dst);
    if (e.matrix)
      *e.matrix = ResidentTensor(dst);
    else
      *e.slot = dst;
    offset += static_cast<std::size_t>(file.tensor(e.name).elements());
  }
  if (model.config.tie_word_embeddings) model.lm_head = model.embed_tokens;
}

// A model folder's config and weight files, checked against the tensors the config needs
// (every refusal of a bad folder happens here), before any weight is converted.
struct ModelFolder {
  ModelWeights model;  // config only
  std::shared_ptr<WeightSource> source;
  std::vector<ExpectedTensor> expected;
};

ModelFolder open_model_folder(const std::string& dir) {
  if (!fs::is_directory(dir)) fail(kExitInput, dir + ": model folder does not exist");
  const std::string config_path = (fs::path(dir) / "config.json").string();
  ModelFolder folder;
  folder.model.config = read_llama_config(config_path);
  folder.source = std::make_shared<WeightSource>(open_weight_source(dir));
  folder.expected = expected_tensors(folder.model);
  check_tensor_set(*folder.source, folder.expected, config_path);
  return folder;
}

}  // namespace

WeightSource open_weight_source(const std::string& dir) {
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(single)) return single_file_source(single.string());
  if (fs::exists(index)) return sharded_source(dir, index.string());
  fail(kExitInput, single.string() + ": missing (and no model.safetensors.index.json in " + dir + ")");
}

namespace {

// The maps stay open only when some matrix points into them.
void keep_maps_if_used(ModelFolder& folder) {
  for (const auto& e : folder.expected)
    if (e.matrix && !e.matrix->is_float32()) {
      folder.model.mapped_files = folder.source;
      return;
    }
}

}  // namespace

ModelWeights load_model(const std::string& dir, FileHashCache* hashes, ResidentDtype resident) {
  ModelFolder folder = open_model_folder(dir);
  ModelWeights& model = folder.model;
  const WeightSource& source = *folder.source;
  const std::vector<ExpectedTensor>& expected = folder.expected;
  model.storage.assign(total_elements(source, expected, resident), 0.0f);
  convert_tensors(source, expected, model, model.storage.data(), resident);
  hash_weights(source, model, hashes);
  keep_maps_if_used(folder);
  return std::move(model);  // moved, not copied: the layer pointers point into its storage
}

ModelWeights load_model(const std::string& dir, MPI_Comm comm, FileHashCache* hashes, ResidentDtype resident) {
  ModelFolder folder = open_model_folder(dir);
  ModelWeights& model = folder.model;
  const WeightSource& source = *folder.source;
  const std::vector<ExpectedTensor>& expected = folder.expected;
  auto shared = std::make_shared<NodeSharedMemory>(comm, total_elements(source, expected, resident) * sizeof(float));
  if (!shared->allocated()) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0)
      std::fprintf(stderr,
                   "circal: node-shared weights do not fit (file-size limit or free space of /dev/shm), "
                   "every rank loads its own copy\n");
    return load_model(dir, hashes, resident);
  }
  convert_tensors(source, expected, model, static_cast<float*>(shared->data()), resident, shared->node_rank(),
                  shared->node_size());
  shared->sync();
  hash_weights(source, model, hashes, shared->node_comm());
  model.shared_storage = std::move(shared);
  keep_maps_if_used(folder);
  return std::move(model);
}

Teacher open_teacher(const std::string& dir, MPI_Comm shared, FileHashCache* hashes, ResidentDtype resident) {
  ModelWeights weights =
      shared == MPI_COMM_NULL ? load_model(dir, hashes, resident) : load_model(dir, shared, hashes, resident);
  return {std::move(weights), Tokenizer(dir)};
}

FileWeights file_weights(const std::string& dir) {
  ModelFolder folder = open_model_folder(dir);
  FileWeights weights;
  for (const auto& e : folder.expected) {
    const TensorInfo& info = folder.source->location.at(e.name)->tensor(e.name);
    weights.bytes += double(info.nbytes);
    if (e.name == "model.embed_tokens.weight") weights.dtype = info.dtype;
  }
  return weights;
}

std::size_t weight_bytes(const ModelWeights& model) {
  std::size_t bytes = model.shared_storage ? model.shared_storage->size() : model.storage.size() * sizeof(float);
  if (model.mapped_files)
    for (const auto& [name, file] : model.mapped_files->location) {
      const TensorInfo& info = file->tensor(name);
      if (info.dtype != TensorDtype::F32 && info.shape.size() == 2) bytes += info.nbytes;
    }
  return bytes;
}

ResidentTensor mlp_weight(const ModelWeights& model, int layer, Projection projection) {
  if (layer < 0 || layer >= static_cast<int>(model.layers.size())) {
    fail(kExitUsage, "layer " + std::to_string(layer) + " out of range (model has " +
                         std::to_string(model.layers.size()) + " layers)");
  }
  const LayerWeights& w = model.layers[static_cast<std::size_t>(layer)];
  switch (projection) {
    case Projection::Gate: return w.gate_proj;
    case Projection::Up: return w.up_proj;
    case Projection::Down: return w.down_proj;
  }
  return {};
}

const float* mlp_matrix(const ModelWeights& model, int layer, Projection projection) {
  return mlp_weight(model, layer, projection).float32();
}

int mlp_out_features(const LlamaConfig& config, Projection projection) {
  return projection == Projection::Down ? config.hidden_size : config.intermediate_size;
}

int mlp_in_features(const LlamaConfig& config, Projection projection) {
  return projection == Projection::Down ? config.intermediate_size : config.hidden_size;
}

}  // namespace circal
