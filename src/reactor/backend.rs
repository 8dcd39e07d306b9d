//! The backend side: connecting to a node and logging in with the
//! `[backend]` account (native or caching_sha2 password, auth switch),
//! per-node pools of idle connections keyed by protocol flavour, syncing a
//! session's state onto a borrowed connection (pipelined COM_INIT_DB + SET
//! before the statement), and relaying the reply to the client with
//! high/low watermarks.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use shardgate_proto::auth as pauth;
use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::codec::Reader;
use shardgate_proto::frame::{for_each_packet, write_packet, FrameHeader, PacketDecoder};
use shardgate_proto::handshake::{AuthPhasePacket, HandshakeResponse41, HandshakeV10};

use super::buffer::{Buf, BufferPool};
use super::client::{InFlight, Phase as ClientPhase};
use super::io_thread::{Conn, IoThread, PoolKey};
use super::relay::{Expect, ReplyTracker};
use super::sock;
use crate::route::Gather;
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

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    let mut s = seq;
    write_packet(&mut out, &mut s, payload);
    out
}

impl IoThread {
    /// Starts a client's statement: every target gets a backend connection
    /// (one the session holds on that node, an idle pooled one, a new one,
    /// or a place in the node's waiting queue) and then its command.
    pub(super) fn start_statement(&mut self, ck: usize, inflight: InFlight) {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return;
        };
        let n = inflight.targets.len();
        c.inflight = Some(inflight);
        c.phase = ClientPhase::AwaitBackend;
        if let Err(msg) = self.choose_nodes(ck) {
            self.statement_refused(ck, &msg);
            return;
        }
        for idx in 0..n {
            self.acquire(ck, idx);
            match self.conns.get(ck) {
                Some(Conn::Client(c)) if c.inflight.is_some() => {}
                _ => return, // the statement already failed
            }
        }
    }

    /// Read/write split: each target's node (a replica for a plain read,
    /// else the master; `reactor::balance`).
    fn choose_nodes(&mut self, ck: usize) -> Result<(), String> {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return Ok(());
        };
        let Some(inf) = c.inflight.as_mut() else {
            return Ok(());
        };
        let topo = self.shared.topology();
        let recent_write = c
            .sess
            .last_write
            .is_some_and(|t| t.elapsed() < topo.server.read_your_writes);
        let read = inf.effects.replica_ok
            && !c.sess.is_pinned()
            && c.open_statements == 0
            && c.sess.txn_begin.is_none()
            && !c.sess.use_master
            && !recent_write;
        for t in &mut inf.targets {
            t.addr = self.balancer.choose(
                &topo,
                &self.shared.health,
                &self.shared.metrics,
                &t.group,
                t.addr,
                read,
                None,
            )?;
        }
        Ok(())
    }

    /// Moves target `idx` of a plain read away from `failed` (a replica
    /// that refused the connection) to another readable node. Returns false
    /// when it cannot (not a replica read, retried enough, no other node).
    pub(super) fn reroute_read(
        &mut self,
        ck: usize,
        idx: usize,
        failed: SocketAddr,
        why: &str,
    ) -> bool {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return false;
        };
        let pinned = c.sess.is_pinned() || c.open_statements > 0;
        let Some(inf) = c.inflight.as_mut() else {
            return false;
        };
        if !inf.effects.replica_ok || inf.forwarded || inf.retries >= 2 || pinned {
            return false;
        }
        let Some(t) = inf.targets.get_mut(idx) else {
            return false;
        };
        let topo = self.shared.topology();
        let Some(g) = topo.group(&t.group) else {
            return false;
        };
        if g.master.socket == Some(failed) {
            return false;
        }
        let master = g.master.socket.unwrap_or(failed);
        let next = self.balancer.choose(
            &topo,
            &self.shared.health,
            &self.shared.metrics,
            &t.group,
            master,
            true,
            Some(failed),
        );
        match next {
            Ok(a) if a != failed => {
                log::debug!("BACKEND [{failed}] refused a read ({why}); retrying it on {a}");
                t.addr = a;
                t.bk = None;
                inf.retries += 1;
                self.acquire(ck, idx);
                true
            }
            _ => false,
        }
    }

    /// The statement cannot start (no node can take it): the client gets
    /// ERR 2003 with `msg`, nothing is sent anywhere.
    fn statement_refused(&mut self, ck: usize, msg: &str) {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return;
        };
        let Some(inf) = c.inflight.as_mut() else {
            return;
        };
        let err = super::client::err_payload(shardgate_proto::error_codes::CR_CONN_HOST_ERROR, msg);
        for t in &mut inf.targets {
            t.done = true;
        }
        if inf.error.is_none() {
            inf.error = Some(err);
        }
        self.maybe_complete(ck);
    }

    /// Finds a backend connection for target `idx` of the client's statement.
    fn acquire(&mut self, ck: usize, idx: usize) {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return;
        };
        let Some(t) = c.inflight.as_ref().and_then(|i| i.targets.get(idx)) else {
            return;
        };
        let addr = t.addr;
        let key: PoolKey = (addr, c.flavor());
        let pinned = c.sess.is_pinned() || c.open_statements > 0;
        // A pinned session runs everything for a node on the connection it
        // holds there (its transaction lives on it); an unpinned one reuses
        // an attached connection only when this statement does not use it yet.
        let in_use: Vec<usize> = c
            .inflight
            .as_ref()
            .map(|i| i.targets.iter().filter_map(|t| t.bk).collect())
            .unwrap_or_default();
        let reuse = c
            .backends
            .iter()
            .find(|(a, bk)| *a == addr && (pinned || !in_use.contains(bk)))
            .map(|(_, bk)| *bk);
        if let Some(bk) = reuse {
            self.assign(ck, idx, bk);
            return;
        }
        let schema = c.sess.state.schema.clone();
        if let Some(bk) = self.take_idle(key, schema.as_deref()) {
            self.attach(ck, bk);
            self.assign(ck, idx, bk);
            return;
        }
        let topo = self.shared.topology();
        let per_thread_limit = topo
            .backend
            .max_connections_per_node
            .div_ceil(self.shared.io.read().len().max(1))
            .max(1);
        let mut open = self.open_per_node.get(&key.0).copied().unwrap_or(0);
        if open >= per_thread_limit && schema.is_none() {
            // Only idle connections with a schema are left: trade one for a
            // fresh connection without one rather than wait.
            let conns = &self.conns;
            let victim = self.idle.get_mut(&key).and_then(|list| {
                list.retain(|&bk| matches!(conns.get(bk), Some(Conn::Backend(b)) if b.is_idle()));
                list.pop()
            });
            if let Some(victim) = victim {
                self.close(victim, "replaced by a connection without a schema");
                open = self.open_per_node.get(&key.0).copied().unwrap_or(0);
            }
        }
        if open >= per_thread_limit {
            self.waiting.entry(key).or_default().push_back((ck, idx));
            return;
        }
        if let Some(b) = self.backoff.get(&key.0) {
            if Instant::now() < b.until {
                let error = b.error.clone();
                self.target_unreachable(ck, idx, &error);
                return;
            }
        }
        match self.open_backend(key) {
            Ok(bk) => {
                self.attach(ck, bk);
                self.assign(ck, idx, bk);
            }
            Err(e) => {
                self.shared
                    .stats
                    .backend_connect_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.target_unreachable(ck, idx, &e.to_string());
            }
        }
    }

    /// Target `idx` cannot get a connection: the statement fails with ERR
    /// 2003 naming the group (at once if nothing was sent yet, otherwise
    /// once the other targets have answered).
    fn target_unreachable(&mut self, ck: usize, idx: usize, why: &str) {
        let failed = match self.conns.get(ck) {
            Some(Conn::Client(c)) => c
                .inflight
                .as_ref()
                .and_then(|i| i.targets.get(idx))
                .map(|t| t.addr),
            _ => None,
        };
        if let Some(failed) = failed {
            if self.reroute_read(ck, idx, failed, why) {
                return;
            }
        }
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return;
        };
        let Some(inf) = c.inflight.as_mut() else {
            return;
        };
        let Some(t) = inf.targets.get_mut(idx) else {
            return;
        };
        let msg = format!(
            "shardgate: cannot connect to group '{}' node {}: {why}",
            t.group, t.addr
        );
        let err =
            super::client::err_payload(shardgate_proto::error_codes::CR_CONN_HOST_ERROR, &msg);
        t.done = true;
        if inf.error.is_none() {
            inf.error = Some(err);
        }
        self.maybe_complete(ck);
    }

    /// Runs target `idx` on `bk` now, or after what `bk` is doing for this
    /// client (a pinned session's node, or a connection still logging in).
    fn assign(&mut self, ck: usize, idx: usize, bk: usize) {
        let Some((Conn::Client(c), Conn::Backend(b))) = self.conns.get2_mut(ck, bk) else {
            return;
        };
        let Some(t) = c.inflight.as_mut().and_then(|i| i.targets.get_mut(idx)) else {
            return;
        };
        t.bk = Some(bk);
        if b.phase == Phase::Ready && b.target.is_none() {
            self.send_target(ck, bk, idx);
        } else {
            b.queue.push_back(idx);
        }
    }

    fn attach(&mut self, ck: usize, bk: usize) {
        let (addr, tid) = match self.conns.get_mut(bk) {
            Some(Conn::Backend(b)) => {
                b.client = Some(ck);
                (b.addr, b.thread_id)
            }
            _ => return,
        };
        if let Some(Conn::Client(c)) = self.conns.get_mut(ck) {
            if !c.backends.iter().any(|(_, k)| *k == bk) {
                c.backends.push((addr, bk));
            }
            if let Some(e) = self.shared.sessions.lock().get_mut(&c.sess.conn_id) {
                e.backend = Some((addr, tid));
            }
        }
    }

    /// An idle connection for a session whose current schema is `schema`:
    /// one already in that schema if any (most recently used first), else
    /// any (COM_INIT_DB will switch it). A session without a schema only
    /// takes a connection without one: no command can unselect a database.
    fn take_idle(&mut self, key: PoolKey, schema: Option<&str>) -> Option<usize> {
        let conns = &self.conns;
        let list = self.idle.get_mut(&key)?;
        list.retain(|&bk| matches!(conns.get(bk), Some(Conn::Backend(b)) if b.is_idle()));
        let schema_of = |bk: usize| match conns.get(bk) {
            Some(Conn::Backend(b)) => b.state.schema.as_deref(),
            _ => None,
        };
        let pos = list
            .iter()
            .rposition(|&bk| schema_of(bk) == schema)
            .or_else(|| {
                if schema.is_some() {
                    list.len().checked_sub(1)
                } else {
                    None
                }
            })?;
        Some(list.remove(pos))
    }

    /// Can a connection in schema `conn_schema` serve the client `ck`?
    fn fits(&self, ck: usize, conn_schema: Option<&str>) -> bool {
        match self.conns.get(ck) {
            Some(Conn::Client(c)) => c.sess.state.schema.is_some() || conn_schema.is_none(),
            _ => false,
        }
    }

    /// Returns a backend connection to its idle pool (or hands it to a
    /// client waiting for one).
    pub(super) fn release_backend(&mut self, bk: usize) {
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return;
        };
        b.client = None;
        b.queue.clear();
        if b.phase != Phase::Ready || b.target.is_some() {
            // Mid-reply or mid-login: not reusable.
            self.close(bk, "released while busy");
            return;
        }
        b.last_used = Instant::now();
        let key = b.pool_key;
        let conn_schema = b.state.schema.clone();
        if self.shared.is_shutting_down() {
            self.close(bk, "shutdown");
            return;
        }
        if let Some((ck, idx)) = self.next_waiting(key) {
            if self.fits(ck, conn_schema.as_deref()) {
                self.attach(ck, bk);
                self.assign(ck, idx, bk);
            } else {
                // The waiting session has no schema and this connection has
                // one: trade it for a fresh connection.
                self.waiting.entry(key).or_default().push_front((ck, idx));
                self.close(bk, "replaced by a connection without a schema");
            }
            return;
        }
        self.idle.entry(key).or_default().push(bk);
    }

    /// The next client still waiting for a connection of `key`.
    fn next_waiting(&mut self, key: PoolKey) -> Option<(usize, usize)> {
        let q = self.waiting.get_mut(&key)?;
        while let Some((ck, idx)) = q.pop_front() {
            let live = matches!(self.conns.get(ck), Some(Conn::Client(c))
                if c.inflight.as_ref().and_then(|i| i.targets.get(idx)).is_some_and(|t| t.bk.is_none() && !t.done));
            if live {
                return Some((ck, idx));
            }
        }
        None
    }

    /// A connection slot freed: let a waiting client open one.
    pub(super) fn serve_waiting(&mut self, key: PoolKey) {
        if let Some((ck, idx)) = self.next_waiting(key) {
            self.acquire(ck, idx);
        }
    }

    pub(super) fn open_backend(&mut self, key: PoolKey) -> std::io::Result<usize> {
        let topo = self.shared.topology();
        let mut sock = TcpStream::connect(key.0)?;
        let _ = sock.set_nodelay(true);
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

    /// Writes the sync statements and target `idx`'s command to `bk`.
    fn send_target(&mut self, ck: usize, bk: usize, idx: usize) {
        let Some((Conn::Client(c), Conn::Backend(b))) = self.conns.get2_mut(ck, bk) else {
            return;
        };
        let Some(inf) = c.inflight.as_mut() else {
            return;
        };
        let Some(t) = inf.targets.get(idx) else {
            return;
        };
        let deprecate_eof = c.sess.caps.contains(Capabilities::DEPRECATE_EOF);
        let mut out = Vec::with_capacity(t.payload.len() + 64);
        b.sync.clear();
        b.sync_failed = None;
        if c.sess.state.schema != b.state.schema {
            if let Some(schema) = &c.sess.state.schema {
                let mut p = vec![0x02];
                p.extend_from_slice(schema.as_bytes());
                out.extend_from_slice(&packet(0, &p));
                b.sync
                    .push(ReplyTracker::new(Expect::OkOrErr, deprecate_eof));
                b.state.schema = Some(schema.clone());
            }
        }
        let mut set = b.state.set_statement_towards(&c.sess.state, b.collation);
        if inf.effects.needs_last_insert_id && c.sess.last_insert_id != 0 {
            // LAST_INSERT_ID() is per connection: carry the session's value.
            let assign = format!("@@session.last_insert_id = {}", c.sess.last_insert_id);
            set = Some(match set {
                Some(s) => format!("{s}, {assign}"),
                None => format!("SET {assign}"),
            });
        }
        if let Some(set) = set {
            // Statements prepared under other session variables may parse
            // or compare differently: close them before the change.
            for id in b.stmts.clear() {
                let mut p = vec![0x19];
                p.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&packet(0, &p));
            }
            let mut p = vec![0x03];
            p.extend_from_slice(set.as_bytes());
            out.extend_from_slice(&packet(0, &p));
            b.sync
                .push(ReplyTracker::new(Expect::ResultSets, deprecate_eof));
            b.state.vars = c.sess.state.vars.clone();
        }
        // A transaction opened with BEGIN starts on this backend now.
        if let Some(begin) = &c.sess.txn_begin {
            if b.status & StatusFlags::IN_TRANS.0 == 0 && !inf.effects.end_txn {
                let mut p = vec![0x03];
                p.extend_from_slice(begin);
                out.extend_from_slice(&packet(0, &p));
                b.sync
                    .push(ReplyTracker::new(Expect::ResultSets, deprecate_eof));
                b.status |= StatusFlags::IN_TRANS.0;
            }
        }
        b.stmts.cancel();
        if let Some(body) = &inf.exec_body {
            // A cached server-side statement: EXECUTE it, preparing it first
            // (EXECUTE of "the last prepared statement", id -1, pipelined)
            // when this connection has not prepared it yet.
            let sql = t.payload.get(1..).unwrap_or_default();
            let id = match b.stmts.get(&b.state.schema, sql) {
                Some(id) => id,
                None => {
                    out.extend_from_slice(&packet(0, &t.payload));
                    b.sync
                        .push(ReplyTracker::new(Expect::StmtPrepare, deprecate_eof));
                    b.stmts.expect(b.state.schema.clone(), sql);
                    u32::MAX
                }
            };
            let mut p = Vec::with_capacity(body.len() + 5);
            p.push(0x17);
            p.extend_from_slice(&id.to_le_bytes());
            p.extend_from_slice(body);
            out.extend_from_slice(&packet(0, &p));
        } else if inf.binary_exec {
            // One-shot server-side statement: PREPARE, then EXECUTE "the last
            // prepared statement" (MariaDB's id -1) pipelined; CLOSE after.
            out.extend_from_slice(&packet(0, &t.payload));
            b.sync
                .push(ReplyTracker::new(Expect::StmtPrepare, deprecate_eof));
            out.extend_from_slice(&packet(
                0,
                &[0x17, 0xff, 0xff, 0xff, 0xff, 0x00, 1, 0, 0, 0],
            ));
        } else {
            out.extend_from_slice(&packet(0, &t.payload));
        }
        b.tracker = inf.expect.map(|e| ReplyTracker::new(e, deprecate_eof));
        b.target = b.tracker.as_ref().map(|_| idx);
        {
            use std::sync::atomic::Ordering::Relaxed;
            b.node_stats.queries.fetch_add(1, Relaxed);
            if b.tracker.is_some() && !b.busy_counted {
                b.node_stats.busy.fetch_add(1, Relaxed);
                b.busy_counted = true;
            }
        }
        b.phase = if b.tracker.is_some() {
            Phase::Busy
        } else {
            Phase::Ready
        };
        b.deadline = None;
        b.last_used = Instant::now();
        if !sock::append(&mut b.wbuf, &mut self.pool, &out) {
            self.close(bk, "buffer memory exhausted");
            return;
        }
        c.phase = if b.tracker.is_some() {
            ClientPhase::Relaying
        } else {
            ClientPhase::Idle
        };
        self.backend_ready(bk);
    }

    /// True when every unfinished target of `inf` has its command on its
    /// own backend connection (none queued behind another reply, none
    /// waiting for a connection).
    fn all_targets_running(&self, inf: &super::client::InFlight) -> bool {
        inf.targets.iter().enumerate().all(|(i, t)| {
            t.done
                || t.bk.is_some_and(
                    |k| matches!(self.conns.get(k), Some(Conn::Backend(b)) if b.target == Some(i)),
                )
        })
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
            if b.writable && sock::pending(&b.wbuf) > 0 {
                match sock::flush(&mut b.sock, &mut b.wbuf, &mut self.pool) {
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
    fn backend_login_step(&mut self, bk: usize) -> bool {
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
    fn backend_logged_in(&mut self, bk: usize) {
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

    /// Relays (or gathers) reply bytes. Returns whether it made progress.
    fn backend_relay(&mut self, bk: usize) -> bool {
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return false;
        };
        let Some(buf) = b.rbuf.as_mut() else {
            return false;
        };
        // 1. Swallow the replies of the state-sync statements.
        while let Some(t) = b.sync.first_mut() {
            let adv = match t.advance(buf.data()) {
                Ok(a) => a,
                Err(e) => {
                    self.close(bk, &format!("bad reply to a sync statement: {e}"));
                    return false;
                }
            };
            let data = buf.data();
            if adv.done && t.outcome().error && b.sync_failed.is_none() {
                // Keep the ERR packet to show the client.
                let err = last_packet_payload(&data[..adv.consumed]);
                b.sync_failed = Some(err);
            }
            if adv.done {
                match t.outcome().prepared {
                    Some((id, _, _)) if b.stmts.is_pending() => {
                        // Kept for the next executions; the least recently
                        // used one goes when the cache is full.
                        let cap = self.shared.topology().backend.prepared_cache_per_connection;
                        if let Some(old) = b.stmts.prepared(id, cap) {
                            let mut p = vec![0x19];
                            p.extend_from_slice(&old.to_le_bytes());
                            if !sock::append(&mut b.wbuf, &mut self.pool, &packet(0, &p)) {
                                self.close(bk, "buffer memory exhausted");
                                return false;
                            }
                            self.rerun.push(bk);
                        }
                    }
                    // A one-shot statement: close it after its execution.
                    Some((id, _, _)) => b.close_stmt = Some(id),
                    None => b.stmts.cancel(),
                }
            }
            buf.consume(adv.consumed);
            if !adv.done {
                return adv.consumed > 0;
            }
            b.sync.remove(0);
        }
        let Some(t) = b.tracker.as_mut() else {
            return false;
        };
        let adv = match t.advance(buf.data()) {
            Ok(a) => a,
            Err(e) => {
                self.close(bk, &format!("bad reply packet: {e}"));
                return false;
            }
        };
        if adv.consumed == 0 && !adv.done && !adv.local_infile {
            return false;
        }
        let outcome = t.outcome();
        let ck = b.client;
        let (relay, merge, prepare_as) =
            match ck.and_then(|ck| self.conns.get(ck)).and_then(|c| match c {
                Conn::Client(c) => c.inflight.as_ref(),
                _ => None,
            }) {
                Some(i) => (
                    matches!(i.gather, Gather::Relay),
                    i.merger.is_some(),
                    i.prepare_as,
                ),
                None => (false, false, None),
            };
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return false;
        };
        // 2. Relay: copy the frames straight from the backend's buffer to the
        // client's (unless swallowing after a failed sync). Gather: keep the
        // ERR packet, if the reply is one.
        let forward = relay && b.sync_failed.is_none() && adv.consumed > 0;
        if !relay && adv.done && outcome.error {
            if let Some(buf) = b.rbuf.as_ref() {
                b.reply_err = Some(last_packet_payload(&buf.data()[..adv.consumed]));
            }
        }
        let mut relayed: Option<Option<u8>> = None;
        if let (true, Some(ck)) = (forward, ck) {
            if let Some((Conn::Backend(b), Conn::Client(c))) = self.conns.get2_mut(bk, ck) {
                if let Some(buf) = b.rbuf.as_mut() {
                    // A sharded COM_STMT_PREPARE: the client sees shardgate's id.
                    if let Some(id) = c
                        .inflight
                        .as_ref()
                        .filter(|i| !i.forwarded)
                        .and_then(|i| i.prepare_as)
                    {
                        let data = buf.data_mut();
                        if data.len() >= 9 && data[4] == 0x00 {
                            data[5..9].copy_from_slice(&id.to_le_bytes());
                        }
                    }
                    let frames = &buf.data()[..adv.consumed];
                    let seq = last_seq(frames);
                    let converted = match c.inflight.as_mut().and_then(|i| i.to_binary.as_mut()) {
                        Some(conv) => {
                            // Text rows to binary rows, packet by packet.
                            let mut out = Vec::with_capacity(frames.len());
                            let mut next_seq = FrameHeader::parse(frames).map_or(1, |h| h.seq);
                            let mut bad = None;
                            let mut p = Vec::new();
                            for_each_packet(frames, |payload| {
                                p.clear();
                                if let Err(e) = conv.packet(payload, &mut p) {
                                    bad.get_or_insert(e);
                                }
                                write_packet(&mut out, &mut next_seq, &p);
                            });
                            if let Some(e) = bad {
                                self.close(
                                    bk,
                                    &format!("bad text result for a prepared statement: {e}"),
                                );
                                return false;
                            }
                            Some(out)
                        }
                        None => None,
                    };
                    let bytes = converted.as_deref().unwrap_or(frames);
                    if !sock::append(&mut c.wbuf, &mut self.pool, bytes) {
                        self.close(ck, "buffer memory exhausted");
                        return false;
                    }
                    relayed = Some(seq);
                }
            }
        }
        // Rename: the (small) metadata result is buffered, rewritten at the end.
        if let (true, Some(ck)) = (adv.consumed > 0, ck) {
            if let Some((Conn::Backend(b), Conn::Client(c))) = self.conns.get2_mut(bk, ck) {
                if let (Some(buf), Some(inf)) = (b.rbuf.as_ref(), c.inflight.as_mut()) {
                    if matches!(inf.gather, Gather::Rename(_)) {
                        inf.buffer.extend_from_slice(&buf.data()[..adv.consumed]);
                    }
                }
            }
        }
        // Merge: every packet goes to the merger, which writes the client's
        // result set as it can.
        if let (true, Some(ck)) = (merge && adv.consumed > 0, ck) {
            if let Some((Conn::Backend(b), Conn::Client(c))) = self.conns.get2_mut(bk, ck) {
                let shard = b.target.unwrap_or(0);
                let (Some(buf), Some(inf)) = (b.rbuf.as_ref(), c.inflight.as_mut()) else {
                    return false;
                };
                let Some(merger) = inf.merger.as_mut() else {
                    return false;
                };
                let frames = &buf.data()[..adv.consumed];
                let mut bad = None;
                for_each_packet(frames, |payload| {
                    if bad.is_none() {
                        if let Err(e) = merger.feed(shard, payload) {
                            bad = Some(e);
                        }
                    }
                });
                let mut out = Vec::new();
                merger.poll_output(&mut out, &mut inf.merge_seq);

                if !out.is_empty() {
                    inf.forwarded = true;
                    if !sock::append(&mut c.wbuf, &mut self.pool, &out) {
                        self.close(ck, "buffer memory exhausted");
                        return false;
                    }
                }
                // Other shards may be readable again now.
                let others: Vec<usize> = inf.targets.iter().filter_map(|t| t.bk).collect();
                self.rerun.extend(others);
                self.rerun.push(ck);
                if let Some(e) = bad {
                    self.close(bk, &format!("bad result packet: {e}"));
                    return false;
                }
            }
        }
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return false;
        };
        if let Some(buf) = b.rbuf.as_mut() {
            buf.consume(adv.consumed);
        }
        let mut target = None;
        if adv.done {
            if b.busy_counted {
                b.node_stats
                    .busy
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                b.busy_counted = false;
            }
            if outcome.error {
                b.node_stats
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            b.phase = Phase::Ready;
            b.tracker = None;
            b.deadline = None;
            b.last_used = Instant::now();
            b.status = outcome.status;
            target = b.target.take();
        }
        if adv.done {
            // Close the backend side of a one-shot or metadata statement.
            let close = b.close_stmt.take().or(outcome
                .prepared
                .filter(|_| !outcome.error)
                .map(|p| p.0)
                .filter(|_| prepare_as.is_some()));
            if let Some(id) = close {
                let mut p = vec![0x19];
                p.extend_from_slice(&id.to_le_bytes());
                let bytes = packet(0, &p);
                if !sock::append(&mut b.wbuf, &mut self.pool, &bytes) {
                    self.close(bk, "buffer memory exhausted");
                    return false;
                }
                self.rerun.push(bk);
            }
        }
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return false;
        };
        let sync_err = if adv.done { b.sync_failed.take() } else { None };
        let reply_err = if adv.done { b.reply_err.take() } else { None };
        let Some(ck) = ck else {
            // A ping with no client.
            if adv.done {
                if outcome.error {
                    self.close(bk, "ping failed");
                } else {
                    self.release_backend(bk);
                }
            }
            return true;
        };
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return true;
        };
        if let Some(seq) = relayed {
            if let Some(inf) = c.inflight.as_mut() {
                inf.forwarded = true;
                if let Some(seq) = seq {
                    inf.last_seq = seq;
                }
            }
            self.rerun.push(ck);
        }
        if adv.local_infile && relay {
            c.phase = ClientPhase::Infile;
            let next = c
                .inflight
                .as_ref()
                .map_or(2, |i| i.last_seq.wrapping_add(1));
            c.decoder.expect_seq(next);
            self.rerun.push(ck);
            return true;
        }
        if !adv.done {
            return true;
        }
        if let Some(err) = sync_err {
            log::warn!(
                "BACKEND [{}] replaying session state failed",
                self.backend_addr(bk)
            );
            // The backend's state is unknown now: drop it after this.
            if let Some(Conn::Client(c)) = self.conns.get_mut(ck) {
                c.detach(bk);
                if let Some(inf) = c.inflight.as_mut() {
                    if let Some(t) = target.and_then(|i| inf.targets.get_mut(i)) {
                        t.done = true;
                    }
                    if inf.error.is_none() {
                        inf.error = Some(err);
                    }
                }
            }
            self.close(bk, "session state replay failed");
            self.maybe_complete(ck);
            return true;
        }
        // 3. This target is done: record it, start the next one queued on
        // this connection, and finish the statement when all are done.
        if let Some(Conn::Client(c)) = self.conns.get_mut(ck) {
            if let Some(inf) = c.inflight.as_mut() {
                if let Some(t) = target.and_then(|i| inf.targets.get_mut(i)) {
                    t.done = true;
                }
                inf.status |= outcome.status & !StatusFlags::MORE_RESULTS_EXISTS.0;
                inf.affected = if matches!(inf.gather, Gather::SameOk) {
                    // Every group ran the same statement: report one.
                    inf.affected.max(outcome.affected_rows)
                } else {
                    inf.affected.saturating_add(outcome.affected_rows)
                };
                if outcome.last_insert_id != 0
                    && (inf.insert_id == 0 || outcome.last_insert_id < inf.insert_id)
                {
                    inf.insert_id = outcome.last_insert_id;
                }
                if outcome.error && inf.error.is_none() {
                    inf.error = reply_err.or_else(|| Some(Vec::new()));
                }
            }
        }
        if prepare_as.is_some() {
            let counts = outcome.prepared.filter(|_| !outcome.error);
            self.prepared_sharded(ck, counts);
        }
        self.run_next_target(ck, bk);
        self.maybe_complete(ck);
        true
    }

    /// Starts the next target queued on `bk` for client `ck`, if any.
    fn run_next_target(&mut self, ck: usize, bk: usize) {
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return;
        };
        if b.phase != Phase::Ready || b.target.is_some() {
            return;
        }
        if let Some(idx) = b.queue.pop_front() {
            self.send_target(ck, bk, idx);
        }
    }

    /// Finishes the client's statement once every target is done.
    pub(super) fn maybe_complete(&mut self, ck: usize) {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return;
        };
        let Some(inf) = c.inflight.as_ref() else {
            return;
        };
        if !inf.targets.iter().all(|t| t.done) {
            return;
        }
        let (status, affected, insert_id) = (inf.status, inf.affected, inf.insert_id);
        let error = inf.error.clone();
        let relay = matches!(inf.gather, Gather::Relay);
        if let Gather::Rename(spec) = &inf.gather {
            let deprecate_eof = c.sess.caps.contains(Capabilities::DEPRECATE_EOF);
            let out = crate::merge::rename::rewrite_result(&inf.buffer, spec, deprecate_eof);
            if error.as_ref().is_some_and(|e| !e.is_empty()) {
                // shardgate's own failure (unreachable node): say so.
                let err = error.unwrap_or_default();
                self.finish_statement(ck, status, true, affected, insert_id);
                self.reply_local(ck, &err);
                return;
            }
            if !sock::append(&mut c.wbuf, &mut self.pool, &out) {
                self.close(ck, "buffer memory exhausted");
                return;
            }
            self.finish_statement(ck, status, error.is_some(), affected, insert_id);
            return;
        }
        if matches!(inf.gather, Gather::Merge(_)) {
            // The merger wrote the client's whole reply (rows or one ERR).
            let Some(inf) = c.inflight.as_mut() else {
                return;
            };
            let mut out = Vec::new();
            let mut failed = error.is_some();
            if let Some(m) = inf.merger.as_mut() {
                if !m.is_done() {
                    // A shard's reply was cut short: fail what is left.
                    m.abort(
                        shardgate_proto::error_codes::CR_SERVER_LOST,
                        "shardgate: a shard's reply was incomplete",
                    );
                    failed = true;
                }
                m.poll_output(&mut out, &mut inf.merge_seq);
            }
            if !out.is_empty() && !sock::append(&mut c.wbuf, &mut self.pool, &out) {
                self.close(ck, "buffer memory exhausted");
                return;
            }
            let status = status & !StatusFlags::MORE_RESULTS_EXISTS.0;
            self.finish_statement(ck, status, failed, affected, insert_id);
            return;
        }
        match (relay, error) {
            // Relayed: the client already has the whole reply, unless the
            // failure came from shardgate (sync, unreachable node).
            (true, None) => self.finish_statement(ck, status, false, affected, insert_id),
            (true, Some(err)) if err.is_empty() => {
                self.finish_statement(ck, status, true, affected, insert_id)
            }
            (_, Some(err)) => {
                let err = if err.is_empty() {
                    super::client::err_payload(
                        shardgate_proto::error_codes::ER_UNKNOWN_ERROR,
                        "shardgate: a shard failed",
                    )
                } else {
                    err
                };
                self.finish_statement(ck, status, true, affected, insert_id);
                self.reply_local(ck, &err);
            }
            (false, None) => {
                let caps = c.sess.caps;
                let ok = super::client::ok_payload(
                    caps,
                    affected,
                    insert_id,
                    status & !StatusFlags::MORE_RESULTS_EXISTS.0,
                );
                self.finish_statement(ck, status, false, affected, insert_id);
                self.reply_local(ck, &ok);
            }
        }
    }

    fn backend_addr(&self, bk: usize) -> String {
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
fn last_packet_payload(frames: &[u8]) -> Vec<u8> {
    let mut last = Vec::new();
    for_each_packet(frames, |p| {
        last.clear();
        last.extend_from_slice(p);
    });
    last
}

/// Sequence id of the last frame in a run of whole frames.
fn last_seq(frames: &[u8]) -> Option<u8> {
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
