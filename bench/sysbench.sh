#!/usr/bin/env bash
# sysbench.sh - shardgate vs HAProxy vs direct MariaDB, in one run on one backend.
#
# Owns: the throughput / latency / CPU-per-query / idle-memory benchmark of
# issue 3 ("Benchmarks in bench/"). See bench/README.md for how to read it.
#
# What one run does:
#   1. starts its own MariaDB sandbox (tests/support/sandbox.sh, free port,
#      own dir under /tmp), creates the sbtest account and database, raises
#      the InnoDB buffer pool so the data set fits, `sysbench prepare`, prewarm;
#   2. starts HAProxy (mode tcp, balance first) and shardgate (release build,
#      built when missing) in front of that same server;
#   3. for each workload x threads x ps mode, runs sysbench against direct,
#      haproxy and shardgate (in that order, back to back) and prints one line
#      per run: QPS, p95 latency, errors, proxy CPU s per 10,000 queries
#      (utime+stime from /proc/<pid>/stat) and the same for mariadbd;
#   4. prints a summary with shardgate/haproxy QPS ratios and PASS/FAIL against
#      the target (>= 0.90 at 8, 32 and 64 threads);
#   5. opens IDLE_CONNS logged-in idle clients through shardgate
#      (bench/idle_conns.py) and prints its VmRSS (target < 300 MiB).
#   Everything it started is stopped on exit (also on failure or Ctrl-C).
#   Exit status is 0 whatever the numbers (it is a measurement, not a test);
#   non-zero only when the set-up itself fails.
#
# Results: bench/results/<UTC timestamp>[-quick].txt (the printed report) and
# .csv (one row per sysbench run); bench/results/latest.txt = the last
# complete run's report.
#
# Environment (defaults in brackets):
#   QUICK=1            short runs [DURATION=5] for a smoke run
#   DURATION           seconds per sysbench run [20; 5 with QUICK=1]
#   WORKLOADS          ["oltp_point_select oltp_read_only"]
#   THREADS            ["1 8 32 64"]
#   PS_MODES           ["auto disable"]  (auto = prepared statements on)
#   TARGETS            ["direct haproxy shardgate"]
#   TABLES, TABLE_SIZE [4, 100000]
#   BUFFER_POOL        InnoDB buffer pool of the sandbox server [512M]
#   IDLE_CONNS         idle client connections for the RSS check [10000; 0 = skip]
#   SG_IO_THREADS, SG_WORKER_THREADS   shardgate [server] io/worker_threads [0 = cores]
#   SHARDGATE_BIN      binary to run [target/release/shardgate]
#   BUILD              1 = `cargo build --release` first (no-op when up to date) [1]
#   KEEP=1             keep the work dir (configs, logs) under /tmp
#   SHARDGATE_SANDBOX_CACHE  template datadir cache for sandbox.sh (optional)
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SANDBOX="$ROOT/tests/support/sandbox.sh"

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then DURATION=${DURATION:-5}; else DURATION=${DURATION:-20}; fi
WORKLOADS=${WORKLOADS:-"oltp_point_select oltp_read_only"}
THREADS=${THREADS:-"1 8 32 64"}
PS_MODES=${PS_MODES:-"auto disable"}
TARGETS=${TARGETS:-"direct haproxy shardgate"}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-100000}
BUFFER_POOL=${BUFFER_POOL:-512M}
IDLE_CONNS=${IDLE_CONNS:-10000}
SG_IO_THREADS=${SG_IO_THREADS:-0}
SG_WORKER_THREADS=${SG_WORKER_THREADS:-0}
SHARDGATE_BIN=${SHARDGATE_BIN:-$ROOT/target/release/shardgate}
BUILD=${BUILD:-1}
KEEP=${KEEP:-0}
RSS_TARGET_MIB=300
RATIO_TARGET=0.90

SB_USER=sbtest
SB_PASSWORD=sbtest
CLK_TCK=$(getconf CLK_TCK)

die() { echo "sysbench.sh: $*" >&2; exit 1; }

for tool in sysbench python3 ss; do command -v "$tool" >/dev/null || die "$tool not found"; done
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[ -x "$HAPROXY" ] || die "haproxy not found"
CLI=$(command -v mariadb || command -v mysql) || die "mariadb CLI not found"

# --- results files ------------------------------------------------------------
STAMP=$(date -u +%Y%m%d-%H%M%S)
[ "$QUICK" = 1 ] && STAMP="$STAMP-quick"
RESULTS="$HERE/results"
mkdir -p "$RESULTS"
OUT_TXT="$RESULTS/$STAMP.txt"
OUT_CSV="$RESULTS/$STAMP.csv"
: >"$OUT_TXT"
echo "target,workload,threads,ps_mode,qps,p95_ms,queries,errors,reconnects,proxy_cpu_s_per_10k,db_cpu_s_per_10k,status" >"$OUT_CSV"

say() { printf '%s\n' "$*" | tee -a "$OUT_TXT"; }
note() { echo "-- $*" >&2; } # progress, not part of the report

# --- work dir, processes, cleanup --------------------------------------------
WORK=$(mktemp -d /tmp/shardgate-bench.XXXXXX)
DB_DIR="$WORK/db"
SG_PID="" HAP_PID="" IDLE_PID=""

stop_pid() { # <pid> <name>: SIGTERM, wait up to 5 s, then SIGKILL
    local pid=$1 i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    note "$2 (pid $pid) did not stop on SIGTERM; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid "$IDLE_PID" idle_conns
    stop_pid "$SG_PID" shardgate
    stop_pid "$HAP_PID" haproxy
    bash "$SANDBOX" stop "$DB_DIR" >/dev/null 2>&1
    if [ "$KEEP" = 1 ]; then
        echo "sysbench.sh: work dir kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Free loopback ports, all picked while held open so they differ.
free_ports() { # <n>
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

cpu_ticks() { # <pid>: utime+stime of the whole process (all threads), in clock ticks
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $(( ${12} + ${13} ))
}

wait_sql() { # <port> <what> <pid>: until a query through that port answers
    local i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$3" 2>/dev/null || { tail -n 20 "$WORK/$2.log" >&2; die "$2 exited during start-up"; }
        if "$CLI" --no-defaults -h127.0.0.1 -P"$1" -u"$SB_USER" -p"$SB_PASSWORD" \
            -N -e 'SELECT 1' sbtest >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "$2 on port $1 does not answer queries"
}

# --- shardgate binary ---------------------------------------------------------
if [ "$BUILD" = 1 ] && command -v cargo >/dev/null && [ "$SHARDGATE_BIN" = "$ROOT/target/release/shardgate" ]; then
    note "cargo build --release --bin shardgate"
    if ! (cd "$ROOT" && cargo build --release --bin shardgate >"$WORK/build.log" 2>&1); then
        tail -n 30 "$WORK/build.log" >&2
        [ -x "$SHARDGATE_BIN" ] || die "build failed and there is no $SHARDGATE_BIN"
        note "WARNING: build failed; benchmarking the existing (possibly stale) binary"
    fi
fi
[ -x "$SHARDGATE_BIN" ] || die "$SHARDGATE_BIN missing (cargo build --release)"

# Raise the open-files limit for everything started from here (shardgate must
# hold IDLE_CONNS clients plus backends).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

read -r DB_PORT HAP_PORT SG_PORT < <(free_ports 3)

# --- MariaDB ------------------------------------------------------------------
note "starting MariaDB sandbox on 127.0.0.1:$DB_PORT ($DB_DIR)"
bash "$SANDBOX" start "$DB_DIR" "$DB_PORT" >&2
DB_PID=$(cat "$DB_DIR/$DB_PORT/mysqld.pid")
bash "$SANDBOX" sql "$DB_DIR" "$DB_PORT" "
    SET GLOBAL innodb_buffer_pool_size = $(numfmt --from=iec "$BUFFER_POOL");
    CREATE DATABASE IF NOT EXISTS sbtest;
    CREATE USER IF NOT EXISTS '$SB_USER'@'127.0.0.1' IDENTIFIED BY '$SB_PASSWORD';
    CREATE USER IF NOT EXISTS '$SB_USER'@'localhost' IDENTIFIED BY '$SB_PASSWORD';
    GRANT ALL ON sbtest.* TO '$SB_USER'@'127.0.0.1';
    GRANT ALL ON sbtest.* TO '$SB_USER'@'localhost';" >&2

sb() { # <workload> <port> <threads> <ps> <command> [extra args]: sysbench with the common options
    local wl=$1 port=$2 thr=$3 ps=$4 cmd=$5
    shift 5
    sysbench "$wl" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
        --mysql-user="$SB_USER" --mysql-password="$SB_PASSWORD" --mysql-db=sbtest \
        --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$thr" \
        --db-ps-mode="$ps" "$@" "$cmd"
}

note "sysbench prepare: $TABLES tables x $TABLE_SIZE rows"
sb oltp_point_select "$DB_PORT" 2 auto prepare >"$WORK/prepare.log" 2>&1 ||
    { tail -n 20 "$WORK/prepare.log" >&2; die "sysbench prepare failed"; }
sb oltp_point_select "$DB_PORT" 2 auto prewarm >>"$WORK/prepare.log" 2>&1 || true

# --- HAProxy ------------------------------------------------------------------
cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend mysql_in
    bind 127.0.0.1:$HAP_PORT
    default_backend mariadb
backend mariadb
    balance first
    server db1 127.0.0.1:$DB_PORT
EOF
"$HAPROXY" -c -q -f "$WORK/haproxy.cfg" || die "haproxy config check failed"
"$HAPROXY" -db -f "$WORK/haproxy.cfg" </dev/null >"$WORK/haproxy.log" 2>&1 &
HAP_PID=$!
wait_sql "$HAP_PORT" haproxy "$HAP_PID"

# --- shardgate ----------------------------------------------------------------
cat >"$WORK/shardgate.toml" <<EOF
[server]
listen = "127.0.0.1:$SG_PORT"
default_group = "g0"
log_level = "warn"
metadata_file = "$WORK/shardgate.meta"
io_threads = $SG_IO_THREADS
worker_threads = $SG_WORKER_THREADS
max_connections = $((IDLE_CONNS + 1000))
shutdown_timeout = "2s"

[[user]]
name = "$SB_USER"
password = "$SB_PASSWORD"
schemas = ["*"]

[backend]
user = "shardgate"
password = "backend-secret"

[[group]]
name = "g0"
master = "127.0.0.1:$DB_PORT"
EOF
"$SHARDGATE_BIN" --check --config "$WORK/shardgate.toml" >"$WORK/check.log" 2>&1 ||
    { cat "$WORK/check.log" >&2; die "shardgate --check refused the generated config"; }

SG_STARTS=0
start_shardgate() {
    "$SHARDGATE_BIN" --config "$WORK/shardgate.toml" </dev/null >>"$WORK/shardgate.log" 2>&1 &
    SG_PID=$!
    SG_STARTS=$((SG_STARTS + 1))
    wait_sql "$SG_PORT" shardgate "$SG_PID"
}
start_shardgate

# --- report header ------------------------------------------------------------
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain -- src proto Cargo.toml Cargo.lock 2>/dev/null)" ] && GIT_REV="$GIT_REV+dirty"
say "# shardgate benchmark $STAMP (UTC)"
say "# command: $([ "$QUICK" = 1 ] && echo "QUICK=1 ")DURATION=$DURATION TABLES=$TABLES TABLE_SIZE=$TABLE_SIZE THREADS=\"$THREADS\" bench/sysbench.sh"
[ "$SHARDGATE_BIN" = "$ROOT/target/release/shardgate" ] || GIT_REV="(SHARDGATE_BIN given: not necessarily checkout $GIT_REV)"
say "# shardgate $GIT_REV ($SHARDGATE_BIN, built $(date -u -r "$SHARDGATE_BIN" '+%F %T')), io_threads=$SG_IO_THREADS worker_threads=$SG_WORKER_THREADS (0 = cores)"
say "# $("$HAPROXY" -v | head -n1 | cut -d' ' -f1-3), $(mariadbd --version 2>/dev/null | awk '{print $3}' || true), $(sysbench --version)"
say "# host: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f MiB", $2/1024}' /proc/meminfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say "# backend: one mariadbd on 127.0.0.1:$DB_PORT, buffer pool $BUFFER_POOL; haproxy :$HAP_PORT; shardgate :$SG_PORT"
say "# cpu/10k = CPU seconds (user+sys, all threads) per 10,000 queries; proxy = haproxy or shardgate, db = mariadbd"
say ""
LINE_FMT='%-9s  %-17s  %3s  %-7s  %9s  %8s  %6s  %13s  %10s  %s'
say "$(printf "$LINE_FMT" target workload thr ps QPS p95_ms errors proxy_cpu/10k db_cpu/10k status)"

declare -A QPS CPU

per10k() { # <ticks> <queries>
    awk -v t="$1" -v q="$2" -v hz="$CLK_TCK" 'BEGIN { if (q > 0) printf "%.3f", t / hz / q * 10000; else print "-" }'
}

run_one() { # <target> <workload> <threads> <ps>
    local target=$1 wl=$2 thr=$3 ps=$4 port pid="" log="$WORK/run.log"
    local p0=0 p1=0 d0 d1 rc=0 status=ok qps p95 queries errors reconnects pcpu dcpu
    case "$target" in
    direct) port=$DB_PORT ;;
    haproxy) port=$HAP_PORT; pid=$HAP_PID ;;
    shardgate)
        port=$SG_PORT
        if ! kill -0 "$SG_PID" 2>/dev/null; then
            say "!! shardgate (pid $SG_PID) is gone; restarting it (see log at the end)"
            start_shardgate
        fi
        pid=$SG_PID ;;
    esac
    [ -n "$pid" ] && p0=$(cpu_ticks "$pid")
    d0=$(cpu_ticks "$DB_PID")
    timeout -k 5 $((DURATION + 60)) \
        sysbench "$wl" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
        --mysql-user="$SB_USER" --mysql-password="$SB_PASSWORD" --mysql-db=sbtest \
        --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$thr" \
        --db-ps-mode="$ps" --time="$DURATION" --percentile=95 --report-interval=0 \
        run >"$log" 2>&1 || rc=$?
    [ -n "$pid" ] && p1=$(cpu_ticks "$pid")
    d1=$(cpu_ticks "$DB_PID")
    queries=$(awk '$1=="queries:"{print $2}' "$log")
    qps=$(awk '$1=="queries:"{gsub(/\(/,"",$3); print $3}' "$log")
    p95=$(awk '$1=="95th"{print $3}' "$log")
    errors=$(awk '$1=="ignored" && $2=="errors:"{print $3}' "$log")
    reconnects=$(awk '$1=="reconnects:"{print $2}' "$log")
    : "${queries:=0}" "${qps:=0}" "${p95:=-}" "${errors:=0}" "${reconnects:=0}"
    if [ "$rc" -ne 0 ]; then
        status="FAILED(rc=$rc)"
        [ "$rc" -eq 124 ] && status="TIMEOUT"
        cp "$log" "$RESULTS/$STAMP.fail-$target-$wl-$thr-$ps.log"
    elif [ "$errors" != 0 ] || [ "$reconnects" != 0 ]; then
        status="errors"
        cp "$log" "$RESULTS/$STAMP.fail-$target-$wl-$thr-$ps.log"
    fi
    if [ -n "$pid" ]; then pcpu=$(per10k $((p1 - p0)) "$queries"); else pcpu="-"; fi
    dcpu=$(per10k $((d1 - d0)) "$queries")
    if [ "$status" != ok ]; then qps_key=0; else qps_key=$qps; fi
    QPS["$wl $thr $ps $target"]=$qps_key
    CPU["$wl $thr $ps $target"]=$pcpu
    say "$(printf "$LINE_FMT" "$target" "$wl" "$thr" "$ps" "$qps" "$p95" "$errors" "$pcpu" "$dcpu" "$status")"
    echo "$target,$wl,$thr,$ps,$qps,$p95,$queries,$errors,$reconnects,$pcpu,$dcpu,$status" >>"$OUT_CSV"
    if [ "$status" != ok ]; then
        { grep -iE 'fatal|alert|error' "$log" || true; } | sed -n '1,5s/^/     | /p' | tee -a "$OUT_TXT"
    fi
}

for wl in $WORKLOADS; do
    for thr in $THREADS; do
        for ps in $PS_MODES; do
            for target in $TARGETS; do
                run_one "$target" "$wl" "$thr" "$ps"
                sleep 1
            done
        done
    done
done

# --- summary ------------------------------------------------------------------
say ""
say "## summary: shardgate / haproxy QPS (target >= $RATIO_TARGET at 8, 32, 64 threads)"
SUM_FMT='%-17s  %3s  %-7s  %9s  %9s  %9s  %7s  %7s  %10s  %10s  %s'
say "$(printf "$SUM_FMT" workload thr ps direct haproxy shardgate sg/hap hap/dir sg_cpu/10k hap_cpu/10k target)"
PASSES=0 FAILS=0
for wl in $WORKLOADS; do
    for thr in $THREADS; do
        for ps in $PS_MODES; do
            d=${QPS["$wl $thr $ps direct"]:-0}
            h=${QPS["$wl $thr $ps haproxy"]:-0}
            s=${QPS["$wl $thr $ps shardgate"]:-0}
            ratio=$(awk -v s="$s" -v h="$h" 'BEGIN { if (h > 0) printf "%.2f", s / h; else print "-" }')
            hd=$(awk -v h="$h" -v d="$d" 'BEGIN { if (d > 0) printf "%.2f", h / d; else print "-" }')
            verdict="-"
            if [[ " $TARGETS " != *" haproxy "* || " $TARGETS " != *" shardgate "* ]]; then
                verdict="n/a"
            elif [ "$thr" -ge 8 ]; then
                if [ "$ratio" != "-" ] && awk -v r="$ratio" -v t="$RATIO_TARGET" 'BEGIN { exit !(r >= t) }'; then
                    verdict=PASS; PASSES=$((PASSES + 1))
                else
                    verdict=FAIL; FAILS=$((FAILS + 1))
                fi
            fi
            say "$(printf "$SUM_FMT" "$wl" "$thr" "$ps" "$d" "$h" "$s" "$ratio" "$hd" \
                "${CPU["$wl $thr $ps shardgate"]:--}" "${CPU["$wl $thr $ps haproxy"]:--}" "$verdict")"
        done
    done
done
say "QPS target: $PASSES PASS, $FAILS FAIL"

# --- idle connections ---------------------------------------------------------
if [ "$IDLE_CONNS" -gt 0 ]; then
    kill -0 "$SG_PID" 2>/dev/null || { say "!! shardgate is gone; restarting it for the idle test"; start_shardgate; }
    say ""
    say "## shardgate RSS with $IDLE_CONNS idle logged-in client connections (target < $RSS_TARGET_MIB MiB)"
    python3 "$HERE/idle_conns.py" --port "$SG_PORT" --user "$SB_USER" --password "$SB_PASSWORD" \
        --count "$IDLE_CONNS" --pid "$SG_PID" >"$WORK/idle.out" 2>"$WORK/idle.err" &
    IDLE_PID=$!
    idle_rc=0
    wait "$IDLE_PID" || idle_rc=$?
    IDLE_PID=""
    sed 's/^/   /' "$WORK/idle.err" | tee -a "$OUT_TXT"
    result=$(grep '^RESULT' "$WORK/idle.out" || true)
    if [ -n "$result" ]; then
        field() { tr ' ' '\n' <<<"$result" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
        conns=$(field conns)
        mib() { awk -v k="$(field "$1")" 'BEGIN { printf "%.1f", k / 1024 }'; }
        held_mib=$(mib rss_held_kib)
        say "RSS before: $(mib rss_before_kib) MiB   with $conns idle clients: $held_mib MiB   after closing: $(mib rss_after_kib) MiB   ($(field fds_held) open fds in shardgate, $(field failed) failed, COM_PING ok $(field ping_ok), opened in $(field open_secs)s)"
        if [ "$conns" -ge "$IDLE_CONNS" ] && awk -v m="$held_mib" -v t="$RSS_TARGET_MIB" 'BEGIN { exit !(m < t) }'; then
            say "RSS target: PASS ($held_mib MiB < $RSS_TARGET_MIB MiB)"
        else
            say "RSS target: FAIL ($held_mib MiB with $conns of $IDLE_CONNS connections)"
        fi
    else
        say "RSS target: FAIL (idle_conns.py exited $idle_rc without a result)"
    fi
    kill -0 "$SG_PID" 2>/dev/null || say "!! shardgate died during the idle-connection test"
fi

# --- shardgate health -----------------------------------------------------------
say ""
kill -0 "$SG_PID" 2>/dev/null && say "# shardgate still running; started $SG_STARTS time(s)" ||
    say "!! shardgate is not running at the end; started $SG_STARTS time(s)"
if [ -s "$WORK/shardgate.log" ]; then
    say "# shardgate log (warn and above): $(wc -l <"$WORK/shardgate.log") lines; last 20:"
    tail -n 20 "$WORK/shardgate.log" | sed 's/^/   | /' | tee -a "$OUT_TXT"
else
    say "# shardgate log (warn and above): empty"
fi
say "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

cp "$OUT_TXT" "$RESULTS/latest.txt"
note "report: $OUT_TXT  csv: $OUT_CSV  (also bench/results/latest.txt)"
exit 0
