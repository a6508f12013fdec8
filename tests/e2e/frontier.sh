#!/usr/bin/env bash
# The equal-bytes frontier at test size (config/frontier-tiny.yaml, the shape of `make
# frontier`): a local sweep over both structures at one block size whose points also
# evaluate RTN and GPTQ at 8, 4 and 2 bits. The sweep's report.md ends with the frontier
# table (every student once, bits per patched weight as counted in DESIGN 8.4, KL and
# perplexity with 95% intervals) and plots/frontier.png is drawn; GPTQ's KL is not above RTN's
# at 2 bits; the calibrated circulant with its c quantized (calibrated_rtn) is counted at its
# true bytes, and with its scales re-calibrated (recalibrated_rtn) at the same bytes, from
# the half scales calibrate.h5 holds; `circal export --student gptq` writes the dequantized weights.
source "$(dirname "$0")/common.bash"
SWEEP="$WORK/sweep"

circal_np 2 sweep --config config/frontier-tiny.yaml --local --sweep-dir "$SWEEP" > "$WORK/sweep.log" 2>&1 ||
  { cat "$WORK/sweep.log"; exit 1; }
check "the frontier table lists every student once, at its bits per weight" /usr/bin/python3 - "$SWEEP" <<'PY'
import json, re, sys
md = open(sys.argv[1] + "/report.md").read()
assert "## Equal bytes" in md, md
rows = [l.split("|")[1:-1] for l in md.split("## Equal bytes")[1].splitlines() if re.match(r"\| [a-z]", l)]
students = [r[0].strip() for r in rows[1:]]
bits = {r[0].strip(): float(r[2]) for r in rows[1:]}
print(students)
for name in ["dense", "rtn_8bit", "rtn_4bit", "rtn_2bit", "gptq_8bit", "gptq_4bit", "gptq_2bit"]:
    assert students.count(name) == 1, (name, students)
assert students.count("calibrated") == 1 and students.count("lowrank_calibrated") == 1, students
# gate and up 768 x 256, down 256 x 768 at 2 bits, groups of 64: 2 + (16 + 2) / 64 bits; GPTQ
# adds its column-to-group map, 4 bytes per input column of each matrix.
assert abs(bits["rtn_2bit"] - (2 + 18 / 64)) < 1e-3, bits
assert abs(bits["gptq_2bit"] - (2 + 18 / 64 + 32 * (256 + 256 + 768) / (3 * 768 * 256))) < 1e-3, bits
assert abs(bits["dense"] - 32) < 1e-9, bits
m = json.load(open(sys.argv[1] + "/points/structure-circulant_block_size-16/metrics.json"))
s = m["students"]
assert abs(s["calibrated"]["bits_per_patched_weight"] - 2) < 1e-9, s["calibrated"]["bits_per_patched_weight"]
lo, hi = s["gptq_4bit"]["perplexity_ci95"]
assert lo <= s["gptq_4bit"]["perplexity"] <= hi, s["gptq_4bit"]
assert s["gptq_2bit"]["kl"]["mean"] <= s["rtn_2bit"]["kl"]["mean"], (s["gptq_2bit"]["kl"], s["rtn_2bit"]["kl"])
assert s["rtn_8bit"]["kl"]["mean"] < s["rtn_2bit"]["kl"]["mean"]
# circulant + quantization: c [p, q, b] as [p, q b] rows, 8 bits in groups of 64, is
# (8 + 24 / 64) / 16 bits per patched weight at b = 16, and close to the calibrated student.
c8, c2, cal = s["calibrated_rtn_8bit"], s["calibrated_rtn_2bit"], s["calibrated"]
assert abs(c8["bits_per_patched_weight"] - (8 + 24 / 64) / 16) < 1e-9, c8["bits_per_patched_weight"]
assert abs(c8["kl"]["mean"] - cal["kl"]["mean"]) < 0.02 * cal["kl"]["mean"], (c8["kl"], cal["kl"])
assert c2["kl"]["mean"] > c8["kl"]["mean"], (c2["kl"], c8["kl"])
assert students.count("calibrated_rtn_8bit") == 1, students
# the re-calibrated scales: the same stored form, so the same bits; the lowrank point skips it
for k in (8, 4, 2):
    r, c = s[f"recalibrated_rtn_{k}bit"], s[f"calibrated_rtn_{k}bit"]
    assert r["bits_per_patched_weight"] == c["bits_per_patched_weight"], (r, c)
    assert students.count(f"recalibrated_rtn_{k}bit") == 1, students
    print(f"{k} bits: test KL calibrated_rtn {c['kl']['mean']:.5f}, recalibrated_rtn {r['kl']['mean']:.5f}")
import h5py, numpy as np
with h5py.File(sys.argv[1] + "/points/structure-circulant_block_size-16/calibrate.h5", "r") as f:
    g = f["recalibrated_rtn/2bit"]
    assert g.attrs["steps"] == 4 and len(g["train_loss"]) == 4, dict(g.attrs)
    scales = g["layers/3/gate_proj/scales"][...]
    assert scales.shape == (48, 4), scales.shape  # c of gate_proj: p = 768 / 16 rows, q b = 256 columns
    assert np.array_equal(scales.astype(np.float16).astype(np.float32), scales)  # half values
    assert g.attrs["best_validation_kl"] <= g["validation_kl"][0]
PY
if command -v gnuplot > /dev/null || [ "${CI:-}" = true ]; then
  check "the Pareto plot" test -s "$SWEEP/plots/frontier.png"
fi
POINT="$SWEEP/points/structure-circulant_block_size-16"
circal_np 1 export --config "$POINT/config.yaml" --student gptq --format dense \
  --set 'quantize.bits=[4]' --set quantize.act_order=false --out "$WORK/gptq4" > "$WORK/export.log" 2>&1 ||
  { cat "$WORK/export.log"; exit 1; }
check "export writes GPTQ's dequantized weights: at most 16 levels in each row's group of 64" /usr/bin/python3 - \
  "$WORK/gptq4" "$CIRCAL_SOURCE_DIR/$(grep -m1 '^  path:' "$POINT/config.yaml" | sed 's/^  path: *//')" <<'PY'
import json, struct, sys
import numpy as np

def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for k, v in header.items():
        assert v["dtype"] == "F32", v["dtype"]
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=np.float32).reshape(v["shape"])
    return out

exported, teacher = tensors(sys.argv[1] + "/model.safetensors"), tensors(sys.argv[2] + "/model.safetensors")
for layer in (2, 3):
    for proj in ("gate_proj", "up_proj", "down_proj"):
        name = f"model.layers.{layer}.mlp.{proj}.weight"
        W, Q = teacher[name], exported[name]
        assert not np.array_equal(W, Q), name
        for g in range(0, W.shape[1], 64):
            levels = max(len(np.unique(row)) for row in Q[:, g:g + 64])
            assert levels <= 16, (name, g, levels)
        rel = np.linalg.norm(Q - W) / np.linalg.norm(W)
        assert rel < 0.2, (name, rel)
        print(name, "relative Frobenius change", round(float(rel), 4))
assert np.array_equal(teacher["model.layers.0.mlp.gate_proj.weight"], exported["model.layers.0.mlp.gate_proj.weight"])
PY
check "a quantized student has no compact export" bash -c "cd '$CIRCAL_SOURCE_DIR' && ! '$CIRCAL_BIN' export --config '$POINT/config.yaml' \
  --student rtn --format circulant --out '$WORK/rtn-c' 2> '$WORK/rtn-c.err'; grep -q 'exported dequantized (--format dense)' '$WORK/rtn-c.err'"
