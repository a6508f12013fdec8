#!/usr/bin/env bash
# Stop signals: SIGTERM (to every rank, as Slurm delivers it) and SIGUSR1 (to mpirun,
# which forwards it) during each stage, sent while rank 0 is held at a log line of that stage
# (job_control.bash, PAUSE_AT) and released once every rank has the signal: no race with the clock. Every time: exit 75 within 20 s with a one-line message
# naming the stage (calibrate: the checkpoint it wrote); no temporary file, no lock and no
# output of the stopped stage is left; a plain rerun completes with the metrics.json of an
# uninterrupted run.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/micro.bash"
source "$(dirname "$0")/job_control.bash"
micro_reference

n=0
stop_case() {  # stop_case SIGNAL STAGE OUTPUT MESSAGE-REGEX PAUSE-AT
  # The job is held where rank 0 writes PAUSE-AT (a log line of STAGE), signalled there, and
  # let go once both ranks have run their signal handler: the signal lands in STAGE every time.
  local signal=$1 stage=$2 output=$3 regex=$4 at=$5
  n=$((n + 1))
  local dir=$WORK/s$n
  seed_run_dir "$dir" "$WORK/ref" "$stage"
  PAUSE_AT=$at start_job "$dir" "$WORK/s$n.log" --config "$CFG"
  wait_for paused || { echo "FAILED: SIG$signal during $stage: the job ended before '$at'"; cat "$job_log"; exit 1; }
  if [ "$signal" = TERM ]; then kill -TERM $(ranks_of_job); else kill -USR1 "$job"; fi
  wait_for signalled 2 || { echo "FAILED: SIG$signal during $stage: the ranks did not all get the signal"; cat "$job_log"; exit 1; }
  release_job
  local code=0; wait_job 20 || code=$?
  local message; message=$(grep -E '^circal: error: ' "$job_log" | sed -E 's/^circal: error: (\[rank [0-9]+\] )?//' | sort -u || true)
  local problems=()
  [ "$code" = 75 ] || problems+=("exit $code, expected 75")
  [ "$(wc -l <<< "$message")" = 1 ] && grep -Eq -- "$regex" <<< "$message" || problems+=("message '$message' does not match /$regex/")
  local left; left=$(cd "$dir" && find . \( -name '*.tmp' -o -name '.circal.lock' -o -name "$output" \) | tr '\n' ' ')
  [ -z "$left" ] || problems+=("left behind: $left")
  if [ ${#problems[@]} -gt 0 ]; then
    echo "FAILED: SIG$signal during $stage: $(IFS=';'; echo "${problems[*]}")"; tail -n 20 "$job_log"; exit 1
  fi
  circal_np 2 run --config "$CFG" --run-dir "$dir" > "$WORK/s$n.rerun.log" 2>&1 \
    || { echo "FAILED: rerun after SIG$signal during $stage"; cat "$WORK/s$n.rerun.log"; exit 1; }
  local same; same=$(same_metrics "$WORK/ref/metrics.json" "$dir/metrics.json") \
    || { echo "FAILED: metrics after SIG$signal during $stage: $same"; exit 1; }
  echo "ok: SIG$signal during $stage -> exit 75: $message; rerun metrics.json $same"
}

for signal in TERM USR1; do
  stop_case $signal capture capture.h5 "capture: stopped by SIG$signal; after .* prompts, capture.h5 not written" \
    'capture: running'
  stop_case $signal project project.h5 "project: stopped by SIG$signal; after .* matrices, project.h5 not written" \
    'project: running'
  stop_case $signal calibrate calibrate.h5 "calibrate: stopped by SIG$signal after step 1, checkpoint written to .*step-0+1\.h5" \
    'calibrate: step 1/'
  stop_case $signal evaluate evaluate.h5 "evaluate: stopped by SIG$signal; after student .*, evaluate.h5 not written" \
    'evaluate: running'
done
echo "stop signals: $n cases passed"
