#!/usr/bin/env bash
# Calibration resume: an uninterrupted calibration and one killed with kill -9 mid-way (after
# a checkpoint) and rerun give bitwise identical calibrate.h5 datasets at the same rank count;
# SIGUSR1 stops with exit 75 and a checkpoint, and the rerun finishes identically too; 1 rank
# and 2 ranks give the same bits.
source "$(dirname "$0")/common.bash"
CONFIG="$CIRCAL_SOURCE_DIR/config/tiny.yaml"
SETS=(--set calibrate.steps=16 --set calibrate.checkpoint_every=3 --set calibrate.eval_every=4
      --set calibrate.log_every=1 --set calibrate.patience=0)

run_or_show() {  # run_or_show LOG NP ARGS...
  local log=$1; shift
  circal_np "$@" > "$log" 2>&1 || { cat "$log"; exit 1; }
}

# Capture and project once; the other run directories start from copies of them.
run_or_show "$WORK/prep.log" 2 capture --config "$CONFIG" --run-dir "$WORK/a" "${SETS[@]}"
run_or_show "$WORK/prep2.log" 2 project --config "$CONFIG" --run-dir "$WORK/a" "${SETS[@]}"
for d in b c d; do mkdir -p "$WORK/$d" && cp "$WORK/a/capture.h5" "$WORK/a/project.h5" "$WORK/$d/"; done

run_or_show "$WORK/a.log" 2 calibrate --config "$CONFIG" --run-dir "$WORK/a" "${SETS[@]}"
check "uninterrupted calibration wrote calibrate.h5" test -f "$WORK/a/calibrate.h5"
check "the log has one JSON line per step" test "$(grep -c '"loss"' "$WORK/a/calibrate/log.jsonl")" -eq 16

# kill -9 the whole job once the log shows step K (after at least one checkpoint).
K=$((7 + RANDOM % 6))
bash -c "cd '$CIRCAL_SOURCE_DIR' && exec mpirun -np 2 '$CIRCAL_BIN' calibrate --config '$CONFIG' \
  --run-dir '$WORK/b' ${SETS[*]}" > "$WORK/b1.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do
  grep -q "\"step\":$K," "$WORK/b/calibrate/log.jsonl" 2>/dev/null && break
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
# Open MPI puts the ranks in process groups of their own: kill the whole tree at once.
tree() { local p; for p in $(ps -o pid= --ppid "$1"); do tree "$p"; done; echo "$1"; }
victims=$(tree "$job")
kill -9 $victims 2>/dev/null || true
wait "$job" 2>/dev/null || true
for _ in $(seq 1 150); do ps -p "${victims//$'\n'/,}" > /dev/null || break; sleep 0.2; done
check "the killed run stopped before the end (step $K)" test ! -f "$WORK/b/calibrate.h5"
run_or_show "$WORK/b2.log" 2 calibrate --config "$CONFIG" --run-dir "$WORK/b" "${SETS[@]}"
check "the rerun resumed from a checkpoint" grep -q 'resuming after step' "$WORK/b2.log"
check "kill -9 at step $K and resume: calibrate.h5 bitwise equal" same_datasets "$WORK/a/calibrate.h5" "$WORK/b/calibrate.h5"
check "the resumed log holds each step once" test "$(grep -c '"loss"' "$WORK/b/calibrate/log.jsonl")" -eq 16

# SIGUSR1 (what Slurm sends before the time limit): exit 75 with a checkpoint, then finish.
(cd "$CIRCAL_SOURCE_DIR" && exec mpirun -np 2 "$CIRCAL_BIN" calibrate --config "$CONFIG" \
  --run-dir "$WORK/d" "${SETS[@]}") > "$WORK/d1.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do
  grep -q '"step":5,' "$WORK/d/calibrate/log.jsonl" 2>/dev/null && break
  sleep 0.1
done
kill -USR1 "$job"
set +e; wait "$job"; code=$?; set -e
check "SIGUSR1 stops calibration with exit 75 (got $code)" test "$code" -eq 75
check "the stop message names the checkpoint" grep -q 'checkpoint written to .*step-0000' "$WORK/d1.log"
run_or_show "$WORK/d2.log" 2 calibrate --config "$CONFIG" --run-dir "$WORK/d" "${SETS[@]}"
check "SIGUSR1 and resume: calibrate.h5 bitwise equal" same_datasets "$WORK/a/calibrate.h5" "$WORK/d/calibrate.h5"

# Another rank count: the reduction is exact (pipeline/runtime/exact_sum.hpp), so the bits agree too.
run_or_show "$WORK/c.log" 1 calibrate --config "$CONFIG" --run-dir "$WORK/c" "${SETS[@]}"
check "1 vs 2 ranks: calibrate.h5 bitwise equal" same_datasets "$WORK/a/calibrate.h5" "$WORK/c/calibrate.h5"
