#pragma once
// A LLaMA-family model (llama, qwen2, qwen3, mistral) loaded from an HF-style folder: config.json, model.safetensors
// (or sharded with model.safetensors.index.json; F32/F16/BF16) and its tokenizer. Weights keep the HF layout
// [out_features, in_features], row-major. Vectors (norms, biases) are converted to float32 once; the matrices
// too, or with ResidentDtype::File they stay in their F16/BF16 bytes inside the files' read-only maps
// (ResidentTensor; read through Float32View).
#include <mpi.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/config/names.hpp"
#include "pipeline/io/file_hash_cache.hpp"
#include "pipeline/io/resident_tensor.hpp"
#include "pipeline/io/safetensors.hpp"
#include "pipeline/model/llama_config.hpp"
#include "pipeline/model/tokenizer.hpp"

namespace circal {

class NodeSharedMemory;

// Where every tensor of a model folder lives: DIR/model.safetensors, or the shards
// DIR/model.safetensors.index.json points to (each checked to hold what the index says).
struct WeightSource {
  std::string described_by;  // the file errors about missing tensors name
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::map<std::string, const SafetensorsFile*> location;
};
WeightSource open_weight_source(const std::string& dir);  // CircalError(kExitInput)

struct LayerWeights {
  const float* input_layernorm;           // [hidden]
  ResidentTensor q_proj;                  // [heads * head_dim, hidden]
  ResidentTensor k_proj;                  // [kv_heads * head_dim, hidden]
  ResidentTensor v_proj;                  // [kv_heads * head_dim, hidden]
  ResidentTensor o_proj;                  // [hidden, heads * head_dim]
  const float* post_attention_layernorm;  // [hidden]
  ResidentTensor gate_proj;               // [intermediate, hidden]
  ResidentTensor up_proj;                 // [intermediate, hidden]
  ResidentTensor down_proj;               // [hidden, intermediate]
  // Only where the config has them (nullptr otherwise): attention biases, Qwen3's q/k norms.
  const float* q_bias = nullptr;  // [heads * head_dim]
  const float* k_bias = nullptr;  // [kv_heads * head_dim]
  const float* v_bias = nullptr;  // [kv_heads * head_dim]
  const float* o_bias = nullptr;  // [hidden]
  const float* q_norm = nullptr;  // [head_dim]
  const float* k_norm = nullptr;  // [head_dim]
};

struct ModelWeights {
  LlamaConfig config;
  ResidentTensor embed_tokens;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  const float* norm = nullptr;  // [hidden]
  ResidentTensor lm_head;       // [vocab, hidden] (embed_tokens when tied)
  std::vector<float> storage;   // owns every float above (private weights)
  // the read-only maps of the weight files the matrices kept in file dtype point into
  std::shared_ptr<const WeightSource> mapped_files;
  // or this does: one read-only copy per node, shared by its ranks (load_model with a comm)
  std::shared_ptr<const NodeSharedMemory> shared_storage;
  // "xxh3-64:" then the content hashes of the safetensors file(s) in path order, '-'-joined:
  // what fingerprints and student checkpoints record. weight_files: what each was hashed from.
  std::string weights_hash;
  std::vector<HashedFile> weight_files;

  // Move-only: the pointers above point into storage, so a copy would alias the original.
  ModelWeights() = default;
  ModelWeights(ModelWeights&&) = default;
  ModelWeights& operator=(ModelWeights&&) = default;
  ModelWeights(const ModelWeights&) = delete;
  ModelWeights& operator=(const ModelWeights&) = delete;
};

// Reads DIR/config.json and the safetensors file(s); checks every tensor name and shape.
// Throws CircalError(kExitInput) naming the file and the problem. With `hashes`, a weight file
// it knows unchanged (same device, inode, size, mtime) is not read again to be hashed.
// With ResidentDtype::File the F16/BF16 matrices stay in the mapped files (Float32 and Auto:
// converted; the choice between them is the caller's, stages/common/memory_budget).
ModelWeights load_model(const std::string& dir, FileHashCache* hashes = nullptr,
                        ResidentDtype resident = ResidentDtype::Float32);
// The same, collective over comm: the ranks of each node share one float32 copy of the
// weights (an MPI-3 shared-memory window, pipeline/runtime/node_shared_memory.hpp), each
// converting a share of the tensors from F16/BF16 once; the file hashes are split over the
// node's ranks too. Bitwise the same floats as load_model(dir). Errors are thrown on every
// rank alike (they come from the headers, which every rank reads).
ModelWeights load_model(const std::string& dir, MPI_Comm comm, FileHashCache* hashes = nullptr,
                        ResidentDtype resident = ResidentDtype::Float32);
// Bytes of weights a loaded model holds: float32 (shared or private) and kept in file dtype.
std::size_t weight_bytes(const ModelWeights& model);
// Bytes of the teacher's tensors in the folder's weight files, as stored (headers only read),
// and the dtype of its largest matrices (embed_tokens'): what file residency keeps.
struct FileWeights {
  double bytes = 0;
  TensorDtype dtype = TensorDtype::F32;
};
FileWeights file_weights(const std::string& dir);

// The (layer, projection) matrix: projection is gate_proj | up_proj | down_proj. mlp_matrix
// reads it as float32 directly (kExitInternal when it is kept in file dtype); mlp_weight as
// kept, for a Float32View.
ResidentTensor mlp_weight(const ModelWeights& model, int layer, Projection projection);
const float* mlp_matrix(const ModelWeights& model, int layer, Projection projection);
int mlp_out_features(const LlamaConfig& config, Projection projection);
int mlp_in_features(const LlamaConfig& config, Projection projection);
// The (layer, projection) matrix as float32 while this lives, with its own scratch when it is
// kept in file dtype (a solver that reads one matrix at a length).
class MlpMatrixFloat32 {
 public:
  MlpMatrixFloat32(const ModelWeights& model, int layer, Projection projection)
      : view_(mlp_weight(model, layer, projection),
              int64_t(mlp_out_features(model.config, projection)) * mlp_in_features(model.config, projection),
              &scratch_) {}
  const float* data() const { return view_.data(); }

 private:
  Float32Scratch scratch_;
  Float32View view_;
};

// A model folder as every command opens it: the weights (load_model, node-shared over `shared`
// unless it is MPI_COMM_NULL), then tokenizer.model. The stages need the tokenizer only in
// capture and evaluate, but refusing a bad one here, with the rest of the folder, is what makes
// each command (logits, generate, bench and every stage) answer a bad folder alike, before it
// reads another input or takes a run directory.
struct Teacher {
  ModelWeights weights;
  Tokenizer tokenizer;
};
Teacher open_teacher(const std::string& dir, MPI_Comm shared = MPI_COMM_NULL, FileHashCache* hashes = nullptr,
                     ResidentDtype resident = ResidentDtype::Float32);
// The prefix of ModelWeights::weights_hash: a hash without it was made by an older circal.
inline constexpr const char* kWeightsHashPrefix = "xxh3-64:";

}  // namespace circal
