#!/usr/bin/env bash
# The 2 x 2 sweep (config/sweep-tiny.yaml, on 24/8/8 of the prompts) with cluster.nodes 2 on two virtual Slurm nodes
# (jobs/slurm-local.sh up DIR --nodes 2): every job COMPLETED, the calibrate+evaluate points ran
# on n1 and n2 at once, and report.csv equals that of the same sweep on one node (mpirun -np 2
# --local) in every column but calibration_seconds.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/slurm_nodes.bash"
require_slurm_nodes

on_failure() {
  local log
  for log in "$WORK"/nodes/logs/*.out; do
    [ -f "$log" ] && { echo "== $log"; grep -v '^calibrate: step' "$log" | tail -n 15; }
  done
}

small_prompts
mapfile -t prompt_sets < <(sets "${PROMPTS[@]}")
t0=$SECONDS
circal_np 2 sweep --config config/sweep-tiny.yaml "${prompt_sets[@]}" --local --sweep-dir "$WORK/one" > "$WORK/one.log" 2>&1 ||
  { cat "$WORK/one.log"; exit 1; }
echo "one-node sweep: $((SECONDS - t0)) s"

start_nodes 2
SWEEP="$WORK/nodes"
t0=$SECONDS
(cd "$CIRCAL_SOURCE_DIR" && "$CIRCAL_BIN" sweep --config config/sweep-tiny.yaml --submit --sweep-dir "$SWEEP" \
   "${prompt_sets[@]}" --set cluster.nodes=2) > "$WORK/submit.log" 2>&1 || { cat "$WORK/submit.log"; exit 1; }
job_id() { awk -v name="$1" '$1 == name {print $2}' "$SWEEP/jobs.txt"; }
queue_empty() { [ -z "$(squeue -h -o %i)" ]; }
poll queue_empty --within 900
echo "two-node sweep: $((SECONDS - t0)) s"

states=$(scontrol -o show job | grep -o 'JobName=circal-[^ ]*\|JobState=[A-Z]*' | paste - -)
echo "$states"
check "every job COMPLETED" test "$(grep -vc 'JobState=COMPLETED' <<< "$states")" -eq 0
check "every array task ran (1 capture + 2 projections + 4 points + report)" test "$(wc -l <<< "$states")" -eq 8
for block in 16 32; do
  nodes=$(scontrol -o show job "$(job_id "points-block_size-$block")" | grep -o ' NodeList=[^ ]*' | sort -u | tr -d '\n')
  check "the block size $block points ran on both nodes (got:$nodes)" test "$nodes" = " NodeList=n[1-2]"
done
check "4 points finished" test "$(grep -c ',ok,' "$SWEEP/report.csv")" -eq 4
without_seconds() {  # report.csv with its calibration_seconds column blanked, found by name
  awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "calibration_seconds") c = i }
                    { if (c) $c = ""; print } END { if (!c) exit 1 }' "$1"
}
check "report.csv equals the one-node sweep's (but calibration_seconds)" \
  diff <(without_seconds "$WORK/one/report.csv") <(without_seconds "$SWEEP/report.csv")
for point in "$SWEEP"/points/*/; do
  name=$(basename "$point")
  check "$name: calibrated parameters equal the one-node sweep's" same_parameters "$WORK/one/points/$name/calibrate.h5" "$point/calibrate.h5"
done
