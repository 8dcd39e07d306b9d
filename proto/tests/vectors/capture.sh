#!/usr/bin/env bash
# capture.sh - regenerate the protocol byte vectors in this folder from real
# client/server traffic (format: README.md here).
#
# Usage:  proto/tests/vectors/capture.sh [--out DIR] [--keep]
#   --out DIR   write the .hex files there (default: this folder; old
#               <scenario>__<kind>__<nn>.hex files there are removed first)
#   --keep      keep the work folder (pcaps, client output) and print its path
#
# What it does:
#   1. starts its own MariaDB with tests/support/sandbox.sh on a free port of
#      127.0.0.1 (datadir in a temp folder), creates the test schema over the
#      unix socket (so that is not captured);
#   2. for each scenario, runs `tcpdump -i lo` on that port while a real client
#      talks to the server: the `mariadb` CLI, `mariadb-admin`, and
#      mysql-connector-python (pure Python; server-side prepared statements
#      through cursor(prepared=True)); pip-installs the connector if missing;
#   3. reads the greeting of the system server on 127.0.0.1:3306, if one runs
#      (one read-only `select 1` as root; access may be denied, the greeting
#      is what we want);
#   4. capture_split.py cuts each pcap into packets, labels them by following
#      the protocol, and writes the chosen ones;
#   5. stops the sandbox and removes the work folder.
# Needs: tcpdump, tshark, python3, MariaDB server + client, root (for tcpdump).
set -euo pipefail
shopt -s inherit_errexit

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
SANDBOX=$ROOT/tests/support/sandbox.sh
OUT=$HERE
KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
    esac
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

for t in tcpdump tshark python3 mariadb mariadb-admin script; do
    command -v "$t" >/dev/null || { echo "capture.sh: $t not found" >&2; exit 1; }
done
if ! python3 -c 'import mysql.connector' 2>/dev/null; then
    python3 -m pip install --quiet mysql-connector-python
fi

WORK=$(mktemp -d /tmp/sg-capture.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TD=
cleanup() {
    if [ -n "$TD" ]; then kill -INT "$TD" 2>/dev/null || true; wait "$TD" 2>/dev/null || true; fi
    "$SANDBOX" stop "$WORK/sb" >/dev/null 2>&1 || true
    if [ "$KEEP" = 1 ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

"$SANDBOX" start "$WORK/sb" "$PORT"
SQL() { "$SANDBOX" sql "$WORK/sb" "$PORT" "$1" >/dev/null; }

SQL "SET GLOBAL time_zone = '+00:00'; SET time_zone = '+00:00';
CREATE DATABASE vec; CREATE DATABASE fl;
CREATE TABLE vec.types (
  id INT PRIMARY KEY,
  c_tiny TINYINT, c_tiny_u TINYINT UNSIGNED, c_small SMALLINT, c_small_u SMALLINT UNSIGNED,
  c_medium MEDIUMINT, c_medium_u MEDIUMINT UNSIGNED, c_int INT, c_int_u INT UNSIGNED,
  c_big BIGINT, c_big_u BIGINT UNSIGNED, c_float FLOAT, c_double DOUBLE, c_decimal DECIMAL(20,6),
  c_date DATE, c_datetime DATETIME, c_datetime6 DATETIME(6), c_ts3 TIMESTAMP(3) NULL,
  c_time TIME, c_time6 TIME(6), c_year YEAR,
  c_char CHAR(10), c_varchar VARCHAR(100), c_binary BINARY(4), c_varbinary VARBINARY(16),
  c_text TEXT, c_blob BLOB, c_bit BIT(10), c_enum ENUM('red','green','blue'), c_set SET('a','b','c'),
  c_json JSON, c_point POINT);
INSERT INTO vec.types VALUES
 (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, 3.14159, -2.718281828459045, -12345678901234.567891,
  '2024-02-29', '2024-02-29 13:14:15', '1999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999',
  '-838:59:59', '123:45:06.789012', 2155, 'char', 'varchar é', 'ab', x'00ff10', 'text', x'deadbeef',
  b'1010101010', 'green', 'a,c', '{\"k\": [1, 2.5, \"x\", null]}', ST_PointFromText('POINT(1.5 -2.25)')),
 (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, -0.5, 1e300, 0.000001,
  '1000-01-01', '1000-01-01 00:00:00', '2000-01-01 00:00:00.000001', '1970-01-01 00:00:01.000',
  '-00:00:01', '00:00:00.5', 1901, '', '', x'00', '', '', '', b'0', 'red', '', '[]',
  ST_PointFromText('POINT(0 0)')),
 (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '0000-00-00', '0000-00-00 00:00:00',
  '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00.000', '00:00:00', '00:00:00.000000', 0,
  'x', 'x', 'x', 'x', 'x', 'x', b'1111111111', 'blue', 'a,b,c', '{}', ST_PointFromText('POINT(-180 90)')),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE vec.auto (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(10));
CREATE TABLE vec.params (id INT AUTO_INCREMENT PRIMARY KEY, i INT, bi BIGINT, dbl DOUBLE,
  s VARCHAR(50), b VARBINARY(50), dt DATETIME(6), d DATE, t TIME(6), dec_ DECIMAL(20,6), n INT);
CREATE TABLE fl.t (id INT NOT NULL DEFAULT 7, name VARCHAR(20) DEFAULT 'x');"

# Python clients (mysql-connector-python, pure): one scenario per run.
cat >"$WORK/clients.py" <<'EOF'
import datetime, decimal, struct, sys
import mysql.connector
from mysql.connector.constants import ServerCmd
scenario, port = sys.argv[1], int(sys.argv[2])

def connect(**kw):
    return mysql.connector.connect(host="127.0.0.1", port=port, user="shardgate",
                                   password="backend-secret", use_pure=True, **kw)

c = connect(auth_plugin="caching_sha2_password") if scenario == "authswitch" else connect()
if scenario == "authswitch":  # MariaDB has no caching_sha2: it switches us to native
    cur = c.cursor(); cur.execute("SELECT 1"); cur.fetchall()
elif scenario == "types_text":
    cur = c.cursor(raw=True); cur.execute("SELECT * FROM vec.types ORDER BY id"); cur.fetchall()
elif scenario == "types_binary":
    cur = c.cursor(prepared=True)
    cur.execute("SELECT * FROM vec.types WHERE id >= ? ORDER BY id", (0,))
    try:
        cur.fetchall(); cur.close()
    except IndexError as e:
        # connector 26.x misreads this 32-column binary row (each column alone
        # is fine); the server has sent every row by then, so the capture is
        # whole. The connection is out of step: just quit.
        print("connector could not decode a binary row:", repr(e))
elif scenario == "params":
    cur = c.cursor(prepared=True)
    sql = "INSERT INTO vec.params (i, bi, dbl, s, b, dt, d, t, dec_, n) VALUES (?,?,?,?,?,?,?,?,?,?)"
    cur.execute(sql, (-5, 2**62, 3.25, "h\u00e9llo", b"\x00\xff",
                      datetime.datetime(2024, 2, 29, 23, 59, 59, 123456), datetime.date(1999, 12, 31),
                      datetime.timedelta(hours=-30, minutes=-5, seconds=-1),
                      decimal.Decimal("-12345.678900"), None))
    cur.execute(sql, (7, -1, -0.5, "", b"", datetime.datetime(2000, 1, 1), datetime.date(2000, 1, 1),
                      datetime.timedelta(0), decimal.Decimal("0"), None))
    c.commit(); cur.close()
elif scenario == "setoption":  # the connector has no API for it: its own command sender
    for opt in (1, 0, 7):      # MULTI_STATEMENTS_OFF, _ON, an unknown option (ERR)
        try:
            c._send_cmd(ServerCmd.SET_OPTION, struct.pack("<H", opt))
        except mysql.connector.Error as e:
            print("expected:", e)
try:
    c.close()
except mysql.connector.Error as e:
    print("close:", e)
EOF

CLI=(mariadb --no-defaults --protocol=TCP -h127.0.0.1 "-P$PORT" -ushardgate -pbackend-secret)
ADMIN=(mariadb-admin --no-defaults --protocol=TCP -h127.0.0.1 "-P$PORT" -ushardgate -pbackend-secret)
CLI_DESC="mariadb CLI ($(mariadb --version | sed -n 's/.*Distrib \([^,]*\),.*/\1/p'), libmariadb)"
PY_DESC="mysql-connector-python $(python3 -c 'import mysql.connector as m; print(m.__version__)') (pure)"
: >"$WORK/manifest.tsv"

capture() { # <scenario> <server port> <client description> <command...>
    local scn=$1 port=$2 desc=$3 i
    shift 3
    local pcap=$WORK/$scn.pcap log=$WORK/$scn.tcpdump.log
    tcpdump -i lo -n -Z root --immediate-mode -U -w "$pcap" "tcp port $port" 2>"$log" &
    TD=$!
    for ((i = 0; i < 100; i++)); do grep -qs "listening on" "$log" && break; sleep 0.1; done
    "$@" >"$WORK/$scn.out" 2>&1 || echo "  ($scn: client exit status $? - see $WORK/$scn.out)"
    sleep 0.3
    kill -INT "$TD"; wait "$TD" || true; TD=
    printf '%s\t%s\t%s\t%s\n' "$scn" "$port" "$pcap" "$desc" >>"$WORK/manifest.tsv"
    echo "captured $scn"
}
py() { python3 "$WORK/clients.py" "$1" "$PORT"; }
fieldlist() { # interactive CLI (a pty) with auto-rehash: COM_FIELD_LIST per table
    echo quit | MYSQL_HISTFILE=/dev/null TERM=dumb script -qec "${CLI[*]} -D fl --auto-rehash" /dev/null
}

if [ -n "$(ss -Htln 'sport = :3306' 2>/dev/null)" ]; then
    capture sysserver 3306 "mariadb CLI, root without password, to the system server" \
        mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P3306 -uroot -e 'select 1'
fi
capture login "$PORT" "$CLI_DESC" "${CLI[@]}" -e "SELECT 1, 'a'"
capture initdb "$PORT" "$CLI_DESC" "${CLI[@]}" -D vec -e "USE fl; SELECT DATABASE()"
capture authswitch "$PORT" "$PY_DESC, auth_plugin=caching_sha2_password" py authswitch
capture types_text "$PORT" "$PY_DESC" py types_text
capture types_text_ext "$PORT" "$CLI_DESC" "${CLI[@]}" \
    -e "SELECT c_json, c_point, id, c_varchar FROM vec.types ORDER BY id"
capture types_binary "$PORT" "$PY_DESC, cursor(prepared=True)" py types_binary
capture params "$PORT" "$PY_DESC, cursor(prepared=True)" py params
errors() { # stdin, not -e: with -e the CLI stops at the first error even with --force
    echo "SELECT * FROM vec.no_such_table; SELEC 1; SELECT 1/0;" | "${CLI[@]}" --force
}
capture errors "$PORT" "$CLI_DESC --force" errors
capture dml "$PORT" "$CLI_DESC" "${CLI[@]}" -e "INSERT INTO vec.auto (v) VALUES ('a'),('b'),('c');
    UPDATE vec.auto SET v='z' WHERE id > 1; INSERT INTO vec.auto (id, v) VALUES (70000, 'big');
    DELETE FROM vec.auto WHERE id = 1"
capture multi "$PORT" "$CLI_DESC, DELIMITER //" "${CLI[@]}" -e "DELIMITER //
SELECT 1 AS a; SELECT 'x' AS b, NULL AS c; INSERT INTO vec.auto (v) VALUES ('m'); SELECT 2 AS d//"
capture ping "$PORT" "mariadb-admin ping" "${ADMIN[@]}" ping
capture statistics "$PORT" "mariadb-admin status" "${ADMIN[@]}" status
capture fieldlist "$PORT" "$CLI_DESC interactive, --auto-rehash" fieldlist
capture setoption "$PORT" "$PY_DESC, _send_cmd(SET_OPTION)" py setoption

# CLIENT_DEPRECATE_EOF (no EOF after column definitions, rows ended by a
# 0xfe-headed OK): none of the clients above (nor the sync `mysql` crate)
# sets it; the Rust `mysql_async` crate does. Build a tiny client with it
# (cached in $RC_DIR, ~2-3 min the first time) or skip this scenario.
RC_DIR=${SHARDGATE_CAPTURE_CACHE:-$HOME/.cache/shardgate-capture-client}
rust_client() {
    command -v cargo >/dev/null || return 1
    mkdir -p "$RC_DIR/src"
    cat >"$RC_DIR/Cargo.toml" <<'RS_EOF'
[package]
name = "sg-capture-client"
version = "0.1.0"
edition = "2021"
[dependencies]
mysql_async = { version = "0.34", default-features = false, features = ["minimal"] }
tokio = { version = "1", default-features = false, features = ["rt", "net", "time"] }
[workspace]
RS_EOF
    cat >"$RC_DIR/src/main.rs" <<'RS_EOF'
use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder, Row};

fn main() {
    let port: u16 = std::env::args().nth(1).expect("port").parse().expect("port");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let opts = OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some("shardgate"))
            .pass(Some("backend-secret"))
            .prefer_socket(false);
        let mut c = Conn::new(opts).await.expect("connect");
        let q = "SELECT id, c_int_u, c_varchar, c_datetime6 FROM vec.types ORDER BY id";
        let _: Vec<Row> = c.query(q).await.expect("query");
        let q = "SELECT id, c_big_u, c_time6, c_json FROM vec.types WHERE id >= ? ORDER BY id";
        let _: Vec<Row> = c.exec(q, (0,)).await.expect("exec");
        c.query_drop("INSERT INTO vec.auto (v) VALUES ('r')").await.expect("insert");
        c.disconnect().await.expect("disconnect");
    });
}
RS_EOF
    # Reuse the workspace's resolved versions when they are there (offline build).
    [ -f "$RC_DIR/Cargo.lock" ] || cp "$ROOT/Cargo.lock" "$RC_DIR/Cargo.lock" 2>/dev/null || true
    (cd "$RC_DIR" && { cargo build -q --offline 2>/dev/null || cargo build -q; }) >&2 || return 1
    echo "$RC_DIR/target/debug/sg-capture-client"
}
if RC=$(rust_client); then
    RC_VER=$(sed -n '/^name = "mysql_async"$/{n;s/^version = "\(.*\)"$/\1/p;}' "$RC_DIR/Cargo.lock")
    capture deprecate_eof "$PORT" "rust mysql_async $RC_VER" "$RC" "$PORT"
else
    echo "skipped deprecate_eof: could not build the Rust client (cargo + mysql_async)"
fi

python3 "$HERE/capture_split.py" --manifest "$WORK/manifest.tsv" --out "$OUT" --clean
