//! Bound prepared-statement parameters as SQL literals, for prepared
//! statements on sharded tables: shardgate substitutes the values into the
//! statement text, routes it like a COM_QUERY (the key is then a literal),
//! and runs it on each shard as a one-shot server-side prepared statement so
//! the client still gets binary-protocol rows.
//!
//! Strings are quoted with the escapes the server's lexer undoes (`\0`, `\'`,
//! `\\`, `\n`, `\r`, `\Z`), or with doubled quotes only when the session has
//! NO_BACKSLASH_ESCAPES; BLOB-typed parameters get the `_binary` introducer so
//! their bytes are not reinterpreted in the connection character set.

use shardgate_proto::column::ColumnType;
use shardgate_proto::value::Value;

use crate::sql::parse::{BlockKind, Parsed, Stmt};

/// The names the server gives the select items that hold a `?` and no
/// alias (`COUNT(*) * ?`: named by its text, placeholder included), as
/// ` AS `...`` insertions at the items' ends: writing the values in would
/// otherwise rename the columns (`COUNT(*) * 2`).
pub fn param_item_names(parsed: &Parsed<'_>, sql: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let top = parsed.top();
    if !matches!(parsed.stmt, Stmt::Select) || top.kind != BlockKind::Select {
        return Vec::new();
    }
    let mut out = Vec::new();
    for item in &top.items {
        let holds_param = parsed.params.iter().any(|p| item.expr.contains(p));
        // (an alias is at most 256 characters)
        if item.alias.is_some() || !holds_param || item.expr.len() > 250 {
            continue;
        }
        out.push((item.expr.end, item.name_as_written(sql)));
    }
    out
}

/// Appends `bytes` as a quoted string literal.
pub fn quote_bytes(bytes: &[u8], backslash_escapes: bool, out: &mut Vec<u8>) {
    out.push(b'\'');
    for &b in bytes {
        if backslash_escapes {
            match b {
                0 => out.extend_from_slice(b"\\0"),
                b'\'' => out.extend_from_slice(b"\\'"),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                0x1a => out.extend_from_slice(b"\\Z"),
                _ => out.push(b),
            }
        } else if b == b'\'' {
            out.extend_from_slice(b"''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

fn is_blob(ty: ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::TinyBlob
            | ColumnType::MediumBlob
            | ColumnType::LongBlob
            | ColumnType::Blob
            | ColumnType::Geometry
    )
}

/// Appends the literal for one bound value of type `ty`.
pub fn value_literal(
    ty: ColumnType,
    value: &Value<'_>,
    backslash_escapes: bool,
    out: &mut Vec<u8>,
) {
    match value {
        Value::Null => out.extend_from_slice(b"NULL"),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::UInt(u) => out.extend_from_slice(u.to_string().as_bytes()),
        Value::Float(f) if f.is_finite() => out.extend_from_slice(format!("{f:e}").as_bytes()),
        Value::Double(d) if d.is_finite() => out.extend_from_slice(format!("{d:e}").as_bytes()),
        Value::Float(_) | Value::Double(_) => out.extend_from_slice(b"NULL"),
        Value::Bytes(b) => bytes_literal(ty, b, backslash_escapes, out),
        Value::Date { .. } | Value::Time { .. } => {
            let mut text = Vec::with_capacity(32);
            value.to_text(&mut text);
            quote_bytes(&text, backslash_escapes, out);
        }
    }
}

/// Appends the literal for a parameter sent with COM_STMT_SEND_LONG_DATA.
pub fn bytes_literal(ty: ColumnType, bytes: &[u8], backslash_escapes: bool, out: &mut Vec<u8>) {
    if is_blob(ty) {
        out.extend_from_slice(b"_binary");
    }
    quote_bytes(bytes, backslash_escapes, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(ty: ColumnType, v: Value<'_>) -> String {
        let mut out = Vec::new();
        value_literal(ty, &v, true, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn literals() {
        assert_eq!(lit(ColumnType::LongLong, Value::Int(-5)), "-5");
        assert_eq!(
            lit(ColumnType::LongLong, Value::UInt(u64::MAX)),
            "18446744073709551615"
        );
        assert_eq!(lit(ColumnType::Double, Value::Double(0.1)), "1e-1");
        assert_eq!(lit(ColumnType::Double, Value::Double(f64::NAN)), "NULL");
        assert_eq!(
            lit(ColumnType::VarString, Value::Bytes(b"it's a \\ test\0")),
            "'it\\'s a \\\\ test\\0'"
        );
        let mut out = Vec::new();
        value_literal(ColumnType::Blob, &Value::Bytes(b"\x00\xff"), true, &mut out);
        assert_eq!(out, b"_binary'\\0\xff'");
        assert_eq!(lit(ColumnType::Null, Value::Null), "NULL");
        let mut out = Vec::new();
        value_literal(
            ColumnType::VarString,
            &Value::Bytes(b"a'b"),
            false,
            &mut out,
        );
        assert_eq!(out, b"'a''b'");
    }

    #[test]
    fn items_holding_a_parameter_keep_the_servers_names() {
        let sql = b"SELECT COUNT(*) * ?, ?, MAX(`u`) + ? AS x, u FROM t WHERE u = ? GROUP BY u";
        let parsed = crate::sql::parse::parse(sql, crate::sql::LexOptions::default());
        let names: Vec<(usize, String)> = param_item_names(&parsed, sql)
            .into_iter()
            .map(|(at, n)| (at, String::from_utf8(n).unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                (19, " AS `COUNT(*) * ?`".to_string()),
                (22, " AS `?`".to_string())
            ]
        );
        let sql = b"SELECT `a` + ? FROM t";
        let parsed = crate::sql::parse::parse(sql, crate::sql::LexOptions::default());
        assert_eq!(
            param_item_names(&parsed, sql),
            [(14, b" AS ```a`` + ?`".to_vec())]
        );
        let sql = b"UPDATE t SET a = ? WHERE k = ?";
        let parsed = crate::sql::parse::parse(sql, crate::sql::LexOptions::default());
        assert!(param_item_names(&parsed, sql).is_empty());
    }
}
