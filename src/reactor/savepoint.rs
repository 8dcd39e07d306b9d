//! Savepoints in a transaction over several groups. A sharded transaction
//! opens lazily on each backend it reaches (`Session::txn_begin`), so a
//! SAVEPOINT set before the transaction reached a group would be missing
//! there, and ROLLBACK TO SAVEPOINT would keep that group's later writes.
//! The session keeps the transaction's savepoints in order
//! (`Session::savepoints`); a savepoint statement runs on every backend
//! the session holds that is in the transaction, and a backend the
//! transaction reaches later gets `SAVEPOINT` for each recorded one right
//! after its BEGIN (`dispatch`), which is where they belong: that backend
//! had done nothing in the transaction before. A name the transaction does
//! not have is ERR 1305, as one server answers.

use super::client::{InFlight, Target};
use super::io_thread::{Conn, IoThread};
use super::relay::Expect;
use crate::route::{Effects, Gather, SavepointOp};
use crate::session::PinReasons;
use shardgate_proto::capability::StatusFlags;
use shardgate_proto::error_codes as ec;

/// Savepoint names compare without quotes and case.
fn same_name(a: &[u8], b: &[u8]) -> bool {
    crate::sql::unquote_ident(a).eq_ignore_ascii_case(&crate::sql::unquote_ident(b))
}

impl IoThread {
    pub(super) fn savepoint(
        &mut self,
        key: usize,
        op: SavepointOp,
        name: Vec<u8>,
        payload: Vec<u8>,
    ) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let in_txn = c.sess.txn_begin.is_some()
            || c.sess.pins.contains(PinReasons::TRANSACTION)
            || c.sess.pins.contains(PinReasons::AUTOCOMMIT_OFF);
        let list = &mut c.sess.savepoints;
        let at = list.iter().position(|s| same_name(s, &name));
        match (op, at) {
            (SavepointOp::Set, _) if !in_txn => {
                // Autocommit: the statement's own transaction ends at once.
                self.reply_ok(key);
                return;
            }
            (SavepointOp::Set, at) => {
                // The same name again: the old one goes, the new one is last.
                if let Some(at) = at {
                    list.remove(at);
                }
                list.push(name);
            }
            (SavepointOp::RollbackTo, Some(at)) => list.truncate(at + 1),
            (SavepointOp::Release, Some(at)) => list.truncate(at),
            (_, None) => {
                let msg = format!(
                    "SAVEPOINT {} does not exist",
                    String::from_utf8_lossy(&crate::sql::unquote_ident(&name))
                );
                self.reply_err(key, ec::ER_SP_DOES_NOT_EXIST, &msg);
                return;
            }
        }
        // The backends the transaction has reached; the others get the
        // savepoints when it reaches them.
        let attached = c.backends.clone();
        let mut addrs: Vec<_> = attached
            .iter()
            .filter(|(_, bk)| {
                matches!(self.conns.get(*bk), Some(Conn::Backend(b))
                    if b.status & StatusFlags::IN_TRANS.0 != 0)
            })
            .map(|(a, _)| *a)
            .collect();
        addrs.sort();
        addrs.dedup();
        if addrs.is_empty() {
            self.reply_ok(key);
            return;
        }
        let targets: Vec<Target> = addrs
            .into_iter()
            .map(|addr| Target::new(addr.to_string(), addr, payload.clone()))
            .collect();
        let gather = if targets.len() > 1 {
            Gather::SameOk
        } else {
            Gather::Relay
        };
        let inflight = InFlight::new(
            targets,
            Some(Expect::ResultSets),
            Effects::default(),
            gather,
            None,
        );
        self.start_statement(key, inflight);
    }
}
