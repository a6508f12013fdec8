// One teacher per node: load_model(dir, comm) puts the float32 weights in an MPI-3
// shared-memory window that the node's ranks share, each converting a share of the tensors.
// Against a private load_model(dir) on every rank: the same floats bit for bit, the same
// weights hash, the same logits bit for bit; on the synthetic BF16 sharded GQA checkpoint
// (bench/make_synthetic_checkpoint.py, tiny-test shape, several shards) and on the bundled
// float32 teacher. And the teacher kept in its file dtype (model.resident_dtype: file, matrices
// left in the mapped BF16 shards): logits and the gradients of a circulant student, with
// recomputation, bitwise as with the float32 teacher.
#include <doctest/doctest.h>
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/circulant/circulant_linear.hpp"
#include "pipeline/model/model_loader.hpp"
#include "pipeline/model/transformer.hpp"
#include "pipeline/runtime/node_shared_memory.hpp"

using namespace circal;
namespace fs = std::filesystem;

namespace {

int world_rank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// The tiny-test synthetic checkpoint in shards of 100 kB, written once by rank 0.
struct SyntheticCheckpoint {
  fs::path path;
  SyntheticCheckpoint() {
    long pid = ::getpid();
    MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    path = fs::temp_directory_path() / ("circal_shared_weights_" + std::to_string(pid));
    int code = 0;
    if (world_rank() == 0) {
      const std::string command = "/usr/bin/python3 " CIRCAL_SOURCE_DIR
                                  "/bench/make_synthetic_checkpoint.py --shape tiny-test --seed 3 "
                                  "--shard-gb 0.0001 --out " +
                                  path.string() + " > /dev/null";
      code = std::system(command.c_str());
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    REQUIRE_MESSAGE(code == 0, "make_synthetic_checkpoint.py failed (python3-numpy: make deps)");
  }
  ~SyntheticCheckpoint() {
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank() == 0) fs::remove_all(path);
  }
};

std::vector<const float*> tensors(const ModelWeights& m) {
  std::vector<const float*> out = {m.embed_tokens.float32(), m.norm, m.lm_head.float32()};
  for (const LayerWeights& w : m.layers)
    out.insert(out.end(),
               {w.input_layernorm, w.q_proj.float32(), w.k_proj.float32(), w.v_proj.float32(), w.o_proj.float32(),
                w.post_attention_layernorm, w.gate_proj.float32(), w.up_proj.float32(), w.down_proj.float32()});
  return out;
}

// Logits of a two-prompt batch and the gradients of circulant gate_proj and down_proj of every
// layer after one backward (recomputed or not), through `model`.
std::vector<float> logits_and_gradients(const ModelWeights& model, bool recompute) {
  const LlamaConfig& c = model.config;
  const int b = 16, H = c.hidden_size, I = c.intermediate_size;
  const std::vector<std::vector<int>> prompts = {{1, 17, 300, 42, 5, 99, 7}, {1, 4000 % c.vocab_size, 8, 9, 10}};
  const std::size_t gate_size = std::size_t(I / b) * (H / b) * b, down_size = gate_size;
  std::vector<float> params(c.num_hidden_layers * (gate_size + down_size)), grads(params.size(), 0.0f);
  for (std::size_t i = 0; i < params.size(); ++i) params[i] = 0.01f * float(int(i % 37) - 18);
  Transformer transformer(model);
  transformer.set_recompute(recompute);
  std::vector<std::unique_ptr<CirculantLinear>> ops;
  std::size_t offset = 0;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    ops.push_back(std::make_unique<CirculantLinear>(I, H, b, params.data() + offset, grads.data() + offset));
    transformer.set_mlp_operator(l, Projection::Gate, ops.back().get());
    offset += gate_size;
    ops.push_back(std::make_unique<CirculantLinear>(H, I, b, params.data() + offset, grads.data() + offset));
    transformer.set_mlp_operator(l, Projection::Down, ops.back().get());
    offset += down_size;
  }
  std::vector<float> out;
  const float* logits = transformer.forward_batch(prompts);
  const long rows = transformer.tokens();
  out.assign(logits, logits + rows * c.vocab_size);
  // dL/dlogits: the logits themselves, scaled (any fixed function of them serves).
  std::vector<float> dlogits(out);
  for (float& x : dlogits) x *= 1e-3f;
  transformer.backward(dlogits.data());
  out.insert(out.end(), grads.begin(), grads.end());
  const float* dx = transformer.hidden_gradient();
  out.insert(out.end(), dx, dx + rows * H);
  return out;
}

void check_shared_equals_private(const std::string& dir) {
  const ModelWeights own = load_model(dir);
  const ModelWeights shared = load_model(dir, MPI_COMM_WORLD);
  REQUIRE(shared.shared_storage);
  CHECK(shared.storage.empty());
  CHECK(weight_bytes(shared) == weight_bytes(own));
  CHECK(shared.weights_hash == own.weights_hash);
  const auto a = tensors(own), b = tensors(shared);
  REQUIRE(a.size() == b.size());
  // The tensors lie one after the other in both, in the same order: one comparison.
  const float* base = static_cast<const float*>(shared.shared_storage->data());
  CHECK(b[0] == base);
  CHECK(std::memcmp(own.storage.data(), base, weight_bytes(own)) == 0);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] - base == a[i] - own.storage.data());

  // Every rank of a node sees the same window.
  const NodeSharedMemory& window = *shared.shared_storage;
  int ranks = 0;
  MPI_Comm_size(window.node_comm(), &ranks);
  CHECK(window.node_size() == ranks);

  const std::vector<int> prompt = {1, 17, 300, 4000 % own.config.vocab_size, 42, 5, 99, 7};
  Transformer tp(own), ts(shared);
  const float* lp = tp.forward(prompt);
  const float* ls = ts.forward(prompt);
  CHECK(std::memcmp(lp, ls, prompt.size() * own.config.vocab_size * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("shared weights: the synthetic BF16 sharded GQA checkpoint, bitwise as private weights") {
  const SyntheticCheckpoint synthetic;
  const LlamaConfig config = read_llama_config((synthetic.path / "config.json").string());
  CHECK(config.num_key_value_heads * 2 == config.num_attention_heads);  // GQA
  int shards = 0;
  for (const auto& entry : fs::directory_iterator(synthetic.path)) shards += entry.path().extension() == ".safetensors";
  CHECK(shards > 2);
  check_shared_equals_private(synthetic.path.string());
}

TEST_CASE("shared weights: the bundled float32 teacher, bitwise as private weights") {
  check_shared_equals_private(CIRCAL_SOURCE_DIR "/data/models/manpages-llama-5m");
}

TEST_CASE("resident dtype: the BF16 teacher kept in file dtype, bitwise as the float32 teacher") {
  const SyntheticCheckpoint synthetic;
  const std::string dir = synthetic.path.string();
  const ModelWeights float32 = load_model(dir, MPI_COMM_WORLD, nullptr, ResidentDtype::Float32);
  const ModelWeights kept = load_model(dir, MPI_COMM_WORLD, nullptr, ResidentDtype::File);
  // Matrices stay BF16 in the mapped shards; vectors are float32; the node holds half the bytes.
  REQUIRE(kept.mapped_files);
  CHECK(kept.embed_tokens.dtype() == TensorDtype::BF16);
  CHECK(kept.layers[1].down_proj.dtype() == TensorDtype::BF16);
  CHECK(kept.layers[1].q_proj.dtype() == TensorDtype::BF16);
  CHECK(kept.layers[0].input_layernorm != nullptr);
  CHECK(!float32.mapped_files);
  CHECK(weight_bytes(kept) < weight_bytes(float32) * 0.51);
  CHECK(kept.weights_hash == float32.weights_hash);
  // Each matrix read as float32 is the float32 teacher's, bit for bit.
  Float32Scratch scratch;
  const LlamaConfig& c = kept.config;
  const int64_t mlp = int64_t(c.intermediate_size) * c.hidden_size;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const Float32View view(kept.layers[l].up_proj, mlp, &scratch);
    CHECK(std::memcmp(view.data(), float32.layers[l].up_proj.float32(), mlp * sizeof(float)) == 0);
  }
  for (bool recompute : {false, true}) {
    CAPTURE(recompute);
    const std::vector<float> a = logits_and_gradients(float32, recompute), b = logits_and_gradients(kept, recompute);
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    // The check is not vacuous: the gradients are not all zero.
    CHECK(std::any_of(a.end() - 100, a.end(), [](float x) { return x != 0.0f; }));
  }
}

TEST_CASE("resident dtype: a float32 checkpoint under file residency keeps float32 matrices") {
  const ModelWeights kept =
      load_model(CIRCAL_SOURCE_DIR "/data/models/manpages-llama-5m", MPI_COMM_WORLD, nullptr, ResidentDtype::File);
  CHECK(!kept.mapped_files);
  CHECK(kept.layers[0].gate_proj.is_float32());
}
