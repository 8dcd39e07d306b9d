#!/usr/bin/env python3
"""capture_split.py - cut captured MySQL/MariaDB TCP traffic into packet vectors.

Owns: turning the pcap files made by capture.sh into the `.hex` vector files
of this folder (format: README.md here). Run by capture.sh; by hand:

    capture_split.py --manifest MANIFEST --out DIR [--clean]

MANIFEST is tab-separated, one capture per line:
    scenario <TAB> server_port <TAB> pcap_path <TAB> client description

For each pcap: `tshark -T fields -e tcp.stream -e tcp.srcport -e tcp.payload`,
TCP payloads concatenated per stream and direction, cut into packets by the
3-byte length + 1-byte sequence header, then labelled by following the
protocol state (handshake, auth, command, response) of that connection:
https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
https://mariadb.com/kb/en/clientserver-protocol/

Which packets are written is chosen per scenario in WANT below (kind -> how
many), and a payload already written (same bytes) is never written twice.
"""

import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict

# Capability bits used here.
CLIENT_MYSQL = 1  # MariaDB: cleared by a client that sends extended caps
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_SSL = 1 << 11
CLIENT_DEPRECATE_EOF = 1 << 24
MARIADB_CLIENT_EXTENDED_METADATA = 1 << 3  # in the MariaDB extended caps
MARIADB_CLIENT_CACHE_METADATA = 1 << 4
SERVER_MORE_RESULTS_EXISTS = 0x0008
UNSIGNED_FLAG = 0x0020

COMMANDS = {
    0x01: "com_quit",
    0x02: "com_init_db",
    0x03: "com_query",
    0x04: "com_field_list",
    0x09: "com_statistics",
    0x0E: "com_ping",
    0x16: "com_stmt_prepare",
    0x17: "com_stmt_execute",
    0x19: "com_stmt_close",
    0x1A: "com_stmt_reset",
    0x1B: "com_set_option",
}

# Set-up queries that clients send on their own (connector session set-up,
# CLI start-up): neither they nor their replies are written.
NOISE = re.compile(r"^\s*(SET NAMES|SET @@session\.autocommit|show databases|show tables"
                   r"|select @@version_comment|SELECT @@max_allowed_packet|COMMIT)", re.I)

# scenario -> {kind: max files}; kinds not listed are not written.
WANT = {
    "sysserver": {"handshake_v10": 1, "err": 1, "ok": 1},
    "login": {
        "handshake_v10": 1, "handshake_response41": 1, "ok": 1, "com_query": 1,
        "column_count": 1, "column_definition": 2, "eof": 2, "text_row": 1, "com_quit": 1,
    },
    "initdb": {
        "handshake_response41": 1, "ok": 2, "com_init_db": 1, "com_query": 1,
        "column_definition": 1, "text_row": 1,
    },
    "authswitch": {
        "handshake_v10": 1, "handshake_response41": 1, "auth_switch_request": 1,
        "auth_more_data": 1, "ok": 1,
    },
    "types_text": {
        "com_query": 1, "column_count": 1, "column_definition": 99, "eof": 2, "text_row": 9,
    },
    "types_text_ext": {"com_query": 1, "column_definition": 3, "text_row": 2},
    "types_binary": {
        "com_stmt_prepare": 1, "stmt_prepare_ok": 1, "column_definition": 99, "eof": 2,
        "com_stmt_execute": 1, "column_count": 1, "binary_row": 9, "com_stmt_reset": 1,
        "com_stmt_close": 1, "ok": 1,
    },
    "params": {
        "com_stmt_prepare": 1, "stmt_prepare_ok": 1, "column_definition": 2,
        "com_stmt_execute": 3, "ok": 2, "com_stmt_close": 1, "com_stmt_reset": 1,
    },
    "errors": {"com_query": 3, "err": 3, "eof": 2, "text_row": 1},
    "dml": {"com_query": 2, "ok": 4},
    "multi": {"com_query": 1, "column_count": 2, "text_row": 2, "eof": 4, "ok": 2},
    "ping": {"com_ping": 1, "ok": 1},
    "statistics": {"com_statistics": 1},
    "fieldlist": {"com_field_list": 1, "column_definition": 2, "eof": 1},
    "setoption": {"com_set_option": 2, "eof": 2, "err": 1},
    "deprecate_eof": {
        "handshake_response41": 1, "ok": 4, "column_definition": 4, "text_row": 2,
        "com_query": 2, "stmt_prepare_ok": 1, "binary_row": 2, "com_stmt_execute": 1,
        "com_stmt_prepare": 1, "com_quit": 1,
    },
}


def lenenc(buf, pos):
    """(value, new_pos) of a length-encoded integer; None value for 0xfb."""
    b = buf[pos]
    if b < 0xFB:
        return b, pos + 1
    if b == 0xFB:
        return None, pos + 1
    n = {0xFC: 2, 0xFD: 3, 0xFE: 8}.get(b)
    if n is None:
        raise ValueError("bad lenenc 0xff")
    return int.from_bytes(buf[pos + 1:pos + 1 + n], "little"), pos + 1 + n


def lenenc_str(buf, pos):
    n, pos = lenenc(buf, pos)
    if n is None:
        return None, pos
    return buf[pos:pos + n], pos + n


class Conn:
    """Protocol state of one captured connection."""

    def __init__(self):
        self.server_caps = 0
        self.server_ext = 0
        self.client_caps = 0
        self.client_ext = 0
        self.server_version = "?"
        self.phase = "greeting"  # greeting, response, auth, command
        self.cmd = None  # kind of the current command
        self.cmd_sql = ""
        self.resp = None  # response sub-state
        self.ncols = 0
        self.cols = []  # (type, unsigned) of the current result set
        self.left = 0
        self.after = None
        self.binary = False
        self.params = {}  # stmt id -> number of params
        self.prepared_params = 0
        self.prepared_cols = 0
        self.noise = False  # current command is client set-up chatter

    @property
    def caps(self):
        return self.client_caps & self.server_caps if self.client_caps else self.server_caps

    @property
    def ext(self):
        if self.client_caps and not self.client_caps & CLIENT_MYSQL:
            return self.client_ext & self.server_ext
        return 0

    def deprecate_eof(self):
        return bool(self.caps & CLIENT_DEPRECATE_EOF)

    def is_eof(self, p):
        return len(p) < 9 and p[:1] == b"\xfe"

    # ---- server -> client -----------------------------------------------
    def server(self, p, seq):
        """Kind of a server packet (None: not a kind we name) plus extra comments."""
        extra = {}
        if self.phase == "greeting":
            self.phase = "response"
            self.parse_greeting(p)
            return "handshake_v10", extra
        if self.phase in ("response", "auth"):
            h = p[:1]
            if h == b"\x00":
                self.phase = "command"
                return "ok", extra
            if h == b"\xff":
                return "err", extra
            if h == b"\xfe":
                self.phase = "auth"
                return "auth_switch_request", extra
            if h == b"\x01":
                self.phase = "auth"
                return "auth_more_data", extra
            return None, extra
        return self.response(p, extra)

    def response(self, p, extra):
        h = p[:1]
        c = self.cmd
        if self.resp == "first":
            if h == b"\xff":
                self.resp = None
                return "err", extra
            if c in ("com_query", "com_stmt_execute"):
                if h == b"\x00":
                    self.resp = "first" if self.more(p, ok=True) else None
                    return "ok", extra
                n, pos = lenenc(p, 0)
                self.ncols, self.left, self.cols = n, n, []
                self.binary = c == "com_stmt_execute"
                self.resp = "coldefs"
                self.after = "rows"
                if self.ext & MARIADB_CLIENT_CACHE_METADATA:
                    # MariaDB: a "metadata follows" byte after the count
                    # (1 here: the column definitions are sent).
                    extra["note"] = ("MARIADB_CLIENT_CACHE_METADATA: a 'metadata follows' byte "
                                     "(0x%02x) comes after the lenenc count" % p[pos])
                return "column_count", extra
            if c == "com_stmt_prepare":
                if h == b"\x00":
                    sid = int.from_bytes(p[1:5], "little")
                    nc = int.from_bytes(p[5:7], "little")
                    npar = int.from_bytes(p[7:9], "little")
                    self.params[sid] = npar
                    self.cols = []
                    self.prepared_cols = nc
                    if npar:
                        self.resp, self.left = "coldefs", npar
                        self.after = "prep_cols"
                    elif nc:
                        self.resp, self.left = "coldefs", nc
                        self.after = "done"
                    else:
                        self.resp = None
                    return "stmt_prepare_ok", extra
            if c == "com_field_list":
                self.resp = "fieldlist"
                return self.response(p, extra)
            if c == "com_set_option":
                self.resp = None
                return ("eof" if self.is_eof(p) else "ok"), extra
            if c == "com_statistics":
                self.resp = None
                return None, extra
            self.resp = None
            return ("ok" if h == b"\x00" else None), extra
        if self.resp == "fieldlist":
            if self.is_eof(p) or h == b"\xff":
                self.resp = None
                return ("eof" if h == b"\xfe" else "err"), extra
            extra["note"] = "COM_FIELD_LIST column definition: a lenenc default value follows the fixed fields"
            self.coldef(p)
            return "column_definition", extra
        if self.resp == "coldefs":
            self.coldef(p)
            self.left -= 1
            if self.left == 0:
                self.resp = "eof_after_defs" if not self.deprecate_eof() else self.next_after()
            return "column_definition", extra
        if self.resp == "eof_after_defs":
            self.resp = self.next_after()
            return "eof", extra
        if self.resp == "rows":
            if h == b"\xff":
                self.resp = None
                return "err", extra
            if self.is_eof(p) and not self.deprecate_eof():
                self.resp = "first" if self.more(p, ok=False) else None
                return "eof", extra
            if h == b"\xfe" and self.deprecate_eof() and len(p) < 0xFFFFFF:
                self.resp = "first" if self.more(p, ok=True) else None
                extra["note"] = "OK packet with 0xfe header: end of rows under CLIENT_DEPRECATE_EOF"
                return "ok", extra
            extra["cols"] = self.cols_comment()
            return ("binary_row" if self.binary else "text_row"), extra
        return None, extra

    def next_after(self):
        if self.after == "rows":
            return "rows"
        if self.after == "prep_cols" and self.prepared_cols:
            self.left = self.prepared_cols
            self.after = "done"
            return "coldefs"
        return None

    def more(self, p, ok):
        if ok:
            _, pos = lenenc(p, 1)
            _, pos = lenenc(p, pos)
            status = int.from_bytes(p[pos:pos + 2], "little")
        else:
            status = int.from_bytes(p[3:5], "little")
        return bool(status & SERVER_MORE_RESULTS_EXISTS)

    def coldef(self, p):
        pos = 0
        for _ in range(6):
            _, pos = lenenc_str(p, pos)
        if self.ext & MARIADB_CLIENT_EXTENDED_METADATA:
            _, pos = lenenc_str(p, pos)
        _, pos = lenenc(p, pos)  # 0x0c
        ctype = p[pos + 6]
        flags = int.from_bytes(p[pos + 7:pos + 9], "little")
        self.cols.append((ctype, bool(flags & UNSIGNED_FLAG)))

    def cols_comment(self):
        return ",".join("0x%02x%s" % (t, "u" if u else "") for t, u in self.cols)

    def parse_greeting(self, p):
        end = p.index(b"\x00", 1)
        self.server_version = p[1:end].decode("latin-1")
        pos = end + 1 + 4 + 8 + 1
        low = int.from_bytes(p[pos:pos + 2], "little")
        high = int.from_bytes(p[pos + 5:pos + 7], "little")
        self.server_caps = low | high << 16
        if not self.server_caps & CLIENT_MYSQL:
            self.server_ext = int.from_bytes(p[pos + 14:pos + 18], "little")

    # ---- client -> server -----------------------------------------------
    def client(self, p, seq):
        extra = {}
        if self.phase == "response":
            caps = int.from_bytes(p[0:4], "little")
            if len(p) == 32 and caps & CLIENT_SSL:
                return None, extra  # SSLRequest: TLS follows, nothing more to read
            self.client_caps = caps
            if not caps & CLIENT_MYSQL:
                self.client_ext = int.from_bytes(p[28:32], "little")
            self.phase = "auth"
            return "handshake_response41", extra
        if self.phase == "auth":
            return None, extra  # auth switch response / more auth data
        kind = COMMANDS.get(p[0]) if p else None
        self.cmd, self.resp = kind, "first"
        self.cmd_sql = ""
        if kind in ("com_query", "com_stmt_prepare"):
            self.cmd_sql = p[1:].decode("utf-8", "replace")
        self.noise = bool(kind == "com_query" and NOISE.match(self.cmd_sql))
        if kind == "com_stmt_execute":
            sid = int.from_bytes(p[1:5], "little")
            extra["params"] = str(self.params.get(sid, "?"))
        if kind == "com_stmt_prepare":
            self.prepared_cols = 0
        if kind in ("com_quit", "com_stmt_close"):
            self.resp = None
        return kind, extra


def packets(pcap, server_port):
    """Yield (stream, from_server, seq, payload) in capture order."""
    out = subprocess.run(
        ["tshark", "-r", pcap, "-Y", "tcp.len > 0 && !tcp.analysis.retransmission",
         "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.payload"],
        check=True, capture_output=True, text=True).stdout
    bufs = defaultdict(bytearray)
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2]:
            continue
        stream, sport, hexdata = int(parts[0]), int(parts[1]), parts[2].replace(":", "")
        key = (stream, sport == server_port)
        buf = bufs[key]
        buf += bytes.fromhex(hexdata)
        while len(buf) >= 4:
            n = int.from_bytes(buf[0:3], "little")
            if len(buf) < 4 + n:
                break
            seq = buf[3]
            payload = bytes(buf[4:4 + n])
            del buf[:4 + n]
            yield stream, key[1], seq, payload


def write_vector(path, payload, comments):
    h = payload.hex()
    with open(path, "w") as f:
        for k, v in comments:
            f.write("# %s: %s\n" % (k, v))
        for i in range(0, len(h), 64):
            f.write(h[i:i + 64] + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--clean", action="store_true", help="remove old *.hex in --out first")
    a = ap.parse_args()
    if a.clean:
        for name in os.listdir(a.out):
            if re.fullmatch(r"[a-z0-9_]+__[a-z0-9_]+__\d+\.hex", name):
                os.remove(os.path.join(a.out, name))
    seen = set()
    total = 0
    for line in open(a.manifest):
        if not line.strip() or line.startswith("#"):
            continue
        scenario, port, pcap, client = line.rstrip("\n").split("\t")
        want = WANT.get(scenario, {})
        count = defaultdict(int)
        conns = {}
        pending = []
        for stream, from_server, seq, payload in packets(pcap, int(port)):
            conn = conns.setdefault(stream, Conn())
            try:
                if from_server:
                    kind, extra = conn.server(payload, seq)
                else:
                    kind, extra = conn.client(payload, seq)
            except (ValueError, IndexError) as e:
                print("%s: stream %d: cannot follow: %s" % (scenario, stream, e), file=sys.stderr)
                conn.phase, conn.resp = "lost", None
                continue
            if conn.noise and conn.phase == "command":
                continue
            if kind is None or count[kind] >= want.get(kind, 0) or payload in seen:
                continue
            seen.add(payload)
            count[kind] += 1
            direction = "server->client" if from_server else "client->server"
            head = ("from", "%s -> %s (scenario %s, %s, seq %d)" % (
                client, conn.server_version, scenario, direction, seq))
            tail = []
            if from_server and conn.cmd:
                ctx = conn.cmd.upper()
                if conn.cmd_sql:
                    sql = " ".join(conn.cmd_sql.split())
                    ctx += ": " + (sql if len(sql) <= 70 else sql[:67] + "...")
                tail.append(("reply_to", ctx))
            for k in ("cols", "params", "note"):
                if k in extra:
                    tail.append((k, extra[k]))
            name = "%s__%s__%02d.hex" % (scenario, kind, count[kind])
            pending.append((name, payload, conn, head, tail))
        # Written once the capture is read, so `caps` is the negotiated set
        # (client & server) even for packets sent before the negotiation.
        for name, payload, conn, head, tail in pending:
            comments = [head, ("caps", "0x%08x" % conn.caps)]
            if conn.ext:
                comments.append(("mariadb_caps", "0x%08x" % conn.ext))
            write_vector(os.path.join(a.out, name), payload, comments + tail)
            total += 1
        missing = [k for k in want if count[k] == 0]
        print("%-16s %3d files%s" % (scenario, sum(count.values()),
                                     ("  (none: " + ", ".join(missing) + ")") if missing else ""))
    print("total %d vector files in %s" % (total, a.out))


if __name__ == "__main__":
    main()
