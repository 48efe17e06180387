#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the slurm tests and for development.
#
#   scripts/slurm-cluster.sh up      install what is missing, start munged, slurmctld, slurmd;
#                                    returns once the node is idle
#   scripts/slurm-cluster.sh down    stop what `up` started and remove its state
#   scripts/slurm-cluster.sh status  say whether the cluster answers
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

write_conf() {
  local host node ctl_port d_port
  host="$(hostname -s)"
  # slurmd -C prints this machine's node line (CPUs, sockets, cores, RealMemory); keep its
  # first line only, with our node name.
  node="$(slurmd -C | head -n1 | sed -E "s/^NodeName=[^ ]+/NodeName=$host/")"
  ctl_port="$(free_port)"
  d_port="$(free_port)"
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  cat >"$DIR/slurm.conf" <<EOF
# Written by projhead scripts/slurm-cluster.sh: a one-node cluster for tests and development.
ClusterName=projhead
SlurmctldHost=$host
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
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
# Fast turnaround for tests: a finished or cancelled job is gone from squeue soon.
MinJobAge=2
KillWait=30
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
# Only account "projhead" may use this one. Without an accounting database SLURM checks no
# account names otherwise; the tests use it to see a job held for its account.
PartitionName=restricted Nodes=$host MaxTime=INFINITE State=UP AllowAccounts=projhead
EOF
  if [ -L "$CONF" ] || [ ! -e "$CONF" ]; then
    mkdir -p /etc/slurm
    ln -sfn "$DIR/slurm.conf" "$CONF"
  fi
}

node_idle() {
  sinfo -h -N -o '%T' | grep -qE '^(idle|mixed|allocated)'
}

up() {
  [ "$(id -u)" -eq 0 ] || die "needs root (the daemons run as SlurmUser=root)"
  if [ -e "$CONF" ] && [ ! -L "$CONF" ]; then
    if sinfo -h >/dev/null 2>&1; then log "a configured cluster answers already ($CONF); using it"; exit 0; fi
    die "$CONF exists and is not ours; not touching a configured cluster"
  fi
  if [ -e "$DIR/slurm.conf" ] && sinfo -h >/dev/null 2>&1 && node_idle; then
    log "already up ($DIR)"; return 0
  fi
  install_missing
  down_quiet
  mkdir -p "$DIR"
  start_munge
  ensure_hostname
  write_conf
  slurmctld -f "$DIR/slurm.conf" -i
  wait_for "slurmctld answers" sinfo -h || { tail -n 20 "$DIR/log/slurmctld.log" >&2 || true; die "slurmctld did not answer within ${WAIT_S} s"; }
  slurmd -f "$DIR/slurm.conf"
  wait_for "node $(hostname -s) is idle" node_idle || {
    sinfo -N >&2 || true; tail -n 20 "$DIR/log/slurmd.log" >&2 || true
    die "the node did not become idle within ${WAIT_S} s"
  }
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
  stop_pidfile "$DIR/slurmd.pid"
  stop_pidfile "$DIR/slurmctld.pid"
  if [ -e "$DIR/started-munged" ] && [ -s /run/munge/munged.pid ]; then stop_pidfile /run/munge/munged.pid; fi
  if [ -L "$CONF" ] && [ "$(readlink "$CONF")" = "$DIR/slurm.conf" ]; then rm -f "$CONF"; fi
  rm -rf "$DIR"
}

case "${1:-}" in
  up) up ;;
  down) down_quiet; log "down" ;;
  status) sinfo -N ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
