#!/usr/bin/env bash
# circal across two virtual Slurm nodes (jobs/slurm-local.sh up DIR --nodes 2):
# 1. config/tiny.yaml (on 24/8/8 of the calibration/validation/test prompts) as a 2-node x 4-task job (cluster.nodes 2), once with mpirun inside the
#    allocation and once with srun --mpi=pmix: ranks on n1 and n2, and capture, project,
#    calibrate and evaluate outputs bit-identical to 1 node x 4 ranks (plain mpirun here);
# 2. a lost node: with the ranks held mid-calibration, each node holds one shared teacher copy;
#    n2 (its slurmd, slurmstepd, orted and ranks) is killed -9 after the first
#    checkpoint; the job ends within LOST_NODE_LIMIT seconds, leaves no calibrate.h5, evaluate
#    outputs or temporary files, and a rerun resumes from the checkpoint to the parameters of
#    the uninterrupted run, bitwise;
# 3. a preempted 2-node job: USR1 (scancel --signal=USR1 -f), requeue, bitwise-equal finish.
# Prints the figures for jobs/README.md: time to detect the lost node, time to resume, and the
# calibration step time over TCP (2 nodes) against shared memory (1 node).
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/slurm_nodes.bash"
require_slurm_nodes
LOST_NODE_LIMIT=60  # seconds from the kill until the job has left the queue

on_failure() {
  local f
  for f in "$WORK"/*.out; do [ -f "$f" ] && { echo "== $f"; grep -v '^calibrate: step' "$f" | tail -n 25; }; done
  tail -n 15 "$SLURM_DIR/log/slurmctld.log" 2> /dev/null
}

# The reference: 1 node x 4 ranks, shared memory, no Slurm.
REF="$WORK/ref"
t0=$SECONDS
small_prompts
mapfile -t ref_sets < <(sets "${PROMPTS[@]}")
circal_np 4 run --config config/tiny.yaml "${ref_sets[@]}" --run-dir "$REF" > "$WORK/ref.log" 2>&1 || { cat "$WORK/ref.log"; exit 1; }
echo "reference (1 node x 4 ranks): $((SECONDS - t0)) s"

start_nodes 2
echo "cluster: 2 nodes on $SUBNET"

# Every rank records its host: the job's CIRCAL_BIN is this wrapper.
cat > "$WORK/circal-ranks" <<EOF
#!/bin/bash
if [ -n "\${PMIX_RANK:-}" ]; then
  echo "\$1 rank \$PMIX_RANK host \$(hostname)" >> "$WORK/ranks-\$CIRCAL_LAUNCHER.txt"
fi
exec "$CIRCAL_BIN" "\$@"
EOF
chmod +x "$WORK/circal-ranks"
export CIRCAL_BIN_REAL=$CIRCAL_BIN
export CIRCAL_BIN="$WORK/circal-ranks"

declare -A jobs
t0=$SECONDS
for launcher in mpirun srun; do jobs[$launcher]=$(submit "two-$launcher" "$launcher" "$WORK/$launcher"); done
for launcher in mpirun srun; do
  poll job_gone "${jobs[$launcher]}" --within 900
  check "the $launcher job COMPLETED" test "$(job_state "${jobs[$launcher]}")" = COMPLETED
done
echo "both 2-node jobs: $((SECONDS - t0)) s"
for launcher in mpirun srun; do
  hosts=$(awk '$1 == "run" {print $5}' "$WORK/ranks-$launcher.txt" | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')
  check "$launcher: 4 ranks, 2 on n1 and 2 on n2 (got: $hosts)" test "$hosts" = "n1x2 n2x2 "
  dir="$WORK/$launcher"
  for file in capture.h5 project.h5 evaluate.h5; do
    check "$launcher: $file bit-identical to 1 node x 4 ranks" same_datasets "$REF/$file" "$dir/$file"
  done
  check "$launcher: calibrated parameters bit-identical" same_parameters "$REF/calibrate.h5" "$dir/calibrate.h5"
  for path in /history/train_loss /history/validation_kl; do
    check "$launcher: $path bit-identical" h5diff -q "$REF/calibrate.h5" "$dir/calibrate.h5" "$path" "$path"
  done
  result=$(same_metrics "$REF/metrics.json" "$dir/metrics.json")
  check "$launcher: metrics.json bitwise equal (got: $result)" test "$result" = bitwise
done

# Calibration step time, TCP between nodes against shared memory (median of log.jsonl's
# per-step seconds, whatever the field is called: the first of seconds/time/step_seconds).
step_median() {
  python3 - "$1/calibrate/log.jsonl" <<'PY'
import json, statistics, sys
times = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "loss" in r:
        for k in ("step_seconds", "seconds", "time", "wall_seconds"):
            if isinstance(r.get(k), (int, float)):
                times.append(r[k]); break
print(f"{statistics.median(times) * 1000:.1f}" if times else "n/a")
PY
}
echo "calibration step median: 1 node x 4 shared memory $(step_median "$REF") ms," \
  "2 nodes x 2 TCP (mpirun) $(step_median "$WORK/mpirun") ms, (srun) $(step_median "$WORK/srun") ms"

seed() { mkdir -p "$1" && cp "$REF/capture.h5" "$REF/project.h5" "$1/"; }
# the ranks of a run are held (SIGSTOP) while the test acts, so a tiny run cannot finish first
freeze() { ranks=$(circal_ranks "$1" | tr '\n' ' '); [ -n "$ranks" ] && kill -STOP $ranks; }
thaw() { kill -CONT $ranks 2> /dev/null || true; }
checkpoint_written() { compgen -G "$1/calibrate/step-*.h5" > /dev/null; }

# ---- a lost node -------------------------------------------------------------------------
LOST="$WORK/lost"
seed "$LOST"
job=$(submit lost mpirun "$LOST")
poll checkpoint_written "$LOST" --within 600
freeze "$LOST"
check "the lost-node run is mid-calibration (4 ranks held, no calibrate.h5)" \
  test "$(wc -w <<< "$ranks")" -eq 4 -a ! -e "$LOST/calibrate.h5"
last_checkpoint=$(basename "$(ls "$LOST"/calibrate/step-*.h5 | tail -n 1)")
# Node-shared weights: the ranks of a node map one MPI-3 shared window (Open MPI names its file
# /dev/shm/osc_sm.HOST.*) that holds the float32 teacher, so each node holds one copy.
teacher_bytes() {  # the tensor bytes of a float32 safetensors file: its size less 8 and the header
  local file=$1
  echo $(( $(stat -c %s "$file") - 8 - $(od -An -tu8 -N8 "$file") ))
}
weight_window() {  # weight_window PID MIN_BYTES: device:inode of each shared-memory file PID maps >= MIN_BYTES of
  local range perms offset device inode path  # (Open MPI unlinks the file once all ranks have it)
  while read -r range perms offset device inode path; do
    [[ $path == /dev/shm/osc_sm.* && $perms == *s ]] || continue
    [ $(( 16#${range#*-} - 16#${range%-*} )) -ge "$2" ] && echo "$device:$inode"
  done < "/proc/$1/maps"
}
weights=$(teacher_bytes "$CIRCAL_SOURCE_DIR/data/models/manpages-llama-5m/model.safetensors")
copies=$(for pid in $ranks; do
  echo "$(nsenter -t "$pid" -u hostname) $(weight_window "$pid" "$weights" | tr '\n' ' ')"
done | sort | uniq -c | awk '{print $2 "x" $1 ":" NF - 2}' | tr '\n' ' ')
echo "teacher windows ($weights bytes each) per node, as host x ranks : windows per rank: $copies"
check "one teacher copy per node: the 2 ranks of each node map one window, the nodes two (got: $copies)" \
  test "$copies" = "n1x2:1 n2x2:1 "
check "the two nodes' windows are different files" \
  test "$(for pid in $ranks; do weight_window "$pid" "$weights"; done | sort -u | wc -l)" -eq 2
t_kill=$(date +%s.%N)
bash "$LOCAL_SLURM" kill-node "$SLURM_DIR" n2
thaw
poll file_has "$WORK/lost.out" "circal run exited with code" --within "$LOST_NODE_LIMIT"
t_detect=$(date +%s.%N)
poll job_gone "$job" --within "$LOST_NODE_LIMIT"
t_gone=$(date +%s.%N)
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }
echo "lost node: mpirun ended $(secs "$t_kill" "$t_detect") s after the kill, the job left the queue after $(secs "$t_kill" "$t_gone") s (state $(job_state "$job"))"
check "the job ended with an error" grep -q "circal run exited with code [1-9]" "$WORK/lost.out"
check "no calibrate.h5, evaluate.h5 or metrics.json" test ! -e "$LOST/calibrate.h5" -a ! -e "$LOST/evaluate.h5" -a ! -e "$LOST/metrics.json"
# A rank killed while writing a checkpoint leaves its NAME.tmp (no reader takes a .tmp for a
# checkpoint); the rerun rewrites it, so none may be left once the rerun is done (below).
check "error.txt names the failure" grep -q "exited with code" "$LOST/error.txt"
check "the checkpoint $last_checkpoint is still there" test -e "$LOST/calibrate/$last_checkpoint"
t0=$(date +%s.%N)
bash "$LOCAL_SLURM" up "$SLURM_DIR" --nodes 2 > /dev/null  # n2 back: its slurmd restarts
t_up=$(date +%s.%N)
job=$(submit lost-rerun mpirun "$LOST")
poll file_has "$WORK/lost-rerun.out" "resuming after step" --within 300
t_resumed=$(date +%s.%N)
poll job_gone "$job" --within 600
echo "resume: n2 back in $(secs "$t0" "$t_up") s, the rerun resumed calibration $(secs "$t_up" "$t_resumed") s after its submission"
check "the rerun COMPLETED" test "$(job_state "$job")" = COMPLETED
step=${last_checkpoint#step-}
step=$((10#${step%.h5}))
check "it resumed from $last_checkpoint" grep -q "^calibrate: resuming after step $step\b" "$WORK/lost-rerun.out"
check "the lost-node run ends with the parameters of an uninterrupted run" same_parameters "$REF/calibrate.h5" "$LOST/calibrate.h5"
result=$(same_metrics "$REF/metrics.json" "$LOST/metrics.json")
check "and the same metrics (got: $result)" test "$result" = bitwise
tmp_files=$(find "$LOST" -name '*.tmp')
check "no temporary files after the rerun${tmp_files:+ (found: $tmp_files)}" test -z "$tmp_files"

# ---- a preempted two-node job --------------------------------------------------------------
PRE="$WORK/preempt"
seed "$PRE"
job=$(submit preempt mpirun "$PRE")
poll file_has "$PRE/calibrate/log.jsonl" '"loss"' --within 600
freeze "$PRE"
check "the preempted run is mid-calibration" test "$(wc -w <<< "$ranks")" -eq 4 -a ! -e "$PRE/calibrate.h5"
scancel --signal=USR1 -f "$job"
poll usr1_pending $ranks --within 30
thaw
poll file_has "$WORK/preempt.out" 'restart 1\]: circal run exited with code' --within 600
poll job_gone "$job" --within 120
check "it requeued itself" grep -q 'requeueing (restart 1' "$WORK/preempt.out"
check "the rerun COMPLETED" test "$(job_state "$job")" = COMPLETED
check "circal checkpointed on the signal" grep -q '"event":"stopped"' "$PRE/calibrate/log.jsonl"
check "the rerun resumed from that checkpoint" grep -q '^calibrate: resuming after step' "$WORK/preempt.out"
check "the preempted run ends with the parameters of an uninterrupted run" same_parameters "$REF/calibrate.h5" "$PRE/calibrate.h5"
