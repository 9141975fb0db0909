#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests and trying the study scripts (Debian's
# slurmctld, slurmd, slurm-client and munge; run as root, no cgroups).
#
#   scripts/slurm/local-cluster.sh start DIR   # writes DIR/slurm.conf, starts the daemons
#   export SLURM_CONF=DIR/slurm.conf           # for sbatch, squeue, sinfo
#   scripts/slurm/local-cluster.sh stop DIR    # stops only the daemons `start` started
#
# State, spool, logs and pid files live in DIR. munged is started only if none answers yet.
set -euo pipefail
cmd="${1:-}"
dir="${2:-}"
if [[ -z "$cmd" || -z "$dir" ]]; then
  sed -n '2,9p' "$0" >&2
  exit 2
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

fail() {
  echo "local-cluster: $*" >&2
  for log in "$dir"/*.log; do
    [[ -f "$log" ]] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

stop_pid() { # pid file
  if [[ -f "$1" ]]; then
    local pid
    pid="$(cat "$1")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$1"
  fi
}

case "$cmd" in
start)
  for tool in munged slurmctld slurmd sbatch sinfo; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing: scripts/apt-install.sh slurmctld slurmd slurm-client munge"
  done
  host="$(hostname -s)"
  mkdir -p "$dir/state" "$dir/spool"
  cat >"$dir/slurm.conf" <<CONF
ClusterName=maze-rllf-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=$host CPUs=2 RealMemory=4000 State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge
    chown munge:munge /run/munge 2>/dev/null || true
    munged --force --pid-file="$dir/munged.pid" >"$dir/munged.log" 2>&1 \
      || fail "munged did not start"
    for _ in $(seq 1 50); do
      munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
      sleep 0.1
    done
    munge -n | unmunge >/dev/null 2>&1 || fail "munge does not answer"
  fi
  slurmctld || fail "slurmctld did not start"
  slurmd || fail "slurmd did not start"
  for _ in $(seq 1 100); do
    state="$(sinfo -h -o '%t' 2>/dev/null | head -n 1)"
    [[ "$state" == idle* ]] && { echo "SLURM_CONF=$dir/slurm.conf"; exit 0; }
    sleep 0.2
  done
  fail "the node did not become idle within 20 s (sinfo: ${state:-no answer})"
  ;;
stop)
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munged.pid"
  ;;
*)
  fail "unknown command $cmd: start or stop"
  ;;
esac
