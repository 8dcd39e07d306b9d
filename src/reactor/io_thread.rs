//! One I/O thread: a mio `Poll`, a slab of connections, a buffer pool and
//! backend connection pools. The loop polls, dispatches readiness to the
//! client or backend state machine, drains the inbox (new sockets, worker
//! plans, kills) and runs timers (handshake deadlines, backend connect
//! deadlines, idle backend expiry and pings) every `TICK`.
//!
//! Tokens: `Token(0)` is the waker; a connection in slab slot `k` is
//! `Token(k + 1)`.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::event::Event;
use mio::{Events, Poll, Token, Waker};
use slab::Slab;

use super::backend::Backend;
use super::buffer::BufferPool;
use super::client::Client;
use super::{Inbound, IoHandle, Shared};
use crate::route::Job;

pub(super) const WAKER: Token = Token(0);
const TICK: Duration = Duration::from_millis(100);

/// A connection in the slab.
pub(super) enum Conn {
    Client(Box<Client>),
    Backend(Box<Backend>),
}

/// Pool key: a backend node and the protocol flavour its connections
/// negotiated (see `Client::flavor`).
pub(super) type PoolKey = (SocketAddr, u64);

pub struct IoThread {
    pub(super) idx: usize,
    pub(super) poll: Poll,
    pub(super) conns: Slab<Conn>,
    pub(super) pool: BufferPool,
    pub(super) shared: Arc<Shared>,
    pub(super) inbox: Receiver<Inbound>,
    pub(super) jobs: Sender<Job>,
    /// Idle backend connections by pool key (slab keys).
    pub(super) idle: HashMap<PoolKey, Vec<usize>>,
    /// Clients waiting for a backend connection of a key at its limit.
    pub(super) waiting: HashMap<PoolKey, VecDeque<(usize, usize)>>,
    /// Backend connections open (or opening) per node on this thread.
    pub(super) open_per_node: HashMap<SocketAddr, usize>,
    /// Slab keys whose state machine must run again (work queued without
    /// a socket event, e.g. a command buffered behind the previous one).
    pub(super) rerun: Vec<usize>,
    pub(super) draining: bool,
    /// Jobs the full worker queue did not take yet, in order.
    pub(super) parked_jobs: VecDeque<Job>,
    /// Shared with this thread's `IoHandle` (see there).
    pub(super) sleeping: Arc<AtomicBool>,
    /// Nodes that refused a connection recently: until when new connects
    /// fail fast, the current back-off, and the last error.
    pub(super) backoff: HashMap<SocketAddr, NodeBackoff>,
    /// Read/write split and replica balancing state.
    pub(super) balancer: super::balance::Balancer,
}

/// Reconnect back-off of one node (per I/O thread).
pub(super) struct NodeBackoff {
    pub until: Instant,
    pub delay: Duration,
    pub error: String,
}

/// First and largest reconnect back-off.
pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(50);
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Creates an I/O thread and starts it; returns its handle.
pub fn spawn_io_thread(
    idx: usize,
    shared: Arc<Shared>,
    jobs: Sender<Job>,
) -> io::Result<(IoHandle, std::thread::JoinHandle<()>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, inbox) = crossbeam_channel::unbounded();
    let pool = BufferPool::new(shared.budget.clone());
    let mut t = IoThread {
        idx,
        poll,
        conns: Slab::with_capacity(1024),
        pool,
        shared,
        inbox,
        jobs,
        idle: HashMap::new(),
        waiting: HashMap::new(),
        open_per_node: HashMap::new(),
        rerun: Vec::new(),
        draining: false,
        backoff: HashMap::new(),
        balancer: super::balance::Balancer::new(0x9E37_79B9_7F4A_7C15 ^ (idx as u64 + 1)),
        sleeping: Arc::new(AtomicBool::new(false)),
        parked_jobs: VecDeque::new(),
    };
    let sleeping = t.sleeping.clone();
    let handle = std::thread::Builder::new()
        .name(format!("shardgate-io-{idx}"))
        .spawn(move || {
            if let Err(e) = t.run() {
                log::error!("CONN I/O thread {idx} stopped: {e}");
            }
        })?;
    Ok((
        IoHandle {
            tx,
            waker,
            sleeping,
        },
        handle,
    ))
}

impl IoThread {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        let mut shutdown_deadline: Option<Instant> = None;
        loop {
            let mut timeout = next_tick.saturating_duration_since(Instant::now());
            self.sleeping.store(true, Ordering::SeqCst);
            if !self.inbox.is_empty() || !self.rerun.is_empty() {
                timeout = Duration::ZERO;
            } else if !self.parked_jobs.is_empty() {
                timeout = timeout.min(Duration::from_millis(1));
            }
            let polled = self.poll.poll(&mut events, Some(timeout));
            self.sleeping.store(false, Ordering::SeqCst);
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                self.on_event(ev);
            }
            self.drain_inbox();
            self.send_parked_jobs();
            self.run_queued();
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.on_tick(now);
                if self.shared.is_shutting_down() {
                    let deadline = *shutdown_deadline.get_or_insert_with(|| {
                        now + self.shared.topology().server.shutdown_timeout
                    });
                    if self.drain_for_shutdown(now >= deadline) {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn on_event(&mut self, ev: &Event) {
        let key = ev.token().0 - 1;
        match self.conns.get_mut(key) {
            Some(Conn::Client(c)) => {
                c.note_event(ev);
                self.client_ready(key);
            }
            Some(Conn::Backend(b)) => {
                b.note_event(ev);
                self.backend_ready(key);
            }
            None => {}
        }
    }

    /// Retries jobs parked because the worker queue was full.
    fn send_parked_jobs(&mut self) {
        while let Some(job) = self.parked_jobs.pop_front() {
            match self.jobs.try_send(job) {
                Ok(()) => {}
                Err(crossbeam_channel::TrySendError::Full(job)) => {
                    self.parked_jobs.push_front(job);
                    return;
                }
                Err(crossbeam_channel::TrySendError::Disconnected(job)) => {
                    self.reply_err(
                        job.token,
                        shardgate_proto::error_codes::ER_SERVER_SHUTDOWN,
                        "Server shutdown in progress",
                    );
                }
            }
        }
    }

    fn run_queued(&mut self) {
        for _ in 0..4 {
            if self.rerun.is_empty() {
                return;
            }
            let keys = std::mem::take(&mut self.rerun);
            for key in keys {
                match self.conns.get(key) {
                    Some(Conn::Client(_)) => self.client_ready(key),
                    Some(Conn::Backend(_)) => self.backend_ready(key),
                    None => {}
                }
            }
        }
    }

    fn drain_inbox(&mut self) {
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                Inbound::Accept(sock, peer, conn_id) => self.accept(sock, peer, conn_id),
                Inbound::Plan(plan) => self.on_plan(plan),
                Inbound::Kill {
                    token,
                    conn_id,
                    query_only,
                    requester,
                } => self.kill_request(token, conn_id, query_only, requester),
                Inbound::KillSession { token, conn_id } => self.kill_session(token, conn_id),
                Inbound::KillDone {
                    token,
                    conn_id,
                    error,
                } => self.kill_done(token, conn_id, error),
            }
        }
    }

    fn on_tick(&mut self, now: Instant) {
        let topo = self.shared.topology();
        let mut expired_clients = Vec::new();
        let mut expired_backends = Vec::new();
        let mut ping = Vec::new();
        for (key, conn) in self.conns.iter() {
            match conn {
                Conn::Client(c) => {
                    if c.deadline.is_some_and(|d| now >= d) {
                        expired_clients.push(key);
                    }
                }
                Conn::Backend(b) => {
                    if b.deadline.is_some_and(|d| now >= d) {
                        expired_backends.push(key);
                    } else if b.is_idle() {
                        let idle_for = now.saturating_duration_since(b.last_used);
                        if idle_for >= topo.backend.idle_timeout {
                            expired_backends.push(key);
                        } else if idle_for >= topo.backend.ping_interval
                            && now.saturating_duration_since(b.last_ping)
                                >= topo.backend.ping_interval
                        {
                            ping.push(key);
                        }
                    }
                }
            }
        }
        for key in expired_clients {
            self.client_timed_out(key);
        }
        let threads = self.shared.io.read().len().max(1);
        let min_idle = topo.backend.min_idle_per_node.div_ceil(threads);
        for key in expired_backends {
            // Idle connections beyond min_idle_per_node expire; the rest stay.
            if let Some(Conn::Backend(b)) = self.conns.get(key) {
                if b.is_idle() && self.idle.get(&b.pool_key).map_or(0, Vec::len) <= min_idle {
                    continue;
                }
            }
            self.backend_timed_out(key);
        }
        for key in ping {
            self.ping_idle_backend(key, now);
        }
        self.enforce_query_timeout(now, &topo);
        self.drain_unusable_nodes(&topo);
        if min_idle > 0 && !self.shared.is_shutting_down() {
            self.fill_min_idle(min_idle, now);
        }
    }

    /// Closes the idle pooled connections of nodes that are down (probes or
    /// operator) or no longer in the config: they get no new statements, so
    /// their connections drain as the statements running on them finish.
    fn drain_unusable_nodes(&mut self, topo: &crate::config::Topology) {
        let mut close = Vec::new();
        for (key, list) in &self.idle {
            if list.is_empty() {
                continue;
            }
            let text = key.0.to_string();
            // Host names resolve at connect time: a node given by name may be
            // any address, so it keeps its connections.
            let configured = topo.groups.iter().any(|g| {
                std::iter::once(&g.master)
                    .chain(g.replicas.iter().map(|r| &r.addr))
                    .any(|n| n.socket.is_none_or(|s| s == key.0))
            });
            let down = self
                .shared
                .health
                .find(&text)
                .is_some_and(|e| e.effective() == crate::health::NodeState::Down);
            if down || !configured {
                close.extend(list.iter().map(|&bk| (bk, down)));
            }
        }
        for (bk, down) in close {
            let why = if down {
                "node is down"
            } else {
                "node removed from the config"
            };
            self.close(bk, why);
        }
    }

    /// Opens connections so every pool key seen has `min_idle` idle ones.
    fn fill_min_idle(&mut self, min_idle: usize, now: Instant) {
        let topo = self.shared.topology();
        let threads = self.shared.io.read().len().max(1);
        let limit = topo
            .backend
            .max_connections_per_node
            .div_ceil(threads)
            .max(1);
        let short: Vec<PoolKey> = self
            .idle
            .iter()
            .filter(|(k, list)| {
                list.len() < min_idle
                    && self.open_per_node.get(&k.0).copied().unwrap_or(0) < limit
                    && self.backoff.get(&k.0).is_none_or(|b| now >= b.until)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in short {
            if let Err(e) = self.open_backend(key) {
                log::debug!("BACKEND [{}] pre-opening failed: {e}", key.0);
            }
        }
    }

    /// During shutdown: closes idle sessions; true when nothing is left
    /// (or `force`, once the shutdown timeout has passed).
    fn drain_for_shutdown(&mut self, force: bool) -> bool {
        if !self.draining {
            self.draining = true;
            log::debug!(
                "CONN I/O thread {} draining {} connections",
                self.idx,
                self.conns.len()
            );
        }
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| match c {
                Conn::Client(c) => force || c.is_idle(),
                Conn::Backend(b) => force || b.is_idle(),
            })
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.close(key, "shutdown");
        }
        self.conns.is_empty()
    }

    /// Removes a connection and everything that refers to it.
    pub(super) fn close(&mut self, key: usize, why: &str) {
        let Some(conn) = self.conns.try_remove(key) else {
            return;
        };
        match conn {
            Conn::Client(mut c) => {
                log::debug!("CONN [{} {}] closed: {why}", c.sess.conn_id, c.peer);
                let _ = self.poll.registry().deregister(&mut c.sock);
                self.client_closed(&mut c);
                // Attached backends are mid-statement or hold the session's
                // pinned state (a transaction, locks): close them, so the
                // servers roll back and release what the session held.
                for (_, bk) in std::mem::take(&mut c.backends) {
                    self.close(bk, "its client closed");
                }
                c.release_buffers(&mut self.pool);
            }
            Conn::Backend(mut b) => {
                log::debug!("BACKEND [{}] closed: {why}", b.addr);
                if b.is_logging_in() {
                    let now = Instant::now();
                    let e = self.backoff.entry(b.addr).or_insert(NodeBackoff {
                        until: now,
                        delay: BACKOFF_MIN / 2,
                        error: String::new(),
                    });
                    e.delay = (e.delay * 2).min(BACKOFF_MAX);
                    e.until = now + e.delay;
                    e.error = why.to_string();
                    log::warn!(
                        "BACKEND [{}] unreachable: {why} (retry in {:?})",
                        b.addr,
                        e.delay
                    );
                }
                let _ = self.poll.registry().deregister(&mut b.sock);
                {
                    use std::sync::atomic::Ordering::Relaxed;
                    b.node_stats.open.fetch_sub(1, Relaxed);
                    if b.busy_counted {
                        b.node_stats.busy.fetch_sub(1, Relaxed);
                        b.node_stats.errors.fetch_add(1, Relaxed);
                    }
                }
                if let Some(n) = self.open_per_node.get_mut(&b.addr) {
                    *n = n.saturating_sub(1);
                }
                if let Some(list) = self.idle.get_mut(&b.pool_key) {
                    list.retain(|&k| k != key);
                }
                b.release_buffers(&mut self.pool);
                if let Some(ck) = b.client.take() {
                    self.backend_lost(ck, &b, why);
                }
                // A slot freed: a waiting client may open a connection now.
                self.serve_waiting(b.pool_key);
            }
        }
    }
}
