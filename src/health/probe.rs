//! Active health probes: every node of every group is probed every
//! `health.interval`, and each result goes into the [`HealthTable`]
//! (`HealthTable::record` runs the down/up state machine).
//!
//! # Threads
//!
//! One thread per node (`shardgate-probe`), started by [`Prober::start`],
//! added and removed by [`ProberHandle::update`] on a reload, all stopped by
//! [`ProberHandle::stop`]. Nodes are few (groups × (1 + replicas), tens at
//! most), a probe blocks for up to `health.timeout`, and a node that hangs
//! must not delay the probes of the others: a thread each is the simplest
//! way to keep every node on its own schedule, costs one mostly-sleeping
//! thread per node, and needs no per-round spawning. A probe thread never
//! touches a socket of the reactor; I/O threads only read the table.
//!
//! Each thread sleeps in `recv_deadline` on its own crossbeam control
//! channel, so a stop or a settings change (new interval, timeout, role,
//! backend account) wakes it at once, even mid-sleep. A probe in flight
//! finishes within `health.timeout` (one deadline bounds the connect, the
//! login and the query), so `stop` joins within `timeout` plus a small
//! slack; a thread stuck past that (only name resolution is unbounded) is
//! left to finish on its own and logged.
//!
//! # One probe
//!
//! A fresh connection every time — connect, log in with the `[backend]`
//! account, run a real query, `COM_QUIT` — as the issue says ("connect + a
//! real query"): it also catches a server that still answers old
//! connections but no longer accepts new ones (full accept queue,
//! `max_connections` reached, broken authentication), which is exactly what
//! the pools would hit. It costs one TCP connect and login per node per
//! interval (1 s by default), which a server does not notice.
//!
//! Masters run `SELECT 1`. Replicas run `SHOW SLAVE STATUS` (the backend
//! account needs the `SLAVE MONITOR` privilege, or `REPLICATION CLIENT` /
//! `SUPER` before MariaDB 10.5) and report, by column name,
//! `Slave_IO_Running`, `Slave_SQL_Running` and `Seconds_Behind_Master` (the
//! MySQL 8 `Replica_*` / `Seconds_Behind_Source` names are accepted too);
//! a NULL lag counts as replication not running. Only the default
//! replication connection is read (multi-source named connections are not).
//!
//! # Logging
//!
//! Transitions only, never one line per probe: a node going down at `warn`,
//! coming back at `info`, a live replica that stops taking reads (stopped
//! replication, lag over `max_replica_lag`) at `warn` and taking them again
//! at `info`, each with the reason.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use log::{debug, error, info, warn};
use parking_lot::Mutex;

use super::table::{
    HealthTable, NodeEntry, NodeState, Override, ProbeOutcome, ProbeState, Recorded, Replication,
    Role,
};
use crate::backend::blocking::{BlockingConn, ResultSet};
use crate::config::{Backend, NodeAddr, Topology};

/// How long past `health.timeout` [`ProberHandle::stop`] waits for a probe
/// thread before leaving it behind.
pub const STOP_SLACK: Duration = Duration::from_secs(1);

/// What one probe thread needs to know; a reload sends it a new one.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    addr: NodeAddr,
    group: String,
    role: Role,
    interval: Duration,
    timeout: Duration,
    backend: Backend,
}

enum Ctl {
    Update(Box<Settings>),
    Stop,
}

/// One running probe thread.
struct NodeThread {
    ctl: Sender<Ctl>,
    /// Disconnected when the thread has returned.
    alive: Receiver<()>,
    join: JoinHandle<()>,
    settings: Settings,
}

#[derive(Default)]
struct Threads {
    /// By `NodeAddr::identity()`.
    running: HashMap<String, NodeThread>,
    /// Told to stop on a reload, not yet joined.
    retired: Vec<NodeThread>,
    stopped: bool,
}

/// Starts the probe threads.
pub struct Prober;

impl Prober {
    /// Syncs `table` with `topology` and starts one probe thread per node;
    /// the first probes start at once.
    pub fn start(table: Arc<HealthTable>, topology: Arc<Topology>) -> ProberHandle {
        let handle = ProberHandle {
            table,
            threads: Mutex::new(Threads::default()),
        };
        handle.update(topology);
        handle
    }
}

/// The running probes. Dropping it stops them (as [`ProberHandle::stop`]).
pub struct ProberHandle {
    table: Arc<HealthTable>,
    threads: Mutex<Threads>,
}

impl ProberHandle {
    /// The table the probes write.
    pub fn table(&self) -> &Arc<HealthTable> {
        &self.table
    }

    /// After a reload: syncs the table with `topology` (see
    /// `HealthTable::sync_nodes`), starts probing new nodes, stops probing
    /// removed ones (without waiting for them), and hands the new interval,
    /// timeout, role and backend account to the others (taking effect from
    /// their next probe; a shorter interval at once). Does nothing after
    /// [`ProberHandle::stop`].
    pub fn update(&self, topology: Arc<Topology>) {
        let mut threads = self.threads.lock();
        if threads.stopped {
            return;
        }
        self.table.sync_nodes(&topology);
        let mut wanted: HashMap<String, Settings> = HashMap::new();
        for group in &topology.groups {
            let nodes = std::iter::once((&group.master, Role::Master))
                .chain(group.replicas.iter().map(|r| (&r.addr, Role::Replica)));
            for (addr, role) in nodes {
                wanted.insert(
                    addr.identity(),
                    Settings {
                        addr: addr.clone(),
                        group: group.name.clone(),
                        role,
                        interval: topology.health.interval,
                        timeout: topology.health.timeout,
                        backend: topology.backend.clone(),
                    },
                );
            }
        }
        let gone: Vec<String> = threads
            .running
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(t) = threads.running.remove(&key) {
                debug!("HEALTH stop probing {}", t.settings.addr);
                let _ = t.ctl.send(Ctl::Stop);
                threads.retired.push(t);
            }
        }
        for (key, settings) in wanted {
            if let Some(t) = threads.running.get_mut(&key) {
                if t.settings != settings {
                    t.settings = settings.clone();
                    let _ = t.ctl.send(Ctl::Update(Box::new(settings)));
                }
                continue;
            }
            let Some(entry) = self.table.entry(&settings.addr.text) else {
                continue;
            };
            match spawn(Arc::clone(&self.table), entry, settings.clone()) {
                Ok(t) => {
                    threads.running.insert(key, t);
                }
                Err(e) => error!(
                    "HEALTH cannot start the probe thread of {}: {e}; it is not probed",
                    settings.addr
                ),
            }
        }
        // Join retired threads that have finished.
        let retired = std::mem::take(&mut threads.retired);
        for t in retired {
            if t.join.is_finished() {
                let _ = t.join.join();
            } else {
                threads.retired.push(t);
            }
        }
    }

    /// The addresses being probed (config text), in no particular order.
    pub fn probed(&self) -> Vec<String> {
        self.threads
            .lock()
            .running
            .values()
            .map(|t| t.settings.addr.text.clone())
            .collect()
    }

    /// Stops every probe thread and joins it, waiting at most the longest
    /// `health.timeout` plus [`STOP_SLACK`]; a thread still busy then is
    /// left to end on its own (logged). Idempotent.
    pub fn stop(&self) {
        let mut threads = self.threads.lock();
        threads.stopped = true;
        let mut all: Vec<NodeThread> = threads.running.drain().map(|(_, t)| t).collect();
        all.append(&mut threads.retired);
        drop(threads);
        let longest = all
            .iter()
            .map(|t| t.settings.timeout)
            .max()
            .unwrap_or_default();
        for t in &all {
            let _ = t.ctl.send(Ctl::Stop);
        }
        let deadline = Instant::now() + longest + STOP_SLACK;
        for t in all {
            match t.alive.recv_deadline(deadline) {
                Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                    let _ = t.join.join();
                }
                Err(RecvTimeoutError::Timeout) => warn!(
                    "HEALTH the probe thread of {} did not stop in time; left behind",
                    t.settings.addr
                ),
            }
        }
    }
}

impl Drop for ProberHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(
    table: Arc<HealthTable>,
    entry: Arc<NodeEntry>,
    settings: Settings,
) -> io::Result<NodeThread> {
    let (ctl_tx, ctl_rx) = unbounded();
    let (alive_tx, alive_rx) = bounded::<()>(0);
    let s = settings.clone();
    let join = thread::Builder::new()
        .name("shardgate-probe".into())
        .spawn(move || {
            let _alive = alive_tx;
            run(&table, &entry, s, &ctl_rx);
        })?;
    Ok(NodeThread {
        ctl: ctl_tx,
        alive: alive_rx,
        join,
        settings,
    })
}

/// The loop of one probe thread: probe, record, log transitions, sleep
/// until the next tick or a control message.
fn run(table: &HealthTable, entry: &NodeEntry, mut s: Settings, ctl: &Receiver<Ctl>) {
    debug!(
        "HEALTH probing {} {} every {:?}",
        s.role, s.addr, s.interval
    );
    let mut next = Instant::now();
    loop {
        match ctl.recv_deadline(next) {
            Ok(Ctl::Update(new)) => {
                let sooner = Instant::now() + new.interval;
                if sooner < next {
                    next = sooner;
                }
                s = *new;
                continue;
            }
            Ok(Ctl::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let started = Instant::now();
        let outcome = probe_once(&s);
        let rec = table.record(entry, outcome);
        log_changes(&s, entry, &rec, table.max_replica_lag());
        next = (started + s.interval).max(Instant::now());
    }
}

/// Connects, logs in, runs the role's query, says goodbye; everything
/// bounded by `s.timeout` together.
fn probe_once(s: &Settings) -> ProbeOutcome {
    let deadline = Instant::now() + s.timeout;
    let addr = match resolve(&s.addr) {
        Ok(a) => a,
        Err(e) => return ProbeOutcome::Failed(e),
    };
    let mut conn = match BlockingConn::connect_until(addr, &s.backend, deadline) {
        Ok(c) => c,
        Err(e) => return ProbeOutcome::Failed(describe("connect", &e, s.timeout)),
    };
    let outcome = match s.role {
        Role::Master => match conn.query("SELECT 1") {
            Ok(_) => ProbeOutcome::Ok { replication: None },
            Err(e) => ProbeOutcome::Failed(describe("SELECT 1", &e, s.timeout)),
        },
        Role::Replica => match conn.query_result("SHOW SLAVE STATUS") {
            Ok(rs) => ProbeOutcome::Ok {
                replication: Some(replication_of(&rs)),
            },
            Err(e) => ProbeOutcome::Failed(describe("SHOW SLAVE STATUS", &e, s.timeout)),
        },
    };
    conn.quit();
    outcome
}

fn resolve(addr: &NodeAddr) -> Result<SocketAddr, String> {
    if let Some(sa) = addr.socket {
        return Ok(sa);
    }
    match (addr.host.as_str(), addr.port).to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .ok_or_else(|| format!("cannot resolve {}: no address", addr.host)),
        Err(e) => Err(format!("cannot resolve {}: {e}", addr.host)),
    }
}

/// A failed step as the admin port shows it after `probe: `.
fn describe(step: &str, e: &io::Error, timeout: Duration) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connect refused".to_string(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("{step}: no answer within {timeout:?}")
        }
        io::ErrorKind::UnexpectedEof => format!("{step}: server closed the connection"),
        io::ErrorKind::ConnectionReset => format!("{step}: connection reset"),
        _ => format!("{step}: {e}"),
    }
}

/// Reads `SHOW SLAVE STATUS` by column name.
fn replication_of(rs: &ResultSet) -> Replication {
    if rs.rows.is_empty() {
        return Replication::not_a_replica();
    }
    let field = |names: &[&str]| names.iter().find_map(|n| rs.text(0, n));
    let io = field(&["Slave_IO_Running", "Replica_IO_Running"]).unwrap_or_default();
    let sql = field(&["Slave_SQL_Running", "Replica_SQL_Running"]).unwrap_or_default();
    let lag = field(&["Seconds_Behind_Master", "Seconds_Behind_Source"])
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let last_error = ["Last_IO_Error", "Last_SQL_Error"]
        .iter()
        .filter_map(|n| rs.text(0, n))
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Replication::from_status(&io, &sql, lag, &last_error)
}

/// Logs what changed, never an unchanged state.
fn log_changes(s: &Settings, entry: &NodeEntry, rec: &Recorded, max_lag: Duration) {
    let who = format!("{} {} of group {}", s.role, s.addr, s.group);
    let held = match entry.operator() {
        Override::Auto => "",
        Override::Up => " (the operator holds it UP)",
        Override::Down => " (the operator holds it DOWN)",
    };
    match rec.probe_change {
        Some((_, ProbeState::Down)) => {
            warn!(
                "HEALTH {who} is DOWN after {} failed probes: {}{held}",
                entry.consecutive_fail(),
                entry.last_error()
            );
            return;
        }
        Some((ProbeState::Down, ProbeState::Up)) => info!(
            "HEALTH {who} is UP again after {} good probes{held}",
            entry.consecutive_ok()
        ),
        Some((ProbeState::Unknown, ProbeState::Up)) => debug!("HEALTH {who} is up"),
        _ => {}
    }
    if s.role != Role::Replica || entry.effective() == NodeState::Down {
        return;
    }
    let became_up = matches!(rec.probe_change, Some((_, ProbeState::Up)));
    if !rec.readable_after && (rec.readable_before || became_up) {
        warn!("HEALTH {who} takes no reads: {}", entry.why(max_lag));
    } else if rec.readable_after && !rec.readable_before && !became_up {
        let lag = entry
            .lag()
            .map_or_else(|| "?".to_string(), |l| format!("{}s", l.as_secs()));
        info!("HEALTH {who} takes reads again (lag {lag})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proto::column::{encode_column_count, ColumnDefinition41, ColumnType};
    use shardgate_proto::row::encode_text_row;

    fn status(cols: &[&str], row: &[Option<&str>]) -> ResultSet {
        let mut packets = Vec::new();
        let mut p = Vec::new();
        encode_column_count(cols.len() as u64, &mut p);
        packets.push(p);
        for c in cols {
            let mut p = Vec::new();
            ColumnDefinition41::new(c.as_bytes(), ColumnType::VarString, 33).encode(&mut p);
            packets.push(p);
        }
        packets.push(vec![0xfe, 0, 0, 2, 0]);
        let mut p = Vec::new();
        encode_text_row(row.iter().map(|c| c.map(str::as_bytes)), &mut p);
        packets.push(p);
        packets.push(vec![0xfe, 0, 0, 2, 0]);
        ResultSet::decode(&packets).unwrap()
    }

    const COLS: &[&str] = &[
        "Slave_IO_State",
        "Slave_IO_Running",
        "Slave_SQL_Running",
        "Last_SQL_Error",
        "Seconds_Behind_Master",
        "Last_IO_Error",
    ];

    #[test]
    fn replication_by_column_name() {
        let r = replication_of(&status(
            COLS,
            &[
                Some("Waiting"),
                Some("Yes"),
                Some("Yes"),
                Some(""),
                Some("3"),
                Some(""),
            ],
        ));
        assert!(r.is_replica && r.running);
        assert_eq!(r.lag, Some(Duration::from_secs(3)));
        assert_eq!(r.detail, "");

        let r = replication_of(&status(
            COLS,
            &[
                Some(""),
                Some("Yes"),
                Some("No"),
                Some("Duplicate entry"),
                None,
                Some(""),
            ],
        ));
        assert!(r.is_replica && !r.running);
        assert_eq!(r.lag, None);
        assert_eq!(
            r.detail,
            "replication stopped (Slave_IO_Running=Yes, Slave_SQL_Running=No; Duplicate entry)"
        );

        let r = replication_of(&status(
            COLS,
            &[
                Some(""),
                Some("Connecting"),
                Some("Yes"),
                Some(""),
                None,
                Some("error connecting"),
            ],
        ));
        assert!(!r.running);
        assert!(
            r.detail.starts_with("replication not running"),
            "{}",
            r.detail
        );

        // Threads run but the lag is NULL: treated as not running.
        let r = replication_of(&status(
            COLS,
            &[Some(""), Some("Yes"), Some("Yes"), Some(""), None, Some("")],
        ));
        assert!(!r.running);
        assert!(
            r.detail.starts_with("replication lag unknown"),
            "{}",
            r.detail
        );

        let r = replication_of(&status(
            &[
                "Replica_IO_Running",
                "Replica_SQL_Running",
                "Seconds_Behind_Source",
            ],
            &[Some("Yes"), Some("Yes"), Some("0")],
        ));
        assert!(r.running);
        assert_eq!(r.lag, Some(Duration::ZERO));

        let empty = ResultSet {
            columns: COLS.iter().map(|c| c.to_string()).collect(),
            rows: vec![],
        };
        assert_eq!(replication_of(&empty), Replication::not_a_replica());
    }

    #[test]
    fn failures_are_described_briefly() {
        let t = Duration::from_millis(250);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(describe("connect", &refused, t), "connect refused");
        let slow = io::Error::from(io::ErrorKind::TimedOut);
        assert_eq!(
            describe("SELECT 1", &slow, t),
            "SELECT 1: no answer within 250ms"
        );
        let other = io::Error::new(io::ErrorKind::InvalidData, "login failed: Access denied");
        assert_eq!(
            describe("connect", &other, t),
            "connect: login failed: Access denied"
        );
    }

    #[test]
    fn a_dead_port_fails_fast_and_stop_is_prompt() {
        // A port nobody listens on: bind, note, release.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let text = format!(
            r#"
[server]
default_group = "g0"

[[user]]
name = "app"
password = "app-secret"

[backend]
user = "shardgate"
password = "x"

[health]
interval = "50ms"
timeout = "50ms"
down_after = 2

[[group]]
name = "g0"
master = "127.0.0.1:{port}"
"#
        );
        let topo = Arc::new(crate::config::parse(&text).unwrap());
        let table = Arc::new(HealthTable::new(&topo));
        let handle = Prober::start(Arc::clone(&table), topo);
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while table.effective(&addr) == NodeState::Up {
            assert!(Instant::now() < deadline, "{:?}", table.snapshot());
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            table.snapshot()[0].why,
            "probe: connect refused",
            "{:?}",
            table.snapshot()
        );
        assert_eq!(handle.probed(), vec![addr]);
        let t0 = Instant::now();
        handle.stop();
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        assert!(handle.probed().is_empty());
        handle.stop();
    }
}
