//! UPDATE / DELETE with LIMIT on several shards. One server changes at
//! most N of the matching rows, any N when there is no ORDER BY; over
//! shards the same holds when the shards run one after the other, each
//! with the LIMIT that is left: `LIMIT N` on the first, `LIMIT N - done`
//! on the next, until N rows are changed or every shard ran (the purge
//! loop `DELETE FROM t WHERE created < ? LIMIT 1000` until 0 rows).
//! `done` counts what the LIMIT counts: deleted rows, or the rows an
//! UPDATE matched (its OK's "Rows matched", which may exceed the rows it
//! changed). The reactor runs the countdown ([`crate::route::LimitCountdown`]).
//!
//! With ORDER BY the rows to change are the first N in that order across
//! every shard, which no shard can tell: refused. ORDER BY without LIMIT
//! changes every matching row (each shard in that order) and runs as any
//! scattered write.

use super::*;
use crate::route::LimitCountdown;

impl<'a, 't> Planner<'a, 't> {
    /// The countdown for a scattered UPDATE/DELETE with LIMIT: the LIMIT of
    /// each target's SQL rewritten to the whole count (the reactor lowers
    /// it before each shard runs). `Ok(None)` when the statement has no
    /// LIMIT.
    pub(super) fn write_limit_countdown(
        &self,
        targets: &mut [RouteTarget],
        shards: &[usize],
    ) -> Result<Option<Box<LimitCountdown>>, ShardPlan> {
        let top = self.parsed.top();
        let Some(limit) = &top.limit else {
            return Ok(None);
        };
        if !top.order_by.is_empty() {
            return Err(refuse(
                "shardgate: UPDATE/DELETE with ORDER BY and LIMIT over several shards is not supported (the \
                 first rows in that order may be on any shard); restrict it to one shard with the shard key, \
                 or drop ORDER BY",
            ));
        }
        if limit.offset.is_some() {
            return Err(refuse("shardgate: LIMIT with an offset in UPDATE/DELETE"));
        }
        let rows = match &limit.count.lit {
            Literal::Int(n) if *n >= 0 => *n as u64,
            Literal::UInt(n) => *n,
            // A prepared statement's `LIMIT ?`: planned again with the
            // bound value written in.
            _ => {
                return Err(refuse(
                    "shardgate: UPDATE/DELETE LIMIT over several shards needs a number",
                ))
            }
        };
        let clause = format!("LIMIT {rows}").into_bytes();
        let tail = self.sql.get(limit.range.end..).unwrap_or_default();
        let mut at = Vec::with_capacity(targets.len());
        for (t, &s) in targets.iter_mut().zip(shards) {
            let sql = self.rewrite_for(s, vec![(limit.range.clone(), clause.clone())]);
            // Nothing after the LIMIT is rewritten (RETURNING on several
            // shards is refused), so the clause ends where the tail starts.
            let end = sql.len().checked_sub(tail.len());
            let start = end.and_then(|e| e.checked_sub(clause.len()));
            match (start, end) {
                (Some(start), Some(end))
                    if sql.get(start..end) == Some(clause.as_slice())
                        && sql.get(end..) == Some(tail) =>
                {
                    at.push(start + "LIMIT ".len()..end);
                }
                _ => {
                    return Err(refuse(
                        "shardgate: cannot place the LIMIT of this UPDATE/DELETE",
                    ))
                }
            }
            t.sql = Some(sql);
        }
        Ok(Some(Box::new(LimitCountdown {
            rows,
            matched_rows: matches!(self.parsed.stmt, Stmt::Update { .. }),
            at,
            next: 0,
        })))
    }
}
