#!/usr/bin/env bash
# capture.h5 stays small where raw MLP inputs would be large: a synthetic checkpoint of
# TinyLlama's widths / 4 (bench/make_synthetic_checkpoint.py --shape wide-test: hidden 512,
# intermediate 1408, 2 layers, all MLPs patched) captures 68 corpus windows of 256 tokens at
# 2 ranks, with top-k teacher logits (what a large vocabulary needs) and no full Gram. Its
# size must stay within the statistics formula of stages/FILES.md plus the per-token rows
# (tokens, top-k logits), and below 3% of the raw inputs N L (h + i) 4 bytes that capture stored
# before statistics (DESIGN 8.1).
source "$(dirname "$0")/common.bash"
need_python_modules numpy h5py
/usr/bin/python3 "$CIRCAL_SOURCE_DIR/bench/make_synthetic_checkpoint.py" --shape wide-test --seed 3 \
  --out "$WORK/model" > "$WORK/make.log"
circal_np 2 capture --config "$CIRCAL_SOURCE_DIR/config/corpus.yaml" --set model.path="$WORK/model" \
  --set data.window_tokens=256 --set data.calibration_windows=64 --set data.validation_windows=4 \
  --set data.test_windows=1 --set capture.logits_format=topk --set capture.logits_topk=16 \
  --set capture.full_gram=false --set runtime.fftw_planner=estimate --run-dir "$WORK/run" \
  > "$WORK/capture.log" 2>&1 || { cat "$WORK/capture.log"; exit 1; }

check "capture.h5 within the statistics formula and below 3% of the raw inputs" /usr/bin/python3 - \
  "$WORK/run/capture.h5" "$WORK/model/config.json" <<'PY'
import json, os, sys
import h5py
path, cfg = sys.argv[1], json.load(open(sys.argv[2]))
h, i, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
with h5py.File(path, "r") as f:
    N = f["/tokens"].shape[0]
    assert N == 68 * 256, N
    assert "/teacher/logits" not in f and f["/teacher/topk_ids"].shape == (N, 16)
    names = []
    f.visit(names.append)
    # Layer 0 is patched, so no /hidden_in; no raw inputs, no full Gram.
    assert not [n for n in names if n == "hidden_in" or n.endswith("/inputs") or "full_gram" in n], names
b = 16
bins, qh, qi = b // 2 + 1, h // b, i // b
# Per layer: the packed Grams of both inputs, the cross terms of gate, up (i x h) and down
# (h x i), complex float64; sums and counts are a few bytes.
statistics = L * bins * 16 * (qh * (qh + 1) // 2 + qi * (qi + 1) // 2 + 3 * qh * qi)
per_token = 4 + 16 * (4 + 4) + 4  # token id, top-k ids and logits, log-sum-exp
predicted = statistics + N * per_token
raw = N * L * (h + i) * 4
size = os.path.getsize(path)
print(f"capture.h5 {size:,} bytes = {100 * size / raw:.2f}% of the raw inputs ({raw:,} bytes); "
      f"formula {predicted:,} (statistics {statistics:,})")
assert size <= predicted + (1 << 20), (size, predicted)
assert size <= 0.03 * raw, (size, raw)
PY
