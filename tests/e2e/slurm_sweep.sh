#!/usr/bin/env bash
# The 2 x 2 sweep (config/sweep-tiny.yaml) through a real Slurm that this test starts
# (jobs/slurm-local.sh) and always stops: every job COMPLETED, dependencies held, 4 report
# rows, capture once and projection once per block size; one calibrate job gets the
# preemption signal mid-run, requeues itself, resumes from its checkpoint and ends with the
# parameters of an uninterrupted run. Skips (exit 0, "SKIP:") without slurm-wlm and munge,
# fails without them under CI=true.
source "$(dirname "$0")/common.bash"
# Under CI=true a missing tool or root fails the test instead.
skip_or_fail() { if [ "${CI:-}" = true ]; then echo "FAILED: $*"; exit 1; fi; echo "SKIP: $*"; exit 0; }
for tool in sbatch squeue scontrol slurmctld slurmd munged; do
  command -v "$tool" > /dev/null || skip_or_fail "$tool not installed (apt-get install slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || skip_or_fail "the private Slurm runs its daemons as root"

SLURM_DIR=$(mktemp -d /tmp/circal-slurm.XXXXXX)  # short: munge's socket path must stay < 108 bytes
LOCAL_SLURM="$CIRCAL_SOURCE_DIR/jobs/slurm-local.sh"
stop_cluster() {
  local code=$? log
  set +e  # stop the daemons whatever else fails here
  bash "$LOCAL_SLURM" purge "$SLURM_DIR" > /dev/null 2>&1
  if [ "$code" -ne 0 ]; then
    for log in "$WORK"/sweep/logs/*.out; do
      [ -f "$log" ] && { echo "== $log"; grep -v '^calibrate: step' "$log" | tail -n 15; }
    done
  fi
  rm -rf "$WORK"
}
trap stop_cluster EXIT
eval "$(bash "$LOCAL_SLURM" up "$SLURM_DIR")"
SWEEP="$WORK/sweep"

(cd "$CIRCAL_SOURCE_DIR" && "$CIRCAL_BIN" sweep --config config/sweep-tiny.yaml --submit --sweep-dir "$SWEEP" \
   --set calibrate.steps=24 --set 'sweep.calibrate.lr=[1.0e-3, 3.0e-3, -1]') > "$WORK/submit.log" 2>&1 ||
  { cat "$WORK/submit.log"; exit 1; }
cat "$WORK/submit.log"
job_id() { awk -v name="$1" '$1 == name {print $2}' "$SWEEP/jobs.txt"; }
check "5 jobs submitted" test "$(wc -l < "$SWEEP/jobs.txt")" -eq 5
check "block size 16 points wait for projection task 0" \
  grep -q "afterok:$(job_id project)_0" <<< "$(squeue -h -j "$(job_id points-block_size-16)" -o '%E')"
check "the report waits for every job" \
  grep -q "afterany:$(job_id capture)" <<< "$(squeue -h -j "$(job_id report)" -o '%E')"

# Preempt the first calibration that has logged a step but not finished.
preempted=""
deadline=$((SECONDS + 600))  # ~2.5 min on an idle 2-core machine
while [ -n "$(squeue -h -o %i)" ] && [ $SECONDS -lt $deadline ]; do
  if [ -z "$preempted" ]; then
    for point in "$SWEEP"/points/block_size-16_*/; do
      log="$point/calibrate/log.jsonl"
      if [ -s "$log" ] && [ ! -e "$point/calibrate.h5" ] && grep -q '"loss"' "$log"; then
        task=$(( $(basename "$point" | grep -q 'lr-3.0e-3' && echo 1 || echo 0) ))
        preempted="$(job_id points-block_size-16)_$task"
        preempted_point=$point
        scancel --signal=USR1 -f "$preempted"
        echo "sent USR1 to $preempted ($(basename "$point")) after $(grep -c '"loss"' "$log") steps"
        break
      fi
    done
  fi
  sleep 1
done
squeue -h -o '%i %T %r' | sed 's/^/still queued: /'
check "every job finished within the time limit" test -z "$(squeue -h -o %i)"

states=$(scontrol -o show job | grep -o 'JobName=circal-[^ ]*\|JobState=[A-Z]*' | paste - - )
echo "$states"
check "every job COMPLETED" test "$(grep -vc 'JobState=COMPLETED' <<< "$states")" -eq 0
check "every array task ran (1 capture + 2 projections + 4 points + report)" test "$(wc -l <<< "$states")" -eq 8
check "report.csv has a row per point (4 + 2 invalid)" test "$(tail -n +2 "$SWEEP/report.csv" | wc -l)" -eq 6
check "4 points finished" test "$(grep -c ',ok,' "$SWEEP/report.csv")" -eq 4
check "the invalid points are named with their reason" test "$(grep -c ',failed,.*calibrate.lr' "$SWEEP/report.csv")" -eq 2
check "capture ran exactly once" test "$(cat "$SWEEP"/logs/*.out | grep -c '^capture: running')" -eq 1
check "projection ran once per block size" test "$(cat "$SWEEP"/logs/*.out | grep -c '^project: running')" -eq 2
check "projections started after the capture" test "$SWEEP/project/block_size-16/project.h5" -nt "$SWEEP/capture/capture.h5"
for point in "$SWEEP"/points/block_size-*_lr-[0-9]*/; do
  check "$(basename "$point") ran after its projection" test "$point/metrics.json" -nt "$(readlink -f "$point/project.h5")"
done
check "the report ran after every point" test "$SWEEP/report.csv" -nt "$SWEEP/points/block_size-32_lr-3.0e-3/metrics.json"

check "a calibration was preempted mid-run" test -n "$preempted"
job_log=$(ls "$SWEEP"/logs/points-block_size-16-*_"${preempted##*_}".out)
check "it requeued itself" grep -q 'requeueing (restart 1' "$job_log"
check "it restarted with SLURM_RESTART_COUNT=1" grep -q 'restart 1\]: circal run exited with code 0' "$job_log"
check "Slurm counted one restart" grep -q 'Restarts=1' <<< "$(scontrol show job "$preempted")"
check "circal checkpointed on the signal" grep -q '"event":"stopped"' "$preempted_point/calibrate/log.jsonl"
check "the rerun resumed from that checkpoint" grep -q '^calibrate: resuming after step' "$job_log"

# The same point calibrated without interruption, at the same rank count, from the same inputs.
REF="$WORK/reference"
mkdir -p "$REF"
ln -s "$(readlink -f "$preempted_point/capture.h5")" "$REF/capture.h5"
ln -s "$(readlink -f "$preempted_point/project.h5")" "$REF/project.h5"
circal_np 2 calibrate --config "$preempted_point/config.yaml" --run-dir "$REF" > "$WORK/reference.log" 2>&1 ||
  { cat "$WORK/reference.log"; exit 1; }
same_parameters() {  # the calibrated matrices (the /history timings may differ)
  local path
  for path in $(h5ls -r "$1/layers" | awk '$2 == "Dataset" {print $1}'); do
    h5diff -q "$1" "$2" "/layers$path" "/layers$path" > /dev/null || { echo "differs: /layers$path"; return 1; }
  done
}
check "the preempted run ends with the parameters of an uninterrupted run" \
  same_parameters "$REF/calibrate.h5" "$preempted_point/calibrate.h5"
