#include "pipeline/model/transformer.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "pipeline/base/errors.hpp"
#include "pipeline/config/names.hpp"
#include "pipeline/model/dense_linear.hpp"
#include "pipeline/model/ops/attention.hpp"
#include "pipeline/model/ops/linear.hpp"
#include "pipeline/model/ops/rmsnorm.hpp"
#include "pipeline/model/ops/rope.hpp"
#include "pipeline/model/ops/swiglu.hpp"

namespace circal {

namespace {

constexpr int kGate = 0, kUp = 1, kDown = 2;

int projection_index(Projection projection) {
  static_assert(int(Projection::Gate) == kGate && int(Projection::Up) == kUp && int(Projection::Down) == kDown);
  return static_cast<int>(projection);
}

// Grow-only buffer: reallocates only when a larger shape arrives.
void ensure(std::vector<float>& buffer, long n) {
  if (static_cast<long>(buffer.size()) < n) buffer.resize(n);
}

// Activations of one layer for one pass, kept for the hooks and the backward.
struct LayerActivations {
  std::vector<float> x_in, ln1, inv_rms1, q, k, v, probs, att, x_mid, ln2, inv_rms2, gate, up, act;
  std::vector<float> down;  // down_proj's output, only with set_keep_mlp_outputs
  // With q/k norm: the projections before it and each head row's inverse RMS.
  std::vector<float> q_raw, k_raw, inv_rms_q, inv_rms_k;
};

// Gradient scratch shared by all layers of a backward.
struct GradientBuffers {
  std::vector<float> dx, dnorm, dtmp, datt, dq, dk, dv, dscores, dgate, dup, dact;
  std::vector<float> dq_raw, dk_raw;  // with q/k norm
};

}  // namespace

struct Transformer::Impl {
  const ModelWeights& model;
  const LlamaConfig& cfg;
  int q_dim, kv_dim;
  RopeTable rope;
  // Where teacher matrices kept in file dtype are converted to float32, one at a time, just
  // before their GEMM (forward, recompute and backward alike).
  mutable Float32Scratch weights32;
  std::vector<std::array<std::unique_ptr<DenseLinear>, 3>> dense;
  std::vector<std::array<LinearOperator*, 3>> mlp;
  std::vector<LayerActivations> acts;
  // Activation checkpointing (set_recompute): acts[l] then holds only x_in, and every layer's
  // other activations live in `scratch`, recomputed in backward(); recompute_out takes the
  // recomputed layer's output (the next layer's input is already kept).
  bool recompute_on = false;
  bool keep_down = false;  // set_keep_mlp_outputs
  LayerActivations scratch;
  std::vector<float> recompute_out;
  std::vector<float> x_final, lnf, inv_rms_f, logits;
  GradientBuffers grads;
  // KV cache of generate_greedy, [capacity, kv_dim] per layer.
  std::vector<std::vector<float>> cache_k, cache_v;
  // The prompts of the current pass: prompt s owns rows [offsets[s], offsets[s+1]) and
  // attention probabilities from probs_offsets[s]. pos0 > 0 only for a single prompt
  // continuing from the KV cache.
  std::vector<int> lengths;
  std::vector<long> offsets{0}, probs_offsets{0};
  int pos0 = 0;
  int T = 0;
  int first_layer = 0;

  // Where layer l's activations other than x_in live.
  LayerActivations& slot(int l) { return recompute_on ? scratch : acts[l]; }
  const LayerActivations& slot(int l) const { return recompute_on ? scratch : acts[l]; }

  explicit Impl(const ModelWeights& m)
      : model(m),
        cfg(m.config),
        q_dim(cfg.num_attention_heads * cfg.head_dim),
        kv_dim(cfg.num_key_value_heads * cfg.head_dim),
        rope(rope_inverse_frequencies(cfg)),
        dense(cfg.num_hidden_layers),
        mlp(cfg.num_hidden_layers),
        acts(cfg.num_hidden_layers),
        cache_k(cfg.num_hidden_layers),
        cache_v(cfg.num_hidden_layers) {
    const int I = cfg.intermediate_size, H = cfg.hidden_size;
    for (int l = 0; l < cfg.num_hidden_layers; ++l) {
      const LayerWeights& w = model.layers[l];
      dense[l][kGate] = std::make_unique<DenseLinear>(I, H, w.gate_proj, &weights32);
      dense[l][kUp] = std::make_unique<DenseLinear>(I, H, w.up_proj, &weights32);
      dense[l][kDown] = std::make_unique<DenseLinear>(H, I, w.down_proj, &weights32);
      for (int p = 0; p < 3; ++p) mlp[l][p] = dense[l][p].get();
    }
    rope.reserve(std::max(cfg.max_position_embeddings, 1));
  }

  // Sets the prompts of the next pass (their lengths, the first one's position) and sizes
  // every activation for them; `keys` is the KV-cache capacity when decoding.
  template <typename Lengths>
  void begin_pass(const Lengths& prompt_lengths, int first_pos, int keys, int first = 0) {
    lengths.assign(prompt_lengths.begin(), prompt_lengths.end());
    pos0 = first_pos;
    offsets.resize(1);
    probs_offsets.resize(1);
    int longest = 0;
    for (int n : lengths) {
      if (n <= 0) fail(kExitInput, "forward of an empty token sequence");
      longest = std::max(longest, n);
      check_window(std::max(keys, pos0 + n));
      offsets.push_back(offsets.back() + n);
      probs_offsets.push_back(probs_offsets.back() + static_cast<long>(cfg.num_attention_heads) * n * (pos0 + n));
    }
    reserve(offsets.back(), std::max(keys, pos0 + longest), first);
  }

  // Windowed attention equals the full causal attention computed here while every query
  // sees all its keys: i - j < sliding_window for all positions i, j of the sequence.
  void check_window(int positions) const {
    if (cfg.sliding_window > 0 && positions > cfg.sliding_window)
      fail(kExitInput, "a sequence of " + std::to_string(positions) + " positions exceeds the model's sliding_window " +
                           std::to_string(cfg.sliding_window) +
                           " (config.json): circal computes full causal attention only");
  }

  void reserve_layer(LayerActivations& a, long rows) {
    const long H = cfg.hidden_size, I = cfg.intermediate_size;
    for (auto* b : {&a.ln1, &a.x_mid, &a.ln2}) ensure(*b, rows * H);
    for (auto* b : {&a.inv_rms1, &a.inv_rms2}) ensure(*b, rows);
    for (auto* b : {&a.q, &a.att}) ensure(*b, rows * q_dim);
    for (auto* b : {&a.k, &a.v}) ensure(*b, rows * kv_dim);
    for (auto* b : {&a.gate, &a.up, &a.act}) ensure(*b, rows * I);
    if (keep_down) ensure(a.down, rows * H);
    ensure(a.probs, probs_offsets.back());
    if (!cfg.qk_norm) return;
    ensure(a.q_raw, rows * q_dim);
    ensure(a.k_raw, rows * kv_dim);
    ensure(a.inv_rms_q, rows * cfg.num_attention_heads);
    ensure(a.inv_rms_k, rows * cfg.num_key_value_heads);
  }

  // Layers below `first` are not run by this pass and get no buffers.
  void reserve(long rows, int S, int first) {
    const long H = cfg.hidden_size;
    rope.reserve(S);
    for (int l = first; l < cfg.num_hidden_layers; ++l) {
      ensure(acts[l].x_in, rows * H);
      if (!recompute_on) reserve_layer(acts[l], rows);
    }
    if (recompute_on) {
      reserve_layer(scratch, rows);
      ensure(recompute_out, rows * H);
    }
    ensure(x_final, rows * H);
    ensure(lnf, rows * H);
    ensure(inv_rms_f, rows);
    ensure(logits, rows * cfg.vocab_size);
  }

  void reserve_gradients() {
    const long H = cfg.hidden_size, I = cfg.intermediate_size;
    GradientBuffers& g = grads;
    for (auto* b : {&g.dx, &g.dnorm, &g.dtmp}) ensure(*b, T * H);
    for (auto* b : {&g.datt, &g.dq}) ensure(*b, T * q_dim);
    for (auto* b : {&g.dk, &g.dv}) ensure(*b, T * kv_dim);
    for (auto* b : {&g.dgate, &g.dup, &g.dact}) ensure(*b, T * I);
    const int longest = *std::max_element(lengths.begin(), lengths.end());
    ensure(g.dscores, static_cast<long>(longest) * longest);
    if (cfg.qk_norm) {
      ensure(g.dq_raw, T * q_dim);
      ensure(g.dk_raw, T * kv_dim);
    }
  }

  // A teacher matrix [rows, cols] as float32 for one GEMM.
  Float32View f32(const ResidentTensor& w, long rows, long cols) const {
    return Float32View(w, rows * cols, &weights32);
  }

  AttentionShape attention_shape(int s) const {
    return {lengths[s], pos0, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim};
  }

  // q, k, v of every row from ln1. With q/k norm (Qwen3) the projections land in q_raw/k_raw
  // and every head's row is normalised into q and the key slot: after the projection, before
  // RoPE.
  void project_qkv(const LayerWeights& w, LayerActivations& a, float* k_new, float* v_new, int T_) {
    const int H = cfg.hidden_size;
    float* q_out = cfg.qk_norm ? a.q_raw.data() : a.q.data();
    float* k_out = cfg.qk_norm ? a.k_raw.data() : k_new;
    linear_forward(a.ln1.data(), f32(w.q_proj, q_dim, H).data(), q_out, T_, H, q_dim, w.q_bias);
    linear_forward(a.ln1.data(), f32(w.k_proj, kv_dim, H).data(), k_out, T_, H, kv_dim, w.k_bias);
    linear_forward(a.ln1.data(), f32(w.v_proj, kv_dim, H).data(), v_new, T_, H, kv_dim, w.v_bias);
    if (!cfg.qk_norm) return;
    rmsnorm_forward(a.q_raw.data(), w.q_norm, a.q.data(), a.inv_rms_q.data(), T_ * cfg.num_attention_heads,
                    cfg.head_dim, cfg.rms_norm_eps);
    rmsnorm_forward(a.k_raw.data(), w.k_norm, k_new, a.inv_rms_k.data(), T_ * cfg.num_key_value_heads, cfg.head_dim,
                    cfg.rms_norm_eps);
  }

  // dq, dk (at the normalised q and k) carried back through the q/k norm into dq_raw, dk_raw.
  void qk_norm_backward(const LayerWeights& w, const LayerActivations& a) {
    GradientBuffers& g = grads;
    std::fill(g.dq_raw.begin(), g.dq_raw.begin() + static_cast<long>(T) * q_dim, 0.0f);
    std::fill(g.dk_raw.begin(), g.dk_raw.begin() + static_cast<long>(T) * kv_dim, 0.0f);
    rmsnorm_backward(g.dq.data(), a.q_raw.data(), w.q_norm, a.inv_rms_q.data(), g.dq_raw.data(),
                     T * cfg.num_attention_heads, cfg.head_dim);
    rmsnorm_backward(g.dk.data(), a.k_raw.data(), w.k_norm, a.inv_rms_k.data(), g.dk_raw.data(),
                     T * cfg.num_key_value_heads, cfg.head_dim);
  }

  // One decoder layer on all rows of the pass; prompt s's k/v rows land at row
  // offsets[s] + pos0 of kdst/vdst, whose first pos0 rows already hold the earlier keys (the
  // KV cache) when pos0 > 0.
  void layer_forward(int l, const float* x, float* out, float* kdst, float* vdst) {
    const LayerWeights& w = model.layers[l];
    LayerActivations& a = slot(l);
    const int H = cfg.hidden_size, I = cfg.intermediate_size;
    const int T_ = static_cast<int>(offsets.back());
    const long n = static_cast<long>(T_) * H;
    float* x_in = acts[l].x_in.data();
    if (x_in != x) std::memcpy(x_in, x, n * sizeof(float));
    float* k_new = kdst + static_cast<long>(pos0) * kv_dim;
    float* v_new = vdst + static_cast<long>(pos0) * kv_dim;
    rmsnorm_forward(x_in, w.input_layernorm, a.ln1.data(), a.inv_rms1.data(), T_, H, cfg.rms_norm_eps);
    project_qkv(w, a, k_new, v_new, T_);
    for (int s = 0; s < static_cast<int>(lengths.size()); ++s) {
      const long r = offsets[s];
      rope_forward(a.q.data() + r * q_dim, lengths[s], cfg.num_attention_heads, pos0, rope);
      rope_forward(k_new + r * kv_dim, lengths[s], cfg.num_key_value_heads, pos0, rope);
      attention_forward(attention_shape(s), a.q.data() + r * q_dim, kdst + r * kv_dim, vdst + r * kv_dim,
                        a.att.data() + r * q_dim, a.probs.data() + probs_offsets[s]);
    }
    linear_forward(a.att.data(), f32(w.o_proj, H, q_dim).data(), a.x_mid.data(), T_, q_dim, H, w.o_bias);
    for (long i = 0; i < n; ++i) a.x_mid[i] += x_in[i];
    rmsnorm_forward(a.x_mid.data(), w.post_attention_layernorm, a.ln2.data(), a.inv_rms2.data(), T_, H,
                    cfg.rms_norm_eps);
    mlp[l][kGate]->forward(a.ln2.data(), a.gate.data(), T_);
    mlp[l][kUp]->forward(a.ln2.data(), a.up.data(), T_);
    swiglu_forward(a.gate.data(), a.up.data(), a.act.data(), static_cast<long>(T_) * I);
    if (!keep_down) {
      mlp[l][kDown]->forward(a.act.data(), out, T_);
      for (long i = 0; i < n; ++i) out[i] += a.x_mid[i];
      return;
    }
    // The same sum as above, with down_proj's output kept.
    mlp[l][kDown]->forward(a.act.data(), a.down.data(), T_);
    for (long i = 0; i < n; ++i) out[i] = a.down[i] + a.x_mid[i];
  }

  // Layers first..last on the rows set by begin_pass, then final norm and lm_head.
  const float* run(int first, const float* hidden, bool use_cache) {
    const int L = cfg.num_hidden_layers;
    const int T_ = static_cast<int>(offsets.back());
    const float* x = hidden;
    for (int l = first; l < L; ++l) {
      float* out = (l + 1 < L) ? acts[l + 1].x_in.data() : x_final.data();
      float* kdst = use_cache ? cache_k[l].data() : slot(l).k.data();
      float* vdst = use_cache ? cache_v[l].data() : slot(l).v.data();
      layer_forward(l, x, out, kdst, vdst);
      x = out;
    }
    if (first == L) std::memcpy(x_final.data(), hidden, sizeof(float) * T_ * cfg.hidden_size);
    rmsnorm_forward(x_final.data(), model.norm, lnf.data(), inv_rms_f.data(), T_, cfg.hidden_size, cfg.rms_norm_eps);
    linear_forward(lnf.data(), f32(model.lm_head, cfg.vocab_size, cfg.hidden_size).data(), logits.data(), T_,
                   cfg.hidden_size, cfg.vocab_size);
    T = T_;
    first_layer = first;
    return logits.data();
  }

  void embed(const int* ids, int T_, float* out) const {
    const int H = cfg.hidden_size;
    for (int t = 0; t < T_; ++t) {
      if (ids[t] < 0 || ids[t] >= cfg.vocab_size)
        fail(kExitInput,
             "token id " + std::to_string(ids[t]) + " outside the vocabulary of " + std::to_string(cfg.vocab_size));
      model.embed_tokens.to_float32(static_cast<long>(ids[t]) * H, H, out + static_cast<long>(t) * H);
    }
  }

  // dx holds dL/d(layer output) on entry and dL/d(layer input) on exit, unless
  // mlp_parameters_only: then only the MLP operators' parameter gradients are accumulated.
  void layer_backward(int l, bool mlp_parameters_only) {
    const LayerWeights& w = model.layers[l];
    LayerActivations& a = slot(l);
    GradientBuffers& g = grads;
    const int H = cfg.hidden_size, I = cfg.intermediate_size;
    // MLP branch; the residual passes dx through unchanged.
    mlp[l][kDown]->backward(a.act.data(), g.dx.data(), g.dact.data(), T);
    swiglu_backward(g.dact.data(), a.gate.data(), a.up.data(), g.dgate.data(), g.dup.data(), static_cast<long>(T) * I);
    mlp[l][kGate]->backward(a.ln2.data(), g.dgate.data(), mlp_parameters_only ? nullptr : g.dnorm.data(), T);
    mlp[l][kUp]->backward(a.ln2.data(), g.dup.data(), mlp_parameters_only ? nullptr : g.dtmp.data(), T);
    if (mlp_parameters_only) return;
    const long n = static_cast<long>(T) * H;
    for (long i = 0; i < n; ++i) g.dnorm[i] += g.dtmp[i];
    rmsnorm_backward(g.dnorm.data(), a.x_mid.data(), w.post_attention_layernorm, a.inv_rms2.data(), g.dx.data(), T, H);
    // Attention branch.
    linear_backward_input(g.dx.data(), f32(w.o_proj, H, q_dim).data(), g.datt.data(), T, q_dim, H);
    for (int s = 0; s < static_cast<int>(lengths.size()); ++s) {
      const long r = offsets[s];
      attention_backward(attention_shape(s), g.datt.data() + r * q_dim, a.q.data() + r * q_dim, a.k.data() + r * kv_dim,
                         a.v.data() + r * kv_dim, a.probs.data() + probs_offsets[s], g.dq.data() + r * q_dim,
                         g.dk.data() + r * kv_dim, g.dv.data() + r * kv_dim, g.dscores.data());
      rope_backward(g.dq.data() + r * q_dim, lengths[s], cfg.num_attention_heads, 0, rope);
      rope_backward(g.dk.data() + r * kv_dim, lengths[s], cfg.num_key_value_heads, 0, rope);
    }
    if (cfg.qk_norm) qk_norm_backward(w, a);
    const float* dq = cfg.qk_norm ? g.dq_raw.data() : g.dq.data();
    const float* dk = cfg.qk_norm ? g.dk_raw.data() : g.dk.data();
    linear_backward_input(dq, f32(w.q_proj, q_dim, H).data(), g.dnorm.data(), T, H, q_dim);
    linear_backward_input(dk, f32(w.k_proj, kv_dim, H).data(), g.dnorm.data(), T, H, kv_dim, true);
    linear_backward_input(g.dv.data(), f32(w.v_proj, kv_dim, H).data(), g.dnorm.data(), T, H, kv_dim, true);
    rmsnorm_backward(g.dnorm.data(), acts[l].x_in.data(), w.input_layernorm, a.inv_rms1.data(), g.dx.data(), T, H);
  }

  void backward(const float* dlogits, bool input_gradient) {
    reserve_gradients();
    const int H = cfg.hidden_size;
    linear_backward_input(dlogits, f32(model.lm_head, cfg.vocab_size, H).data(), grads.dnorm.data(), T, H,
                          cfg.vocab_size);
    std::fill(grads.dx.begin(), grads.dx.begin() + static_cast<long>(T) * H, 0.0f);
    rmsnorm_backward(grads.dnorm.data(), x_final.data(), model.norm, inv_rms_f.data(), grads.dx.data(), T, H);
    for (int l = cfg.num_hidden_layers - 1; l >= first_layer; --l) {
      // The same call on the same input as in the forward pass: the same activations, bit
      // for bit (positions restart at 0: backward follows forward_from, never the KV cache).
      if (recompute_on) layer_forward(l, acts[l].x_in.data(), recompute_out.data(), scratch.k.data(), scratch.v.data());
      layer_backward(l, !input_gradient && l == first_layer);
    }
  }

  void set_recompute(bool on) {
    if (on == recompute_on) return;
    recompute_on = on;
    // Give back what the other mode used, so the switch bounds memory at once.
    auto release = [](LayerActivations& a, bool keep_input) {
      for (auto* b : {&a.x_in, &a.ln1, &a.inv_rms1, &a.q, &a.k, &a.v, &a.probs, &a.att, &a.x_mid, &a.ln2, &a.inv_rms2,
                      &a.gate, &a.up, &a.act, &a.down, &a.q_raw, &a.k_raw, &a.inv_rms_q, &a.inv_rms_k}) {
        if (keep_input && b == &a.x_in) continue;
        std::vector<float>().swap(*b);
      }
    };
    if (on) {
      for (LayerActivations& a : acts) release(a, true);
    } else {
      release(scratch, false);
      std::vector<float>().swap(recompute_out);
    }
  }

  // Where the embeddings go: the input of layer 0 (or of the final norm in a 0-layer model).
  float* first_input() { return acts.empty() ? x_final.data() : acts[0].x_in.data(); }

  int argmax_last_row(int T_) const {
    const float* row = logits.data() + static_cast<long>(T_ - 1) * cfg.vocab_size;
    return static_cast<int>(std::max_element(row, row + cfg.vocab_size) - row);
  }
};

Transformer::Transformer(const ModelWeights& model) : impl_(new Impl(model)) {}
Transformer::~Transformer() { delete impl_; }

const LlamaConfig& Transformer::config() const { return impl_->cfg; }

void Transformer::set_mlp_operator(int layer, Projection projection, LinearOperator* op) {
  if (layer < 0 || layer >= impl_->cfg.num_hidden_layers)
    fail(kExitUsage, "layer " + std::to_string(layer) + " outside the model's " +
                         std::to_string(impl_->cfg.num_hidden_layers) + " layers");
  const int p = projection_index(projection);
  LinearOperator* dense = impl_->dense[layer][p].get();
  if (op && (op->in_features() != dense->in_features() || op->out_features() != dense->out_features()))
    fail(kExitInternal,
         "operator for layer " + std::to_string(layer) + " " + name_of(projection) + " has the wrong shape");
  impl_->mlp[layer][p] = op ? op : dense;
}

const float* Transformer::forward(const std::vector<int>& tokens) {
  const std::array<int, 1> length{static_cast<int>(tokens.size())};
  impl_->begin_pass(length, 0, 0);
  float* x0 = impl_->first_input();
  impl_->embed(tokens.data(), length[0], x0);
  return impl_->run(0, x0, false);
}

const float* Transformer::forward_from(int layer, const float* hidden, int T) {
  return forward_from(layer, hidden, std::vector<int>{T});
}

const float* Transformer::forward_batch(const std::vector<std::vector<int>>& prompts) {
  if (prompts.empty()) fail(kExitInput, "forward of an empty batch of prompts");
  std::vector<int> lengths;
  lengths.reserve(prompts.size());
  for (const auto& ids : prompts) lengths.push_back(static_cast<int>(ids.size()));
  impl_->begin_pass(lengths, 0, 0);
  float* x0 = impl_->first_input();
  for (std::size_t s = 0; s < prompts.size(); ++s)
    impl_->embed(prompts[s].data(), lengths[s], x0 + impl_->offsets[s] * static_cast<long>(impl_->cfg.hidden_size));
  return impl_->run(0, x0, false);
}

const float* Transformer::forward_from(int layer, const float* hidden, const std::vector<int>& lengths) {
  if (layer < 0 || layer > impl_->cfg.num_hidden_layers)
    fail(kExitUsage, "forward_from layer " + std::to_string(layer) + " outside the model");
  if (lengths.empty()) fail(kExitInput, "forward_from of an empty batch of prompts");
  impl_->begin_pass(lengths, 0, 0, layer);
  return impl_->run(layer, hidden, false);
}

int Transformer::batch_size() const { return static_cast<int>(impl_->lengths.size()); }

long Transformer::row_offset(int prompt) const { return impl_->offsets.at(prompt); }

const float* Transformer::hidden_in(int layer) const {
  if (layer == impl_->cfg.num_hidden_layers) return impl_->x_final.data();
  return impl_->acts.at(layer).x_in.data();
}

const float* Transformer::mlp_input(int layer, Projection projection) const {
  impl_->acts.at(layer);  // range check
  const LayerActivations& a = impl_->slot(layer);
  return projection_index(projection) == kDown ? a.act.data() : a.ln2.data();
}

const float* Transformer::mlp_output(int layer, Projection projection) const {
  impl_->acts.at(layer);  // range check
  const LayerActivations& a = impl_->slot(layer);
  switch (projection_index(projection)) {
    case kGate: return a.gate.data();
    case kUp: return a.up.data();
    default:
      if (!impl_->keep_down) fail(kExitInternal, "mlp_output(down_proj) needs set_keep_mlp_outputs(true)");
      return a.down.data();
  }
}

void Transformer::set_keep_mlp_outputs(bool on) {
  impl_->keep_down = on;
  if (!on)
    for (LayerActivations& a : impl_->acts) std::vector<float>().swap(a.down);
}

int Transformer::tokens() const { return impl_->T; }

void Transformer::set_recompute(bool on) { impl_->set_recompute(on); }

bool Transformer::recompute() const { return impl_->recompute_on; }

double Transformer::activation_bytes(const LlamaConfig& c, int first_layer, const std::vector<int>& lengths,
                                     bool recompute) {
  const double H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const double q = double(c.num_attention_heads) * c.head_dim;
  const double kv = double(c.num_key_value_heads) * c.head_dim;
  double rows = 0, squares = 0, longest = 0;
  for (int n : lengths) {
    rows += n;
    squares += double(n) * n;
    longest = std::max(longest, double(n));
  }
  const double layers = c.num_hidden_layers - first_layer;
  // One layer's activations (all but x_in): ln1, x_mid, ln2, two inverse RMS, q, att, k, v,
  // gate, up, act, and the attention probabilities of every head.
  // With q/k norm also q and k before it and an inverse RMS per head row.
  const double qk_norm = c.qk_norm ? q + kv + c.num_attention_heads + c.num_key_value_heads : 0.0;
  const double layer = rows * (3 * H + 2 + 2 * q + 2 * kv + 3 * I + qk_norm) + c.num_attention_heads * squares;
  const double kept = recompute ? layers * rows * H + layer + rows * H : layers * (rows * H + layer);
  // The final norm's input and output, its inverse RMS, the logits; the backward's scratch.
  const double head = rows * (2 * H + 1 + V);
  const double gradients = rows * (3 * H + 2 * q + 2 * kv + 3 * I + (c.qk_norm ? q + kv : 0.0)) + longest * longest;
  return 4.0 * (kept + head + gradients);
}

void Transformer::backward(const float* dlogits, bool input_gradient) { impl_->backward(dlogits, input_gradient); }

const float* Transformer::hidden_gradient() const { return impl_->grads.dx.data(); }

std::vector<int> Transformer::generate_greedy(const std::vector<int>& prompt, int n, std::vector<float>* prompt_logits,
                                              const std::function<void()>& after_prompt) {
  Impl& m = *impl_;
  const int T = static_cast<int>(prompt.size());
  if (T == 0) fail(kExitInput, "greedy decoding needs a non-empty prompt");
  const int capacity = T + n;
  for (int l = 0; l < m.cfg.num_hidden_layers; ++l) {
    ensure(m.cache_k[l], static_cast<long>(capacity) * m.kv_dim);
    ensure(m.cache_v[l], static_cast<long>(capacity) * m.kv_dim);
  }
  m.begin_pass(std::array<int, 1>{T}, 0, capacity);
  float* x0 = m.first_input();
  m.embed(prompt.data(), T, x0);
  const float* logits = m.run(0, x0, true);
  if (prompt_logits) prompt_logits->assign(logits, logits + static_cast<long>(T) * m.cfg.vocab_size);
  if (after_prompt) after_prompt();
  std::vector<int> out;
  out.reserve(n);
  int last_rows = T;
  for (int step = 0; step < n; ++step) {
    const int next = m.argmax_last_row(last_rows);
    out.push_back(next);
    if (step + 1 == n) break;
    m.begin_pass(std::array<int, 1>{1}, T + step, capacity);
    m.embed(&next, 1, x0);
    m.run(0, x0, true);
    last_rows = 1;
  }
  return out;
}

}  // namespace circal
