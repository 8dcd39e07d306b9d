//! Result rows: text rows (`COM_QUERY`: one length-encoded string per cell,
//! 0xfb for NULL) and binary rows (`COM_STMT_EXECUTE`: a 0x00 header, a NULL
//! bitmap with an offset of 2 bits, then the non-NULL values in their
//! binary form, see [`crate::value`]).
//!
//! Decoding allocates nothing: cells are visited or iterated as slices of
//! (or values borrowing from) the payload. The proxy relays rows untouched
//! for single-shard replies and uses these to read the cells it sorts,
//! groups or aggregates, and to write the rows it builds.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_row.html>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html>
//! <https://mariadb.com/kb/en/resultset-row/>

use crate::codec::{put_lenenc_bytes, Reader};
use crate::column::ColumnType;
use crate::error::{ProtoError, Result};
use crate::value::Value;

/// The cell marker of NULL in a text row.
pub const NULL_CELL: u8 = 0xfb;
/// First byte of a binary row.
pub const BINARY_ROW_HEADER: u8 = 0x00;

/// A text row of `ncols` cells over its payload.
#[derive(Debug, Clone, Copy)]
pub struct TextRow<'a> {
    payload: &'a [u8],
    ncols: usize,
}

impl<'a> TextRow<'a> {
    pub fn new(payload: &'a [u8], ncols: usize) -> Self {
        TextRow { payload, ncols }
    }

    /// The cells in order, `None` for NULL. Yields an error (then stops)
    /// when the payload ends early or has bytes after the last cell.
    pub fn cells(&self) -> TextCells<'a> {
        TextCells {
            r: Reader::new(self.payload),
            left: self.ncols,
            done: false,
        }
    }
}

/// Iterator over the cells of a [`TextRow`].
#[derive(Debug, Clone)]
pub struct TextCells<'a> {
    r: Reader<'a>,
    left: usize,
    done: bool,
}

impl<'a> Iterator for TextCells<'a> {
    type Item = Result<Option<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            return match self.r.finish("text row") {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            };
        }
        self.left -= 1;
        let cell = if self.r.peek() == Some(NULL_CELL) {
            self.r.skip(1, "text row: NULL").map(|()| None)
        } else {
            self.r.lenenc_bytes("text row: cell").map(Some)
        };
        if cell.is_err() {
            self.done = true;
        }
        Some(cell)
    }
}

/// Calls `visit(index, cell)` for each of the `ncols` cells of a text row
/// (`None` for NULL). The payload must hold exactly `ncols` cells.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_row.html>
pub fn text_row_cells<'a>(
    payload: &'a [u8],
    ncols: usize,
    mut visit: impl FnMut(usize, Option<&'a [u8]>),
) -> Result<()> {
    for (i, cell) in TextRow::new(payload, ncols).cells().enumerate() {
        visit(i, cell?);
    }
    Ok(())
}

/// Appends a text row made of `cells` (`None` for NULL).
pub fn encode_text_row<'x>(cells: impl IntoIterator<Item = Option<&'x [u8]>>, out: &mut Vec<u8>) {
    for cell in cells {
        match cell {
            None => out.push(NULL_CELL),
            Some(s) => put_lenenc_bytes(out, s),
        }
    }
}

/// Size of a binary row's NULL bitmap for `ncols` columns (offset 2).
pub const fn binary_null_bitmap_len(ncols: usize) -> usize {
    (ncols + 7 + 2) / 8
}

/// Iterator over the values of a binary row, [`Value::Null`] for NULL
/// cells. Yields an error (then stops) on malformed bytes or bytes after the
/// last value.
#[derive(Debug, Clone)]
pub struct BinaryValues<'a, 't> {
    bitmap: &'a [u8],
    r: Reader<'a>,
    types: &'t [(ColumnType, bool)],
    index: usize,
    done: bool,
}

/// Reads the header byte and the NULL bitmap of a binary row of `ncols`
/// columns from `r` (at the row's start); returns the bitmap (column `i`
/// is NULL when bit `i + 2` is set).
pub fn binary_row_start<'a>(r: &mut Reader<'a>, ncols: usize) -> Result<&'a [u8]> {
    if r.u8("binary row: header")? != BINARY_ROW_HEADER {
        return Err(ProtoError::Invalid {
            what: "binary row: header",
        });
    }
    r.take(binary_null_bitmap_len(ncols), "binary row: NULL bitmap")
}

impl<'a, 't> BinaryValues<'a, 't> {
    /// Reads the header and NULL bitmap of `payload`, a binary row whose
    /// columns have `types` (type and unsigned flag, from
    /// [`crate::column::ColumnDefinition41::binary_type`]).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html#sect_protocol_binary_resultset_row>
    pub fn new(payload: &'a [u8], types: &'t [(ColumnType, bool)]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let bitmap = binary_row_start(&mut r, types.len())?;
        Ok(BinaryValues {
            bitmap,
            r,
            types,
            index: 0,
            done: false,
        })
    }
}

impl<'a> Iterator for BinaryValues<'a, '_> {
    type Item = Result<Value<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let Some(&(ty, unsigned)) = self.types.get(self.index) else {
            self.done = true;
            return match self.r.finish("binary row") {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            };
        };
        let bit = self.index + 2;
        self.index += 1;
        let null = self
            .bitmap
            .get(bit / 8)
            .is_some_and(|b| b & (1 << (bit % 8)) != 0);
        if null {
            return Some(Ok(Value::Null));
        }
        let v = Value::decode_binary(&mut self.r, ty, unsigned);
        if v.is_err() {
            self.done = true;
        }
        Some(v)
    }
}

/// Calls `visit(index, value)` for every column of a binary row.
pub fn binary_row_values<'a>(
    payload: &'a [u8],
    types: &[(ColumnType, bool)],
    mut visit: impl FnMut(usize, Value<'a>),
) -> Result<()> {
    for (i, v) in BinaryValues::new(payload, types)?.enumerate() {
        visit(i, v?);
    }
    Ok(())
}

/// All the values of a binary row, in a vector.
pub fn decode_binary_row<'a>(
    payload: &'a [u8],
    types: &[(ColumnType, bool)],
) -> Result<Vec<Value<'a>>> {
    BinaryValues::new(payload, types)?.collect()
}

/// Appends a binary row: `values[i]` encoded as `types[i]`, NULLs in the
/// bitmap. On error (count mismatch, a value the type cannot carry) `out`
/// is left as it was.
pub fn encode_binary_row(
    values: &[Value<'_>],
    types: &[(ColumnType, bool)],
    out: &mut Vec<u8>,
) -> Result<()> {
    if values.len() != types.len() {
        return Err(ProtoError::Invalid {
            what: "binary row: value count differs from column count",
        });
    }
    let start = out.len();
    out.push(BINARY_ROW_HEADER);
    let bitmap_at = out.len();
    out.resize(bitmap_at + binary_null_bitmap_len(values.len()), 0);
    for (i, (v, &(ty, unsigned))) in values.iter().zip(types).enumerate() {
        if v.is_null() {
            let bit = i + 2;
            out[bitmap_at + bit / 8] |= 1 << (bit % 8);
        } else if let Err(e) = v.encode_binary(ty, unsigned, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_row_doc_example() {
        // `SELECT 'hello', NULL, 1`
        let p = [0x05, b'h', b'e', b'l', b'l', b'o', 0xfb, 0x01, b'1'];
        let cells: Vec<_> = TextRow::new(&p, 3).cells().collect::<Result<_>>().unwrap();
        assert_eq!(cells, [Some(&b"hello"[..]), None, Some(&b"1"[..])]);
        let mut seen = Vec::new();
        text_row_cells(&p, 3, |i, c| seen.push((i, c))).unwrap();
        assert_eq!(seen.len(), 3);
        let mut out = Vec::new();
        encode_text_row(cells, &mut out);
        assert_eq!(out, p);
        // wrong column count: too few cells, or trailing bytes
        assert!(text_row_cells(&p, 4, |_, _| {}).is_err());
        assert!(matches!(
            text_row_cells(&p, 2, |_, _| {}),
            Err(ProtoError::TrailingBytes { .. })
        ));
        for cut in 0..p.len() {
            assert!(text_row_cells(&p[..cut], 3, |_, _| {}).is_err());
        }
        // the error is yielded once, then the iterator stops
        let mut it = TextRow::new(&p[..3], 3).cells();
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        assert!(text_row_cells(&[], 0, |_, _| {}).is_ok());
    }

    #[test]
    fn binary_row_with_null() {
        // Two columns, VAR_STRING 'foobar' and a NULL LONGLONG: the NULL is
        // bit 1 + 2 = 3 of the bitmap (0x08).
        let types = [
            (ColumnType::VarString, false),
            (ColumnType::LongLong, false),
        ];
        let p = [0x00, 0x08, 0x06, b'f', b'o', b'o', b'b', b'a', b'r'];
        let vals = decode_binary_row(&p, &types).unwrap();
        assert_eq!(vals, [Value::Bytes(b"foobar"), Value::Null]);
        let mut out = Vec::new();
        encode_binary_row(&vals, &types, &mut out).unwrap();
        assert_eq!(out, p);
        for cut in 0..p.len() {
            assert!(decode_binary_row(&p[..cut], &types).is_err(), "cut {cut}");
        }
        assert!(decode_binary_row(&[0x01, 0x00, 0x00], &[]).is_err());
        assert!(decode_binary_row(&[0x00, 0x00, 0x00], &[]).is_err());
        assert_eq!(decode_binary_row(&[0x00, 0x00], &[]).unwrap(), []);
    }

    #[test]
    fn bitmap_sizes() {
        assert_eq!(binary_null_bitmap_len(0), 1);
        assert_eq!(binary_null_bitmap_len(6), 1);
        assert_eq!(binary_null_bitmap_len(7), 2);
        assert_eq!(binary_null_bitmap_len(14), 2);
        assert_eq!(binary_null_bitmap_len(15), 3);
    }

    #[test]
    fn encode_errors_leave_output_alone() {
        let mut out = vec![9];
        let types = [(ColumnType::Tiny, false)];
        assert!(encode_binary_row(&[Value::Int(1000)], &types, &mut out).is_err());
        assert!(encode_binary_row(&[], &types, &mut out).is_err());
        assert_eq!(out, [9]);
    }

    fn cell() -> impl Strategy<Value = (ColumnType, bool, Value<'static>)> {
        let bytes = proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|v| Value::Bytes(Box::leak(v.into_boxed_slice())));
        prop_oneof![
            Just((ColumnType::Long, false, Value::Null)),
            any::<i32>().prop_map(|v| (ColumnType::Long, false, Value::Int(v.into()))),
            any::<u64>().prop_map(|v| (ColumnType::LongLong, true, Value::UInt(v))),
            any::<i8>().prop_map(|v| (ColumnType::Tiny, false, Value::Int(v.into()))),
            any::<f64>()
                .prop_filter("nan", |f| !f.is_nan())
                .prop_map(|v| (ColumnType::Double, false, Value::Double(v))),
            (0u16..10000, 1u8..13, 1u8..29, 0u8..24, 0u32..1_000_000).prop_map(
                |(year, month, day, hour, micros)| (
                    ColumnType::DateTime,
                    false,
                    Value::Date {
                        year,
                        month,
                        day,
                        hour,
                        minute: 1,
                        second: 2,
                        micros
                    },
                )
            ),
            (any::<bool>(), 0u32..35, 0u8..24).prop_map(|(negative, days, hours)| (
                ColumnType::Time,
                false,
                Value::Time {
                    negative,
                    days,
                    hours,
                    minutes: 3,
                    seconds: 4,
                    micros: 0
                },
            )),
            bytes.prop_map(|v| (ColumnType::Blob, false, v)),
        ]
    }

    proptest! {
        #[test]
        fn binary_row_round_trip(cells in proptest::collection::vec(cell(), 0..20)) {
            let types: Vec<_> = cells.iter().map(|c| (c.0, c.1)).collect();
            let values: Vec<_> = cells.iter().map(|c| c.2).collect();
            let mut out = Vec::new();
            encode_binary_row(&values, &types, &mut out).unwrap();
            let back = decode_binary_row(&out, &types).unwrap();
            prop_assert_eq!(&back, &values);
            let mut again = Vec::new();
            encode_binary_row(&back, &types, &mut again).unwrap();
            prop_assert_eq!(&again, &out);
            for cut in 0..out.len() {
                prop_assert!(decode_binary_row(&out[..cut], &types).is_err());
            }
        }

        #[test]
        fn text_row_round_trip(cells in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)), 0..20)) {
            let mut out = Vec::new();
            encode_text_row(cells.iter().map(|c| c.as_deref()), &mut out);
            let back: Vec<_> = TextRow::new(&out, cells.len()).cells().collect::<Result<_>>().unwrap();
            let want: Vec<_> = cells.iter().map(|c| c.as_deref()).collect();
            prop_assert_eq!(back, want);
        }

        #[test]
        fn decoders_never_panic(p in proptest::collection::vec(any::<u8>(), 0..40), n in 0usize..8, code in any::<u8>()) {
            let _ = text_row_cells(&p, n, |_, _| {});
            let types = vec![(ColumnType::from_u8(code), false); n];
            let _ = decode_binary_row(&p, &types);
        }
    }
}
