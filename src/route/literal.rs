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
}
