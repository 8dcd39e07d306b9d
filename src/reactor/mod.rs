//! The I/O side of shardgate: an acceptor thread and N mio I/O threads.
//! Each I/O thread owns a slab of connections (clients and backends), one
//! state machine per connection, its own buffer pool and its own backend
//! connection pools. COM_QUERY packets go to the worker threads (`route`)
//! over a crossbeam channel; their plans come back over the thread's inbox,
//! with a mio `Waker`. See `src/ARCHITECTURE.md`.

pub mod acceptor;
mod backend;
mod balance;
pub mod buffer;
mod client;
mod command;
mod dispatch;
mod finish;
mod implicit_txn;
mod io_thread;
mod kill;
mod load_data;
mod multi;
mod prepared;
mod query_timeout;
pub mod relay;
mod reply;
mod savepoint;
mod sock;
mod stmt_cache;
mod write_limit;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::Sender;
use mio::net::TcpStream;
use parking_lot::{Mutex, RwLock};

use crate::config::Topology;
use crate::route::Plan;
use buffer::MemoryBudget;

pub use io_thread::spawn_io_thread;

/// The routing state of `topo`, with the bucket maps kept in `meta` (a map
/// that no longer fits its rule is replaced by the initial layout, and a
/// new map is written there).
fn routing_with_meta(
    topo: &Topology,
    meta: &mut dyn crate::meta::MetaStore,
) -> crate::route::state::RouteState {
    let (routing, store) =
        crate::route::state::RouteState::build_with(topo, &meta.state().bucket_maps);
    if !store.is_empty() {
        let result = meta.update(&mut |st| {
            for (k, m) in &store {
                st.bucket_maps.insert(k.clone(), m.clone());
            }
        });
        if let Err(e) = result {
            log::error!("META bucket maps not saved: {e}");
        }
    }
    routing
}

/// What other threads send to an I/O thread.
pub enum Inbound {
    /// A freshly accepted client socket and its connection id.
    Accept(TcpStream, SocketAddr, u32),
    /// A worker's plan for a client's command.
    Plan(Plan),
    /// KILL \[QUERY\] of a session of this thread, asked by `requester`.
    Kill {
        token: usize,
        conn_id: u32,
        query_only: bool,
        requester: KillRequester,
    },
    /// Close a session (KILL CONNECTION from another session).
    KillSession { token: usize, conn_id: u32 },
    /// The answer to a KILL a session asked for, to send to that client.
    KillDone {
        token: usize,
        conn_id: u32,
        error: Option<String>,
    },
}

/// The session that asked for a KILL, to answer when it is done.
#[derive(Debug, Clone, Copy)]
pub struct KillRequester {
    pub io: usize,
    pub token: usize,
    pub conn_id: u32,
}

/// A handle to one I/O thread.
pub struct IoHandle {
    pub tx: Sender<Inbound>,
    pub waker: Arc<mio::Waker>,
    /// The thread is (about to be) blocked in `poll`: a sender must wake it.
    /// While it runs it drains its inbox anyway, so no wake-up (an eventfd
    /// write plus an epoll return) is spent.
    pub sleeping: Arc<AtomicBool>,
}

impl IoHandle {
    pub fn send(&self, msg: Inbound) {
        if self.tx.send(msg).is_ok() && self.sleeping.swap(false, Ordering::SeqCst) {
            if let Err(e) = self.waker.wake() {
                log::error!("CONN waking I/O thread failed: {e}");
            }
        }
    }
}

/// Where a session lives, for KILL and SHOW SESSIONS.
#[derive(Debug, Clone)]
pub struct SessionEntry {
    pub io: usize,
    pub token: usize,
    pub user: String,
    pub peer: SocketAddr,
    /// The backend connection currently running this session's statement:
    /// node address and the backend's own thread id.
    pub backend: Option<(SocketAddr, u32)>,
}

/// Counters readable from any thread.
#[derive(Debug, Default)]
pub struct Stats {
    pub queries: AtomicU64,
    pub errors: AtomicU64,
    pub backend_connects: AtomicU64,
    pub backend_connect_failures: AtomicU64,
    pub slow_queries: AtomicU64,
}

/// State shared by every thread.
pub struct Shared {
    pub topology: RwLock<Arc<Topology>>,
    /// Bucket maps and lookup routers of the current topology.
    pub routing: RwLock<Arc<crate::route::state::RouteState>>,
    pub budget: Arc<MemoryBudget>,
    pub clients: AtomicUsize,
    pub next_conn_id: AtomicU32,
    pub shutdown: AtomicBool,
    pub sessions: Mutex<HashMap<u32, SessionEntry>>,
    pub io: RwLock<Vec<IoHandle>>,
    pub stats: Stats,
    /// Handshake/auth in progress plus logged-in sessions, per user.
    pub user_conns: Mutex<HashMap<String, usize>>,
    /// Every node's health (probes, operator overrides, replica lag).
    pub health: Arc<crate::health::HealthTable>,
    /// What survives a restart (operator node states, bucket maps, ...).
    pub meta: Mutex<Box<dyn crate::meta::MetaStore>>,
    /// The probe threads, once started (`server::start`).
    pub prober: Mutex<Option<crate::health::ProberHandle>>,
    /// The failover thread, once started (`server::start`).
    pub failover: Mutex<Option<crate::health::FailoverHandle>>,
    /// The topology as the config says (`topology` is it with the
    /// promotions applied).
    pub config_topology: RwLock<Arc<Topology>>,
    /// Groups whose master was replaced by `failover = "promote"`, by group
    /// name (in memory only). Its lock also serialises installs.
    pub promotions: Mutex<HashMap<String, crate::health::Promotion>>,
    /// Statement and per-node counters (admin port, /metrics).
    pub metrics: crate::stats::Metrics,
    /// When the process started (uptime).
    pub started: std::time::Instant,
}

impl Shared {
    /// Shared state with an in-memory metadata store (nothing survives).
    pub fn new(topology: Topology) -> Arc<Shared> {
        Shared::with_meta(topology, Box::new(crate::meta::MemoryMeta::new()))
    }

    /// Shared state over `meta`: bucket maps and operator node states are
    /// taken from it (and new bucket maps written to it).
    pub fn with_meta(topology: Topology, mut meta: Box<dyn crate::meta::MetaStore>) -> Arc<Shared> {
        let budget = MemoryBudget::new(topology.server.buffer_memory);
        let routing = routing_with_meta(&topology, meta.as_mut());
        let health = Arc::new(crate::health::HealthTable::new(&topology));
        let overrides: Vec<(String, crate::health::Override)> = meta
            .state()
            .node_states
            .iter()
            .map(|(addr, n)| {
                let o = match n.state {
                    crate::meta::NodeOverride::Up => crate::health::Override::Up,
                    crate::meta::NodeOverride::Down => crate::health::Override::Down,
                };
                (addr.clone(), o)
            })
            .collect();
        for unknown in health.restore_operator(overrides) {
            log::warn!(
                "META operator state of node {unknown} kept, but no configured node has that address"
            );
        }
        Arc::new(Shared {
            health,
            meta: Mutex::new(meta),
            prober: Mutex::new(None),
            failover: Mutex::new(None),
            config_topology: RwLock::new(Arc::new(topology.clone())),
            promotions: Mutex::new(HashMap::new()),
            metrics: crate::stats::Metrics::default(),
            started: std::time::Instant::now(),
            routing: RwLock::new(Arc::new(routing)),
            topology: RwLock::new(Arc::new(topology)),
            budget,
            clients: AtomicUsize::new(0),
            next_conn_id: AtomicU32::new(1),
            shutdown: AtomicBool::new(false),
            sessions: Mutex::new(HashMap::new()),
            io: RwLock::new(Vec::new()),
            stats: Stats::default(),
            user_conns: Mutex::new(HashMap::new()),
        })
    }

    pub fn topology(&self) -> Arc<Topology> {
        self.topology.read().clone()
    }

    pub fn route_state(&self) -> Arc<crate::route::state::RouteState> {
        self.routing.read().clone()
    }

    /// Installs a new (validated) topology from the config and its routing
    /// state, with the failover promotions applied
    /// (`health::apply_promotions`). New nodes are in the health table (and
    /// probed) before any statement can be routed to them.
    pub fn install(&self, topology: Topology) {
        let mut promotions = self.promotions.lock();
        self.install_locked(topology, &mut promotions);
    }

    /// Records that `new_master` replaced `old_master` as master of `group`
    /// (`failover = "promote"`) and re-installs the config's topology with
    /// it. False (nothing changed) when `old_master` is no longer the
    /// group's master (a reload changed it meanwhile) or the group is gone.
    pub fn promote(
        &self,
        group: &str,
        old_master: &crate::config::NodeAddr,
        new_master: &crate::config::NodeAddr,
    ) -> bool {
        let mut promotions = self.promotions.lock();
        let config = (**self.config_topology.read()).clone();
        let Some(config_master) = config
            .groups
            .iter()
            .find(|g| g.name == group)
            .map(|g| g.master.clone())
        else {
            return false;
        };
        let current = promotions
            .get(group)
            .filter(|p| p.config_master.identity() == config_master.identity())
            .map_or(&config_master, |p| &p.new_master);
        if current.identity() != old_master.identity() {
            return false;
        }
        crate::health::failover::record_promotion(
            &mut promotions,
            group,
            &config_master,
            old_master,
            new_master,
        );
        self.install_locked(config, &mut promotions);
        true
    }

    fn install_locked(
        &self,
        config: Topology,
        promotions: &mut HashMap<String, crate::health::Promotion>,
    ) {
        let mut topology = config.clone();
        *self.config_topology.write() = Arc::new(config);
        crate::health::apply_promotions(&mut topology, promotions);
        let routing = routing_with_meta(&topology, self.meta.lock().as_mut());
        let topology = Arc::new(topology);
        match self.prober.lock().as_ref() {
            Some(p) => p.update(topology.clone()),
            None => self.health.sync_nodes(&topology),
        }
        *self.routing.write() = Arc::new(routing);
        *self.topology.write() = topology;
    }

    /// Sets (or clears, with `Auto`) an operator override of node `addr`
    /// and records it in the metadata store. The override applies even if
    /// the store cannot be written (the error says so).
    pub fn set_node_override(
        &self,
        addr: &str,
        o: crate::health::Override,
        reason: &str,
    ) -> Result<(), String> {
        self.health
            .set_operator(addr, o)
            .map_err(|e| format!("unknown node '{}': not in any [[group]]", e.0))?;
        let overrides = self.health.operator_overrides();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut meta = self.meta.lock();
        let before = meta.state().node_states.clone();
        let result = meta.update(&mut |st| {
            let mut next = std::collections::BTreeMap::new();
            for (a, o) in &overrides {
                let state = match o {
                    crate::health::Override::Down => crate::meta::NodeOverride::Down,
                    _ => crate::meta::NodeOverride::Up,
                };
                let kept = before.get(a).filter(|n| n.state == state);
                next.insert(
                    a.clone(),
                    kept.cloned().unwrap_or(crate::meta::OperatorNode {
                        state,
                        reason: reason.to_string(),
                        since_unix_ms: now,
                    }),
                );
            }
            st.node_states = next;
        });
        result
            .map(|_| ())
            .map_err(|e| format!("node state changed but not saved: {e}"))
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    pub fn send_to_io(&self, io: usize, msg: Inbound) {
        if let Some(h) = self.io.read().get(io) {
            h.send(msg);
        }
    }

    /// Tells the session that asked for a KILL that it is done (`error`:
    /// why it failed).
    pub fn kill_done(&self, req: KillRequester, error: Option<String>) {
        self.send_to_io(
            req.io,
            Inbound::KillDone {
                token: req.token,
                conn_id: req.conn_id,
                error,
            },
        );
    }
}
