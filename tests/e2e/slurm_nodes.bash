# Helpers of the multi-node Slurm tests (sourced after common.bash): a private cluster of
# virtual nodes (jobs/slurm-local.sh up DIR --nodes N) that the test always removes, and
# polling on job states. Under CI=true a missing tool fails the test; elsewhere it skips.
LOCAL_SLURM="$CIRCAL_SOURCE_DIR/jobs/slurm-local.sh"
SLURM_DIR=""

require_slurm_nodes() {
  local tool missing=""
  for tool in sbatch squeue scontrol srun slurmctld slurmd munged ip nsenter unshare ss h5diff python3; do
    command -v "$tool" > /dev/null || missing="$missing $tool"
  done
  [ -z "$missing" ] ||
    { unavailable "missing$missing" "apt-get install slurm-wlm munge iproute2 util-linux hdf5-tools python3, or make deps" || exit 0; }
  [ "$(id -u)" = 0 ] ||
    { unavailable "the virtual nodes need root (network namespaces, daemons as root)" "run the tests as root" || exit 0; }
}

# start_nodes N: the cluster in a short directory (munge's socket path must stay < 108 bytes);
# sets SLURM_DIR, SLURM_CONF, SUBNET and the Open MPI TCP settings for it; an at_exit hook purges
# it. on_failure (optional, defined by the test) prints logs when the test fails.
start_nodes() {
  SLURM_DIR=$(mktemp -d /tmp/circal-nodes.XXXXXX)
  at_exit stop_nodes
  eval "$(bash "$LOCAL_SLURM" up "$SLURM_DIR" --nodes "$1")"
  read -r SUBNET _ < <(bash "$LOCAL_SLURM" net "$SLURM_DIR")
  # jobs inherit these (sbatch --export=ALL): ranks and daemons talk over the bridge only
  export OMPI_MCA_btl_tcp_if_include=$SUBNET OMPI_MCA_oob_tcp_if_include=$SUBNET
  # the virtual nodes share the machine's cores: a rank waiting in MPI must yield its core
  # (on real nodes Open MPI busy-polls, as each node's ranks have cores of their own)
  export OMPI_MCA_mpi_yield_when_idle=1
  # a peer that stops answering (cut link) is given up after 10 + 3 x 2 s, not 300 + 9 x 20 s
  export OMPI_MCA_oob_tcp_keepalive_time=10 OMPI_MCA_oob_tcp_keepalive_intvl=2 OMPI_MCA_oob_tcp_keepalive_probes=3
  export SLURM_CONF
}

stop_nodes() {  # an at_exit hook: $exit_code is the script's
  if [ "${exit_code:-0}" -ne 0 ] && declare -F on_failure > /dev/null; then on_failure; fi
  [ -n "$SLURM_DIR" ] && bash "$LOCAL_SLURM" purge "$SLURM_DIR" > /dev/null 2>&1
}

# poll CONDITION... [--within SECONDS]: waits (0.2 s polls) until the command CONDITION succeeds
# (it runs anew each time: pass a function, not an expanded "$(...)"); fails after SECONDS
# (default 300).
poll() {
  local limit=300 args=("$@")
  if [ "${#args[@]}" -ge 2 ] && [ "${args[-2]}" = --within ]; then limit=${args[-1]}; args=("${args[@]:0:${#args[@]}-2}"); fi
  local deadline=$((SECONDS + limit))
  until "${args[@]}"; do
    [ $SECONDS -lt $deadline ] || { echo "timed out after ${limit}s waiting for: ${args[*]}"; return 1; }
    sleep 0.2
  done
}
job_gone() { [ -z "$(squeue -h -j "$1" 2> /dev/null)" ]; }
job_state() { scontrol -o show job "$1" 2> /dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
file_has() { grep -q -- "$2" "$1" 2> /dev/null; }

# small_prompts: writes the first 24 calibration, 8 validation and 8 test prompts to $WORK and
# sets PROMPTS to the overrides that select them (the capture of all 153 takes minutes on a
# loaded 2-core machine)
small_prompts() {
  local split n
  for split in calibration:24 validation:8 test:8; do
    n=${split#*:} split=${split%:*}
    head -n "$n" "$CIRCAL_SOURCE_DIR/data/splits/$split.txt" > "$WORK/$split.txt"
  done
  PROMPTS=(prompts.calibration="$WORK/calibration.txt" prompts.validation="$WORK/validation.txt" prompts.test="$WORK/test.txt")
}
sets() { local kv; for kv in "$@"; do printf -- '--set\n%s\n' "$kv"; done; }

# submit NAME LAUNCHER RUN_DIR [key=value ...]: jobs/circal.sbatch on 2 nodes x 4 tasks with
# config/tiny.yaml; prints the job id. Output: $WORK/NAME.out.
submit() {
  local name=$1 launcher=$2 run_dir=$3; shift 3
  (cd "$CIRCAL_SOURCE_DIR" && CIRCAL_LAUNCHER=$launcher sbatch --parsable --nodes 2 --ntasks 4 \
     --time 00:15:00 --job-name "$name" --output "$WORK/$name.out" \
     jobs/circal.sbatch config/tiny.yaml run_dir="$run_dir" cluster.nodes=2 cluster.tasks=4 "${PROMPTS[@]}" "$@")
}

# pids of the circal ranks of the run in DIR (command line names DIR), without forking per process
circal_ranks() {
  local p c
  local -a words
  for p in /proc/[0-9]*; do
    { read -r c < "$p/comm"; } 2> /dev/null || continue
    [ "$c" = circal ] || continue
    { mapfile -d '' -t words < "$p/cmdline"; } 2> /dev/null || continue
    [[ " ${words[*]} " == *"$1"* ]] && echo "${p#/proc/}"
  done
}

# every given pid has USR1 pending (delivered when it is thawed)
usr1_pending() {
  local p line mask
  for p in "$@"; do
    mask=0
    while read -r line; do
      case $line in SigPnd:* | ShdPnd:*) line=${line#*:}; mask=$((mask | 0x${line//[[:space:]]/})) ;; esac
    done < "/proc/$p/status"
    [ $((mask & 0x200)) -ne 0 ] || return 1
  done
}

# the calibrated matrices of two calibrate.h5 files are equal (/history timings may differ)
same_parameters() {
  local path
  for path in $(h5ls -r "$1/layers" | awk '$2 == "Dataset" {print $1}'); do
    h5diff -q "$1" "$2" "/layers$path" "/layers$path" > /dev/null || { echo "differs: /layers$path"; return 1; }
  done
}
