#!/usr/bin/env bash
# model.resident_dtype on a BF16 checkpoint (bench/make_synthetic_checkpoint.py, tiny-test
# shape, in shards): the whole pipeline with the teacher's matrices kept BF16 (file, converted a
# matrix at a time before each GEMM) gives bitwise the outputs of the float32 teacher, at 1 and
# 2 ranks: capture.h5 (teacher logits and statistics), project.h5, calibrate.h5 (the parameters
# after the calibration steps) and evaluate.h5 / metrics.json. The log says which was chosen.
source "$(dirname "$0")/common.bash"
need_python_modules numpy h5py
/usr/bin/python3 "$CIRCAL_SOURCE_DIR/bench/make_synthetic_checkpoint.py" --shape tiny-test --seed 3 \
  --shard-gb 0.0005 --out "$WORK/model" > "$WORK/make.log"
ARGS=(--config "$CIRCAL_SOURCE_DIR/config/tiny.yaml" --set model.path="$WORK/model" --set "patch.layers=[0, 1]"
      --set data.source=corpus --set data.window_tokens=32 --set data.calibration_windows=8
      --set data.validation_windows=2 --set data.test_windows=4 --set calibrate.steps=4
      --set calibrate.eval_every=2 --set calibrate.checkpoint_every=2 --set evaluate.generate_tokens=0)

for np in 1 2; do
  for dtype in float32 file; do
    circal_np $np run "${ARGS[@]}" --set model.resident_dtype=$dtype --run-dir "$WORK/$dtype$np" \
      > "$WORK/$dtype$np.log" 2>&1 || { cat "$WORK/$dtype$np.log"; exit 1; }
  done
  check "np $np: the log names the residency" bash -c "
    grep -q '^teacher matrices resident as float32 (set by model.resident_dtype)' '$WORK/float32$np.log' &&
    grep -q '^teacher matrices resident as file (BF16, .* a node) (set by model.resident_dtype)' '$WORK/file$np.log'"
  for stage in capture project calibrate evaluate; do
    check "np $np: $stage.h5 bitwise the same with the teacher kept BF16" \
      same_datasets "$WORK/float32$np/$stage.h5" "$WORK/file$np/$stage.h5"
  done
  check "np $np: metrics.json bitwise the same" cmp "$WORK/float32$np/metrics.json" "$WORK/file$np/metrics.json"
done
check "the runs calibrated: the student moved from its projection" /usr/bin/python3 - "$WORK/file2/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["students"]
assert m["calibrated"]["kl"]["mean"] != m["least_squares"]["kl"]["mean"], m["calibrated"]["kl"]
PY
