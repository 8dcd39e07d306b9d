//! Statement dispatch: a client's statement becomes one target per shard
//! or group; each target gets its node (read/write split, `balance`), a
//! backend connection (the session's own when pinned, an idle pooled one,
//! a new one, or a place in the node's waiting queue), its session state
//! and command (`send_target`); the statement completes, and the client
//! gets its reply, when every target is done (`maybe_complete`).

use super::backend::{packet, Phase};
use super::client::{InFlight, Phase as ClientPhase};
use super::io_thread::{Conn, IoThread, PoolKey};
use super::relay::{Expect, ReplyTracker};
use super::sock;
use crate::route::Gather;
use shardgate_proto::capability::{Capabilities, StatusFlags};
use std::net::SocketAddr;
use std::time::Instant;

impl IoThread {
    /// Starts a client's statement: every target gets a backend connection
    /// (one the session holds on that node, an idle pooled one, a new one,
    /// or a place in the node's waiting queue) and then its command.
    pub(super) fn start_statement(&mut self, ck: usize, inflight: InFlight) {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return;
        };
        let n = inflight.targets.len();
        let has_countdown = matches!(inflight.gather, Gather::SumOk(Some(_)));
        let implicit = super::implicit_txn::open_if_needed(c, &inflight);
        c.inflight = Some(inflight);
        c.phase = ClientPhase::AwaitBackend;
        if let Err(msg) = self.choose_nodes(ck) {
            self.statement_refused(ck, &msg);
            return;
        }
        if has_countdown {
            // Target by target (`reactor::write_limit`).
            self.write_limit_launch(ck);
            return;
        }
        if implicit {
            // Group by group (`reactor::implicit_txn`).
            self.implicit_txn_launch(ck);
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
    pub(super) fn choose_nodes(&mut self, ck: usize) -> Result<(), String> {
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
        if inf.effects.exact_node {
            // The nodes holding what the statement reads, as they are.
            return Ok(());
        }
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
    /// ERR 1429 (backend unreachable) with `msg`, nothing is sent anywhere.
    pub(super) fn statement_refused(&mut self, ck: usize, msg: &str) {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return;
        };
        let Some(inf) = c.inflight.as_mut() else {
            return;
        };
        let err =
            super::client::err_payload(shardgate_proto::error_codes::BACKEND_UNREACHABLE, msg);
        for t in &mut inf.targets {
            t.done = true;
        }
        if inf.error.is_none() {
            inf.error = Some(err);
        }
        self.maybe_complete(ck);
    }

    /// Finds a backend connection for target `idx` of the client's statement.
    pub(super) fn acquire(&mut self, ck: usize, idx: usize) {
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
    /// 1429 naming the group (at once if nothing was sent yet, otherwise
    /// once the other targets have answered).
    pub(super) fn target_unreachable(&mut self, ck: usize, idx: usize, why: &str) {
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
            super::client::err_payload(shardgate_proto::error_codes::BACKEND_UNREACHABLE, &msg);
        t.done = true;
        if inf.error.is_none() {
            inf.error = Some(err);
        }
        self.maybe_complete(ck);
    }

    /// Runs target `idx` on `bk` now, or after what `bk` is doing for this
    /// client (a pinned session's node, or a connection still logging in).
    pub(super) fn assign(&mut self, ck: usize, idx: usize, bk: usize) {
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

    pub(super) fn attach(&mut self, ck: usize, bk: usize) {
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
    pub(super) fn take_idle(&mut self, key: PoolKey, schema: Option<&str>) -> Option<usize> {
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
    pub(super) fn fits(&self, ck: usize, conn_schema: Option<&str>) -> bool {
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
    pub(super) fn next_waiting(&mut self, key: PoolKey) -> Option<(usize, usize)> {
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

    /// Writes the sync statements and target `idx`'s command to `bk`.
    pub(super) fn send_target(&mut self, ck: usize, bk: usize, idx: usize) {
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
        let joining = b.status & StatusFlags::IN_TRANS.0 == 0
            && !inf.effects.end_txn
            && !inf.effects.implicit_commit;
        // A transaction opened with BEGIN starts on this backend now.
        if let Some(begin) = &c.sess.txn_begin {
            if joining {
                let mut p = vec![0x03];
                p.extend_from_slice(begin);
                out.extend_from_slice(&packet(0, &p));
                b.sync
                    .push(ReplyTracker::new(Expect::ResultSets, deprecate_eof));
                b.status |= StatusFlags::IN_TRANS.0;
            }
        }
        // ... with the savepoints set before it got here (`savepoint`).
        if joining {
            for name in &c.sess.savepoints {
                let mut p = b"\x03SAVEPOINT ".to_vec();
                p.extend_from_slice(name);
                out.extend_from_slice(&packet(0, &p));
                b.sync
                    .push(ReplyTracker::new(Expect::ResultSets, deprecate_eof));
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
        // A gathered write's OKs: their info texts are combined, and a
        // LIMIT counted down reads the rows an UPDATE matched.
        // (one target too: shardgate writes the OK, e.g. a LOAD DATA
        // whose file all went to one shard)
        let gathered_ok = matches!(inf.gather, Gather::SumOk(_) | Gather::SameOk);
        b.tracker = inf.expect.map(|e| {
            let t = ReplyTracker::new(e, deprecate_eof);
            if gathered_ok {
                t.reading_ok_info()
            } else {
                t
            }
        });
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
    pub(super) fn all_targets_running(&self, inf: &super::client::InFlight) -> bool {
        inf.targets.iter().enumerate().all(|(i, t)| {
            t.done
                || t.bk.is_some_and(
                    |k| matches!(self.conns.get(k), Some(Conn::Backend(b)) if b.target == Some(i)),
                )
        })
    }

    /// Starts the next target queued on `bk` for client `ck`, if any.
    pub(super) fn run_next_target(&mut self, ck: usize, bk: usize) {
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
            // An implicit transaction's next group starts now, or its
            // remaining groups are skipped after a failure.
            if self.implicit_txn_launch(ck) || self.write_limit_launch(ck) {
                return;
            }
            let Some(Conn::Client(c)) = self.conns.get(ck) else {
                return;
            };
            if !c
                .inflight
                .as_ref()
                .is_some_and(|i| i.targets.iter().all(|t| t.done))
            {
                return;
            }
        }
        if self.implicit_txn_step(ck) {
            return;
        }
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return;
        };
        let Some(inf) = c.inflight.as_ref() else {
            return;
        };
        let (status, affected, insert_id) = (inf.status, inf.affected, inf.insert_id);
        let warnings = inf.warnings;
        let error = inf.error.clone();
        let relay = matches!(inf.gather, Gather::Relay);
        if let Gather::Rename(spec) = &inf.gather {
            let deprecate_eof = c.sess.caps.contains(Capabilities::DEPRECATE_EOF);
            // One group's listing, or (SHOW TABLE STATUS) every group's
            // combined; a group's ERR leaves the default group's alone.
            let replies: Vec<&[u8]> = inf.targets.iter().map(|t| t.reply.as_slice()).collect();
            let single = || {
                crate::merge::rename::rewrite_result(
                    replies.first().copied().unwrap_or_default(),
                    spec,
                    deprecate_eof,
                )
            };
            let out = match replies.len() {
                _ if spec.checksum => {
                    crate::merge::checksum::merge_checksum(&replies, spec, deprecate_eof)
                }
                1 => single(),
                _ => crate::merge::table_status::merge_table_status(&replies, spec, deprecate_eof)
                    .unwrap_or_else(single),
            };
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
                    // A shard could not be reached (shardgate's own ERR,
                    // naming the group) or its reply was cut short: fail
                    // what is left with that.
                    if !error.as_deref().is_some_and(|p| m.abort_with_err(p)) {
                        m.abort(
                            shardgate_proto::error_codes::BACKEND_LOST,
                            "shardgate: a shard's reply was incomplete",
                        );
                    }
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
                let err = gathered_error(err);
                self.finish_statement(ck, status, true, affected, insert_id);
                self.reply_local(ck, &err);
            }
            (false, None) => {
                let caps = c.sess.caps;
                let info = c
                    .inflight
                    .as_ref()
                    .map(|i| i.info.text())
                    .unwrap_or_default();
                let ok = super::client::gathered_ok_payload(
                    caps,
                    affected,
                    insert_id,
                    status & !StatusFlags::MORE_RESULTS_EXISTS.0,
                    warnings,
                    &info,
                );
                self.finish_statement(ck, status, false, affected, insert_id);
                self.reply_local(ck, &ok);
            }
        }
    }
}

/// The ERR payload a gathered statement answers with: the first target's
/// ERR, or (empty: the failure was shardgate's, already logged) a generic
/// one.
pub(super) fn gathered_error(err: Vec<u8>) -> Vec<u8> {
    if err.is_empty() {
        super::client::err_payload(
            shardgate_proto::error_codes::ER_UNKNOWN_ERROR,
            "shardgate: a shard failed",
        )
    } else {
        err
    }
}
