#!/usr/bin/env python3
"""idle_conns.py - hold N logged-in MySQL client connections and report a
process's resident memory (VmRSS) while they are open.

Owns: the idle-connection memory measurement of bench/sysbench.sh (issue 3:
"shardgate's RSS with 10,000 idle client connections stays under 300 MiB").

No driver needed: raw sockets doing the MySQL handshake by hand
(HandshakeV10 -> HandshakeResponse41 with mysql_native_password or the
caching_sha2_password fast path, auth switch handled), as documented at
https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html

Connections are opened in batches: every socket of a batch is connected and
sent its handshake response before any reply is read, so the proxy works on a
whole batch at once. After all are logged in, VmRSS of --pid is read, a
sample of connections is checked with COM_PING, then all are closed with
COM_QUIT and VmRSS is read again.

Output: human lines on stderr; one machine-readable line on stdout:
  RESULT conns=<n> failed=<n> rss_before_kib=<k> rss_held_kib=<k> fds_held=<n> rss_after_kib=<k> open_secs=<s> ping_ok=<n>/<m>
Exit status: 0 when every connection logged in and every sampled ping
answered, 1 otherwise.
"""

import argparse
import hashlib
import os
import resource
import socket
import struct
import sys
import time

CLIENT_LONG_PASSWORD = 0x1
CLIENT_PROTOCOL_41 = 0x200
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000
CAPS = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH)
COM_QUIT = 0x01
COM_PING = 0x0E


class ProtoError(Exception):
    pass


def log(msg):
    print(f"idle_conns: {msg}", file=sys.stderr, flush=True)


def rss_kib(pid):
    """VmRSS of pid in KiB (0 if unreadable)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid):
    """Open file descriptors of pid (0 if unreadable)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ProtoError("connection closed by peer")
        buf += chunk
    return bytes(buf)


def read_packet(sock):
    """One packet (no 16 MiB continuation: handshake packets are small)."""
    hdr = recv_exact(sock, 4)
    length = hdr[0] | hdr[1] << 8 | hdr[2] << 16
    return hdr[3], recv_exact(sock, length)


def write_packet(sock, seq, payload):
    n = len(payload)
    sock.sendall(bytes((n & 0xFF, (n >> 8) & 0xFF, n >> 16, seq & 0xFF)) + payload)


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def scramble(plugin, password, nonce):
    if not password:
        return b""
    pw = password.encode()
    if plugin == "mysql_native_password":
        h1 = hashlib.sha1(pw).digest()
        h2 = hashlib.sha1(h1).digest()
        return xor(h1, hashlib.sha1(nonce + h2).digest())
    if plugin == "caching_sha2_password":
        h1 = hashlib.sha256(pw).digest()
        h2 = hashlib.sha256(h1).digest()
        return xor(h1, hashlib.sha256(h2 + nonce).digest())
    raise ProtoError(f"unsupported auth plugin {plugin!r}")


def parse_handshake(p):
    """HandshakeV10 -> (nonce, plugin name)."""
    if not p or p[0] == 0xFF:
        raise ProtoError(f"server refused connection: {p[3:]!r}" if p else "empty handshake")
    if p[0] != 10:
        raise ProtoError(f"unexpected protocol version {p[0]}")
    i = p.index(b"\0", 1) + 1  # server version
    i += 4  # connection id
    part1 = p[i:i + 8]
    i += 8 + 1  # filler
    cap_lo = struct.unpack_from("<H", p, i)[0]
    i += 2
    if len(p) <= i:
        return part1, "mysql_native_password"
    i += 1 + 2  # charset, status
    cap_hi = struct.unpack_from("<H", p, i)[0]
    i += 2
    caps = cap_lo | cap_hi << 16
    auth_len = p[i]
    i += 1 + 10  # reserved
    part2_len = max(13, auth_len - 8)
    part2 = p[i:i + part2_len]
    i += part2_len
    plugin = "mysql_native_password"
    if caps & CLIENT_PLUGIN_AUTH and i < len(p):
        end = p.find(b"\0", i)
        plugin = p[i:end if end >= 0 else len(p)].decode()
    return part1 + part2.rstrip(b"\0")[:12], plugin


class Conn:
    __slots__ = ("sock", "seq", "plugin", "nonce")

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=60)
        self.seq = 0
        self.plugin = ""
        self.nonce = b""

    def start(self, user, password):
        """Read the greeting and send HandshakeResponse41."""
        self.seq, greet = read_packet(self.sock)
        self.nonce, self.plugin = parse_handshake(greet)
        auth = scramble(self.plugin, password, self.nonce)
        payload = (struct.pack("<IIB", CAPS, 1 << 24, 45) + b"\0" * 23
                   + user.encode() + b"\0" + bytes((len(auth),)) + auth
                   + self.plugin.encode() + b"\0")
        self.seq += 1
        write_packet(self.sock, self.seq, payload)

    def finish(self, password):
        """Read replies until OK (auth switch and caching_sha2 fast auth handled)."""
        while True:
            self.seq, p = read_packet(self.sock)
            if not p:
                raise ProtoError("empty auth reply")
            if p[0] == 0x00:
                return
            if p[0] == 0xFF:
                code = struct.unpack_from("<H", p, 1)[0] if len(p) >= 3 else 0
                raise ProtoError(f"ERR {code}: {p[9:].decode(errors='replace')}")
            if p[0] == 0xFE:  # auth switch request
                end = p.find(b"\0", 1)
                self.plugin = p[1:end].decode()
                self.nonce = p[end + 1:].rstrip(b"\0")[:20]
                self.seq += 1
                write_packet(self.sock, self.seq, scramble(self.plugin, password, self.nonce))
                continue
            if p[0] == 0x01 and len(p) >= 2:  # caching_sha2 "more data"
                if p[1] == 0x03:  # fast auth success; OK follows
                    continue
                raise ProtoError("caching_sha2 full authentication requested "
                                 "(needs TLS or RSA; not implemented here)")
            raise ProtoError(f"unexpected auth reply 0x{p[0]:02x}")

    def ping(self):
        write_packet(self.sock, 0, bytes((COM_PING,)))
        _, p = read_packet(self.sock)
        return bool(p) and p[0] == 0x00

    def quit(self):
        try:
            write_packet(self.sock, 0, bytes((COM_QUIT,)))
        except OSError:
            pass
        self.sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="sbtest")
    ap.add_argument("--password", default="sbtest")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--pid", type=int, default=0, help="process whose VmRSS is reported")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds to hold before measuring")
    ap.add_argument("--pings", type=int, default=100, help="connections checked with COM_PING")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 100
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < want:
            log(f"RLIMIT_NOFILE hard limit {hard} < {want}: at most ~{new - 100} connections")

    rss_before = rss_kib(args.pid) if args.pid else 0
    conns, failed, first_err = [], 0, None
    t0 = time.monotonic()
    while len(conns) + failed < args.count:
        n = min(args.batch, args.count - len(conns) - failed)
        batch = []
        for _ in range(n):
            try:
                c = Conn(args.host, args.port)
                c.start(args.user, args.password)
                batch.append(c)
            except (OSError, ProtoError, ValueError, IndexError, struct.error) as e:
                failed += 1
                first_err = first_err or f"connect/handshake: {e}"
        for c in batch:
            try:
                c.finish(args.password)
                conns.append(c)
            except (OSError, ProtoError, ValueError, IndexError, struct.error) as e:
                failed += 1
                first_err = first_err or f"auth: {e}"
                c.sock.close()
        if failed and failed >= 50 and not conns:
            break  # nothing works; stop early
    open_secs = time.monotonic() - t0
    log(f"{len(conns)} connections logged in, {failed} failed, in {open_secs:.1f}s"
        + (f" (first error: {first_err})" if first_err else ""))

    time.sleep(args.hold)
    rss_held = rss_kib(args.pid) if args.pid else 0
    fds_held = fd_count(args.pid) if args.pid else 0

    step = max(1, len(conns) // args.pings) if conns else 1
    sample = conns[::step][:args.pings]
    ping_ok = 0
    for c in sample:
        try:
            ping_ok += c.ping()
        except (OSError, ProtoError):
            pass
    log(f"COM_PING answered on {ping_ok}/{len(sample)} sampled connections")

    for c in conns:
        c.quit()
    time.sleep(args.hold)
    rss_after = rss_kib(args.pid) if args.pid else 0
    print(f"RESULT conns={len(conns)} failed={failed} rss_before_kib={rss_before} "
          f"rss_held_kib={rss_held} fds_held={fds_held} rss_after_kib={rss_after} open_secs={open_secs:.1f} "
          f"ping_ok={ping_ok}/{len(sample)}", flush=True)
    return 0 if failed == 0 and ping_ok == len(sample) else 1


if __name__ == "__main__":
    sys.exit(main())
