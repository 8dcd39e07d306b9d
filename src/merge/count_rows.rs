//! `SELECT COUNT(*) FROM (<SELECT merged over shards>) t`, the count query
//! ORMs send before a page of a grouped or DISTINCT query (Laravel's
//! `paginate()`, Django's `.count()`): the merger merges the derived
//! table's rows as for the SELECT alone, counts them instead of sending
//! them, and answers the one row the server would: a BIGINT column named
//! as the client wrote it (`COUNT(*)` or its alias).

use shardgate_proto::column::{ColumnDefinition41, ColumnFlags, ColumnType};
use shardgate_proto::value::Value;

use super::row::Row;

/// The count column's definition, as MariaDB describes `COUNT(*)` over a
/// derived table.
pub fn definition(name: &[u8], out: &mut Vec<u8>) {
    ColumnDefinition41 {
        org_name: b"",
        column_length: 21,
        // As the server sends it (clients add NUM_FLAG themselves).
        flags: ColumnFlags::NOT_NULL | ColumnFlags::BINARY,
        ..ColumnDefinition41::new(name, ColumnType::LongLong, super::collation::BINARY)
    }
    .encode(out);
}

/// The one row: `count` as a text or binary cell.
pub fn row(count: u64, binary: bool) -> Row {
    let mut cell = Vec::new();
    if binary {
        let n = i64::try_from(count).unwrap_or(i64::MAX);
        // An integer always encodes as a BIGINT.
        let _ = Value::Int(n).encode_binary(ColumnType::LongLong, false, &mut cell);
    } else {
        cell = count.to_string().into_bytes();
    }
    let mut row = Row::with_capacity(1);
    row.push(Some(&cell));
    row
}
