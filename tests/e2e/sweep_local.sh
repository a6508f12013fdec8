#!/usr/bin/env bash
# A 2 x 2 sweep (config/sweep-tiny.yaml) run with --local: the report has 4 rows, capture ran
# once and projection once per block size, every point links the shared outputs; a rerun with
# an extra, invalid learning rate redoes nothing and reports that point as failed.
source "$(dirname "$0")/common.bash"
SWEEP="$WORK/sweep"

circal_np 2 sweep --config config/sweep-tiny.yaml --local --sweep-dir "$SWEEP" > "$WORK/sweep.log" 2>&1 ||
  { cat "$WORK/sweep.log"; exit 1; }
rows() { tail -n +2 "$SWEEP/report.csv" | wc -l; }
check "report.csv has 4 rows" test "$(rows)" -eq 4
check "every point finished" test "$(tail -n +2 "$SWEEP/report.csv" | cut -d, -f5 | sort -u)" = ok
check "capture ran exactly once" test "$(grep -c '^capture: running' "$WORK/sweep.log")" -eq 1
check "projection ran once per block size" test "$(grep -c '^project: running' "$WORK/sweep.log")" -eq 2
check "calibration ran once per point" test "$(grep -c '^calibrate: running' "$WORK/sweep.log")" -eq 4
check "points reuse the shared capture" test "$(grep -c '^capture: up to date, skipped' "$WORK/sweep.log")" -eq 4
for point in "$SWEEP"/points/*/; do
  check "$(basename "$point") links the shared capture" test "$(readlink -f "$point/capture.h5")" = "$SWEEP/capture/capture.h5"
  check "$(basename "$point") has metrics.json" test -s "$point/metrics.json"
  check "$(basename "$point") is newer than its projection" test "$point/metrics.json" -nt "$(readlink -f "$point/project.h5")"
done
check "projections are newer than the capture" test "$SWEEP/project/block_size-32/project.h5" -nt "$SWEEP/capture/capture.h5"
check "one best lr per block size" test "$(awk -F, 'NR > 1 && $16 == 1 {print $3}' "$SWEEP/report.csv" | sort | tr '\n' ' ')" = "16 32 "
check "report.csv numbers equal metrics.json" python3 - "$SWEEP" <<'PY'
import csv, json, sys
for row in csv.DictReader(open(sys.argv[1] + "/report.csv")):
    m = json.load(open(f"{sys.argv[1]}/points/{row['point']}/metrics.json"))
    s = m["students"][row["student"]]
    assert abs(float(row["kl_mean"]) - s["kl"]["mean"]) <= 1e-5 * max(1, s["kl"]["mean"]), row
    assert abs(float(row["compression_ratio"]) - m["compression"]["ratio"]) <= 1e-5 * m["compression"]["ratio"], row
    assert int(row["calibration_steps"]) > 0, row
PY
check "report.md names every point" test "$(grep -c '^| block_size-' "$SWEEP/report.md")" -eq 4
if command -v gnuplot > /dev/null; then
  check "KL vs compression plot" test -s "$SWEEP/plots/kl_vs_compression.png"
  check "loss curves plot" test -s "$SWEEP/plots/loss_curves.png"
fi

circal_np 2 sweep --config config/sweep-tiny.yaml --local --sweep-dir "$SWEEP" \
  --set 'sweep.calibrate.lr=[1.0e-3, 3.0e-3, -1]' > "$WORK/again.log" 2>&1 || { cat "$WORK/again.log"; exit 1; }
check "a rerun computes nothing again" test "$(grep -c ': running' "$WORK/again.log")" -eq 0
check "report.csv has a row per point, 6 with the invalid lr" test "$(rows)" -eq 6
check "the invalid points fail alone, naming the key" test "$(grep -c ',failed,.*calibrate.lr' "$SWEEP/report.csv")" -eq 2
check "report.md lists the failures" grep -q '^## Failed points (2)' "$SWEEP/report.md"
