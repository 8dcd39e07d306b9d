//! An UPDATE/DELETE with LIMIT on several shards (`route::shard::write_limit`)
//! runs its targets one after the other: before each, the LIMIT number in
//! its SQL becomes what is left of the statement's LIMIT (the rows the
//! earlier targets deleted, or matched for an UPDATE, taken off); once
//! nothing is left, or a target failed, the rest are not run. Inside
//! shardgate's implicit transaction the targets' order is its group order,
//! so the transaction still ends as `reactor::implicit_txn` says.

use super::io_thread::{Conn, IoThread};
use crate::route::Gather;

impl IoThread {
    /// Starts the statement's next target when it counts a LIMIT down and
    /// the previous target is done (the first target on the first call);
    /// marks the rest done when the LIMIT is used up or a target failed.
    /// True when it started a target.
    pub(super) fn write_limit_launch(&mut self, ck: usize) -> bool {
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return false;
        };
        let Some(inf) = c.inflight.as_mut() else {
            return false;
        };
        let counted = {
            let Gather::SumOk(Some(countdown)) = &inf.gather else {
                return false;
            };
            let next = countdown.next.min(inf.targets.len());
            if inf.targets[..next].iter().any(|t| !t.done) {
                return false; // the current target is still running
            }
            if countdown.matched_rows {
                inf.matched
            } else {
                inf.affected
            }
        };
        let failed = inf.error.is_some();
        let Gather::SumOk(Some(countdown)) = &mut inf.gather else {
            return false;
        };
        let left = countdown.rows.saturating_sub(counted);
        let idx = countdown.next;
        // The first target always runs (LIMIT 0 still checks the statement
        // as one server does).
        if idx >= inf.targets.len() || failed || (left == 0 && idx > 0) {
            for t in inf.targets.iter_mut().skip(idx) {
                t.done = true;
            }
            countdown.next = inf.targets.len();
            return false;
        }
        countdown.next += 1;
        // The payload is the command byte, then the SQL.
        let digits = countdown.at.get(idx).map(|at| at.start + 1..at.end + 1);
        match (inf.targets.get_mut(idx), digits) {
            (Some(t), Some(digits)) if digits.end <= t.payload.len() => {
                t.payload.splice(digits, left.to_string().into_bytes());
            }
            _ => {
                // Not planned for this target: run nothing more.
                inf.error = Some(super::client::err_payload(
                    shardgate_proto::error_codes::ER_UNKNOWN_ERROR,
                    "shardgate: the LIMIT of this UPDATE/DELETE could not be counted down",
                ));
                for t in inf.targets.iter_mut().skip(idx) {
                    t.done = true;
                }
                countdown.next = inf.targets.len();
                return false;
            }
        }
        self.acquire(ck, idx);
        true
    }
}
