//! Planning a SELECT that runs on several shards: the [`MergeSpec`] the
//! merger needs and the edits that turn the client's SQL into the shards'
//! SQL (the contract is in `crate::merge`'s module docs):
//! - ORDER BY keys not in the select list, GROUP BY keys not selected and
//!   aggregates that only HAVING / ORDER BY read become hidden trailing
//!   columns;
//! - `AVG(x)` runs as `SUM(x)` plus a hidden `COUNT(x)`;
//! - each `COUNT/SUM/AVG(DISTINCT x)` in the select list runs as `x`, with
//!   `x` added to the shards' GROUP BY (the merger counts or sums the
//!   distinct values);
//! - `LIMIT o, c` runs as `LIMIT o+c` (no LIMIT at all when grouping);
//! - HAVING is evaluated by the merger (the shards get `HAVING 1`);
//! - grouped rows come sorted by the group keys from every shard;
//! - a UNION runs whole on every shard (`union`);
//! - a GROUP BY on the shard key is computed whole by the shards
//!   (`shard_groups`).
//!
//! Anything the merger cannot merge exactly is refused with a `shardgate:`
//! message (the caller sends it as ERR 1235).

mod agg_expr;
mod collation_source;
pub(super) use collation_source::collation_source;
mod shard_groups;
mod union;

use std::ops::Range;

use crate::merge::{
    check_aggregate, Aggregate, CmpOp, Limit, Literal as MLit, MergeSpec, OrderKey, Predicate,
};
use crate::sql::parse::{
    self, AggArg, AggFunc, Block, BlockKind, HavingOperand, HavingPred, ItemKind, Key, Literal,
    Parsed, Tree, Value,
};

/// A column of the shards' result, before indices are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    /// Select-list item `i`.
    Item(usize),
    /// The `k`-th hidden column appended.
    Hidden(usize),
}

struct Builder<'p, 'a> {
    sql: &'a [u8],
    block: &'p Block<'a>,
    /// Select items before the first `*` have a known position.
    known_items: usize,
    star: bool,
    hidden: Vec<Vec<u8>>,
    edits: Vec<(Range<usize>, Vec<u8>)>,
    /// Columns the merger computes over aggregates (`SUM(a) / COUNT(*)`).
    exprs: Vec<(Col, agg_expr::PlannedExpr)>,
}

pub type Plan = Result<(MergeSpec, Vec<(Range<usize>, Vec<u8>)>), String>;

/// The merge plan and the shard-SQL edits for the SELECT in `parsed`.
/// `params`: bound values for `?` in LIMIT (prepared statements).
/// What the planner knows of the shard key that makes work shard-local.
#[derive(Debug, Default, Clone)]
pub struct ShardLocal {
    /// The statement groups by the shard key, so each group is whole on
    /// one shard (`shard_groups`).
    pub groups: bool,
    /// The shard key columns of the top block's sharded tables whose equal
    /// values sit on one shard: (the table's alias or name as written, the
    /// key column), lowercased. `COUNT(DISTINCT k)` and `SUM(DISTINCT k)`
    /// of such a key add up over the shards (no value is on two).
    pub keys: Vec<(Vec<u8>, Vec<u8>)>,
}

impl ShardLocal {
    /// Whether `arg` (an aggregate's argument as written) is one of `keys`.
    fn is_key(&self, arg: &[u8]) -> bool {
        let arg = arg.trim_ascii();
        let Some(name) = plain_column_name(arg) else {
            return false;
        };
        let unquote = |b: &[u8]| -> Vec<u8> {
            b.iter()
                .copied()
                .filter(|&c| c != b'`')
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let name = unquote(&name);
        let mut parts = arg.rsplitn(2, |&b| b == b'.');
        let _ = parts.next();
        let qualifier = parts.next().map(|q| {
            // `schema.table.col`: the table part
            let t = q.rsplit(|&b| b == b'.').next().unwrap_or(q);
            unquote(t)
        });
        self.keys
            .iter()
            .any(|(table, key)| *key == name && qualifier.as_ref().is_none_or(|q| q == table))
    }
}

pub fn merge_spec(
    parsed: &Parsed<'_>,
    sql: &[u8],
    params: Option<&[u64]>,
    binary: bool,
    local: &ShardLocal,
) -> Plan {
    merge_spec_of(parsed, parsed.top(), sql, params, binary, local)
}

/// [`merge_spec`] for one block of the statement (the top one, or the
/// derived table a `SELECT COUNT(*) FROM (...) t` counts).
pub fn merge_spec_of(
    parsed: &Parsed<'_>,
    block: &Block<'_>,
    sql: &[u8],
    params: Option<&[u64]>,
    binary: bool,
    local: &ShardLocal,
) -> Plan {
    match block.kind {
        BlockKind::Select => {}
        BlockKind::Union => return union::merge_spec(parsed, block, sql, params, binary),
        _ => return Err("shardgate: only SELECT can run on several shards".into()),
    }
    if block.into.is_some() {
        return Err("shardgate: SELECT ... INTO over several shards is not supported".into());
    }
    if block.calc_found_rows {
        return Err(
            "shardgate: SQL_CALC_FOUND_ROWS over several shards is not supported; use COUNT(*)"
                .into(),
        );
    }
    if block.with_rollup {
        return Err(
            "shardgate: GROUP BY ... WITH ROLLUP over several shards is not supported".into(),
        );
    }
    let mut b = Builder::new(sql, block);
    if local.groups && !block.group_by.is_empty() {
        return shard_groups::merge_spec(block, b, params, binary);
    }
    let mut spec = MergeSpec {
        binary,
        ..MergeSpec::default()
    };
    let mut aggregates: Vec<(Col, Aggregate)> = Vec::new();
    let mut avg_counts: Vec<(usize, Col)> = Vec::new();
    let mut derived: Vec<(Col, Vec<u8>)> = Vec::new();
    // COUNT/SUM/AVG(DISTINCT x): its select item and `x`.
    let mut count_distinct: Vec<(usize, Vec<u8>)> = Vec::new();
    // Every DISTINCT aggregate is COUNT/SUM(DISTINCT shard key).
    let distinct_of_key = |agg: &parse::Aggregate| {
        matches!(agg.func, AggFunc::Count | AggFunc::Sum)
            && matches!(&agg.arg, AggArg::Expr(r) if local.is_key(&sql[r.clone()]))
    };
    let keys_only = block.items.iter().all(|it| match &it.kind {
        ItemKind::Aggregate(agg) if agg.distinct => distinct_of_key(agg),
        _ => true,
    });
    // Aggregates in the select list.
    for (i, item) in block.items.iter().enumerate() {
        match &item.kind {
            // COUNT/SUM(DISTINCT k) of the shard key: each value is on one
            // shard, so the shards' answers add up (unless another DISTINCT
            // aggregate makes the shards group by more).
            ItemKind::Aggregate(agg)
                if agg.distinct
                    && keys_only
                    && matches!(agg.func, AggFunc::Count | AggFunc::Sum)
                    && i < b.known_items =>
            {
                aggregates.push((Col::Item(i), simple_agg(agg.func)));
            }
            ItemKind::Aggregate(agg)
                if agg.distinct
                    && matches!(agg.func, AggFunc::Count | AggFunc::Sum | AggFunc::Avg) =>
            {
                let arg = count_distinct_arg(sql, agg, i < b.known_items)?;
                // The shards return `x` itself (named like the aggregate)
                // and group by it; the merger counts or sums the distinct
                // values.
                let mut text = arg.clone();
                text.extend_from_slice(&named_as_written(sql, item));
                b.edits.push((item.expr.clone(), text));
                let a = match agg.func {
                    AggFunc::Sum => Aggregate::SumDistinct,
                    AggFunc::Avg => Aggregate::AvgDistinct,
                    _ => Aggregate::CountDistinct,
                };
                aggregates.push((Col::Item(i), a));
                if let Some(name) = plain_column_name(&arg) {
                    derived.push((Col::Item(i), name));
                }
                count_distinct.push((i, arg));
            }
            ItemKind::Aggregate(agg) => {
                check_aggregate(agg_name(agg.func), agg.distinct)?;
                if i >= b.known_items {
                    return Err("shardgate: aggregates after `*` in the select list are not supported over several shards".into());
                }
                let col = Col::Item(i);
                match agg.func {
                    AggFunc::Avg => {
                        let arg = arg_text(sql, &agg.arg);
                        // SUM(x) in place (named like the AVG), COUNT(x) hidden.
                        let mut text = b"SUM(".to_vec();
                        text.extend_from_slice(&arg);
                        text.push(b')');
                        text.extend_from_slice(&named_as_written(sql, item));
                        b.edits.push((item.expr.clone(), text));
                        let mut count = b"COUNT(".to_vec();
                        count.extend_from_slice(&arg);
                        count.push(b')');
                        let h = b.add_hidden(count);
                        avg_counts.push((i, h));
                        aggregates.push((col, Aggregate::Count)); // placeholder, fixed below
                    }
                    f => {
                        aggregates.push((col, simple_agg(f)));
                        if let AggArg::Expr(r) = &agg.arg {
                            let arg = sql.get(r.clone()).unwrap_or_default();
                            // MIN(col) / MAX(col) compare like the column.
                            if let Some(name) = plain_column_name(arg) {
                                derived.push((col, name));
                            }
                        }
                    }
                }
            }
            ItemKind::Expr(info) if info.window => {
                return Err(unmergeable_expression(
                    sql.get(item.expr.clone()).unwrap_or_default(),
                ))
            }
            // An expression over aggregates: computed by the merger over
            // the merged aggregates (hidden columns).
            ItemKind::Expr(info) if info.aggregate => {
                if i >= b.known_items {
                    return Err("shardgate: aggregates after `*` in the select list are not supported over several shards".into());
                }
                let planned = agg_expr::plan(
                    &mut b,
                    item.expr.clone(),
                    agg_expr::Place::Item,
                    &mut aggregates,
                )?;
                b.exprs.push((Col::Item(i), planned));
            }
            _ => {}
        }
    }
    let grouped = !block.group_by.is_empty() || !aggregates.is_empty();
    // GROUP BY keys.
    let mut group_cols = Vec::new();
    for g in &block.group_by {
        let col = b.key_column(&g.key, g.range.clone())?;
        group_cols.push(col);
    }
    // COUNT(DISTINCT x), COUNT(DISTINCT y): the shards group by x, y as
    // well (their other aggregates are then partial per x, y, and merge
    // the same way).
    if !count_distinct.is_empty() {
        let args = count_distinct
            .iter()
            .map(|(_, arg)| arg.as_slice())
            .collect::<Vec<_>>()
            .join(b", ".as_slice());
        let (at, text) = match block.group_by.last() {
            Some(g) => (g.range.end, [b", ".as_slice(), &args].concat()),
            None => match group_by_position(sql, block)? {
                // Before a clause's keyword (which follows a space).
                at if at < block.range.end => (at, [b"GROUP BY ".as_slice(), &args, b" "].concat()),
                at => (at, [b" GROUP BY ".as_slice(), &args].concat()),
            },
        };
        b.edits.push((at..at, text));
    }
    // HAVING.
    let mut having = None;
    if let Some(h) = &block.having {
        having = Some(b.having(&h.pred, &mut aggregates)?);
        b.edits.push((h.range.clone(), b"1".to_vec()));
    }
    // ORDER BY.
    let mut order = Vec::new();
    for o in &block.order_by {
        if let Key::Expr(info) = &o.key {
            if info.aggregate {
                let col = b.aggregate_by_text(&o.expr, &mut aggregates)?;
                order.push((col, o.desc));
                continue;
            }
        }
        let col = b.key_column(&o.key, o.expr.clone())?;
        order.push((col, o.desc));
    }
    if block.distinct && !b.hidden.is_empty() && !grouped {
        return Err(distinct_order_not_selected());
    }
    // LIMIT.
    if let Some(l) = &block.limit {
        let limit = limit_of(l, params)?;
        spec.limit = Some(limit);
        if grouped {
            b.edits.push((l.range.clone(), Vec::new()));
        } else {
            b.edits.push((l.range.clone(), shard_limit(limit)));
        }
    }
    b.append_hidden();
    // Final indices.
    let planned_exprs = std::mem::take(&mut b.exprs);
    let resolve = |c: Col| b.resolve(c);
    spec.hidden = b.hidden.len();
    spec.distinct = block.distinct;
    spec.group_by = group_cols.iter().map(|&c| resolve(c)).collect();
    spec.order_by = order
        .iter()
        .map(|&(c, desc)| OrderKey {
            column: resolve(c),
            desc,
        })
        .collect();
    spec.aggregates = aggregates
        .iter()
        .map(|&(c, a)| {
            let a = match avg_counts.iter().find(|(i, _)| Col::Item(*i) == c) {
                Some(&(i, count)) => Aggregate::Avg {
                    sum: i,
                    count: resolve(count),
                },
                None => a,
            };
            (resolve(c), a)
        })
        .collect();
    spec.having = having.map(|h| h.resolve(&resolve));
    spec.exprs = planned_exprs
        .into_iter()
        .map(|(c, e)| (resolve(c), e.resolve(&resolve)))
        .collect();
    spec.derived_from = derived.into_iter().map(|(c, n)| (resolve(c), n)).collect();
    // Computed columns: where their collation comes from.
    spec.expr_collations = computed_collations(sql, &block.items[..b.known_items]);
    spec.expr_collations.extend(b.hidden_collations());
    for (i, arg) in &count_distinct {
        if plain_column_name(arg).is_none() {
            if let Some(src) = collation_source::collation_source(arg) {
                spec.expr_collations.push((*i, src));
            }
        }
    }
    if grouped && block.order_by.is_empty() {
        // MariaDB returns GROUP BY results sorted by the group keys
        // (descending for `GROUP BY x DESC`).
        spec.group_order();
        for (o, g) in spec.order_by.iter_mut().zip(&block.group_by) {
            o.desc = g.desc;
        }
    }
    if spec.needs_sorted_shards() && block.order_by.is_empty() && !block.group_by.is_empty() {
        b.order_shards_by_groups();
    }
    Ok((spec, b.edits))
}

/// The refusal of `SELECT DISTINCT ... ORDER BY` a column not selected
/// (the hidden column would change what is distinct).
fn distinct_order_not_selected() -> String {
    "shardgate: SELECT DISTINCT ... ORDER BY a column that is not selected cannot be merged across shards; \
     select the column"
        .into()
}

/// A LIMIT's offset and count (`?` from `params`).
fn limit_of(l: &parse::Limit<'_>, params: Option<&[u64]>) -> Result<Limit, String> {
    let count = limit_value(&l.count, params)?;
    let offset = match &l.offset {
        Some(v) => limit_value(v, params)?,
        None => 0,
    };
    Ok(Limit { offset, count })
}

/// The shards' LIMIT for a merged `limit`: every row up to its end.
fn shard_limit(limit: Limit) -> Vec<u8> {
    format!("LIMIT {}", limit.offset.saturating_add(limit.count)).into_bytes()
}

/// Where the collations of the computed items among `items` come from.
fn computed_collations(
    sql: &[u8],
    items: &[parse::SelectItem<'_>],
) -> Vec<(usize, crate::merge::ExprCollation)> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let ItemKind::Expr(_) = item.kind {
            let text = sql.get(item.expr.clone()).unwrap_or_default();
            if let Some(src) = collation_source::collation_source(text) {
                out.push((i, src));
            }
        }
    }
    out
}

fn agg_name(f: AggFunc) -> &'static str {
    match f {
        AggFunc::Count => "COUNT",
        AggFunc::Sum => "SUM",
        AggFunc::Min => "MIN",
        AggFunc::Max => "MAX",
        AggFunc::Avg => "AVG",
    }
}

fn simple_agg(f: AggFunc) -> Aggregate {
    match f {
        AggFunc::Count => Aggregate::Count,
        AggFunc::Sum => Aggregate::Sum,
        AggFunc::Min => Aggregate::Min,
        AggFunc::Max | AggFunc::Avg => Aggregate::Max,
    }
}

/// The `x` of a select-list `COUNT(DISTINCT x)` that can be merged: one
/// expression, before any `*`, the only one of the statement.
fn count_distinct_arg(
    sql: &[u8],
    agg: &parse::Aggregate,
    before_star: bool,
) -> Result<Vec<u8>, String> {
    let AggArg::Expr(r) = &agg.arg else {
        return Err("shardgate: COUNT(DISTINCT *) is not valid SQL".into());
    };
    if !before_star {
        return Err("shardgate: aggregates after `*` in the select list are not supported over several shards".into());
    }
    let arg = sql.get(r.clone()).unwrap_or_default();
    let tokens = crate::sql::lexer::tokenize(arg, crate::sql::LexOptions::default());
    let mut depth = 0i32;
    for t in &tokens {
        match t.text(arg) {
            b"(" => depth += 1,
            b")" => depth -= 1,
            b"," if depth == 0 => {
                return Err(
                    "shardgate: COUNT(DISTINCT a, b) over several shards is not supported; \
                     count one expression (e.g. CONCAT_WS)"
                        .into(),
                )
            }
            // The shards' SQL repeats `x` in GROUP BY: a parameter would be
            // bound twice.
            b"?" => {
                return Err(
                    "shardgate: COUNT(DISTINCT ...) with a `?` parameter inside cannot run on \
                     several shards"
                        .into(),
                )
            }
            _ => {}
        }
    }
    Ok(arg.to_vec())
}

/// The column name of `text` when it reads as a plain (optionally
/// qualified, optionally backquoted) column reference; a name that is no
/// column of the table (a number) finds no collation and changes nothing.
fn plain_column_name(text: &[u8]) -> Option<Vec<u8>> {
    let name = text.trim_ascii().rsplit(|&b| b == b'.').next()?;
    let name: Vec<u8> = name.iter().copied().filter(|&b| b != b'`').collect();
    let plain = !name.is_empty()
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80);
    plain.then_some(name)
}

/// ` AS `<the item as written>`` for a select item rewritten for the
/// shards, so the column keeps the client's name; nothing when the item
/// has its own alias.
fn named_as_written(sql: &[u8], item: &parse::SelectItem<'_>) -> Vec<u8> {
    if item.alias.is_some() {
        return Vec::new();
    }
    item.name_as_written(sql)
}

/// Where ` GROUP BY ...` goes in a SELECT without one: before the first
/// top-level HAVING / ORDER BY / LIMIT / locking / INTO / WINDOW clause
/// after FROM, or at the end of the block.
fn group_by_position(sql: &[u8], block: &Block<'_>) -> Result<usize, String> {
    let text = sql.get(block.range.clone()).unwrap_or_default();
    let tokens = crate::sql::lexer::tokenize(text, crate::sql::LexOptions::default());
    let mut depth = 0i32;
    let mut after_from = false;
    for (k, t) in tokens.iter().enumerate() {
        let word = t.text(text);
        // A keyword as written (not quoted, not a name after `.`).
        let bare = matches!(
            t.kind,
            crate::sql::lexer::TokenKind::Keyword(_) | crate::sql::lexer::TokenKind::Ident
        ) && (k == 0 || tokens[k - 1].text(text) != b".");
        match word {
            b"(" => depth += 1,
            b")" => depth -= 1,
            _ if depth != 0 || !bare => {}
            _ if word.eq_ignore_ascii_case(b"from") => after_from = true,
            _ if after_from
                && [
                    b"having".as_slice(),
                    b"order",
                    b"limit",
                    b"for",
                    b"lock",
                    b"into",
                    b"window",
                    b"procedure",
                    b"offset",
                    b"fetch",
                ]
                .iter()
                .any(|k| word.eq_ignore_ascii_case(k)) =>
            {
                return Ok(block.range.start + t.start);
            }
            _ => {}
        }
    }
    if after_from {
        Ok(block.range.end)
    } else {
        Err("shardgate: COUNT(DISTINCT ...) without FROM cannot run on several shards".into())
    }
}

fn arg_text(sql: &[u8], arg: &AggArg) -> Vec<u8> {
    match arg {
        AggArg::Star => b"*".to_vec(),
        AggArg::Expr(r) => sql.get(r.clone()).unwrap_or_default().to_vec(),
    }
}

fn limit_value(v: &Value<'_>, params: Option<&[u64]>) -> Result<u64, String> {
    match &v.lit {
        Literal::Int(i) if *i >= 0 => Ok(*i as u64),
        Literal::UInt(u) => Ok(*u),
        Literal::Param(i) => params
            .and_then(|p| p.get(*i as usize).copied())
            .ok_or_else(|| "shardgate: LIMIT needs a value".to_string()),
        _ => Err("shardgate: LIMIT must be a number".into()),
    }
}

/// A HAVING predicate over [`Col`]s, resolved once indices are final.
enum HavingCol {
    Cmp { col: Col, op: CmpOp, value: MLit },
    IsNull(Col),
    And(Box<HavingCol>, Box<HavingCol>),
    Or(Box<HavingCol>, Box<HavingCol>),
}

impl HavingCol {
    fn resolve(self, f: &dyn Fn(Col) -> usize) -> Predicate {
        match self {
            HavingCol::Cmp { col, op, value } => Predicate::Cmp {
                column: f(col),
                op,
                value,
            },
            HavingCol::IsNull(c) => Predicate::IsNull(f(c)),
            HavingCol::And(a, b) => Predicate::And(Box::new(a.resolve(f)), Box::new(b.resolve(f))),
            HavingCol::Or(a, b) => Predicate::Or(Box::new(a.resolve(f)), Box::new(b.resolve(f))),
        }
    }
}

impl<'p, 'a> Builder<'p, 'a> {
    /// A builder for the select list of `block` (items before a `*` have a
    /// known position).
    fn new(sql: &'a [u8], block: &'p Block<'a>) -> Self {
        let star_at = block
            .items
            .iter()
            .position(|i| matches!(i.kind, ItemKind::Star { .. }));
        Builder {
            sql,
            block,
            known_items: star_at.unwrap_or(block.items.len()),
            star: star_at.is_some(),
            hidden: Vec::new(),
            edits: Vec::new(),
            exprs: Vec::new(),
        }
    }

    /// Makes every shard return its groups in group-key order (an ORDER BY
    /// of the GROUP BY keys as written, after HAVING).
    fn order_shards_by_groups(&mut self) {
        let block = self.block;
        let at = block
            .having
            .as_ref()
            .map(|h| h.range.end)
            .or_else(|| block.group_by.last().map(|g| g.range.end))
            .unwrap_or(0);
        let mut text = b" ORDER BY ".to_vec();
        for (i, g) in block.group_by.iter().enumerate() {
            if i > 0 {
                text.extend_from_slice(b", ");
            }
            text.extend_from_slice(&self.sql[g.range.clone()]);
        }
        self.edits.push((at..at, text));
    }

    /// Hidden columns go at the end of the select list.
    fn append_hidden(&mut self) {
        if self.hidden.is_empty() {
            return;
        }
        let end = self.block.items.last().map_or(0, |i| i.range.end);
        let mut text = Vec::new();
        for h in &self.hidden {
            text.extend_from_slice(b", ");
            text.extend_from_slice(h);
        }
        self.edits.push((end..end, text));
    }

    /// The final index of column `c` in the shards' rows.
    fn resolve(&self, c: Col) -> usize {
        let nh = self.hidden.len();
        match c {
            Col::Item(i) => i,
            Col::Hidden(k) if self.star => MergeSpec::from_end(nh - 1 - k),
            Col::Hidden(k) => self.known_items + k,
        }
    }

    /// Where the collations of the hidden columns come from.
    fn hidden_collations(&self) -> Vec<(usize, crate::merge::ExprCollation)> {
        let mut out = Vec::new();
        for (k, text) in self.hidden.iter().enumerate() {
            if let Some(src) = collation_source::collation_source(text) {
                out.push((self.resolve(Col::Hidden(k)), src));
            }
        }
        out
    }

    fn add_hidden(&mut self, text: Vec<u8>) -> Col {
        if let Some(k) = self.hidden.iter().position(|h| *h == text) {
            return Col::Hidden(k);
        }
        self.hidden.push(text);
        Col::Hidden(self.hidden.len() - 1)
    }

    /// The select item that is the column `c`, if any (before any `*`).
    fn item_of_column(&self, c: &parse::Column<'_>) -> Option<usize> {
        self.block.items[..self.known_items]
            .iter()
            .position(|it| match &it.kind {
                ItemKind::Column(ic) => {
                    ic.name.is(&c.name.name)
                        && match (&ic.table, &c.table) {
                            (Some(a), Some(b)) => a.is(&b.name),
                            _ => true,
                        }
                }
                _ => false,
            })
    }

    /// The shard column of an ORDER BY / GROUP BY key.
    fn key_column(&mut self, key: &Key<'_>, expr: Range<usize>) -> Result<Col, String> {
        match key {
            Key::Alias(i) if *i < self.known_items => Ok(Col::Item(*i)),
            Key::Position(p) if *p >= 1 && (*p as usize) <= self.known_items => Ok(Col::Item(*p as usize - 1)),
            Key::Position(_) => Err("shardgate: ORDER BY / GROUP BY position after `*` cannot be merged across shards".into()),
            Key::Column(c) => match self.item_of_column(c) {
                Some(i) => Ok(Col::Item(i)),
                None => Ok(self.add_hidden(self.sql[expr].to_vec())),
            },
            Key::Expr(info) if info.subquery || info.window => {
                Err("shardgate: ORDER BY / GROUP BY with a subquery or window function cannot be merged across shards".into())
            }
            Key::Alias(_) | Key::Expr(_) => {
                // The same expression as a select item, or a hidden one.
                let text = self.sql[expr].to_vec();
                if let Some(i) = self.block.items[..self.known_items]
                    .iter()
                    .position(|it| self.sql[it.expr.clone()].eq_ignore_ascii_case(&text))
                {
                    return Ok(Col::Item(i));
                }
                Ok(self.add_hidden(text))
            }
        }
    }

    /// The column holding the aggregate written as `expr` (a select item, or
    /// a new hidden aggregate).
    fn aggregate_by_text(
        &mut self,
        expr: &Range<usize>,
        aggs: &mut Vec<(Col, Aggregate)>,
    ) -> Result<Col, String> {
        let text = self.sql[expr.clone()].to_vec();
        if let Some(i) = self.block.items[..self.known_items]
            .iter()
            .position(|it| self.sql[it.expr.clone()].eq_ignore_ascii_case(&text))
        {
            return Ok(Col::Item(i));
        }
        let select = [b"SELECT ".as_slice(), &text].concat();
        let parsed = crate::sql::parse::parse(&select, crate::sql::LexOptions::default());
        let Some(ItemKind::Aggregate(agg)) = parsed.top().items.first().map(|i| i.kind.clone())
        else {
            let window = matches!(
                parsed.top().items.first().map(|i| &i.kind),
                Some(ItemKind::Expr(info)) if info.window
            );
            if window {
                return Err(
                    "shardgate: ORDER BY an aggregate expression cannot be merged across shards"
                        .into(),
                );
            }
            // An expression over aggregates, computed by the merger.
            // (MariaDB resolves names in an ORDER BY expression to table
            // columns, not to select-list aliases.)
            return self.hidden_expr(expr.clone(), agg_expr::Place::Item, aggs);
        };
        check_aggregate(agg_name(agg.func), agg.distinct)?;
        if agg.func == AggFunc::Avg {
            return Err("shardgate: AVG in ORDER BY must also be in the select list".into());
        }
        let col = self.add_hidden(text);
        if !aggs.iter().any(|(c, _)| *c == col) {
            aggs.push((col, simple_agg(agg.func)));
        }
        Ok(col)
    }

    /// A hidden column the merger computes from aggregates: the
    /// expression `sql[range]` (the shards compute it too, for its type).
    fn hidden_expr(
        &mut self,
        range: Range<usize>,
        place: agg_expr::Place,
        aggs: &mut Vec<(Col, Aggregate)>,
    ) -> Result<Col, String> {
        let planned = agg_expr::plan(self, range, place, aggs)?;
        let col = self.add_hidden(planned.shard_text.clone());
        if !self.exprs.iter().any(|(c, _)| *c == col) {
            self.exprs.push((col, planned));
        }
        Ok(col)
    }

    fn hidden_aggregate(
        &mut self,
        agg: &parse::Aggregate,
        aggs: &mut Vec<(Col, Aggregate)>,
    ) -> Result<Col, String> {
        check_aggregate(agg_name(agg.func), agg.distinct)?;
        if agg.func == AggFunc::Avg {
            return Err(
                "shardgate: AVG in HAVING / ORDER BY must also be in the select list".into(),
            );
        }
        let mut text = agg_name(agg.func).as_bytes().to_vec();
        text.push(b'(');
        text.extend_from_slice(&arg_text(self.sql, &agg.arg));
        text.push(b')');
        let col = self.add_hidden(text);
        if !aggs.iter().any(|(c, _)| *c == col) {
            aggs.push((col, simple_agg(agg.func)));
        }
        Ok(col)
    }

    fn having(
        &mut self,
        pred: &HavingPred<'_>,
        aggs: &mut Vec<(Col, Aggregate)>,
    ) -> Result<HavingCol, String> {
        let unsupported =
            || "shardgate: this HAVING condition cannot be evaluated across shards".to_string();
        match pred {
            Tree::And(parts) | Tree::Or(parts) => {
                let is_and = matches!(pred, Tree::And(_));
                let mut it = parts.iter();
                let first = it.next().ok_or_else(unsupported)?;
                let mut acc = self.having(first, aggs)?;
                for p in it {
                    let next = self.having(p, aggs)?;
                    acc = if is_and {
                        HavingCol::And(Box::new(acc), Box::new(next))
                    } else {
                        HavingCol::Or(Box::new(acc), Box::new(next))
                    };
                }
                Ok(acc)
            }
            // A condition over aggregates the parser does not analyse
            // (`SUM(a) / COUNT(*) > 2`): a hidden column the merger
            // computes, kept when it is true (not 0, not NULL).
            Tree::Unknown(r) => {
                let col = self
                    .hidden_expr(r.clone(), agg_expr::Place::Clause, aggs)
                    .map_err(|e| {
                        format!("{}: {}", unsupported(), e.trim_start_matches("shardgate: "))
                    })?;
                Ok(HavingCol::Cmp {
                    col,
                    op: CmpOp::Ne,
                    value: MLit::Number("0".into()),
                })
            }
            Tree::Leaf(leaf) => {
                let col = match &leaf.operand {
                    HavingOperand::Aggregate(agg) => {
                        let text = self.sql[agg.range.clone()].to_vec();
                        match self.block.items[..self.known_items]
                            .iter()
                            .position(|it| self.sql[it.expr.clone()].eq_ignore_ascii_case(&text))
                        {
                            Some(i) => Col::Item(i),
                            None => self.hidden_aggregate(agg, aggs)?,
                        }
                    }
                    HavingOperand::Name(c) => {
                        let by_alias = self.block.items[..self.known_items]
                            .iter()
                            .position(|it| it.alias.as_ref().is_some_and(|a| a.is(&c.name.name)));
                        match by_alias.or_else(|| self.item_of_column(c)) {
                            Some(i) => Col::Item(i),
                            None => return Err(unsupported()),
                        }
                    }
                };
                let op = match leaf.op {
                    parse::CmpOp::Eq | parse::CmpOp::NullSafeEq => CmpOp::Eq,
                    parse::CmpOp::Ne => CmpOp::Ne,
                    parse::CmpOp::Lt => CmpOp::Lt,
                    parse::CmpOp::Le => CmpOp::Le,
                    parse::CmpOp::Gt => CmpOp::Gt,
                    parse::CmpOp::Ge => CmpOp::Ge,
                };
                let value = match &leaf.value.lit {
                    Literal::Null => return Ok(HavingCol::IsNull(col)),
                    Literal::Int(i) => MLit::Number(i.to_string()),
                    Literal::UInt(u) => MLit::Number(u.to_string()),
                    Literal::Decimal { neg, digits } => MLit::Number(format!(
                        "{}{}",
                        if *neg { "-" } else { "" },
                        String::from_utf8_lossy(digits)
                    )),
                    Literal::Float { neg, text } => MLit::Number(format!(
                        "{}{}",
                        if *neg { "-" } else { "" },
                        String::from_utf8_lossy(text)
                    )),
                    Literal::Str { bytes, .. } => MLit::Str(bytes.to_vec()),
                    _ => return Err(unsupported()),
                };
                Ok(HavingCol::Cmp { col, op, value })
            }
        }
    }
}

/// Why a select item holding an aggregate or window function cannot be
/// merged: an aggregate the merger does not combine (STDDEV, GROUP_CONCAT,
/// ...) is named; otherwise the aggregate sits inside an expression.
fn unmergeable_expression(expr: &[u8]) -> String {
    let name_len = expr
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    let (name, rest) = expr.split_at(name_len);
    let call = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'(');
    if call && parse::is_aggregate_name(name) && parse::agg_func(name).is_none() {
        return format!(
            "shardgate: {}() cannot be merged across shards (only COUNT, SUM, MIN, MAX and AVG are); \
             add a shard-key condition so the query runs on one shard, or compute it from the rows",
            String::from_utf8_lossy(name).to_ascii_uppercase()
        );
    }
    "shardgate: an aggregate or window function inside an expression cannot be merged across \
     shards; select the aggregate itself"
        .into()
}
