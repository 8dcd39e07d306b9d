//! The planner for one COM_QUERY: classifies the SQL, decides the target
//! (for unsharded schemas: the schema's default group master) and what the
//! statement does to the session.
//!
//! Multiplexing rules: `SET` of a session variable to a literal is recorded
//! and replayed on other connections; anything whose effect cannot be
//! replayed pins the session (user variables, temporary tables, LOCK
//! TABLES, user-level locks, SQL-level PREPARE, SQL_CALC_FOUND_ROWS and
//! inserts for the statement after them).

use shardgate_proto::error_codes as ec;

use super::state::RouteState;
use super::{default_target, err, Action, Effects, RouteCtx};
use crate::config::Topology;
use crate::session::{Assignment, PinReasons};
use crate::sql::{self, parse, Kind, Scope, Statement};

/// `EXPLAIN SHARDGATE <statement>`: the inner statement's bytes.
fn explain_target(sql: &[u8]) -> Option<&[u8]> {
    let trimmed = sql.trim_ascii_start();
    let mut words = trimmed.splitn(3, |b: &u8| b.is_ascii_whitespace());
    let first = words.next()?;
    let second = words.next()?;
    if first.eq_ignore_ascii_case(b"explain") && second.eq_ignore_ascii_case(b"shardgate") {
        Some(words.next().unwrap_or_default())
    } else {
        None
    }
}

/// A short description of how replies are gathered.
fn gather_name(g: &super::Gather) -> String {
    match g {
        super::Gather::Relay => "relay".into(),
        super::Gather::SumOk(None) => "sum affected rows".into(),
        super::Gather::SumOk(Some(l)) => {
            format!(
                "sum affected rows, one after the other until {} rows",
                l.rows
            )
        }
        super::Gather::SameOk => "same on every group".into(),
        super::Gather::Rename(_) => "logical table names".into(),
        super::Gather::Merge(spec) => {
            let mut parts = vec!["merge".to_string()];
            if !spec.order_by.is_empty() {
                parts.push(format!(
                    "order by {:?}",
                    spec.order_by.iter().map(|o| o.column).collect::<Vec<_>>()
                ));
            }
            if !spec.group_by.is_empty() {
                parts.push(format!("group by {:?}", spec.group_by));
            }
            if !spec.aggregates.is_empty() {
                parts.push(format!("{} aggregates", spec.aggregates.len()));
            }
            if spec.distinct {
                parts.push("distinct".into());
            }
            if let Some(l) = spec.limit {
                parts.push(format!("limit {},{}", l.offset, l.count));
            }
            if spec.hidden > 0 {
                parts.push(format!("{} hidden columns", spec.hidden));
            }
            parts.join(", ")
        }
    }
}

/// The rows of EXPLAIN SHARDGATE: one per target (or the refusal).
fn explain(caps: shardgate_proto::capability::Capabilities, action: &Action) -> Action {
    let cols = ["group", "node", "sql", "gather"];
    let rows: Vec<Vec<Option<String>>> = match action {
        Action::Forward {
            targets, gather, ..
        } => {
            let how = gather_name(gather);
            targets
                .iter()
                .map(|t| {
                    vec![
                        Some(t.group.clone()),
                        Some(t.addr.to_string()),
                        t.sql
                            .as_ref()
                            .map(|s| String::from_utf8_lossy(s).into_owned())
                            .or(Some("(unchanged)".into())),
                        Some(how.clone()),
                    ]
                })
                .collect()
        }
        Action::Reply(p) if p.first() == Some(&0xff) => {
            let msg = String::from_utf8_lossy(p.get(9..).unwrap_or_default()).into_owned();
            vec![vec![None, None, Some(msg), Some("error".into())]]
        }
        Action::Reply(_)
        | Action::ReplyPackets(_)
        | Action::Defer
        | Action::Begin(_)
        | Action::EndTxn { .. }
        | Action::SetShardKey(_)
        | Action::SetUseMaster(_) => {
            vec![vec![None, None, None, Some("answered by shardgate".into())]]
        }
        Action::ReadInfile { file } => vec![vec![
            None,
            None,
            Some(format!(
                "the client's file '{}' is read by shardgate and its records sent to the shards their key fields map to",
                String::from_utf8_lossy(file)
            )),
            Some("split file".into()),
        ]],
        Action::Kill { id, .. } => vec![vec![
            None,
            None,
            Some(format!("KILL {id}")),
            Some("kill".into()),
        ]],
        Action::SplitMulti => vec![vec![
            None,
            None,
            None,
            Some("multi-statement: each statement planned on its own".into()),
        ]],
        Action::Savepoint { .. } => vec![vec![
            None,
            None,
            None,
            Some("on every backend in the transaction, and each it reaches later".into()),
        ]],
    };
    Action::ReplyPackets(super::local::text_result_set(
        caps,
        super::local::IDLE_STATUS,
        &cols,
        &rows,
    ))
}

/// The name of `SAVEPOINT x`, `ROLLBACK [WORK] TO [SAVEPOINT] x` or
/// `RELEASE SAVEPOINT x`, as written; `None` when the statement is not
/// exactly that (the server then says what is wrong).
fn savepoint_name(sql: &[u8], tokens: &[sql::Token]) -> Option<Vec<u8>> {
    let words: Vec<&sql::Token> = tokens
        .iter()
        .filter(|t| !matches!(t.kind, sql::TokenKind::Semicolon | sql::TokenKind::Hint))
        .collect();
    let (name, head) = words.split_last()?;
    if !name.is_word() || !head.iter().all(|t| t.is_word()) {
        return None;
    }
    let head: Vec<Vec<u8>> = head
        .iter()
        .map(|t| t.text(sql).to_ascii_uppercase())
        .collect();
    let head: Vec<&[u8]> = head.iter().map(Vec::as_slice).collect();
    let known = matches!(
        head.as_slice(),
        [b"SAVEPOINT"]
            | [b"RELEASE", b"SAVEPOINT"]
            | [b"ROLLBACK", b"TO"]
            | [b"ROLLBACK", b"TO", b"SAVEPOINT"]
            | [b"ROLLBACK", b"WORK", b"TO"]
            | [b"ROLLBACK", b"WORK", b"TO", b"SAVEPOINT"]
    );
    known.then(|| name.text(sql).to_vec())
}

/// Statement kinds that may name sharded or broadcast tables.
fn shardable(kind: &Kind<'_>) -> bool {
    !matches!(
        kind,
        Kind::Empty
            | Kind::Set
            | Kind::SetTransaction
            | Kind::Use(_)
            | Kind::Begin { .. }
            | Kind::Commit { .. }
            | Kind::Rollback { .. }
            | Kind::RollbackToSavepoint
            | Kind::Savepoint
            | Kind::ReleaseSavepoint
            | Kind::Kill { .. }
            | Kind::Xa
            | Kind::Do
            | Kind::Flush
            | Kind::Grant
            | Kind::Revoke
    )
}

/// The statement counters' kind of a classified statement.
fn query_kind(kind: &Kind<'_>) -> crate::stats::QueryKind {
    use crate::stats::QueryKind as Q;
    match kind {
        Kind::Select => Q::Select,
        Kind::Insert | Kind::Replace | Kind::Load { .. } => Q::Insert,
        Kind::Update => Q::Update,
        Kind::Delete => Q::Delete,
        _ => Q::Other,
    }
}

/// `SET @@shardgate_use_master = ON|OFF`.
pub const USE_MASTER_VAR: &[u8] = b"shardgate_use_master";

/// A `/*+ shardgate: ... master ... */` hint.
fn hint_forces_master(sql: &[u8], hint: Option<std::ops::Range<usize>>) -> bool {
    let Some(text) = hint.and_then(|r| sql.get(r)) else {
        return false;
    };
    let lower = text.to_ascii_lowercase();
    let Some(at) = lower.windows(10).position(|w| w == b"shardgate:") else {
        return false;
    };
    lower[at + 10..]
        .split(|b| !b.is_ascii_alphanumeric() && *b != b'_')
        .any(|w| w == b"master")
}

/// Plans one statement (`sql` is the COM_QUERY text). `may_block`: the
/// caller is a worker, so a lookup-rule directory read may run here;
/// otherwise such a statement is answered with [`Action::Defer`].
pub fn plan_query(
    topo: &Topology,
    state: &RouteState,
    ctx: &RouteCtx,
    sql: &[u8],
    may_block: bool,
) -> Action {
    if let Some(inner) = explain_target(sql) {
        let action = plan_statement(topo, state, ctx, inner, None, may_block);
        if matches!(action, Action::Defer) {
            return action;
        }
        return explain(ctx.caps, &action);
    }
    plan_statement(topo, state, ctx, sql, None, may_block)
}

/// Plans a prepared statement's text (`?` placeholders kept) for one
/// execution: the bound `params` route it, and the targets' SQL keeps the
/// placeholders, so each target can run it as a server-side statement with
/// the client's parameter block.
pub fn plan_prepared(
    topo: &Topology,
    state: &RouteState,
    ctx: &RouteCtx,
    sql: &[u8],
    params: &[super::keyvalue::KeyValue],
    may_block: bool,
) -> Action {
    plan_statement(topo, state, ctx, sql, Some(params), may_block)
}

fn plan_statement(
    topo: &Topology,
    state: &RouteState,
    ctx: &RouteCtx,
    sql: &[u8],
    params: Option<&[super::keyvalue::KeyValue]>,
    may_block: bool,
) -> Action {
    let opts = sql::LexOptions {
        backslash_escapes: ctx.backslash_escapes,
        ..sql::LexOptions::default()
    };
    // Statements that may be sharded are parsed after: their tokens are
    // kept for the parser (one lexing pass).
    let mut st = if state.any_sharding() {
        sql::classify::classify_keeping_tokens(sql, opts)
    } else {
        sql::classify(sql, opts)
    };
    if st.multi_statement && !ctx.multi_statements {
        return err(
            ec::ER_PARSE_ERROR,
            "You have an error in your SQL syntax; multi-statements are not enabled for this connection",
        );
    }
    // An empty statement first (`;SELECT ...`, from `a;;b` split): the
    // server answers it with its own syntax error, before running anything.
    if sql.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b';') {
        return match default_relay(topo, ctx.schema.as_deref()) {
            Ok(targets) => Action::Forward {
                targets,
                gather: super::Gather::Relay,
                effects: Effects::default(),
            },
            Err(refusal) => refusal,
        };
    }
    // A multi-statement query naming sharded tables: each statement is
    // planned and run on its own, the replies chained (`reactor::multi`).
    if st.multi_statement
        && state.any_sharding()
        && super::shard::mentioned_sharded_table(topo, ctx.schema.as_deref(), sql, opts).is_some()
    {
        return Action::SplitMulti;
    }
    // SHOW WARNINGS / ERRORS: where the previous statement left them.
    if let (Kind::Show, Some(nodes)) = (&st.kind, &ctx.warnings_on) {
        if let Some(action) = super::diagnostics::plan_diagnostics(sql, opts, nodes, ctx) {
            return action;
        }
    }
    // ROW_COUNT() answers what the client was told of its previous
    // statement, wherever that ran (`route::row_count`). Text statements
    // only: a prepared statement's plan is kept for its next executions.
    if st.row_count_fn && !st.multi_statement && params.is_none() && state.any_sharding() {
        let rewritten = ctx
            .row_count
            .and_then(|n| super::row_count::with_row_count(sql, opts, n));
        if let Some(rewritten) = rewritten {
            let inner = RouteCtx {
                row_count: None,
                ..ctx.clone()
            };
            return plan_rewritten(topo, state, &inner, rewritten, may_block);
        }
    }
    // FOUND_ROWS(): the rows the last SELECT gave the client, or the node
    // that counted them without the LIMIT (`route::row_count`).
    if st.found_rows && !st.multi_statement && params.is_none() {
        if let Some(action) = plan_found_rows(topo, state, ctx, sql, opts, may_block) {
            return action;
        }
    }
    let mut effects = Effects::default();
    let mut schema = ctx.schema.clone();
    match &st.kind {
        Kind::Kill {
            query_only,
            id: Some(id),
        } => {
            return match u32::try_from(*id) {
                Ok(id) => Action::Kill {
                    id,
                    query_only: *query_only,
                },
                Err(_) => err(ec::ER_NO_SUCH_THREAD, &format!("Unknown thread id: {id}")),
            };
        }
        Kind::Use(name) => {
            let name = String::from_utf8_lossy(name).into_owned();
            match topo.user(&ctx.user) {
                Some(u) if u.may_use(&name) => {}
                _ => {
                    return err(
                        ec::ER_DBACCESS_DENIED_ERROR,
                        &format!(
                            "Access denied for user '{}'@'%' to database '{name}'",
                            ctx.user
                        ),
                    )
                }
            }
            effects.use_schema = Some(Box::new(name.clone()));
            schema = Some(name);
        }
        Kind::Set => {
            if let Some(a) = st
                .set_assignments
                .iter()
                .find(|a| a.name == parse::SHARD_KEY_VAR)
            {
                if st.set_assignments.len() > 1 {
                    return err(
                        ec::ER_NOT_SUPPORTED_YET,
                        "shardgate: set @@shardgate_shard_key in a SET statement of its own",
                    );
                }
                let value = sql.get(a.value.clone()).unwrap_or_default().trim_ascii();
                let clear =
                    value.eq_ignore_ascii_case(b"DEFAULT") || value.eq_ignore_ascii_case(b"NULL");
                return Action::SetShardKey((!clear).then(|| value.to_vec()));
            }
            if let Some(a) = st.set_assignments.iter().find(|a| a.name == USE_MASTER_VAR) {
                if st.set_assignments.len() > 1 {
                    return err(
                        ec::ER_NOT_SUPPORTED_YET,
                        "shardgate: set @@shardgate_use_master in a SET statement of its own",
                    );
                }
                let value = sql.get(a.value.clone()).unwrap_or_default().trim_ascii();
                let value = value
                    .strip_prefix(b"'")
                    .and_then(|v| v.strip_suffix(b"'"))
                    .unwrap_or(value);
                return match value.to_ascii_lowercase().as_slice() {
                    b"1" | b"on" | b"true" => Action::SetUseMaster(true),
                    b"0" | b"off" | b"false" | b"default" => Action::SetUseMaster(false),
                    _ => err(
                        ec::ER_WRONG_VALUE_FOR_VAR,
                        "Variable 'shardgate_use_master' can't be set to the value given: use ON or OFF",
                    ),
                };
            }
            set_effects(sql, &st, state.any_sharding(), &mut effects)
        }
        Kind::Begin { .. } if state.any_sharding() => return Action::Begin(sql.to_vec()),
        Kind::Savepoint | Kind::RollbackToSavepoint | Kind::ReleaseSavepoint
            if state.any_sharding() =>
        {
            use super::SavepointOp;
            let op = match st.kind {
                Kind::Savepoint => SavepointOp::Set,
                Kind::RollbackToSavepoint => SavepointOp::RollbackTo,
                _ => SavepointOp::Release,
            };
            if let Some(name) = savepoint_name(sql, &st.tokens) {
                return Action::Savepoint { op, name };
            }
        }
        Kind::Commit { chain, release } | Kind::Rollback { chain, release }
            if state.any_sharding() =>
        {
            return Action::EndTxn {
                chain: *chain,
                release: *release,
            }
        }
        Kind::SetTransaction => {
            set_transaction_effects(sql, &st, state.any_sharding(), &mut effects)
        }
        Kind::LockTables => {
            effects.pin.insert(PinReasons::LOCK_TABLES);
            effects.unlock_elsewhere = state.any_sharding();
            effects.implicit_commit = state.any_sharding();
        }
        Kind::Ddl | Kind::Grant | Kind::Revoke | Kind::Flush => {
            effects.implicit_commit = state.any_sharding();
        }
        Kind::UnlockTables => {
            effects.unpin.insert(PinReasons::LOCK_TABLES);
            // The locks may be on every group's connection.
            effects.on_attached = state.any_sharding();
        }
        Kind::Prepare | Kind::Execute | Kind::Deallocate => {
            effects.pin.insert(PinReasons::SQL_PREPARE)
        }
        Kind::Insert | Kind::Replace => effects.pin.insert(PinReasons::LAST_INSERT_ID),
        _ => {}
    }
    effects.needs_last_insert_id = st.last_insert_id;
    effects.write = st.is_write;
    effects.kind = query_kind(&st.kind);
    effects.replica_ok = matches!(st.kind, Kind::Select)
        && !st.is_write
        && !st.locking_read
        && !st.multi_statement
        && !st.uses_user_variables
        && !st.found_rows
        && !st.last_insert_id
        && !st.row_count_fn
        && !st.get_lock
        && !st.sql_calc_found_rows
        && !hint_forces_master(sql, st.hint.clone());
    if st.uses_user_variables {
        effects.pin.insert(PinReasons::USER_VARIABLES);
    }
    if st.set_user_variable && !matches!(st.kind, Kind::Set) {
        // Every variable it names counts as assigned (SELECT @a := @b + 1).
        effects
            .user_vars
            .get_or_insert_with(Default::default)
            .by_query = user_var_names(sql, opts);
    }
    if st.get_lock {
        effects.pin.insert(PinReasons::USER_LOCK);
    }
    if st.temporary_table {
        effects.pin.insert(PinReasons::TEMP_TABLE);
    }
    if st.lock_tables {
        effects.pin.insert(PinReasons::LOCK_TABLES);
    }
    if st.sql_calc_found_rows {
        effects.pin.insert(PinReasons::FOUND_ROWS);
        effects.calc_found_rows = true;
    }
    if st.is_write && !matches!(st.kind, Kind::Set) {
        // ROW_COUNT() / LAST_INSERT_ID() right after a write see its result.
        effects.pin.insert(PinReasons::LAST_INSERT_ID);
    }
    if state.any_sharding() && shardable(&st.kind) {
        let sharded_ctx;
        let ctx_for_shard = if schema != ctx.schema {
            sharded_ctx = RouteCtx {
                schema: schema.clone(),
                ..ctx.clone()
            };
            &sharded_ctx
        } else {
            ctx
        };
        let tokens = std::mem::take(&mut st.tokens);
        match super::shard::plan_sharded(
            topo,
            state,
            ctx_for_shard,
            super::shard::StatementText {
                sql,
                opts,
                tokens,
                multi_statement: st.multi_statement,
            },
            params,
            may_block,
        ) {
            super::shard::ShardPlan::NotSharded => {}
            super::shard::ShardPlan::NeedsWorker => return Action::Defer,
            super::shard::ShardPlan::Action(Action::Forward {
                targets,
                gather,
                effects: fx,
            }) => {
                effects.pin.insert(fx.pin);
                effects.forget_columns = fx.forget_columns;
                if matches!(st.kind, Kind::Load { .. }) {
                    // LOAD DATA's `(@v) SET c = f(@v)`: per-row scratch
                    // values, each shard's own.
                    effects.user_vars = None;
                } else if let Some(refusal) =
                    user_variables_refusal(sql, opts, &st, ctx, &effects, &targets)
                {
                    return refusal;
                }
                return Action::Forward {
                    targets,
                    gather,
                    effects,
                };
            }
            super::shard::ShardPlan::Action(a) => return a,
        }
    }
    let targets = match where_variables_live(topo, sql, opts, &st, ctx) {
        Some(t) => t,
        None => match default_relay(topo, schema.as_deref()) {
            Ok(t) => t,
            Err(refusal) => return refusal,
        },
    };
    if let Some(refusal) = user_variables_refusal(sql, opts, &st, ctx, &effects, &targets) {
        return refusal;
    }
    Action::Forward {
        targets,
        gather: super::Gather::Relay,
        effects,
    }
}

/// Plans `rewritten` (the client's statement with a session count written
/// in) in place of the client's text: targets that would run the client's
/// statement unchanged run `rewritten`.
fn plan_rewritten(
    topo: &Topology,
    state: &RouteState,
    ctx: &RouteCtx,
    rewritten: Vec<u8>,
    may_block: bool,
) -> Action {
    let mut action = plan_statement(topo, state, ctx, &rewritten, None, may_block);
    if let Action::Forward { targets, .. } = &mut action {
        for t in targets.iter_mut().filter(|t| t.sql.is_none()) {
            t.sql = Some(rewritten.clone());
        }
    }
    action
}

/// A text statement calling FOUND_ROWS() when the session knows what it
/// must answer: the number written in, or (after SQL_CALC_FOUND_ROWS) the
/// statement sent to the node that ran that SELECT, on the connection the
/// session kept. `None`: planned as usual.
fn plan_found_rows(
    topo: &Topology,
    state: &RouteState,
    ctx: &RouteCtx,
    sql: &[u8],
    opts: sql::LexOptions,
    may_block: bool,
) -> Option<Action> {
    use super::row_count::FoundRows;
    let inner = RouteCtx {
        found_rows: FoundRows::Unknown,
        ..ctx.clone()
    };
    match &ctx.found_rows {
        FoundRows::Unknown => None,
        FoundRows::Count(n) => {
            let rewritten = super::row_count::with_found_rows(sql, opts, *n)?;
            Some(plan_rewritten(topo, state, &inner, rewritten, may_block))
        }
        FoundRows::On(group, addr) => {
            // Only a statement that runs whole in one place (no sharded
            // table: `SELECT FOUND_ROWS()`) can go there.
            let mut action = plan_statement(topo, state, &inner, sql, None, may_block);
            match &mut action {
                Action::Forward {
                    targets,
                    gather: super::Gather::Relay,
                    effects,
                } if targets.len() == 1 && targets[0].sql.is_none() => {
                    targets[0].group.clone_from(group);
                    targets[0].addr = *addr;
                    effects.exact_node = true;
                    Some(action)
                }
                _ => None,
            }
        }
    }
}

/// The one target of a statement that runs unchanged on the schema's
/// default group, or the ERR when there is none.
fn default_relay(topo: &Topology, schema: Option<&str>) -> Result<Vec<super::RouteTarget>, Action> {
    match default_target(topo, schema) {
        Ok((group, addr)) => Ok(vec![super::RouteTarget {
            group,
            addr,
            sql: None,
            infile: None,
        }]),
        Err((code, msg)) => Err(err(code, &msg)),
    }
}

/// A statement of no table reading user variables a query assigned on one
/// group (`SELECT @total`, `SET @b = @a * 2`, after `SELECT SUM(x) INTO
/// @total FROM t WHERE key = 7` ran there) runs on that group's master
/// connection, where alone the values are. `None`: routed as usual.
fn where_variables_live(
    topo: &Topology,
    sql: &[u8],
    opts: sql::LexOptions,
    st: &Statement<'_>,
    ctx: &RouteCtx,
) -> Option<Vec<super::RouteTarget>> {
    if ctx.user_vars_by_query.is_empty()
        || !st.uses_user_variables
        || !matches!(st.kind, Kind::Select | Kind::Set | Kind::Do)
    {
        return None;
    }
    let tokens = sql::lexer::tokenize(sql, opts);
    if tokens
        .iter()
        .any(|t| matches!(t.kw(), Some(sql::Kw::From | sql::Kw::Into)))
    {
        return None;
    }
    let used = variables_read(sql, opts, st);
    let mut groups = ctx
        .user_vars_by_query
        .iter()
        .filter(|(name, _)| used.contains(name))
        .map(|(_, group)| group.as_str());
    let group = groups.next()?;
    if groups.any(|g| g != group) {
        return None;
    }
    let addr = super::master_addr(topo, group)?;
    Some(vec![super::RouteTarget {
        group: group.to_string(),
        addr,
        sql: None,
        infile: None,
    }])
}

/// The user variables a statement reads: a SET's values (not the
/// variables it assigns), anything else's every variable.
fn variables_read(sql: &[u8], opts: sql::LexOptions, st: &Statement<'_>) -> Vec<String> {
    if !matches!(st.kind, Kind::Set) {
        return user_var_names(sql, opts);
    }
    let mut used = Vec::new();
    for a in &st.set_assignments {
        for name in user_var_names(a.value_text(sql), opts) {
            if !used.contains(&name) {
                used.push(name);
            }
        }
    }
    used
}

/// User variables live on a session's connection, and with sharding a
/// session has one connection per group. `SET @v = <literal>` is repeated
/// on each (`set_effects`); a value a query assigned (`SELECT @v := ...`,
/// `... INTO @v`, `SET @v = <expression>`) exists only on the connection
/// of the group that ran it. A statement using user variables is refused
/// when it would run on another group than where such values were
/// assigned, or when it assigns them on several shards at once (each
/// shard would assign its own): the answer would be wrong, not an error.
fn user_variables_refusal(
    sql: &[u8],
    opts: sql::LexOptions,
    st: &Statement<'_>,
    ctx: &RouteCtx,
    effects: &Effects,
    targets: &[super::RouteTarget],
) -> Option<Action> {
    if !st.uses_user_variables {
        return None;
    }
    let assigns = effects
        .user_vars
        .as_ref()
        .is_some_and(|u| !u.by_query.is_empty());
    if assigns && targets.len() > 1 {
        return Some(err(
            ec::ER_NOT_SUPPORTED_YET,
            "shardgate: a statement that assigns user variables (@v := ..., INTO @v) cannot \
             run on several shards, each of which would assign its own; add a shard-key \
             condition so that it runs on one shard",
        ));
    }
    if ctx.user_vars_by_query.is_empty() {
        return None;
    }
    let used = variables_read(sql, opts, st);
    let (name, group) = ctx
        .user_vars_by_query
        .iter()
        .find(|(name, group)| used.contains(name) && targets.iter().any(|t| t.group != *group))?;
    Some(err(
        ec::ER_NOT_SUPPORTED_YET,
        &format!(
            "shardgate: this statement runs on group(s) {} but reads @{name}, which a query \
             assigned on group '{group}', whose connection alone holds it; assign it with \
             SET @{name} = <literal> (repeated on every group) or send its value",
            join_groups(targets)
        ),
    ))
}

/// The user variables `sql` names, lowercased, without `@` and quotes.
fn user_var_names(sql: &[u8], opts: sql::LexOptions) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for t in sql::lexer::tokenize(sql, opts) {
        if t.kind != sql::lexer::TokenKind::UserVar {
            continue;
        }
        let raw = sql.get(t.start + 1..t.end).unwrap_or_default();
        let name = match raw {
            [q @ (b'`' | b'\'' | b'"'), inner @ .., last] if last == q => {
                let q = *q as char;
                String::from_utf8_lossy(inner).replace(&format!("{q}{q}"), &q.to_string())
            }
            _ => String::from_utf8_lossy(raw).into_owned(),
        }
        .to_lowercase();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The distinct groups of `targets`, quoted, in order.
fn join_groups(targets: &[super::RouteTarget]) -> String {
    let mut groups: Vec<&str> = Vec::new();
    for t in targets {
        if !groups.contains(&t.group.as_str()) {
            groups.push(&t.group);
        }
    }
    groups
        .iter()
        .map(|g| format!("'{g}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records the replayable assignments of a SET; pins for the others.
/// With sharding (`sharding`), `autocommit` is replayed too: a session
/// spans one connection per group, and each must leave autocommit mode
/// with it (else a ROLLBACK would undo only one group's writes).
fn set_effects(sql: &[u8], st: &Statement, sharding: bool, effects: &mut Effects) {
    for a in &st.set_assignments {
        let value = sql.get(a.value.clone()).unwrap_or_default();
        let value_text = String::from_utf8_lossy(value).trim().to_string();
        match a.scope {
            Scope::Global => {}
            Scope::User => {
                effects.pin.insert(PinReasons::USER_VARIABLES);
                // A literal is repeated on every connection the session
                // uses (with sharding, each group has its own); any other
                // value exists only where this statement runs.
                let name = String::from_utf8_lossy(&a.name).to_lowercase();
                if is_constant_literal(value) {
                    let key = format!("@`{}`", name.replace('`', "``"));
                    let sql = format!("{key} = {value_text}");
                    effects.set_vars.push(Assignment { key, sql });
                    let u = effects.user_vars.get_or_insert_with(Default::default);
                    u.literal.push(name);
                } else {
                    let u = effects.user_vars.get_or_insert_with(Default::default);
                    u.by_query.push(name);
                }
            }
            Scope::Session => {
                let name = String::from_utf8_lossy(&a.name).to_ascii_lowercase();
                if name == "transaction" || name == "next_transaction" || name == "role" {
                    effects.pin.insert(PinReasons::UNREPLAYABLE_SET);
                    continue;
                }
                if name == "autocommit" {
                    // The server's status flags tell us; pinned while off.
                    if sharding {
                        autocommit_effects(&value_text, effects);
                    }
                    continue;
                }
                if !is_replayable_value(value) {
                    effects.pin.insert(PinReasons::UNREPLAYABLE_SET);
                    continue;
                }
                let sql = match name.as_str() {
                    "names" => format!("NAMES {value_text}"),
                    "character_set" => {
                        effects.set_vars.push(Assignment {
                            key: "names".into(),
                            sql: format!("CHARACTER SET {value_text}"),
                        });
                        continue;
                    }
                    _ => format!("@@session.{name} = {value_text}"),
                };
                let key = if name == "names" {
                    "names".to_string()
                } else {
                    name
                };
                effects.set_vars.push(Assignment { key, sql });
            }
        }
    }
}

/// `SET SESSION TRANSACTION <characteristics>` with sharding: the session's
/// isolation level and access mode, as the replayed variables
/// `tx_isolation` / `tx_read_only`, so that every group's connection runs
/// the session's transactions alike (Django sets READ COMMITTED on each
/// connection; only the default group's connection had it). `SET
/// TRANSACTION` without a scope (the next transaction only), GLOBAL, and
/// anything unrecognised pin the session as before.
fn set_transaction_effects(sql: &[u8], st: &Statement, sharding: bool, effects: &mut Effects) {
    let replayed = match st.set_assignments.as_slice() {
        [a] if sharding && a.scope == Scope::Session && a.name == b"transaction" => {
            transaction_characteristics(sql.get(a.value.clone()).unwrap_or_default())
        }
        _ => None,
    };
    match replayed {
        Some(vars) => effects.set_vars.extend(vars),
        None => effects.pin.insert(PinReasons::UNREPLAYABLE_SET),
    }
}

/// `ISOLATION LEVEL <level>`, `READ ONLY`, `READ WRITE`, comma-separated,
/// as session variable assignments; `None` for anything else.
fn transaction_characteristics(text: &[u8]) -> Option<Vec<Assignment>> {
    let text = std::str::from_utf8(text).ok()?.to_ascii_uppercase();
    let mut out = Vec::new();
    for part in text.split(',') {
        let words: Vec<&str> = part.split_ascii_whitespace().collect();
        let (key, value) = match words.as_slice() {
            ["ISOLATION", "LEVEL", level @ ..] => {
                let level = match level {
                    ["READ", "UNCOMMITTED"] => "READ-UNCOMMITTED",
                    ["READ", "COMMITTED"] => "READ-COMMITTED",
                    ["REPEATABLE", "READ"] => "REPEATABLE-READ",
                    ["SERIALIZABLE"] => "SERIALIZABLE",
                    _ => return None,
                };
                ("tx_isolation", format!("'{level}'"))
            }
            ["READ", "ONLY"] => ("tx_read_only", "1".to_string()),
            ["READ", "WRITE"] => ("tx_read_only", "0".to_string()),
            _ => return None,
        };
        out.retain(|a: &Assignment| a.key != key);
        out.push(Assignment {
            key: key.to_string(),
            sql: format!("@@session.{key} = {value}"),
        });
    }
    Some(out)
}

/// `SET autocommit = v` with sharding: off is replayed on every group's
/// connection the session uses (and run now on those it holds); on (or
/// DEFAULT) removes the replayed value. Anything else (a variable, an
/// expression) cannot be replayed: the session is pinned as before.
fn autocommit_effects(value: &str, effects: &mut Effects) {
    let v = value
        .trim_matches(|c| c == '\'' || c == '"')
        .to_ascii_lowercase();
    // The last assignment in the statement wins.
    effects.set_vars.retain(|a| a.key != "autocommit");
    effects.reset_autocommit = false;
    match v.as_str() {
        "0" | "off" | "false" => effects.set_vars.push(Assignment {
            key: "autocommit".into(),
            sql: "@@session.autocommit = 0".into(),
        }),
        "1" | "on" | "true" | "default" => effects.reset_autocommit = true,
        _ => {
            effects.pin.insert(PinReasons::UNREPLAYABLE_SET);
            return;
        }
    }
    effects.on_attached = true;
}

/// A constant: one literal (string, number, hex, bit, `_charset'...'`,
/// NULL, TRUE, FALSE), a number with a sign. Not a word such as
/// CURRENT_TIMESTAMP, whose value depends on when it runs.
fn is_constant_literal(v: &[u8]) -> bool {
    use sql::lexer::TokenKind as K;
    let tokens = sql::lexer::tokenize(v, sql::lexer::LexOptions::default());
    let mut kinds = tokens.iter().map(|t| (t.kind, &v[t.start..t.end]));
    let mut first = kinds.next();
    if let Some((K::Op(_), b"-" | b"+")) = first {
        first = kinds.next();
        if !matches!(first, Some((K::Integer | K::Decimal | K::Float, _))) {
            return false;
        }
    }
    let first_ok = match first {
        Some((K::Introducer, _)) => matches!(
            kinds.next(),
            Some((K::String | K::HexString | K::BitString, _))
        ),
        Some((K::String | K::HexString | K::BitString | K::Integer | K::Decimal | K::Float, _)) => {
            true
        }
        Some((_, w)) => {
            w.eq_ignore_ascii_case(b"null")
                || w.eq_ignore_ascii_case(b"true")
                || w.eq_ignore_ascii_case(b"false")
        }
        None => false,
    };
    first_ok && kinds.next().is_none()
}

/// A value that means the same on every connection: literals, identifiers
/// and keywords (`DEFAULT`, `ON`), optionally `COLLATE x` after a charset.
fn is_replayable_value(v: &[u8]) -> bool {
    let tokens = sql::lexer::tokenize(v, sql::lexer::LexOptions::default());
    tokens.iter().all(|t| t.is_literal_or_word())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn savepoint_names_only_from_well_formed_statements() {
        let name = |q: &str| {
            let st =
                sql::classify::classify_keeping_tokens(q.as_bytes(), sql::LexOptions::default());
            savepoint_name(q.as_bytes(), &st.tokens).map(|n| String::from_utf8(n).unwrap())
        };
        assert_eq!(name("SAVEPOINT a").as_deref(), Some("a"));
        assert_eq!(name("savepoint `My Sp`;").as_deref(), Some("`My Sp`"));
        assert_eq!(name("ROLLBACK WORK TO SAVEPOINT b").as_deref(), Some("b"));
        assert_eq!(name("rollback to c").as_deref(), Some("c"));
        assert_eq!(name("RELEASE SAVEPOINT d").as_deref(), Some("d"));
        assert_eq!(name("ROLLBACK TO SAVEPOINT my sp"), None);
        assert_eq!(name("SAVEPOINT"), None);
        assert_eq!(name("RELEASE a"), None);
        assert_eq!(name("SAVEPOINT 'x'"), None);
    }

    #[test]
    fn user_variable_literals_and_names() {
        for v in [
            "5",
            "-2.5",
            "+1e3",
            "'x'",
            "_utf8mb4'caf\u{e9}'",
            "X'ff'",
            "NULL",
            "true",
        ] {
            assert!(is_constant_literal(v.as_bytes()), "{v}");
        }
        for v in [
            "CURRENT_TIMESTAMP",
            "@y",
            "1 + 1",
            "(SELECT 1)",
            "NOW()",
            "-'a'",
            "",
            "'a' 'b'",
        ] {
            assert!(!is_constant_literal(v.as_bytes()), "{v}");
        }
        let names = user_var_names(
            b"SELECT @A, @`b``c`, @'D', @a, @@session.x FROM t WHERE '@e' = @f",
            sql::LexOptions::default(),
        );
        assert_eq!(names, ["a", "b`c", "d", "f"]);
    }

    #[test]
    fn explain_prefix() {
        assert_eq!(
            explain_target(b"EXPLAIN SHARDGATE SELECT 1"),
            Some(&b"SELECT 1"[..])
        );
        assert_eq!(
            explain_target(b"  explain\tshardgate  select 1"),
            Some(&b" select 1"[..])
        );
        assert_eq!(explain_target(b"EXPLAIN SELECT 1"), None);
        assert_eq!(explain_target(b"EXPLAIN"), None);
    }

    #[test]
    fn statement_kinds_for_the_counters() {
        use crate::stats::QueryKind as Q;
        let kind =
            |sql: &str| query_kind(&sql::classify(sql.as_bytes(), sql::LexOptions::default()).kind);
        assert_eq!(kind("  select 1"), Q::Select);
        assert_eq!(kind("/* x */ /*+ shardgate: master */ SELECT 1"), Q::Select);
        assert_eq!(kind("-- c\nINSERT INTO t VALUES (1)"), Q::Insert);
        assert_eq!(kind("replace into t values (1)"), Q::Insert);
        assert_eq!(kind("UPDATE t SET a=1"), Q::Update);
        assert_eq!(kind("delete from t"), Q::Delete);
        assert_eq!(kind("SET NAMES utf8"), Q::Other);
        assert_eq!(kind("/* unterminated"), Q::Other);
        assert_eq!(kind(""), Q::Other);
    }

    #[test]
    fn session_transaction_characteristics_are_replayed_with_sharding() {
        let fx = |sql: &str, sharding: bool| {
            let st = sql::classify(sql.as_bytes(), sql::LexOptions::default());
            let mut e = Effects::default();
            set_transaction_effects(sql.as_bytes(), &st, sharding, &mut e);
            let vars: Vec<String> = e.set_vars.iter().map(|a| a.sql.clone()).collect();
            (vars, e.pin.contains(PinReasons::UNREPLAYABLE_SET))
        };
        assert_eq!(
            fx(
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                true
            ),
            (
                vec!["@@session.tx_isolation = 'READ-COMMITTED'".to_string()],
                false
            )
        );
        assert_eq!(
            fx(
                "set session transaction read only, isolation level serializable",
                true
            ),
            (
                vec![
                    "@@session.tx_read_only = 1".to_string(),
                    "@@session.tx_isolation = 'SERIALIZABLE'".to_string()
                ],
                false
            )
        );
        // The next transaction only, GLOBAL, no sharding, or unknown words:
        // pinned as before.
        for (sql, sharding) in [
            ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", true),
            (
                "SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED",
                true,
            ),
            (
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                false,
            ),
            ("SET SESSION TRANSACTION ISOLATION LEVEL SNAPSHOT", true),
        ] {
            assert_eq!(fx(sql, sharding), (Vec::new(), true), "{sql}");
        }
    }

    #[test]
    fn autocommit_is_replayed_only_with_sharding() {
        let fx = |sql: &str, sharding: bool| {
            let st = sql::classify(sql.as_bytes(), sql::LexOptions::default());
            let mut e = Effects::default();
            set_effects(sql.as_bytes(), &st, sharding, &mut e);
            let vars: Vec<String> = e.set_vars.iter().map(|a| a.sql.clone()).collect();
            (vars, e.reset_autocommit, e.on_attached, e.pin)
        };
        let off = vec!["@@session.autocommit = 0".to_string()];
        assert_eq!(fx("SET autocommit = 0", true).0, off);
        assert!(fx("SET autocommit = 0", true).2);
        assert_eq!(fx("set @@session.autocommit=OFF", true).0, off);
        assert_eq!(fx("SET SESSION autocommit = 'off'", true).0, off);
        for on in [
            "SET autocommit = 1",
            "SET autocommit=ON",
            "SET autocommit = DEFAULT",
        ] {
            let (vars, unset, all, _) = fx(on, true);
            assert!(vars.is_empty(), "{on}");
            assert!(unset, "{on}");
            assert!(all, "{on}");
        }
        // The last assignment wins.
        let (vars, unset, _, _) = fx("SET autocommit = 0, autocommit = 1", true);
        assert!(vars.is_empty() && unset);
        // An expression cannot be replayed: pinned, as without sharding.
        let (vars, _, all, pin) = fx("SET autocommit = @x", true);
        assert!(vars.is_empty() && !all);
        assert!(pin.contains(PinReasons::UNREPLAYABLE_SET));
        // Without sharding the server's status flags are enough.
        let (vars, unset, all, _) = fx("SET autocommit = 0", false);
        assert!(vars.is_empty() && !unset && !all);
    }
}
