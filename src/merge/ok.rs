//! Scattered writes: [`OkMerger`] turns the OK (or ERR) of each shard of an
//! UPDATE / DELETE / INSERT sent to several shards into one OK for the
//! client, and [`StatusMerge`], the status flags of several servers as one.
//!
//! - affected rows: summed (with `CLIENT_FOUND_ROWS` the shards count
//!   matched rows, summed the same way);
//! - last insert id: MySQL reports the id generated for the *first* row of
//!   a multi-row INSERT. Split over shards, each shard reports the first id
//!   it generated for its part. The merged OK carries the id of the shard
//!   that received the statement's first row when the planner names it
//!   ([`OkMerger::set_first_row_shard`]) and it is non-zero, else the
//!   smallest non-zero id, else 0. Shards have independent AUTO_INCREMENT
//!   counters, so clients that infer the other rows' ids as id+1, id+2…
//!   (JDBC `getGeneratedKeys`, `mysqli_insert_id` loops) get wrong ids:
//!   sharded tables should take ids from a global generator instead;
//! - warnings summed; the info text (`Records: 3  Duplicates: 0  Warnings:
//!   0`, `Rows matched: 2  Changed: 2  Warnings: 0`) summed field by field
//!   when every shard sent the same fields, else dropped; session-state
//!   trackers are not forwarded;
//! - any ERR wins: the first ERR received is the reply (the other shards'
//!   writes stand unless a transaction rolls them back — see `txn/`).
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html>
//! <https://mariadb.com/kb/en/last_insert_id/>

use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::error_codes::{write_err_for, ErrorCode};
use shardgate_proto::frame::write_packet;
use shardgate_proto::response::{is_progress_report, ErrPacket, OkPacket, ERR_HEADER};
use shardgate_proto::{ProtoError, Result};

use super::merger::ShardReply;

/// Status flags of several servers combined into the ones the client sees:
/// in a transaction (or read-only one) if any is, autocommit only if all
/// are, index/slow-query/backslash/dropped-db flags if any; per-statement
/// flags of a single server (more results, cursor, last row, metadata
/// changed, out params, session state changed) cleared.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusMerge {
    any: bool,
    or: u16,
    and: u16,
}

const OR_FLAGS: u16 = StatusFlags::IN_TRANS.0
    | StatusFlags::IN_TRANS_READONLY.0
    | StatusFlags::NO_GOOD_INDEX_USED.0
    | StatusFlags::NO_INDEX_USED.0
    | StatusFlags::QUERY_WAS_SLOW.0
    | StatusFlags::NO_BACKSLASH_ESCAPES.0
    | StatusFlags::DB_DROPPED.0;

impl StatusMerge {
    pub fn add(&mut self, s: StatusFlags) {
        if self.any {
            self.or |= s.0;
            self.and &= s.0;
        } else {
            (self.any, self.or, self.and) = (true, s.0, s.0);
        }
    }

    /// The combined flags, `fallback` when none was added.
    pub fn result(&self, fallback: StatusFlags) -> StatusFlags {
        if !self.any {
            return fallback;
        }
        StatusFlags((self.or & OR_FLAGS) | (self.and & StatusFlags::AUTOCOMMIT.0))
    }
}

/// One OK for a write scattered over several shards.
#[derive(Debug)]
pub struct OkMerger {
    caps: Capabilities,
    answered: Vec<bool>,
    affected: u64,
    ids: Vec<u64>,
    first_row_shard: Option<usize>,
    warnings: u32,
    status: StatusMerge,
    /// Summed info fields; `None` once shards disagree.
    info: Option<Vec<(String, u64)>>,
    info_seen: bool,
    err: Option<Vec<u8>>,
    done: bool,
}

impl OkMerger {
    pub fn new(shards: usize, client_caps: Capabilities) -> OkMerger {
        OkMerger {
            caps: client_caps,
            answered: vec![false; shards],
            affected: 0,
            ids: vec![0; shards],
            first_row_shard: None,
            warnings: 0,
            status: StatusMerge::default(),
            info: None,
            info_seen: false,
            err: None,
            done: false,
        }
    }

    /// The shard that received the statement's first row (multi-row
    /// INSERT): its generated id is the one reported.
    pub fn set_first_row_shard(&mut self, shard: usize) {
        self.first_row_shard = Some(shard);
    }

    /// Feeds a shard's reply: an OK or an ERR (a progress report is
    /// skipped). `Err` for anything else: close that backend.
    pub fn feed(&mut self, shard: usize, payload: &[u8]) -> Result<ShardReply> {
        let answered = self
            .answered
            .get(shard)
            .copied()
            .ok_or(ProtoError::Invalid {
                what: "merge: no such shard",
            })?;
        if answered {
            return Err(ProtoError::Invalid {
                what: "merge: packet after the end of the reply",
            });
        }
        if payload.first() == Some(&ERR_HEADER) {
            if is_progress_report(payload) {
                return Ok(ShardReply::Pending);
            }
            let err = ErrPacket::decode(payload, self.caps)?;
            self.answered[shard] = true;
            if self.err.is_none() {
                let mut p = Vec::new();
                err.encode(&mut p, self.caps);
                self.err = Some(p);
            }
            return Ok(ShardReply::Complete);
        }
        let ok = OkPacket::decode(payload, self.caps)?;
        if ok.header != 0 {
            return Err(ProtoError::Invalid {
                what: "merge: expected an OK packet",
            });
        }
        self.answered[shard] = true;
        self.affected = self.affected.saturating_add(ok.affected_rows);
        self.ids[shard] = ok.last_insert_id;
        self.warnings = self.warnings.saturating_add(u32::from(ok.warnings));
        self.status.add(ok.status);
        let fields = parse_info(ok.info);
        if !self.info_seen {
            self.info_seen = true;
            self.info = fields;
        } else if let (Some(sum), Some(f)) = (&mut self.info, fields) {
            if sum.len() == f.len() && sum.iter().zip(&f).all(|(a, b)| a.0 == b.0) {
                for (a, b) in sum.iter_mut().zip(f) {
                    a.1 = a.1.saturating_add(b.1);
                }
            } else {
                self.info = None;
            }
        } else {
            self.info = None;
        }
        Ok(ShardReply::Complete)
    }

    /// Shard `shard` will not answer (connection lost): the statement
    /// fails with this error (unless another ERR came first).
    pub fn fail_shard(&mut self, shard: usize, code: ErrorCode, message: &str) {
        if let Some(a) = self.answered.get_mut(shard) {
            *a = true;
        }
        if self.err.is_none() {
            let mut p = Vec::new();
            write_err_for(&mut p, self.caps, code, message);
            self.err = Some(p);
        }
    }

    /// True when every shard has answered.
    pub fn is_complete(&self) -> bool {
        self.answered.iter().all(|&a| a)
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The merged reply (one OK or one ERR), once every shard answered.
    pub fn poll_output(&mut self, out: &mut Vec<u8>, seq: &mut u8) {
        if self.done || !self.is_complete() {
            return;
        }
        self.done = true;
        if let Some(err) = &self.err {
            write_packet(out, seq, err);
            return;
        }
        let info = self
            .info
            .as_ref()
            .map(|f| {
                f.iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join("  ")
            })
            .unwrap_or_default();
        let ok = OkPacket {
            info: info.as_bytes(),
            ..OkPacket::new(
                self.affected,
                self.last_insert_id(),
                self.status.result(StatusFlags::AUTOCOMMIT),
                u16::try_from(self.warnings).unwrap_or(u16::MAX),
            )
        };
        let mut p = Vec::new();
        ok.encode(&mut p, self.caps);
        write_packet(out, seq, &p);
    }

    fn last_insert_id(&self) -> u64 {
        if let Some(&id) = self.first_row_shard.and_then(|s| self.ids.get(s)) {
            if id != 0 {
                return id;
            }
        }
        self.ids
            .iter()
            .copied()
            .filter(|&i| i != 0)
            .min()
            .unwrap_or(0)
    }
}

/// `Label: 12  Other label: 3` → fields; `None` when the text is not that.
fn parse_info(info: &[u8]) -> Option<Vec<(String, u64)>> {
    let text = std::str::from_utf8(info).ok()?;
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split("  ")
        .map(|part| {
            let (k, v) = part.split_once(": ")?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proto::error_codes::BACKEND_LOST;
    use shardgate_proto::frame::PacketDecoder;

    const CAPS: Capabilities =
        Capabilities(Capabilities::PROTOCOL_41.0 | Capabilities::TRANSACTIONS.0);

    fn ok(affected: u64, id: u64, status: StatusFlags, warnings: u16, info: &str) -> Vec<u8> {
        let mut p = Vec::new();
        OkPacket {
            info: info.as_bytes(),
            ..OkPacket::new(affected, id, status, warnings)
        }
        .encode(&mut p, CAPS);
        p
    }

    fn single_packet(out: &[u8]) -> Vec<u8> {
        let mut d = PacketDecoder::new(1 << 20);
        d.accept_any_seq();
        let p = d.decode(out).unwrap().unwrap();
        assert_eq!(p.consumed, out.len());
        p.payload.to_vec()
    }

    #[test]
    fn sums_counts_and_takes_first_id() {
        let mut m = OkMerger::new(3, CAPS);
        let ac = StatusFlags::AUTOCOMMIT;
        assert_eq!(
            m.feed(
                0,
                &ok(2, 17, ac, 1, "Records: 2  Duplicates: 0  Warnings: 1")
            )
            .unwrap(),
            ShardReply::Complete
        );
        let mut out = Vec::new();
        let mut seq = 1;
        m.poll_output(&mut out, &mut seq);
        assert!(out.is_empty() && !m.is_complete());
        m.feed(
            1,
            &ok(
                3,
                5,
                ac | StatusFlags::NO_INDEX_USED,
                0,
                "Records: 3  Duplicates: 1  Warnings: 0",
            ),
        )
        .unwrap();
        m.feed(
            2,
            &ok(0, 0, ac, 0, "Records: 0  Duplicates: 0  Warnings: 0"),
        )
        .unwrap();
        assert!(m.feed(2, &ok(0, 0, ac, 0, "")).is_err());
        m.poll_output(&mut out, &mut seq);
        assert!(m.is_done());
        assert_eq!(seq, 2);
        let p = single_packet(&out);
        let got = OkPacket::decode(&p, CAPS).unwrap();
        assert_eq!(got.affected_rows, 5);
        assert_eq!(got.last_insert_id, 5);
        assert_eq!(got.warnings, 1);
        assert_eq!(got.status, ac | StatusFlags::NO_INDEX_USED);
        assert_eq!(got.info, b"Records: 5  Duplicates: 1  Warnings: 1");
        // the planner knows which shard got the first row
        let mut m = OkMerger::new(2, CAPS);
        m.set_first_row_shard(0);
        m.feed(1, &ok(1, 5, ac, 0, "")).unwrap();
        m.feed(0, &ok(1, 17, ac, 0, "")).unwrap();
        assert_eq!(m.last_insert_id(), 17);
    }

    #[test]
    fn any_err_wins_and_disagreeing_info_is_dropped() {
        let mut m = OkMerger::new(3, CAPS);
        let ac = StatusFlags::AUTOCOMMIT;
        m.feed(
            0,
            &ok(1, 0, ac, 0, "Rows matched: 1  Changed: 1  Warnings: 0"),
        )
        .unwrap();
        let mut err = Vec::new();
        ErrPacket::new(1062, *b"23000", b"Duplicate entry").encode(&mut err, CAPS);
        m.feed(1, &err).unwrap();
        m.fail_shard(2, BACKEND_LOST, "shardgate: lost shard 2");
        let mut out = Vec::new();
        let mut seq = 1;
        m.poll_output(&mut out, &mut seq);
        assert_eq!(single_packet(&out), err);
        // info: different shapes → dropped
        let mut m = OkMerger::new(2, CAPS);
        m.feed(
            0,
            &ok(1, 0, ac, 0, "Rows matched: 1  Changed: 1  Warnings: 0"),
        )
        .unwrap();
        m.feed(1, &ok(1, 0, ac | StatusFlags::IN_TRANS, 0, ""))
            .unwrap();
        let mut out = Vec::new();
        m.poll_output(&mut out, &mut 1);
        let p = single_packet(&out);
        let got = OkPacket::decode(&p, CAPS).unwrap();
        assert_eq!(got.info, b"");
        assert_eq!(got.status, ac | StatusFlags::IN_TRANS);
        assert!(m.feed(5, &p).is_err());
        assert!(OkMerger::new(1, CAPS)
            .feed(0, &[0xfe, 0, 0, 2, 0, 0, 0])
            .is_err());
        assert!(OkMerger::new(1, CAPS).feed(0, &[0x00]).is_err());
    }

    #[test]
    fn status_merge() {
        let mut s = StatusMerge::default();
        assert_eq!(s.result(StatusFlags::IN_TRANS), StatusFlags::IN_TRANS);
        s.add(StatusFlags::AUTOCOMMIT | StatusFlags::MORE_RESULTS_EXISTS);
        s.add(StatusFlags::IN_TRANS | StatusFlags::SESSION_STATE_CHANGED);
        assert_eq!(s.result(StatusFlags::default()), StatusFlags::IN_TRANS);
        assert_eq!(parse_info(b"x"), None);
        assert_eq!(parse_info(b""), Some(vec![]));
    }
}
