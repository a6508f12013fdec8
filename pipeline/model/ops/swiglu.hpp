#pragma once
// SwiGLU gating of the LLaMA MLP: out = silu(gate) * up, elementwise over n values.
namespace circal {

void swiglu_forward(const float* gate, const float* up, float* out, long n);
// Overwrites dgate and dup.
void swiglu_backward(const float* dout, const float* gate, const float* up, float* dgate, float* dup, long n);

}  // namespace circal
