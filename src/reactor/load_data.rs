//! `LOAD DATA LOCAL INFILE` into a sharded or broadcast table, on the I/O
//! thread: shardgate asks the client for the file itself (the LOCAL INFILE
//! request a server would send), collects its packets up to
//! `route::shard::MAX_INFILE_BYTES`, and hands the statement with the
//! file to a worker, which splits the records over the shards
//! (`route::shard::load`). Each target then runs its own `LOAD DATA LOCAL`
//! and, when its server asks for the file, gets its part of it here, fed a
//! chunk at a time as the connection drains (memory stays bounded by the
//! buffer budget, whatever the file's size). The replies are gathered as
//! any scattered write's: one OK, or the first error with nothing loaded
//! (shardgate's own transaction, `reactor/implicit_txn.rs`).
//!
//! The client's packets of the file are numbered on from the request, and
//! so is the final OK: the next reply starts at the sequence id after the
//! client's empty packet (`Client::reply_seq`).

use super::client::{queue_packet, Phase};
use super::io_thread::{Conn, IoThread};
use super::sock;
use crate::route::shard::load::MAX_INFILE_BYTES;
use crate::route::Job;
use shardgate_proto::error_codes as ec;
use shardgate_proto::frame::write_packet;

/// The file of a `LOAD DATA LOCAL` while the client sends it.
#[derive(Debug, Default)]
pub(super) struct InfileCollect {
    /// The client's COM_QUERY, planned again once the file is in.
    pub payload: Vec<u8>,
    pub data: Vec<u8>,
    /// Past `MAX_INFILE_BYTES`: the rest is read and dropped.
    pub too_big: bool,
}

/// A target's part of the file, on its way to the backend that asked.
#[derive(Debug)]
pub(super) struct InfileFeed {
    pub data: Vec<u8>,
    pub sent: usize,
    /// Sequence id of the next packet.
    pub seq: u8,
}

/// Bytes of one file packet sent to a backend.
const FEED_PACKET: usize = 64 * 1024;
/// Fed while the backend's write buffer holds less than this.
const FEED_LOW: usize = 256 * 1024;
/// Fed per round.
const FEED_ROUND: usize = 1024 * 1024;

impl IoThread {
    /// `Action::ReadInfile`: the LOCAL INFILE request to the client.
    pub(super) fn ask_for_infile(&mut self, key: usize, file: Vec<u8>, payload: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let mut request = Vec::with_capacity(file.len() + 1);
        request.push(0xfb);
        request.extend_from_slice(&file);
        if !queue_packet(c, &mut self.pool, 1, &request) {
            self.close(key, "buffer memory exhausted");
            return;
        }
        c.infile = Some(Box::new(InfileCollect {
            payload,
            ..InfileCollect::default()
        }));
        c.phase = Phase::InfileCollect;
        c.decoder.expect_seq(2);
        self.rerun.push(key);
    }

    /// A packet of the file from the client; the empty one ends it.
    pub(super) fn on_infile_collect(&mut self, key: usize, seq: u8, payload: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let Some(collect) = c.infile.as_mut() else {
            self.close(key, "LOCAL INFILE data without a statement");
            return;
        };
        c.decoder.expect_seq(seq.wrapping_add(1));
        if !payload.is_empty() {
            if collect.data.len() + payload.len() > MAX_INFILE_BYTES {
                collect.too_big = true;
                collect.data = Vec::new();
            } else if !collect.too_big {
                collect.data.extend_from_slice(&payload);
            }
            return;
        }
        // The whole file is in: the reply goes on from here.
        c.reply_seq = seq.wrapping_add(1);
        let Some(collect) = c.infile.take() else {
            return;
        };
        if collect.too_big {
            self.reply_err(
                key,
                ec::ER_OUT_OF_RESOURCES,
                &format!(
                    "shardgate: LOAD DATA into a sharded table reads the whole file first, and \
                     this one is larger than {} MiB; split it into smaller files. Nothing was \
                     loaded",
                    MAX_INFILE_BYTES >> 20
                ),
            );
            return;
        }
        let mut ctx = c.route_ctx();
        ctx.infile = Some(std::sync::Arc::new(collect.data));
        let job = Job {
            io: self.idx,
            token: key,
            gen: c.gen,
            payload: collect.payload,
            ctx,
        };
        c.phase = Phase::AwaitPlan;
        // Splitting a file is a worker's job, never the I/O thread's.
        self.send_job(key, job);
    }

    /// The backend running target `target` asked for the file (its LOCAL
    /// INFILE request had sequence id `seq`): its part goes out.
    pub(super) fn start_infile_feed(&mut self, bk: usize, ck: usize, seq: u8) {
        let target = self.target_of(bk);
        let data = match (self.conns.get_mut(ck), target) {
            (Some(Conn::Client(c)), Some(t)) => c
                .inflight
                .as_mut()
                .and_then(|i| i.targets.get_mut(t))
                .and_then(|t| t.infile.take()),
            _ => None,
        };
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return;
        };
        // A request shardgate did not expect gets an empty file.
        b.infile = Some(InfileFeed {
            data: data.unwrap_or_default(),
            sent: 0,
            seq: seq.wrapping_add(1),
        });
        self.feed_infile(bk);
    }

    fn target_of(&self, bk: usize) -> Option<usize> {
        match self.conns.get(bk) {
            Some(Conn::Backend(b)) => b.target,
            _ => None,
        }
    }

    /// Queues the next chunks of a backend's file while its write buffer
    /// is low; the empty packet after the last one.
    pub(super) fn feed_infile(&mut self, bk: usize) {
        let Some(Conn::Backend(b)) = self.conns.get_mut(bk) else {
            return;
        };
        if sock::pending(&b.wbuf) >= FEED_LOW {
            return;
        }
        let Some(feed) = b.infile.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        let round_end = (feed.sent + FEED_ROUND).min(feed.data.len());
        while feed.sent < round_end {
            let end = (feed.sent + FEED_PACKET).min(round_end);
            write_packet(&mut out, &mut feed.seq, &feed.data[feed.sent..end]);
            feed.sent = end;
        }
        // (the reply tracker then expects the server's answer)
        let done = feed.sent >= feed.data.len();
        if done {
            write_packet(&mut out, &mut feed.seq, &[]);
            b.infile = None;
        }
        self.backend_write_raw(bk, &out, done);
    }
}
