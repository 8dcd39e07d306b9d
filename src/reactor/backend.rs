//! A backend connection ([`Backend`]): connecting to a node and logging in
//! with the `[backend]` account (native or caching_sha2 password, auth
//! switch), reading and writing its socket (`backend_ready`: the client's
//! high/low watermarks and the merge's per-shard backpressure), timeouts
//! and pings of idle pooled connections. Which connection runs which
//! statement, and the session sync before it, is `reactor::dispatch`; what
//! happens to the reply is `reactor::reply`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use shardgate_proto::auth as pauth;
use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::codec::Reader;
use shardgate_proto::frame::{for_each_packet, write_packet, PacketDecoder};
use shardgate_proto::handshake::{AuthPhasePacket, HandshakeResponse41, HandshakeV10};

use super::buffer::{Buf, BufferPool};
use super::io_thread::{Conn, IoThread, PoolKey};
use super::relay::{Expect, ReplyTracker};
use super::sock;
use crate::session::BackendState;

/// Stop reading a backend when the client's output holds this much.
pub(super) const HIGH_WATERMARK: usize = 1 << 20;
/// Resume once it drained below this.
pub(super) const LOW_WATERMARK: usize = 256 << 10;
const MAX_STEPS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Connecting,
    Greeting,
    Auth,
    /// Logged in, in the idle pool or attached to a client between statements.
    Ready,
    /// Running a statement (or a ping) and relaying its reply.
    Busy,
}

pub(super) struct Backend {
    pub sock: TcpStream,
    pub addr: SocketAddr,
    pub pool_key: PoolKey,
    pub key_in_slab: usize,
    pub phase: Phase,
    pub rbuf: Option<Buf>,
    pub wbuf: Option<Buf>,
    pub readable: bool,
    pub writable: bool,
    /// The peer closed its side (or the socket errored).
    pub read_closed: bool,
    pub deadline: Option<Instant>,
    pub last_used: Instant,
    pub last_ping: Instant,
    /// The client this connection works for (attached), if any.
    pub client: Option<usize>,
    /// Session state this connection carries.
    pub state: BackendState,
    /// The server's thread id (for KILL QUERY).
    pub thread_id: u32,
    pub caps: Capabilities,
    /// Replies to swallow before the statement's own (state sync).
    pub sync: Vec<ReplyTracker>,
    /// A sync statement failed: the statement's own reply is swallowed too
    /// and the client gets the sync error.
    pub sync_failed: Option<Vec<u8>>,
    pub tracker: Option<ReplyTracker>,
    /// The client's target this connection is running, if any.
    pub target: Option<usize>,
    /// Targets of the client's statement waiting for this connection.
    pub queue: VecDeque<usize>,
    /// Status flags of the last reply (transaction, autocommit).
    pub status: u16,
    /// ERR payload of the current target's reply (gathered statements).
    pub reply_err: Option<Vec<u8>>,
    /// A one-shot prepared statement to close once its reply is complete.
    pub close_stmt: Option<u32>,
    /// Statements kept prepared on this connection (sharded EXECUTEs).
    pub stmts: super::stmt_cache::StmtCache,
    /// The node's counters (admin port, /metrics).
    pub node_stats: std::sync::Arc<crate::stats::NodeStats>,
    /// Counted in `node_stats.busy` (a statement is running).
    pub busy_counted: bool,
    /// Collation the connection was opened with.
    pub collation: u8,
    /// `LOAD DATA LOCAL`: the file part being sent (`reactor::load_data`).
    pub infile: Option<super::load_data::InfileFeed>,
    decoder: PacketDecoder,
    scramble: Vec<u8>,
}

impl Backend {
    pub fn note_event(&mut self, ev: &Event) {
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.readable = true;
        }
        if ev.is_read_closed() || ev.is_error() {
            // Keep reading until read() returns 0 or an error.
            self.read_closed = true;
        }
        if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
            self.writable = true;
        }
    }

    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Ready && self.client.is_none()
    }

    /// Connecting or logging in (a failure now means the node is unreachable).
    pub fn is_logging_in(&self) -> bool {
        matches!(
            self.phase,
            Phase::Connecting | Phase::Greeting | Phase::Auth
        )
    }

    /// Inside the rows of a result set (an ERR packet may end it cleanly).
    pub fn in_rows(&self) -> bool {
        self.tracker.as_ref().is_some_and(ReplyTracker::in_rows)
    }

    pub fn release_buffers(&mut self, pool: &mut BufferPool) {
        for slot in [&mut self.rbuf, &mut self.wbuf] {
            if let Some(b) = slot.take() {
                pool.release(b);
            }
        }
    }
}

/// Capabilities shardgate asks backends for, besides the client's flavour.
fn backend_caps(flavor: u64) -> Capabilities {
    Capabilities::LONG_PASSWORD
        | Capabilities::LONG_FLAG
        | Capabilities::LOCAL_FILES
        | Capabilities::PROTOCOL_41
        | Capabilities::TRANSACTIONS
        | Capabilities::SECURE_CONNECTION
        | Capabilities::MULTI_STATEMENTS
        | Capabilities::MULTI_RESULTS
        | Capabilities::PS_MULTI_RESULTS
        | Capabilities::PLUGIN_AUTH
        | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA
        | Capabilities::CONNECT_ATTRS
        | Capabilities(flavor as u32)
}

pub(super) fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    let mut s = seq;
    write_packet(&mut out, &mut s, payload);
    out
}

impl IoThread {
    pub(super) fn open_backend(&mut self, key: PoolKey) -> std::io::Result<usize> {
        let topo = self.shared.topology();
        let mut sock = TcpStream::connect(key.0)?;
        super::sock::tune(&sock);
        let entry = self.conns.vacant_entry();
        let bk = entry.key();
        self.poll.registry().register(
            &mut sock,
            mio::Token(bk + 1),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )?;
        let now = Instant::now();
        entry.insert(Conn::Backend(Box::new(Backend {
            sock,
            addr: key.0,
            pool_key: key,
            key_in_slab: bk,
            phase: Phase::Connecting,
            rbuf: None,
            wbuf: None,
            readable: false,
            writable: false,
            read_closed: false,
            deadline: Some(now + topo.backend.connect_timeout),
            last_used: now,
            last_ping: now,
            client: None,
            state: BackendState {
                multi_statements: true,
                ..BackendState::default()
            },
            thread_id: 0,
            caps: Capabilities::empty(),
            sync: Vec::new(),
            sync_failed: None,
            tracker: None,
            target: None,
            queue: VecDeque::new(),
            status: StatusFlags::AUTOCOMMIT.0,
            reply_err: None,
            close_stmt: None,
            stmts: Default::default(),
            node_stats: self.shared.metrics.node(key.0),
            busy_counted: false,
            collation: (key.1 >> 32) as u8,
            infile: None,
            decoder: PacketDecoder::new(1 << 30),
            scramble: Vec::new(),
        })));
        *self.open_per_node.entry(key.0).or_insert(0) += 1;
        if let Some(Conn::Backend(b)) = self.conns.get(bk) {
            b.node_stats
                .open
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.shared
            .stats
            .backend_connects
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(bk)
    }

    pub(super) fn backend_timed_out(&mut self, bk: usize) {
        let Some(Conn::Backend(b)) = self.conns.get(bk) else {
            return;
        };
        let why = match b.phase {
            Phase::Connecting | Phase::Greeting | Phase::Auth => "connect timeout",
            Phase::Ready => "idle timeout",
            Phase::Busy => "ping timeout",
        };
        self.close(bk, why);
    }

    pub(super) fn ping_idle_backend(&mut self, bk: usize, now: Instant) {
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return;
        };
        if !b.is_idle() {
            return;
        }
        b.last_ping = now;
        b.phase = Phase::Busy;
        b.tracker = Some(ReplyTracker::new(Expect::OkOrErr, false));
        b.deadline = Some(now + self.shared.topology().backend.connect_timeout);
        if let Some(list) = self.idle.get_mut(&b.pool_key) {
            list.retain(|&k| k != bk);
        }
        let bytes = packet(0, &[0x0e]);
        sock::append(&mut b.wbuf, &mut self.pool, &bytes);
        self.rerun.push(bk);
    }

    /// Writes a command with no reply (COM_STMT_CLOSE, SEND_LONG_DATA).
    pub(super) fn write_to_backend_no_reply(&mut self, bk: usize, payload: &[u8]) {
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return;
        };
        let bytes = packet(0, payload);
        if !sock::append(&mut b.wbuf, &mut self.pool, &bytes) {
            self.close(bk, "buffer memory exhausted");
            return;
        }
        self.rerun.push(bk);
    }

    /// Relays LOCAL INFILE data; `done` after the final empty packet.
    pub(super) fn backend_write_raw(&mut self, bk: usize, bytes: &[u8], done: bool) {
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return;
        };
        if done {
            if let Some(t) = b.tracker.as_mut() {
                t.infile_sent();
            }
        }
        if !sock::append(&mut b.wbuf, &mut self.pool, bytes) {
            self.close(bk, "buffer memory exhausted");
            return;
        }
        self.rerun.push(bk);
    }

    /// Runs the backend state machine.
    pub(super) fn backend_ready(&mut self, bk: usize) {
        for _ in 0..MAX_STEPS {
            let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
                return;
            };
            if b.phase == Phase::Connecting {
                if !b.writable && !b.readable {
                    return;
                }
                match b.sock.take_error() {
                    Ok(Some(e)) | Err(e) => {
                        self.close(bk, &format!("connect failed: {e}"));
                        return;
                    }
                    Ok(None) => {}
                }
                if let Err(e) = b.sock.peer_addr() {
                    if e.kind() == std::io::ErrorKind::NotConnected {
                        return; // still connecting
                    }
                    self.close(bk, &format!("connect failed: {e}"));
                    return;
                }
                b.phase = Phase::Greeting;
                b.decoder.expect_seq(0);
            }
            if b.infile.is_some() {
                self.feed_infile(bk);
            }
            let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
                return;
            };
            if b.writable && sock::pending(&b.wbuf) > 0 {
                match sock::flush(&mut b.sock, &mut b.wbuf, &mut self.pool) {
                    // More of a LOAD DATA file to send once this is out.
                    Ok(true) if b.infile.is_some() => self.rerun.push(bk),
                    Ok(true) => {}
                    Ok(false) => b.writable = false,
                    Err(e) => {
                        self.close(bk, &format!("write failed: {e}"));
                        return;
                    }
                }
            }
            // Backpressure: a slow client stops us reading its reply.
            let shard = b.target;
            let rbuf_pending = sock::pending(&b.rbuf);
            let client = b.client;
            let (client_pending, merger_full) = match client.and_then(|ck| self.conns.get(ck)) {
                Some(Conn::Client(c)) => {
                    // A merge waits for the other shards before taking more
                    // rows from this one (the others re-run it when fed).
                    // Once the reply is decided (LIMIT reached, an error) the
                    // other shards are drained, never paused: their replies
                    // must end. Nor while a shard has not started (queued
                    // behind a reply on the pinned connection of its node,
                    // or waiting for a connection): it could wait for ever.
                    let full = match (c.inflight.as_ref(), shard) {
                        (Some(inf), Some(s)) => {
                            inf.merger
                                .as_ref()
                                .is_some_and(|m| !m.wants_more(s) && !m.satisfied() && !m.is_done())
                                && self.all_targets_running(inf)
                        }
                        _ => false,
                    };
                    (sock::pending(&c.wbuf), full)
                }
                _ => (0, false),
            };
            let merger_full = merger_full && rbuf_pending > 0;
            let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
                return;
            };
            if client_pending >= HIGH_WATERMARK || merger_full {
                if let Some(ck) = b.client {
                    if let Some(Conn::Client(c)) = self.conns.get_mut(ck) {
                        c.backpressure = true;
                    }
                }
                return;
            }
            if b.readable {
                let read = sock::read_ready(
                    &mut b.sock,
                    &mut b.rbuf,
                    &mut self.pool,
                    &mut b.readable,
                    b.read_closed,
                    "backend",
                );
                if let Err(why) = read {
                    self.close(bk, &why);
                    return;
                }
            }
            let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
                return;
            };
            if sock::pending(&b.rbuf) == 0 {
                self.pool.release_if_empty(&mut b.rbuf);
                if b.readable {
                    continue;
                }
                return;
            }
            let progressed = match b.phase {
                Phase::Greeting | Phase::Auth => self.backend_login_step(bk),
                Phase::Busy => self.backend_relay(bk),
                Phase::Ready | Phase::Connecting => {
                    // Unsolicited bytes (e.g. an ERR before a server closes
                    // an idle connection): this connection is done.
                    self.close(bk, "unexpected bytes from an idle backend");
                    return;
                }
            };
            if !progressed {
                let Some(Conn::Backend(b)) = self.conns.get(bk) else {
                    return;
                };
                if !b.readable {
                    return;
                }
            }
        }
        self.rerun.push(bk);
    }

    /// One login packet from the backend. Returns whether it made progress.
    pub(super) fn backend_login_step(&mut self, bk: usize) -> bool {
        let topo = self.shared.topology();
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return false;
        };
        let Some(buf) = b.rbuf.as_ref() else {
            return false;
        };
        let pkt = match b.decoder.decode(buf.data()) {
            Ok(Some(p)) => p,
            Ok(None) => return false,
            Err(e) => {
                self.close(bk, &format!("bad packet during login: {e}"));
                return false;
            }
        };
        let consumed = pkt.consumed;
        let seq = pkt.last_seq;
        let payload = pkt.payload.into_owned();
        if let Some(b) = b.rbuf.as_mut() {
            b.consume(consumed);
        }
        let password = topo.backend.password.expose().as_bytes();
        let mut reply: Option<Vec<u8>> = None;
        if b.phase == Phase::Greeting {
            if payload.first() == Some(&0xff) {
                let msg = err_message(&payload);
                self.close(bk, &format!("backend refused the connection: {msg}"));
                return false;
            }
            let hs = match HandshakeV10::decode(&payload) {
                Ok(h) => h,
                Err(e) => {
                    self.close(bk, &format!("bad greeting: {e}"));
                    return false;
                }
            };
            b.thread_id = hs.connection_id;
            b.scramble = hs.auth_plugin_data.clone();
            let want = backend_caps(b.pool_key.1 & 0xffff_ffff);
            b.caps = want & hs.capabilities;
            let plugin = hs.auth_plugin_name;
            let (plugin_name, auth): (&[u8], Vec<u8>) =
                if plugin == pauth::CACHING_SHA2_PASSWORD.as_bytes() {
                    (plugin, pauth::sha2_scramble(password, &b.scramble).to_vec())
                } else {
                    (
                        pauth::NATIVE_PASSWORD.as_bytes(),
                        native_or_empty(password, &b.scramble),
                    )
                };
            let collation = if b.collation == 0 { 45 } else { b.collation };
            let resp = HandshakeResponse41 {
                capabilities: b.caps,
                max_packet_size: 1 << 30,
                character_set: collation,
                filler: [0; 19],
                mariadb_capabilities: 0,
                username: topo.backend.user.as_bytes(),
                auth_response: &auth,
                database: None,
                auth_plugin_name: Some(plugin_name),
                connect_attrs: Some(vec![(&b"_client_name"[..], &b"shardgate"[..])]),
                zstd_compression_level: None,
            };
            let mut p = Vec::with_capacity(128);
            resp.encode(&mut p);
            reply = Some(p);
            b.phase = Phase::Auth;
        } else {
            match AuthPhasePacket::decode(&payload) {
                Ok(AuthPhasePacket::Ok) => {
                    b.phase = Phase::Ready;
                    b.deadline = None;
                    b.decoder.accept_any_seq();
                    let addr = b.addr;
                    self.backoff.remove(&addr);
                    log::debug!("BACKEND [{}] logged in, thread id {}", b.addr, b.thread_id);
                    self.backend_logged_in(bk);
                    return true;
                }
                Ok(AuthPhasePacket::Err) => {
                    let msg = err_message(&payload);
                    self.close(bk, &format!("backend login failed: {msg}"));
                    return false;
                }
                Ok(AuthPhasePacket::Switch(sw)) => {
                    let data = sw.scramble().to_vec();
                    b.scramble = data;
                    reply = Some(
                        if sw.plugin_name == pauth::CACHING_SHA2_PASSWORD.as_bytes() {
                            pauth::sha2_scramble(password, &b.scramble).to_vec()
                        } else if sw.plugin_name == pauth::NATIVE_PASSWORD.as_bytes() {
                            native_or_empty(password, &b.scramble)
                        } else {
                            let name = String::from_utf8_lossy(sw.plugin_name).into_owned();
                            self.close(
                                bk,
                                &format!("backend wants unsupported auth plugin '{name}'"),
                            );
                            return false;
                        },
                    );
                }
                Ok(AuthPhasePacket::MoreData(more)) => match more.data {
                    [0x03] => {}                        // fast auth success; OK follows
                    [0x04] => reply = Some(vec![0x02]), // full auth: ask for the public key
                    pem if pem.starts_with(b"-----BEGIN") => {
                        match pauth::sha2_encrypt_password(password, &b.scramble, pem) {
                            Ok(enc) => reply = Some(enc),
                            Err(e) => {
                                self.close(
                                    bk,
                                    &format!("cannot encrypt password for backend: {e}"),
                                );
                                return false;
                            }
                        }
                    }
                    _ => {
                        self.close(bk, "unexpected auth data from backend");
                        return false;
                    }
                },
                Ok(AuthPhasePacket::OldSwitch) => {
                    self.close(
                        bk,
                        "backend wants mysql_old_password, which is not supported",
                    );
                    return false;
                }
                Err(e) => {
                    self.close(bk, &format!("bad auth packet: {e}"));
                    return false;
                }
            }
        }
        if let Some(p) = reply {
            let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
                return false;
            };
            let next = seq.wrapping_add(1);
            let bytes = packet(next, &p);
            b.decoder.expect_seq(next.wrapping_add(1));
            if !sock::append(&mut b.wbuf, &mut self.pool, &bytes) {
                self.close(bk, "buffer memory exhausted");
                return false;
            }
        }
        true
    }

    /// A new connection finished its login: run the waiting statement.
    pub(super) fn backend_logged_in(&mut self, bk: usize) {
        let Some(Conn::Backend(b)) = self.conns.get(bk) else {
            return;
        };
        match b.client {
            Some(ck) => {
                // KILL needs the backend's thread id, known only now.
                self.attach(ck, bk);
                self.run_next_target(ck, bk);
            }
            None => self.release_backend(bk),
        }
    }

    pub(super) fn backend_addr(&self, bk: usize) -> String {
        match self.conns.get(bk) {
            Some(Conn::Backend(b)) => b.addr.to_string(),
            _ => String::from("?"),
        }
    }
}

fn native_or_empty(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        Vec::new()
    } else {
        pauth::native_scramble(password, scramble).to_vec()
    }
}

/// The message of an ERR packet payload, for logs.
fn err_message(payload: &[u8]) -> String {
    let mut r = Reader::new(payload);
    let _ = r.u8("");
    let code = r.u16("").unwrap_or(0);
    let mut rest = r.rest();
    if rest.first() == Some(&b'#') && rest.len() >= 6 {
        rest = &rest[6..];
    }
    format!("{} ({code})", String::from_utf8_lossy(rest))
}

/// Payload of the last packet in a run of whole frames.
pub(super) fn last_packet_payload(frames: &[u8]) -> Vec<u8> {
    let mut last = Vec::new();
    for_each_packet(frames, |p| {
        last.clear();
        last.extend_from_slice(p);
    });
    last
}

/// Sequence id of the last frame in a run of whole frames.
pub(super) fn last_seq(frames: &[u8]) -> Option<u8> {
    let mut pos = 0;
    let mut seq = None;
    while let Some(h) = shardgate_proto::frame::FrameHeader::parse(&frames[pos..]) {
        seq = Some(h.seq);
        pos += 4 + h.payload_len;
        if pos >= frames.len() {
            break;
        }
    }
    seq
}
