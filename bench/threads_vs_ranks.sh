#!/bin/bash
# Ranks x threads at the 1.1B shape (bench/SCALE.md, "Threads per rank"): 1x1, 1x2 and 2x1 in
# turn, ROUNDS times: a capture of 3 + 1 corpus windows ("done in") and 3 calibration steps
# (median step). Needs build/circal and build/synth/tinyllama-1.1b (make bench-scale writes it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/circal-threads.XXXXXX)
trap 'rm -rf "$work"' EXIT
CAPTURE=(--config config/scale.yaml --set data.calibration_windows=3 --set data.validation_windows=1)
CALIBRATE=(--set model.path=build/synth/tinyllama-1.1b --set project.block_size=64 --set patch.layers=all --steps 3)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for mode in "1 1" "1 2" "2 1"; do
    read -r R T <<<"$mode"
    rm -rf "$work/capture"
    line=$(OPENBLAS_NUM_THREADS=$T mpirun -np "$R" build/circal capture "${CAPTURE[@]}" --set run_dir="$work/capture" \
             --set runtime.threads="$T" 2>&1 | grep "done in")
    echo "round $round capture ${R}x${T}: $line"
  done
  for mode in "1 1" "1 2" "2 1"; do
    read -r R T <<<"$mode"
    OPENBLAS_NUM_THREADS=$T mpirun -np "$R" build/circal bench calibrate "${CALIBRATE[@]}" --set runtime.threads="$T" \
      --run-dir "$work/calibrate" --json "$work/steps.jsonl" >"$work/calibrate.log" 2>&1
    tail -1 "$work/steps.jsonl" | /usr/bin/python3 -c "import json, sys; d = json.load(sys.stdin); \
print('round $round calibrate ${R}x${T}: median step ms', round(d['step_ms_median']), 'first loss', d['losses'][0])"
  done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
