//! Select items that compute over aggregates (`SUM(a) / COUNT(*)`,
//! `ROUND(AVG(price), 2)`, `IFNULL(SUM(x), 0)`, `COUNT(*) > 0`) in a
//! statement over several shards: each aggregate becomes a hidden column
//! the merger folds, and the item becomes a [`merge::Expr`] the merger
//! evaluates over the merged values (`merge::expr`). The shards still
//! compute the item on their own rows, so its column definition is the
//! one MariaDB gives it.
//!
//! Understood: numbers, NULL, TRUE/FALSE, `+ - * / DIV % MOD`, unary `-`,
//! comparisons, AND/OR/NOT, IS [NOT] NULL, [NOT] BETWEEN, parentheses,
//! CASE, IF, IFNULL, COALESCE, NULLIF, GREATEST, LEAST, ROUND, TRUNCATE,
//! FLOOR, CEIL and ABS, over COUNT / SUM / MIN / MAX / AVG (not DISTINCT)
//! and columns (select-list aliases in HAVING). Anything else
//! (a column outside an aggregate, a string, another function) is refused
//! with the reason.

use std::ops::Range;

use crate::merge::{self, Aggregate, CmpOp, Expr, ExprOp, Num};
use crate::sql::lexer::{Op, Token, TokenKind};
use crate::sql::parse::{self, AggFunc, ItemKind};

use super::{agg_name, arg_text, simple_agg, Builder, Col};

/// An item's expression with its leaves as indices into `cols`.
pub(super) struct PlannedExpr {
    pub expr: Expr,
    pub cols: Vec<Col>,
    /// The expression as the shards can compute it (for its column
    /// definition): select-list aliases replaced by their items.
    pub shard_text: Vec<u8>,
}

impl PlannedExpr {
    /// The expression over the final column indices.
    pub fn resolve(mut self, f: &dyn Fn(Col) -> usize) -> Expr {
        let cols = self.cols;
        self.expr.map_columns(&|k| f(cols[k]));
        self.expr
    }
}

/// Where an expression is written: a select item (and an ORDER BY
/// expression) reads table columns; HAVING reads the select list's
/// aliases first.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Item,
    Clause,
}

/// Plans the expression `sql[range]` written at `place`.
pub(super) fn plan(
    b: &mut Builder<'_, '_>,
    range: Range<usize>,
    place: Place,
    aggs: &mut Vec<(Col, Aggregate)>,
) -> Result<PlannedExpr, String> {
    let sql = b.sql;
    let text = sql.get(range.clone()).unwrap_or_default();
    let tokens = crate::sql::lexer::tokenize(text, crate::sql::LexOptions::default());
    let mut p = ExprParser {
        text,
        tokens: &tokens,
        pos: 0,
        b,
        aggs,
        cols: Vec::new(),
        place,
        aliases: Vec::new(),
        depth: 0,
    };
    let expr = p.disjunction()?;
    if p.pos != tokens.len() {
        return Err(p.unsupported("what follows"));
    }
    if string_misplaced(&expr, true) {
        return Err(p.unsupported("a string outside a result of CASE, IF, IFNULL or COALESCE"));
    }
    let mut shard_text = Vec::with_capacity(text.len());
    let mut at = 0;
    for (r, item) in &p.aliases {
        shard_text.extend_from_slice(&text[at..r.start]);
        shard_text.push(b'(');
        shard_text.extend_from_slice(item);
        shard_text.push(b')');
        at = r.end;
    }
    shard_text.extend_from_slice(&text[at..]);
    Ok(PlannedExpr {
        expr,
        cols: p.cols,
        shard_text,
    })
}

struct ExprParser<'t, 'b, 'p, 'a> {
    text: &'t [u8],
    tokens: &'t [Token],
    pos: usize,
    b: &'b mut Builder<'p, 'a>,
    aggs: &'b mut Vec<(Col, Aggregate)>,
    cols: Vec<Col>,
    place: Place,
    /// Aliases read (their range in the text) and their items' text.
    aliases: Vec<(Range<usize>, Vec<u8>)>,
    /// How deeply the parser has recursed (bounded: a client's nesting
    /// must not exhaust a worker's stack).
    depth: usize,
}

/// Most nesting levels (parentheses, calls, unary operators) of an
/// expression over aggregates.
const MAX_DEPTH: usize = 64;

impl ExprParser<'_, '_, '_, '_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn word_is(&self, t: &Token, w: &[u8]) -> bool {
        matches!(t.kind, TokenKind::Ident | TokenKind::Keyword(_))
            && t.text(self.text).eq_ignore_ascii_case(w)
    }

    fn unsupported(&self, what: &str) -> String {
        format!(
            "shardgate: `{}` cannot be computed across shards ({what} is not understood); over \
             several shards shardgate computes numbers, + - * / DIV % MOD, comparisons, CASE, IF, \
             IFNULL, COALESCE, NULLIF, GREATEST, LEAST, ROUND, TRUNCATE, FLOOR, CEIL and ABS of \
             COUNT, SUM, MIN, MAX and AVG",
            shortened(self.text)
        )
    }

    fn near(&self) -> String {
        match self.peek() {
            Some(t) => format!("`{}`", shortened(t.text(self.text))),
            None => "the end".into(),
        }
    }

    fn expect(&mut self, kind: TokenKind) -> Result<(), String> {
        match self.peek() {
            Some(t) if t.kind == kind => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.unsupported(&self.near())),
        }
    }

    fn at_word(&self, w: &[u8]) -> bool {
        self.peek().is_some_and(|t| self.word_is(t, w))
    }

    /// One more level of recursion, refused past [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, String>) -> Result<T, String> {
        if self.depth >= MAX_DEPTH {
            return Err(self.unsupported(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn disjunction(&mut self) -> Result<Expr, String> {
        self.nested(Self::disjunction_inner)
    }

    fn disjunction_inner(&mut self) -> Result<Expr, String> {
        let mut left = self.conjunction()?;
        while self.at_word(b"or") || self.peek().map(|t| t.kind) == Some(TokenKind::Op(Op::OrOr)) {
            self.pos += 1;
            let right = self.conjunction()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Expr, String> {
        let mut left = self.negation()?;
        while self.at_word(b"and") || self.peek().map(|t| t.kind) == Some(TokenKind::Op(Op::AndAnd))
        {
            self.pos += 1;
            let right = self.negation()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn negation(&mut self) -> Result<Expr, String> {
        if self.at_word(b"not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.nested(Self::negation)?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let left = self.additive()?;
        // `x IS [NOT] NULL`, `x [NOT] BETWEEN a AND b`
        if self.at_word(b"is") {
            self.pos += 1;
            let negated = self.at_word(b"not");
            if negated {
                self.pos += 1;
            }
            if !self.at_word(b"null") {
                return Err(self.unsupported(&format!("IS {}", self.near())));
            }
            self.pos += 1;
            return Ok(Expr::IsNull {
                arg: Box::new(left),
                negated,
            });
        }
        let not_between = self.at_word(b"not")
            && self
                .tokens
                .get(self.pos + 1)
                .is_some_and(|t| self.word_is(t, b"between"));
        if not_between || self.at_word(b"between") {
            self.pos += 1 + usize::from(not_between);
            let low = self.additive()?;
            if !self.at_word(b"and") {
                return Err(self.unsupported(&format!("BETWEEN without AND near {}", self.near())));
            }
            self.pos += 1;
            let high = self.additive()?;
            let within = Expr::And(
                Box::new(Expr::Cmp(CmpOp::Ge, Box::new(left.clone()), Box::new(low))),
                Box::new(Expr::Cmp(CmpOp::Le, Box::new(left), Box::new(high))),
            );
            return Ok(if not_between {
                Expr::Not(Box::new(within))
            } else {
                within
            });
        }
        let op = match self.peek().map(|t| t.kind) {
            Some(TokenKind::Op(Op::Eq)) => Some(CmpOp::Eq),
            Some(TokenKind::Op(Op::NullSafeEq)) => None,
            Some(TokenKind::Op(Op::Ne)) => Some(CmpOp::Ne),
            Some(TokenKind::Op(Op::Lt)) => Some(CmpOp::Lt),
            Some(TokenKind::Op(Op::Le)) => Some(CmpOp::Le),
            Some(TokenKind::Op(Op::Gt)) => Some(CmpOp::Gt),
            Some(TokenKind::Op(Op::Ge)) => Some(CmpOp::Ge),
            _ => return Ok(left),
        };
        self.pos += 1;
        let (left, right) = (Box::new(left), Box::new(self.additive()?));
        Ok(match op {
            Some(op) => Expr::Cmp(op, left, right),
            None => Expr::NullSafeEq(left, right),
        })
    }

    fn additive(&mut self) -> Result<Expr, String> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek().map(|t| t.kind) {
                Some(TokenKind::Op(Op::Plus)) => ExprOp::Add,
                Some(TokenKind::Op(Op::Minus)) => ExprOp::Sub,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.multiplicative()?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            let Some(t) = self.peek().copied() else {
                return Ok(left);
            };
            let op = match t.kind {
                TokenKind::Op(Op::Star) => ExprOp::Mul,
                TokenKind::Op(Op::Slash) => ExprOp::Div,
                TokenKind::Op(Op::Percent) => ExprOp::Mod,
                _ if self.word_is(&t, b"div") => ExprOp::IntDiv,
                _ if self.word_is(&t, b"mod") => ExprOp::Mod,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.peek().map(|t| t.kind) {
            Some(TokenKind::Op(Op::Minus)) => {
                self.pos += 1;
                Ok(match self.nested(Self::unary)? {
                    Expr::Const(Some(Num::Int(i))) => Expr::Const(Some(Num::Int(-i))),
                    e => Expr::Neg(Box::new(e)),
                })
            }
            Some(TokenKind::Op(Op::Plus)) => {
                self.pos += 1;
                self.nested(Self::unary)
            }
            Some(TokenKind::Op(Op::Bang)) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.nested(Self::unary)?)))
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(t) = self.peek().copied() else {
            return Err(self.unsupported("the end"));
        };
        let word = t.text(self.text);
        let call = matches!(
            self.tokens.get(self.pos + 1).map(|n| n.kind),
            Some(TokenKind::LParen)
        );
        match t.kind {
            // A float literal; the server reads one of more than 65 digits
            // as a DOUBLE too.
            TokenKind::Float => self.double(word),
            TokenKind::Integer | TokenKind::Decimal if word.len() > 66 => self.double(word),
            TokenKind::Integer => {
                self.pos += 1;
                let digits = std::str::from_utf8(word).unwrap_or_default();
                Ok(Expr::Const(Some(match digits.parse::<u64>() {
                    Ok(v) => Num::Int(i128::from(v)),
                    Err(_) => {
                        let d = merge::Decimal::parse(word)
                            .ok_or_else(|| self.unsupported("a number"))?;
                        Num::exact(d, 0)
                    }
                })))
            }
            TokenKind::Decimal => {
                self.pos += 1;
                let d = merge::Decimal::parse(word).ok_or_else(|| self.unsupported("a number"))?;
                let scale = word
                    .iter()
                    .position(|&c| c == b'.')
                    .map_or(0, |p| word.len() - p - 1);
                Ok(Expr::Const(Some(Num::exact(d, scale as u32))))
            }
            TokenKind::LParen => {
                if let Some(n) = self.tokens.get(self.pos + 1) {
                    if self.word_is(n, b"select") || self.word_is(n, b"with") {
                        return Err(self.unsupported("a subquery"));
                    }
                }
                self.pos += 1;
                let e = self.disjunction()?;
                self.expect(TokenKind::RParen)?;
                Ok(e)
            }
            _ if !call && self.word_is(&t, b"null") => {
                self.pos += 1;
                Ok(Expr::Const(None))
            }
            _ if !call && (self.word_is(&t, b"true") || self.word_is(&t, b"false")) => {
                self.pos += 1;
                Ok(Expr::Const(Some(Num::Int(i128::from(
                    word.eq_ignore_ascii_case(b"true"),
                )))))
            }
            _ if !call && self.word_is(&t, b"case") => self.case(),
            TokenKind::Ident | TokenKind::Keyword(_) if call => self.call(t),
            TokenKind::Ident | TokenKind::Keyword(_) | TokenKind::QuotedIdent => self.name(),
            TokenKind::Placeholder => Err(self.unsupported("a `?` parameter")),
            // A string literal: a result of CASE / IF / IFNULL / COALESCE
            // (the merger refuses to compute with it).
            TokenKind::String => {
                self.pos += 1;
                let v = crate::sql::lexer::string_value(word, crate::sql::LexOptions::default());
                Ok(Expr::Const(Some(Num::Str(v.into_owned()))))
            }
            TokenKind::Introducer => {
                Err(self.unsupported("a string with a character set introducer"))
            }
            _ => Err(self.unsupported(&self.near())),
        }
    }

    /// The number `word` (the current token) as a DOUBLE constant.
    fn double(&mut self, word: &[u8]) -> Result<Expr, String> {
        self.pos += 1;
        let f = std::str::from_utf8(word)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| self.unsupported("a number"))?;
        Ok(Expr::Const(Some(Num::Dbl(f))))
    }

    /// `name(` at the current token.
    fn call(&mut self, name: Token) -> Result<Expr, String> {
        let word = name.text(self.text);
        if parse::is_aggregate_name(word) {
            return self.aggregate(name);
        }
        let upper = word.to_ascii_uppercase();
        self.pos += 2; // name (
        let mut args = vec![self.disjunction()?];
        while self.peek().map(|t| t.kind) == Some(TokenKind::Comma) {
            self.pos += 1;
            args.push(self.disjunction()?);
        }
        self.expect(TokenKind::RParen)?;
        let n = args.len();
        let mut args = args.into_iter();
        let mut next = || args.next().unwrap_or(Expr::Const(None));
        match (upper.as_slice(), n) {
            (b"IFNULL", 2) | (b"COALESCE", 1..) => {
                Ok(Expr::Coalesce((0..n).map(|_| next()).collect()))
            }
            (b"NULLIF", 2) => Ok(Expr::NullIf(Box::new(next()), Box::new(next()))),
            (b"IF", 3) => Ok(Expr::Case {
                arms: vec![(next(), next())],
                default: Some(Box::new(next())),
            }),
            (b"GREATEST" | b"LEAST", 2..) => Ok(Expr::Extreme {
                args: (0..n).map(|_| next()).collect(),
                greatest: upper == b"GREATEST",
            }),
            (b"FLOOR" | b"CEIL" | b"CEILING", 1) => Ok(Expr::Floor {
                arg: Box::new(next()),
                up: upper != b"FLOOR",
            }),
            (b"ABS", 1) => Ok(Expr::Abs(Box::new(next()))),
            (b"ROUND", 1) => Ok(Expr::Round {
                arg: Box::new(next()),
                places: 0,
                truncate: false,
            }),
            (b"ROUND" | b"TRUNCATE", 2) => {
                let arg = next();
                let places = match next() {
                    Expr::Const(Some(Num::Int(p))) => i64::try_from(p).unwrap_or(i64::MAX),
                    _ => {
                        return Err(
                            self.unsupported("a number of places that is not an integer constant")
                        )
                    }
                };
                Ok(Expr::Round {
                    arg: Box::new(arg),
                    places,
                    truncate: upper == b"TRUNCATE",
                })
            }
            _ => Err(self.unsupported(&format!(
                "the function {}() with {n} argument(s)",
                shortened(&upper)
            ))),
        }
    }

    /// A column or alias name (`t.col`, `` `col` ``) at the current token:
    /// in HAVING / ORDER BY a select-list alias first; else the select
    /// item that is this column, or a hidden column with its value (a
    /// GROUP BY column, or any row's value as the server takes it).
    fn name(&mut self) -> Result<Expr, String> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().map(|t| t.kind) == Some(TokenKind::Dot)
            && matches!(
                self.tokens.get(self.pos + 1).map(|t| t.kind),
                Some(TokenKind::Ident | TokenKind::Keyword(_) | TokenKind::QuotedIdent)
            )
        {
            self.pos += 2;
        }
        let text = &self.text[self.tokens[start].start..self.tokens[self.pos - 1].end];
        let b = &*self.b;
        let items = &b.block.items[..b.known_items];
        let last = self.tokens[self.pos - 1].text(self.text);
        let bare: Vec<u8> = last.iter().copied().filter(|&c| c != b'`').collect();
        let by_alias = (self.place == Place::Clause && self.pos - start == 1)
            .then(|| {
                items
                    .iter()
                    .position(|it| it.alias.as_ref().is_some_and(|a| a.is(&bare)))
            })
            .flatten();
        let by_text = || {
            items
                .iter()
                .position(|it| b.sql[it.expr.clone()].eq_ignore_ascii_case(text))
        };
        let col = match by_alias.or_else(by_text) {
            Some(i) => {
                if let ItemKind::Aggregate(agg) = &items[i].kind {
                    if agg.distinct {
                        return Err(self.unsupported(&format!(
                            "the DISTINCT aggregate `{}`",
                            shortened(&b.sql[items[i].expr.clone()])
                        )));
                    }
                }
                if by_alias.is_some() {
                    let r = self.tokens[start].start..self.tokens[self.pos - 1].end;
                    self.aliases
                        .push((r, b.sql[items[i].expr.clone()].to_vec()));
                }
                Col::Item(i)
            }
            None => self.b.add_hidden(text.to_vec()),
        };
        self.cols.push(col);
        Ok(Expr::Column(self.cols.len() - 1))
    }

    /// `CASE [x] WHEN .. THEN .. [ELSE ..] END` at the current token.
    fn case(&mut self) -> Result<Expr, String> {
        self.pos += 1;
        let operand = if self.at_word(b"when") {
            None
        } else {
            Some(self.disjunction()?)
        };
        let mut arms = Vec::new();
        while self.at_word(b"when") {
            self.pos += 1;
            let when = self.disjunction()?;
            if !self.at_word(b"then") {
                return Err(self.unsupported(&format!("CASE without THEN near {}", self.near())));
            }
            self.pos += 1;
            let then = self.disjunction()?;
            let cond = match &operand {
                Some(x) => Expr::Cmp(CmpOp::Eq, Box::new(x.clone()), Box::new(when)),
                None => when,
            };
            arms.push((cond, then));
        }
        let default = if self.at_word(b"else") {
            self.pos += 1;
            Some(Box::new(self.disjunction()?))
        } else {
            None
        };
        if arms.is_empty() || !self.at_word(b"end") {
            return Err(self.unsupported(&format!("CASE near {}", self.near())));
        }
        self.pos += 1;
        Ok(Expr::Case { arms, default })
    }

    /// An aggregate call at the current token: a hidden column (AVG: a
    /// hidden SUM and COUNT).
    fn aggregate(&mut self, name: Token) -> Result<Expr, String> {
        // The matching `)`.
        let mut depth = 0i32;
        let mut end = None;
        for (k, t) in self.tokens.iter().enumerate().skip(self.pos + 1) {
            match t.kind {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(k);
                        break;
                    }
                }
                TokenKind::Placeholder => return Err(self.unsupported("a `?` parameter")),
                _ => {}
            }
        }
        let end = end.ok_or_else(|| self.unsupported("an unclosed call"))?;
        let call = &self.text[name.start..self.tokens[end].end];
        self.pos = end + 1;
        let select = [b"SELECT ".as_slice(), call].concat();
        let parsed = parse::parse(&select, crate::sql::LexOptions::default());
        let Some(ItemKind::Aggregate(agg)) = parsed.top().items.first().map(|i| i.kind.clone())
        else {
            return Err(super::unmergeable_expression(call));
        };
        if agg.distinct {
            return Err(format!(
                "shardgate: `{}` cannot be computed across shards: a DISTINCT aggregate inside an \
                 expression is not merged; select it as a column of its own",
                shortened(self.text)
            ));
        }
        merge::check_aggregate(agg_name(agg.func), false)?;
        // The argument as the shards see it (a select `sql` offset).
        let arg = arg_text(&select, &agg.arg);
        let mut hidden = |b: &mut Builder<'_, '_>, text: Vec<u8>, a: Aggregate| {
            let col = b.add_hidden(text);
            if !self.aggs.iter().any(|(c, _)| *c == col) {
                self.aggs.push((col, a));
            }
            self.cols.push(col);
            self.cols.len() - 1
        };
        Ok(match agg.func {
            AggFunc::Avg => {
                let sum = hidden(
                    self.b,
                    [b"SUM(".as_slice(), &arg, b")"].concat(),
                    Aggregate::Sum,
                );
                let count = hidden(
                    self.b,
                    [b"COUNT(".as_slice(), &arg, b")"].concat(),
                    Aggregate::Count,
                );
                Expr::Avg { sum, count }
            }
            f => Expr::Column(hidden(self.b, call.to_vec(), simple_agg(f))),
        })
    }
}

/// `text` for an error message: at most 120 characters.
fn shortened(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    match text.char_indices().nth(120) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.into_owned(),
    }
}

/// Whether a string literal sits where the merger would compute with it
/// (strings only pass through as results of CASE / IF / IFNULL /
/// COALESCE); `result`: `e` is such a result (or the whole item).
fn string_misplaced(e: &Expr, result: bool) -> bool {
    match e {
        Expr::Const(Some(Num::Str(_))) => !result,
        Expr::Const(_) | Expr::Column(_) | Expr::Avg { .. } => false,
        Expr::Case { arms, default } => {
            arms.iter()
                .any(|(c, r)| string_misplaced(c, false) || string_misplaced(r, result))
                || default
                    .as_ref()
                    .is_some_and(|d| string_misplaced(d, result))
        }
        Expr::Coalesce(args) => args.iter().any(|a| string_misplaced(a, result)),
        Expr::Extreme { args, .. } => args.iter().any(|a| string_misplaced(a, false)),
        Expr::Neg(a)
        | Expr::Abs(a)
        | Expr::Not(a)
        | Expr::IsNull { arg: a, .. }
        | Expr::Round { arg: a, .. }
        | Expr::Floor { arg: a, .. } => string_misplaced(a, false),
        Expr::Bin(_, a, b)
        | Expr::Cmp(_, a, b)
        | Expr::NullSafeEq(a, b)
        | Expr::And(a, b)
        | Expr::Or(a, b)
        | Expr::NullIf(a, b) => string_misplaced(a, false) || string_misplaced(b, false),
    }
}
