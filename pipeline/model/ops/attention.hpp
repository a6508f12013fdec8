#pragma once
// Causal grouped-query attention over a block of T queries whose keys/values are the first
// S = pos0 + T rows of k and v (a KV cache when pos0 > 0). Query head h reads kv head
// h / (n_heads / n_kv_heads); scores are scaled by 1/sqrt(head_dim).
namespace circal {

struct AttentionShape {
  int T;     // queries in this block
  int pos0;  // position of the first query; keys 0 .. pos0 + T - 1 exist
  int n_heads;
  int n_kv_heads;
  int head_dim;
  int keys() const { return pos0 + T; }
};

// q [T, n_heads*head_dim] (RoPE applied), k, v [S, n_kv_heads*head_dim], out like q.
// probs [n_heads, T, S] keeps the softmax for the backward.
void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v, float* out,
                       float* probs);

// Overwrites dq [T, ...], dk and dv [S, ...]. scratch holds T * S floats.
void attention_backward(const AttentionShape& s, const float* dout, const float* q, const float* k, const float* v,
                        const float* probs, float* dq, float* dk, float* dv, float* scratch);

}  // namespace circal
