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
use shardgate_proto::row::{
    binary_null_bitmap_len, binary_row_start, BINARY_ROW_HEADER, NULL_CELL,
};
use shardgate_proto::value::Value;
use shardgate_proto::{ProtoError, Result};

/// Marks a NULL cell in the span table.
const NULL_SPAN: (u32, u32) = (u32::MAX, u32::MAX);

/// Bytes of one span-table slot: the cell's start and end in the data,
/// little-endian `u32`s.
const SLOT: usize = 8;

/// A row: one allocation holding the span table of its cells, then its
/// bytes (a row read from a shard: the payload as received).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    /// `slots` span slots, then the data the spans point into (offsets
    /// from the data's start).
    buf: Vec<u8>,
    /// Cells in the span table.
    ncells: u32,
    /// Slots reserved for spans (the data starts at `slots * SLOT`).
    slots: u32,
    /// The data is the row packet payload as received.
    whole: bool,
    /// Cells not split out (see [`Row::opaque`]).
    opaque: bool,
}

impl Row {
    /// Bytes this row holds (its payload and cell spans), for the merger's
    /// memory bound.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// A row passed through unread: a plain union of the shards' rows
    /// (no ORDER BY, DISTINCT, grouping or hidden columns) only counts and
    /// forwards rows, so their cells are never split out. [`Row::cell`] of
    /// such a row is `None`.
    pub fn opaque(payload: &[u8]) -> Row {
        Row {
            buf: payload.to_vec(),
            ncells: 0,
            slots: 0,
            whole: true,
            opaque: true,
        }
    }

    /// An empty row to fill with [`Row::push`].
    pub fn with_capacity(ncols: usize) -> Row {
        let slots = u32::try_from(ncols).unwrap_or(0);
        Row {
            buf: vec![0; slots as usize * SLOT],
            ncells: 0,
            slots,
            whole: false,
            opaque: false,
        }
    }

    /// A row of `payload` with room for `ncols` spans, which `split`
    /// writes into the span table it is given ([`put_span`]).
    fn split(
        payload: &[u8],
        ncols: usize,
        split: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<Row> {
        if payload.len() > u32::MAX as usize || ncols > u32::MAX as usize {
            return Err(ProtoError::TooLarge {
                len: payload.len(),
                max: u32::MAX as usize,
            });
        }
        let table = ncols * SLOT;
        let mut buf = Vec::with_capacity(table + payload.len());
        buf.resize(table, 0);
        split(&mut buf)?;
        buf.extend_from_slice(payload);
        Ok(Row {
            buf,
            ncells: ncols as u32,
            slots: ncols as u32,
            whole: true,
            opaque: false,
        })
    }

    /// Reads a text row of `ncols` cells.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_row.html>
    pub fn parse_text(payload: &[u8], ncols: usize) -> Result<Row> {
        Row::split(payload, ncols, |table| {
            let total = payload.len();
            let mut r = Reader::new(payload);
            for i in 0..ncols {
                if r.peek() == Some(NULL_CELL) {
                    r.skip(1, "text row: NULL")?;
                    put_span(table, i, NULL_SPAN);
                } else {
                    let s = r.lenenc_bytes("text row: cell")?;
                    let end = total - r.len();
                    put_span(table, i, ((end - s.len()) as u32, end as u32));
                }
            }
            r.finish("text row")
        })
    }

    /// Reads a binary row whose columns have `types`.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html#sect_protocol_binary_resultset_row>
    pub fn parse_binary(payload: &[u8], types: &[(ColumnType, bool)]) -> Result<Row> {
        Row::split(payload, types.len(), |table| {
            let total = payload.len();
            let mut r = Reader::new(payload);
            let bitmap = binary_row_start(&mut r, types.len())?;
            for (i, &(ty, unsigned)) in types.iter().enumerate() {
                let bit = i + 2;
                let null = bitmap
                    .get(bit / 8)
                    .is_some_and(|b| b & (1 << (bit % 8)) != 0);
                if null || ty == ColumnType::Null {
                    put_span(table, i, NULL_SPAN);
                    continue;
                }
                let start = total - r.len();
                Value::decode_binary(&mut r, ty, unsigned)?;
                put_span(table, i, (start as u32, (total - r.len()) as u32));
            }
            r.finish("binary row")
        })
    }

    /// Appends a cell (`None` = NULL) to a row being built.
    pub fn push(&mut self, cell: Option<&[u8]>) {
        self.whole = false;
        if self.ncells == self.slots {
            // More cells than reserved: one more slot before the data.
            let at = self.slots as usize * SLOT;
            self.buf.splice(at..at, [0u8; SLOT]);
            self.slots += 1;
        }
        let span = match cell {
            None => NULL_SPAN,
            Some(c) => {
                let start = (self.buf.len() - self.data_start()) as u32;
                self.buf.extend_from_slice(c);
                (start, start + c.len() as u32)
            }
        };
        put_span(&mut self.buf, self.ncells as usize, span);
        self.ncells += 1;
    }

    fn data_start(&self) -> usize {
        self.slots as usize * SLOT
    }

    /// The row's data (after the span table).
    fn data(&self) -> &[u8] {
        self.buf.get(self.data_start()..).unwrap_or_default()
    }

    /// Cell `i` (`None` = NULL or out of range).
    pub fn cell(&self, i: usize) -> Option<&[u8]> {
        if i >= self.ncells as usize {
            return None;
        }
        let slot = self.buf.get(i * SLOT..(i + 1) * SLOT)?;
        let (s, e) = (u32_at(slot, 0), u32_at(slot, 4));
        if (s, e) == NULL_SPAN {
            return None;
        }
        self.data().get(s as usize..e as usize)
    }

    /// Appends the row packet payload of the first `ncols` cells to `out`,
    /// as a text or a binary row.
    pub fn write(&self, ncols: usize, binary: bool, out: &mut Vec<u8>) {
        if self.opaque || (self.whole && ncols == self.ncells as usize) {
            out.extend_from_slice(self.data());
            return;
        }
        let n = ncols.min(self.ncells as usize);
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

/// Writes span `i` into the span table at the start of `buf`.
fn put_span(buf: &mut [u8], i: usize, (start, end): (u32, u32)) {
    if let Some(slot) = buf.get_mut(i * SLOT..(i + 1) * SLOT) {
        slot[..4].copy_from_slice(&start.to_le_bytes());
        slot[4..].copy_from_slice(&end.to_le_bytes());
    }
}

/// The little-endian `u32` at `at` in an 8-byte span slot.
fn u32_at(slot: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&slot[at..at + 4]);
    u32::from_le_bytes(w)
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
    fn built_rows_grow_past_their_reserved_cells() {
        let mut b = Row::with_capacity(1);
        b.push(Some(b"ab"));
        b.push(None);
        b.push(Some(b""));
        b.push(Some(b"xyz"));
        assert_eq!(b.cell(0), Some(&b"ab"[..]));
        assert_eq!(b.cell(1), None);
        assert_eq!(b.cell(2), Some(&b""[..]));
        assert_eq!(b.cell(3), Some(&b"xyz"[..]));
        assert_eq!(b.cell(4), None);
        let mut out = Vec::new();
        b.write(4, false, &mut out);
        let mut want = Vec::new();
        encode_text_row([Some(&b"ab"[..]), None, Some(b""), Some(b"xyz")], &mut want);
        assert_eq!(out, want);
        // spans and data in one buffer
        assert_eq!(b.size(), 4 * SLOT + 5);
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
