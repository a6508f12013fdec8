#!/usr/bin/env bash
# The whole pipeline on the tiny config: 1 rank vs 2 ranks give the same capture and the
# same metrics; a rerun skips every stage (also when the weight-hash cache is corrupt); a new block size reruns project onwards only; a
# corrupted project.h5 is refused by a single stage and recomputed by run.
source "$(dirname "$0")/common.bash"
CONFIG="$CIRCAL_SOURCE_DIR/config/tiny.yaml"

circal_np 1 run --config "$CONFIG" --run-dir "$WORK/r1" > "$WORK/r1.log" 2>&1 || { cat "$WORK/r1.log"; exit 1; }
circal_np 2 run --config "$CONFIG" --run-dir "$WORK/r2" > "$WORK/r2.log" 2>&1 || { cat "$WORK/r2.log"; exit 1; }
check "capture at 2 ranks equals capture at 1 rank" same_datasets "$WORK/r1/capture.h5" "$WORK/r2/capture.h5"
check "metrics.json at 1 and 2 ranks agree to 1e-6" same_metrics "$WORK/r1/metrics.json" "$WORK/r2/metrics.json"

check "calibrated test KL is below least squares, least squares not above frobenius" python3 - "$WORK/r1/metrics.json" <<'PY'
import json, sys
kl = {name: s["kl"]["mean"] for name, s in json.load(open(sys.argv[1]))["students"].items()}
print(kl)
assert kl["dense"] == 0.0
assert kl["calibrated"] < kl["least_squares"] <= kl["frobenius"], kl
PY

circal_np 2 run --config "$CONFIG" --run-dir "$WORK/r2" > "$WORK/again.log" 2>&1
check "a second run skips every stage" test "$(grep -c 'up to date, skipped' "$WORK/again.log")" -eq 4
check "the run directory caches the weight-file hashes" grep -q '"content_hash"' "$WORK/r2/weight_hashes.json"
printf '{"format": "circal file hashes 1", "hash": "xxh3-64", "files": [{"dev' > "$WORK/r2/weight_hashes.json"
circal_np 2 run --config "$CONFIG" --run-dir "$WORK/r2" > "$WORK/cache.log" 2>&1 || { cat "$WORK/cache.log"; exit 1; }
check "a corrupt hash cache is hashed anew: the same hash, every stage skipped" \
  test "$(grep -c 'up to date, skipped' "$WORK/cache.log")" -eq 4
check "and the cache is written whole again" python3 -c "import json; json.load(open('$WORK/r2/weight_hashes.json'))['files'][0]['content_hash']"

circal_np 2 run --config "$CONFIG" --run-dir "$WORK/r2" --set project.block_size=32 > "$WORK/b32.log" 2>&1
check "block size 32 keeps capture" grep -q 'capture: up to date, skipped' "$WORK/b32.log"
check "block size 32 reruns project" grep -q 'project: running' "$WORK/b32.log"
check "block size 32 reruns evaluate" grep -q 'evaluate: running' "$WORK/b32.log"

cp "$WORK/r2/project.h5" "$WORK/b32_project.h5"
printf 'garbage' > "$WORK/r2/project.h5"
set +e
circal_np 1 evaluate --force --config "$CONFIG" --run-dir "$WORK/r2" --set project.block_size=32 > "$WORK/bad.log" 2>&1
code=$?
set -e
check "evaluate refuses a corrupted project.h5 with exit 4" test "$code" -eq 4
check "the error names project.h5" grep -q 'project.h5' "$WORK/bad.log"
circal_np 2 run --config "$CONFIG" --run-dir "$WORK/r2" --set project.block_size=32 > "$WORK/fix.log" 2>&1 || { cat "$WORK/fix.log"; exit 1; }
check "run recomputes the corrupted project.h5" grep -q 'project: running' "$WORK/fix.log"
check "and the stages after it" grep -q 'evaluate: running' "$WORK/fix.log"
check "the recomputed project.h5 equals the first one" same_datasets "$WORK/r2/project.h5" "$WORK/b32_project.h5"
