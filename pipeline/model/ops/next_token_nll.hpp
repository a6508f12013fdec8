#pragma once
// The teacher's own loss on a prompt: row t of the logits predicts tokens[t + 1]. The
// block-size allocation weighs output errors by its gradients (docs/DESIGN.md 3.1).
namespace circal {

// z, dz [T, V]; tokens [T]. Returns the sum over rows 0..T-2 of -log softmax(z_t)[tokens[t+1]];
// writes dz = grad_scale * (softmax(z_t) - onehot(tokens[t+1])) and zeros in the last row,
// which predicts nothing here. dz may be nullptr when only the loss is wanted.
double next_token_nll(const float* z, const int* tokens, float* dz, int T, int V, float grad_scale);

}  // namespace circal
