//! Groups with replicas (issue 5): read/write split, weighted balancing,
//! replicas leaving and rejoining the read pool, master failure,
//! read-your-writes under real replication lag. One master and two GTID
//! replicas started by the test; which server answered a read is told by
//! `SELECT @@port`.

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::Conn;

use crate::common::server_err;
use crate::proxy::{Proxy, ProxyConfig};
use crate::support::MariaDb;

/// Master + 2 replicas (weights 2 and 1) behind one shardgate.
struct Setup {
    master: MariaDb,
    r1: MariaDb,
    r2: MariaDb,
    proxy: Proxy,
}

fn setup(balance: &str, server_lines: &[&str]) -> Setup {
    setup_with(balance, server_lines, "")
}

fn setup_with(balance: &str, server_lines: &[&str], tail: &str) -> Setup {
    let master = MariaDb::start();
    let (r1, r2) = thread::scope(|s| {
        let a = s.spawn(|| MariaDb::start_replica_of(&master));
        let b = s.spawn(|| MariaDb::start_replica_of(&master));
        (a.join().expect("r1"), b.join().expect("r2"))
    });
    let mut cfg = ProxyConfig::new(master.port)
        .group(&format!(
            "replicas = [ {{ addr = \"127.0.0.1:{}\", weight = 2 }}, {{ addr = \"127.0.0.1:{}\", weight = 1 }} ]",
            r1.port, r2.port
        ))
        .group(&format!("balance = \"{balance}\""))
        .tail(
            "[health]\ninterval = \"300ms\"\ntimeout = \"300ms\"\ndown_after = 4\nup_after = 2\n\
             max_replica_lag = \"1h\"",
        )
        .tail(tail);
    for l in server_lines {
        cfg = cfg.server(l);
    }
    let proxy = Proxy::start(&cfg);
    let s = Setup {
        master,
        r1,
        r2,
        proxy,
    };
    s.master.sql("CREATE DATABASE IF NOT EXISTS rw; CREATE TABLE IF NOT EXISTS rw.t (id INT PRIMARY KEY, v VARCHAR(20))");
    s.r1.sync_with(&s.master);
    s.r2.sync_with(&s.master);
    s
}

/// Reads `SELECT @@port` until every port in `want` answered (bounded).
fn wait_for_ports(conn: &mut Conn, want: &[u16], within: Duration) {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(Some(p)) = conn.query_first::<u16, _>("SELECT @@port") {
            if !seen.contains(&p) {
                seen.push(p);
            }
            if want.iter().all(|w| seen.contains(w)) {
                return;
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    panic!("reads never reached all of {want:?} within {within:?} (saw {seen:?})");
}

fn count_ports(conn: &mut Conn, n: usize) -> HashMap<u16, usize> {
    let mut by_port = HashMap::new();
    for _ in 0..n {
        let p: u16 = conn
            .query_first("SELECT @@port")
            .expect("read")
            .expect("a row");
        *by_port.entry(p).or_insert(0) += 1;
    }
    by_port
}

#[test]
fn reads_split_by_weight_and_writes_go_to_the_master() {
    let s = setup("weighted", &[]);
    let mut conn = s.proxy.conn_db("rw");
    wait_for_ports(&mut conn, &[s.r1.port, s.r2.port], Duration::from_secs(20));
    let shares = count_ports(&mut conn, 10_000);
    let r1 = shares.get(&s.r1.port).copied().unwrap_or(0) as f64 / 10_000.0;
    let r2 = shares.get(&s.r2.port).copied().unwrap_or(0) as f64 / 10_000.0;
    assert!(
        (r1 - 2.0 / 3.0).abs() <= 0.05 && (r2 - 1.0 / 3.0).abs() <= 0.05,
        "weighted 2:1 reads: {shares:?}"
    );
    assert_eq!(shares.get(&s.master.port), None, "the master took reads");

    // Writes, locking reads, transactions, the hint and the session
    // setting go to the master.
    let mut w = s.proxy.conn_db("rw");
    w.query_drop("INSERT INTO t VALUES (1, 'one')")
        .expect("insert");
    let on_master = |c: &mut Conn, sql: &str| -> u16 {
        c.query_first::<u16, _>(sql).expect(sql).expect("a row")
    };
    let mut c = s.proxy.conn_db("rw");
    assert_eq!(
        on_master(&mut c, "SELECT @@port FROM t WHERE id = 1 FOR UPDATE"),
        s.master.port
    );
    assert_eq!(
        on_master(&mut c, "SELECT @@port FROM t LOCK IN SHARE MODE"),
        s.master.port
    );
    assert_eq!(
        on_master(&mut c, "/*+ shardgate: master */ SELECT @@port"),
        s.master.port
    );
    c.query_drop("BEGIN").expect("begin");
    assert_eq!(on_master(&mut c, "SELECT @@port"), s.master.port);
    c.query_drop("COMMIT").expect("commit");
    let mut c = s.proxy.conn_db("rw");
    c.query_drop("SET @@shardgate_use_master = ON")
        .expect("set");
    assert_eq!(on_master(&mut c, "SELECT @@port"), s.master.port);
    c.query_drop("SET @@shardgate_use_master = OFF")
        .expect("set");
    assert_ne!(on_master(&mut c, "SELECT @@port"), s.master.port);
    // The write reached the master only.
    assert_eq!(s.master.sql("SELECT COUNT(*) FROM rw.t").trim(), "1");
}

#[test]
fn a_session_reads_its_own_writes_under_replication_lag() {
    let s = setup("round_robin", &["read_your_writes = \"3s\""]);
    // Real lag: the replicas apply events 30 s late (SQL thread running,
    // so they stay in the read pool with max_replica_lag = 1h).
    for r in [&s.r1, &s.r2] {
        r.sql("STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 30; START SLAVE");
    }
    let mut reader = s.proxy.conn_db("rw");
    wait_for_ports(
        &mut reader,
        &[s.r1.port, s.r2.port],
        Duration::from_secs(20),
    );
    let mut writer = s.proxy.conn_db("rw");
    for i in 0..20 {
        writer
            .query_drop(format!("INSERT INTO t VALUES ({}, 'w')", 100 + i))
            .expect("insert");
        let seen: Option<String> = writer
            .query_first(format!("SELECT v FROM t WHERE id = {}", 100 + i))
            .expect("read own write");
        assert_eq!(
            seen.as_deref(),
            Some("w"),
            "write {i} not seen by its session"
        );
    }
    // The replicas really lag (else the test proves nothing).
    for r in [&s.r1, &s.r2] {
        assert_eq!(
            r.sql("SELECT COUNT(*) FROM rw.t WHERE id >= 100").trim(),
            "0",
            "replica {} was not lagging",
            r.port
        );
    }
    for r in [&s.r1, &s.r2] {
        r.sql("STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE");
    }
}

#[test]
fn replicas_leave_and_rejoin_the_read_pool_and_a_dead_master_fails_writes_fast() {
    let mut s = setup("round_robin", &[]);
    let mut conn = s.proxy.conn_db("rw");
    wait_for_ports(&mut conn, &[s.r1.port, s.r2.port], Duration::from_secs(20));

    // Replication stopped on r1: it leaves the read pool.
    s.r1.sql("STOP SLAVE");
    thread::sleep(Duration::from_millis(1200));
    let shares = count_ports(&mut conn, 300);
    assert_eq!(
        shares.get(&s.r1.port),
        None,
        "a stopped replica took reads: {shares:?}"
    );
    s.r1.sql("START SLAVE");
    wait_for_ports(&mut conn, &[s.r1.port, s.r2.port], Duration::from_secs(20));

    // r2 killed under load: reads move within down_after x interval
    // (4 x 300 ms), no error after that.
    s.r2.kill();
    let killed = Instant::now();
    let grace = Duration::from_millis(1200 + 1400);
    let mut late_errors = Vec::new();
    let mut early_errors = Vec::new();
    while killed.elapsed() < Duration::from_secs(5) {
        match conn.query_first::<u16, _>("SELECT @@port") {
            Ok(Some(p)) if p == s.r2.port => {
                late_errors.push("a dead replica answered".to_string())
            }
            Ok(_) => {}
            Err(e) => {
                if killed.elapsed() > grace {
                    late_errors.push(format!("{:?}: {e}", killed.elapsed()));
                } else {
                    early_errors.push(format!("{:?}: {e}", killed.elapsed()));
                }
                conn = s.proxy.conn_db("rw");
            }
        }
    }
    assert!(
        late_errors.is_empty(),
        "reads failed after the replica was marked down: {late_errors:?}"
    );
    // Reads that found the dead replica (refused connects, pooled
    // connections to it) were retried on the other one.
    assert!(
        early_errors.is_empty(),
        "reads failed while the replica was dying: {early_errors:?}"
    );

    // Master killed: writes fail fast with an error naming the group,
    // reads continue on the replica that is left.
    s.master.kill();
    thread::sleep(Duration::from_millis(2500));
    let mut c = s.proxy.conn_db("rw");
    let t0 = Instant::now();
    let e = c
        .query_drop("INSERT INTO t VALUES (7, 'x')")
        .expect_err("a write with the master down");
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "write took {:?}",
        t0.elapsed()
    );
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not a server error: {e}"));
    assert_eq!(code, 1429, "{msg}");
    assert!(msg.contains("group 'g0'") && msg.contains("down"), "{msg}");
    for _ in 0..50 {
        let p: u16 = c
            .query_first("SELECT @@port")
            .expect("read with the master down")
            .expect("row");
        assert_eq!(p, s.r1.port);
    }
}

/// Connections of the backend account on `db` (the proxy's pool plus at
/// most one probe).
fn backend_conns(db: &MariaDb) -> usize {
    db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'shardgate'")
        .trim()
        .parse()
        .unwrap_or(usize::MAX)
}

#[test]
fn an_operator_down_node_gets_no_statements_and_its_pool_drains() {
    let admin_port = crate::support::free_port();
    let s = setup_with(
        "round_robin",
        &[&format!("admin_listen = \"127.0.0.1:{admin_port}\"")],
        "[admin]\nuser = \"admin\"\npassword = \"admin-secret\"",
    );
    let mut conn = s.proxy.conn_db("rw");
    wait_for_ports(&mut conn, &[s.r1.port, s.r2.port], Duration::from_secs(20));
    // Several sessions so r1 holds pooled connections.
    let mut others: Vec<Conn> = (0..4).map(|_| s.proxy.conn_db("rw")).collect();
    for c in &mut others {
        count_ports(c, 10);
    }
    assert!(
        backend_conns(&s.r1) >= 1,
        "r1 has no pooled connection to drain"
    );

    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(admin_port)
        .user(Some("admin"))
        .pass(Some("admin-secret"))
        .prefer_socket(false);
    let mut admin = Conn::new(mysql::Opts::from(opts)).expect("admin login");
    admin
        .query_drop(format!("SET NODE '127.0.0.1:{}' DOWN", s.r1.port))
        .expect("SET NODE DOWN");
    let shares = count_ports(&mut conn, 300);
    assert_eq!(
        shares.get(&s.r1.port),
        None,
        "a node set DOWN took reads: {shares:?}"
    );
    // Its idle pooled connections are closed within a few ticks (the
    // probe's own short connection may be there for an instant).
    let deadline = Instant::now() + Duration::from_secs(10);
    while backend_conns(&s.r1) > 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        backend_conns(&s.r1) <= 1,
        "r1 still has {} connections",
        backend_conns(&s.r1)
    );
    admin
        .query_drop(format!("SET NODE '127.0.0.1:{}' AUTO", s.r1.port))
        .expect("SET NODE AUTO");
    wait_for_ports(&mut conn, &[s.r1.port, s.r2.port], Duration::from_secs(20));
}
