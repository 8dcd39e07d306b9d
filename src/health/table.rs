//! The node-health table: one entry per backend node (every group's master
//! and replicas), shared as `Arc<HealthTable>` between the prober threads
//! that write it (`health::probe`), the admin port that reads and overrides
//! it, and the I/O threads that consult it for every statement.
//!
//! # Hot path
//!
//! Every per-node value the router reads is an atomic in [`NodeEntry`]; a
//! lookup by address is one `parking_lot::RwLock` read (uncontended: the
//! lock is written only by [`HealthTable::sync_nodes`] on a config reload)
//! and one `HashMap<String, _>` probe with the config's address text, no
//! allocation. Holders that keep per-node state of their own (the pools) can
//! keep the `Arc<NodeEntry>` from [`HealthTable::entry`] and skip the lookup.
//! Writers (one prober thread per node, the admin port) serialise on a
//! per-entry mutex; readers never lock.
//!
//! # State
//!
//! - *Probe state* ([`ProbeState`]): `Unknown` until the first probe ends,
//!   then `Up` or `Down`. `down_after` failures in a row take a node that is
//!   not down to `Down`; `up_after` successes in a row take a down node back
//!   to `Up`. `Unknown` counts as up (a freshly started proxy routes at once
//!   instead of failing every statement until the first probe round ends;
//!   a dead node then costs a connect error, as it would without probes),
//!   and its first success makes it `Up` without waiting for `up_after`.
//! - *Operator override* ([`Override`]): `Auto` (probes decide), `Up` or
//!   `Down`; a manual state wins over the probes.
//! - *Effective state* ([`NodeState`]): the override when there is one,
//!   else the probe state with `Unknown` read as `Up`. A node that is
//!   effectively down gets no new statements (the router's job) and its
//!   pooled connections are drained (the pools' job: they watch
//!   [`NodeEntry::state_epoch`], bumped on every change of the effective
//!   state; [`HealthTable::epoch`] is bumped with any of them, for a cheap
//!   "anything changed?" check).
//! - *Replication* (replicas only, from `SHOW SLAVE STATUS`): whether a
//!   row came back, whether both replication threads run, the lag. A replica
//!   is [readable](NodeEntry::readable) when it is effectively up *and* a
//!   probe saw replication running with a known lag within the limit. The
//!   operator's `UP` overrides liveness, not this gate: stale reads would be
//!   silently wrong. So a replica takes no reads until its first probe; reads
//!   go to the master meanwhile. When a node goes down its replication facts
//!   are forgotten (they would only grow stale).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::{info, warn};
use parking_lot::{Mutex, RwLock};

use crate::config::{NodeAddr, Topology};

/// Replication lag value meaning "unknown".
pub const LAG_UNKNOWN: u64 = u64::MAX;

/// Whether a node may get statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    Up,
    Down,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Up => "UP",
            NodeState::Down => "DOWN",
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the probes concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeState {
    /// No probe has finished yet; counts as up.
    Unknown,
    Up,
    Down,
}

impl ProbeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeState::Unknown => "UNKNOWN",
            ProbeState::Up => "UP",
            ProbeState::Down => "DOWN",
        }
    }

    fn from_u8(v: u8) -> ProbeState {
        match v {
            1 => ProbeState::Up,
            2 => ProbeState::Down,
            _ => ProbeState::Unknown,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            ProbeState::Unknown => 0,
            ProbeState::Up => 1,
            ProbeState::Down => 2,
        }
    }
}

impl fmt::Display for ProbeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operator's manual state (`SET NODE '<addr>' UP | DOWN | AUTO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Override {
    /// The probes decide.
    Auto,
    Up,
    Down,
}

impl Override {
    /// `AUTO`, `UP`, `DOWN`: the admin command's words and what the
    /// metadata file stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Override::Auto => "AUTO",
            Override::Up => "UP",
            Override::Down => "DOWN",
        }
    }

    fn from_u8(v: u8) -> Override {
        match v {
            1 => Override::Up,
            2 => Override::Down,
            _ => Override::Auto,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Override::Auto => 0,
            Override::Up => 1,
            Override::Down => 2,
        }
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Override {
    type Err = String;

    /// `up`, `down`, `auto`, any case.
    fn from_str(s: &str) -> Result<Override, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "AUTO" => Ok(Override::Auto),
            "UP" => Ok(Override::Up),
            "DOWN" => Ok(Override::Down),
            _ => Err(format!(
                "unknown node state {s:?}: expected UP, DOWN or AUTO"
            )),
        }
    }
}

/// A node's role in its group, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Master,
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replica => "replica",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The address names no node of the current config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownNode(pub String);

impl fmt::Display for UnknownNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown node '{}': not a master or replica of any group",
            self.0
        )
    }
}

impl std::error::Error for UnknownNode {}

/// What a replica said about its replication (`SHOW SLAVE STATUS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// `SHOW SLAVE STATUS` returned a row.
    pub is_replica: bool,
    /// Both replication threads run and the lag is known.
    pub running: bool,
    /// `Seconds_Behind_Master`; `None` for NULL.
    pub lag: Option<Duration>,
    /// Why replication is not running, for the admin port and the log
    /// (e.g. `replication stopped (Slave_IO_Running=Yes, Slave_SQL_Running=No)`);
    /// empty when it runs.
    pub detail: String,
}

impl Replication {
    /// `SHOW SLAVE STATUS` returned no row.
    pub fn not_a_replica() -> Replication {
        Replication {
            is_replica: false,
            running: false,
            lag: None,
            detail: "not replicating (SHOW SLAVE STATUS is empty)".to_string(),
        }
    }

    /// From the row's `Slave_IO_Running`, `Slave_SQL_Running`,
    /// `Seconds_Behind_Master` (`None` = NULL) and the last IO/SQL errors
    /// (empty when none). A NULL lag means replication is not running.
    pub fn from_status(
        io: &str,
        sql: &str,
        lag: Option<Duration>,
        last_error: &str,
    ) -> Replication {
        let threads_run = io.eq_ignore_ascii_case("Yes") && sql.eq_ignore_ascii_case("Yes");
        let running = threads_run && lag.is_some();
        let detail = if running {
            String::new()
        } else {
            let what = if io.eq_ignore_ascii_case("No") || sql.eq_ignore_ascii_case("No") {
                "replication stopped"
            } else if threads_run {
                "replication lag unknown"
            } else {
                "replication not running"
            };
            let mut d = format!("{what} (Slave_IO_Running={io}, Slave_SQL_Running={sql}");
            if !last_error.is_empty() {
                d.push_str("; ");
                d.push_str(last_error);
            }
            d.push(')');
            d
        };
        Replication {
            is_replica: true,
            running,
            lag,
            detail,
        }
    }
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// Connected, logged in and the query answered. `replication` is set
    /// for replica probes (`SHOW SLAVE STATUS`), `None` for masters
    /// (`SELECT 1`).
    Ok { replication: Option<Replication> },
    /// Why the probe failed (`connect refused`, `connect: no answer within
    /// 500ms`, ...).
    Failed(String),
}

/// What [`HealthTable::record`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The probe state moved `(from, to)`.
    pub probe_change: Option<(ProbeState, ProbeState)>,
    /// The effective state moved to this (the state epoch was bumped).
    pub effective_change: Option<NodeState>,
    /// Readability (with the configured `max_replica_lag`) before and after.
    pub readable_before: bool,
    pub readable_after: bool,
    /// This was the node's first probe result.
    pub first: bool,
}

/// One node for the admin port (`SHOW NODES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    pub group: String,
    pub role: Role,
    /// The address as written in the config.
    pub addr: String,
    /// Effective state.
    pub state: NodeState,
    pub probe: ProbeState,
    pub operator: Override,
    /// Whether it would take reads now (with the configured
    /// `max_replica_lag`).
    pub readable: bool,
    /// Why it is in this state: `ok`, `operator`, `probe: connect refused`,
    /// `replication stopped (...)`, `lag 12s > 5s`, `not probed yet`, ...
    pub why: String,
    /// Replication lag when known (replicas).
    pub lag: Option<Duration>,
    /// Replication seen running (replicas).
    pub replication_running: bool,
    /// `SHOW SLAVE STATUS` returned a row (replicas).
    pub is_replica: bool,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
    /// When the last probe ended; `None` before the first.
    pub last_probe: Option<SystemTime>,
    /// The last probe failure, kept after recovery; empty if none yet.
    pub last_error: String,
}

/// Names of a node that a reload may change (reports and logs only).
#[derive(Debug, Clone)]
struct Names {
    group: String,
    addr: String,
}

/// The health of one node. All hot-path reads are atomics.
#[derive(Debug)]
pub struct NodeEntry {
    /// Stable for the life of the entry (a node that stays in the config
    /// across reloads keeps it); never reused.
    id: u32,
    /// `NodeAddr::identity()`: what matches a node across reloads.
    identity: String,
    probe: AtomicU8,
    operator: AtomicU8,
    /// Configured role: 0 master, 1 replica.
    role: AtomicU8,
    /// Milliseconds; [`LAG_UNKNOWN`] when unknown.
    lag_ms: AtomicU64,
    repl_running: AtomicBool,
    /// `SHOW SLAVE STATUS` returned a row.
    is_replica: AtomicBool,
    /// A probe recorded replication facts since the node was last up.
    repl_known: AtomicBool,
    ok_count: AtomicU32,
    fail_count: AtomicU32,
    /// Unix milliseconds; 0 = never.
    last_probe_ms: AtomicU64,
    state_epoch: AtomicU64,
    /// Serialises writers (probe results, operator changes) so that an
    /// effective change is seen and counted exactly once.
    write: Mutex<()>,
    /// Only written by probes.
    last_error: Mutex<String>,
    /// Only written by probes: why replication is not running.
    repl_detail: Mutex<String>,
    names: RwLock<Names>,
}

impl NodeEntry {
    fn new(id: u32, addr: &NodeAddr, group: &str, role: Role) -> NodeEntry {
        NodeEntry {
            id,
            identity: addr.identity(),
            probe: AtomicU8::new(ProbeState::Unknown.to_u8()),
            operator: AtomicU8::new(Override::Auto.to_u8()),
            role: AtomicU8::new(role_to_u8(role)),
            lag_ms: AtomicU64::new(LAG_UNKNOWN),
            repl_running: AtomicBool::new(false),
            is_replica: AtomicBool::new(false),
            repl_known: AtomicBool::new(false),
            ok_count: AtomicU32::new(0),
            fail_count: AtomicU32::new(0),
            last_probe_ms: AtomicU64::new(0),
            state_epoch: AtomicU64::new(0),
            write: Mutex::new(()),
            last_error: Mutex::new(String::new()),
            repl_detail: Mutex::new(String::new()),
            names: RwLock::new(Names {
                group: group.to_string(),
                addr: addr.text.clone(),
            }),
        }
    }

    /// Stable small id of the node (see the field).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The node's address as written in the current config.
    pub fn addr(&self) -> String {
        self.names.read().addr.clone()
    }

    /// The node's group in the current config.
    pub fn group(&self) -> String {
        self.names.read().group.clone()
    }

    pub fn role(&self) -> Role {
        if self.role.load(Ordering::Relaxed) == 1 {
            Role::Replica
        } else {
            Role::Master
        }
    }

    pub fn probe_state(&self) -> ProbeState {
        ProbeState::from_u8(self.probe.load(Ordering::Acquire))
    }

    pub fn operator(&self) -> Override {
        Override::from_u8(self.operator.load(Ordering::Acquire))
    }

    /// The operator's state if set, else the probes' (`Unknown` = up).
    pub fn effective(&self) -> NodeState {
        match self.operator() {
            Override::Up => NodeState::Up,
            Override::Down => NodeState::Down,
            Override::Auto => match self.probe_state() {
                ProbeState::Down => NodeState::Down,
                ProbeState::Up | ProbeState::Unknown => NodeState::Up,
            },
        }
    }

    /// Whether statements may be sent to the node (effectively up). The
    /// node's role is the router's business.
    pub fn writable(&self) -> bool {
        self.effective() == NodeState::Up
    }

    /// Whether the node may take reads: effectively up, and for a replica,
    /// a probe saw replication running with a lag of at most `max_lag`.
    pub fn readable(&self, max_lag: Duration) -> bool {
        if self.effective() == NodeState::Down {
            return false;
        }
        match self.role() {
            Role::Master => true,
            Role::Replica => self.replica_ok(duration_ms(max_lag)),
        }
    }

    fn replica_ok(&self, max_lag_ms: u64) -> bool {
        let lag = self.lag_ms.load(Ordering::Relaxed);
        self.repl_known.load(Ordering::Acquire)
            && self.repl_running.load(Ordering::Relaxed)
            && lag != LAG_UNKNOWN
            && lag <= max_lag_ms
    }

    /// Replication lag when known.
    pub fn lag(&self) -> Option<Duration> {
        match self.lag_ms.load(Ordering::Relaxed) {
            LAG_UNKNOWN => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// A probe saw both replication threads running (with a known lag).
    pub fn replication_running(&self) -> bool {
        self.repl_running.load(Ordering::Relaxed)
    }

    /// `SHOW SLAVE STATUS` returned a row at the last replica probe.
    pub fn is_replica(&self) -> bool {
        self.is_replica.load(Ordering::Relaxed)
    }

    /// Bumped on every change of [`NodeEntry::effective`].
    pub fn state_epoch(&self) -> u64 {
        self.state_epoch.load(Ordering::Acquire)
    }

    pub fn consecutive_ok(&self) -> u32 {
        self.ok_count.load(Ordering::Relaxed)
    }

    pub fn consecutive_fail(&self) -> u32 {
        self.fail_count.load(Ordering::Relaxed)
    }

    /// When the last probe ended.
    pub fn last_probe(&self) -> Option<SystemTime> {
        match self.last_probe_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    /// The last probe failure (kept after recovery).
    pub fn last_error(&self) -> String {
        self.last_error.lock().clone()
    }

    /// Why the node is in its state (see [`NodeReport::why`]).
    pub fn why(&self, max_lag: Duration) -> String {
        let probe = self.probe_state();
        let mut why = match self.operator() {
            Override::Down => return "operator".to_string(),
            Override::Up => "operator".to_string(),
            Override::Auto => match probe {
                ProbeState::Unknown => return "not probed yet".to_string(),
                ProbeState::Down => {
                    let mut w = format!("probe: {}", self.last_error.lock());
                    let ok = self.consecutive_ok();
                    if ok > 0 {
                        w.push_str(&format!(" ({ok} good probes since)"));
                    }
                    return w;
                }
                ProbeState::Up => {
                    let fail = self.consecutive_fail();
                    if fail > 0 {
                        format!(
                            "probe failing ({fail} in a row): {}",
                            self.last_error.lock()
                        )
                    } else {
                        "ok".to_string()
                    }
                }
            },
        };
        if self.role() == Role::Replica {
            if let Some(r) = self.replica_why(duration_ms(max_lag)) {
                if why == "ok" {
                    why = r;
                } else {
                    why = format!("{why}; {r}");
                }
            }
        }
        why
    }

    /// Why a live replica takes no reads; `None` when it does.
    fn replica_why(&self, max_lag_ms: u64) -> Option<String> {
        if !self.repl_known.load(Ordering::Acquire) {
            return Some("replication not probed yet".to_string());
        }
        if !self.repl_running.load(Ordering::Relaxed) {
            let d = self.repl_detail.lock();
            return Some(if d.is_empty() {
                "replication not running".to_string()
            } else {
                d.clone()
            });
        }
        match self.lag_ms.load(Ordering::Relaxed) {
            LAG_UNKNOWN => Some("replication lag unknown".to_string()),
            lag if lag > max_lag_ms => {
                Some(format!("lag {} > {}", fmt_ms(lag), fmt_ms(max_lag_ms)))
            }
            _ => None,
        }
    }

    fn forget_replication(&self) {
        self.repl_known.store(false, Ordering::Release);
        self.repl_running.store(false, Ordering::Relaxed);
        self.is_replica.store(false, Ordering::Relaxed);
        self.lag_ms.store(LAG_UNKNOWN, Ordering::Relaxed);
    }

    fn report(&self, max_lag: Duration) -> NodeReport {
        let names = self.names.read().clone();
        NodeReport {
            group: names.group,
            role: self.role(),
            addr: names.addr,
            state: self.effective(),
            probe: self.probe_state(),
            operator: self.operator(),
            readable: self.readable(max_lag),
            why: self.why(max_lag),
            lag: self.lag(),
            replication_running: self.replication_running(),
            is_replica: self.is_replica(),
            consecutive_ok: self.consecutive_ok(),
            consecutive_fail: self.consecutive_fail(),
            last_probe: self.last_probe(),
            last_error: self.last_error(),
        }
    }
}

fn role_to_u8(role: Role) -> u8 {
    match role {
        Role::Master => 0,
        Role::Replica => 1,
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(LAG_UNKNOWN - 1)
}

/// `12s`, `1500ms`.
fn fmt_ms(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| duration_ms(d).max(1))
        .unwrap_or(1)
}

/// The nodes of one config, swapped whole on reload.
#[derive(Debug, Default)]
struct Nodes {
    /// By the config's address text (`NodeAddr::text`).
    by_text: HashMap<String, Arc<NodeEntry>>,
    /// Config order: groups in order, master then replicas.
    order: Vec<Arc<NodeEntry>>,
}

/// The health of every node of the current config (see the module doc).
#[derive(Debug)]
pub struct HealthTable {
    nodes: RwLock<Arc<Nodes>>,
    /// Serialises `sync_nodes`.
    sync: Mutex<()>,
    next_id: AtomicU32,
    epoch: AtomicU64,
    down_after: AtomicU32,
    up_after: AtomicU32,
    max_lag_ms: AtomicU64,
}

impl HealthTable {
    /// A table with every node of `topology` in state `Unknown` (counts as
    /// up), no operator overrides.
    pub fn new(topology: &Topology) -> HealthTable {
        let t = HealthTable {
            nodes: RwLock::new(Arc::new(Nodes::default())),
            sync: Mutex::new(()),
            next_id: AtomicU32::new(0),
            epoch: AtomicU64::new(0),
            down_after: AtomicU32::new(1),
            up_after: AtomicU32::new(1),
            max_lag_ms: AtomicU64::new(0),
        };
        t.sync_nodes(topology);
        t
    }

    /// Makes the table hold exactly the nodes of `topology` (after a
    /// reload): nodes that stay (matched by `NodeAddr::identity`, so a new
    /// spelling of the same endpoint counts as staying) keep their state,
    /// override, counters and `Arc<NodeEntry>`; new nodes start `Unknown`;
    /// removed nodes leave the table. Also takes the new `[health]`
    /// thresholds. A node whose configured role changed forgets its
    /// replication facts. Idempotent.
    pub fn sync_nodes(&self, topology: &Topology) {
        let _serial = self.sync.lock();
        let old = self.nodes.read().clone();
        let mut by_identity: HashMap<&str, &Arc<NodeEntry>> =
            old.order.iter().map(|e| (e.identity.as_str(), e)).collect();
        let mut next = Nodes::default();
        for group in &topology.groups {
            let nodes = std::iter::once((&group.master, Role::Master))
                .chain(group.replicas.iter().map(|r| (&r.addr, Role::Replica)));
            for (addr, role) in nodes {
                let entry = match by_identity.remove(addr.identity().as_str()) {
                    Some(e) => {
                        let e = Arc::clone(e);
                        {
                            let mut names = e.names.write();
                            names.group.clone_from(&group.name);
                            names.addr.clone_from(&addr.text);
                        }
                        if e.role() != role {
                            let _w = e.write.lock();
                            e.role.store(role_to_u8(role), Ordering::Relaxed);
                            e.forget_replication();
                        }
                        e
                    }
                    None => {
                        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                        Arc::new(NodeEntry::new(id, addr, &group.name, role))
                    }
                };
                next.by_text.insert(addr.text.clone(), Arc::clone(&entry));
                next.order.push(entry);
            }
        }
        let h = &topology.health;
        self.down_after
            .store(h.down_after.max(1), Ordering::Relaxed);
        self.up_after.store(h.up_after.max(1), Ordering::Relaxed);
        self.max_lag_ms
            .store(duration_ms(h.max_replica_lag), Ordering::Relaxed);
        *self.nodes.write() = Arc::new(next);
    }

    /// The entry of the node at `addr` (the config's text for it), to read
    /// without a lookup later.
    pub fn entry(&self, addr: &str) -> Option<Arc<NodeEntry>> {
        self.nodes.read().by_text.get(addr).cloned()
    }

    /// Every entry, in config order.
    pub fn entries(&self) -> Vec<Arc<NodeEntry>> {
        self.nodes.read().order.clone()
    }

    /// Like [`HealthTable::entry`], also accepting another spelling of the
    /// same endpoint (`DB1:3306` for `db1:3306`) — for operator input.
    pub fn find(&self, addr: &str) -> Option<Arc<NodeEntry>> {
        let nodes = self.nodes.read();
        if let Some(e) = nodes.by_text.get(addr.trim()) {
            return Some(Arc::clone(e));
        }
        let identity = addr.parse::<NodeAddr>().ok()?.identity();
        nodes.order.iter().find(|e| e.identity == identity).cloned()
    }

    fn with<T>(&self, addr: &str, f: impl FnOnce(&NodeEntry) -> T) -> Option<T> {
        self.nodes.read().by_text.get(addr).map(|e| f(e))
    }

    /// The node's effective state (operator over probes). A node the table
    /// does not know (not in the config it was last synced with) is `Up`:
    /// nothing is known against it.
    pub fn effective(&self, addr: &str) -> NodeState {
        self.with(addr, NodeEntry::effective)
            .unwrap_or(NodeState::Up)
    }

    /// Whether the node may get statements (effectively up; unknown nodes
    /// are).
    pub fn writable(&self, addr: &str) -> bool {
        self.effective(addr) == NodeState::Up
    }

    /// Whether the node may take reads (see [`NodeEntry::readable`]). An
    /// unknown node takes none (its replication was never checked).
    pub fn readable(&self, addr: &str, max_lag: Duration) -> bool {
        self.with(addr, |e| e.readable(max_lag)).unwrap_or(false)
    }

    /// Bumped whenever any node's effective state changes.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// `max_replica_lag` of the config the table was last synced with.
    pub fn max_replica_lag(&self) -> Duration {
        Duration::from_millis(self.max_lag_ms.load(Ordering::Relaxed))
    }

    /// Sets the operator's state of the node at `addr` (any spelling of a
    /// configured node). Logged; the lead persists
    /// [`HealthTable::operator_overrides`] after it.
    pub fn set_operator(&self, addr: &str, state: Override) -> Result<(), UnknownNode> {
        let entry = self
            .find(addr)
            .ok_or_else(|| UnknownNode(addr.trim().to_string()))?;
        let before = self.apply_operator(&entry, state);
        if before != state {
            let eff = entry.effective();
            match state {
                Override::Down => warn!(
                    "HEALTH operator set node {} ({} of group {}) DOWN (was {before})",
                    entry.addr(),
                    entry.role(),
                    entry.group()
                ),
                _ => info!(
                    "HEALTH operator set node {} ({} of group {}) {state} (was {before}); now {eff}",
                    entry.addr(),
                    entry.role(),
                    entry.group()
                ),
            }
        }
        Ok(())
    }

    /// Stores the override; bumps the epochs if the effective state
    /// changed. Returns the previous override.
    fn apply_operator(&self, entry: &NodeEntry, state: Override) -> Override {
        let _w = entry.write.lock();
        let before_eff = entry.effective();
        let before = Override::from_u8(entry.operator.swap(state.to_u8(), Ordering::AcqRel));
        if entry.effective() != before_eff {
            self.bump(entry);
        }
        before
    }

    /// Restores persisted overrides at start (addresses as stored: any
    /// spelling of a configured node). Returns the addresses that name no
    /// node of the current config (skipped; logged).
    pub fn restore_operator<I, S>(&self, overrides: I) -> Vec<String>
    where
        I: IntoIterator<Item = (S, Override)>,
        S: AsRef<str>,
    {
        let mut unknown = Vec::new();
        for (addr, state) in overrides {
            let addr = addr.as_ref();
            match self.find(addr) {
                Some(entry) => {
                    self.apply_operator(&entry, state);
                    if state != Override::Auto {
                        info!(
                            "HEALTH node {} is {state} by a saved operator setting",
                            entry.addr()
                        );
                    }
                }
                None => {
                    warn!(
                        "HEALTH saved operator setting {state} for unknown node '{addr}' ignored"
                    );
                    unknown.push(addr.to_string());
                }
            }
        }
        unknown
    }

    /// Every node with a manual state (not `Auto`), by its config text: what
    /// the metadata file should hold.
    pub fn operator_overrides(&self) -> Vec<(String, Override)> {
        self.entries()
            .iter()
            .filter(|e| e.operator() != Override::Auto)
            .map(|e| (e.addr(), e.operator()))
            .collect()
    }

    /// Every node, in config order, for the admin port.
    pub fn snapshot(&self) -> Vec<NodeReport> {
        let max_lag = self.max_replica_lag();
        self.entries().iter().map(|e| e.report(max_lag)).collect()
    }

    fn bump(&self, entry: &NodeEntry) {
        entry.state_epoch.fetch_add(1, Ordering::AcqRel);
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Applies one probe result to `entry` (the probe state machine, see
    /// the module doc) and says what changed.
    pub fn record(&self, entry: &NodeEntry, outcome: ProbeOutcome) -> Recorded {
        let down_after = self.down_after.load(Ordering::Relaxed);
        let up_after = self.up_after.load(Ordering::Relaxed);
        let max_lag = self.max_replica_lag();
        let _w = entry.write.lock();
        let first = entry.last_probe_ms.load(Ordering::Relaxed) == 0;
        let before_eff = entry.effective();
        let readable_before = entry.readable(max_lag);
        let prev = entry.probe_state();
        let next = match outcome {
            ProbeOutcome::Ok { replication } => {
                let ok = entry.ok_count.load(Ordering::Relaxed).saturating_add(1);
                entry.ok_count.store(ok, Ordering::Relaxed);
                entry.fail_count.store(0, Ordering::Relaxed);
                if let Some(r) = replication {
                    entry.is_replica.store(r.is_replica, Ordering::Relaxed);
                    entry.repl_running.store(r.running, Ordering::Relaxed);
                    let lag = r.lag.map_or(LAG_UNKNOWN, duration_ms);
                    entry.lag_ms.store(lag, Ordering::Relaxed);
                    *entry.repl_detail.lock() = r.detail;
                    entry.repl_known.store(true, Ordering::Release);
                }
                match prev {
                    ProbeState::Down if ok < up_after => ProbeState::Down,
                    _ => ProbeState::Up,
                }
            }
            ProbeOutcome::Failed(err) => {
                let fail = entry.fail_count.load(Ordering::Relaxed).saturating_add(1);
                entry.fail_count.store(fail, Ordering::Relaxed);
                entry.ok_count.store(0, Ordering::Relaxed);
                *entry.last_error.lock() = err;
                if fail >= down_after {
                    ProbeState::Down
                } else {
                    prev
                }
            }
        };
        if next != prev {
            if next == ProbeState::Down {
                entry.forget_replication();
            }
            entry.probe.store(next.to_u8(), Ordering::Release);
        }
        entry.last_probe_ms.store(now_unix_ms(), Ordering::Relaxed);
        let after_eff = entry.effective();
        let effective_change = (after_eff != before_eff).then(|| {
            self.bump(entry);
            after_eff
        });
        Recorded {
            probe_change: (next != prev).then_some((prev, next)),
            effective_change,
            readable_before,
            readable_after: entry.readable(max_lag),
            first,
        }
    }

    /// [`HealthTable::record`] for the node at `addr` (config text).
    pub fn record_for(&self, addr: &str, outcome: ProbeOutcome) -> Result<Recorded, UnknownNode> {
        let entry = self
            .entry(addr)
            .ok_or_else(|| UnknownNode(addr.to_string()))?;
        Ok(self.record(&entry, outcome))
    }
}

#[cfg(test)]
mod tests;
