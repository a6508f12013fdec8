#!/bin/bash
# slurm-local.sh - run a private single-node Slurm (munged + slurmctld + slurmd)
# Private one-node Slurm for tests and trials: proctrack/pgid by default (jobs/README.md).
# out of one directory, for CI.  Tested with Debian 12 packages slurm-wlm 22.05.8,
# munge 0.5.15, as root, without systemd and without cgroups.
#
# Usage:
#   slurm-local.sh up   [DIR]   start everything (idempotent), wait until the node is idle,
#                               print "export SLURM_CONF=DIR/slurm.conf"
#   slurm-local.sh down [DIR]   cancel all jobs, stop slurmd, slurmctld, munged by PID (idempotent)
#   slurm-local.sh status [DIR] show daemon PIDs and sinfo
#   slurm-local.sh env  [DIR]   print "export SLURM_CONF=..."
#   slurm-local.sh purge [DIR]  down, then rm -rf DIR
# DIR defaults to $SLURM_LOCAL_DIR or /tmp/slurm-local.  It must be an absolute path short
# enough for a unix socket (DIR/munge/munge.socket.2 must stay < 108 bytes).
#
# Optional environment knobs (read by "up" when it writes slurm.conf):
#   SLURM_LOCAL_CPUS=N          CPUs to advertise (default: real count). N > real count works
#                               through SlurmdParameters=config_overrides (oversubscribes cores).
#   SLURM_LOCAL_MEM_MB=N        RealMemory (default: 90% of MemTotal)
#   SLURM_LOCAL_CTLD_PORT=6817  SLURM_LOCAL_SLURMD_PORT=6818
#   SLURM_LOCAL_MPI_DEFAULT=none   (pmix makes plain "srun ./mpi_prog" work with Open MPI)
#   SLURM_LOCAL_KEEP_STATE=1    keep job/node state from the previous run (default: wipe)
#   SLURM_LOCAL_EXTRA_CONF="Key=Val\nKey=Val"   extra slurm.conf lines (appended)
#   SLURM_LOCAL_TIMEOUT=60      seconds to wait for the node to become idle
#   SLURM_LOCAL_CRED_EXPIRE=10  AuthInfo cred_expire (Slurm default 120); also the requeue hold-off
#   SLURM_LOCAL_SCHED_PARAMS="sched_interval=2,bf_interval=1"   SchedulerParameters
#   SLURM_LOCAL_PROCTRACK=proctrack/pgid   (default) also kills background children
#                               that a batch script leaves behind when it exits (linuxproc does not)
set -euo pipefail

cmd=${1:-}
DIR=${2:-${SLURM_LOCAL_DIR:-/tmp/slurm-local}}
case "$DIR" in /*) ;; *) DIR="$(pwd)/$DIR" ;; esac
DIR=${DIR%/}
CONF="$DIR/slurm.conf"
MUNGE_DIR="$DIR/munge"
MUNGE_SOCK="$MUNGE_DIR/munge.socket.2"
export SLURM_CONF="$CONF"

log() { echo "slurm-local: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_alive PIDFILE COMM -> prints pid if the pid file names a live process with that comm
pid_alive() {
    local f=$1 comm=$2 pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' < "$f")
    [ -n "$pid" ] || return 1
    [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
    is_running "$pid" || return 1
    # our daemons were started with paths under $DIR on their command line
    { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2> /dev/null | grep -qF "$DIR/" || return 1
    echo "$pid"
}

# true if PID exists and is not a zombie (PID 1 in some containers reaps late)
is_running() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# stop_pid PIDFILE COMM TIMEOUT
stop_pid() {
    local f=$1 comm=$2 t=$3 pid i
    if pid=$(pid_alive "$f" "$comm"); then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < t * 10; i++)); do
            is_running "$pid" || break
            sleep 0.1
        done
        if is_running "$pid"; then
            log "$comm ($pid) did not exit after ${t}s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
        log "stopped $comm (pid $pid)"
    fi
    rm -f "$f"
}

# processes started by our slurmd (slurmstepd) carry this marker in their environment
MARKER="SLURM_LOCAL_INSTANCE=$DIR"
marker_pids() {
    local p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = "$$" ] && continue
        if is_running "$p" && { tr '\0' '\n' < "/proc/$p/environ"; } 2> /dev/null | grep -qxF "$MARKER"; then
            echo "$p"
        fi
    done
}

# descendants PID... -> all live descendants of the given pids
descendants() {
    ps -eo pid=,ppid=,stat= | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
        { pid[NR] = $1; ppid[NR] = $2; st[NR] = $3 }
        END {
            changed = 1
            while (changed) {
                changed = 0
                for (i = 1; i <= NR; i++)
                    if (!(pid[i] in want) && (ppid[i] in want)) {
                        want[pid[i]] = 1; changed = 1
                        if (st[i] !~ /^Z/) out = out " " pid[i]
                    }
            }
            print out
        }'
}

node_name() {
    local h
    h=$(hostname -s 2>/dev/null || true)
    [ -n "$h" ] || h=localhost
    echo "$h"
}

write_conf() {
    local node cpus real_cpus mem extra="" hw topo
    node=$(node_name)
    # real topology as slurmd sees it, e.g. "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1"
    hw=$(slurmd -C 2> /dev/null | head -n1 || true)
    real_cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<< "$hw")
    [ -n "$real_cpus" ] || real_cpus=$(nproc)
    topo=$(grep -o 'Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' <<< "$hw" || true)
    [ -n "$topo" ] || topo="Boards=1 SocketsPerBoard=1 CoresPerSocket=$real_cpus ThreadsPerCore=1"
    cpus=${SLURM_LOCAL_CPUS:-$real_cpus}
    mem=${SLURM_LOCAL_MEM_MB:-$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)}
    if [ "$cpus" != "$real_cpus" ]; then
        # advertise a CPU count the hardware does not have (e.g. 4 MPI ranks on 2 cores)
        extra="SlurmdParameters=config_overrides"
        topo="Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1"
    fi
    cat > "$CONF.tmp" <<EOF
# generated by slurm-local.sh
ClusterName=localci
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=${SLURM_LOCAL_CTLD_PORT:-6817}
SlurmdPort=${SLURM_LOCAL_SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$MUNGE_SOCK,cred_expire=${SLURM_LOCAL_CRED_EXPIRE:-10}
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/plugstack.conf
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=${SLURM_LOCAL_PROCTRACK:-proctrack/pgid}
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=${SLURM_LOCAL_MPI_DEFAULT:-none}
ReturnToService=2
KillWait=5
# run the main scheduler every 2 s (default 60 s): requeued jobs restart soon after their hold-off
SchedulerParameters=${SLURM_LOCAL_SCHED_PARAMS:-sched_interval=2,bf_interval=1}
JobRequeue=1
# preemption: jobs in partition "debug" are requeued when partition "urgent" needs the CPUs
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
$extra
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus $topo RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=10
PartitionName=urgent Nodes=$node Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
EOF
    if [ -n "${SLURM_LOCAL_EXTRA_CONF:-}" ]; then
        printf '%b\n' "$SLURM_LOCAL_EXTRA_CONF" >> "$CONF.tmp"
    fi
    mv "$CONF.tmp" "$CONF"
    : > "$DIR/plugstack.conf"
}

wait_idle() {
    local node t st i
    node=$(node_name)
    t=${SLURM_LOCAL_TIMEOUT:-60}
    for ((i = 0; i < t * 10; i++)); do
        st=$(sinfo -h -n "$node" -o '%T' 2>/dev/null | head -n1 || true)
        case "$st" in
            idle | mixed | allocated) return 0 ;;
        esac
        # fail fast if a daemon died (e.g. port already in use)
        if [ "$i" -ge 10 ]; then
            pid_alive "$DIR/run/slurmctld.pid" slurmctld > /dev/null || { st="slurmctld died"; break; }
            pid_alive "$DIR/run/slurmd.pid" slurmd > /dev/null || { st="slurmd died"; break; }
        fi
        sleep 0.1
    done
    log "node did not become idle (waited $((i / 10))s of ${t}s; state: '${st:-none}')"
    sinfo -N -l 2>&1 | sed 's/^/  /' >&2 || true
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 2>/dev/null || true
    return 1
}

do_up() {
    command -v munged > /dev/null || die "munged not found (apt-get install munge)"
    command -v slurmctld > /dev/null || die "slurmctld not found (apt-get install slurm-wlm)"
    [ "$(id -u)" = 0 ] || die "this setup runs the daemons as root (SlurmUser=root)"
    [ ${#MUNGE_SOCK} -lt 100 ] || die "DIR too long for a unix socket path: $MUNGE_SOCK"

    if pid_alive "$DIR/run/munged.pid" munged > /dev/null &&
        pid_alive "$DIR/run/slurmctld.pid" slurmctld > /dev/null &&
        pid_alive "$DIR/run/slurmd.pid" slurmd > /dev/null; then
        log "already running in $DIR"
        wait_idle
        echo "export SLURM_CONF=$CONF"
        return 0
    fi
    # partial leftovers from an earlier run: stop them first
    do_down quiet

    local t0 t1
    t0=$(date +%s.%N)
    mkdir -p "$DIR" "$MUNGE_DIR" "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run"
    # munged insists that the socket directory is world-executable and not group/world-writable
    chmod 755 "$DIR" "$MUNGE_DIR"
    if [ ! -s "$MUNGE_DIR/munge.key" ]; then
        (umask 077 && dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none)
    fi
    chmod 400 "$MUNGE_DIR/munge.key"
    if [ "${SLURM_LOCAL_KEEP_STATE:-0}" != 1 ]; then
        rm -rf "$DIR/state" "$DIR/spool"
        mkdir -p "$DIR/state" "$DIR/spool"
    fi
    rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
    write_conf

    local port
    if command -v ss > /dev/null; then
        for port in "${SLURM_LOCAL_CTLD_PORT:-6817}" "${SLURM_LOCAL_SLURMD_PORT:-6818}"; do
            if [ -n "$(ss -Hltn "sport = :$port" 2> /dev/null)" ]; then
                die "TCP port $port is already in use (another Slurm?); set SLURM_LOCAL_CTLD_PORT/SLURM_LOCAL_SLURMD_PORT"
            fi
        done
    fi

    munged --key-file="$MUNGE_DIR/munge.key" --socket="$MUNGE_SOCK" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed" ||
        { tail -n 5 "$DIR/log/munged.log" >&2; die "munged failed to start"; }
    munge -S "$MUNGE_SOCK" -n | unmunge -S "$MUNGE_SOCK" > /dev/null || die "munge self-test failed"

    # the marker lets "down" find slurmstepd processes that outlive slurmd
    env "$MARKER" slurmctld -f "$CONF" ||
        { tail -n 20 "$DIR/log/slurmctld.log" >&2; die "slurmctld failed to start"; }
    env "$MARKER" slurmd -f "$CONF" ||
        { tail -n 20 "$DIR/log/slurmd.log" >&2; die "slurmd failed to start"; }

    # slurmctld/slurmd daemonize; pid files appear shortly after
    local i
    for ((i = 0; i < 50; i++)); do
        pid_alive "$DIR/run/slurmctld.pid" slurmctld > /dev/null &&
            pid_alive "$DIR/run/slurmd.pid" slurmd > /dev/null && break
        sleep 0.1
    done
    wait_idle || { do_down quiet; die "Slurm did not come up (logs in $DIR/log)"; }
    t1=$(date +%s.%N)
    log "up in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')s: munged=$(cat "$DIR/run/munged.pid") slurmctld=$(cat "$DIR/run/slurmctld.pid") slurmd=$(cat "$DIR/run/slurmd.pid")"
    echo "export SLURM_CONF=$CONF"
}

do_down() {
    local quiet=${1:-} i p ctld_up=0
    [ -d "$DIR" ] || return 0
    if pid_alive "$DIR/run/slurmctld.pid" slurmctld > /dev/null; then
        ctld_up=1
        # cancel every job so slurmstepd and the job processes go away with it
        squeue -h -o %A 2> /dev/null | xargs -r scancel --quiet 2> /dev/null || true
        for ((i = 0; i < 150; i++)); do
            [ -z "$(squeue -h -o %i 2> /dev/null)" ] && break
            sleep 0.1
        done
    fi
    stop_pid "$DIR/run/slurmd.pid" slurmd 15
    stop_pid "$DIR/run/slurmctld.pid" slurmctld 15
    # leftovers (slurmstepd of jobs that were not cancelled, e.g. slurmctld had crashed):
    # kill their whole process trees (job scripts, srun, tasks), then slurmstepd itself
    local left kids
    left=$(marker_pids | tr "\n" " ")
    if [ -n "$left" ]; then
        kids=$(descendants $left)
        log "killing leftover slurmstepd $left and their children $kids"
        for p in $kids $left; do kill -KILL "$p" 2> /dev/null || true; done
        sleep 0.2
    fi
    stop_pid "$DIR/run/munged.pid" munged 5
    rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
    [ -n "$quiet" ] || log "down ($DIR)"
    return 0
}

do_status() {
    local c p
    for c in munged slurmctld slurmd; do
        if p=$(pid_alive "$DIR/run/$c.pid" "$c"); then echo "$c: running (pid $p)"; else echo "$c: not running"; fi
    done
    if pid_alive "$DIR/run/slurmctld.pid" slurmctld > /dev/null; then
        sinfo
        squeue
    fi
}

case "$cmd" in
    up) do_up ;;
    down) do_down ;;
    status) do_status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    purge) do_down && rm -rf "$DIR" && log "removed $DIR" ;;
    *)
        echo "usage: $0 {up|down|status|env|purge} [DIR]" >&2
        exit 2
        ;;
esac
