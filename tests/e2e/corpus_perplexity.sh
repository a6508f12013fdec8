#!/usr/bin/env bash
# config/corpus.yaml at 2 ranks, shortened (fewer windows and steps): evaluate reports finite
# perplexities of the teacher and every student on the corpus test windows, in the order
# compression must leave them, and report.md shows them. The teacher's, the zeroed student's
# and the calibrated student's perplexities are recomputed independently: a float64 PyTorch
# forward (bench/torch_forward.py) on the test windows stored in evaluate.h5, with the patched
# matrices zeroed or replaced by the dense block-circulant matrices of calibrate.h5.
source "$(dirname "$0")/common.bash"
need_python_modules h5py numpy torch
RUN=$WORK/run
circal_np 2 run --config "$CIRCAL_SOURCE_DIR/config/corpus.yaml" --set data.calibration_windows=48 \
  --set data.validation_windows=8 --set data.test_windows=8 --set calibrate.steps=40 \
  --set calibrate.eval_every=10 --set calibrate.warmup_steps=4 --set evaluate.generate_tokens=0 \
  --set evaluate.bootstrap_samples=50 --set runtime.fftw_planner=estimate --run-dir "$RUN" \
  > "$WORK/run.log" 2>&1 || { cat "$WORK/run.log"; exit 1; }

check "finite perplexities, dense = teacher <= calibrated < least_squares, zeroed" /usr/bin/python3 - "$RUN/metrics.json" <<'PY'
import json, math, sys
m = json.load(open(sys.argv[1]))
p = m["perplexity"]
assert p["scored_positions"] == 8 * 127, p
ppl = {name: s["perplexity"] for name, s in m["students"].items()}
ppl["teacher"] = p["teacher"]
# lowrank_aware: the equal-parameter low-rank student every circulant run fits (project.compare_lowrank)
assert set(ppl) == {"teacher", "dense", "zeroed", "frobenius", "least_squares", "calibrated", "lowrank_aware"}, ppl
assert all(isinstance(v, float) and math.isfinite(v) and v >= 1 for v in ppl.values()), ppl
assert ppl["dense"] == ppl["teacher"], ppl
assert ppl["teacher"] <= ppl["calibrated"] < ppl["least_squares"] and ppl["calibrated"] < ppl["zeroed"], ppl
assert ppl["teacher"] < ppl["zeroed"] and ppl["teacher"] < ppl["frobenius"] and ppl["teacher"] < ppl["lowrank_aware"], ppl
for name, s in m["students"].items():
    assert s["teacher_perplexity"] == p["teacher"] and s["scored_positions"] == p["scored_positions"], name
    assert abs(s["ppl_ratio"] - s["perplexity"] / p["teacher"]) <= 1e-9 * s["ppl_ratio"], name
print({k: round(v, 3) for k, v in ppl.items()})
PY

check "report.md shows every perplexity of metrics.json" /usr/bin/python3 - "$RUN/metrics.json" "$RUN/report.md" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
report = open(sys.argv[2]).read()
section = report.index("## Perplexity")
assert section < report.index("## Findings")
rows = [f"| teacher | {m['perplexity']['teacher']:.2f} | 1.000 |"]
rows += [f"| {n} | {s['perplexity']:.2f} | {s['ppl_ratio']:.3f} |" for n, s in m["students"].items()]
for row in rows:
    assert report.find(row, section) > 0, row
assert f"over {m['perplexity']['scored_positions']} positions: every position but the last" in report
PY

check "teacher, zeroed and calibrated perplexities equal a float64 PyTorch recomputation to 1e-4" \
  /usr/bin/python3 - "$CIRCAL_SOURCE_DIR" "$RUN" <<'PY'
import json, math, sys
import h5py, numpy as np, torch
source, run = sys.argv[1:]
sys.path.insert(0, source + "/bench")
from torch_forward import Llama

model = Llama(source + "/data/models/manpages-llama-5m")
model.w = {k: v.double() for k, v in model.w.items()}
model.cos, model.sin = model.cos.double(), model.sin.double()
teacher_weights = dict(model.w)
with h5py.File(run + "/evaluate.h5", "r") as f:
    tokens, offsets = f["/positions/token"][:], f["/prompts/offsets"][:]
windows = [[int(t) for t in tokens[a:b]] for a, b in zip(offsets[:-1], offsets[1:])]

def perplexity():
    nll = []
    with torch.inference_mode():
        for ids in windows:
            logp = torch.log_softmax(model.forward(ids), dim=-1)
            nll += [-float(logp[t, ids[t + 1]]) for t in range(len(ids) - 1)]
    return math.exp(sum(nll) / len(nll))

def circulant(c, m, n):  # block (i, j) is circulant with first column c[i, j]: C[r, s] = c[(r - s) mod b]
    p, q, b = c.shape
    r = np.arange(b)
    idx = (r[:, None] - r[None, :]) % b
    return torch.from_numpy(c[:, :, idx].astype(np.float64).transpose(0, 2, 1, 3).reshape(p * b, q * b)[:m, :n])

names = [f"model.layers.{l}.mlp.{p}.weight" for l in range(4) for p in ("gate_proj", "up_proj", "down_proj")]
m = json.load(open(run + "/metrics.json"))
got = {"teacher": perplexity()}
model.w = dict(teacher_weights, **{n: torch.zeros_like(teacher_weights[n]) for n in names})
got["zeroed"] = perplexity()
with h5py.File(run + "/calibrate.h5", "r") as f:
    calibrated = {}
    for n in names:
        layer, proj = n.split(".")[2], n.split(".")[4]
        calibrated[n] = circulant(f[f"/layers/{layer}/{proj}/c"][:], *teacher_weights[n].shape)
model.w = dict(teacher_weights, **calibrated)
got["calibrated"] = perplexity()
want = {"teacher": m["perplexity"]["teacher"], "zeroed": m["students"]["zeroed"]["perplexity"],
        "calibrated": m["students"]["calibrated"]["perplexity"]}
for k in want:
    assert abs(got[k] - want[k]) <= 1e-4 * want[k], (k, got[k], want[k])
print({k: (round(got[k], 4), round(want[k], 4)) for k in want})
PY
