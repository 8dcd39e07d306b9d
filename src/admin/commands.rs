//! Admin statements: parsing ([`parse`]: case-insensitive, trailing `;` and
//! whitespace ignored) and execution ([`execute`]: a [`Reply`] for the
//! session to send). The result sets themselves are built in `views`.
//!
//! Besides the admin commands, the small talk MySQL clients send on connect
//! is answered harmlessly (`SELECT @@version_comment LIMIT 1`,
//! `SELECT DATABASE()`, `SET NAMES utf8mb4`, ...), so any CLI or driver
//! can log in and stay.

use std::net::SocketAddr;
use std::path::Path;

use shardgate_proto::capability::Capabilities;
use shardgate_proto::error_codes::{self as ec, ErrorCode};

use super::views::{self, Rows};
use crate::health::Override;
use crate::reactor::Shared;
use crate::route::{Action, RouteCtx};

/// What the admin port answers an unknown statement with.
pub const USAGE: &str = "commands: SHOW NODES | GROUPS | RULES | BUCKETS [schema.rule] | \
     SESSIONS | STATS | CONFIG; SET NODE '<addr>' UP | DOWN | AUTO [REASON '<text>']; \
     RELOAD; EXPLAIN SHARDGATE <sql>; USE <schema>; SHOW HELP";

/// One admin statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ShowNodes,
    ShowGroups,
    ShowRules,
    /// `SHOW BUCKETS [schema.rule]`: every bucket rule when `None`.
    ShowBuckets(Option<RuleRef>),
    ShowSessions,
    ShowStats,
    ShowConfig,
    /// `SET NODE '<addr>' UP | DOWN | AUTO [REASON '<text>']`.
    SetNode {
        addr: String,
        state: Override,
        reason: Option<String>,
    },
    Reload,
    /// `EXPLAIN SHARDGATE <sql>`: the whole statement, for the planner.
    Explain(String),
    /// `USE <schema>`: the schema EXPLAIN SHARDGATE plans in.
    Use(String),
    Help,
    /// A client's `SELECT` of variables and functions (`@@version_comment`,
    /// `DATABASE()`, ...): the items as written, after any `LIMIT`.
    Select(Vec<String>),
    /// Any other `SET` (`SET NAMES`, `SET autocommit`): accepted, no effect.
    SetSession,
}

/// `schema.rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub schema: String,
    pub rule: String,
}

/// A statement the admin port cannot run: ERR `code` with `msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub code: ErrorCode,
    pub msg: String,
}

fn syntax(detail: impl std::fmt::Display) -> ParseError {
    ParseError {
        code: ec::ER_PARSE_ERROR,
        msg: format!("shardgate admin: {detail}; {USAGE}"),
    }
}

/// A cursor over a statement's text.
struct Cursor<'a> {
    s: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        self.s = self.s.trim_start();
    }

    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.s.is_empty()
    }

    /// The next run of non-space characters.
    fn word(&mut self) -> Option<&'a str> {
        self.skip_ws();
        if self.s.is_empty() {
            return None;
        }
        let end = self
            .s
            .find(|c: char| c.is_whitespace())
            .unwrap_or(self.s.len());
        let (w, rest) = self.s.split_at(end);
        self.s = rest;
        Some(w)
    }

    /// Consumes `kw` (any case) when it is the next word.
    fn keyword(&mut self, kw: &str) -> bool {
        let save = self.s;
        match self.word() {
            Some(w) if w.eq_ignore_ascii_case(kw) => true,
            _ => {
                self.s = save;
                false
            }
        }
    }

    /// A quoted value ('..', "..", `..`; the quote doubled or
    /// backslash-escaped inside) or a bare word.
    fn value(&mut self) -> Result<Option<String>, ParseError> {
        self.skip_ws();
        let Some(q) = self.s.chars().next() else {
            return Ok(None);
        };
        if !matches!(q, '\'' | '"' | '`') {
            return Ok(self.word().map(str::to_string));
        }
        let mut out = String::new();
        let mut chars = self.s[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\\' && q != '`' {
                if let Some((_, e)) = chars.next() {
                    out.push(e);
                }
            } else if c == q {
                let after = &self.s[1 + i + 1..];
                if after.starts_with(q) {
                    out.push(q);
                    chars.next();
                } else {
                    self.s = after;
                    return Ok(Some(out));
                }
            } else {
                out.push(c);
            }
        }
        Err(syntax(format_args!("unterminated quoted value {}", self.s)))
    }

    fn rest(&mut self) -> &'a str {
        self.skip_ws();
        self.s
    }
}

/// The statement without surrounding whitespace and trailing `;`s.
fn normalize(sql: &str) -> &str {
    sql.trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
}

/// Parses one admin statement.
pub fn parse(sql: &str) -> Result<Command, ParseError> {
    let text = normalize(sql);
    let mut c = Cursor { s: text };
    let Some(first) = c.word() else {
        return Err(ParseError {
            code: ec::ER_EMPTY_QUERY,
            msg: "Query was empty".to_string(),
        });
    };
    let first = first.to_ascii_uppercase();
    let cmd = match first.as_str() {
        "SHOW" => parse_show(&mut c)?,
        "SET" => {
            if c.keyword("NODE") {
                parse_set_node(&mut c)?
            } else {
                return Ok(Command::SetSession);
            }
        }
        "RELOAD" => {
            c.keyword("CONFIG");
            Command::Reload
        }
        "EXPLAIN" => {
            if !c.keyword("SHARDGATE") {
                return Err(syntax("only EXPLAIN SHARDGATE <sql> is supported"));
            }
            if c.at_end() {
                return Err(syntax("EXPLAIN SHARDGATE needs a statement"));
            }
            return Ok(Command::Explain(text.to_string()));
        }
        "USE" => {
            let name = c
                .value()?
                .ok_or_else(|| syntax("USE needs a schema name"))?;
            Command::Use(name)
        }
        "HELP" => Command::Help,
        "SELECT" => return parse_select(c.rest()),
        _ => {
            return Err(syntax(format_args!(
                "unknown command '{}'",
                text.chars().take(64).collect::<String>()
            )))
        }
    };
    if !c.at_end() {
        return Err(syntax(format_args!("unexpected '{}'", c.rest())));
    }
    Ok(cmd)
}

fn parse_show(c: &mut Cursor<'_>) -> Result<Command, ParseError> {
    let what = c
        .word()
        .ok_or_else(|| syntax("SHOW what?"))?
        .to_ascii_uppercase();
    Ok(match what.as_str() {
        "NODES" => Command::ShowNodes,
        "GROUPS" => Command::ShowGroups,
        "RULES" => Command::ShowRules,
        "SESSIONS" | "PROCESSLIST" => Command::ShowSessions,
        "STATS" => Command::ShowStats,
        "CONFIG" => Command::ShowConfig,
        // The mariadb CLI answers a bare `help` itself.
        "HELP" | "COMMANDS" => Command::Help,
        "BUCKETS" => {
            let arg = c.rest();
            c.s = "";
            if arg.is_empty() {
                Command::ShowBuckets(None)
            } else {
                let clean: String = arg.chars().filter(|&ch| ch != '`').collect();
                match clean.split_once('.') {
                    Some((s, r)) if !s.trim().is_empty() && !r.trim().is_empty() => {
                        Command::ShowBuckets(Some(RuleRef {
                            schema: s.trim().to_string(),
                            rule: r.trim().to_string(),
                        }))
                    }
                    _ => return Err(syntax("SHOW BUCKETS takes schema.rule")),
                }
            }
        }
        other => return Err(syntax(format_args!("unknown SHOW {other}"))),
    })
}

fn parse_set_node(c: &mut Cursor<'_>) -> Result<Command, ParseError> {
    let usage = "SET NODE '<addr>' UP | DOWN | AUTO [REASON '<text>']";
    let addr = c.value()?.ok_or_else(|| syntax(usage))?;
    c.keyword("TO");
    let state = c.word().ok_or_else(|| syntax(usage))?;
    let state = state
        .parse::<Override>()
        .map_err(|_| syntax(format_args!("node state '{state}': {usage}")))?;
    let reason = if c.keyword("REASON") {
        Some(c.value()?.ok_or_else(|| syntax(usage))?)
    } else {
        None
    };
    if addr.trim().is_empty() {
        return Err(syntax(usage));
    }
    Ok(Command::SetNode {
        addr: addr.trim().to_string(),
        state,
        reason,
    })
}

/// Splits a select list at top-level commas (not inside quotes or
/// parentheses); a trailing `LIMIT n` is dropped.
fn parse_select(list: &str) -> Result<Command, ParseError> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, ch) in list.char_indices() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(ch),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                items.push(list[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    let mut last = list[start..].trim().to_string();
    // `... LIMIT 1`
    let words: Vec<&str> = last.split_whitespace().collect();
    if words.len() >= 3 && words[words.len() - 2].eq_ignore_ascii_case("LIMIT") {
        let keep = words.len() - 2;
        last = words[..keep].join(" ");
    }
    items.push(last);
    if items.iter().any(|i| i.is_empty()) {
        return Err(syntax("SELECT needs expressions"));
    }
    let from = items
        .iter()
        .any(|i| i.split_whitespace().any(|w| w.eq_ignore_ascii_case("FROM")));
    if from {
        return Err(syntax("the admin port does not read tables"));
    }
    Ok(Command::Select(items))
}

// ---------------------------------------------------------------------------
// Execution

/// One admin connection's state.
#[derive(Debug, Clone)]
pub struct Session {
    /// The admin connection id (its own numbering, not the proxy's).
    pub id: u32,
    pub user: String,
    pub peer: SocketAddr,
    /// Set by `USE` / COM_INIT_DB / the handshake: where EXPLAIN plans.
    pub schema: Option<String>,
    /// What the client and the admin port agreed on.
    pub caps: Capabilities,
}

/// What to send back.
#[derive(Debug)]
pub enum Reply {
    /// OK with an info text (shown by the CLI).
    Ok(String),
    Err(ErrorCode, String),
    Rows(Rows),
    /// Framed packets from sequence id 1 (EXPLAIN's result set).
    Packets(Vec<u8>),
    /// One packet payload to send with sequence id 1.
    Payload(Vec<u8>),
}

/// What execution reads besides the session.
pub struct Env<'a> {
    pub shared: &'a Shared,
    /// The config file `RELOAD` reads.
    pub config_path: Option<&'a Path>,
}

/// Runs one statement.
pub fn execute(env: &Env<'_>, sess: &mut Session, sql: &str) -> Reply {
    let cmd = match parse(sql) {
        Ok(c) => c,
        Err(e) => return Reply::Err(e.code, e.msg),
    };
    let shared = env.shared;
    match cmd {
        Command::ShowNodes => Reply::Rows(views::nodes(
            &shared.topology(),
            &shared.health.snapshot(),
            &shared.metrics,
        )),
        Command::ShowGroups => {
            Reply::Rows(views::groups(&shared.topology(), &shared.health.snapshot()))
        }
        Command::ShowRules => Reply::Rows(views::rules(&shared.topology(), &shared.route_state())),
        Command::ShowBuckets(which) => {
            match views::buckets(&shared.topology(), &shared.route_state(), which.as_ref()) {
                Ok(rows) => Reply::Rows(rows),
                Err(msg) => Reply::Err(ec::ER_WRONG_ARGUMENTS, msg),
            }
        }
        Command::ShowSessions => {
            let mut list: Vec<_> = shared
                .sessions
                .lock()
                .iter()
                .map(|(id, e)| (*id, e.clone()))
                .collect();
            list.sort_by_key(|e| e.0);
            Reply::Rows(views::sessions(&list))
        }
        Command::ShowStats => Reply::Rows(views::stats(shared)),
        Command::ShowConfig => Reply::Rows(super::config_view::config(&shared.topology())),
        Command::Help => Reply::Rows(super::config_view::help()),
        Command::SetNode {
            addr,
            state,
            reason,
        } => set_node(shared, sess, &addr, state, reason),
        Command::Reload => reload(env, sess),
        Command::Explain(text) => explain(shared, sess, &text),
        Command::Use(schema) => {
            let info = format!("EXPLAIN SHARDGATE now plans in schema '{schema}'");
            sess.schema = Some(schema);
            Reply::Ok(info)
        }
        Command::Select(items) => Reply::Rows(select(sess, &items)),
        Command::SetSession => Reply::Ok(String::new()),
    }
}

fn set_node(
    shared: &Shared,
    sess: &Session,
    addr: &str,
    state: Override,
    reason: Option<String>,
) -> Reply {
    let Some(entry) = shared.health.find(addr) else {
        return Reply::Err(
            ec::ER_WRONG_ARGUMENTS,
            format!("shardgate admin: unknown node '{addr}': not a master or replica of any [[group]] (see SHOW NODES)"),
        );
    };
    let reason = reason.unwrap_or_else(|| format!("admin {}@{}", sess.user, sess.peer));
    log::info!(
        "ADMIN [{} {}] SET NODE '{}' {state} ({reason})",
        sess.id,
        sess.peer,
        entry.addr()
    );
    match shared.set_node_override(addr, state, &reason) {
        Ok(()) => Reply::Ok(format!(
            "node {} ({} of group {}): operator {state}, now {}",
            entry.addr(),
            entry.role(),
            entry.group(),
            entry.effective()
        )),
        Err(msg) => {
            log::error!("ADMIN [{} {}] SET NODE: {msg}", sess.id, sess.peer);
            Reply::Err(ec::ER_UNKNOWN_ERROR, format!("shardgate admin: {msg}"))
        }
    }
}

fn reload(env: &Env<'_>, sess: &Session) -> Reply {
    let Some(path) = env.config_path else {
        return Reply::Err(
            ec::ER_UNKNOWN_ERROR,
            "shardgate admin: RELOAD is not available: this process was not started from a config file"
                .to_string(),
        );
    };
    log::info!(
        "ADMIN [{} {}] RELOAD from {}",
        sess.id,
        sess.peer,
        path.display()
    );
    match crate::server::reload(env.shared, path) {
        Ok(()) => Reply::Ok(format!(
            "config reloaded from {} ({})",
            path.display(),
            env.shared.topology().summary()
        )),
        Err(msg) => Reply::Err(
            ec::ER_UNKNOWN_ERROR,
            format!("shardgate admin: config reload refused, keeping the running config: {msg}"),
        ),
    }
}

fn explain(shared: &Shared, sess: &Session, text: &str) -> Reply {
    let ctx = RouteCtx {
        schema: sess.schema.clone(),
        user: sess.user.clone(),
        conn_id: 0,
        backslash_escapes: true,
        multi_statements: false,
        in_transaction: false,
        shard_key: None,
        caps: sess.caps,
        client_charset: None,
        user_vars_by_query: Vec::new(),
        row_count: None,
        warnings_on: None,
        diagnostics_count: (0, 0),
        found_rows: Default::default(),
        infile: None,
    };
    let topo = shared.topology();
    let state = shared.route_state();
    match crate::route::plan_query(&topo, &state, &ctx, text.as_bytes(), true) {
        Action::ReplyPackets(frames) => Reply::Packets(frames),
        Action::Reply(p) => Reply::Payload(p),
        _ => Reply::Err(
            ec::ER_UNKNOWN_ERROR,
            "shardgate admin: EXPLAIN SHARDGATE gave no plan".to_string(),
        ),
    }
}

/// Answers a client's `SELECT @@var, FUNC(), 'literal'` with one row.
fn select(sess: &Session, items: &[String]) -> Rows {
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for item in items {
        let (expr, alias) = split_alias(item);
        columns.push(alias.unwrap_or(expr).to_string());
        row.push(select_value(sess, expr));
    }
    Rows {
        columns,
        rows: vec![row],
    }
}

/// `expr AS alias` / `expr alias` → (expr, alias).
fn split_alias(item: &str) -> (&str, Option<&str>) {
    let lower = item.to_ascii_lowercase();
    if let Some(i) = lower.rfind(" as ") {
        return (
            item[..i].trim(),
            Some(item[i + 4..].trim().trim_matches('`')),
        );
    }
    (item.trim(), None)
}

fn select_value(sess: &Session, expr: &str) -> Option<String> {
    let e = expr.trim();
    let lower = e.to_ascii_lowercase();
    if let Some(var) = lower.strip_prefix("@@") {
        let var = var
            .strip_prefix("session.")
            .or_else(|| var.strip_prefix("global."))
            .or_else(|| var.strip_prefix("local."))
            .unwrap_or(var);
        return variable(sess, var);
    }
    let call = lower.replace(' ', "");
    match call.as_str() {
        "database()" | "schema()" => return sess.schema.clone(),
        "user()" | "current_user()" | "session_user()" | "system_user()" => {
            return Some(format!("{}@{}", sess.user, sess.peer.ip()))
        }
        "version()" => return Some(super::server::sql_version().to_string()),
        "connection_id()" => return Some(sess.id.to_string()),
        _ => {}
    }
    if e.parse::<f64>().is_ok() {
        return Some(e.to_string());
    }
    for q in ['\'', '"'] {
        if e.len() >= 2 && e.starts_with(q) && e.ends_with(q) {
            return Some(e[1..e.len() - 1].to_string());
        }
    }
    None
}

/// The system variables clients ask for on connect.
fn variable(sess: &Session, name: &str) -> Option<String> {
    Some(match name {
        "version_comment" => "shardgate admin port".to_string(),
        "version" => super::server::sql_version().to_string(),
        "max_allowed_packet" => (64u64 << 20).to_string(),
        "wait_timeout" | "interactive_timeout" => "28800".to_string(),
        "autocommit" => "1".to_string(),
        "auto_increment_increment" => "1".to_string(),
        "character_set_client"
        | "character_set_connection"
        | "character_set_results"
        | "character_set_server"
        | "character_set_database" => "utf8mb4".to_string(),
        "collation_connection" | "collation_server" | "collation_database" => {
            "utf8mb4_general_ci".to_string()
        }
        "sql_mode" => String::new(),
        "lower_case_table_names" => "0".to_string(),
        "tx_isolation" | "transaction_isolation" => "REPEATABLE-READ".to_string(),
        "time_zone" | "system_time_zone" => "SYSTEM".to_string(),
        "net_write_timeout" => "60".to_string(),
        "connection_id" => sess.id.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Command {
        parse(s).unwrap_or_else(|e| panic!("{s:?}: {}", e.msg))
    }

    fn err(s: &str) -> ParseError {
        parse(s).expect_err(s)
    }

    #[test]
    fn show_commands_any_case_trailing_semicolons() {
        assert_eq!(p("SHOW NODES"), Command::ShowNodes);
        assert_eq!(p("  show   nodes ;  ; "), Command::ShowNodes);
        assert_eq!(p("Show Groups;"), Command::ShowGroups);
        assert_eq!(p("show rules"), Command::ShowRules);
        assert_eq!(p("show sessions"), Command::ShowSessions);
        assert_eq!(p("show processlist"), Command::ShowSessions);
        assert_eq!(p("show stats\n"), Command::ShowStats);
        assert_eq!(p("show config"), Command::ShowConfig);
        assert_eq!(p("help"), Command::Help);
        assert_eq!(p("show help"), Command::Help);
        assert_eq!(p("SHOW COMMANDS"), Command::Help);
        assert_eq!(p("reload"), Command::Reload);
        assert_eq!(p("RELOAD CONFIG;"), Command::Reload);
    }

    #[test]
    fn show_buckets_takes_an_optional_rule() {
        assert_eq!(p("show buckets"), Command::ShowBuckets(None));
        let want = Command::ShowBuckets(Some(RuleRef {
            schema: "blog".into(),
            rule: "by_bucket".into(),
        }));
        assert_eq!(p("SHOW BUCKETS blog.by_bucket"), want);
        assert_eq!(p("show buckets `blog`.`by_bucket`;"), want);
        assert_eq!(err("show buckets blog").code, ec::ER_PARSE_ERROR);
        assert_eq!(err("show buckets .x").code, ec::ER_PARSE_ERROR);
    }

    #[test]
    fn set_node_quoted_or_bare() {
        let want = |a: &str, s| Command::SetNode {
            addr: a.into(),
            state: s,
            reason: None,
        };
        assert_eq!(
            p("SET NODE '127.0.0.1:3306' DOWN"),
            want("127.0.0.1:3306", Override::Down)
        );
        assert_eq!(
            p("set node 127.0.0.1:3306 up;"),
            want("127.0.0.1:3306", Override::Up)
        );
        assert_eq!(
            p("set node \"db1:3306\" to auto"),
            want("db1:3306", Override::Auto)
        );
        assert_eq!(
            p("set node `[::1]:3306` Auto"),
            want("[::1]:3306", Override::Auto)
        );
        assert_eq!(
            p("SET NODE 'db1:3306' DOWN REASON 'disk swap, it''s fine'"),
            Command::SetNode {
                addr: "db1:3306".into(),
                state: Override::Down,
                reason: Some("disk swap, it's fine".into()),
            }
        );
    }

    #[test]
    fn set_node_errors_say_how() {
        for bad in [
            "set node",
            "set node 'db1:3306'",
            "set node 'db1:3306' sideways",
            "set node 'db1:3306' down now",
            "set node 'db1:3306 down",
            "set node '' down",
        ] {
            let e = err(bad);
            assert_eq!(e.code, ec::ER_PARSE_ERROR, "{bad}");
            assert!(e.msg.starts_with("shardgate admin: "), "{}", e.msg);
            assert!(e.msg.contains("SHOW NODES"), "usage listed: {}", e.msg);
        }
        assert!(err("set node 'x' sideways").msg.contains("'sideways'"));
    }

    #[test]
    fn other_set_is_accepted() {
        assert_eq!(p("SET NAMES utf8mb4"), Command::SetSession);
        assert_eq!(p("set autocommit=1"), Command::SetSession);
        assert_eq!(p("SET @x = 1"), Command::SetSession);
    }

    #[test]
    fn explain_keeps_the_whole_statement() {
        assert_eq!(
            p("explain shardgate SELECT * FROM t WHERE id = 1;"),
            Command::Explain("explain shardgate SELECT * FROM t WHERE id = 1".into())
        );
        assert_eq!(err("explain select 1").code, ec::ER_PARSE_ERROR);
        assert_eq!(err("explain shardgate ;").code, ec::ER_PARSE_ERROR);
    }

    #[test]
    fn use_takes_a_name() {
        assert_eq!(p("USE blog"), Command::Use("blog".into()));
        assert_eq!(p("use `my db`;"), Command::Use("my db".into()));
        assert_eq!(err("use").code, ec::ER_PARSE_ERROR);
        assert_eq!(err("use a b").code, ec::ER_PARSE_ERROR);
    }

    #[test]
    fn client_selects() {
        assert_eq!(
            p("select @@version_comment limit 1"),
            Command::Select(vec!["@@version_comment".into()])
        );
        assert_eq!(
            p("SELECT @@max_allowed_packet, DATABASE(), CONCAT('a', 'b') AS x LIMIT 1"),
            Command::Select(vec![
                "@@max_allowed_packet".into(),
                "DATABASE()".into(),
                "CONCAT('a', 'b') AS x".into()
            ])
        );
        assert_eq!(err("select * from t").code, ec::ER_PARSE_ERROR);
        assert_eq!(err("select").code, ec::ER_PARSE_ERROR);
    }

    #[test]
    fn unknown_and_empty() {
        let e = err("DROP TABLE t");
        assert_eq!(e.code, ec::ER_PARSE_ERROR);
        assert!(
            e.msg.contains("unknown command 'DROP TABLE t'"),
            "{}",
            e.msg
        );
        assert!(e.msg.contains("SET NODE"), "{}", e.msg);
        assert_eq!(err(" ; ").code, ec::ER_EMPTY_QUERY);
        assert_eq!(err("show nodes please").code, ec::ER_PARSE_ERROR);
        assert_eq!(err("show").code, ec::ER_PARSE_ERROR);
        assert_eq!(err("show tables").code, ec::ER_PARSE_ERROR);
    }

    fn sess() -> Session {
        Session {
            id: 7,
            user: "admin".into(),
            peer: "127.0.0.1:5555".parse().unwrap(),
            schema: Some("blog".into()),
            caps: Capabilities::PROTOCOL_41,
        }
    }

    #[test]
    fn select_values() {
        let s = sess();
        let r = select(
            &s,
            &[
                "@@version_comment".into(),
                "@@session.max_allowed_packet".into(),
                "DATABASE()".into(),
                "USER() AS who".into(),
                "1".into(),
                "'x'".into(),
                "@@no_such_thing".into(),
                "connection_id()".into(),
            ],
        );
        assert_eq!(
            r.columns,
            vec![
                "@@version_comment",
                "@@session.max_allowed_packet",
                "DATABASE()",
                "who",
                "1",
                "'x'",
                "@@no_such_thing",
                "connection_id()"
            ]
        );
        assert_eq!(
            r.rows,
            vec![vec![
                Some("shardgate admin port".into()),
                Some("67108864".into()),
                Some("blog".into()),
                Some("admin@127.0.0.1".into()),
                Some("1".into()),
                Some("x".into()),
                None,
                Some("7".into()),
            ]]
        );
    }
}
