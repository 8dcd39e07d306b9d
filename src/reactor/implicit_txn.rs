//! Writes on several shards outside a transaction (autocommit on, no
//! BEGIN): one statement to MariaDB is all or nothing, so shardgate runs
//! such a write inside a transaction of its own on every backend it
//! touches (`send_target` sends the BEGIN with the statement), then ends it
//! with COMMIT on all of them when every shard succeeded, or ROLLBACK on
//! all when one failed (duplicate key, a lost backend...), and only then
//! answers the client: the statement's OK (affected rows summed), or its
//! first error with nothing left applied anywhere.
//!
//! The groups run one after the other, in the order of their names: two
//! such writes over the same rows then take their locks group by group in
//! the same order and cannot wait for each other across servers (run in
//! parallel, each could hold one group's rows while waiting for the
//! other's, a deadlock no server sees, broken only by
//! `innodb_lock_wait_timeout`). After a failure the remaining groups are
//! not started.
//!
//! The end is one COMMIT per group, not a two-phase commit: a group that
//! fails between the other groups' COMMIT and its own loses its part, and
//! the client gets that COMMIT's error.

use super::client::{gathered_ok_payload, row_count_of_reply, session_status, Client, InFlight};
use super::io_thread::{Conn, IoThread};
use crate::route::{Effects, Gather};
use crate::session::PinReasons;
use crate::stats::QueryKind;

/// Where a client's implicit transaction is.
#[derive(Debug, Default)]
pub(super) enum ImplicitTxn {
    /// None running.
    #[default]
    Off,
    /// The multi-shard write is running inside it: its targets in group
    /// order, and how many of them have been started.
    Running { order: Vec<usize>, launched: usize },
    /// COMMIT or ROLLBACK is running; the write's outcome waits for it.
    Ending {
        /// The write's first error (the transaction is rolled back).
        error: Option<Vec<u8>>,
        affected: u64,
        insert_id: u64,
        warnings: u16,
        info: Vec<u8>,
    },
}

/// Whether `inf` is a write on several shards that needs a transaction of
/// shardgate's own: a DML statement gathered from several targets while
/// the session has no transaction open, autocommit on and no LOCK TABLES.
fn needs_implicit_txn(c: &Client, inf: &InFlight) -> bool {
    matches!(inf.gather, Gather::SumOk(_) | Gather::SameOk)
        && inf.targets.len() > 1
        && matches!(
            inf.effects.kind,
            QueryKind::Insert | QueryKind::Update | QueryKind::Delete
        )
        && !inf.effects.end_txn
        && c.sess.txn_begin.is_none()
        && !c.sess.pins.contains(PinReasons::TRANSACTION)
        && !c.sess.pins.contains(PinReasons::AUTOCOMMIT_OFF)
        // BEGIN would release the session's LOCK TABLES locks.
        && !c.sess.pins.contains(PinReasons::LOCK_TABLES)
        && !c.sess.state.vars.iter().any(|a| a.key == "autocommit")
}

/// Opens the implicit transaction for `inf` when it needs one (before its
/// targets get their backends: each then starts with BEGIN). True when it
/// did: the caller then starts the targets with
/// [`IoThread::implicit_txn_launch`].
pub(super) fn open_if_needed(c: &mut Client, inf: &InFlight) -> bool {
    if !needs_implicit_txn(c, inf) {
        return false;
    }
    // Pinned like a transaction: one connection per node, so the shards of
    // a node share its transaction.
    c.sess.pins.insert(PinReasons::TRANSACTION);
    c.sess.txn_begin = Some(b"BEGIN".to_vec());
    let mut order: Vec<usize> = (0..inf.targets.len()).collect();
    order.sort_by(|&a, &b| inf.targets[a].group.cmp(&inf.targets[b].group));
    c.implicit_txn = ImplicitTxn::Running { order, launched: 0 };
    true
}

impl IoThread {
    /// Starts the next group's targets of the implicit transaction once the
    /// previous group's are done (the first group's on the first call).
    /// After a failure the groups not started are skipped (marked done).
    /// True when it started targets.
    pub(super) fn implicit_txn_launch(&mut self, ck: usize) -> bool {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return false;
        };
        let ImplicitTxn::Running { order, launched } = &mut c.implicit_txn else {
            return false;
        };
        let Some(inf) = c.inflight.as_mut() else {
            return false;
        };
        if matches!(inf.gather, Gather::SumOk(Some(_))) {
            // Target by target, in the same group order (`write_limit`).
            return false;
        }
        if *launched >= order.len()
            || order[..*launched]
                .iter()
                .any(|&i| inf.targets.get(i).is_some_and(|t| !t.done))
        {
            return false;
        }
        if inf.error.is_some() {
            for &i in &order[*launched..] {
                if let Some(t) = inf.targets.get_mut(i) {
                    t.done = true;
                }
            }
            *launched = order.len();
            return false;
        }
        let start = *launched;
        let group = inf.targets.get(order[start]).map(|t| t.group.clone());
        while *launched < order.len()
            && inf.targets.get(order[*launched]).map(|t| &t.group) == group.as_ref()
        {
            *launched += 1;
        }
        let stage = order[start..*launched].to_vec();
        for idx in stage {
            self.acquire(ck, idx);
            match self.conns.get(ck) {
                Some(Conn::Client(c)) if c.inflight.is_some() => {}
                _ => break, // the statement already ended
            }
        }
        true
    }

    /// Every target of the client's statement is done: when the statement
    /// belongs to an implicit transaction, takes over its completion (ends
    /// the transaction, then replies) and returns true.
    pub(super) fn implicit_txn_step(&mut self, ck: usize) -> bool {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return false;
        };
        let Some(inf) = c.inflight.as_ref() else {
            return false;
        };
        let (status, affected, insert_id) = (inf.status, inf.affected, inf.insert_id);
        let warnings = inf.warnings;
        let info = inf.info.text();
        let error = inf.error.clone().map(super::dispatch::gathered_error);
        match std::mem::take(&mut c.implicit_txn) {
            ImplicitTxn::Off => false,
            ImplicitTxn::Running { .. } => {
                let failed = error.is_some();
                self.finish_statement(ck, status, failed, affected, insert_id);
                let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
                    return true;
                };
                c.sess.txn_begin = None;
                if c.backends.is_empty() {
                    // No backend was reached: there is nothing to end.
                    c.sess.pins.remove(PinReasons::TRANSACTION);
                    let reply = match error {
                        Some(e) => e,
                        None => gathered_ok_payload(
                            c.sess.caps,
                            affected,
                            insert_id,
                            session_status(c),
                            warnings,
                            &info,
                        ),
                    };
                    c.sess.row_count = Some(row_count_of_reply(&reply));
                    self.maybe_release_after_statement(ck);
                    self.reply_local(ck, &reply);
                    return true;
                }
                c.implicit_txn = ImplicitTxn::Ending {
                    error,
                    affected,
                    insert_id,
                    warnings,
                    info,
                };
                let sql: &[u8] = if failed { b"ROLLBACK" } else { b"COMMIT" };
                let mut payload = vec![0x03];
                payload.extend_from_slice(sql);
                let effects = Effects {
                    end_txn: true,
                    write: !failed,
                    ..Effects::default()
                };
                self.run_on_every_attached(ck, payload, effects, Gather::SameOk);
                true
            }
            ImplicitTxn::Ending {
                error: write_error,
                affected,
                insert_id,
                warnings: write_warnings,
                info: write_info,
            } => {
                let end_failed = error.is_some();
                self.finish_statement(ck, status, end_failed, 0, 0);
                let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
                    return true;
                };
                let reply = match (write_error, error) {
                    // Rolled back: the write's own error.
                    (Some(e), _) => e,
                    // COMMIT failed somewhere: the client must know.
                    (None, Some(e)) => e,
                    (None, None) => gathered_ok_payload(
                        c.sess.caps,
                        affected,
                        insert_id,
                        session_status(c),
                        write_warnings,
                        &write_info,
                    ),
                };
                // The write's count, not its COMMIT's.
                c.sess.row_count = Some(row_count_of_reply(&reply));
                self.reply_local(ck, &reply);
                true
            }
        }
    }
}
