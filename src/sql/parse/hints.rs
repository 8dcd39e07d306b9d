//! Route hints: the comment `/*+ shardgate: key=1222211, shard=3, master */`
//! (items separated by commas or spaces, several hint comments merged) and
//! the session statement `SET [SESSION] @@shardgate_shard_key = v` (`DEFAULT`
//! or `NULL` clears it).
//!
//! The classifier ([`crate::sql::classify`]) sees that SET as an ordinary
//! `Kind::Set` with a session assignment named `shardgate_shard_key`; the
//! planner must take it from [`Stmt::SetShardKey`] here and never replay it
//! to a backend, which does not know the variable. Other optimizer hints
//! (`/*+ MAX_EXECUTION_TIME(1000) */`) are not ours and are ignored.
//!
//! <https://dev.mysql.com/doc/refman/8.0/en/optimizer-hints.html>
//! <https://dev.mysql.com/doc/refman/8.0/en/set-variable.html>

use std::ops::Range;

use super::common::P;
use super::types::*;
use crate::sql::lexer::{Kw, LexOptions, Op, TokenKind};

/// The variable name of the session shard key.
pub const SHARD_KEY_VAR: &[u8] = b"shardgate_shard_key";

/// Parses the shardgate hint comments among `ranges` (each `/*+ ... */`).
pub(super) fn route_hint<'a>(
    sql: &'a [u8],
    ranges: &[Range<usize>],
    opts: LexOptions,
) -> Option<RouteHint<'a>> {
    let mut hint: Option<RouteHint<'a>> = None;
    for r in ranges {
        let Some(body_start) = r.start.checked_add(3) else {
            continue;
        };
        let body_end = r.end.saturating_sub(2).max(body_start);
        let Some(body) = sql.get(body_start..body_end) else {
            continue;
        };
        let lead = body.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let rest = &body[lead..];
        let Some(after) = rest
            .get(..9)
            .filter(|w| w.eq_ignore_ascii_case(b"shardgate"))
            .map(|_| &rest[9..])
        else {
            continue;
        };
        let colon = after.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let h = hint.get_or_insert_with(|| RouteHint {
            range: r.clone(),
            key: None,
            shard: None,
            master: false,
            error: None,
        });
        if after.get(colon) != Some(&b':') {
            h.error
                .get_or_insert("a shardgate hint is `/*+ shardgate: key=v */`");
            continue;
        }
        let items_start = body_start + lead + 9 + colon + 1;
        let items = sql.get(items_start..body_end).unwrap_or(&[]);
        if let Err(e) = hint_items(items, items_start, opts, h) {
            h.error.get_or_insert(e);
        }
    }
    hint
}

/// `key=v`, `shard=n`, `master`, separated by commas or spaces.
fn hint_items<'a>(
    items: &'a [u8],
    base: usize,
    opts: LexOptions,
    h: &mut RouteHint<'a>,
) -> Result<(), &'static str> {
    let p = P::new(items, opts);
    if p.failed() || !p.out.params.is_empty() || p.out.multi_statement {
        return Err("malformed shardgate hint");
    }
    let mut i = 0;
    let mut any = false;
    while i < p.t.len() {
        if p.is(i, TokenKind::Comma) {
            i += 1;
            continue;
        }
        any = true;
        if p.word_is(i, b"master") {
            h.master = true;
            i += 1;
        } else if p.word_is(i, b"key") && p.is_op(i + 1, Op::Eq) {
            let (mut v, next) = p
                .value(i + 2)
                .ok_or("shardgate hint key= takes a literal")?;
            if h.key.is_some() {
                return Err("shardgate hint gives key= twice");
            }
            v.range = v.range.start + base..v.range.end + base;
            h.key = Some(v);
            i = next;
        } else if p.word_is(i, b"shard") && p.is_op(i + 1, Op::Eq) {
            let shard = match p.value(i + 2) {
                Some((
                    Value {
                        lit: Literal::Int(n),
                        ..
                    },
                    _,
                )) if p.is(i + 2, TokenKind::Integer) => {
                    u32::try_from(n).map_err(|_| "shardgate hint shard= is out of range")?
                }
                _ => return Err("shardgate hint shard= takes a shard number"),
            };
            if h.shard.is_some_and(|s| s != shard) {
                return Err("shardgate hint gives two different shards");
            }
            h.shard = Some(shard);
            i += 3;
        } else {
            return Err("unknown shardgate hint (expected key=, shard= or master)");
        }
    }
    if !any {
        return Err("empty shardgate hint");
    }
    Ok(())
}

impl<'a> P<'a> {
    /// `SET ...` at `i`: recognises the shardgate shard key assignment.
    pub fn set(&mut self, i: usize) {
        let n = self.t.len();
        let mut j = i + 1;
        let mut count = 0;
        let mut found = None;
        while j < n {
            let k = self.scan0(j, n, |p, x| p.is(x, TokenKind::Comma));
            count += 1;
            if found.is_none() {
                found = self.shard_key_assignment(j, k);
            }
            j = k + 1;
        }
        let Some((start, eq, global)) = found else {
            return;
        };
        let k = self.scan0(eq, n, |p, x| p.is(x, TokenKind::Comma));
        let assignment = self.span(start, k);
        let value = if k == eq + 2 && matches!(self.kw(eq + 1), Some(Kw::Default | Kw::Null)) {
            ShardKeyValue::Clear
        } else if let Some(v) = self.value_exact(eq + 1, k) {
            ShardKeyValue::Set(v)
        } else {
            self.fail(
                eq + 1,
                "shardgate_shard_key takes a literal, DEFAULT or NULL",
            );
            ShardKeyValue::Clear
        };
        if global {
            self.fail(start, "shardgate_shard_key is a session variable only");
        }
        self.out.stmt = Stmt::SetShardKey {
            value,
            assignment,
            alone: count == 1,
        };
    }

    /// Whether the assignment `j..k` sets the shard key: (its first token,
    /// the index of its `=`, GLOBAL scope).
    fn shard_key_assignment(&self, j: usize, k: usize) -> Option<(usize, usize, bool)> {
        let (name_at, global) = match self.kw(j) {
            Some(Kw::Session | Kw::Local) => (j + 1, false),
            Some(Kw::Global | Kw::Persist | Kw::PersistOnly) => (j + 1, true),
            _ => (j, false),
        };
        let eq = name_at + 1;
        if eq >= k || !matches!(self.kind(eq), TokenKind::Op(Op::Eq | Op::Assign)) {
            return None;
        }
        let text = self.text(name_at);
        let (is_key, global) = match self.kind(name_at) {
            TokenKind::SysVar => {
                let v = text.get(2..).unwrap_or(&[]);
                let (scope, name) = match v.iter().position(|&b| b == b'.') {
                    Some(d) => (&v[..d], &v[d + 1..]),
                    None => (&b""[..], v),
                };
                let global = global
                    || scope.eq_ignore_ascii_case(b"global")
                    || scope.eq_ignore_ascii_case(b"persist");
                let scope_ok = scope.is_empty()
                    || global
                    || scope.eq_ignore_ascii_case(b"session")
                    || scope.eq_ignore_ascii_case(b"local");
                (
                    scope_ok && unquote(name).eq_ignore_ascii_case(SHARD_KEY_VAR),
                    global,
                )
            }
            TokenKind::Ident | TokenKind::QuotedIdent => {
                (unquote(text).eq_ignore_ascii_case(SHARD_KEY_VAR), global)
            }
            _ => (false, global),
        };
        is_key.then_some((j, eq, global))
    }
}

/// `` `name` `` → `name` (no doubled backquotes in our variable name).
fn unquote(t: &[u8]) -> &[u8] {
    t.strip_prefix(b"`")
        .and_then(|t| t.strip_suffix(b"`"))
        .unwrap_or(t)
}
