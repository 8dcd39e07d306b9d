//! The client side of the merge: each row through DISTINCT, OFFSET and
//! LIMIT to the client (or only counted, for `MergeSpec::count_rows`), the
//! column definitions before the first row (AVG, COUNT(DISTINCT) and
//! SUM(DISTINCT) as the server describes them) and the final EOF/OK.

use shardgate_proto::column::encode_column_count;
use shardgate_proto::frame::{write_packet, PacketWriter};
use shardgate_proto::response::{EofPacket, OkPacket, EOF_HEADER};

use super::super::count_rows;
use super::super::key::{cell_key, Key};
use super::super::row::Row;
use super::{too_many, Fail, Merger, ER_UNKNOWN_ERROR};

impl Merger {
    /// DISTINCT, OFFSET, LIMIT, then the row goes out. (Per row: `inline`
    /// lets the merge loop in `merger.rs` inline it across codegen units.)
    #[inline]
    pub(super) fn emit(
        &mut self,
        row: &Row,
        out: &mut Vec<u8>,
        seq: &mut u8,
    ) -> std::result::Result<(), Fail> {
        let visible = self.types.len() - self.spec.hidden;
        if self.spec.distinct {
            let key = (0..visible)
                .map(|c| {
                    cell_key(
                        &self.emit_meta[c],
                        self.emit_colls[c].as_ref(),
                        self.spec.binary,
                        row.cell(c),
                    )
                })
                .collect::<std::result::Result<Vec<Key>, String>>()
                .map_err(|e| (ER_UNKNOWN_ERROR, format!("shardgate: DISTINCT: {e}")))?;
            if self.seen.contains(&key) {
                return Ok(());
            }
            if self.seen.len() >= self.spec.max_groups {
                return Err(too_many("distinct rows", self.spec.max_groups));
            }
            self.seen.insert(key);
        }
        self.emit_row(row, out, seq)
    }

    /// OFFSET, LIMIT, then the row goes out (DISTINCT already checked).
    #[inline]
    pub(super) fn emit_row(
        &mut self,
        row: &Row,
        out: &mut Vec<u8>,
        seq: &mut u8,
    ) -> std::result::Result<(), Fail> {
        let visible = self.types.len() - self.spec.hidden;
        if let Some(l) = self.spec.limit {
            if self.skipped < l.offset {
                self.skipped += 1;
                return Ok(());
            }
            if self.emitted >= l.count {
                return Ok(());
            }
        }
        if self.spec.count_rows.is_some() {
            self.emitted += 1;
            return Ok(());
        }
        if !self.header_sent {
            self.write_header(out, seq);
        }
        let w = PacketWriter::begin(out);
        row.write(visible, self.spec.binary, out);
        w.finish(out, seq);
        self.emitted += 1;
        Ok(())
    }

    /// The answer of a counted derived table (`count_rows`): one column,
    /// one row.
    pub(super) fn write_count(&mut self, out: &mut Vec<u8>, seq: &mut u8) {
        let name = self.spec.count_rows.clone().unwrap_or_default();
        self.write_columns(1, |_, p| count_rows::definition(&name, p), out, seq);
        let w = PacketWriter::begin(out);
        count_rows::row(self.emitted, self.spec.binary).write(1, self.spec.binary, out);
        w.finish(out, seq);
    }

    pub(super) fn write_header(&mut self, out: &mut Vec<u8>, seq: &mut u8) {
        let visible = self.types.len() - self.spec.hidden;
        write_columns_into(visible, |c, p| self.write_definition(c, p), out, seq);
        self.finish_header(out, seq);
    }

    /// The column count and `n` definitions from `def`, then the EOF.
    fn write_columns(
        &mut self,
        n: usize,
        def: impl Fn(usize, &mut Vec<u8>),
        out: &mut Vec<u8>,
        seq: &mut u8,
    ) {
        write_columns_into(n, def, out, seq);
        self.finish_header(out, seq);
    }

    /// The EOF after the column definitions (unless deprecated).
    fn finish_header(&mut self, out: &mut Vec<u8>, seq: &mut u8) {
        let mut p = Vec::new();
        if !self.deprecate_eof() {
            EofPacket {
                warnings: 0,
                status: self.def_status.result(self.session_status),
            }
            .encode(&mut p, self.caps);
            write_packet(out, seq, &p);
        }
        self.header_sent = true;
    }

    /// Column `c`'s definition: the shard's, or AVG's or COUNT's as
    /// MariaDB shows them.
    fn write_definition(&self, c: usize, p: &mut Vec<u8>) {
        if let Some(plan) = &self.plan {
            if plan.write_avg_definition(c, &self.defs, p)
                || plan.write_count_definition(c, &self.defs, p)
                || plan.write_distinct_sum_definition(c, &self.defs, p)
            {
                return;
            }
        }
        p.extend_from_slice(self.defs.get(c).map(Vec::as_slice).unwrap_or_default());
    }

    pub(super) fn write_final(&mut self, out: &mut Vec<u8>, seq: &mut u8) {
        let status = self
            .end_status
            .result(self.def_status.result(self.session_status));
        let warnings = u16::try_from(self.warnings).unwrap_or(u16::MAX);
        let mut p = Vec::new();
        if self.deprecate_eof() {
            OkPacket {
                header: EOF_HEADER,
                ..OkPacket::new(0, 0, status, warnings)
            }
            .encode(&mut p, self.caps);
        } else {
            EofPacket { warnings, status }.encode(&mut p, self.caps);
        }
        write_packet(out, seq, &p);
    }
}

/// The column count and `n` column definitions written by `def`.
fn write_columns_into(
    n: usize,
    def: impl Fn(usize, &mut Vec<u8>),
    out: &mut Vec<u8>,
    seq: &mut u8,
) {
    let mut p = Vec::new();
    encode_column_count(n as u64, &mut p);
    write_packet(out, seq, &p);
    for c in 0..n {
        p.clear();
        def(c, &mut p);
        write_packet(out, seq, &p);
    }
}
