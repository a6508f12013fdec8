#!/usr/bin/env bash
# The whole pipeline on a synthetic checkpoint of the tiny-test shape (bench/make_synthetic_
# checkpoint.py: BF16 safetensors in several shards with model.safetensors.index.json, GQA
# 4:2): capture, project, calibrate, evaluate. At 2 ranks with the node-shared teacher and
# activation recomputation, and at 1 rank with a private teacher and no recomputation: the
# same capture and the same metrics (the parameters are the same bits at any rank count).
source "$(dirname "$0")/common.bash"
PY=/usr/bin/python3  # Debian's, with python3-numpy (make deps)
"$PY" -c 'import numpy' 2>/dev/null || { echo "FAILED: $PY has no numpy (make deps installs python3-numpy)"; exit 1; }

"$PY" "$CIRCAL_SOURCE_DIR/bench/make_synthetic_checkpoint.py" --shape tiny-test --seed 5 --shard-gb 0.0004 \
  --out "$WORK/model" > "$WORK/make.log"
check "the checkpoint is sharded" test "$(ls "$WORK/model"/model-*.safetensors | wc -l)" -gt 1
check "with an index" test -f "$WORK/model/model.safetensors.index.json"

src=$CIRCAL_SOURCE_DIR/data/splits
head -n 8 "$src/calibration.txt" > "$WORK/calibration.txt"
head -n 3 "$src/validation.txt" > "$WORK/validation.txt"
head -n 4 "$src/test.txt" > "$WORK/test.txt"
cat > "$WORK/synthetic.yaml" <<YAML
run_dir: $WORK/run
model:
  path: $WORK/model
prompts:
  calibration: $WORK/calibration.txt
  validation: $WORK/validation.txt
  test: $WORK/test.txt
capture:
  compression: 0
project:
  block_size: 16
calibrate:
  steps: 6
  batch_prompts: 4
  group_prompts: 2
  eval_every: 3
  checkpoint_every: 3
  warmup_steps: 1
  log_every: 1
evaluate:
  generate_tokens: 2
  bootstrap_samples: 20
runtime:
  fftw_planner: estimate
YAML
CFG=$WORK/synthetic.yaml

circal_np 2 run --config "$CFG" --run-dir "$WORK/r2" --set calibrate.recompute=on \
  > "$WORK/r2.log" 2>&1 || { cat "$WORK/r2.log"; exit 1; }
circal_np 1 run --config "$CFG" --run-dir "$WORK/r1" --set calibrate.recompute=off --set runtime.shared_weights=false \
  > "$WORK/r1.log" 2>&1 || { cat "$WORK/r1.log"; exit 1; }
for f in capture.h5 project.h5 calibrate.h5 evaluate.h5 metrics.json; do
  check "2 ranks wrote $f" test -s "$WORK/r2/$f"
done
check "capture: 2 ranks, shared teacher = 1 rank, private teacher" same_datasets "$WORK/r1/capture.h5" "$WORK/r2/capture.h5"
check "calibrate: recomputed = stored activations, 2 ranks = 1 rank" same_datasets "$WORK/r1/calibrate.h5" "$WORK/r2/calibrate.h5"
check "metrics.json at 1 and 2 ranks agree to 1e-6" same_metrics "$WORK/r1/metrics.json" "$WORK/r2/metrics.json"
check "the teacher is the synthetic one: 2 layers x 3 matrices patched" python3 - "$WORK/r2/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
kl = {name: s["kl"]["mean"] for name, s in m["students"].items()}
print(kl)
assert kl["dense"] == 0.0
assert kl["calibrated"] <= kl["least_squares"] * 1.0001, kl
assert kl["zeroed"] > kl["least_squares"], kl
PY
