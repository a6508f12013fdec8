"""The table of bench/allocation.sh: every calibrated student of SWEEP_DIR (points/ allocated,
uniform/ one block size for all), its test KL on the corpus test windows and on the seed-prompt
test split (prompts-test/ the same path, bench/prompts_split.sh), the best learning rate of each budget and kind in bold, and
the allocated student's KL against the uniform one's at each budget.

    /usr/bin/python3 bench/allocation_table.py SWEEP_DIR
"""
import glob
import json
import os
import sys

import h5py
import numpy as np
import yaml


def kl_of(run):
    path = f"{run}/metrics.json"
    if not os.path.exists(path):
        return None
    calibrated = json.load(open(path))["students"]["calibrated"]["kl"]
    return calibrated["mean"], calibrated["ci95"]


def allocated_sizes(run):
    with h5py.File(f"{run}/project.h5") as f:
        return [int(b) for b in f["allocation/block_size"][()]]


def rows_of(sweep):
    rows = []
    for run in sorted(glob.glob(f"{sweep}/points/*") + glob.glob(f"{sweep}/uniform/*")):
        if not os.path.isdir(run):
            continue
        if not os.path.exists(f"{run}/metrics.json"):
            continue  # not finished
        compression = json.load(open(f"{run}/metrics.json"))["compression"]
        config = yaml.safe_load(open(f"{run}/config.yaml"))
        project = config["project"]
        allocated = project["block_size"] == "auto"
        budget = round(float(project["compression"] if allocated else project["block_size"]))
        lr = float(config["calibrate"]["lr"])
        rows.append({"run": run, "kind": "allocated" if allocated else "uniform", "budget": budget, "lr": lr,
                     "ratio": compression["ratio"], "corpus": kl_of(run), "prompts": kl_of(f"{sweep}/prompts-test/{os.path.relpath(run, sweep)}"),
                     "sizes": allocated_sizes(run) if allocated else []})
    return rows


def paired(run_a, run_b, samples=2000, seed=7):
    """Mean over positions of KL_a - KL_b on the same test windows, with a 95% bootstrap
    interval resampling windows (as evaluate's intervals do)."""
    with h5py.File(f"{run_a}/evaluate.h5") as fa, h5py.File(f"{run_b}/evaluate.h5") as fb:
        window = fa["positions/prompt"][()]
        assert (window == fb["positions/prompt"][()]).all(), (run_a, run_b)
        diff = fa["students/calibrated/kl"][()] - fb["students/calibrated/kl"][()]
    windows = np.unique(window)
    sums = np.array([diff[window == w].sum() for w in windows])
    counts = np.array([(window == w).sum() for w in windows])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(windows), size=(samples, len(windows)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    return sums.sum() / counts.sum(), np.percentile(means, [2.5, 97.5])


def cell(kl, bold):
    if kl is None:
        return "n/a"
    mark = "**" if bold else ""
    return f"{mark}{kl[0]:.4f}{mark} [{kl[1][0]:.4f}, {kl[1][1]:.4f}]"


def main(sweep):
    rows = rows_of(sweep)
    best = {}
    for r in rows:
        key = (r["kind"], r["budget"])
        if key not in best or r["corpus"][0] < best[key]["corpus"][0]:
            best[key] = r
    print("| budget | student | lr | MLP compression | test KL, corpus windows [95% CI] | test KL, seed prompts [95% CI] |")
    print("|---|---|---:|---:|---|---|")
    for r in sorted(rows, key=lambda r: (r["budget"], r["kind"] != "uniform", r["lr"])):
        is_best = best[(r["kind"], r["budget"])] is r
        name = "uniform b=%d" % r["budget"] if r["kind"] == "uniform" else "allocated"
        print(f"| {r['budget']}x | {name} | {r['lr']:g} | {r['ratio']:.2f}x | {cell(r['corpus'], is_best)} | "
              f"{cell(r['prompts'], is_best)} |")
    print()
    for budget in sorted({r["budget"] for r in rows}):
        u, a = best.get(("uniform", budget)), best.get(("allocated", budget))
        if not u or not a:
            continue
        gain = 1 - a["corpus"][0] / u["corpus"][0]
        apart = a["corpus"][1][1] < u["corpus"][1][0] or u["corpus"][1][1] < a["corpus"][1][0]
        mean, (lo, hi) = paired(a["run"], u["run"])
        print(f"{budget}x, corpus test windows, each at its best lr: allocated {a['corpus'][0]:.4f} vs uniform "
              f"{u['corpus'][0]:.4f}: {100 * gain:.1f}% lower KL; intervals {'apart' if apart else 'overlap'}; "
              f"paired difference {mean:+.4f} [{lo:+.4f}, {hi:+.4f}]. Block sizes {a['sizes']}")


if __name__ == "__main__":
    main(sys.argv[1])
