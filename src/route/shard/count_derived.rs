//! `SELECT COUNT(*) FROM (<SELECT>) t` over several shards, when the
//! derived table does not keep each shard's rows apart (grouped by another
//! column than the shard key, DISTINCT without the key): the count query
//! ORMs send before a page (Laravel's `paginate()` on a grouped query,
//! Django's `.count()` on a DISTINCT or annotated queryset). The shards run
//! the derived table alone, planned as a merged SELECT; the merger merges
//! its rows (groups, DISTINCT, LIMIT) and counts them
//! (`MergeSpec::count_rows`), answering the one row the server would.

use super::*;
use crate::sql::parse::{AggArg, AggFunc, ItemKind, Source};

impl<'a, 't> Planner<'a, 't> {
    /// The derived table's block and the count column's name when the
    /// statement is `SELECT COUNT(*) [AS name] FROM (<SELECT>) [AS] t` and
    /// nothing more, every sharded table being right in that SELECT.
    pub(super) fn counted_derived(&self, sharded: &[TableId]) -> Option<(usize, Vec<u8>)> {
        let top = self.parsed.top();
        let plain_top = top.kind == BlockKind::Select
            && !top.distinct
            && !top.calc_found_rows
            && top.where_.is_none()
            && top.group_by.is_empty()
            && top.having.is_none()
            && top.order_by.is_empty()
            && top.limit.is_none()
            && top.lock.is_none()
            && top.into.is_none()
            && top.from.len() == 1
            && top.items.len() == 1;
        if !plain_top {
            return None;
        }
        let item = &top.items[0];
        let ItemKind::Aggregate(agg) = &item.kind else {
            return None;
        };
        let counts_rows = match &agg.arg {
            AggArg::Star => true,
            // COUNT(1): any non-NULL constant counts every row.
            AggArg::Expr(r) => self
                .sql
                .get(r.clone())
                .is_some_and(|t| !t.is_empty() && t.iter().all(u8::is_ascii_digit)),
        };
        if agg.func != AggFunc::Count || agg.distinct || !counts_rows {
            return None;
        }
        let Source::Derived { block, .. } = &top.from[0].source else {
            return None;
        };
        let d = self.parsed.blocks.get(*block)?;
        if d.kind != BlockKind::Select || d.parent != Some(0) {
            return None;
        }
        if sharded
            .iter()
            .any(|&t| self.parsed.tables[t].block != *block)
        {
            return None;
        }
        let name = match &item.alias {
            Some(a) => a.name.to_vec(),
            None => self.sql.get(item.expr.clone())?.to_vec(),
        };
        Some((*block, name))
    }

    /// The merge of the counted derived table `d` and the shards' SQL
    /// edits: the derived SELECT alone, planned as a merged SELECT.
    pub(super) fn counted_derived_spec(
        &self,
        d: usize,
        name: Vec<u8>,
    ) -> super::super::scatter::Plan {
        let block = self
            .parsed
            .blocks
            .get(d)
            .ok_or_else(|| "shardgate: no derived table".to_string())?;
        let local = super::super::scatter::ShardLocal::default();
        let (mut spec, mut edits) = super::super::scatter::merge_spec_of(
            self.parsed,
            block,
            self.sql,
            None,
            false,
            &local,
        )?;
        // Only the derived SELECT runs on the shards.
        edits.push((0..block.range.start, Vec::new()));
        edits.push((block.range.end..self.sql.len(), Vec::new()));
        spec.count_rows = Some(name);
        Ok((spec, edits))
    }
}
