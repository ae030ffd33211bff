#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
# A throwaway one-node Slurm cluster on this machine, to try ShardScope's distributed mode
# (`consolidate --distributed`) under Slurm's srun instead of mpirun. For trying things out and
# for tests only, not for production: everything runs as root, with a fresh munge key, and is
# torn down when the command ends.
#
#   bash scripts/slurm-single-node.sh COMMAND ARGS...
#
# runs `srun -n 3 COMMAND ARGS...` (SLURM_TASKS=N for another number of tasks), prints srun's
# exit code and exits with it. For example:
#
#   bash scripts/slurm-single-node.sh hostname
#   bash scripts/slurm-single-node.sh build/app/shardscope-cli consolidate --distributed ...
#
# What it does:
#   - installs what is missing with apt-get (Debian 12): slurmctld, slurmd, slurm-client
#     (srun, sinfo, scontrol), munge, libpmix-dev (Slurm's pmix plugin dlopens the unversioned
#     libpmix.so), openmpi-bin and libopenmpi-dev;
#   - writes slurm.conf into a temporary directory (NodeName = `hostname -s`, CPUs = `nproc`,
#     state, spool, log and pid files inside it), starts munged with a key of its own on a socket
#     in that directory, then slurmctld and slurmd, and waits until the node is idle;
#   - runs srun with --overcommit, so more tasks than cores is fine (3 tasks on 2 cores), and
#     with MpiDefault=pmix when `srun --mpi=list` offers it (Open MPI 4.1 then sees all the
#     tasks as one MPI_COMM_WORLD), else pmi2 (for MPIs with a PMI-2 client);
#   - on exit stops the daemons and removes the temporary directory.
#
# The daemons, and so the command, run as root (through sudo when the caller is not root).
# Environment: SLURM_TASKS (default 3); SHARDSCOPE_SLURM_MPI (MpiDefault, e.g. pmi2, instead of
# the automatic choice); SHARDSCOPE_SLURM_PORT (slurmctld's port, default 16817; slurmd takes
# the next one, so two of these clusters cannot run at once with the same ports);
# SHARDSCOPE_SLURM_KEEP=1 keeps the temporary directory (slurm.conf and the daemons' logs).
# A system Slurm (/etc/slurm/slurm.conf, munged on /run/munge) is left alone.
set -euo pipefail

if [ $# -eq 0 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '4,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
    [ $# -eq 0 ] && exit 2 || exit 0
fi

tasks="${SLURM_TASKS:-3}"
ctld_port="${SHARDSCOPE_SLURM_PORT:-16817}"
slurmd_port=$((ctld_port + 1))

packages=(slurmctld slurmd slurm-client munge libpmix-dev openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    # The packages' postinst scripts try to start the system's munge and Slurm services; where
    # there is no init system that fails harmlessly, and they are not used here anyway.
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
fi

# The daemons run as root (SlurmUser=root): slurmd must be able to start tasks for the caller.
if [ "$(id -u)" -ne 0 ]; then
    exec sudo --preserve-env=SLURM_TASKS,SHARDSCOPE_SLURM_MPI,SHARDSCOPE_SLURM_PORT,SHARDSCOPE_SLURM_KEEP \
        bash "${BASH_SOURCE[0]}" "$@"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/shardscope-slurm.XXXXXX")"
chmod 700 "$tmp"
pids=()

# Stops the daemons in reverse order of start (slurmd and slurmctld before munged, which they
# need to the end), each with SIGTERM and then, after 5 seconds, SIGKILL. First it gives the
# job's slurmstepd (started by slurmd, not by this script) up to 5 seconds to finish: its
# socket in the spool directory, NODE_JOB.STEP, goes away when it does. Last, anything still
# running with this cluster's SLURM_CONF in its environment (a slurmstepd, which ignores
# SIGTERM, or a task, left behind by an aborted step) is killed.
# shellcheck disable=SC2317  # called from the EXIT trap
stop_daemons() {
    local i pid f
    for _ in $(seq 50); do
        compgen -G "$tmp/spool/${host:-}_*" >/dev/null || break
        sleep 0.1
    done
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid=${pids[i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
    # One grep for all of /proc (a grep a process takes a second here).
    while read -r f; do
        pid=${f#/proc/}
        pid=${pid%/environ}
        [ "$pid" = $$ ] || kill -KILL "$pid" 2>/dev/null || true
    done < <(grep -lzxF "SLURM_CONF=$tmp/slurm.conf" /proc/[0-9]*/environ 2>/dev/null)
}

# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
    local rc=$?
    # No interruption half-way through the teardown.
    trap - EXIT
    trap '' INT TERM
    stop_daemons
    if [ "${SHARDSCOPE_SLURM_KEEP:-0}" = 1 ]; then
        echo "Kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
    local f
    for f in "$tmp"/log/*.log; do
        [ -s "$f" ] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }
    done
    return 0
}

# A port already in use would make slurmctld or slurmd exit, and sinfo wait on whatever listens.
for port in "$ctld_port" "$slurmd_port"; do
    if timeout 2 bash -c ": </dev/tcp/127.0.0.1/$port" 2>/dev/null; then
        echo "Port $port is in use (another Slurm?): set SHARDSCOPE_SLURM_PORT to another port" >&2
        exit 1
    fi
done

mkdir -p "$tmp"/{state,spool,tmpfs,log,run,munge}

# munge, with its own key and socket: does not touch (or need) the system's munged.
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
socket="$tmp/munge/munge.socket"
# The daemons run in sessions of their own: a Ctrl-C at the terminal must not reach them (they
# shut down on SIGINT) but only srun and this script, whose EXIT trap stops them in order.
setsid munged --foreground --force --key-file="$tmp/munge/munge.key" --socket="$socket" \
    --pid-file="$tmp/run/munged.pid" --seed-file="$tmp/munge/munged.seed" \
    >"$tmp/log/munged.log" 2>&1 &
pids+=($!)

host="$(hostname -s)"
cpus="$(nproc)"
export SLURM_CONF="$tmp/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=shardscope
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
TmpFS=$tmp/tmpfs
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
MinJobAge=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF

# Open MPI 4.1 gets its rank and size from Slurm's pmix server. Debian's Open MPI has no PMI-1
# or PMI-2 client: under pmi2 (or none) MPI_Init fails ("OMPI was not built with SLURM's PMI
# support").
mpi="${SHARDSCOPE_SLURM_MPI:-}"
if [ -z "$mpi" ]; then
    mpi_list="$(srun --mpi=list 2>&1 || true)"
    mpi=none
    for m in pmix pmix_v4 pmix_v3 pmi2; do
        if grep -qw -- "$m" <<<"$mpi_list"; then mpi=$m; break; fi
    done
fi
echo "MpiDefault=$mpi" >>"$SLURM_CONF"

for i in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
[ -S "$socket" ] || { echo "munged did not start" >&2; show_logs; exit 1; }

# In the foreground (-D) the daemons log to stderr as well as to their log files (only slurmd.log
# gets slurmstepd's lines); stderr (*.out) is kept for failures before the log files open.
setsid slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
setsid slurmd -D -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)

# Up to 30 seconds; a daemon that exits (say, a port in use after all) ends the wait at once.
state=""
deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "${pids[@]}" 2>/dev/null || { state="a daemon exited"; break; }
    state="$(timeout 5 sinfo -h -n "$host" -o %t 2>/dev/null || true)"
    [ "$state" = idle ] && break
    sleep 0.2
done
if [ "$state" != idle ]; then
    echo "The node did not become idle (state: ${state:-none})" >&2
    show_logs
    exit 1
fi

echo "srun -n $tasks (MpiDefault=$mpi, NodeName=$host, CPUs=$cpus): $*"
# srun runs in the background (with this script's stdin, which srun passes to the tasks) so that
# SIGINT or SIGTERM to this script can end the step at once: srun, sent SIGTERM, kills the
# tasks (SIGTERM, then SIGKILL after KillWait) and exits; then the EXIT trap tears down.
srun -n "$tasks" --overcommit --job-name=shardscope "$@" 0<&0 &
srun_pid=$!
trap 'kill -TERM "$srun_pid" 2>/dev/null || true' INT TERM
while :; do
    rc=0
    wait "$srun_pid" || rc=$?
    kill -0 "$srun_pid" 2>/dev/null || break  # else the wait was cut short by a signal
done
echo "srun exit code: $rc"
if [ "$rc" -ne 0 ] && [ "${SHARDSCOPE_SLURM_KEEP:-0}" != 1 ]; then
    echo "(SHARDSCOPE_SLURM_KEEP=1 keeps slurm.conf and the daemons' logs)" >&2
fi
exit "$rc"
