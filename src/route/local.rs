//! Result sets shardgate answers itself (EXPLAIN SHARDGATE, SHOW TABLES of
//! logical tables, admin-style answers): text-protocol packets, framed and
//! numbered from sequence id 1, shaped for the client's
//! `CLIENT_DEPRECATE_EOF`.

use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::codec::{put_lenenc_int, put_u16, put_u8};
use shardgate_proto::column::{encode_column_count, ColumnDefinition41, ColumnType};
use shardgate_proto::frame::write_packet;
use shardgate_proto::row::encode_text_row;

/// utf8mb4_general_ci.
const UTF8MB4: u16 = 45;

/// One column of a result set shardgate answers.
#[derive(Debug, Clone, Copy)]
pub struct LocalColumn<'a> {
    pub name: &'a str,
    pub column_type: ColumnType,
    /// Collation id (63 = binary, for numbers).
    pub collation: u16,
    pub length: u32,
    pub flags: u16,
    pub decimals: u8,
}

impl<'a> LocalColumn<'a> {
    /// A VARCHAR column of `length` bytes (utf8mb4).
    pub fn text(name: &'a str, length: u32) -> Self {
        LocalColumn {
            name,
            column_type: ColumnType::VarString,
            collation: UTF8MB4,
            length,
            flags: 0,
            decimals: 0,
        }
    }
}

/// Frames a complete text result set: column count, definitions, \[EOF\],
/// rows, EOF (or OK with 0xfe). `status` goes in the final packet. Every
/// column is a VARCHAR.
pub fn text_result_set(
    caps: Capabilities,
    status: u16,
    columns: &[&str],
    rows: &[Vec<Option<String>>],
) -> Vec<u8> {
    let columns: Vec<LocalColumn<'_>> = columns
        .iter()
        .map(|name| LocalColumn::text(name, 1024))
        .collect();
    typed_result_set(caps, status, &columns, rows)
}

/// [`text_result_set`] with the columns' types given.
pub fn typed_result_set(
    caps: Capabilities,
    status: u16,
    columns: &[LocalColumn<'_>],
    rows: &[Vec<Option<String>>],
) -> Vec<u8> {
    let deprecate_eof = caps.contains(Capabilities::DEPRECATE_EOF);
    let mut out = Vec::with_capacity(64 + columns.len() * 32 + rows.len() * 32);
    let mut seq = 1u8;
    let mut p = Vec::with_capacity(64);
    encode_column_count(columns.len() as u64, &mut p);
    write_packet(&mut out, &mut seq, &p);
    for c in columns {
        p.clear();
        let mut def = ColumnDefinition41::new(c.name.as_bytes(), c.column_type, c.collation);
        def.column_length = c.length;
        def.flags = shardgate_proto::column::ColumnFlags(c.flags);
        def.decimals = c.decimals;
        def.encode(&mut p);
        write_packet(&mut out, &mut seq, &p);
    }
    if !deprecate_eof {
        p.clear();
        eof(&mut p, status);
        write_packet(&mut out, &mut seq, &p);
    }
    for row in rows {
        p.clear();
        encode_text_row(row.iter().map(|c| c.as_deref().map(str::as_bytes)), &mut p);
        write_packet(&mut out, &mut seq, &p);
    }
    p.clear();
    if deprecate_eof {
        put_u8(&mut p, 0xfe);
        put_lenenc_int(&mut p, 0);
        put_lenenc_int(&mut p, 0);
        put_u16(&mut p, status);
        put_u16(&mut p, 0);
    } else {
        eof(&mut p, status);
    }
    write_packet(&mut out, &mut seq, &p);
    out
}

fn eof(p: &mut Vec<u8>, status: u16) {
    put_u8(p, 0xfe);
    put_u16(p, 0);
    put_u16(p, status);
}

/// Status flags for a session that is not in a transaction.
pub const IDLE_STATUS: u16 = StatusFlags::AUTOCOMMIT.0;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::relay::{Expect, ReplyTracker};

    #[test]
    fn result_set_is_well_formed_for_both_eof_styles() {
        let rows = vec![
            vec![Some("g0".to_string()), None],
            vec![Some("g1".to_string()), Some("SELECT 1".to_string())],
        ];
        for deprecate in [false, true] {
            let caps = if deprecate {
                Capabilities::DEPRECATE_EOF
            } else {
                Capabilities::empty()
            };
            let wire = text_result_set(caps, IDLE_STATUS, &["group", "sql"], &rows);
            let mut t = ReplyTracker::new(Expect::ResultSets, deprecate);
            let a = t.advance(&wire).unwrap();
            assert!(a.done, "deprecate_eof={deprecate}");
            assert_eq!(a.consumed, wire.len());
            assert_eq!(t.outcome().status, IDLE_STATUS);
        }
    }
}
