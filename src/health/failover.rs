//! Automatic master failover (`failover = "promote"`, issue 5): when the
//! probes take a group's master down, the most advanced replica becomes the
//! master, the other replicas follow it, routing switches to it, and the old
//! master is fenced (`read_only = 1`) when it comes back.
//!
//! # Thread
//!
//! One thread, `shardgate-failover`, started by [`Failover::start`] in
//! `server::start` and stopped by [`FailoverHandle::stop`] at shutdown. Every
//! `health.interval` it looks at each `promote` group of the running
//! topology: a master whose *probe* state is `Down` with no operator override
//! (an operator's `DOWN` is maintenance and never promotes) starts a
//! promotion, run on this thread with blocking connections
//! (`backend::blocking`), never on an I/O thread. One attempt per master
//! down episode, retried every [`RETRY_AFTER`] while the master stays down.
//! The same thread then watches each replaced master and fences it.
//!
//! # One promotion
//!
//! 1. Every replica of the group that is effectively up is asked for
//!    `SHOW SLAVE STATUS` `Gtid_IO_Pos` (what it *received*; with
//!    semi-synchronous replication every acknowledged write was received by
//!    at least one replica) and `@@gtid_slave_pos` (what it applied). The
//!    candidate is the replica whose received position dominates the others
//!    (per GTID domain, by sequence number); when none dominates (diverged
//!    domains) the largest sum of sequence numbers wins, with a warning; ties
//!    go to the first in config order.
//! 2. On the candidate: `STOP SLAVE IO_THREAD`, then
//!    `MASTER_GTID_WAIT(<received position>, 5)` so it applied everything it
//!    received (a timeout aborts the promotion and restarts its IO thread),
//!    then `STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0`.
//! 3. Routing: [`Shared::promote`](crate::reactor::Shared::promote) records a
//!    [`Promotion`] and re-installs the config's topology through
//!    [`apply_promotions`]: the group's master is the new one, the new master
//!    and every replaced master leave the replica list (a replaced master is
//!    fenced, not a replica). Reloads keep applying it, until a config names
//!    another master for the group (the operator took over).
//! 4. The other up replicas: `STOP SLAVE; CHANGE MASTER TO` the new master
//!    (its address as the config spells it, the `[backend]` account,
//!    `MASTER_USE_GTID = slave_pos`); `START SLAVE`. Failures are logged.
//! 5. Fencing: every `health.interval` the old master is tried; once it
//!    answers it gets `SET GLOBAL read_only = 1` and a warning (it may hold
//!    writes that were never replicated; reattach it by hand).
//!
//! A failed promotion (no replica answers, the candidate refuses) is logged
//! and leaves the group as it was: writes keep failing fast.
//!
//! Promotions live in memory only: after a restart shardgate routes by the
//! config again, so change the config to name the new master.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use log::{debug, error, info, warn};
use parking_lot::Mutex;

use super::table::{NodeState, Override, ProbeState};
use crate::backend::blocking::BlockingConn;
use crate::config::{Backend, Failover as FailoverMode, Group, NodeAddr, Topology};
use crate::reactor::Shared;

/// A failed promotion is tried again after this long if the master is still
/// down.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long the candidate may take to apply what it received.
const APPLY_WAIT: Duration = Duration::from_secs(5);
/// Least time each node gets for its statements (connect included);
/// `health.timeout` when longer.
const MIN_STEP: Duration = Duration::from_secs(2);

/// A group whose master was replaced by a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The group's master in the config at the first promotion: a config
    /// that names another master supersedes the promotion.
    pub config_master: NodeAddr,
    /// The master now.
    pub new_master: NodeAddr,
    /// The masters replaced so far, oldest first (fenced; never listed as
    /// replicas again).
    pub old_masters: Vec<NodeAddr>,
}

/// Records that `new_master` replaced `old_master` in `group` (whose master
/// in the config is `config_master`), on top of an earlier promotion.
pub fn record_promotion(
    promotions: &mut HashMap<String, Promotion>,
    group: &str,
    config_master: &NodeAddr,
    old_master: &NodeAddr,
    new_master: &NodeAddr,
) {
    let p = promotions
        .entry(group.to_string())
        .or_insert_with(|| Promotion {
            config_master: config_master.clone(),
            new_master: new_master.clone(),
            old_masters: Vec::new(),
        });
    p.new_master = new_master.clone();
    if !p
        .old_masters
        .iter()
        .any(|o| o.identity() == old_master.identity())
    {
        p.old_masters.push(old_master.clone());
    }
    p.old_masters
        .retain(|o| o.identity() != new_master.identity());
}

/// Rewrites `topo` (a config's topology) so each promoted group has its new
/// master, without the new master and the replaced masters among its
/// replicas. Drops promotions of groups that are gone or whose configured
/// master changed (the config wins).
pub fn apply_promotions(topo: &mut Topology, promotions: &mut HashMap<String, Promotion>) {
    promotions.retain(|name, p| {
        let Some(g) = topo.groups.iter_mut().find(|g| &g.name == name) else {
            info!("HEALTH group '{name}' left the config; its promotion is forgotten");
            return false;
        };
        if g.master.identity() != p.config_master.identity() {
            info!(
                "HEALTH group '{name}': the config names master {}; promotion to {} superseded",
                g.master, p.new_master
            );
            return false;
        }
        let new_id = p.new_master.identity();
        g.replicas.retain(|r| {
            let id = r.addr.identity();
            id != new_id && !p.old_masters.iter().any(|o| o.identity() == id)
        });
        g.master = p.new_master.clone();
        true
    });
}

/// A MariaDB GTID position (`domain-server-seq[,...]`): the last GTID of each
/// replication domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidPos(BTreeMap<u32, (u32, u64)>);

impl GtidPos {
    /// Parses `"0-1-42,1-2-7"`; the empty string is the empty position.
    pub fn parse(s: &str) -> Result<GtidPos, String> {
        let mut map = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut it = part.splitn(3, '-');
            let (Some(d), Some(srv), Some(seq)) = (it.next(), it.next(), it.next()) else {
                return Err(format!("bad GTID {part:?}: expected domain-server-seq"));
            };
            let bad = || format!("bad GTID {part:?}: expected numbers");
            let d = d.parse::<u32>().map_err(|_| bad())?;
            let srv = srv.parse::<u32>().map_err(|_| bad())?;
            let seq = seq.parse::<u64>().map_err(|_| bad())?;
            map.insert(d, (srv, seq));
        }
        Ok(GtidPos(map))
    }

    /// The sequence number reached in `domain` (0 when absent).
    pub fn seq(&self, domain: u32) -> u64 {
        self.0.get(&domain).map_or(0, |&(_, s)| s)
    }

    /// Whether this position is at or past `other` in every domain.
    pub fn dominates(&self, other: &GtidPos) -> bool {
        other.0.keys().all(|&d| self.seq(d) >= other.seq(d))
    }

    /// Sum of the sequence numbers: the tie-break ranking when no position
    /// dominates.
    pub fn total(&self) -> u128 {
        self.0.values().map(|&(_, s)| u128::from(s)).sum()
    }
}

impl fmt::Display for GtidPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (d, (srv, seq))) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}-{srv}-{seq}")?;
        }
        Ok(())
    }
}

/// The index of the most advanced position: one that dominates all others,
/// else the largest [`GtidPos::total`]; ties go to the first. The flag says
/// whether it dominates. `None` for an empty list.
pub fn most_advanced(positions: &[GtidPos]) -> Option<(usize, bool)> {
    if let Some(i) = positions
        .iter()
        .position(|p| positions.iter().all(|o| p.dominates(o)))
    {
        return Some((i, true));
    }
    let mut best: Option<usize> = None;
    for (i, p) in positions.iter().enumerate() {
        if best.is_none_or(|b| p.total() > positions[b].total()) {
            best = Some(i);
        }
    }
    best.map(|i| (i, false))
}

/// Why a promotion did not happen.
#[derive(Debug)]
pub enum FailoverError {
    /// No replica of the group is up and answered.
    NoCandidate,
    /// A statement on a node failed.
    Node {
        node: String,
        step: String,
        source: io::Error,
    },
    /// The candidate did not apply what it received in time.
    NotApplied { node: String, position: String },
    /// A reload changed the group's master while the candidate was being
    /// promoted: the candidate is a writable master nobody routes to.
    ConfigChanged { node: String },
    /// The master answered a last connect (with `backend.connect_timeout`)
    /// just before promotion: slow probes, not a dead master.
    MasterAnswers { node: String },
}

impl fmt::Display for FailoverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailoverError::NoCandidate => f.write_str("no replica is up and answering"),
            FailoverError::Node { node, step, source } => {
                write!(f, "node {node}: {step}: {source}")
            }
            FailoverError::NotApplied { node, position } => write!(
                f,
                "node {node} did not apply its received position {position} within {APPLY_WAIT:?}"
            ),
            FailoverError::MasterAnswers { node } => write!(
                f,
                "master {node} answered a confirmation connect: its probes failed but it is alive; \
                 not promoting (raise health.timeout if probes time out under load)"
            ),
            FailoverError::ConfigChanged { node } => write!(
                f,
                "a reload changed the group's master meanwhile; {node} was made a master \
                 (replication reset, read_only=0) but takes no statements: fix it by hand"
            ),
        }
    }
}

impl std::error::Error for FailoverError {}

/// Starts the failover thread.
pub struct Failover;

impl Failover {
    /// Starts `shardgate-failover` over `shared` (its topology, health table
    /// and promotions). The thread holds it weakly: it ends when `shared`
    /// is dropped, even without [`FailoverHandle::stop`].
    pub fn start(shared: &Arc<Shared>) -> io::Result<FailoverHandle> {
        let (tx, rx) = bounded::<()>(1);
        let shared = Arc::downgrade(shared);
        let join = thread::Builder::new()
            .name("shardgate-failover".into())
            .spawn(move || run(&shared, &rx))?;
        Ok(FailoverHandle {
            stop: tx,
            join: Mutex::new(Some(join)),
        })
    }
}

/// The running failover thread; [`FailoverHandle::stop`] ends it.
pub struct FailoverHandle {
    stop: Sender<()>,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl FailoverHandle {
    /// Stops the thread and waits for it (a promotion in flight finishes
    /// first: seconds at most). Idempotent.
    pub fn stop(&self) {
        let _ = self.stop.try_send(());
        if let Some(j) = self.join.lock().take() {
            if j.thread().id() != thread::current().id() {
                let _ = j.join();
            }
        }
    }
}

impl Drop for FailoverHandle {
    /// Tells the thread to stop without waiting (the drop may happen on
    /// that very thread, when it held the last reference to `Shared`).
    fn drop(&mut self) {
        let _ = self.stop.try_send(());
    }
}

/// An old master waiting to be fenced.
struct Fence {
    group: String,
    addr: NodeAddr,
}

fn run(shared: &Weak<Shared>, stop: &Receiver<()>) {
    // Group -> when its last attempt started (while its master stays down).
    let mut attempts: HashMap<String, Instant> = HashMap::new();
    let mut fences: Vec<Fence> = Vec::new();
    let mut interval = shared
        .upgrade()
        .map_or(Duration::from_secs(1), |s| s.topology().health.interval);
    loop {
        match stop.recv_timeout(interval) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.is_shutting_down() {
            return;
        }
        let topo = shared.topology();
        interval = topo.health.interval;
        for g in topo
            .groups
            .iter()
            .filter(|g| g.failover == FailoverMode::Promote)
        {
            let down = shared.health.entry(&g.master.text).is_some_and(|e| {
                e.probe_state() == ProbeState::Down && e.operator() == Override::Auto
            });
            if !down {
                attempts.remove(&g.name);
                continue;
            }
            if attempts
                .get(&g.name)
                .is_some_and(|t| t.elapsed() < RETRY_AFTER)
            {
                continue;
            }
            attempts.insert(g.name.clone(), Instant::now());
            warn!(
                "HEALTH group '{}': master {} is down; promoting a replica",
                g.name, g.master
            );
            match promote(&shared, &topo, g) {
                Ok(new_master) => {
                    attempts.remove(&g.name);
                    warn!(
                        "HEALTH group '{}': {new_master} is the master now (was {}); \
                         not saved: name it in the config before the next restart",
                        g.name, g.master
                    );
                    fences.push(Fence {
                        group: g.name.clone(),
                        addr: g.master.clone(),
                    });
                }
                Err(e) => error!(
                    "HEALTH group '{}': promotion failed, the group stays without a master \
                     (retry in {RETRY_AFTER:?}): {e}",
                    g.name
                ),
            }
        }
        if !fences.is_empty() {
            let step = step_timeout(&topo);
            fences.retain(|f| !fence(&f.group, &f.addr, &topo.backend, step));
        }
    }
}

fn step_timeout(topo: &Topology) -> Duration {
    topo.health.timeout.max(MIN_STEP)
}

/// What one replica reported.
struct Survey {
    addr: NodeAddr,
    received: GtidPos,
    applied: String,
}

/// Runs the promotion of `g` (see the module doc); returns the new master.
fn promote(shared: &Shared, topo: &Topology, g: &Group) -> Result<NodeAddr, FailoverError> {
    let step = step_timeout(topo);
    let backend = &topo.backend;
    // Probes time out after health.timeout; before making a second master,
    // give the old one the longer backend.connect_timeout to answer: a
    // loaded master that is slow to probe must not be replaced.
    let confirm = backend.connect_timeout.max(step);
    if let Ok(conn) = open(&g.master, backend, confirm) {
        conn.quit();
        return Err(FailoverError::MasterAnswers {
            node: g.master.text.clone(),
        });
    }
    let mut found: Vec<Survey> = Vec::new();
    for r in &g.replicas {
        let up = shared
            .health
            .entry(&r.addr.text)
            .is_some_and(|e| e.effective() == NodeState::Up);
        if !up {
            info!(
                "HEALTH group '{}': replica {} is down; not a candidate",
                g.name, r.addr
            );
            continue;
        }
        match survey(&r.addr, backend, step) {
            Ok(s) => {
                info!(
                    "HEALTH group '{}': replica {} received {} applied {}",
                    g.name, s.addr, s.received, s.applied
                );
                found.push(s);
            }
            Err(e) => warn!("HEALTH group '{}': not a candidate: {e}", g.name),
        }
    }
    let positions: Vec<GtidPos> = found.iter().map(|s| s.received.clone()).collect();
    let (best, dominates) = most_advanced(&positions).ok_or(FailoverError::NoCandidate)?;
    let cand = &found[best];
    if !dominates {
        warn!(
            "HEALTH group '{}': no replica has received everything the others did; \
             taking {} (largest position {})",
            g.name, cand.addr, cand.received
        );
    }
    info!(
        "HEALTH group '{}': promoting {} (received {})",
        g.name, cand.addr, cand.received
    );
    make_master(&cand.addr, backend, step)?;
    if !shared.promote(&g.name, &g.master, &cand.addr) {
        return Err(FailoverError::ConfigChanged {
            node: cand.addr.text.clone(),
        });
    }
    for other in found.iter().filter(|s| s.addr != cand.addr) {
        match repoint(&other.addr, &cand.addr, backend, step) {
            Ok(()) => info!(
                "HEALTH group '{}': replica {} now replicates from {}",
                g.name, other.addr, cand.addr
            ),
            Err(e) => error!(
                "HEALTH group '{}': replica {} could not be moved to {}: {e}; \
                 it stays out of the read pool until fixed by hand",
                g.name, other.addr, cand.addr
            ),
        }
    }
    // If the old master merely stopped answering the probes, fence it now.
    fence(&g.name, &g.master, backend, step);
    Ok(cand.addr.clone())
}

fn resolve(addr: &NodeAddr) -> io::Result<SocketAddr> {
    if let Some(sa) = addr.socket {
        return Ok(sa);
    }
    (addr.host.as_str(), addr.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("cannot resolve {}", addr.host)))
}

/// A connection to `addr` whose statements must end within `step`.
fn open(addr: &NodeAddr, backend: &Backend, step: Duration) -> Result<BlockingConn, FailoverError> {
    let err = |source| FailoverError::Node {
        node: addr.text.clone(),
        step: "connect".into(),
        source,
    };
    let sa = resolve(addr).map_err(err)?;
    BlockingConn::connect_until(sa, backend, Instant::now() + step).map_err(err)
}

/// Runs `sql`; the first cell of its first row (`None`: no row, NULL, or
/// no result set).
fn scalar(
    conn: &mut BlockingConn,
    addr: &NodeAddr,
    sql: &str,
) -> Result<Option<String>, FailoverError> {
    let rs = conn
        .query_result(sql)
        .map_err(|source| FailoverError::Node {
            node: addr.text.clone(),
            step: sql.to_string(),
            source,
        })?;
    Ok(rs
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|c| c.as_deref())
        .map(|b| String::from_utf8_lossy(b).into_owned()))
}

fn exec(conn: &mut BlockingConn, addr: &NodeAddr, sql: &str) -> Result<(), FailoverError> {
    conn.query(sql)
        .map(|_| ())
        .map_err(|source| FailoverError::Node {
            node: addr.text.clone(),
            step: sql.to_string(),
            source,
        })
}

/// `Gtid_IO_Pos` of `SHOW SLAVE STATUS` (error when the node is not a
/// replica).
fn received(conn: &mut BlockingConn, addr: &NodeAddr) -> Result<String, FailoverError> {
    let rs = conn
        .query_result("SHOW SLAVE STATUS")
        .map_err(|source| FailoverError::Node {
            node: addr.text.clone(),
            step: "SHOW SLAVE STATUS".into(),
            source,
        })?;
    if rs.rows.is_empty() {
        return Err(FailoverError::Node {
            node: addr.text.clone(),
            step: "SHOW SLAVE STATUS".into(),
            source: io::Error::other("not a replica"),
        });
    }
    Ok(rs.text(0, "Gtid_IO_Pos").unwrap_or_default())
}

fn parse_pos(addr: &NodeAddr, text: &str) -> Result<GtidPos, FailoverError> {
    GtidPos::parse(text).map_err(|e| FailoverError::Node {
        node: addr.text.clone(),
        step: "reading its GTID position".into(),
        source: io::Error::other(e),
    })
}

fn survey(addr: &NodeAddr, backend: &Backend, step: Duration) -> Result<Survey, FailoverError> {
    let mut c = open(addr, backend, step)?;
    let io_pos = received(&mut c, addr)?;
    let applied = scalar(&mut c, addr, "SELECT @@gtid_slave_pos")?.unwrap_or_default();
    c.quit();
    // Nothing received since the IO thread started: what it applied.
    let text = if io_pos.trim().is_empty() {
        &applied
    } else {
        &io_pos
    };
    Ok(Survey {
        addr: addr.clone(),
        received: parse_pos(addr, text)?,
        applied,
    })
}

/// Makes the candidate a master: stop receiving, apply what it received,
/// forget its master, accept writes.
fn make_master(addr: &NodeAddr, backend: &Backend, step: Duration) -> Result<(), FailoverError> {
    let mut c = open(addr, backend, step)?;
    exec(&mut c, addr, "STOP SLAVE IO_THREAD")?;
    let pos = received(&mut c, addr)?;
    if !pos.trim().is_empty() {
        let pos = parse_pos(addr, &pos)?.to_string();
        c.set_deadline(Some(Instant::now() + APPLY_WAIT + step));
        let sql = format!("SELECT MASTER_GTID_WAIT('{pos}', {})", APPLY_WAIT.as_secs());
        let r = scalar(&mut c, addr, &sql)?;
        if r.as_deref().map(str::trim) != Some("0") {
            let _ = c.query("START SLAVE IO_THREAD");
            return Err(FailoverError::NotApplied {
                node: addr.text.clone(),
                position: pos,
            });
        }
        c.set_deadline(Some(Instant::now() + step));
    }
    exec(&mut c, addr, "STOP SLAVE")?;
    exec(&mut c, addr, "RESET SLAVE ALL")?;
    exec(&mut c, addr, "SET GLOBAL read_only = 0")?;
    c.quit();
    Ok(())
}

/// `'text'` as an SQL string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(ch),
        }
    }
    out.push('\'');
    out
}

/// The statement that points a replica at `master` with the `[backend]`
/// account.
fn change_master_sql(master: &NodeAddr, backend: &Backend) -> String {
    format!(
        "CHANGE MASTER TO MASTER_HOST={}, MASTER_PORT={}, MASTER_USER={}, MASTER_PASSWORD={}, \
         MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
        quote(&master.host),
        master.port,
        quote(&backend.user),
        quote(backend.password.expose())
    )
}

fn repoint(
    addr: &NodeAddr,
    master: &NodeAddr,
    backend: &Backend,
    step: Duration,
) -> Result<(), FailoverError> {
    let mut c = open(addr, backend, step)?;
    exec(&mut c, addr, "STOP SLAVE")?;
    let sql = change_master_sql(master, backend);
    c.query(&sql).map_err(|source| FailoverError::Node {
        node: addr.text.clone(),
        step: "CHANGE MASTER TO".into(),
        source,
    })?;
    exec(&mut c, addr, "START SLAVE")?;
    c.quit();
    Ok(())
}

/// Tries to set `read_only = 1` on a replaced master; true once done.
fn fence(group: &str, addr: &NodeAddr, backend: &Backend, step: Duration) -> bool {
    let mut c = match open(addr, backend, step) {
        Ok(c) => c,
        Err(e) => {
            debug!("HEALTH group '{group}': old master {addr} not back yet: {e}");
            return false;
        }
    };
    match exec(&mut c, addr, "SET GLOBAL read_only = 1") {
        Ok(()) => {
            c.quit();
            warn!(
                "HEALTH group '{group}': fenced old master {addr} (read_only=1); it holds writes \
                 that were not replicated? reattach it by hand"
            );
            true
        }
        Err(e) => {
            debug!("HEALTH group '{group}': cannot fence old master {addr} yet: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(s: &str) -> GtidPos {
        GtidPos::parse(s).expect("valid")
    }

    #[test]
    fn gtid_positions_parse_and_print() {
        assert_eq!(pos(""), GtidPos::default());
        assert_eq!(pos("0-1-42").seq(0), 42);
        let p = pos(" 1-2-7 , 0-1-42");
        assert_eq!((p.seq(0), p.seq(1), p.seq(5)), (42, 7, 0));
        assert_eq!(p.to_string(), "0-1-42,1-2-7");
        for bad in ["0-1", "a-1-2", "0-1-x", "0-1-2,3"] {
            assert!(GtidPos::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_most_advanced_received_position_wins() {
        // Sequence numbers count, not the server id of the last event.
        let ps = [pos("0-1-10"), pos("0-9-12"), pos("0-1-11")];
        assert_eq!(most_advanced(&ps), Some((1, true)));
        // Ties: the first in config order.
        assert_eq!(
            most_advanced(&[pos("0-1-5"), pos("0-1-5")]),
            Some((0, true))
        );
        // Nothing received anywhere yet.
        assert_eq!(
            most_advanced(&[GtidPos::default(), pos("0-1-1")]),
            Some((1, true))
        );
        // Multi-domain: one dominating position.
        let ps = [pos("0-1-5,1-2-3"), pos("0-1-5,1-2-4")];
        assert_eq!(most_advanced(&ps), Some((1, true)));
        // Diverged: the largest sum, not dominating.
        let ps = [pos("0-1-5,1-2-9"), pos("0-1-6,1-2-3")];
        assert_eq!(most_advanced(&ps), Some((0, false)));
        assert_eq!(most_advanced(&[]), None);
    }

    fn topo() -> Topology {
        let toml = r#"
[server]
listen = "127.0.0.1:0"
[backend]
user = "u"
password = "p"
[[user]]
name = "app"
password = "x"
[[group]]
name = "g0"
master = "127.0.0.1:1000"
replicas = [{ addr = "127.0.0.1:1001" }, { addr = "127.0.0.1:1002" }]
failover = "promote"
[[group]]
name = "g1"
master = "127.0.0.1:2000"
[[schema]]
name = "app"
default_group = "g0"
"#;
        crate::config::parse(toml).expect("valid config")
    }

    fn addr(s: &str) -> NodeAddr {
        s.parse().expect("addr")
    }

    fn replicas(t: &Topology) -> Vec<String> {
        t.groups[0]
            .replicas
            .iter()
            .map(|r| r.addr.text.clone())
            .collect()
    }

    #[test]
    fn promotions_rewrite_the_config_topology() {
        let base = topo();
        let mut ps = HashMap::new();
        let (m, r1, r2) = (
            addr("127.0.0.1:1000"),
            addr("127.0.0.1:1001"),
            addr("127.0.0.1:1002"),
        );
        record_promotion(&mut ps, "g0", &m, &m, &r1);
        let mut t = base.clone();
        apply_promotions(&mut t, &mut ps);
        assert_eq!(t.groups[0].master, r1);
        assert_eq!(replicas(&t), ["127.0.0.1:1002"]);
        assert_eq!(t.groups[1], base.groups[1]);

        // A second failover: r1 replaced by r2; both old masters fenced.
        record_promotion(&mut ps, "g0", &m, &r1, &r2);
        let mut t = base.clone();
        apply_promotions(&mut t, &mut ps);
        assert_eq!(t.groups[0].master, r2);
        assert!(replicas(&t).is_empty());
        assert_eq!(ps["g0"].old_masters, vec![m.clone(), r1.clone()]);

        // A config naming another master supersedes the promotion.
        let mut t = base.clone();
        t.groups[0].master = r2.clone();
        t.groups[0].replicas.retain(|r| r.addr != r2);
        let expected = t.clone();
        apply_promotions(&mut t, &mut ps);
        assert_eq!(t, expected);
        assert!(ps.is_empty());
    }

    #[test]
    fn shared_promote_survives_reloads_and_refuses_a_stale_master() {
        let shared = Shared::new(topo());
        let (m, r1, r2) = (
            addr("127.0.0.1:1000"),
            addr("127.0.0.1:1001"),
            addr("127.0.0.1:1002"),
        );
        assert!(shared.promote("g0", &m, &r1));
        assert_eq!(shared.topology().groups[0].master, r1);
        assert_eq!(shared.config_topology.read().groups[0].master, m);
        // The health table follows: r1 is a master, the old one is gone.
        let e = shared.health.entry(&r1.text).expect("r1 in the table");
        assert_eq!(e.role(), super::super::Role::Master);
        assert!(shared.health.entry(&m.text).is_none());
        // m is no longer the master: a late second promotion is refused.
        assert!(!shared.promote("g0", &m, &r2));
        assert!(!shared.promote("nope", &r1, &r2));
        // A reload of the same config keeps the promotion.
        shared.install(topo());
        assert_eq!(shared.topology().groups[0].master, r1);
        assert_eq!(replicas(&shared.topology()), ["127.0.0.1:1002"]);
    }

    #[test]
    fn change_master_quotes_the_account() {
        let mut b = topo().backend;
        b.user = "it's".into();
        let sql = change_master_sql(&addr("127.0.0.1:1001"), &b);
        assert!(
            sql.starts_with(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=1001, MASTER_USER='it''s', MASTER_PASSWORD='p'"
            ),
            "{sql}"
        );
    }
}
