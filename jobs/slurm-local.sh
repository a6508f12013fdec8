#!/bin/bash
# slurm-local.sh - run a private single-node Slurm (munged + slurmctld + slurmd)
# Private one-node Slurm for tests and trials: proctrack/pgid by default (jobs/README.md).
# out of one directory, for CI.  Tested with Debian 12 packages slurm-wlm 22.05.8,
# munge 0.5.15, as root, without systemd and without cgroups.
#
# Usage:
#   slurm-local.sh up   [DIR]   start everything (idempotent), wait until the node is idle,
#                               print "export SLURM_CONF=DIR/slurm.conf"
#   slurm-local.sh up DIR --nodes N
#                               N virtual nodes n1..nN instead: each its own network, UTS and
#                               mount namespace (hostname nK, its own TmpFS DIR/tmp) with its
#                               own slurmd, joined by a bridge on a free 198.18.X.0/24 (host
#                               .1, node K at .(10+K)); munged and slurmctld once in the root
#                               namespace. Idempotent: restarts the slurmd of a node that died.
#   slurm-local.sh net DIR      print "SUBNET BRIDGE" of a multi-node instance
#   slurm-local.sh kill-node DIR nK   kill -9 every process of node nK (slurmd, slurmstepd,
#                               job processes): a node that dies; "up" brings it back
#   slurm-local.sh cut-link DIR nK / heal-link DIR nK   take nK's link down / up
#   slurm-local.sh down [DIR]   cancel all jobs, stop slurmd, slurmctld, munged by PID (idempotent)
#   slurm-local.sh status [DIR] show daemon PIDs and sinfo
#   slurm-local.sh env  [DIR]   print "export SLURM_CONF=..."
#   slurm-local.sh purge [DIR]  down, then rm -rf DIR; also removes the namespaces and links
#                               of any instance whose directory no longer exists (a crashed
#                               run whose test already deleted DIR)
# Multi-node names derive from DIR (tag = 6 hex digits of its checksum): namespaces
# slc-TAG-nK, bridge slcbTAG, host-side veths slcvTAGK; the bridge's alias is
# "slurm-local:DIR", so leftovers can be traced back to their directory.
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
#   SLURM_LOCAL_SLURMD_TIMEOUT=10   (--nodes only) SlurmdTimeout: a dead node is DOWN after it
#   SLURM_LOCAL_PROCTRACK=proctrack/pgid   (default) also kills background children
#                               that a batch script leaves behind when it exits (linuxproc does not)
set -euo pipefail

cmd=${1:-}
DIR=${2:-${SLURM_LOCAL_DIR:-/tmp/slurm-local}}
NODES=""   # empty: the one-node cluster on 127.0.0.1; N: N virtual nodes in namespaces
ARG3=${3:-}
if [ "$ARG3" = --nodes ]; then
    NODES=${4:-}
    [[ "$NODES" =~ ^[1-9][0-9]?$ ]] || { echo "slurm-local: --nodes takes 1..99" >&2; exit 2; }
fi
case "$DIR" in /*) ;; *) DIR="$(pwd)/$DIR" ;; esac
DIR=${DIR%/}
CONF="$DIR/slurm.conf"
MUNGE_DIR="$DIR/munge"
MUNGE_SOCK="$MUNGE_DIR/munge.socket.2"
export SLURM_CONF="$CONF"

# The slurm.conf settings of both layouts (one node, or virtual nodes): munge, no accounting,
# cons_tres, requeue and preemption. $1: extra lines (SlurmdParameters=config_overrides).
shared_conf() {
    cat <<CONF
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$MUNGE_SOCK,cred_expire=${SLURM_LOCAL_CRED_EXPIRE:-10}
StateSaveLocation=$DIR/state
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
$1
CONF
}

# slurm.conf from stdin plus SLURM_LOCAL_EXTRA_CONF, put in place whole.
install_conf() {
    {
        cat
        if [ -n "${SLURM_LOCAL_EXTRA_CONF:-}" ]; then printf '%b\n' "$SLURM_LOCAL_EXTRA_CONF"; fi
    } > "$CONF.tmp"
    mv "$CONF.tmp" "$CONF"
    : > "$DIR/plugstack.conf"
}

log() { echo "slurm-local: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_alive PIDFILE COMM -> prints pid if the pid file names a live process with that comm
pid_alive() {
    local f=$1 comm=$2 pid
    [ -s "$f" ] || return 1
    read -r pid < "$f" || true
    pid=${pid//[^0-9]/}
    [ -n "$pid" ] || return 1
    [ -r "/proc/$pid/comm" ] || return 1
    local c
    { read -r c < "/proc/$pid/comm"; } 2> /dev/null || return 1
    [ "$c" = "$comm" ] || return 1
    is_running "$pid" || return 1
    # our daemons were started with paths under $DIR on their command line
    proc_has "$pid" cmdline "$DIR/" || return 1
    echo "$pid"
}

# true if PID exists and is not a zombie (PID 1 in some containers reaps late). The /proc
# helpers use shell builtins only: on a loaded machine every fork costs tens of milliseconds.
is_running() {
    local line st
    { read -r line < "/proc/$1/stat"; } 2> /dev/null || return 1
    st=${line##*) }
    st=${st%% *}
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# proc_has PID cmdline|environ STRING: the NUL-separated file holds STRING (environ: as an
# entry; cmdline: inside an argument)
proc_has() {
    local -a words
    { mapfile -d '' -t words < "/proc/$1/$2"; } 2> /dev/null || return 1
    local w
    for w in "${words[@]}"; do
        if [ "$2" = environ ]; then [ "$w" = "$3" ] && return 0; else [[ "$w" == *"$3"* ]] && return 0; fi
    done
    return 1
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
        if is_running "$p" && proc_has "$p" environ "$MARKER"; then
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
    {
        cat <<CONF
# generated by slurm-local.sh
ClusterName=localci
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=${SLURM_LOCAL_CTLD_PORT:-6817}
SlurmdPort=${SLURM_LOCAL_SLURMD_PORT:-6818}
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
CONF
        shared_conf "$extra"
        echo "NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus $topo RealMemory=$mem State=UNKNOWN"
        echo "PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=10"
        echo "PartitionName=urgent Nodes=$node Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF"
    } | install_conf
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
    if [ ! -d "$DIR" ]; then
        remove_nodes
        kill_by_name
        return 0
    fi
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
    for p in "$DIR"/run/slurmd-n*.pid; do [ -e "$p" ] && stop_pid "$p" slurmd 15; done
    remove_nodes
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
    kill_by_name
    remove_nodes
    rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock" "$DIR/run/nodes"
    [ -n "$quiet" ] || log "down ($DIR)"
    return 0
}

# ---- multi-node mode (up DIR --nodes N) -------------------------------------------------
TAG=$(printf %s "$DIR" | cksum | awk '{printf "%06x", $1 % 16777216}')
NS_PREFIX="slc-$TAG-"
BRIDGE="slcb$TAG"
VETH_PREFIX="slcv$TAG"
node_ns() { echo "${NS_PREFIX}n$1"; }
node_count() { cat "$DIR/run/nodes" 2> /dev/null || echo 0; }

# a /24 of 198.18.0.0/15 that no interface of this machine uses yet (first guess from TAG)
choose_subnet() {
    local used start k n net
    used=" $(ip -o -4 addr show 2> /dev/null | awk '{print $4}' | tr '\n' ' ')"
    start=$((0x$TAG % 512))
    for ((k = 0; k < 512; k++)); do
        n=$(((start + k) % 512))
        net="198.$((18 + n / 256)).$((n % 256))"
        grep -qF " $net." <<< "$used" || { echo "$net"; return 0; }
    done
    die "no free /24 left in 198.18.0.0/15"
}

# a free TCP port for slurmctld in the root namespace (first guess from TAG)
choose_port() {
    local p k
    for ((k = 0; k < 2000; k++)); do
        p=$((20000 + (0x$TAG + k) % 20000))
        [ -z "$(ss -Hltn "sport = :$p" 2> /dev/null)" ] && { echo "$p"; return 0; }
    done
    die "no free TCP port for slurmctld"
}

write_conf_nodes() {
    local n=$1 cpus mem hw topo real_cpus extra="" i net port
    net=$(cat "$DIR/run/net")
    port=$(cat "$DIR/run/ctld_port")
    hw=$(slurmd -C 2> /dev/null | head -n1 || true)
    real_cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<< "$hw")
    [ -n "$real_cpus" ] || real_cpus=$(nproc)
    topo=$(grep -o 'Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' <<< "$hw" || true)
    [ -n "$topo" ] || topo="Boards=1 SocketsPerBoard=1 CoresPerSocket=$real_cpus ThreadsPerCore=1"
    cpus=${SLURM_LOCAL_CPUS:-$real_cpus}
    # the nodes share the machine's memory
    mem=${SLURM_LOCAL_MEM_MB:-$(awk -v n="$n" '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9 / n}' /proc/meminfo)}
    if [ "$cpus" != "$real_cpus" ]; then
        extra="SlurmdParameters=config_overrides"
        topo="Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1"
    fi
    {
        cat <<CONF
# generated by slurm-local.sh up $DIR --nodes $n
ClusterName=slc$TAG
SlurmctldHost=$(node_name)($net.1)
SlurmctldPort=$port
SlurmdPort=${SLURM_LOCAL_SLURMD_PORT:-6818}
# per node (%n): spool, pid and log files. TmpFS is DIR/tmp, which each node's mount
# namespace backs with its own DIR/nodes/nK/tmp: srun --mpi=pmix makes its per-step
# directories there, and two nodes must not share them.
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
TmpFS=$DIR/tmp
# a node whose slurmd stops answering is set DOWN after this many seconds (default 300)
SlurmdTimeout=${SLURM_LOCAL_SLURMD_TIMEOUT:-10}
MessageTimeout=5
CONF
        shared_conf "$extra"
        for ((i = 1; i <= n; i++)); do
            echo "NodeName=n$i NodeAddr=$net.$((10 + i)) NodeHostname=n$i CPUs=$cpus $topo RealMemory=$mem State=UNKNOWN"
        done
        echo "PartitionName=debug Nodes=n[1-$n] Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=10"
        echo "PartitionName=urgent Nodes=n[1-$n] Default=NO MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF"
    } | install_conf
}

# node i's namespace, veth pair and address (idempotent)
node_net() {
    local i=$1 ns veth net
    ns=$(node_ns "$i")
    veth="$VETH_PREFIX$i"
    net=$(cat "$DIR/run/net")
    [ -e "/run/netns/$ns" ] || ip netns add "$ns"
    if ! ip link show "$veth" > /dev/null 2>&1; then
        ip -n "$ns" link del eth0 2> /dev/null || true
        ip link add "$veth" type veth peer name eth0 netns "$ns"
    fi
    ip link set "$veth" master "$BRIDGE" up
    ip -n "$ns" addr replace "$net.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
}

# node i's slurmd in its namespaces: network (nsenter, not "ip netns exec", which remounts
# /sys and leaves slurmd without /sys/fs/cgroup), UTS (hostname nK), mount (private TmpFS)
start_node() {
    local i=$1 ns
    ns=$(node_ns "$i")
    node_net "$i"
    mkdir -p "$DIR/nodes/n$i/tmp" "$DIR/spool/n$i" "$DIR/tmp"
    chmod 1777 "$DIR/nodes/n$i/tmp"
    nsenter --net="/run/netns/$ns" unshare --uts --mount --propagation private \
        sh -c 'hostname "$1" && mount --bind "$2" "$3" && exec env "$4" slurmd -f "$5" -N "$1"' \
        sh "n$i" "$DIR/nodes/n$i/tmp" "$DIR/tmp" "$MARKER" "$CONF" ||
        { tail -n 20 "$DIR/log/slurmd-n$i.log" >&2 2> /dev/null; die "slurmd of n$i failed to start"; }
}

node_alive() { pid_alive "$DIR/run/slurmd-n$1.pid" slurmd > /dev/null; }

wait_idle_nodes() {
    local n=$1 t i st="" ready k
    t=${SLURM_LOCAL_TIMEOUT:-60}
    for ((i = 0; i < t * 10; i++)); do
        st=$(sinfo -h -N -o '%N %T' 2> /dev/null || true)
        ready=$(grep -cE ' (idle|mixed|allocated)$' <<< "$st" || true)
        [ "$ready" -ge "$n" ] && return 0
        if [ "$i" -ge 10 ]; then
            pid_alive "$DIR/run/slurmctld.pid" slurmctld > /dev/null || { st="slurmctld died"; break; }
            for ((k = 1; k <= n; k++)); do node_alive "$k" || { st="slurmd of n$k died"; break 2; }; done
        fi
        sleep 0.1
    done
    log "nodes did not become idle (waited $((i / 10))s of ${t}s; state: '${st//$'\n'/, }')"
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR"/log/slurmd-n*.log >&2 2> /dev/null || true
    return 1
}

do_up_nodes() {
    local n=$NODES i t0 t1 tool
    for tool in munged slurmctld slurmd ip nsenter unshare ss; do
        command -v "$tool" > /dev/null || die "$tool not found (apt-get install slurm-wlm munge iproute2 util-linux)"
    done
    [ "$(id -u)" = 0 ] || die "namespaces and the daemons need root"
    [ ${#MUNGE_SOCK} -lt 100 ] || die "DIR too long for a unix socket path: $MUNGE_SOCK"
    if pid_alive "$DIR/run/munged.pid" munged > /dev/null &&
        pid_alive "$DIR/run/slurmctld.pid" slurmctld > /dev/null && [ "$(node_count)" = "$n" ]; then
        for ((i = 1; i <= n; i++)); do
            if ! node_alive "$i"; then
                log "restarting node n$i"
                kill_node_processes "$i"
                start_node "$i"
            fi
        done
        wait_idle_nodes "$n"
        echo "export SLURM_CONF=$CONF"
        return 0
    fi
    do_down quiet
    t0=$(date +%s.%N)
    mkdir -p "$DIR" "$MUNGE_DIR" "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run" "$DIR/tmp"
    chmod 755 "$DIR" "$MUNGE_DIR"
    if [ ! -s "$MUNGE_DIR/munge.key" ]; then
        (umask 077 && dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none)
    fi
    chmod 400 "$MUNGE_DIR/munge.key"
    if [ "${SLURM_LOCAL_KEEP_STATE:-0}" != 1 ]; then
        rm -rf "$DIR/state" "$DIR/spool" "$DIR/nodes"
        mkdir -p "$DIR/state" "$DIR/spool"
    fi
    rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
    echo "$n" > "$DIR/run/nodes"
    choose_subnet > "$DIR/run/net"
    choose_port > "$DIR/run/ctld_port"
    write_conf_nodes "$n"

    ip link add "$BRIDGE" type bridge
    ip link set "$BRIDGE" alias "slurm-local:$DIR"
    ip addr add "$(cat "$DIR/run/net").1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up

    munged --key-file="$MUNGE_DIR/munge.key" --socket="$MUNGE_SOCK" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed" ||
        { tail -n 5 "$DIR/log/munged.log" >&2; do_down quiet; die "munged failed to start"; }
    munge -S "$MUNGE_SOCK" -n | unmunge -S "$MUNGE_SOCK" > /dev/null || { do_down quiet; die "munge self-test failed"; }
    env "$MARKER" slurmctld -f "$CONF" ||
        { tail -n 20 "$DIR/log/slurmctld.log" >&2; do_down quiet; die "slurmctld failed to start"; }
    for ((i = 1; i <= n; i++)); do start_node "$i"; done
    wait_idle_nodes "$n" || { do_down quiet; die "Slurm did not come up (logs in $DIR/log)"; }
    t1=$(date +%s.%N)
    log "up in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')s: $n nodes on $(cat "$DIR/run/net").0/24 (bridge $BRIDGE), slurmctld port $(cat "$DIR/run/ctld_port")"
    echo "export SLURM_CONF=$CONF"
}

# kill -9 every process in node i's network namespace and wait until they are gone
kill_node_processes() {
    local ns pids k
    ns=$(node_ns "$1")
    [ -e "/run/netns/$ns" ] || return 0
    for ((k = 0; k < 50; k++)); do
        pids=$(ip netns pids "$ns" 2> /dev/null | tr '\n' ' ')
        [ -n "${pids// /}" ] || return 0
        kill -KILL $pids 2> /dev/null || true
        sleep 0.1
    done
    log "processes in $ns survived kill -9: $pids"
}

# every namespace and link named after this DIR, with everything that runs in them
remove_nodes() {
    local ns i link
    for ns in $(ip netns list 2> /dev/null | awk -v p="$NS_PREFIX" 'index($1, p) == 1 {print $1}'); do
        i=${ns#"${NS_PREFIX}n"}
        stop_pid "$DIR/run/slurmd-n$i.pid" slurmd 5
        kill_node_processes "$i"
        ip netns del "$ns" 2> /dev/null || log "could not delete namespace $ns"
    done
    for link in $(ip -o link show 2> /dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
        grep -E "^(${BRIDGE}|${VETH_PREFIX}[0-9]+)$" || true); do
        ip link del "$link" 2> /dev/null || true
    done
}

# daemons of this instance found by name: munged/slurmctld/slurmd with DIR on their command
# line, slurmstepd with the instance marker (pid files may be gone after a crash)
kill_by_name() {
    local p comm victims=""
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        { read -r comm < "/proc/$p/comm"; } 2> /dev/null || continue
        case "$comm" in
            munged | slurmctld | slurmd | slurmstepd) ;;
            *) continue ;;
        esac
        is_running "$p" || continue
        if proc_has "$p" cmdline "$DIR/" || proc_has "$p" environ "$MARKER"; then
            victims="$victims $p"
        fi
    done
    if [ -n "$victims" ]; then
        log "killing leftover daemons by name:$victims"
        kill -KILL $victims 2> /dev/null || true
        sleep 0.2
    fi
}

# instances whose directory is gone (a crashed run whose test already deleted it)
purge_orphans() {
    local f alias d
    for f in /sys/class/net/slcb*/ifalias; do
        [ -r "$f" ] || continue
        alias=$(cat "$f")
        d=${alias#slurm-local:}
        [ "$d" != "$alias" ] && [ -n "$d" ] && [ ! -d "$d" ] || continue
        log "removing the leftovers of $d (directory gone)"
        bash "$0" down "$d" > /dev/null 2>&1 || true
    done
}

node_number() {
    [[ "${1:-}" =~ ^n([1-9][0-9]?)$ ]] || die "name a node: n1, n2, ..."
    [ -e "/run/netns/$(node_ns "${BASH_REMATCH[1]}")" ] || die "no node $1 in $DIR"
    echo "${BASH_REMATCH[1]}"
}

do_status() {
    local c p
    local daemons="munged slurmctld slurmd" i
    if [ "$(node_count)" -gt 0 ]; then
        daemons="munged slurmctld"
        for ((i = 1; i <= $(node_count); i++)); do daemons="$daemons slurmd-n$i"; done
    fi
    for c in $daemons; do
        if p=$(pid_alive "$DIR/run/$c.pid" "${c%-n*}"); then echo "$c: running (pid $p)"; else echo "$c: not running"; fi
    done
    if pid_alive "$DIR/run/slurmctld.pid" slurmctld > /dev/null; then
        sinfo
        squeue
    fi
}

case "$cmd" in
    up) if [ -n "$NODES" ]; then do_up_nodes; else do_up; fi ;;
    down) do_down ;;
    status) do_status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    purge) do_down && rm -rf "$DIR" && log "removed $DIR" && purge_orphans ;;
    net) [ -s "$DIR/run/net" ] || die "no multi-node instance in $DIR"; echo "$(cat "$DIR/run/net").0/24 $BRIDGE" ;;
    kill-node) i=$(node_number "$ARG3") && kill_node_processes "$i" && log "killed every process of $ARG3" ;;
    cut-link) i=$(node_number "$ARG3") && ip link set "$VETH_PREFIX$i" down && log "cut the link of $ARG3" ;;
    heal-link) i=$(node_number "$ARG3") && ip link set "$VETH_PREFIX$i" up && log "restored the link of $ARG3" ;;
    *)
        echo "usage: $0 {up|down|status|env|purge|net|kill-node|cut-link|heal-link} [DIR] [--nodes N | nK]" >&2
        exit 2
        ;;
esac
