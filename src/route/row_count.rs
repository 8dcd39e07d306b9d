//! `ROW_COUNT()` and `FOUND_ROWS()`. The server answers them from the
//! connection it runs on, but the client's previous statement may have run
//! elsewhere: on another group (`SELECT ROW_COUNT()` goes to the default
//! group after an UPDATE on g1), on a replica, or on several shards at
//! once (the client got their affected rows summed, their rows merged).
//!
//! - `ROW_COUNT()`: shardgate keeps what the client was told (the OK's
//!   affected rows, -1 after a result set or an error, as
//!   `mysql_affected_rows()` says) and writes that number into the
//!   statement in place of each call.
//! - `FOUND_ROWS()` after a SELECT: the rows the client received, written
//!   in the same way; after `SELECT SQL_CALC_FOUND_ROWS ...` (one shard:
//!   over several it is refused) only the server knows the count without
//!   the LIMIT, so the statement goes to the node that ran it, whose
//!   connection the session kept ([`FoundRows::On`]).
//!
//! A select item without alias keeps the name one server gives it
//! (`` AS `ROW_COUNT()` ``). Prepared statements calling either function
//! are shardgate's own and always executed with their values written in
//! (`reactor::prepared`, `ProxyStmt::literal_only`), so the same applies.
//! As on one server, a prepare sets ROW_COUNT() to 0 and leaves
//! FOUND_ROWS() as it was.

use std::net::SocketAddr;
use std::ops::Range;

use crate::sql::lexer::{tokenize, Kw, LexOptions, TokenKind};
use crate::sql::parse::{self, BlockKind, Stmt};

/// What `FOUND_ROWS()` answers in a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FoundRows {
    /// Nothing known: the server answers.
    #[default]
    Unknown,
    /// The rows the last SELECT gave the client.
    Count(u64),
    /// The last SELECT used SQL_CALC_FOUND_ROWS on this node (group, node).
    On(String, SocketAddr),
}

/// `sql` with every `ROW_COUNT()` call replaced by `value`; `None` when
/// it calls none (the word inside a string or a comment is not a call).
pub fn with_row_count(sql: &[u8], opts: LexOptions, value: i64) -> Option<Vec<u8>> {
    with_value_of(sql, opts, Kw::RowCount, value)
}

/// `sql` with every `FOUND_ROWS()` call replaced by `value`.
pub fn with_found_rows(sql: &[u8], opts: LexOptions, value: u64) -> Option<Vec<u8>> {
    with_value_of(
        sql,
        opts,
        Kw::FoundRows,
        i64::try_from(value).unwrap_or(i64::MAX),
    )
}

fn with_value_of(sql: &[u8], opts: LexOptions, function: Kw, value: i64) -> Option<Vec<u8>> {
    let tokens = tokenize(sql, opts);
    let calls: Vec<Range<usize>> = tokens
        .windows(3)
        .filter(|w| {
            w[0].kind == TokenKind::Keyword(function)
                && w[1].kind == TokenKind::LParen
                && w[2].kind == TokenKind::RParen
        })
        .map(|w| w[0].start..w[2].end)
        .collect();
    if calls.is_empty() {
        return None;
    }
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = calls
        .iter()
        .map(|r| (r.clone(), format!("({value})").into_bytes()))
        .collect();
    let parsed = parse::parse_lexed(sql, opts, tokens);
    if matches!(parsed.stmt, Stmt::Select) && parsed.analysed() {
        let top = parsed.top();
        if top.kind != BlockKind::Union {
            for item in top.items.iter().filter(|i| i.alias.is_none()) {
                let inside =
                    |r: &Range<usize>| r.start >= item.expr.start && r.end <= item.expr.end;
                // (an alias is at most 256 characters)
                if calls.iter().any(inside) && item.expr.len() <= 250 {
                    edits.push((item.expr.end..item.expr.end, item.name_as_written(sql)));
                }
            }
        }
    }
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = Vec::with_capacity(sql.len() + 32);
    let mut pos = 0;
    for (r, text) in edits {
        out.extend_from_slice(&sql[pos..r.start]);
        out.extend_from_slice(&text);
        pos = r.end;
    }
    out.extend_from_slice(&sql[pos..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str, value: i64) -> Option<String> {
        with_row_count(sql.as_bytes(), LexOptions::default(), value)
            .map(|v| String::from_utf8(v).expect("utf-8"))
    }

    #[test]
    fn calls_become_the_value_and_items_keep_their_names() {
        assert_eq!(
            rewrite("SELECT ROW_COUNT()", 4).as_deref(),
            Some("SELECT (4) AS `ROW_COUNT()`")
        );
        assert_eq!(
            rewrite("select row_count ( ) + 1, row_count() AS n FROM t", -1).as_deref(),
            Some("select (-1) + 1 AS `row_count ( ) + 1`, (-1) AS n FROM t")
        );
        assert_eq!(
            rewrite("INSERT INTO log (n) VALUES (ROW_COUNT())", 2).as_deref(),
            Some("INSERT INTO log (n) VALUES ((2))")
        );
        assert_eq!(
            rewrite("SELECT 1 FROM t WHERE ROW_COUNT() > 0", 3).as_deref(),
            Some("SELECT 1 FROM t WHERE (3) > 0")
        );
        assert_eq!(
            with_found_rows(
                b"SELECT FOUND_ROWS() AS total, found_rows()",
                LexOptions::default(),
                42
            )
            .as_deref(),
            Some(&b"SELECT (42) AS total, (42) AS `found_rows()`"[..])
        );
        assert_eq!(
            with_found_rows(b"SELECT ROW_COUNT()", LexOptions::default(), 1),
            None
        );
        // Not calls: text, comments, other names.
        assert_eq!(rewrite("SELECT 'ROW_COUNT()' /* ROW_COUNT() */", 1), None);
        assert_eq!(rewrite("SELECT t.row_count FROM t", 1), None);
        assert_eq!(rewrite("SELECT ROW_COUNT(", 1), None);
    }
}
