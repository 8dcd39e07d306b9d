//! Table DDL and the other statements that name tables or schemas without
//! querying them: CREATE / ALTER / DROP / TRUNCATE / RENAME TABLE, CREATE /
//! DROP INDEX, CREATE / DROP DATABASE, USE, LOCK / UNLOCK TABLES, SHOW
//! (TABLES, CREATE TABLE, COLUMNS, INDEX) and DESCRIBE.
//!
//! Only the table and schema names are extracted; column definitions and
//! table options are skipped, except `REFERENCES parent` (a table name to
//! rewrite) and the SELECT of `CREATE TABLE ... SELECT`.
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/sql-data-definition-statements.html>
//! <https://dev.mysql.com/doc/refman/8.0/en/show.html>
//! <https://mariadb.com/kb/en/data-definition/>

use super::common::P;
use super::types::*;
use crate::sql::lexer::{Kw, TokenKind};

impl<'a> P<'a> {
    /// `IF NOT EXISTS` (`not = true`) or `IF EXISTS` at `j`: the index after it.
    fn if_exists(&self, j: usize, not: bool) -> Option<usize> {
        if !self.word_is(j, b"if") {
            return None;
        }
        match (not, self.kw(j + 1), self.kw(j + 2)) {
            (true, Some(Kw::Not), Some(Kw::Exists)) => Some(j + 3),
            (false, Some(Kw::Exists), _) => Some(j + 2),
            _ => None,
        }
    }

    /// A table name at `j` recorded with `role`; the index after it.
    fn named_table(&mut self, j: usize, role: TableRole) -> Option<usize> {
        let Some((schema, name, next)) = self.table_name(j) else {
            self.fail(j, "expected a table name");
            return None;
        };
        let range = self.span(j, next);
        self.push_table(range, schema, name, None, role, 0);
        Some(next)
    }

    /// `name, name, ...` from `j`, each recorded with `role`.
    fn table_list(&mut self, mut j: usize, role: TableRole) -> Option<usize> {
        loop {
            j = self.named_table(j, role)?;
            if !self.is(j, TokenKind::Comma) {
                return Some(j);
            }
            j += 1;
        }
    }

    /// Records `REFERENCES t` and `WITH TABLE t` (EXCHANGE PARTITION) in `i..e`.
    fn referenced_tables(&mut self, i: usize, e: usize) {
        let mut j = i;
        while j < e && !self.failed() {
            if self.word_is(j, b"references")
                || (self.is_kw(j, Kw::With) && self.is_kw(j + 1, Kw::Table))
            {
                let k = if self.word_is(j, b"references") {
                    j + 1
                } else {
                    j + 2
                };
                match self.named_table(k, TableRole::Referenced) {
                    Some(next) => j = next,
                    None => return,
                }
            } else {
                j += 1;
            }
        }
    }

    /// The MERGE table option `UNION [=] (t1, t2)` at `j`: it names tables.
    fn merge_union(&self, j: usize) -> bool {
        self.is_kw(j, Kw::Union)
            && (self.is(j + 1, TokenKind::LParen)
                || (self.is(j + 1, TokenKind::Op(crate::sql::Op::Eq))
                    && self.is(j + 2, TokenKind::LParen)))
    }

    /// `CREATE ...` at `i`.
    pub fn create(&mut self, i: usize) {
        let mut j = i + 1;
        let or_replace = self.is_kw(j, Kw::Or) && self.is_kw(j + 1, Kw::Replace);
        if or_replace {
            j += 2;
        }
        let temporary = self.is_kw(j, Kw::Temporary);
        if temporary {
            j += 1;
        }
        if self.word_is(j, b"online") || self.word_is(j, b"offline") {
            j += 1;
        }
        match self.kw(j) {
            Some(Kw::Table) => self.create_table(j + 1, or_replace, temporary),
            Some(Kw::Database | Kw::Schema) => {
                let k = self.if_exists(j + 1, true);
                let at = k.unwrap_or(j + 1);
                if !self.is_word(at) {
                    return self.fail(at, "expected a database name");
                }
                self.out.stmt = Stmt::CreateDatabase {
                    name: self.ident(at),
                    if_not_exists: k.is_some(),
                };
            }
            Some(Kw::Index) => self.create_index(j, false),
            _ if self.is_kw(j + 1, Kw::Index)
                && [&b"unique"[..], b"fulltext", b"spatial"]
                    .iter()
                    .any(|w| self.word_is(j, w)) =>
            {
                self.create_index(j + 1, self.word_is(j, b"unique"));
            }
            _ => {}
        }
    }

    fn create_table(&mut self, j: usize, or_replace: bool, temporary: bool) {
        let n = self.t.len();
        let if_not_exists = self.if_exists(j, true);
        let j = if_not_exists.unwrap_or(j);
        let Some(mut k) = self.named_table(j, TableRole::Create) else {
            return;
        };
        let mut select = None;
        if self.is_kw(k, Kw::Like) {
            let Some(next) = self.named_table(k + 1, TableRole::CreateLike) else {
                return;
            };
            k = next;
        } else if self.is(k, TokenKind::LParen) && self.is_kw(k + 1, Kw::Like) {
            if self.named_table(k + 2, TableRole::CreateLike).is_none() {
                return;
            }
            k = self.close(k).map_or(n, |c| c + 1);
        } else if self.is(k, TokenKind::LParen) && !self.starts_query(k) {
            let Some(c) = self.close(k) else {
                return self.fail(k, "unbalanced parentheses");
            };
            self.referenced_tables(k + 1, c);
            k = c + 1;
        }
        // CREATE TABLE ... [IGNORE|REPLACE] [AS] SELECT: the first query at depth 0.
        let mut depth = 0u32;
        let mut x = k;
        while x < n {
            if depth == 0 && self.merge_union(x) {
                return self.fail(x, "MERGE tables (UNION=(...)) are not supported");
            }
            match self.kind(x) {
                TokenKind::LParen if depth == 0 && self.starts_query(x) => break,
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => depth = depth.saturating_sub(1),
                TokenKind::Keyword(Kw::Select | Kw::With) if depth == 0 => break,
                _ => {}
            }
            x += 1;
        }
        if x < n {
            let id = self.out.blocks.len();
            self.out
                .blocks
                .push(Block::new(BlockKind::Select, Place::CreateSource, Some(0)));
            let end = self.query_expr(x, n, id);
            if end != n {
                self.fail(end, "unexpected text after CREATE TABLE ... SELECT");
            }
            select = Some(id);
        }
        self.out.stmt = Stmt::CreateTable {
            or_replace,
            temporary,
            if_not_exists: if_not_exists.is_some(),
            select,
        };
    }

    /// `INDEX [IF NOT EXISTS] name [USING ...] ON table (...)` with INDEX at `j`.
    fn create_index(&mut self, j: usize, unique: bool) {
        let n = self.t.len();
        let at = self.if_exists(j + 1, true).unwrap_or(j + 1);
        if !self.is_word(at) {
            return self.fail(at, "expected an index name");
        }
        let name = self.ident(at);
        let on = self.scan0(at + 1, n, |p, x| p.is_kw(x, Kw::On));
        if on >= n || self.named_table(on + 1, TableRole::IndexOn).is_none() {
            return self.fail(on, "expected ON table");
        }
        self.out.stmt = Stmt::CreateIndex { unique, name };
    }

    /// `ALTER [ONLINE] [IGNORE] TABLE t ...` at `i`.
    pub fn alter(&mut self, i: usize) {
        let n = self.t.len();
        let mut j = i + 1;
        if self.word_is(j, b"online") || self.word_is(j, b"offline") {
            j += 1;
        }
        if self.is_kw(j, Kw::Ignore) {
            j += 1;
        }
        if !self.is_kw(j, Kw::Table) {
            return;
        }
        let j = self.if_exists(j + 1, false).unwrap_or(j + 1);
        let Some(k) = self.named_table(j, TableRole::Alter) else {
            return;
        };
        // RENAME [TO|AS] new (not RENAME COLUMN / INDEX / KEY), at depth 0.
        let mut x = k;
        while x < n && !self.failed() {
            x = self.scan0(x, n, |p, y| p.is_kw(y, Kw::Rename));
            if x >= n {
                break;
            }
            match self.kw(x + 1) {
                Some(Kw::Index | Kw::Key) => x += 2,
                _ if self.word_is(x + 1, b"column") => x += 2,
                Some(Kw::To | Kw::As) => {
                    x = self.named_table(x + 2, TableRole::RenameTo).unwrap_or(n);
                }
                _ => x = self.named_table(x + 1, TableRole::RenameTo).unwrap_or(n),
            }
        }
        if let Some(x) = (k..n).find(|&x| self.merge_union(x)) {
            return self.fail(x, "MERGE tables (UNION=(...)) are not supported");
        }
        self.referenced_tables(k, n);
        self.out.stmt = Stmt::AlterTable;
    }

    /// `DROP ...` at `i`.
    pub fn drop(&mut self, i: usize) {
        let n = self.t.len();
        let mut j = i + 1;
        let temporary = self.is_kw(j, Kw::Temporary);
        if temporary {
            j += 1;
        }
        match self.kw(j) {
            Some(Kw::Table | Kw::Tables) => {
                let k = self.if_exists(j + 1, false);
                let Some(mut end) = self.table_list(k.unwrap_or(j + 1), TableRole::Drop) else {
                    return;
                };
                if self.word_is(end, b"restrict") || self.word_is(end, b"cascade") {
                    end += 1;
                }
                if self.word_is(end, b"wait") {
                    end += 2;
                } else if self.is_kw(end, Kw::Nowait) {
                    end += 1;
                }
                if end < n {
                    return self.fail(end, "unexpected text in DROP TABLE");
                }
                self.out.stmt = Stmt::DropTable {
                    temporary,
                    if_exists: k.is_some(),
                };
            }
            Some(Kw::Index) => {
                let at = self.if_exists(j + 1, false).unwrap_or(j + 1);
                if !self.is_word(at) || !self.is_kw(at + 1, Kw::On) {
                    return self.fail(at, "expected `name ON table`");
                }
                let name = self.ident(at);
                if self.named_table(at + 2, TableRole::IndexOn).is_some() {
                    self.out.stmt = Stmt::DropIndex { name };
                }
            }
            Some(Kw::Database | Kw::Schema) => {
                let k = self.if_exists(j + 1, false);
                let at = k.unwrap_or(j + 1);
                if !self.is_word(at) {
                    return self.fail(at, "expected a database name");
                }
                self.out.stmt = Stmt::DropDatabase {
                    name: self.ident(at),
                    if_exists: k.is_some(),
                };
            }
            _ => {}
        }
    }

    /// `TRUNCATE [TABLE] t` at `i`.
    pub fn truncate(&mut self, i: usize) {
        let j = if self.is_kw(i + 1, Kw::Table) {
            i + 2
        } else {
            i + 1
        };
        if let Some(end) = self.named_table(j, TableRole::Truncate) {
            if end < self.t.len() {
                return self.fail(end, "unexpected text in TRUNCATE");
            }
            self.out.stmt = Stmt::Truncate;
        }
    }

    /// `RENAME TABLE a TO b [, c TO d]` at `i`.
    pub fn rename(&mut self, i: usize) {
        if !matches!(self.kw(i + 1), Some(Kw::Table | Kw::Tables)) {
            return;
        }
        let mut j = i + 2;
        loop {
            let Some(k) = self.named_table(j, TableRole::RenameFrom) else {
                return;
            };
            if !self.is_kw(k, Kw::To) {
                return self.fail(k, "expected TO");
            }
            let Some(k) = self.named_table(k + 1, TableRole::RenameTo) else {
                return;
            };
            if self.is(k, TokenKind::Comma) {
                j = k + 1;
            } else {
                break;
            }
        }
        self.out.stmt = Stmt::RenameTable;
    }

    /// `USE db` at `i`.
    pub fn use_db(&mut self, i: usize) {
        if self.is_word(i + 1) && i + 2 == self.t.len() {
            self.out.stmt = Stmt::Use {
                name: self.ident(i + 1),
            };
        }
    }

    /// `LOCK TABLE[S] t [[AS] a] READ [LOCAL] | [LOW_PRIORITY] WRITE, ...` at `i`.
    pub fn lock(&mut self, i: usize) {
        if !matches!(self.kw(i + 1), Some(Kw::Table | Kw::Tables)) {
            return;
        }
        let n = self.t.len();
        let mut j = i + 2;
        let mut items = Vec::new();
        loop {
            let Some((schema, name, next)) = self.table_name(j) else {
                return self.fail(j, "expected a table to lock");
            };
            let range = self.span(j, next);
            let (alias, mut k) = self.opt_alias(next);
            self.push_table(range, schema, name, alias, TableRole::Lock, 0);
            while k < n && !self.is(k, TokenKind::Comma) && !self.is(k, TokenKind::Semicolon) {
                k += 1;
            }
            // Up to the comma (or the end): a lock type written in a
            // version comment (`READ /*!32311 LOCAL */`, mysqldump) keeps
            // its closing `*/`.
            let end = if k < n {
                self.start(k)
            } else {
                statement_end(self.sql, self.end(k.saturating_sub(1)))
            };
            let start = self.start(j);
            let text = self.sql.get(start..end).unwrap_or_default();
            let trimmed = text.len()
                - text
                    .iter()
                    .rev()
                    .take_while(|b| b.is_ascii_whitespace())
                    .count();
            items.push(start..start + trimmed);
            if k >= n || !self.is(k, TokenKind::Comma) {
                break;
            }
            j = k + 1;
        }
        self.out.stmt = Stmt::LockTables { items };
    }

    /// `SHOW ...` at `i`.
    pub fn show(&mut self, i: usize) {
        let n = self.t.len();
        self.out.stmt = Stmt::ShowOther;
        let mut j = i + 1;
        if self.is_kw(j, Kw::Extended) {
            j += 1;
        }
        let full = self.word_is(j, b"full");
        if full {
            j += 1;
        }
        let from_in = |p: &Self, k: usize| matches!(p.kw(k), Some(Kw::From | Kw::In));
        if self.is_kw(j, Kw::Tables) || (self.is_kw(j, Kw::Table) && self.word_is(j + 1, b"status"))
        {
            let status = self.is_kw(j, Kw::Table);
            let mut k = if status { j + 2 } else { j + 1 };
            let mut db = None;
            if from_in(self, k) && self.is_word(k + 1) {
                db = Some(self.ident(k + 1));
                k += 2;
            }
            let mut show = ShowTables {
                full,
                status,
                db,
                like: None,
                where_: None,
            };
            if self.is_kw(k, Kw::Like) {
                match self.value(k + 1) {
                    Some((v, next)) => {
                        show.like = Some(v);
                        k = next;
                    }
                    None => return self.fail(k, "expected a LIKE pattern"),
                }
            } else if self.is_kw(k, Kw::Where) && k + 1 < n {
                if (k..n).any(|x| self.starts_query(x)) {
                    return self.fail(k, "a subquery in SHOW ... WHERE is not supported");
                }
                show.where_ = Some(self.span(k + 1, n));
                k = n;
            }
            if k != n {
                return self.fail(k, "unexpected text in SHOW TABLES");
            }
            self.out.stmt = Stmt::ShowTables(show);
        } else if self.is_kw(j, Kw::Create) && self.is_kw(j + 1, Kw::Table) && !full {
            if self.named_table(j + 2, TableRole::Show).is_some() {
                self.out.stmt = Stmt::ShowCreateTable;
            }
        } else if self.word_is(j, b"columns")
            || self.word_is(j, b"fields")
            || self.is_kw(j, Kw::Index)
            || self.word_is(j, b"indexes")
            || self.word_is(j, b"keys")
        {
            let columns = self.word_is(j, b"columns") || self.word_is(j, b"fields");
            if !from_in(self, j + 1) {
                return self.fail(j + 1, "expected FROM table");
            }
            let Some((schema, name, mut k)) = self.table_name(j + 2) else {
                return self.fail(j + 2, "expected a table name");
            };
            let range = self.span(j + 2, k);
            let mut schema = schema;
            if from_in(self, k) && self.is_word(k + 1) && schema.is_none() {
                schema = Some(self.ident(k + 1));
                k += 2;
            }
            self.push_table(range, schema, name, None, TableRole::Show, 0);
            if !(k == n
                || (self.is_kw(k, Kw::Like) && k + 2 == n)
                || (self.is_kw(k, Kw::Where) && k + 1 < n && !(k..n).any(|x| self.starts_query(x))))
            {
                return self.fail(k, "unexpected text in SHOW");
            }
            self.out.stmt = if columns {
                Stmt::ShowColumns { full }
            } else {
                Stmt::ShowIndex
            };
        }
    }

    /// `DESCRIBE|DESC|EXPLAIN t [col]` or `EXPLAIN SHARDGATE stmt` at `i`.
    pub fn describe(&mut self, i: usize) {
        let n = self.t.len();
        if self.is_kw(i, Kw::Explain) && self.word_is(i + 1, b"shardgate") && i + 2 < n {
            // From right after SHARDGATE (a hint comment there included).
            let mut start = self.end(i + 1);
            while self.sql.get(start).is_some_and(u8::is_ascii_whitespace) {
                start += 1;
            }
            self.out.stmt = Stmt::ExplainShardgate {
                inner: start.min(self.start(i + 2))..self.end(n - 1),
            };
            return;
        }
        let j = i + 1;
        let statement_follows = matches!(
            self.kw(j),
            Some(
                Kw::Select
                    | Kw::Insert
                    | Kw::Replace
                    | Kw::Update
                    | Kw::Delete
                    | Kw::With
                    | Kw::Table
                    | Kw::Values
                    | Kw::Format
                    | Kw::Extended
                    | Kw::Partitions
                    | Kw::Analyze
                    | Kw::For
            )
        ) || self.is(j, TokenKind::LParen);
        if statement_follows {
            return;
        }
        if let Some(next) = self.named_table(j, TableRole::Describe) {
            if next + 1 < n {
                return self.fail(next, "unexpected text in DESCRIBE");
            }
            self.out.stmt = Stmt::Describe;
        }
    }
}

/// Where the statement whose last token ends at `from` ends: at the first
/// `;` outside comments, else the end of the text.
fn statement_end(sql: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < sql.len() {
        match sql[i] {
            b';' => return i,
            b'/' if sql.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(sql.len(), |p| i + 2 + p + 2);
            }
            b'#' => i = line_end(sql, i),
            b'-' if sql.get(i + 1) == Some(&b'-') => i = line_end(sql, i),
            _ => i += 1,
        }
    }
    sql.len()
}

fn line_end(sql: &[u8], i: usize) -> usize {
    sql[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(sql.len(), |p| i + p)
}
