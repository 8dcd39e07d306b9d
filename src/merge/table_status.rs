//! SHOW TABLE STATUS of a sharded schema, asked of every group that holds
//! shards: a sharded table is one row whose sizes are those of all its
//! physical tables (Rows, Data_length, Index_length, Data_free summed,
//! Avg_row_length recomputed from them, the largest Auto_increment, the
//! earliest Create_time, the latest Update_time and Check_time; the other
//! columns from its first physical table), so an operator sees how big
//! the table is, not one shard of it. Unsharded (and broadcast) tables are
//! the default group's rows. Rows come out sorted by name, filtered by the
//! statement's LIKE pattern, as [`super::rename`] does for one group.

use shardgate_proto::codec::Reader;
use shardgate_proto::column::ColumnDefinition41;
use shardgate_proto::frame::for_each_packet;

use super::rename::{physical_table, sql_like, write_text_result, RenameSpec};

pub(super) type Cells = Vec<Option<Vec<u8>>>;

/// One text result set: its column count and definitions (and EOF), its
/// column names, rows, and final packet.
pub(super) struct TextResult {
    pub head: Vec<Vec<u8>>,
    pub names: Vec<String>,
    pub rows: Vec<Cells>,
    pub terminator: Vec<u8>,
}

pub(super) fn text_result(frames: &[u8], deprecate_eof: bool) -> Option<TextResult> {
    let mut pk = Vec::new();
    for_each_packet(frames, |p| pk.push(p.to_vec()));
    let first = pk.first()?;
    if matches!(first.first(), Some(0x00 | 0xff | 0xfb) | None) {
        return None;
    }
    let ncols = usize::try_from(Reader::new(first).lenenc_int("column count").ok()?).ok()?;
    let meta_end = 1 + ncols + usize::from(!deprecate_eof);
    if pk.len() < meta_end + 1 || pk.last()?.first() != Some(&0xfe) {
        return None;
    }
    let names = pk[1..=ncols]
        .iter()
        .map(|d| {
            ColumnDefinition41::decode(d)
                .ok()
                .map(|c| String::from_utf8_lossy(c.name).into_owned())
        })
        .collect::<Option<Vec<_>>>()?;
    let mut rows = Vec::with_capacity(pk.len() - meta_end - 1);
    for row in &pk[meta_end..pk.len() - 1] {
        let mut r = Reader::new(row);
        let mut cells = Vec::with_capacity(ncols);
        for _ in 0..ncols {
            if r.peek() == Some(0xfb) {
                r.u8("null").ok()?;
                cells.push(None);
            } else {
                cells.push(Some(r.lenenc_bytes("cell").ok()?.to_vec()));
            }
        }
        rows.push(cells);
    }
    let terminator = pk.pop()?;
    pk.truncate(meta_end);
    Some(TextResult {
        head: pk,
        names,
        rows,
        terminator,
    })
}

/// How a column of sharded tables' rows combines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Combine {
    Sum,
    Max,
    Min,
    First,
}

fn combine_of(name: &str) -> Combine {
    match name.to_ascii_lowercase().as_str() {
        "rows" | "data_length" | "index_length" | "data_free" => Combine::Sum,
        "auto_increment" | "update_time" | "check_time" => Combine::Max,
        "create_time" => Combine::Min,
        _ => Combine::First,
    }
}

fn number(cell: &Option<Vec<u8>>) -> Option<u64> {
    std::str::from_utf8(cell.as_deref()?).ok()?.parse().ok()
}

/// Folds `row` (another physical table of the same logical table) into
/// `into`. Times compare as their `YYYY-MM-DD hh:mm:ss` text; NULL gives
/// way to a value.
fn fold(into: &mut Cells, row: Cells, combine: &[Combine]) {
    for ((a, b), &how) in into.iter_mut().zip(row).zip(combine) {
        let picked = match how {
            Combine::First => continue,
            Combine::Sum => match (number(a), number(&b)) {
                (Some(x), Some(y)) => Some(x.saturating_add(y).to_string().into_bytes()),
                (None, _) => b,
                (_, None) => a.take(),
            },
            Combine::Max | Combine::Min => match (&*a, &b) {
                (Some(x), Some(y)) => {
                    let greater = match (number(a), number(&b)) {
                        (Some(p), Some(q)) => q > p,
                        _ => y > x,
                    };
                    if greater == (how == Combine::Max) {
                        b
                    } else {
                        a.take()
                    }
                }
                (None, _) => b,
                (_, None) => a.take(),
            },
        };
        *a = picked;
    }
}

/// The combined listing of every group's SHOW TABLE STATUS reply
/// (`replies[0]` from the default group). `None` when a reply is not one
/// text result set of the same columns (an ERR): the caller answers with
/// the default group's reply alone.
pub fn merge_table_status(
    replies: &[&[u8]],
    spec: &RenameSpec,
    deprecate_eof: bool,
) -> Option<Vec<u8>> {
    let results = replies
        .iter()
        .map(|r| text_result(r, deprecate_eof))
        .collect::<Option<Vec<_>>>()?;
    let first = results.first()?;
    if results.iter().any(|r| r.names != first.names) {
        return None;
    }
    let name_at = first
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case("name"))?;
    let combine: Vec<Combine> = first.names.iter().map(|n| combine_of(n)).collect();
    let mut rows: Vec<Cells> = Vec::new();
    // The sharded tables' rows, by logical name (index into `rows`).
    let mut logical_rows: Vec<(usize, usize)> = Vec::new();
    for (i, result) in results.iter().enumerate() {
        for row in &result.rows {
            let name = row
                .get(name_at)
                .and_then(|c| c.as_deref())
                .unwrap_or_default();
            match physical_table(name, &spec.sharded) {
                Some((table, _)) => {
                    let mut row = row.clone();
                    row[name_at] = Some(spec.sharded[table].as_bytes().to_vec());
                    match logical_rows.iter().find(|(t, _)| *t == table) {
                        Some(&(_, at)) => fold(&mut rows[at], row, &combine),
                        None => {
                            logical_rows.push((table, rows.len()));
                            rows.push(row);
                        }
                    }
                }
                // Other tables: the default group's (the others hold
                // broadcast copies, or tables of their own).
                None if i == 0 => rows.push(row.clone()),
                None => {}
            }
        }
    }
    // Avg_row_length of the whole table.
    let at = |n: &str| first.names.iter().position(|c| c.eq_ignore_ascii_case(n));
    if let (Some(avg), Some(count), Some(data)) =
        (at("avg_row_length"), at("rows"), at("data_length"))
    {
        for &(_, r) in &logical_rows {
            if let (Some(c), Some(d)) = (number(&rows[r][count]), number(&rows[r][data])) {
                rows[r][avg] = Some(d.checked_div(c).unwrap_or(0).to_string().into_bytes());
            }
        }
    }
    if let Some(p) = &spec.like {
        rows.retain(|r| sql_like(r[name_at].as_deref().unwrap_or_default(), p));
    }
    rows.sort_by(|a, b| a[name_at].cmp(&b[name_at]));
    Some(write_text_result(&first.head, &rows, &first.terminator))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::local::{text_result_set, IDLE_STATUS};
    use shardgate_proto::capability::Capabilities;

    const COLS: [&str; 7] = [
        "Name",
        "Engine",
        "Rows",
        "Avg_row_length",
        "Data_length",
        "Auto_increment",
        "Create_time",
    ];

    /// Rows as `|`-separated cells (`NULL` for NULL).
    fn reply(rows: &[&str]) -> Vec<u8> {
        let rows: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|r| {
                r.split('|')
                    .map(|c| (c != "NULL").then(|| c.to_string()))
                    .collect()
            })
            .collect();
        text_result_set(Capabilities::DEPRECATE_EOF, IDLE_STATUS, &COLS, &rows)
    }

    fn listed(out: &[u8]) -> Vec<Vec<String>> {
        let r = text_result(out, true).expect("a result set");
        r.rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|c| c.map_or("NULL".into(), |c| String::from_utf8(c).unwrap()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn sharded_tables_add_up_over_groups() {
        let g0 = reply(&[
            "article_0000|InnoDB|10|1638|16384|11|2026-01-02 10:00:00",
            "article_0001|InnoDB|30|546|16384|31|2026-01-01 09:00:00",
            "country|InnoDB|2|8192|16384|NULL|2026-01-03 00:00:00",
            "plain|InnoDB|5|3276|16384|6|2026-01-03 00:00:00",
        ]);
        let g1 = reply(&[
            "article_0002|InnoDB|60|1092|65536|61|2026-01-02 11:00:00",
            "country|InnoDB|2|8192|16384|NULL|2026-01-04 00:00:00",
        ]);
        let spec = RenameSpec {
            sharded: vec!["article".into()],
            ..RenameSpec::default()
        };
        let out = merge_table_status(&[&g0, &g1], &spec, true).expect("merged");
        // 100 rows in 96 KiB: 983 bytes each; the largest counter, the
        // earliest creation.
        let want = [
            "article|InnoDB|100|983|98304|61|2026-01-01 09:00:00",
            "country|InnoDB|2|8192|16384|NULL|2026-01-03 00:00:00",
            "plain|InnoDB|5|3276|16384|6|2026-01-03 00:00:00",
        ];
        assert_eq!(
            listed(&out),
            want.map(|r| r.split('|').map(str::to_string).collect::<Vec<_>>())
        );
        let like = RenameSpec {
            like: Some(b"art%".to_vec()),
            ..spec.clone()
        };
        let out = merge_table_status(&[&g0, &g1], &like, true).expect("merged");
        assert_eq!(listed(&out).len(), 1);
        // An ERR from a group: not merged.
        let err = {
            let mut out = Vec::new();
            shardgate_proto::frame::write_packet(&mut out, &mut 1, b"\xff\x15\x04#28000denied");
            out
        };
        assert!(merge_table_status(&[&g0, &err], &spec, true).is_none());
    }
}
