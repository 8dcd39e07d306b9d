//! The client side of a session: greeting, authentication against
//! shardgate's own users, reading commands, handing COM_QUERY to a worker,
//! running the other commands itself, and finishing a statement (session
//! state, pins, giving the backend connection back).
//!
//! Phases: `Greeting` (greeting sent, waiting for HandshakeResponse41) →
//! `AuthSwitch` (optional) → `Idle` ⇄ `AwaitPlan` / `AwaitBackend` /
//! `Relaying` / `Infile` → closed.

use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::codec::{put_lenenc_int, put_u16, put_u8};
use shardgate_proto::command::Command;
use shardgate_proto::error_codes::{self as ec, ErrorCode};
use shardgate_proto::frame::{write_packet, PacketDecoder};
use shardgate_proto::handshake::{AuthSwitchRequest, HandshakeResponse41, HandshakeV10};

use super::buffer::{Buf, BufferPool};
use super::io_thread::{Conn, IoThread};
use super::relay::Expect;
use super::sock;
use super::{Inbound, KillRequester, SessionEntry};
use crate::route::{self, Action, Effects, Gather, Job, Plan};
use crate::session::auth::{self, AuthCheck};
use crate::session::{PinReasons, Session};

/// What shardgate tells clients it is.
pub const SERVER_VERSION: &str = concat!("10.11.99-shardgate-", env!("CARGO_PKG_VERSION"));
/// utf8mb4_general_ci: the collation announced in the greeting.
const GREETING_COLLATION: u8 = 45;
/// Steps one readiness round may take before yielding to other connections.
const MAX_STEPS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Greeting,
    AuthSwitch,
    Idle,
    AwaitPlan,
    AwaitBackend,
    Relaying,
    Infile,
    Closing,
}

/// One backend a statement runs on.
pub(super) struct Target {
    pub group: String,
    pub addr: SocketAddr,
    /// The command packet payload for this backend, command byte first.
    pub payload: Vec<u8>,
    /// The backend connection running it, once attached.
    pub bk: Option<usize>,
    /// Its reply is complete.
    pub done: bool,
}

/// A statement on its way to (or running on) one or more backends.
pub(super) struct InFlight {
    pub targets: Vec<Target>,
    pub expect: Option<Expect>,
    pub effects: Effects,
    pub started: Instant,
    /// Some reply bytes have already gone to the client.
    pub forwarded: bool,
    /// Sequence id of the last packet relayed to the client.
    pub last_seq: u8,
    /// Status flags of the targets' final OK/EOF packets, OR-ed.
    pub status: u16,
    /// The first target error (ERR payload) when replies are gathered.
    pub error: Option<Vec<u8>>,
    pub gather: Gather,
    /// Gather::Merge: the merger of the targets' result sets, and the next
    /// sequence id of the packets it produces for the client.
    pub merger: Option<Box<crate::merge::Merger>>,
    pub merge_seq: u8,
    /// Gather::Rename: the reply, buffered until complete.
    pub buffer: Vec<u8>,
    /// A sharded COM_STMT_PREPARE: shardgate's id for the client's reply.
    pub prepare_as: Option<u32>,
    /// Targets run as one-shot prepared statements (binary rows).
    pub binary_exec: bool,
    /// Targets run as server-side statements kept prepared on their
    /// connection (`reactor::stmt_cache`): each target's payload is its
    /// COM_STMT_PREPARE, this the COM_STMT_EXECUTE body after the id.
    pub exec_body: Option<Vec<u8>>,
    /// A relayed text result is turned into a binary one on the way.
    pub to_binary: Option<crate::merge::binary::TextToBinary>,
    /// SumOk: affected rows so far, and the smallest non-zero insert id.
    pub affected: u64,
    pub insert_id: u64,
    /// Reads moved to another node after a replica refused the connection.
    pub retries: u8,
}

impl InFlight {
    /// A statement for one backend, relayed byte for byte.
    pub fn single(
        group: String,
        addr: SocketAddr,
        payload: Vec<u8>,
        expect: Option<Expect>,
        effects: Effects,
    ) -> InFlight {
        InFlight {
            targets: vec![Target {
                group,
                addr,
                payload,
                bk: None,
                done: false,
            }],
            expect,
            effects,
            started: Instant::now(),
            forwarded: false,
            last_seq: 0,
            status: 0,
            error: None,
            gather: Gather::Relay,
            merger: None,
            merge_seq: 1,
            prepare_as: None,
            binary_exec: false,
            exec_body: None,
            to_binary: None,
            buffer: Vec::new(),
            affected: 0,
            insert_id: 0,
            retries: 0,
        }
    }

    /// The group names, for messages.
    pub fn groups(&self) -> String {
        let mut names: Vec<&str> = self.targets.iter().map(|t| t.group.as_str()).collect();
        names.dedup();
        names.join(", ")
    }

    /// The node addresses, for messages.
    pub fn addrs(&self) -> String {
        self.targets
            .iter()
            .map(|t| t.addr.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The SQL of the first target, for the slow log.
    pub fn first_sql(&self) -> &[u8] {
        self.targets
            .first()
            .and_then(|t| t.payload.get(1..))
            .unwrap_or_default()
    }
}

pub(super) struct Client {
    pub sock: TcpStream,
    pub peer: SocketAddr,
    pub sess: Session,
    pub phase: Phase,
    pub rbuf: Option<Buf>,
    pub wbuf: Option<Buf>,
    pub readable: bool,
    pub writable: bool,
    /// The peer closed its side (or the socket errored).
    pub read_closed: bool,
    pub deadline: Option<Instant>,
    /// Backend connections attached to this session (node, slab key): during
    /// a statement, and between statements while the session is pinned.
    pub backends: Vec<(SocketAddr, usize)>,
    pub gen: u64,
    pub scramble: [u8; 20],
    pub decoder: PacketDecoder,
    pub inflight: Option<InFlight>,
    /// Prepared statements open on the pinned backend connection.
    pub open_statements: u32,
    /// The group and node that hold them.
    pub stmt_target: Option<(String, SocketAddr)>,
    /// Prepared statements on sharded tables, owned by shardgate.
    pub proxy_stmts: super::prepared::ProxyStmts,
    /// Counted in `Shared::user_conns` under `sess.user`.
    pub counted_user: bool,
    /// The auth plugin the client is answering with during AuthSwitch.
    pub switch_plugin: &'static str,
    /// The backend stopped reading because our write buffer is full.
    pub backpressure: bool,
}

impl Client {
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
        matches!(
            self.phase,
            Phase::Idle | Phase::Greeting | Phase::AuthSwitch
        ) && sock::pending(&self.wbuf) == 0
    }

    /// What the planner needs to know about this session.
    pub fn route_ctx(&self) -> route::RouteCtx {
        route::RouteCtx {
            schema: self.sess.state.schema.clone(),
            user: self.sess.user.clone(),
            conn_id: self.sess.conn_id,
            backslash_escapes: self.sess.backslash_escapes,
            multi_statements: self.sess.state.multi_statements
                || self.sess.caps.contains(Capabilities::MULTI_STATEMENTS),
            in_transaction: self.sess.pins.contains(PinReasons::TRANSACTION),
            caps: self.sess.caps,
            shard_key: self.sess.shard_key.clone(),
        }
    }

    /// The attached backend connection on `addr`.
    pub fn backend_on(&self, addr: SocketAddr) -> Option<usize> {
        self.backends
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, bk)| *bk)
    }

    /// Forgets an attached backend connection.
    pub fn detach(&mut self, bk: usize) {
        self.backends.retain(|(_, b)| *b != bk);
    }

    pub fn release_buffers(&mut self, pool: &mut BufferPool) {
        for slot in [&mut self.rbuf, &mut self.wbuf] {
            if let Some(b) = slot.take() {
                pool.release(b);
            }
        }
    }

    /// The protocol flavour a backend connection must share with this
    /// client for replies to be relayed byte for byte.
    pub fn flavor(&self) -> u64 {
        let caps = self.sess.caps
            & (Capabilities::DEPRECATE_EOF
                | Capabilities::SESSION_TRACK
                | Capabilities::FOUND_ROWS);
        u64::from(caps.bits()) | u64::from(self.sess.collation) << 32
    }
}

/// Appends one packet to a client's output buffer.
pub(super) fn queue_packet(c: &mut Client, pool: &mut BufferPool, seq: u8, payload: &[u8]) -> bool {
    let mut out = Vec::with_capacity(payload.len() + 4);
    let mut s = seq;
    write_packet(&mut out, &mut s, payload);
    sock::append(&mut c.wbuf, pool, &out)
}

pub(super) fn ok_payload(
    caps: Capabilities,
    affected: u64,
    insert_id: u64,
    status: u16,
) -> Vec<u8> {
    let mut p = Vec::with_capacity(16);
    put_u8(&mut p, 0);
    put_lenenc_int(&mut p, affected);
    put_lenenc_int(&mut p, insert_id);
    if caps.contains(Capabilities::PROTOCOL_41) {
        put_u16(&mut p, status);
        put_u16(&mut p, 0);
    }
    p
}

pub(super) fn err_payload(code: ErrorCode, msg: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(msg.len() + 9);
    ec::write_err(&mut p, code, msg);
    p
}

impl IoThread {
    pub(super) fn accept(&mut self, mut sock: TcpStream, peer: SocketAddr, conn_id: u32) {
        let topo = self.shared.topology();
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut sock,
            mio::Token(key + 1),
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        ) {
            log::warn!("CONN [{conn_id} {peer}] register failed: {e}");
            self.shared
                .clients
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let scramble = auth::new_scramble();
        let mut c = Client {
            sock,
            peer,
            sess: Session::new(conn_id),
            phase: Phase::Greeting,
            rbuf: None,
            wbuf: None,
            readable: false,
            writable: false,
            read_closed: false,
            deadline: Some(Instant::now() + topo.server.handshake_timeout),
            backends: Vec::new(),
            gen: 0,
            scramble,
            decoder: PacketDecoder::new(topo.server.max_packet_size),
            inflight: None,
            open_statements: 0,
            stmt_target: None,
            proxy_stmts: super::prepared::ProxyStmts::default(),
            counted_user: false,
            switch_plugin: auth::NATIVE,
            backpressure: false,
        };
        let greeting = HandshakeV10::new(
            SERVER_VERSION.as_bytes(),
            conn_id,
            &scramble,
            Capabilities::server_default(),
            GREETING_COLLATION,
            StatusFlags::AUTOCOMMIT,
            auth::NATIVE.as_bytes(),
        );
        let mut payload = Vec::with_capacity(128);
        greeting.encode(&mut payload);
        let queued = queue_packet(&mut c, &mut self.pool, 0, &payload);
        c.decoder.expect_seq(1);
        entry.insert(Conn::Client(Box::new(c)));
        if !queued {
            self.close(key, "buffer memory exhausted");
            return;
        }
        self.client_ready(key);
    }

    /// Runs the client state machine after readiness or queued work.
    pub(super) fn client_ready(&mut self, key: usize) {
        for _ in 0..MAX_STEPS {
            let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
                return;
            };
            // 1. Write what is queued.
            if c.writable && sock::pending(&c.wbuf) > 0 {
                match sock::flush(&mut c.sock, &mut c.wbuf, &mut self.pool) {
                    Ok(true) => {}
                    Ok(false) => c.writable = false,
                    Err(e) => {
                        self.close(key, &format!("write failed: {e}"));
                        return;
                    }
                }
            }
            let pending = sock::pending(&c.wbuf);
            if c.phase == Phase::Closing {
                if pending == 0 {
                    self.close(key, "closed by shardgate");
                }
                return;
            }
            // Resume a backend we paused because this client was slow.
            if c.backpressure && pending < super::backend::LOW_WATERMARK {
                c.backpressure = false;
                for &(_, bk) in &c.backends {
                    self.rerun.push(bk);
                }
            }
            // 2. Read when there is something we can do with the bytes.
            let wants_input = matches!(
                c.phase,
                Phase::Greeting | Phase::AuthSwitch | Phase::Idle | Phase::Infile
            );
            if wants_input && c.readable && pending < super::backend::HIGH_WATERMARK {
                let read = sock::read_ready(
                    &mut c.sock,
                    &mut c.rbuf,
                    &mut self.pool,
                    &mut c.readable,
                    c.read_closed,
                    "client",
                );
                if let Err(why) = read {
                    self.close(key, &why);
                    return;
                }
            }
            // 3. Act on one complete packet, if any.
            let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
                return;
            };
            if !matches!(
                c.phase,
                Phase::Greeting | Phase::AuthSwitch | Phase::Idle | Phase::Infile
            ) {
                return;
            }
            let Some(buf) = c.rbuf.as_ref() else {
                if c.readable && c.phase != Phase::Closing {
                    continue;
                }
                return;
            };
            if c.phase == Phase::Idle {
                c.decoder.expect_seq(0);
            }
            let packet = match c.decoder.decode(buf.data()) {
                Ok(Some(p)) => p,
                Ok(None) => {
                    self.pool.release_if_empty(&mut c.rbuf);
                    if c.readable {
                        continue;
                    }
                    return;
                }
                Err(e) => {
                    log::warn!("CONN [{} {}] bad packet: {e}", c.sess.conn_id, c.peer);
                    if matches!(e, shardgate_proto::ProtoError::TooLarge { .. }) {
                        let p = err_payload(
                            ec::ER_NET_PACKET_TOO_LARGE,
                            "Got a packet bigger than 'max_allowed_packet' bytes",
                        );
                        queue_packet(c, &mut self.pool, c.decoder.expected_seq().unwrap_or(0), &p);
                        c.phase = Phase::Closing;
                        continue;
                    }
                    self.close(key, &format!("malformed packet: {e}"));
                    return;
                }
            };
            let seq = packet.seq;
            let last_seq = packet.last_seq;
            let payload = packet.payload.into_owned();
            let consumed = packet.consumed;
            if let Some(b) = c.rbuf.as_mut() {
                b.consume(consumed);
            }
            self.pool.release_if_empty(&mut c.rbuf);
            match c.phase {
                Phase::Greeting => self.on_handshake_response(key, &payload),
                Phase::AuthSwitch => self.on_auth_switch_response(key, &payload),
                Phase::Idle => self.on_command(key, payload),
                Phase::Infile => self.on_infile_packet(key, seq, last_seq, payload),
                _ => {}
            }
        }
        // Out of steps: let other connections run, come back soon.
        self.rerun.push(key);
    }

    fn on_handshake_response(&mut self, key: usize, payload: &[u8]) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let topo = self.shared.topology();
        if shardgate_proto::handshake::is_ssl_request(payload) {
            self.close(key, "client asked for TLS, which shardgate does not offer");
            return;
        }
        let resp = match HandshakeResponse41::decode(payload) {
            Ok(r) => r,
            Err(e) => {
                let p = err_payload(ec::ER_HANDSHAKE_ERROR, "Bad handshake");
                queue_packet(c, &mut self.pool, 2, &p);
                c.phase = Phase::Closing;
                log::debug!(
                    "CONN [{} {}] bad handshake response: {e}",
                    c.sess.conn_id,
                    c.peer
                );
                return;
            }
        };
        c.sess.caps = resp.capabilities & Capabilities::server_default();
        c.sess.collation = resp.character_set;
        c.sess.user = String::from_utf8_lossy(resp.username).into_owned();
        if let Some(db) = resp.database.filter(|d| !d.is_empty()) {
            c.sess.state.schema = Some(String::from_utf8_lossy(db).into_owned());
        }
        let plugin = resp.auth_plugin_name.unwrap_or(auth::NATIVE.as_bytes());
        let check = auth::check_login(
            &topo,
            &c.sess.user,
            c.peer.ip(),
            plugin,
            &c.scramble,
            resp.auth_response,
        );
        self.finish_auth_step(key, check, 2);
    }

    fn on_auth_switch_response(&mut self, key: usize, payload: &[u8]) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let topo = self.shared.topology();
        let plugin = c.switch_plugin.as_bytes();
        let check = auth::check_login(
            &topo,
            &c.sess.user,
            c.peer.ip(),
            plugin,
            &c.scramble,
            payload,
        );
        self.finish_auth_step(key, check, 4);
    }

    /// Answers an authentication step: OK, ERR, or an auth switch.
    fn finish_auth_step(&mut self, key: usize, check: AuthCheck, seq: u8) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let mut seq = seq;
        match check {
            AuthCheck::Switch(plugin) if c.phase == Phase::Greeting => {
                // A fresh scramble, as the server does on a switch.
                c.scramble = auth::new_scramble();
                let mut data = c.scramble.to_vec();
                data.push(0);
                let req = AuthSwitchRequest {
                    plugin_name: plugin.as_bytes(),
                    plugin_data: &data,
                };
                let mut p = Vec::new();
                req.encode(&mut p);
                queue_packet(c, &mut self.pool, seq, &p);
                c.switch_plugin = plugin;
                c.phase = Phase::AuthSwitch;
                c.decoder.expect_seq(seq.wrapping_add(1));
            }
            AuthCheck::Switch(_) | AuthCheck::Denied { .. } => {
                let (code, msg) = match check {
                    AuthCheck::Denied { code, msg } => (code, msg),
                    _ => (
                        ec::ER_ACCESS_DENIED_ERROR,
                        auth::denied_message(&c.sess.user, c.peer.ip(), true),
                    ),
                };
                log::info!(
                    "CONN [{} {}] login refused for user '{}': {msg}",
                    c.sess.conn_id,
                    c.peer,
                    c.sess.user
                );
                queue_packet(c, &mut self.pool, seq, &err_payload(code, &msg));
                c.phase = Phase::Closing;
            }
            AuthCheck::Ok { fast_auth_ok } => {
                let topo = self.shared.topology();
                if let Some(schema) = c.sess.state.schema.clone() {
                    if let Err((code, msg)) =
                        auth::check_schema(&topo, &c.sess.user, c.peer.ip(), &schema)
                    {
                        queue_packet(c, &mut self.pool, seq, &err_payload(code, &msg));
                        c.phase = Phase::Closing;
                        return;
                    }
                }
                // Per-user connection cap.
                let limit = topo.user(&c.sess.user).and_then(|u| u.max_connections);
                {
                    let mut counts = self.shared.user_conns.lock();
                    let n = counts.entry(c.sess.user.clone()).or_insert(0);
                    if limit.is_some_and(|l| *n >= l) {
                        drop(counts);
                        let msg = format!(
                            "User '{}' has exceeded the 'max_user_connections' resource",
                            c.sess.user
                        );
                        queue_packet(
                            c,
                            &mut self.pool,
                            seq,
                            &err_payload(ec::ER_TOO_MANY_USER_CONNECTIONS, &msg),
                        );
                        c.phase = Phase::Closing;
                        return;
                    }
                    *n += 1;
                    c.counted_user = true;
                }
                if fast_auth_ok {
                    queue_packet(c, &mut self.pool, seq, &[0x01, 0x03]);
                    seq = seq.wrapping_add(1);
                }
                let ok = ok_payload(c.sess.caps, 0, 0, StatusFlags::AUTOCOMMIT.0);
                queue_packet(c, &mut self.pool, seq, &ok);
                c.phase = Phase::Idle;
                c.deadline = Some(Instant::now() + topo.server.idle_timeout);
                self.shared.sessions.lock().insert(
                    c.sess.conn_id,
                    SessionEntry {
                        io: self.idx,
                        token: key,
                        user: c.sess.user.clone(),
                        peer: c.peer,
                        backend: None,
                    },
                );
                log::debug!(
                    "CONN [{} {}] user '{}' logged in",
                    c.sess.conn_id,
                    c.peer,
                    c.sess.user
                );
            }
        }
    }

    /// Bookkeeping when a client connection goes away.
    pub(super) fn client_closed(&mut self, c: &mut Client) {
        self.shared
            .clients
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        self.shared.sessions.lock().remove(&c.sess.conn_id);
        if c.counted_user {
            if let Some(n) = self.shared.user_conns.lock().get_mut(&c.sess.user) {
                *n = n.saturating_sub(1);
            }
        }
        for (_, list) in self.waiting.iter_mut() {
            list.retain(|_| true);
        }
    }

    pub(super) fn client_timed_out(&mut self, key: usize) {
        let Some(Conn::Client(c)) = self.conns.get(key) else {
            return;
        };
        match c.phase {
            Phase::Greeting | Phase::AuthSwitch => self.close(key, "handshake timeout"),
            Phase::Idle => self.close(key, "idle timeout"),
            _ => {}
        }
    }

    /// Replies to the client's current command with one packet (seq 1) and
    /// goes back to Idle.
    pub(super) fn reply_local(&mut self, key: usize, payload: &[u8]) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        if payload.first() == Some(&0xff) {
            self.shared
                .stats
                .errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if !queue_packet(c, &mut self.pool, 1, payload) {
            self.close(key, "buffer memory exhausted");
            return;
        }
        c.phase = Phase::Idle;
        c.inflight = None;
        self.rerun.push(key);
    }

    pub(super) fn reply_err(&mut self, key: usize, code: ErrorCode, msg: &str) {
        self.reply_local(key, &err_payload(code, msg));
    }

    fn reply_ok(&mut self, key: usize) {
        let Some(Conn::Client(c)) = self.conns.get(key) else {
            return;
        };
        let status = session_status(c);
        let p = ok_payload(c.sess.caps, 0, 0, status);
        self.reply_local(key, &p);
    }
}

/// Status flags to report for a session between statements.
fn session_status(c: &Client) -> u16 {
    {
        let mut s = 0;
        if !c.sess.pins.contains(PinReasons::AUTOCOMMIT_OFF) {
            s |= StatusFlags::AUTOCOMMIT.0;
        }
        if c.sess.pins.contains(PinReasons::TRANSACTION) {
            s |= StatusFlags::IN_TRANS.0;
        }
        s
    }
}

impl IoThread {
    /// One command packet from an authenticated client.
    fn on_command(&mut self, key: usize, payload: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let topo = self.shared.topology();
        c.deadline = Some(Instant::now() + topo.server.idle_timeout);
        c.gen = c.gen.wrapping_add(1);
        self.shared
            .stats
            .queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Prepared statements on sharded tables are shardgate's own.
        let code = payload.first().copied().unwrap_or(0);
        let stmt_id = shardgate_proto::stmt::stmt_id_of_execute(&payload).ok();
        match (code, stmt_id) {
            (0x16, _) if self.prepare_sharded(key, &payload) => return,
            (0x17, Some(id)) if super::prepared::ProxyStmts::is_proxy_id(id) => {
                self.execute_sharded(key, &payload);
                return;
            }
            (0x18 | 0x19 | 0x1a | 0x1c, Some(_)) if self.stmt_local(key, code, &payload) => return,
            _ => {}
        }
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let cmd = match Command::decode(&payload, c.sess.caps) {
            Ok(cmd) => cmd,
            Err(shardgate_proto::ProtoError::UnknownCommand(code)) => {
                log::debug!(
                    "CONN [{} {}] unknown command 0x{code:02x}",
                    c.sess.conn_id,
                    c.peer
                );
                self.reply_err(key, ec::ER_UNKNOWN_COM_ERROR, "Unknown command");
                return;
            }
            Err(e) => {
                self.close(key, &format!("malformed command: {e}"));
                return;
            }
        };
        match cmd {
            Command::Quit => self.close(key, "client quit"),
            Command::Ping => self.reply_ok(key),
            Command::Query { .. } => {
                let job = Job {
                    io: self.idx,
                    token: key,
                    gen: c.gen,
                    payload,
                    ctx: route::RouteCtx {
                        schema: c.sess.state.schema.clone(),
                        user: c.sess.user.clone(),
                        conn_id: c.sess.conn_id,
                        backslash_escapes: c.sess.backslash_escapes,
                        multi_statements: c.sess.state.multi_statements
                            || c.sess.caps.contains(Capabilities::MULTI_STATEMENTS),
                        in_transaction: c.sess.pins.contains(PinReasons::TRANSACTION),
                        caps: c.sess.caps,
                        shard_key: c.sess.shard_key.clone(),
                    },
                };
                c.phase = Phase::AwaitPlan;
                if job.payload.len() <= topo.server.inline_plan_bytes {
                    // Planning a small statement costs less than the
                    // hand-off to a worker (see ARCHITECTURE.md).
                    let state = self.shared.route_state();
                    let sql = job.payload.get(1..).unwrap_or_default();
                    let action = route::plan_query(&topo, &state, &job.ctx, sql, false);
                    if !matches!(action, Action::Defer) {
                        let plan = Plan {
                            token: key,
                            gen: job.gen,
                            payload: job.payload,
                            action,
                        };
                        self.on_plan(plan);
                        return;
                    }
                    // It needs a directory read: a worker plans it.
                }
                match self.jobs.try_send(job) {
                    Ok(()) => {}
                    Err(crossbeam_channel::TrySendError::Full(job)) => {
                        // Park it; reading from this client pauses meanwhile.
                        self.parked_jobs.push_back(job);
                    }
                    Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                        self.reply_err(key, ec::ER_SERVER_SHUTDOWN, "Server shutdown in progress");
                    }
                }
            }
            Command::InitDb { schema } => {
                let schema = String::from_utf8_lossy(schema).into_owned();
                if let Err((code, msg)) =
                    auth::check_schema(&topo, &c.sess.user, c.peer.ip(), &schema)
                {
                    self.reply_err(key, code, &msg);
                    return;
                }
                let effects = Effects {
                    use_schema: Some(schema.clone()),
                    ..Effects::default()
                };
                self.forward_local(key, payload, Expect::OkOrErr, effects, Some(&schema));
            }
            Command::FieldList { .. } => {
                self.forward_local(key, payload, Expect::FieldList, Effects::default(), None)
            }
            Command::Statistics => {
                self.forward_local(key, payload, Expect::Statistics, Effects::default(), None)
            }
            Command::ResetConnection => {
                c.sess.state.vars.clear();
                c.sess.pins = PinReasons::default();
                c.open_statements = 0;
                c.sess.last_insert_id = 0;
                // Closing the attached connections resets their sessions on
                // the servers (rolls back, drops temporary tables, unlocks).
                let attached = std::mem::take(&mut c.backends);
                for (_, bk) in attached {
                    self.close(bk, "client reset its connection");
                }
                self.reply_ok(key);
            }
            Command::ChangeUser {
                user,
                auth_response,
                schema,
                charset,
                auth_plugin,
                ..
            } => {
                let user = String::from_utf8_lossy(user).into_owned();
                let plugin = auth_plugin.unwrap_or(auth::NATIVE.as_bytes());
                let check = auth::check_login(
                    &topo,
                    &user,
                    c.peer.ip(),
                    plugin,
                    &c.scramble,
                    auth_response,
                );
                match check {
                    AuthCheck::Ok { .. } => {
                        if c.counted_user {
                            if let Some(n) = self.shared.user_conns.lock().get_mut(&c.sess.user) {
                                *n = n.saturating_sub(1);
                            }
                            c.counted_user = false;
                        }
                        let old_backends = std::mem::take(&mut c.backends);
                        let conn_id = c.sess.conn_id;
                        let caps = c.sess.caps;
                        c.sess = Session::new(conn_id);
                        c.sess.caps = caps;
                        c.sess.user = user.clone();
                        c.sess.collation = charset.map_or(GREETING_COLLATION, |cs| cs as u8);
                        c.open_statements = 0;
                        if !schema.is_empty() {
                            c.sess.state.schema =
                                Some(String::from_utf8_lossy(schema).into_owned());
                        }
                        for (_, bk) in old_backends {
                            // Their session state belongs to the old user.
                            self.close(bk, "client changed user");
                        }
                        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
                            return;
                        };
                        if let Some(e) = self.shared.sessions.lock().get_mut(&conn_id) {
                            e.user = user;
                        }
                        // The reply to COM_CHANGE_USER is the auth phase's OK.
                        c.phase = Phase::Greeting;
                        self.finish_auth_step(
                            key,
                            AuthCheck::Ok {
                                fast_auth_ok: false,
                            },
                            1,
                        );
                    }
                    AuthCheck::Switch(_) | AuthCheck::Denied { .. } => {
                        let msg =
                            auth::denied_message(&user, c.peer.ip(), !auth_response.is_empty());
                        let p = err_payload(ec::ER_ACCESS_DENIED_ERROR, &msg);
                        queue_packet(c, &mut self.pool, 1, &p);
                        c.phase = Phase::Closing;
                        self.rerun.push(key);
                    }
                }
            }
            Command::SetOption { option } => {
                c.sess.state.multi_statements =
                    option == shardgate_proto::command::MYSQL_OPTION_MULTI_STATEMENTS_ON;
                if c.sess.caps.contains(Capabilities::DEPRECATE_EOF) {
                    self.reply_ok(key);
                } else {
                    let status = session_status(c);
                    let mut p = vec![0xfe, 0, 0];
                    p.extend_from_slice(&status.to_le_bytes());
                    self.reply_local(key, &p);
                }
            }
            Command::StmtPrepare { .. } => {
                let effects = Effects {
                    pin: PinReasons::PREPARED,
                    ..Effects::default()
                };
                self.forward_local(key, payload, Expect::StmtPrepare, effects, None);
            }
            Command::StmtExecute { .. } | Command::StmtFetch { .. } | Command::StmtReset { .. } => {
                let Some((group, addr)) = c.stmt_target.clone().filter(|_| c.open_statements > 0)
                else {
                    self.reply_err(
                        key,
                        ec::ER_UNKNOWN_STMT_HANDLER,
                        "Unknown prepared statement handler given to shardgate",
                    );
                    return;
                };
                let expect = match cmd {
                    Command::StmtFetch { .. } => Expect::StmtFetch,
                    Command::StmtReset { .. } => Expect::OkOrErr,
                    _ => Expect::ResultSets,
                };
                let inflight =
                    InFlight::single(group, addr, payload, Some(expect), Effects::default());
                self.start_statement(key, inflight);
            }
            Command::StmtSendLongData { .. } | Command::StmtClose { .. } => {
                // No reply: write it to the pinned backend, stay Idle.
                let close = matches!(cmd, Command::StmtClose { .. });
                let Some(bk) = c
                    .stmt_target
                    .as_ref()
                    .and_then(|(_, addr)| c.backend_on(*addr))
                else {
                    // No backend holds the statement (it was lost): nothing to do.
                    self.rerun.push(key);
                    return;
                };
                if close {
                    c.open_statements = c.open_statements.saturating_sub(1);
                    if c.open_statements == 0 {
                        c.sess.pins.remove(PinReasons::PREPARED);
                    }
                }
                self.write_to_backend_no_reply(bk, &payload);
                self.maybe_release_after_statement(key);
                self.rerun.push(key);
            }
            Command::ProcessKill { id } => self.start_kill(key, id, false),
            _ => {
                self.reply_err(
                    key,
                    ec::ER_NOT_SUPPORTED_YET,
                    "shardgate: this command is not supported through the proxy",
                );
            }
        }
    }

    /// Forwards a command that needs no routing decision to the session's
    /// default group master.
    fn forward_local(
        &mut self,
        key: usize,
        payload: Vec<u8>,
        expect: Expect,
        effects: Effects,
        schema: Option<&str>,
    ) {
        let Some(Conn::Client(c)) = self.conns.get(key) else {
            return;
        };
        let topo = self.shared.topology();
        let schema = schema
            .map(str::to_owned)
            .or_else(|| c.sess.state.schema.clone());
        match route::default_target(&topo, schema.as_deref()) {
            Ok((group, addr)) => {
                let inflight = InFlight::single(group, addr, payload, Some(expect), effects);
                self.start_statement(key, inflight);
            }
            Err((code, msg)) => self.reply_err(key, code, &msg),
        }
    }

    /// A worker's plan arrived.
    pub(super) fn on_plan(&mut self, plan: Plan) {
        let key = plan.token;
        let Some(Conn::Client(c)) = self.conns.get(key) else {
            return;
        };
        if c.gen != plan.gen || c.phase != Phase::AwaitPlan {
            return; // the session moved on (closed and reused slot, or killed)
        }
        match plan.action {
            Action::Reply(payload) => self.reply_local(key, &payload),
            Action::ReplyPackets(packets) => {
                let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
                    return;
                };
                if !sock::append(&mut c.wbuf, &mut self.pool, &packets) {
                    self.close(key, "buffer memory exhausted");
                    return;
                }
                c.phase = Phase::Idle;
                c.inflight = None;
                self.rerun.push(key);
            }
            Action::Kill { id, query_only } => self.start_kill(key, id, query_only),
            Action::Defer => self.reply_err(
                key,
                ec::ER_UNKNOWN_ERROR,
                "shardgate: statement could not be planned",
            ),
            Action::SetShardKey(v) => {
                if let Some(Conn::Client(c)) = self.conns.get_mut(key) {
                    c.sess.shard_key = v;
                }
                self.reply_ok(key);
            }
            Action::SetUseMaster(on) => {
                if let Some(Conn::Client(c)) = self.conns.get_mut(key) {
                    c.sess.use_master = on;
                }
                self.reply_ok(key);
            }
            Action::Begin(sql) => self.begin_txn(key, sql),
            Action::EndTxn => self.end_txn(key, plan.payload),
            Action::Forward {
                targets,
                gather,
                effects,
            } => {
                let expect = if plan.payload.first() == Some(&0x03) {
                    Some(Expect::ResultSets)
                } else {
                    None
                };
                let mut original = Some(plan.payload);
                let n = targets.len();
                let targets: Vec<Target> = targets
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let payload = match t.sql {
                            Some(sql) => {
                                let mut p = Vec::with_capacity(sql.len() + 1);
                                p.push(0x03);
                                p.extend_from_slice(&sql);
                                p
                            }
                            None if i + 1 == n => original.take().unwrap_or_default(),
                            None => original.clone().unwrap_or_default(),
                        };
                        Target {
                            group: t.group,
                            addr: t.addr,
                            payload,
                            bk: None,
                            done: false,
                        }
                    })
                    .collect();
                let merger = match &gather {
                    Gather::Merge(spec) => Some(Box::new(crate::merge::Merger::new(
                        (**spec).clone(),
                        targets.len(),
                        c.sess.caps,
                    ))),
                    _ => None,
                };
                let inflight = InFlight {
                    targets,
                    expect,
                    effects,
                    started: Instant::now(),
                    forwarded: false,
                    last_seq: 0,
                    status: 0,
                    error: None,
                    gather,
                    merger,
                    merge_seq: 1,
                    prepare_as: None,
                    binary_exec: false,
                    exec_body: None,
                    to_binary: None,
                    buffer: Vec::new(),
                    affected: 0,
                    insert_id: 0,
                    retries: 0,
                };
                self.start_statement(key, inflight);
            }
        }
    }

    /// BEGIN with sharding: the transaction opens lazily on each backend
    /// the session then uses (`send_target` replays the statement there).
    /// Backends already in a transaction get the BEGIN now (an implicit
    /// commit on each, as MySQL does).
    pub(super) fn begin_txn(&mut self, key: usize, sql: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        c.sess.pins.insert(PinReasons::TRANSACTION);
        if c.backends.is_empty() {
            c.sess.txn_begin = Some(sql);
            let p = ok_payload(
                c.sess.caps,
                0,
                0,
                StatusFlags::IN_TRANS.0 | StatusFlags::AUTOCOMMIT.0,
            );
            self.reply_local(key, &p);
            return;
        }
        c.sess.txn_begin = Some(sql.clone());
        let mut payload = vec![0x03];
        payload.extend_from_slice(&sql);
        self.run_on_attached(key, payload, Effects::default());
    }

    /// COMMIT / ROLLBACK with sharding: on every backend the session holds.
    pub(super) fn end_txn(&mut self, key: usize, payload: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        if c.backends.is_empty() {
            c.sess.txn_begin = None;
            c.sess.pins.remove(PinReasons::TRANSACTION);
            let status = session_status(c);
            let p = ok_payload(c.sess.caps, 0, 0, status);
            self.reply_local(key, &p);
            return;
        }
        let effects = Effects {
            end_txn: true,
            ..Effects::default()
        };
        self.run_on_attached(key, payload, effects);
    }

    /// Runs one statement on every node the session holds a connection to.
    fn run_on_attached(&mut self, key: usize, payload: Vec<u8>, effects: Effects) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let mut addrs: Vec<SocketAddr> = c.backends.iter().map(|(a, _)| *a).collect();
        addrs.sort();
        addrs.dedup();
        let targets: Vec<Target> = addrs
            .into_iter()
            .map(|addr| Target {
                group: addr.to_string(),
                addr,
                payload: payload.clone(),
                bk: None,
                done: false,
            })
            .collect();
        let gather = if targets.len() == 1 {
            Gather::Relay
        } else {
            Gather::SameOk
        };
        let mut inflight = InFlight::single(
            String::new(),
            c.peer,
            Vec::new(),
            Some(Expect::ResultSets),
            effects,
        );
        inflight.targets = targets;
        inflight.gather = gather;
        self.start_statement(key, inflight);
    }

    /// LOAD DATA LOCAL: file packets from the client go to the backend
    /// unchanged; the empty packet ends the file.
    fn on_infile_packet(&mut self, key: usize, seq: u8, _last_seq: u8, payload: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let Some(bk) = c
            .inflight
            .as_ref()
            .and_then(|i| i.targets.first())
            .and_then(|t| t.bk)
        else {
            self.close(key, "LOCAL INFILE data without a backend");
            return;
        };
        let done = payload.is_empty();
        let mut out = Vec::with_capacity(payload.len() + 8);
        let mut s = seq;
        write_packet(&mut out, &mut s, &payload);
        if done {
            c.phase = Phase::Relaying;
        }
        c.decoder.expect_seq(s);
        self.backend_write_raw(bk, &out, done);
    }

    /// Finishes a statement on the client side: applies its effects when it
    /// succeeded, updates pins, and gives the backend back when unpinned.
    pub(super) fn finish_statement(
        &mut self,
        key: usize,
        status: u16,
        error: bool,
        affected: u64,
        insert_id: u64,
    ) {
        let slow = self.shared.topology().server.slow_query;
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let Some(inflight) = c.inflight.take() else {
            return;
        };
        let elapsed = inflight.started.elapsed();
        self.shared
            .metrics
            .statement(inflight.effects.kind, elapsed, error);
        if elapsed >= slow {
            self.shared
                .stats
                .slow_queries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let sql = String::from_utf8_lossy(inflight.first_sql());
            let sql: String = sql.chars().take(1024).collect();
            log::warn!(
                "CONN slow statement: {:.3}s user '{}' schema '{}' target {} ({}) conn {}: {sql}",
                elapsed.as_secs_f64(),
                c.sess.user,
                c.sess.state.schema.as_deref().unwrap_or(""),
                inflight.groups(),
                inflight.addrs(),
                c.sess.conn_id
            );
        }
        if error {
            self.shared
                .stats
                .errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        c.sess.pins.remove(PinReasons::ONE_STATEMENT);
        let fx = &inflight.effects;
        if !error {
            if let Some(s) = &fx.use_schema {
                c.sess.state.schema = Some(s.clone());
            }
            for a in &fx.set_vars {
                c.sess.state.set_var(a.clone());
            }
            c.sess.pins.insert(fx.pin);
            c.sess.pins.remove(fx.unpin);
            if fx.pin.contains(PinReasons::PREPARED) {
                c.open_statements += 1;
                if let Some(t) = inflight.targets.first() {
                    c.stmt_target = Some((t.group.clone(), t.addr));
                }
            }
            if fx.reset_backend {
                c.sess.state.vars.clear();
            }
            if insert_id != 0 {
                c.sess.last_insert_id = insert_id;
            }
            if fx.end_txn {
                c.sess.txn_begin = None;
            }
            if fx.write || fx.end_txn {
                c.sess.last_write = Some(Instant::now());
            }
            let _ = affected;
        } else if fx.pin.contains(PinReasons::PREPARED) && c.open_statements > 0 {
            // a failed prepare keeps the earlier statements pinned
        }
        let _ = status;
        c.phase = Phase::Idle;
        // The backends carry what the statement changed; transaction and
        // autocommit state are what the servers report, over every backend
        // the session holds.
        let schema = c.sess.state.schema.clone();
        let attached: Vec<usize> = c.backends.iter().map(|(_, bk)| *bk).collect();
        let ran_on: Vec<usize> = inflight.targets.iter().filter_map(|t| t.bk).collect();
        let (mut in_txn, mut autocommit_off) = (false, false);
        for bk in attached {
            if let Some(Conn::Backend(b)) = self.conns.get_mut(bk) {
                if !error && ran_on.contains(&bk) {
                    b.state.schema = schema.clone();
                    if fx.reset_backend {
                        b.state.vars.clear();
                    }
                    for a in &fx.set_vars {
                        b.state.set_var(a.clone());
                    }
                }
                in_txn |= b.status & StatusFlags::IN_TRANS.0 != 0;
                autocommit_off |= b.status & StatusFlags::AUTOCOMMIT.0 == 0;
            }
        }
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        // A lazily opened transaction is open even before it touched a backend.
        let in_txn = in_txn || c.sess.txn_begin.is_some();
        if in_txn {
            c.sess.pins.insert(PinReasons::TRANSACTION);
        } else {
            c.sess.pins.remove(PinReasons::TRANSACTION);
        }
        if autocommit_off {
            c.sess.pins.insert(PinReasons::AUTOCOMMIT_OFF);
        } else {
            c.sess.pins.remove(PinReasons::AUTOCOMMIT_OFF);
        }
        self.maybe_release_after_statement(key);
        self.rerun.push(key);
    }

    /// Gives the session's backend connection back if nothing pins it.
    pub(super) fn maybe_release_after_statement(&mut self, key: usize) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        if c.sess.is_pinned() || c.open_statements > 0 {
            return;
        }
        if c.backends.is_empty() {
            return;
        }
        let attached = std::mem::take(&mut c.backends);
        if let Some(e) = self.shared.sessions.lock().get_mut(&c.sess.conn_id) {
            e.backend = None;
        }
        for (_, bk) in attached {
            self.release_backend(bk);
        }
    }

    /// The backend connection of a client's statement died.
    pub(super) fn backend_lost(&mut self, key: usize, b: &super::backend::Backend, why: &str) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        c.detach(b.key_in_slab);
        // A read whose replica could not even be connected to (nothing was
        // sent) moves to another node instead of failing; so does a plain
        // read on one replica that died before any of its reply reached the
        // client (a pooled connection to a server just killed).
        let unanswered_read = c.phase == Phase::Relaying
            && c.inflight.as_ref().is_some_and(|i| {
                i.targets.len() == 1
                    && !i.forwarded
                    && matches!(i.gather, crate::route::Gather::Relay)
                    && i.to_binary.is_none()
                    && i.effects.replica_ok
            });
        if unanswered_read {
            c.phase = Phase::AwaitBackend;
        }
        if c.phase == Phase::AwaitBackend && (b.is_logging_in() || unanswered_read) {
            let idx = c.inflight.as_ref().and_then(|i| {
                i.targets
                    .iter()
                    .position(|t| t.bk == Some(b.key_in_slab) && !t.done)
            });
            if let Some(idx) = idx {
                if self.reroute_read(key, idx, b.addr, why) {
                    return;
                }
            }
        }
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        if unanswered_read {
            c.phase = Phase::Relaying;
        }
        let in_txn = c.sess.is_pinned();
        c.sess.pins = PinReasons::default();
        c.open_statements = 0;
        match c.inflight.take() {
            Some(inf)
                if matches!(
                    c.phase,
                    Phase::Relaying | Phase::AwaitBackend | Phase::Infile
                ) =>
            {
                let (group, addr) = match inf
                    .targets
                    .iter()
                    .find(|t| t.bk == Some(b.key_in_slab) || t.addr == b.addr)
                {
                    Some(t) => (t.group.clone(), t.addr.to_string()),
                    None => (inf.groups(), inf.addrs()),
                };
                log::warn!(
                    "CONN [{} {}] backend {group} ({addr}) lost during a statement: {why}",
                    c.sess.conn_id,
                    c.peer,
                );
                self.shared
                    .stats
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (code, msg) = if c.phase == Phase::AwaitBackend {
                    (
                        ec::CR_CONN_HOST_ERROR,
                        format!("shardgate: cannot connect to group '{group}' node {addr}: {why}"),
                    )
                } else {
                    (
                        ec::CR_SERVER_LOST,
                        format!("Lost connection to backend server during query (group '{group}', {addr})"),
                    )
                };
                // The other targets of this statement are abandoned with it.
                let others: Vec<usize> = inf
                    .targets
                    .iter()
                    .filter_map(|t| t.bk)
                    .filter(|&k| k != b.key_in_slab)
                    .collect();
                let safe_mid_rows = b.in_rows() && inf.targets.len() == 1;
                if !inf.forwarded || safe_mid_rows {
                    let seq = if inf.forwarded {
                        inf.last_seq.wrapping_add(1)
                    } else {
                        1
                    };
                    queue_packet(c, &mut self.pool, seq, &err_payload(code, &msg));
                    // A transaction (or other pinned state) is gone with the
                    // backend: end the session so the client cannot go on as
                    // if it were still open.
                    c.phase = if in_txn { Phase::Closing } else { Phase::Idle };
                } else {
                    c.phase = Phase::Closing;
                }
                self.rerun.push(key);
                for bk in others {
                    self.close(bk, "another backend of its statement was lost");
                }
            }
            Some(inf) => c.inflight = Some(inf),
            None => {
                if in_txn {
                    // The pinned state is gone; the session cannot continue
                    // correctly. Tell the client on its next statement by
                    // closing now.
                    c.phase = Phase::Closing;
                    self.rerun.push(key);
                }
            }
        }
    }

    /// KILL [QUERY] from this session: the target session's own I/O
    /// thread decides what to interrupt (see `kill_request`).
    fn start_kill(&mut self, key: usize, id: u32, query_only: bool) {
        let entry = self.shared.sessions.lock().get(&id).cloned();
        let Some(entry) = entry else {
            self.reply_err(
                key,
                ec::ER_NO_SUCH_THREAD,
                &format!("Unknown thread id: {id}"),
            );
            return;
        };
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        c.phase = Phase::AwaitPlan;
        let requester = KillRequester {
            io: self.idx,
            token: key,
            conn_id: c.sess.conn_id,
        };
        self.shared.send_to_io(
            entry.io,
            Inbound::Kill {
                token: entry.token,
                conn_id: id,
                query_only,
                requester,
            },
        );
    }

    /// A KILL aimed at a session of this thread. A statement running on a
    /// backend is cancelled there with KILL QUERY on a separate connection;
    /// one still waiting for a plan or a backend connection is answered
    /// with ERR 1317 here. KILL CONNECTION then closes the session.
    pub(super) fn kill_request(
        &mut self,
        token: usize,
        conn_id: u32,
        query_only: bool,
        req: KillRequester,
    ) {
        let target = match self.conns.get_mut(token) {
            Some(Conn::Client(c)) if c.sess.conn_id == conn_id => c,
            _ => {
                let error = Some(format!("Unknown thread id: {conn_id}"));
                self.shared.send_to_io(
                    req.io,
                    Inbound::KillDone {
                        token: req.token,
                        conn_id: req.conn_id,
                        error,
                    },
                );
                return;
            }
        };
        let first_bk = target
            .inflight
            .as_ref()
            .and_then(|i| i.targets.first())
            .and_then(|t| t.bk);
        let running_on = match (target.phase, first_bk) {
            (Phase::Relaying | Phase::Infile, Some(bk)) => match self.conns.get(bk) {
                Some(Conn::Backend(b)) if b.thread_id != 0 => Some((b.addr, b.thread_id)),
                _ => None,
            },
            _ => None,
        };
        let Some(Conn::Client(target)) = self.conns.get_mut(token) else {
            return;
        };
        if running_on.is_none() && matches!(target.phase, Phase::AwaitPlan | Phase::AwaitBackend) {
            target.gen = target.gen.wrapping_add(1); // a late plan is dropped
            target.inflight = None;
            self.reply_err(
                token,
                ec::ER_QUERY_INTERRUPTED,
                "Query execution was interrupted",
            );
        }
        let shared = self.shared.clone();
        let topo = self.shared.topology();
        let target_io = self.idx;
        let spawned = std::thread::Builder::new()
            .name("shardgate-kill".into())
            .spawn(move || {
                let mut error = None;
                if let Some((addr, tid)) = running_on {
                    let sql = format!("KILL QUERY {tid}");
                    if let Err(e) = crate::backend::blocking::run_once(addr, &topo.backend, &sql) {
                        error = Some(format!(
                            "shardgate: could not cancel the statement on {addr}: {e}"
                        ));
                    }
                }
                if !query_only {
                    shared.send_to_io(target_io, Inbound::KillSession { token, conn_id });
                }
                shared.send_to_io(
                    req.io,
                    Inbound::KillDone {
                        token: req.token,
                        conn_id: req.conn_id,
                        error,
                    },
                );
            });
        if spawned.is_err() {
            let error = Some("shardgate: cannot start a thread for KILL".to_string());
            self.shared.send_to_io(
                req.io,
                Inbound::KillDone {
                    token: req.token,
                    conn_id: req.conn_id,
                    error,
                },
            );
        }
    }

    pub(super) fn kill_done(&mut self, key: usize, conn_id: u32, error: Option<String>) {
        match self.conns.get(key) {
            Some(Conn::Client(c)) if c.sess.conn_id == conn_id && c.phase == Phase::AwaitPlan => {}
            _ => return,
        }
        match error {
            None => self.reply_ok(key),
            Some(msg) => self.reply_err(key, ec::ER_UNKNOWN_ERROR, &msg),
        }
    }

    pub(super) fn kill_session(&mut self, key: usize, conn_id: u32) {
        if let Some(Conn::Client(c)) = self.conns.get_mut(key) {
            if c.sess.conn_id == conn_id {
                self.close(key, "killed");
            }
        }
    }
}
