//! What the merger knows of a column ([`ColMeta`], from its definition) and
//! the comparable, hashable form of one cell ([`Key`]): integers, exact
//! decimals, doubles, dates and times as numbers, strings as collation
//! weights. Sorting, grouping, DISTINCT, MIN/MAX and HAVING all compare
//! keys, so a value compares the same way wherever it is used.
//!
//! A cell is the bytes of one value as the stream carries it: the text of a
//! text-protocol cell, or the binary-protocol encoding of a value (see
//! [`super::row`]).
//!
//! <https://mariadb.com/kb/en/resultset-row/>
//! <https://mariadb.com/kb/en/null-values/#ordering>

use std::cmp::Ordering;

use shardgate_proto::codec::Reader;
use shardgate_proto::column::{ColumnDefinition41, ColumnFlags, ColumnType};
use shardgate_proto::value::Value;

use super::collation::{Collation, StrKey, BINARY};
use super::decimal::Decimal;

/// The parts of a column definition the merger uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColMeta {
    pub ty: ColumnType,
    pub unsigned: bool,
    pub decimals: u8,
    /// The collation the column's values compare by: the table column's
    /// own when it is known, else the result's character set field.
    pub charset: u16,
    /// The result's character set field (a collation id): the character
    /// set the cells' bytes are in.
    pub cells_charset: u16,
    pub flags: ColumnFlags,
}

impl ColMeta {
    pub fn of(def: &ColumnDefinition41<'_>) -> ColMeta {
        ColMeta {
            ty: def.column_type,
            unsigned: def.is_unsigned(),
            decimals: def.decimals,
            charset: def.character_set,
            cells_charset: def.character_set,
            flags: def.flags,
        }
    }

    /// The collation strings of this column compare by (binary for
    /// non-string types), `None` when unsupported.
    pub fn collation(&self) -> Option<Collation> {
        if self.is_string() {
            Collation::from_id(self.charset)?.reading(self.cells_charset)
        } else {
            Collation::from_id(BINARY)
        }
    }

    /// Strings (compared by collation), not numbers, temporals or bits.
    pub fn is_string(&self) -> bool {
        !(self.ty.is_integer()
            || self.ty.is_decimal()
            || self.ty.is_float()
            || self.ty.is_date()
            || self.ty.is_time()
            || matches!(self.ty, ColumnType::Null | ColumnType::Bit))
    }

    /// Why values of this column cannot be ordered like the server does,
    /// if they cannot.
    pub fn order_problem(&self) -> Option<String> {
        if self.flags.contains(ColumnFlags::ENUM) || self.flags.contains(ColumnFlags::SET) {
            return Some(
                "ENUM and SET columns sort by their index, which the result does not carry".into(),
            );
        }
        if let Some(p) = self.type_problem() {
            return Some(p);
        }
        None
    }

    /// Why values of this column cannot be compared for equality (GROUP
    /// BY, DISTINCT) or by value (MIN/MAX, HAVING) like the server does, if
    /// they cannot.
    pub fn equality_problem(&self) -> Option<String> {
        self.type_problem()
    }

    fn type_problem(&self) -> Option<String> {
        match self.ty {
            ColumnType::Json
            | ColumnType::Geometry
            | ColumnType::Vector
            | ColumnType::Unknown(_) => {
                return Some(format!(
                    "values of type {:?} cannot be compared by shardgate",
                    self.ty
                ))
            }
            _ => {}
        }
        if self.is_string()
            && Collation::from_id(self.charset).is_some()
            && self.collation().is_none()
        {
            return Some(format!(
                "its values come in a character set shardgate cannot read (collation id {} of the \
                 connection); use utf8mb4, utf8mb3, latin1 or binary results",
                self.cells_charset
            ));
        }
        if self.is_string() && Collation::from_id(self.charset).is_none() {
            return Some(format!(
                "collation id {} is not one shardgate can compare (supported: binary, *_bin, \
                 utf8mb4/utf8mb3 general_ci and unicode_ci, latin1_swedish_ci, latin1_general_ci, \
                 ascii_general_ci)",
                self.charset
            ));
        }
        None
    }
}

/// A `f64` with a total order and a hash (`-0.0` is made `0.0`).
#[derive(Debug, Clone, Copy)]
pub struct F64(pub f64);

impl PartialEq for F64 {
    fn eq(&self, other: &F64) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for F64 {}
impl Ord for F64 {
    fn cmp(&self, other: &F64) -> Ordering {
        (self.0 + 0.0).total_cmp(&(other.0 + 0.0))
    }
}
impl PartialOrd for F64 {
    fn partial_cmp(&self, other: &F64) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl std::hash::Hash for F64 {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self.0 + 0.0).to_bits().hash(h)
    }
}

/// One cell in comparable form. NULL is below everything, as in the
/// server's ascending order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Null,
    Int(i128),
    Dec(Decimal),
    Float(F64),
    /// Dates and datetimes (`YYYYMMDDhhmmss` * 10^6 + microseconds), times
    /// in signed microseconds.
    Temporal(i128),
    Str(StrKey),
}

/// Reads a cell as a [`Value`] of its column: the text parsed by type, or
/// the binary encoding decoded.
pub fn cell_value<'a>(meta: &ColMeta, binary: bool, cell: &'a [u8]) -> Result<Value<'a>, String> {
    let v = if binary {
        let mut r = Reader::new(cell);
        Value::decode_binary(&mut r, meta.ty, meta.unsigned)
    } else {
        Value::from_text(meta.ty, meta.unsigned, cell)
    };
    v.map_err(|e| format!("not a valid {:?} value: {e}", meta.ty))
}

/// The key of a cell (`None` = NULL).
pub fn cell_key(
    meta: &ColMeta,
    coll: Option<&Collation>,
    binary: bool,
    cell: Option<&[u8]>,
) -> Result<Key, String> {
    let Some(cell) = cell else {
        return Ok(Key::Null);
    };
    let v = cell_value(meta, binary, cell)?;
    Ok(match v {
        Value::Null => Key::Null,
        Value::Int(i) => Key::Int(i.into()),
        Value::UInt(u) => Key::Int(u.into()),
        Value::Float(f) => Key::Float(F64(f.into())),
        Value::Double(f) => Key::Float(F64(f)),
        Value::Date {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
        } => {
            let mut n: i128 = year.into();
            for part in [month, day, hour, minute, second] {
                n = n * 100 + i128::from(part);
            }
            Key::Temporal(n * 1_000_000 + i128::from(micros))
        }
        Value::Time { .. } => Key::Temporal(v.time_micros().unwrap_or(0)),
        Value::Bytes(b) if meta.ty.is_decimal() => {
            Key::Dec(Decimal::parse(b).ok_or_else(|| {
                format!(
                    "not a valid DECIMAL value: {:?}",
                    String::from_utf8_lossy(b)
                )
            })?)
        }
        Value::Bytes(b) => match coll {
            Some(c) => Key::Str(c.key(b)),
            None => return Err(format!("collation id {} is not supported", meta.charset)),
        },
    })
}

/// Compares two cells of one column as their keys would compare
/// ([`cell_key`]), without building a string's weights (see
/// [`Collation::compare`]).
pub fn compare_cells(
    meta: &ColMeta,
    coll: Option<&Collation>,
    binary: bool,
    a: Option<&[u8]>,
    b: Option<&[u8]>,
) -> Result<Ordering, String> {
    let (Some(x), Some(y)) = (a, b) else {
        return Ok(a.is_some().cmp(&b.is_some()));
    };
    if meta.is_string() {
        // Most binary string cells: a one-byte length, then the bytes.
        let short = binary
            .then(|| short_binary_string(x).zip(short_binary_string(y)))
            .flatten();
        let strings = match short {
            Some(pair) => Some(pair),
            None => match (cell_value(meta, binary, x)?, cell_value(meta, binary, y)?) {
                (Value::Bytes(p), Value::Bytes(q)) => Some((p, q)),
                _ => None,
            },
        };
        if let Some((p, q)) = strings {
            let c =
                coll.ok_or_else(|| format!("collation id {} is not supported", meta.charset))?;
            return Ok(c.compare(p, q));
        }
    }
    Ok(cell_key(meta, coll, binary, a)?.cmp(&cell_key(meta, coll, binary, b)?))
}

/// The bytes of a binary-protocol string cell shorter than 251 bytes (its
/// length prefix is one byte); `None` for longer or malformed cells, which
/// take the general decoding.
fn short_binary_string(cell: &[u8]) -> Option<&[u8]> {
    let (&len, rest) = cell.split_first()?;
    (len < 0xfb && rest.len() == usize::from(len)).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(ty: ColumnType, charset: u16) -> ColMeta {
        ColMeta {
            ty,
            unsigned: false,
            decimals: 0,
            charset,
            cells_charset: charset,
            flags: ColumnFlags::default(),
        }
    }

    fn k(ty: ColumnType, cs: u16, s: &str) -> Key {
        let m = meta(ty, cs);
        cell_key(&m, m.collation().as_ref(), false, Some(s.as_bytes())).unwrap()
    }

    #[test]
    fn binary_string_cells_compare_like_text_ones() {
        let m = meta(ColumnType::VarString, 45);
        let coll = m.collation();
        let lenenc = |s: &[u8]| {
            let mut out = Vec::new();
            shardgate_proto::codec::put_lenenc_bytes(&mut out, s);
            out
        };
        let long_a = "a".repeat(300);
        let long_b = format!("{}B", "a".repeat(299));
        let words: [&[u8]; 7] = [
            b"",
            b"abc",
            b"ABD",
            "été".as_bytes(),
            b"ab ",
            long_a.as_bytes(),
            long_b.as_bytes(),
        ];
        for x in words {
            for y in words {
                let text = compare_cells(&m, coll.as_ref(), false, Some(x), Some(y)).unwrap();
                let (bx, by) = (lenenc(x), lenenc(y));
                let bin = compare_cells(&m, coll.as_ref(), true, Some(&bx), Some(&by)).unwrap();
                assert_eq!(bin, text, "{x:?} vs {y:?}");
            }
        }
    }

    #[test]
    fn text_keys_order_like_the_server() {
        use ColumnType::*;
        assert!(k(LongLong, 63, "-10") < k(LongLong, 63, "9"));
        let mut um = meta(LongLong, 63);
        um.unsigned = true;
        let big = cell_key(&um, None, false, Some(b"18446744073709551615")).unwrap();
        assert!(big > k(LongLong, 63, "9"));
        assert_eq!(k(NewDecimal, 63, "10.50"), k(NewDecimal, 63, "10.5"));
        assert!(k(NewDecimal, 63, "-2.5") > k(NewDecimal, 63, "-10"));
        assert!(k(Double, 63, "1e15") > k(Double, 63, "999"));
        assert_eq!(k(Double, 63, "-0"), k(Double, 63, "0"));
        assert!(k(DateTime, 63, "2024-01-01 00:00:00") > k(DateTime, 63, "2023-12-31 23:59:59"));
        assert!(k(Date, 63, "2024-01-02") > k(Date, 63, "2024-01-01"));
        assert!(k(Time, 63, "-01:00:00") < k(Time, 63, "00:00:01"));
        assert!(k(Time, 63, "-100:00:00") < k(Time, 63, "-99:00:00"));
        assert!(k(Time, 63, "100:00:00") > k(Time, 63, "99:59:59.999999"));
        assert!(k(Time, 63, "838:59:59") > k(Time, 63, "24:00:00"));
        assert_eq!(k(VarString, 45, "abc "), k(VarString, 45, "ABC"));
        assert!(k(VarString, 46, "B") < k(VarString, 46, "a"));
        assert!(Key::Null < k(LongLong, 63, "-999"));
        assert!(cell_key(&meta(LongLong, 63), None, false, Some(b"x")).is_err());
        assert!(cell_key(&meta(VarString, 2304), None, false, Some(b"x")).is_err());
    }

    #[test]
    fn cell_comparison_agrees_with_keys() {
        use ColumnType::*;
        let cases: &[(ColumnType, u16, &[&str])] = &[
            (LongLong, 63, &["-10", "9", "0", "9"]),
            (NewDecimal, 63, &["10.50", "10.5", "-2.5", "-10"]),
            (Double, 63, &["1e15", "999", "-0", "0"]),
            (
                DateTime,
                63,
                &["2024-01-01 00:00:00", "2023-12-31 23:59:59"],
            ),
            (
                VarString,
                45,
                &["abc ", "ABC", "abd", "Straße", "strasse", ""],
            ),
            (VarString, 224, &["ß", "ss", "Æ", "ae"]),
            (VarString, 63, &["a", "a ", "B"]),
        ];
        for &(ty, cs, values) in cases {
            let m = meta(ty, cs);
            let coll = m.collation();
            let cells: Vec<Option<&[u8]>> = values
                .iter()
                .map(|v| Some(v.as_bytes()))
                .chain([None])
                .collect();
            for &a in &cells {
                for &b in &cells {
                    let keys = cell_key(&m, coll.as_ref(), false, a)
                        .unwrap()
                        .cmp(&cell_key(&m, coll.as_ref(), false, b).unwrap());
                    assert_eq!(
                        compare_cells(&m, coll.as_ref(), false, a, b).unwrap(),
                        keys,
                        "{ty:?}/{cs}: {a:?} vs {b:?}"
                    );
                }
            }
        }
        let bad = compare_cells(&meta(LongLong, 63), None, false, Some(b"1"), Some(b"x"));
        assert!(bad.is_err());
    }

    #[test]
    fn binary_cells() {
        let m = meta(ColumnType::Long, 63);
        assert_eq!(
            cell_key(&m, None, true, Some(&[0xff, 0xff, 0xff, 0xff])).unwrap(),
            Key::Int(-1)
        );
        assert!(cell_key(&m, None, true, Some(&[0xff])).is_err());
        let d = meta(ColumnType::NewDecimal, 63);
        assert_eq!(
            cell_key(&d, None, true, Some(b"\x041.50")).unwrap(),
            k(ColumnType::NewDecimal, 63, "1.5")
        );
    }

    #[test]
    fn descending_and_problems() {
        let mut e = meta(ColumnType::String, 45);
        e.flags = ColumnFlags::ENUM;
        assert!(e.order_problem().is_some());
        assert!(e.equality_problem().is_none());
        assert!(meta(ColumnType::VarString, 255).order_problem().is_some());
        assert!(meta(ColumnType::Json, 63).equality_problem().is_some());
        assert!(meta(ColumnType::LongLong, 8).order_problem().is_none());
    }
}
