#!/usr/bin/env python3
"""Independent float64 reference of two calibration steps (writes calibration_steps.h5).

Replays circal's Calibrator step by step, as DESIGN/README and the code define it, with nothing
of circal's C++: the teacher runs from the tokens in float64 (no capture file), the student's
block-circulant matrices are materialised densely (W[r, s] = c[r // b, s // b, (r % b - s % b) mod b],
no FFT), the gradient comes from PyTorch autograd, and the loss, clipping, Adam and learning-rate
schedule are written out below from their definitions:

  step k (k = 0, 1), batch = every calibration prompt, positions P = their total token count:
    loss_k   = (1 / P) sum_prompts sum_t tau^2 KL(softmax(zT_t / tau) || softmax(zS_t / tau))
    g        = d loss_k / d c                                  (autograd, float64)
    norm     = ||g||_2 over every patched matrix (pre-clip); scale = clip / norm if norm > clip else 1
    g       *= scale
    lr_k     = lr (k + 1) / warmup                             for k < warmup
             = min + (lr - min) (1 + cos(pi progress)) / 2      after (cosine), min = min_lr_ratio lr,
               progress = min(1, (k - warmup) / max(1, steps - warmup))
    t = k + 1; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2
    c        = (1 - lr_k wd) c - lr_k / (1 - b1^t) m / (sqrt(v / (1 - b2^t)) + eps)

The starting point is the Frobenius projection of each teacher matrix (the mean of every
wrapped diagonal of each b x b block), rounded to float32 as circal stores it.

Tokens: BOS (1) then the SentencePiece ids of each prompt (Debian's python3-sentencepiece, the
library circal links), or --tokens-from a `circal logits` file of the same prompts.

    /usr/bin/python3 tests/reference/make_calibration_steps.py          # writes the fixture
    /usr/bin/python3 tests/reference/make_calibration_steps.py --check  # recompute, compare
"""
import argparse
import json
import math
import os
import struct
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

# Everything that defines the two steps. `circal` holds the config keys circal must run with
# (written into the fixture as YAML-compatible JSON, /config attribute `circal_config`).
CALIBRATION_PROMPTS = [
    "Continue: More steps usually",
    "Write a short definition: logit",
    "Continue: The speedup depends on",
    "Continue: Larger blocks tend to",
]
# Not used by the steps; `circal calibrate` needs a validation split (it only picks the best
# parameters, which the e2e test does not read: it compares the per-step checkpoints).
VALIDATION_PROMPTS = [
    "Continue: A fair benchmark should report",
    "Formuliere um: Ein fairer Test umfasst",
]
SETUP = {
    "model": "data/models/manpages-llama-5m",
    "layers": [2, 3],
    "projections": ["gate_proj", "up_proj", "down_proj"],
    "block_size": 32,
    "temperature": 2.0,
    "lr": 2e-3,
    "schedule": "cosine",
    "warmup_steps": 2,
    "min_lr_ratio": 0.1,
    "steps": 2,
    "beta1": 0.9,
    "beta2": 0.99,
    "eps": 1e-4,  # about the median |gradient|: the update depends on g smoothly
    "weight_decay": 0.1,
    "clip_norm": 0.0,  # 0 here: chosen between the two steps' unclipped norms (main)
}

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    data = memoryview(blob)[8 + n :]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = np.frombuffer(data[begin:end], dtype=DTYPES[entry["dtype"]])
        if entry["dtype"] == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[name] = raw.astype(np.float32).reshape(entry["shape"])
    return out


class Model:
    """HF LlamaForCausalLM in float64: RMSNorm, GQA attention with rotate_half RoPE, SwiGLU."""

    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            c = json.load(f)
        self.c = c
        self.hidden, self.layers = c["hidden_size"], c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        self.head_dim = c.get("head_dim", self.hidden // self.heads)
        self.eps = c["rms_norm_eps"]
        self.w32 = read_safetensors(os.path.join(folder, "model.safetensors"))
        if c.get("tie_word_embeddings", False):
            self.w32["lm_head.weight"] = self.w32["model.embed_tokens.weight"]
        self.w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in self.w32.items()}
        theta = c.get("rope_theta", 10000.0)
        inv = 1.0 / theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim)
        ang = torch.outer(torch.arange(c["max_position_embeddings"], dtype=torch.float64), inv)
        ang = torch.cat([ang, ang], dim=-1)
        self.cos, self.sin = ang.cos(), ang.sin()

    def rms(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w[name]

    def rope(self, x):  # [heads, T, D]
        T, half = x.shape[1], self.head_dim // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * self.cos[:T] + rotated * self.sin[:T]

    def attention(self, x, i):
        p, T = f"model.layers.{i}.self_attn.", x.shape[0]
        q = (x @ self.w[p + "q_proj.weight"].T).view(T, self.heads, self.head_dim).transpose(0, 1)
        k = (x @ self.w[p + "k_proj.weight"].T).view(T, self.kv_heads, self.head_dim).transpose(0, 1)
        v = (x @ self.w[p + "v_proj.weight"].T).view(T, self.kv_heads, self.head_dim).transpose(0, 1)
        q, k = self.rope(q), self.rope(k)
        group = self.heads // self.kv_heads  # query head h uses KV head h // group
        k, v = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)
        s = (q @ k.transpose(1, 2)) / math.sqrt(self.head_dim)
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        out = torch.softmax(s, dim=-1) @ v
        return out.transpose(0, 1).reshape(T, self.heads * self.head_dim) @ self.w[p + "o_proj.weight"].T

    def logits(self, tokens, dense=None, mlp_inputs=None):
        """dense: {(layer, proj): W [out, in]} replacing the teacher's matrices; mlp_inputs: a
        dict that receives each layer's MLP input x [T, hidden] (gate_proj's and up_proj's)."""
        dense = dense or {}
        h = self.w["model.embed_tokens.weight"][torch.as_tensor(tokens)]
        for i in range(self.layers):
            h = h + self.attention(self.rms(h, f"model.layers.{i}.input_layernorm.weight"), i)
            x = self.rms(h, f"model.layers.{i}.post_attention_layernorm.weight")
            if mlp_inputs is not None:
                mlp_inputs[i] = x
            W = {proj: dense.get((i, proj), self.w.get(f"model.layers.{i}.mlp.{proj}.weight"))
                 for proj in ("gate_proj", "up_proj", "down_proj")}
            h = h + (torch.nn.functional.silu(x @ W["gate_proj"].T) * (x @ W["up_proj"].T)) @ W["down_proj"].T
        return self.rms(h, "model.norm.weight") @ self.w["lm_head.weight"].T


def block_index(m, n, b):
    """Index into c.reshape(-1) of every entry of the m x n block-circulant matrix."""
    q = -(-n // b)
    r = np.arange(m)[:, None]
    s = np.arange(n)[None, :]
    return torch.from_numpy(((r // b) * q + s // b) * b + (r % b - s % b) % b)


def frobenius(W, b):
    """Least-squares block-circulant fit of W without data: the mean of each wrapped diagonal."""
    m, n = W.shape
    idx = block_index(m, n, b).numpy().ravel()
    p, q = -(-m // b), -(-n // b)
    sums = np.bincount(idx, weights=W.astype(np.float64).ravel(), minlength=p * q * b)
    counts = np.bincount(idx, minlength=p * q * b)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0).reshape(p, q, b)


def lr_at(step, s):
    lr, warmup = s["lr"], s["warmup_steps"]
    if step < warmup:
        return lr * (step + 1) / warmup
    if s["schedule"] == "constant":
        return lr
    progress = min(1.0, (step - warmup) / max(1, s["steps"] - warmup))
    low = s["min_lr_ratio"] * lr
    return low + (lr - low) * 0.5 * (1.0 + math.cos(math.pi * progress))


def tokenize(prompts, model_dir, tokens_from):
    if tokens_from:
        with h5py.File(tokens_from, "r") as f:
            return [[int(t) for t in f[f"/prompt{i}/tokens"][()]] for i in range(len(prompts))]
    import sentencepiece as spm  # Debian: python3-sentencepiece
    sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
    return [[1] + sp.encode(p) for p in prompts]


def run(setup, tokens, model):
    b, tau = setup["block_size"], setup["temperature"]
    keys = [(layer, proj) for layer in setup["layers"] for proj in setup["projections"]]
    shapes = {k: model.w32[f"model.layers.{k[0]}.mlp.{k[1]}.weight"].shape for k in keys}
    index = {k: block_index(*shapes[k], b) for k in keys}
    c0 = {k: frobenius(model.w32[f"model.layers.{k[0]}.mlp.{k[1]}.weight"], b).astype(np.float32) for k in keys}
    c = {k: torch.from_numpy(c0[k].astype(np.float64)) for k in keys}
    m = {k: torch.zeros_like(c[k]) for k in keys}
    v = {k: torch.zeros_like(c[k]) for k in keys}
    with torch.no_grad():
        log_pt = [torch.log_softmax(model.logits(t) / tau, dim=-1) for t in tokens]
    positions = sum(len(t) for t in tokens)
    steps = []
    for k in range(setup["steps"]):
        params = {key: c[key].clone().requires_grad_(True) for key in keys}
        dense = {key: params[key].reshape(-1)[index[key]] for key in keys}
        loss = 0.0
        for t, lp in zip(tokens, log_pt):
            log_ps = torch.log_softmax(model.logits(t, dense) / tau, dim=-1)
            loss = loss + tau * tau * (lp.exp() * (lp - log_ps)).sum()
        loss = loss / positions
        loss.backward()
        g = {key: params[key].grad.detach() for key in keys}
        norm = math.sqrt(sum(float((g[key] ** 2).sum()) for key in keys))
        clip = setup["clip_norm"]
        scale = clip / norm if clip > 0 and norm > clip else 1.0
        lr = lr_at(k, setup)
        t = k + 1
        b1, b2, eps, wd = setup["beta1"], setup["beta2"], setup["eps"], setup["weight_decay"]
        for key in keys:
            gk = g[key] * scale
            m[key] = b1 * m[key] + (1 - b1) * gk
            v[key] = b2 * v[key] + (1 - b2) * gk * gk
            step_size = lr / (1 - b1 ** t)
            denom = torch.sqrt(v[key] / (1 - b2 ** t)) + eps
            c[key] = (1 - lr * wd) * c[key] - step_size * m[key] / denom
        steps.append({"loss": float(loss), "grad_norm": norm, "clip_scale": scale, "lr": lr,
                      "grad_abs_median": float(torch.cat([g[key].abs().reshape(-1) for key in keys]).median()),
                      "params": {key: c[key].numpy().copy() for key in keys}})
    return keys, c0, steps


def circal_config(setup, n_calibration):
    return {
        "patch": {"layers": setup["layers"], "projections": setup["projections"]},
        "capture": {"logits_format": "full"},
        "project": {"method": "frobenius", "block_size": setup["block_size"]},
        "calibrate": {
            "steps": setup["steps"], "batch_prompts": n_calibration, "lr": setup["lr"],
            "schedule": setup["schedule"], "warmup_steps": setup["warmup_steps"],
            "min_lr_ratio": setup["min_lr_ratio"], "beta1": setup["beta1"], "beta2": setup["beta2"],
            "eps": setup["eps"], "weight_decay": setup["weight_decay"], "clip_norm": setup["clip_norm"],
            "temperature": setup["temperature"], "checkpoint_every": 1, "keep_checkpoints": 10,
            "log_every": 1,
        },
    }


def write(path, setup, tokens, keys, c0, steps):
    with h5py.File(path, "w") as f:
        f.attrs["description"] = ("two circal calibration steps replayed in float64 by "
                                  "tests/reference/make_calibration_steps.py (see README-calibration_steps.md)")
        f.attrs["torch_version"] = str(torch.__version__)
        cfg = f.create_group("config")
        for name, value in setup.items():
            cfg.attrs[name] = json.dumps(value) if isinstance(value, (list, dict)) else value
        cfg.attrs["circal_config"] = json.dumps(circal_config(setup, len(tokens)))
        str_dt = h5py.string_dtype()
        f.create_dataset("prompts/calibration", data=np.array(CALIBRATION_PROMPTS, dtype=object), dtype=str_dt)
        f.create_dataset("prompts/validation", data=np.array(VALIDATION_PROMPTS, dtype=object), dtype=str_dt)
        lengths = [len(t) for t in tokens]
        f.create_dataset("prompts/offsets", data=np.cumsum([0] + lengths).astype(np.int64))
        f.create_dataset("prompts/tokens", data=np.concatenate(tokens).astype(np.int32))
        for key in keys:
            f.create_dataset(f"initial/layers/{key[0]}/{key[1]}/c", data=c0[key])
        for k, s in enumerate(steps, start=1):
            g = f.create_group(f"steps/{k}")
            for name in ("loss", "grad_norm", "clip_scale", "lr"):
                g.attrs[name] = s[name]
            for key in keys:
                g.create_dataset(f"layers/{key[0]}/{key[1]}/c", data=s["params"][key],
                                 compression="gzip", shuffle=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "calibration_steps.h5"))
    ap.add_argument("--tokens-from", help="a `circal logits` file of the calibration prompts (else sentencepiece)")
    ap.add_argument("--check", action="store_true", help="recompute and compare with --out instead of writing it")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    setup = dict(SETUP)
    model = Model(os.path.join(ROOT, setup["model"]))
    tokens = tokenize(CALIBRATION_PROMPTS, os.path.join(ROOT, setup["model"]), args.tokens_from)
    if setup["clip_norm"] == 0.0:
        # One unclipped and one clipped step: a clip norm between the two steps' norms
        # (the second is the larger here), rounded.
        _, _, s = run(dict(setup, clip_norm=0.0), tokens, model)
        n1, n2 = s[0]["grad_norm"], s[1]["grad_norm"]
        print(f"unclipped norms {n1:.6g} {n2:.6g}")
        setup["clip_norm"] = float(f"{(n1 + n2) / 2:.2g}")
    keys, c0, steps = run(setup, tokens, model)
    print("initial |c|: max", max(float(np.abs(c0[k]).max()) for k in keys),
          "median", float(np.median(np.concatenate([np.abs(c0[k]).ravel() for k in keys]))))
    for k, s in enumerate(steps, start=1):
        print(f"step {k}: lr {s['lr']:.6g} loss {s['loss']:.12g} grad_norm {s['grad_norm']:.12g} "
              f"scale {s['clip_scale']:.12g} median|g| {s['grad_abs_median']:.3g}")
    if args.check:
        with h5py.File(args.out, "r") as f:
            worst = 0.0
            for k, s in enumerate(steps, start=1):
                for name in ("loss", "grad_norm", "clip_scale"):
                    worst = max(worst, abs(s[name] - f[f"steps/{k}"].attrs[name]) / abs(s[name]))
                for key in keys:
                    ref = f[f"steps/{k}/layers/{key[0]}/{key[1]}/c"][()]
                    worst = max(worst, float(np.abs(s["params"][key] - ref).max() / np.abs(ref).max()))
        print(f"largest relative difference to {args.out}: {worst:.3g}")
        return 0 if worst <= 1e-12 else 1
    write(args.out, setup, tokens, keys, c0, steps)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes), clip_norm {setup['clip_norm']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
