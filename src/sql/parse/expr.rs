//! Expressions as far as routing and merging need them: WHERE / ON
//! conditions as AND/OR trees over shard-key leaves, HAVING conditions over
//! aggregates, aggregate calls, and the one walk over every expression that
//! finds subqueries (parsed as blocks of their own), aggregates and window
//! functions.
//!
//! A leaf is reported only when it matches a known form *exactly*
//! (`col = 42` followed by AND / OR / `)` / the end of the clause);
//! anything else becomes [`Tree::Unknown`], which is always safe: the
//! planner treats it as true on every shard. Splitting honours MySQL's
//! precedence (OR < XOR < AND < NOT < comparison), `BETWEEN ... AND`, and
//! `CASE ... END`, so no leaf is ever lifted out of a CASE or a NOT.
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/operator-precedence.html>
//! <https://dev.mysql.com/doc/refman/8.0/en/aggregate-functions.html>

use super::common::P;
use super::types::*;
use crate::sql::lexer::{Kw, Op, TokenKind};

/// Which boolean operator to split a condition at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sep {
    Or,
    Xor,
    And,
}

/// Aggregate functions (of MySQL and MariaDB) by name.
const AGGREGATES: &[&[u8]] = &[
    b"count",
    b"sum",
    b"min",
    b"max",
    b"avg",
    b"group_concat",
    b"std",
    b"stddev",
    b"stddev_pop",
    b"stddev_samp",
    b"variance",
    b"var_pop",
    b"var_samp",
    b"bit_and",
    b"bit_or",
    b"bit_xor",
    b"json_arrayagg",
    b"json_objectagg",
    b"percentile_cont",
    b"percentile_disc",
];

/// Is `word` the name of an aggregate function?
pub fn is_aggregate_name(word: &[u8]) -> bool {
    AGGREGATES.iter().any(|a| a.eq_ignore_ascii_case(word))
}

/// The aggregate the merger combines, by name (COUNT, SUM, MIN, MAX, AVG).
pub fn agg_func(word: &[u8]) -> Option<AggFunc> {
    let is = |w: &[u8]| word.eq_ignore_ascii_case(w);
    if is(b"count") {
        Some(AggFunc::Count)
    } else if is(b"sum") {
        Some(AggFunc::Sum)
    } else if is(b"min") {
        Some(AggFunc::Min)
    } else if is(b"max") {
        Some(AggFunc::Max)
    } else if is(b"avg") {
        Some(AggFunc::Avg)
    } else {
        None
    }
}

fn cmp_op(k: TokenKind) -> Option<CmpOp> {
    match k {
        TokenKind::Op(Op::Eq) => Some(CmpOp::Eq),
        TokenKind::Op(Op::NullSafeEq) => Some(CmpOp::NullSafeEq),
        TokenKind::Op(Op::Lt) => Some(CmpOp::Lt),
        TokenKind::Op(Op::Le) => Some(CmpOp::Le),
        TokenKind::Op(Op::Gt) => Some(CmpOp::Gt),
        TokenKind::Op(Op::Ge) => Some(CmpOp::Ge),
        TokenKind::Op(Op::Ne) => Some(CmpOp::Ne),
        _ => None,
    }
}

/// `v op col` is `col flip(op) v`.
fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

type LeafFn<'a, L> = fn(&P<'a>, usize, usize) -> Option<L>;

impl<'a> P<'a> {
    /// A WHERE / ON condition over tokens `i..e`.
    pub fn pred(&self, i: usize, e: usize) -> Pred<'a> {
        self.tree(i, e, P::leaf)
    }

    /// A HAVING condition over tokens `i..e`.
    pub fn having_pred(&self, i: usize, e: usize) -> HavingPred<'a> {
        self.tree(i, e, P::having_leaf)
    }

    /// Index of the next `sep` operator in `i..e` at depth 0 (outside
    /// parentheses and CASE ... END; the AND of a BETWEEN is skipped), or `e`.
    fn next_sep(&self, i: usize, e: usize, sep: Sep) -> usize {
        let (mut depth, mut case, mut between) = (0u32, 0u32, 0u32);
        for j in i..e.min(self.t.len()) {
            match self.kind(j) {
                TokenKind::LParen => depth += 1,
                TokenKind::RParen => depth = depth.saturating_sub(1),
                _ if depth > 0 => {}
                TokenKind::Keyword(Kw::Case) => case += 1,
                TokenKind::Keyword(Kw::End) if case > 0 => case -= 1,
                _ if case > 0 => {}
                TokenKind::Keyword(Kw::Between) => between += 1,
                TokenKind::Keyword(Kw::And) if between > 0 => between -= 1,
                TokenKind::Keyword(Kw::And) | TokenKind::Op(Op::AndAnd) if sep == Sep::And => {
                    return j
                }
                TokenKind::Keyword(Kw::Or) if sep == Sep::Or => return j,
                TokenKind::Keyword(Kw::Xor) if sep == Sep::Xor => return j,
                _ => {}
            }
        }
        e
    }

    fn tree<L>(&self, i: usize, e: usize, leaf: LeafFn<'a, L>) -> Tree<L> {
        let j = self.next_sep(i, e, Sep::Or);
        if j >= e {
            return self.xor_level(i, e, leaf);
        }
        let mut parts = Vec::new();
        let mut s = i;
        loop {
            let j = self.next_sep(s, e, Sep::Or);
            match self.xor_level(s, j, leaf) {
                // OR with an unknown operand is unknown as a whole.
                Tree::Unknown(_) => return Tree::Unknown(self.span(i, e)),
                Tree::Or(v) => parts.extend(v),
                t => parts.push(t),
            }
            if j >= e {
                return Tree::Or(parts);
            }
            s = j + 1;
        }
    }

    fn xor_level<L>(&self, i: usize, e: usize, leaf: LeafFn<'a, L>) -> Tree<L> {
        if self.next_sep(i, e, Sep::Xor) < e {
            return Tree::Unknown(self.span(i, e));
        }
        let j = self.next_sep(i, e, Sep::And);
        if j >= e {
            return self.term(i, e, leaf);
        }
        let mut parts = Vec::new();
        let mut s = i;
        loop {
            let j = self.next_sep(s, e, Sep::And);
            match self.term(s, j, leaf) {
                Tree::And(v) => parts.extend(v),
                t => parts.push(t),
            }
            if j >= e {
                return Tree::And(parts);
            }
            s = j + 1;
        }
    }

    /// One operand of AND: a parenthesised condition or a leaf.
    fn term<L>(&self, i: usize, e: usize, leaf: LeafFn<'a, L>) -> Tree<L> {
        if i >= e {
            return Tree::Unknown(self.span(i, e));
        }
        if self.is(i, TokenKind::LParen) && self.close(i) == Some(e - 1) && !self.starts_query(i) {
            return self.tree(i + 1, e - 1, leaf);
        }
        match leaf(self, i, e) {
            Some(l) => Tree::Leaf(l),
            None => Tree::Unknown(self.span(i, e)),
        }
    }

    /// A WHERE leaf filling exactly `i..e`.
    fn leaf(&self, i: usize, e: usize) -> Option<Leaf<'a>> {
        if let Some((col, j)) = self.column(i) {
            match self.kind(j) {
                k @ TokenKind::Op(_) => {
                    let op = cmp_op(k).filter(|&o| o != CmpOp::Ne)?;
                    if let Some(value) = self.value_exact(j + 1, e) {
                        return Some(Leaf::Cmp { col, op, value });
                    }
                    match self.column(j + 1) {
                        Some((right, end)) if end == e && op == CmpOp::Eq => {
                            Some(Leaf::ColumnEq { left: col, right })
                        }
                        _ => None,
                    }
                }
                TokenKind::Keyword(Kw::Is) if self.is_kw(j + 1, Kw::Null) && j + 2 == e => {
                    Some(Leaf::IsNull { col })
                }
                TokenKind::Keyword(Kw::In) => {
                    let close = self.close(j + 1)?;
                    if close + 1 != e {
                        return None;
                    }
                    if self.starts_query(j + 1) {
                        return Some(Leaf::InSubquery {
                            col,
                            open: j + 1,
                            close,
                        });
                    }
                    let mut values = Vec::new();
                    let mut k = j + 2;
                    loop {
                        let (v, next) = self.value(k)?;
                        values.push(v);
                        match self.kind(next) {
                            TokenKind::Comma => k = next + 1,
                            TokenKind::RParen if next == close => break,
                            _ => return None,
                        }
                    }
                    Some(Leaf::In { col, values })
                }
                TokenKind::Keyword(Kw::Between) => {
                    let (low, k) = self.value(j + 1)?;
                    if !self.is_kw(k, Kw::And) {
                        return None;
                    }
                    let high = self.value_exact(k + 1, e)?;
                    Some(Leaf::Between { col, low, high })
                }
                _ => None,
            }
        } else {
            let (value, j) = self.value(i)?;
            let op = cmp_op(self.kind(j)).filter(|&o| o != CmpOp::Ne)?;
            match self.column(j + 1) {
                Some((col, end)) if end == e => Some(Leaf::Cmp {
                    col,
                    op: flip(op),
                    value,
                }),
                _ => None,
            }
        }
    }

    /// A HAVING leaf filling exactly `i..e`.
    fn having_leaf(&self, i: usize, e: usize) -> Option<HavingLeaf<'a>> {
        if let Some((operand, j)) = self.having_operand(i) {
            let op = cmp_op(self.kind(j))?;
            let value = self.value_exact(j + 1, e)?;
            return Some(HavingLeaf { operand, op, value });
        }
        let (value, j) = self.value(i)?;
        let op = cmp_op(self.kind(j))?;
        match self.having_operand(j + 1) {
            Some((operand, end)) if end == e => Some(HavingLeaf {
                operand,
                op: flip(op),
                value,
            }),
            _ => None,
        }
    }

    fn having_operand(&self, i: usize) -> Option<(HavingOperand<'a>, usize)> {
        if let Some((agg, j)) = self.aggregate(i) {
            return Some((HavingOperand::Aggregate(agg), j));
        }
        let (col, j) = self.column(i)?;
        Some((HavingOperand::Name(col), j))
    }

    /// `COUNT|SUM|MIN|MAX|AVG ( [DISTINCT|ALL] arg )` at `i`, not a window
    /// function: the call and the index after it.
    pub fn aggregate(&self, i: usize) -> Option<(Aggregate, usize)> {
        if !matches!(self.kind(i), TokenKind::Ident | TokenKind::Keyword(_))
            || (i > 0 && self.is(i - 1, TokenKind::Dot))
        {
            return None;
        }
        let func = agg_func(self.text(i))?;
        let close = self.close(i + 1)?;
        if self.is_kw(close + 1, Kw::Over) {
            return None;
        }
        let mut a = i + 2;
        let mut distinct = false;
        match self.kw(a) {
            Some(Kw::Distinct) => {
                distinct = true;
                a += 1;
            }
            Some(Kw::All) => a += 1,
            _ => {}
        }
        if a >= close {
            return None;
        }
        let arg = if func == AggFunc::Count && a + 1 == close && self.is_op(a, Op::Star) {
            AggArg::Star
        } else {
            AggArg::Expr(self.span(a, close))
        };
        Some((
            Aggregate {
                func,
                distinct,
                arg,
                range: self.start(i)..self.end(close),
            },
            close + 1,
        ))
    }

    /// The `(` at `i` opens a query: `(SELECT`, `((SELECT`, `(WITH`, `(TABLE`, `(VALUES`.
    pub fn starts_query(&self, i: usize) -> bool {
        let mut j = i;
        while self.is(j, TokenKind::LParen) {
            j += 1;
        }
        j > i
            && matches!(
                self.kw(j),
                Some(Kw::Select | Kw::With | Kw::Table | Kw::Values)
            )
    }

    /// Walks the expression tokens `i..e` of `clause` in block `b`: parses
    /// every subquery as a block of its own and reports what it saw.
    pub fn scan(&mut self, i: usize, e: usize, b: BlockId, clause: Clause) -> ExprInfo {
        let mut info = ExprInfo::default();
        let mut j = i;
        let e = e.min(self.t.len());
        while j < e {
            match self.kind(j) {
                TokenKind::LParen if self.starts_query(j) => match self.close(j) {
                    Some(c) if c < e => {
                        self.subquery(j, c, b, Place::Subquery(clause));
                        info.subquery = true;
                        j = c + 1;
                        continue;
                    }
                    _ => {
                        self.fail(j, "unbalanced parentheses");
                        break;
                    }
                },
                TokenKind::Keyword(Kw::Over) => info.window = true,
                TokenKind::Ident | TokenKind::Keyword(_)
                    if self.is(j + 1, TokenKind::LParen)
                        && !(j > 0 && self.is(j - 1, TokenKind::Dot))
                        && is_aggregate_name(self.text(j)) =>
                {
                    info.aggregate = true;
                }
                _ => {}
            }
            j += 1;
        }
        if info.subquery {
            if let Some(blk) = self.out.blocks.get_mut(b) {
                blk.subqueries.insert(clause);
            }
        }
        info
    }

    /// Parses the parenthesised query `open..=close` as a new block of
    /// `parent` placed at `place`; returns its id.
    pub fn subquery(
        &mut self,
        open: usize,
        close: usize,
        parent: BlockId,
        place: Place,
    ) -> BlockId {
        let id = self.out.blocks.len();
        self.out
            .blocks
            .push(Block::new(BlockKind::Select, place, Some(parent)));
        let end = self.query_expr(open + 1, close, id);
        if end != close {
            self.fail(end, "unexpected text in a subquery");
        }
        id
    }

    /// The operand `i..e` of SET / VALUES: a literal, DEFAULT, or an expression.
    pub fn operand(&mut self, i: usize, e: usize, b: BlockId, clause: Clause) -> Operand<'a> {
        if let Some(v) = self.value_exact(i, e) {
            return Operand::Value(v);
        }
        if e == i + 1 && self.is_kw(i, Kw::Default) {
            return Operand::Default;
        }
        Operand::Expr(self.scan(i, e, b, clause))
    }

    /// `col = expr, ...` over `i..e` (UPDATE SET, INSERT SET, ON DUPLICATE
    /// KEY UPDATE).
    pub fn assignments(
        &mut self,
        i: usize,
        e: usize,
        b: BlockId,
        clause: Clause,
    ) -> Vec<Assign<'a>> {
        let mut out = Vec::new();
        let mut j = i;
        while j < e {
            let k = self.scan0(j, e, |p, x| p.is(x, TokenKind::Comma));
            let Some((column, eq)) = self.column(j) else {
                self.fail(j, "expected a column to assign");
                break;
            };
            if !matches!(self.kind(eq), TokenKind::Op(Op::Eq | Op::Assign)) || eq + 1 >= k {
                self.fail(eq, "expected `= value`");
                break;
            }
            let value = self.operand(eq + 1, k, b, clause);
            out.push(Assign {
                range: self.span(j, k),
                column,
                value_range: self.span(eq + 1, k),
                value,
            });
            j = k + 1;
        }
        if i >= e || self.is(e.saturating_sub(1), TokenKind::Comma) {
            self.fail(e, "empty assignment");
        }
        out
    }
}
