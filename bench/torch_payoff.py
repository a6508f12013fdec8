#!/usr/bin/env python3
"""The payoff in PyTorch: modeling_circal.py (stages/export/, the module `circal export --format
circulant` writes) with every MLP matrix a block-circulant of random c at each block size,
against the same module with the teacher's dense matrices (a plain Hugging Face folder loads as
the dense model), 1 thread, timed as `circal bench model --student-blocks` times circal:

- prompt processing: one forward per prompt ([1, T] input_ids, logits of every position);
- decode: N - 1 greedy steps per prompt with the KV cache, timed after the prompt's pass;
- interleaved rounds (dense, b1, b2, ... per round), median and best, the ratio to the dense
  model of the same round (median).

Token ids come from a `circal logits` file of the prompts (Debian has no python3-sentencepiece):

    circal logits --model DIR --prompts data/splits/test.txt --out /tmp/ids.h5
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_payoff.py --model DIR --ids /tmp/ids.h5 --prompts 8 \\
        --blocks 16 64 256 --decode-tokens 16 --rounds 3

Needs Debian's python3-torch and python3-h5py (run with /usr/bin/python3).
"""
import argparse
import os
import statistics
import sys
import time

import h5py
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stages", "export"))
import modeling_circal  # noqa: E402

PROJECTIONS = ("gate_proj", "up_proj", "down_proj")


def random_students(model, blocks, seed):
    """{b: [(gate, up, down) per layer]} of CirculantLinear over random c ~ N(0, 1 / in_features)."""
    generator = torch.Generator().manual_seed(seed)
    students = {}
    for b in blocks:
        layers = []
        for layer in model.layers:
            mlp = []
            for name in PROJECTIONS:
                m, n = getattr(layer.mlp, name).weight.shape
                c = torch.randn(-(-m // b), -(-n // b), b, generator=generator) / n ** 0.5
                mlp.append(modeling_circal.CirculantLinear(c, m, n))
            layers.append(tuple(mlp))
        students[f"b={b}"] = layers
    return students


def install(model, mlps):
    for layer, modules in zip(model.layers, mlps):
        for name, module in zip(PROJECTIONS, modules):
            setattr(layer.mlp, name, module)


def prompt_pass(model, prompts):
    start = time.perf_counter()
    for ids in prompts:
        model(ids)
    return time.perf_counter() - start


def decode_pass(model, prompts, tokens):
    """tokens - 1 greedy steps a prompt with the KV cache, timed from the end of the prompt's
    pass (as circal's bench times them): generate()'s loop, written out to start the clock."""
    total = 0.0
    for ids in prompts:
        cache = modeling_circal.KVCache(model, ids.shape[0], ids.shape[1] + tokens)
        logits = model(ids, cache)
        start = time.perf_counter()
        for _ in range(tokens - 1):
            logits = model(logits[:, -1].argmax(dim=-1)[:, None], cache)
        total += time.perf_counter() - start
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the teacher's Hugging Face folder")
    parser.add_argument("--ids", required=True, help="circal logits file of the prompts (their token ids)")
    parser.add_argument("--prompts", type=int, default=8, help="first N prompts of the file")
    parser.add_argument("--blocks", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--decode-tokens", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    with h5py.File(args.ids) as f:
        count = min(args.prompts, int(f.attrs["prompts"]))
        prompts = [torch.from_numpy(f[f"prompt{i}/tokens"][()].astype("int64"))[None] for i in range(count)]
    prompt_tokens = sum(ids.shape[1] for ids in prompts)
    decode_steps = count * (args.decode_tokens - 1)
    model = modeling_circal.from_pretrained(args.model)
    variants = {"dense": [tuple(getattr(layer.mlp, name) for name in PROJECTIONS) for layer in model.layers]}
    variants.update(random_students(model, args.blocks, args.seed))
    rates = {name: {"prompt": [], "decode": []} for name in variants}
    for name, mlps in variants.items():  # untimed: spectra, buffers, page faults
        install(model, mlps)
        prompt_pass(model, prompts[:1])
        decode_pass(model, prompts[:1], 2)
    for round_ in range(args.rounds):
        for name, mlps in variants.items():
            install(model, mlps)
            rates[name]["prompt"].append(prompt_tokens / prompt_pass(model, prompts))
            rates[name]["decode"].append(decode_steps / decode_pass(model, prompts, args.decode_tokens))
        print(f"round {round_ + 1} of {args.rounds} done", flush=True)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; prompts: {count}, prompt tokens: "
          f"{prompt_tokens}, decode steps: {decode_steps}, rounds: {args.rounds} (interleaved)")
    print(f"{'model':8} {'prompt tok/s med/best':>23} {'decode tok/s med/best':>23} {'prompt x':>9} {'decode x':>9}")
    dense = rates["dense"]
    for name, r in rates.items():
        ratio = {k: statistics.median(a / b for a, b in zip(r[k], dense[k])) for k in ("prompt", "decode")}
        print(f"{name:8} {statistics.median(r['prompt']):>11.1f} / {max(r['prompt']):<9.1f} "
              f"{statistics.median(r['decode']):>11.2f} / {max(r['decode']):<9.2f} "
              f"{ratio['prompt']:>9.2f} {ratio['decode']:>9.2f}")


if __name__ == "__main__":
    main()
