//! SELECT: query expressions (WITH, UNION / EXCEPT / INTERSECT, parenthesised
//! queries), select blocks and their clauses, and the FROM / JOIN parser
//! that UPDATE and DELETE share.
//!
//! Each SELECT becomes a [`Block`]; a union becomes a `Union` block whose
//! parts are blocks too, and the ORDER BY / LIMIT after the last part of a
//! union belong to the union block (MySQL's rule). Clause extents are found
//! at parenthesis depth 0 ([`P::clause_end`]), then each clause is read
//! twice: once structurally (predicates, keys, aggregates) and once by
//! [`P::scan`], which parses its subqueries.
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/select.html>
//! <https://dev.mysql.com/doc/refman/8.0/en/join.html>
//! <https://mariadb.com/kb/en/select/>

use super::common::{reserved, P};
use super::types::*;
use crate::sql::lexer::{string_value, Kw, Op, TokenKind};

/// Words that are functions without parentheses, never columns.
const NILADIC: &[&[u8]] = &[
    b"current_date",
    b"current_time",
    b"current_timestamp",
    b"current_user",
    b"current_role",
    b"localtime",
    b"localtimestamp",
    b"utc_date",
    b"utc_time",
    b"utc_timestamp",
];

impl<'a> P<'a> {
    /// A query expression over `i..e` into block `id`: `[WITH ...] term
    /// [set-op term ...] [ORDER BY] [LIMIT]`. Returns the index after it.
    pub fn query_expr(&mut self, i: usize, e: usize, id: BlockId) -> usize {
        if self.depth >= super::common::MAX_DEPTH {
            self.fail(i, "queries nested too deeply");
            return e;
        }
        self.depth += 1;
        let mut j = i;
        if self.is_kw(j, Kw::With) {
            j = self.ctes(j, e, id);
        }
        let set_op = self.scan0(j, e, |p, k| {
            matches!(p.kw(k), Some(Kw::Union | Kw::Except | Kw::Intersect))
        });
        let end = if set_op < e {
            self.union(j, e, id)
        } else {
            self.query_term(j, e, id, true)
        };
        let range = self.span(i, end);
        if let Some(b) = self.out.blocks.get_mut(id) {
            b.range = range;
            b.tokens = i..end;
        }
        self.depth -= 1;
        end
    }

    /// `WITH [RECURSIVE] name [(cols)] AS (query) [, ...]` at `i`: each CTE
    /// becomes a block (child of `parent`). Returns the index after them.
    pub fn ctes(&mut self, i: usize, e: usize, parent: BlockId) -> usize {
        let mut j = i + 1;
        if self.is_kw(j, Kw::Recursive) {
            j += 1;
        }
        loop {
            if !self.is_word(j) {
                self.fail(j, "expected a common table expression name");
                return e;
            }
            let name = self.ident(j).name;
            j += 1;
            if self.is(j, TokenKind::LParen) {
                match self.name_list(j) {
                    Some((_, next)) => j = next,
                    None => {
                        self.fail(j, "bad CTE column list");
                        return e;
                    }
                }
            }
            let close = match self.close(j + 1) {
                Some(c) if self.is_kw(j, Kw::As) && c < e => c,
                _ => {
                    self.fail(j, "expected `AS (query)` in WITH");
                    return e;
                }
            };
            let id = self.out.blocks.len();
            self.out
                .blocks
                .push(Block::new(BlockKind::Select, Place::Cte, Some(parent)));
            // Registered first: a recursive CTE names itself.
            self.ctes.push((name, id));
            let end = self.query_expr(j + 2, close, id);
            if end != close {
                self.fail(end, "unexpected text in a common table expression");
            }
            j = close + 1;
            if self.is(j, TokenKind::Comma) {
                j += 1;
            } else {
                return j;
            }
        }
    }

    /// A SELECT or a parenthesised query (with, if `tail`, its own ORDER BY
    /// / LIMIT after the parenthesis: not so for a union part).
    fn query_term(&mut self, i: usize, e: usize, id: BlockId, tail: bool) -> usize {
        if self.is(i, TokenKind::LParen) {
            let Some(close) = self.close(i).filter(|&c| c < e) else {
                self.fail(i, "unbalanced parentheses");
                return e;
            };
            let end = self.query_expr(i + 1, close, id);
            if end != close {
                self.fail(end, "unexpected text in a parenthesised query");
            }
            let j = close + 1;
            if tail && matches!(self.kw(j), Some(Kw::Order | Kw::Limit)) {
                let b = &self.out.blocks[id];
                if !b.order_by.is_empty() || b.limit.is_some() || b.kind == BlockKind::Union {
                    self.fail(
                        j,
                        "ORDER BY / LIMIT both inside and after a parenthesised query",
                    );
                    return e;
                }
                return self.clauses(j, e, id);
            }
            j
        } else if self.is_kw(i, Kw::Select) {
            self.select_block(i, e, id)
        } else {
            self.fail(i, "expected SELECT");
            e
        }
    }

    /// `term (UNION|EXCEPT|INTERSECT [ALL|DISTINCT] term)* [ORDER BY] [LIMIT]`.
    fn union(&mut self, i: usize, e: usize, id: BlockId) -> usize {
        self.out.blocks[id].kind = BlockKind::Union;
        let (mut j, mut index, mut op, mut all) = (i, 0, None, false);
        loop {
            let part = self.out.blocks.len();
            self.out.blocks.push(Block::new(
                BlockKind::Select,
                Place::UnionPart { index, op, all },
                Some(id),
            ));
            self.out.blocks[id].parts.push(part);
            let paren = self.is(j, TokenKind::LParen);
            let start = j;
            j = self.query_term(j, e, part, false);
            if !paren {
                let range = self.span(start, j);
                if let Some(b) = self.out.blocks.get_mut(part) {
                    b.range = range;
                    b.tokens = start..j;
                }
            }
            op = match self.kw(j) {
                Some(Kw::Union) => Some(SetOp::Union),
                Some(Kw::Except) => Some(SetOp::Except),
                Some(Kw::Intersect) => Some(SetOp::Intersect),
                _ => {
                    if !paren {
                        // The trailing ORDER BY / LIMIT apply to the union.
                        let b = &mut self.out.blocks[part];
                        let order = std::mem::take(&mut b.order_by);
                        let limit = b.limit.take();
                        let u = &mut self.out.blocks[id];
                        u.order_by = order;
                        u.limit = limit;
                        return j;
                    }
                    return self.clauses(j, e, id);
                }
            };
            j += 1;
            all = self.is_kw(j, Kw::All);
            if all || self.is_kw(j, Kw::Distinct) {
                j += 1;
            }
            index += 1;
            if self.failed() {
                return e;
            }
        }
    }

    /// `SELECT [options] items [INTO] [FROM] [WHERE] ...` at `i` into block `id`.
    pub fn select_block(&mut self, i: usize, e: usize, id: BlockId) -> usize {
        self.out.blocks[id].kind = BlockKind::Select;
        let mut j = i + 1;
        loop {
            match self.kind(j) {
                TokenKind::Keyword(Kw::All | Kw::HighPriority | Kw::StraightJoin) => {}
                TokenKind::Keyword(Kw::Distinct) => self.out.blocks[id].distinct = true,
                TokenKind::Keyword(Kw::SqlCalcFoundRows) => {
                    self.out.blocks[id].calc_found_rows = true;
                }
                TokenKind::Ident if self.word_is(j, b"distinctrow") => {
                    self.out.blocks[id].distinct = true;
                }
                TokenKind::Ident
                    if [
                        &b"sql_small_result"[..],
                        b"sql_big_result",
                        b"sql_buffer_result",
                        b"sql_no_cache",
                        b"sql_cache",
                    ]
                    .iter()
                    .any(|w| self.word_is(j, w)) => {}
                _ => break,
            }
            j += 1;
        }
        let items_end = self.clause_end(j, e, false);
        self.select_items(j, items_end, id);
        let end = self.clauses(items_end, e, id);
        let range = self.span(i, end);
        let b = &mut self.out.blocks[id];
        b.range = range;
        b.tokens = i..end;
        end
    }

    /// The clauses after the select list (also used after UPDATE SET and
    /// DELETE's tables), in any order. Returns where the first token that
    /// starts no clause is.
    pub fn clauses(&mut self, mut j: usize, e: usize, id: BlockId) -> usize {
        while j < e && !self.failed() {
            j = match self.kw(j) {
                Some(Kw::From) => self.table_refs(j + 1, e, id, TableRole::From),
                Some(Kw::Where) => {
                    let we = self.clause_end(j + 1, e, false);
                    if we == j + 1 {
                        self.fail(j, "empty WHERE");
                        return e;
                    }
                    let pred = self.pred(j + 1, we);
                    self.scan(j + 1, we, id, Clause::Where);
                    let range = self.span(j + 1, we);
                    let b = &mut self.out.blocks[id];
                    b.where_ = Some(pred);
                    b.where_range = Some(range);
                    we
                }
                Some(Kw::Group) if self.is_kw(j + 1, Kw::By) => self.group_by(j + 2, e, id),
                Some(Kw::Having) => {
                    let he = self.clause_end(j + 1, e, false);
                    let pred = self.having_pred(j + 1, he);
                    self.scan(j + 1, he, id, Clause::Having);
                    let range = self.span(j + 1, he);
                    self.out.blocks[id].having = Some(Having { range, pred });
                    he
                }
                Some(Kw::Window) => {
                    let we = self.clause_end(j + 1, e, false);
                    self.scan(j + 1, we, id, Clause::Other);
                    we
                }
                Some(Kw::Order) if self.is_kw(j + 1, Kw::By) => self.order_by(j + 2, e, id),
                Some(Kw::Limit) => self.limit(j, id),
                Some(Kw::Into) => self.into(j, e, id),
                Some(Kw::For) if matches!(self.kw(j + 1), Some(Kw::Update | Kw::Share)) => {
                    self.out.blocks[id].lock = Some(if self.is_kw(j + 1, Kw::Update) {
                        LockMode::Update
                    } else {
                        LockMode::Share
                    });
                    let mut k = j + 2;
                    if self.is_kw(k, Kw::Of) {
                        self.fail(k, "FOR UPDATE OF is not supported");
                        return e;
                    }
                    if self.is_kw(k, Kw::Nowait) {
                        k += 1;
                    } else if (self.is_kw(k, Kw::Skip) && self.is_kw(k + 1, Kw::Locked))
                        || (self.word_is(k, b"wait") && self.is(k + 1, TokenKind::Integer))
                    {
                        k += 2;
                    }
                    k
                }
                Some(Kw::Lock)
                    if self.is_kw(j + 1, Kw::In)
                        && self.is_kw(j + 2, Kw::Share)
                        && self.is_kw(j + 3, Kw::Mode) =>
                {
                    self.out.blocks[id].lock = Some(LockMode::Share);
                    j + 4
                }
                _ => return j,
            };
        }
        j
    }

    /// `INTO OUTFILE 'f' ... | INTO DUMPFILE 'f' | INTO @a, @b` at `j`.
    fn into(&mut self, j: usize, e: usize, id: BlockId) -> usize {
        let target = match self.kw(j + 1) {
            Some(Kw::Outfile) => IntoTarget::Outfile,
            Some(Kw::Dumpfile) => IntoTarget::Dumpfile,
            _ => IntoTarget::Vars,
        };
        self.out.blocks[id].into = Some(target);
        let end = self.clause_end(j + 1, e, false);
        if end == j + 1 {
            self.fail(j, "empty INTO");
            return e;
        }
        end
    }

    /// The select list `i..e`.
    fn select_items(&mut self, i: usize, e: usize, id: BlockId) {
        let mut j = i;
        loop {
            let k = self.scan0(j, e, |p, x| p.is(x, TokenKind::Comma));
            if k == j {
                self.fail(j, "empty select item");
                return;
            }
            let item = self.select_item(j, k, id);
            self.out.blocks[id].items.push(item);
            if k >= e {
                return;
            }
            j = k + 1;
        }
    }

    fn select_item(&mut self, s: usize, k: usize, id: BlockId) -> SelectItem<'a> {
        let info = self.scan(s, k, id, Clause::SelectList);
        let (x, alias) = self.item_alias(s, k);
        let kind = if x == s + 1 && self.is_op(s, Op::Star) {
            ItemKind::Star {
                schema: None,
                table: None,
            }
        } else if self.is_op(x.wrapping_sub(1), Op::Star)
            && (x == s + 3 || x == s + 5)
            && self.qualified_star(s, x)
        {
            let (schema, table) = if x == s + 5 {
                (Some(self.ident(s)), Some(self.ident(s + 2)))
            } else {
                (None, Some(self.ident(s)))
            };
            ItemKind::Star { schema, table }
        } else if let Some(col) = self.plain_column(s, x) {
            ItemKind::Column(col)
        } else if let Some((agg, _)) = self.aggregate(s).filter(|a| a.1 == x) {
            ItemKind::Aggregate(agg)
        } else {
            ItemKind::Expr(info)
        };
        SelectItem {
            range: self.span(s, k),
            expr: self.span(s, x),
            alias,
            kind,
        }
    }

    /// `w . *` / `w . w . *` filling `s..x`.
    fn qualified_star(&self, s: usize, x: usize) -> bool {
        (s..x - 1).all(|j| {
            if (j - s).is_multiple_of(2) {
                self.is_word(j)
            } else {
                self.is(j, TokenKind::Dot)
            }
        })
    }

    /// A column reference filling exactly `s..x` (not a niladic function).
    fn plain_column(&self, s: usize, x: usize) -> Option<Column<'a>> {
        let (col, next) = self.column(s)?;
        if next != x
            || (col.table.is_none()
                && self.is(s, TokenKind::Ident)
                && NILADIC.iter().any(|w| self.word_is(s, w)))
        {
            return None;
        }
        Some(col)
    }

    /// Splits a select item into (end of the expression, alias).
    fn item_alias(&self, s: usize, k: usize) -> (usize, Option<Ident<'a>>) {
        if k >= s + 3 && self.is_kw(k - 2, Kw::As) {
            return (k - 2, Some(self.alias_ident(k - 1)));
        }
        if k < s + 2 || self.is(k - 2, TokenKind::Dot) {
            return (k, None);
        }
        let prev = self.kind(k - 2);
        let ends_expr = match prev {
            TokenKind::Ident
            | TokenKind::QuotedIdent
            | TokenKind::Integer
            | TokenKind::Decimal
            | TokenKind::Float
            | TokenKind::HexString
            | TokenKind::BitString
            | TokenKind::Placeholder
            | TokenKind::RParen
            | TokenKind::SysVar
            | TokenKind::UserVar
            | TokenKind::String => true,
            TokenKind::Keyword(k) => !reserved(k) || matches!(k, Kw::Null | Kw::True | Kw::False),
            _ => false,
        };
        let alias_tok = match self.kind(k - 1) {
            TokenKind::Ident | TokenKind::QuotedIdent => true,
            TokenKind::String => {
                prev != TokenKind::String
                    && ![&b"date"[..], b"time", b"timestamp", b"binary"]
                        .iter()
                        .any(|w| self.word_is(k - 2, w))
            }
            TokenKind::Keyword(kw) => !reserved(kw) && kw != Kw::End,
            _ => false,
        };
        if ends_expr && alias_tok {
            (k - 1, Some(self.alias_ident(k - 1)))
        } else {
            (k, None)
        }
    }

    /// An alias token: a name, or a string (`AS 'x'`).
    fn alias_ident(&self, i: usize) -> Ident<'a> {
        if self.is(i, TokenKind::String) {
            Ident {
                range: self.span(i, i + 1),
                name: string_value(self.text(i), self.opts),
            }
        } else {
            self.ident(i)
        }
    }

    /// The GROUP BY / ORDER BY key `s..x` whose expression info is `info`.
    fn key(&self, s: usize, x: usize, id: BlockId, info: ExprInfo) -> Key<'a> {
        if x == s + 1 && self.is(s, TokenKind::Integer) {
            if let Some((
                Value {
                    lit: Literal::Int(n),
                    ..
                },
                _,
            )) = self.value(s)
            {
                return Key::Position(n as u64);
            }
        }
        let Some(col) = self.plain_column(s, x) else {
            return Key::Expr(info);
        };
        if col.table.is_none() {
            // Aliases of this select, or of the first part of a union.
            let mut b = &self.out.blocks[id];
            if b.kind == BlockKind::Union {
                if let Some(first) = b.parts.first().and_then(|&p| self.out.blocks.get(p)) {
                    b = first;
                }
            }
            if let Some(n) = b
                .items
                .iter()
                .position(|it| it.alias.as_ref().is_some_and(|a| a.is(&col.name.name)))
            {
                return Key::Alias(n);
            }
        }
        Key::Column(col)
    }

    fn group_by(&mut self, i: usize, e: usize, id: BlockId) -> usize {
        let mut j = i;
        loop {
            let k = self.clause_end(j, e, true);
            if k == j {
                self.fail(j, "empty GROUP BY item");
                return e;
            }
            let mut x = k;
            let mut desc = false;
            if matches!(self.kw(k - 1), Some(Kw::Asc | Kw::Desc)) && k > j + 1 {
                desc = self.is_kw(k - 1, Kw::Desc);
                x = k - 1;
            }
            let info = self.scan(j, x, id, Clause::GroupBy);
            let key = self.key(j, x, id, info);
            let range = self.span(j, k);
            self.out.blocks[id]
                .group_by
                .push(GroupItem { range, key, desc });
            if self.is(k, TokenKind::Comma) {
                j = k + 1;
                continue;
            }
            if self.is_kw(k, Kw::With) && self.word_is(k + 1, b"rollup") {
                self.out.blocks[id].with_rollup = true;
                return k + 2;
            }
            return k;
        }
    }

    fn order_by(&mut self, i: usize, e: usize, id: BlockId) -> usize {
        let mut j = i;
        loop {
            let k = self.clause_end(j, e, true);
            if k == j {
                self.fail(j, "empty ORDER BY item");
                return e;
            }
            let mut x = k;
            let mut nulls = None;
            if x >= j + 3 && self.word_is(x - 2, b"nulls") {
                if self.word_is(x - 1, b"first") {
                    nulls = Some(Nulls::First);
                } else if self.word_is(x - 1, b"last") {
                    nulls = Some(Nulls::Last);
                }
                if nulls.is_some() {
                    x -= 2;
                }
            }
            let mut desc = false;
            if x >= j + 2 && matches!(self.kw(x - 1), Some(Kw::Asc | Kw::Desc)) {
                desc = self.is_kw(x - 1, Kw::Desc);
                x -= 1;
            }
            let info = self.scan(j, x, id, Clause::OrderBy);
            let key = self.key(j, x, id, info);
            let item = OrderItem {
                range: self.span(j, k),
                expr: self.span(j, x),
                key,
                desc,
                nulls,
            };
            self.out.blocks[id].order_by.push(item);
            if self.is(k, TokenKind::Comma) {
                j = k + 1;
            } else {
                return k;
            }
        }
    }

    /// `LIMIT a`, `LIMIT a, b`, `LIMIT a OFFSET b` at `j`.
    pub fn limit(&mut self, j: usize, id: BlockId) -> usize {
        let limit_value = |p: &Self, i: usize| match p.value(i) {
            Some((v, next))
                if matches!(v.lit, Literal::Int(n) if n >= 0)
                    || matches!(v.lit, Literal::UInt(_) | Literal::Param(_)) =>
            {
                Some((v, next))
            }
            _ => None,
        };
        let Some((first, k)) = limit_value(self, j + 1) else {
            self.fail(j, "LIMIT takes an integer or `?`");
            return self.t.len();
        };
        let (offset, count, end) = if self.is(k, TokenKind::Comma) {
            match limit_value(self, k + 1) {
                Some((count, end)) => (Some(first), count, end),
                None => {
                    self.fail(k, "LIMIT takes an integer or `?`");
                    return self.t.len();
                }
            }
        } else if self.is_kw(k, Kw::Offset) {
            match limit_value(self, k + 1) {
                Some((offset, end)) => (Some(offset), first, end),
                None => {
                    self.fail(k, "OFFSET takes an integer or `?`");
                    return self.t.len();
                }
            }
        } else {
            (None, first, k)
        };
        self.out.blocks[id].limit = Some(Limit {
            range: self.span(j, end),
            offset,
            count,
        });
        end
    }

    // --- FROM ----------------------------------------------------------------

    /// A FROM list (`table_references`) at `i` for block `b`; tables get
    /// `role`. Returns the index after it.
    pub fn table_refs(&mut self, i: usize, e: usize, b: BlockId, role: TableRole) -> usize {
        let mut j = i;
        let mut join = JoinKind::First;
        loop {
            j = self.factor(j, e, b, role, join);
            while let Some((kind, next)) = self.join_op(j) {
                let first = self.out.blocks[b].from.len();
                j = self.factor(next, e, b, role, kind);
                if self.failed() {
                    return e;
                }
                if self.is_kw(j, Kw::On) {
                    let oe = self.scan0(j + 1, e, |p, x| {
                        super::common::clause_word(p.kind(x))
                            || p.is(x, TokenKind::Comma)
                            || p.join_op(x).is_some()
                    });
                    if oe == j + 1 {
                        self.fail(j, "empty ON");
                        return e;
                    }
                    let pred = self.pred(j + 1, oe);
                    self.scan(j + 1, oe, b, Clause::JoinOn);
                    let range = self.span(j + 1, oe);
                    if let Some(f) = self.out.blocks[b].from.get_mut(first) {
                        f.on = Some(pred);
                        f.on_range = Some(range);
                    }
                    j = oe;
                } else if self.is_kw(j, Kw::Using) {
                    match self.name_list(j + 1) {
                        Some((names, next)) => {
                            if let Some(f) = self.out.blocks[b].from.get_mut(first) {
                                f.using = names;
                            }
                            j = next;
                        }
                        None => {
                            self.fail(j, "bad USING list");
                            return e;
                        }
                    }
                }
            }
            if self.failed() {
                return e;
            }
            if self.is(j, TokenKind::Comma) && j < e {
                join = JoinKind::Comma;
                j += 1;
            } else {
                return j;
            }
        }
    }

    /// A join operator at `i`: its kind and the index after `JOIN`.
    fn join_op(&self, i: usize) -> Option<(JoinKind, usize)> {
        let outer = |j: usize| if self.is_kw(j, Kw::Outer) { j + 1 } else { j };
        let join_at = |j: usize, k: JoinKind| self.is_kw(j, Kw::Join).then_some((k, j + 1));
        match self.kw(i)? {
            Kw::Join => Some((JoinKind::Inner, i + 1)),
            Kw::StraightJoin => Some((JoinKind::Straight, i + 1)),
            Kw::Inner => join_at(i + 1, JoinKind::Inner),
            Kw::Cross => join_at(i + 1, JoinKind::Cross),
            Kw::Left => join_at(outer(i + 1), JoinKind::Left),
            Kw::Right => join_at(outer(i + 1), JoinKind::Right),
            Kw::Natural => match self.kw(i + 1)? {
                Kw::Join => Some((JoinKind::Natural, i + 2)),
                Kw::Inner => join_at(i + 2, JoinKind::Natural),
                Kw::Left => join_at(outer(i + 2), JoinKind::NaturalLeft),
                Kw::Right => join_at(outer(i + 2), JoinKind::NaturalRight),
                _ => None,
            },
            _ => None,
        }
    }

    /// One table factor at `i`.
    fn factor(&mut self, i: usize, e: usize, b: BlockId, role: TableRole, join: JoinKind) -> usize {
        let item = |source| FromItem {
            join,
            source,
            on: None,
            on_range: None,
            using: Vec::new(),
        };
        let lateral = self.is_kw(i, Kw::Lateral);
        let i = if lateral { i + 1 } else { i };
        if self.is(i, TokenKind::LParen) {
            let Some(close) = self.close(i).filter(|&c| c < e) else {
                self.fail(i, "unbalanced parentheses");
                return e;
            };
            if self.starts_query(i) {
                let id = self.subquery(i, close, b, Place::Derived);
                let (alias, mut j) = self.opt_alias(close + 1);
                if self.is(j, TokenKind::LParen) {
                    match self.name_list(j) {
                        Some((_, next)) => j = next,
                        None => self.fail(j, "bad derived table column list"),
                    }
                }
                let blk = &mut self.out.blocks[b];
                blk.subqueries.insert(Clause::From);
                blk.from.push(item(Source::Derived { block: id, alias }));
                return j;
            }
            // Parenthesised joins: flattened.
            let first = self.out.blocks[b].from.len();
            self.out.blocks[b].nested_joins = true;
            let end = self.table_refs(i + 1, close, b, role);
            if end != close {
                self.fail(end, "unexpected text in parenthesised joins");
                return e;
            }
            if let Some(f) = self.out.blocks[b].from.get_mut(first) {
                f.join = join;
            }
            return close + 1;
        }
        if lateral {
            self.fail(i, "expected a subquery after LATERAL");
            return e;
        }
        if self.is_word(i) && self.is(i + 1, TokenKind::LParen) {
            // A table function (JSON_TABLE): not analysed.
            let Some(close) = self.close(i + 1).filter(|&c| c < e) else {
                self.fail(i, "unbalanced parentheses");
                return e;
            };
            self.scan(i + 2, close, b, Clause::From);
            let (_, j) = self.opt_alias(close + 1);
            let range = self.span(i, close + 1);
            self.out.blocks[b].from.push(item(Source::Other(range)));
            return j;
        }
        if self.is(i, TokenKind::Ident) && self.word_is(i, b"dual") {
            return i + 1;
        }
        let Some((schema, name, mut j)) = self.table_name(i) else {
            self.fail(i, "expected a table name");
            return e;
        };
        if self.is_kw(j, Kw::Partition) && self.is(j + 1, TokenKind::LParen) {
            match self.close(j + 1) {
                Some(c) => j = c + 1,
                None => {
                    self.fail(j, "unbalanced parentheses");
                    return e;
                }
            }
        }
        let (alias, mut j) = self.opt_alias(j);
        // Index hints: USE|IGNORE|FORCE INDEX|KEY [FOR ...] (list)
        while (matches!(self.kw(j), Some(Kw::Use | Kw::Ignore)) || self.word_is(j, b"force"))
            && matches!(self.kw(j + 1), Some(Kw::Index | Kw::Key))
        {
            let mut k = j + 2;
            if self.is_kw(k, Kw::For) {
                k += if self.is_kw(k + 1, Kw::Join) { 2 } else { 3 };
            }
            match self.close(k).filter(|_| self.is(k, TokenKind::LParen)) {
                Some(c) => j = c + 1,
                None => {
                    self.fail(k, "bad index hint");
                    return e;
                }
            }
        }
        let range = self.span(i, if schema.is_some() { i + 3 } else { i + 1 });
        let t = self.push_table(range, schema, name, alias, role, b);
        self.out.blocks[b].from.push(item(Source::Table(t)));
        j
    }

    /// Records a table reference (marking CTE names) and returns its id.
    pub fn push_table(
        &mut self,
        range: std::ops::Range<usize>,
        schema: Option<Ident<'a>>,
        name: Ident<'a>,
        alias: Option<Ident<'a>>,
        role: TableRole,
        block: BlockId,
    ) -> TableId {
        let cte = if schema.is_none() {
            self.ctes
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name.name))
                .map(|&(_, b)| b)
        } else {
            None
        };
        self.out.tables.push(TableRef {
            range,
            schema,
            name,
            alias,
            role,
            block,
            target_of: None,
            cte,
        });
        self.out.tables.len() - 1
    }
}
