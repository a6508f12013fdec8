#!/usr/bin/env bash
# The tiny pipeline on corpus windows of the committed corpus (data.source = corpus): capture
# holds exactly the calibration and validation windows (BOS first, window_tokens each), 1 and 2
# ranks agree, evaluate breaks the test windows down by corpus file and language; a change of
# the test count re-runs evaluate only, one of the window length re-runs capture;
# data.test_source = prompts evaluates the same students on the seed-prompt test split.
source "$(dirname "$0")/common.bash"
need_python_modules h5py numpy
CONFIG="$CIRCAL_SOURCE_DIR/config/tiny.yaml"
WINDOWS=(--set data.source=corpus --set data.window_tokens=48 --set data.calibration_windows=24
         --set data.validation_windows=6 --set data.test_windows=8)

circal_np 1 run --config "$CONFIG" "${WINDOWS[@]}" --run-dir "$WORK/r1" > "$WORK/r1.log" 2>&1 || { cat "$WORK/r1.log"; exit 1; }
circal_np 2 run --config "$CONFIG" "${WINDOWS[@]}" --run-dir "$WORK/r2" > "$WORK/r2.log" 2>&1 || { cat "$WORK/r2.log"; exit 1; }
check "metrics.json at 1 and 2 ranks agree to 1e-6" same_metrics "$WORK/r1/metrics.json" "$WORK/r2/metrics.json"
check "capture holds 24 + 6 windows of 48 tokens, BOS first" /usr/bin/python3 - "$WORK/r1/capture.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
split, offsets, tokens = f["/prompts/split"][:], f["/prompts/offsets"][:], f["/tokens"][:]
assert list(split) == [0] * 24 + [1] * 6, split
assert list(np.diff(offsets)) == [48] * 30, offsets
assert all(tokens[o] == 1 for o in offsets[:-1]) and (tokens == 1).sum() == 30
PY
check "the test windows: 8 x 48 positions, broken down by corpus file and language" python3 - "$WORK/r1/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["test_prompts"] == 8, m["test_prompts"]
s = m["students"]["calibrated"]
assert s["positions"] == 8 * 48, s["positions"]
assert set(s["by_family"]) <= {"en.jsonl", "de.jsonl"} and s["by_family"], s["by_family"].keys()
assert set(s["by_language"]) <= {"EN", "DE"}, s["by_language"].keys()
assert s["kl"]["mean"] < m["students"]["zeroed"]["kl"]["mean"]
PY

circal_np 1 run --config "$CONFIG" "${WINDOWS[@]}" --set data.test_windows=6 --run-dir "$WORK/r1" > "$WORK/again.log" 2>&1 || { cat "$WORK/again.log"; exit 1; }
check "a new test count re-runs evaluate only" bash -c "grep -q 'capture: up to date' '$WORK/again.log' &&
  grep -q 'calibrate: up to date' '$WORK/again.log' && grep -q 'evaluate: running' '$WORK/again.log'"
circal_np 1 evaluate --config "$CONFIG" "${WINDOWS[@]}" --set data.test_windows=6 --set data.test_source=prompts \
  --run-dir "$WORK/r1" > "$WORK/prompts.log" 2>&1 || { cat "$WORK/prompts.log"; exit 1; }
check "data.test_source = prompts evaluates on the seed-prompt test split" python3 - "$WORK/r1/metrics.json" \
  "$CIRCAL_SOURCE_DIR/data/splits/test.txt" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
prompts = [l for l in open(sys.argv[2]) if l.strip()]
assert m["test_prompts"] == len(prompts), (m["test_prompts"], len(prompts))
PY
circal_np 1 run --config "$CONFIG" "${WINDOWS[@]}" --set data.window_tokens=40 --run-dir "$WORK/r1" > "$WORK/length.log" 2>&1 || { cat "$WORK/length.log"; exit 1; }
check "a new window length re-runs capture" grep -q 'capture: rerunning' "$WORK/length.log"
