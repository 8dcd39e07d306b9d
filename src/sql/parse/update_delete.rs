//! UPDATE and DELETE, single- and multi-table: the table list, the
//! assignments of UPDATE (so a change of the shard key can be refused), and
//! the WHERE / ORDER BY / LIMIT clauses shared with SELECT.
//!
//! Multi-table DELETE names its targets before the FROM list (`DELETE t1,
//! a FROM t1 JOIN t2 a ...`) or before USING (`DELETE FROM t1 USING ...`);
//! a target may be a table name or an alias of the FROM list, which
//! [`TableRef::target_of`] tells apart.
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/update.html>
//! <https://dev.mysql.com/doc/refman/8.0/en/delete.html>
//! <https://mariadb.com/kb/en/delete/>

use super::common::{clause_word, P};
use super::types::*;
use crate::sql::lexer::{Kw, Op, TokenKind};

impl<'a> P<'a> {
    /// `UPDATE [LOW_PRIORITY] [IGNORE] tables SET ... [WHERE] [ORDER BY] [LIMIT]`
    /// with `UPDATE` at `i`.
    pub fn update(&mut self, i: usize) {
        let n = self.t.len();
        self.out.blocks[0].kind = BlockKind::Update;
        let mut j = i + 1;
        while matches!(self.kw(j), Some(Kw::LowPriority | Kw::Ignore)) {
            j += 1;
        }
        j = self.table_refs(j, n, 0, TableRole::UpdateTarget);
        if self.failed() {
            return;
        }
        if !self.is_kw(j, Kw::Set) {
            return self.fail(j, "expected SET");
        }
        let se = self.clause_end(j + 1, n, false);
        let assignments = self.assignments(j + 1, se, 0, Clause::Set);
        self.out.stmt = Stmt::Update { assignments };
        let end = self.clauses(se, n, 0);
        if end != n {
            self.fail(end, "unexpected text in UPDATE");
        }
    }

    /// `DELETE [LOW_PRIORITY] [QUICK] [IGNORE] ...` with `DELETE` at `i`.
    pub fn delete(&mut self, i: usize) {
        let n = self.t.len();
        self.out.blocks[0].kind = BlockKind::Delete;
        let mut j = i + 1;
        while matches!(self.kw(j), Some(Kw::LowPriority | Kw::Quick | Kw::Ignore)) {
            j += 1;
        }
        let multi;
        if self.is_kw(j, Kw::From) {
            let k = self.scan0(j + 1, n, |p, x| clause_word(p.kind(x)));
            if self.is_kw(k, Kw::Using) {
                // DELETE FROM t1, t2 USING tables ...
                multi = true;
                self.delete_targets(j + 1, k);
                j = self.table_refs(k + 1, n, 0, TableRole::From);
            } else {
                multi = false;
                j = self.table_refs(j + 1, n, 0, TableRole::DeleteTarget);
            }
        } else {
            // DELETE t1, t2 FROM tables ...
            multi = true;
            let k = self.scan0(j, n, |p, x| clause_word(p.kind(x)));
            if !self.is_kw(k, Kw::From) {
                return self.fail(k, "expected FROM");
            }
            self.delete_targets(j, k);
            j = self.table_refs(k + 1, n, 0, TableRole::From);
        }
        self.out.stmt = Stmt::Delete { multi };
        if self.failed() {
            return;
        }
        j = self.clauses(j, n, 0);
        if self.is_kw(j, Kw::Returning) && j + 1 < n {
            self.out.returning = true;
            self.scan(j + 1, n, 0, Clause::Other);
            j = n;
        }
        if j != n {
            self.fail(j, "unexpected text in DELETE");
        }
    }

    /// The target list `t1[.*], db.t2[.*], ...` over `i..e`.
    fn delete_targets(&mut self, i: usize, e: usize) {
        let mut j = i;
        while j < e {
            let star = |p: &Self, k: usize| p.is(k, TokenKind::Dot) && p.is_op(k + 1, Op::Star);
            let (schema, name, name_end) = if self.is_word(j) && star(self, j + 1) {
                (None, self.ident(j), j + 1)
            } else if self.is_word(j)
                && self.is(j + 1, TokenKind::Dot)
                && self.is_word(j + 2)
                && star(self, j + 3)
            {
                (Some(self.ident(j)), self.ident(j + 2), j + 3)
            } else if let Some((schema, name, next)) = self.table_name(j) {
                (schema, name, next)
            } else {
                return self.fail(j, "expected a table to delete from");
            };
            let range = self.span(j, name_end);
            self.push_table(range, schema, name, None, TableRole::DeleteTarget, 0);
            j = if star(self, name_end) {
                name_end + 2
            } else {
                name_end
            };
            match self.kind(j) {
                TokenKind::Comma if j + 1 < e => j += 1,
                _ if j == e => return,
                _ => return self.fail(j, "unexpected text in the DELETE target list"),
            }
        }
        if i >= e {
            self.fail(i, "empty DELETE target list");
        }
    }
}
