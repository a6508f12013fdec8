#!/usr/bin/env python3
"""PyTorch baseline for `circal bench calibrate`: the same KL-distillation step with autograd,
float32, 1 thread, on the same inputs, timed the same way.

circal's JSON line names everything that defines the step (run directory, patched matrices,
block size, temperature, Adam settings, clip norm, the global batches and learning rates of
the timed steps, and its losses), so both sides run exactly the same steps:

    circal bench calibrate --json /tmp/bench.jsonl          # capture.h5, project.h5 in run_dir
    OPENBLAS_NUM_THREADS=1 python3 bench/torch_calibrate_step.py --circal /tmp/bench.jsonl

Each step: forward from the captured hidden state entering the first patched layer (circulant
multiply through torch.fft), loss = mean over positions of tau^2 KL(softmax(zT/tau) ||
softmax(zS/tau)) against the captured teacher logits, backward, global-norm clipping, AdamW.
Two ways to batch the prompts, both timed: `loop` (one forward per prompt, one backward of the
summed loss) and `padded` (prompts right-padded into one [B, T] batch; causal attention keeps
the padding out of every real position, and the loss masks it).

The first step's loss must equal circal's (--tolerance, relative): the exit status is 1 when
it does not, so the figures are only reported for the same step.
Needs Debian's python3-torch and python3-h5py (run with /usr/bin/python3).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import h5py
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_forward import Llama  # noqa: E402  (weights, config and RoPE tables)


def circulant_multiply(x, c, m):
    """y = C x for the block-circulant C of c [p, q, b] (C_ij[r, s] = c_ij[(r - s) mod b])."""
    p, q, b = c.shape
    n = x.shape[-1]
    if q * b != n:
        x = F.pad(x, (0, q * b - n))
    xf = torch.fft.rfft(x.reshape(*x.shape[:-1], q, b), dim=-1)
    yf = torch.einsum("pqk,...qk->...pk", torch.fft.rfft(c, dim=-1), xf)
    return torch.fft.irfft(yf, n=b, dim=-1).reshape(*x.shape[:-1], p * b)[..., :m]


class Student:
    def __init__(self, llama, first_layer, circulants):
        self.m = llama
        self.first = first_layer
        self.circulants = circulants  # {(layer, projection): c}

    def rms(self, x, name):
        return self.m.rms(x, name)

    def attention(self, x, i):  # x [B, T, H]
        m, p = self.m, f"model.layers.{i}.self_attn."
        B, T, _ = x.shape
        q = (x @ m.w[p + "q_proj.weight"].T).view(B, T, m.heads, m.head_dim).transpose(1, 2)
        k = (x @ m.w[p + "k_proj.weight"].T).view(B, T, m.kv_heads, m.head_dim).transpose(1, 2)
        v = (x @ m.w[p + "v_proj.weight"].T).view(B, T, m.kv_heads, m.head_dim).transpose(1, 2)
        pos = torch.arange(T)
        q, k = m.rope(q, pos), m.rope(k, pos)
        group = m.heads // m.kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(m.head_dim)
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        return out.transpose(1, 2).reshape(B, T, m.heads * m.head_dim) @ m.w[p + "o_proj.weight"].T

    def linear(self, x, i, proj, out_features):
        c = self.circulants.get((i, proj))
        if c is not None:
            return circulant_multiply(x, c, out_features)
        return x @ self.m.w[f"model.layers.{i}.mlp.{proj}.weight"].T

    def mlp(self, x, i):
        inter = self.m.w[f"model.layers.{i}.mlp.gate_proj.weight"].shape[0]
        gate = self.linear(x, i, "gate_proj", inter)
        up = self.linear(x, i, "up_proj", inter)
        return self.linear(F.silu(gate) * up, i, "down_proj", self.m.hidden)

    def logits(self, h):  # h [B, T, H] entering the first patched layer
        for i in range(self.first, self.m.layers):
            h = h + self.attention(self.rms(h, f"model.layers.{i}.input_layernorm.weight"), i)
            h = h + self.mlp(self.rms(h, f"model.layers.{i}.post_attention_layernorm.weight"), i)
        return self.rms(h, "model.norm.weight") @ self.m.w["lm_head.weight"].T


class Teacher:
    """The teacher side of the KL: its log-softmax either computed once before the timed steps
    (as circal caches it; the default, the stronger baseline) or from the logits every step."""

    def __init__(self, z, tau, cached):
        self.z, self.tau = z, tau
        self.log_p = self.p = None
        if cached:
            self.log_p, self.p = self.log_softmax_and_p()

    def log_softmax_and_p(self):
        if self.log_p is not None:
            return self.log_p, self.p
        log_p = torch.log_softmax(self.z / self.tau, dim=-1)
        return log_p, log_p.exp()


def kl_sum(teacher, z_student, tau, mask=None):
    """Sum over positions of tau^2 KL(softmax(zT/tau) || softmax(zS/tau))."""
    log_pt, pt = teacher.log_softmax_and_p()
    log_ps = torch.log_softmax(z_student / tau, dim=-1)
    kl = (pt * (log_pt - log_ps)).sum(-1)
    if mask is not None:
        kl = kl * mask
    return tau * tau * kl.sum()


class Batches:
    """The timed steps' prompts from capture.h5, as per-prompt and right-padded tensors."""

    def __init__(self, capture, batches, tau, cached_teacher):
        with h5py.File(capture, "r") as f:
            offsets = f["/prompts/offsets"][()]
            hidden, logits = f["/hidden_in"], f["/teacher/logits"]
            cache = {}
            for prompt in sorted({p for b in batches for p in b}):
                rows = slice(int(offsets[prompt]), int(offsets[prompt + 1]))
                cache[prompt] = (torch.from_numpy(hidden[rows]),
                                 Teacher(torch.from_numpy(logits[rows]), tau, cached_teacher))
        self.loop, self.padded = [], []
        for batch in batches:
            items = [cache[p] for p in batch]
            positions = sum(h.shape[0] for h, _ in items)
            self.loop.append((items, positions))
            T = max(h.shape[0] for h, _ in items)
            H, V = items[0][0].shape[1], items[0][1].z.shape[1]
            h = torch.zeros(len(items), T, H)
            z = torch.zeros(len(items), T, V)
            mask = torch.zeros(len(items), T)
            for j, (hj, tj) in enumerate(items):
                h[j, : hj.shape[0]], z[j, : hj.shape[0]], mask[j, : hj.shape[0]] = hj, tj.z, 1.0
            self.padded.append((h, Teacher(z, tau, cached_teacher), mask, positions))


def loss_of(student, batch, mode, tau):
    if mode == "loop":
        items, positions = batch
        total = sum(kl_sum(z, student.logits(h[None])[0], tau) for h, z in items)
        return total / positions, positions
    h, z, mask, positions = batch
    return kl_sum(z, student.logits(h), tau, mask) / positions, positions


def clip_global_norm(params, max_norm):
    norm = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in params))
    if max_norm > 0 and norm > max_norm:
        for p in params:
            p.grad.mul_(max_norm / norm)


def run_steps(llama, setup, initial, batches, mode):
    """The timed steps from the initial parameters: (losses, wall and CPU seconds per step,
    positions). CPU time of the process (all its threads) does not grow
    while other processes hold the core, so it compares fairly on a loaded machine."""
    circulants = {key: c.clone().requires_grad_(True) for key, c in initial.items()}
    params = list(circulants.values())
    student = Student(llama, setup["first_layer"], circulants)
    adam = torch.optim.AdamW(params, lr=setup["lr"][0], betas=(setup["beta1"], setup["beta2"]),
                             eps=setup["eps"], weight_decay=setup["weight_decay"])
    losses, seconds, cpu_seconds, tokens = [], [], [], 0
    for batch, lr in zip(batches, setup["lr"]):
        start, cpu_start = time.perf_counter(), time.process_time()
        adam.zero_grad(set_to_none=True)
        loss, positions = loss_of(student, batch, mode, setup["temperature"])
        loss.backward()
        clip_global_norm(params, setup["clip_norm"])
        for group in adam.param_groups:
            group["lr"] = lr
        adam.step()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        losses.append(float(loss))
        tokens += positions
    return losses, seconds, cpu_seconds, tokens


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--circal", required=True, help="JSON-lines file of `circal bench calibrate` (last line used)")
    parser.add_argument("--model", default=os.path.join(here, "..", "data", "models", "manpages-llama-5m"))
    parser.add_argument("--modes", default="loop,padded", help="comma-separated: loop, padded")
    parser.add_argument("--recompute-teacher", action="store_true",
                        help="recompute the teacher's log-softmax every step (default: once, as circal does)")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="relative first-step loss tolerance")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with open(args.circal) as f:
        setup = json.loads(f.read().splitlines()[-1])
    llama = Llama(args.model)
    initial = {}
    with h5py.File(os.path.join(setup["run_dir"], "project.h5"), "r") as f:
        for matrix in setup["matrices"]:
            key = (matrix["layer"], matrix["projection"])
            initial[key] = torch.from_numpy(f[f"/layers/{key[0]}/{key[1]}/c"][()])
            if initial[key].shape[2] != setup["block_size"]:
                sys.exit(f"project.h5 holds block size {initial[key].shape[2]}, circal ran {setup['block_size']}")
    data = Batches(os.path.join(setup["run_dir"], "capture.h5"), setup["batches"], setup["temperature"],
                   not args.recompute_teacher)

    ok = True
    print(f"torch {torch.__version__}, threads: {torch.get_num_threads()}, "
          f"{len(setup['batches'])} steps of {len(setup['batches'][0])} prompts, teacher log-softmax "
          f"{'every step' if args.recompute_teacher else 'computed once'}")
    circal_ms = setup["step_ms_median"]
    circal_cpu_ms = setup["phases"][0]["cpu_ms_median"]
    for mode in args.modes.split(","):
        batches = data.loop if mode == "loop" else data.padded
        run_steps(llama, setup, initial, batches, mode)  # warm-up: allocator, FFT plans, caches
        losses, seconds, cpu_seconds, tokens = run_steps(llama, setup, initial, batches, mode)
        first = abs(losses[0] - setup["losses"][0]) / abs(setup["losses"][0])
        worst = max(abs(a - b) / abs(b) for a, b in zip(losses, setup["losses"]))
        ok &= first <= args.tolerance
        ms = 1e3 * statistics.median(seconds)
        cpu_ms = 1e3 * statistics.median(cpu_seconds)
        print(f"{mode:6s}: first-step loss {losses[0]:.7f} vs circal {setup['losses'][0]:.7f} "
              f"(rel diff {first:.1e}; worst over the steps {worst:.1e}), "
              f"step {ms:.1f} ms median, {tokens / sum(seconds):.0f} tok/s; "
              f"circal at {setup['ranks']} rank(s) {circal_ms:.1f} ms: {ms / circal_ms:.2f}x; "
              f"CPU {cpu_ms:.1f} ms vs circal rank 0 {circal_cpu_ms:.1f} ms: {cpu_ms / circal_cpu_ms:.2f}x")
    if not ok:
        print(f"first-step loss differs from circal's by more than {args.tolerance}: not the same step")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
