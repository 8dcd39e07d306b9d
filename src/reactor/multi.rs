//! Multi-statement queries (CLIENT_MULTI_STATEMENTS, `mysqli::multi_query`)
//! that name sharded or broadcast tables. One text holding several
//! statements cannot be routed as a whole (each statement may belong
//! elsewhere), so it is split at its top-level `;` (`sql::split_statements`)
//! and the statements run one after the other, each planned as if sent
//! alone. The client still gets one reply, as from one server: the results
//! in order, each but the last ending with SERVER_MORE_RESULTS_EXISTS,
//! sequence ids running on from one result to the next, and nothing after
//! the first error (MariaDB stops there too).
//!
//! [`ReplyChain`] rewrites the client's output buffer in place before it is
//! written: every frame gets the next sequence id, and a reply tracker
//! walks each statement's reply to find its last packet, whose status gets
//! MORE_RESULTS_EXISTS when statements follow. Only rewritten bytes go to
//! the socket; a frame not yet complete waits (replies are appended in
//! whole frames, so it is never waited for long).
//!
//! Multi-statement texts that name no sharded table are not split: their
//! default group's server runs them whole.

use std::collections::VecDeque;

use super::client::Phase;
use super::io_thread::{Conn, IoThread};
use super::relay::{Expect, ReplyTracker};
use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::frame::{FrameHeader, HEADER_LEN};

/// A split multi-statement query in progress.
pub(super) struct MultiQuery {
    /// The statements still to run, as COM_QUERY payloads.
    rest: VecDeque<Vec<u8>>,
    chain: ReplyChain,
}

impl MultiQuery {
    /// Bytes at the start of `out` that may be written to the client
    /// (rewritten first). `None`: the reply could not be followed (the
    /// chain is abandoned and `out` written as it is).
    pub fn writable_prefix(&mut self, out: &mut [u8]) -> Option<usize> {
        let more = !self.rest.is_empty();
        self.chain.rewrite(out, more).ok()
    }

    /// `n` bytes of the output were written.
    pub fn written(&mut self, n: usize) {
        self.chain.ready = self.chain.ready.saturating_sub(n);
    }
}

/// Chains the replies of a split query into one.
#[derive(Debug)]
pub(super) struct ReplyChain {
    /// Bytes at the start of the client's output buffer already rewritten.
    ready: usize,
    /// The sequence id of the next frame.
    seq: u8,
    tracker: ReplyTracker,
    deprecate_eof: bool,
    /// The current statement's reply has ended: `Some(it was an error)`.
    ended: Option<bool>,
}

impl ReplyChain {
    pub fn new(deprecate_eof: bool) -> ReplyChain {
        ReplyChain {
            ready: 0,
            seq: 1,
            tracker: ReplyTracker::new(Expect::ResultSets, deprecate_eof),
            deprecate_eof,
            ended: None,
        }
    }

    /// The next statement's reply starts.
    pub fn next_statement(&mut self) {
        self.tracker = ReplyTracker::new(Expect::ResultSets, self.deprecate_eof);
        self.ended = None;
    }

    /// Rewrites the whole frames of `out` after the ready prefix (`more`:
    /// another statement follows the current one) and returns the new
    /// ready length.
    pub fn rewrite(&mut self, out: &mut [u8], more: bool) -> shardgate_proto::Result<usize> {
        while self.ended.is_none() {
            let at = self.ready;
            let Some(h) = out.get(at..).and_then(FrameHeader::parse) else {
                break;
            };
            let end = at + HEADER_LEN + h.payload_len;
            if out.len() < end {
                break;
            }
            out[at + 3] = self.seq;
            self.seq = self.seq.wrapping_add(1);
            let adv = self.tracker.advance(&out[at..end])?;
            if adv.local_infile {
                // LOAD DATA LOCAL needs the client's file mid-reply: not chained.
                return Err(shardgate_proto::ProtoError::Invalid {
                    what: "LOCAL INFILE in a split multi-statement query",
                });
            }
            if adv.done {
                let error = self.tracker.outcome().error;
                if !error && more {
                    set_more_results(&mut out[at + HEADER_LEN..end], self.deprecate_eof);
                }
                self.ended = Some(error);
            }
            self.ready = end;
        }
        Ok(self.ready)
    }
}

/// Sets SERVER_MORE_RESULTS_EXISTS in the status of a reply's last packet:
/// an EOF (`0xfe`, warnings, status) or an OK (header, affected rows and
/// insert id as length-encoded integers, status; `0xfe` when it ends a
/// result set under CLIENT_DEPRECATE_EOF).
fn set_more_results(p: &mut [u8], deprecate_eof: bool) {
    let at = match p.first() {
        Some(0xfe) if !deprecate_eof => 3,
        Some(0x00 | 0xfe) => {
            let mut i = 1;
            for _ in 0..2 {
                let Some(&b) = p.get(i) else { return };
                i += match b {
                    0xfc => 3,
                    0xfd => 4,
                    0xfe => 9,
                    _ => 1,
                };
            }
            i
        }
        _ => return,
    };
    if let Some(s) = p.get_mut(at..at + 2) {
        let status = u16::from_le_bytes([s[0], s[1]]) | StatusFlags::MORE_RESULTS_EXISTS.0;
        s.copy_from_slice(&status.to_le_bytes());
    }
}

impl IoThread {
    /// Splits a multi-statement COM_QUERY and runs its first statement.
    pub(super) fn start_multi(&mut self, key: usize, payload: &[u8]) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let opts = crate::sql::LexOptions {
            backslash_escapes: c.sess.backslash_escapes,
            ..crate::sql::LexOptions::default()
        };
        let mut rest: VecDeque<Vec<u8>> =
            crate::sql::split_statements(payload.get(1..).unwrap_or_default(), opts)
                .into_iter()
                .map(|s| {
                    let mut p = Vec::with_capacity(s.len() + 1);
                    p.push(0x03);
                    p.extend_from_slice(s);
                    p
                })
                .collect();
        // LOAD DATA LOCAL needs the client's file in the middle of the
        // reply, which the chain cannot follow: refused before anything runs.
        let local_infile = rest.iter().any(|p| {
            matches!(
                crate::sql::classify(p.get(1..).unwrap_or_default(), opts).kind,
                crate::sql::Kind::Load { local: true }
            )
        });
        if local_infile {
            self.reply_err(
                key,
                shardgate_proto::error_codes::ER_NOT_SUPPORTED_YET,
                "shardgate: LOAD DATA LOCAL INFILE in a multi-statement query naming sharded tables \
                 is not supported; send it on its own",
            );
            return;
        }
        let Some(first) = rest.pop_front() else {
            return;
        };
        let deprecate_eof = c.sess.caps.contains(Capabilities::DEPRECATE_EOF);
        // The statement runs on: keep what is already queued for the client
        // (nothing, between commands) out of the chain.
        let mut chain = ReplyChain::new(deprecate_eof);
        chain.ready = super::sock::pending(&c.wbuf);
        c.multi = Some(Box::new(MultiQuery { rest, chain }));
        self.run_query(key, first);
    }

    /// A split query's statement has been answered (the client is idle
    /// again): chain its reply and start the next statement, or end the
    /// query after its last statement or an error. True when a statement
    /// was started.
    pub(super) fn multi_next(&mut self, key: usize) -> bool {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return false;
        };
        if c.phase != Phase::Idle {
            return false;
        }
        let Some(m) = c.multi.as_mut() else {
            return false;
        };
        let rewritten = match c.wbuf.as_mut() {
            Some(out) => m.writable_prefix(out.data_mut()),
            None => Some(0),
        };
        let next = match (rewritten, m.chain.ended) {
            (Some(_), Some(false)) => m.rest.pop_front(),
            (Some(_), Some(true)) => None,
            (Some(_), None) | (None, _) => {
                log::warn!(
                    "CONN [{} {}] multi-statement query: a reply could not be chained; \
                     its remaining statements were not run",
                    c.sess.conn_id,
                    c.peer
                );
                None
            }
        };
        match next {
            Some(payload) => {
                m.chain.next_statement();
                self.run_query(key, payload);
                true
            }
            None => {
                c.multi = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proto::frame::write_packet;

    fn frames(packets: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut seq = 1;
        for p in packets {
            write_packet(&mut out, &mut seq, p);
        }
        out
    }

    /// A VARCHAR column definition named `name`.
    fn def(name: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        shardgate_proto::column::ColumnDefinition41 {
            catalog: b"def",
            schema: b"",
            table: b"",
            org_table: b"",
            name,
            org_name: b"",
            character_set: 63,
            column_length: 1,
            column_type: shardgate_proto::column::ColumnType::VarString,
            flags: shardgate_proto::column::ColumnFlags::default(),
            decimals: 0,
            filler: [0, 0],
            trailing: b"",
        }
        .encode(&mut d);
        d
    }

    fn seqs_and_payloads(out: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut v = Vec::new();
        let mut at = 0;
        while let Some(h) = FrameHeader::parse(&out[at..]) {
            let end = at + HEADER_LEN + h.payload_len;
            v.push((h.seq, out[at + HEADER_LEN..end].to_vec()));
            at = end;
        }
        v
    }

    #[test]
    fn replies_are_chained_with_running_sequence_ids_and_more_results() {
        // classic protocol: OK, then a result set (count, def, EOF, row, EOF)
        let ok: &[u8] = &[0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00];
        let def = def(b"a");
        let eof: &[u8] = &[0xfe, 0x00, 0x00, 0x02, 0x00];
        let mut out = frames(&[ok]);
        let mut chain = ReplyChain::new(false);
        // a partial frame is not ready
        let n = chain.rewrite(&mut out[..5], true).unwrap();
        assert_eq!(n, 0);
        assert_eq!(chain.rewrite(&mut out, true).unwrap(), out.len());
        assert_eq!(chain.ended, Some(false));
        chain.next_statement();
        let second = frames(&[&[0x01], &def, eof, &[0x01, b'x'], eof]);
        out.extend_from_slice(&second);
        assert_eq!(chain.rewrite(&mut out, false).unwrap(), out.len());
        let got = seqs_and_payloads(&out);
        assert_eq!(
            got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6]
        );
        // the OK says more results follow; the last EOF does not
        assert_eq!(got[0].1[3..5], (0x0002u16 | 0x0008).to_le_bytes());
        assert_eq!(got[5].1[3..5], 0x0002u16.to_le_bytes());
        assert_eq!(got[3].1[3..5], 0x0002u16.to_le_bytes()); // the EOF after the definitions
    }

    #[test]
    fn more_results_lands_in_an_ok_after_long_integers() {
        // DEPRECATE_EOF terminator with 3- and 9-byte length-encoded counts
        let mut p = vec![
            0xfe, 0xfc, 0x10, 0x27, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 0x02, 0x00,
        ];
        set_more_results(&mut p, true);
        assert_eq!(p[13..15], 0x000au16.to_le_bytes());
        let mut err = vec![0xff, 0x10, 0x04];
        set_more_results(&mut err, true);
        assert_eq!(err, [0xff, 0x10, 0x04]);
        let mut short = vec![0x00, 0xfe];
        set_more_results(&mut short, true); // truncated: left alone
        assert_eq!(short, [0x00, 0xfe]);
    }

    #[test]
    fn an_error_ends_the_chain() {
        let mut out = frames(&[&[0xff, 0x10, 0x04, b'#', b'4', b'2', b'0', b'0', b'0', b'x']]);
        let mut chain = ReplyChain::new(true);
        assert_eq!(chain.rewrite(&mut out, true).unwrap(), out.len());
        assert_eq!(chain.ended, Some(true));
    }

    /// Random statement replies (OK, ERR, result sets, with and without
    /// CLIENT_DEPRECATE_EOF) arriving in random pieces and written out in
    /// random amounts: the client's stream must read as one server's reply
    /// to the whole query: sequence ids 1, 2, 3, ... and one reply tracker
    /// following SERVER_MORE_RESULTS_EXISTS to the very last byte.
    #[test]
    fn random_replies_in_random_pieces_chain_like_one_server() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n.max(1)
        };
        for _ in 0..400 {
            let deprecate = next(2) == 1;
            let statements = 1 + next(5) as usize;
            let mut chain = ReplyChain::new(deprecate);
            let (mut out, mut written) = (Vec::new(), Vec::new());
            let mut results = 0;
            for i in 0..statements {
                let more = i + 1 < statements;
                let kind = next(4);
                let mut packets: Vec<Vec<u8>> = Vec::new();
                match kind {
                    0 => packets.push(vec![0x00, next(250) as u8, 0, 0x02, 0x00, 0, 0]),
                    1 => packets.push(b"\xff\x10\x04#42000oops".to_vec()),
                    _ => {
                        let cols = 1 + next(3) as usize;
                        packets.push(vec![cols as u8]);
                        for c in 0..cols {
                            packets.push(def(&[b'a' + c as u8]));
                        }
                        if !deprecate {
                            packets.push(vec![0xfe, 0, 0, 0x02, 0]);
                        }
                        for _ in 0..next(6) {
                            let mut row = Vec::new();
                            for _ in 0..cols {
                                let len = next(40) as usize;
                                row.push(len as u8);
                                row.extend(std::iter::repeat_n(b'x', len));
                            }
                            packets.push(row);
                        }
                        packets.push(if deprecate {
                            vec![0xfe, 0, 0, 0x02, 0, 0, 0]
                        } else {
                            vec![0xfe, 0, 0, 0x02, 0]
                        });
                    }
                }
                let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
                let reply = frames(&refs);
                // In pieces, with writes of what is ready in between.
                let mut at = 0;
                while at < reply.len() {
                    let piece = 1 + next(reply.len() as u64 - at as u64) as usize;
                    out.extend_from_slice(&reply[at..at + piece]);
                    at += piece;
                    let ready = chain.rewrite(&mut out, more).unwrap();
                    assert!(ready <= out.len());
                    let n = next(ready as u64 + 1) as usize;
                    written.extend(out.drain(..n));
                    chain.ready -= n;
                }
                assert_eq!(chain.rewrite(&mut out, more).unwrap(), out.len());
                assert_eq!(chain.ended, Some(kind == 1));
                written.append(&mut out);
                chain.ready = 0;
                results += 1;
                if kind == 1 {
                    break;
                }
                chain.next_statement();
            }
            let got = seqs_and_payloads(&written);
            for (i, (seq, _)) in got.iter().enumerate() {
                assert_eq!(*seq, (i + 1) as u8, "sequence ids run on");
            }
            // One tracker reads the whole stream as one reply.
            let mut t = ReplyTracker::new(Expect::ResultSets, deprecate);
            let adv = t.advance(&written).unwrap();
            assert!(adv.done, "{results} results");
            assert_eq!(adv.consumed, written.len(), "nothing after the last result");
        }
    }
}
