//! Prepared statements on sharded and broadcast tables. The shard a
//! statement runs on depends on the values bound at EXECUTE time (the key
//! is usually a `?`), so shardgate owns these statements:
//! - COM_STMT_PREPARE is prepared once on the first target (physical table
//!   names) to learn the parameter and column metadata; the client gets that
//!   reply with shardgate's own statement id (from `PROXY_STMT_BASE` up, so
//!   it never collides with a backend's ids), and the backend statement is
//!   closed right away. Nothing is pinned.
//! - COM_STMT_EXECUTE is planned with the bound values as the key values
//!   (`route::plan_prepared`) and the statement's own text, placeholders
//!   kept; each target runs its physical text as a server-side statement
//!   kept prepared on that backend connection (`reactor::stmt_cache`) with
//!   the client's parameter block (types always sent). Rows come back in
//!   the binary protocol, relayed or merged.
//! - When the plan needs the values in the SQL (INSERT rows split over
//!   shards, `LIMIT ?`, `HAVING ... ?`), when long data was sent, or with
//!   `backend.prepared_cache_per_connection = 0`, the values are written
//!   into the SQL as literals (`route::literal`) and it is planned like a
//!   COM_QUERY: one target runs it as a plain query whose text rows become
//!   binary rows here; several run it as one-shot statements (PREPARE +
//!   EXECUTE of MariaDB's "last prepared statement", id -1, pipelined, then
//!   CLOSE).
//! - SEND_LONG_DATA, RESET and CLOSE are answered here.

use std::collections::HashMap;

use shardgate_proto::column::ColumnType;
use shardgate_proto::error_codes as ec;
use shardgate_proto::stmt::{ParamValue, StmtExecute};

use super::client::{InFlight, Phase};
use super::io_thread::{Conn, IoThread};
use super::relay::Expect;
use crate::route::{self, shard, Action, Effects, Gather};
use crate::sql::LexOptions;

/// How an EXECUTE runs on its targets.
enum ExecMode {
    /// Statements kept prepared per connection; the COM_STMT_EXECUTE body
    /// after the statement id.
    Cached(Vec<u8>),
    /// PREPARE + EXECUTE(-1) + CLOSE of the SQL with the values in it.
    OneShot,
    /// One plain query, its text rows turned into binary rows.
    TextToBinary,
}

/// A statement that acts on the session's connections besides its
/// targets (`Effects::on_attached`, `unlock_elsewhere`, `implicit_commit`,
/// session variables replayed on each): executed as a query through
/// `run_forward` (it answers OK either way).
fn on_other_connections(effects: &Effects) -> bool {
    effects.on_attached
        || effects.unlock_elsewhere
        || effects.implicit_commit
        || effects.reset_autocommit
        || !effects.set_vars.is_empty()
}

/// shardgate's own statement ids start here.
pub(super) const PROXY_STMT_BASE: u32 = 0x4000_0000;

/// A prepared statement shardgate owns.
#[derive(Debug, Clone)]
pub(super) struct ProxyStmt {
    pub sql: Vec<u8>,
    /// Byte offsets of the `?` placeholders in `sql`.
    pub params_at: Vec<usize>,
    /// ` AS `name`` to insert at these offsets when the values are written
    /// in, so items holding a `?` keep the server's names
    /// (`route::literal::param_item_names`).
    pub names_at: Vec<(usize, Vec<u8>)>,
    pub num_params: u16,
    /// Types bound by the last EXECUTE that sent them.
    pub types: Option<Vec<(ColumnType, bool)>>,
    /// COM_STMT_SEND_LONG_DATA pieces per parameter.
    pub long_data: Vec<Option<Vec<u8>>>,
    /// Statements routed by their key: the plan per shard set
    /// (`route::point`), for the topology, routing state and schema it was
    /// made under.
    pub plans: Option<Box<PlanCache>>,
    /// Calls ROW_COUNT() or FOUND_ROWS(): always executed with the values
    /// written into the SQL, where shardgate writes in what they answer
    /// for the session (`route::row_count`).
    pub literal_only: bool,
}

/// Most shard sets whose plans one statement keeps.
const MAX_CACHED_PLANS: usize = 64;

/// A plan made by the full planner, kept for the next executions that
/// reach the same shards.
#[derive(Clone)]
struct CachedPlan {
    targets: Vec<route::RouteTarget>,
    gather: Gather,
    effects: Effects,
    /// Every target runs the statement's text with its placeholders, so
    /// the client's parameter block goes out as it came.
    keeps_params: bool,
}

/// The plans of a statement routed by its key, per shard set.
#[derive(Clone)]
pub(super) struct PlanCache {
    /// `None`: routing needs the full planner at every execution.
    route: Option<route::point::KeyRoute>,
    topo: std::sync::Arc<crate::config::Topology>,
    state: std::sync::Arc<crate::route::state::RouteState>,
    schema: Option<String>,
    /// The session's NO_BACKSLASH_ESCAPES state it was lexed under.
    backslash_escapes: bool,
    /// `RouteState::collation_epoch` when it was made (the merge steps of
    /// the plans carry column collations, which DDL may change).
    collation_epoch: u64,
    /// What the planner made for each shard set seen so far.
    plans: crate::fast_hash::FastMap<route::rules::ShardSet, CachedPlan>,
}

impl std::fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanCache")
            .field("route", &self.route)
            .field("schema", &self.schema)
            .field("shard_sets_planned", &self.plans.len())
            .finish()
    }
}

impl PlanCache {
    /// The cache of `sql` (with `num_params` placeholders) under (`topo`,
    /// `state`, `ctx`'s schema).
    fn build(
        topo: &std::sync::Arc<crate::config::Topology>,
        state: &std::sync::Arc<crate::route::state::RouteState>,
        ctx: &route::RouteCtx,
        sql: &[u8],
        opts: LexOptions,
        num_params: usize,
    ) -> PlanCache {
        PlanCache {
            route: route::point::key_route(topo, ctx.schema.as_deref(), sql, opts, num_params),
            topo: topo.clone(),
            state: state.clone(),
            schema: ctx.schema.clone(),
            backslash_escapes: opts.backslash_escapes,
            collation_epoch: state.collation_epoch(),
            plans: Default::default(),
        }
    }

    fn valid_for(
        &self,
        topo: &std::sync::Arc<crate::config::Topology>,
        state: &std::sync::Arc<crate::route::state::RouteState>,
        ctx: &route::RouteCtx,
    ) -> bool {
        std::sync::Arc::ptr_eq(&self.topo, topo)
            && std::sync::Arc::ptr_eq(&self.state, state)
            && self.schema == ctx.schema
            && self.backslash_escapes == ctx.backslash_escapes
            && self.collation_epoch == state.collation_epoch()
            && ctx.shard_key.is_none()
    }

    /// The shards the bound values route to, if the statement is routed
    /// by its key (errors are left to the full planner).
    fn shards(
        &self,
        values: &[route::keyvalue::KeyValue],
        client_charset: Option<crate::merge::charset::Charset>,
    ) -> Option<route::rules::ShardSet> {
        self.route
            .as_ref()?
            .shards(&self.topo, &self.state, values, client_charset)
    }

    /// Keeps the plan `action` made for `set`, if it can serve every
    /// execution reaching those shards: one target relayed, or several
    /// when the statement's only `?`s are the key's (see `route::point`).
    fn remember(&mut self, set: route::rules::ShardSet, action: &Action, keeps_params: bool) {
        let Action::Forward {
            targets,
            gather,
            effects,
        } = action
        else {
            return;
        };
        let single = targets.len() == 1 && matches!(gather, Gather::Relay);
        let only_key = self.route.as_ref().is_some_and(|r| r.params_only_in_key);
        if !(single || only_key) || self.plans.len() >= MAX_CACHED_PLANS {
            return;
        }
        self.plans.insert(
            set,
            CachedPlan {
                targets: targets.clone(),
                gather: gather.clone(),
                effects: effects.clone(),
                keeps_params,
            },
        );
    }
}

/// The statements of one session and the next id to hand out.
#[derive(Debug, Default)]
pub(super) struct ProxyStmts {
    pub map: HashMap<u32, ProxyStmt>,
    pub next: u32,
    /// Being prepared: the statement waiting for its metadata.
    pub pending: Option<(u32, ProxyStmt)>,
}

impl ProxyStmts {
    pub fn is_proxy_id(id: u32) -> bool {
        id >= PROXY_STMT_BASE
    }

    fn next_id(&mut self) -> u32 {
        let id = PROXY_STMT_BASE.wrapping_add(self.next);
        self.next = self.next.wrapping_add(1) % (u32::MAX - PROXY_STMT_BASE);
        id
    }
}

impl IoThread {
    fn route_ctx(&self, key: usize) -> Option<route::RouteCtx> {
        let Some(Conn::Client(c)) = self.conns.get(key) else {
            return None;
        };
        Some(c.route_ctx())
    }

    /// COM_STMT_PREPARE with sharding configured. Returns false when the
    /// statement names no sharded or broadcast table (the backend's own
    /// prepared statements serve it, pinned).
    pub(super) fn prepare_sharded(&mut self, key: usize, payload: &[u8]) -> bool {
        let state = self.shared.route_state();
        if !state.any_sharding() {
            return false;
        }
        let Some(ctx) = self.route_ctx(key) else {
            return true;
        };
        let topo = self.shared.topology();
        let sql = payload.get(1..).unwrap_or_default();
        // Transaction control must take shardgate's own path (lazy BEGIN
        // on each shard, COMMIT on every one) when executed: answer the
        // prepare here (no parameters, no columns).
        let st = crate::sql::classify(sql, LexOptions::default());
        // ROW_COUNT() / FOUND_ROWS() answer for the session's previous
        // statement, which may have run on another connection: shardgate
        // owns such statements too (`route::row_count`).
        // So does a SET with placeholders (`SET @v = ?`): executed with the
        // values written in, as a SET query whose assignments reach every
        // group's connection.
        let counters = st.row_count_fn
            || st.found_rows
            || matches!(
                st.kind,
                crate::sql::Kind::Set | crate::sql::Kind::SetTransaction
            );
        // Savepoints, table locks and session variables too: they belong
        // to every group's connection of the session (`reactor::savepoint`,
        // LOCK TABLES, SET replayed on each: `Effects::set_vars`).
        if matches!(
            st.kind,
            crate::sql::Kind::Begin { .. }
                | crate::sql::Kind::Commit { .. }
                | crate::sql::Kind::Rollback { .. }
                | crate::sql::Kind::Set
                | crate::sql::Kind::SetTransaction
                | crate::sql::Kind::Savepoint
                | crate::sql::Kind::RollbackToSavepoint
                | crate::sql::Kind::ReleaseSavepoint
                | crate::sql::Kind::LockTables
                | crate::sql::Kind::UnlockTables
        ) && crate::sql::count_placeholders(sql, LexOptions::default()) == 0
        {
            let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
                return true;
            };
            let id = c.proxy_stmts.next_id();
            c.proxy_stmts.map.insert(
                id,
                ProxyStmt {
                    sql: sql.to_vec(),
                    params_at: Vec::new(),
                    names_at: Vec::new(),
                    num_params: 0,
                    types: None,
                    long_data: Vec::new(),
                    plans: None,
                    literal_only: false,
                },
            );
            let mut ok = vec![0x00];
            ok.extend_from_slice(&id.to_le_bytes());
            ok.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0]);
            self.reply_local(key, &ok);
            return true;
        }
        let opts = LexOptions {
            backslash_escapes: ctx.backslash_escapes,
            ..LexOptions::default()
        };
        let plan = shard::plan_prepare(&topo, &state, &ctx, sql, opts);
        let (group, addr, target_sql) = match plan {
            shard::ShardPlan::NotSharded if counters => {
                match route::default_target(&topo, ctx.schema.as_deref()) {
                    Ok((group, addr)) => (group, addr, sql.to_vec()),
                    Err((code, msg)) => {
                        self.reply_err(key, code, &msg);
                        return true;
                    }
                }
            }
            shard::ShardPlan::NotSharded => return false,
            shard::ShardPlan::Action(Action::Forward { targets, .. }) => {
                match targets.into_iter().next() {
                    Some(t) => (t.group, t.addr, t.sql.unwrap_or_else(|| sql.to_vec())),
                    None => {
                        self.reply_err(
                            key,
                            ec::ER_UNKNOWN_ERROR,
                            "shardgate: no shard to prepare on",
                        );
                        return true;
                    }
                }
            }
            shard::ShardPlan::Action(Action::Reply(p)) => {
                self.reply_local(key, &p);
                return true;
            }
            shard::ShardPlan::Action(_) | shard::ShardPlan::NeedsWorker => {
                self.reply_err(
                    key,
                    ec::ER_NOT_SUPPORTED_YET,
                    "shardgate: this statement cannot be prepared on sharded tables",
                );
                return true;
            }
        };
        let parsed = crate::sql::parse::parse(sql, opts);
        let stmt = ProxyStmt {
            sql: sql.to_vec(),
            params_at: parsed.params.clone(),
            names_at: route::literal::param_item_names(&parsed, sql),
            num_params: 0,
            types: None,
            long_data: Vec::new(),
            plans: None,
            literal_only: counters,
        };
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return true;
        };
        let id = c.proxy_stmts.next_id();
        c.proxy_stmts.pending = Some((id, stmt));
        let mut p = Vec::with_capacity(target_sql.len() + 1);
        p.push(0x16);
        p.extend_from_slice(&target_sql);
        let mut inflight = InFlight::single(
            group,
            addr,
            p,
            Some(Expect::StmtPrepare),
            Effects::default(),
        );
        inflight.prepare_as = Some(id);
        self.start_statement(key, inflight);
        true
    }

    /// The metadata prepare finished: keep (or drop) the statement.
    pub(super) fn prepared_sharded(&mut self, key: usize, counts: Option<(u32, u16, u16)>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let Some((id, mut stmt)) = c.proxy_stmts.pending.take() else {
            return;
        };
        if let Some((_, _cols, params)) = counts {
            stmt.num_params = params;
            stmt.long_data = vec![None; usize::from(params)];
            c.proxy_stmts.map.insert(id, stmt);
        }
    }

    /// COM_STMT_EXECUTE of a statement shardgate owns.
    pub(super) fn execute_sharded(&mut self, key: usize, payload: &[u8]) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let body = payload.get(1..).unwrap_or_default();
        let id = shardgate_proto::stmt::stmt_id_of_execute(payload).unwrap_or(0);
        let backslash = c.sess.backslash_escapes;
        let route_ctx = c.route_ctx();
        let Some(stmt) = c.proxy_stmts.map.get_mut(&id) else {
            self.reply_err(
                key,
                ec::ER_UNKNOWN_STMT_HANDLER,
                "Unknown prepared statement handler given to EXECUTE",
            );
            return;
        };
        let ex =
            match StmtExecute::decode(body, usize::from(stmt.num_params), stmt.types.as_deref()) {
                Ok(ex) => ex,
                Err(e) => {
                    self.close(key, &format!("malformed COM_STMT_EXECUTE: {e}"));
                    return;
                }
            };
        if ex.flags & 0x07 != 0 {
            self.reply_err(
                key,
                ec::ER_NOT_SUPPORTED_YET,
                "shardgate: cursors are not supported on sharded tables; fetch the whole result",
            );
            return;
        }
        if ex.new_params_bound {
            stmt.types = Some(ex.types.to_vec());
        }
        let long: Vec<bool> = stmt.long_data.iter().map(Option::is_some).collect();
        // Kept prepared on the backends: route by the bound values, run the
        // statement's own text (placeholders kept) with the client's
        // parameters. Long data and statements whose plan needs the values
        // written into the SQL (split INSERT rows, LIMIT ?, HAVING ... ?)
        // take the literal path below.
        let cache = self.shared.topology().backend.prepared_cache_per_connection > 0;
        if cache && !stmt.literal_only && !long.iter().any(|&l| l) {
            let mut values = Vec::with_capacity(usize::from(stmt.num_params));
            let mut bad = None;
            for p in ex.params(&[]) {
                match p {
                    Ok(p) => values.push(match p.value {
                        ParamValue::Value(v) => route::keyvalue::KeyValue::from_value(&v),
                        ParamValue::LongData => route::keyvalue::KeyValue::Null,
                    }),
                    Err(e) => bad = Some(e),
                }
            }
            if let Some(e) = bad {
                self.close(key, &format!("malformed COM_STMT_EXECUTE parameters: {e}"));
                return;
            }
            let ctx = &route_ctx;
            let topo = self.shared.topology();
            let state = self.shared.route_state();
            let opts = LexOptions {
                backslash_escapes: backslash,
                ..LexOptions::default()
            };
            // Statements routed by their key: the plan for a shard set,
            // made once.
            if !stmt
                .plans
                .as_ref()
                .is_some_and(|p| p.valid_for(&topo, &state, ctx))
            {
                stmt.plans = Some(Box::new(PlanCache::build(
                    &topo,
                    &state,
                    ctx,
                    &stmt.sql,
                    opts,
                    stmt.params_at.len(),
                )));
            }
            let set = stmt
                .plans
                .as_ref()
                .and_then(|p| p.shards(&values, ctx.client_charset));
            let known = set
                .as_ref()
                .and_then(|s| stmt.plans.as_ref().and_then(|p| p.plans.get(s)))
                .cloned();
            let (action, keeps_params) = match known {
                Some(plan) => (
                    Action::Forward {
                        targets: plan.targets,
                        gather: plan.gather,
                        effects: plan.effects,
                    },
                    plan.keeps_params,
                ),
                None => {
                    let action = route::plan_prepared(&topo, &state, ctx, &stmt.sql, &values, true);
                    let keeps_params = match &action {
                        Action::Forward {
                            targets, gather, ..
                        } => {
                            !matches!(gather, Gather::Rename(_))
                                && (targets.len() == 1
                                    || targets.iter().all(|t| {
                                        t.sql.as_deref().is_none_or(|s| {
                                            crate::sql::count_placeholders(s, opts)
                                                == stmt.params_at.len()
                                        })
                                    }))
                        }
                        _ => false,
                    };
                    if let (Some(s), Some(p)) = (set, stmt.plans.as_mut()) {
                        p.remember(s, &action, keeps_params);
                    }
                    (action, keeps_params)
                }
            };
            if let Action::Forward {
                targets,
                gather,
                effects,
            } = action
            {
                // (LOCK / UNLOCK TABLES, DDL: the literal path below runs them
                // as queries, on the session's other connections too)
                if keeps_params && !on_other_connections(&effects) {
                    let mut body = Vec::with_capacity(ex.raw.len() + 2 * values.len() + 4);
                    ex.encode_with_types(0, &mut body);
                    body.drain(..4);
                    let template = stmt.sql.clone();
                    for d in &mut stmt.long_data {
                        *d = None;
                    }
                    let gather = match gather {
                        Gather::Merge(mut spec) => {
                            spec.binary = true;
                            Gather::Merge(spec)
                        }
                        g => g,
                    };
                    self.run_execution(
                        key,
                        targets,
                        gather,
                        effects,
                        &template,
                        ExecMode::Cached(body),
                    );
                    return;
                }
            }
        }
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let Some(stmt) = c.proxy_stmts.map.get_mut(&id) else {
            return;
        };
        // The SQL with every `?` replaced by its value.
        let mut sql = Vec::with_capacity(stmt.sql.len() + 16 * stmt.params_at.len());
        let mut pos = 0;
        let mut names = stmt.names_at.iter().peekable();
        for (i, p) in ex.params(&long).enumerate() {
            let Some(&at) = stmt.params_at.get(i) else {
                break;
            };
            // Item names that end before this `?`.
            while let Some((name_at, name)) = names.next_if(|(n, _)| *n <= at) {
                sql.extend_from_slice(stmt.sql.get(pos..*name_at).unwrap_or_default());
                sql.extend_from_slice(name);
                pos = *name_at;
            }
            let p = match p {
                Ok(p) => p,
                Err(e) => {
                    self.close(key, &format!("malformed COM_STMT_EXECUTE parameters: {e}"));
                    return;
                }
            };
            sql.extend_from_slice(stmt.sql.get(pos..at).unwrap_or_default());
            match p.value {
                ParamValue::Value(v) => {
                    route::literal::value_literal(p.column_type, &v, backslash, &mut sql)
                }
                ParamValue::LongData => {
                    let data = stmt
                        .long_data
                        .get(i)
                        .and_then(|d| d.as_deref())
                        .unwrap_or_default();
                    route::literal::bytes_literal(p.column_type, data, backslash, &mut sql);
                }
            }
            pos = at + 1;
        }
        for (name_at, name) in names {
            sql.extend_from_slice(stmt.sql.get(pos..*name_at).unwrap_or_default());
            sql.extend_from_slice(name);
            pos = (*name_at).max(pos);
        }
        sql.extend_from_slice(stmt.sql.get(pos..).unwrap_or_default());
        // Long data lasts for one execution.
        for d in &mut stmt.long_data {
            *d = None;
        }
        let ctx = route_ctx;
        let topo = self.shared.topology();
        let state = self.shared.route_state();
        // Lookup-rule directory reads may block briefly here (bounded by
        // the backend timeouts); everything else plans without I/O.
        // The statement as the COM_QUERY payload the query paths take.
        let as_query = |sql: &[u8]| [&[0x03u8][..], sql].concat();
        match route::plan_query(&topo, &state, &ctx, &sql, true) {
            // Statements that answer OK and act on the session's other
            // connections (UNLOCK TABLES, LOCK TABLES, DDL): as a query.
            Action::Forward {
                targets,
                gather,
                effects,
            } if on_other_connections(&effects) => {
                self.run_forward(key, as_query(&sql), targets, gather, effects);
            }
            Action::Forward { targets, gather, effects } => {
                let gather = match gather {
                    Gather::Merge(mut spec) => {
                        spec.binary = true;
                        Gather::Merge(spec)
                    }
                    g => g,
                };
                self.run_binary(key, targets, gather, effects, &sql);
            }
            Action::Reply(p) => self.reply_local(key, &p),
            Action::Begin(sql) => self.begin_txn(key, sql),
            Action::EndTxn { chain, release } => {
                self.end_txn(key, as_query(&sql), chain, release);
            }
            Action::Savepoint { op, name } => {
                self.savepoint(key, op, name, as_query(&sql));
            }
            _ => self.reply_err(
                key,
                ec::ER_NOT_SUPPORTED_YET,
                "shardgate: this statement cannot be executed as a prepared statement on sharded tables",
            ),
        }
    }

    /// Runs an EXECUTE whose values were written into the SQL.
    fn run_binary(
        &mut self,
        key: usize,
        targets: Vec<route::RouteTarget>,
        gather: Gather,
        effects: Effects,
        sql: &[u8],
    ) {
        // One target: run it as a plain query and turn its text rows into
        // binary rows here (one server statement instead of three).
        let mode = if targets.len() == 1 && matches!(gather, Gather::Relay) {
            ExecMode::TextToBinary
        } else {
            ExecMode::OneShot
        };
        self.run_execution(key, targets, gather, effects, sql, mode);
    }

    fn run_execution(
        &mut self,
        key: usize,
        targets: Vec<route::RouteTarget>,
        gather: Gather,
        effects: Effects,
        sql: &[u8],
        mode: ExecMode,
    ) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let command = match mode {
            ExecMode::TextToBinary => 0x03,
            ExecMode::OneShot | ExecMode::Cached(_) => 0x16,
        };
        let targets: Vec<super::client::Target> = targets
            .into_iter()
            .map(|t| {
                let text = t.sql.as_deref().unwrap_or(sql);
                let mut p = Vec::with_capacity(text.len() + 1);
                p.push(command);
                p.extend_from_slice(text);
                super::client::Target::new(t.group, t.addr, p)
            })
            .collect();
        let merger = super::client::merger_for(&gather, targets.len(), c.sess.caps);
        let mut inflight =
            InFlight::new(targets, Some(Expect::ResultSets), effects, gather, merger);
        match mode {
            ExecMode::Cached(body) => inflight.exec_body = Some(body),
            ExecMode::OneShot => inflight.binary_exec = true,
            ExecMode::TextToBinary => {
                let deprecate_eof = c
                    .sess
                    .caps
                    .contains(shardgate_proto::capability::Capabilities::DEPRECATE_EOF);
                inflight.to_binary = Some(crate::merge::binary::TextToBinary::new(deprecate_eof));
            }
        }
        c.phase = Phase::AwaitBackend;
        self.start_statement(key, inflight);
    }

    /// COM_STMT_SEND_LONG_DATA, RESET and CLOSE of a statement shardgate
    /// owns. Returns false when `id` is not one of them.
    pub(super) fn stmt_local(&mut self, key: usize, code: u8, payload: &[u8]) -> bool {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return false;
        };
        let id = shardgate_proto::stmt::stmt_id_of_execute(payload).unwrap_or(0);
        if !ProxyStmts::is_proxy_id(id) {
            return false;
        }
        match code {
            0x19 => {
                c.proxy_stmts.map.remove(&id);
                self.rerun.push(key);
            }
            0x18 => {
                // param id (u16) then the data
                if let (Some(stmt), Some(pid)) = (c.proxy_stmts.map.get_mut(&id), payload.get(5..7))
                {
                    let param = usize::from(u16::from_le_bytes([pid[0], pid[1]]));
                    if let Some(slot) = stmt.long_data.get_mut(param) {
                        slot.get_or_insert_with(Vec::new)
                            .extend_from_slice(payload.get(7..).unwrap_or_default());
                    }
                }
                self.rerun.push(key);
            }
            0x1a => match c.proxy_stmts.map.get_mut(&id) {
                Some(stmt) => {
                    for d in &mut stmt.long_data {
                        *d = None;
                    }
                    let p = super::client::ok_payload(
                        c.sess.caps,
                        0,
                        0,
                        shardgate_proto::capability::StatusFlags::AUTOCOMMIT.0,
                    );
                    self.reply_local(key, &p);
                }
                None => self.reply_err(
                    key,
                    ec::ER_UNKNOWN_STMT_HANDLER,
                    "Unknown prepared statement handler given to RESET",
                ),
            },
            _ => self.reply_err(
                key,
                ec::ER_NOT_SUPPORTED_YET,
                "shardgate: cursors (COM_STMT_FETCH) are not supported on sharded tables",
            ),
        }
        true
    }
}
