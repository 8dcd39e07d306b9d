//! A GROUP BY whose groups each live on one shard: grouped by the shard
//! key (`route::shard` checks the key column and that equal keys as the
//! server groups them are placed together: integer and date keys, string
//! keys under a binary collation). Every group is then whole on its
//! shard, so the shards compute the aggregates themselves, any function
//! (GROUP_CONCAT, STDDEV, COUNT(DISTINCT ...)), and HAVING; the merger
//! only puts the finished rows in order and cuts the LIMIT, as for a
//! plain SELECT:
//! - ORDER BY keys not selected become hidden columns (an aggregate there
//!   is computed by the shards too);
//! - without ORDER BY, rows come in group-key order, as MariaDB returns
//!   groups;
//! - `LIMIT o, c` runs as `LIMIT o+c`.

use crate::merge::{MergeSpec, OrderKey};
use crate::sql::parse::{Block, Key};

use super::{
    computed_collations, distinct_order_not_selected, limit_of, shard_limit, Builder, Col, Plan,
};

pub(super) fn merge_spec(
    block: &Block<'_>,
    mut b: Builder<'_, '_>,
    params: Option<&[u64]>,
    binary: bool,
) -> Plan {
    let sql = b.sql;
    let mut order = Vec::new();
    if block.order_by.is_empty() {
        for g in &block.group_by {
            order.push((b.key_column(&g.key, g.range.clone())?, g.desc));
        }
        b.order_shards_by_groups();
    } else {
        for o in &block.order_by {
            let col = match &o.key {
                // An aggregate: the shards' value is the group's own.
                Key::Expr(info) if info.aggregate => {
                    let text = sql[o.expr.clone()].to_vec();
                    match block.items[..b.known_items]
                        .iter()
                        .position(|it| sql[it.expr.clone()].eq_ignore_ascii_case(&text))
                    {
                        Some(i) => Col::Item(i),
                        None => b.add_hidden(text),
                    }
                }
                key => b.key_column(key, o.expr.clone())?,
            };
            order.push((col, o.desc));
        }
    }
    let mut spec = MergeSpec {
        binary,
        distinct: block.distinct,
        ..MergeSpec::default()
    };
    if block.distinct && !b.hidden.is_empty() {
        return Err(distinct_order_not_selected());
    }
    if let Some(l) = &block.limit {
        let limit = limit_of(l, params)?;
        spec.limit = Some(limit);
        b.edits.push((l.range.clone(), shard_limit(limit)));
    }
    b.append_hidden();
    spec.hidden = b.hidden.len();
    spec.order_by = order
        .iter()
        .map(|&(c, desc)| OrderKey {
            column: b.resolve(c),
            desc,
        })
        .collect();
    spec.expr_collations = computed_collations(sql, &block.items[..b.known_items]);
    spec.expr_collations.extend(b.hidden_collations());
    Ok((spec, b.edits))
}
