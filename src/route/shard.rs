//! The sharding planner: for a statement that names sharded or broadcast
//! tables, finds the shards that can hold its rows (from the shard-key
//! predicates, INSERT rows, route hints), rewrites logical table names to
//! physical ones (`article` → `article_0003`) keeping every other byte, and
//! says how the replies are gathered. Statements it cannot route correctly
//! are refused with ERR 1235 and a message starting `shardgate:`; they are
//! never sent to the wrong shard or to all shards by guess. INSERT
//! splitting is in `shard::insert`, DDL fan-out in `shard::ddl`.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use shardgate_proto::error_codes::{self as ec, ErrorCode};

use super::keyvalue::{KeyType, KeyValue};
use super::rules::{self, KeyPredicate, RouteError, RuleEnv, ShardSet};
use super::state::{KeyTypeState, RouteState, TableColumns};
use super::{err, Action, Effects, Gather, RouteCtx, RouteTarget};
use crate::config::{Rule, RuleKind, Schema, TableKind, Topology};
use crate::merge::charset::Charset;
use crate::merge::MergeSpec;
use crate::sql::parse::{
    self, Block, BlockKind, CmpOp, Leaf, Literal, Operand, Parsed, Place, Pred, Stmt, TableId,
    Tree, Value,
};
use crate::sql::LexOptions;

mod count_derived;
mod ddl;
mod insert;
pub mod load;
mod lock;
mod maintenance;
mod write_limit;

/// What the sharding planner decided.
pub enum ShardPlan {
    /// No sharded or broadcast table: route the statement as unsharded.
    NotSharded,
    Action(Action),
    /// Planning needs blocking I/O (a lookup-rule directory read): hand the
    /// statement to a worker.
    NeedsWorker,
}

/// Round robin over groups for broadcast-table reads.
static BROADCAST_RR: AtomicUsize = AtomicUsize::new(0);

/// How one table reference of the statement is stored.
#[derive(Clone, Copy)]
pub(super) enum Placement<'t> {
    Sharded {
        schema: &'t Schema,
        name: &'t str,
        key: &'t str,
        rule: &'t Rule,
    },
    Broadcast,
    /// Unsharded: lives on one group.
    Plain,
}

/// A literal or bound parameter (`params` of a prepared statement) as a
/// shard-key value; `None` when unknown (a `?` without a value).
pub(super) fn literal_key_value(
    lit: &Literal<'_>,
    params: Option<&[KeyValue]>,
) -> Option<KeyValue> {
    let kv = match lit {
        Literal::Int(i) => KeyValue::from(*i),
        Literal::UInt(u) => KeyValue::from_u64(*u),
        Literal::Decimal { neg, digits: text } | Literal::Float { neg, text } => {
            let mut t = Vec::with_capacity(text.len() + 1);
            if *neg {
                t.push(b'-');
            }
            t.extend_from_slice(text);
            KeyValue::from_number_literal(&t)?
        }
        Literal::Str { bytes, .. } => KeyValue::from_string(bytes),
        // The parser decoded the bytes; as a key they are a number or a
        // binary string depending on the column (`KeyValue::HexNum`).
        Literal::Hex(bytes) => KeyValue::HexNum(bytes.as_ref().into()),
        Literal::Bits(digits) => KeyValue::from_bit_literal(&[b"0b", *digits].concat())?,
        Literal::Null => KeyValue::Null,
        Literal::Bool(b) => KeyValue::from(i64::from(*b)),
        Literal::Param(i) => params?.get(*i as usize)?.clone(),
    };
    Some(kv)
}

/// The key predicate of `key <op> v`.
pub(super) fn cmp_predicate(op: CmpOp, v: KeyValue) -> KeyPredicate {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    match op {
        CmpOp::Eq | CmpOp::NullSafeEq => KeyPredicate::Eq(v),
        CmpOp::Lt => KeyPredicate::Range {
            lo: Unbounded,
            hi: Excluded(v),
        },
        CmpOp::Le => KeyPredicate::Range {
            lo: Unbounded,
            hi: Included(v),
        },
        CmpOp::Gt => KeyPredicate::Range {
            lo: Excluded(v),
            hi: Unbounded,
        },
        CmpOp::Ge => KeyPredicate::Range {
            lo: Included(v),
            hi: Unbounded,
        },
        CmpOp::Ne => KeyPredicate::Any,
    }
}

fn refuse(msg: impl AsRef<str>) -> ShardPlan {
    ShardPlan::Action(err(ec::ER_NOT_SUPPORTED_YET, msg.as_ref()))
}

fn route_error(e: RouteError) -> ShardPlan {
    let code: ErrorCode = e.code();
    ShardPlan::Action(err(code, &e.to_string()))
}

/// A statement to plan: its text, how it lexes, and its tokens when the
/// classifier kept them (empty: the parser lexes it).
pub struct StatementText<'q> {
    pub sql: &'q [u8],
    pub opts: LexOptions,
    pub tokens: Vec<crate::sql::Token>,
    /// The text holds several statements (`;`-separated).
    pub multi_statement: bool,
}

/// Plans `sql` if it touches sharded or broadcast tables. `params` are the
/// bound values of a prepared statement (`None` for COM_QUERY).
pub fn plan_sharded(
    topo: &Topology,
    state: &RouteState,
    ctx: &RouteCtx,
    text: StatementText<'_>,
    params: Option<&[KeyValue]>,
    may_block: bool,
) -> ShardPlan {
    let StatementText {
        sql,
        opts,
        tokens,
        multi_statement,
    } = text;
    let current = ctx.schema.as_deref();
    if let Some(inner) = explained_statement(sql, opts) {
        return plan_explain(topo, state, ctx, sql, inner, opts, params, may_block);
    }
    if let Some(plan) = maintenance::plan_maintenance(topo, current, sql, opts) {
        return plan;
    }
    // Only the first statement of a multi-statement text would be routed:
    // the others would reach the shard unrewritten.
    if multi_statement {
        return match mentioned_sharded_table(topo, current, sql, opts) {
            Some(name) => refuse(format!(
                "shardgate: a multi-statement query naming sharded or broadcast table '{name}' is \
                 not supported; send its statements one at a time"
            )),
            None => ShardPlan::NotSharded,
        };
    }
    let parsed = if tokens.is_empty() {
        parse::parse(sql, opts)
    } else {
        parse::parse_lexed(sql, opts, tokens)
    };
    // Which configured tables does the statement name?
    let (placements, any) = place_tables(topo, &parsed, current);
    if !parsed.analysed() {
        if let Some(name) = mentioned_sharded_table(topo, current, sql, opts) {
            let why = parsed
                .unsupported
                .map_or("this kind of statement", |u| u.reason);
            return refuse(format!(
                "shardgate: cannot route a statement on sharded table '{name}': {why}; \
                 name the table in a simple SELECT/INSERT/UPDATE/DELETE, or add a route hint"
            ));
        }
        return match &parsed.stmt {
            Stmt::CreateDatabase { name, .. } | Stmt::DropDatabase { name, .. } => {
                database_ddl(topo, state, &name.name)
            }
            _ => ShardPlan::NotSharded,
        };
    }
    if let Some(hint) = &parsed.hint {
        if let Some(why) = hint.error {
            return refuse(format!("shardgate: bad route hint: {why}"));
        }
    }
    match &parsed.stmt {
        Stmt::CreateDatabase { name, .. } | Stmt::DropDatabase { name, .. } => {
            return database_ddl(topo, state, &name.name)
        }
        Stmt::ShowTables(show) => {
            let db = show
                .db
                .as_ref()
                .map(|d| String::from_utf8_lossy(&d.name).into_owned())
                .or_else(|| current.map(str::to_owned));
            // The LIKE pattern is matched against the logical names: the
            // group lists every table (`LIKE '%'`), shardgate filters.
            let (like, sql_sent) = match &show.like {
                Some(parse::Value {
                    range,
                    lit: Literal::Str { bytes, .. },
                }) => (
                    Some(bytes.to_vec()),
                    Some(splice(sql, vec![(range.clone(), b"'%'".to_vec())])),
                ),
                _ => (None, None),
            };
            let listing = ShowListing {
                like,
                status: show.status,
                filtered: show.where_.is_some(),
            };
            return logical_metadata(topo, db.as_deref(), Some(listing), sql_sent);
        }
        Stmt::Use { .. } | Stmt::SetShardKey { .. } | Stmt::ExplainShardgate { .. } => {
            return ShardPlan::NotSharded
        }
        _ => {}
    }
    if !any {
        if matches!(parsed.stmt, Stmt::Select) && parsed.info_schema.any() {
            let sql_sent = info_schema_sql(topo, current, sql, opts);
            return logical_metadata(topo, current, None, sql_sent);
        }
        return ShardPlan::NotSharded;
    }
    let p = Planner {
        only: std::cell::Cell::new(None),
        prepare: false,
        topo,
        state,
        ctx,
        sql,
        parsed: &parsed,
        placements,
        params,
        may_block,
    };
    p.plan()
}

/// Plans the metadata prepare of a COM_STMT_PREPARE: the statement with
/// its table names for one shard (placeholders and select list unchanged,
/// so the server's parameter and column counts are the client's).
pub fn plan_prepare(
    topo: &Topology,
    state: &RouteState,
    ctx: &RouteCtx,
    sql: &[u8],
    opts: LexOptions,
) -> ShardPlan {
    let parsed = parse::parse(sql, opts);
    let current = ctx.schema.as_deref();
    let (placements, any) = place_tables(topo, &parsed, current);
    if !parsed.analysed() {
        if let Some(name) = mentioned_sharded_table(topo, current, sql, opts) {
            return refuse(format!("shardgate: cannot prepare a statement on sharded table '{name}' that shardgate cannot analyse"));
        }
        return ShardPlan::NotSharded;
    }
    if !any {
        return ShardPlan::NotSharded;
    }
    let p = Planner {
        only: std::cell::Cell::new(None),
        topo,
        state,
        ctx,
        sql,
        parsed: &parsed,
        placements,
        params: None,
        may_block: true,
        prepare: true,
    };
    p.plan()
}

/// `EXPLAIN [EXTENDED | PARTITIONS | FORMAT = name] stmt` (or DESCRIBE /
/// DESC) of a SELECT, INSERT, REPLACE, UPDATE or DELETE: where `stmt`
/// starts in `sql`. Only the leading tokens are lexed.
fn explained_statement(sql: &[u8], opts: LexOptions) -> Option<usize> {
    use crate::sql::{Lexer, Op, TokenKind};
    let mut tokens = Lexer::new(sql, opts);
    let is = |t: &crate::sql::Token, words: &[&[u8]]| {
        t.is_word() && words.iter().any(|w| t.text(sql).eq_ignore_ascii_case(w))
    };
    if !is(&tokens.next()?, &[b"EXPLAIN", b"DESCRIBE", b"DESC"]) {
        return None;
    }
    let mut t = tokens.next()?;
    if is(&t, &[b"EXTENDED", b"PARTITIONS"]) {
        t = tokens.next()?;
    } else if is(&t, &[b"FORMAT"]) {
        if tokens.next()?.kind != TokenKind::Op(Op::Eq) || !tokens.next()?.is_word() {
            return None;
        }
        t = tokens.next()?;
    }
    let explainable = t.kind == TokenKind::LParen
        || is(
            &t,
            &[
                b"SELECT", b"WITH", b"INSERT", b"REPLACE", b"UPDATE", b"DELETE",
            ],
        );
    explainable.then_some(t.start)
}

/// EXPLAIN of a statement on sharded tables: the statement is planned, and
/// each of its targets explains its own (rewritten) statement; the shards'
/// plans are listed one after the other.
#[allow(clippy::too_many_arguments)]
fn plan_explain(
    topo: &Topology,
    state: &RouteState,
    ctx: &RouteCtx,
    sql: &[u8],
    inner: usize,
    opts: LexOptions,
    params: Option<&[KeyValue]>,
    may_block: bool,
) -> ShardPlan {
    let (prefix, stmt) = sql.split_at(inner);
    let text = StatementText {
        sql: stmt,
        opts,
        tokens: Vec::new(),
        multi_statement: false,
    };
    match plan_sharded(topo, state, ctx, text, params, may_block) {
        ShardPlan::Action(Action::Forward {
            mut targets,
            gather,
            effects,
        }) => {
            if matches!(gather, Gather::SameOk) {
                // A broadcast write: every group has the same table.
                targets.truncate(1);
            }
            for t in &mut targets {
                let mut explained = prefix.to_vec();
                explained.extend_from_slice(t.sql.as_deref().unwrap_or(stmt));
                t.sql = Some(explained);
            }
            let gather = if targets.len() == 1 {
                Gather::Relay
            } else {
                Gather::Merge(Box::new(MergeSpec::union()))
            };
            ShardPlan::Action(Action::Forward {
                targets,
                gather,
                effects,
            })
        }
        other => other,
    }
}

/// An information_schema query of a sharded schema names logical tables
/// (`WHERE TABLE_NAME = 'article'`), which the group only has as physical
/// ones: each string literal naming a sharded table of the schema becomes
/// the name of one of its physical tables on the schema's default group
/// (where the query runs; the result's names come back logical). `None`
/// when no literal names one.
fn info_schema_sql(
    topo: &Topology,
    current: Option<&str>,
    sql: &[u8],
    opts: LexOptions,
) -> Option<Vec<u8>> {
    let current = current?;
    let mut edits = Vec::new();
    for t in crate::sql::Lexer::new(sql, opts) {
        if t.kind != crate::sql::TokenKind::String {
            continue;
        }
        let value = crate::sql::string_value(t.text(sql), opts);
        let Placement::Sharded {
            schema, rule, name, ..
        } = placement_of(topo, Some(current), &value)
        else {
            continue;
        };
        let Some(shard) = rule.first_shard_on(&schema.default_group) else {
            continue;
        };
        let physical = crate::config::physical_table_name(name, shard);
        edits.push((t.range(), format!("'{physical}'").into_bytes()));
    }
    (!edits.is_empty()).then(|| splice(sql, edits))
}

/// A write with RETURNING answers with rows; its targets' result sets are
/// not merged (the implicit transaction and the summed OK expect OKs), so
/// it must run on one target.
fn returning_on_one_target(parsed: &Parsed<'_>, plan: ShardPlan) -> ShardPlan {
    match &plan {
        ShardPlan::Action(Action::Forward { targets, .. })
            if parsed.returning && targets.len() > 1 =>
        {
            refuse(
                "shardgate: INSERT/REPLACE/DELETE ... RETURNING on several shards (or a broadcast table's \
                 groups) is not supported; restrict it to one shard with the shard key, or drop RETURNING",
            )
        }
        _ => plan,
    }
}

/// How a SHOW TABLES / SHOW TABLE STATUS listing is finished.
#[derive(Default)]
struct ShowListing {
    like: Option<Vec<u8>>,
    status: bool,
    /// A WHERE clause the group evaluated.
    filtered: bool,
}

/// SHOW TABLES / information_schema of a sharded schema: on its default
/// group, physical names shown as logical ones. `listing`: a SHOW TABLES /
/// TABLE STATUS (None: an information_schema query); `sql`: the text to
/// send instead of the client's.
fn logical_metadata(
    topo: &Topology,
    schema: Option<&str>,
    listing: Option<ShowListing>,
    sql: Option<Vec<u8>>,
) -> ShardPlan {
    let Some(cfg) =
        schema.and_then(|s| topo.schemas.iter().find(|c| c.name.eq_ignore_ascii_case(s)))
    else {
        return ShardPlan::NotSharded;
    };
    // Each sharded table, and the physical table on the default group that
    // stands for it (the one `info_schema_sql` names).
    let (sharded, shown_shard): (Vec<String>, Vec<Option<usize>>) = cfg
        .tables
        .iter()
        .filter_map(|t| match &t.kind {
            TableKind::Sharded { rule, .. } => {
                let shown = cfg
                    .rule(rule)
                    .and_then(|r| r.first_shard_on(&cfg.default_group));
                Some((t.name.clone(), shown))
            }
            TableKind::Broadcast => None,
        })
        .unzip();
    if sharded.is_empty() {
        return ShardPlan::NotSharded;
    }
    let show_tables = listing.is_some();
    let listing = listing.unwrap_or_default();
    // SHOW TABLE STATUS adds up a sharded table's physical tables on every
    // group (`merge::table_status`); the default group answers first.
    let mut groups = vec![cfg.default_group.as_str()];
    if listing.status && !listing.filtered {
        for t in &cfg.tables {
            let TableKind::Sharded { rule, .. } = &t.kind else {
                continue;
            };
            let Some(rule) = cfg.rule(rule) else {
                continue;
            };
            for s in 0..rule.shard_count() {
                if let Some(g) = rule.group_of_shard(s) {
                    if !groups.contains(&g) {
                        groups.push(g);
                    }
                }
            }
        }
    }
    let mut targets = Vec::with_capacity(groups.len());
    for g in groups {
        match target(topo, g, sql.clone()) {
            Ok(t) => targets.push(t),
            Err(p) => return p,
        }
    }
    ShardPlan::Action(Action::Forward {
        targets,
        gather: Gather::Rename(Box::new(crate::merge::rename::RenameSpec {
            sharded,
            show_tables,
            like: listing.like,
            // SHOW TABLES lists tables the default group holds no shard
            // of; TABLE STATUS gets their rows from the groups that do,
            // and rows filtered by a WHERE cannot be made up.
            add_missing: show_tables && !listing.status && !listing.filtered,
            shown_shard,
            checksum: false,
        })),
        effects: Effects::default(),
    })
}

/// How each table reference of `parsed` is stored (`None` for CTE names),
/// and whether any is sharded or broadcast.
pub(super) fn place_tables<'t>(
    topo: &'t Topology,
    parsed: &Parsed<'_>,
    current: Option<&str>,
) -> (Vec<Option<Placement<'t>>>, bool) {
    let mut placements = Vec::with_capacity(parsed.tables.len());
    let mut any = false;
    for t in &parsed.tables {
        // A CTE's name, or a multi-table DELETE target naming a FROM table
        // or its alias (`DELETE a FROM article a JOIN ...`): not a table of
        // its own; the FROM reference it names is placed.
        if t.cte.is_some() || t.target_of.is_some() {
            placements.push(None);
            continue;
        }
        let schema_name = t
            .schema
            .as_ref()
            .map(|s| String::from_utf8_lossy(&s.name).into_owned())
            .or_else(|| current.map(str::to_owned));
        let p = placement_of(topo, schema_name.as_deref(), &t.name.name);
        any |= !matches!(p, Placement::Plain);
        placements.push(Some(p));
    }
    (placements, any)
}

fn placement_of<'t>(topo: &'t Topology, schema: Option<&str>, table: &[u8]) -> Placement<'t> {
    let Some(schema_cfg) =
        schema.and_then(|s| topo.schemas.iter().find(|c| c.name.eq_ignore_ascii_case(s)))
    else {
        return Placement::Plain;
    };
    let Some(t) = schema_cfg
        .tables
        .iter()
        .find(|t| t.name.as_bytes().eq_ignore_ascii_case(table))
    else {
        return Placement::Plain;
    };
    match &t.kind {
        TableKind::Broadcast => Placement::Broadcast,
        TableKind::Sharded { key, rule } => match schema_cfg.rule(rule) {
            Some(rule) => Placement::Sharded {
                schema: schema_cfg,
                name: &t.name,
                key,
                rule,
            },
            None => Placement::Plain,
        },
    }
}

/// A sharded/broadcast table of the current schema named anywhere in `sql`
/// (for statements the parser could not analyse).
pub(super) fn mentioned_sharded_table(
    topo: &Topology,
    current: Option<&str>,
    sql: &[u8],
    opts: LexOptions,
) -> Option<String> {
    for schema in &topo.schemas {
        let in_scope = current.is_some_and(|c| c.eq_ignore_ascii_case(&schema.name))
            || parse::mentions(sql, opts, schema.name.as_bytes());
        if !in_scope {
            continue;
        }
        for t in &schema.tables {
            if parse::mentions(sql, opts, t.name.as_bytes()) {
                return Some(t.name.clone());
            }
        }
    }
    None
}

/// The root of `x` in a union-find forest (path halving).
fn find_root(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// The master address of a group.
fn target(topo: &Topology, group: &str, sql: Option<Vec<u8>>) -> Result<RouteTarget, ShardPlan> {
    match crate::route::master_addr(topo, group) {
        Some(addr) => Ok(RouteTarget {
            group: group.to_string(),
            addr,
            sql,
            infile: None,
        }),
        None => Err(ShardPlan::Action(err(
            ec::BACKEND_UNREACHABLE,
            &format!("shardgate: cannot resolve the master of group '{group}'"),
        ))),
    }
}

/// CREATE / DROP DATABASE of a sharded schema: on every group.
fn database_ddl(topo: &Topology, state: &RouteState, name: &[u8]) -> ShardPlan {
    let name = String::from_utf8_lossy(name);
    if !state.is_sharded_schema(&name) {
        return ShardPlan::NotSharded;
    }
    let mut targets = Vec::new();
    for g in &topo.groups {
        match target(topo, &g.name, None) {
            Ok(t) => targets.push(t),
            Err(p) => return p,
        }
    }
    ShardPlan::Action(Action::Forward {
        targets,
        gather: Gather::SameOk,
        effects: Effects::default(),
    })
}

/// Replaces byte ranges of `sql` (sorted, not overlapping).
fn splice(sql: &[u8], mut edits: Vec<(Range<usize>, Vec<u8>)>) -> Vec<u8> {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(sql.len() + edits.len() * 8);
    let mut pos = 0;
    for (r, text) in edits {
        if r.start < pos || r.end > sql.len() {
            continue;
        }
        out.extend_from_slice(&sql[pos..r.start]);
        out.extend_from_slice(&text);
        pos = r.end;
    }
    out.extend_from_slice(&sql[pos..]);
    out
}

/// `physical_table_name(name, shard)` as SQL (see [`quoted`]), built
/// without formatting machinery: it is on every sharded statement's path.
fn physical_sql_name(name: &str, shard: usize) -> Vec<u8> {
    // The physical name is never empty (it ends in `_NNNN`).
    let simple = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let mut out = Vec::with_capacity(name.len() + 8);
    if simple {
        out.extend_from_slice(name.as_bytes());
    } else {
        out.push(b'`');
        for b in name.bytes() {
            if b == b'`' {
                out.push(b'`');
            }
            out.push(b);
        }
    }
    out.push(b'_');
    let mut digits = [0u8; 20];
    let mut n = shard;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let width = digits.len() - i;
    out.resize(out.len() + 4usize.saturating_sub(width), b'0');
    out.extend_from_slice(&digits[i..]);
    if !simple {
        out.push(b'`');
    }
    out
}

/// A physical table name as SQL: plain when it is a simple identifier (the
/// reference [`physical_sql_name`] is tested against).
#[cfg(test)]
fn quoted(name: &str) -> Vec<u8> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        name.as_bytes().to_vec()
    } else {
        format!("`{}`", name.replace('`', "``")).into_bytes()
    }
}

struct Planner<'a, 't> {
    topo: &'t Topology,
    state: &'a RouteState,
    ctx: &'a RouteCtx,
    sql: &'a [u8],
    parsed: &'a Parsed<'a>,
    placements: Vec<Option<Placement<'t>>>,
    params: Option<&'a [KeyValue]>,
    may_block: bool,
    /// Planning the metadata prepare of a COM_STMT_PREPARE.
    prepare: bool,
    /// While set, key predicates count only for this table.
    only: std::cell::Cell<Option<TableId>>,
}

impl<'a, 't> Planner<'a, 't> {
    fn sharded(&self) -> Vec<TableId> {
        (0..self.placements.len())
            .filter(|&i| matches!(self.placements[i], Some(Placement::Sharded { .. })))
            .collect()
    }

    fn has_plain(&self) -> bool {
        self.placements
            .iter()
            .any(|p| matches!(p, Some(Placement::Plain)))
    }

    fn plan(&self) -> ShardPlan {
        let sharded = self.sharded();
        match &self.parsed.stmt {
            Stmt::Select | Stmt::Update { .. } | Stmt::Delete { .. } | Stmt::Insert(_) => {
                let plan = if sharded.is_empty() {
                    self.plan_broadcast_dml()
                } else {
                    self.plan_sharded_dml(&sharded)
                };
                returning_on_one_target(self.parsed, plan)
            }
            Stmt::CreateTable { .. }
            | Stmt::AlterTable
            | Stmt::DropTable { .. }
            | Stmt::Truncate
            | Stmt::CreateIndex { .. }
            | Stmt::DropIndex { .. } => self.plan_ddl(&sharded),
            Stmt::LockTables { items } => self.plan_lock_tables(items),
            Stmt::LoadData(load) => self.plan_load(load),
            Stmt::RenameTable => {
                refuse("shardgate: RENAME TABLE is not supported on sharded or broadcast tables")
            }
            stmt if stmt.shows_table_structure() => {
                // The first physical table has the logical table's structure;
                // its name in the result becomes the logical one.
                match self.on_one_shard(&sharded, 0) {
                    ShardPlan::Action(Action::Forward {
                        targets,
                        gather: Gather::Relay,
                        effects,
                    }) if !sharded.is_empty() => ShardPlan::Action(Action::Forward {
                        targets,
                        gather: Gather::Rename(Box::new(crate::merge::rename::RenameSpec {
                            // Every sharded table of the schema: a FOREIGN KEY
                            // names another one's physical table.
                            sharded: self.schema_sharded_names(&sharded),
                            ..Default::default()
                        })),
                        effects,
                    }),
                    other => other,
                }
            }
            _ => {
                refuse("shardgate: this statement is not supported on sharded or broadcast tables")
            }
        }
    }

    /// The logical names of the sharded tables `sharded`, then of every
    /// other sharded table of their schemas.
    fn schema_sharded_names(&self, sharded: &[TableId]) -> Vec<String> {
        let mut names = self.sharded_names(sharded);
        for &t in sharded {
            if let Some(Some(Placement::Sharded { schema, .. })) = self.placements.get(t) {
                for table in &schema.tables {
                    if matches!(table.kind, crate::config::TableKind::Sharded { .. })
                        && !names.iter().any(|n| n == &table.name)
                    {
                        names.push(table.name.clone());
                    }
                }
            }
        }
        names
    }

    /// The logical names of the sharded tables `sharded`.
    fn sharded_names(&self, sharded: &[TableId]) -> Vec<String> {
        sharded
            .iter()
            .filter_map(|&t| match self.placements.get(t) {
                Some(Some(Placement::Sharded { name, .. })) => Some((*name).to_owned()),
                _ => None,
            })
            .collect()
    }

    /// The rule shared by the sharded tables, or a refusal.
    fn common_rule(&self, sharded: &[TableId]) -> Result<(&'t Schema, &'t Rule), ShardPlan> {
        let mut found: Option<(&Schema, &Rule)> = None;
        for &t in sharded {
            if let Some(Placement::Sharded {
                schema, rule, name, ..
            }) = self.placements[t]
            {
                match found {
                    None => found = Some((schema, rule)),
                    Some((s, r)) if std::ptr::eq(s, schema) && r.name == rule.name => {}
                    Some((_, r)) => {
                        return Err(refuse(format!(
                            "shardgate: table '{name}' (rule '{}') and a table of rule '{}' are not bound: \
                             a statement over both would need cross-shard data; query them separately",
                            rule.name, r.name
                        )))
                    }
                }
            }
        }
        found.ok_or_else(|| refuse("shardgate: no sharded table"))
    }

    /// What the rules need to route this statement's tables of `rule`:
    /// its bucket map or directory, and for `hash` and `bucket` rules the
    /// key column's type (read with the table's columns on first need).
    fn env(&self, schema: &Schema, rule: &Rule) -> Result<RuleEnv<'_>, ShardPlan> {
        Ok(RuleEnv {
            bucket_map: match rule.kind {
                RuleKind::Bucket { .. } => self.state.bucket_map(&schema.name, &rule.name),
                _ => None,
            },
            lookup: match rule.kind {
                RuleKind::Lookup(_) => self.state.lookup(&schema.name, &rule.name),
                _ => None,
            },
            key_type: self.key_type(schema, rule)?,
            convert: self.key_conversion(schema, rule),
        })
    }

    /// (client's, key column's) character sets when this statement's
    /// string key column of `rule` stores another one than the client
    /// sends (read with the key type, so after [`Planner::key_type`]).
    fn key_conversion(&self, schema: &Schema, rule: &Rule) -> Option<(Charset, Charset)> {
        self.tables_of(schema, rule).find_map(|name| {
            self.state
                .key_conversion(&schema.name, name, self.ctx.client_charset)
        })
    }

    /// The names of this statement's sharded tables of `rule` in `schema`.
    fn tables_of<'s>(
        &'s self,
        schema: &'s Schema,
        rule: &'s Rule,
    ) -> impl Iterator<Item = &'t str> + 's {
        self.placements
            .iter()
            .flatten()
            .filter_map(move |p| match *p {
                Placement::Sharded {
                    schema: s,
                    name,
                    rule: r,
                    ..
                } if std::ptr::eq(s, schema) && r.name == rule.name => Some(name),
                _ => None,
            })
    }

    /// The key type of this statement's tables of `rule` (bound tables
    /// have the same one; if they differ, `Auto`). `None` for rules that
    /// do not depend on it.
    fn key_type(&self, schema: &Schema, rule: &Rule) -> Result<Option<KeyType>, ShardPlan> {
        if !matches!(rule.kind, RuleKind::Hash | RuleKind::Bucket { .. }) {
            return Ok(None);
        }
        let mut found = None;
        for name in self.tables_of(schema, rule) {
            let ty = match self.state.key_type(&schema.name, name) {
                KeyTypeState::NotNeeded => continue,
                KeyTypeState::Known(t) => t,
                KeyTypeState::Unknown => {
                    self.table_columns(schema, name, rule)?;
                    match self.state.key_type(&schema.name, name) {
                        KeyTypeState::Known(t) => t,
                        // No such table (yet): the server will say so.
                        _ => KeyType::Auto,
                    }
                }
            };
            found = match found {
                None => Some(ty),
                Some(t) if t == ty => Some(t),
                Some(_) => Some(KeyType::Auto),
            };
        }
        Ok(found)
    }

    /// The key column of sharded table `t`.
    fn key_of(&self, t: TableId) -> Option<&'t str> {
        match self.placements.get(t)? {
            Some(Placement::Sharded { key, .. }) => Some(key),
            _ => None,
        }
    }

    /// Literal or bound parameter → key value; `None` when unknown.
    fn key_value(&self, v: &Value<'_>) -> Option<KeyValue> {
        literal_key_value(&v.lit, self.params)
    }

    /// Is `col` (in `block`) the key column of a sharded table?
    fn is_key(&self, block: usize, col: &parse::Column<'_>) -> bool {
        match self.parsed.column_table(block, col) {
            Some(t) => self.key_of(t).is_some_and(|k| col.name.is(k.as_bytes())),
            None => false,
        }
    }

    /// A key predicate for the current purpose: any sharded table's key,
    /// or only table `only`'s while that is set.
    fn key_here(&self, block: usize, col: &parse::Column<'_>) -> bool {
        match self.only.get() {
            Some(t) => self.is_key_of(block, col, t),
            None => self.is_key(block, col),
        }
    }

    /// Is `col` (in `block`) the key column of table `t` itself?
    fn is_key_of(&self, block: usize, col: &parse::Column<'_>, t: TableId) -> bool {
        self.parsed.column_table(block, col) == Some(t)
            && self.key_of(t).is_some_and(|k| col.name.is(k.as_bytes()))
    }

    /// The shards a WHERE tree of `block` allows.
    fn shards_of(
        &self,
        block: usize,
        pred: &Pred<'_>,
        rule: &Rule,
        env: &RuleEnv<'_>,
    ) -> Result<ShardSet, RouteError> {
        let all = || rules::all_shards(rule);
        match pred {
            Tree::And(parts) => {
                let mut set = all();
                for p in parts {
                    set = set.and(&self.shards_of(block, p, rule, env)?);
                }
                Ok(set)
            }
            Tree::Or(parts) => {
                let mut set = ShardSet::empty(rule.shard_count());
                for p in parts {
                    set = set.or(&self.shards_of(block, p, rule, env)?);
                }
                Ok(set)
            }
            Tree::Unknown(_) => Ok(all()),
            Tree::Leaf(leaf) => {
                let pred = match leaf {
                    Leaf::Cmp { col, op, value } if self.key_here(block, col) => {
                        match self.key_value(value) {
                            None => KeyPredicate::Any,
                            Some(v) => cmp_predicate(*op, v),
                        }
                    }
                    Leaf::In { col, values } if self.key_here(block, col) => {
                        let vals: Option<Vec<KeyValue>> =
                            values.iter().map(|v| self.key_value(v)).collect();
                        match vals {
                            Some(v) => KeyPredicate::In(v),
                            None => KeyPredicate::Any,
                        }
                    }
                    Leaf::Between { col, low, high } if self.key_here(block, col) => {
                        match (self.key_value(low), self.key_value(high)) {
                            (Some(l), Some(h)) => KeyPredicate::between(l, h),
                            _ => KeyPredicate::Any,
                        }
                    }
                    _ => KeyPredicate::Any,
                };
                rules::shards_for_predicate_in(rule, env, &pred)
            }
        }
    }

    /// Are all sharded tables joined on their keys (so rows meet on one
    /// shard)? Looks at `a.k = b.k` in WHERE (top-level AND) and ON.
    fn joined_on_keys(&self, sharded: &[TableId]) -> bool {
        if sharded.len() < 2 {
            return true;
        }
        let mut parent = self.key_components();
        let root = find_root(&mut parent, sharded[0]);
        sharded.iter().all(|&t| find_root(&mut parent, t) == root)
    }

    /// Tables linked by key equalities (`a.k = b.k` conjuncts of a WHERE
    /// or ON, correlated subqueries included), as a union-find forest over
    /// table ids: tables with one root see only rows of one key value
    /// together, so they meet on one shard.
    fn key_components(&self) -> Vec<usize> {
        let mut parent: Vec<usize> = (0..self.placements.len()).collect();
        let link = |pred: &Pred<'_>, block: usize, parent: &mut Vec<usize>| {
            let mut leaves: Vec<&Leaf<'_>> = Vec::new();
            collect_and_leaves(pred, &mut leaves);
            for leaf in leaves {
                let pair = match leaf {
                    Leaf::ColumnEq { left, right } => {
                        let (Some(a), Some(b)) = (
                            self.parsed.column_table(block, left),
                            self.parsed.column_table(block, right),
                        ) else {
                            continue;
                        };
                        if !(self.is_key(block, left) && self.is_key(block, right)) {
                            continue;
                        }
                        (a, b)
                    }
                    Leaf::InSubquery { col, open, close } => {
                        match self.in_subquery_link(block, col, *open, *close) {
                            Some(pair) => pair,
                            None => continue,
                        }
                    }
                    _ => continue,
                };
                let (ra, rb) = (find_root(parent, pair.0), find_root(parent, pair.1));
                parent[ra] = rb;
            }
        };
        for (bi, b) in self.parsed.blocks.iter().enumerate() {
            if let Some(w) = &b.where_ {
                link(w, bi, &mut parent);
            }
            for f in &b.from {
                if let Some(on) = &f.on {
                    link(on, bi, &mut parent);
                }
            }
        }
        parent
    }

    /// `k IN (SELECT k2 FROM t2 ...)` with `k` and `k2` shard keys (a
    /// semi-join on the key): the outer row of key `k` matches exactly when
    /// a `t2` row of key `k` passes the subquery's filter, and those rows
    /// live on the outer row's shard, so the two tables are linked like a
    /// join on the key. Only a plain filter qualifies: a LIMIT, GROUP BY,
    /// HAVING, aggregate or window function would compute over all shards.
    fn in_subquery_link(
        &self,
        block: usize,
        col: &parse::Column<'_>,
        open: usize,
        close: usize,
    ) -> Option<(TableId, TableId)> {
        let outer = self.parsed.column_table(block, col)?;
        if !self.is_key(block, col) {
            return None;
        }
        let sub = self.parsed.subquery_within(block, open, close)?;
        let b = self.parsed.blocks.get(sub)?;
        if b.kind != BlockKind::Select
            || b.limit.is_some()
            || !b.group_by.is_empty()
            || b.having.is_some()
            || b.has_aggregate()
            || b.has_window()
        {
            return None;
        }
        let [item] = b.items.as_slice() else {
            return None;
        };
        let parse::ItemKind::Column(inner) = &item.kind else {
            return None;
        };
        let inner_table = self.parsed.column_table(sub, inner)?;
        self.is_key(sub, inner).then_some((outer, inner_table))
    }

    /// Whether the statement's subqueries can run on each shard as they
    /// are: a subquery over broadcast tables only (every group has them),
    /// or one whose sharded tables are correlated on the key with the outer
    /// query's sharded tables (`EXISTS (SELECT .. FROM comment c WHERE
    /// c.user_id = a.user_id)`): it then only reads rows of the outer
    /// row's key, which live on the outer row's shard, so even its
    /// aggregates and LIMIT are right there. A derived table in the top
    /// FROM holding every sharded table works too when it yields each
    /// shard's share of its rows ([`Self::derived_stays_on_shards`]): the
    /// outer query then merges as over a table. A sharded table in a CTE,
    /// an uncorrelated subquery, or beside such a derived table needs rows
    /// of other shards. A CTE named once in the top FROM counts as a
    /// derived table.
    fn subqueries_stay_on_shards(
        &self,
        sharded: &[TableId],
        rule: &Rule,
    ) -> Result<bool, ShardPlan> {
        let mut parent = self.key_components();
        let outer: Vec<TableId> = sharded
            .iter()
            .copied()
            .filter(|&t| self.parsed.tables[t].block == 0)
            .collect();
        let mut the_derived = None;
        for &t in sharded {
            let own = self.parsed.tables[t].block;
            if own == 0 {
                continue;
            }
            // The blocks from the table's up to the top: subqueries, or one
            // derived table right in the top block's FROM.
            let mut block = own;
            let mut derived = None;
            while block != 0 {
                let Some(b) = self.parsed.blocks.get(block) else {
                    return Ok(false);
                };
                match b.place {
                    Place::Subquery(_) => {}
                    Place::Derived if b.parent == Some(0) && derived.is_none() => {
                        derived = Some(block)
                    }
                    // A CTE named once, in the top FROM, not by itself
                    // (recursive): a derived table written first.
                    Place::Cte
                        if b.parent == Some(0)
                            && derived.is_none()
                            && self.cte_used_once_on_top(block) =>
                    {
                        derived = Some(block)
                    }
                    _ => return Ok(false),
                }
                block = b.parent.unwrap_or(0);
            }
            match derived {
                // In a derived table: the only place of sharded tables, and
                // one that yields each shard's share of its rows.
                Some(d) => {
                    if own != d || !outer.is_empty() || *the_derived.get_or_insert(d) != d {
                        return Ok(false);
                    }
                    if !self.derived_stays_on_shards(d, sharded, rule)? {
                        return Ok(false);
                    }
                }
                None => {
                    let root = find_root(&mut parent, t);
                    if !outer.iter().any(|&o| find_root(&mut parent, o) == root) {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }

    /// The refusal of a statement whose sharded tables are neither joined on
    /// their keys nor pinned to one shard, saying which construct brings
    /// them together.
    fn cross_shard_refusal(&self, sharded: &[TableId]) -> ShardPlan {
        let places: Vec<Place> = sharded
            .iter()
            .flat_map(|&t| {
                let mut places = Vec::new();
                let mut block = self.parsed.tables.get(t).map(|x| x.block);
                while let Some(b) = block.and_then(|b| self.parsed.blocks.get(b)) {
                    places.push(b.place);
                    block = b.parent;
                }
                places
            })
            .collect();
        let has = |f: fn(&Place) -> bool| places.iter().any(f);
        if has(|p| matches!(p, Place::InsertSource)) {
            refuse(
                "shardgate: INSERT ... SELECT into a sharded table is not supported (each row's shard \
                 is known only once it is selected); insert the rows with VALUES",
            )
        } else if has(|p| matches!(p, Place::UnionPart { .. })) {
            refuse(
                "shardgate: a UNION over several shards needs every part to read a sharded table of the \
                 same rule (bound tables joined on their keys, no sharded table in a subquery); otherwise \
                 give every part the same shard-key condition, or run the parts as separate queries",
            )
        } else if has(|p| matches!(p, Place::Subquery(_) | Place::Derived | Place::Cte)) {
            refuse(
                "shardgate: a subquery over a sharded table must be on the outer table's shard: join on \
                 the shard keys or give both the same shard-key condition; otherwise it would need \
                 cross-shard data",
            )
        } else {
            refuse(
                "shardgate: a JOIN of sharded tables must join them on their shard keys (e.g. a.user_id = b.user_id); \
                 otherwise it would need cross-shard data",
            )
        }
    }

    /// Does each sharded table's own query block pin it to the same single
    /// shard (e.g. `... WHERE user_id = 5 AND id IN (SELECT .. FROM comment
    /// WHERE user_id = 5)`)? Then the statement meets its rows on that shard.
    fn all_on_one_shard(&self, sharded: &[TableId], rule: &Rule, env: &RuleEnv<'_>) -> bool {
        let mut the_shard = None;
        for &t in sharded {
            let block = self.parsed.tables[t].block;
            let Some(w) = self
                .parsed
                .blocks
                .get(block)
                .and_then(|b| b.where_.as_ref())
            else {
                return false;
            };
            // Only predicates on this table's own key count here.
            let saved = self.only.replace(Some(t));
            let set = self.shards_of(block, w, rule, env);
            self.only.set(saved);
            let Ok(set) = set else {
                return false;
            };
            let Some(s) = set.only() else {
                return false;
            };
            match the_shard {
                None => the_shard = Some(s),
                Some(x) if x == s => {}
                Some(_) => return false,
            }
        }
        the_shard.is_some()
    }

    /// One target per shard in `shards`: the statement with its table
    /// names rewritten for that shard, on the shard's group.
    fn shard_targets(
        &self,
        rule: &Rule,
        shards: impl Iterator<Item = usize>,
    ) -> Result<Vec<RouteTarget>, ShardPlan> {
        let mut targets = Vec::new();
        for s in shards {
            let group = Self::group_of(rule, s)?;
            targets.push(target(
                self.topo,
                group,
                Some(self.rewrite_for(s, Vec::new())),
            )?);
        }
        Ok(targets)
    }

    /// The shards a UNION over several shards runs on: those any part may
    /// have rows on. `None` when it cannot run that way: a part reads no
    /// sharded table (it would answer once per shard), or its sharded
    /// tables are not joined on their keys, or a sharded table sits
    /// elsewhere than directly in a part (a subquery), or a route hint
    /// names one shard for the whole statement.
    fn union_shards(
        &self,
        sharded: &[TableId],
        rule: &Rule,
        env: &RuleEnv<'_>,
    ) -> Option<Result<ShardSet, ShardPlan>> {
        let top = self.parsed.top();
        if self.parsed.hint.is_some()
            || sharded
                .iter()
                .any(|&t| !top.parts.contains(&self.parsed.tables[t].block))
        {
            return None;
        }
        let mut set: Option<ShardSet> = None;
        for &p in &top.parts {
            let part = self.parsed.blocks.get(p)?;
            let mine: Vec<TableId> = sharded
                .iter()
                .copied()
                .filter(|&t| self.parsed.tables[t].block == p)
                .collect();
            if mine.is_empty() || !self.joined_on_keys(&mine) {
                return None;
            }
            let mut shards = rules::all_shards(rule);
            if let Some(w) = &part.where_ {
                match self.shards_of(p, w, rule, env) {
                    Ok(s) => shards = shards.and(&s),
                    Err(RouteError::DirectoryNeeded { .. }) if !self.may_block => {
                        return Some(Err(ShardPlan::NeedsWorker))
                    }
                    Err(e) => return Some(Err(route_error(e))),
                }
            }
            set = Some(match set {
                None => shards,
                Some(acc) => acc.or(&shards),
            });
        }
        set.map(Ok)
    }

    /// The shards a DML statement must run on.
    fn dml_shards(
        &self,
        sharded: &[TableId],
        rule: &Rule,
        env: &RuleEnv<'_>,
    ) -> Result<ShardSet, ShardPlan> {
        if let Some(hint) = &self.parsed.hint {
            if let Some(n) = hint.shard {
                if n as usize >= rule.shard_count() {
                    return Err(refuse(format!(
                        "shardgate: route hint shard={n} is out of range: rule '{}' has {} shards",
                        rule.name,
                        rule.shard_count()
                    )));
                }
                return Ok(ShardSet::single(rule.shard_count(), n));
            }
            if let Some(v) = &hint.key {
                let Some(kv) = self.key_value(v) else {
                    return Err(refuse("shardgate: the route hint key has no value"));
                };
                return match rules::shard_for_key(rule, env, &kv) {
                    Ok(s) => Ok(ShardSet::single(rule.shard_count(), s)),
                    Err(RouteError::DirectoryNeeded { .. }) if !self.may_block => {
                        Err(ShardPlan::NeedsWorker)
                    }
                    Err(e) => Err(route_error(e)),
                };
            }
        }
        let mut set = rules::all_shards(rule);
        let mut blocks_with_sharded: Vec<usize> = sharded
            .iter()
            .map(|&t| self.parsed.tables[t].block)
            .collect();
        blocks_with_sharded.sort_unstable();
        blocks_with_sharded.dedup();
        for &bi in &blocks_with_sharded {
            let Some(block) = self.parsed.blocks.get(bi) else {
                continue;
            };
            if let Some(w) = &block.where_ {
                match self.shards_of(bi, w, rule, env) {
                    Ok(s) => set = set.and(&s),
                    Err(RouteError::DirectoryNeeded { .. }) if !self.may_block => {
                        return Err(ShardPlan::NeedsWorker)
                    }
                    Err(e) => return Err(route_error(e)),
                }
            }
        }
        // SET @@shardgate_shard_key routes what the statement itself does
        // not narrow down.
        if let (true, Some(text)) = (set.is_all(), &self.ctx.shard_key) {
            // SET @@shardgate_shard_key: route as if the key were this value.
            let probe = [b"SELECT 1 FROM t WHERE k = ".as_slice(), text].concat();
            let parsed = parse::parse(&probe, LexOptions::default());
            let value = match parsed.top().where_.as_ref() {
                Some(Tree::Leaf(Leaf::Cmp { value, .. })) => self.key_value(value),
                _ => None,
            };
            let Some(kv) = value else {
                return Err(refuse(
                    "shardgate: @@shardgate_shard_key must be a literal value",
                ));
            };
            return match rules::shard_for_key(rule, env, &kv) {
                Ok(s) => Ok(ShardSet::single(rule.shard_count(), s)),
                Err(RouteError::DirectoryNeeded { .. }) if !self.may_block => {
                    Err(ShardPlan::NeedsWorker)
                }
                Err(e) => Err(route_error(e)),
            };
        }
        Ok(set)
    }

    /// The SQL for `shard`: every sharded table renamed to its physical table.
    fn rewrite_for(&self, shard: usize, extra: Vec<(Range<usize>, Vec<u8>)>) -> Vec<u8> {
        let sites = self.parsed.name_sites();
        // Kept first: an insertion at the end of an item must come before
        // any other insertion there (hidden columns).
        let mut edits = self.keep_item_names(&sites, &extra);
        edits.extend(extra);
        for site in &sites {
            if let Some(Some(Placement::Sharded { name, .. })) = self.placements.get(site.table) {
                edits.push((site.name.clone(), physical_sql_name(name, shard)));
            }
        }
        splice(self.sql, edits)
    }

    /// A select item without alias is named by its text (`MAX(t.id)`):
    /// when a table name inside it is rewritten, ` AS `the text`` keeps the
    /// name the client would get from one server (a plain column `t.id`
    /// is named `id` either way). Items another edit rewrites name
    /// themselves.
    fn keep_item_names(
        &self,
        sites: &[parse::NameSite],
        extra: &[(Range<usize>, Vec<u8>)],
    ) -> Vec<(Range<usize>, Vec<u8>)> {
        let mut out = Vec::new();
        if !matches!(self.parsed.stmt, Stmt::Select) {
            return out;
        }
        let top = self.parsed.top();
        let block = match top.kind {
            BlockKind::Union => match top.parts.first().and_then(|&p| self.parsed.blocks.get(p)) {
                Some(b) => b,
                None => return out,
            },
            _ => top,
        };
        for item in &block.items {
            if item.alias.is_some()
                || matches!(
                    item.kind,
                    parse::ItemKind::Column(_) | parse::ItemKind::Star { .. }
                )
            {
                continue;
            }
            let inside = |r: &Range<usize>| r.start >= item.expr.start && r.end <= item.expr.end;
            let renamed = |s: &parse::NameSite| {
                matches!(
                    self.placements.get(s.table),
                    Some(Some(Placement::Sharded { .. }))
                )
            };
            if !sites.iter().any(|s| inside(&s.name) && renamed(s))
                || extra
                    .iter()
                    .any(|(r, _)| r.start < item.expr.end && r.end > item.expr.start)
            {
                continue;
            }
            // (an alias is at most 256 characters; such long names are
            // left as the rewritten text)
            if item.expr.len() > 250 {
                continue;
            }
            out.push((item.expr.end..item.expr.end, item.name_as_written(self.sql)));
        }
        out
    }

    fn group_of(rule: &Rule, shard: usize) -> Result<&str, ShardPlan> {
        rule.group_of_shard(shard).ok_or_else(|| {
            refuse(format!(
                "shardgate: shard {shard} of rule '{}' has no group",
                rule.name
            ))
        })
    }

    fn on_one_shard(&self, sharded: &[TableId], shard: usize) -> ShardPlan {
        match self.common_rule(sharded) {
            Ok((_, rule)) => self.single_shard(rule, shard),
            Err(p) => self.broadcast_read_or(p),
        }
    }

    /// The statement on shard `shard` of `rule`, its reply relayed.
    fn single_shard(&self, rule: &Rule, shard: usize) -> ShardPlan {
        let group = match Self::group_of(rule, shard) {
            Ok(g) => g,
            Err(p) => return p,
        };
        match target(self.topo, group, Some(self.rewrite_for(shard, Vec::new()))) {
            Ok(t) => ShardPlan::Action(Action::Forward {
                targets: vec![t],
                gather: Gather::Relay,
                effects: self.effects(),
            }),
            Err(p) => p,
        }
    }

    /// DESCRIBE of a broadcast table: any group has it.
    fn broadcast_read_or(&self, fallback: ShardPlan) -> ShardPlan {
        if self.sharded().is_empty() {
            return self.plan_broadcast_dml();
        }
        fallback
    }

    fn effects(&self) -> Effects {
        Effects::default()
    }

    fn plan_sharded_dml(&self, sharded: &[TableId]) -> ShardPlan {
        let (schema, rule) = match self.common_rule(sharded) {
            Ok(r) => r,
            Err(p) => return p,
        };
        if self.has_plain() {
            return refuse(
                "shardgate: a statement over a sharded table and an unsharded (non-broadcast) table would need \
                 cross-group data; make the other table broadcast or query them separately",
            );
        }
        // A PREPARE is only routed for its metadata: whether its tables
        // meet on one shard may depend on the values bound at EXECUTE,
        // which is planned (and refused if need be) with them.
        let env = match self.env(schema, rule) {
            Ok(e) => e,
            Err(p) => return p,
        };
        // INSERT ... SELECT: rows that keep their shard, or refused
        // (`shard::insert::plan_insert_select`).
        if let Stmt::Insert(ins) = &self.parsed.stmt {
            if let parse::InsertSource::Select(src) = ins.source {
                if !self.prepare {
                    return self.plan_insert_select(ins, src, sharded, schema, rule, &env);
                }
            }
        }
        let union = self.parsed.top().kind == BlockKind::Union
            && matches!(self.parsed.stmt, Stmt::Select)
            && !self.prepare;
        let mut union_set = None;
        if union && !self.all_on_one_shard(sharded, rule, &env) {
            match self.union_shards(sharded, rule, &env) {
                Some(Ok(set)) => union_set = Some(set),
                Some(Err(p)) => return p,
                None => return self.cross_shard_refusal(sharded),
            }
        } else if !self.prepare
            && !self.joined_on_keys(sharded)
            && !self.all_on_one_shard(sharded, rule, &env)
        {
            return self.cross_shard_refusal(sharded);
        }
        if let Stmt::Insert(ins) = &self.parsed.stmt {
            return self.plan_insert(ins, schema, rule, &env);
        }
        if let Stmt::Update { assignments } = &self.parsed.stmt {
            for a in assignments {
                if self.is_key(0, &a.column) {
                    return refuse(format!(
                        "shardgate: UPDATE cannot change the shard key '{}': delete the row and insert it again",
                        String::from_utf8_lossy(&a.column.name.name)
                    ));
                }
            }
        }
        let scatter_union = union_set.is_some();
        let set = match union_set {
            Some(set) => set,
            None => match self.dml_shards(sharded, rule, &env) {
                Ok(s) => s,
                Err(p) => return p,
            },
        };
        let mut shards: Vec<usize> = set.iter().map(|s| s as usize).collect();
        if shards.is_empty() {
            // No shard can hold matching rows: ask the first one, which
            // answers with the right (empty) result.
            shards.push(0);
        }
        if self.prepare {
            // Metadata only: the first shard, table names rewritten.
            let s = shards[0];
            let group = match Self::group_of(rule, s) {
                Ok(g) => g,
                Err(p) => return p,
            };
            return match target(self.topo, group, Some(self.rewrite_for(s, Vec::new()))) {
                Ok(t) => ShardPlan::Action(Action::Forward {
                    targets: vec![t],
                    gather: Gather::Relay,
                    effects: self.effects(),
                }),
                Err(p) => p,
            };
        }
        let top = self.parsed.top();
        let is_select = matches!(self.parsed.stmt, Stmt::Select);
        let mut counted = None;
        if shards.len() > 1 {
            let stays = match self.parsed.has_subquery() {
                true => match self.subqueries_stay_on_shards(sharded, rule) {
                    Ok(s) => s,
                    Err(p) => return p,
                },
                false => true,
            };
            // `SELECT COUNT(*) FROM (<merged SELECT>) t`: counted by the merger.
            if !stays && is_select {
                counted = self.counted_derived(sharded);
            }
            if !stays && counted.is_none() {
                return refuse(
                    "shardgate: a subquery over a sharded table that spans several shards would need cross-shard \
                     data; correlate it on the shard key (c.user_id = a.user_id), keep a derived table row by \
                     row or grouped by the shard key (no LIMIT), or restrict it to one shard with the shard key",
                );
            }
        }
        // Groups in name order, then shards: the order an UPDATE/DELETE
        // with LIMIT counts down in (`write_limit`), the implicit
        // transaction's order.
        if !is_select && shards.len() > 1 && top.limit.is_some() {
            shards.sort_by_key(|&s| (Self::group_of(rule, s).ok(), s));
        }
        let mut targets = match self.shard_targets(rule, shards.iter().copied()) {
            Ok(t) => t,
            Err(p) => return p,
        };
        let mut countdown = None;
        if !is_select && targets.len() > 1 {
            match self.write_limit_countdown(&mut targets, &shards) {
                Ok(c) => countdown = c,
                Err(p) => return p,
            }
        }
        let gather = if targets.len() == 1 {
            Gather::Relay
        } else if is_select {
            let local = match self.shard_local(sharded, rule) {
                Ok(l) => l,
                Err(p) => return p,
            };
            let planned = match counted {
                Some((d, name)) => self.counted_derived_spec(d, name),
                None => super::scatter::merge_spec(self.parsed, self.sql, None, false, &local),
            };
            match planned {
                Ok((mut spec, sql_edits)) => {
                    // Strings compare by their columns' real collations.
                    // ENUM/SET columns sort by their members' numbers.
                    if let Err(p) = self.describe_columns(sharded, rule, &mut spec) {
                        return p;
                    }
                    if scatter_union {
                        if let Err(p) = self.union_collations(rule, &mut spec) {
                            return p;
                        }
                    }
                    // The shards run the rewritten query (LIMIT o+c, AVG as
                    // SUM + COUNT, hidden ORDER BY / GROUP BY columns).
                    for (t, &s) in targets.iter_mut().zip(&shards) {
                        t.sql = Some(self.rewrite_for(s, sql_edits.clone()));
                    }
                    Gather::Merge(Box::new(spec))
                }
                Err(msg) => return refuse(msg),
            }
        } else {
            Gather::SumOk(countdown)
        };
        ShardPlan::Action(Action::Forward {
            targets,
            gather,
            effects: self.effects(),
        })
    }

    /// Only broadcast (and unsharded) tables: reads on one group, writes on
    /// every group.
    fn plan_broadcast_dml(&self) -> ShardPlan {
        let is_read =
            self.parsed.stmt.shows_table_structure() || matches!(self.parsed.stmt, Stmt::Select);
        if self.has_plain() || is_read {
            // With unsharded tables the statement runs where they live (every
            // group has the broadcast copies); a plain read goes to one group.
            if self.has_plain() {
                if !is_read {
                    return refuse(
                        "shardgate: a write that changes a broadcast table together with unsharded tables is not \
                         supported; write the broadcast table alone",
                    );
                }
                return ShardPlan::NotSharded;
            }
            let groups = &self.topo.groups;
            if groups.is_empty() {
                return refuse("shardgate: no groups");
            }
            // Inside a transaction, and for locking reads, always the first
            // group: one snapshot for the whole transaction (the copies of
            // its own writes are on every group), and sessions that lock
            // broadcast rows lock them in one place. Otherwise balanced.
            let i = if self.ctx.in_transaction || self.parsed.top().lock.is_some() {
                0
            } else {
                BROADCAST_RR.fetch_add(1, Ordering::Relaxed) % groups.len()
            };
            return match target(self.topo, &groups[i].name, None) {
                Ok(t) => ShardPlan::Action(Action::Forward {
                    targets: vec![t],
                    gather: Gather::Relay,
                    effects: self.effects(),
                }),
                Err(p) => p,
            };
        }
        let mut targets = Vec::new();
        for g in &self.topo.groups {
            match target(self.topo, &g.name, None) {
                Ok(t) => targets.push(t),
                Err(p) => return p,
            }
        }
        self.alike_on(targets)
    }

    /// `targets` that run alike (a broadcast write, LOCK TABLES): one
    /// target's reply is relayed, several answer with one OK.
    fn alike_on(&self, targets: Vec<RouteTarget>) -> ShardPlan {
        let gather = if targets.len() == 1 {
            Gather::Relay
        } else {
            Gather::SameOk
        };
        ShardPlan::Action(Action::Forward {
            targets,
            gather,
            effects: self.effects(),
        })
    }

    /// Gives the merge the column collations and ENUM/SET members of the
    /// sharded tables of the statement.
    fn describe_columns(
        &self,
        sharded: &[TableId],
        rule: &Rule,
        spec: &mut MergeSpec,
    ) -> Result<(), ShardPlan> {
        for &t in sharded {
            let Some(Some(Placement::Sharded { schema, name, .. })) = self.placements.get(t) else {
                continue;
            };
            let cols = self.table_columns(schema, name, rule)?;
            spec.column_collations
                .extend(cols.collations.iter().cloned());
            spec.column_enums.extend(cols.enums.iter().cloned());
        }
        Ok(())
    }

    /// Whether the SELECT groups by the shard key, so that each group is
    /// whole on one shard: a GROUP BY key is the key column of one of its
    /// sharded tables, and equal keys as the server groups them are placed
    /// together (an integer or date key, or a string key whose collation
    /// compares bytes: under a `_ci` collation 'a' and 'A' form one group
    /// but may sit on two shards).
    fn groups_on_shards(&self, sharded: &[TableId], rule: &Rule) -> Result<bool, ShardPlan> {
        self.block_groups_on_shards(0, sharded, rule)
    }

    /// What makes the top SELECT's work shard-local
    /// ([`super::scatter::ShardLocal`]): grouping by the shard key, and the
    /// key columns whose equal values share a shard.
    fn shard_local(
        &self,
        sharded: &[TableId],
        rule: &Rule,
    ) -> Result<super::scatter::ShardLocal, ShardPlan> {
        let mut local = super::scatter::ShardLocal {
            groups: self.groups_on_shards(sharded, rule)?,
            keys: Vec::new(),
        };
        // The keys matter only to DISTINCT aggregates.
        let distinct = self
            .parsed
            .top()
            .items
            .iter()
            .any(|i| matches!(&i.kind, parse::ItemKind::Aggregate(a) if a.distinct));
        if !distinct {
            return Ok(local);
        }
        for &t in sharded {
            let tr = &self.parsed.tables[t];
            if tr.block != 0 {
                continue;
            }
            let Some(Some(Placement::Sharded { key, .. })) = self.placements.get(t) else {
                continue;
            };
            if !self.key_placed_like_compared(t, rule)? {
                continue;
            }
            let written = tr.alias.as_ref().unwrap_or(&tr.name);
            local.keys.push((
                written.name.to_ascii_lowercase(),
                key.to_ascii_lowercase().into_bytes(),
            ));
        }
        Ok(local)
    }

    /// [`Self::groups_on_shards`] for the SELECT of block `bi`.
    fn block_groups_on_shards(
        &self,
        bi: usize,
        sharded: &[TableId],
        rule: &Rule,
    ) -> Result<bool, ShardPlan> {
        let Some(block) = self.parsed.blocks.get(bi) else {
            return Ok(false);
        };
        // A window function runs over the groups of the whole result, not
        // of one shard.
        if block.kind != BlockKind::Select
            || block.group_by.is_empty()
            || block.with_rollup
            || block.has_window()
            || block
                .order_by
                .iter()
                .any(|o| matches!(&o.key, parse::Key::Expr(info) if info.window))
        {
            return Ok(false);
        }
        for g in &block.group_by {
            let col = match &g.key {
                parse::Key::Column(c) => c,
                parse::Key::Alias(_) | parse::Key::Position(_) => {
                    let i = match g.key {
                        parse::Key::Position(p) => usize::try_from(p).unwrap_or(0).wrapping_sub(1),
                        parse::Key::Alias(i) => i,
                        _ => continue,
                    };
                    match block.items.get(i).map(|it| &it.kind) {
                        Some(parse::ItemKind::Column(c)) => c,
                        _ => continue,
                    }
                }
                _ => continue,
            };
            if self.is_grouping_key(bi, col, sharded, rule)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether `col` (in block `bi`) is the shard key of one of the block's
    /// sharded tables, with equal keys as the server compares them placed
    /// together (an integer or date key, or a string key whose collation
    /// compares bytes: under a `_ci` collation 'a' and 'A' are equal but
    /// may sit on two shards).
    fn is_grouping_key(
        &self,
        bi: usize,
        col: &parse::Column<'_>,
        sharded: &[TableId],
        rule: &Rule,
    ) -> Result<bool, ShardPlan> {
        for &t in sharded {
            if self.parsed.tables[t].block != bi {
                continue;
            }
            let Some(Some(Placement::Sharded { key, .. })) = self.placements.get(t) else {
                continue;
            };
            if !col.name.is(key.as_bytes()) {
                continue;
            }
            if let Some(q) = &col.table {
                let schema_q = col.schema.as_ref().map(|s| &*s.name);
                match self.parsed.resolve(bi, schema_q, &q.name) {
                    parse::Resolved::Table(x) | parse::Resolved::Alias(x) if x == t => {}
                    _ => continue,
                }
            }
            if self.key_placed_like_compared(t, rule)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether equal values of sharded table `t`'s key, as the server
    /// compares them, are placed on one shard: an integer or date key, or
    /// a string key whose collation compares bytes.
    fn key_placed_like_compared(&self, t: TableId, rule: &Rule) -> Result<bool, ShardPlan> {
        let Some(Some(Placement::Sharded {
            schema, name, key, ..
        })) = self.placements.get(t)
        else {
            return Ok(false);
        };
        let cols = self.table_columns(schema, name, rule)?;
        Ok(match cols.key_type(key.as_bytes()) {
            KeyType::Integer | KeyType::Date | KeyType::DateTime(_) => true,
            KeyType::Text | KeyType::PaddedText => cols
                .collations
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(key.as_bytes()))
                .and_then(|&(_, id)| crate::merge::collation::Collation::from_id(id))
                .is_some_and(|c| c.is_binary()),
            KeyType::Auto => false,
        })
    }

    /// Whether CTE `d` is named exactly once in the statement, in the top
    /// block's FROM (not by its own body: a recursive CTE, nor twice, as
    /// in a self-join, which would pair rows of different shards).
    fn cte_used_once_on_top(&self, d: usize) -> bool {
        let uses: Vec<usize> = self
            .parsed
            .tables
            .iter()
            .filter(|t| t.cte == Some(d))
            .map(|t| t.block)
            .collect();
        uses == [0]
    }

    /// Whether derived table `d` (in the top block's FROM) yields, on each
    /// shard, exactly that shard's share of its rows, so that the outer
    /// query over it merges like a query over a table: each row comes
    /// from one source row (no aggregates, GROUP BY, HAVING, LIMIT or
    /// window functions; DISTINCT only with the shard key selected), or
    /// it groups by the shard key (whole groups on each shard).
    fn derived_stays_on_shards(
        &self,
        d: usize,
        sharded: &[TableId],
        rule: &Rule,
    ) -> Result<bool, ShardPlan> {
        let Some(b) = self.parsed.blocks.get(d) else {
            return Ok(false);
        };
        if b.kind != BlockKind::Select || b.limit.is_some() || b.with_rollup || b.has_window() {
            return Ok(false);
        }
        if self.block_groups_on_shards(d, sharded, rule)? {
            return Ok(true);
        }
        if b.has_aggregate() || !b.group_by.is_empty() || b.having.is_some() {
            return Ok(false);
        }
        if b.distinct {
            for it in &b.items {
                if let parse::ItemKind::Column(c) = &it.kind {
                    if self.is_grouping_key(d, c, sharded, rule)? {
                        return Ok(true);
                    }
                }
            }
            return Ok(false);
        }
        Ok(true)
    }

    /// A UNION over several shards: the collation of each column the merger
    /// compares (ORDER BY keys; every column for UNION DISTINCT), which
    /// MariaDB's column definitions do not carry. Each part must select a
    /// plain column of one of its sharded tables there (or a number), and
    /// the parts must agree; the merge then compares by that collation.
    fn union_collations(&self, rule: &Rule, spec: &mut MergeSpec) -> Result<(), ShardPlan> {
        let top = self.parsed.top();
        let width = top
            .parts
            .first()
            .and_then(|&p| self.parsed.blocks.get(p))
            .map_or(0, |b| b.items.len());
        let compared: Vec<usize> = if spec.distinct {
            (0..width).collect()
        } else {
            spec.order_by.iter().map(|o| o.column).collect()
        };
        for c in compared {
            // MariaDB's rule for a union column: an explicit COLLATE wins,
            // else the parts' column collations must agree (numbers take
            // the strings' collation).
            let mut explicit: Vec<u16> = Vec::new();
            let mut implicit: Vec<u16> = Vec::new();
            for &p in &top.parts {
                match self.union_item_collation(p, c, rule)? {
                    (Some(id), true) => explicit.push(id),
                    (Some(id), false) => implicit.push(id),
                    (None, _) => {}
                }
            }
            let ids = if explicit.is_empty() {
                implicit
            } else {
                explicit
            };
            let Some(&id) = ids.first() else {
                continue;
            };
            if ids.iter().any(|&x| x != id) {
                return Err(refuse(format!(
                    "shardgate: column {} of the UNION has different collations in its parts, so \
                     shards and shardgate could order or de-duplicate it differently; give it one \
                     with COLLATE",
                    c + 1
                )));
            }
            spec.expr_collations
                .push((c, crate::merge::ExprCollation::Named(id)));
        }
        Ok(())
    }

    /// The collation of select item `c` of union part `p`: `Some(id)` for
    /// a string column, `None` for another column or a number; true when
    /// it is an explicit `COLLATE`.
    fn union_item_collation(
        &self,
        p: usize,
        c: usize,
        rule: &Rule,
    ) -> Result<(Option<u16>, bool), ShardPlan> {
        let unknown = || {
            refuse(format!(
                "shardgate: column {} of the UNION is compared (ORDER BY, or UNION DISTINCT) but \
                 shardgate cannot tell its collation in every part; select a plain column of the \
                 part's sharded table there",
                c + 1
            ))
        };
        let item = self
            .parsed
            .blocks
            .get(p)
            .and_then(|b| b.items.get(c))
            .ok_or_else(unknown)?;
        let col = match &item.kind {
            parse::ItemKind::Column(col) => col,
            _ => {
                let text = self.sql.get(item.expr.clone()).unwrap_or_default();
                if let Some(crate::merge::ExprCollation::Named(id)) =
                    super::scatter::collation_source(text)
                {
                    return Ok((Some(id), true));
                }
                let number = !text.is_empty()
                    && text
                        .trim_ascii()
                        .iter()
                        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(b));
                return if number {
                    Ok((None, false))
                } else {
                    Err(unknown())
                };
            }
        };
        // The part's sharded tables (the one the qualifier names, if any).
        let named = col.table.as_ref().map(|q| {
            match self
                .parsed
                .resolve(p, col.schema.as_ref().map(|s| &*s.name), &q.name)
            {
                parse::Resolved::Table(t) | parse::Resolved::Alias(t) => Some(t),
                _ => None,
            }
        });
        for (t, tr) in self.parsed.tables.iter().enumerate() {
            if tr.block != p || named.is_some_and(|n| n != Some(t)) {
                continue;
            }
            let Some(Some(Placement::Sharded { schema, name, .. })) = self.placements.get(t) else {
                continue;
            };
            let cols = self.table_columns(schema, name, rule)?;
            if cols.position(&col.name.name).is_none() {
                continue;
            }
            let id = cols
                .collations
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&col.name.name))
                .map(|(_, id)| *id);
            return Ok((id, false));
        }
        Err(unknown())
    }

    /// The columns of sharded table `name` (read once per table from its
    /// first shard; a worker does the read).
    pub(super) fn table_columns(
        &self,
        schema: &Schema,
        name: &str,
        rule: &Rule,
    ) -> Result<Arc<TableColumns>, ShardPlan> {
        if let Some(c) = self.state.table_columns(&schema.name, name) {
            return Ok(c);
        }
        if !self.may_block {
            return Err(ShardPlan::NeedsWorker);
        }
        // The first shard of each group in turn: a group whose master is
        // down does not stop the tables on the others.
        let mut failure = String::new();
        for group in &rule.groups {
            let shards = rule.shards_on(group);
            if shards.is_empty() {
                continue;
            }
            let shard = shards.start;
            let Some(addr) = crate::route::master_addr(self.topo, group) else {
                failure = format!("cannot resolve the master of group '{group}'");
                continue;
            };
            let physical = crate::config::physical_table_name(name, shard);
            match self
                .state
                .load_table_columns(self.topo, addr, &schema.name, name, &physical)
            {
                Ok(cols) => return Ok(cols),
                Err(e) => {
                    log::warn!(
                        "ROUTER cannot read the columns of {}.{physical} on group {group}: {e}",
                        schema.name
                    );
                    failure = format!("group '{group}': {e}");
                }
            }
        }
        Err(ShardPlan::Action(err(
            ec::ER_UNKNOWN_ERROR,
            &format!("shardgate: cannot read the columns of '{name}' ({failure})"),
        )))
    }
}

/// The leaves of the top-level AND of a predicate.
fn collect_and_leaves<'p, 'a>(pred: &'p Pred<'a>, out: &mut Vec<&'p Leaf<'a>>) {
    match pred {
        Tree::And(parts) => {
            for p in parts {
                collect_and_leaves(p, out);
            }
        }
        Tree::Leaf(l) => out.push(l),
        _ => {}
    }
}

#[allow(dead_code)]
fn _assert_block(_: &Block<'_>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_sql_names_match_the_formatted_ones() {
        for name in ["t", "article", "my table", "we`ird", "ünï", ""] {
            for shard in [0, 7, 42, 999, 1000, 9999, 10000, 123_456] {
                let want = quoted(&crate::config::physical_table_name(name, shard));
                assert_eq!(
                    physical_sql_name(name, shard),
                    want,
                    "{name:?} shard {shard}"
                );
            }
        }
    }
}
