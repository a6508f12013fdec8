#!/usr/bin/env bash
# Crashes: kill -9 of the whole job (mpirun and both ranks) at points spread over
# capture, project, calibrate and evaluate, including the moments between a stage's commit
# and the next stage; each time a plain rerun completes, its metrics.json equals that of an
# uninterrupted run and report.md and every plot exist. A point the job passes before the kill lands is reported as missed; at
# least 10 must be hit.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/micro.bash"
source "$(dirname "$0")/job_control.bash"
micro_reference

hit=0 missed=0 n=0
point() {  # point NAME STAGE CONDITION...: seed for STAGE, run, kill -9 once CONDITION holds
  local name=$1 stage=$2; shift 2
  n=$((n + 1))
  local dir=$WORK/k$n
  seed_run_dir "$dir" "$WORK/ref" "$stage"
  # A log line is a point the job can be held at (kill -9 lands there every time); a file
  # appearing is only polled for, so the job may get past it first (counted as missed).
  local at=
  case $1 in
    logged) at=$2; set -- paused ;;
    step_logged) at="calibrate: step $2/"; set -- paused ;;
  esac
  PAUSE_AT=$at start_job "$dir" "$WORK/k$n.log" --config "$CFG"
  if ! wait_for "$@"; then
    wait "$job" 2>/dev/null || true
    missed=$((missed + 1))
    echo "missed: $name (the job got past it before the kill)"
    return
  fi
  kill_job
  if [ "$job_code" -eq 0 ]; then
    missed=$((missed + 1))
    echo "missed: $name (the job finished before the kill landed)"
    return
  fi
  hit=$((hit + 1))
  local left; left=$(cd "$dir" && ls -A | tr '\n' ' ')
  circal_np 2 run --config "$CFG" --run-dir "$dir" > "$WORK/k$n.rerun.log" 2>&1 \
    || { echo "FAILED: rerun after kill at $name"; cat "$WORK/k$n.rerun.log"; exit 1; }
  local same; same=$(same_metrics "$WORK/ref/metrics.json" "$dir/metrics.json") \
    || { echo "FAILED: metrics after kill at $name: $same"; exit 1; }
  local missing; missing=$(cd "$WORK/ref" && find report.md plots -type f | while read -r f; do [ -f "$dir/$f" ] || echo "$f"; done)
  [ -z "$missing" ] || { echo "FAILED: after kill at $name the rerun left out: $missing"; exit 1; }
  echo "ok: kill -9 at $name (left: $left) -> rerun completes, metrics.json $same"
}

point "capture started"             capture logged 'capture: running'
point "capture.h5.tmp created"      capture present capture.h5.tmp
point "capture.h5 committed"        capture present capture.h5
point "project started"             project logged 'project: running'
point "project after one matrix"    project logged 'project: layer 3 gate_proj'
point "project after two matrices"  project logged 'project: layer 3 up_proj'
point "project.h5 committed"        project present project.h5
point "calibrate started"           calibrate logged 'calibrate: running'
point "calibrate step 1"            calibrate step_logged 1
point "calibrate step 3 (after the step-2 checkpoint)" calibrate step_logged 3
point "calibrate step 5"            calibrate step_logged 5
point "calibrate.h5 committed"      calibrate present calibrate.h5
point "evaluate started"            evaluate logged 'evaluate: running'
point "evaluate.h5 committed, reports not yet" evaluate present evaluate.h5
point "evaluate writing plots"      evaluate present plots

echo "kill points: $hit hit and survived, $missed missed"
check "at least 10 kill points hit" test "$hit" -ge 10
