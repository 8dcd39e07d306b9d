//! KILL [QUERY | CONNECTION] of a shardgate session: found in the shared
//! session table on whichever I/O thread holds it, cancelled on its
//! backend with a KILL on a separate connection, and the session closed.

use super::client::Phase;
use super::io_thread::{Conn, IoThread};
use super::{Inbound, KillRequester};
use shardgate_proto::error_codes::{self as ec};

impl IoThread {
    /// KILL [QUERY] from this session: the target session's own I/O
    /// thread decides what to interrupt (see `kill_request`).
    pub(super) fn start_kill(&mut self, key: usize, id: u32, query_only: bool) {
        let entry = self.shared.sessions.lock().get(&id).cloned();
        let Some(entry) = entry else {
            self.reply_err(
                key,
                ec::ER_NO_SUCH_THREAD,
                &format!("Unknown thread id: {id}"),
            );
            return;
        };
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        c.phase = Phase::AwaitPlan;
        let requester = KillRequester {
            io: self.idx,
            token: key,
            conn_id: c.sess.conn_id,
        };
        self.shared.send_to_io(
            entry.io,
            Inbound::Kill {
                token: entry.token,
                conn_id: id,
                query_only,
                requester,
            },
        );
    }

    /// A KILL aimed at a session of this thread. A statement running on a
    /// backend is cancelled there with KILL QUERY on a separate connection;
    /// one still waiting for a plan or a backend connection is answered
    /// with ERR 1317 here. KILL CONNECTION then closes the session.
    pub(super) fn kill_request(
        &mut self,
        token: usize,
        conn_id: u32,
        query_only: bool,
        req: KillRequester,
    ) {
        let target = match self.conns.get_mut(token) {
            Some(Conn::Client(c)) if c.sess.conn_id == conn_id => c,
            _ => {
                self.shared
                    .kill_done(req, Some(format!("Unknown thread id: {conn_id}")));
                return;
            }
        };
        let first_bk = target
            .inflight
            .as_ref()
            .and_then(|i| i.targets.first())
            .and_then(|t| t.bk);
        let running_on = match (target.phase, first_bk) {
            (Phase::Relaying | Phase::Infile, Some(bk)) => match self.conns.get(bk) {
                Some(Conn::Backend(b)) if b.thread_id != 0 => Some((b.addr, b.thread_id)),
                _ => None,
            },
            _ => None,
        };
        let Some(Conn::Client(target)) = self.conns.get_mut(token) else {
            return;
        };
        if running_on.is_none() && matches!(target.phase, Phase::AwaitPlan | Phase::AwaitBackend) {
            target.gen = target.gen.wrapping_add(1); // a late plan is dropped
            target.inflight = None;
            self.reply_err(
                token,
                ec::ER_QUERY_INTERRUPTED,
                "Query execution was interrupted",
            );
        }
        let shared = self.shared.clone();
        let topo = self.shared.topology();
        let target_io = self.idx;
        let spawned = std::thread::Builder::new()
            .name("shardgate-kill".into())
            .spawn(move || {
                let mut error = None;
                if let Some((addr, tid)) = running_on {
                    if let Err(e) = crate::backend::blocking::kill_query(addr, &topo.backend, tid) {
                        error = Some(format!(
                            "shardgate: could not cancel the statement on {addr}: {e}"
                        ));
                    }
                }
                if !query_only {
                    shared.send_to_io(target_io, Inbound::KillSession { token, conn_id });
                }
                shared.kill_done(req, error);
            });
        if spawned.is_err() {
            self.shared.kill_done(
                req,
                Some("shardgate: cannot start a thread for KILL".to_string()),
            );
        }
    }

    pub(super) fn kill_done(&mut self, key: usize, conn_id: u32, error: Option<String>) {
        match self.conns.get(key) {
            Some(Conn::Client(c)) if c.sess.conn_id == conn_id && c.phase == Phase::AwaitPlan => {}
            _ => return,
        }
        match error {
            None => self.reply_ok(key),
            Some(msg) => self.reply_err(key, ec::ER_UNKNOWN_ERROR, &msg),
        }
    }

    pub(super) fn kill_session(&mut self, key: usize, conn_id: u32) {
        if let Some(Conn::Client(c)) = self.conns.get_mut(key) {
            if c.sess.conn_id == conn_id {
                self.close(key, "killed");
            }
        }
    }
}
