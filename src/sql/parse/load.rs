//! `LOAD DATA [LOCAL] INFILE` and `LOAD XML`: the target table, the file
//! name, the text format (FIELDS / LINES / IGNORE n LINES with MariaDB's
//! defaults), the field list and the columns `SET` assigns — what the
//! planner needs to split a file's records over the shards of a table.
//!
//! <https://mariadb.com/kb/en/load-data-infile/>
//! <https://dev.mysql.com/doc/refman/8.0/en/load-data.html>

use super::common::P;
use super::types::*;
use crate::sql::lexer::{Kw, TokenKind};

impl<'a> P<'a> {
    /// `LOAD DATA|XML ...` with `LOAD` at `i`.
    pub fn load(&mut self, i: usize) {
        let n = self.t.len();
        let xml = match self.kw(i + 1) {
            Some(Kw::Data) => false,
            Some(Kw::Xml) => true,
            _ => return,
        };
        let mut j = i + 2;
        while self.is_kw(j, Kw::LowPriority) || self.word_is(j, b"concurrent") {
            j += 1;
        }
        let local = self.is_kw(j, Kw::Local);
        if local {
            j += 1;
        }
        if !self.is_kw(j, Kw::Infile) {
            return self.fail(j, "expected INFILE");
        }
        let Some(file) = self.string_at(j + 1) else {
            return self.fail(j + 1, "expected the file name");
        };
        j += 2;
        if matches!(self.kw(j), Some(Kw::Replace | Kw::Ignore)) {
            j += 1;
        }
        if !(self.is_kw(j, Kw::Into) && self.is_kw(j + 1, Kw::Table)) {
            return self.fail(j, "expected INTO TABLE");
        }
        j += 2;
        let Some((schema, name, next)) = self.table_name(j) else {
            return self.fail(j, "expected the table to load into");
        };
        let range = self.span(j, next);
        self.push_table(range, schema, name, None, TableRole::Load, 0);
        let mut load = LoadData {
            local,
            xml,
            file,
            charset: None,
            fields_terminated: b"\t".to_vec(),
            enclosed: Vec::new(),
            escaped: b"\\".to_vec(),
            lines_starting: Vec::new(),
            lines_terminated: b"\n".to_vec(),
            ignore_lines: None,
            columns: None,
            set_columns: Vec::new(),
        };
        j = next;
        if xml {
            // The XML format is not split by shardgate: the target table is
            // all the planner needs (to refuse it on a sharded table).
            self.out.stmt = Stmt::LoadData(Box::new(load));
            return;
        }
        if self.is_kw(j, Kw::Partition) {
            let Some(close) = self.close(j + 1) else {
                return self.fail(j, "expected the partition list");
            };
            j = close + 1;
        }
        let charset_at = if self.is_kw(j, Kw::Character) && self.is_kw(j + 1, Kw::Set) {
            Some(j + 2)
        } else if self.is_kw(j, Kw::Charset) {
            Some(j + 1)
        } else {
            None
        };
        if let Some(c) = charset_at {
            let name = match self.string_at(c) {
                Some(s) => s,
                None if self.is_word(c) => self.ident(c).name.to_vec(),
                None => return self.fail(c, "expected a character set name"),
            };
            load.charset = Some(name);
            j = c + 1;
        }
        if self.word_is(j, b"fields") || self.word_is(j, b"columns") {
            match self.format_clauses(j + 1, &mut load, false) {
                Some(next) => j = next,
                None => return,
            }
        }
        if self.word_is(j, b"lines") {
            match self.format_clauses(j + 1, &mut load, true) {
                Some(next) => j = next,
                None => return,
            }
        }
        if self.is_kw(j, Kw::Ignore) {
            let count = std::str::from_utf8(self.text(j + 1))
                .ok()
                .filter(|_| self.is(j + 1, TokenKind::Integer))
                .and_then(|t| t.parse::<u64>().ok());
            let unit = self.word_is(j + 2, b"lines") || self.word_is(j + 2, b"rows");
            let (Some(count), true) = (count, unit) else {
                return self.fail(j, "expected IGNORE n LINES");
            };
            load.ignore_lines = Some((count, self.span(j, j + 3)));
            j += 3;
        }
        if self.is(j, TokenKind::LParen) {
            let Some(close) = self.close(j) else {
                return self.fail(j, "unbalanced parenthesis");
            };
            let mut fields = Vec::new();
            let mut k = j + 1;
            while k < close {
                if self.is(k, TokenKind::UserVar) {
                    fields.push(None);
                    k += 1;
                } else {
                    let Some((col, next)) = self.column(k) else {
                        return self.fail(k, "expected a column or a user variable");
                    };
                    fields.push(Some(col.name));
                    k = next;
                }
                if self.is(k, TokenKind::Comma) {
                    k += 1;
                } else if k != close {
                    return self.fail(k, "expected , or )");
                }
            }
            load.columns = Some(fields);
            j = close + 1;
        }
        if self.is_kw(j, Kw::Set) {
            j += 1;
            loop {
                let Some((col, next)) = self.column(j) else {
                    return self.fail(j, "expected a column to set");
                };
                load.set_columns.push(col.name);
                let end = self.scan0(next, n, |p, k| p.is(k, TokenKind::Comma));
                if end >= n {
                    j = n;
                    break;
                }
                j = end + 1;
            }
        }
        if j < n && !self.is(j, TokenKind::Semicolon) {
            return self.fail(j, "unexpected text in LOAD DATA");
        }
        self.out.stmt = Stmt::LoadData(Box::new(load));
    }

    /// The `TERMINATED BY 's'`-style clauses of FIELDS (or, `lines`, of
    /// LINES) from `j`: the index after them; `None` after a failure.
    fn format_clauses(
        &mut self,
        mut j: usize,
        load: &mut LoadData<'a>,
        lines: bool,
    ) -> Option<usize> {
        loop {
            let slot = if lines && self.word_is(j, b"starting") {
                &mut load.lines_starting
            } else if lines && self.word_is(j, b"terminated") {
                &mut load.lines_terminated
            } else if lines {
                return Some(j);
            } else if self.word_is(j, b"terminated") {
                &mut load.fields_terminated
            } else if self.word_is(j, b"enclosed") {
                &mut load.enclosed
            } else if self.word_is(j, b"optionally") && self.word_is(j + 1, b"enclosed") {
                j += 1;
                &mut load.enclosed
            } else if self.word_is(j, b"escaped") {
                &mut load.escaped
            } else {
                return Some(j);
            };
            match (self.is_kw(j + 1, Kw::By), self.string_at(j + 2)) {
                (true, Some(s)) => *slot = s,
                _ => {
                    self.fail(j, "expected BY and a string");
                    return None;
                }
            }
            j += 3;
        }
    }

    /// The bytes of a string (or hex string) literal at `i`.
    fn string_at(&self, i: usize) -> Option<Vec<u8>> {
        match self.value(i) {
            Some((
                Value {
                    lit: Literal::Str { bytes, .. },
                    ..
                },
                next,
            )) if next == i + 1 => Some(bytes.into_owned()),
            Some((
                Value {
                    lit: Literal::Hex(bytes),
                    ..
                },
                _,
            )) => Some(bytes.into_owned()),
            _ => None,
        }
    }
}
