#!/usr/bin/env bash
# capture stores projection statistics, not activations: capture.h5 is bit-identical at 1, 2
# and 4 ranks (statistics summed batch by batch in batch order), holds no raw MLP inputs
# unless capture.store_inputs, stays within the size the statistics formula predicts, and
# project (with the low-rank comparison, and with down_inputs = student, which reruns the
# forward) gives the same project.h5 at 1, 2 and 4 ranks. A run patching layer 0 calibrates
# from the embedding lookup of /tokens.
source "$(dirname "$0")/common.bash"
CONFIG="$CIRCAL_SOURCE_DIR/config/tiny.yaml"
SET=(--set "capture.block_sizes=[16, 32]" --set capture.batch_tokens=100 --set capture.full_gram=auto)

for np in 1 2 4; do
  circal_np $np capture --config "$CONFIG" --run-dir "$WORK/c$np" "${SET[@]}" > "$WORK/c$np.log" 2>&1 ||
    { cat "$WORK/c$np.log"; exit 1; }
done
check "capture.h5 at 2 ranks equals 1 rank" same_datasets "$WORK/c1/capture.h5" "$WORK/c2/capture.h5"
check "capture.h5 at 4 ranks equals 1 rank" same_datasets "$WORK/c1/capture.h5" "$WORK/c4/capture.h5"
check "capture.h5 holds statistics for both block sizes" \
  bash -c "h5ls -r '$WORK/c1/capture.h5' | grep -q '/statistics/b32/layers/3/down_proj/cross' &&
           h5ls -r '$WORK/c1/capture.h5' | grep -q '/statistics/b16/layers/2/gate_proj/gram'"
check "capture.h5 holds no raw MLP inputs" bash -c "! h5ls -r '$WORK/c1/capture.h5' | grep -q '/inputs '"

check "capture.h5 is no larger than the statistics formula predicts" python3 - "$WORK/c1/capture.h5" \
  "$CIRCAL_SOURCE_DIR/data/models/manpages-llama-5m/config.json" <<'PY'
import json, os, subprocess, sys
path, cfg = sys.argv[1], json.load(open(sys.argv[2]))
h, i, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
N = int(subprocess.check_output(["h5dump", "-H", "-d", "/tokens", path]).decode().split("( ")[1].split(" )")[0])
def stats(b, layers):
    bins, qh, qi = b // 2 + 1, h // b, i // b
    per_layer = bins * 16 * (qh * (qh + 1) // 2 + qi * (qi + 1) // 2 + 3 * qh * qi)
    return layers * per_layer
full_gram = 2 * 8 * (h * h + i * i)  # layers 2, 3 at widths <= 4096
per_token = 4 + 4 * V + 4 * h  # tokens, full logits, hidden state entering layer 2
predicted = stats(16, 2) + stats(32, 2) + full_gram + N * per_token
raw = N * 2 * (h + i) * 4
size = os.path.getsize(path)
print(f"capture.h5 {size} bytes, predicted at most {predicted} (+1 MiB metadata); raw inputs would add {raw}")
assert size <= predicted + (1 << 20), (size, predicted)
PY

circal_np 1 capture --config "$CONFIG" --run-dir "$WORK/raw" "${SET[@]}" --set capture.store_inputs=true > "$WORK/raw.log" 2>&1 ||
  { cat "$WORK/raw.log"; exit 1; }
check "capture.store_inputs keeps the raw inputs" bash -c "h5ls -r '$WORK/raw/capture.h5' | grep -q '/layers/2/down_proj/inputs'"

# project shares the matrices out (rank r solves r, r + R, ...): the file is the one-rank file.
# project_at_ranks NAME SETTING: project at 1, 2 and 4 ranks (logs NAME1..4), files compared.
project_at_ranks() {
  local name=$1 setting=$2 np
  for np in 1 2 4; do
    circal_np $np project --config "$CONFIG" --run-dir "$WORK/c$np" "${SET[@]}" --set "$setting" \
      > "$WORK/$name$np.log" 2>&1 || { cat "$WORK/$name$np.log"; exit 1; }
  done
  check "project ($setting) at 2 ranks equals 1 rank" same_datasets "$WORK/c1/project.h5" "$WORK/c2/project.h5"
  check "project ($setting) at 4 ranks equals 1 rank" same_datasets "$WORK/c1/project.h5" "$WORK/c4/project.h5"
}
project_at_ranks t project.compare_lowrank=true
check "and it holds the comparison" bash -c "h5ls -r '$WORK/c4/project.h5' | grep -q '/layers/3/down_proj/U_aware'"
check "every matrix logged once, in layout order" bash -c \
  "diff <(grep -o 'project: layer [0-9]* [a-z_]*' '$WORK/t1.log') <(grep -o 'project: layer [0-9]* [a-z_]*' '$WORK/t4.log')"
project_at_ranks p project.down_inputs=student
circal_np 2 project --config "$CONFIG" --run-dir "$WORK/c4" "${SET[@]}" --set project.block_size=32 > "$WORK/p32.log" 2>&1 ||
  { cat "$WORK/p32.log"; exit 1; }
check "one capture serves block size 32 too" grep -q 'b=32' "$WORK/p32.log"

set +e
circal_np 1 project --config "$CONFIG" --run-dir "$WORK/c4" --set "capture.block_sizes=[16]" > "$WORK/stale.log" 2>&1
code=$?
set -e
check "a capture made for other block sizes is refused" test "$code" -ne 0
check "naming capture.h5" grep -q 'capture.h5' "$WORK/stale.log"

circal_np 2 run --config "$CONFIG" --run-dir "$WORK/l0" --set "patch.layers=[0]" --set calibrate.steps=5 \
  --set evaluate.bootstrap_samples=10 --set evaluate.generate_tokens=0 > "$WORK/l0.log" 2>&1 || { cat "$WORK/l0.log"; exit 1; }
check "patching layer 0 stores no /hidden_in" bash -c "! h5ls '$WORK/l0/capture.h5' | grep -q hidden_in"
check "and calibrates from the embeddings" test -s "$WORK/l0/calibrate.h5"
