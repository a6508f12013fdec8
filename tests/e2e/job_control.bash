# Background circal jobs for the crash and signal tests (sourced after common.bash): start one,
# wait until it reaches a point, kill or signal it, and compare what reruns produce.

# Holding a job at a known point: tests/e2e/pause_point.c, preloaded into the ranks only (not
# mpirun, which forwards their output). Built once per test.
PAUSE_SHIM=$WORK/pause_point.so
if ! command -v cc > /dev/null; then
  unavailable "cc not found: the signal and kill tests hold the ranks with a preloaded shim" \
    "apt-get install build-essential, or make deps" || exit 0
fi
cc -shared -fPIC -O1 -o "$PAUSE_SHIM" "$CIRCAL_SOURCE_DIR/tests/e2e/pause_point.c" -ldl ||
  { echo "FAILED: cannot build tests/e2e/pause_point.c"; exit 1; }

# [PAUSE_AT=TEXT] start_job DIR LOG ARGS...: `mpirun -np 2 circal run ARGS --run-dir DIR` in
# the background; sets job (mpirun's pid), job_dir, job_log and pause_dir. With PAUSE_AT, rank 0
# stops just before it writes TEXT (e.g. 'project: running', 'calibrate: step 2/') until
# release_job; `paused` tells when it is there, `signalled N` when N ranks have run their
# SIGTERM/SIGUSR1 handler.
start_job() {
  job_dir=$1 job_log=$2; shift 2
  pause_dir=$(mktemp -d "$WORK/pause.XXXXXX")
  local preload=(env LD_PRELOAD="$PAUSE_SHIM" CIRCAL_PAUSE_DIR="$pause_dir" CIRCAL_PAUSE_AT="${PAUSE_AT:-}")
  (cd "$CIRCAL_SOURCE_DIR" && exec mpirun -np 2 "${preload[@]}" "$CIRCAL_BIN" run "$@" --run-dir "$job_dir") > "$job_log" 2>&1 &
  job=$!
}
paused() { compgen -G "$pause_dir/paused.*" > /dev/null; }
signalled() { [ "$(find "$pause_dir" -name 'signal.*' | wc -l)" -ge "$1" ]; }
release_job() { touch "$pause_dir/go"; }

# wait_for CONDITION...: polls every 20 ms; fails when the job ends first or after 60 s.
wait_for() {
  local _
  for _ in $(seq 1 3000); do
    "$@" && return 0
    kill -0 "$job" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}
logged() { grep -q -- "$1" "$job_log" 2>/dev/null; }
present() { test -e "$job_dir/$1"; }
step_logged() { grep -q "\"step\":$1," "$job_dir/calibrate/log.jsonl" 2>/dev/null; }

# mpirun and every rank (Open MPI gives the ranks process groups of their own).
job_tree() { local p; for p in $(ps -o pid= --ppid "$1"); do job_tree "$p"; done; echo "$1"; }
ranks_of_job() { ps -o pid= --ppid "$job" | tr -d ' '; }
# A tiny run can finish in a second: freezing the ranks holds the job at the point reached
# while the test looks at it (to hold it at a known point, use PAUSE_AT).
freeze_job() { kill -STOP $(ranks_of_job); }
thaw_job() { kill -CONT $(ranks_of_job); }

# kill_job: kill -9 of mpirun and every rank at once; waits until all are gone. job_code is
# mpirun's exit code: 0 when the job finished before the kill landed.
kill_job() {
  local victims; victims=$(job_tree "$job")
  kill -9 $victims 2>/dev/null || true
  job_code=0; wait "$job" 2>/dev/null || job_code=$?
  local _; for _ in $(seq 1 150); do ps -p "${victims//$'\n'/,}" > /dev/null || return 0; sleep 0.1; done
  echo "FAILED: processes survived kill -9: $victims"; exit 1
}

# wait_job SECONDS: the job's exit code, or 124 when it is still running after SECONDS.
wait_job() {
  local _; for _ in $(seq 1 $(($1 * 10))); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$job" 2>/dev/null; then kill_job; return 124; fi
  local code=0; wait "$job" || code=$?; return "$code"
}

# seed_run_dir DIR REFERENCE STAGE: DIR holds REFERENCE's outputs of the stages before STAGE, as
# a run that got as far would (a rerun skips them), so a kill point costs only the stages after.
seed_run_dir() {
  local dir=$1 ref=$2 stage=$3 file
  mkdir -p "$dir"
  case $stage in
    capture) return ;;
    project) file="capture.h5" ;;
    calibrate) file="capture.h5 project.h5" ;;
    evaluate) file="capture.h5 project.h5 calibrate.h5 calibrate" ;;
  esac
  for f in $file; do cp -r "$ref/$f" "$dir/"; done
}
