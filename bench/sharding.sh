#!/usr/bin/env bash
# sharding.sh - what sharding costs: shardgate sharded over 2 groups vs the
# same shardgate unsharded, and the latency of a 4-shard scatter query.
#
# Owns: the sharding benchmarks of issue 4 ("Benchmarks (bench/)"), apart
# from the criterion planning bench (bench/route_plan.rs). See
# bench/README.md for how to read the report.
#
# What one run does:
#   1. starts two MariaDB sandboxes (tests/support/sandbox.sh, free ports, own
#      dir under /tmp) = groups g0 and g1, creates database sbtest and the
#      sysbench account on both, raises the InnoDB buffer pool;
#   2. one shardgate per config, all running at once on those same two
#      servers, each config in its own database sb_<config>:
#        unsharded  schema sbtest, default_group g0, no tables (all on g0)
#        hash_g0    every sbtest table sharded by id, hash, both shards on g0
#                   (tables_per_group [2]): the routing cost alone, on the
#                   same single server as unsharded
#        hash       every sbtest table sharded by id, hash over g0,g1 [1,1]
#        range      every sbtest table sharded by id, range over g0,g1 [1,1],
#                   rows_per_table = TABLE_SIZE/2 + 1 (sysbench ids are
#                   1..TABLE_SIZE, so each physical table gets exactly half)
#      starts its shardgate, runs `sysbench prepare` THROUGH shardgate with
#      --auto_inc=off (so every INSERT carries the key) and checks on each
#      backend that every physical table holds exactly the rows the rule
#      puts there;
#   3. ROUNDS rounds; in each, for every workload (oltp_point_select,
#      oltp_read_write) and ps mode (--db-ps-mode=disable, auto), one run
#      (THREADS client threads, DURATION s) through each config's shardgate
#      back to back (round r starts with the r-th config), so the configs
#      compared are measured minutes apart at most; one line per run: QPS, p95, errors, shardgate CPU s per 10,000
#      queries (utime+stime from /proc/<pid>/stat), the two mariadbd's CPU
#      per 10k, host CPU busy % and the share used by everything else on the
#      machine (other%: host busy minus shardgate, both mariadbd and
#      sysbench); then `sysbench cleanup` through each shardgate (DDL
#      fan-out);
#   4. prints sharded/unsharded QPS ratios: per round (each sharded run over
#      the unsharded run of its round), and their median, PASS when the
#      median >= 0.90 (issue 4: "routing must cost less than 10% of
#      unsharded QPS");
#   5. scatter latency: table `scat` sharded by id with a hash rule over 4
#      shards (2 tables per group), created through shardgate, SCATTER_ROWS
#      rows generated directly on the backends with INSERT ... SELECT FROM
#      seq_1_to_N WHERE MOD(seq, 4) = shard (the rule's placement); then
#      `SELECT ... ORDER BY c LIMIT 10` (no index: full scan per shard),
#      `SELECT COUNT(*)` and `ORDER BY k LIMIT 10` (indexed) through
#      shardgate vs on each physical table directly (median of SCATTER_RUNS
#      runs each; target: shardgate <= 1.2x the slowest single shard), and
#      vs the 4 shard queries run directly in parallel (what shardgate itself
#      adds on top of the backends' work). Results are checked against the
#      direct answers.
#   Everything it started is stopped on exit (also on failure or Ctrl-C).
#   Exit status is 0 whatever the numbers; non-zero only when the set-up
#   fails.
#
# Results: bench/results/<UTC timestamp>-sharding[-quick].txt (the report)
# and .csv (one row per sysbench run); bench/results/sharding-latest.txt =
# the last complete run's report.
#
# Environment (defaults in brackets):
#   QUICK=1            short runs [DURATION=5, SCATTER_RUNS=10]
#   DURATION           seconds per sysbench run [20; 5 with QUICK=1]
#   ROUNDS             rounds of runs over every config [3; 1 with QUICK=1]
#   WARMUP             seconds of the unrecorded warm-up run of each workload
#                      through each config before round 1 [5; 2 with QUICK=1]
#   CONFIGS            ["unsharded hash_g0 hash range"] (unsharded is the reference)
#   WORKLOADS          ["oltp_point_select oltp_read_write"]
#   THREADS            sysbench client threads [8]
#   PS_MODES           ["disable auto"]  (auto = prepared statements on)
#   TABLES, TABLE_SIZE [4, 100000]
#   SCATTER_ROWS       rows of the 4-shard table [1000000]; 0 skips the scatter part
#   SCATTER_RUNS       timed runs per query and target [20; 10 with QUICK=1]
#   SB_RUN_ARGS        extra `sysbench run` options for every config [none],
#                      e.g. "--range_selects=off": oltp_read_write without its
#                      4 id-range SELECTs, which a hash rule must send to
#                      every shard (the routing cost without scatter work)
#   BUFFER_POOL        InnoDB buffer pool of each sandbox server [512M]
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
if [ "$QUICK" = 1 ]; then
    DURATION=${DURATION:-5}
    WARMUP=${WARMUP:-2}
    ROUNDS=${ROUNDS:-1}
    SCATTER_RUNS=${SCATTER_RUNS:-10}
else
    DURATION=${DURATION:-20}
    WARMUP=${WARMUP:-5}
    ROUNDS=${ROUNDS:-3}
    SCATTER_RUNS=${SCATTER_RUNS:-20}
fi
CONFIGS=${CONFIGS:-"unsharded hash_g0 hash range"}
WORKLOADS=${WORKLOADS:-"oltp_point_select oltp_read_write"}
THREADS=${THREADS:-8}
PS_MODES=${PS_MODES:-"disable auto"}
SB_RUN_ARGS=${SB_RUN_ARGS:-}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-100000}
SCATTER_ROWS=${SCATTER_ROWS:-1000000}
BUFFER_POOL=${BUFFER_POOL:-512M}
SG_IO_THREADS=${SG_IO_THREADS:-0}
SG_WORKER_THREADS=${SG_WORKER_THREADS:-0}
SHARDGATE_BIN=${SHARDGATE_BIN:-$ROOT/target/release/shardgate}
BUILD=${BUILD:-1}
KEEP=${KEEP:-0}
RATIO_TARGET=0.90
SCATTER_TARGET=1.2

SB_USER=sbtest
SB_PASSWORD=sbtest
BE_USER=shardgate # the account tests/support/sandbox.sh creates on every server
BE_PASSWORD=backend-secret
CLK_TCK=$(getconf CLK_TCK)
RANGE_ROWS=$((TABLE_SIZE / 2 + 1))

die() { echo "sharding.sh: $*" >&2; exit 1; }

for tool in sysbench python3; do command -v "$tool" >/dev/null || die "$tool not found"; done
CLI=$(command -v mariadb || command -v mysql) || die "mariadb CLI not found"
[ "$TABLE_SIZE" -ge 2 ] || die "TABLE_SIZE must be >= 2"
[ "$ROUNDS" -ge 1 ] 2>/dev/null || die "ROUNDS must be >= 1"

# --- results files ------------------------------------------------------------
STAMP=$(date -u +%Y%m%d-%H%M%S)-sharding
[ "$QUICK" = 1 ] && STAMP="$STAMP-quick"
RESULTS="$HERE/results"
mkdir -p "$RESULTS"
OUT_TXT="$RESULTS/$STAMP.txt"
OUT_CSV="$RESULTS/$STAMP.csv"
: >"$OUT_TXT"
echo "round,config,workload,threads,ps_mode,qps,p95_ms,queries,errors,reconnects,sg_cpu_s_per_10k,db_cpu_s_per_10k,host_busy_pct,other_busy_pct,status" >"$OUT_CSV"

say() { printf '%s\n' "$*" | tee -a "$OUT_TXT"; }
note() { echo "-- $*" >&2; } # progress, not part of the report

# --- work dir, processes, cleanup --------------------------------------------
WORK=$(mktemp -d /tmp/shardgate-sharding.XXXXXX)
DB_DIR="$WORK/db"
SG_PID=""
declare -A SG_PIDS SG_PORTS

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
    stop_pid "$SG_PID" shardgate
    for p in "${SG_PIDS[@]}"; do stop_pid "$p" shardgate; done
    bash "$SANDBOX" stop "$DB_DIR" >/dev/null 2>&1
    if [ "$KEEP" = 1 ]; then
        echo "sharding.sh: work dir kept: $WORK" >&2
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

cpu_ticks() { # <pid>...: utime+stime of the processes (all threads), in clock ticks
    local s total=0 p
    for p in "$@"; do
        s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

child_ticks() { # user+sys clock ticks of this shell's finished children (bash `times`)
    local t
    t=$(times | tail -n 1) # "0m1.234s 0m0.567s"
    awk -v t="$t" -v hz="$CLK_TCK" 'BEGIN { split(t, f, " "); s = 0;
        for (i = 1; i <= 2; i++) { split(f[i], m, "m"); sub("s", "", m[2]); s += m[1] * 60 + m[2] }
        printf "%d", s * hz }'
}

host_ticks() { # "<busy> <total> <process>" ticks of all CPUs since boot (/proc/stat):
    # busy = all but idle and iowait; process = user + nice + system (no irq/softirq)
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t, $2 + $3 + $4 }' /proc/stat
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

read -r G0_PORT G1_PORT SG_PORT SCATTER_PORT < <(free_ports 4)
read -r -a cfg_ports < <(free_ports "$(wc -w <<<"$CONFIGS")")
i=0
for cfg in $CONFIGS; do SG_PORTS[$cfg]=${cfg_ports[$i]}; i=$((i + 1)); done
# The database of the config in use: sb_<config>; sbtest for the scatter part.
DB=sbtest

# --- MariaDB: two groups --------------------------------------------------------
note "starting MariaDB sandboxes g0 on 127.0.0.1:$G0_PORT and g1 on :$G1_PORT ($DB_DIR)"
bash "$SANDBOX" start "$DB_DIR" "$G0_PORT" "$G1_PORT" >&2
G0_PID=$(cat "$DB_DIR/$G0_PORT/mysqld.pid")
G1_PID=$(cat "$DB_DIR/$G1_PORT/mysqld.pid")
for port in "$G0_PORT" "$G1_PORT"; do
    bash "$SANDBOX" sql "$DB_DIR" "$port" "
        SET GLOBAL innodb_buffer_pool_size = $(numfmt --from=iec "$BUFFER_POOL");
        CREATE DATABASE IF NOT EXISTS sbtest;
        $(for cfg in $CONFIGS; do printf 'CREATE DATABASE IF NOT EXISTS sb_%s;\n' "$cfg"; done)
        CREATE USER IF NOT EXISTS '$SB_USER'@'127.0.0.1' IDENTIFIED BY '$SB_PASSWORD';
        CREATE USER IF NOT EXISTS '$SB_USER'@'localhost' IDENTIFIED BY '$SB_PASSWORD';
        GRANT ALL ON *.* TO '$SB_USER'@'127.0.0.1';
        GRANT ALL ON *.* TO '$SB_USER'@'localhost';" >&2
    # A larger redo log makes the bulk loads faster (dynamic since 10.9).
    bash "$SANDBOX" sql "$DB_DIR" "$port" "SET GLOBAL innodb_log_file_size = 256*1024*1024" >/dev/null 2>&1 || true
done

dbq() { # <port> <sql>: one query on a backend (batch, no headers)
    "$CLI" --no-defaults -h127.0.0.1 -P"$1" -u"$BE_USER" -p"$BE_PASSWORD" -N -B "$DB" -e "$2"
}
sgq() { # <sql>: one query through shardgate
    "$CLI" --no-defaults -h127.0.0.1 -P"$SG_PORT" -u"$SB_USER" -p"$SB_PASSWORD" -N -B "$DB" -e "$1"
}

# --- shardgate configs ----------------------------------------------------------
write_config() { # <name>: $WORK/sg-<name>.toml
    local name=$1 f="$WORK/sg-$1.toml" i
    cat >"$f" <<EOF
[server]
listen = "127.0.0.1:$SG_PORT"
log_level = "warn"
metadata_file = "$WORK/shardgate-$name.meta"
io_threads = $SG_IO_THREADS
worker_threads = $SG_WORKER_THREADS
shutdown_timeout = "2s"

[[user]]
name = "$SB_USER"
password = "$SB_PASSWORD"
schemas = ["$DB"]

[backend]
user = "$BE_USER"
password = "$BE_PASSWORD"

[[group]]
name = "g0"
master = "127.0.0.1:$G0_PORT"

[[group]]
name = "g1"
master = "127.0.0.1:$G1_PORT"

[[schema]]
name = "$DB"
default_group = "g0"
EOF
    case "$name" in
    unsharded) ;;
    hash_g0)
        printf '\n[[schema.rule]]\nname = "by_id"\nkind = "hash"\ngroups = ["g0"]\ntables_per_group = [2]\n' >>"$f" ;;
    hash)
        printf '\n[[schema.rule]]\nname = "by_id"\nkind = "hash"\ngroups = ["g0", "g1"]\ntables_per_group = [1, 1]\n' >>"$f" ;;
    range)
        printf '\n[[schema.rule]]\nname = "by_id"\nkind = "range"\ngroups = ["g0", "g1"]\ntables_per_group = [1, 1]\nrows_per_table = %d\n' "$RANGE_ROWS" >>"$f" ;;
    scatter)
        printf '\n[[schema.rule]]\nname = "by_id4"\nkind = "hash"\ngroups = ["g0", "g1"]\ntables_per_group = [2, 2]\n' >>"$f"
        printf '\n[[schema.table]]\nname = "scat"\nkey = "id"\nrule = "by_id4"\n' >>"$f" ;;
    *) die "unknown config '$name' (CONFIGS: unsharded hash_g0 hash range)" ;;
    esac
    if [ "$name" = hash ] || [ "$name" = hash_g0 ] || [ "$name" = range ]; then
        for ((i = 1; i <= TABLES; i++)); do
            printf '\n[[schema.table]]\nname = "sbtest%d"\nkey = "id"\nrule = "by_id"\n' "$i" >>"$f"
        done
    fi
    "$SHARDGATE_BIN" --check --config "$f" >"$WORK/check-$name.log" 2>&1 ||
        { cat "$WORK/check-$name.log" >&2; die "shardgate --check refused the generated '$name' config ($f)"; }
}

SG_CONFIG="" SG_STARTS=0
start_shardgate() { # <name>: on $SG_PORT, in database $DB
    SG_CONFIG=$1
    "$SHARDGATE_BIN" --config "$WORK/sg-$1.toml" </dev/null >>"$WORK/shardgate-$1.log" 2>&1 &
    SG_PID=$!
    SG_STARTS=$((SG_STARTS + 1))
    local i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$SG_PID" 2>/dev/null || { tail -n 20 "$WORK/shardgate-$1.log" >&2; die "shardgate ($1) exited during start-up"; }
        sgq 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "shardgate ($1) on port $SG_PORT does not answer queries"
}
use_config() { # <name>: the running shardgate of a config becomes the current one
    SG_CONFIG=$1 SG_PORT=${SG_PORTS[$1]} SG_PID=${SG_PIDS[$1]} DB=sb_$1
}
stop_shardgate() {
    stop_pid "$SG_PID" shardgate
    SG_PID=""
    if [ -s "$WORK/shardgate-$SG_CONFIG.log" ]; then
        say "   shardgate log ($SG_CONFIG, warn and above): $(wc -l <"$WORK/shardgate-$SG_CONFIG.log") lines; last 5:"
        tail -n 5 "$WORK/shardgate-$SG_CONFIG.log" | cut -c1-300 | sed 's/^/   | /' | tee -a "$OUT_TXT"
    fi
}

sb() { # <workload> <threads> <ps> <command> [extra args]: sysbench through shardgate
    local wl=$1 thr=$2 ps=$3 cmd=$4
    shift 4
    sysbench "$wl" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SG_PORT" \
        --mysql-user="$SB_USER" --mysql-password="$SB_PASSWORD" --mysql-db="$DB" \
        --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$thr" \
        --db-ps-mode="$ps" "$@" "$cmd"
}

# --- data placement check -----------------------------------------------------
# Every physical table holds exactly the rows the rule puts there, and the
# logical table seen through shardgate has them all.
VERIFY_BAD=0
check_eq() { # <what> <got> <want>
    if [ "$2" = "$3" ]; then return 0; fi
    say "   !! placement: $1: got '$2', want '$3'"
    VERIFY_BAD=$((VERIFY_BAD + 1))
}
verify_placement() { # <config>
    local cfg=$1 i t half_lo half_hi
    half_lo=$((TABLE_SIZE / 2))            # even ids in 1..N
    half_hi=$((TABLE_SIZE - TABLE_SIZE / 2)) # odd ids
    VERIFY_BAD=0
    local g1name=g1 g1port=$G1_PORT # where shard 1 lives
    [ "$cfg" = hash_g0 ] && { g1name=g0; g1port=$G0_PORT; }
    for ((i = 1; i <= TABLES; i++)); do
        t=sbtest$i
        check_eq "$t through shardgate COUNT(*)" "$(sgq "SELECT COUNT(*) FROM $t")" "$TABLE_SIZE"
        case "$cfg" in
        unsharded)
            check_eq "g0 $t rows, min, max" "$(dbq "$G0_PORT" "SELECT COUNT(*), MIN(id), MAX(id) FROM $t")" \
                "$TABLE_SIZE	1	$TABLE_SIZE"
            check_eq "g1 has no $t tables" "$(dbq "$G1_PORT" "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$DB' AND table_name LIKE '${t}%'")" 0 ;;
        hash | hash_g0)
            check_eq "g0 ${t}_0000 rows, rows with MOD(id,2)<>0" \
                "$(dbq "$G0_PORT" "SELECT COUNT(*), SUM(MOD(id, 2) <> 0) FROM ${t}_0000")" "$half_lo	0"
            check_eq "$g1name ${t}_0001 rows, rows with MOD(id,2)<>1" \
                "$(dbq "$g1port" "SELECT COUNT(*), SUM(MOD(id, 2) <> 1) FROM ${t}_0001")" "$half_hi	0"
            check_eq "g0 has no unsharded $t" "$(dbq "$G0_PORT" "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$DB' AND table_name = '$t'")" 0 ;;
        range)
            check_eq "g0 ${t}_0000 rows, min, max (ids < $RANGE_ROWS)" \
                "$(dbq "$G0_PORT" "SELECT COUNT(*), MIN(id), MAX(id) FROM ${t}_0000")" \
                "$((RANGE_ROWS - 1))	1	$((RANGE_ROWS - 1))"
            check_eq "g1 ${t}_0001 rows, min, max (ids >= $RANGE_ROWS)" \
                "$(dbq "$G1_PORT" "SELECT COUNT(*), MIN(id), MAX(id) FROM ${t}_0001")" \
                "$((TABLE_SIZE - RANGE_ROWS + 1))	$RANGE_ROWS	$TABLE_SIZE" ;;
        esac
    done
    if [ "$VERIFY_BAD" = 0 ]; then
        case "$cfg" in
        unsharded) say "   placement OK: $TABLES x $TABLE_SIZE rows, all in g0 sbtest1..$TABLES, nothing on g1" ;;
        hash | hash_g0) say "   placement OK: every sbtestN_0000 (g0) has the $half_lo even ids, sbtestN_0001 ($g1name) the $half_hi odd ids; COUNT(*) through shardgate = $TABLE_SIZE" ;;
        range) say "   placement OK: every sbtestN_0000 (g0) has ids 1..$((RANGE_ROWS - 1)), sbtestN_0001 (g1) ids $RANGE_ROWS..$TABLE_SIZE; COUNT(*) through shardgate = $TABLE_SIZE" ;;
        esac
    else
        say "   !! placement: $VERIFY_BAD check(s) failed (the runs below still measure)"
    fi
}

# --- report header ------------------------------------------------------------
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain -- src proto Cargo.toml Cargo.lock 2>/dev/null)" ] && GIT_REV="$GIT_REV+dirty"
say "# shardgate sharding benchmark $STAMP (UTC)"
say "# command: $([ "$QUICK" = 1 ] && echo "QUICK=1 ")DURATION=$DURATION ROUNDS=$ROUNDS WARMUP=$WARMUP CONFIGS=\"$CONFIGS\" TABLES=$TABLES TABLE_SIZE=$TABLE_SIZE THREADS=$THREADS SCATTER_ROWS=$SCATTER_ROWS SCATTER_RUNS=$SCATTER_RUNS$([ -n "$SB_RUN_ARGS" ] && echo " SB_RUN_ARGS=\"$SB_RUN_ARGS\"") WORKLOADS=\"$WORKLOADS\" PS_MODES=\"$PS_MODES\" bench/sharding.sh"
[ "$SHARDGATE_BIN" = "$ROOT/target/release/shardgate" ] || GIT_REV="(SHARDGATE_BIN given: not necessarily checkout $GIT_REV)"
say "# shardgate $GIT_REV ($SHARDGATE_BIN, built $(date -u -r "$SHARDGATE_BIN" '+%F %T')), io_threads=$SG_IO_THREADS worker_threads=$SG_WORKER_THREADS (0 = cores)"
say "# $(mariadbd --version 2>/dev/null | awk '{print $3}' || true), $(sysbench --version)"
say "# host: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f MiB", $2/1024}' /proc/meminfo), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
say "# backends: g0 mariadbd 127.0.0.1:$G0_PORT, g1 mariadbd :$G1_PORT (buffer pool $BUFFER_POOL each)"
say "# sg_cpu/10k = shardgate CPU s (user+sys, all threads) per 10,000 queries; db_cpu/10k = both mariadbd together;"
say "# host% = share of all $(nproc) cores busy during the run (everything on the machine, this benchmark included);"
say "# other% = CPU of other processes than shardgate, the two mariadbd and sysbench (user+system time;"
say "# interrupt/softirq time, mostly this benchmark's loopback traffic, is in host% only)"

LINE_FMT='%3s  %-9s  %-17s  %3s  %-7s  %9s  %8s  %6s  %10s  %10s  %5s  %6s  %s'
declare -A QPS CPU

per10k() { # <ticks> <queries>
    awk -v t="$1" -v q="$2" -v hz="$CLK_TCK" 'BEGIN { if (q > 0) printf "%.3f", t / hz / q * 10000; else print "-" }'
}

run_one() { # <round> <config> <workload> <threads> <ps>
    local rnd=$1 cfg=$2 wl=$3 thr=$4 ps=$5 log="$WORK/run.log"
    local p0 p1 d0 d1 h0 h1 c0 c1 rc=0 status=ok qps p95 queries errors reconnects pcpu dcpu busy other
    if ! kill -0 "$SG_PID" 2>/dev/null; then
        say "!! shardgate (pid $SG_PID) is gone; restarting it (see its log)"
        start_shardgate "$cfg"
        SG_PIDS[$cfg]=$SG_PID
    fi
    p0=$(cpu_ticks "$SG_PID")
    d0=$(cpu_ticks "$G0_PID" "$G1_PID")
    h0=$(host_ticks)
    c0=$(child_ticks)
    timeout -k 5 $((DURATION + 60)) \
        sysbench "$wl" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SG_PORT" \
        --mysql-user="$SB_USER" --mysql-password="$SB_PASSWORD" --mysql-db="$DB" \
        --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$thr" \
        --db-ps-mode="$ps" --time="$DURATION" --percentile=95 --report-interval=0 \
        $SB_RUN_ARGS run >"$log" 2>&1 || rc=$?
    p1=$(cpu_ticks "$SG_PID")
    d1=$(cpu_ticks "$G0_PID" "$G1_PID")
    h1=$(host_ticks)
    c1=$(child_ticks)
    other=$(awk -v a="$h0" -v b="$h1" -v ours=$(((p1 - p0) + (d1 - d0) + (c1 - c0))) 'BEGIN { split(a, x, " "); split(b, y, " ");
        o = (y[3] - x[3]) - ours; if (o < 0) o = 0;
        if (y[2] > x[2]) printf "%.0f", o * 100 / (y[2] - x[2]); else print "-" }')
    busy=$(awk -v a="$h0" -v b="$h1" 'BEGIN { split(a, x, " "); split(b, y, " ");
        if (y[2] > x[2]) printf "%.0f", (y[1] - x[1]) * 100 / (y[2] - x[2]); else print "-" }')
    queries=$(awk '$1=="queries:"{print $2}' "$log")
    qps=$(awk '$1=="queries:"{gsub(/\(/,"",$3); print $3}' "$log")
    p95=$(awk '$1=="95th"{print $3}' "$log")
    errors=$(awk '$1=="ignored" && $2=="errors:"{print $3}' "$log")
    reconnects=$(awk '$1=="reconnects:"{print $2}' "$log")
    : "${queries:=0}" "${qps:=0}" "${p95:=-}" "${errors:=0}" "${reconnects:=0}"
    if [ "$rc" -ne 0 ]; then
        status="FAILED(rc=$rc)"
        [ "$rc" -eq 124 ] && status="TIMEOUT"
        cp "$log" "$RESULTS/$STAMP.fail-$rnd-$cfg-$wl-$thr-$ps.log"
    elif [ "$errors" != 0 ] || [ "$reconnects" != 0 ]; then
        status="errors"
        cp "$log" "$RESULTS/$STAMP.fail-$rnd-$cfg-$wl-$thr-$ps.log"
    fi
    pcpu=$(per10k $((p1 - p0)) "$queries")
    dcpu=$(per10k $((d1 - d0)) "$queries")
    if [[ "$status" == FAILED* || "$status" == TIMEOUT ]]; then QPS["$cfg $wl $thr $ps $rnd"]=0; else QPS["$cfg $wl $thr $ps $rnd"]=$qps; fi
    CPU["$cfg $wl $thr $ps $rnd"]=$pcpu
    say "$(printf "$LINE_FMT" "$rnd" "$cfg" "$wl" "$thr" "$ps" "$qps" "$p95" "$errors" "$pcpu" "$dcpu" "$busy" "$other" "$status")"
    echo "$rnd,$cfg,$wl,$thr,$ps,$qps,$p95,$queries,$errors,$reconnects,$pcpu,$dcpu,$busy,$other,$status" >>"$OUT_CSV"
    if [ "$status" != ok ]; then
        { grep -iE 'fatal|alert|error' "$log" || true; } | sort | uniq -c | sort -rn | sed -n '1,5s/^/     | /p' | tee -a "$OUT_TXT"
    fi
}

# --- sysbench: set-up of every config -------------------------------------------
for cfg in $CONFIGS; do
    SG_PORT=${SG_PORTS[$cfg]} DB=sb_$cfg
    write_config "$cfg"
    say ""
    say "## config '$cfg' (database $DB, shardgate :$SG_PORT): $(case $cfg in
        unsharded) echo "no sharded tables (everything on g0)" ;;
        hash_g0) echo "sbtest1..$TABLES sharded by id, hash, both shards on g0 (tables_per_group [2]): routing cost on one server" ;;
        hash) echo "sbtest1..$TABLES sharded by id, hash over g0,g1, tables_per_group [1,1] (id mod 2)" ;;
        range) echo "sbtest1..$TABLES sharded by id, range over g0,g1, tables_per_group [1,1], rows_per_table $RANGE_ROWS" ;;
        esac)"
    start_shardgate "$cfg"
    SG_PIDS[$cfg]=$SG_PID
    note "[$cfg] sysbench prepare through shardgate: $TABLES tables x $TABLE_SIZE rows (--auto_inc=off)"
    t0=$(date +%s)
    sb oltp_point_select 2 disable cleanup >"$WORK/cleanup0-$cfg.log" 2>&1 || true
    sb oltp_point_select 2 disable prepare --auto_inc=off >"$WORK/prepare-$cfg.log" 2>&1 ||
        { tail -n 20 "$WORK/prepare-$cfg.log" >&2; die "sysbench prepare through shardgate ($cfg) failed"; }
    say "   prepare through shardgate: $(($(date +%s) - t0)) s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
    verify_placement "$cfg"
done
SG_PID=""

# --- sysbench: rounds, the configs back to back -----------------------------------
say ""
say "## runs: $ROUNDS round(s); in each, every workload and ps mode runs through each config in turn"
# Warm-up, not recorded: the buffer pools (sysbench prewarm) and then a
# short run of every workload through each config, so that the first
# recorded run of round 1 does not also pay for cold redo logs, purge and
# statement caches (it measured 10-20% low before this).
for cfg in $CONFIGS; do
    use_config "$cfg"
    sb oltp_point_select 2 disable prewarm >>"$WORK/prepare-$cfg.log" 2>&1 || true
    for wl in $WORKLOADS; do
        timeout -k 5 $((WARMUP + 60)) \
            sysbench "$wl" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SG_PORT" \
            --mysql-user="$SB_USER" --mysql-password="$SB_PASSWORD" --mysql-db="$DB" \
            --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="${THREADS%% *}" \
            --time="$WARMUP" --report-interval=0 $SB_RUN_ARGS run >>"$WORK/warmup-$cfg.log" 2>&1 ||
            note "[$cfg] warm-up run of $wl failed (see $WORK/warmup-$cfg.log)"
    done
done
say "$(printf "$LINE_FMT" rnd config workload thr ps QPS p95_ms errors sg_cpu/10k db_cpu/10k host% other% status)"
read -r -a CFG_LIST <<<"$CONFIGS"
for ((rnd = 1; rnd <= ROUNDS; rnd++)); do
    # Each round starts with another config: no config always runs first
    # (cold) or right after the same neighbour's write load.
    order=()
    for ((i = 0; i < ${#CFG_LIST[@]}; i++)); do
        order+=("${CFG_LIST[$(((i + rnd - 1) % ${#CFG_LIST[@]}))]}")
    done
    for wl in $WORKLOADS; do
        for thr in $THREADS; do
            for ps in $PS_MODES; do
                for cfg in "${order[@]}"; do
                    use_config "$cfg"
                    run_one "$rnd" "$cfg" "$wl" "$thr" "$ps"
                    SG_PIDS[$cfg]=$SG_PID
                    sleep 1
                done
            done
        done
    done
done

# --- sysbench: cleanup through each shardgate ---------------------------------------
say ""
for cfg in $CONFIGS; do
    use_config "$cfg"
    note "[$cfg] sysbench cleanup through shardgate"
    if sb oltp_point_select 2 disable cleanup >"$WORK/cleanup-$cfg.log" 2>&1; then
        left=$( { dbq "$G0_PORT" "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$DB' AND table_name LIKE 'sbtest%'"
            dbq "$G1_PORT" "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$DB' AND table_name LIKE 'sbtest%'"; } |
            awk '{ s += $1 } END { print s + 0 }')
        [ "$left" = 0 ] && say "   [$cfg] cleanup (DROP TABLE through shardgate): every physical table dropped" ||
            say "   !! [$cfg] cleanup through shardgate left $left physical sbtest tables"
    else
        say "   !! [$cfg] sysbench cleanup through shardgate failed: $(tail -n 1 "$WORK/cleanup-$cfg.log")"
    fi
    stop_shardgate
    unset "SG_PIDS[$cfg]"
    # Whatever is left (a failed cleanup) must not stay in the servers.
    for port in "$G0_PORT" "$G1_PORT"; do
        bash "$SANDBOX" sql "$DB_DIR" "$port" "DROP DATABASE IF EXISTS $DB" >/dev/null
    done
done
DB=sbtest

# --- summary ------------------------------------------------------------------
median() { # <number>...: the median (mean of the middle two for an even count)
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-";
        else if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
if [[ " $CONFIGS " == *" unsharded "* ]]; then
    say ""
    say "## summary: sharded / unsharded QPS, each sharded run over the unsharded run of its round"
    say "## (target: median >= $RATIO_TARGET, i.e. routing costs < 10% of unsharded QPS)"
    SUM_FMT='%-17s  %3s  %-7s  %-9s  %10s  %10s  %-20s  %6s  %10s  %10s  %s'
    say "$(printf "$SUM_FMT" workload thr ps config unsharded sharded "ratio per round" median cpu/10k_u cpu/10k_s target)"
    PASSES=0 FAILS=0
    for cfg in $CONFIGS; do
        [ "$cfg" = unsharded ] && continue
        for wl in $WORKLOADS; do
            for thr in $THREADS; do
                for ps in $PS_MODES; do
                    ratios=() us=() ss=() cu=() cs=()
                    for ((rnd = 1; rnd <= ROUNDS; rnd++)); do
                        u=${QPS["unsharded $wl $thr $ps $rnd"]:-0}
                        v=${QPS["$cfg $wl $thr $ps $rnd"]:-0}
                        us+=("$u") ss+=("$v")
                        cu+=("${CPU["unsharded $wl $thr $ps $rnd"]:-0}") cs+=("${CPU["$cfg $wl $thr $ps $rnd"]:-0}")
                        ratios+=("$(awk -v s="$v" -v u="$u" 'BEGIN { if (u > 0) printf "%.2f", s / u; else print 0 }')")
                    done
                    ratio=$(median "${ratios[@]}")
                    if awk -v r="$ratio" -v t="$RATIO_TARGET" 'BEGIN { exit !(r >= t) }'; then
                        verdict=PASS; PASSES=$((PASSES + 1))
                    else
                        verdict=FAIL; FAILS=$((FAILS + 1))
                    fi
                    say "$(printf "$SUM_FMT" "$wl" "$thr" "$ps" "$cfg" "$(median "${us[@]}")" "$(median "${ss[@]}")" \
                        "$(IFS=' '; echo "${ratios[*]}")" "$ratio" "$(median "${cu[@]}")" "$(median "${cs[@]}")" "$verdict")"
                done
            done
        done
    done
    say "QPS target: $PASSES PASS, $FAILS FAIL (unsharded/sharded/cpu columns: medians over the rounds)"
    say "   hash_g0 is routing alone (same single server as unsharded); hash and range also pay for a"
    say "   second mariadbd on the same cores and, in oltp_read_write, for range queries gathered from"
    say "   both shards and transactions held on both groups."
fi

# --- scatter latency ------------------------------------------------------------
if [ "$SCATTER_ROWS" -gt 0 ]; then
    say ""
    say "## scatter latency: table scat, hash by id over 4 shards (scat_0000, scat_0001 on g0; scat_0002, scat_0003 on g1), $SCATTER_ROWS rows"
    SG_PORT=$SCATTER_PORT DB=sbtest
    write_config scatter
    start_shardgate scatter
    sgq "CREATE TABLE scat (id BIGINT NOT NULL, k INT NOT NULL, c CHAR(65) NOT NULL,
        pad CHAR(60) NOT NULL, PRIMARY KEY (id), KEY k_idx (k)) ENGINE=InnoDB" ||
        die "CREATE TABLE scat through shardgate failed"
    note "generating $SCATTER_ROWS rows directly on the backends"
    t0=$(date +%s)
    gen_pids=()
    for shard in 0 1 2 3; do
        if [ "$shard" -lt 2 ]; then port=$G0_PORT; else port=$G1_PORT; fi
        dbq "$port" "INSERT INTO scat_000$shard (id, k, c, pad)
            SELECT seq, (seq * 7919) MOD 1000003, CONCAT(MD5(seq), '-', LEFT(MD5(seq + 1), 32)),
                   RPAD(seq, 60, '#')
            FROM seq_1_to_$SCATTER_ROWS WHERE MOD(seq, 4) = $shard" &
        gen_pids+=($!)
    done
    for p in "${gen_pids[@]}"; do wait "$p" || die "generating scat rows failed"; done
    for port in "$G0_PORT" "$G1_PORT"; do
        for t in $(dbq "$port" "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sbtest' AND table_name LIKE 'scat%'"); do
            dbq "$port" "ANALYZE TABLE $t" >/dev/null
        done
    done
    say "   generated in $(($(date +%s) - t0)) s; per table: $(for s in 0 1 2 3; do
        if [ "$s" -lt 2 ]; then port=$G0_PORT; else port=$G1_PORT; fi
        printf 'scat_000%d=%s ' "$s" "$(dbq "$port" "SELECT COUNT(*) FROM scat_000$s")"; done)"
    # The rule's placement: a point read through shardgate finds each id.
    misses=0
    for id in 1 2 3 4 999 1000 $((SCATTER_ROWS - 1)) "$SCATTER_ROWS"; do
        [ "$(sgq "SELECT id FROM scat WHERE id = $id")" = "$id" ] || misses=$((misses + 1))
    done
    [ "$misses" = 0 ] && say "   placement OK: point reads through shardgate find every probed id" ||
        say "   !! placement: $misses probed ids not found through shardgate"
    say "   load average before timing: $(cut -d' ' -f1-3 /proc/loadavg)"
    cat >"$WORK/scatter.py" <<'PYEOF'
"""Times scatter queries: through shardgate vs directly on each shard."""
import statistics, struct, sys, threading, time

sys.path.insert(0, sys.argv[1])
from idle_conns import Conn, ProtoError, read_packet, write_packet  # noqa: E402

(_, _, sg_port, g0, g1, user, pw, be_user, be_pw, runs, target) = sys.argv
runs, target = int(runs), float(target)
SHARDS = [(int(g0), "scat_0000"), (int(g0), "scat_0001"), (int(g1), "scat_0002"), (int(g1), "scat_0003")]


def lenenc(p, i):
    b = p[i]
    if b < 0xFB:
        return b, i + 1
    if b == 0xFB:
        return None, i + 1
    if b == 0xFC:
        return struct.unpack_from("<H", p, i + 1)[0], i + 3
    if b == 0xFD:
        return int.from_bytes(p[i + 1:i + 4], "little"), i + 4
    return struct.unpack_from("<Q", p, i + 1)[0], i + 9


def connect(port, u, p):
    c = Conn("127.0.0.1", port)
    c.start(u, p)
    c.finish(p)
    write_packet(c.sock, 0, b"\x02sbtest")  # COM_INIT_DB
    _, r = read_packet(c.sock)
    if not r or r[0] != 0:
        raise ProtoError(f"COM_INIT_DB failed: {r!r}")
    return c


def query(c, sql):
    """COM_QUERY -> rows (tuples of str/None); text protocol, EOF packets."""
    write_packet(c.sock, 0, b"\x03" + sql.encode())
    _, p = read_packet(c.sock)
    if p[0] == 0xFF:
        raise ProtoError(f"ERR {struct.unpack_from('<H', p, 1)[0]}: {p[9:].decode(errors='replace')} ({sql})")
    if p[0] == 0x00:
        return []
    ncols, _ = lenenc(p, 0)
    for _ in range(ncols):
        read_packet(c.sock)
    _, p = read_packet(c.sock)  # EOF after the columns
    rows = []
    while True:
        _, p = read_packet(c.sock)
        if p[0] == 0xFE and len(p) < 9:
            return rows
        if p[0] == 0xFF:
            raise ProtoError(f"ERR in rows: {p[9:].decode(errors='replace')}")
        i, row = 0, []
        for _ in range(ncols):
            n, i = lenenc(p, i)
            if n is None:
                row.append(None)
            else:
                row.append(p[i:i + n].decode())
                i += n
        rows.append(tuple(row))


def timed(c, sql, n):
    """Warm once, then n timed runs: (median ms, min ms, last rows)."""
    rows = query(c, sql)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        rows = query(c, sql)
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts), min(ts), rows


def parallel(conns, sqls, n):
    """All shard queries at once, each from its own thread and connection
    (threads started once, released together by a barrier); the wall time
    until the slowest answers."""
    out = [None] * len(conns)
    go = threading.Barrier(len(conns) + 1)
    done = threading.Barrier(len(conns) + 1)

    def worker(i):
        for _ in range(n + 1):
            go.wait()
            out[i] = query(conns[i], sqls[i])
            done.wait()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(conns))]
    for x in threads:
        x.start()
    ts = []
    for r in range(n + 1):
        t = time.perf_counter()
        go.wait()
        done.wait()
        if r:  # the first round warms up
            ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts), min(ts), out


QUERIES = [
    ("ORDER BY c LIMIT 10 (no index: scan + sort per shard)",
     "SELECT id, k, c FROM {t} ORDER BY c LIMIT 10",
     lambda shard_rows: sorted((r for rows in shard_rows for r in rows), key=lambda r: r[2])[:10]),
    ("COUNT(*)",
     "SELECT COUNT(*) FROM {t}",
     lambda shard_rows: [(str(sum(int(rows[0][0]) for rows in shard_rows)),)]),
    ("ORDER BY k LIMIT 10 (index k_idx)",
     "SELECT id, k, c FROM {t} ORDER BY k, id LIMIT 10",
     lambda shard_rows: sorted((r for rows in shard_rows for r in rows), key=lambda r: (int(r[1]), int(r[0])))[:10]),
]

sg = connect(int(sg_port), user, pw)
direct = [connect(port, be_user, be_pw) for port, _ in SHARDS]
fmt = "   {:<55} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}  {}"
print(fmt.format("query (median of %d runs, ms)" % runs, "shardgate", "slowest", "parallel", "sg_min", "sg/slow", "sg/par", "target <= %.1fx sg/slowest" % target))
passes = fails = 0
for name, sql, merge in QUERIES:
    per_shard = []
    shard_rows = []
    for c, (_, t) in zip(direct, SHARDS):
        med, _, rows = timed(c, sql.format(t=t), runs)
        per_shard.append(med)
        shard_rows.append(rows)
    par, _, _ = parallel(direct, [sql.format(t=t) for _, t in SHARDS], runs)
    sg_med, sg_min, sg_rows = timed(sg, sql.format(t="scat"), runs)
    slowest = max(per_shard)
    ratio = sg_med / slowest
    ok = ratio <= target
    same = list(sg_rows) == merge(shard_rows)
    verdict = ("PASS" if ok else "FAIL") + ("" if same else "  !! RESULT DIFFERS from the merged direct answers")
    passes += ok
    fails += not ok
    print(fmt.format(name, "%.2f" % sg_med, "%.2f" % slowest, "%.2f" % par, "%.2f" % sg_min,
                     "%.2f" % ratio, "%.2f" % (sg_med / par), verdict))
    print("     per shard: " + ", ".join("%s %.2f" % (t, m) for (_, t), m in zip(SHARDS, per_shard))
          + ("; result equals the merged direct answers" if same else
             "; shardgate: %r ... direct merged: %r" % (sg_rows[:2], merge(shard_rows)[:2])))
print("   scatter target: %d PASS, %d FAIL" % (passes, fails))
PYEOF
    python3 "$WORK/scatter.py" "$HERE" "$SG_PORT" "$G0_PORT" "$G1_PORT" "$SB_USER" "$SB_PASSWORD" \
        "$BE_USER" "$BE_PASSWORD" "$SCATTER_RUNS" "$SCATTER_TARGET" 2>&1 | tee -a "$OUT_TXT" ||
        say "   !! scatter timing failed"
    say "   slowest = the slowest physical table's median run alone on its server; parallel = the 4"
    say "   physical-table queries sent directly at once (2 per server), wall time until the last"
    say "   answers: the backends' share of a scatter query; sg/par is what shardgate adds on top."
    say "   load average after timing: $(cut -d' ' -f1-3 /proc/loadavg)"
    stop_shardgate
fi

say ""
say "# shardgate started $SG_STARTS time(s) for $(wc -w <<<"$CONFIGS") config(s)$([ "$SCATTER_ROWS" -gt 0 ] && echo " + scatter")"
say "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "$SB_RUN_ARGS" ]; then
    cp "$OUT_TXT" "$RESULTS/sharding-latest.txt"
    note "report: $OUT_TXT  csv: $OUT_CSV  (also bench/results/sharding-latest.txt)"
else
    # A variant workload is not the issue's benchmark: sharding-latest.txt
    # keeps the last run of the workloads as sysbench defines them.
    note "report: $OUT_TXT  csv: $OUT_CSV"
fi
exit 0
