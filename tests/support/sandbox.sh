#!/usr/bin/env bash
# sandbox.sh - local MariaDB servers for the shardgate demo and for manual tests.
#
# Owns: starting, stopping and wiring throw-away `mariadbd` instances, each on
# 127.0.0.1 only, with every file (datadir, socket, pid, log) under one folder.
# The Rust twin used by the integration tests is tests/support/mod.rs; both
# start mariadbd with the same options (keep them in step).
#
# Usage:
#   sandbox.sh start   <dir> <port> [<port>...]   init (first time) + start
#   sandbox.sh stop    <dir>                      stop every instance in <dir>
#   sandbox.sh status  <dir>                      one line per instance
#   sandbox.sh replica <dir> <master_port> <replica_port>
#                                                 GTID replica of another instance
#   sandbox.sh sql     <dir> <port> [<sql>]       root CLI over the socket
#                                                 (reads stdin without <sql>)
#
# Layout:  <dir>/<port>/{data/,mysqld.sock,mysqld.pid,error.log}
# Template datadir (mariadb-install-db runs once, then `cp -a` per instance):
#   $SHARDGATE_SANDBOX_CACHE/template-<mariadb version>  if that env is set,
#   otherwise <dir>/.template
#
# Accounts in every instance:
#   shardgate / backend-secret  @127.0.0.1 and @localhost, ALL PRIVILEGES on *.*
#                               WITH GRANT OPTION (ALL includes the replication
#                               privileges; used by shardgate and by replicas)
#   root, no password           over the socket (also @127.0.0.1 / @::1)
#
# Never touches anything outside <dir> (and the cache dir): the system server
# on 3306 and other processes are left alone; stop only signals pids found in
# <dir>/*/mysqld.pid whose command line names that instance's datadir.
set -euo pipefail
shopt -s inherit_errexit

BACKEND_USER=shardgate
BACKEND_PASSWORD=backend-secret
START_TIMEOUT=60 # seconds until an instance must answer
STOP_TIMEOUT=30  # seconds of clean shutdown before SIGKILL

die() { echo "sandbox.sh: $*" >&2; exit 1; }

find_bin() { # first of the given names found on PATH or in /usr/sbin, /usr/bin
    local n
    for n in "$@"; do
        if command -v "$n" >/dev/null 2>&1; then command -v "$n"; return 0; fi
        for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
            if [ -x "$d/$n" ]; then echo "$d/$n"; return 0; fi
        done
    done
    return 1
}

MARIADBD=$(find_bin mariadbd mysqld) || die "mariadbd not found"
INSTALL_DB=$(find_bin mariadb-install-db mysql_install_db) || die "mariadb-install-db not found"
CLI=$(find_bin mariadb mysql) || die "mariadb CLI not found"
ADMIN=$(find_bin mariadb-admin mysqladmin) || die "mariadb-admin not found"

# Options shared by every instance (tests/support/mod.rs: SERVER_OPTS).
common_opts() { # <datadir> <sock> <pidfile> <log>
    echo --no-defaults --user=root "--datadir=$1" "--socket=$2" "--pid-file=$3" \
        "--log-error=$4" --innodb-buffer-pool-size=32M --innodb-log-file-size=8M \
        --innodb-use-native-aio=0 --performance-schema=OFF --skip-name-resolve \
        --max-connections=1000 --tmp-memory-table-size=64M --max-heap-table-size=64M
}

mariadb_version() {
    "$MARIADBD" --version | sed -n 's/.* Ver \([^ ]*\).*/\1/p' | tr -c 'A-Za-z0-9._\n-' '_'
}

# SQL run once on the template (binlog off, so no instance inherits GTIDs).
setup_sql() {
    cat <<EOF
SET SESSION sql_log_bin=0;
DELETE FROM mysql.global_priv WHERE User='root' AND Host NOT IN ('localhost','127.0.0.1','::1');
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost','127.0.0.1','::1');
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS '$BACKEND_USER'@'127.0.0.1' IDENTIFIED BY '$BACKEND_PASSWORD';
CREATE USER IF NOT EXISTS '$BACKEND_USER'@'localhost' IDENTIFIED BY '$BACKEND_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$BACKEND_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$BACKEND_USER'@'localhost' WITH GRANT OPTION;
EOF
}

# Echo the template dir, building it (under a lock) if it is missing.
ensure_template() { # <dir>
    local tpl
    if [ -n "${SHARDGATE_SANDBOX_CACHE:-}" ]; then
        mkdir -p "$SHARDGATE_SANDBOX_CACHE"
        tpl="$SHARDGATE_SANDBOX_CACHE/template-$(mariadb_version)"
    else
        tpl="$1/.template"
    fi
    (
        flock -w 300 9 || die "timeout waiting for template lock $tpl.lock"
        [ -d "$tpl" ] && exit 0
        local work="$tpl.tmp.$$"
        rm -rf "$work"
        mkdir -p "$work"
        "$INSTALL_DB" --no-defaults --user=root --datadir="$work/data" \
            --auth-root-authentication-method=normal --skip-test-db \
            --skip-name-resolve --innodb-log-file-size=8M \
            --innodb-buffer-pool-size=32M >"$work/install.log" 2>&1 ||
            { cat "$work/install.log" >&2; die "mariadb-install-db failed"; }
        # shellcheck disable=SC2046
        "$MARIADBD" $(common_opts "$work/data" "$work/s.sock" "$work/s.pid" "$work/error.log") \
            --skip-networking --skip-log-bin --server-id=1 </dev/null >/dev/null 2>&1 &
        local pid=$! i
        for ((i = 0; i < START_TIMEOUT * 10; i++)); do
            "$CLI" --no-defaults -uroot -S "$work/s.sock" -e 'select 1' >/dev/null 2>&1 && break
            kill -0 "$pid" 2>/dev/null || { cat "$work/error.log" >&2; die "template server died"; }
            sleep 0.1
        done
        setup_sql | "$CLI" --no-defaults -uroot -S "$work/s.sock" --batch ||
            { kill -9 "$pid"; die "template setup SQL failed"; }
        "$ADMIN" --no-defaults -uroot -S "$work/s.sock" shutdown
        wait "$pid" || true
        rm -f "$work/data/multi-master.info"
        mv "$work/data" "$tpl"
        rm -rf "$work"
    ) 9>"$tpl.lock" >&2
    echo "$tpl"
}

inst_dir() { echo "$1/$2"; }

# Pid of a live instance (pid file present, process alive, cmdline names its datadir).
live_pid() { # <instdir>
    local pf="$1/mysqld.pid" pid
    [ -f "$pf" ] || return 1
    pid=$(cat "$pf" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--datadir=$1/data" || return 1
    echo "$pid"
}

port_busy() { [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

cli() { # <instdir> [args...]  root over the socket
    local d=$1; shift
    "$CLI" --no-defaults -uroot -S "$d/mysqld.sock" "$@"
}

start_one() { # <dir> <port> <template>
    local dir=$1 port=$2 tpl=$3 d pid i
    [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65536 ] || die "bad port: $port"
    d=$(inst_dir "$dir" "$port")
    if pid=$(live_pid "$d"); then
        echo "port $port: already running (pid $pid)"
        return 0
    fi
    port_busy "$port" && die "port $port is already in use by another process"
    mkdir -p "$d"
    if [ ! -d "$d/data" ]; then
        cp -a "$tpl" "$d/data"
    fi
    rm -f "$d/mysqld.sock" "$d/mysqld.sock.lock" "$d/mysqld.pid"
    # shellcheck disable=SC2046
    setsid "$MARIADBD" $(common_opts "$d/data" "$d/mysqld.sock" "$d/mysqld.pid" "$d/error.log") \
        --port="$port" --bind-address=127.0.0.1 --server-id="$port" \
        --log-bin=mysql-bin --log-slave-updates --gtid-strict-mode=1 \
        </dev/null >/dev/null 2>&1 &
    pid=$!
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if cli "$d" -N -e 'select 1' >/dev/null 2>&1; then
            echo "port $port: running (pid $pid, socket $d/mysqld.sock)"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$d/error.log" >&2 || true
            die "port $port: mariadbd exited during start-up (log: $d/error.log)"
        fi
        sleep 0.1
    done
    die "port $port: no answer after ${START_TIMEOUT}s (log: $d/error.log)"
}

stop_one() { # <instdir>
    local d=$1 pid i
    pid=$(live_pid "$d") || { echo "$(basename "$d"): not running"; return 0; }
    timeout "$STOP_TIMEOUT" "$ADMIN" --no-defaults -uroot -S "$d/mysqld.sock" shutdown >/dev/null 2>&1 || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { echo "$(basename "$d"): stopped"; return 0; }
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "$(basename "$d"): killed after ${STOP_TIMEOUT}s"
}

slave_state() { # <instdir>: "IO/SQL" running flags (e.g. Yes/Yes), empty if no replication
    cli "$1" -e 'SHOW SLAVE STATUS\G' 2>/dev/null |
        awk '$1=="Slave_IO_Running:"{io=$2} $1=="Slave_SQL_Running:"{sql=$2} END{if(io!="")print io"/"sql}'
}

instances() { # <dir>: instance dirs, by port
    local d
    for d in "$1"/*/; do
        d=${d%/}
        [ -d "$d/data" ] && [[ "$(basename "$d")" =~ ^[0-9]+$ ]] && echo "$d"
    done | sort -V
}

cmd=${1:-}
case "$cmd" in
start)
    [ $# -ge 3 ] || die "usage: sandbox.sh start <dir> <port> [<port>...]"
    dir=$2; shift 2
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    tpl=$(ensure_template "$dir")
    for port in "$@"; do start_one "$dir" "$port" "$tpl"; done
    ;;
stop)
    [ $# -eq 2 ] || die "usage: sandbox.sh stop <dir>"
    [ -d "$2" ] || exit 0
    dir=$(cd "$2" && pwd)
    for d in $(instances "$dir"); do stop_one "$d"; done
    ;;
status)
    [ $# -eq 2 ] || die "usage: sandbox.sh status <dir>"
    [ -d "$2" ] || { echo "no sandbox in $2"; exit 0; }
    dir=$(cd "$2" && pwd)
    for d in $(instances "$dir"); do
        port=$(basename "$d")
        if pid=$(live_pid "$d"); then
            role=$(slave_state "$d")
            role=${role:+replica($role)}
            gtid=$(cli "$d" -N -e 'SELECT @@gtid_current_pos' 2>/dev/null || echo '?')
            echo "port $port: running pid $pid ${role:-primary} gtid=${gtid:-none}"
        else
            echo "port $port: stopped"
        fi
    done
    ;;
replica)
    [ $# -eq 4 ] || die "usage: sandbox.sh replica <dir> <master_port> <replica_port>"
    dir=$(cd "$2" && pwd); mport=$3; rport=$4
    live_pid "$(inst_dir "$dir" "$mport")" >/dev/null || die "master $mport is not running"
    rd=$(inst_dir "$dir" "$rport")
    live_pid "$rd" >/dev/null || die "replica $rport is not running"
    cli "$rd" --batch -e "STOP SLAVE; RESET SLAVE ALL;
        CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$mport,
          MASTER_USER='$BACKEND_USER', MASTER_PASSWORD='$BACKEND_PASSWORD',
          MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos;
        START SLAVE;"
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        st=$(slave_state "$rd")
        if [ "$st" = "Yes/Yes" ]; then
            echo "port $rport: replica of $mport (GTID, slave_pos)"
            exit 0
        fi
        sleep 0.1
    done
    cli "$rd" -e 'SHOW SLAVE STATUS\G' >&2 || true
    die "replica $rport did not reach Yes/Yes in ${START_TIMEOUT}s"
    ;;
sql)
    [ $# -ge 3 ] || die "usage: sandbox.sh sql <dir> <port> [<sql>]"
    d=$(inst_dir "$(cd "$2" && pwd)" "$3")
    if [ $# -ge 4 ]; then cli "$d" --batch -e "$4"; else cli "$d" --batch; fi
    ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [ -z "$cmd" ] || [ "$cmd" = help ] || [ "$cmd" = -h ] || exit 2
    ;;
esac
