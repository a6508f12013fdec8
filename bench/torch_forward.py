#!/usr/bin/env python3
"""PyTorch baseline for `circal bench model`: the same float32 LLaMA forward on the same weights,
1 thread, prompt processing (logits for every position) one prompt per forward and a batch of
prompts per forward, and greedy decoding with a KV cache, in tokens/s, timed the same way as
bench/bench_model.cpp.

The batched forward gets the same opportunity as circal's: the prompts' rows are concatenated
into one [sum T, hidden] matrix for every projection (no padded rows in any GEMM), and
attention runs as one masked batched matmul over the prompts padded to the longest.

Token ids come from a `circal logits` file of the same prompts (Debian has no python3-sentencepiece),
and its logits double as a correctness check of this script:

    circal logits --model data/models/manpages-llama-5m --prompts data/prompts.txt --out /tmp/seed.h5
    OPENBLAS_NUM_THREADS=1 python3 bench/torch_forward.py --logits /tmp/seed.h5 --batch 64
    OPENBLAS_NUM_THREADS=1 circal bench model --batch 64

Needs Debian's python3-torch, python3-h5py and python3-numpy (run with /usr/bin/python3).
"""
import argparse
import json
import math
import os
import statistics
import struct
import time

import h5py
import numpy as np
import torch

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


def read_safetensors(path):
    """{name: float32 tensor} of one safetensors file, memory-mapped: each tensor is converted
    on its own, so a 2 GB BF16 shard needs no 2 GB read buffer next to its float32 copy."""
    blob = np.memmap(path, dtype=np.uint8, mode="r")
    (n,) = struct.unpack("<Q", blob[:8].tobytes())
    header = json.loads(blob[8 : 8 + n].tobytes())
    data = blob[8 + n :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = data[begin:end].view(DTYPES[entry["dtype"]])
        if entry["dtype"] == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = torch.from_numpy(raw.astype(np.float32, copy=False).reshape(entry["shape"]))
    del blob
    return tensors


def load_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    tensors = {}
    for shard in shards:
        tensors.update(read_safetensors(os.path.join(model_dir, shard)))
    return tensors


class Llama:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            c = json.load(f)
        self.hidden = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        self.head_dim = c.get("head_dim", self.hidden // self.heads)
        self.layers = c["num_hidden_layers"]
        self.eps = c["rms_norm_eps"]
        self.w = load_weights(model_dir)
        if c.get("tie_word_embeddings", False):
            self.w["lm_head.weight"] = self.w["model.embed_tokens.weight"]
        max_pos = c.get("max_position_embeddings", 2048)
        inv_freq = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim))
        freqs = torch.outer(torch.arange(max_pos, dtype=torch.float32), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()

    def rms(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w[name]

    def rope(self, x, pos):  # x [heads, T, D], HF rotate_half convention
        half = self.head_dim // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * self.cos[pos] + rotated * self.sin[pos]

    def attention(self, x, i, pos, cache):
        p = f"model.layers.{i}.self_attn."
        T = x.shape[0]
        q = (x @ self.w[p + "q_proj.weight"].T).view(T, self.heads, self.head_dim).transpose(0, 1)
        k = (x @ self.w[p + "k_proj.weight"].T).view(T, self.kv_heads, self.head_dim).transpose(0, 1)
        v = (x @ self.w[p + "v_proj.weight"].T).view(T, self.kv_heads, self.head_dim).transpose(0, 1)
        q, k = self.rope(q, pos), self.rope(k, pos)
        if cache is not None:
            if i in cache:
                k = torch.cat([cache[i][0], k], dim=1)
                v = torch.cat([cache[i][1], v], dim=1)
            cache[i] = (k, v)
        group = self.heads // self.kv_heads
        k, v = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)
        scores = (q @ k.transpose(1, 2)) / math.sqrt(self.head_dim)
        S = k.shape[1]
        future = torch.arange(S)[None, :] > (pos[:, None] + 0)  # key position > query position
        scores = scores.masked_fill(future, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        return out.transpose(0, 1).reshape(T, self.heads * self.head_dim) @ self.w[p + "o_proj.weight"].T

    def mlp(self, x, i):
        p = f"model.layers.{i}.mlp."
        gate = x @ self.w[p + "gate_proj.weight"].T
        up = x @ self.w[p + "up_proj.weight"].T
        return (torch.nn.functional.silu(gate) * up) @ self.w[p + "down_proj.weight"].T

    def forward(self, ids, pos0=0, cache=None):
        pos = torch.arange(pos0, pos0 + len(ids))
        h = self.w["model.embed_tokens.weight"][torch.tensor(ids)]
        for i in range(self.layers):
            h = h + self.attention(self.rms(h, f"model.layers.{i}.input_layernorm.weight"), i, pos, cache)
            h = h + self.mlp(self.rms(h, f"model.layers.{i}.post_attention_layernorm.weight"), i)
        return self.rms(h, "model.norm.weight") @ self.w["lm_head.weight"].T

    def forward_batch(self, prompts):
        """Logits [sum T, vocab] of several prompts, prompt after prompt."""
        lengths = torch.tensor([len(p) for p in prompts])
        B, Tmax = len(prompts), int(lengths.max())
        valid = torch.arange(Tmax)[None, :] < lengths[:, None]  # [B, Tmax]: real rows of the padded layout
        pos = torch.arange(Tmax)
        blocked = (pos[None, :] > pos[:, None])[None, None] | ~valid[:, None, None, :]  # future or padding key
        group = self.heads // self.kv_heads

        def padded(x, heads):  # [N, heads*D] rows -> [B, heads, Tmax, D]
            out = x.new_zeros(B, Tmax, heads * self.head_dim)
            out[valid] = x
            return out.view(B, Tmax, heads, self.head_dim).transpose(1, 2)

        h = self.w["model.embed_tokens.weight"][torch.tensor([t for p in prompts for t in p])]
        for i in range(self.layers):
            a = f"model.layers.{i}.self_attn."
            x = self.rms(h, f"model.layers.{i}.input_layernorm.weight")
            q = self.rope(padded(x @ self.w[a + "q_proj.weight"].T, self.heads), pos)
            k = self.rope(padded(x @ self.w[a + "k_proj.weight"].T, self.kv_heads), pos)
            v = padded(x @ self.w[a + "v_proj.weight"].T, self.kv_heads)
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
            scores = (q @ k.transpose(2, 3)) / math.sqrt(self.head_dim)
            out = torch.softmax(scores.masked_fill(blocked, float("-inf")), dim=-1) @ v
            att = out.transpose(1, 2).reshape(B, Tmax, self.heads * self.head_dim)[valid]
            h = h + att @ self.w[a + "o_proj.weight"].T
            h = h + self.mlp(self.rms(h, f"model.layers.{i}.post_attention_layernorm.weight"), i)
        return self.rms(h, "model.norm.weight") @ self.w["lm_head.weight"].T

    def generate_greedy(self, ids, n):
        cache = {}
        logits = self.forward(ids, 0, cache)
        out = [int(logits[-1].argmax())]
        while len(out) < n:
            logits = self.forward([out[-1]], len(ids) + len(out) - 1, cache)
            out.append(int(logits[-1].argmax()))
        return out


def now():
    """(wall, process CPU) seconds: on a shared machine the CPU seconds are what the benchmark
    really used, the wall seconds also count the time it waited for a core."""
    return np.array([time.perf_counter(), time.process_time()])


def per_prompt_pass(model, prompts):
    start = now()
    for ids in prompts:
        model.forward(ids)
    return now() - start


def batched_pass(model, groups):
    start = now()
    for group in groups:
        model.forward_batch(group)
    return now() - start


def decode_pass(model, prompts, decode_tokens):
    decode = np.zeros(2)
    for ids in prompts:
        start = now()
        model.generate_greedy(ids, 1)
        first = now() - start
        start = now()
        model.generate_greedy(ids, decode_tokens)
        decode += now() - start - first
    return decode


def median_of(repeats, timed):
    timed()  # warm-up
    return np.median([timed() for _ in range(repeats)], axis=0)


def rate(what, tokens, seconds):
    print(f"{what}: {tokens / seconds[0]:.0f} tokens/s wall, {tokens / seconds[1]:.0f} tokens/s CPU time")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.path.join(here, "..", "data", "models", "manpages-llama-5m"))
    parser.add_argument("--logits", required=True, help="`circal logits` output for the prompts (token ids, logits)")
    parser.add_argument("--batch", type=int, default=0, help="prompts per batched forward (0: all of them in one)")
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)

    model = Llama(args.model)
    prompts, circal_logits = [], []
    with h5py.File(args.logits, "r") as f:
        names = sorted((k for k in f.keys() if k.startswith("prompt")), key=lambda k: int(k[len("prompt"):]))
        for name in names:
            prompts.append([int(t) for t in f[name]["tokens"][()]])
            circal_logits.append(f[name]["logits"][()])

    group = args.batch or len(prompts)
    groups = [prompts[i : i + group] for i in range(0, len(prompts), group)]
    reference = np.concatenate(circal_logits)
    with torch.inference_mode():
        worst = max(
            float(np.abs(model.forward(ids).numpy() - ref).max(axis=1).max() / np.abs(ref).max())
            for ids, ref in zip(prompts, circal_logits)
        )
        batch_logits = torch.cat([model.forward_batch(g) for g in groups]).numpy()
        worst_batched = float(np.abs(batch_logits - reference).max() / np.abs(reference).max())
        per_prompt = median_of(args.repeats, lambda: per_prompt_pass(model, prompts))
        batched = median_of(args.repeats, lambda: batched_pass(model, groups))
        decode = median_of(args.repeats, lambda: decode_pass(model, prompts, args.decode_tokens))
    prompt_tokens = sum(len(p) for p in prompts)
    decode_steps = len(prompts) * (args.decode_tokens - 1)
    print(f"torch {torch.__version__}, threads: {torch.get_num_threads()}, max |torch - circal| / max|logit|: "
          f"{worst:.2e} per prompt, {worst_batched:.2e} batched")
    print(f"prompts: {len(prompts)}, prompt tokens: {prompt_tokens}, decode steps: {decode_steps}, "
          f"repeats: {args.repeats} (median)")
    rate("prompt processing, one prompt per forward", prompt_tokens, per_prompt)
    rate(f"prompt processing, {group} prompts per forward", prompt_tokens, batched)
    rate("decode", decode_steps, decode)


if __name__ == "__main__":
    main()
