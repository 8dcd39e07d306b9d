//! The client side of a session: its state ([`Client`], the statement in
//! flight [`InFlight`]), the greeting, authentication against shardgate's
//! own users, reading and writing the client socket, and local replies.
//! What a command does is `reactor::command`; the end of a statement is
//! `reactor::finish`; KILL is `reactor::kill`.
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
use shardgate_proto::error_codes::{self as ec, ErrorCode};
use shardgate_proto::frame::{write_packet, PacketDecoder};
use shardgate_proto::handshake::{AuthSwitchRequest, HandshakeResponse41, HandshakeV10};

use super::buffer::{Buf, BufferPool};
use super::io_thread::{Conn, IoThread};
use super::relay::Expect;
use super::sock;
use super::SessionEntry;
use crate::route::{self, Effects, Gather};
use crate::session::auth::{self, AuthCheck};
use crate::session::{PinReasons, Session};

/// What shardgate tells clients it is: a MariaDB 10.11 (the backends'
/// dialect). The `5.5.5-` prefix is MariaDB's own: MySQL clients read the
/// version's first number, and one of 8 or more makes them assume MySQL 8
/// (MySQL Connector/Python then sends `SET NAMES ... COLLATE
/// utf8mb4_0900_ai_ci`, which MariaDB refuses); MariaDB clients find
/// "MariaDB" in it and skip the prefix.
pub const SERVER_VERSION: &str = concat!(
    "5.5.5-10.11.99-MariaDB-shardgate-",
    env!("CARGO_PKG_VERSION")
);
/// utf8mb4_general_ci: the collation announced in the greeting.
pub(super) const GREETING_COLLATION: u8 = 45;
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
    /// `LOAD DATA LOCAL` into a sharded table: the client's file is being
    /// collected by shardgate (`reactor::load_data`).
    InfileCollect,
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
    /// Its reply carried warnings or an error (`route::diagnostics`).
    pub diagnostics: bool,
    /// Gather::Rename: its (small, metadata) reply, buffered until complete.
    pub reply: Vec<u8>,
    /// `LOAD DATA LOCAL`: its part of the file (`reactor::load_data`).
    pub infile: Option<Vec<u8>>,
}

impl Target {
    /// A target not started yet.
    pub fn new(group: String, addr: SocketAddr, payload: Vec<u8>) -> Target {
        Target {
            group,
            addr,
            payload,
            bk: None,
            done: false,
            diagnostics: false,
            reply: Vec::new(),
            infile: None,
        }
    }
}

/// The merger of a statement gathered with `gather` from `targets`
/// backends (`None` unless it is a scatter-gather merge).
pub(super) fn merger_for(
    gather: &Gather,
    targets: usize,
    caps: Capabilities,
) -> Option<Box<crate::merge::Merger>> {
    match gather {
        Gather::Merge(spec) => Some(Box::new(crate::merge::Merger::new(
            (**spec).clone(),
            targets,
            caps,
        ))),
        _ => None,
    }
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
    /// The rows the targets' UPDATEs matched (for a LIMIT counted down,
    /// `route::LimitCountdown`; their affected rows when not reported).
    pub matched: u64,
    /// A target answered with a result set (`ROW_COUNT()` is then -1).
    pub result_set: bool,
    /// Warnings of the targets' OKs: summed (SumOk), or the most of one
    /// group's (SameOk: every group ran the same statement).
    pub warnings: u16,
    /// Rows of the targets' result sets (relayed).
    pub rows: u64,
    /// Info texts of the targets' OKs, combined (gathered writes).
    pub info: crate::merge::InfoSum,
    /// Reads moved to another node after a replica refused the connection.
    pub retries: u8,
    /// When `backend.query_timeout` cancelled it (`reactor::query_timeout`).
    pub cancelled_at: Option<Instant>,
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
        InFlight::new(
            vec![Target::new(group, addr, payload)],
            expect,
            effects,
            Gather::Relay,
            None,
        )
    }

    /// A statement on `targets`, gathered by `gather` (with `merger` for a
    /// merge), not started yet.
    pub fn new(
        targets: Vec<Target>,
        expect: Option<Expect>,
        effects: Effects,
        gather: Gather,
        merger: Option<Box<crate::merge::Merger>>,
    ) -> InFlight {
        InFlight {
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
            affected: 0,
            insert_id: 0,
            matched: 0,
            result_set: false,
            warnings: 0,
            info: crate::merge::InfoSum::default(),
            rows: 0,
            retries: 0,
            cancelled_at: None,
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
    /// A multi-shard write's own transaction (`reactor::implicit_txn`).
    pub implicit_txn: super::implicit_txn::ImplicitTxn,
    /// A split multi-statement query in progress (`reactor::multi`).
    pub multi: Option<Box<super::multi::MultiQuery>>,
    /// A `LOAD DATA LOCAL` file being collected (`reactor::load_data`).
    pub infile: Option<Box<super::load_data::InfileCollect>>,
    /// Sequence id of shardgate's own reply to the current command: 1,
    /// or after a LOCAL INFILE exchange the id after the client's last
    /// packet.
    pub reply_seq: u8,
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
            client_charset: self.sess.client_charset(),
            user_vars_by_query: self.sess.user_vars_by_query.clone(),
            row_count: self.sess.row_count,
            warnings_on: self.sess.warnings_on.clone(),
            diagnostics_count: self.sess.diagnostics_count,
            found_rows: self.sess.found_rows.clone(),
            infile: None,
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
    gathered_ok_payload(caps, affected, insert_id, status, 0, &[])
}

/// An OK carrying a warning count and an info text (a gathered write's,
/// combined over its targets).
pub(super) fn gathered_ok_payload(
    caps: Capabilities,
    affected: u64,
    insert_id: u64,
    status: u16,
    warnings: u16,
    info: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 + info.len());
    put_u8(&mut p, 0);
    put_lenenc_int(&mut p, affected);
    put_lenenc_int(&mut p, insert_id);
    if caps.contains(Capabilities::PROTOCOL_41) {
        put_u16(&mut p, status);
        put_u16(&mut p, warnings);
    }
    if !info.is_empty() {
        // Length-encoded, as MariaDB sends it with or without
        // CLIENT_SESSION_TRACK.
        shardgate_proto::codec::put_lenenc_bytes(&mut p, info);
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
            implicit_txn: Default::default(),
            multi: None,
            infile: None,
            reply_seq: 1,
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
            // 1. Write what is queued (of a split multi-statement query's
            // replies, what is chained already).
            if c.phase == Phase::Closing {
                c.multi = None;
            }
            if c.writable && sock::pending(&c.wbuf) > 0 {
                let limit = match (c.multi.as_mut(), c.wbuf.as_mut()) {
                    (Some(m), Some(out)) => match m.writable_prefix(out.data_mut()) {
                        Some(n) => n,
                        None => {
                            c.multi = None;
                            usize::MAX
                        }
                    },
                    _ => usize::MAX,
                };
                match sock::flush_upto(&mut c.sock, &mut c.wbuf, &mut self.pool, limit) {
                    Ok((written, blocked)) => {
                        if let Some(m) = c.multi.as_mut() {
                            m.written(written);
                        }
                        if blocked {
                            c.writable = false;
                        }
                    }
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
                Phase::Greeting
                    | Phase::AuthSwitch
                    | Phase::Idle
                    | Phase::Infile
                    | Phase::InfileCollect
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
            // A split multi-statement query goes on before the next command.
            if self.multi_next(key) {
                continue;
            }
            // 3. Act on one complete packet, if any.
            let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
                return;
            };
            if !matches!(
                c.phase,
                Phase::Greeting
                    | Phase::AuthSwitch
                    | Phase::Idle
                    | Phase::Infile
                    | Phase::InfileCollect
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
                Phase::InfileCollect => self.on_infile_collect(key, seq, payload),
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
    pub(super) fn finish_auth_step(&mut self, key: usize, check: AuthCheck, seq: u8) {
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
        let seq = std::mem::replace(&mut c.reply_seq, 1);
        if !queue_packet(c, &mut self.pool, seq, payload) {
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

    pub(super) fn reply_ok(&mut self, key: usize) {
        let Some(Conn::Client(c)) = self.conns.get(key) else {
            return;
        };
        let status = session_status(c);
        let p = ok_payload(c.sess.caps, 0, 0, status);
        self.reply_local(key, &p);
    }
}

/// What `ROW_COUNT()` answers after `reply` (an OK or ERR payload): the
/// OK's affected rows, or -1 (`route::row_count`).
pub(super) fn row_count_of_reply(reply: &[u8]) -> i64 {
    match reply.split_first() {
        Some((0x00, rest)) => shardgate_proto::codec::Reader::new(rest)
            .lenenc_int("affected rows")
            .ok()
            .and_then(|n| i64::try_from(n).ok())
            .unwrap_or(-1),
        _ => -1,
    }
}

/// Status flags to report for a session between statements.
pub(super) fn session_status(c: &Client) -> u16 {
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
