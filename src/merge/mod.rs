//! Scatter-gather merging: the result sets of one statement sent to N
//! shards become one result set for the client ([`Merger`]); the OKs of a
//! scattered write become one OK in the reactor, with the status flags and
//! info texts combined here ([`ok`]). Pure and sans-io: the reactor feeds
//! packet payloads and writes what the merger produces.
//!
//! # Using a [`Merger`]
//!
//! ```text
//! let mut m = Merger::new(spec, targets.len(), client_caps);
//! on each packet payload p from shard s:   m.feed(s, p)?   (Err: close that backend)
//! after feeding:                           m.poll_output(&mut client_out, &mut client_seq)
//! before reading shard s:                  m.wants_more(s)   (false: stop reading it)
//! m.satisfied(): the reply is decided (LIMIT reached, all done, or an error):
//!                drain or close the shards that are still answering
//! m.is_done():   the final EOF/OK or ERR has been written
//! m.abort(code, msg): a backend was lost / timed out: fail the statement
//! m.set_session_status(flags): fallback status when no shard reports one
//! ```
//!
//! `feed` returns [`ShardReply::Complete`] on the packet that ends a
//! shard's reply (also after the merger is satisfied, so the reactor can
//! drain a shard and reuse its connection); `Err` means that shard sent
//! invalid bytes: close it (the client gets ERR 2027).
//!
//! Shard replies must use the client's `CLIENT_DEPRECATE_EOF` (the backend
//! pools are keyed by that flavour). Any shard ERR (or [`Merger::abort`])
//! fails the statement: the client gets that one ERR packet, alone if the
//! column definitions were not sent yet, else after the rows already sent.
//!
//! # What the planner must rewrite for each feature
//!
//! Column indices in [`MergeSpec`] are 0-based positions in the *shard*
//! result, hidden columns included; hidden columns are appended at the end
//! of the select list and `hidden` says how many.
//!
//! 1. **Union** (no ORDER BY / GROUP BY / aggregate / DISTINCT):
//!    [`MergeSpec::union`]; SQL unchanged. Rows stream in arrival order.
//! 2. **ORDER BY**: keep the ORDER BY in the shard SQL; an ORDER BY
//!    expression that is not a select-list column is appended to the
//!    select list as a hidden column (with `SELECT *` always append, since
//!    positions are unknown); `order_by` = those column indices and
//!    directions. Each shard's rows must come sorted (checked: a shard out
//!    of order fails the statement rather than merging wrongly).
//! 3. **LIMIT o, c** / `LIMIT c OFFSET o`: shards get `LIMIT o+c` (no
//!    offset); `limit = Limit { offset: o, count: c }`. With GROUP BY or
//!    aggregates the shard SQL has no LIMIT at all (partial groups); with
//!    DISTINCT `LIMIT o+c` is still correct.
//! 4. **Aggregates without GROUP BY**: `COUNT(..)`, `SUM(x)`, `MIN(x)`,
//!    `MAX(x)` stay as they are; `AVG(x)` becomes `SUM(x) AS \`AVG(x)\`` in
//!    place plus a hidden `COUNT(x)` (`Aggregate::Avg { sum: i, count: h }`),
//!    or stays `AVG(x)` with both `SUM(x)` and `COUNT(x)` hidden (then
//!    `sum` and `count` are the hidden ones). The AVG column's definition is
//!    rewritten to MariaDB's (NEWDECIMAL, decimals + 4; or DOUBLE). HAVING
//!    is removed from the shard SQL and given as [`Predicate`] (an
//!    aggregate it reads that is not selected is appended hidden); ORDER BY
//!    an aggregate likewise. Ask [`check_aggregate`] for every aggregate:
//!    GROUP_CONCAT, STDDEV… get ERR 1235. Select-list `COUNT/SUM/AVG(
//!    DISTINCT x)` are the exception: each becomes `x AS \`COUNT(DISTINCT
//!    x)\`` and the shards group by every such `x` as well (appended to
//!    their GROUP BY, or a new `GROUP BY x`): each shard returns a row per
//!    group and distinct `x`, the other aggregates fold over those finer
//!    groups as usual, and `Aggregate::CountDistinct` counts each group's
//!    distinct non-NULL `x` (by its collation), `SumDistinct` and
//!    `AvgDistinct` sum them; without GROUP BY and without rows the merger
//!    still answers one row (counts 0, else NULL).
//! 5. **GROUP BY**: keep GROUP BY in the shard SQL; group columns that are
//!    not selected are appended hidden (the merger needs them). MariaDB
//!    sorts GROUP BY output: without ORDER BY call
//!    [`MergeSpec::group_order`]; with `ORDER BY NULL` leave `order_by`
//!    empty. When [`MergeSpec::needs_sorted_shards`] is true (ORDER BY is
//!    exactly the group columns), the shard SQL must say `ORDER BY` those
//!    columns explicitly (MySQL 8 no longer sorts GROUP BY) and groups are
//!    merged as they stream; otherwise send `ORDER BY NULL` and the merger
//!    keeps at most `max_groups` groups, sorting them at the end. HAVING and
//!    LIMIT as in 4 and 3.
//! 6. **DISTINCT**: keep `SELECT DISTINCT` in the shard SQL, `distinct =
//!    true`; refuse (1235) an ORDER BY on a column that is not selected,
//!    since a hidden column would change what the shards deduplicate.
//! 7. **Prepared statements**: `binary = true`; same rewrites (the shard
//!    statement is prepared from the rewritten SQL; no cursors).
//! 8. **Expressions over aggregates** (`SUM(a) / COUNT(*)`, `IF(COUNT(*) >
//!    9, 'many', 'few')`, in the select list, HAVING or ORDER BY): the item
//!    stays in the shard SQL as written (the shards' value is ignored, but
//!    their column definition is the server's own); each aggregate it reads
//!    is a hidden column; `exprs` holds the item's [`Expr`] over those
//!    columns, evaluated per merged group with MariaDB's arithmetic
//!    (`expr`). A HAVING condition the [`Predicate`] language cannot say
//!    becomes such a hidden column, kept when true.
//! 9. **`SELECT COUNT(*) FROM (<SELECT>) t`**: the shards run the derived
//!    SELECT alone, rewritten as above; `count_rows` = the column's name:
//!    the merged rows are counted, and the client gets one BIGINT row.
//!
//! Not supported (the planner refuses with 1235): aggregates other than the
//! five above or with DISTINCT (MIN/MAX(DISTINCT) are fine), also inside
//! expressions (see `route::scatter::agg_expr` for what they may hold); WITH ROLLUP,
//! window functions, SQL_CALC_FOUND_ROWS; HAVING other than column-vs-
//! literal comparisons, IS NULL, IS NOT NULL, AND/OR/NOT; statements returning
//! several result sets. The merger itself fails the statement with 1235
//! when a column it must compare is ENUM/SET (ordering), JSON, GEOMETRY or
//! a string of a collation it cannot emulate ([`collation_supported`];
//! _ci emulation limits are in [`collation`]'s docs). Sums of FLOAT/DOUBLE
//! are added in another order than a single server would, so their last
//! digits may differ; text-protocol FLOAT values carry 6 digits.
//!
//! # Scattered writes
//!
//! One OK once every shard answered (affected rows and warnings summed,
//! info texts combined, last insert id as documented in [`ok`]) or the
//! first ERR: `reactor/reply.rs` and `reactor/dispatch.rs`.

mod aggregate;
pub mod binary;
pub mod charset;
pub mod checksum;
pub mod collation;
mod collation_tables;
mod count_rows;
mod decimal;
mod enums;
pub mod err_names;
mod expr;
mod expr_collation;
mod fsum;
mod key;
mod merger;
pub mod ok;
pub mod rename;
mod row;
mod sort;
mod spec;
pub mod table_status;
#[cfg(test)]
mod tests;

pub use collation::collation_supported;
pub use decimal::Decimal;
pub use enums::EnumDef;
pub use expr::{BinOp as ExprOp, Expr, Num};
pub use merger::{Merger, ShardReply};
pub use ok::InfoSum;
pub use spec::{
    check_aggregate, Aggregate, CmpOp, ExprCollation, Limit, Literal, MergeSpec, OrderKey,
    Predicate,
};
