//! A UNION over several shards. Every shard runs the whole union for its
//! own rows (`route::shard` checks that each part reads a sharded table of
//! the rule, joined on its keys, so no part's rows come from two shards)
//! and the merger puts the shards' answers together: concatenated for
//! UNION ALL, distinct rows for UNION, sorted and cut by the union's own
//! ORDER BY / LIMIT (the shards run `LIMIT offset+count`).
//!
//! Refused (ERR 1235): EXCEPT / INTERSECT (a row's match may sit on
//! another shard), ALL mixed with DISTINCT, and parts whose answer is not
//! the sum of the shards' answers: aggregates, GROUP BY, a LIMIT of their
//! own, DISTINCT inside a UNION ALL. The union's ORDER BY must name its
//! selected columns (a hidden column would change the union's width).

use crate::merge::{MergeSpec, OrderKey};
use crate::sql::parse::{Block, BlockKind, Key, Parsed, Place, SetOp};

use super::{computed_collations, limit_of, shard_limit, Builder, Col, Plan};

/// The merge plan and shard-SQL edits for the union `union` (the top
/// block of `parsed`).
pub(super) fn merge_spec(
    parsed: &Parsed<'_>,
    union: &Block<'_>,
    sql: &[u8],
    params: Option<&[u64]>,
    binary: bool,
) -> Plan {
    let mut all: Option<bool> = None;
    let mut parts = Vec::with_capacity(union.parts.len());
    for &p in &union.parts {
        let part = parsed
            .blocks
            .get(p)
            .ok_or("shardgate: a UNION part could not be read")?;
        if let Place::UnionPart {
            op: Some(op),
            all: a,
            ..
        } = part.place
        {
            if op != SetOp::Union {
                return Err("shardgate: EXCEPT / INTERSECT over several shards is not supported (a row's \
                     match may be on another shard); restrict the query to one shard with the shard key"
                    .into());
            }
            if *all.get_or_insert(a) != a {
                return Err("shardgate: a UNION mixing ALL and DISTINCT over several shards is not supported; \
                     use one kind"
                    .into());
            }
        }
        check_part(part)?;
        parts.push(part);
    }
    let union_all = all.unwrap_or(true);
    if union_all && parts.iter().any(|p| p.distinct) {
        return Err("shardgate: SELECT DISTINCT inside a UNION ALL over several shards cannot be merged (each \
             shard would drop only its own duplicates); use UNION, or restrict it to one shard"
            .into());
    }
    let Some(first) = parts.first() else {
        return Err("shardgate: a UNION without parts".into());
    };
    let mut b = Builder::new(sql, first);
    let mut order_by = Vec::with_capacity(union.order_by.len());
    for o in &union.order_by {
        if let Key::Expr(info) = &o.key {
            if info.aggregate {
                return Err(not_selected());
            }
        }
        // An unqualified name may be an alias of the first part's items.
        let alias = match &o.key {
            Key::Column(c) if c.table.is_none() => first.items[..b.known_items]
                .iter()
                .position(|it| it.alias.as_ref().is_some_and(|a| a.is(&c.name.name))),
            _ => None,
        };
        let col = match alias {
            Some(i) => Col::Item(i),
            None => b.key_column(&o.key, o.expr.clone())?,
        };
        match col {
            Col::Item(i) => order_by.push(OrderKey {
                column: i,
                desc: o.desc,
            }),
            Col::Hidden(_) => return Err(not_selected()),
        }
    }
    let mut spec = MergeSpec {
        binary,
        distinct: !union_all,
        order_by,
        ..MergeSpec::default()
    };
    if let Some(l) = &union.limit {
        let limit = limit_of(l, params)?;
        spec.limit = Some(limit);
        b.edits.push((l.range.clone(), shard_limit(limit)));
    }
    // Computed columns of the first part name the union's columns.
    spec.expr_collations = computed_collations(sql, &first.items[..b.known_items]);
    Ok((spec, b.edits))
}

/// A part whose rows over all shards are the rows of each shard's part.
fn check_part(part: &Block<'_>) -> Result<(), String> {
    if part.kind != BlockKind::Select {
        return Err("shardgate: a nested UNION over several shards is not supported".into());
    }
    if part.has_aggregate()
        || part.has_window()
        || !part.group_by.is_empty()
        || part.having.is_some()
    {
        return Err("shardgate: a UNION part with aggregates, GROUP BY or window functions cannot be merged \
             across shards; restrict the query to one shard with the shard key"
            .into());
    }
    if part.limit.is_some() {
        return Err(
            "shardgate: a UNION part with its own LIMIT cannot be merged across shards; put the \
             LIMIT after the whole UNION"
                .into(),
        );
    }
    if part.into.is_some() || part.calc_found_rows {
        return Err(
            "shardgate: SELECT ... INTO or SQL_CALC_FOUND_ROWS in a UNION over several shards is not supported"
                .into(),
        );
    }
    Ok(())
}

fn not_selected() -> String {
    "shardgate: the ORDER BY of a UNION over several shards must name selected columns".into()
}
