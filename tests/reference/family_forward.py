#!/usr/bin/env python3
"""Float64 reference forward of the tiny family checkpoints (bench/make_synthetic_checkpoint.py
--shape llama3-test | qwen2-test | qwen3-test | mistral-test), written from transformers'
formulas independently of circal: RoPE inverse frequencies with rope_scaling linear/llama3,
attention biases, Qwen3's per-head q/k RMSNorm before RoPE, Mistral's sliding-window mask.

    family_forward.py MODEL_DIR CIRCAL_LOGITS.h5 [DATASET]

compares each prompt's logits in the file circal logits wrote (its tokens fed here; DATASET
`logits` by default, `student_logits` to hold a folder that `circal export --format dense`
wrote against the student it came from) and fails when a row's max |error| exceeds 1e-4 of the
prompt's max |logit| (the teacher reference test's bound). Prints the max abs and relative
error. MODEL_DIR: the generator's BF16 shards (read_back), or any folder of F32/BF16/F16
safetensors, one model.safetensors or shards named by model.safetensors.index.json.
"""
import json
import math
import os
import sys

import struct

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from make_synthetic_checkpoint import read_back  # noqa: E402  (reads BF16 safetensors independently)

TOLERANCE = 1e-4


def read_folder(folder):
    """{name: float32 array} of any HF folder's safetensors (F32, BF16, F16)."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        try:
            return read_back(folder)  # the generator's BF16 shards, checked tightly
        except AssertionError:
            pass  # another writer's shards
        shards = sorted(set(weight_map.values()))
    else:
        shards = ["model.safetensors"]
    tensors = {}
    for shard in shards:
        with open(os.path.join(folder, shard), "rb") as f:
            blob = f.read()
        (n,) = struct.unpack("<Q", blob[:8])
        header = json.loads(blob[8:8 + n])
        header.pop("__metadata__", None)
        for name, entry in header.items():
            begin, stop = entry["data_offsets"]
            raw = blob[8 + n + begin:8 + n + stop]
            if entry["dtype"] == "BF16":
                values = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
            else:
                values = np.frombuffer(raw, {"F32": "<f4", "F16": "<f2"}[entry["dtype"]]).astype(np.float32)
            tensors[name] = values.reshape(entry["shape"])
    return tensors


def inverse_frequencies(c, d):
    f = c.get("rope_theta", 10000.0) ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    scaling = c.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "linear":
        return f / scaling["factor"]
    if kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        wavelength = 2 * math.pi / f
        scaled = torch.where(wavelength > old / low, f / factor, f)
        smooth = (old / wavelength - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelength >= old / high) & (wavelength <= old / low)
        return torch.where(medium, blended, scaled)
    assert kind == "default", kind
    return f


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def window(c):
    family = c["model_type"]
    if family == "mistral":
        return c.get("sliding_window")
    if family in ("qwen2", "qwen3") and c.get("use_sliding_window", False):
        return c["sliding_window"]
    return None


class Reference:
    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            self.c = json.load(f)
        self.w = {k: torch.from_numpy(v.copy()).double() for k, v in read_folder(folder).items()}
        c = self.c
        self.heads, self.kv = c["num_attention_heads"], c["num_key_value_heads"]
        self.d = c.get("head_dim") or c["hidden_size"] // self.heads
        self.eps = c["rms_norm_eps"]
        self.inv = inverse_frequencies(c, self.d)

    def get(self, name):
        return self.w.get(name)

    def linear(self, x, name):
        y = x @ self.w[name + ".weight"].T
        bias = self.get(name + ".bias")
        return y if bias is None else y + bias

    def attention(self, x, p, cos, sin):
        T, d = x.shape[0], self.d
        q = self.linear(x, p + "q_proj").view(T, self.heads, d)
        k = self.linear(x, p + "k_proj").view(T, self.kv, d)
        v = self.linear(x, p + "v_proj").view(T, self.kv, d)
        if self.get(p + "q_norm.weight") is not None:
            q = rms_norm(q, self.w[p + "q_norm.weight"], self.eps)
            k = rms_norm(k, self.w[p + "k_norm.weight"], self.eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = self.heads // self.kv
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(d)
        i = torch.arange(T)[:, None]
        j = torch.arange(T)[None, :]
        allowed = j <= i
        if window(self.c):
            allowed &= j > i - window(self.c)
        scores = scores.masked_fill(~allowed, float("-inf"))
        out = torch.einsum("hts,shd->thd", scores.softmax(-1), v).reshape(T, self.heads * d)
        return self.linear(out, p + "o_proj")

    def logits(self, tokens):
        c, T = self.c, len(tokens)
        x = self.w["model.embed_tokens.weight"][torch.as_tensor(tokens, dtype=torch.long)]
        angles = torch.arange(T, dtype=torch.float64)[:, None] * self.inv[None, :]
        angles = torch.cat((angles, angles), dim=-1)[:, None, :]
        cos, sin = angles.cos(), angles.sin()
        for layer in range(c["num_hidden_layers"]):
            p = f"model.layers.{layer}."
            x = x + self.attention(rms_norm(x, self.w[p + "input_layernorm.weight"], self.eps), p + "self_attn.", cos, sin)
            h = rms_norm(x, self.w[p + "post_attention_layernorm.weight"], self.eps)
            mlp = p + "mlp."
            x = x + self.linear(torch.nn.functional.silu(self.linear(h, mlp + "gate_proj")) * self.linear(h, mlp + "up_proj"),
                                mlp + "down_proj")
        x = rms_norm(x, self.w["model.norm.weight"], self.eps)
        head = self.w["model.embed_tokens.weight"] if c.get("tie_word_embeddings") else self.w["lm_head.weight"]
        return x @ head.T


def main(folder, logits_file, dataset="logits"):
    ref = Reference(folder)
    worst_abs = worst_rel = 0.0
    with h5py.File(logits_file, "r") as got:
        names = sorted(got.keys())
        assert names, f"{logits_file}: no prompts"
        for name in names:
            tokens = got[name]["tokens"][()].tolist()
            have = torch.from_numpy(got[name][dataset][()]).double()
            want = ref.logits(tokens)
            assert have.shape == want.shape, (name, have.shape, want.shape)
            error = (have - want).abs().max().item()
            worst_abs = max(worst_abs, error)
            worst_rel = max(worst_rel, error / want.abs().max().item())
    verdict = "ok" if worst_rel < TOLERANCE else "FAILED"
    print(f"{verdict}: {os.path.basename(folder)} ({ref.c['model_type']}, {dataset}): {len(names)} prompts, "
          f"max abs error {worst_abs:.3g}, max error / max |logit| {worst_rel:.3g} (bound {TOLERANCE})")
    return 0 if worst_rel < TOLERANCE else 1


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    sys.exit(main(*sys.argv[1:4]))
