#!/usr/bin/env bash
# A real SLURM cluster on this machine, for the slurm tests and for development.
#
#   scripts/slurm-cluster.sh up [--nodes N]   install what is missing, start munged, slurmctld
#                                    and the slurmd of each node; returns once every node is idle
#   scripts/slurm-cluster.sh down    stop what `up` started and remove its state, namespaces,
#                                    links and bridge (idempotent: also after a crashed `up`)
#   scripts/slurm-cluster.sh status  say whether the cluster answers
#
# One node (the default): slurmd runs in this machine's own network stack, named after it.
# N > 1 nodes (at most 9): each node is a network namespace ph-node<i> of its own, with its own
# UTS namespace (hostname ph-node<i>), joined by a veth pair to a private bridge ph-slurm0 that
# this script creates; the bridge is $PROJHEAD_SLURM_SUBNET.1/24 (default 10.231.7) in this
# machine's namespace, where slurmctld and munged run, and node i is $PROJHEAD_SLURM_SUBNET.1<i>.
# Nothing is routed or forwarded: the nodes reach the bridge's addresses and each other, nothing
# else. Each node's /etc/hosts (/etc/netns/<node>/hosts, bound over it for that node) names every
# node, so that a node's hostname resolves to its address, as torchrun and gloo expect of a
# cluster. Each slurmd has its own spool, pid file and log (%n in slurm.conf); munged's socket is
# a file, shared by all. The nodes have one CPU each (two nodes: the two CPUs of a 2-core
# machine), half this machine's memory each, and share its file system: a shared file system.
#
# Needs root (as the daemons run with SlurmUser=root) and Debian's packages (installed when
# missing). State, spool and logs live in $PROJHEAD_SLURM_DIR (default /var/tmp/projhead-slurm-cluster);
# slurm.conf is written there and linked from /etc/slurm/slurm.conf so that sbatch, squeue,
# scancel find it without SLURM_CONF. A machine that already has its own /etc/slurm/slurm.conf
# is left alone: `up` refuses, since a configured cluster is not ours to change.
set -euo pipefail

DIR="${PROJHEAD_SLURM_DIR:-/var/tmp/projhead-slurm-cluster}"
CONF=/etc/slurm/slurm.conf
PKGS=(slurmctld slurmd slurm-client munge)
WAIT_S="${PROJHEAD_SLURM_WAIT_S:-60}"
SUBNET="${PROJHEAD_SLURM_SUBNET:-10.231.7}"
BRIDGE=ph-slurm0
NODE_PREFIX=ph-node
NODES=1

log() { printf 'slurm-cluster: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

install_missing() {
  local need=()
  command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
  command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
  command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
  command -v munged >/dev/null 2>&1 || need+=(munge)
  [ "${#need[@]}" -eq 0 ] && return 0
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
}

# Polls until `$@` succeeds, for at most WAIT_S seconds (never a fixed sleep).
wait_for() {
  local what="$1"; shift
  local deadline=$((SECONDS + WAIT_S))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  log "$what"
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  [ -s /etc/munge/munge.key ] || mungekey --create --force
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  runuser -u munge -- /usr/sbin/munged
  touch "$DIR/started-munged"
  wait_for "munged answers" sh -c 'munge -n </dev/null | unmunge'
}

ensure_hostname() {
  local host
  host="$(hostname -s)"
  getent hosts "$host" >/dev/null && return 0
  log "adding $host to /etc/hosts"
  echo "127.0.1.1 $host # added by projhead scripts/slurm-cluster.sh" >>/etc/hosts
}

node_name() { echo "$NODE_PREFIX$1"; }
node_addr() { echo "$SUBNET.1$1"; }

# What several nodes need of this machine: `ip` with network namespaces, veth and bridge links,
# and `unshare` for a hostname per node. Checked before anything is changed.
check_netns() {
  command -v ip >/dev/null 2>&1 || die "--nodes $NODES needs \`ip\` (Debian package iproute2) for network namespaces"
  command -v unshare >/dev/null 2>&1 || die "--nodes $NODES needs \`unshare\` (util-linux) for a hostname per node"
  local probe=ph-probe$$
  ip netns add "$probe" 2>/dev/null || die "--nodes $NODES needs network namespaces: \`ip netns add\` failed (no CAP_SYS_ADMIN, or a kernel without CONFIG_NET_NS)"
  if ! ip link add "$probe" type veth peer name eth0 netns "$probe" 2>/dev/null; then
    ip netns del "$probe" 2>/dev/null || true
    die "--nodes $NODES needs veth links: \`ip link add type veth\` failed (kernel module veth missing?)"
  fi
  ip link del "$probe" 2>/dev/null || true
  ip netns del "$probe"
  if ! ip link add "${probe}b" type bridge 2>/dev/null; then die "--nodes $NODES needs a bridge: \`ip link add type bridge\` failed (kernel module bridge missing?)"; fi
  ip link del "${probe}b"
}

# The bridge, one namespace per node with a veth pair into the bridge, /etc/netns/<node>/hosts.
make_network() {
  # Only addresses of our own: a subnet this machine already uses is not ours to take.
  if ip -o addr show | grep -qF " $SUBNET."; then die "$SUBNET.0/24 is in use on this machine; choose another with PROJHEAD_SLURM_SUBNET"; fi
  ip link add "$BRIDGE" type bridge
  ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  local i n hosts
  hosts="127.0.0.1 localhost
$SUBNET.1 $(hostname -s)"
  for i in $(seq "$NODES"); do hosts+="
$(node_addr "$i") $(node_name "$i")"; done
  for i in $(seq "$NODES"); do
    n="$(node_name "$i")"
    ip netns add "$n"
    ip link add "$n-v" type veth peer name eth0 netns "$n"
    ip link set "$n-v" master "$BRIDGE" up
    ip -n "$n" addr add "$(node_addr "$i")/24" dev eth0
    ip -n "$n" link set eth0 up
    ip -n "$n" link set lo up
    mkdir -p "/etc/netns/$n"
    printf '# Written by projhead scripts/slurm-cluster.sh\n%s\n' "$hosts" >"/etc/netns/$n/hosts"
  done
  echo "$NODES" >"$DIR/nodes"
  allow_bridge_traffic
}

# Why: with br_netfilter loaded (dockerd loads it) frames crossing a bridge go through iptables'
# FORWARD chain, whose policy dockerd sets to DROP: node to node traffic would vanish while node to
# bridge (slurmctld) still works. One ACCEPT for our bridge to itself; dockerd keeps it when it
# starts later (it inserts its own jumps above and never flushes FORWARD).
allow_bridge_traffic() {
  command -v iptables >/dev/null 2>&1 || return 0
  iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD 1 -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT ||
    die "could not let $BRIDGE forward to itself (iptables -I FORWARD failed)"
}

# Node 1 connects to a TCP listener on node 2 over the bridge, as gloo and the c10d store will:
# a cluster whose nodes cannot reach each other fails here, not as a hung job later.
check_node_links() {
  local a b port=29411
  a="$(node_name 1)"; b="$(node_name 2)"
  nsenter --net="/run/netns/$b" node -e "const s=require('net').createServer(c=>{c.end('ok');s.close()});s.listen($port,'0.0.0.0');setTimeout(()=>process.exit(1),30000)" &
  local listener=$!
  local ok=1
  for _ in $(seq 10); do
    if nsenter --net="/run/netns/$a" node -e "const c=require('net').connect($port,'$(node_addr 2)');c.setTimeout(2000,()=>process.exit(1));c.on('data',d=>process.exit(String(d)==='ok'?0:1));c.on('error',()=>process.exit(1))" 2>/dev/null; then ok=0; break; fi
    sleep 0.2
  done
  kill "$listener" 2>/dev/null || true; wait "$listener" 2>/dev/null || true
  [ "$ok" -eq 0 ] || die "$a cannot reach $b over $BRIDGE (TCP port $port): a firewall drops bridged traffic? (iptables -S FORWARD; sysctl net.bridge.bridge-nf-call-iptables)"
  log "$a reaches $b over $BRIDGE"
}

# Removes every namespace, link and hosts file named like ours, whether or not $DIR remembers them.
remove_network() {
  local n
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$NODE_PREFIX[0-9]+$" || true); do
    # What still runs in the namespace (a job step that outlived its slurmd) is ours: end it.
    ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$n" 2>/dev/null || true
    rm -rf "/etc/netns/$n"
    rmdir /etc/netns 2>/dev/null || true
  done
  for n in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^($NODE_PREFIX[0-9]+-v|$BRIDGE)$" || true); do
    ip link del "$n" 2>/dev/null || true
  done
  if command -v iptables >/dev/null 2>&1; then
    while iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  fi
}

write_conf() {
  local host node ctl_port d_port ctl nodes_conf
  host="$(hostname -s)"
  ctl_port="$(free_port)"
  d_port="$(free_port)"
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  if [ "$NODES" -eq 1 ]; then
    # slurmd -C prints this machine's node line (CPUs, sockets, cores, RealMemory); keep its
    # first line only, with our node name.
    node="$(slurmd -C | head -n1 | sed -E "s/^NodeName=[^ ]+/NodeName=$host/")"
    ctl="$host"
    nodes_conf="$node State=UNKNOWN"
    NODELIST="$host"
  else
    local mem i
    mem="$(slurmd -C | head -n1 | sed -nE 's/.*RealMemory=([0-9]+).*/\1/p')"
    mem=$(( ${mem:-2000} / NODES ))
    ctl="$host($SUBNET.1)"
    nodes_conf="# Each node a network namespace (see scripts/slurm-cluster.sh); sizes from this file, not the hardware."
    for i in $(seq "$NODES"); do
      mkdir -p "$DIR/spool/$(node_name "$i")"
      nodes_conf+="
NodeName=$(node_name "$i") NodeAddr=$(node_addr "$i") NodeHostname=$(node_name "$i") CPUs=1 RealMemory=$mem State=UNKNOWN"
    done
    NODELIST="${NODE_PREFIX}[1-$NODES]"
  fi
  cat >"$DIR/slurm.conf" <<EOF
# Written by projhead scripts/slurm-cluster.sh: a $NODES-node cluster for tests and development.
ClusterName=projhead
SlurmctldHost=$ctl
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool$( [ "$NODES" -eq 1 ] || echo /%n )
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd$( [ "$NODES" -eq 1 ] || echo -%n ).pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd$( [ "$NODES" -eq 1 ] || echo -%n ).log
$( [ "$NODES" -eq 1 ] || printf '%s\n' SlurmdParameters=config_overrides "# A node that stops answering (its slurmd killed, its link cut) is DOWN after 15 s, not 300." SlurmdTimeout=15 )
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
# Fast turnaround for tests: a finished or cancelled job is gone from squeue soon.
MinJobAge=2
KillWait=30
$nodes_conf
PartitionName=debug Nodes=$NODELIST Default=YES MaxTime=INFINITE State=UP
# Only account "projhead" may use this one. Without an accounting database SLURM checks no
# account names otherwise; the tests use it to see a job held for its account.
PartitionName=restricted Nodes=$NODELIST MaxTime=INFINITE State=UP AllowAccounts=projhead
EOF
  if [ -L "$CONF" ] || [ ! -e "$CONF" ]; then
    mkdir -p /etc/slurm
    ln -sfn "$DIR/slurm.conf" "$CONF"
  fi
}

# Every node of the cluster (and at least $1 of them, default 1) idle, mixed or allocated.
node_idle() {
  local states
  states="$(sinfo -h -N -o '%N %T' | sort -u)"
  [ "$(grep -cE ' (idle|mixed|allocated)$' <<<"$states")" -ge "${1:-1}" ] && ! grep -qvE ' (idle|mixed|allocated)$' <<<"$states"
}

start_slurmds() {
  if [ "$NODES" -eq 1 ]; then
    slurmd -f "$DIR/slurm.conf"
    return
  fi
  local i n
  for i in $(seq "$NODES"); do
    n="$(node_name "$i")"
    # Its own network stack (the namespace), hostname (a UTS namespace) and /etc/hosts (bound in
    # a mount namespace of its own); slurmd forks into the background inside them, and so do the
    # jobs it starts. Not `ip netns exec`: that mounts a fresh /sys, without the cgroup file
    # system slurmd wants.
    nsenter --net="/run/netns/$n" unshare --uts --mount sh -c 'mount --bind "/etc/netns/$1/hosts" /etc/hosts && hostname "$1" && exec slurmd -N "$1" -f "$2"' sh "$n" "$DIR/slurm.conf"
  done
}

up() {
  [ "$(id -u)" -eq 0 ] || die "needs root (the daemons run as SlurmUser=root)"
  if [ -e "$CONF" ] && [ ! -L "$CONF" ]; then
    if sinfo -h >/dev/null 2>&1; then log "a configured cluster answers already ($CONF); using it"; exit 0; fi
    die "$CONF exists and is not ours; not touching a configured cluster"
  fi
  if [ -e "$DIR/slurm.conf" ] && [ "$(cat "$DIR/nodes" 2>/dev/null || echo 1)" -eq "$NODES" ] && sinfo -h >/dev/null 2>&1 && node_idle "$NODES"; then
    # A dockerd started since may have closed the bridge: open it again and check.
    if [ "$NODES" -gt 1 ]; then allow_bridge_traffic; check_node_links; fi
    log "already up with $NODES node(s) ($DIR)"; return 0
  fi
  [ "$NODES" -eq 1 ] || check_netns
  install_missing
  down_all
  mkdir -p "$DIR"
  echo "$NODES" >"$DIR/nodes"
  start_munge
  ensure_hostname
  [ "$NODES" -eq 1 ] || make_network
  write_conf
  slurmctld -f "$DIR/slurm.conf" -i
  wait_for "slurmctld answers" sinfo -h || { tail -n 20 "$DIR/log/slurmctld.log" >&2 || true; die "slurmctld did not answer within ${WAIT_S} s"; }
  start_slurmds
  wait_for "$NODES node(s) idle: $(sinfo -h -o %N)" node_idle "$NODES" || {
    sinfo -N >&2 || true; tail -n 20 "$DIR"/log/slurmd*.log >&2 || true
    die "the nodes did not become idle within ${WAIT_S} s"
  }
  [ "$NODES" -eq 1 ] || check_node_links
}

stop_pidfile() {
  local f="$1" pid
  [ -s "$f" ] || return 0
  pid="$(cat "$f")"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

down_quiet() {
  [ -d "$DIR" ] || return 0
  # Jobs first: their workers checkpoint on SIGTERM while slurmd still supervises them.
  if [ -e "$DIR/slurm.conf" ] && squeue -h -o %i >/dev/null 2>&1; then
    scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
  fi
  local f
  for f in "$DIR"/slurmd*.pid; do [ -e "$f" ] && stop_pidfile "$f"; done
  stop_pidfile "$DIR/slurmctld.pid"
  if [ -e "$DIR/started-munged" ] && [ -s /run/munge/munged.pid ]; then stop_pidfile /run/munge/munged.pid; fi
  if [ -L "$CONF" ] && [ "$(readlink "$CONF")" = "$DIR/slurm.conf" ]; then rm -f "$CONF"; fi
  rm -rf "$DIR"
}

down_all() {
  down_quiet
  # Namespaces and links even when $DIR is gone (an `up` that failed half-way, a wiped /var/tmp).
  command -v ip >/dev/null 2>&1 && remove_network
  return 0
}

cmd="${1:-}"
shift || true
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES="${2:-}"; shift 2 ;;
    --nodes=*) NODES="${1#--nodes=}"; shift ;;
    *) echo "usage: $0 up [--nodes N]|down|status" >&2; exit 2 ;;
  esac
done
[[ "$NODES" =~ ^[1-9]$ ]] || die "--nodes: got '$NODES', expected 1 to 9"

case "$cmd" in
  up) up ;;
  down) down_all; log "down" ;;
  status) sinfo -N ;;
  *) echo "usage: $0 up [--nodes N]|down|status" >&2; exit 2 ;;
esac
