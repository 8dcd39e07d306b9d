//! Tracks one backend reply as it streams through: which frames belong to
//! it, where it ends, and the status it ended with. The bytes themselves are
//! relayed unchanged; the tracker only reads packet headers, the first byte
//! of each packet and the small OK/EOF/ERR packets.
//!
//! The reply grammar per command (protocol 4.1, with or without
//! `CLIENT_DEPRECATE_EOF`):
//! - COM_QUERY / COM_STMT_EXECUTE: `OK | ERR | LOCAL_INFILE | result set`,
//!   repeated while the status has `SERVER_MORE_RESULTS_EXISTS`; a result set
//!   is a column count, column definitions, \[EOF\], rows, and EOF / OK(0xfe) /
//!   ERR. A cursor-opening execute ends after the metadata.
//! - COM_STMT_PREPARE: `ERR | PREPARE_OK params [EOF] columns [EOF]`.
//! - COM_STMT_FETCH: rows, then EOF / OK(0xfe) / ERR.
//! - COM_FIELD_LIST: column definitions, then EOF (or ERR).
//! - COM_STATISTICS: one string packet.
//! - others: one OK or ERR.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response.html>

use shardgate_proto::capability::StatusFlags;
use shardgate_proto::codec::Reader;
use shardgate_proto::frame::{FrameHeader, HEADER_LEN, MAX_FRAME_PAYLOAD};
use shardgate_proto::{ProtoError, Result};

/// Which reply grammar to expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// COM_QUERY and COM_STMT_EXECUTE.
    ResultSets,
    StmtPrepare,
    StmtFetch,
    FieldList,
    Statistics,
    /// One OK or ERR.
    OkOrErr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// First packet of a (next) result.
    First,
    ColumnDefs {
        left: u64,
    },
    MetaEof,
    Rows,
    /// Prepare OK: params then columns, each followed by EOF unless deprecated.
    PrepareParams {
        left: u64,
        columns: u64,
    },
    PrepareParamsEof {
        columns: u64,
    },
    PrepareColumns {
        left: u64,
    },
    PrepareColumnsEof,
    FieldList,
    Statistics,
    /// The backend asked for a local file; the client's data goes upstream.
    LocalInfile,
    Done,
}

/// What the reply reported when it finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Status flags of the last OK/EOF seen.
    pub status: u16,
    /// An OK or EOF carried status flags (an ERR, or a COM_STMT_PREPARE
    /// reply without EOF packets, has none: the server's transaction and
    /// autocommit state are then what it reported before).
    pub status_seen: bool,
    /// True when the (last) result was an ERR packet.
    pub error: bool,
    /// From the last OK packet.
    pub affected_rows: u64,
    pub last_insert_id: u64,
    /// Statement id and counts of a COM_STMT_PREPARE reply.
    pub prepared: Option<(u32, u16, u16)>,
    /// An OK or EOF carried SERVER_SESSION_STATE_CHANGED.
    pub session_state_changed: bool,
    /// The (last) result was a result set, not an OK.
    pub result_set: bool,
    /// The last OK's warning count.
    pub warnings: u16,
    /// Rows of the result sets.
    pub rows: u64,
}

/// Progress of one [`ReplyTracker::advance`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance {
    /// Bytes at the start of the input that are whole frames of this reply.
    pub consumed: usize,
    /// The reply is complete after `consumed` bytes.
    pub done: bool,
    /// The backend sent a LOCAL INFILE request: the client's file packets
    /// must now be relayed upstream, and the tracker resumed with
    /// [`ReplyTracker::infile_sent`].
    pub local_infile: bool,
}

#[derive(Debug, Clone)]
pub struct ReplyTracker {
    expect: Expect,
    state: State,
    deprecate_eof: bool,
    /// Bytes of a continued packet still to skip (frames after a full one).
    continuing: bool,
    outcome: Outcome,
    /// Keep the last OK's info text ([`ReplyTracker::reading_ok_info`]).
    keep_ok_info: bool,
    ok_info: Vec<u8>,
}

impl ReplyTracker {
    pub fn new(expect: Expect, deprecate_eof: bool) -> ReplyTracker {
        let state = match expect {
            Expect::ResultSets | Expect::OkOrErr | Expect::StmtPrepare => State::First,
            Expect::StmtFetch => State::Rows,
            Expect::FieldList => State::FieldList,
            Expect::Statistics => State::Statistics,
        };
        ReplyTracker {
            expect,
            state,
            deprecate_eof,
            continuing: false,
            outcome: Outcome::default(),
            keep_ok_info: false,
            ok_info: Vec::new(),
        }
    }

    /// Also keeps the last OK's info text ([`ReplyTracker::take_ok_info`]:
    /// `Rows matched: 3  Changed: 2  Warnings: 0`, read by
    /// [`crate::merge::ok`]). MariaDB length-encodes the text with or
    /// without CLIENT_SESSION_TRACK.
    pub fn reading_ok_info(mut self) -> ReplyTracker {
        self.keep_ok_info = true;
        self
    }

    /// The last OK's info text, when kept.
    pub fn take_ok_info(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.ok_info)
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Inside the rows of a result set, where an ERR packet ends it cleanly.
    pub fn in_rows(&self) -> bool {
        self.state == State::Rows
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The client finished sending its file (empty packet relayed): the
    /// backend's OK/ERR comes next.
    pub fn infile_sent(&mut self) {
        if self.state == State::LocalInfile {
            self.state = State::First;
        }
    }

    /// Walks whole frames at the start of `buf`.
    pub fn advance(&mut self, buf: &[u8]) -> Result<Advance> {
        let mut pos = 0;
        while self.state != State::Done && self.state != State::LocalInfile {
            let Some(h) = FrameHeader::parse(&buf[pos..]) else {
                break;
            };
            let end = pos + HEADER_LEN + h.payload_len;
            if buf.len() < end {
                break;
            }
            let payload = &buf[pos + HEADER_LEN..end];
            let continued = self.continuing;
            self.continuing = h.payload_len == MAX_FRAME_PAYLOAD;
            if !continued {
                self.on_packet(payload, h.payload_len)?;
            }
            pos = end;
        }
        Ok(Advance {
            consumed: pos,
            done: self.state == State::Done,
            local_infile: self.state == State::LocalInfile,
        })
    }

    fn end_or_more(&mut self, status: u16) -> State {
        if status & StatusFlags::MORE_RESULTS_EXISTS.0 != 0 {
            State::First
        } else {
            State::Done
        }
    }

    fn on_status(&mut self, status: u16) {
        self.outcome.status = status;
        self.outcome.status_seen = true;
        if status & StatusFlags::SESSION_STATE_CHANGED.0 != 0 {
            self.outcome.session_state_changed = true;
        }
    }

    fn on_packet(&mut self, p: &[u8], frame_len: usize) -> Result<()> {
        let first = *p.first().ok_or(ProtoError::Truncated {
            what: "reply packet",
        })?;
        // An EOF packet (or the OK that replaces it) is 0xfe and short; a row
        // starting with 0xfe is at least 9 bytes (text) or 16 MiB (lenenc 8).
        let is_eof = first == 0xfe && p.len() < 9;
        let is_ok_terminator = first == 0xfe && frame_len < MAX_FRAME_PAYLOAD;
        self.state = match self.state {
            State::First => match first {
                0x00 if self.expect == Expect::StmtPrepare => {
                    let mut r = Reader::new(&p[1..]);
                    let id = r.u32("statement id")?;
                    let cols = r.u16("column count")?;
                    let params = r.u16("param count")?;
                    self.outcome.prepared = Some((id, cols, params));
                    self.outcome.error = false;
                    self.after_prepare_params(u64::from(params), u64::from(cols))
                }
                0x00 => {
                    self.on_ok(p)?;
                    self.outcome.result_set = false;
                    self.end_or_more(self.outcome.status)
                }
                0xff => {
                    self.outcome.error = true;
                    State::Done
                }
                0xfb if self.expect == Expect::ResultSets => State::LocalInfile,
                _ if self.expect == Expect::ResultSets => {
                    let n = Reader::new(p).lenenc_int("column count")?;
                    if n == 0 {
                        return Err(ProtoError::Invalid {
                            what: "column count 0",
                        });
                    }
                    self.outcome.error = false;
                    self.outcome.result_set = true;
                    State::ColumnDefs { left: n }
                }
                _ => {
                    return Err(ProtoError::Invalid {
                        what: "reply to a command",
                    })
                }
            },
            State::ColumnDefs { left } => {
                if left > 1 {
                    State::ColumnDefs { left: left - 1 }
                } else if self.deprecate_eof {
                    State::Rows
                } else {
                    State::MetaEof
                }
            }
            State::MetaEof => {
                if !is_eof {
                    return Err(ProtoError::Invalid {
                        what: "EOF after column definitions",
                    });
                }
                let status = eof_status(p)?;
                self.on_status(status);
                if status & StatusFlags::CURSOR_EXISTS.0 != 0 {
                    State::Done
                } else {
                    State::Rows
                }
            }
            State::Rows => {
                if first == 0xff {
                    self.outcome.error = true;
                    State::Done
                } else if self.deprecate_eof && is_ok_terminator {
                    self.on_ok(p)?;
                    self.end_or_more(self.outcome.status)
                } else if !self.deprecate_eof && is_eof {
                    let status = eof_status(p)?;
                    self.outcome.warnings =
                        p.get(1..3).map_or(0, |w| u16::from_le_bytes([w[0], w[1]]));
                    self.on_status(status);
                    self.end_or_more(status)
                } else {
                    self.outcome.rows += 1;
                    State::Rows
                }
            }
            State::PrepareParams { left, columns } => {
                if left > 1 {
                    State::PrepareParams {
                        left: left - 1,
                        columns,
                    }
                } else if self.deprecate_eof {
                    self.after_prepare_params(0, columns)
                } else {
                    State::PrepareParamsEof { columns }
                }
            }
            State::PrepareParamsEof { columns } => {
                if !is_eof {
                    return Err(ProtoError::Invalid {
                        what: "EOF after parameter definitions",
                    });
                }
                self.after_prepare_params(0, columns)
            }
            State::PrepareColumns { left } => {
                if left > 1 {
                    State::PrepareColumns { left: left - 1 }
                } else if self.deprecate_eof {
                    State::Done
                } else {
                    State::PrepareColumnsEof
                }
            }
            State::PrepareColumnsEof => {
                if !is_eof {
                    return Err(ProtoError::Invalid {
                        what: "EOF after column definitions",
                    });
                }
                State::Done
            }
            State::FieldList => {
                if first == 0xff {
                    self.outcome.error = true;
                    State::Done
                } else if is_eof || (self.deprecate_eof && is_ok_terminator) {
                    State::Done
                } else {
                    State::FieldList
                }
            }
            State::Statistics => State::Done,
            State::LocalInfile | State::Done => self.state,
        };
        Ok(())
    }

    fn after_prepare_params(&self, params: u64, columns: u64) -> State {
        if params > 0 {
            State::PrepareParams {
                left: params,
                columns,
            }
        } else if columns > 0 {
            State::PrepareColumns { left: columns }
        } else {
            State::Done
        }
    }

    fn on_ok(&mut self, p: &[u8]) -> Result<()> {
        let mut r = Reader::new(&p[1..]);
        self.outcome.affected_rows = r.lenenc_int("affected rows")?;
        self.outcome.last_insert_id = r.lenenc_int("last insert id")?;
        let status = r.u16("status flags")?;
        self.outcome.error = false;
        self.on_status(status);
        self.outcome.warnings = r.u16("warnings").unwrap_or(0);
        if self.keep_ok_info {
            self.ok_info.clear();
            if !r.is_empty() {
                self.ok_info
                    .extend_from_slice(r.lenenc_bytes("info").unwrap_or_default());
            }
        }
        Ok(())
    }
}

fn eof_status(p: &[u8]) -> Result<u16> {
    let mut r = Reader::new(&p[1..]);
    r.u16("EOF warnings")?;
    r.u16("EOF status")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proto::frame::write_packet;

    /// Frames `payloads` with consecutive sequence ids from 1.
    fn frames(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut seq = 1;
        for p in payloads {
            write_packet(&mut out, &mut seq, p);
        }
        out
    }

    fn ok(status: u16) -> Vec<u8> {
        let mut p = vec![0x00, 0x01, 0x05];
        p.extend_from_slice(&status.to_le_bytes());
        p.extend_from_slice(&[0, 0]);
        p
    }

    fn ok_terminator(status: u16) -> Vec<u8> {
        let mut p = ok(status);
        p[0] = 0xfe;
        p
    }

    fn eof(status: u16) -> Vec<u8> {
        let mut p = vec![0xfe, 0, 0];
        p.extend_from_slice(&status.to_le_bytes());
        p
    }

    fn col() -> Vec<u8> {
        // a column definition only needs to be a packet here
        b"\x03def\x00\x00\x00\x01a\x00\x0c\x21\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00".to_vec()
    }

    fn run_all(expect: Expect, deprecate: bool, wire: &[u8]) -> (Advance, Outcome) {
        let mut t = ReplyTracker::new(expect, deprecate);
        let a = t.advance(wire).unwrap();
        (a, t.outcome())
    }

    #[test]
    fn ok_and_err_end_the_reply() {
        let wire = frames(&[ok(2)]);
        let (a, o) = run_all(Expect::ResultSets, false, &wire);
        assert!(a.done);
        assert_eq!(a.consumed, wire.len());
        assert_eq!(
            (o.affected_rows, o.last_insert_id, o.status, o.error),
            (1, 5, 2, false)
        );
        let err = frames(&[b"\xff\x15\x04#28000denied".to_vec()]);
        let (a, o) = run_all(Expect::OkOrErr, false, &err);
        assert!(a.done && o.error);
    }

    #[test]
    fn the_ok_info_is_kept_when_asked_for() {
        // MariaDB length-encodes the info text, with or without
        // CLIENT_SESSION_TRACK (here 41 bytes: a ')' before the text).
        let info = b"Rows matched: 12  Changed: 3  Warnings: 0";
        let mut p = ok(2);
        p.push(info.len() as u8);
        p.extend_from_slice(info);
        let wire = frames(&[p]);
        let mut t = ReplyTracker::new(Expect::ResultSets, false).reading_ok_info();
        assert!(t.advance(&wire).unwrap().done);
        assert_eq!(t.outcome().affected_rows, 1);
        let kept = t.take_ok_info();
        assert_eq!(kept, info);
        assert_eq!(crate::merge::ok::first_info_number(&kept), Some(12));
        // Not asked for: not read.
        let mut t = ReplyTracker::new(Expect::ResultSets, false);
        t.advance(&wire).unwrap();
        assert!(t.take_ok_info().is_empty());
        // An OK without info (a DELETE) has none.
        let mut t = ReplyTracker::new(Expect::ResultSets, false).reading_ok_info();
        t.advance(&frames(&[ok(2)])).unwrap();
        let kept = t.take_ok_info();
        assert!(kept.is_empty());
        assert_eq!(crate::merge::ok::first_info_number(&kept), None);
        // A length byte that reads as a digit ('2', 50 bytes) is skipped.
        let long = b"Rows matched: 123456  Changed: 123456  Warnings: 1";
        assert_eq!(long.len(), 50);
        let mut p = ok(2);
        p.push(long.len() as u8);
        p.extend_from_slice(long);
        let mut t = ReplyTracker::new(Expect::ResultSets, false).reading_ok_info();
        t.advance(&frames(&[p])).unwrap();
        let kept = t.take_ok_info();
        assert_eq!(kept, long);
        assert_eq!(crate::merge::ok::first_info_number(&kept), Some(123_456));
        assert_eq!(crate::merge::ok::first_info_number(b"no digits"), None);
    }

    #[test]
    fn result_set_classic_eof() {
        let wire = frames(&[
            vec![2],
            col(),
            col(),
            eof(2),
            b"\x011\x012".to_vec(),
            b"\xfb\x013".to_vec(),
            eof(0x22),
        ]);
        let (a, o) = run_all(Expect::ResultSets, false, &wire);
        assert!(a.done);
        assert_eq!(a.consumed, wire.len());
        assert_eq!(o.status, 0x22);
    }

    #[test]
    fn result_set_deprecate_eof_and_a_row_starting_with_0xfe() {
        // A text row starts with 0xfe only when its first cell is at least
        // 16 MiB long, so its first frame is a full one (0xffffff bytes).
        let big = vec![b'x'; MAX_FRAME_PAYLOAD + 10];
        let mut row = vec![0xfe];
        row.extend_from_slice(&(big.len() as u64).to_le_bytes());
        row.extend_from_slice(&big);
        let wire = frames(&[vec![1], col(), row.clone(), ok_terminator(2)]);
        let (a, _) = run_all(Expect::ResultSets, true, &wire);
        assert!(a.done);
        assert_eq!(a.consumed, wire.len());
        // classic EOF mode: a 0xfe row of 9 bytes or more is not an EOF
        let mut row = vec![0xfe];
        row.extend_from_slice(&3u64.to_le_bytes());
        row.extend_from_slice(b"abc");
        let wire = frames(&[vec![1], col(), eof(2), row, eof(2)]);
        let (a, _) = run_all(Expect::ResultSets, false, &wire);
        assert!(a.done);
        assert_eq!(a.consumed, wire.len());
    }

    #[test]
    fn multi_results_continue_until_the_last() {
        let more = StatusFlags::MORE_RESULTS_EXISTS.0 | 2;
        let wire = frames(&[vec![1], col(), eof(2), b"\x011".to_vec(), eof(more), ok(2)]);
        let mut t = ReplyTracker::new(Expect::ResultSets, false);
        let a = t.advance(&wire).unwrap();
        assert!(a.done);
        assert_eq!(a.consumed, wire.len());
        // stopping before the final OK: not done
        let cut = wire.len() - 11;
        let mut t = ReplyTracker::new(Expect::ResultSets, false);
        let a = t.advance(&wire[..cut]).unwrap();
        assert!(!a.done);
        let b = t.advance(&wire[a.consumed..]).unwrap();
        assert!(b.done);
        assert_eq!(a.consumed + b.consumed, wire.len());
    }

    #[test]
    fn partial_frames_are_not_consumed() {
        let wire = frames(&[vec![1], col(), eof(2), b"\x011".to_vec(), eof(2)]);
        for cut in 0..wire.len() {
            let mut t = ReplyTracker::new(Expect::ResultSets, false);
            let a = t.advance(&wire[..cut]).unwrap();
            assert!(a.consumed <= cut);
            assert!(!a.done, "cut {cut}");
            let b = t.advance(&wire[a.consumed..]).unwrap();
            assert!(b.done, "cut {cut}");
        }
    }

    #[test]
    fn prepare_reply_with_params_and_columns() {
        let mut prep = vec![0x00];
        prep.extend_from_slice(&7u32.to_le_bytes());
        prep.extend_from_slice(&1u16.to_le_bytes()); // columns
        prep.extend_from_slice(&2u16.to_le_bytes()); // params
        prep.extend_from_slice(&[0, 0, 0]);
        let wire = frames(&[prep.clone(), col(), col(), eof(2), col(), eof(2)]);
        let (a, o) = run_all(Expect::StmtPrepare, false, &wire);
        assert!(a.done);
        assert_eq!(a.consumed, wire.len());
        assert_eq!(o.prepared, Some((7, 1, 2)));
        let wire = frames(&[prep, col(), col(), col()]);
        let (a, _) = run_all(Expect::StmtPrepare, true, &wire);
        assert!(a.done);
        assert_eq!(a.consumed, wire.len());
    }

    #[test]
    fn local_infile_pauses_the_reply() {
        let wire = frames(&[b"\xfb/tmp/x".to_vec()]);
        let mut t = ReplyTracker::new(Expect::ResultSets, false);
        let a = t.advance(&wire).unwrap();
        assert!(a.local_infile && !a.done);
        t.infile_sent();
        let wire = frames(&[ok(2)]);
        assert!(t.advance(&wire).unwrap().done);
    }

    #[test]
    fn continued_rows_are_one_packet() {
        let big = vec![b'x'; MAX_FRAME_PAYLOAD + 10];
        let mut row = vec![0xfe];
        row.extend_from_slice(&(big.len() as u64).to_le_bytes());
        row.extend_from_slice(&big);
        let wire = frames(&[vec![1], col(), eof(2), row, eof(2)]);
        let (a, _) = run_all(Expect::ResultSets, false, &wire);
        assert!(a.done);
        assert_eq!(a.consumed, wire.len());
    }

    #[test]
    fn statistics_and_field_list() {
        let wire = frames(&[b"Uptime: 5  Threads: 1".to_vec()]);
        assert!(run_all(Expect::Statistics, false, &wire).0.done);
        let wire = frames(&[col(), col(), eof(2)]);
        assert!(run_all(Expect::FieldList, false, &wire).0.done);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let wire = frames(&[vec![0x00]]);
        assert!(ReplyTracker::new(Expect::ResultSets, false)
            .advance(&wire)
            .is_err());
        let wire = frames(&[vec![]]);
        assert!(ReplyTracker::new(Expect::ResultSets, false)
            .advance(&wire)
            .is_err());
        let wire = frames(&[vec![1], col(), vec![0x42]]);
        assert!(ReplyTracker::new(Expect::ResultSets, false)
            .advance(&wire)
            .is_err());
    }
}
