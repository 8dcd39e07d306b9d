//! CHECKSUM TABLE of sharded tables: one row per logical table, whose
//! checksum is the one a single server holding all its rows would give.
//! MariaDB's table checksum is the sum, modulo 2^32, of one CRC per row
//! (`mysql_checksum_table`: `crc += row_crc` in a 32-bit `ha_checksum`), so
//! the physical tables' checksums add up (checked against one server in
//! `tests/it/sharding_lock.rs`); a NULL (a missing physical table, QUICK on
//! a table without a live checksum) makes the whole NULL, as an unreadable
//! table does on one server. A broadcast table's copies are listed once
//! when they agree; a copy that differs gets a row of its own, so that
//! copies which drifted apart show.
//!
//! <https://mariadb.com/kb/en/checksum-table/>

use super::rename::{physical_table, write_text_result, RenameSpec};
use super::table_status::{text_result, Cells};

/// The combined reply to CHECKSUM TABLE from every group asked: one text
/// result set (`Table`, `Checksum`). A reply that is not a result set (an
/// ERR) is the answer as it is.
pub fn merge_checksum(replies: &[&[u8]], spec: &RenameSpec, deprecate_eof: bool) -> Vec<u8> {
    let mut results = Vec::with_capacity(replies.len());
    for reply in replies {
        match text_result(reply, deprecate_eof) {
            Some(r) if r.names.len() == 2 => results.push(r),
            _ => return reply.to_vec(),
        }
    }
    let Some(first) = results.first() else {
        return Vec::new();
    };
    let mut rows: Vec<Cells> = Vec::new();
    // Checksums so far, by the index of the row in `rows` (None: NULL).
    let mut sums: Vec<Option<u64>> = Vec::new();
    for result in &results {
        for row in &result.rows {
            let [table, checksum] = row.as_slice() else {
                continue;
            };
            let table = table.as_deref().unwrap_or_default();
            let value = checksum
                .as_deref()
                .and_then(|c| std::str::from_utf8(c).ok())
                .and_then(|c| c.parse::<u64>().ok());
            let (schema, name) = match table.iter().rposition(|&b| b == b'.') {
                Some(dot) => (&table[..=dot], &table[dot + 1..]),
                None => (&[][..], table),
            };
            let (logical, sharded) = match physical_table(name, &spec.sharded) {
                Some((i, _)) => ([schema, spec.sharded[i].as_bytes()].concat(), true),
                None => (table.to_vec(), false),
            };
            let value = value.map(|v| v & 0xffff_ffff);
            let same_name = |r: &Cells| r[0].as_deref() == Some(logical.as_slice());
            match rows.iter().position(same_name) {
                Some(at) if sharded => {
                    sums[at] = match (sums[at], value) {
                        (Some(a), Some(b)) => Some((a + b) & 0xffff_ffff),
                        _ => None,
                    };
                }
                // Another copy of a broadcast table: listed once when the
                // copies agree; each copy that differs is listed too, so
                // an operator sees that they drifted apart.
                Some(_)
                    if rows
                        .iter()
                        .zip(&sums)
                        .any(|(r, s)| same_name(r) && *s == value) => {}
                _ => {
                    rows.push(vec![Some(logical), None]);
                    sums.push(value);
                }
            }
        }
    }
    for (row, sum) in rows.iter_mut().zip(&sums) {
        row[1] = sum.map(|s| s.to_string().into_bytes());
    }
    write_text_result(&first.head, &rows, &first.terminator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::local::{text_result_set, IDLE_STATUS};
    use shardgate_proto::capability::Capabilities;

    fn reply(rows: &[(&str, Option<u64>)]) -> Vec<u8> {
        let rows: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|(t, c)| vec![Some(t.to_string()), c.map(|c| c.to_string())])
            .collect();
        text_result_set(
            Capabilities::DEPRECATE_EOF,
            IDLE_STATUS,
            &["Table", "Checksum"],
            &rows,
        )
    }

    fn listed(out: &[u8]) -> Vec<(String, String)> {
        text_result(out, true)
            .expect("a result set")
            .rows
            .into_iter()
            .map(|r| {
                let cell = |c: &Option<Vec<u8>>| {
                    c.as_ref()
                        .map_or("NULL".into(), |c| String::from_utf8_lossy(c).into_owned())
                };
                (cell(&r[0]), cell(&r[1]))
            })
            .collect()
    }

    #[test]
    fn physical_checksums_add_up_modulo_2_32() {
        let spec = RenameSpec {
            sharded: vec!["ck".into(), "article".into()],
            checksum: true,
            ..RenameSpec::default()
        };
        let g0 = reply(&[
            ("blog.ck_0000", Some(4_000_000_000)),
            ("blog.ck_0001", Some(500_000_000)),
            ("blog.country", Some(77)),
            ("blog.article_0000", Some(5)),
        ]);
        let g1 = reply(&[
            ("blog.ck_0002", Some(3)),
            ("blog.country", Some(77)),
            ("blog.article_0001", None),
        ]);
        let g2 = reply(&[("blog.country", Some(78))]);
        let out = merge_checksum(&[&g0, &g1], &spec, true);
        let sum = (4_000_000_000u64 + 500_000_000 + 3) % (1 << 32);
        assert_eq!(
            listed(&out),
            [
                ("blog.ck".to_string(), sum.to_string()),
                ("blog.country".to_string(), "77".to_string()),
                // One physical table without a checksum: none for the table.
                ("blog.article".to_string(), "NULL".to_string()),
            ]
        );
        // A copy that differs is listed too.
        let out = merge_checksum(&[&g0, &g1, &g2], &spec, true);
        let countries: Vec<String> = listed(&out)
            .into_iter()
            .filter(|(t, _)| t == "blog.country")
            .map(|(_, c)| c)
            .collect();
        assert_eq!(countries, ["77", "78"]);
        // One group holding every shard is summed too.
        let out = merge_checksum(&[&g0], &spec, true);
        assert_eq!(
            listed(&out)[0].1,
            ((4_000_000_000u64 + 500_000_000) % (1 << 32)).to_string()
        );
        // An ERR from a group is the answer.
        let mut err = Vec::new();
        shardgate_proto::frame::write_packet(&mut err, &mut 1, b"\xff\x15\x04#28000denied");
        assert_eq!(merge_checksum(&[&g0, &err], &spec, true), err);
    }
}
