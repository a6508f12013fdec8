// load_model: the bundled teacher, F16/BF16/sharded copies written here at run time by an
// independent safetensors writer, and every kind of bad model folder.
#include <doctest/doctest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "pipeline/base/errors.hpp"
#include "pipeline/io/input_files.hpp"
#include "pipeline/io/safetensors.hpp"
#include "pipeline/model/model_loader.hpp"

namespace fs = std::filesystem;
using circal::CircalError;
using nlohmann::json;

namespace {

const fs::path kTeacherDir = fs::path(CIRCAL_SOURCE_DIR) / "data/models/manpages-llama-5m";

struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path =
        fs::temp_directory_path() / ("circal_loader_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

struct RawTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;
};

// Writes the safetensors layout from the format's spec; `edit_header` may corrupt the header
// and `drop_tail` cuts bytes off the end, to produce bad files.
void write_safetensors(const fs::path& path, const std::vector<RawTensor>& tensors,
                       const std::function<void(json&)>& edit_header = {}, std::size_t drop_tail = 0) {
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  if (edit_header) edit_header(header);
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string blob(8, '\0');
  for (int i = 0; i < 8; ++i) blob[static_cast<std::size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  blob += text;
  for (const auto& t : tensors) blob.append(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
  blob.resize(blob.size() - drop_tail);
  std::ofstream(path, std::ios::binary).write(blob.data(), static_cast<std::streamsize>(blob.size()));
}

// Round to nearest even at the target format's resolution, computed with exact power-of-two
// scalings and nearbyint (independent of the loader's bit conversions).
float round_to_format(float x, int mantissa_bits, int min_exponent) {
  if (x == 0.0f) return x;
  const int e = std::max(static_cast<int>(std::floor(std::log2(std::fabs(x)))), min_exponent);
  const float quantum = std::ldexp(1.0f, e - mantissa_bits);
  return std::nearbyint(x / quantum) * quantum;
}
float round_to_half(float x) { return round_to_format(x, 10, -14); }
float round_to_bfloat16(float x) { return round_to_format(x, 7, -126); }

uint16_t half_bits(float v) {  // v exactly representable as IEEE half
  const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  const float a = std::fabs(v);
  if (a == 0.0f) return sign;
  if (a < std::ldexp(1.0f, -14)) return sign | static_cast<uint16_t>(a / std::ldexp(1.0f, -24));
  const int e = static_cast<int>(std::floor(std::log2(a)));
  const auto mantissa = static_cast<uint16_t>(a / std::ldexp(1.0f, e - 10) - 1024.0f);
  return sign | static_cast<uint16_t>((e + 15) << 10) | mantissa;
}

uint16_t bfloat16_bits(float v) {  // v exactly representable as bfloat16
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return static_cast<uint16_t>(bits >> 16);
}

std::vector<RawTensor> read_raw_tensors(const fs::path& path) {
  circal::SafetensorsFile file(path.string());
  std::vector<RawTensor> out;
  for (const auto& [name, info] : file.tensors()) {
    out.push_back({name, "F32", info.shape, std::vector<unsigned char>(info.bytes, info.bytes + info.nbytes)});
  }
  return out;
}

// The F32 tensors re-encoded in a 16-bit format; `expected` receives the float32 values the
// rounding predicts, per tensor.
std::vector<RawTensor> to_16bit(const std::vector<RawTensor>& tensors, const std::string& dtype,
                                std::map<std::string, std::vector<float>>& expected) {
  const bool half = dtype == "F16";
  std::vector<RawTensor> out;
  for (const auto& t : tensors) {
    const std::size_t n = t.bytes.size() / 4;
    std::vector<float> values(n);
    std::memcpy(values.data(), t.bytes.data(), t.bytes.size());
    RawTensor r{t.name, dtype, t.shape, std::vector<unsigned char>(2 * n)};
    for (std::size_t i = 0; i < n; ++i) {
      values[i] = half ? round_to_half(values[i]) : round_to_bfloat16(values[i]);
      const uint16_t bits = half ? half_bits(values[i]) : bfloat16_bits(values[i]);
      r.bytes[2 * i] = static_cast<unsigned char>(bits & 0xff);
      r.bytes[2 * i + 1] = static_cast<unsigned char>(bits >> 8);
    }
    expected[t.name] = std::move(values);
    out.push_back(std::move(r));
  }
  return out;
}

void copy_model_side_files(const fs::path& to) {
  fs::copy_file(kTeacherDir / "config.json", to / "config.json");
  fs::copy_file(kTeacherDir / "tokenizer.model", to / "tokenizer.model");
}

const float* tensor_by_name(const circal::ModelWeights& m, const std::string& name) {
  if (name == "model.embed_tokens.weight") return m.embed_tokens.float32();
  if (name == "model.norm.weight") return m.norm;
  if (name == "lm_head.weight") return m.lm_head.float32();
  const std::size_t layer = std::stoul(name.substr(std::strlen("model.layers.")));
  const circal::LayerWeights& w = m.layers.at(layer);
  const std::string field = name.substr(name.find('.', std::strlen("model.layers.")) + 1);
  const std::map<std::string, const float*> by_field = {
      {"input_layernorm.weight", w.input_layernorm},   {"self_attn.q_proj.weight", w.q_proj.float32()},
      {"self_attn.k_proj.weight", w.k_proj.float32()}, {"self_attn.v_proj.weight", w.v_proj.float32()},
      {"self_attn.o_proj.weight", w.o_proj.float32()}, {"post_attention_layernorm.weight", w.post_attention_layernorm},
      {"mlp.gate_proj.weight", w.gate_proj.float32()}, {"mlp.up_proj.weight", w.up_proj.float32()},
      {"mlp.down_proj.weight", w.down_proj.float32()}};
  return by_field.at(field);
}

// Every tensor of m equals `expected` bit for bit.
void check_weights_equal(const circal::ModelWeights& m, const std::map<std::string, std::vector<float>>& expected) {
  for (const auto& entry : expected) {  // not a structured binding: INFO captures it, clang 14 cannot
    const std::string& name = entry.first;
    const std::vector<float>& values = entry.second;
    INFO(name);
    CHECK(std::memcmp(tensor_by_name(m, name), values.data(), values.size() * sizeof(float)) == 0);
  }
}

std::map<std::string, std::vector<float>> as_floats(const std::vector<RawTensor>& tensors) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& t : tensors) {
    std::vector<float> v(t.bytes.size() / 4);
    std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
    out[t.name] = std::move(v);
  }
  return out;
}

// ---- a tiny LLaMA, for the bad-input cases ----------------------------------------------
json tiny_config() {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", 8},
          {"intermediate_size", 12},
          {"num_hidden_layers", 1},
          {"num_attention_heads", 2},
          {"num_key_value_heads", 1},
          {"vocab_size", 16},
          {"max_position_embeddings", 32},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"rope_scaling", nullptr},
          {"hidden_act", "silu"},
          {"tie_word_embeddings", false}};
}

RawTensor f32_tensor(const std::string& name, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(static_cast<float>(i + name.size()));
  RawTensor t{name, "F32", std::move(shape), std::vector<unsigned char>(v.size() * 4)};
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

std::vector<RawTensor> tiny_tensors(bool with_lm_head = true) {
  std::vector<RawTensor> t = {f32_tensor("model.embed_tokens.weight", {16, 8}),
                              f32_tensor("model.layers.0.input_layernorm.weight", {8}),
                              f32_tensor("model.layers.0.self_attn.q_proj.weight", {8, 8}),
                              f32_tensor("model.layers.0.self_attn.k_proj.weight", {4, 8}),
                              f32_tensor("model.layers.0.self_attn.v_proj.weight", {4, 8}),
                              f32_tensor("model.layers.0.self_attn.o_proj.weight", {8, 8}),
                              f32_tensor("model.layers.0.post_attention_layernorm.weight", {8}),
                              f32_tensor("model.layers.0.mlp.gate_proj.weight", {12, 8}),
                              f32_tensor("model.layers.0.mlp.up_proj.weight", {12, 8}),
                              f32_tensor("model.layers.0.mlp.down_proj.weight", {8, 12}),
                              f32_tensor("model.norm.weight", {8})};
  if (with_lm_head) t.push_back(f32_tensor("lm_head.weight", {16, 8}));
  return t;
}

void write_config(const fs::path& dir, const json& config) { std::ofstream(dir / "config.json") << config.dump(2); }

void check_refused(const fs::path& dir, const fs::path& file_named, const std::string& problem) {
  INFO("expected refusal naming ", file_named.string(), " with '", problem, "'");
  try {
    circal::load_model(dir.string());
    FAIL("load_model accepted a bad model folder");
  } catch (const CircalError& e) {
    const std::string message = e.what();
    INFO("message: ", message);
    CHECK(e.code() == circal::kExitInput);
    CHECK(message.find(file_named.string()) != std::string::npos);
    CHECK(message.find(problem) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  }
}

}  // namespace

TEST_CASE("the bundled teacher loads with the shapes config.json gives") {
  const circal::ModelWeights m = circal::load_model(kTeacherDir.string());
  const circal::LlamaConfig& c = m.config;
  CHECK(c.hidden_size == 256);
  CHECK(c.intermediate_size == 768);
  CHECK(c.num_hidden_layers == 4);
  CHECK(c.num_attention_heads == 4);
  CHECK(c.num_key_value_heads == 2);
  CHECK(c.head_dim == 64);
  CHECK(c.vocab_size == 4096);
  CHECK(c.rms_norm_eps == doctest::Approx(1e-5));
  CHECK(c.bos_token_id == 1);
  CHECK(c.eos_token_id == 2);
  CHECK_FALSE(c.tie_word_embeddings);
  REQUIRE(m.layers.size() == 4);
  const std::size_t per_layer = 2 * 256 + 256 * 256 * 2 + 128 * 256 * 2 + 3 * 768 * 256;
  CHECK(m.storage.size() == 2 * 4096 * 256 + 4 * per_layer + 256);
  CHECK(m.lm_head.float32() != m.embed_tokens.float32());
  CHECK(m.weights_hash == std::string(circal::kWeightsHashPrefix) +
                              circal::file_content_hash((kTeacherDir / "model.safetensors").string()));
  check_weights_equal(m, as_floats(read_raw_tensors(kTeacherDir / "model.safetensors")));

  CHECK(circal::mlp_matrix(m, 2, circal::Projection::Down) == m.layers[2].down_proj.float32());
  CHECK(circal::mlp_out_features(c, circal::Projection::Gate) == 768);
  CHECK(circal::mlp_in_features(c, circal::Projection::Down) == 768);
  CHECK(circal::mlp_in_features(c, circal::Projection::Up) == 256);
  CHECK_THROWS_AS(circal::mlp_matrix(m, 4, circal::Projection::Gate), CircalError);
}

TEST_CASE("the test's round-to-nearest-even matches the formats' definitions") {
  CHECK(round_to_bfloat16(1.0f + std::ldexp(1.0f, -8)) == 1.0f);  // tie -> even mantissa 0
  CHECK(round_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)) == 1.0f + std::ldexp(1.0f, -6));
  CHECK(round_to_half(1.0f + std::ldexp(1.0f, -11)) == 1.0f);
  CHECK(round_to_half(std::ldexp(3.0f, -26)) == std::ldexp(1.0f, -24));  // subnormal, tie rounds to even (1)
  CHECK(half_bits(1.0f) == 0x3C00);
  CHECK(half_bits(-2.0f) == 0xC000);
  CHECK(half_bits(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(circal::half_to_float(0x3C01) == 1.0f + std::ldexp(1.0f, -10));
  CHECK(circal::bfloat16_to_float(0xC040) == -3.0f);
}

TEST_CASE("half_to_float is exact for every finite half, subnormals and signed zeros included") {
  int mismatches = 0;
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    if ((bits & 0x7C00) == 0x7C00) continue;  // inf and NaN: checked below
    mismatches += half_bits(circal::half_to_float(uint16_t(bits))) != bits;
  }
  CHECK(mismatches == 0);
  CHECK(std::signbit(circal::half_to_float(0x8000)));
  CHECK(std::isinf(circal::half_to_float(0x7C00)));
  CHECK(std::isnan(circal::half_to_float(0xFE00)));
}

TEST_CASE("F16 and BF16 copies load to the float32 values round-to-nearest-even predicts") {
  const auto f32 = read_raw_tensors(kTeacherDir / "model.safetensors");
  for (const std::string dtype : {"F16", "BF16"}) {
    INFO(dtype);
    TempDir dir;
    copy_model_side_files(dir.path);
    std::map<std::string, std::vector<float>> expected;
    write_safetensors(dir.path / "model.safetensors", to_16bit(f32, dtype, expected));
    const circal::ModelWeights m = circal::load_model(dir.path.string());
    check_weights_equal(m, expected);
    // Rounding really happened: the copy differs from the float32 teacher.
    const auto original = as_floats(f32).at("model.layers.0.self_attn.q_proj.weight");
    CHECK(std::memcmp(m.layers[0].q_proj.float32(), original.data(), original.size() * sizeof(float)) != 0);
  }
}

TEST_CASE("a sharded copy (two files + index) loads the same weights") {
  const auto f32 = read_raw_tensors(kTeacherDir / "model.safetensors");
  TempDir dir;
  copy_model_side_files(dir.path);
  const std::size_t half = f32.size() / 2;
  const std::vector<RawTensor> first(f32.begin(), f32.begin() + static_cast<long>(half));
  const std::vector<RawTensor> second(f32.begin() + static_cast<long>(half), f32.end());
  const std::string names[2] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
  write_safetensors(dir.path / names[0], first);
  write_safetensors(dir.path / names[1], second);
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
  for (const auto& t : first) index["weight_map"][t.name] = names[0];
  for (const auto& t : second) index["weight_map"][t.name] = names[1];
  std::ofstream(dir.path / "model.safetensors.index.json") << index.dump(2);

  const circal::ModelWeights m = circal::load_model(dir.path.string());
  check_weights_equal(m, as_floats(f32));
  CHECK(m.weights_hash.find('-') != std::string::npos);  // one hash per shard

  SUBCASE("an index pointing a tensor at the wrong shard is refused") {
    index["weight_map"][first[0].name] = names[1];
    std::ofstream(dir.path / "model.safetensors.index.json") << index.dump(2);
    check_refused(dir.path, dir.path / names[1], "missing tensor " + first[0].name);
  }
}

TEST_CASE("a tiny model: tied embeddings and the derived RoPE buffer are accepted") {
  TempDir dir;
  json config = tiny_config();
  config["tie_word_embeddings"] = true;
  write_config(dir.path, config);
  auto tensors = tiny_tensors(false);
  tensors.push_back(f32_tensor("model.layers.0.self_attn.rotary_emb.inv_freq", {2}));
  write_safetensors(dir.path / "model.safetensors", tensors);
  const circal::ModelWeights m = circal::load_model(dir.path.string());
  CHECK(m.lm_head.float32() == m.embed_tokens.float32());
  CHECK(m.config.head_dim == 4);
  CHECK(m.config.max_position_embeddings == 32);
}

TEST_CASE("bad model folders are refused with one line naming the file") {
  TempDir dir;
  const fs::path weights = dir.path / "model.safetensors";
  const fs::path config_path = dir.path / "config.json";
  write_config(dir.path, tiny_config());
  write_safetensors(weights, tiny_tensors());
  circal::load_model(dir.path.string());  // the unmodified tiny model is fine

  SUBCASE("missing folder") { check_refused(dir.path / "nope", dir.path / "nope", "does not exist"); }
  SUBCASE("missing config.json") {
    fs::remove(config_path);
    check_refused(dir.path, config_path, "missing");
  }
  SUBCASE("missing weights") {
    fs::remove(weights);
    check_refused(dir.path, weights, "missing");
  }
  SUBCASE("truncated data") {
    write_safetensors(weights, tiny_tensors(), {}, 4);
    check_refused(dir.path, weights, "truncated");
  }
  SUBCASE("file shorter than the header length") {
    std::ofstream(weights, std::ios::binary) << "abc";
    check_refused(dir.path, weights, "truncated");
  }
  SUBCASE("header length out of range") {
    write_safetensors(weights, tiny_tensors());
    std::fstream f(weights, std::ios::in | std::ios::out | std::ios::binary);
    f.write("\xff\xff\xff\x7f\0\0\0\0", 8);
    f.close();
    check_refused(dir.path, weights, "header length");
  }
  SUBCASE("header offsets out of range") {
    write_safetensors(weights, tiny_tensors(), [](json& h) {
      h["model.norm.weight"]["data_offsets"][0] = h["model.norm.weight"]["data_offsets"][1].get<uint64_t>() + 4;
    });
    check_refused(dir.path, weights, "data_offsets");
  }
  SUBCASE("offsets past the end of the data") {
    write_safetensors(weights, tiny_tensors(), [](json& h) {
      h["lm_head.weight"]["data_offsets"] = {1u << 20, (1u << 20) + 16 * 8 * 4};
    });
    check_refused(dir.path, weights, "truncated");
  }
  SUBCASE("header not JSON") {
    write_safetensors(weights, tiny_tensors(), [](json& h) { h = "x"; });
    check_refused(dir.path, weights, "not a JSON object");
  }
  SUBCASE("unsupported dtype") {
    write_safetensors(weights, tiny_tensors(), [](json& h) { h["model.norm.weight"]["dtype"] = "I32"; });
    check_refused(dir.path, weights, "unsupported dtype I32");
  }
  SUBCASE("shape mismatch") {
    write_safetensors(weights, tiny_tensors(), [](json& h) {
      h["model.layers.0.self_attn.k_proj.weight"]["shape"] = {8, 4};
    });
    check_refused(dir.path, weights, "has shape [8, 4]");
  }
  SUBCASE("missing tensor") {
    auto tensors = tiny_tensors();
    tensors.erase(tensors.begin() + 10);  // model.norm.weight
    write_safetensors(weights, tensors);
    check_refused(dir.path, weights, "missing tensor model.norm.weight");
  }
  SUBCASE("unexpected tensor (a bias)") {
    auto tensors = tiny_tensors();
    tensors.push_back(f32_tensor("model.layers.0.self_attn.q_proj.bias", {8}));
    write_safetensors(weights, tensors);
    check_refused(dir.path, weights, "unexpected tensor model.layers.0.self_attn.q_proj.bias");
  }
  SUBCASE("config.json not JSON") {
    std::ofstream(config_path) << "{hidden_size: 8";
    check_refused(dir.path, config_path, "not valid JSON");
  }
  // One config.json key set to a value circal must refuse, and the word the message must hold.
  const auto refuse_config_value = [&](const std::string& key, const json& value, const std::string& problem) {
    json config = tiny_config();
    if (value.is_null()) {
      config.erase(key);
    } else {
      config[key] = value;
    }
    write_config(dir.path, config);
    check_refused(dir.path, config_path, problem);
  };
  SUBCASE("config.json of another architecture") {
    refuse_config_value("model_type", "gpt2", "unsupported architecture: model_type \"gpt2\"");
    refuse_config_value("architectures", {"MistralForCausalLM"}, "disagrees with architectures");
    refuse_config_value("architectures", {"GemmaForCausalLM"}, "unsupported architecture: architectures");
  }
  SUBCASE("unsupported features") {
    refuse_config_value("rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}},
                        "rope_scaling.type \"dynamic\" is not supported");
    refuse_config_value("rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}},
                        "rope_scaling.rope_type \"yarn\" is not supported");
    refuse_config_value("rope_scaling", {{"rope_type", "longrope"}}, "rope_scaling.rope_type \"longrope\"");
    refuse_config_value("rope_scaling", {{"factor", 2.0}}, "rope_scaling.type null is not supported");
    refuse_config_value("rope_scaling", {{"type", "linear"}}, "rope_scaling.factor");
    refuse_config_value("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}},
                        "rope_scaling.high_freq_factor");
    refuse_config_value("rope_scaling",
                        {{"rope_type", "llama3"},
                         {"factor", 8.0},
                         {"low_freq_factor", 4.0},
                         {"high_freq_factor", 1.0},
                         {"original_max_position_embeddings", 8192}},
                        "high_freq_factor must exceed low_freq_factor");
    refuse_config_value("rope_parameters", {{"rope_type", "default"}, {"rope_theta", 1e6}}, "key rope_parameters");
    refuse_config_value("hidden_act", "gelu", "hidden_act");
    refuse_config_value("attention_bias", "yes", "attention_bias");
    refuse_config_value("mlp_bias", true, "mlp_bias");
  }
  SUBCASE("biases the config implies must be in the weights") {
    json config = tiny_config();
    config["attention_bias"] = true;
    write_config(dir.path, config);
    check_refused(dir.path, weights, "missing tensor model.layers.0.self_attn.q_proj.bias");
  }
  SUBCASE("a qwen3 config needs the q/k norm weights, a qwen2 config the q/k/v biases") {
    json config = tiny_config();
    config["model_type"] = "qwen3";
    config["architectures"] = {"Qwen3ForCausalLM"};
    write_config(dir.path, config);
    check_refused(dir.path, weights, "missing tensor model.layers.0.self_attn.q_norm.weight");
    config["model_type"] = "qwen2";
    config["architectures"] = {"Qwen2ForCausalLM"};
    write_config(dir.path, config);
    check_refused(dir.path, weights, "missing tensor model.layers.0.self_attn.q_proj.bias");
  }
  SUBCASE("missing or bad keys") {
    refuse_config_value("vocab_size", nullptr, "missing key vocab_size");
    refuse_config_value("num_key_value_heads", 3, "num_key_value_heads");
    refuse_config_value("num_key_value_heads", "two", "num_key_value_heads");
    refuse_config_value("hidden_size", -8, "hidden_size");
  }
  SUBCASE("config and weights disagree") {
    json config = tiny_config();
    config["intermediate_size"] = 16;
    write_config(dir.path, config);
    check_refused(dir.path, weights, "model.layers.0.mlp.gate_proj.weight has shape [12, 8]");
  }
}

TEST_CASE("weight hashes a cache knows unchanged are not read again; a changed file is") {
  TempDir dir;
  for (const char* name : {"config.json", "model.safetensors"}) fs::copy_file(kTeacherDir / name, dir.path / name);
  const std::string cache_path = (dir.path / "weight_hashes.json").string();
  circal::FileHashCache first(cache_path);
  const circal::ModelWeights m = circal::load_model(dir.path.string(), &first);
  CHECK(first.files_read() == 1);
  CHECK(m.weights_hash == circal::load_model(kTeacherDir.string()).weights_hash);  // same bytes, same hash
  REQUIRE(m.weight_files.size() == 1);
  CHECK(m.weight_files[0].identity == circal::file_identity((dir.path / "model.safetensors").string()));
  first.save();

  circal::FileHashCache second(cache_path);
  CHECK(circal::load_model(dir.path.string(), &second).weights_hash == m.weights_hash);
  CHECK(second.files_read() == 0);

  // One byte of the last tensor changed, size kept, mtime moved on: hashed again, and differs.
  const fs::path weights = dir.path / "model.safetensors";
  const auto mtime = fs::last_write_time(weights);
  {
    std::fstream file(weights, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-1, std::ios::end);
    file.put('\x5a');
  }
  fs::last_write_time(weights, mtime + std::chrono::seconds(2));
  circal::FileHashCache third(cache_path);
  const circal::ModelWeights changed = circal::load_model(dir.path.string(), &third);
  CHECK(third.files_read() == 1);
  CHECK(changed.weights_hash != m.weights_hash);
}
