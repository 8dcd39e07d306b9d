//! The end of a client's statement: the session's state after it (schema,
//! variables, pins, transaction, last write), its counters, giving the
//! backend connections back when nothing pins them, and what happens when
//! a statement's backend connection dies.

use super::client::{err_payload, queue_packet, Phase};
use super::io_thread::{Conn, IoThread};
use crate::session::PinReasons;
use shardgate_proto::capability::StatusFlags;
use shardgate_proto::error_codes::{self as ec};
use std::time::Instant;

impl IoThread {
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
        // What the client was told, for ROW_COUNT() (`route::row_count`):
        // -1 after rows (merged or renamed ones too: their targets answered
        // with result sets) or an error.
        c.sess.row_count = Some(if error || inflight.result_set {
            -1
        } else {
            i64::try_from(affected).unwrap_or(i64::MAX)
        });
        self.shared
            .metrics
            .statement(inflight.effects.kind, elapsed, error);
        if let Some(tables) = &inflight.effects.forget_columns {
            let state = self.shared.route_state();
            for (schema, table) in tables.iter() {
                state.forget_table_columns(schema, table);
            }
        }
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
        // A LOCK TABLES over several groups that failed on one may hold
        // locks on the others: their connections are closed (LOCK TABLES
        // committed there first), so that, as on one server, the session
        // holds no locks after a failed LOCK TABLES.
        let lock_targets = || {
            inflight.targets.iter().filter(|t| {
                t.payload.as_slice() != crate::route::UNLOCK_TABLES_PAYLOAD
                    && t.payload.as_slice() != crate::route::COMMIT_PAYLOAD
            })
        };
        let drop_locked: Vec<usize> = if error && fx.unlock_elsewhere && lock_targets().count() > 1
        {
            lock_targets().filter_map(|t| t.bk).collect()
        } else {
            Vec::new()
        };
        // Where SHOW WARNINGS finds this statement's diagnostics. A read of
        // them leaves them in place, and so does a statement of no table
        // that raised none (SET, COMMIT, the implicit transaction's end),
        // as on one server; a SELECT or write replaces them.
        let mut found: Vec<(String, std::net::SocketAddr)> = Vec::new();
        for t in inflight.targets.iter().filter(|t| t.diagnostics) {
            if !found.iter().any(|(_, a)| *a == t.addr) {
                found.push((t.group.clone(), t.addr));
            }
        }
        if !fx.reads_diagnostics
            && (!found.is_empty() || !matches!(fx.kind, crate::stats::QueryKind::Other))
        {
            c.sess.warnings_on = Some(found);
            c.sess.diagnostics_count = (
                u64::from(inflight.warnings) + u64::from(error),
                u64::from(error),
            );
        }
        if c.sess.warnings_on.as_ref().is_some_and(|n| !n.is_empty()) {
            c.sess.pins.insert(PinReasons::WARNINGS);
        }
        // What FOUND_ROWS() answers next: the node that counted without the
        // LIMIT (its connection is kept for the one next statement only),
        // or the rows this SELECT gave the client.
        if inflight.prepare_as.is_some() {
            // shardgate's metadata prepare of a statement it owns: as on
            // one server, a prepare leaves FOUND_ROWS() as it was (and the
            // node that counted keeps its connection).
            if matches!(
                c.sess.found_rows,
                crate::route::row_count::FoundRows::On(..)
            ) {
                c.sess.pins.insert(PinReasons::FOUND_ROWS);
            }
        } else {
            use crate::route::row_count::FoundRows;
            let merged = inflight.merger.as_ref().map(|m| m.rows_emitted());
            let select = !error && fx.kind == crate::stats::QueryKind::Select;
            c.sess.found_rows = match (select, fx.calc_found_rows, inflight.targets.as_slice()) {
                (true, true, [t]) => FoundRows::On(t.group.clone(), t.addr),
                (true, true, _) => FoundRows::Unknown,
                (true, false, _) if inflight.result_set => {
                    FoundRows::Count(merged.unwrap_or(inflight.rows))
                }
                (_, _, _) => match &c.sess.found_rows {
                    FoundRows::On(..) => FoundRows::Unknown,
                    kept => kept.clone(),
                },
            };
        }
        if let Some(assigned) = fx.user_vars.as_deref() {
            // Even after an error: an assignment may have happened.
            let by_query = &mut c.sess.user_vars_by_query;
            by_query.retain(|(name, _)| !assigned.literal.contains(name));
            for name in &assigned.by_query {
                for t in &inflight.targets {
                    let entry = (name.clone(), t.group.clone());
                    if !by_query.contains(&entry) {
                        by_query.push(entry);
                    }
                }
            }
        }
        if !error {
            if let Some(s) = &fx.use_schema {
                c.sess.state.schema = Some(s.to_string());
            }
            for a in &fx.set_vars {
                c.sess.state.set_var(a.clone());
            }
            if fx.reset_autocommit {
                c.sess.state.unset_var("autocommit");
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
            if fx.end_txn && !fx.txn_chain {
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
        if fx.implicit_commit {
            // Committed before it ran, even if it then failed (its
            // savepoints go below, with the transaction).
            c.sess.txn_begin = None;
        }
        if fx.release_client && !error {
            // COMMIT RELEASE: disconnected once the reply is written.
            c.phase = Phase::Closing;
        }
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
                    b.state.schema.clone_from(&schema);
                    if fx.reset_backend {
                        b.state.vars.clear();
                    }
                    for a in &fx.set_vars {
                        b.state.set_var(a.clone());
                    }
                    if fx.reset_autocommit {
                        b.state.unset_var("autocommit");
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
            // The transaction ended (COMMIT, an implicit commit), and its
            // savepoints with it.
            c.sess.savepoints.clear();
        }
        if autocommit_off {
            c.sess.pins.insert(PinReasons::AUTOCOMMIT_OFF);
        } else {
            c.sess.pins.remove(PinReasons::AUTOCOMMIT_OFF);
        }
        if !drop_locked.is_empty() {
            for &bk in &drop_locked {
                c.detach(bk);
            }
            c.sess.pins.remove(PinReasons::LOCK_TABLES);
            for bk in drop_locked {
                self.close(bk, "LOCK TABLES failed on another group");
            }
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
                // A connection that never got past its login ran nothing:
                // the group is unreachable, not lost mid-statement.
                let (code, msg) = if c.phase == Phase::AwaitBackend || b.is_logging_in() {
                    (
                        ec::BACKEND_UNREACHABLE,
                        format!("shardgate: cannot connect to group '{group}' node {addr}: {why}"),
                    )
                } else {
                    (
                        ec::BACKEND_LOST,
                        format!(
                            "Lost connection to backend server during query (group '{group}', {addr}): {why}"
                        ),
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
                        std::mem::replace(&mut c.reply_seq, 1)
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
}
