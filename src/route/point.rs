//! Prepared statements whose shard follows from one bound parameter.
//!
//! Most prepared statements on sharded tables are point statements:
//! `SELECT ... FROM t WHERE key = ? [AND ...]`, `UPDATE t SET ... WHERE
//! key = ?`, `DELETE FROM t WHERE key = ?`. For those, every execution
//! plans to the same thing for the same shard: one target, the statement
//! with the table renamed for that shard. [`point_route`] recognises them
//! once per prepared statement; the executor then computes only the shard
//! of the bound key (`rules::shard_for_key`) and reuses the plan the full
//! planner made for that shard the first time (`reactor::prepared`), so the
//! SQL is not lexed and parsed at every execution.
//!
//! A statement qualifies only when the answer cannot depend on anything but
//! the key's shard: one table (no joins, subqueries, unions), sharded by a
//! rule that needs no directory (not `lookup`), no route hint, and the key
//! column appears in WHERE exactly once, as `key = ?` reachable from the
//! top through ANDs only.

use crate::config::{RuleKind, Topology};
use crate::sql::parse::{self, Leaf, Literal, Pred, Stmt, Tree};
use crate::sql::LexOptions;

use super::shard::{place_tables, Placement};

/// Where the shard of a point statement comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointRoute {
    /// The logical schema and rule of the statement's table.
    pub schema: String,
    pub rule: String,
    /// The ordinal of the `?` bound to the key.
    pub param: usize,
}

/// The point route of prepared statement `sql` (with `?` placeholders) in
/// schema `current`, if it is a point statement.
pub fn point_route(
    topo: &Topology,
    current: Option<&str>,
    sql: &[u8],
    opts: LexOptions,
) -> Option<PointRoute> {
    let parsed = parse::parse(sql, opts);
    if !parsed.analysed() || parsed.hint.is_some() || parsed.multi_statement {
        return None;
    }
    match parsed.stmt {
        Stmt::Select | Stmt::Update { .. } | Stmt::Delete { multi: false } => {}
        _ => return None,
    }
    if parsed.tables.len() != 1 || parsed.blocks.len() != 1 {
        return None;
    }
    let (placements, _) = place_tables(topo, &parsed, current);
    let Some(Some(Placement::Sharded {
        schema, key, rule, ..
    })) = placements.first()
    else {
        return None;
    };
    if matches!(rule.kind, RuleKind::Lookup(_)) {
        return None;
    }
    let where_ = parsed.blocks.first()?.where_.as_ref()?;
    let mut found = None;
    if !key_leaves(where_, key.as_bytes(), true, &mut found) {
        return None;
    }
    Some(PointRoute {
        schema: schema.name.clone(),
        rule: rule.name.clone(),
        param: found?,
    })
}

/// Walks `pred`; `and_path`: reached from the top through ANDs only.
/// Records the one `key = ?` leaf in `found`; false when the key column
/// appears any other way (or twice).
fn key_leaves(pred: &Pred<'_>, key: &[u8], and_path: bool, found: &mut Option<usize>) -> bool {
    match pred {
        Tree::And(v) => v.iter().all(|p| key_leaves(p, key, and_path, found)),
        Tree::Or(v) => v.iter().all(|p| key_leaves(p, key, false, found)),
        Tree::Unknown(_) => true,
        Tree::Leaf(leaf) => {
            let mentions = match leaf {
                Leaf::Cmp { col, .. }
                | Leaf::In { col, .. }
                | Leaf::Between { col, .. }
                | Leaf::IsNull { col } => col.name.is(key),
                Leaf::ColumnEq { left, right } => left.name.is(key) || right.name.is(key),
            };
            if !mentions {
                return true;
            }
            match leaf {
                Leaf::Cmp {
                    op: parse::CmpOp::Eq,
                    value,
                    ..
                } if and_path && found.is_none() => match value.lit {
                    Literal::Param(i) => {
                        *found = Some(i as usize);
                        true
                    }
                    _ => false,
                },
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        crate::config::parse(
            r#"
[server]
listen = "127.0.0.1:3307"
metadata_file = "/tmp/x.meta"
[[user]]
name = "app"
password = "p"
schemas = ["*"]
[backend]
user = "sg"
password = "p"
[[group]]
name = "g0"
master = "127.0.0.1:4000"
[[group]]
name = "g1"
master = "127.0.0.1:4001"
[[schema]]
name = "app"
default_group = "g0"
[[schema.rule]]
name = "by_id"
kind = "hash"
groups = ["g0", "g1"]
[[schema.rule]]
name = "dir"
kind = "lookup"
groups = ["g0", "g1"]
lookup = { group = "g0", table = "d", key_column = "k", shard_column = "s" }
[[schema.table]]
name = "t"
key = "id"
rule = "by_id"
[[schema.table]]
name = "u"
key = "id"
rule = "by_id"
[[schema.table]]
name = "l"
key = "id"
rule = "dir"
"#,
        )
        .expect("config")
    }

    fn route(sql: &str) -> Option<usize> {
        point_route(&topo(), Some("app"), sql.as_bytes(), LexOptions::default()).map(|r| {
            assert_eq!((r.schema.as_str(), r.rule.as_str()), ("app", "by_id"));
            r.param
        })
    }

    #[test]
    fn point_statements_are_recognised() {
        assert_eq!(route("SELECT c FROM t WHERE id = ?"), Some(0));
        assert_eq!(route("SELECT c FROM t WHERE k = ? AND id = ?"), Some(1));
        assert_eq!(
            route("SELECT c FROM t WHERE (a = 1 OR b = ?) AND ID = ?"),
            Some(1)
        );
        assert_eq!(route("UPDATE t SET c = ? WHERE id = ?"), Some(1));
        assert_eq!(route("DELETE FROM t WHERE id = ?"), Some(0));
        assert_eq!(
            route("SELECT c FROM t WHERE id = ? ORDER BY c LIMIT 5"),
            Some(0)
        );
    }

    #[test]
    fn anything_else_is_planned_every_time() {
        for sql in [
            "SELECT c FROM t WHERE id = 5",
            "SELECT c FROM t WHERE id IN (?, ?)",
            "SELECT c FROM t WHERE id BETWEEN ? AND ?",
            "SELECT c FROM t WHERE id = ? OR c = ?",
            "SELECT c FROM t WHERE id = ? AND id = ?",
            "SELECT c FROM t WHERE id > ?",
            "SELECT c FROM t",
            "SELECT c FROM t JOIN u ON t.id = u.id WHERE t.id = ?",
            "SELECT c FROM t WHERE id = ? UNION SELECT c FROM t WHERE id = ?",
            "SELECT c FROM t WHERE id = (SELECT id FROM u WHERE id = ?)",
            "/*+ shardgate: shard=1 */ SELECT c FROM t WHERE id = ?",
            "SELECT c FROM l WHERE id = ?",
            "INSERT INTO t (id, c) VALUES (?, ?)",
            "SELECT c FROM other WHERE id = ?",
        ] {
            assert_eq!(route(sql), None, "{sql}");
        }
    }
}
