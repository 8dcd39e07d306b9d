#!/usr/bin/env bash
# valgrind.sh - instructions per query of shardgate, and where they go (callgrind).
#
# Owns: the per-query CPU profile of issue 3's benchmark (bench/README.md).
#
# Starts its own MariaDB sandbox (free port, own dir under /tmp), prepares a
# small sysbench table, runs shardgate (release build, which keeps debug
# symbols: [profile.release] debug = 1) under `valgrind --tool=callgrind`,
# drives it with sysbench oltp_point_select (1 thread, a fixed number of
# events), and prints:
#   - total instructions (Ir) of shardgate during the sysbench run / queries
#     (counters are zeroed after start-up and dumped right after the run with
#     callgrind_control, so start-up and shutdown are not counted);
#   - the top 25 functions by inclusive cost and the top 15 by self cost.
# Everything it started is stopped on exit (also on failure or Ctrl-C).
#
# Results: bench/results/<UTC timestamp>-callgrind.txt (the printed report);
# the raw callgrind file is left at /tmp/shardgate-callgrind.<timestamp>.out
# for callgrind_annotate / kcachegrind.
#
# Environment (defaults in brackets):
#   EVENTS             sysbench events (= queries for point_select) [20000]
#   PS_MODE            auto (prepared statements) | disable [auto]
#   WORKLOAD           [oltp_point_select]
#   TABLES, TABLE_SIZE [1, 10000]
#   SG_IO_THREADS, SG_WORKER_THREADS   shardgate [server] io/worker_threads [0 = cores]
#   SHARDGATE_BIN      binary to profile [target/release/shardgate]
#   BUILD              1 = `cargo build --release` first [1]
#   KEEP=1             keep the work dir (configs, logs) under /tmp
#   SHARDED=1          shard sbtest1..N by id (hash, 2 tables on the one group,
#                      like sharding.sh's hash_g0); the tables are then
#                      prepared through shardgate (before counters are zeroed)
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SANDBOX="$ROOT/tests/support/sandbox.sh"

EVENTS=${EVENTS:-20000}
PS_MODE=${PS_MODE:-auto}
WORKLOAD=${WORKLOAD:-oltp_point_select}
TABLES=${TABLES:-1}
TABLE_SIZE=${TABLE_SIZE:-10000}
SG_IO_THREADS=${SG_IO_THREADS:-0}
SG_WORKER_THREADS=${SG_WORKER_THREADS:-0}
SHARDGATE_BIN=${SHARDGATE_BIN:-$ROOT/target/release/shardgate}
BUILD=${BUILD:-1}
KEEP=${KEEP:-0}
SHARDED=${SHARDED:-0}
SB_USER=sbtest
SB_PASSWORD=sbtest

die() { echo "valgrind.sh: $*" >&2; exit 1; }
note() { echo "-- $*" >&2; }

for tool in valgrind callgrind_annotate callgrind_control sysbench python3; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
CLI=$(command -v mariadb || command -v mysql) || die "mariadb CLI not found"

STAMP=$(date -u +%Y%m%d-%H%M%S)
RESULTS="$HERE/results"
mkdir -p "$RESULTS"
OUT_TXT="$RESULTS/$STAMP-callgrind.txt"
CG_OUT="/tmp/shardgate-callgrind.$STAMP.out"
: >"$OUT_TXT"
say() { printf '%s\n' "$*" | tee -a "$OUT_TXT"; }

WORK=$(mktemp -d /tmp/shardgate-valgrind.XXXXXX)
DB_DIR="$WORK/db"
SG_PID=""

cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    set +e
    if [ -n "$SG_PID" ] && kill -0 "$SG_PID" 2>/dev/null; then
        kill -TERM "$SG_PID" 2>/dev/null
        for ((i = 0; i < 300; i++)); do kill -0 "$SG_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SG_PID" 2>/dev/null
        wait "$SG_PID" 2>/dev/null
    fi
    bash "$SANDBOX" stop "$DB_DIR" >/dev/null 2>&1
    if [ "$KEEP" = 1 ]; then echo "valgrind.sh: work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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

if [ "$BUILD" = 1 ] && command -v cargo >/dev/null && [ "$SHARDGATE_BIN" = "$ROOT/target/release/shardgate" ]; then
    note "cargo build --release --bin shardgate"
    if ! (cd "$ROOT" && cargo build --release --bin shardgate >"$WORK/build.log" 2>&1); then
        tail -n 30 "$WORK/build.log" >&2
        [ -x "$SHARDGATE_BIN" ] || die "build failed and there is no $SHARDGATE_BIN"
        note "WARNING: build failed; profiling the existing (possibly stale) binary"
    fi
fi
[ -x "$SHARDGATE_BIN" ] || die "$SHARDGATE_BIN missing (cargo build --release)"

read -r DB_PORT SG_PORT < <(free_ports 2)

note "starting MariaDB sandbox on 127.0.0.1:$DB_PORT ($DB_DIR)"
bash "$SANDBOX" start "$DB_DIR" "$DB_PORT" >&2
bash "$SANDBOX" sql "$DB_DIR" "$DB_PORT" "
    CREATE DATABASE IF NOT EXISTS sbtest;
    CREATE USER IF NOT EXISTS '$SB_USER'@'127.0.0.1' IDENTIFIED BY '$SB_PASSWORD';
    GRANT ALL ON sbtest.* TO '$SB_USER'@'127.0.0.1';" >&2

sb() { # <port> <command> [extra args]
    local port=$1 cmd=$2
    shift 2
    sysbench "$WORKLOAD" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
        --mysql-user="$SB_USER" --mysql-password="$SB_PASSWORD" --mysql-db=sbtest \
        --tables="$TABLES" --table-size="$TABLE_SIZE" --db-ps-mode="$PS_MODE" --auto_inc=off "$@" "$cmd"
}
if [ "$SHARDED" != 1 ]; then
    note "sysbench prepare: $TABLES tables x $TABLE_SIZE rows"
    sb "$DB_PORT" prepare >"$WORK/prepare.log" 2>&1 || { tail -n 20 "$WORK/prepare.log" >&2; die "prepare failed"; }
fi

cat >"$WORK/shardgate.toml" <<EOF
[server]
listen = "127.0.0.1:$SG_PORT"
default_group = "g0"
log_level = "warn"
metadata_file = "$WORK/shardgate.meta"
io_threads = $SG_IO_THREADS
worker_threads = $SG_WORKER_THREADS
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
if [ "$SHARDED" = 1 ]; then
    {
        printf '\n[[schema]]\nname = "sbtest"\ndefault_group = "g0"\n\n'
        printf '[[schema.rule]]\nname = "by_id"\nkind = "hash"\ngroups = ["g0"]\ntables_per_group = [2]\n\n'
        for ((t = 1; t <= TABLES; t++)); do
            printf '[[schema.table]]\nname = "sbtest%d"\nkey = "id"\nrule = "by_id"\n\n' "$t"
        done
    } >>"$WORK/shardgate.toml"
fi

note "starting shardgate under callgrind on 127.0.0.1:$SG_PORT"
valgrind --tool=callgrind --callgrind-out-file="$CG_OUT" \
    "$SHARDGATE_BIN" --config "$WORK/shardgate.toml" </dev/null >"$WORK/shardgate.log" 2>&1 &
SG_PID=$!
ok=0
for ((i = 0; i < 1200; i++)); do
    kill -0 "$SG_PID" 2>/dev/null || { tail -n 20 "$WORK/shardgate.log" >&2; die "shardgate exited under valgrind"; }
    if "$CLI" --no-defaults -h127.0.0.1 -P"$SG_PORT" -u"$SB_USER" -p"$SB_PASSWORD" \
        -N -e 'SELECT 1' sbtest >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
done
[ "$ok" = 1 ] || die "shardgate under valgrind does not answer on $SG_PORT"

if [ "$SHARDED" = 1 ]; then
    note "sysbench prepare through shardgate (sharded): $TABLES tables x $TABLE_SIZE rows"
    sb "$SG_PORT" prepare >"$WORK/prepare.log" 2>&1 || { tail -n 20 "$WORK/prepare.log" >&2; die "prepare failed"; }
fi

# Zero the counters after start-up and the first connection.
ZEROED=0
if callgrind_control -z "$SG_PID" >"$WORK/cgctl.log" 2>&1; then ZEROED=1; else
    note "callgrind_control -z failed (counting from start-up):"; cat "$WORK/cgctl.log" >&2
fi

note "sysbench $WORKLOAD: 1 thread, $EVENTS events, ps-mode=$PS_MODE"
sb "$SG_PORT" run --threads=1 --events="$EVENTS" --time=0 --report-interval=0 \
    >"$WORK/run.log" 2>&1 || { tail -n 20 "$WORK/run.log" >&2; die "sysbench run through shardgate failed"; }
QUERIES=$(awk '$1=="queries:"{print $2}' "$WORK/run.log")
ERRORS=$(awk '$1=="ignored" && $2=="errors:"{print $3}' "$WORK/run.log")

DUMP=""
if [ "$ZEROED" = 1 ] && callgrind_control -d "$SG_PID" >>"$WORK/cgctl.log" 2>&1; then
    DUMP=$(ls -t "$CG_OUT".* 2>/dev/null | head -n1 || true)
fi
note "stopping shardgate (callgrind writes its final dump)"
kill -TERM "$SG_PID"
for ((i = 0; i < 600; i++)); do kill -0 "$SG_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SG_PID" 2>/dev/null || true
SG_PID=""
if [ -z "$DUMP" ]; then
    DUMP=$CG_OUT
    WHAT="whole process life (start-up and shutdown included)"
else
    WHAT="the sysbench run only (counters zeroed before, dumped after)"
fi
[ -s "$DUMP" ] || die "no callgrind output at $DUMP"

IR=$(awk '$1=="summary:" || $1=="totals:" {print $2; exit}' "$DUMP")
say "# shardgate callgrind profile $STAMP (UTC)"
say "# command: EVENTS=$EVENTS PS_MODE=$PS_MODE WORKLOAD=$WORKLOAD SHARDED=$SHARDED bench/valgrind.sh"
say "# shardgate $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), io_threads=$SG_IO_THREADS worker_threads=$SG_WORKER_THREADS; $WORKLOAD, 1 thread, ps-mode=$PS_MODE"
say "# counted: $WHAT"
say "# callgrind file: $DUMP"
say ""
say "queries: $QUERIES   errors: ${ERRORS:-?}   shardgate Ir: $IR"
say "instructions per query: $(awk -v i="$IR" -v q="$QUERIES" 'BEGIN { if (q > 0) printf "%.0f", i / q; else print "-" }')"
say ""
# Function lines of callgrind_annotate: after the third dashed rule, up to <n>.
# With a dump taken mid-run (callgrind_control -d), the frames that were live at
# the dump (thread start-up wrappers) show their inclusive cost even in the
# self listing; <skip_wrappers>=1 drops them there.
top_functions() { # <n> <file> <skip_wrappers>
    awk -v n="$1" -v skip="$3" '/^-+$/ {dash++; next}
        dash >= 3 && NF && !/PROGRAM TOTALS/ && /[0-9]/ && k < n {
            if (skip && /:(clone|start_thread|[^ ]*thread_start|[^ ]*call_once\{\{vtable\.shim\}\}|[^ ]*__rust_begin_short_backtrace)( |$)/) next
            print; k++ }' "$2"
}
callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$DUMP" >"$WORK/incl.txt" 2>/dev/null || true
callgrind_annotate --auto=no --inclusive=no --threshold=100 "$DUMP" >"$WORK/self.txt" 2>/dev/null || true
say "## top 25 functions by inclusive cost"
top_functions 25 "$WORK/incl.txt" 0 | tee -a "$OUT_TXT"
say ""
say "## top 15 functions by self cost (thread start-up frames left out)"
top_functions 15 "$WORK/self.txt" 1 | tee -a "$OUT_TXT"
if [ -s "$WORK/shardgate.log" ]; then
    say ""
    say "# shardgate/valgrind log, last 10 lines:"
    tail -n 10 "$WORK/shardgate.log" | sed 's/^/   | /' | tee -a "$OUT_TXT"
fi
note "report: $OUT_TXT"
