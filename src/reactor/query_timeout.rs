//! `backend.query_timeout`: a statement still running on its backends once
//! the timeout has passed is cancelled there with `KILL QUERY` on a
//! separate connection (the server then answers the statement with ERR
//! 1317, relayed or merged as usual, and the session goes on). When its
//! backends have not stopped `backend.connect_timeout` (+1 s) later — a
//! frozen or unreachable server, which a KILL cannot reach either — their
//! connections are closed and the client gets ERR 1158 saying why, as for
//! any backend lost during a statement (`reactor::finish::backend_lost`).
//! Checked on the I/O thread's tick; off when the option is not set.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::client::Phase;
use super::io_thread::{Conn, IoThread};
use crate::config::Topology;

/// What the tick found for one timed-out statement.
enum Step {
    /// Cancel it on these backend connections (address, server thread id).
    Cancel(Vec<(SocketAddr, u32)>),
    /// Its backends did not stop: close these backend connections.
    Abandon(Vec<usize>),
}

impl IoThread {
    /// Cancels or abandons the statements that ran past
    /// `backend.query_timeout` (see the module documentation).
    pub(super) fn enforce_query_timeout(&mut self, now: Instant, topo: &Topology) {
        let Some(limit) = topo.backend.query_timeout else {
            return;
        };
        let grace = topo.backend.connect_timeout + Duration::from_secs(1);
        let mut steps = Vec::new();
        for (key, conn) in self.conns.iter() {
            let Conn::Client(c) = conn else { continue };
            if !matches!(c.phase, Phase::Relaying | Phase::Infile) {
                continue;
            }
            let Some(inf) = c.inflight.as_ref() else {
                continue;
            };
            if now.saturating_duration_since(inf.started) < limit {
                continue;
            }
            let running: Vec<usize> = inf
                .targets
                .iter()
                .filter(|t| !t.done)
                .filter_map(|t| t.bk)
                .collect();
            if running.is_empty() {
                continue;
            }
            match inf.cancelled_at {
                None => {
                    let on: Vec<(SocketAddr, u32)> = running
                        .iter()
                        .filter_map(|&bk| match self.conns.get(bk) {
                            Some(Conn::Backend(b)) if b.thread_id != 0 => {
                                Some((b.addr, b.thread_id))
                            }
                            _ => None,
                        })
                        .collect();
                    log::warn!(
                        "CONN [{} {}] statement still running after backend.query_timeout ({limit:?}): \
                         cancelling it on {}",
                        c.sess.conn_id,
                        c.peer,
                        inf.addrs()
                    );
                    steps.push((key, Step::Cancel(on)));
                }
                Some(at) if now.saturating_duration_since(at) >= grace => {
                    steps.push((key, Step::Abandon(running)));
                }
                Some(_) => {}
            }
        }
        for (key, step) in steps {
            match step {
                Step::Cancel(on) => {
                    if let Some(Conn::Client(c)) = self.conns.get_mut(key) {
                        if let Some(inf) = c.inflight.as_mut() {
                            inf.cancelled_at = Some(now);
                        }
                    }
                    self.cancel_on_backends(on, topo);
                }
                Step::Abandon(bks) => {
                    let why = format!(
                        "the statement ran past backend.query_timeout ({limit:?}) and the backend \
                         did not stop it within {grace:?} of KILL QUERY"
                    );
                    for bk in bks {
                        self.close(bk, &why);
                    }
                }
            }
        }
    }

    /// `KILL QUERY` of each (address, thread id), on a thread of its own:
    /// each KILL is a blocking connection bounded by
    /// `backend.connect_timeout`.
    fn cancel_on_backends(&self, on: Vec<(SocketAddr, u32)>, topo: &Topology) {
        if on.is_empty() {
            return;
        }
        let cfg = topo.backend.clone();
        let spawned = std::thread::Builder::new()
            .name("shardgate-cancel".into())
            .spawn(move || {
                for (addr, tid) in on {
                    if let Err(e) = crate::backend::blocking::kill_query(addr, &cfg, tid) {
                        log::warn!("BACKEND [{addr}] could not cancel a timed-out statement: {e}");
                    }
                }
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a thread to cancel a timed-out statement: {e}");
        }
    }
}
