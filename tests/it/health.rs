//! `shardgate::health` against real servers: the prober's threads probe
//! real `mariadbd` masters and GTID replicas (tests/support), and the
//! table's states follow kills, restarts, stopped replication, operator
//! overrides and reloads. Short intervals (100 ms, timeout 500 ms,
//! down_after = up_after = 2) and bounded waits; no shardgate process.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use shardgate::config::{self, Topology};
use shardgate::health::{
    HealthTable, NodeReport, NodeState, Override, ProbeState, Prober, ProberHandle,
};

use crate::support::{MariaDb, BACKEND_PASSWORD, BACKEND_USER};

const INTERVAL: Duration = Duration::from_millis(100);
const TIMEOUT: Duration = Duration::from_millis(500);
const DOWN_AFTER: u32 = 2;
const UP_AFTER: u32 = 2;
const MAX_LAG: Duration = Duration::from_secs(5);
/// Longest any wait for a state may take (a restart of mariadbd included).
const LIMIT: Duration = Duration::from_secs(60);

/// A validated topology with `groups` (TOML `[[group]]` tables) and the
/// short probe settings above. The timeout is set past the interval after
/// validation (the config refuses that; the prober only starts the next
/// probe after the last one ends) so a busy test machine does not time
/// probes out.
fn topology(groups: &str) -> Arc<Topology> {
    let text = format!(
        r#"
[server]
default_group = "g0"

[[user]]
name = "app"
password = "app-secret"

[backend]
user = "{BACKEND_USER}"
password = "{BACKEND_PASSWORD}"

[health]
interval = "{}ms"
timeout = "{}ms"
down_after = {DOWN_AFTER}
up_after = {UP_AFTER}
max_replica_lag = "{}s"

{groups}
"#,
        INTERVAL.as_millis(),
        INTERVAL.as_millis(),
        MAX_LAG.as_secs()
    );
    let mut topo = config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    topo.health.timeout = TIMEOUT;
    Arc::new(topo)
}

fn addr(db: &MariaDb) -> String {
    format!("127.0.0.1:{}", db.port)
}

/// A port on 127.0.0.1 that nobody listens on (bound, then released).
fn dead_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    l.local_addr().expect("local_addr").port()
}

/// Starts probing `groups`. `RUST_LOG=info` shows the transitions the
/// prober logs.
fn start(groups: &str) -> (Arc<HealthTable>, ProberHandle) {
    let _ = env_logger::builder().is_test(true).try_init();
    let topo = topology(groups);
    let table = Arc::new(HealthTable::new(&topo));
    let handle = Prober::start(Arc::clone(&table), topo);
    (table, handle)
}

fn report(table: &HealthTable, addr: &str) -> NodeReport {
    table
        .snapshot()
        .into_iter()
        .find(|r| r.addr == addr)
        .unwrap_or_else(|| panic!("{addr} not in {:?}", table.snapshot()))
}

/// Polls `cond` every 10 ms until it holds; returns how long that took.
/// Fails the test past `limit`, with the table's snapshot.
fn wait_for(
    table: &HealthTable,
    what: &str,
    limit: Duration,
    cond: impl Fn(&HealthTable) -> bool,
) -> Duration {
    let t0 = Instant::now();
    while !cond(table) {
        assert!(
            t0.elapsed() < limit,
            "{what}: not within {limit:?}\n{:#?}",
            table.snapshot()
        );
        thread::sleep(Duration::from_millis(10));
    }
    t0.elapsed()
}

fn probed_up(table: &HealthTable, addr: &str) -> bool {
    table
        .entry(addr)
        .is_some_and(|e| e.probe_state() == ProbeState::Up)
}

fn replica_group(master: &MariaDb, replica: &MariaDb) -> String {
    format!(
        r#"
[[group]]
name = "g0"
master = "{}"
replicas = [ {{ addr = "{}" }} ]
"#,
        addr(master),
        addr(replica)
    )
}

#[test]
fn master_and_replica_are_up_with_replication_running() {
    let master = MariaDb::start();
    let replica = MariaDb::start_replica_of(&master);
    let (m, r) = (addr(&master), addr(&replica));
    let (table, handle) = start(&replica_group(&master, &replica));
    wait_for(&table, "both probed up, replica readable", LIMIT, |t| {
        probed_up(t, &m) && probed_up(t, &r) && t.readable(&r, MAX_LAG)
    });

    let mr = report(&table, &m);
    assert_eq!((mr.group.as_str(), mr.role.as_str()), ("g0", "master"));
    assert_eq!(mr.state, NodeState::Up);
    assert_eq!(mr.why, "ok");
    assert!(mr.readable && table.writable(&m));
    assert_eq!(mr.consecutive_fail, 0);
    assert!(mr.last_probe.is_some());

    let rr = report(&table, &r);
    assert_eq!(rr.role.as_str(), "replica");
    assert_eq!(rr.state, NodeState::Up);
    assert_eq!(rr.lag, Some(Duration::ZERO), "{rr:?}");
    assert!(rr.replication_running && rr.is_replica, "{rr:?}");
    assert!(rr.readable);
    assert_eq!(rr.why, "ok");

    // Writes on the master replicate; the replica stays readable.
    master.sql(
        "CREATE DATABASE hc; CREATE TABLE hc.t (id INT PRIMARY KEY); INSERT INTO hc.t VALUES (1)",
    );
    replica.sync_with(&master);
    thread::sleep(INTERVAL * 3);
    assert!(table.readable(&r, MAX_LAG), "{:#?}", table.snapshot());
    assert_eq!(table.epoch(), 0, "no effective change happened");
    handle.stop();
}

#[test]
fn killed_replica_goes_down_and_comes_back() {
    let master = MariaDb::start();
    let mut replica = MariaDb::start_replica_of(&master);
    let (m, r) = (addr(&master), addr(&replica));
    let (table, handle) = start(&replica_group(&master, &replica));
    wait_for(&table, "replica readable", LIMIT, |t| {
        probed_up(t, &r) && t.readable(&r, MAX_LAG)
    });
    let entry = table.entry(&r).expect("replica entry");
    let epoch = entry.state_epoch();

    replica.kill();
    let took = wait_for(&table, "killed replica down", LIMIT, |t| {
        t.effective(&r) == NodeState::Down
    });
    // down_after probes, the first of which may start up to one interval
    // after the kill; generous slack for a loaded machine.
    let bound = INTERVAL * (DOWN_AFTER + 1) + Duration::from_secs(2);
    assert!(took <= bound, "down after {took:?}, bound {bound:?}");
    let rr = report(&table, &r);
    assert_eq!(rr.probe, ProbeState::Down);
    assert!(
        rr.why.starts_with("probe: ") && rr.why.contains("refused"),
        "{rr:?}"
    );
    assert!(!rr.readable && !table.writable(&r));
    assert_eq!(rr.lag, None, "replication facts forgotten when down");
    assert_eq!(entry.state_epoch(), epoch + 1);
    assert_eq!(table.effective(&m), NodeState::Up, "master unaffected");

    replica.restart();
    wait_for(&table, "restarted replica up", LIMIT, |t| {
        t.effective(&r) == NodeState::Up
    });
    let rr = report(&table, &r);
    assert!(
        rr.consecutive_ok >= UP_AFTER,
        "up only after {UP_AFTER} good probes: {rr:?}"
    );
    assert_eq!(entry.state_epoch(), epoch + 2);
    // Replication threads restart with the server; reads come back.
    wait_for(&table, "restarted replica readable", LIMIT, |t| {
        t.readable(&r, MAX_LAG)
    });
    assert_eq!(
        report(&table, &r).last_error,
        rr.last_error,
        "kept for history"
    );
    handle.stop();
}

#[test]
fn stopped_replication_stops_reads() {
    let master = MariaDb::start();
    let replica = MariaDb::start_replica_of(&master);
    let r = addr(&replica);
    let (table, handle) = start(&replica_group(&master, &replica));
    wait_for(&table, "replica readable", LIMIT, |t| {
        t.readable(&r, MAX_LAG)
    });

    replica.sql("STOP SLAVE SQL_THREAD");
    wait_for(&table, "no reads with the SQL thread stopped", LIMIT, |t| {
        !t.readable(&r, MAX_LAG)
    });
    let rr = report(&table, &r);
    assert_eq!(rr.state, NodeState::Up, "alive, just not replicating");
    assert!(table.writable(&r));
    assert!(!rr.replication_running && rr.is_replica, "{rr:?}");
    assert!(
        rr.why.contains("replication") && rr.why.contains("Slave_SQL_Running=No"),
        "{rr:?}"
    );

    replica.sql("START SLAVE SQL_THREAD");
    wait_for(
        &table,
        "reads again after START SLAVE SQL_THREAD",
        LIMIT,
        |t| t.readable(&r, MAX_LAG),
    );

    replica.sql("STOP SLAVE");
    wait_for(&table, "no reads with replication stopped", LIMIT, |t| {
        !t.readable(&r, MAX_LAG)
    });
    assert!(report(&table, &r).why.contains("replication"));
    replica.sql("START SLAVE");
    wait_for(&table, "reads again after START SLAVE", LIMIT, |t| {
        t.readable(&r, MAX_LAG)
    });
    let rr = report(&table, &r);
    assert_eq!(rr.why, "ok");
    assert_eq!(table.epoch(), 0, "replication never changed liveness");
    handle.stop();
}

#[test]
fn operator_state_wins_over_probes() {
    let master = MariaDb::start();
    let m = addr(&master);
    let dead = format!("127.0.0.1:{}", dead_port());
    let (table, handle) = start(&format!(
        r#"
[[group]]
name = "g0"
master = "{m}"

[[group]]
name = "g1"
master = "{dead}"
"#
    ));
    wait_for(&table, "master up, dead node down", LIMIT, |t| {
        probed_up(t, &m) && t.effective(&dead) == NodeState::Down
    });
    let entry = table.entry(&m).expect("entry");
    let epoch = entry.state_epoch();

    // DOWN on a healthy node: at once, and probes do not undo it.
    table.set_operator(&m, Override::Down).expect("known node");
    assert_eq!(table.effective(&m), NodeState::Down);
    assert!(!table.writable(&m) && !table.readable(&m, MAX_LAG));
    assert_eq!(entry.state_epoch(), epoch + 1);
    let ok_before = entry.consecutive_ok();
    wait_for(&table, "more good probes under DOWN", LIMIT, |_| {
        entry.consecutive_ok() >= ok_before + 3
    });
    let mr = report(&table, &m);
    assert_eq!(mr.state, NodeState::Down);
    assert_eq!(mr.probe, ProbeState::Up);
    assert_eq!(mr.operator, Override::Down);
    assert_eq!(mr.why, "operator");
    assert_eq!(
        table.operator_overrides(),
        vec![(m.clone(), Override::Down)]
    );

    // AUTO gives it back to the probes.
    table.set_operator(&m, Override::Auto).expect("known node");
    assert_eq!(table.effective(&m), NodeState::Up);
    assert_eq!(entry.state_epoch(), epoch + 2);
    assert_eq!(report(&table, &m).why, "ok");

    // UP on a node the probes find dead.
    table.set_operator(&dead, Override::Up).expect("known node");
    assert_eq!(table.effective(&dead), NodeState::Up);
    let dr = report(&table, &dead);
    assert_eq!((dr.probe, dr.why.as_str()), (ProbeState::Down, "operator"));
    table
        .set_operator(&dead, Override::Auto)
        .expect("known node");
    assert_eq!(table.effective(&dead), NodeState::Down);
    assert!(report(&table, &dead)
        .why
        .starts_with("probe: connect refused"));

    assert!(table.set_operator("127.0.0.1:1", Override::Down).is_err());
    assert!(table.operator_overrides().is_empty());
    handle.stop();
}

#[test]
fn reload_adds_and_removes_probed_nodes() {
    let master = MariaDb::start();
    let m = addr(&master);
    let dead = format!("127.0.0.1:{}", dead_port());
    let one = format!("[[group]]\nname = \"g0\"\nmaster = \"{m}\"\n");
    let (table, handle) = start(&one);
    wait_for(&table, "master up", LIMIT, |t| probed_up(t, &m));
    table.set_operator(&m, Override::Down).expect("known node");
    let entry = table.entry(&m).expect("entry");

    // Reload: a second group whose master is dead.
    let two = format!("{one}\n[[group]]\nname = \"g1\"\nmaster = \"{dead}\"\n");
    handle.update(topology(&two));
    let mut probed = handle.probed();
    probed.sort();
    let mut want = vec![m.clone(), dead.clone()];
    want.sort();
    assert_eq!(probed, want);
    wait_for(&table, "new node probed down", LIMIT, |t| {
        t.effective(&dead) == NodeState::Down
    });
    assert!(
        Arc::ptr_eq(&entry, &table.entry(&m).expect("kept")),
        "the staying node keeps its entry"
    );
    assert_eq!(table.effective(&m), NodeState::Down, "override kept");

    // Reload: the first group gone.
    handle.update(topology(&format!(
        "[[group]]\nname = \"g0\"\nmaster = \"{dead}\"\n"
    )));
    assert_eq!(handle.probed(), vec![dead.clone()]);
    assert!(table.entry(&m).is_none());
    assert_eq!(table.snapshot().len(), 1);
    let r = report(&table, &dead);
    assert_eq!((r.group.as_str(), r.state), ("g0", NodeState::Down));
    // The removed node's thread is gone: its counters stop moving.
    thread::sleep(INTERVAL * 3);
    let ok = entry.consecutive_ok();
    thread::sleep(INTERVAL * 3);
    assert_eq!(entry.consecutive_ok(), ok, "removed node still probed");

    let t0 = Instant::now();
    handle.stop();
    assert!(
        t0.elapsed() < TIMEOUT + Duration::from_secs(1),
        "stop took {:?}",
        t0.elapsed()
    );
    assert!(handle.probed().is_empty());
    handle.update(topology(&one));
    assert!(handle.probed().is_empty(), "no restart after stop");
}
