#!/usr/bin/env bash
# A sweep cannot fail halfway on something one stage needs of another (the rules live in
# pipeline/config/capture_requirements.hpp), on grids the other sweep tests do not use:
#  - a swept block size missing from an explicit capture.block_sizes: the planner extends the
#    capture, says so, and every point completes (--local);
#  - project.structure [circulant, lowrank] with capture.full_gram false: refused at plan time,
#    exit 2, nothing written;
#  - a grid over keys of every stage with capture.logits_format topk and a temperature other
#    than 1: refused at plan time naming the point, the key and the fix;
#  - `circal run` whose capture cannot serve its projection stops before capture;
#  - a job that fails under jobs/circal.sbatch names circal's own error line, not mpirun's banner.
source "$(dirname "$0")/common.bash"
SWEEP="$WORK/sweep"
tiny=(--config config/sweep-tiny.yaml --set sweep.calibrate.lr=[3.0e-3])

rc=0
circal_np 2 sweep "${tiny[@]}" --set capture.block_sizes=[16,32] --set sweep.project.block_size=[8,32] \
  --local --sweep-dir "$SWEEP" >"$WORK/a.log" 2>&1 || rc=$?
check "grid with block size 8 outside capture.block_sizes completes" test "$rc" -eq 0
check "the plan says the capture was extended" grep -qF 'capture.block_sizes [16, 32] extended to [16, 32, 8]' "$WORK/a.log"
check "both points finished" test "$(tail -n +2 "$SWEEP/report.csv" | cut -d, -f5 | sort -u)" = ok
check "report.csv has 2 rows" test "$(tail -n +2 "$SWEEP/report.csv" | wc -l)" -eq 2

rc=0
circal_np 2 sweep "${tiny[@]}" --set capture.full_gram=false --set sweep.project.structure=[circulant,lowrank] \
  --local --sweep-dir "$WORK/b" >"$WORK/b.log" 2>&1 || rc=$?
check "lowrank without full Grams: exit 2 at plan time" test "$rc" -eq 2
check "the refusal names point, key and fix" grep -qE \
  'sweep: point [^ ]*structure-lowrank: project.structure: lowrank is fitted from the full input Gram \(capture.full_gram false\); set capture.full_gram to auto or true' \
  "$WORK/b.log"
check "nothing written" test ! -e "$WORK/b"

rc=0
circal_np 2 sweep "${tiny[@]}" --set capture.logits_format=topk --set sweep.project.block_size=[16] \
  --set sweep.calibrate.temperature=[1,2] --set sweep.evaluate.generate_tokens=[0,2] \
  --local --sweep-dir "$WORK/c" >"$WORK/c.log" 2>&1 || rc=$?
check "a temperature with top-k logits: exit 2 at plan time" test "$rc" -eq 2
check "the refusal names the temperature and the fix" \
  grep -qE 'sweep: point [^ ]*temperature-2[^ ]*: calibrate.temperature: .*set capture.logits_format to full' "$WORK/c.log"
check "nothing written" test ! -e "$WORK/c"

rc=0
circal_np 2 run --config config/tiny.yaml --set run_dir="$WORK/run" --set project.block_size=8 >"$WORK/run.log" 2>&1 || rc=$?
check "circal run that capture cannot serve: exit 2" test "$rc" -eq 2
check "it names project.block_size" grep -qE 'circal: error: (\[rank [0-9]+\] )?config: project.block_size: 8 has no projection statistics' "$WORK/run.log"
check "it stopped before capture" test ! -e "$WORK/run/capture.h5"

# A project job without its capture fails (exit 4); error.txt must carry circal's line.
mkdir -p "$WORK/job"
rc=0
(cd "$CIRCAL_SOURCE_DIR" && SLURM_NTASKS=2 CIRCAL_COMMAND=project CIRCAL_BIN="$CIRCAL_BIN" \
  bash jobs/circal.sbatch config/tiny.yaml run_dir="$WORK/job/run" >"$WORK/job/out" 2>&1) || rc=$?
check "the failed job exits 4" test "$rc" -eq 4
check "error.txt names circal's error" grep -qE '^circal project exited with code 4 \(job none\): circal: error: .*capture.h5' \
  "$WORK/job/run/error.txt"
