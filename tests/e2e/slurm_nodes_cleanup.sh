#!/usr/bin/env bash
# jobs/slurm-local.sh with virtual nodes leaves nothing behind: `up DIR --nodes 2` makes two
# namespaces with hostnames n1 and n2 and a bridge; `down` removes every namespace, link and
# daemon; `purge` removes the leftovers of a crashed instance (daemons killed -9, pid files
# gone, a job still running in the namespaces), also of one whose directory is already deleted.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/slurm_nodes.bash"
require_slurm_nodes

A=$(mktemp -d /tmp/circal-nodes.XXXXXX)
B=$(mktemp -d /tmp/circal-nodes.XXXXXX)
cleanup() {
  local code=$?
  set +e
  bash "$LOCAL_SLURM" purge "$A" > /dev/null 2>&1
  bash "$LOCAL_SLURM" purge "$B" > /dev/null 2>&1
  rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT

# what an instance has on this machine: its namespaces, links, and processes that name its
# directory on their command line or carry its marker in their environment
traces() {  # traces DIR TAG
  ip netns list | awk -v p="slc-$2-" 'index($1, p) == 1 {print "namespace " $1}'
  ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^slc[bv]$2" | sed 's/^/link /'
  python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1]
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        env = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace").split("\0")
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        continue
    if state != "Z" and (d + "/" in cmd or f"SLURM_LOCAL_INSTANCE={d}" in env or "sleep 4711" in cmd.replace("\0", " ")):
        print("process", pid, cmd.replace("\0", " ")[:100])
PY
}
tag_of() { bash "$LOCAL_SLURM" net "$1" | awk '{print substr($2, 5)}'; }

t0=$SECONDS
eval "$(bash "$LOCAL_SLURM" up "$A" --nodes 2)"
tag=$(tag_of "$A")
echo "up in $((SECONDS - t0)) s; $(bash "$LOCAL_SLURM" net "$A")"
check "two namespaces named after the directory" test "$(ip netns list | grep -c "^slc-$tag-n[12]\b")" -eq 2
check "a bridge with the directory as its alias" test "$(cat "/sys/class/net/slcb$tag/ifalias")" = "slurm-local:$A"
hosts=$(timeout 60 srun -N2 -n2 hostname | sort | tr '\n' ' ')
check "srun -N2 runs on n1 and n2 (got: $hosts)" test "$hosts" = "n1 n2 "
addrs=$(timeout 60 srun -N2 -n2 sh -c 'ip -4 -o addr show dev eth0' | awk '{print $4}' | sort | tr '\n' ' ')
check "the nodes' addresses are in 198.18.0.0/15 (got: $addrs)" grep -qE '^198\.1[89]\.[0-9]+\.11/24 198\.1[89]\.[0-9]+\.12/24 $' <<< "$addrs"
check "the nodes have no other address than eth0 and lo" \
  test "$(ip -n "slc-$tag-n1" -o -4 addr show | awk '{print $2}' | sort | tr '\n' ' ')" = "eth0 lo "
check "the nodes have no default route" test -z "$(ip -n "slc-$tag-n1" route show default)"
check "the daemons run" test "$(traces "$A" "$tag" | grep -c '^process')" -ge 4

t0=$SECONDS
bash "$LOCAL_SLURM" down "$A"
echo "down in $((SECONDS - t0)) s"
left=$(traces "$A" "$tag")
check "down leaves no namespace, link or daemon${left:+ (left: $left)}" test -z "$left"

# A crash: a job runs on both nodes, every daemon is killed -9 and the pid files are lost.
eval "$(bash "$LOCAL_SLURM" up "$A" --nodes 2)"
job=$(sbatch --parsable -N2 -n2 -o /dev/null --wrap 'srun sleep 4711')
job_on_both_nodes() { [ "$(traces "$A" "$tag" | grep -c '^process .* sleep 4711')" -ge 3 ]; }  # srun + 2 sleeps
poll job_on_both_nodes --within 60 ||
  { echo "FAILED: the job did not start on both nodes"; exit 1; }
echo "job $job runs: $(traces "$A" "$tag" | grep -c 'sleep 4711') processes name 'sleep 4711'"
kill -9 $(cat "$A"/run/*.pid)
rm -f "$A"/run/*.pid
check "the crash left namespaces and job processes behind" test "$(traces "$A" "$tag" | grep -c 'sleep 4711\|^namespace')" -ge 3
t0=$SECONDS
bash "$LOCAL_SLURM" purge "$A"
echo "purge in $((SECONDS - t0)) s"
left=$(traces "$A" "$tag")
check "purge removes the crashed instance${left:+ (left: $left)}" test -z "$left"
check "purge removed the directory" test ! -e "$A"

# A crashed instance whose directory is already gone: purge of any directory finds it by
# its bridge's alias.
eval "$(bash "$LOCAL_SLURM" up "$B" --nodes 2)"
tag_b=$(tag_of "$B")
kill -9 $(cat "$B"/run/*.pid)
rm -rf "$B"
check "the orphan left its namespaces behind" test "$(traces "$B" "$tag_b" | grep -c '^namespace')" -eq 2
bash "$LOCAL_SLURM" purge "$A"
left=$(traces "$B" "$tag_b")
check "purge removes an orphaned instance${left:+ (left: $left)}" test -z "$left"
