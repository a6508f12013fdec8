#!/usr/bin/env bash
# Calibration memory per rank does not grow with the number of calibration windows: calibrate
# reads each window's teacher rows from capture.h5 on use and keeps at most
# calibrate.data_budget_mb of them. The peak RSS of every rank (the kernel's high-water mark,
# read by the parent through getrusage, so no sampling can miss a peak) at 32 and at 128 windows
# of 64 tokens may differ by no more than what is allowed to scale with the window count (the
# prompt offsets and per-window bookkeeping, a few hundred bytes a window) plus 8 MiB of
# allocator slack. A control run at 128 windows with a budget that holds everything must grow
# by most of the 96 extra windows' rows, so the measurement can see what it guards against.
source "$(dirname "$0")/common.bash"
need_python_modules numpy
CONFIG=$CIRCAL_SOURCE_DIR/config/corpus.yaml
# 8 steps of 16 windows visit all 128 windows once (and the 32 four times).
SET=(--set data.window_tokens=64 --set data.validation_windows=4 --set data.test_windows=1
     --set calibrate.steps=8 --set calibrate.eval_every=8 --set calibrate.warmup_steps=1
     --set calibrate.checkpoint_every=8 --set calibrate.log_every=8 --set runtime.fftw_planner=estimate)

# prepare NAME WINDOWS: capture and project into $WORK/NAME.
prepare() {
  circal_np 2 capture --config "$CONFIG" "${SET[@]}" --set data.calibration_windows="$2" --run-dir "$WORK/$1" \
    > "$WORK/$1.log" 2>&1 && circal_np 2 project --config "$CONFIG" "${SET[@]}" --set data.calibration_windows="$2" \
    --run-dir "$WORK/$1" >> "$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log"; exit 1; }
}
# peak_rss NAME WINDOWS BUDGET_MB: calibrate in $WORK/NAME with every rank under a python
# parent that writes the rank's peak RSS in bytes to $WORK/NAME.rank<r>.
peak_rss() {
  (cd "$CIRCAL_SOURCE_DIR" && mpirun -np 2 /usr/bin/python3 -c '
import os, resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1] + ".rank" + os.environ["OMPI_COMM_WORLD_RANK"], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024))
sys.exit(code)' "$WORK/$1" "$CIRCAL_BIN" calibrate --config "$CONFIG" "${SET[@]}" --set data.calibration_windows="$2" \
    --set calibrate.data_budget_mb="$3" --run-dir "$WORK/$1") >> "$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log"; exit 1; }
}
prepare few 32
prepare many 128
mkdir "$WORK/control"
cp "$WORK/many/capture.h5" "$WORK/many/project.h5" "$WORK/control/"
peak_rss few 32 4
peak_rss many 128 4
peak_rss control 128 1024

check "peak RSS per rank at 128 windows within the allowed growth over 32 windows" /usr/bin/python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
peak = {n: [int(open(f"{work}/{n}.rank{r}").read()) for r in (0, 1)] for n in ("few", "many", "control")}
tokens, vocab = 64, 4096
allowed = (128 - 32) * (512 + 8 * tokens) + (8 << 20)  # bookkeeping and offsets a window, slack
rows = (128 - 32) * tokens * vocab * 4                  # the extra windows' teacher probabilities
for r in (0, 1):
    growth, control = peak["many"][r] - peak["few"][r], peak["control"][r] - peak["few"][r]
    print(f"rank {r}: peak RSS {peak['few'][r] >> 20} MiB at 32 windows, {peak['many'][r] >> 20} MiB at 128 "
          f"(growth {growth / 2**20:.1f} MiB, allowed {allowed / 2**20:.1f}); "
          f"unbudgeted {peak['control'][r] >> 20} MiB (growth {control / 2**20:.1f} MiB of {rows / 2**20:.0f})")
    assert growth <= allowed, (r, growth, allowed)
    assert control >= rows / 2, (r, control, rows)
PY
