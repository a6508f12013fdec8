#!/usr/bin/env bash
# The tiny pipeline with low-rank students (project.structure: lowrank): project writes U and
# V, calibrate trains them, evaluate reports lowrank_svd / lowrank_aware / lowrank_calibrated
# with the structure and parameter counts; 1 and 2 ranks agree (bitwise resume of the low-rank
# calibration is tests/mpi/calibrate_ranks.cpp's).
source "$(dirname "$0")/common.bash"
CONFIG="$CIRCAL_SOURCE_DIR/config/tiny.yaml"
LOWRANK=(--set project.structure=lowrank)

circal_np 1 run --config "$CONFIG" "${LOWRANK[@]}" --run-dir "$WORK/r1" > "$WORK/r1.log" 2>&1 || { cat "$WORK/r1.log"; exit 1; }
circal_np 2 run --config "$CONFIG" "${LOWRANK[@]}" --run-dir "$WORK/r2" --set 'evaluate.students=[dense, zeroed, lowrank_svd, lowrank_aware, lowrank_calibrated, calibrated]' > "$WORK/r2.log" 2>&1 || { cat "$WORK/r2.log"; exit 1; }
check "project.h5 (low-rank factors dealt over the ranks) at 2 ranks equals 1 rank" \
  same_datasets "$WORK/r1/project.h5" "$WORK/r2/project.h5"
check "metrics.json at 1 and 2 ranks agree to 1e-6" same_metrics "$WORK/r1/metrics.json" "$WORK/r2/metrics.json"
check "calibrated low rank beats aware, aware not above truncated SVD; counts stated" python3 - "$WORK/r1/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
kl = {name: s["kl"]["mean"] for name, s in m["students"].items()}
print(kl, m["compression"])
assert set(kl) == {"dense", "zeroed", "lowrank_svd", "lowrank_aware", "lowrank_calibrated"}, kl
assert kl["lowrank_calibrated"] < kl["lowrank_aware"] <= kl["lowrank_svd"], kl
c = m["compression"]
assert c["structure"] == "lowrank", c
# 256 x 768 at b 16: rank 12, exactly the circulant's count
assert c["mlp_params_student"] == c["mlp_params_circulant"], c
PY
check "project.h5 holds U [m, r] and V [r, n]" bash -c "h5ls '$WORK/r1/project.h5/layers/2/gate_proj' | grep -Eq '^U +Dataset \{768, 12\}' &&
  h5ls '$WORK/r1/project.h5/layers/2/gate_proj' | grep -Eq '^V +Dataset \{12, 256\}'"
check "report.md states the structure" grep -q 'MLP parameters, lowrank' "$WORK/r1/report.md"
check "the default students are the run's own: none skipped" bash -c "! grep -q 'skipped (' '$WORK/r1.log'"
check "a circulant student listed in a low-rank run is skipped, saying why" bash -c "grep -q 'student calibrated skipped (project.structure is lowrank' '$WORK/r2.log'"
