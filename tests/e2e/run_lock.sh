#!/usr/bin/env bash
# The run-directory lock: a second `circal run` on a directory a live run holds is
# refused (exit 6) naming the holder's pid and host, without disturbing it; the holder keeps
# its lock file fresh; another host's lock file is refused while fresh and taken over when stale
# or left by an earlier run of the same Slurm job; a lock file left by a dead process is taken
# over with a notice; of two runs taking over the same stale lock
# at the same instant, at most one takes it over and never both run at once.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/micro.bash"
source "$(dirname "$0")/job_control.bash"
micro_setup "$WORK/m"
CFG=$WORK/m/micro.yaml
HOST=$(hostname)

# A live holder: the second run is refused and names it.
PAUSE_AT='capture: running' start_job "$WORK/live" "$WORK/first.log" --config "$CFG"
wait_for paused || { cat "$job_log"; echo "FAILED: first run ended early"; exit 1; }
holder_pid=$(sed -n 's/^pid //p' "$WORK/live/.circal.lock")
set +e
timeout 20 bash -c "cd '$CIRCAL_SOURCE_DIR' && mpirun -np 2 '$CIRCAL_BIN' run --config '$CFG' --run-dir '$WORK/live'" \
  > "$WORK/second.log" 2>&1
code=$?
set -e
check "the second run is refused with exit 6 (got $code)" test "$code" -eq 6
check "the refusal names the holder's pid $holder_pid and host $HOST" \
  grep -Eq "^circal: error: (\[rank 0\] )?$WORK/live: in use by circal pid $holder_pid on host $HOST\$" "$WORK/second.log"
check "the holder's pid is a rank of the first run" grep -qx "$holder_pid" <(ranks_of_job)
# The holder refreshes the lock's mtime (every kLockHeartbeatSeconds = 30 s) even while its main
# thread waits, so that another host can tell it is alive: age the file and wait for the refresh.
touch -d '1 hour ago' "$WORK/live/.circal.lock"
refreshed() { [ $(( $(date +%s) - $(stat -c %Y "$WORK/live/.circal.lock") )) -lt 60 ]; }
for _ in $(seq 1 450); do refreshed && break; sleep 0.2; done
check "a paused holder refreshes its lock file within 90 s" refreshed
release_job
code=0; wait_job 120 || code=$?
check "the first run completes undisturbed (exit $code)" test "$code" -eq 0
check "and releases its lock" test ! -e "$WORK/live/.circal.lock"

# A stale lock of a dead process on this host: taken over, with a notice naming it.
bash -c 'exit 0' & dead=$!; wait $dead
printf 'pid %s\nhost %s\n' "$dead" "$HOST" > "$WORK/live/.circal.lock"
circal_np 2 run --config "$CFG" --run-dir "$WORK/live" > "$WORK/stale.log" 2>&1 || { cat "$WORK/stale.log"; exit 1; }
check "a stale lock is taken over with a notice" grep -q "taking over the stale lock of circal pid $dead on host $HOST" "$WORK/stale.log"
check "and released afterwards" test ! -e "$WORK/live/.circal.lock"

# Another host's lock file: flock may not reach across hosts, so it is refused while its holder
# refreshes it, and taken over once it has not been refreshed for kLockStaleSeconds (300 s: the
# holder's node is gone) or when it names an earlier run of this same Slurm job.
other_host_lock() {  # other_host_lock AGE [JOB RESTART]
  printf 'pid 4242\nhost node-that-died\n' > "$WORK/live/.circal.lock"
  [ -z "${2:-}" ] || printf 'job %s\nrestart %s\n' "$2" "$3" >> "$WORK/live/.circal.lock"
  touch -d "$1" "$WORK/live/.circal.lock"
}
lock_run() {  # lock_run LOG [ENV...]: a short command that takes the lock (1 rank)
  local log=$1; shift
  (cd "$CIRCAL_SOURCE_DIR" && env "$@" mpirun -np 1 "$CIRCAL_BIN" project --force --config "$CFG" \
    --run-dir "$WORK/live") > "$log" 2>&1
}
other_host_lock '10 seconds ago'
code=0; lock_run "$WORK/other-fresh.log" || code=$?
check "a fresh lock of another host is refused with exit 6 (got $code)" test "$code" -eq 6
check "the refusal says when it was refreshed and how to clear it" grep -Eq \
  "in use by circal pid 4242 on host node-that-died: its lock was refreshed 1[0-9] s ago; it is taken over once not refreshed for 300 s \(if node-that-died is down, remove $WORK/live/.circal.lock\)" \
  "$WORK/other-fresh.log"
check "and leaves the lock file as it was" grep -qx 'host node-that-died' "$WORK/live/.circal.lock"
other_host_lock '301 seconds ago'
lock_run "$WORK/other-stale.log" || { cat "$WORK/other-stale.log"; exit 1; }
check "another host's lock not refreshed for 300 s is taken over" \
  grep -Eq "taking over the stale lock of circal pid 4242 on host node-that-died \(not refreshed for 30[0-9] s\)" "$WORK/other-stale.log"
other_host_lock '10 seconds ago' 777 0
lock_run "$WORK/requeued.log" SLURM_JOB_ID=777 SLURM_RESTART_COUNT=1 || { cat "$WORK/requeued.log"; exit 1; }
check "a requeued Slurm job takes over its earlier run's lock on another host" grep -q \
  "taking over the stale lock of circal pid 4242 on host node-that-died (Slurm job 777, restart 0) (an earlier run of this Slurm job)" \
  "$WORK/requeued.log"
other_host_lock '10 seconds ago' 777 1
code=0; lock_run "$WORK/same-restart.log" SLURM_JOB_ID=777 SLURM_RESTART_COUNT=1 || code=$?
check "but not the lock of the same restart of that job (got $code)" test "$code" -eq 6
rm -f "$WORK/live/.circal.lock"

# A lock left by kill -9 of a running job: the rerun takes it over.
cp -r "$WORK/live" "$WORK/killed" && rm -f "$WORK/killed/evaluate.h5" "$WORK/killed/metrics.json"
PAUSE_AT='evaluate: running' start_job "$WORK/killed" "$WORK/killed.log" --config "$CFG"
wait_for paused || { cat "$job_log"; echo "FAILED: run ended early"; exit 1; }
kill_job
check "kill -9 leaves the lock file behind" test -e "$WORK/killed/.circal.lock"
circal_np 2 run --config "$CFG" --run-dir "$WORK/killed" > "$WORK/killed2.log" 2>&1 || { cat "$WORK/killed2.log"; exit 1; }
check "the rerun takes over the lock of the killed job" grep -q 'taking over the stale lock' "$WORK/killed2.log"

# Two runs taking over one stale lock at the same instant: the lock is an flock, so whatever
# the timing, not both take it over, and no two hold it at once (each would log "running"
# for capture: --force makes them work long enough to overlap).
for round in 1 2 3; do
  printf 'pid %s\nhost %s\n' "$dead" "$HOST" > "$WORK/live/.circal.lock"
  for who in a b; do
    (cd "$CIRCAL_SOURCE_DIR" && exec mpirun -np 1 "$CIRCAL_BIN" capture --force --config "$CFG" \
      --run-dir "$WORK/live") > "$WORK/race-$round-$who.log" 2>&1 &
    eval "pid_$who=\$!"
  done
  code_a=0 code_b=0
  wait "$pid_a" || code_a=$?
  wait "$pid_b" || code_b=$?
  takeovers=$(cat "$WORK/race-$round-a.log" "$WORK/race-$round-b.log" | grep -c 'taking over the stale lock' || true)
  echo "race $round: exits $code_a and $code_b, $takeovers take-over(s)"
  check "race $round: one take-over" test "$takeovers" -eq 1
  check "race $round: each run either worked or was refused as locked" \
    bash -c "[[ '$code_a $code_b' =~ ^(0|6)\ (0|6)$ ]] && [ '$code_a $code_b' != '6 6' ]"
  if [ "$code_a" = 0 ] && [ "$code_b" = 0 ]; then
    check "race $round: both ran, so one after the other (the second found no stale lock)" \
      bash -c "! grep -q 'taking over' '$WORK/race-$round-a.log' || ! grep -q 'taking over' '$WORK/race-$round-b.log'"
  fi
done
