#!/usr/bin/env bash
# project.block_size auto (docs/DESIGN.md 3.1): a block size for each patched matrix, chosen by
# the sampled-target proxy under project.compression, through every stage.
# - `circal run` at 1, 2 and 4 ranks: capture.h5, project.h5, calibrate.h5 and evaluate.h5 hold
#   bitwise the same datasets, metrics.json the same values;
# - the allocation in project.h5 spends at most the budget (sum m n / compression), keeps some
#   matrix dense (b = 1, predicted loss 0: the teacher's matrix, out of the student) and mixes
#   block sizes; the student's parameters are the chosen circulants'; metrics.json, report.md and plots/block_sizes.png show
#   the chosen b of every matrix; calibration lowers the test KL below least squares;
# - refusals, exit 2, one line naming the key: a compression below 1, auto with a low-rank
#   structure, auto with project.down_inputs student;
# - a sweep over project.compression plans one projection per budget.
# export_torch.sh runs an allocated student through modeling_circal.py.
source "$(dirname "$0")/common.bash"
need_python_modules numpy h5py
source "$(dirname "$0")/micro.bash"
work=$WORK
micro_setup "$work"
command -v gnuplot > /dev/null || { unavailable "gnuplot not found" "apt-get install gnuplot-nox, or make deps" || exit 0; }

auto=(--set patch.layers=all --set "capture.block_sizes=[4, 16, 64]" --set project.block_size=auto
      --set project.compression=3 --set calibrate.steps=4 --set calibrate.group_prompts=2)
for ranks in 1 2 4; do
  dir=$work/np$ranks
  circal_np "$ranks" run --config "$work/micro.yaml" --run-dir "$dir" "${auto[@]}" > "$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
done
grep "project: block sizes" "$work/np1.log"
for ranks in 2 4; do
  for f in capture.h5 project.h5 calibrate.h5 evaluate.h5; do
    check "$f at $ranks ranks = at 1 rank" same_datasets "$work/np1/$f" "$work/np$ranks/$f"
  done
  check "metrics.json at $ranks ranks = at 1 rank" same_metrics "$work/np1/metrics.json" "$work/np$ranks/metrics.json"
done

/usr/bin/python3 - "$work/np1" <<'PY'
import json, math, sys
import h5py
import numpy as np

run = sys.argv[1]
with h5py.File(f"{run}/project.h5") as f:
    a = f["allocation"]
    candidates = list(a["candidates"][()])
    chosen = list(a["block_size"][()])
    predicted, parameters = a["predicted_kl"][()], a["parameters"][()]
    budget, spent = int(a.attrs["budget"]), int(a.attrs["allocated_parameters"])
    student = int(f.attrs["mlp_params_student"])
assert candidates == [1, 4, 16, 64], candidates
dense = int(parameters[:, 0].sum())  # b = 1 costs m n
assert budget == math.floor(dense / 3), (budget, dense)
taken = [int(parameters[i, candidates.index(b)]) for i, b in enumerate(chosen)]
assert sum(taken) == spent <= budget, (sum(taken), spent, budget)
# The kept matrices are the teacher's: the student's own parameters are the rest.
assert student == spent - sum(t for t, b in zip(taken, chosen) if b == 1), (student, spent)
assert 1 in chosen and len(set(chosen)) >= 2, chosen
assert all(predicted[:, 0] == 0) and np.all(predicted[:, 1:] > 0), predicted
print(f"allocation: block sizes {chosen}, {spent} of {budget} parameters")
metrics = json.load(open(f"{run}/metrics.json"))
listed = [m["block_size"] for m in metrics["compression"]["block_sizes"]]
assert metrics["compression"]["allocated"] and listed == chosen, (listed, chosen)
kl = {name: s["kl"]["mean"] for name, s in metrics["students"].items()}
assert kl["calibrated"] < kl["least_squares"], kl
print(f"test KL: least squares {kl['least_squares']:.4f}, calibrated {kl['calibrated']:.4f}")
PY
check "report.md lists the block sizes" grep -q "Block size of each patched matrix" "$work/np1/report.md"
check "the heatmap is drawn" test -s "$work/np1/plots/block_sizes.png"

# refused NAME MESSAGE ARGS...: exit 2, one line naming MESSAGE, nothing written.
refused() {
  local name=$1 message=$2 code=0
  shift 2
  (cd "$CIRCAL_SOURCE_DIR" && "$CIRCAL_BIN" run --config "$work/micro.yaml" --run-dir "$work/$name" "$@") > "$work/$name.msg" 2>&1 || code=$?
  cat "$work/$name.msg"
  check "$name: exit 2 (got $code)" test "$code" = 2
  check "$name: says $message" grep -qF "$message" "$work/$name.msg"
  check "$name: one line" test "$(wc -l < "$work/$name.msg")" = 1
  check "$name: nothing written" test ! -e "$work/$name/project.h5"
}
refused compression "project.compression" --set project.block_size=auto --set project.compression=0.5
refused lowrank "project.structure is lowrank" --set project.block_size=auto --set project.structure=lowrank
refused down_inputs "project.down_inputs: student is not supported" --set project.block_size=auto --set project.down_inputs=student

cat > "$work/sweep.yaml" <<YAML
extends: $work/micro.yaml
run_dir: $work/sweep
project:
  block_size: auto
sweep:
  project.compression: [4, 8]
YAML
(cd "$CIRCAL_SOURCE_DIR" && "$CIRCAL_BIN" sweep --config "$work/sweep.yaml" --dry-run) > "$work/sweep.sh"
check "a sweep over the budget: two points" grep -q "2 points" "$work/sweep.sh"
check "one projection per budget" grep -q -- "--array=0-1" "$work/sweep.sh"
