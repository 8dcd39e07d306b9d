//! The routing-subset parser: turns one statement into what the sharding
//! planner needs — table references with byte ranges, shard-key predicates,
//! INSERT rows, the SELECT structure the merger needs (items, aggregates,
//! GROUP BY, ORDER BY, LIMIT), DDL targets, SHOW targets and route hints —
//! without ever failing on SQL it does not understand.
//!
//! # Use
//!
//! ```
//! use shardgate::sql::{parse, LexOptions};
//! use shardgate::sql::parse::{Leaf, Literal, Tree};
//! let sql = b"SELECT c FROM sbtest1 WHERE id=42";
//! let p = parse::parse(sql, LexOptions::default());
//! assert!(p.analysed());
//! assert_eq!(&sql[p.tables[0].range.clone()], b"sbtest1");
//! let Some(Tree::Leaf(Leaf::Cmp { col, value, .. })) = &p.blocks[0].where_ else { panic!() };
//! assert!(col.name.is(b"id") && value.lit == Literal::Int(42));
//! ```
//!
//! # The contract with the planner
//!
//! * [`Parsed::stmt`] says what the statement is; [`Stmt::Other`] means
//!   outside the subset: nothing was extracted (use [`mentions`] to check
//!   that it names no sharded table, then pass it through unchanged).
//! * [`Parsed::unsupported`] set means the parser met something it cannot
//!   analyse safely: `tables` may be incomplete. Check it first; refuse the
//!   statement if [`mentions`] finds a sharded table in it.
//! * Every table reference is in [`Parsed::tables`] with its role and block;
//!   [`Parsed::name_sites`] lists every byte range to replace when renaming
//!   table `i` (references, qualifiers such as `article.user_id`, and
//!   multi-table DELETE targets), so a rewrite keeps every other byte.
//! * Predicates are [`Tree`]s whose [`Tree::Unknown`] means "true on any
//!   shard": an OR holding an unknown is reported as unknown, an AND keeps
//!   its known operands. WHERE is per block ([`Block::where_`]); join
//!   conditions are on the FROM items ([`FromItem::on`]).
//! * `?` ordinals count every placeholder of the statement in order
//!   ([`Literal::Param`]), as COM_STMT_EXECUTE binds them.
//!
//! # Cost
//!
//! One lexing pass into a token vector, then recursive descent over token
//! indices; nothing is copied except names or strings with escapes. A
//! point SELECT allocates five small vectors (see `bench/sql_route.rs`).
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/sql-statements.html>
//! <https://mariadb.com/kb/en/sql-statements/>

mod common;
mod ddl;
mod expr;
mod hints;
mod insert;
mod load;
mod select;
mod summary;
mod types;
mod update_delete;

#[cfg(test)]
mod tests;

pub use expr::{agg_func, is_aggregate_name};
pub use hints::SHARD_KEY_VAR;
pub use types::*;

use common::P;

use super::lexer::{unquote_ident, Kw, LexOptions, Lexer, TokenKind};

/// Parses the first statement of `sql` (a COM_QUERY or COM_STMT_PREPARE
/// text). Never fails: see [`Parsed::unsupported`].
pub fn parse(sql: &[u8], opts: LexOptions) -> Parsed<'_> {
    finish_parse(P::new(sql, opts))
}

/// Like [`parse`], for a query already lexed (with the same `opts`):
/// `tokens` are all its tokens in order, as
/// [`crate::sql::classify::classify_keeping_tokens`] keeps them.
pub fn parse_lexed(sql: &[u8], opts: LexOptions, tokens: Vec<crate::sql::Token>) -> Parsed<'_> {
    finish_parse(P::from_tokens(sql, opts, tokens.into_iter()))
}

fn finish_parse(mut p: P<'_>) -> Parsed<'_> {
    p.out
        .blocks
        .push(Block::new(BlockKind::Other, Place::Top, None));
    if !p.failed() {
        p.statement();
    }
    p.finish();
    p.out
}

/// Whether `sql` mentions `name` anywhere: as a word (unquoted, ASCII
/// case-insensitive) or inside a string literal (`PREPARE s FROM '...'`),
/// or anywhere after a lexing error. The conservative check for statements
/// the parser did not analyse: a `false` means no table of that name can be
/// touched.
pub fn mentions(sql: &[u8], opts: LexOptions, name: &[u8]) -> bool {
    Lexer::new(sql, opts).any(|t| match t.kind {
        TokenKind::String | TokenKind::Error(_) | TokenKind::Hint => contains_ci(t.text(sql), name),
        _ => t.is_word() && unquote_ident(t.text(sql)).eq_ignore_ascii_case(name),
    })
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

impl<'a> P<'a> {
    /// Dispatches on the statement's verb.
    fn statement(&mut self) {
        let n = self.t.len();
        let mut i = 0;
        if self.is_kw(0, Kw::With) {
            i = self.ctes(0, n, 0);
            if self.failed() {
                return;
            }
        }
        match self.kw(i) {
            Some(Kw::Select) => self.select_statement(i),
            None if self.is(i, TokenKind::LParen) => self.select_statement(i),
            Some(Kw::Insert | Kw::Replace) if i == 0 => self.insert(i),
            Some(Kw::Update) => self.update(i),
            Some(Kw::Delete) => self.delete(i),
            _ if i > 0 => self.fail(
                i,
                "WITH before a statement that is not SELECT/UPDATE/DELETE",
            ),
            Some(Kw::Create) => self.create(i),
            Some(Kw::Alter) => self.alter(i),
            Some(Kw::Drop) => self.drop(i),
            Some(Kw::Truncate) => self.truncate(i),
            Some(Kw::Rename) => self.rename(i),
            Some(Kw::Use) => self.use_db(i),
            Some(Kw::Lock) => self.lock(i),
            Some(Kw::Load) => self.load(i),
            Some(Kw::Unlock) if matches!(self.kw(i + 1), Some(Kw::Table | Kw::Tables)) => {
                self.out.stmt = Stmt::UnlockTables;
            }
            Some(Kw::Show) => self.show(i),
            Some(Kw::Describe | Kw::Desc | Kw::Explain) => self.describe(i),
            Some(Kw::Set) => self.set(i),
            _ => {}
        }
    }

    fn select_statement(&mut self, i: usize) {
        let n = self.t.len();
        self.out.stmt = Stmt::Select;
        self.out.blocks[0].kind = BlockKind::Select;
        let end = self.query_expr(i, n, 0);
        if end != n {
            self.fail(end, "unexpected text after the query");
        }
    }

    /// Passes over the whole statement once it is parsed: block 0's extent,
    /// qualified column references, DELETE targets, information_schema,
    /// route hints.
    fn finish(&mut self) {
        let n = self.t.len();
        let full = self.span(0, n);
        let b0 = &mut self.out.blocks[0];
        b0.range = full;
        b0.tokens = 0..n;
        let analysed = !matches!(
            self.out.stmt,
            Stmt::Other
                | Stmt::SetShardKey { .. }
                | Stmt::ExplainShardgate { .. }
                | Stmt::Use { .. }
                | Stmt::CreateDatabase { .. }
                | Stmt::DropDatabase { .. }
                | Stmt::ShowOther
        );
        if analysed && !self.failed() {
            self.qualified_refs();
        }
        for t in 0..self.out.tables.len() {
            let tr = &self.out.tables[t];
            if tr.role == TableRole::DeleteTarget
                && matches!(self.out.stmt, Stmt::Delete { multi: true })
            {
                let r = self.out.resolve(
                    0,
                    tr.schema.as_ref().map(|s| &*s.name),
                    &tr.name.name.clone(),
                );
                self.out.tables[t].target_of = Some(r);
            }
            let tr = &self.out.tables[t];
            if tr
                .schema
                .as_ref()
                .is_some_and(|s| s.is(b"information_schema"))
            {
                let is = &mut self.out.info_schema;
                if tr.name.is(b"tables") {
                    is.tables = true;
                } else if tr.name.is(b"columns") {
                    is.columns = true;
                } else {
                    is.other = true;
                }
            }
        }
        if !self.hints.is_empty() {
            self.out.hint = hints::route_hint(self.sql, &self.hints, self.opts);
        }
    }

    /// Finds every `t.c`, `db.t.c`, `t.*`, `db.t.*` outside table
    /// references and function names, and resolves its qualifier.
    fn qualified_refs(&mut self) {
        let n = self.t.len();
        // Table references, by position (they are parsed in text order).
        let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
        let sorted = self
            .out
            .tables
            .windows(2)
            .all(|w| w[0].range.start <= w[1].range.start);
        if !sorted {
            spans = self.out.tables.iter().map(|t| t.range.clone()).collect();
            spans.sort_by_key(|r| r.start);
        }
        let span_at = |p: &Self, k: usize| {
            if sorted {
                p.out.tables.get(k).map(|t| t.range.clone())
            } else {
                spans.get(k).cloned()
            }
        };
        let mut next_table = 0;
        let mut i = 0;
        while i + 2 < n {
            // Skip table references.
            let at = self.start(i);
            while span_at(self, next_table).is_some_and(|r| r.end <= at) {
                next_table += 1;
            }
            if span_at(self, next_table).is_some_and(|r| r.start <= at) {
                i += 1;
                continue;
            }
            if !self.is_word(i)
                || !self.is(i + 1, TokenKind::Dot)
                || (i > 0 && self.is(i - 1, TokenKind::Dot))
            {
                i += 1;
                continue;
            }
            let star = |p: &Self, k: usize| p.is(k, TokenKind::Op(crate::sql::Op::Star));
            let three = self.is_word(i + 2)
                && self.is(i + 3, TokenKind::Dot)
                && (self.is_word(i + 4) || star(self, i + 4));
            let last = if three { i + 4 } else { i + 2 };
            if !(self.is_word(last) || star(self, last))
                || matches!(self.kind(last + 1), TokenKind::LParen | TokenKind::Dot)
            {
                i = last + 1;
                continue;
            }
            let (schema, table) = if three {
                (Some(self.ident(i)), self.ident(i + 2))
            } else {
                (None, self.ident(i))
            };
            let column = (!star(self, last)).then(|| self.ident(last));
            let block = self.innermost_block(i);
            let resolved = self.out.resolve(
                block,
                schema.as_ref().map(|s| &*s.name),
                &table.name.clone(),
            );
            self.out.qualified.push(QualifiedRef {
                range: self.start(i)..self.end(last),
                schema,
                table,
                column,
                block,
                resolved,
            });
            i = last + 1;
        }
    }

    /// The innermost block whose tokens contain token `i`.
    fn innermost_block(&self, i: usize) -> BlockId {
        let mut best = 0;
        let mut best_len = usize::MAX;
        for (id, b) in self.out.blocks.iter().enumerate() {
            if b.tokens.contains(&i) && b.tokens.len() <= best_len {
                best = id;
                best_len = b.tokens.len();
            }
        }
        best
    }
}

impl<'a> Parsed<'a> {
    /// The statement was analysed completely (not `Other`, not unsupported).
    pub fn analysed(&self) -> bool {
        self.unsupported.is_none() && self.stmt != Stmt::Other
    }

    /// Block 0: the statement itself.
    pub fn top(&self) -> &Block<'a> {
        &self.blocks[0]
    }

    /// Whether any subquery, derived table or CTE occurs.
    pub fn has_subquery(&self) -> bool {
        self.blocks
            .iter()
            .any(|b| matches!(b.place, Place::Subquery(_) | Place::Derived | Place::Cte))
    }

    /// What `[schema.]qualifier` names when written in block `block`: the
    /// block's FROM items are searched first, then its parents' (correlated
    /// subqueries). Names compare ASCII case-insensitively; a qualifier with
    /// a schema also matches a table written without one.
    pub fn resolve(&self, block: BlockId, schema: Option<&[u8]>, qualifier: &[u8]) -> Resolved {
        let mut b = Some(block);
        let mut hops = 0;
        while let Some(blk) = b.and_then(|id| self.blocks.get(id)) {
            for f in &blk.from {
                match &f.source {
                    Source::Table(t) => {
                        let Some(tr) = self.tables.get(*t) else {
                            continue;
                        };
                        let hit = match &tr.alias {
                            Some(a) => schema.is_none() && a.is(qualifier),
                            None => {
                                tr.name.is(qualifier)
                                    && match (schema, &tr.schema) {
                                        (Some(s), Some(ts)) => ts.is(s),
                                        _ => true,
                                    }
                            }
                        };
                        if hit {
                            return match (tr.cte, &tr.alias) {
                                (_, Some(_)) => Resolved::Alias(*t),
                                (Some(c), None) => Resolved::Derived(c),
                                (None, None) => Resolved::Table(*t),
                            };
                        }
                    }
                    Source::Derived {
                        block,
                        alias: Some(a),
                    } if schema.is_none() && a.is(qualifier) => {
                        return Resolved::Derived(*block);
                    }
                    _ => {}
                }
            }
            b = blk.parent;
            hops += 1;
            if hops > self.blocks.len() {
                break;
            }
        }
        Resolved::Unresolved
    }

    /// The table a column of block `block` belongs to: by its qualifier, or
    /// for an unqualified column the block's only table (`None` when the
    /// block has several FROM items or a derived table).
    /// The outermost subquery block of `parent` between tokens `open` and
    /// `close` (the parentheses of a [`Leaf::InSubquery`]).
    pub fn subquery_within(&self, parent: BlockId, open: usize, close: usize) -> Option<BlockId> {
        self.blocks.iter().position(|b| {
            b.parent == Some(parent)
                && matches!(b.place, Place::Subquery(_))
                && b.tokens.start > open
                && b.tokens.end <= close
        })
    }

    pub fn column_table(&self, block: BlockId, col: &Column<'_>) -> Option<TableId> {
        match &col.table {
            Some(q) => self
                .resolve(block, col.schema.as_ref().map(|s| &*s.name), &q.name)
                .table(),
            None => match self.blocks.get(block)?.from.as_slice() {
                [FromItem {
                    source: Source::Table(t),
                    ..
                }] => Some(*t),
                _ => None,
            },
        }
    }

    /// Every byte range naming a table, with the table it names, sorted by
    /// position: table references (CTE names excluded), qualifiers that are
    /// table names (`article.user_id`), and multi-table DELETE targets
    /// that name a table. Replace `name` (and `schema`, if the physical
    /// schema differs) to rename table `table`.
    pub fn name_sites(&self) -> Vec<NameSite> {
        let mut v = Vec::with_capacity(self.tables.len());
        for (i, t) in self.tables.iter().enumerate() {
            if t.cte.is_some() {
                continue;
            }
            let table = match t.target_of {
                Some(Resolved::Table(x)) => x,
                Some(_) => continue,
                None => i,
            };
            v.push(NameSite {
                table,
                schema: t.schema.as_ref().map(|s| s.range.clone()),
                name: t.name.range.clone(),
            });
        }
        for q in &self.qualified {
            if let Resolved::Table(x) = q.resolved {
                v.push(NameSite {
                    table: x,
                    schema: q.schema.as_ref().map(|s| s.range.clone()),
                    name: q.table.range.clone(),
                });
            }
        }
        v.sort_by_key(|s| s.name.start);
        v
    }

    /// A compact one-line description (used by the test corpus, handy in
    /// `EXPLAIN SHARDGATE` output and logs).
    pub fn summary(&self, sql: &[u8]) -> String {
        summary::summary(self, sql)
    }
}
