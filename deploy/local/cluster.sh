#!/usr/bin/env bash
# A real Spark standalone + Dask cluster on this machine, bound to 127.0.0.1 only.
#
#   eval "$(deploy/local/cluster.sh start)"     # exports SPARK_MASTER and DASK_SCHEDULER_ADDRESS
#   shardvec prepare --master "$SPARK_MASTER" --input ... --output corpus
#   shardvec train --scheduler "$DASK_SCHEDULER_ADDRESS" --corpus corpus --output vectors
#   deploy/local/cluster.sh status
#   deploy/local/cluster.sh stop
#
# `start` prints exactly two lines on stdout (the exports); progress goes to
# stderr, daemon logs to files in the state directory. `stop` ends exactly the
# processes `start` recorded (and their children: Spark executors, Dask worker
# processes), and waits until they are gone. See deploy/README.md.
set -euo pipefail

PROG=cluster.sh

usage() {
    cat <<EOF
usage: $PROG start|stop|status|env [options]

  start     start a Spark master + 1 worker and a Dask scheduler + N workers, wait until
            they are ready, print "export SPARK_MASTER=..." and "export DASK_SCHEDULER_ADDRESS=..."
  stop      stop exactly the processes that start recorded, and wait for them
  status    show each recorded process and the addresses; exit 0 only if all are running
  env       print the two export lines of a running cluster again

options (environment variable in brackets):
  --state DIR          state directory: PIDs, logs, work dirs [SHARDVEC_LOCAL_STATE,
                       default \$TMPDIR/shardvec-cluster]
  --workers N          Dask worker processes, 1 thread each [SHARDVEC_LOCAL_WORKERS, default 2]
  --dask-memory SIZE   memory limit per Dask worker [SHARDVEC_LOCAL_DASK_MEMORY, default 2GiB]
  --spark-cores N      cores the Spark worker offers [SHARDVEC_LOCAL_SPARK_CORES, default 2]
  --spark-memory SIZE  memory the Spark worker offers to executors [SHARDVEC_LOCAL_SPARK_MEMORY, default 2g]
  --timeout SECONDS    how long start waits for readiness, stop for exit [SHARDVEC_LOCAL_TIMEOUT, default 180]
  --no-spark           start only the Dask part
  --no-dask            start only the Spark part

The Python that runs Dask, finds Spark (pyspark's bundled SPARK_HOME) and becomes
PYSPARK_PYTHON of the executors is \$PYTHON, else \$VIRTUAL_ENV/bin/python, else python3.
EOF
}

log() { echo "$PROG: $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- options
COMMAND=${1:-}
[[ $# -gt 0 ]] && shift
case $COMMAND in
    start|stop|status|env) ;;
    -h|--help|help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
esac
STATE=${SHARDVEC_LOCAL_STATE:-${TMPDIR:-/tmp}/shardvec-cluster}
WORKERS=${SHARDVEC_LOCAL_WORKERS:-2}
DASK_MEMORY=${SHARDVEC_LOCAL_DASK_MEMORY:-2GiB}
SPARK_CORES=${SHARDVEC_LOCAL_SPARK_CORES:-2}
SPARK_MEMORY=${SHARDVEC_LOCAL_SPARK_MEMORY:-2g}
TIMEOUT=${SHARDVEC_LOCAL_TIMEOUT:-180}
WITH_SPARK=1
WITH_DASK=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --state) STATE=${2:?--state needs a directory}; shift 2 ;;
        --workers) WORKERS=${2:?--workers needs a number}; shift 2 ;;
        --dask-memory) DASK_MEMORY=${2:?}; shift 2 ;;
        --spark-cores) SPARK_CORES=${2:?}; shift 2 ;;
        --spark-memory) SPARK_MEMORY=${2:?}; shift 2 ;;
        --timeout) TIMEOUT=${2:?}; shift 2 ;;
        --no-spark) WITH_SPARK=0; shift ;;
        --no-dask) WITH_DASK=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
done
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "--workers must be a positive integer, got '$WORKERS'"
[[ $SPARK_CORES =~ ^[1-9][0-9]*$ ]] || die "--spark-cores must be a positive integer, got '$SPARK_CORES'"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds, got '$TIMEOUT'"
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
PIDS=$STATE/pids          # one line per started process: NAME PID STARTTIME
ENVFILE=$STATE/cluster.env
LOGS=$STATE/logs

# ---------------------------------------------------------------- processes
# A process is identified by its PID *and* its start time (field 22 of
# /proc/PID/stat), so a recycled PID is never mistaken for ours. A zombie
# counts as gone. Only bash builtins here: no fork per process looked at.
read_stat() {  # PID -> sets ST_STATE, ST_PPID, ST_START; fails if there is no such process
    local line rest f
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    rest=${line##*) }
    read -r -a f <<<"$rest"
    ST_STATE=${f[0]} ST_PPID=${f[1]} ST_START=${f[19]}
}

is_ours() {  # PID STARTTIME -> exit 0 if that very process is still running
    read_stat "$1" || return 1
    [[ $ST_STATE != Z && $ST_STATE != X && $ST_START == "$2" ]]
}

descendants_of() {  # PID... -> "PID STARTTIME" of every living descendant, parents first
    local -A kids=()
    local d p
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        read_stat "$p" || continue
        [[ $ST_STATE == Z || $ST_STATE == X ]] && continue
        kids[$ST_PPID]+="$p "
    done
    local queue=("$@") next
    while [[ ${#queue[@]} -gt 0 ]]; do
        next=${queue[0]}
        queue=("${queue[@]:1}")
        for p in ${kids[$next]:-}; do
            read_stat "$p" || continue
            echo "$p $ST_START"
            queue+=("$p")
        done
    done
}

record() {  # NAME PID
    if ! read_stat "$2" || [[ $ST_STATE == Z ]]; then
        tail -n 30 "$LOGS/$1.log" >&2 || true
        die "$1 (pid $2) exited at once; see $LOGS/$1.log"
    fi
    echo "$1 $2 $ST_START" >>"$PIDS"
}

# ---------------------------------------------------------------- helpers
find_python() {
    local py=${PYTHON:-}
    if [[ -z $py && -n ${VIRTUAL_ENV:-} && -x $VIRTUAL_ENV/bin/python ]]; then
        py=$VIRTUAL_ENV/bin/python
    fi
    [[ -n $py ]] || py=python3
    if [[ $py != */* ]]; then
        py=$(command -v "$py") || die "no '$py' on PATH; set PYTHON=/path/to/venv/bin/python"
    fi
    [[ -x $py ]] || die "PYTHON=$py is not executable"
    # Absolute, but keep the venv's symlink: resolving it would lose the venv.
    echo "$(cd "$(dirname "$py")" && pwd)/$(basename "$py")"
}

port_free() {  # PORT -> exit 0 if 127.0.0.1:PORT can be bound now (as a server binds: TIME_WAIT is no obstacle)
    "$PY" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

pick_port() {  # PREFERRED -> PREFERRED if free, else 0 (the daemon picks one and reports it)
    if port_free "$1"; then echo "$1"; else log "port $1 is taken; using a free one"; echo 0; fi
}

log_value() {  # FILE SED-REGEX -> first capture of the first matching line
    sed -n -E "s/$2/\\1/p" "$1" 2>/dev/null | head -n1
}

check_alive() {  # NAME... -> die with the log tail if a started process died
    local name pid s
    while read -r name pid s; do
        if ! is_ours "$pid" "$s"; then
            log "$name (pid $pid) died; last lines of $LOGS/$name.log:"
            tail -n 30 "$LOGS/$name.log" >&2 || true
            die "$name did not start"
        fi
    done <"$PIDS"
}

wait_for() {  # DESCRIPTION COMMAND... -> poll until COMMAND succeeds, a process dies or time runs out
    local what=$1; shift
    local deadline=$((SECONDS + TIMEOUT))
    until "$@"; do
        check_alive
        ((SECONDS < deadline)) || die "timed out after ${TIMEOUT}s waiting for $what (logs in $LOGS)"
        sleep 0.5
    done
}

master_json() {  # -> the master's /json/ status page (fails until the UI answers)
    "$PY" - "http://127.0.0.1:$SPARK_UI_PORT/json/" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.stdout.write(r.read().decode())
EOF
}

spark_master_ready() {
    SPARK_PORT_ACTUAL=$(log_value "$LOGS/spark-master.log" "^.*Successfully started service 'sparkMaster' on port ([0-9]+).*$")
    SPARK_UI_PORT=$(log_value "$LOGS/spark-master.log" "^.*Successfully started service 'MasterUI' on port ([0-9]+).*$")
    [[ -n $SPARK_PORT_ACTUAL && -n $SPARK_UI_PORT ]] || return 1
    grep -q "New state: ALIVE" "$LOGS/spark-master.log" || return 1
    master_json >/dev/null 2>&1
}

spark_worker_registered() {
    master_json 2>/dev/null | "$PY" -c '
import json, sys
status = json.load(sys.stdin)
alive = [w for w in status.get("workers", []) if w.get("state") == "ALIVE"]
sys.exit(0 if alive else 1)'
}

dask_workers_registered() {  # every worker log says it registered with the scheduler
    local i
    for ((i = 0; i < WORKERS; i++)); do
        grep -q "Registered to:" "$LOGS/dask-worker-$i.log" 2>/dev/null || return 1
    done
}

dask_ready() {  # a real client sees all the workers
    "$PY" - "$STATE/dask-scheduler.json" "$WORKERS" <<'EOF' >&2
import sys
from distributed import Client
with Client(scheduler_file=sys.argv[1], timeout="30s") as client:
    client.wait_for_workers(int(sys.argv[2]), timeout=60)
EOF
}

spawn() {  # NAME COMMAND... -> start detached (own session, no terminal, log file), record its PID
    local name=$1; shift
    setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
    local pid=$!
    sleep 0.2
    record "$name" "$pid"
    log "started $name (pid $pid, log $LOGS/$name.log)"
}

# ---------------------------------------------------------------- commands
running() {  # exit 0 if any recorded process is still ours
    [[ -f $PIDS ]] || return 1
    local name pid s
    while read -r name pid s; do
        is_ours "$pid" "$s" && return 0
    done <"$PIDS"
    return 1
}

cmd_start() {
    if running; then
        die "a cluster from $STATE is already running; '$PROG stop --state $STATE' first"
    fi
    # Work directories of an earlier run are ours to clear; logs are overwritten.
    rm -rf "$PIDS" "$ENVFILE" "$ENVFILE.tmp" "$STATE/exports" "$STATE/dask-scheduler.json" \
        "$STATE/spark-work" "$STATE/spark-local" "$STATE/dask"
    mkdir -p "$LOGS"
    PY=$(find_python)
    "$PY" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null \
        || die "$PY is not Python >= 3.10; set PYTHON=/path/to/venv/bin/python"
    # On any failure from here on, take down what was started.
    trap 'exit 130' INT TERM
    trap 'rc=$?; if [[ $rc != 0 ]]; then log "start failed; stopping what was started"; cmd_stop >&2 || true; fi' EXIT

    local exports=()
    if [[ $WITH_SPARK == 1 ]]; then
        if [[ -z ${JAVA_HOME:-} ]] && ! command -v java >/dev/null; then
            die "Spark needs Java 17+: install openjdk-17-jre-headless or set JAVA_HOME"
        fi
        local spark_home
        spark_home=$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null) \
            || die "$PY cannot import pyspark; set PYTHON to the venv that has shardvec installed"
        [[ -x $spark_home/bin/spark-class ]] || die "no bin/spark-class under $spark_home"
        mkdir -p "$STATE/spark-conf" "$STATE/spark-work" "$STATE/spark-local"
        local master_port
        master_port=$(pick_port 7077)
        # Everything Spark starts (master, worker, executors) binds to loopback; the
        # REST submission server (port 6066 by default) is not needed and stays off.
        export SPARK_HOME=$spark_home SPARK_CONF_DIR=$STATE/spark-conf SPARK_LOCAL_IP=127.0.0.1 \
            SPARK_PUBLIC_DNS=127.0.0.1 SPARK_LOCAL_DIRS=$STATE/spark-local SPARK_DAEMON_MEMORY=512m \
            SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false" PYSPARK_PYTHON=$PY
        log "starting Spark master ($SPARK_HOME)"
        spawn spark-master "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
            --host 127.0.0.1 --port "$master_port" --webui-port 0
        wait_for "the Spark master" spark_master_ready
        SPARK_URL=spark://127.0.0.1:$SPARK_PORT_ACTUAL
        log "Spark master $SPARK_URL, UI http://127.0.0.1:$SPARK_UI_PORT"
        spawn spark-worker "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
            --host 127.0.0.1 --webui-port 0 --cores "$SPARK_CORES" --memory "$SPARK_MEMORY" \
            --work-dir "$STATE/spark-work" "$SPARK_URL"
        exports+=("export SPARK_MASTER=$SPARK_URL")
        {
            echo "SPARK_MASTER=$SPARK_URL"
            echo "SPARK_MASTER_WEBUI=http://127.0.0.1:$SPARK_UI_PORT"
            echo "SPARK_HOME=$SPARK_HOME"
            echo "SPARK_WORK_DIR=$STATE/spark-work"
        } >>"$ENVFILE.tmp"
    fi

    if [[ $WITH_DASK == 1 ]]; then
        "$PY" -c 'import distributed' 2>/dev/null \
            || die "$PY cannot import distributed; set PYTHON to the venv that has shardvec installed"
        mkdir -p "$STATE/dask"
        local dask_port dash_port
        dask_port=$(pick_port 8786)
        dash_port=$(pick_port 8787)
        log "starting Dask scheduler and $WORKERS worker(s)"
        spawn dask-scheduler "$PY" -m dask scheduler --host 127.0.0.1 --port "$dask_port" \
            --dashboard-address "127.0.0.1:$dash_port" --scheduler-file "$STATE/dask-scheduler.json"
        wait_for "the Dask scheduler" test -s "$STATE/dask-scheduler.json"
        local i
        for ((i = 0; i < WORKERS; i++)); do
            spawn "dask-worker-$i" "$PY" -m dask worker --scheduler-file "$STATE/dask-scheduler.json" \
                --host 127.0.0.1 --nthreads 1 --name "local-$i" --memory-limit "$DASK_MEMORY" \
                --local-directory "$STATE/dask" --no-dashboard --dashboard-address 127.0.0.1:0
        done
    fi

    if [[ $WITH_SPARK == 1 ]]; then
        wait_for "the Spark worker to register" spark_worker_registered
        log "Spark worker registered ($SPARK_CORES cores, $SPARK_MEMORY)"
    fi
    if [[ $WITH_DASK == 1 ]]; then
        wait_for "$WORKERS Dask worker(s)" dask_workers_registered
        dask_ready || die "a Dask client could not see $WORKERS worker(s) at the scheduler"
        local address dashboard
        address=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["address"])' "$STATE/dask-scheduler.json")
        dashboard=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["services"].get("dashboard", ""))' \
            "$STATE/dask-scheduler.json")
        log "Dask scheduler $address with $WORKERS worker(s), dashboard http://127.0.0.1:$dashboard"
        exports+=("export DASK_SCHEDULER_ADDRESS=$address")
        {
            echo "DASK_SCHEDULER_ADDRESS=$address"
            echo "DASK_DASHBOARD=http://127.0.0.1:$dashboard"
            echo "DASK_WORKERS=$WORKERS"
        } >>"$ENVFILE.tmp"
    fi
    printf '%s\n' "${exports[@]}" >"$STATE/exports"
    mv "$ENVFILE.tmp" "$ENVFILE"
    trap - EXIT INT TERM
    log "ready; stop with: $PROG stop --state $STATE"
    cat "$STATE/exports"
}

cmd_stop() {
    if [[ ! -f $PIDS ]]; then
        log "no cluster recorded in $STATE; nothing to stop"
        return 0
    fi
    # Everything to end: the recorded processes and, found before any signal is
    # sent, their descendants (Spark executors and Python workers, Dask's worker
    # processes under each nanny). Later entries are stopped first.
    local targets=() lines name pid s pid2 s2 i
    mapfile -t lines <"$PIDS"
    for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
        read -r name pid s <<<"${lines[i]}"
        if is_ours "$pid" "$s"; then
            targets+=("$pid $s $name")
            while read -r pid2 s2; do
                [[ -n $pid2 ]] && targets+=("$pid2 $s2 $name-child")
            done < <(descendants_of "$pid")
        fi
    done
    local t
    for t in "${targets[@]}"; do
        read -r pid s name <<<"$t"
        if [[ $name != *-child ]] && is_ours "$pid" "$s"; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    local deadline=$((SECONDS + TIMEOUT)) left
    while :; do
        left=()
        for t in "${targets[@]}"; do
            read -r pid s name <<<"$t"
            is_ours "$pid" "$s" && left+=("$t")
        done
        [[ ${#left[@]} == 0 ]] && break
        if ((SECONDS >= deadline)); then
            for t in "${left[@]}"; do
                read -r pid s name <<<"$t"
                log "$name (pid $pid) ignored TERM; killing it"
                kill -KILL "$pid" 2>/dev/null || true
            done
            deadline=$((SECONDS + 30))
            TIMEOUT=30
        fi
        sleep 0.2
    done
    mv "$PIDS" "$STATE/pids.stopped"
    rm -f "$ENVFILE" "$STATE/exports" "$STATE/dask-scheduler.json"
    log "stopped (logs kept in $LOGS)"
}

cmd_status() {
    if [[ ! -f $PIDS ]]; then
        echo "no cluster running from $STATE"
        return 3
    fi
    local name pid s dead=0
    while read -r name pid s; do
        if is_ours "$pid" "$s"; then
            printf '%-16s pid %-8s running\n' "$name" "$pid"
        else
            printf '%-16s pid %-8s DEAD (see %s)\n' "$name" "$pid" "$LOGS/$name.log"
            dead=1
        fi
    done <"$PIDS"
    [[ -f $ENVFILE ]] && sed 's/^/  /' "$ENVFILE"
    return $dead
}

cmd_env() {
    running && [[ -f $STATE/exports ]] || die "no cluster running from $STATE"
    cat "$STATE/exports"
}

case $COMMAND in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
esac
