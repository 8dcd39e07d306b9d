//! A backend's reply to a statement: the replies of the state-sync
//! commands sent before it are swallowed (their errors kept for the
//! client), then the reply is relayed to the client frame by frame (with
//! a sharded COM_STMT_PREPARE's id replaced, text rows turned into binary
//! rows where needed), buffered for a rename, or fed to the scatter-gather
//! merger; a finished target starts the next one queued on the connection.

use super::backend::{last_packet_payload, last_seq, packet, Phase};
use super::client::Phase as ClientPhase;
use super::io_thread::{Conn, IoThread};
use super::sock;
use crate::route::Gather;
use shardgate_proto::capability::StatusFlags;
use shardgate_proto::frame::{for_each_packet, write_packet, FrameHeader};
use std::time::Instant;

impl IoThread {
    /// Relays (or gathers) reply bytes. Returns whether it made progress.
    pub(super) fn backend_relay(&mut self, bk: usize) -> bool {
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return false;
        };
        let Some(buf) = b.rbuf.as_mut() else {
            return false;
        };
        // 1. Swallow the replies of the state-sync statements.
        while let Some(t) = b.sync.first_mut() {
            let adv = match t.advance(buf.data()) {
                Ok(a) => a,
                Err(e) => {
                    self.close(bk, &format!("bad reply to a sync statement: {e}"));
                    return false;
                }
            };
            let data = buf.data();
            if adv.done && t.outcome().error && b.sync_failed.is_none() {
                // Keep the ERR packet to show the client.
                let err = last_packet_payload(&data[..adv.consumed]);
                b.sync_failed = Some(err);
            }
            if adv.done {
                match t.outcome().prepared {
                    Some((id, _, _)) if b.stmts.is_pending() => {
                        // Kept for the next executions; the least recently
                        // used one goes when the cache is full.
                        let cap = self.shared.topology().backend.prepared_cache_per_connection;
                        if let Some(old) = b.stmts.prepared(id, cap) {
                            let mut p = vec![0x19];
                            p.extend_from_slice(&old.to_le_bytes());
                            if !sock::append(&mut b.wbuf, &mut self.pool, &packet(0, &p)) {
                                self.close(bk, "buffer memory exhausted");
                                return false;
                            }
                            self.rerun.push(bk);
                        }
                    }
                    // A one-shot statement: close it after its execution.
                    Some((id, _, _)) => b.close_stmt = Some(id),
                    None => b.stmts.cancel(),
                }
            }
            buf.consume(adv.consumed);
            if !adv.done {
                return adv.consumed > 0;
            }
            b.sync.remove(0);
        }
        let Some(t) = b.tracker.as_mut() else {
            return false;
        };
        let adv = match t.advance(buf.data()) {
            Ok(a) => a,
            Err(e) => {
                self.close(bk, &format!("bad reply packet: {e}"));
                return false;
            }
        };
        if adv.consumed == 0 && !adv.done && !adv.local_infile {
            return false;
        }
        // (the LOCAL INFILE request's sequence id, when it was just read)
        let infile_seq = if adv.local_infile {
            last_seq(&buf.data()[..adv.consumed])
        } else {
            None
        };
        let outcome = t.outcome();
        let ck = b.client;
        let (relay, merge, prepare_as) =
            match ck.and_then(|ck| self.conns.get(ck)).and_then(|c| match c {
                Conn::Client(c) => c.inflight.as_ref(),
                _ => None,
            }) {
                Some(i) => (
                    matches!(i.gather, Gather::Relay),
                    i.merger.is_some(),
                    i.prepare_as,
                ),
                None => (false, false, None),
            };
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return false;
        };
        // 2. Relay: copy the frames straight from the backend's buffer to the
        // client's (unless swallowing after a failed sync). Gather: keep the
        // ERR packet, if the reply is one.
        let forward = relay && b.sync_failed.is_none() && adv.consumed > 0;
        // An error names the logical tables, not the physical ones.
        let logical_err = if adv.done && outcome.error {
            let topo = self.shared.topology();
            let sharded = crate::merge::err_names::sharded_names(&topo);
            let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
                return false;
            };
            let frames = b
                .rbuf
                .as_ref()
                .map_or(&[][..], |buf| &buf.data()[..adv.consumed]);
            if !relay {
                let err = last_packet_payload(frames);
                b.reply_err =
                    Some(crate::merge::err_names::logical_err(&err, &sharded).unwrap_or(err));
            }
            // (the relayed frames, or those fed to the merger)
            logical_err_frames(frames, &sharded)
        } else {
            None
        };
        let mut relayed: Option<Option<u8>> = None;
        if let (true, Some(ck)) = (forward, ck) {
            if let Some((Conn::Backend(b), Conn::Client(c))) = self.conns.get2_mut(bk, ck) {
                if let Some(buf) = b.rbuf.as_mut() {
                    // A sharded COM_STMT_PREPARE: the client sees shardgate's id.
                    if let Some(id) = c
                        .inflight
                        .as_ref()
                        .filter(|i| !i.forwarded)
                        .and_then(|i| i.prepare_as)
                    {
                        let data = buf.data_mut();
                        if data.len() >= 9 && data[4] == 0x00 {
                            data[5..9].copy_from_slice(&id.to_le_bytes());
                        }
                    }
                    let frames = logical_err
                        .as_deref()
                        .unwrap_or(&buf.data()[..adv.consumed]);
                    let seq = last_seq(frames);
                    let converted = match c.inflight.as_mut().and_then(|i| i.to_binary.as_mut()) {
                        Some(conv) => {
                            // Text rows to binary rows, packet by packet.
                            let mut out = Vec::with_capacity(frames.len());
                            let mut next_seq = FrameHeader::parse(frames).map_or(1, |h| h.seq);
                            let mut bad = None;
                            let mut p = Vec::new();
                            for_each_packet(frames, |payload| {
                                p.clear();
                                if let Err(e) = conv.packet(payload, &mut p) {
                                    bad.get_or_insert(e);
                                }
                                write_packet(&mut out, &mut next_seq, &p);
                            });
                            if let Some(e) = bad {
                                self.close(
                                    bk,
                                    &format!("bad text result for a prepared statement: {e}"),
                                );
                                return false;
                            }
                            Some(out)
                        }
                        None => None,
                    };
                    let bytes = converted.as_deref().unwrap_or(frames);
                    if !sock::append(&mut c.wbuf, &mut self.pool, bytes) {
                        self.close(ck, "buffer memory exhausted");
                        return false;
                    }
                    relayed = Some(seq);
                }
            }
        }
        // Rename: the (small) metadata result is buffered, rewritten at the end.
        if let (true, Some(ck)) = (adv.consumed > 0, ck) {
            if let Some((Conn::Backend(b), Conn::Client(c))) = self.conns.get2_mut(bk, ck) {
                if let (Some(buf), Some(inf)) = (b.rbuf.as_ref(), c.inflight.as_mut()) {
                    if matches!(inf.gather, Gather::Rename(_)) {
                        if let Some(t) = b.target.and_then(|i| inf.targets.get_mut(i)) {
                            t.reply.extend_from_slice(&buf.data()[..adv.consumed]);
                        }
                    }
                }
            }
        }
        // Merge: every packet goes to the merger, which writes the client's
        // result set as it can.
        if let (true, Some(ck)) = (merge && adv.consumed > 0, ck) {
            if let Some((Conn::Backend(b), Conn::Client(c))) = self.conns.get2_mut(bk, ck) {
                let shard = b.target.unwrap_or(0);
                let (Some(buf), Some(inf)) = (b.rbuf.as_ref(), c.inflight.as_mut()) else {
                    return false;
                };
                let Some(merger) = inf.merger.as_mut() else {
                    return false;
                };
                let frames = logical_err
                    .as_deref()
                    .unwrap_or(&buf.data()[..adv.consumed]);
                let mut bad = None;
                for_each_packet(frames, |payload| {
                    if bad.is_none() {
                        if let Err(e) = merger.feed(shard, payload) {
                            bad = Some(e);
                        }
                    }
                });
                let mut out = Vec::new();
                merger.poll_output(&mut out, &mut inf.merge_seq);

                if !out.is_empty() {
                    inf.forwarded = true;
                    if !sock::append(&mut c.wbuf, &mut self.pool, &out) {
                        self.close(ck, "buffer memory exhausted");
                        return false;
                    }
                }
                // Other shards may be readable again now.
                let others: Vec<usize> = inf.targets.iter().filter_map(|t| t.bk).collect();
                self.rerun.extend(others);
                self.rerun.push(ck);
                if let Some(e) = bad {
                    self.close(bk, &format!("bad result packet: {e}"));
                    return false;
                }
            }
        }
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return false;
        };
        if let Some(buf) = b.rbuf.as_mut() {
            buf.consume(adv.consumed);
        }
        let mut target = None;
        let mut ok_info = Vec::new();
        if adv.done {
            if b.busy_counted {
                b.node_stats
                    .busy
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                b.busy_counted = false;
            }
            if outcome.error {
                b.node_stats
                    .errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            b.phase = Phase::Ready;
            ok_info = b
                .tracker
                .take()
                .map(|mut t| t.take_ok_info())
                .unwrap_or_default();
            b.deadline = None;
            b.last_used = Instant::now();
            if outcome.status_seen {
                b.status = outcome.status;
            }
            target = b.target.take();
        }
        if adv.done {
            // Close the backend side of a one-shot or metadata statement.
            let close = b.close_stmt.take().or(outcome
                .prepared
                .filter(|_| !outcome.error)
                .map(|p| p.0)
                .filter(|_| prepare_as.is_some()));
            if let Some(id) = close {
                let mut p = vec![0x19];
                p.extend_from_slice(&id.to_le_bytes());
                let bytes = packet(0, &p);
                if !sock::append(&mut b.wbuf, &mut self.pool, &bytes) {
                    self.close(bk, "buffer memory exhausted");
                    return false;
                }
                self.rerun.push(bk);
            }
        }
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return false;
        };
        let sync_err = if adv.done { b.sync_failed.take() } else { None };
        let reply_err = if adv.done { b.reply_err.take() } else { None };
        let Some(ck) = ck else {
            // A ping with no client.
            if adv.done {
                if outcome.error {
                    self.close(bk, "ping failed");
                } else {
                    self.release_backend(bk);
                }
            }
            return true;
        };
        let Some(Conn::Client(c)) = self.conns.get_mut(ck) else {
            return true;
        };
        if let Some(seq) = relayed {
            if let Some(inf) = c.inflight.as_mut() {
                inf.forwarded = true;
                if let Some(seq) = seq {
                    inf.last_seq = seq;
                }
            }
            self.rerun.push(ck);
        }
        if adv.local_infile && relay {
            c.phase = ClientPhase::Infile;
            let next = c
                .inflight
                .as_ref()
                .map_or(2, |i| i.last_seq.wrapping_add(1));
            c.decoder.expect_seq(next);
            self.rerun.push(ck);
            return true;
        }
        if adv.local_infile {
            // A gathered LOAD DATA LOCAL: shardgate sends this target's
            // part of the file (`reactor::load_data`).
            if let Some(seq) = infile_seq {
                self.start_infile_feed(bk, ck, seq);
            }
            return infile_seq.is_some();
        }
        if !adv.done {
            return true;
        }
        if let Some(err) = sync_err {
            log::warn!(
                "BACKEND [{}] replaying session state failed",
                self.backend_addr(bk)
            );
            // The backend's state is unknown now: drop it after this.
            if let Some(Conn::Client(c)) = self.conns.get_mut(ck) {
                c.detach(bk);
                if let Some(inf) = c.inflight.as_mut() {
                    if let Some(t) = target.and_then(|i| inf.targets.get_mut(i)) {
                        t.done = true;
                    }
                    if inf.error.is_none() {
                        inf.error = Some(err);
                    }
                }
            }
            self.close(bk, "session state replay failed");
            self.maybe_complete(ck);
            return true;
        }
        // 3. This target is done: record it, start the next one queued on
        // this connection, and finish the statement when all are done.
        if let Some(Conn::Client(c)) = self.conns.get_mut(ck) {
            if let Some(inf) = c.inflight.as_mut() {
                if let Some(t) = target.and_then(|i| inf.targets.get_mut(i)) {
                    t.done = true;
                    t.diagnostics = outcome.warnings > 0 || outcome.error;
                }
                inf.status |= outcome.status & !StatusFlags::MORE_RESULTS_EXISTS.0;
                (inf.affected, inf.warnings) = if matches!(inf.gather, Gather::SameOk) {
                    // Every group ran the same statement: report one.
                    (
                        inf.affected.max(outcome.affected_rows),
                        inf.warnings.max(outcome.warnings),
                    )
                } else {
                    (
                        inf.affected.saturating_add(outcome.affected_rows),
                        inf.warnings.saturating_add(outcome.warnings),
                    )
                };
                inf.result_set |= outcome.result_set;
                inf.rows = inf.rows.saturating_add(outcome.rows);
                if !outcome.error && !outcome.result_set {
                    match inf.gather {
                        Gather::SameOk => inf.info.add_max(&ok_info),
                        // A multi-row INSERT split over shards: a shard
                        // given one row has no text.
                        Gather::SumOk(_)
                            if ok_info.is_empty()
                                && inf.effects.kind == crate::stats::QueryKind::Insert =>
                        {
                            inf.info
                                .add_single_row_insert(outcome.affected_rows, outcome.warnings)
                        }
                        Gather::SumOk(_) => inf.info.add(&ok_info),
                        _ => {}
                    }
                }
                inf.matched = inf.matched.saturating_add(
                    crate::merge::ok::first_info_number(&ok_info).unwrap_or(outcome.affected_rows),
                );
                if outcome.last_insert_id != 0
                    && (inf.insert_id == 0 || outcome.last_insert_id < inf.insert_id)
                {
                    inf.insert_id = outcome.last_insert_id;
                }
                if outcome.error && inf.error.is_none() {
                    inf.error = reply_err.or_else(|| Some(Vec::new()));
                }
            }
        }
        if prepare_as.is_some() {
            let counts = outcome.prepared.filter(|_| !outcome.error);
            self.prepared_sharded(ck, counts);
        }
        self.run_next_target(ck, bk);
        self.maybe_complete(ck);
        true
    }
}

/// `frames` (a reply ending in an ERR packet) with the ERR's message
/// naming logical tables (`merge::err_names`); `None` when unchanged.
fn logical_err_frames(frames: &[u8], sharded: &[&str]) -> Option<Vec<u8>> {
    if sharded.is_empty() {
        return None;
    }
    let mut pos = 0;
    let mut last = None;
    while let Some(h) = FrameHeader::parse(frames.get(pos..)?) {
        last = Some((pos, h));
        pos += 4 + h.payload_len;
        if pos >= frames.len() {
            break;
        }
    }
    let (at, h) = last?;
    let payload = frames.get(at + 4..at + 4 + h.payload_len)?;
    let renamed = crate::merge::err_names::logical_err(payload, sharded)?;
    let mut out = Vec::with_capacity(frames.len() + 8);
    out.extend_from_slice(&frames[..at]);
    let mut seq = h.seq;
    write_packet(&mut out, &mut seq, &renamed);
    Some(out)
}
