//! Text-protocol results turned into binary-protocol results, packet by
//! packet, for prepared statements on sharded tables: shardgate runs each
//! EXECUTE as a plain query with the bound values as literals (one server
//! statement, routed by those values), and the client, which asked with
//! COM_STMT_EXECUTE, gets binary rows. Column definitions, EOF/OK/ERR pass
//! through unchanged (so sequence ids stay as they are); each text row
//! becomes a binary row with the same column types.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html>

use shardgate_proto::codec::Reader;
use shardgate_proto::column::{ColumnDefinition41, ColumnType};
use shardgate_proto::row::encode_binary_row;
use shardgate_proto::value::Value;
use shardgate_proto::{ProtoError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    First,
    Columns { left: u64 },
    MetaEof,
    Rows,
}

/// One result stream being converted.
#[derive(Debug, Clone)]
pub struct TextToBinary {
    state: State,
    deprecate_eof: bool,
    types: Vec<(ColumnType, bool)>,
}

impl TextToBinary {
    pub fn new(deprecate_eof: bool) -> TextToBinary {
        TextToBinary {
            state: State::First,
            deprecate_eof,
            types: Vec::new(),
        }
    }

    /// Converts one packet payload; `out` receives the payload to send.
    pub fn packet(&mut self, p: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let first = p.first().copied().unwrap_or(0);
        match self.state {
            State::First => {
                if !matches!(first, 0x00 | 0xff | 0xfb | 0xfe) {
                    let n = Reader::new(p).lenenc_int("column count")?;
                    self.types.clear();
                    self.state = State::Columns { left: n };
                }
                out.extend_from_slice(p);
            }
            State::Columns { left } => {
                let def = ColumnDefinition41::decode(p)?;
                self.types.push(def.binary_type());
                self.state = if left > 1 {
                    State::Columns { left: left - 1 }
                } else if self.deprecate_eof {
                    State::Rows
                } else {
                    State::MetaEof
                };
                out.extend_from_slice(p);
            }
            State::MetaEof => {
                self.state = State::Rows;
                out.extend_from_slice(p);
            }
            State::Rows => {
                let terminator = first == 0xff
                    || (first == 0xfe
                        && p.len() < 0xff_ffff
                        && (self.deprecate_eof || p.len() < 9));
                if terminator {
                    // A following result (MORE_RESULTS) starts over.
                    self.state = State::First;
                    out.extend_from_slice(p);
                    return Ok(());
                }
                let mut r = Reader::new(p);
                let mut values: Vec<Value<'_>> = Vec::with_capacity(self.types.len());
                for &(ty, unsigned) in &self.types {
                    if r.peek() == Some(0xfb) {
                        r.u8("NULL")?;
                        values.push(Value::Null);
                        continue;
                    }
                    let text = r.lenenc_bytes("text cell")?;
                    let v = match ty {
                        // Strings, blobs, decimals, JSON, BIT...: the bytes.
                        t if t.is_integer() || t.is_float() || t.is_date() || t.is_time() => {
                            Value::from_text(ty, unsigned, text)?
                        }
                        _ => Value::Bytes(text),
                    };
                    values.push(v);
                }
                if !r.is_empty() {
                    return Err(ProtoError::TrailingBytes {
                        what: "text row",
                        left: r.len(),
                    });
                }
                encode_binary_row(&values, &self.types, out)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proto::row::decode_binary_row;

    fn col(name: &[u8], ty: ColumnType) -> Vec<u8> {
        let mut p = Vec::new();
        ColumnDefinition41::new(name, ty, 45).encode(&mut p);
        p
    }

    #[test]
    fn rows_become_binary() {
        let mut t = TextToBinary::new(false);
        let mut out = Vec::new();
        t.packet(&[3], &mut out).unwrap();
        for (n, ty) in [
            (&b"a"[..], ColumnType::LongLong),
            (b"b", ColumnType::VarString),
            (b"c", ColumnType::DateTime),
        ] {
            out.clear();
            t.packet(&col(n, ty), &mut out).unwrap();
        }
        out.clear();
        t.packet(&[0xfe, 0, 0, 2, 0], &mut out).unwrap();
        let mut row = Vec::new();
        shardgate_proto::row::encode_text_row(
            [Some(&b"-42"[..]), None, Some(b"2026-11-22 01:02:03.5")],
            &mut row,
        );
        out.clear();
        t.packet(&row, &mut out).unwrap();
        let types = [
            (ColumnType::LongLong, false),
            (ColumnType::VarString, false),
            (ColumnType::DateTime, false),
        ];
        let values = decode_binary_row(&out, &types).unwrap();
        assert_eq!(values[0], Value::Int(-42));
        assert_eq!(values[1], Value::Null);
        assert!(matches!(
            values[2],
            Value::Date {
                year: 2026,
                month: 11,
                day: 22,
                hour: 1,
                minute: 2,
                second: 3,
                micros: 500000
            }
        ));
        out.clear();
        t.packet(&[0xfe, 0, 0, 2, 0], &mut out).unwrap();
        assert_eq!(out, [0xfe, 0, 0, 2, 0]);
    }

    #[test]
    fn ok_and_err_pass_through() {
        let mut t = TextToBinary::new(true);
        let mut out = Vec::new();
        t.packet(&[0, 1, 0, 2, 0, 0, 0], &mut out).unwrap();
        assert_eq!(out, [0, 1, 0, 2, 0, 0, 0]);
    }
}
