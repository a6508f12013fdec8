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
Three ways to batch the prompts, all timed: `loop` (one forward per prompt, one backward of the
summed loss), `padded` (prompts right-padded into one [B, T] batch; causal attention keeps
the padding out of every real position, and the loss masks it) and `grouped` (circal's own
batching: the global batch split into the same fixed groups of calibrate.group_prompts prompts
with even token totals, one padded pass and one backward per group, gradients summed).

At a real model shape, e.g. a synthetic TinyLlama-1.1B-shaped folder with every MLP patched at
block size 64 (the model folder defaults to the one in circal's JSON line; BF16 shards are read
into float32):

    /usr/bin/python3 bench/make_synthetic_checkpoint.py --shape tinyllama-1.1b --out build/synth/tinyllama-1.1b
    circal bench calibrate --set model.path=build/synth/tinyllama-1.1b --set project.block_size=64 \
        --set patch.layers=all --run-dir build/scale --steps 3 --json /tmp/scale.jsonl
    OPENBLAS_NUM_THREADS=1 python3 bench/torch_calibrate_step.py --circal /tmp/scale.jsonl \
        --modes grouped --warmup-steps 1

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
            self.z = None  # not needed again: at 32000 vocab every copy of the logits counts

    @staticmethod
    def padded(teachers, T, tau, cached):
        """One teacher for prompts right-padded to T rows (padding rows: zero, masked out)."""
        V = (teachers[0].z if teachers[0].z is not None else teachers[0].p).shape[1]
        fields = ["log_p", "p"] if cached else ["z"]
        out = Teacher.__new__(Teacher)
        out.tau, out.z, out.log_p, out.p = tau, None, None, None
        for field in fields:
            full = torch.zeros(len(teachers), T, V)
            for j, t in enumerate(teachers):
                rows = getattr(t, field)
                full[j, : rows.shape[0]] = rows
            setattr(out, field, full)
        return out

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


def prompt_groups(batch, group, tokens):
    """circal's prompt_groups (stages/calibration_batches.cpp): ceil(n / group) groups of at most
    `group` entries; entries by decreasing tokens (ties: batch order) join the group with the
    fewest tokens that has room (ties: the lower index); a group lists its entries in batch order."""
    n, size = len(batch), max(1, group)
    length = [tokens(p) for p in batch]
    by_length = sorted(range(n), key=lambda j: -length[j])  # stable: ties keep batch order
    count = (n + size - 1) // size
    members, load = [[] for _ in range(count)], [0] * count
    for j in by_length:
        best = None
        for k in range(count):
            if len(members[k]) < size and (best is None or load[k] < load[best]):
                best = k
        members[best].append(j)
        load[best] += length[j]
    return [[batch[j] for j in sorted(m)] for m in members]


class Batches:
    """The timed steps' prompts from capture.h5. Per prompt its hidden state and teacher are
    read once; a step's tensors are assembled just before the step (outside its timing) and
    dropped after it, so memory holds one step's copies, not every step's (at vocab 32000 a
    token's teacher row is 128 KB). Three layouts of a global batch:
      loop:    one forward per prompt, one backward of the summed loss;
      padded:  all prompts right-padded into one [B, T] pass;
      grouped: circal's fixed groups of calibrate.group_prompts prompts with even token totals
               (the same prompt_groups), each group one right-padded pass with its own backward,
               the gradients summed: circal's batching, where a group is one stacked pass."""

    def __init__(self, capture, batches, tau, cached_teacher, group_prompts, embedding):
        self.tau, self.cached, self.group_prompts = tau, cached_teacher, group_prompts
        self.batches = batches
        with h5py.File(capture, "r") as f:
            offsets = f["/prompts/offsets"][()]
            logits = f["/teacher/logits"]
            # capture leaves out the hidden state entering layer 0: it is the embedding of the tokens
            hidden = f["/hidden_in"] if "hidden_in" in f else embedding[torch.from_numpy(f["/tokens"][()].astype("int64"))]
            self.cache = {}
            for prompt in sorted({p for b in batches for p in b}):
                rows = slice(int(offsets[prompt]), int(offsets[prompt + 1]))
                self.cache[prompt] = (torch.as_tensor(hidden[rows]),
                                      Teacher(torch.from_numpy(logits[rows]), tau, cached_teacher))

    def padded(self, prompts):
        items = [self.cache[p] for p in prompts]
        T = max(h.shape[0] for h, _ in items)
        h = torch.zeros(len(items), T, items[0][0].shape[1])
        mask = torch.zeros(len(items), T)
        for j, (hj, _) in enumerate(items):
            h[j, : hj.shape[0]], mask[j, : hj.shape[0]] = hj, 1.0
        return h, Teacher.padded([t for _, t in items], T, self.tau, self.cached), mask

    def step(self, s, mode):
        batch = self.batches[s]
        positions = sum(self.cache[p][0].shape[0] for p in batch)
        if mode == "loop":
            return [self.cache[p] for p in batch], positions
        if mode == "padded":
            return [self.padded(batch)], positions
        groups = prompt_groups(batch, self.group_prompts, lambda p: self.cache[p][0].shape[0])
        return [self.padded(g) for g in groups], positions


def loss_and_backward(student, batch, mode, tau):
    """The step's loss (mean over its positions), its gradient accumulated into the parameters."""
    parts, positions = batch
    if mode == "loop":
        loss = sum(kl_sum(z, student.logits(h[None])[0], tau) for h, z in parts) / positions
        loss.backward()
        return float(loss), positions
    total = 0.0
    for h, z, mask in parts:  # padded: one part; grouped: a backward per group, as circal
        loss = kl_sum(z, student.logits(h), tau, mask) / positions
        loss.backward()
        total += float(loss)
    return total, positions


def clip_global_norm(params, max_norm):
    norm = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in params))
    if max_norm > 0 and norm > max_norm:
        for p in params:
            p.grad.mul_(max_norm / norm)


def run_steps(llama, setup, initial, data, mode, steps):
    """The first `steps` timed steps from the initial parameters: (losses, wall and CPU seconds
    per step, positions). CPU time of the process (all its threads) does not grow
    while other processes hold the core, so it compares fairly on a loaded machine."""
    circulants = {key: c.clone().requires_grad_(True) for key, c in initial.items()}
    params = list(circulants.values())
    student = Student(llama, setup["first_layer"], circulants)
    adam = torch.optim.AdamW(params, lr=setup["lr"][0], betas=(setup["beta1"], setup["beta2"]),
                             eps=setup["eps"], weight_decay=setup["weight_decay"])
    losses, seconds, cpu_seconds, tokens = [], [], [], 0
    for s in range(steps):
        batch = data.step(s, mode)  # assembling the tensors is not part of the step
        start, cpu_start = time.perf_counter(), time.process_time()
        adam.zero_grad(set_to_none=True)
        loss, positions = loss_and_backward(student, batch, mode, setup["temperature"])
        clip_global_norm(params, setup["clip_norm"])
        for group in adam.param_groups:
            group["lr"] = setup["lr"][s]
        adam.step()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
        losses.append(loss)
        tokens += positions
        del batch
    return losses, seconds, cpu_seconds, tokens


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--circal", required=True, help="JSON-lines file of `circal bench calibrate` (last line used)")
    parser.add_argument("--model", default=None,
                        help="model folder (default: the one circal's JSON line names, e.g. a folder of "
                             "bench/make_synthetic_checkpoint.py; BF16/F16 shards are read into float32)")
    parser.add_argument("--modes", default="loop,padded,grouped", help="comma-separated: loop, padded, grouped")
    parser.add_argument("--steps", type=int, default=0, help="timed steps: the first N of circal's (0: all)")
    parser.add_argument("--warmup-steps", type=int, default=-1,
                        help="untimed steps before the timed pass of each mode (-1: as many as timed)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--recompute-teacher", action="store_true",
                        help="recompute the teacher's log-softmax every step (default: once, as circal does)")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="relative first-step loss tolerance")
    parser.add_argument("--json", default=None, help="append one JSON line per mode to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with open(args.circal) as f:
        setup = json.loads(f.read().splitlines()[-1])
    steps = min(args.steps or len(setup["batches"]), len(setup["batches"]))
    warmup = steps if args.warmup_steps < 0 else min(args.warmup_steps, steps)
    setup["batches"] = setup["batches"][:steps]
    model_dir = args.model or setup.get("model") or os.path.join(here, "..", "data", "models", "manpages-llama-5m")
    load_start = time.perf_counter()
    llama = Llama(model_dir)
    initial = {}
    with h5py.File(os.path.join(setup["run_dir"], "project.h5"), "r") as f:
        for matrix in setup["matrices"]:
            key = (matrix["layer"], matrix["projection"])
            initial[key] = torch.from_numpy(f[f"/layers/{key[0]}/{key[1]}/c"][()])
            if initial[key].shape[2] != setup["block_size"]:
                sys.exit(f"project.h5 holds block size {initial[key].shape[2]}, circal ran {setup['block_size']}")
    data = Batches(os.path.join(setup["run_dir"], "capture.h5"), setup["batches"], setup["temperature"],
                   not args.recompute_teacher, setup.get("group_prompts", len(setup["batches"][0])),
                   llama.w["model.embed_tokens.weight"])
    print(f"{model_dir}: {llama.layers} layers, hidden {llama.hidden}, {sum(w.numel() for w in llama.w.values()):,} "
          f"parameters, {len(initial)} circulant matrices at block size {setup['block_size']}; "
          f"loaded with the capture in {time.perf_counter() - load_start:.1f} s")

    ok = True
    print(f"torch {torch.__version__}, threads: {torch.get_num_threads()}, "
          f"{steps} steps of {len(setup['batches'][0])} prompts (groups of {data.group_prompts}), "
          f"{warmup} warm-up steps, teacher log-softmax "
          f"{'every step' if args.recompute_teacher else 'computed once'}")
    circal_ms = setup["step_ms_median"]
    circal_cpu_ms = setup["phases"][0]["cpu_ms_median"]
    for mode in args.modes.split(","):
        if warmup:
            run_steps(llama, setup, initial, data, mode, warmup)  # warm-up: allocator, FFT plans, caches
        losses, seconds, cpu_seconds, tokens = run_steps(llama, setup, initial, data, mode, steps)
        first = abs(losses[0] - setup["losses"][0]) / abs(setup["losses"][0])
        worst = max(abs(a - b) / abs(b) for a, b in zip(losses, setup["losses"]))
        ok &= first <= args.tolerance
        ms = 1e3 * statistics.median(seconds)
        cpu_ms = 1e3 * statistics.median(cpu_seconds)
        print(f"{mode:7s}: first-step loss {losses[0]:.7f} vs circal {setup['losses'][0]:.7f} "
              f"(rel diff {first:.1e}; worst over the steps {worst:.1e}), "
              f"step {ms:.1f} ms median, {tokens / sum(seconds):.0f} tok/s; "
              f"circal at {setup['ranks']} rank(s) {circal_ms:.1f} ms: {ms / circal_ms:.2f}x; "
              f"CPU {cpu_ms:.1f} ms vs circal rank 0 {circal_cpu_ms:.1f} ms: {cpu_ms / circal_cpu_ms:.2f}x")
        if args.json:
            with open(args.json, "a") as out:
                out.write(json.dumps({"benchmark": "torch_calibrate_step", "mode": mode, "model": model_dir,
                                      "torch": torch.__version__, "threads": torch.get_num_threads(),
                                      "steps": steps, "positions": setup["positions"],
                                      "step_ms_median": ms, "cpu_ms_median": cpu_ms,
                                      "first_loss": losses[0], "circal_first_loss": setup["losses"][0],
                                      "first_loss_rel_diff": first, "circal_step_ms_median": circal_ms,
                                      "circal_cpu_ms_median": circal_cpu_ms,
                                      "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg())}) + "\n")
    if not ok:
        print(f"first-step loss differs from circal's by more than {args.tolerance}: not the same step")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
