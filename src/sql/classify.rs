//! Statement classification: what a `COM_QUERY` is and which session state it
//! touches, decided from the token stream in one pass.
//!
//! The worker calls [`classify`] on every query before routing. The answer
//! drives three decisions: where the statement may go ([`Statement::is_write`],
//! [`Statement::locking_read`]), whether the session must be pinned to one
//! backend connection (the session-effect flags: user variables, named
//! locks, temporary tables, `FOUND_ROWS()`...), and which session assignments
//! to remember so they can be replayed on another backend connection
//! ([`Statement::set_assignments`], parsed from `SET`).
//!
//! Only the first statement of a multi-statement query sets
//! [`Statement::kind`]; `is_write`, `locking_read`, the flags and the SET
//! assignments cover all of them. Nothing is allocated unless the query is
//! a SET (the assignment list) or a `USE` of a name with doubled backquotes.
//! Unknown statements are [`Kind::Other`] and count as writes.
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/sql-statements.html>
//! <https://mariadb.com/kb/en/sql-statements/>

use std::borrow::Cow;
use std::ops::Range;

use super::lexer::{
    string_value, unquote_ident, Kw, LexError, LexOptions, Lexer, Op, Token, TokenKind,
};

/// What kind of statement the (first) statement of a query is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// Only whitespace, comments or `;`.
    Empty,
    /// SELECT, `(SELECT ...)`, `WITH ... SELECT`, `TABLE t`, `VALUES ROW(..)`.
    Select,
    Insert,
    Replace,
    Update,
    Delete,
    /// `SET` of variables, `SET NAMES`, `SET CHARACTER SET`, `SET ROLE`.
    Set,
    /// `SET [GLOBAL|SESSION] TRANSACTION ...`
    SetTransaction,
    /// `USE db`, with the schema name unquoted.
    Use(Cow<'a, [u8]>),
    /// `BEGIN [WORK]`, `START TRANSACTION [READ ONLY|READ WRITE|WITH CONSISTENT SNAPSHOT]`
    Begin {
        read_only: bool,
        consistent_snapshot: bool,
    },
    /// `COMMIT [WORK] [AND [NO] CHAIN] [[NO] RELEASE]`
    Commit {
        chain: bool,
        release: bool,
    },
    /// `ROLLBACK [WORK] [AND [NO] CHAIN] [[NO] RELEASE]`
    Rollback {
        chain: bool,
        release: bool,
    },
    /// `ROLLBACK [WORK] TO [SAVEPOINT] x`: the transaction goes on.
    RollbackToSavepoint,
    Savepoint,
    /// `RELEASE SAVEPOINT x`
    ReleaseSavepoint,
    LockTables,
    UnlockTables,
    CreateTemporaryTable,
    DropTemporaryTable,
    Show,
    /// `DESCRIBE t` / `DESC t` / `EXPLAIN t`: a table's columns.
    Describe,
    /// `EXPLAIN [ANALYZE|FORMAT=..] stmt`, MariaDB `ANALYZE stmt`.
    Explain,
    Call,
    /// SQL-level `PREPARE s FROM ...`
    Prepare,
    /// SQL-level `EXECUTE s [USING ...]`
    Execute,
    /// `DEALLOCATE PREPARE s` / `DROP PREPARE s`
    Deallocate,
    /// `KILL [HARD|SOFT] [CONNECTION|QUERY] id`; `id` is `None` for
    /// `KILL QUERY ID n`, `KILL USER u` or a missing/unparsable id.
    Kill {
        query_only: bool,
        id: Option<u64>,
    },
    /// CREATE / ALTER / DROP / TRUNCATE / RENAME (other than the temporary
    /// table and PREPARE forms above).
    Ddl,
    /// `LOAD DATA|XML [LOCAL] INFILE`
    Load {
        local: bool,
    },
    Xa,
    Handler,
    Do,
    Flush,
    Grant,
    Revoke,
    /// `ANALYZE TABLE`
    Analyze,
    Optimize,
    Repair,
    /// `CHECK TABLE`, `CHECKSUM TABLE`
    Check,
    Other,
}

/// Where a `SET` assignment applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Session system variable (also `LOCAL`, `@@var`, `@@local.var`).
    Session,
    /// `GLOBAL`, `PERSIST`, `PERSIST_ONLY`, `@@global.var`: no session effect.
    Global,
    /// User variable `@name`.
    User,
}

/// One assignment of a SET statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub scope: Scope,
    /// Variable name, ASCII-lowercased, without `@`/`@@`/scope prefix or
    /// quotes. Special forms: `names` (SET NAMES), `character_set` (SET
    /// CHARACTER SET / CHARSET), `role` (SET ROLE), `transaction` (SET
    /// SESSION|GLOBAL TRANSACTION) and `next_transaction` (SET TRANSACTION
    /// without a scope: only the next transaction, scope `Session`).
    pub name: Vec<u8>,
    /// Bytes of the variable reference as written (`@@session.x`, `@a`, `x`).
    pub name_range: Range<usize>,
    /// Bytes of the value expression (for SET NAMES: `cs [COLLATE coll]`).
    pub value: Range<usize>,
}

impl Assignment {
    /// The value expression's text in `sql` (the classified query).
    pub fn value_text<'a>(&self, sql: &'a [u8]) -> &'a [u8] {
        sql.get(self.value.clone()).unwrap_or(&[])
    }

    /// The value as a boolean switch (`0`/`1`/`ON`/`OFF`/`TRUE`/`FALSE`,
    /// quoted or not), as used by `SET autocommit`.
    pub fn bool_value(&self, sql: &[u8], opts: LexOptions) -> Option<bool> {
        let text = self.value_text(sql);
        let v = match text.first() {
            Some(b'\'' | b'"') => string_value(text, opts),
            _ => Cow::Borrowed(text),
        };
        let is = |w: &[u8]| v.eq_ignore_ascii_case(w);
        if is(b"1") || is(b"on") || is(b"true") {
            Some(true)
        } else if is(b"0") || is(b"off") || is(b"false") {
            Some(false)
        } else {
            None
        }
    }
}

/// The classification of one query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    /// Kind of the first statement.
    pub kind: Kind<'a>,
    /// May change data, schema, server or transaction state, or is unknown:
    /// must go to a master. False only for plain reads (SELECT without
    /// locking clause, INTO OUTFILE or sequence functions; SHOW; DESCRIBE;
    /// EXPLAIN that does not execute a write; DO; HELP), `USE`, and SET of
    /// session/user variables only.
    pub is_write: bool,
    /// `SELECT ... FOR UPDATE | FOR SHARE | LOCK IN SHARE MODE`.
    pub locking_read: bool,
    /// Any `@name` (read or assigned): the value lives in one connection.
    pub uses_user_variables: bool,
    /// A user variable is assigned (`SET @a`, `@a :=`, `INTO @a`, and
    /// conservatively any `@a` in CALL or LOAD DATA).
    pub set_user_variable: bool,
    /// GET_LOCK, RELEASE_LOCK, RELEASE_ALL_LOCKS, IS_USED_LOCK, IS_FREE_LOCK.
    pub get_lock: bool,
    pub sql_calc_found_rows: bool,
    /// `FOUND_ROWS()`
    pub found_rows: bool,
    /// `LAST_INSERT_ID(...)`
    pub last_insert_id: bool,
    /// `ROW_COUNT()`
    pub row_count_fn: bool,
    /// CREATE or DROP TEMPORARY TABLE.
    pub temporary_table: bool,
    /// LOCK TABLES, LOCK INSTANCE, FLUSH TABLES ... WITH READ LOCK / FOR EXPORT.
    pub lock_tables: bool,
    /// More than one statement (`;` outside strings/comments, not trailing).
    pub multi_statement: bool,
    /// Offset of the `;` that ends the first statement, if one does.
    pub first_end: Option<usize>,
    /// Byte range of the first optimizer-hint comment `/*+ ... */`.
    pub hint: Option<Range<usize>>,
    /// The query did not lex to its end (unterminated string or comment).
    /// It is still classified from what came before.
    pub error: Option<LexError>,
    /// Assignments of every SET statement in the query, in order.
    pub set_assignments: Vec<Assignment>,
    /// Every token of the query, in order, when classified with
    /// [`classify_keeping_tokens`] (else empty): the parser takes them
    /// instead of lexing the query a second time.
    pub tokens: Vec<Token>,
}

impl Statement<'_> {
    pub fn has_hint(&self) -> bool {
        self.hint.is_some()
    }

    fn empty() -> Self {
        Statement {
            kind: Kind::Empty,
            is_write: false,
            locking_read: false,
            uses_user_variables: false,
            set_user_variable: false,
            get_lock: false,
            sql_calc_found_rows: false,
            found_rows: false,
            last_insert_id: false,
            row_count_fn: false,
            temporary_table: false,
            lock_tables: false,
            multi_statement: false,
            first_end: None,
            hint: None,
            error: None,
            set_assignments: Vec::new(),
            tokens: Vec::new(),
        }
    }
}

/// Classifies `sql` (a `COM_QUERY` payload after the command byte).
pub fn classify(sql: &[u8], opts: LexOptions) -> Statement<'_> {
    classify_from(Lexer::new(sql, opts), 0, false)
}

/// Like [`classify`], keeping the query's tokens in
/// [`Statement::tokens`] for [`crate::sql::parse::parse_lexed`].
pub fn classify_keeping_tokens(sql: &[u8], opts: LexOptions) -> Statement<'_> {
    classify_from(Lexer::new(sql, opts), 0, true)
}

/// The statements of a multi-statement query, in order, each without the
/// `;` that ends it (and without the blanks before it). The last one
/// keeps what follows it (a trailing `;`). From a stored-program body on
/// (`CREATE PROCEDURE ... BEGIN ...`), the rest is one piece.
pub fn split_statements(sql: &[u8], opts: LexOptions) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = sql;
    loop {
        // An empty statement (`;;`) stays with the next one: the server
        // answers it with a syntax error, as it would without shardgate.
        let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        rest = &rest[skip..];
        let st = classify(rest, opts);
        match st.first_end {
            Some(end) if st.multi_statement => {
                out.push(&rest[..end]);
                rest = &rest[end + 1..];
            }
            _ => {
                out.push(rest);
                return out;
            }
        }
    }
}

/// How many leading tokens of a statement are kept to decide its kind.
const HEAD: usize = 12;

const NO_TOKEN: Token = Token {
    kind: TokenKind::Unknown,
    start: 0,
    end: 0,
};

/// What the scan remembers about the statement it is in.
struct Seg<'a> {
    /// First significant tokens after any leading `(`.
    head: [Token; HEAD],
    n: usize,
    started: bool,
    leading_done: bool,
    /// Depth of leading `(`, and current depth.
    base: u32,
    depth: u32,
    /// For `WITH ...`: the first statement verb at the outer level.
    with_verb: Option<Kw>,
    locking: bool,
    into_file: bool,
    seq_write: bool,
    /// `WITH READ LOCK` / `FOR EXPORT` seen (FLUSH TABLES).
    read_lock: bool,
    user_var: bool,
    /// Stored-program body: `;` does not end the statement.
    swallow: bool,
    create_prefix_ok: bool,
    /// For SET: the lexer right after the SET keyword.
    after_set: Option<Lexer<'a>>,
}

impl<'a> Seg<'a> {
    fn new() -> Self {
        Seg {
            head: [NO_TOKEN; HEAD],
            n: 0,
            started: false,
            leading_done: false,
            base: 0,
            depth: 0,
            with_verb: None,
            locking: false,
            into_file: false,
            seq_write: false,
            read_lock: false,
            user_var: false,
            swallow: false,
            create_prefix_ok: true,
            after_set: None,
        }
    }

    #[inline]
    fn push(&mut self, t: Token, lx: &Lexer<'a>) {
        match t.kind {
            TokenKind::LParen => {
                self.depth += 1;
                if !self.leading_done {
                    self.base += 1;
                    return;
                }
            }
            TokenKind::RParen => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        self.leading_done = true;
        if self.n < HEAD {
            self.head[self.n] = t;
            self.n += 1;
            let first = self.head[0].kw();
            if self.n == 1 && first == Some(Kw::Set) {
                self.after_set = Some(lx.clone());
            } else if self.n >= 2 && first == Some(Kw::Create) && self.create_prefix_ok {
                // CREATE [OR REPLACE] [DEFINER = u@h] [AGGREGATE] PROCEDURE|FUNCTION|...
                use TokenKind as K;
                match t.kind {
                    K::Keyword(Kw::Procedure | Kw::Function | Kw::Trigger | Kw::Event) => {
                        self.swallow = true;
                    }
                    K::Keyword(Kw::Or | Kw::Replace | Kw::Definer | Kw::Aggregate)
                    | K::Op(Op::Eq)
                    | K::String
                    | K::QuotedIdent
                    | K::Ident
                    | K::At
                    | K::LParen
                    | K::RParen => {}
                    _ => self.create_prefix_ok = false,
                }
            } else if self.n == 2 && first == Some(Kw::Begin) && t.is_kw(Kw::Not) {
                // MariaDB BEGIN NOT ATOMIC ... END
                self.swallow = true;
            }
        }
        if self.with_verb.is_none()
            && self.depth == self.base
            && self.head[0].is_kw(Kw::With)
            && matches!(
                t.kw(),
                Some(
                    Kw::Select
                        | Kw::Insert
                        | Kw::Replace
                        | Kw::Update
                        | Kw::Delete
                        | Kw::Table
                        | Kw::Values
                )
            )
        {
            self.with_verb = t.kw();
        }
    }
}

fn classify_from(mut lx: Lexer<'_>, nesting: u8, keep_tokens: bool) -> Statement<'_> {
    use TokenKind as K;
    let sql = lx.src();
    let mut st = Statement::empty();
    let mut seg = Seg::new();
    let mut statements = 0u32;
    // The two previous significant tokens of the current statement.
    let (mut p1, mut p2) = (K::Unknown, K::Unknown);
    if keep_tokens {
        st.tokens.reserve(lx.src().len() / 4 + 4);
    }
    while let Some(t) = lx.next() {
        if keep_tokens {
            st.tokens.push(t);
        }
        match t.kind {
            K::Hint => {
                if st.hint.is_none() {
                    st.hint = Some(t.range());
                }
                continue;
            }
            K::Error(e) => {
                st.error = Some(e);
                continue;
            }
            K::Semicolon if !seg.swallow => {
                if seg.started {
                    finish(&mut st, &seg, sql, statements == 1, nesting);
                    if statements == 1 {
                        st.first_end = Some(t.start);
                    }
                }
                seg = Seg::new();
                (p1, p2) = (K::Unknown, K::Unknown);
                continue;
            }
            _ => {}
        }
        if !seg.started {
            seg.started = true;
            statements += 1;
            st.multi_statement |= statements > 1;
        }
        seg.push(t, &lx);
        match t.kind {
            K::UserVar => {
                st.uses_user_variables = true;
                seg.user_var = true;
                st.set_user_variable |= p1 == K::Keyword(Kw::Into);
            }
            K::Op(Op::Assign) if p1 == K::UserVar => st.set_user_variable = true,
            K::LParen if p2 != K::Dot => match p1 {
                K::Keyword(
                    Kw::GetLock
                    | Kw::ReleaseLock
                    | Kw::ReleaseAllLocks
                    | Kw::IsUsedLock
                    | Kw::IsFreeLock,
                ) => st.get_lock = true,
                K::Keyword(Kw::FoundRows) => st.found_rows = true,
                K::Keyword(Kw::LastInsertId) => st.last_insert_id = true,
                K::Keyword(Kw::RowCount) => st.row_count_fn = true,
                K::Keyword(Kw::Nextval | Kw::Setval) => seg.seq_write = true,
                _ => {}
            },
            K::Keyword(k) => match k {
                Kw::SqlCalcFoundRows => st.sql_calc_found_rows = true,
                Kw::Update | Kw::Share if p1 == K::Keyword(Kw::For) => seg.locking = true,
                Kw::Mode if p1 == K::Keyword(Kw::Share) && p2 == K::Keyword(Kw::In) => {
                    seg.locking = true;
                }
                Kw::Outfile | Kw::Dumpfile if p1 == K::Keyword(Kw::Into) => seg.into_file = true,
                Kw::For if p1 == K::Keyword(Kw::Value) && p2 == K::Keyword(Kw::Next) => {
                    seg.seq_write = true;
                }
                Kw::Lock if p1 == K::Keyword(Kw::Read) && p2 == K::Keyword(Kw::With) => {
                    seg.read_lock = true;
                }
                Kw::Export if p1 == K::Keyword(Kw::For) => seg.read_lock = true,
                _ => {}
            },
            _ => {}
        }
        (p2, p1) = (p1, t.kind);
    }
    if seg.started {
        finish(&mut st, &seg, sql, statements == 1, nesting);
    }
    st
}

/// Case-insensitive check that `t` is the word `w` (for rare words that are
/// not worth a keyword).
fn word_is(t: Option<&Token>, sql: &[u8], w: &[u8]) -> bool {
    t.is_some_and(|t| t.is_word() && t.text(sql).eq_ignore_ascii_case(w))
}

/// Decides the kind of the statement `seg` and folds it into `st`.
fn finish<'a>(st: &mut Statement<'a>, seg: &Seg<'a>, sql: &'a [u8], first: bool, nesting: u8) {
    use Kind as S;
    let head = &seg.head[..seg.n];
    let k = |i: usize| head.get(i).and_then(Token::kw);
    let has = |w: Kw| head.iter().any(|t| t.is_kw(w));
    let select = || (S::Select, seg.into_file || seg.seq_write);
    let chain_release = || {
        let mut chain = false;
        let mut release = false;
        for (i, t) in head.iter().enumerate() {
            let no = i > 0 && head[i - 1].is_kw(Kw::No);
            if t.is_kw(Kw::Chain) {
                chain = !no;
            } else if t.is_kw(Kw::Release) {
                release = !no;
            }
        }
        (chain, release)
    };
    let mut locking = false;
    let (kind, write) = match k(0) {
        Some(Kw::Select | Kw::Table | Kw::Values) => {
            locking = seg.locking;
            select()
        }
        Some(Kw::With) => match seg.with_verb {
            Some(Kw::Select | Kw::Table | Kw::Values) => {
                locking = seg.locking;
                select()
            }
            Some(Kw::Update) => (S::Update, true),
            Some(Kw::Delete) => (S::Delete, true),
            Some(Kw::Insert) => (S::Insert, true),
            Some(Kw::Replace) => (S::Replace, true),
            _ => (S::Other, true),
        },
        Some(Kw::Insert) => (S::Insert, true),
        Some(Kw::Replace) => (S::Replace, true),
        Some(Kw::Update) => (S::Update, true),
        Some(Kw::Delete) => (S::Delete, true),
        Some(Kw::Set) => match &seg.after_set {
            Some(lx) => {
                let (kind, write, inner_locking) = parse_set(st, lx.clone(), nesting);
                locking = inner_locking;
                (kind, write)
            }
            None => (S::Other, true),
        },
        Some(Kw::Use) => match head.get(1) {
            Some(t) if t.is_word() => (S::Use(unquote_ident(t.text(sql))), false),
            _ => (S::Other, true),
        },
        Some(Kw::Begin) if k(1) == Some(Kw::Not) => (S::Other, true),
        Some(Kw::Begin) => (
            S::Begin {
                read_only: false,
                consistent_snapshot: false,
            },
            true,
        ),
        Some(Kw::Start) if k(1) == Some(Kw::Transaction) => {
            let read_only = head
                .windows(2)
                .any(|w| w[0].is_kw(Kw::Read) && w[1].is_kw(Kw::Only));
            let consistent_snapshot = has(Kw::Snapshot);
            (
                S::Begin {
                    read_only,
                    consistent_snapshot,
                },
                true,
            )
        }
        Some(Kw::Commit) => {
            let (chain, release) = chain_release();
            (S::Commit { chain, release }, true)
        }
        Some(Kw::Rollback) => {
            if k(1) == Some(Kw::To) || (k(1) == Some(Kw::Work) && k(2) == Some(Kw::To)) {
                (S::RollbackToSavepoint, true)
            } else {
                let (chain, release) = chain_release();
                (S::Rollback { chain, release }, true)
            }
        }
        Some(Kw::Savepoint) => (S::Savepoint, true),
        Some(Kw::Release) if k(1) == Some(Kw::Savepoint) => (S::ReleaseSavepoint, true),
        Some(Kw::Lock) => match k(1) {
            Some(Kw::Table | Kw::Tables) => {
                st.lock_tables = true;
                (S::LockTables, true)
            }
            Some(Kw::Instance) => {
                st.lock_tables = true;
                (S::Other, true)
            }
            _ => (S::Other, true),
        },
        Some(Kw::Unlock) if matches!(k(1), Some(Kw::Table | Kw::Tables)) => (S::UnlockTables, true),
        Some(Kw::Create) => {
            let temporary = k(1) == Some(Kw::Temporary)
                || (k(1) == Some(Kw::Or)
                    && k(2) == Some(Kw::Replace)
                    && k(3) == Some(Kw::Temporary));
            if temporary {
                st.temporary_table = true;
                (S::CreateTemporaryTable, true)
            } else {
                (S::Ddl, true)
            }
        }
        Some(Kw::Drop) => match k(1) {
            Some(Kw::Temporary) => {
                st.temporary_table = true;
                (S::DropTemporaryTable, true)
            }
            Some(Kw::Prepare) => (S::Deallocate, true),
            _ => (S::Ddl, true),
        },
        Some(Kw::Alter | Kw::Truncate | Kw::Rename) => (S::Ddl, true),
        Some(Kw::Show) => (S::Show, false),
        Some(Kw::Describe | Kw::Desc | Kw::Explain) => explain(head, 1, false),
        Some(Kw::Analyze) => match k(1) {
            Some(Kw::Table | Kw::Tables | Kw::NoWriteToBinlog | Kw::Local) => (S::Analyze, true),
            // MariaDB ANALYZE stmt: runs it and reports the plan.
            _ => explain(head, 1, true),
        },
        Some(Kw::Call) => {
            st.set_user_variable |= seg.user_var;
            (S::Call, true)
        }
        Some(Kw::Prepare) => (S::Prepare, true),
        Some(Kw::Execute) => (S::Execute, true),
        Some(Kw::Deallocate) => (S::Deallocate, true),
        Some(Kw::Kill) => (kill(head, sql), true),
        Some(Kw::Load) if matches!(k(1), Some(Kw::Data | Kw::Xml)) => {
            st.set_user_variable |= seg.user_var;
            let local = head.iter().take(5).any(|t| t.is_kw(Kw::Local));
            (S::Load { local }, true)
        }
        Some(Kw::Xa) => (S::Xa, true),
        Some(Kw::Handler) => (S::Handler, true),
        Some(Kw::Do) => (S::Do, seg.seq_write),
        Some(Kw::Flush) => {
            st.lock_tables |= seg.read_lock;
            (S::Flush, true)
        }
        Some(Kw::Grant) => (S::Grant, true),
        Some(Kw::Revoke) => (S::Revoke, true),
        Some(Kw::Optimize) => (S::Optimize, true),
        Some(Kw::Repair) => (S::Repair, true),
        Some(Kw::Check | Kw::Checksum) => (S::Check, true),
        Some(Kw::Help) => (S::Other, false),
        _ => (S::Other, true),
    };
    st.is_write |= write;
    st.locking_read |= locking;
    if first {
        st.kind = kind;
    }
}

/// `EXPLAIN`/`DESCRIBE`/`ANALYZE` with the statement (or table) from `i`.
fn explain<'a>(head: &[Token], mut i: usize, mut analyze: bool) -> (Kind<'a>, bool) {
    use TokenKind as K;
    loop {
        match head.get(i).map(|t| t.kind) {
            Some(K::Keyword(Kw::Analyze)) => {
                analyze = true;
                i += 1;
            }
            Some(K::Keyword(Kw::Extended | Kw::Partitions)) => i += 1,
            // FORMAT = JSON
            Some(K::Keyword(Kw::Format))
                if head.get(i + 1).map(|t| t.kind) == Some(K::Op(Op::Eq)) =>
            {
                i += 3
            }
            Some(K::Keyword(Kw::Insert | Kw::Replace | Kw::Update | Kw::Delete)) => {
                return (Kind::Explain, analyze)
            }
            Some(
                K::Keyword(Kw::Select | Kw::Table | Kw::Values | Kw::With | Kw::For) | K::LParen,
            ) => return (Kind::Explain, false),
            Some(_) => return (Kind::Describe, false),
            None => return (Kind::Other, true),
        }
    }
}

/// `KILL [HARD|SOFT] [CONNECTION|QUERY [ID]] [USER] id`
fn kill<'a>(head: &[Token], sql: &[u8]) -> Kind<'a> {
    let mut i = 1;
    if word_is(head.get(i), sql, b"hard") || word_is(head.get(i), sql, b"soft") {
        i += 1;
    }
    let mut query_only = false;
    match head.get(i).and_then(Token::kw) {
        Some(Kw::Connection) => i += 1,
        Some(Kw::Query) => {
            query_only = true;
            i += 1;
        }
        _ => {}
    }
    let id = match head.get(i) {
        Some(t) if t.kind == TokenKind::Integer => std::str::from_utf8(t.text(sql))
            .ok()
            .and_then(|s| s.parse().ok()),
        _ => None,
    };
    Kind::Kill { query_only, id }
}

fn scope_of(k: Option<Kw>) -> Option<Scope> {
    match k? {
        Kw::Global => Some(Scope::Global),
        Kw::Session | Kw::Local => Some(Scope::Session),
        Kw::Persist | Kw::PersistOnly => Some(Scope::Global),
        _ => None,
    }
}

fn lower(b: &[u8]) -> Vec<u8> {
    b.to_ascii_lowercase()
}

/// Parses a SET statement from the lexer positioned after `SET`, adding its
/// session assignments to `st`. Returns (kind, is_write, locking_read).
fn parse_set<'a>(st: &mut Statement<'a>, lx: Lexer<'a>, nesting: u8) -> (Kind<'a>, bool, bool) {
    use TokenKind as K;
    let sql = lx.src();
    // MariaDB `SET STATEMENT var=val[, ...] FOR stmt`: the kind is stmt's.
    // Its assignments last for that statement only and are not recorded.
    let mut probe = lx.clone();
    if word_is(probe.next().as_ref(), sql, b"statement") {
        let mut depth = 0u32;
        while let Some(t) = probe.next() {
            match t.kind {
                K::LParen => depth += 1,
                K::RParen => depth = depth.saturating_sub(1),
                K::Semicolon => break,
                K::Keyword(Kw::For) if depth == 0 && nesting == 0 => {
                    let inner = classify_from(probe, nesting + 1, false);
                    st.temporary_table |= inner.temporary_table;
                    st.lock_tables |= inner.lock_tables;
                    return (inner.kind, inner.is_write, inner.locking_read);
                }
                _ => {}
            }
        }
        return (Kind::Other, true, false);
    }

    let toks: Vec<Token> = lx
        .take_while(|t| t.kind != K::Semicolon)
        .filter(|t| !matches!(t.kind, K::Hint | K::Error(_)))
        .collect();
    let kw = |i: usize| toks.get(i).and_then(Token::kw);
    let span = |a: usize, b: usize| match (toks.get(a), b.checked_sub(1).and_then(|l| toks.get(l)))
    {
        (Some(x), Some(y)) if a < b => x.start..y.end,
        _ => 0..0,
    };
    // End (exclusive token index) of the value starting at `a`.
    let value_end = |a: usize| {
        let mut depth = 0u32;
        let mut i = a;
        while let Some(t) = toks.get(i) {
            match t.kind {
                K::LParen => depth += 1,
                K::RParen => depth = depth.saturating_sub(1),
                K::Comma if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        i
    };

    // SET [scope] TRANSACTION ...
    let (tx_scope, tx_at, tx_name) = match (kw(0), scope_of(kw(0))) {
        (Some(Kw::Transaction), _) => (Some(Scope::Session), 0, &b"next_transaction"[..]),
        (_, Some(s)) if kw(1) == Some(Kw::Transaction) => (Some(s), 1, &b"transaction"[..]),
        _ => (None, 0, &b""[..]),
    };
    if let Some(scope) = tx_scope {
        st.set_assignments.push(Assignment {
            scope,
            name: tx_name.to_vec(),
            name_range: toks[tx_at].range(),
            value: span(tx_at + 1, toks.len()),
        });
        let write = scope == Scope::Global;
        return (Kind::SetTransaction, write, false);
    }
    if word_is(toks.first(), sql, b"password") || kw(0) == Some(Kw::Default) {
        // SET PASSWORD, SET DEFAULT ROLE: account changes.
        return (Kind::Other, true, false);
    }
    if word_is(toks.first(), sql, b"role") {
        st.set_assignments.push(Assignment {
            scope: Scope::Session,
            name: b"role".to_vec(),
            name_range: toks[0].range(),
            value: span(1, toks.len()),
        });
        return (Kind::Set, false, false);
    }

    let mut write = false;
    let mut carried = Scope::Session;
    let mut i = 0;
    while let Some(t) = toks.get(i) {
        if let Some(s) = scope_of(t.kw()) {
            carried = s;
            i += 1;
            continue;
        }
        // (scope, name, name range, index of the token after the name)
        let (scope, name, name_end, special) = match t.kind {
            K::Keyword(Kw::Names) => (Scope::Session, b"names".to_vec(), i + 1, true),
            K::Keyword(Kw::Character) if kw(i + 1) == Some(Kw::Set) => {
                (Scope::Session, b"character_set".to_vec(), i + 2, true)
            }
            K::Keyword(Kw::Charset) => (Scope::Session, b"character_set".to_vec(), i + 1, true),
            K::UserVar => {
                let text = &t.text(sql)[1..];
                let name = match text.first() {
                    Some(b'`') => unquote_ident(text),
                    Some(b'\'' | b'"') => string_value(text, LexOptions::default()),
                    _ => Cow::Borrowed(text),
                };
                (Scope::User, lower(&name), i + 1, false)
            }
            K::SysVar => {
                let text = &t.text(sql)[2..];
                let (scope, rest) = match text.iter().position(|&b| b == b'.') {
                    Some(dot) => match scope_of(Kw::lookup(&text[..dot])) {
                        Some(s) => (s, &text[dot + 1..]),
                        None => (Scope::Session, text),
                    },
                    None => (Scope::Session, text),
                };
                let name: Vec<u8> = rest
                    .split(|&b| b == b'.')
                    .map(|p| unquote_ident(p).into_owned())
                    .collect::<Vec<_>>()
                    .join(&b'.');
                (scope, lower(&name), i + 1, false)
            }
            K::Ident | K::Keyword(_) | K::QuotedIdent => {
                // name[.name]...
                let mut name = lower(&unquote_ident(t.text(sql)));
                let mut j = i + 1;
                while toks.get(j).map(|t| t.kind) == Some(K::Dot)
                    && toks.get(j + 1).is_some_and(Token::is_word)
                {
                    name.push(b'.');
                    name.extend_from_slice(&lower(&unquote_ident(toks[j + 1].text(sql))));
                    j += 2;
                }
                (carried, name, j, false)
            }
            _ => break,
        };
        let name_range = t.start..toks[name_end - 1].end;
        let value_start = if special {
            name_end
        } else {
            match toks.get(name_end).map(|t| t.kind) {
                Some(K::Op(Op::Eq | Op::Assign)) => name_end + 1,
                _ => break,
            }
        };
        let end = value_end(value_start);
        if end == value_start {
            break;
        }
        write |= scope == Scope::Global;
        st.set_user_variable |= scope == Scope::User;
        st.set_assignments.push(Assignment {
            scope,
            name,
            name_range,
            value: span(value_start, end),
        });
        i = end + 1; // past the comma
    }
    (Kind::Set, write, false)
}

#[cfg(test)]
mod tests;
