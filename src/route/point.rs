//! Prepared statements whose shards follow from their bound parameters.
//!
//! Most prepared statements on sharded tables name one table and route by
//! a shard-key condition on `?`s: `SELECT ... FROM t WHERE key = ?`,
//! `... WHERE key BETWEEN ? AND ?`, `UPDATE t SET ... WHERE key IN (?, ?)`.
//! For those, every execution that reaches the same set of shards plans to
//! the same thing. [`key_route`] extracts, once per prepared statement, the
//! shard-key part of its WHERE as an owned tree ([`KeyRoute`]); the executor
//! then evaluates only that tree against the bound values
//! ([`KeyRoute::shards`], the same rules the planner applies) and reuses
//! the plan the full planner made for that shard set the first time
//! (`reactor::prepared`), so the SQL is not lexed and parsed again.
//!
//! A statement qualifies only when its routing cannot depend on anything
//! but the key's shards: one table (no joins, subqueries, unions), sharded
//! by a rule that needs no directory (not `lookup`), no route hint. A plan
//! over several shards is reused only when every `?` of the statement is a
//! shard-key operand ([`KeyRoute::params_only_in_key`]): a `LIMIT ?` or
//! `HAVING ... ?` puts its value into the merge, which a cached plan would
//! not see change.

use crate::config::{RuleKind, Topology};
use crate::merge::charset::Charset;
use crate::sql::parse::{self, CmpOp, Leaf, Literal, Pred, Stmt, Tree, Value};
use crate::sql::LexOptions;

use super::keyvalue::KeyValue;
use super::rules::{self, KeyPredicate, RuleEnv, ShardSet};
use super::shard::{cmp_predicate, literal_key_value, place_tables, Placement};
use super::state::{KeyTypeState, RouteState};

/// Where the shards of a prepared statement come from.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRoute {
    /// The logical schema, table and rule of the statement's table.
    pub schema: String,
    pub table: String,
    pub rule: String,
    /// The shard-key conditions of WHERE, in its AND/OR shape.
    expr: KeyExpr,
    /// Every `?` of the statement is an operand of a shard-key condition.
    pub params_only_in_key: bool,
}

/// The WHERE tree as routing sees it.
#[derive(Debug, Clone, PartialEq)]
enum KeyExpr {
    /// Says nothing about the key: every shard.
    All,
    And(Vec<KeyExpr>),
    Or(Vec<KeyExpr>),
    Cmp(CmpOp, KeyOperand),
    In(Vec<KeyOperand>),
    Between(KeyOperand, KeyOperand),
}

#[derive(Debug, Clone, PartialEq)]
enum KeyOperand {
    /// The `?` with this ordinal.
    Param(usize),
    Value(KeyValue),
}

/// The key route of prepared statement `sql` (with `num_params` `?`
/// placeholders) in schema `current`, if the statement qualifies.
pub fn key_route(
    topo: &Topology,
    current: Option<&str>,
    sql: &[u8],
    opts: LexOptions,
    num_params: usize,
) -> Option<KeyRoute> {
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
        schema,
        name,
        key,
        rule,
    })) = placements.first()
    else {
        return None;
    };
    if matches!(rule.kind, RuleKind::Lookup(_)) {
        return None;
    }
    let mut params = vec![false; num_params];
    let is_key = |col: &parse::Column<'_>| {
        col.name.is(key.as_bytes()) && parsed.column_table(0, col).is_some()
    };
    let expr = match parsed.blocks.first()?.where_.as_ref() {
        Some(w) => key_expr(w, &is_key, &mut params),
        None => KeyExpr::All,
    };
    Some(KeyRoute {
        schema: schema.name.clone(),
        table: (*name).to_owned(),
        rule: rule.name.clone(),
        expr,
        params_only_in_key: params.iter().all(|&p| p),
    })
}

/// The routing tree of `pred`; marks the `?`s it uses in `params`.
fn key_expr(
    pred: &Pred<'_>,
    is_key: &dyn Fn(&parse::Column<'_>) -> bool,
    params: &mut [bool],
) -> KeyExpr {
    let mut operand = |v: &Value<'_>| -> Option<KeyOperand> {
        match v.lit {
            Literal::Param(i) => {
                *params.get_mut(i as usize)? = true;
                Some(KeyOperand::Param(i as usize))
            }
            _ => literal_key_value(&v.lit, None).map(KeyOperand::Value),
        }
    };
    match pred {
        Tree::And(v) => KeyExpr::And(v.iter().map(|p| key_expr(p, is_key, params)).collect()),
        Tree::Or(v) => KeyExpr::Or(v.iter().map(|p| key_expr(p, is_key, params)).collect()),
        Tree::Unknown(_) => KeyExpr::All,
        Tree::Leaf(leaf) => match leaf {
            Leaf::Cmp { col, op, value } if is_key(col) => match operand(value) {
                Some(o) => KeyExpr::Cmp(*op, o),
                None => KeyExpr::All,
            },
            Leaf::In { col, values } if is_key(col) => {
                match values.iter().map(&mut operand).collect::<Option<Vec<_>>>() {
                    Some(v) => KeyExpr::In(v),
                    None => KeyExpr::All,
                }
            }
            Leaf::Between { col, low, high } if is_key(col) => {
                match (operand(low), operand(high)) {
                    (Some(l), Some(h)) => KeyExpr::Between(l, h),
                    _ => KeyExpr::All,
                }
            }
            _ => KeyExpr::All,
        },
    }
}

impl KeyRoute {
    /// The shards the bound `values` route the statement to, by the rules
    /// the planner applies; `None` when the planner has to say it (an
    /// error, a rule gone from the topology).
    pub fn shards(
        &self,
        topo: &Topology,
        state: &RouteState,
        values: &[KeyValue],
        client_charset: Option<Charset>,
    ) -> Option<ShardSet> {
        let rule = topo
            .schema(&self.schema)?
            .rules
            .iter()
            .find(|x| x.name == self.rule)?;
        let key_type = match state.key_type(&self.schema, &self.table) {
            KeyTypeState::NotNeeded => None,
            KeyTypeState::Known(t) => Some(t),
            // The planner reads the table's columns first.
            KeyTypeState::Unknown => return None,
        };
        let env = RuleEnv {
            bucket_map: state.bucket_map(&self.schema, &self.rule),
            lookup: None,
            key_type,
            convert: state.key_conversion(&self.schema, &self.table, client_charset),
        };
        eval(&self.expr, rule, &env, values)
    }
}

fn eval(
    e: &KeyExpr,
    rule: &crate::config::Rule,
    env: &RuleEnv<'_>,
    values: &[KeyValue],
) -> Option<ShardSet> {
    let value = |o: &KeyOperand| -> Option<KeyValue> {
        match o {
            KeyOperand::Param(i) => values.get(*i).cloned(),
            KeyOperand::Value(v) => Some(v.clone()),
        }
    };
    let pred = match e {
        KeyExpr::All => KeyPredicate::Any,
        KeyExpr::And(parts) => {
            let mut set = rules::all_shards(rule);
            for p in parts {
                set = set.and(&eval(p, rule, env, values)?);
            }
            return Some(set);
        }
        KeyExpr::Or(parts) => {
            let mut set = ShardSet::empty(rule.shard_count());
            for p in parts {
                set = set.or(&eval(p, rule, env, values)?);
            }
            return Some(set);
        }
        KeyExpr::Cmp(op, o) => cmp_predicate(*op, value(o)?),
        KeyExpr::In(os) => KeyPredicate::In(os.iter().map(value).collect::<Option<_>>()?),
        KeyExpr::Between(l, h) => KeyPredicate::between(value(l)?, value(h)?),
    };
    rules::shards_for_predicate_in(rule, env, &pred).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::keyvalue::KeyType;
    use crate::route::state::TableColumns;

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

    /// The shards of `sql` with the bound `values` (hash over 2 shards:
    /// `key mod 2`), and whether every `?` is a key operand.
    fn route(sql: &str, values: &[i64]) -> Option<(Vec<u32>, bool)> {
        let topo = topo();
        let n = sql.matches('?').count();
        let r = key_route(&topo, Some("app"), sql.as_bytes(), LexOptions::default(), n)?;
        assert_eq!((r.schema.as_str(), r.rule.as_str()), ("app", "by_id"));
        let values: Vec<KeyValue> = values.iter().map(|&v| KeyValue::from(v)).collect();
        let state = RouteState::build(&topo);
        state.set_table_columns("app", "t", columns(KeyType::Integer));
        let set = r.shards(&topo, &state, &values, Some(Charset::Utf8))?;
        Some((set.to_vec(), r.params_only_in_key))
    }

    /// Columns `id` (of key type `ty`), `c`.
    fn columns(ty: KeyType) -> TableColumns {
        TableColumns {
            ordered: vec![b"id".to_vec(), b"c".to_vec()],
            key_types: vec![(b"id".to_vec(), ty), (b"c".to_vec(), KeyType::Text)],
            ..Default::default()
        }
    }

    #[test]
    fn the_key_columns_type_decides_and_an_unknown_one_defers_to_the_planner() {
        let topo = topo();
        let r = key_route(
            &topo,
            Some("app"),
            b"SELECT c FROM t WHERE id = ?",
            LexOptions::default(),
            1,
        )
        .expect("key route");
        let state = RouteState::build(&topo);
        let s = |b: &str| vec![KeyValue::from_string(b.as_bytes())];
        // Columns not read yet: the planner reads them first.
        assert_eq!(r.shards(&topo, &state, &s("42"), Some(Charset::Utf8)), None);
        // An integer column: '42' is 42 (42 mod 2 = 0).
        state.set_table_columns("app", "t", columns(KeyType::Integer));
        assert_eq!(
            r.shards(&topo, &state, &s("42"), Some(Charset::Utf8))
                .map(|x| x.to_vec()),
            Some(vec![0])
        );
        // A string column: '42' is its bytes, CRC32('42') % 2 = 0 and
        // CRC32('042') % 2 = 1; an integer parameter compares numerically
        // with every shard's strings.
        state.set_table_columns("app", "t", columns(KeyType::Text));
        assert_eq!(
            r.shards(&topo, &state, &s("042"), Some(Charset::Utf8))
                .map(|x| x.to_vec()),
            Some(vec![1])
        );
        assert_eq!(
            r.shards(&topo, &state, &[KeyValue::Int(42)], Some(Charset::Utf8))
                .map(|x| x.to_vec()),
            Some(vec![0, 1])
        );
        // DDL forgets them again.
        state.forget_table_columns("app", "t");
        assert_eq!(r.shards(&topo, &state, &s("42"), Some(Charset::Utf8)), None);
    }

    #[test]
    fn key_conditions_give_the_planners_shards() {
        let both = vec![0, 1];
        for (sql, values, shards, only_key) in [
            ("SELECT c FROM t WHERE id = ?", vec![7], vec![1], true),
            (
                "SELECT c FROM t WHERE k = ? AND id = ?",
                vec![1, 4],
                vec![0],
                false,
            ),
            (
                "SELECT c FROM t WHERE (a = 1 OR b = ?) AND ID = ?",
                vec![0, 3],
                vec![1],
                false,
            ),
            (
                "UPDATE t SET c = ? WHERE id = ?",
                vec![0, 2],
                vec![0],
                false,
            ),
            ("DELETE FROM t WHERE id = ?", vec![5], vec![1], true),
            (
                "SELECT c FROM t WHERE id = ? ORDER BY c LIMIT ?",
                vec![5, 3],
                vec![1],
                false,
            ),
            (
                "SELECT c FROM t WHERE id IN (?, ?)",
                vec![2, 4],
                vec![0],
                true,
            ),
            (
                "SELECT c FROM t WHERE id IN (?, ?)",
                vec![2, 5],
                both.clone(),
                true,
            ),
            (
                "SELECT c FROM t WHERE id BETWEEN ? AND ?",
                vec![3, 3],
                vec![1],
                true,
            ),
            (
                "SELECT c FROM t WHERE id BETWEEN ? AND ?",
                vec![3, 90],
                both.clone(),
                true,
            ),
            (
                "SELECT c FROM t WHERE id BETWEEN ? AND ?",
                vec![9, 3],
                vec![],
                true,
            ),
            (
                "SELECT c FROM t WHERE id = ? OR id = ?",
                vec![2, 4],
                vec![0],
                true,
            ),
            (
                "SELECT c FROM t WHERE id = ? OR c = ?",
                vec![2, 4],
                both.clone(),
                false,
            ),
            (
                "SELECT c FROM t WHERE id = ? AND id = ?",
                vec![2, 3],
                vec![],
                true,
            ),
            ("SELECT c FROM t WHERE id > ?", vec![1], both.clone(), true),
            ("SELECT c FROM t WHERE id = 5", vec![], vec![1], true),
            (
                "SELECT c FROM t WHERE id <> ?",
                vec![1],
                both.clone(),
                false,
            ),
            ("SELECT c FROM t", vec![], both.clone(), true),
        ] {
            assert_eq!(
                route(sql, &values),
                Some((shards, only_key)),
                "{sql} {values:?}"
            );
        }
    }

    #[test]
    fn anything_else_is_planned_every_time() {
        for sql in [
            "SELECT c FROM t JOIN u ON t.id = u.id WHERE t.id = ?",
            "SELECT c FROM t WHERE id = ? UNION SELECT c FROM t WHERE id = ?",
            "SELECT c FROM t WHERE id = (SELECT id FROM u WHERE id = ?)",
            "/*+ shardgate: shard=1 */ SELECT c FROM t WHERE id = ?",
            "SELECT c FROM l WHERE id = ?",
            "INSERT INTO t (id, c) VALUES (?, ?)",
            "SELECT c FROM other WHERE id = ?",
        ] {
            assert_eq!(route(sql, &[1, 1]), None, "{sql}");
        }
    }
}
