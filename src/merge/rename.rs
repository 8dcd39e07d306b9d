//! Metadata results in logical terms: SHOW TABLES and information_schema
//! queries run on one group, whose tables include the physical shards of
//! sharded tables (`article_0000`, `article_0001`). This rewrites such a
//! (small, fully buffered) text result: one physical table stands for each
//! sharded table (rows naming its others are dropped: their sizes and row
//! counts differ, and the rows would repeat the logical name), cells
//! naming a physical table become the logical name, rows that then repeat
//! are dropped, logical
//! tables the group holds no shard of are added (SHOW TABLES), and rows are
//! sorted by their first column as SHOW TABLES sorts them. A SHOW ... LIKE
//! pattern is matched against the logical names (the group is asked for
//! every table); SHOW TABLES and TABLE STATUS list a logical table once
//! (its first physical table's row). SHOW CREATE TABLE / SHOW INDEX of a
//! sharded table name the logical table, in its cells and in the CREATE
//! TABLE statement.

use shardgate_proto::codec::Reader;
use shardgate_proto::frame::{for_each_packet, write_packet};
use shardgate_proto::row::encode_text_row;

/// What to rewrite.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenameSpec {
    /// Logical names of sharded tables: `NAME_dddd` cells become `NAME`.
    pub sharded: Vec<String>,
    /// SHOW TABLES / TABLE STATUS: one row per table (the first), sorted
    /// by the first column.
    pub show_tables: bool,
    /// SHOW TABLES: list the logical tables even if no row names them (the
    /// group holds no shard of them).
    pub add_missing: bool,
    /// SHOW ... LIKE: the pattern the (logical) first column must match.
    pub like: Option<Vec<u8>>,
    /// Per entry of `sharded`, the physical table that stands for it (the
    /// first one on the group asked; `None`: any): rows naming its other
    /// physical tables are dropped, so an information_schema listing has
    /// one row per logical table (TABLES rows of two shards differ in
    /// their row counts and sizes, and would both show as `article`).
    pub shown_shard: Vec<Option<usize>>,
    /// CHECKSUM TABLE: every group's rows combined into one per logical
    /// table ([`super::checksum`]).
    pub checksum: bool,
}

/// The logical name of a physical table name, if it is one.
fn logical<'s>(cell: &[u8], sharded: &'s [String]) -> Option<&'s str> {
    physical_table(cell, sharded).map(|(i, _)| sharded[i].as_str())
}

/// Which entry of `sharded` a physical table name belongs to, and its
/// number (`article_0003` -> (index of `article`, 3)).
pub(super) fn physical_table(cell: &[u8], sharded: &[String]) -> Option<(usize, usize)> {
    if cell.len() < 6
        || cell[cell.len() - 5] != b'_'
        || !cell[cell.len() - 4..].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let base = &cell[..cell.len() - 5];
    let i = sharded
        .iter()
        .position(|s| s.as_bytes().eq_ignore_ascii_case(base))?;
    let number = cell[cell.len() - 4..]
        .iter()
        .fold(0, |n, d| n * 10 + usize::from(d - b'0'));
    Some((i, number))
}

/// A cell naming a physical table other than the one shown for its
/// logical table.
fn names_a_hidden_shard(cell: &[u8], spec: &RenameSpec) -> bool {
    physical_table(cell, &spec.sharded).is_some_and(|(i, number)| {
        spec.shown_shard
            .get(i)
            .copied()
            .flatten()
            .is_some_and(|shown| shown != number)
    })
}

/// SHOW CREATE TABLE's statement of a physical table, naming the logical
/// table instead (`CREATE TABLE \`article_0000\` (` ->
/// `CREATE TABLE \`article\` (`), if it is one.
fn logical_create_statement(cell: &[u8], sharded: &[String]) -> Option<Vec<u8>> {
    let prefix = [&b"CREATE TABLE `"[..], b"CREATE TEMPORARY TABLE `"]
        .into_iter()
        .find(|p| cell.starts_with(p))?;
    let rest = &cell[prefix.len()..];
    let end = rest.iter().position(|&b| b == b'`')?;
    let name = logical(&rest[..end], sharded)?;
    let mut out = Vec::with_capacity(cell.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(name.as_bytes());
    // FOREIGN KEY ... REFERENCES `article_0002`: the referenced table too,
    // so that the statement recreates the table through shardgate.
    let names: Vec<&str> = sharded.iter().map(String::as_str).collect();
    match super::err_names::logical_message(&rest[end..], &names) {
        Some(body) => out.extend_from_slice(&body),
        None => out.extend_from_slice(&rest[end..]),
    }
    Some(out)
}

/// The first cell of a row (`None` for NULL or no cell).
fn first_cell(row: &[Option<Vec<u8>>]) -> Option<&[u8]> {
    row.first().and_then(|c| c.as_deref())
}

/// SQL `LIKE`: `%` any run, `_` one character, `\\` escapes; bytewise
/// (table names compare case-sensitively, as SHOW TABLES LIKE does with
/// lower_case_table_names = 0). Greedy with one backtrack point (the last
/// `%`), so a client's pattern costs at most length x pattern steps.
pub(super) fn sql_like(s: &[u8], pattern: &[u8]) -> bool {
    // The length of the character starting at `s[i]` (`_` takes one).
    let char_len = |i: usize| match s[i] {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    };
    let (mut si, mut pi) = (0, 0);
    // After the last `%`: where the pattern resumes, and where in `s` the
    // `%` stopped matching.
    let mut star: Option<(usize, usize)> = None;
    loop {
        let step = match pattern.get(pi) {
            Some(b'%') => {
                pi += 1;
                star = Some((pi, si));
                continue;
            }
            None if si == s.len() => return true,
            None => None,
            Some(b'_') if si < s.len() && si + char_len(si) <= s.len() => Some((char_len(si), 1)),
            Some(b'\\') if pi + 1 < pattern.len() => {
                (s.get(si) == Some(&pattern[pi + 1])).then_some((1, 2))
            }
            Some(&p) => (s.get(si) == Some(&p)).then_some((1, 1)),
        };
        match (step, star) {
            (Some((ds, dp)), _) => {
                si += ds;
                pi += dp;
            }
            // Let the last `%` take one more byte, and try again after it.
            (None, Some((after, from))) if from < s.len() => {
                star = Some((after, from + 1));
                pi = after;
                si = from + 1;
            }
            (None, _) => return false,
        }
    }
}

/// Splits whole frames into packet payloads (continuations joined).
fn packets(frames: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for_each_packet(frames, |p| out.push(p.to_vec()));
    out
}

/// Rewrites a complete text result (frames from sequence id 1). Anything
/// that is not a single result set (OK, ERR, several results) is returned
/// unchanged.
pub fn rewrite_result(frames: &[u8], spec: &RenameSpec, deprecate_eof: bool) -> Vec<u8> {
    let pk = packets(frames);
    let Some(first) = pk.first() else {
        return frames.to_vec();
    };
    if matches!(first.first(), Some(0x00 | 0xff | 0xfb) | None) {
        return frames.to_vec();
    }
    let Ok(ncols) = Reader::new(first).lenenc_int("column count") else {
        return frames.to_vec();
    };
    let ncols = ncols as usize;
    let meta_end = 1 + ncols + usize::from(!deprecate_eof);
    if pk.len() < meta_end + 1 {
        return frames.to_vec();
    }
    let terminator = &pk[pk.len() - 1];
    if terminator.first() != Some(&0xfe) {
        return frames.to_vec(); // an ERR mid-rows, or something unexpected
    }
    let mut rows: Vec<Vec<Option<Vec<u8>>>> = Vec::new();
    for row in &pk[meta_end..pk.len() - 1] {
        let mut r = Reader::new(row);
        let mut cells = Vec::with_capacity(ncols);
        let mut hidden = false;
        for _ in 0..ncols {
            if r.peek() == Some(0xfb) {
                let _ = r.u8("null");
                cells.push(None);
                continue;
            }
            match r.lenenc_bytes("cell") {
                Ok(c) if names_a_hidden_shard(c, spec) => {
                    hidden = true;
                    break;
                }
                Ok(c) => cells.push(Some(match logical(c, &spec.sharded) {
                    Some(name) => name.as_bytes().to_vec(),
                    None => {
                        logical_create_statement(c, &spec.sharded).unwrap_or_else(|| c.to_vec())
                    }
                })),
                Err(_) => return frames.to_vec(),
            }
        }
        if hidden {
            continue;
        }
        let named = first_cell(&cells);
        if spec
            .like
            .as_ref()
            .is_some_and(|p| !sql_like(named.unwrap_or_default(), p))
        {
            continue;
        }
        let repeated = if spec.show_tables {
            rows.iter().any(|r| first_cell(r) == named)
        } else {
            rows.contains(&cells)
        };
        if !repeated {
            rows.push(cells);
        }
    }
    if spec.show_tables {
        for name in spec.sharded.iter().filter(|_| spec.add_missing) {
            let matches = spec
                .like
                .as_ref()
                .is_none_or(|p| sql_like(name.as_bytes(), p));
            let present = rows.iter().any(|r| first_cell(r) == Some(name.as_bytes()));
            if matches && !present {
                let mut row = vec![Some(name.as_bytes().to_vec())];
                if ncols >= 2 {
                    row.push(Some(b"BASE TABLE".to_vec()));
                }
                row.resize(ncols, None);
                rows.push(row);
            }
        }
        rows.sort_by(|a, b| a.first().cmp(&b.first()));
    }
    write_text_result(&pk[..meta_end], &rows, terminator)
}

/// Frames a text result set from sequence id 1: `head` (column count,
/// definitions, [EOF]), `rows`, then `terminator`.
pub(super) fn write_text_result(
    head: &[Vec<u8>],
    rows: &[Vec<Option<Vec<u8>>>],
    terminator: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seq = 1u8;
    for p in head {
        write_packet(&mut out, &mut seq, p);
    }
    let mut buf = Vec::new();
    for r in rows {
        buf.clear();
        encode_text_row(r.iter().map(|c| c.as_deref()), &mut buf);
        write_packet(&mut out, &mut seq, &buf);
    }
    write_packet(&mut out, &mut seq, terminator);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::local::{text_result_set, IDLE_STATUS};
    use shardgate_proto::capability::Capabilities;

    fn rows_of(frames: &[u8], deprecate: bool) -> Vec<String> {
        let pk = packets(frames);
        let skip = 2 + usize::from(!deprecate);
        pk[skip..pk.len() - 1]
            .iter()
            .map(|r| {
                let mut rd = Reader::new(r);
                String::from_utf8(rd.lenenc_bytes("c").unwrap().to_vec()).unwrap()
            })
            .collect()
    }

    #[test]
    fn physical_tables_become_logical() {
        for deprecate in [false, true] {
            let caps = if deprecate {
                Capabilities::DEPRECATE_EOF
            } else {
                Capabilities::empty()
            };
            let rows: Vec<Vec<Option<String>>> = [
                "article_0000",
                "article_0001",
                "country",
                "zeta",
                "article_x",
            ]
            .iter()
            .map(|s| vec![Some(s.to_string())])
            .collect();
            let wire = text_result_set(caps, IDLE_STATUS, &["Tables_in_blog"], &rows);
            let spec = RenameSpec {
                sharded: vec!["article".into(), "comment".into()],
                show_tables: true,
                add_missing: true,
                like: None,
                shown_shard: Vec::new(),
                checksum: false,
            };
            let out = rewrite_result(&wire, &spec, deprecate);
            assert_eq!(
                rows_of(&out, deprecate),
                ["article", "article_x", "comment", "country", "zeta"]
            );
        }
    }

    #[test]
    fn an_information_schema_listing_shows_one_physical_table_per_logical_one() {
        // information_schema.TABLES on g0, which holds article_0000 and
        // article_0001 (different row counts) and comment_0002/_0003.
        let rows: Vec<Vec<Option<String>>> = [
            ("article_0000", "4"),
            ("comment_0003", "0"),
            ("article_0001", "1"),
            ("comment_0002", "2"),
            ("plain", "7"),
        ]
        .iter()
        .map(|(t, n)| vec![Some(t.to_string()), Some(n.to_string())])
        .collect();
        let wire = text_result_set(
            Capabilities::DEPRECATE_EOF,
            IDLE_STATUS,
            &["TABLE_NAME", "TABLE_ROWS"],
            &rows,
        );
        let spec = |shown_shard| RenameSpec {
            sharded: vec!["article".into(), "comment".into()],
            shown_shard,
            ..RenameSpec::default()
        };
        let cells = |spec: &RenameSpec| {
            let out = rewrite_result(&wire, spec, true);
            let pk = packets(&out);
            pk[3..pk.len() - 1]
                .iter()
                .map(|r| {
                    let mut rd = Reader::new(r);
                    let t = rd.lenenc_bytes("t").unwrap().to_vec();
                    let n = rd.lenenc_bytes("n").unwrap().to_vec();
                    format!(
                        "{} {}",
                        String::from_utf8(t).unwrap(),
                        String::from_utf8(n).unwrap()
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cells(&spec(vec![Some(0), Some(2)])),
            ["article 4", "comment 2", "plain 7"]
        );
        // Without the shown shards every physical table is a row.
        assert_eq!(
            cells(&spec(Vec::new())),
            [
                "article 4",
                "comment 0",
                "article 1",
                "comment 2",
                "plain 7"
            ]
        );
    }

    #[test]
    fn like_patterns() {
        assert!(sql_like(b"article", b"art%"));
        assert!(sql_like(b"article", b"%"));
        assert!(sql_like(b"article", b"a_ticle"));
        assert!(!sql_like(b"article", b"A%"));
        assert!(!sql_like(b"article", b"art"));
        assert!(sql_like(b"my_t", b"my\\_t"));
        assert!(!sql_like(b"myxt", b"my\\_t"));
        assert!(sql_like("tä".as_bytes(), b"t_"));
        assert!(sql_like(b"", b"%"));
        assert!(sql_like(b"a%b", b"a\\%b"));
        assert!(!sql_like(b"axb", b"a\\%b"));
        assert!(sql_like(b"abcabd", b"%ab_"));
        assert!(sql_like(b"article_0000", b"%_0%"));
        assert!(!sql_like(b"ab", b"a__"));
        // Many `%` against a long name: decided at once, not by trying
        // every split.
        let name = vec![b'a'; 64];
        let mut pattern = b"%a".repeat(30);
        pattern.push(b'b');
        assert!(!sql_like(&name, &pattern));
        assert!(sql_like(&name, &b"%a".repeat(30)));
    }

    /// The definition of LIKE, by trying every split (exponential; small
    /// inputs only).
    fn like_by_definition(s: &[u8], pattern: &[u8]) -> bool {
        let Some((&p, rest)) = pattern.split_first() else {
            return s.is_empty();
        };
        match p {
            b'%' => (0..=s.len()).any(|i| like_by_definition(&s[i..], rest)),
            b'_' => {
                let len = s.first().map_or(0, |&b| match b {
                    0xF0.. => 4,
                    0xE0.. => 3,
                    0xC0.. => 2,
                    _ => 1,
                });
                len > 0 && s.len() >= len && like_by_definition(&s[len..], rest)
            }
            b'\\' if !rest.is_empty() => {
                s.first() == Some(&rest[0]) && like_by_definition(&s[1..], &rest[1..])
            }
            _ => s.first() == Some(&p) && like_by_definition(&s[1..], rest),
        }
    }

    #[test]
    fn like_agrees_with_its_definition() {
        let atoms: [&[u8]; 6] = [b"a", b"b", b"%", b"_", b"\\", "\u{e4}".as_bytes()];
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut pick = |n: u64| -> Vec<u8> {
            let len = next() % n;
            (0..len)
                .flat_map(|_| atoms[(next() % 6) as usize].to_vec())
                .collect()
        };
        for _ in 0..20_000 {
            let (s, p) = (pick(7), pick(6));
            assert_eq!(
                sql_like(&s, &p),
                like_by_definition(&s, &p),
                "{s:?} LIKE {p:?}"
            );
        }
    }

    #[test]
    fn create_statements_name_the_logical_table() {
        let sharded = vec!["article".to_string()];
        assert_eq!(
            logical_create_statement(b"CREATE TABLE `article_0000` (\n  `id` int", &sharded)
                .as_deref(),
            Some(&b"CREATE TABLE `article` (\n  `id` int"[..])
        );
        assert_eq!(
            logical_create_statement(b"CREATE TABLE `other_0000` (", &sharded),
            None
        );
        assert_eq!(
            logical_create_statement(b"CREATE VIEW `article_0000`", &sharded),
            None
        );
    }

    #[test]
    fn non_result_replies_pass_through() {
        let mut ok = Vec::new();
        let mut seq = 1;
        write_packet(&mut ok, &mut seq, &[0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(rewrite_result(&ok, &RenameSpec::default(), false), ok);
    }
}
