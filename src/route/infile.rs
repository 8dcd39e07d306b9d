//! The records of a `LOAD DATA` file as MariaDB reads them (its
//! `READ_INFO` in `sql_load.cc`): field and line terminators of any length,
//! an ENCLOSED BY character (doubled inside a field for itself; terminators
//! inside an enclosed field do not end it), an ESCAPED BY character (`\N`
//! is NULL, `\n` `\t` `\r` `\b` `\0` `\Z` decoded, any other byte taken as
//! itself), `LINES STARTING BY` (text before the prefix is skipped, the
//! prefix searched across lines as the server does), and `IGNORE n LINES`.
//!
//! shardgate splits a file over shards record by record: each record's
//! bytes go unchanged to the shard its key field maps to, so the servers
//! read the same records the one server would have read. For that the
//! reader must cut records exactly where the server does, including its
//! quirks: a record reads as many fields as the statement's field list
//! has, then the rest of the line is skipped escape-aware but not
//! enclosure-aware (`next_line`); a line terminator equal to the field
//! terminator is ignored (the whole file is then one record).
//!
//! Multi-byte character sets other than UTF-8 (where a trail byte could
//! equal a terminator's byte) are not handled: the planner refuses them.

use std::ops::Range;

/// How a file's text is cut into records and fields.
#[derive(Clone, Debug)]
pub struct Format<'f> {
    pub field_term: &'f [u8],
    /// Empty: no line terminator (also when equal to `field_term`).
    pub line_term: &'f [u8],
    pub line_start: &'f [u8],
    pub enclosed: Option<u8>,
    pub escape: Option<u8>,
}

impl<'f> Format<'f> {
    /// The format of `FIELDS TERMINATED BY field_term ENCLOSED BY
    /// enclosed ESCAPED BY escaped LINES STARTING BY line_start
    /// TERMINATED BY line_term` (only the first byte of ENCLOSED/ESCAPED
    /// counts, as on the server).
    pub fn new(
        field_term: &'f [u8],
        enclosed: &'f [u8],
        escaped: &'f [u8],
        line_start: &'f [u8],
        line_term: &'f [u8],
    ) -> Format<'f> {
        let line_term = if line_term == field_term {
            &[][..]
        } else {
            line_term
        };
        Format {
            field_term,
            line_term,
            line_start,
            enclosed: enclosed.first().copied(),
            escape: escaped.first().copied(),
        }
    }

    /// FIELDS TERMINATED BY '' ENCLOSED BY '': the fixed-width format,
    /// which depends on the columns' display widths.
    pub fn is_fixed_width(&self) -> bool {
        self.field_term.is_empty() && self.enclosed.is_none()
    }
}

/// A field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Null,
    Value(Vec<u8>),
}

/// One record: the bytes to forward (the prefix and line terminator
/// included) and the value of the wanted field, `None` when the record
/// has fewer fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub bytes: Range<usize>,
    pub field: Option<Field>,
}

/// Reads records from a whole file.
pub struct Reader<'d, 'f> {
    data: &'d [u8],
    fmt: Format<'f>,
    pos: usize,
    eof: bool,
    end_of_line: bool,
}

impl<'d, 'f> Reader<'d, 'f> {
    pub fn new(data: &'d [u8], fmt: Format<'f>) -> Reader<'d, 'f> {
        Reader {
            data,
            fmt,
            pos: 0,
            eof: data.is_empty(),
            end_of_line: false,
        }
    }

    fn get(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        if b.is_some() {
            self.pos += 1;
        }
        b
    }

    /// The terminator `term` starts at `pos - 1` (its first byte was just
    /// read): consumes the rest of it. False (nothing consumed) otherwise.
    fn rest_of(&mut self, term: &[u8]) -> bool {
        let rest = term.get(1..).unwrap_or_default();
        if self.data[self.pos..].starts_with(rest) {
            self.pos += rest.len();
            true
        } else {
            false
        }
    }

    fn is_first_of(b: u8, term: &[u8]) -> bool {
        term.first() == Some(&b)
    }

    /// Skips `n` lines (`IGNORE n LINES`) as the server does before the
    /// first record; nothing when there is no line terminator.
    pub fn skip_lines(&mut self, n: u64) {
        if self.fmt.line_term.is_empty() {
            return;
        }
        for _ in 0..n {
            if self.next_line() {
                break;
            }
        }
    }

    /// The server's `next_line`: to the end of the current line. True at
    /// the end of the file.
    fn next_line(&mut self) -> bool {
        if self.end_of_line || self.eof {
            self.end_of_line = false;
            return self.eof;
        }
        loop {
            let Some(b) = self.get() else {
                self.eof = true;
                return true;
            };
            if Some(b) == self.fmt.escape {
                if self.get().is_none() {
                    self.eof = true;
                    return true;
                }
                continue;
            }
            if Self::is_first_of(b, self.fmt.line_term) && self.rest_of(self.fmt.line_term) {
                return false;
            }
        }
    }

    /// The next record of a statement whose field list has `fields` items,
    /// with the value of item `want`; `None` at the end of the file.
    pub fn next_record(&mut self, fields: usize, want: usize) -> Option<Record> {
        if self.eof {
            return None;
        }
        let start = if self.fmt.line_start.is_empty() {
            self.pos
        } else {
            let prefix = self.fmt.line_start;
            let found = self.data[self.pos..]
                .windows(prefix.len())
                .position(|w| w == prefix)?;
            let at = self.pos + found;
            self.pos = at + prefix.len();
            at
        };
        let mut field = None;
        for i in 0..fields.max(1) {
            let Some(value) = self.read_field(i == want) else {
                if i == 0 {
                    // Nothing read at all: the file ends here.
                    self.eof = true;
                    return None;
                }
                break;
            };
            if i == want {
                field = Some(value);
            }
        }
        self.next_line();
        Some(Record {
            bytes: start..self.pos,
            field,
        })
    }

    /// The server's `read_field`: `None` when the line (or file) has no
    /// more fields.
    fn read_field(&mut self, keep: bool) -> Option<Field> {
        if self.end_of_line {
            return None;
        }
        let Some(first) = self.get() else {
            self.end_of_line = true;
            self.eof = true;
            return None;
        };
        let Format {
            field_term,
            line_term,
            enclosed,
            escape,
            ..
        } = self.fmt.clone();
        // The field's bytes are kept only when wanted.
        let mut data = Data {
            bytes: Vec::new(),
            keep,
        };
        let mut found_null = false;
        let quoted = Some(first) == enclosed;
        if quoted {
            data.push(first);
        } else {
            self.pos -= 1;
        }
        // (value, enclosed and closed)
        let finish = |data: Data, closed: bool, found_null: bool| {
            let mut value = data.bytes;
            if closed && !value.is_empty() {
                value.remove(0);
            }
            let null = (!closed && enclosed.is_some() && value == b"NULL")
                || (value.len() == 1 && found_null);
            if null {
                Field::Null
            } else {
                Field::Value(value)
            }
        };
        loop {
            let Some(b) = self.get() else {
                self.end_of_line = true;
                self.eof = true;
                return Some(finish(data, false, found_null));
            };
            if Some(b) == escape {
                let Some(next) = self.get() else {
                    data.push(b);
                    self.end_of_line = true;
                    self.eof = true;
                    return Some(finish(data, false, found_null));
                };
                if escape != enclosed || Some(next) == escape {
                    let decoded = match next {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'b' => 0x08,
                        b'0' => 0,
                        b'Z' => 0x1a,
                        b'N' => {
                            found_null = true;
                            b'N'
                        }
                        other => other,
                    };
                    data.push(decoded);
                    continue;
                }
                // ESCAPED BY = ENCLOSED BY: the escape is the quote (the
                // byte after it is read again).
                self.pos -= 1;
            }
            if !quoted && Self::is_first_of(b, line_term) && self.rest_of(line_term) {
                self.end_of_line = true;
                return Some(finish(data, false, found_null));
            }
            if quoted && Some(b) == enclosed {
                match self.get() {
                    Some(n) if Some(n) == enclosed => {
                        data.push(n);
                        continue;
                    }
                    None => {
                        self.end_of_line = true;
                        self.eof = true;
                        return Some(finish(data, true, found_null));
                    }
                    Some(n) if Self::is_first_of(n, line_term) && self.rest_of(line_term) => {
                        self.end_of_line = true;
                        return Some(finish(data, true, found_null));
                    }
                    Some(n) if Self::is_first_of(n, field_term) && self.rest_of(field_term) => {
                        return Some(finish(data, true, found_null));
                    }
                    Some(_) => {
                        // Not the end: the quote is a plain byte.
                        self.pos -= 1;
                    }
                }
            } else if !quoted && Self::is_first_of(b, field_term) && self.rest_of(field_term) {
                return Some(finish(data, false, found_null));
            }
            data.push(b);
        }
    }
}

/// A field's bytes while it is read (dropped when not wanted).
struct Data {
    bytes: Vec<u8>,
    keep: bool,
}

impl Data {
    fn push(&mut self, b: u8) {
        if self.keep {
            self.bytes.push(b);
        }
    }
}

#[cfg(test)]
mod tests;
