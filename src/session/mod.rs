//! Client session state: who is logged in, the current schema, the session
//! variables a borrowed backend connection must carry, and the reasons a
//! session is pinned to one backend connection.
//!
//! shardgate multiplexes: between statements an unpinned session gives its
//! backend connection back to the pool, and the next statement may run on
//! another one. Before it does, the I/O thread compares this state with the
//! state the backend connection carries ([`BackendState`]) and sends the
//! difference (COM_INIT_DB and one `SET`), pipelined before the statement.
//! State that cannot be replayed (an open transaction, LOCK TABLES,
//! temporary tables, user-level locks, user variables, prepared statements,
//! FOUND_ROWS / LAST_INSERT_ID continuity) pins the session instead.

pub mod auth;

use shardgate_proto::capability::Capabilities;

/// Why a session keeps its backend connection between statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PinReasons(pub u16);

impl PinReasons {
    pub const TRANSACTION: PinReasons = PinReasons(1);
    pub const LOCK_TABLES: PinReasons = PinReasons(1 << 1);
    pub const TEMP_TABLE: PinReasons = PinReasons(1 << 2);
    pub const USER_LOCK: PinReasons = PinReasons(1 << 3);
    pub const USER_VARIABLES: PinReasons = PinReasons(1 << 4);
    pub const PREPARED: PinReasons = PinReasons(1 << 5);
    pub const FOUND_ROWS: PinReasons = PinReasons(1 << 6);
    pub const LAST_INSERT_ID: PinReasons = PinReasons(1 << 7);
    pub const AUTOCOMMIT_OFF: PinReasons = PinReasons(1 << 8);
    pub const UNREPLAYABLE_SET: PinReasons = PinReasons(1 << 9);
    pub const LOCAL_INFILE: PinReasons = PinReasons(1 << 10);
    /// SQL-level PREPARE / EXECUTE: the statement lives on one connection.
    pub const SQL_PREPARE: PinReasons = PinReasons(1 << 11);
    /// The last statement left warnings or an error on its connections,
    /// which SHOW WARNINGS reads (`route::diagnostics`).
    pub const WARNINGS: PinReasons = PinReasons(1 << 12);
    /// Reasons that last until the statement after the one that set them.
    pub const ONE_STATEMENT: PinReasons = PinReasons(
        Self::FOUND_ROWS.0 | Self::LAST_INSERT_ID.0 | Self::LOCAL_INFILE.0 | Self::WARNINGS.0,
    );

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn insert(&mut self, r: PinReasons) {
        self.0 |= r.0;
    }

    pub fn remove(&mut self, r: PinReasons) {
        self.0 &= !r.0;
    }

    pub fn contains(self, r: PinReasons) -> bool {
        self.0 & r.0 == r.0
    }

    /// Names for SHOW SESSIONS and logs.
    pub fn names(self) -> Vec<&'static str> {
        const NAMES: [(PinReasons, &str); 13] = [
            (PinReasons::TRANSACTION, "transaction"),
            (PinReasons::LOCK_TABLES, "lock_tables"),
            (PinReasons::TEMP_TABLE, "temporary_table"),
            (PinReasons::USER_LOCK, "user_lock"),
            (PinReasons::USER_VARIABLES, "user_variables"),
            (PinReasons::PREPARED, "prepared_statements"),
            (PinReasons::FOUND_ROWS, "found_rows"),
            (PinReasons::LAST_INSERT_ID, "last_insert_id"),
            (PinReasons::AUTOCOMMIT_OFF, "autocommit_off"),
            (PinReasons::UNREPLAYABLE_SET, "session_set"),
            (PinReasons::LOCAL_INFILE, "local_infile"),
            (PinReasons::SQL_PREPARE, "sql_prepare"),
            (PinReasons::WARNINGS, "warnings"),
        ];
        NAMES
            .iter()
            .filter(|(r, _)| self.contains(*r))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl std::ops::BitOr for PinReasons {
    type Output = PinReasons;
    fn bitor(self, rhs: Self) -> Self {
        PinReasons(self.0 | rhs.0)
    }
}

/// One replayable session assignment: `key` identifies the variable
/// (lowercased, `names` for SET NAMES / CHARACTER SET), `sql` is the text
/// that re-creates it inside a `SET` list, e.g. `@@session.sql_mode='ANSI'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub key: String,
    pub sql: String,
}

/// State a backend connection carries that a session depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendState {
    pub schema: Option<String>,
    /// Replayed assignments, sorted by key.
    pub vars: Vec<Assignment>,
    pub multi_statements: bool,
}

impl BackendState {
    /// Records an assignment (replacing one with the same key).
    pub fn set_var(&mut self, a: Assignment) {
        match self.vars.binary_search_by(|v| v.key.as_str().cmp(&a.key)) {
            Ok(i) => self.vars[i] = a,
            Err(i) => self.vars.insert(i, a),
        }
    }

    /// Forgets the replayed value of `key` (it is back at its default).
    pub fn unset_var(&mut self, key: &str) {
        if let Ok(i) = self.vars.binary_search_by(|v| v.key.as_str().cmp(key)) {
            self.vars.remove(i);
        }
    }

    /// The `SET` statement that turns `self` (a backend connection's state)
    /// into `want` (a session's), or `None` when the variables agree.
    /// Variables the connection carries but the session never set go back
    /// to their defaults.
    /// `collation` is the handshake collation of the backend connection
    /// (what "default" character set variables mean on it).
    pub fn set_statement_towards(&self, want: &BackendState, collation: u8) -> Option<String> {
        if self.vars == want.vars {
            return None;
        }
        let mut parts: Vec<String> = Vec::new();
        for a in &want.vars {
            if !self.vars.contains(a) {
                parts.push(a.sql.clone());
            }
        }
        for have in &self.vars {
            if want
                .vars
                .binary_search_by(|v| v.key.as_str().cmp(&have.key))
                .is_err()
            {
                parts.push(reset_sql(&have.key, collation));
            }
        }
        if parts.is_empty() {
            return None;
        }
        // SET NAMES must come first in a SET list.
        parts.sort_by_key(|p| !p.starts_with("NAMES"));
        Some(format!("SET {}", parts.join(", ")))
    }
}

/// The assignment that puts `key` back to what the connection had after
/// its handshake. Character sets go back to the handshake collation (by
/// id, which the server accepts for these variables); `SET NAMES DEFAULT`
/// would mean the server's default character set instead.
fn reset_sql(key: &str, collation: u8) -> String {
    match key {
        "names" if collation != 0 && collation != 255 => format!(
            "@@session.character_set_client = {collation}, \
             @@session.character_set_results = {collation}, \
             @@session.collation_connection = {collation}"
        ),
        "names" => "@@session.character_set_client = DEFAULT, \
             @@session.character_set_results = DEFAULT, \
             @@session.collation_connection = DEFAULT"
            .to_string(),
        // A user variable (key "@`name`"): unset means NULL.
        _ if key.starts_with('@') => format!("{key} = NULL"),
        _ => format!("@@session.{key} = DEFAULT"),
    }
}

/// Everything shardgate knows about one client session.
#[derive(Debug, Clone)]
pub struct Session {
    pub conn_id: u32,
    pub user: String,
    pub caps: Capabilities,
    /// Collation id the client asked for in its handshake.
    pub collation: u8,
    pub state: BackendState,
    pub pins: PinReasons,
    pub backslash_escapes: bool,
    /// What LAST_INSERT_ID() returns in this session (from OK packets).
    pub last_insert_id: u64,
    /// The affected rows the client was last told (-1 after rows or an
    /// error): what `ROW_COUNT()` answers (`route::row_count`).
    pub row_count: Option<i64>,
    /// The nodes whose reply to the last statement carried warnings or an
    /// error, with their groups: SHOW WARNINGS goes there; empty after a
    /// SELECT or write that raised none (SHOW WARNINGS is empty); `None`
    /// when unknown (`route::diagnostics`).
    pub warnings_on: Option<Vec<(String, std::net::SocketAddr)>>,
    /// The last statement's diagnostics: (warnings and errors, errors).
    pub diagnostics_count: (u64, u64),
    /// What FOUND_ROWS() answers (`route::row_count`).
    pub found_rows: crate::route::row_count::FoundRows,
    /// An explicit transaction is open (sharded schemas): the statement
    /// that opened it, replayed on each backend the transaction touches.
    pub txn_begin: Option<Vec<u8>>,
    /// The open transaction's savepoints, oldest first, as written
    /// (sharded schemas): set on each backend the transaction reaches
    /// after them (`reactor::savepoint`).
    pub savepoints: Vec<Vec<u8>>,
    /// `SET @@shardgate_shard_key = v`: the literal routing statements that
    /// name no shard key.
    pub shard_key: Option<Vec<u8>>,
    /// `SET @@shardgate_use_master = ON`: reads go to the master.
    pub use_master: bool,
    /// User variables a query assigned, with the group whose connection
    /// holds each (`RouteCtx::user_vars_by_query`).
    pub user_vars_by_query: Vec<(String, String)>,
    /// When the session's last write finished (read-your-writes: its reads
    /// go to the master for `server.read_your_writes` after it).
    pub last_write: Option<std::time::Instant>,
}

impl Session {
    /// COM_RESET_CONNECTION: what the statements of the session left
    /// (variables, pins, transaction, savepoints, counts) is forgotten; the
    /// account, schema, capabilities and connection id stay.
    pub fn reset_statement_state(&mut self) {
        self.state.vars.clear();
        self.user_vars_by_query.clear();
        self.pins = PinReasons::default();
        self.last_insert_id = 0;
        self.row_count = None;
        self.warnings_on = None;
        self.diagnostics_count = (0, 0);
        self.found_rows = Default::default();
        self.txn_begin = None;
        self.savepoints.clear();
        self.shard_key = None;
        self.use_master = false;
    }

    /// The character set string literals arrive in (`character_set_client`)
    /// as the backends see it: the session's assignments are replayed in
    /// key order, so a `SET NAMES` / `SET CHARACTER SET` (key `names`) has
    /// the last word over `SET character_set_client`; else the handshake
    /// collation's. `None` when it is one shardgate cannot convert (then
    /// key bytes are used as sent).
    pub fn client_charset(&self) -> Option<crate::merge::charset::Charset> {
        use crate::merge::charset::{charset_by_name, charset_of};
        let handshake = || charset_of(u16::from(self.collation));
        let Some(set) = ["names", "character_set_client"]
            .iter()
            .find_map(|k| self.state.vars.iter().find(|v| v.key == *k))
        else {
            return handshake();
        };
        // `NAMES latin1 [COLLATE x]`, `CHARACTER SET latin1`,
        // `@@session.character_set_client = 'latin1'` (or DEFAULT).
        let words = set
            .sql
            .split(|c: char| c.is_ascii_whitespace() || c == '=')
            .map(|w| w.trim_matches(|c| c == '\'' || c == '"' || c == '`'))
            .filter(|w| !w.is_empty() && !w.starts_with('@'));
        for w in words {
            if w.eq_ignore_ascii_case("default") {
                return handshake();
            }
            if let Some(c) = charset_by_name(w.as_bytes()) {
                return Some(c);
            }
        }
        None
    }

    pub fn new(conn_id: u32) -> Session {
        Session {
            conn_id,
            user: String::new(),
            caps: Capabilities::empty(),
            collation: 0,
            state: BackendState::default(),
            pins: PinReasons::default(),
            backslash_escapes: true,
            last_insert_id: 0,
            row_count: None,
            warnings_on: None,
            diagnostics_count: (0, 0),
            found_rows: Default::default(),
            txn_begin: None,
            savepoints: Vec::new(),
            shard_key: None,
            user_vars_by_query: Vec::new(),
            use_master: false,
            last_write: None,
        }
    }

    pub fn is_pinned(&self) -> bool {
        !self.pins.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(k: &str, v: &str) -> Assignment {
        Assignment {
            key: k.into(),
            sql: v.into(),
        }
    }

    #[test]
    fn diff_sets_missing_and_resets_extra() {
        let mut have = BackendState::default();
        have.set_var(a("time_zone", "@@session.time_zone='+01:00'"));
        have.set_var(a("sql_mode", "@@session.sql_mode='ANSI'"));
        let mut want = BackendState::default();
        want.set_var(a("sql_mode", "@@session.sql_mode='ANSI'"));
        want.set_var(a("names", "NAMES latin1"));
        assert_eq!(
            have.set_statement_towards(&want, 45).unwrap(),
            "SET NAMES latin1, @@session.time_zone = DEFAULT"
        );
        assert_eq!(want.set_statement_towards(&want, 45), None);
        // SET NAMES on the connection, not in the session: back to the
        // handshake collation, not to the server default.
        assert_eq!(
            want.set_statement_towards(&BackendState::default(), 45)
                .unwrap(),
            "SET @@session.character_set_client = 45, @@session.character_set_results = 45, \
             @@session.collation_connection = 45, @@session.sql_mode = DEFAULT"
        );
    }

    #[test]
    fn client_charset_follows_set_names_and_the_handshake() {
        use crate::merge::charset::Charset;
        let mut s = Session::new(1);
        s.collation = 45;
        assert_eq!(s.client_charset(), Some(Charset::Utf8));
        s.collation = 8;
        assert_eq!(s.client_charset(), Some(Charset::Latin1));
        s.collation = 45;
        s.state.set_var(a(
            "character_set_client",
            "@@session.character_set_client = latin1",
        ));
        assert_eq!(s.client_charset(), Some(Charset::Latin1));
        s.state
            .set_var(a("character_set_client", "character_set_client=DEFAULT"));
        assert_eq!(s.client_charset(), Some(Charset::Utf8), "the handshake's");
        // Replayed after character_set_client (key order): NAMES wins.
        s.state
            .set_var(a("names", "NAMES 'latin1' COLLATE latin1_bin"));
        assert_eq!(s.client_charset(), Some(Charset::Latin1));
        s.state.set_var(a("names", "CHARACTER SET utf8mb4"));
        assert_eq!(s.client_charset(), Some(Charset::Utf8));
        s.state.set_var(a("names", "NAMES cp1251"));
        assert_eq!(s.client_charset(), None, "not convertible");
    }

    #[test]
    fn set_var_replaces_same_key() {
        let mut s = BackendState::default();
        s.set_var(a("x", "1"));
        s.set_var(a("x", "2"));
        assert_eq!(s.vars, vec![a("x", "2")]);
    }

    #[test]
    fn pin_reason_names() {
        let mut p = PinReasons::default();
        p.insert(PinReasons::TRANSACTION);
        p.insert(PinReasons::PREPARED);
        assert_eq!(p.names(), vec!["transaction", "prepared_statements"]);
        p.remove(PinReasons::TRANSACTION | PinReasons::PREPARED);
        assert!(p.is_empty());
    }
}
