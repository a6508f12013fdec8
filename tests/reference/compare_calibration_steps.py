#!/usr/bin/env python3
"""Compare a circal run directory made with the fixture's config (tests/e2e/calibration_reference.sh)
with tests/reference/calibration_steps.h5.

    compare_calibration_steps.py FIXTURE RUN_DIR [--tolerance 1e-5]

Checks, printing the largest deviation of each:
  - capture.h5 /tokens: the calibration prompts' tokens equal the fixture's (circal's tokenizer);
  - project.h5 /layers/{l}/{proj}/c: the Frobenius starting point (float32, to 1e-7 of max |c|);
  - steps 1 and 2: the batch loss (calibrate.h5 /history/train_loss), the pre-clip gradient
    norm and the learning rate (calibrate/log.jsonl) to TOLERANCE relative, and the parameters
    after Adam (calibrate/step-00000k.h5 /state/params, the matrices in layout order: layers
    ascending, gate_proj, up_proj, down_proj, each [p, q, b] row-major), per matrix to
    TOLERANCE x max |c_ref|.
Exit 1 when any check fails.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixture")
    ap.add_argument("run_dir")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    args = ap.parse_args()
    tol = args.tolerance
    failures = []

    def report(what, deviation, limit):
        ok = deviation <= limit
        print(f"{'ok' if ok else 'FAILED'}: {what}: {deviation:.3g} (limit {limit:.3g})")
        if not ok:
            failures.append(what)

    fx = h5py.File(args.fixture, "r")
    cfg = fx["config"].attrs
    layers, projections = json.loads(cfg["layers"]), json.loads(cfg["projections"])
    keys = [(l, p) for l in sorted(layers) for p in ("gate_proj", "up_proj", "down_proj") if p in projections]
    run = args.run_dir

    offsets = fx["prompts/offsets"][()]
    with h5py.File(os.path.join(run, "capture.h5"), "r") as f:
        tokens = f["/tokens"][()][: offsets[-1]]
        circal_offsets = f["/prompts/offsets"][()][: len(offsets)]
    same = np.array_equal(tokens, fx["prompts/tokens"][()]) and np.array_equal(circal_offsets, offsets)
    report("capture.h5 tokens of the calibration prompts differ from the fixture's (0 = equal)", 0.0 if same else 1.0, 0.0)

    with h5py.File(os.path.join(run, "project.h5"), "r") as f:
        for l, p in keys:
            ref = fx[f"initial/layers/{l}/{p}/c"][()]
            got = f[f"/layers/{l}/{p}/c"][()]
            report(f"initial c layer {l} {p}, max |diff| / max |c|",
                   float(np.abs(got.astype(np.float64) - ref).max() / np.abs(ref).max()), 1e-7)

    with h5py.File(os.path.join(run, "calibrate.h5"), "r") as f:
        losses = f["/history/train_loss"][()]
    records = {}
    with open(os.path.join(run, "calibrate", "log.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "step" in r and "loss" in r:
                records[r["step"]] = r
    for k in (1, 2):
        s = fx[f"steps/{k}"]
        report(f"step {k} loss {losses[k - 1]:.9g} vs {s.attrs['loss']:.9g}, relative",
               abs(losses[k - 1] - s.attrs["loss"]) / abs(s.attrs["loss"]), tol)
        r = records[k]
        report(f"step {k} pre-clip gradient norm {r['grad_norm']:.9g} vs {s.attrs['grad_norm']:.9g}, relative",
               abs(r["grad_norm"] - s.attrs["grad_norm"]) / s.attrs["grad_norm"], tol)
        report(f"step {k} learning rate {r['lr']:.9g} vs {s.attrs['lr']:.9g}, relative",
               abs(r["lr"] - s.attrs["lr"]) / s.attrs["lr"], 1e-12)
        with h5py.File(os.path.join(run, "calibrate", f"step-{k:06d}.h5"), "r") as f:
            params = f["/state/params"][()].astype(np.float64)
        at = 0
        for l, p in keys:
            ref = s[f"layers/{l}/{p}/c"][()]
            got = params[at : at + ref.size].reshape(ref.shape)
            at += ref.size
            report(f"step {k} parameters layer {l} {p}, max |diff| / max |c|",
                   float(np.abs(got - ref).max() / np.abs(ref).max()), tol)
        report(f"step {k}: parameter count {params.size} vs {at} (difference)", abs(params.size - at), 0)
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
