//! Generic response packets: OK (with its session-state-change trackers),
//! ERR (and MariaDB's progress report, which shares its header), EOF, the
//! `LOCAL INFILE` request, and the classification of the first packet of a
//! command's reply ([`ResponseKind`]).
//!
//! The proxy reads these from backends to follow a reply (end of result set,
//! transaction state in the status flags, schema changes) and writes them to
//! clients. Decoding borrows strings from the payload; an unchanged packet
//! re-encodes to the same bytes (for everything servers send: shortest
//! length-encoded integers, info omitted when empty and no state changed).
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_response_packets.html>
//! <https://mariadb.com/kb/en/ok_packet/>
//! <https://mariadb.com/kb/en/err_packet/>
//! <https://mariadb.com/kb/en/eof_packet/>

use crate::capability::{Capabilities, StatusFlags};
use crate::codec::{put_lenenc_bytes, put_lenenc_int, put_u16, put_u24, put_u8, Reader};
use crate::column::column_count;
use crate::error::{ProtoError, Result};

/// First byte of an OK packet.
pub const OK_HEADER: u8 = 0x00;
/// First byte of an EOF packet, and of the OK packet that ends a result set
/// under `CLIENT_DEPRECATE_EOF`.
pub const EOF_HEADER: u8 = 0xfe;
/// First byte of an ERR packet.
pub const ERR_HEADER: u8 = 0xff;
/// First byte of a `LOCAL INFILE` request.
pub const LOCAL_INFILE_HEADER: u8 = 0xfb;
/// Error code of MariaDB's progress report packet.
pub const PROGRESS_REPORT_CODE: u16 = 0xffff;

/// True when the payload starts like an OK packet (0x00). In a binary
/// result set 0x00 also starts every row: only use this where an OK is one
/// of the expected answers.
pub fn is_ok(payload: &[u8]) -> bool {
    payload.first() == Some(&OK_HEADER)
}

/// True when the payload is an ERR packet (including a progress report).
pub fn is_err(payload: &[u8]) -> bool {
    payload.first() == Some(&ERR_HEADER)
}

/// True for a classic EOF packet: 0xfe and shorter than 9 bytes (a text row
/// whose first cell length starts with 0xfe is at least 9 bytes long).
pub fn is_eof(payload: &[u8]) -> bool {
    payload.first() == Some(&EOF_HEADER) && payload.len() < 9
}

/// True when the payload ends a result set's rows: with
/// `CLIENT_DEPRECATE_EOF` an OK packet with the 0xfe header (any length up to
/// a full frame, since it may carry info and session state), else an EOF.
pub fn is_result_terminator(payload: &[u8], caps: Capabilities) -> bool {
    if caps.contains(Capabilities::DEPRECATE_EOF) {
        payload.first() == Some(&EOF_HEADER) && payload.len() < 0xff_ffff
    } else {
        is_eof(payload)
    }
}

/// True for MariaDB's progress report (0xff with code 0xffff).
pub fn is_progress_report(payload: &[u8]) -> bool {
    payload.len() >= 3 && payload[0] == ERR_HEADER && payload[1] == 0xff && payload[2] == 0xff
}

/// What the first packet of a command's reply announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    Ok,
    Err,
    /// MariaDB progress report; the real reply follows.
    Progress,
    /// The server asks for a local file (`LOAD DATA LOCAL INFILE`).
    LocalInfile,
    /// 0xfe: an EOF (a `COM_FIELD_LIST` reply without columns, an auth
    /// switch during authentication).
    Eof,
    /// A result set with this many columns follows.
    ResultSet(u64),
}

impl ResponseKind {
    /// Classifies the first packet of a reply to `COM_QUERY`,
    /// `COM_STMT_EXECUTE` and the like.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response.html>
    pub fn classify(payload: &[u8]) -> Result<ResponseKind> {
        match payload.first() {
            None => Err(ProtoError::Truncated {
                what: "response: header",
            }),
            Some(&OK_HEADER) => Ok(ResponseKind::Ok),
            Some(&ERR_HEADER) if is_progress_report(payload) => Ok(ResponseKind::Progress),
            Some(&ERR_HEADER) => Ok(ResponseKind::Err),
            Some(&LOCAL_INFILE_HEADER) => Ok(ResponseKind::LocalInfile),
            Some(&EOF_HEADER) => Ok(ResponseKind::Eof),
            Some(_) => Ok(ResponseKind::ResultSet(column_count(payload)?)),
        }
    }
}

/// An OK packet, or the OK that ends a result set under
/// `CLIENT_DEPRECATE_EOF` (`header` 0xfe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OkPacket<'a> {
    /// 0x00, or 0xfe for a result-set terminator.
    pub header: u8,
    pub affected_rows: u64,
    pub last_insert_id: u64,
    /// Present with `PROTOCOL_41` or `TRANSACTIONS`, else 0.
    pub status: StatusFlags,
    /// Present with `PROTOCOL_41`, else 0.
    pub warnings: u16,
    /// Human-readable info (`Records: 3  Duplicates: 0  Warnings: 0`).
    pub info: &'a [u8],
    /// The session state block (without its length prefix), when
    /// `SESSION_TRACK` is on and the status has `SESSION_STATE_CHANGED`.
    /// Read the entries with [`OkPacket::session_changes`].
    pub session_state: Option<&'a [u8]>,
}

impl<'a> OkPacket<'a> {
    /// A plain OK (header 0x00) with these counters and status.
    pub fn new(
        affected_rows: u64,
        last_insert_id: u64,
        status: StatusFlags,
        warnings: u16,
    ) -> Self {
        OkPacket {
            header: OK_HEADER,
            affected_rows,
            last_insert_id,
            status,
            warnings,
            ..OkPacket::default()
        }
    }

    /// Decodes an OK packet for a connection with capabilities `caps`.
    ///
    /// Without `SESSION_TRACK` the documentation calls `info` a
    /// `string<EOF>`, but servers write it length-encoded (`net_send_ok` in
    /// sql/protocol_classic.cc); a rest that is exactly one length-encoded
    /// string is read as such, anything else is taken verbatim.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html>
    /// <https://mariadb.com/kb/en/ok_packet/>
    pub fn decode(payload: &'a [u8], caps: Capabilities) -> Result<Self> {
        let mut r = Reader::new(payload);
        let header = r.u8("OK: header")?;
        if header != OK_HEADER && header != EOF_HEADER {
            return Err(ProtoError::Invalid { what: "OK: header" });
        }
        let affected_rows = r.lenenc_int("OK: affected rows")?;
        let last_insert_id = r.lenenc_int("OK: last insert id")?;
        let (mut status, mut warnings) = (StatusFlags::default(), 0);
        if caps.contains(Capabilities::PROTOCOL_41) {
            status = StatusFlags(r.u16("OK: status flags")?);
            warnings = r.u16("OK: warnings")?;
        } else if caps.contains(Capabilities::TRANSACTIONS) {
            status = StatusFlags(r.u16("OK: status flags")?);
        }
        let mut info: &[u8] = &[];
        let mut session_state = None;
        if caps.contains(Capabilities::SESSION_TRACK) {
            if !r.is_empty() {
                info = r.lenenc_bytes("OK: info")?;
                if status.contains(StatusFlags::SESSION_STATE_CHANGED) && !r.is_empty() {
                    session_state = Some(r.lenenc_bytes("OK: session state")?);
                }
            }
            r.finish("OK packet")?;
        } else if !r.is_empty() {
            let rest = r.rest();
            let mut lenenc = Reader::new(rest);
            info = match lenenc.lenenc_bytes("OK: info") {
                Ok(s) if lenenc.is_empty() => s,
                _ => rest,
            };
        }
        Ok(OkPacket {
            header,
            affected_rows,
            last_insert_id,
            status,
            warnings,
            info,
            session_state,
        })
    }

    /// Appends the payload as a connection with capabilities `caps` expects.
    pub fn encode(&self, out: &mut Vec<u8>, caps: Capabilities) {
        put_u8(out, self.header);
        put_lenenc_int(out, self.affected_rows);
        put_lenenc_int(out, self.last_insert_id);
        if caps.contains(Capabilities::PROTOCOL_41) {
            put_u16(out, self.status.0);
            put_u16(out, self.warnings);
        } else if caps.contains(Capabilities::TRANSACTIONS) {
            put_u16(out, self.status.0);
        }
        if caps.contains(Capabilities::SESSION_TRACK) {
            if !self.info.is_empty() || self.session_state.is_some() {
                put_lenenc_bytes(out, self.info);
            }
            if let Some(state) = self.session_state {
                put_lenenc_bytes(out, state);
            }
        } else if !self.info.is_empty() {
            put_lenenc_bytes(out, self.info);
        }
    }

    /// The entries of the session state block (none when absent).
    pub fn session_changes(&self) -> SessionStateIter<'a> {
        SessionStateIter {
            r: Reader::new(self.session_state.unwrap_or(&[])),
        }
    }
}

/// Session state tracker types (`enum_session_state_type`).
pub mod session_track {
    pub const SYSTEM_VARIABLES: u8 = 0;
    pub const SCHEMA: u8 = 1;
    pub const STATE_CHANGE: u8 = 2;
    pub const GTIDS: u8 = 3;
    pub const TRANSACTION_CHARACTERISTICS: u8 = 4;
    pub const TRANSACTION_STATE: u8 = 5;
}

/// One entry of an OK packet's session state block.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html#sect_protocol_basic_ok_packet_sessinfo>
/// <https://mariadb.com/kb/en/ok_packet/#session-change-type>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStateChange<'a> {
    /// A tracked system variable changed.
    SystemVariable { name: &'a [u8], value: &'a [u8] },
    /// The default schema changed.
    Schema(&'a [u8]),
    /// Session state changed (`true`) or not.
    StateChange(bool),
    /// GTID set; `encoding` 0 means a text GTID set.
    Gtids { encoding: u8, gtids: &'a [u8] },
    /// `SET TRANSACTION ...` statement replaying the characteristics.
    TransactionCharacteristics(&'a [u8]),
    /// The 8-character transaction state string (`T_______` ...).
    TransactionState(&'a [u8]),
    /// A tracker this crate does not know: its type and raw data.
    Unknown { kind: u8, data: &'a [u8] },
}

impl<'a> SessionStateChange<'a> {
    /// Decodes one entry's data given its type.
    pub fn decode(kind: u8, data: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(data);
        let change = match kind {
            session_track::SYSTEM_VARIABLES => SessionStateChange::SystemVariable {
                name: r.lenenc_bytes("session state: variable name")?,
                value: r.lenenc_bytes("session state: variable value")?,
            },
            session_track::SCHEMA => {
                SessionStateChange::Schema(r.lenenc_bytes("session state: schema")?)
            }
            session_track::STATE_CHANGE => match r.lenenc_bytes("session state: state change")? {
                b"1" => SessionStateChange::StateChange(true),
                b"0" => SessionStateChange::StateChange(false),
                _ => {
                    return Err(ProtoError::Invalid {
                        what: "session state: state change",
                    })
                }
            },
            session_track::GTIDS => SessionStateChange::Gtids {
                encoding: r.u8("session state: gtid encoding")?,
                gtids: r.lenenc_bytes("session state: gtids")?,
            },
            session_track::TRANSACTION_CHARACTERISTICS => {
                SessionStateChange::TransactionCharacteristics(
                    r.lenenc_bytes("session state: transaction characteristics")?,
                )
            }
            session_track::TRANSACTION_STATE => SessionStateChange::TransactionState(
                r.lenenc_bytes("session state: transaction state")?,
            ),
            _ => return Ok(SessionStateChange::Unknown { kind, data }),
        };
        r.finish("session state entry")?;
        Ok(change)
    }

    pub fn kind(&self) -> u8 {
        match self {
            SessionStateChange::SystemVariable { .. } => session_track::SYSTEM_VARIABLES,
            SessionStateChange::Schema(_) => session_track::SCHEMA,
            SessionStateChange::StateChange(_) => session_track::STATE_CHANGE,
            SessionStateChange::Gtids { .. } => session_track::GTIDS,
            SessionStateChange::TransactionCharacteristics(_) => {
                session_track::TRANSACTION_CHARACTERISTICS
            }
            SessionStateChange::TransactionState(_) => session_track::TRANSACTION_STATE,
            SessionStateChange::Unknown { kind, .. } => *kind,
        }
    }

    /// Appends the entry (type, length-encoded data) to a session state
    /// block being built.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut data = Vec::new();
        match *self {
            SessionStateChange::SystemVariable { name, value } => {
                put_lenenc_bytes(&mut data, name);
                put_lenenc_bytes(&mut data, value);
            }
            SessionStateChange::Schema(s)
            | SessionStateChange::TransactionCharacteristics(s)
            | SessionStateChange::TransactionState(s) => put_lenenc_bytes(&mut data, s),
            SessionStateChange::StateChange(b) => {
                put_lenenc_bytes(&mut data, if b { b"1" } else { b"0" })
            }
            SessionStateChange::Gtids { encoding, gtids } => {
                put_u8(&mut data, encoding);
                put_lenenc_bytes(&mut data, gtids);
            }
            SessionStateChange::Unknown { data: raw, .. } => data.extend_from_slice(raw),
        }
        put_u8(out, self.kind());
        put_lenenc_bytes(out, &data);
    }
}

/// Iterator over a session state block; yields an error once and stops on
/// malformed bytes.
#[derive(Debug, Clone)]
pub struct SessionStateIter<'a> {
    r: Reader<'a>,
}

impl<'a> Iterator for SessionStateIter<'a> {
    type Item = Result<SessionStateChange<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.r.is_empty() {
            return None;
        }
        let entry = self
            .r
            .u8("session state: type")
            .and_then(|kind| Ok((kind, self.r.lenenc_bytes("session state: data")?)))
            .and_then(|(kind, data)| SessionStateChange::decode(kind, data));
        if entry.is_err() {
            self.r = Reader::new(&[]);
        }
        Some(entry)
    }
}

/// An ERR packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrPacket<'a> {
    pub code: u16,
    /// The 5-character SQLSTATE after the `#` marker (`PROTOCOL_41` only;
    /// servers omit it for errors sent before capabilities are agreed).
    pub sql_state: Option<[u8; 5]>,
    pub message: &'a [u8],
}

impl<'a> ErrPacket<'a> {
    pub fn new(code: u16, sql_state: [u8; 5], message: &'a [u8]) -> Self {
        ErrPacket {
            code,
            sql_state: Some(sql_state),
            message,
        }
    }

    /// Decodes an ERR packet. A progress report (code 0xffff) is not an
    /// error: decode it with [`ProgressReport::decode`].
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html>
    /// <https://mariadb.com/kb/en/err_packet/>
    pub fn decode(payload: &'a [u8], caps: Capabilities) -> Result<Self> {
        let mut r = Reader::new(payload);
        if r.u8("ERR: header")? != ERR_HEADER {
            return Err(ProtoError::Invalid {
                what: "ERR: header",
            });
        }
        let code = r.u16("ERR: error code")?;
        if code == PROGRESS_REPORT_CODE {
            return Err(ProtoError::Invalid {
                what: "ERR: progress report, not an error",
            });
        }
        let mut sql_state = None;
        if caps.contains(Capabilities::PROTOCOL_41) && r.peek() == Some(b'#') {
            r.skip(1, "ERR: SQLSTATE marker")?;
            let s = r.take(5, "ERR: SQLSTATE")?;
            sql_state = Some([s[0], s[1], s[2], s[3], s[4]]);
        }
        Ok(ErrPacket {
            code,
            sql_state,
            message: r.rest(),
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>, caps: Capabilities) {
        put_u8(out, ERR_HEADER);
        put_u16(out, self.code);
        if caps.contains(Capabilities::PROTOCOL_41) {
            if let Some(state) = self.sql_state {
                out.push(b'#');
                out.extend_from_slice(&state);
            }
        }
        out.extend_from_slice(self.message);
    }
}

/// MariaDB's progress report: an ERR header with code 0xffff, sent during
/// long statements to clients that announced `MARIADB_CLIENT_PROGRESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressReport<'a> {
    /// Number of strings that follow (always 1).
    pub num_strings: u8,
    pub stage: u8,
    pub max_stage: u8,
    /// Progress of the stage in thousandths of a percent (0..=100000).
    pub progress: u32,
    pub info: &'a [u8],
}

impl<'a> ProgressReport<'a> {
    /// The layout is the server's `net_send_progress_packet` (the KB page
    /// omits the leading string count byte).
    ///
    /// <https://mariadb.com/kb/en/err_packet/>
    /// <https://mariadb.com/kb/en/progress-reporting/>
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        if r.u8("progress: header")? != ERR_HEADER
            || r.u16("progress: code")? != PROGRESS_REPORT_CODE
        {
            return Err(ProtoError::Invalid {
                what: "progress: header",
            });
        }
        let num_strings = r.u8("progress: string count")?;
        let stage = r.u8("progress: stage")?;
        let max_stage = r.u8("progress: max stage")?;
        let progress = r.u24("progress: progress")?;
        let info = r.lenenc_bytes("progress: info")?;
        r.finish("progress report")?;
        Ok(ProgressReport {
            num_strings,
            stage,
            max_stage,
            progress,
            info,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u8(out, ERR_HEADER);
        put_u16(out, PROGRESS_REPORT_CODE);
        put_u8(out, self.num_strings);
        put_u8(out, self.stage);
        put_u8(out, self.max_stage);
        put_u24(out, self.progress);
        put_lenenc_bytes(out, self.info);
    }
}

/// A classic EOF packet (without `CLIENT_DEPRECATE_EOF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EofPacket {
    /// `PROTOCOL_41` only, else 0.
    pub warnings: u16,
    /// `PROTOCOL_41` only, else empty.
    pub status: StatusFlags,
}

impl EofPacket {
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_eof_packet.html>
    /// <https://mariadb.com/kb/en/eof_packet/>
    pub fn decode(payload: &[u8], caps: Capabilities) -> Result<Self> {
        if payload.len() >= 9 {
            return Err(ProtoError::Invalid {
                what: "EOF: too long for an EOF packet",
            });
        }
        let mut r = Reader::new(payload);
        if r.u8("EOF: header")? != EOF_HEADER {
            return Err(ProtoError::Invalid {
                what: "EOF: header",
            });
        }
        let mut eof = EofPacket::default();
        if caps.contains(Capabilities::PROTOCOL_41) {
            eof.warnings = r.u16("EOF: warnings")?;
            eof.status = StatusFlags(r.u16("EOF: status flags")?);
        }
        r.finish("EOF packet")?;
        Ok(eof)
    }

    pub fn encode(&self, out: &mut Vec<u8>, caps: Capabilities) {
        put_u8(out, EOF_HEADER);
        if caps.contains(Capabilities::PROTOCOL_41) {
            put_u16(out, self.warnings);
            put_u16(out, self.status.0);
        }
    }
}

/// The server's request for a client-side file after
/// `LOAD DATA LOCAL INFILE`.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_local_infile_request.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalInfileRequest<'a> {
    pub filename: &'a [u8],
}

impl<'a> LocalInfileRequest<'a> {
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        if r.u8("LOCAL INFILE: header")? != LOCAL_INFILE_HEADER {
            return Err(ProtoError::Invalid {
                what: "LOCAL INFILE: header",
            });
        }
        Ok(LocalInfileRequest { filename: r.rest() })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u8(out, LOCAL_INFILE_HEADER);
        out.extend_from_slice(self.filename);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const P41: Capabilities = Capabilities::PROTOCOL_41;

    fn caps_track() -> Capabilities {
        Capabilities::PROTOCOL_41 | Capabilities::SESSION_TRACK | Capabilities::DEPRECATE_EOF
    }

    fn ok_bytes(ok: &OkPacket<'_>, caps: Capabilities) -> Vec<u8> {
        let mut out = Vec::new();
        ok.encode(&mut out, caps);
        out
    }

    #[test]
    fn ok_doc_example() {
        // 07 00 00 02 | 00 00 00 02 00 00 00: OK, autocommit.
        let p = [0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00];
        let ok = OkPacket::decode(&p, P41).unwrap();
        assert_eq!(ok, OkPacket::new(0, 0, StatusFlags::AUTOCOMMIT, 0));
        assert_eq!(ok_bytes(&ok, P41), p);
        // same bytes with SESSION_TRACK: info absent
        assert_eq!(OkPacket::decode(&p, caps_track()).unwrap(), ok);
        assert!(is_ok(&p));
        assert_eq!(ResponseKind::classify(&p).unwrap(), ResponseKind::Ok);
    }

    #[test]
    fn ok_with_info_and_schema_change() {
        let mut state = Vec::new();
        SessionStateChange::Schema(b"test").encode(&mut state);
        SessionStateChange::SystemVariable {
            name: b"autocommit",
            value: b"OFF",
        }
        .encode(&mut state);
        SessionStateChange::StateChange(true).encode(&mut state);
        SessionStateChange::Gtids {
            encoding: 0,
            gtids: b"3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",
        }
        .encode(&mut state);
        SessionStateChange::TransactionCharacteristics(b"SET TRANSACTION READ ONLY;")
            .encode(&mut state);
        SessionStateChange::TransactionState(b"T_______").encode(&mut state);
        SessionStateChange::Unknown {
            kind: 9,
            data: b"xyz",
        }
        .encode(&mut state);
        assert_eq!(&state[..7], &[0x01, 0x05, 0x04, b't', b'e', b's', b't']);
        let ok = OkPacket {
            header: OK_HEADER,
            affected_rows: 3,
            last_insert_id: 300,
            status: StatusFlags::AUTOCOMMIT | StatusFlags::SESSION_STATE_CHANGED,
            warnings: 1,
            info: b"Records: 3  Duplicates: 0  Warnings: 1",
            session_state: Some(&state),
        };
        let bytes = ok_bytes(&ok, caps_track());
        let back = OkPacket::decode(&bytes, caps_track()).unwrap();
        assert_eq!(back, ok);
        let changes: Vec<_> = back.session_changes().collect::<Result<_>>().unwrap();
        assert_eq!(changes.len(), 7);
        assert_eq!(changes[0], SessionStateChange::Schema(b"test"));
        assert_eq!(
            changes[1],
            SessionStateChange::SystemVariable {
                name: b"autocommit",
                value: b"OFF"
            }
        );
        assert_eq!(changes[2], SessionStateChange::StateChange(true));
        assert_eq!(
            changes[5],
            SessionStateChange::TransactionState(b"T_______")
        );
        assert_eq!(
            changes[6],
            SessionStateChange::Unknown {
                kind: 9,
                data: b"xyz"
            }
        );
        let mut again = Vec::new();
        for c in &changes {
            c.encode(&mut again);
        }
        assert_eq!(again, state);
        // a cut right after the warnings is a valid OK without info, one
        // right after the info a valid OK without state; others are errors
        let after_info = 9 + 1 + ok.info.len();
        for cut in 0..bytes.len() {
            if cut != 9 && cut != after_info {
                assert!(
                    OkPacket::decode(&bytes[..cut], caps_track()).is_err(),
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn bad_session_state_stops_iteration() {
        let state = [0x01, 0x05, 0x04, b't'];
        let ok = OkPacket {
            session_state: Some(&state),
            ..OkPacket::default()
        };
        let v: Vec<_> = ok.session_changes().collect();
        assert_eq!(v.len(), 1);
        assert!(v[0].is_err());
        assert!(SessionStateChange::decode(2, &[1, b'x']).is_err());
        assert!(SessionStateChange::decode(1, &[1, b'x', b'y']).is_err());
    }

    #[test]
    fn ok_info_without_session_track() {
        let ok = OkPacket {
            info: b"Rows matched: 1  Changed: 1  Warnings: 0",
            ..OkPacket::new(1, 0, StatusFlags::AUTOCOMMIT, 0)
        };
        let bytes = ok_bytes(&ok, P41);
        assert_eq!(bytes[7] as usize, ok.info.len());
        assert_eq!(OkPacket::decode(&bytes, P41).unwrap(), ok);
        // a string<EOF> info, as the documentation describes it
        let mut p = vec![0, 1, 0, 2, 0, 0, 0];
        p.extend_from_slice(b"plain info");
        assert_eq!(OkPacket::decode(&p, P41).unwrap().info, b"plain info");
    }

    #[test]
    fn ok_terminator_with_0xfe() {
        let ok = OkPacket {
            header: EOF_HEADER,
            ..OkPacket::new(0, 0, StatusFlags::AUTOCOMMIT, 0)
        };
        let bytes = ok_bytes(&ok, caps_track());
        assert_eq!(bytes, [0xfe, 0, 0, 2, 0, 0, 0]);
        assert!(is_eof(&bytes));
        assert!(is_result_terminator(&bytes, caps_track()));
        let long = OkPacket {
            info: b"a long info string",
            ..ok
        };
        let bytes = ok_bytes(&long, caps_track());
        assert!(!is_eof(&bytes));
        assert!(is_result_terminator(&bytes, caps_track()));
        assert!(!is_result_terminator(&bytes, P41));
        assert_eq!(OkPacket::decode(&bytes, caps_track()).unwrap(), long);
        assert!(OkPacket::decode(&[0x01, 0, 0, 0, 0, 0, 0], P41).is_err());
    }

    #[test]
    fn err_doc_example() {
        let p = b"\xff\x48\x04#HY000No tables used";
        let e = ErrPacket::decode(p, P41).unwrap();
        assert_eq!(e, ErrPacket::new(1096, *b"HY000", b"No tables used"));
        let mut out = Vec::new();
        e.encode(&mut out, P41);
        assert_eq!(out, p);
        assert!(is_err(p));
        assert_eq!(ResponseKind::classify(p).unwrap(), ResponseKind::Err);
        // pre-4.1 / handshake error without SQLSTATE
        let p = b"\xff\x15\x04Access denied";
        let e = ErrPacket::decode(p, P41).unwrap();
        assert_eq!(
            (e.code, e.sql_state, e.message),
            (1045, None, &b"Access denied"[..])
        );
        let mut out = Vec::new();
        e.encode(&mut out, P41);
        assert_eq!(out, p);
        for cut in [0, 1, 2, 4, 8] {
            assert!(
                ErrPacket::decode(&b"\xff\x48\x04#HY000"[..cut], P41).is_err(),
                "cut {cut}"
            );
        }
        assert!(ErrPacket::decode(b"\x00\x48\x04", P41).is_err());
    }

    #[test]
    fn progress_report() {
        let pr = ProgressReport {
            num_strings: 1,
            stage: 1,
            max_stage: 2,
            progress: 50_000,
            info: b"copy to tmp table",
        };
        let mut out = Vec::new();
        pr.encode(&mut out);
        assert_eq!(&out[..9], &[0xff, 0xff, 0xff, 1, 1, 2, 0x50, 0xc3, 0x00]);
        assert!(is_progress_report(&out));
        assert_eq!(
            ResponseKind::classify(&out).unwrap(),
            ResponseKind::Progress
        );
        assert_eq!(ProgressReport::decode(&out).unwrap(), pr);
        assert!(ErrPacket::decode(&out, P41).is_err());
        for cut in 0..out.len() {
            assert!(ProgressReport::decode(&out[..cut]).is_err());
        }
    }

    #[test]
    fn eof_doc_example() {
        let p = [0xfe, 0x00, 0x00, 0x02, 0x00];
        let e = EofPacket::decode(&p, P41).unwrap();
        assert_eq!(
            e,
            EofPacket {
                warnings: 0,
                status: StatusFlags::AUTOCOMMIT
            }
        );
        let mut out = Vec::new();
        e.encode(&mut out, P41);
        assert_eq!(out, p);
        assert!(is_eof(&p));
        assert!(is_result_terminator(&p, P41));
        assert_eq!(
            EofPacket::decode(&[0xfe], Capabilities::empty()).unwrap(),
            EofPacket::default()
        );
        for cut in 0..p.len() {
            assert!(EofPacket::decode(&p[..cut], P41).is_err());
        }
        // a text row whose first cell is 16 MiB or more is not an EOF
        let row = [0xfe, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(!is_eof(&row));
        assert!(EofPacket::decode(&row, P41).is_err());
    }

    #[test]
    fn classify_and_local_infile() {
        let mut out = Vec::new();
        LocalInfileRequest {
            filename: b"/tmp/data.csv",
        }
        .encode(&mut out);
        assert_eq!(
            ResponseKind::classify(&out).unwrap(),
            ResponseKind::LocalInfile
        );
        assert_eq!(
            LocalInfileRequest::decode(&out).unwrap().filename,
            b"/tmp/data.csv"
        );
        assert!(LocalInfileRequest::decode(&[]).is_err());
        assert!(LocalInfileRequest::decode(&[0]).is_err());
        assert_eq!(
            ResponseKind::classify(&[0x03]).unwrap(),
            ResponseKind::ResultSet(3)
        );
        assert_eq!(
            ResponseKind::classify(&[0xfc, 0x2c, 0x01]).unwrap(),
            ResponseKind::ResultSet(300)
        );
        assert_eq!(
            ResponseKind::classify(&[0xfe, 0, 0, 2, 0]).unwrap(),
            ResponseKind::Eof
        );
        assert!(ResponseKind::classify(&[]).is_err());
        assert!(ResponseKind::classify(&[0xfc, 0x01]).is_err());
    }

    fn caps_strategy() -> impl Strategy<Value = Capabilities> {
        prop::sample::select(vec![
            Capabilities::empty(),
            Capabilities::TRANSACTIONS,
            Capabilities::PROTOCOL_41,
            Capabilities::PROTOCOL_41 | Capabilities::SESSION_TRACK,
            Capabilities::PROTOCOL_41 | Capabilities::SESSION_TRACK | Capabilities::DEPRECATE_EOF,
        ])
    }

    proptest! {
        #[test]
        fn ok_round_trip(
            caps in caps_strategy(), terminator in any::<bool>(), affected in any::<u64>(),
            last_id in any::<u64>(), status in any::<u16>(), warnings in any::<u16>(),
            info in proptest::collection::vec(any::<u8>(), 0..300),
            state in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        ) {
            let p41 = caps.contains(Capabilities::PROTOCOL_41);
            let track = caps.contains(Capabilities::SESSION_TRACK);
            let mut status = if p41 || caps.contains(Capabilities::TRANSACTIONS) { StatusFlags(status) } else { StatusFlags(0) };
            let state = if track { state } else { None };
            if state.is_some() { status.insert(StatusFlags::SESSION_STATE_CHANGED); }
            let ok = OkPacket {
                header: if terminator { EOF_HEADER } else { OK_HEADER },
                affected_rows: affected, last_insert_id: last_id, status,
                warnings: if p41 { warnings } else { 0 },
                info: &info, session_state: state.as_deref(),
            };
            let bytes = ok_bytes(&ok, caps);
            let back = OkPacket::decode(&bytes, caps).unwrap();
            prop_assert_eq!(back, ok);
            prop_assert_eq!(ok_bytes(&back, caps), bytes);
        }

        #[test]
        fn err_round_trip(caps in caps_strategy(), code in 0u16..0xffff, state in proptest::option::of(any::<[u8; 5]>()),
                          msg in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p41 = caps.contains(Capabilities::PROTOCOL_41);
            // without a SQLSTATE, a message starting with '#' would read as one
            prop_assume!(state.is_some() || msg.first() != Some(&b'#') || !p41);
            let e = ErrPacket { code, sql_state: if p41 { state } else { None }, message: &msg };
            let mut out = Vec::new();
            e.encode(&mut out, caps);
            let back = ErrPacket::decode(&out, caps).unwrap();
            prop_assert_eq!(back, e);
            let mut again = Vec::new();
            back.encode(&mut again, caps);
            prop_assert_eq!(again, out);
        }

        #[test]
        fn decoders_never_panic(caps in caps_strategy(), p in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = OkPacket::decode(&p, caps).map(|ok| ok.session_changes().count());
            let _ = ErrPacket::decode(&p, caps);
            let _ = EofPacket::decode(&p, caps);
            let _ = ProgressReport::decode(&p);
            let _ = ResponseKind::classify(&p);
            let _ = SessionStateIter { r: Reader::new(&p) }.count();
        }
    }
}
