//! INSERT and REPLACE: the target, the column list, VALUES rows (each row's
//! and each value's byte range, so the planner can split rows per shard),
//! the `SET col = v` form, `INSERT ... SELECT`, the MySQL 8 row alias,
//! `ON DUPLICATE KEY UPDATE` and MariaDB `RETURNING`.
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/insert.html>
//! <https://dev.mysql.com/doc/refman/8.0/en/replace.html>
//! <https://mariadb.com/kb/en/insert/>

use super::common::P;
use super::types::*;
use crate::sql::lexer::{Kw, TokenKind};

impl<'a> P<'a> {
    /// `INSERT|REPLACE ...` with the verb at `i`.
    pub fn insert(&mut self, i: usize) {
        let n = self.t.len();
        let replace = self.is_kw(i, Kw::Replace);
        self.out.blocks[0].kind = BlockKind::Insert;
        let mut j = i + 1;
        let mut ignore = false;
        loop {
            match self.kw(j) {
                Some(Kw::LowPriority | Kw::Delayed | Kw::HighPriority) => {}
                Some(Kw::Ignore) => ignore = true,
                _ => break,
            }
            j += 1;
        }
        if self.is_kw(j, Kw::Into) {
            j += 1;
        }
        let Some((schema, name, next)) = self.table_name(j) else {
            self.fail(j, "expected the table to insert into");
            return;
        };
        let range = self.span(j, next);
        let table = self.push_table(range, schema, name, None, TableRole::InsertTarget, 0);
        self.out.blocks[0].from.push(FromItem {
            join: JoinKind::First,
            source: Source::Table(table),
            on: None,
            on_range: None,
            using: Vec::new(),
        });
        j = next;
        if self.is_kw(j, Kw::Partition) && self.is(j + 1, TokenKind::LParen) {
            match self.close(j + 1) {
                Some(c) => j = c + 1,
                None => return self.fail(j, "unbalanced parentheses"),
            }
        }
        let mut ins = Insert {
            replace,
            ignore,
            table,
            columns: None,
            source: InsertSource::Values,
            rows: Vec::new(),
            values: Vec::new(),
            rows_range: None,
            set: Vec::new(),
            row_alias: None,
            on_duplicate: None,
            returning: None,
        };
        if self.is(j, TokenKind::LParen) && !self.starts_query(j) {
            match self.name_list(j) {
                Some((names, next)) => {
                    ins.columns = Some((self.span(j, next), names));
                    j = next;
                }
                None => return self.fail(j, "bad INSERT column list"),
            }
        }
        match self.kind(j) {
            TokenKind::Keyword(Kw::Values | Kw::Value) => j = self.rows(j + 1, &mut ins),
            TokenKind::Keyword(Kw::Set) => {
                let se = self.scan0(j + 1, n, |p, x| {
                    matches!(p.kw(x), Some(Kw::On | Kw::Returning | Kw::As))
                });
                ins.source = InsertSource::Set;
                ins.set = self.assignments(j + 1, se, 0, Clause::Set);
                j = se;
            }
            TokenKind::Keyword(Kw::Select | Kw::With | Kw::Table) | TokenKind::LParen => {
                let id = self.out.blocks.len();
                self.out
                    .blocks
                    .push(Block::new(BlockKind::Select, Place::InsertSource, Some(0)));
                ins.source = InsertSource::Select(id);
                j = self.query_expr(j, n, id);
            }
            _ => return self.fail(j, "expected VALUES, SET or SELECT"),
        }
        if self.failed() {
            self.out.stmt = Stmt::Insert(Box::new(ins));
            return;
        }
        if self.is_kw(j, Kw::As) && self.is_word(j + 1) {
            ins.row_alias = Some(self.ident(j + 1));
            j += 2;
            if self.is(j, TokenKind::LParen) {
                match self.name_list(j) {
                    Some((_, next)) => j = next,
                    None => self.fail(j, "bad row alias column list"),
                }
            }
        }
        if self.is_kw(j, Kw::On)
            && self.is_kw(j + 1, Kw::Duplicate)
            && self.is_kw(j + 2, Kw::Key)
            && self.is_kw(j + 3, Kw::Update)
        {
            let de = self.scan0(j + 4, n, |p, x| p.is_kw(x, Kw::Returning));
            let assignments = self.assignments(j + 4, de, 0, Clause::OnDuplicate);
            ins.on_duplicate = Some(OnDuplicate {
                range: self.span(j, de),
                assignments,
            });
            j = de;
        }
        if self.is_kw(j, Kw::Returning) && j + 1 < n {
            ins.returning = Some(self.span(j + 1, n));
            self.out.returning = true;
            self.scan(j + 1, n, 0, Clause::Other);
            j = n;
        }
        if j != n {
            self.fail(j, "unexpected text after INSERT");
        }
        self.out.stmt = Stmt::Insert(Box::new(ins));
    }

    /// `[ROW](v, ...), ...` from `i`; returns the index after the last row.
    fn rows(&mut self, i: usize, ins: &mut Insert<'a>) -> usize {
        let mut k = i;
        loop {
            let row_start = k;
            if self.is_kw(k, Kw::Row) {
                k += 1;
            }
            let Some(close) = self.close(k).filter(|_| self.is(k, TokenKind::LParen)) else {
                self.fail(k, "expected a VALUES row");
                return self.t.len();
            };
            let first = ins.values.len();
            let mut v = k + 1;
            while v < close {
                let x = self.scan0(v, close, |p, y| p.is(y, TokenKind::Comma));
                if x == v {
                    self.fail(v, "empty value in a VALUES row");
                    return self.t.len();
                }
                let value = self.operand(v, x, 0, Clause::Values);
                ins.values.push(InsertValue {
                    range: self.span(v, x),
                    value,
                });
                v = x + 1;
                if x + 1 == close {
                    self.fail(x, "empty value in a VALUES row");
                    return self.t.len();
                }
            }
            ins.rows.push(Row {
                range: self.span(row_start, close + 1),
                values: first..ins.values.len(),
            });
            k = close + 1;
            if self.is(k, TokenKind::Comma) {
                k += 1;
            } else {
                break;
            }
        }
        if let (Some(a), Some(b)) = (ins.rows.first(), ins.rows.last()) {
            ins.rows_range = Some(a.range.start..b.range.end);
        }
        let width = match &ins.columns {
            Some((_, cols)) => cols.len(),
            None => ins.rows.first().map_or(0, |r| r.values.len()),
        };
        if let Some(r) = ins.rows.iter().find(|r| r.values.len() != width) {
            let at = r.range.start;
            self.fail_at(at, "a VALUES row does not have one value per column");
        }
        k
    }
}
