//! The k-way merge of sorted shard streams: a binary min-heap of shard
//! indices ordered by the key of each shard's first buffered row
//! ([`ShardHeap`]). The merger emits the heap's top only while every
//! unfinished shard has a buffered row, so each row goes out as soon as it
//! is known to be the smallest, and memory stays at most one bounded buffer
//! per shard.
//!
//! Rows compare through [`RowOrder`], cell against cell, so a row costs
//! no sort key unless it has to be kept for hashing.
//!
//! <https://en.wikipedia.org/wiki/K-way_merge_algorithm>

use std::cmp::Ordering;
use std::sync::Arc;

use shardgate_proto::value::Value;

use super::collation::Collation;
use super::enums::EnumDef;
use super::key::{cell_key, cell_value, compare_cells, ColMeta};
use super::row::Row;

/// One ORDER BY column as the merge compares it.
#[derive(Debug, Clone)]
struct SortColumn {
    column: usize,
    desc: bool,
    meta: ColMeta,
    coll: Option<Collation>,
    /// An ENUM/SET column sorts by its members' numbers.
    members: Option<Arc<EnumDef>>,
}

/// How rows compare under an ORDER BY: column by column, cell against cell
/// ([`compare_cells`]), with no key built per row. Descending columns are
/// reversed (NULLs last, as in the server).
#[derive(Debug, Clone, Default)]
pub struct RowOrder {
    columns: Vec<SortColumn>,
    binary: bool,
}

impl RowOrder {
    /// The order of `(column, descending)` over rows whose columns are
    /// described by `meta` and `colls` (indices already checked).
    pub fn new(
        order_by: impl IntoIterator<Item = (usize, bool)>,
        meta: &[ColMeta],
        colls: &[Option<Collation>],
        binary: bool,
    ) -> RowOrder {
        let columns = order_by
            .into_iter()
            .filter_map(|(column, desc)| {
                Some(SortColumn {
                    column,
                    desc,
                    meta: *meta.get(column)?,
                    coll: colls.get(column).copied().flatten(),
                    members: None,
                })
            })
            .collect();
        RowOrder { columns, binary }
    }

    /// ENUM/SET columns (`enums[column]`, where known) sort by their
    /// members' numbers, as the server sorts them.
    pub fn with_enums(mut self, enums: &[Option<Arc<EnumDef>>]) -> RowOrder {
        for c in &mut self.columns {
            c.members = enums.get(c.column).cloned().flatten();
        }
        self
    }

    /// Compares two rows; `Err((column, problem))` when a cell is not a
    /// valid value of its column.
    pub fn try_cmp(&self, a: &Row, b: &Row) -> Result<Ordering, (usize, String)> {
        for c in &self.columns {
            if let Some(members) = &c.members {
                let ordinal = |cell: Option<&[u8]>| -> Result<Option<u64>, (usize, String)> {
                    let Some(cell) = cell else { return Ok(None) };
                    match cell_value(&c.meta, self.binary, cell).map_err(|e| (c.column, e))? {
                        Value::Bytes(v) => Ok(Some(members.ordinal(v))),
                        _ => Ok(Some(0)),
                    }
                };
                let o = ordinal(a.cell(c.column))?.cmp(&ordinal(b.cell(c.column))?);
                if o != Ordering::Equal {
                    return Ok(if c.desc { o.reverse() } else { o });
                }
                continue;
            }
            let o = compare_cells(
                &c.meta,
                c.coll.as_ref(),
                self.binary,
                a.cell(c.column),
                b.cell(c.column),
            )
            .map_err(|e| (c.column, e))?;
            if o != Ordering::Equal {
                return Ok(if c.desc { o.reverse() } else { o });
            }
        }
        Ok(Ordering::Equal)
    }

    /// Compares two rows already checked with [`RowOrder::check`].
    pub fn cmp(&self, a: &Row, b: &Row) -> Ordering {
        self.try_cmp(a, b).unwrap_or(Ordering::Equal)
    }

    /// Checks that every ORDER BY cell of a row reads as a value of its
    /// column, so that later comparisons cannot fail. Binary rows were
    /// decoded when they were split into cells, and any bytes are a string.
    pub fn check(&self, row: &Row) -> Result<(), (usize, String)> {
        if self.binary {
            return Ok(());
        }
        for c in self.columns.iter().filter(|c| !c.meta.is_string()) {
            cell_key(&c.meta, c.coll.as_ref(), false, row.cell(c.column))
                .map_err(|e| (c.column, e))?;
        }
        Ok(())
    }
}

/// A binary heap of shard indices; the order is given by the caller at each
/// operation (the keys live in the shards' queues, not in the heap).
#[derive(Debug, Clone, Default)]
pub struct ShardHeap {
    items: Vec<usize>,
}

impl ShardHeap {
    /// The smallest shard.
    pub fn peek(&self) -> Option<usize> {
        self.items.first().copied()
    }

    pub fn push(&mut self, shard: usize, cmp: impl Fn(usize, usize) -> Ordering) {
        self.items.push(shard);
        let mut i = self.items.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if cmp(self.items[i], self.items[parent]) == Ordering::Less {
                self.items.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    /// The top's key changed (its shard's head row was taken): restore
    /// the order.
    pub fn top_changed(&mut self, cmp: impl Fn(usize, usize) -> Ordering) {
        self.sift_down(0, &cmp);
    }

    /// Removes the top.
    pub fn pop(&mut self, cmp: impl Fn(usize, usize) -> Ordering) -> Option<usize> {
        if self.items.is_empty() {
            return None;
        }
        let top = self.items.swap_remove(0);
        self.sift_down(0, &cmp);
        Some(top)
    }

    fn sift_down(&mut self, mut i: usize, cmp: &impl Fn(usize, usize) -> Ordering) {
        let n = self.items.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && cmp(self.items[l], self.items[m]) == Ordering::Less {
                m = l;
            }
            if r < n && cmp(self.items[r], self.items[m]) == Ordering::Less {
                m = r;
            }
            if m == i {
                return;
            }
            self.items.swap(i, m);
            i = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proto::column::ColumnType;

    #[test]
    fn descending_columns_reverse_and_nulls_sort_first() {
        let meta = ColMeta {
            ty: ColumnType::LongLong,
            unsigned: false,
            decimals: 0,
            charset: 63,
            cells_charset: 63,
            flags: Default::default(),
        };
        let metas = [meta, meta];
        let colls = [None, None];
        // (1, NULL) and (1, 0) as text rows.
        let a = Row::parse_text(b"\x011\xfb", 2).unwrap();
        let b = Row::parse_text(b"\x011\x010", 2).unwrap();
        let asc = RowOrder::new([(0, false), (1, false)], &metas, &colls, false);
        assert_eq!(asc.cmp(&a, &b), Ordering::Less);
        let desc = RowOrder::new([(0, false), (1, true)], &metas, &colls, false);
        assert_eq!(desc.cmp(&a, &b), Ordering::Greater);
    }

    #[test]
    fn merges_sorted_lists() {
        // 5 sorted lists merged through the heap equal the sorted union.
        let mut lists: Vec<Vec<i32>> = vec![
            vec![1, 4, 9, 12],
            vec![],
            vec![2, 2, 3, 15, 16],
            vec![0],
            vec![5, 6, 7, 8, 9, 10],
        ];
        let mut want: Vec<i32> = lists.iter().flatten().copied().collect();
        want.sort();
        for l in &mut lists {
            l.reverse(); // pop() from the back = smallest first
        }
        let mut heap = ShardHeap::default();
        for s in 0..lists.len() {
            if !lists[s].is_empty() {
                let ls = &lists;
                heap.push(s, |a, b| ls[a].last().cmp(&ls[b].last()).then(a.cmp(&b)));
            }
        }
        let mut got = Vec::new();
        while let Some(s) = heap.peek() {
            got.push(lists[s].pop().unwrap());
            let ls = &lists;
            let cmp = |a: usize, b: usize| ls[a].last().cmp(&ls[b].last()).then(a.cmp(&b));
            if lists[s].is_empty() {
                heap.pop(cmp);
            } else {
                heap.top_changed(cmp);
            }
        }
        assert_eq!(got, want);
        assert_eq!(heap.peek(), None);
    }
}
