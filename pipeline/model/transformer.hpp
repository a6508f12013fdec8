#pragma once
// LLaMA-family forward (and, for calibration, backward) over all tokens of one prompt at once,
// or of a batch of prompts whose rows are stacked; the families' attention variants (biases,
// q/k norm, scaled RoPE) are docs/DESIGN.md section 7's. Float32, OpenBLAS sgemm for every projection,
// buffers allocated once per shape and reused.
// The MLP matrices are called through LinearOperator so a layer's gate/up/down can be
// swapped for a block-circulant (or zero) operator.
//
// THIS HEADER IS A CONTRACT other code is written against: extend it, do not rename.
#include <functional>
#include <string>
#include <vector>

#include "pipeline/config/names.hpp"
#include "pipeline/model/linear_operator.hpp"
#include "pipeline/model/model_loader.hpp"

namespace circal {

class Transformer {
 public:
  explicit Transformer(const ModelWeights& model);
  ~Transformer();
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  const LlamaConfig& config() const;

  // Replaces the (layer, projection) MLP matrix by `op` (not owned; nullptr restores the
  // dense teacher weight). projection: gate_proj | up_proj | down_proj.
  void set_mlp_operator(int layer, Projection projection, LinearOperator* op);

  // Forward of a whole prompt (ids including BOS, positions 0..T-1). Returns logits [T, vocab]
  // (row t predicts token t+1), valid until the next call. Keeps every activation of this
  // pass for the hooks below and for backward().
  const float* forward(const std::vector<int>& tokens);

  // Forward starting at `layer` from the hidden state entering it (hidden [T, hidden_size],
  // positions 0..T-1); layers below are not run. Returns logits [T, vocab].
  const float* forward_from(int layer, const float* hidden, int T);

  // Several prompts in one pass: their rows are stacked into one [sum T, hidden] activation
  // matrix, so every projection is one GEMM over all of them (for ~20-token prompts OpenBLAS
  // spends most of a per-prompt pass packing the weights; here it packs each weight once per
  // batch). RoPE positions and causal attention restart at every prompt, so prompt i's rows
  // equal its own forward() to float rounding. Returns logits [sum T, vocab]; prompt i's rows
  // start at row_offset(i). The hooks and backward() then cover all rows in the same order.
  const float* forward_batch(const std::vector<std::vector<int>>& prompts);
  // forward_from over a batch: hidden [sum lengths, hidden_size], prompt after prompt.
  const float* forward_from(int layer, const float* hidden, const std::vector<int>& lengths);
  int batch_size() const;             // prompts in the last pass (1 after forward())
  long row_offset(int prompt) const;  // first row of `prompt` in the last pass

  // Hooks, valid after forward()/forward_from() until the next call:
  // the hidden state entering `layer` [T, hidden_size];
  const float* hidden_in(int layer) const;
  // the input of an MLP matrix [T, in_features]: gate_proj and up_proj share the
  // post-attention-RMSNorm state, down_proj sees silu(gate x) * up x.
  const float* mlp_input(int layer, Projection projection) const;
  // the output of an MLP matrix [T, out_features], exactly what the pass added or multiplied
  // (capture's projection statistics use it instead of computing W x again). down_proj's is
  // kept only after set_keep_mlp_outputs(true): rows x hidden_size floats more a layer.
  const float* mlp_output(int layer, Projection projection) const;
  void set_keep_mlp_outputs(bool on);
  int tokens() const;  // rows of the last pass (sum of the prompts' T for a batch)

  // Backward of the last forward_from(layer, ...) pass given dL/dlogits [T, vocab]:
  // frozen dense weights get input gradients only; swapped LinearOperators accumulate their
  // parameter gradients (LinearOperator::backward). Runs down to `layer` (inclusive).
  // With input_gradient false it stops once that layer's MLP parameter gradients are in:
  // calibration never needs the gradient of the cached hidden state, so the bottom layer's
  // attention and MLP input gradients are not computed.
  void backward(const float* dlogits, bool input_gradient = true);
  // dL/d(hidden state entering the forward_from layer) [T, hidden_size] of the last
  // backward() with input_gradient, valid until the next backward().
  const float* hidden_gradient() const;

  // Activation checkpointing for backward(): when on, a pass keeps only each layer's input
  // (hidden_in) and one layer's worth of activations; backward() recomputes each layer's
  // activations from its input just before that layer's backward. The same floats in the same
  // order, so bitwise the same gradients, for about one more forward of the layers. Off by
  // default. When on, mlp_input() is valid only for the last layer of the pass.
  void set_recompute(bool on);
  bool recompute() const;
  // Bytes of activations a forward_from(layer, ..., lengths) pass keeps for backward() (the
  // grow-only buffers it needs), with and without recomputation; the formula is in
  // docs/DESIGN.md section 8.3.
  static double activation_bytes(const LlamaConfig& config, int first_layer, const std::vector<int>& lengths,
                                 bool recompute);

  // Greedy decoding with a KV cache: prompt ids (with BOS), returns the n appended ids. The
  // prompt's pass is forward()'s, bit for bit: with prompt_logits its logits [T, vocab] are
  // copied there, so a caller needing both runs the prompt once. after_prompt, when given, is
  // called once the prompt's pass is done and before the first decoding step (a benchmark
  // times decoding alone from there).
  std::vector<int> generate_greedy(const std::vector<int>& prompt, int n, std::vector<float>* prompt_logits = nullptr,
                                   const std::function<void()>& after_prompt = {});

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace circal
