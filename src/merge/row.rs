//! One buffered row ([`Row`]): its bytes and where each cell lies in them,
//! for text rows (a cell is the string of a length-encoded cell) and binary
//! rows (a cell is the binary encoding of one non-NULL value, length prefix
//! included for strings), and the writer that turns a row back into a row
//! packet payload, dropping hidden trailing columns.
//!
//! A row read from a shard keeps the shard's payload as is, so a row that
//! goes out unchanged (no hidden columns) is copied once in and once out.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_row.html>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html#sect_protocol_binary_resultset_row>

use shardgate_proto::codec::{put_lenenc_bytes, Reader};
use shardgate_proto::column::ColumnType;
use shardgate_proto::row::{binary_null_bitmap_len, BINARY_ROW_HEADER, NULL_CELL};
use shardgate_proto::value::Value;
use shardgate_proto::{ProtoError, Result};

/// Marks a NULL cell in [`Row::cells`].
const NULL_SPAN: (u32, u32) = (u32::MAX, u32::MAX);

/// A row: bytes plus the span of each cell in them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    buf: Vec<u8>,
    cells: Vec<(u32, u32)>,
    /// `buf` is the row packet payload as received.
    whole: bool,
    /// Cells not split out (see [`Row::opaque`]).
    opaque: bool,
}

impl Row {
    /// Bytes this row holds (its payload and cell spans), for the merger's
    /// memory bound.
    pub fn size(&self) -> usize {
        self.buf.len() + self.cells.len() * std::mem::size_of::<(u32, u32)>()
    }

    /// A row passed through unread: a plain union of the shards' rows
    /// (no ORDER BY, DISTINCT, grouping or hidden columns) only counts and
    /// forwards rows, so their cells are never split out. [`Row::cell`] of
    /// such a row is `None`.
    pub fn opaque(payload: &[u8]) -> Row {
        Row {
            buf: payload.to_vec(),
            cells: Vec::new(),
            whole: true,
            opaque: true,
        }
    }

    /// An empty row to fill with [`Row::push`].
    pub fn with_capacity(ncols: usize) -> Row {
        Row {
            buf: Vec::new(),
            cells: Vec::with_capacity(ncols),
            whole: false,
            opaque: false,
        }
    }

    /// Reads a text row of `ncols` cells.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_row.html>
    pub fn parse_text(payload: &[u8], ncols: usize) -> Result<Row> {
        let total = payload.len();
        let mut r = Reader::new(payload);
        let mut cells = Vec::with_capacity(ncols);
        for _ in 0..ncols {
            if r.peek() == Some(NULL_CELL) {
                r.skip(1, "text row: NULL")?;
                cells.push(NULL_SPAN);
            } else {
                let s = r.lenenc_bytes("text row: cell")?;
                let end = total - r.len();
                cells.push(((end - s.len()) as u32, end as u32));
            }
        }
        r.finish("text row")?;
        Ok(Row {
            buf: payload.to_vec(),
            cells,
            whole: true,
            opaque: false,
        })
    }

    /// Reads a binary row whose columns have `types`.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html#sect_protocol_binary_resultset_row>
    pub fn parse_binary(payload: &[u8], types: &[(ColumnType, bool)]) -> Result<Row> {
        let total = payload.len();
        let mut r = Reader::new(payload);
        if r.u8("binary row: header")? != BINARY_ROW_HEADER {
            return Err(ProtoError::Invalid {
                what: "binary row: header",
            });
        }
        let bitmap = r.take(
            binary_null_bitmap_len(types.len()),
            "binary row: NULL bitmap",
        )?;
        let mut cells = Vec::with_capacity(types.len());
        for (i, &(ty, unsigned)) in types.iter().enumerate() {
            let bit = i + 2;
            let null = bitmap
                .get(bit / 8)
                .is_some_and(|b| b & (1 << (bit % 8)) != 0);
            if null || ty == ColumnType::Null {
                cells.push(NULL_SPAN);
                continue;
            }
            let start = total - r.len();
            Value::decode_binary(&mut r, ty, unsigned)?;
            cells.push((start as u32, (total - r.len()) as u32));
        }
        r.finish("binary row")?;
        if total > u32::MAX as usize {
            return Err(ProtoError::TooLarge {
                len: total,
                max: u32::MAX as usize,
            });
        }
        Ok(Row {
            buf: payload.to_vec(),
            cells,
            whole: true,
            opaque: false,
        })
    }

    /// Appends a cell (`None` = NULL) to a row being built.
    pub fn push(&mut self, cell: Option<&[u8]>) {
        self.whole = false;
        match cell {
            None => self.cells.push(NULL_SPAN),
            Some(c) => {
                let start = self.buf.len() as u32;
                self.buf.extend_from_slice(c);
                self.cells.push((start, self.buf.len() as u32));
            }
        }
    }

    /// Cell `i` (`None` = NULL or out of range).
    pub fn cell(&self, i: usize) -> Option<&[u8]> {
        let &(s, e) = self.cells.get(i)?;
        if (s, e) == NULL_SPAN {
            return None;
        }
        self.buf.get(s as usize..e as usize)
    }

    /// Appends the row packet payload of the first `ncols` cells to `out`,
    /// as a text or a binary row.
    pub fn write(&self, ncols: usize, binary: bool, out: &mut Vec<u8>) {
        if self.opaque || (self.whole && ncols == self.cells.len()) {
            out.extend_from_slice(&self.buf);
            return;
        }
        let n = ncols.min(self.cells.len());
        if !binary {
            for i in 0..n {
                match self.cell(i) {
                    None => out.push(NULL_CELL),
                    Some(c) => put_lenenc_bytes(out, c),
                }
            }
            return;
        }
        out.push(BINARY_ROW_HEADER);
        let bitmap_at = out.len();
        out.resize(bitmap_at + binary_null_bitmap_len(n), 0);
        for i in 0..n {
            match self.cell(i) {
                None => {
                    let bit = i + 2;
                    out[bitmap_at + bit / 8] |= 1 << (bit % 8);
                }
                Some(c) => out.extend_from_slice(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proto::row::{decode_binary_row, encode_binary_row, encode_text_row};

    #[test]
    fn text_rows() {
        let mut p = Vec::new();
        encode_text_row([Some(&b"hello"[..]), None, Some(b"1")], &mut p);
        let r = Row::parse_text(&p, 3).unwrap();
        assert_eq!(r.cell(0), Some(&b"hello"[..]));
        assert_eq!(r.cell(1), None);
        assert_eq!(r.cell(2), Some(&b"1"[..]));
        let mut out = Vec::new();
        r.write(3, false, &mut out);
        assert_eq!(out, p);
        out.clear();
        r.write(1, false, &mut out);
        assert_eq!(out, [5, b'h', b'e', b'l', b'l', b'o']);
        for cut in 0..p.len() {
            assert!(Row::parse_text(&p[..cut], 3).is_err());
        }
        assert!(Row::parse_text(&p, 2).is_err());
    }

    #[test]
    fn binary_rows() {
        let types = [
            (ColumnType::LongLong, false),
            (ColumnType::VarString, false),
            (ColumnType::Double, false),
            (ColumnType::Long, false),
        ];
        let vals = [
            Value::Int(7),
            Value::Null,
            Value::Double(1.5),
            Value::Int(-3),
        ];
        let mut p = Vec::new();
        encode_binary_row(&vals, &types, &mut p).unwrap();
        let r = Row::parse_binary(&p, &types).unwrap();
        assert_eq!(r.cell(1), None);
        let mut out = Vec::new();
        r.write(4, true, &mut out);
        assert_eq!(out, p);
        out.clear();
        r.write(2, true, &mut out);
        assert_eq!(
            decode_binary_row(&out, &types[..2]).unwrap(),
            [Value::Int(7), Value::Null]
        );
        for cut in 0..p.len() {
            assert!(Row::parse_binary(&p[..cut], &types).is_err());
        }
        // built rows
        let mut b = Row::with_capacity(2);
        b.push(None);
        b.push(Some(&[2, 0, 0, 0]));
        out.clear();
        b.write(2, true, &mut out);
        let t = [(ColumnType::Long, false), (ColumnType::Long, false)];
        assert_eq!(
            decode_binary_row(&out, &t).unwrap(),
            [Value::Null, Value::Int(2)]
        );
    }
}
