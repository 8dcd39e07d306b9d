//! The parser state and the pieces every statement parser shares: token
//! access over the first statement's tokens, names (`[schema.]table`,
//! `[[schema.]table.]column`), literals, clause extents, and the
//! `Unsupported` bookkeeping.
//!
//! The statement is lexed once into a `Vec<Token>` (hints, the trailing
//! `;` and anything after it left out); parsers are recursive descent over
//! token indices `i` with an exclusive limit `e` (the end of the enclosing
//! parenthesis or statement). Nothing here panics on any input: token
//! access past the end yields [`EOF`].
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/identifiers.html>
//! <https://dev.mysql.com/doc/refman/8.0/en/literals.html>

use std::borrow::Cow;
use std::ops::Range;

use super::types::*;
use crate::sql::lexer::{string_value, unquote_ident, Kw, LexOptions, Lexer, Op, Token, TokenKind};

/// The kind returned past the last token (`;` never appears in the token
/// vector, so it is unambiguous).
pub(super) const EOF: TokenKind = TokenKind::Semicolon;

/// Deepest parenthesis nesting analysed; deeper statements are unsupported
/// (bounds the recursion and the work on hostile input).
pub(super) const MAX_DEPTH: u32 = 48;

/// Parser state for one statement.
pub(super) struct P<'a> {
    pub sql: &'a [u8],
    pub opts: LexOptions,
    /// Significant tokens of the first statement.
    pub t: Vec<Token>,
    /// Ranges of the hint comments `/*+ ... */`.
    pub hints: Vec<Range<usize>>,
    pub out: Parsed<'a>,
    /// Names of the common table expressions seen so far, with their block.
    pub ctes: Vec<(Cow<'a, [u8]>, BlockId)>,
    /// Current recursion depth of query parsing.
    pub depth: u32,
}

impl<'a> P<'a> {
    /// Lexes the first statement of `sql`.
    pub fn new(sql: &'a [u8], opts: LexOptions) -> Self {
        P::from_tokens(sql, opts, Lexer::new(sql, opts))
    }

    /// The first statement of `sql`, whose tokens (all of them, in order,
    /// as the lexer gives them for `opts`) are `tokens`.
    pub fn from_tokens(
        sql: &'a [u8],
        opts: LexOptions,
        mut tokens: impl Iterator<Item = Token>,
    ) -> Self {
        let mut p = P {
            sql,
            opts,
            // Roughly one token per 4 bytes of SQL, bounded up front.
            t: Vec::with_capacity((sql.len() / 4 + 4).min(1024)),
            hints: Vec::new(),
            out: Parsed {
                stmt: Stmt::Other,
                tables: Vec::new(),
                blocks: Vec::new(),
                qualified: Vec::new(),
                params: Vec::new(),
                hint: None,
                info_schema: InfoSchema::default(),
                multi_statement: false,
                returning: false,
                unsupported: None,
            },
            ctes: Vec::new(),
            depth: 0,
        };
        let mut depth = 0u32;
        let mut too_deep = None;
        while let Some(t) = tokens.next() {
            match t.kind {
                TokenKind::Hint => {
                    p.hints.push(t.range());
                    continue;
                }
                TokenKind::Error(_) => {
                    p.fail_at(
                        t.start,
                        "the statement does not lex (unterminated string or comment)",
                    );
                    break;
                }
                TokenKind::Semicolon => {
                    p.out.multi_statement =
                        tokens.any(|t| !matches!(t.kind, TokenKind::Semicolon | TokenKind::Hint));
                    break;
                }
                TokenKind::Placeholder => p.out.params.push(t.start),
                TokenKind::LParen => {
                    depth += 1;
                    if depth > MAX_DEPTH && too_deep.is_none() {
                        too_deep = Some(t.start);
                    }
                }
                TokenKind::RParen => match depth.checked_sub(1) {
                    Some(d) => depth = d,
                    None => p.fail_at(t.start, "unbalanced parentheses"),
                },
                _ => {}
            }
            p.t.push(t);
        }
        if let Some(at) = too_deep {
            p.fail_at(at, "parentheses nested too deeply");
        }
        if depth > 0 {
            p.fail_at(sql.len(), "unbalanced parentheses");
        }
        p
    }

    // --- token access ------------------------------------------------------

    #[inline]
    pub fn kind(&self, i: usize) -> TokenKind {
        self.t.get(i).map_or(EOF, |t| t.kind)
    }

    #[inline]
    pub fn kw(&self, i: usize) -> Option<Kw> {
        self.t.get(i).and_then(Token::kw)
    }

    #[inline]
    pub fn is_kw(&self, i: usize, k: Kw) -> bool {
        self.kind(i) == TokenKind::Keyword(k)
    }

    #[inline]
    pub fn is(&self, i: usize, k: TokenKind) -> bool {
        self.kind(i) == k
    }

    #[inline]
    pub fn is_op(&self, i: usize, op: Op) -> bool {
        self.kind(i) == TokenKind::Op(op)
    }

    /// Token `i` is the unquoted word `w` (any case): for words that are
    /// not lexer keywords (`ROLLUP`, `FULL`, `SHARDGATE`, ...).
    pub fn word_is(&self, i: usize, w: &[u8]) -> bool {
        self.t.get(i).is_some_and(|t| {
            matches!(t.kind, TokenKind::Ident | TokenKind::Keyword(_))
                && t.text(self.sql).eq_ignore_ascii_case(w)
        })
    }

    /// Any name-like token: identifier, keyword or quoted identifier.
    #[inline]
    pub fn is_word(&self, i: usize) -> bool {
        self.t.get(i).is_some_and(Token::is_word)
    }

    /// A token that can be a column or table name: an identifier, a quoted
    /// identifier or a non-reserved keyword.
    #[inline]
    pub fn is_name(&self, i: usize) -> bool {
        match self.kind(i) {
            TokenKind::Ident | TokenKind::QuotedIdent => true,
            TokenKind::Keyword(k) => !reserved(k),
            _ => false,
        }
    }

    /// Byte offset where token `i` starts (the end of the SQL past the end).
    #[inline]
    pub fn start(&self, i: usize) -> usize {
        self.t.get(i).map_or(self.sql.len(), |t| t.start)
    }

    /// Byte offset where token `i` ends.
    #[inline]
    pub fn end(&self, i: usize) -> usize {
        self.t.get(i).map_or(self.sql.len(), |t| t.end)
    }

    /// The bytes covered by tokens `a..b` (empty at `a` when `b <= a`).
    #[inline]
    pub fn span(&self, a: usize, b: usize) -> Range<usize> {
        if b > a && b <= self.t.len() {
            self.start(a)..self.end(b - 1)
        } else {
            let s = self.start(a);
            s..s
        }
    }

    pub fn text(&self, i: usize) -> &'a [u8] {
        let sql = self.sql;
        self.t.get(i).map_or(&[][..], |t| t.text(sql))
    }

    pub fn ident(&self, i: usize) -> Ident<'a> {
        let sql = self.sql;
        let t = self.t.get(i).copied();
        Ident {
            range: t.map_or(0..0, |t| t.range()),
            name: t.map_or(Cow::Borrowed(&[][..]), |t| unquote_ident(t.text(sql))),
        }
    }

    /// Index of the `)` matching the `(` at `i`.
    pub fn close(&self, i: usize) -> Option<usize> {
        let mut depth = 0u32;
        for (j, t) in self.t.iter().enumerate().skip(i) {
            match t.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(j);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Records why the statement is not (fully) analysed; the first reason wins.
    pub fn fail(&mut self, i: usize, reason: &'static str) {
        let at = self.start(i);
        self.fail_at(at, reason);
    }

    pub fn fail_at(&mut self, at: usize, reason: &'static str) {
        if self.out.unsupported.is_none() {
            self.out.unsupported = Some(Unsupported { at, reason });
        }
    }

    pub fn failed(&self) -> bool {
        self.out.unsupported.is_some()
    }

    /// Index of the first token in `i..e` at parenthesis depth 0 for which
    /// `stop` holds, or where a `)` closes an enclosing parenthesis; `e` if none.
    pub fn scan0(&self, i: usize, e: usize, stop: impl Fn(&Self, usize) -> bool) -> usize {
        let mut depth = 0u32;
        let e = e.min(self.t.len());
        let mut j = i;
        while j < e {
            match self.kind(j) {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => match depth.checked_sub(1) {
                    Some(d) => depth = d,
                    None => return j,
                },
                _ if depth == 0 && stop(self, j) => return j,
                _ => {}
            }
            j += 1;
        }
        e
    }

    /// End of an expression clause starting at `i`: the next clause keyword
    /// at depth 0 (see [`clause_word`]), `,` if `comma`, or `e`.
    pub fn clause_end(&self, i: usize, e: usize, comma: bool) -> usize {
        self.scan0(i, e, |p, j| {
            clause_word(p.kind(j)) || (comma && p.is(j, TokenKind::Comma))
        })
    }

    // --- names -------------------------------------------------------------

    /// `[schema.]table` at `i`: (schema, name, next index).
    pub fn table_name(&self, i: usize) -> Option<(Option<Ident<'a>>, Ident<'a>, usize)> {
        if !self.is_name(i) {
            return None;
        }
        if self.is(i + 1, TokenKind::Dot) && self.is_word(i + 2) {
            if self.is(i + 3, TokenKind::Dot) {
                return None;
            }
            Some((Some(self.ident(i)), self.ident(i + 2), i + 3))
        } else if self.is(i + 1, TokenKind::Dot) {
            None
        } else {
            Some((None, self.ident(i), i + 1))
        }
    }

    /// `[[schema.]table.]column` at `i`, not followed by `(` (a function) or
    /// `.` (something longer).
    pub fn column(&self, i: usize) -> Option<(Column<'a>, usize)> {
        if !self.is_name(i) {
            return None;
        }
        let mut n = 1;
        while n < 3 && self.is(i + 2 * n - 1, TokenKind::Dot) && self.is_word(i + 2 * n) {
            n += 1;
        }
        let next = i + 2 * n - 1;
        if matches!(self.kind(next), TokenKind::LParen | TokenKind::Dot) {
            return None;
        }
        let part = |k: usize| self.ident(i + 2 * k);
        let (schema, table, name) = match n {
            1 => (None, None, part(0)),
            2 => (None, Some(part(0)), part(1)),
            _ => (Some(part(0)), Some(part(1)), part(2)),
        };
        Some((
            Column {
                range: self.start(i)..self.end(next - 1),
                schema,
                table,
                name,
            },
            next,
        ))
    }

    /// A bare alias after a table: an identifier that is not an index hint.
    pub fn table_alias_at(&self, i: usize) -> bool {
        matches!(self.kind(i), TokenKind::Ident | TokenKind::QuotedIdent)
            && !(self.word_is(i, b"force") && matches!(self.kw(i + 1), Some(Kw::Index | Kw::Key)))
    }

    /// `[AS] alias` at `i` (for tables and derived tables).
    pub fn opt_alias(&self, i: usize) -> (Option<Ident<'a>>, usize) {
        if self.is_kw(i, Kw::As) && self.is_word(i + 1) {
            (Some(self.ident(i + 1)), i + 2)
        } else if self.table_alias_at(i) {
            (Some(self.ident(i)), i + 1)
        } else {
            (None, i)
        }
    }

    /// `( name, name, ... )` at `i`: the names' tokens (qualified names keep
    /// their last part), and the index after `)`.
    pub fn name_list(&self, i: usize) -> Option<(Vec<Ident<'a>>, usize)> {
        if !self.is(i, TokenKind::LParen) {
            return None;
        }
        let close = self.close(i)?;
        let mut names = Vec::new();
        let mut j = i + 1;
        while j < close {
            let (col, next) = self.column(j)?;
            names.push(col.name);
            j = next;
            if self.is(j, TokenKind::Comma) {
                j += 1;
            } else if j != close {
                return None;
            }
        }
        Some((names, close + 1))
    }

    // --- literals ----------------------------------------------------------

    /// A literal or placeholder (with a leading sign for numbers) at `i`.
    pub fn value(&self, i: usize) -> Option<(Value<'a>, usize)> {
        use TokenKind as K;
        let sql = self.sql;
        let t = *self.t.get(i)?;
        let text = t.text(sql);
        let one = |lit| {
            Some((
                Value {
                    range: t.range(),
                    lit,
                },
                i + 1,
            ))
        };
        match t.kind {
            K::Op(op @ (Op::Minus | Op::Plus)) => {
                let n = *self.t.get(i + 1)?;
                let lit = number(n.kind, n.text(sql), op == Op::Minus)?;
                Some((
                    Value {
                        range: t.start..n.end,
                        lit,
                    },
                    i + 2,
                ))
            }
            K::Integer | K::Decimal | K::Float => one(number(t.kind, text, false)?),
            K::String => one(Literal::Str {
                bytes: string_value(text, self.opts),
                charset: None,
            }),
            K::Introducer => {
                let n = *self.t.get(i + 1)?;
                let ntext = n.text(sql);
                let lit = match n.kind {
                    K::String => Literal::Str {
                        bytes: string_value(ntext, self.opts),
                        charset: text.get(1..),
                    },
                    K::HexString => Literal::Hex(hex(ntext)?),
                    K::BitString => Literal::Bits(bits(ntext)),
                    _ => return None,
                };
                Some((
                    Value {
                        range: t.start..n.end,
                        lit,
                    },
                    i + 2,
                ))
            }
            K::HexString => one(Literal::Hex(hex(text)?)),
            K::BitString => one(Literal::Bits(bits(text))),
            K::Keyword(Kw::Null) => one(Literal::Null),
            K::Keyword(Kw::True) => one(Literal::Bool(true)),
            K::Keyword(Kw::False) => one(Literal::Bool(false)),
            K::Placeholder => {
                let ord = self.out.params.binary_search(&t.start).ok()?;
                one(Literal::Param(u32::try_from(ord).ok()?))
            }
            _ => None,
        }
    }

    /// A value filling exactly `i..e`.
    pub fn value_exact(&self, i: usize, e: usize) -> Option<Value<'a>> {
        match self.value(i) {
            Some((v, next)) if next == e => Some(v),
            _ => None,
        }
    }
}

/// Keywords that end an expression clause at depth 0.
pub(super) fn clause_word(k: TokenKind) -> bool {
    matches!(
        k,
        TokenKind::Keyword(
            Kw::From
                | Kw::Where
                | Kw::Group
                | Kw::Having
                | Kw::Window
                | Kw::Order
                | Kw::Limit
                | Kw::Procedure
                | Kw::Into
                | Kw::For
                | Kw::Lock
                | Kw::Union
                | Kw::Except
                | Kw::Intersect
                | Kw::On
                | Kw::Returning
                | Kw::Using
                | Kw::With
                | Kw::Set
        )
    )
}

/// MySQL reserved words among the lexer's keywords: never a bare name.
pub(super) fn reserved(k: Kw) -> bool {
    use Kw::*;
    matches!(
        k,
        All | Alter
            | Analyze
            | And
            | As
            | Asc
            | Between
            | By
            | Call
            | Case
            | Character
            | Check
            | Collate
            | Create
            | Cross
            | Database
            | Default
            | Delayed
            | Delete
            | Desc
            | Describe
            | Distinct
            | Div
            | Drop
            | Else
            | Except
            | Exists
            | Explain
            | False
            | For
            | From
            | Grant
            | Group
            | Having
            | HighPriority
            | Ignore
            | In
            | Index
            | Infile
            | Inner
            | Insert
            | Intersect
            | Interval
            | Into
            | Is
            | Join
            | Key
            | Kill
            | Lateral
            | Left
            | Like
            | Limit
            | Load
            | Lock
            | LowPriority
            | Mod
            | Natural
            | Not
            | NoWriteToBinlog
            | Null
            | On
            | Optimize
            | Or
            | Order
            | Outer
            | Outfile
            | Over
            | Partition
            | Procedure
            | Read
            | Recursive
            | Regexp
            | Release
            | Rename
            | Repair
            | Replace
            | Returning
            | Revoke
            | Right
            | Schema
            | Select
            | Set
            | Show
            | SqlCalcFoundRows
            | StraightJoin
            | Table
            | Then
            | To
            | Trigger
            | True
            | Union
            | Unlock
            | Update
            | Use
            | Using
            | Values
            | When
            | Where
            | Window
            | With
            | Write
            | Xor
    )
}

/// An unsigned number token, negated if `neg`.
fn number(kind: TokenKind, text: &[u8], neg: bool) -> Option<Literal<'_>> {
    match kind {
        TokenKind::Integer => {
            let mut v: u64 = 0;
            let mut fits = true;
            for &b in text {
                match v
                    .checked_mul(10)
                    .and_then(|x| x.checked_add(u64::from(b.wrapping_sub(b'0'))))
                {
                    Some(x) => v = x,
                    None => {
                        fits = false;
                        break;
                    }
                }
            }
            Some(match (fits, neg) {
                (true, false) => match i64::try_from(v) {
                    Ok(v) => Literal::Int(v),
                    Err(_) => Literal::UInt(v),
                },
                (true, true) if v <= 1 << 63 => Literal::Int((v as i64).wrapping_neg()),
                _ => Literal::Decimal { neg, digits: text },
            })
        }
        TokenKind::Decimal => Some(Literal::Decimal { neg, digits: text }),
        TokenKind::Float => Some(Literal::Float { neg, text }),
        _ => None,
    }
}

/// Decodes `X'4142'` / `0x4142` to bytes (`0x` with an odd digit count
/// gets a leading zero, as MySQL does; `X''` must be even).
fn hex(text: &[u8]) -> Option<Cow<'_, [u8]>> {
    let digits = match text {
        [b'0', b'x', rest @ ..] => rest,
        [b'x' | b'X', b'\'', rest @ ..] => {
            let d = rest.strip_suffix(b"'")?;
            if d.len() % 2 != 0 {
                return None;
            }
            d
        }
        _ => return None,
    };
    let nib = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(digits.len().div_ceil(2));
    let mut iter = digits.iter();
    if digits.len() % 2 == 1 {
        out.push(nib(*iter.next()?)?);
    }
    while let (Some(&h), Some(&l)) = (iter.next(), iter.next()) {
        out.push(nib(h)? << 4 | nib(l)?);
    }
    Some(Cow::Owned(out))
}

/// The digits of `b'0101'` / `0b0101`.
fn bits(text: &[u8]) -> &[u8] {
    match text {
        [b'0', b'b', rest @ ..] => rest,
        [b'b' | b'B', b'\'', rest @ ..] => rest.strip_suffix(b"'").unwrap_or(rest),
        _ => text,
    }
}
