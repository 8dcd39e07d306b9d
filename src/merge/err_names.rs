//! Error messages from the shards name the physical tables the statement
//! ran on (`Table 'blog.article_0001' doesn't exist`, `Unknown column
//! 'article_0003.x' in 'WHERE'`); the client wrote, and one server would
//! name, the logical table. On the error path only, every
//! `<sharded table>_<digits>` in an ERR packet's message becomes the
//! table's name. SHOW CREATE TABLE's text gets the same treatment
//! (`FOREIGN KEY ... REFERENCES \`article_0002\``: `merge::rename`).

use crate::config::{TableKind, Topology};

/// The sharded tables' names of every schema (what physical names start
/// with).
pub fn sharded_names(topo: &Topology) -> Vec<&str> {
    let mut names: Vec<&str> = topo
        .schemas
        .iter()
        .flat_map(|s| s.tables.iter())
        .filter(|t| matches!(t.kind, TableKind::Sharded { .. }))
        .map(|t| t.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// `message` with each physical table name of `sharded` replaced by the
/// logical one; `None` when it names none.
pub fn logical_message(message: &[u8], sharded: &[&str]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < message.len() {
        if message[i] != b'_' {
            i += 1;
            continue;
        }
        let digits = message[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = i + 1 + digits;
        let ends_name = message.get(end).is_none_or(|&b| !ident_byte(b));
        if digits >= 4 && ends_name {
            let start = message[..i]
                .iter()
                .rposition(|&b| !ident_byte(b))
                .map_or(0, |p| p + 1);
            let base = &message[start..i];
            if sharded
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(base))
            {
                let o = out.get_or_insert_with(|| Vec::with_capacity(message.len()));
                o.extend_from_slice(&message[copied..i]);
                copied = end;
            }
        }
        i = end.max(i + 1);
    }
    let mut o = out?;
    o.extend_from_slice(&message[copied..]);
    Some(o)
}

/// An ERR packet payload (`0xff`, code, `#` and SQLSTATE, message) with
/// logical names in its message; `None` when it is not one or names no
/// physical table.
pub fn logical_err(payload: &[u8], sharded: &[&str]) -> Option<Vec<u8>> {
    if payload.first() != Some(&0xff) || payload.len() < 3 {
        return None;
    }
    // Protocol 4.1 servers always send the SQLSTATE marker.
    let head = if payload.get(3) == Some(&b'#') { 9 } else { 3 };
    let message = payload.get(head..)?;
    let renamed = logical_message(message, sharded)?;
    let mut out = Vec::with_capacity(head + renamed.len());
    out.extend_from_slice(&payload[..head]);
    out.extend_from_slice(&renamed);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(m: &str) -> String {
        let names = ["article", "comment", "h"];
        logical_message(m.as_bytes(), &names)
            .map_or_else(|| m.to_string(), |v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn physical_names_become_logical() {
        assert_eq!(
            msg("Table 'blog.article_0001' doesn't exist"),
            "Table 'blog.article' doesn't exist"
        );
        assert_eq!(
            msg("Unknown column 'article_0003.nope' in 'WHERE'"),
            "Unknown column 'article.nope' in 'WHERE'"
        );
        assert_eq!(
            msg("Cannot add or update a child row: a foreign key constraint fails (`blog`.`comment_0002`, CONSTRAINT `f` FOREIGN KEY (`user_id`) REFERENCES `article_0002` (`user_id`))"),
            "Cannot add or update a child row: a foreign key constraint fails (`blog`.`comment`, CONSTRAINT `f` FOREIGN KEY (`user_id`) REFERENCES `article` (`user_id`))"
        );
        assert_eq!(
            msg("Table 'H_12345' is read only"),
            "Table 'H' is read only"
        );
        assert_eq!(msg("x article_0001"), "x article");
        // Not a sharded table's physical name: left alone.
        for m in [
            "Duplicate entry '5' for key 'PRIMARY'",
            "Table 'blog.my_article_0001' doesn't exist",
            "Table 'blog.article_001' doesn't exist",
            "Table 'blog.article_0001x' doesn't exist",
            "article_",
            "_0001",
            "",
        ] {
            assert_eq!(msg(m), m);
        }
    }

    #[test]
    fn err_packets_keep_code_and_state() {
        let mut p = vec![0xff, 0x7a, 0x04, b'#'];
        p.extend_from_slice(b"42S02Table 'blog.article_0000' doesn't exist");
        let out = logical_err(&p, &["article"]).expect("renamed");
        assert_eq!(&out[..9], &p[..9]);
        assert_eq!(&out[9..], b"Table 'blog.article' doesn't exist");
        assert_eq!(logical_err(b"\x00\x00\x00", &["article"]), None);
        assert_eq!(logical_err(b"\xff", &["article"]), None);
    }
}
