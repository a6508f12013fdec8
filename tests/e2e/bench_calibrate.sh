#!/usr/bin/env bash
# `circal bench calibrate` at 1 and 2 ranks on the tiny config: it prepares its own capture
# and projection, its timed pass reproduces the untimed one bit for bit, both rank counts give
# the same losses, so does a third process whose history differs from the first's (it did not
# capture and project before; with the default FFTW planner, whose plans do not depend on
# timing: under runtime.fftw_planner measure three such runs at the 1.1B shape gave three
# first-step losses), and bench/torch_calibrate_step.py (PyTorch autograd) computes the same
# first-step loss from the JSON line (without python3-torch/python3-h5py: a failure under CI=true,
# a skip otherwise). Timings are printed, never checked.
source "$(dirname "$0")/common.bash"
CONFIG="$CIRCAL_SOURCE_DIR/config/tiny.yaml"
for np in 1 2; do
  circal_np "$np" bench calibrate --config "$CONFIG" --run-dir "$WORK/run" --steps 3 \
    --json "$WORK/bench$np.jsonl" > "$WORK/bench$np.log" 2>&1 || { cat "$WORK/bench$np.log"; exit 1; }
  cat "$WORK/bench$np.log"
  check "$np rank(s): timed pass bitwise equal to the untimed one" grep -q 'bitwise equal' "$WORK/bench$np.log"
done
check "capture and project ran into the bench run directory" test -f "$WORK/run/project.h5"
losses() { python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["losses"])' "$1"; }
check "1 and 2 ranks: the same losses" test "$(losses "$WORK/bench1.jsonl")" = "$(losses "$WORK/bench2.jsonl")"
circal_np 1 bench calibrate --config "$CONFIG" --run-dir "$WORK/run" --steps 3 --json "$WORK/again.jsonl" \
  > "$WORK/again.log" 2>&1 || { cat "$WORK/again.log"; exit 1; }
check "a process that did not capture and project first: the same losses, bit for bit" \
  test "$(losses "$WORK/bench1.jsonl")" = "$(losses "$WORK/again.jsonl")"
if /usr/bin/python3 -c 'import torch, h5py' 2>/dev/null ||
   unavailable "PyTorch replay of the calibration step: python3-torch or python3-h5py missing" \
     "apt-get install python3-torch python3-h5py python3-numpy, or make deps"; then
  check "PyTorch's first-step loss equals circal's" \
    env -C "$CIRCAL_SOURCE_DIR" /usr/bin/python3 bench/torch_calibrate_step.py --circal "$WORK/bench2.jsonl" --modes padded
fi
