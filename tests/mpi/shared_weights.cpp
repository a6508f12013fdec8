// One teacher per node: load_model(dir, comm) puts the float32 weights in an MPI-3
// shared-memory window that the node's ranks share, each converting a share of the tensors.
// Against a private load_model(dir) on every rank: the same floats bit for bit, the same
// weights hash, the same logits bit for bit; on the synthetic BF16 sharded GQA checkpoint
// (bench/make_synthetic_checkpoint.py, tiny-test shape, several shards) and on the bundled
// float32 teacher.
#include <doctest/doctest.h>
#include <mpi.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

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
  std::vector<const float*> out = {m.embed_tokens, m.norm, m.lm_head};
  for (const LayerWeights& w : m.layers)
    out.insert(out.end(), {w.input_layernorm, w.q_proj, w.k_proj, w.v_proj, w.o_proj, w.post_attention_layernorm,
                           w.gate_proj, w.up_proj, w.down_proj});
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
