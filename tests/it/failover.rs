//! Automatic failover (issue 5, `failover = "promote"`): a master with two
//! semi-synchronous GTID replicas is SIGKILLed under a stream of writes
//! through shardgate; a replica is promoted, writes succeed again, no
//! acknowledged write is lost, the other replica follows the new master,
//! and the old master is fenced (`read_only = 1`) when it comes back.

use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts};

use crate::proxy::{Proxy, ProxyConfig};
use crate::support::MariaDb;

/// Waits (bounded) until `db` answers `sql` with `want`.
fn wait_for(db: &MariaDb, sql: &str, want: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if db.try_sql(sql).is_ok_and(|v| v.trim() == want) {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

/// One INSERT attempt of the writer.
struct Attempt {
    id: u32,
    ok: bool,
    at: Instant,
}

/// Inserts ids 1, 2, ... through `proxy` until `until` or until
/// `after_recovery` writes succeeded after a failure; reconnects after
/// errors.
fn writer(proxy: &Proxy, until: Instant, after_recovery: usize) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    let mut conn: Option<Conn> = None;
    let mut failed = false;
    let mut recovered = 0;
    let mut id = 0;
    while Instant::now() < until && recovered < after_recovery {
        id += 1;
        if conn.is_none() {
            conn = Conn::new(Opts::from(proxy.opts().db_name(Some("fo")))).ok();
        }
        let ok = match conn.as_mut() {
            Some(c) => c.query_drop(format!("INSERT INTO t VALUES ({id})")).is_ok(),
            None => false,
        };
        attempts.push(Attempt {
            id,
            ok,
            at: Instant::now(),
        });
        if ok {
            if failed {
                recovered += 1;
            }
        } else {
            failed = true;
            conn = None;
            thread::sleep(Duration::from_millis(20));
        }
    }
    attempts
}

#[test]
fn promote_loses_no_acknowledged_write_and_fences_the_old_master() {
    let mut master = MariaDb::start();
    master.sql(
        "SET GLOBAL rpl_semi_sync_master_enabled = ON;
         SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC';
         SET GLOBAL rpl_semi_sync_master_timeout = 10000",
    );
    let (r1, r2) = thread::scope(|s| {
        let a = s.spawn(|| MariaDb::start_replica_of(&master));
        let b = s.spawn(|| MariaDb::start_replica_of(&master));
        (a.join().expect("r1"), b.join().expect("r2"))
    });
    for r in [&r1, &r2] {
        r.sql(
            "SET GLOBAL rpl_semi_sync_slave_enabled = ON; STOP SLAVE IO_THREAD; \
             START SLAVE IO_THREAD; SET GLOBAL read_only = 1",
        );
    }
    assert!(
        wait_for(
            &master,
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
             WHERE VARIABLE_NAME = 'Rpl_semi_sync_master_clients'",
            "2",
            Duration::from_secs(20)
        ),
        "the replicas never became semi-synchronous"
    );
    let cfg = ProxyConfig::new(master.port)
        .group(&format!(
            "replicas = [ {{ addr = \"127.0.0.1:{}\" }}, {{ addr = \"127.0.0.1:{}\" }} ]",
            r1.port, r2.port
        ))
        .group("failover = \"promote\"")
        .tail(
            "[health]\ninterval = \"300ms\"\ntimeout = \"300ms\"\ndown_after = 4\nup_after = 2\n\
             max_replica_lag = \"1h\"",
        );
    let proxy = Proxy::start(&cfg);
    master.sql("CREATE DATABASE fo");
    proxy
        .conn_db("fo")
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY)")
        .expect("create table through shardgate");

    // Writes for a second, then the master dies under them.
    let started = Instant::now();
    let (attempts, killed) = thread::scope(|s| {
        let w = s.spawn(|| writer(&proxy, started + Duration::from_secs(20), 100));
        thread::sleep(Duration::from_secs(1));
        master.kill();
        let killed = Instant::now();
        (w.join().expect("writer"), killed)
    });
    let acked: Vec<u32> = attempts.iter().filter(|a| a.ok).map(|a| a.id).collect();
    let before = attempts.iter().filter(|a| a.ok && a.at < killed).count();
    let first_failure = attempts.iter().find(|a| !a.ok).map(|a| a.id);
    let recovered = attempts
        .iter()
        .find(|a| a.ok && a.at > killed && first_failure.is_some_and(|f| a.id > f));
    assert!(before > 0, "no write succeeded before the kill");
    assert!(
        first_failure.is_some(),
        "no write failed: the kill proves nothing"
    );
    let recovered = recovered.unwrap_or_else(|| {
        panic!(
            "writes never succeeded again after the kill ({} attempts)\n{}",
            attempts.len(),
            proxy.log()
        )
    });
    let outage = recovered.at - killed;
    assert!(
        outage < Duration::from_secs(10),
        "writes failed for {outage:?} after the kill"
    );
    assert!(
        proxy.log().contains("is the master now"),
        "no promotion logged:\n{}",
        proxy.log()
    );

    // The new master, as shardgate routes writes.
    let port: u16 = proxy
        .conn_db("fo")
        .query_first("/*+ shardgate: master */ SELECT @@port")
        .expect("read the master's port")
        .expect("a row");
    let (new_master, other) = if port == r1.port {
        (&r1, &r2)
    } else {
        assert_eq!(port, r2.port, "writes go to neither replica");
        (&r2, &r1)
    };
    assert_eq!(new_master.sql("SELECT @@read_only").trim(), "0");
    assert!(
        new_master.slave_status().is_empty(),
        "the new master still replicates"
    );

    // Every acknowledged write is there.
    let rows = new_master.sql("SELECT id FROM fo.t");
    let present: std::collections::HashSet<u32> =
        rows.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let lost: Vec<u32> = acked
        .iter()
        .copied()
        .filter(|id| !present.contains(id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost (of {}): {lost:?}",
        lost.len(),
        acked.len()
    );

    // The other replica follows the new master.
    other.sync_with(new_master);
    assert_eq!(
        other.sql("SELECT COUNT(*) FROM fo.t").trim(),
        new_master.sql("SELECT COUNT(*) FROM fo.t").trim()
    );

    // The old master comes back: fenced, and not routed to.
    master.restart();
    assert!(
        wait_for(&master, "SELECT @@read_only", "1", Duration::from_secs(10)),
        "the old master was not fenced:\n{}",
        proxy.log()
    );
    assert!(proxy.log().contains("fenced old master"));
    let mut c = proxy.conn_db("fo");
    c.query_drop("INSERT INTO t VALUES (1000000)")
        .expect("write after the fence");
    assert_eq!(
        new_master
            .sql("SELECT COUNT(*) FROM fo.t WHERE id = 1000000")
            .trim(),
        "1"
    );
}

/// An operator's `SET NODE ... DOWN` on the master is maintenance: no
/// promotion, even when the master really dies meanwhile; back to `AUTO`
/// with the master dead, the probes' verdict promotes.
#[test]
fn an_operator_down_master_is_not_promoted_away() {
    let mut master = MariaDb::start();
    let replica = MariaDb::start_replica_of(&master);
    let admin_port = crate::support::free_port();
    let cfg = ProxyConfig::new(master.port)
        .server(&format!("admin_listen = \"127.0.0.1:{admin_port}\""))
        .group(&format!(
            "replicas = [ {{ addr = \"127.0.0.1:{}\" }} ]",
            replica.port
        ))
        .group("failover = \"promote\"")
        .tail(
            "[health]\ninterval = \"300ms\"\ntimeout = \"300ms\"\ndown_after = 4\nup_after = 2\n\
             max_replica_lag = \"1h\"\n\n[admin]\nuser = \"admin\"\npassword = \"admin-secret\"",
        );
    let proxy = Proxy::start(&cfg);
    master.sql("CREATE DATABASE fo; CREATE TABLE fo.t (id INT PRIMARY KEY)");
    replica.sync_with(&master);
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(admin_port)
        .user(Some("admin"))
        .pass(Some("admin-secret"))
        .prefer_socket(false);
    let mut admin = Conn::new(Opts::from(opts)).expect("admin login");
    admin
        .query_drop(format!("SET NODE '127.0.0.1:{}' DOWN", master.port))
        .expect("SET NODE DOWN");
    master.kill();
    // Well past down_after x interval and a few failover ticks.
    thread::sleep(Duration::from_millis(2000));
    let mut c = proxy.conn_db("fo");
    c.query_drop("INSERT INTO t VALUES (1)")
        .expect_err("a write with the master held DOWN");
    assert!(
        !proxy.log().contains("promoting"),
        "promoted away from an operator-DOWN master:\n{}",
        proxy.log()
    );
    assert_eq!(replica.sql("SELECT @@read_only").trim(), "0");
    assert!(!replica.slave_status().is_empty(), "the replica was reset");

    admin
        .query_drop(format!("SET NODE '127.0.0.1:{}' AUTO", master.port))
        .expect("SET NODE AUTO");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut done = false;
    while Instant::now() < deadline && !done {
        done = Conn::new(Opts::from(proxy.opts().db_name(Some("fo"))))
            .and_then(|mut c| c.query_drop("INSERT INTO t VALUES (2)"))
            .is_ok();
        thread::sleep(Duration::from_millis(50));
    }
    assert!(done, "no promotion after SET NODE AUTO:\n{}", proxy.log());
    assert_eq!(
        replica.sql("SELECT COUNT(*) FROM fo.t WHERE id = 2").trim(),
        "1"
    );
}

/// Probes that fail while the master is alive (here: the master frozen
/// with SIGSTOP long enough for its probes to time out, and thawed while
/// the failover's confirmation connect waits for its greeting) take it
/// down, but the last confirmation connect finds it answering: no replica
/// is promoted, nothing is reset.
#[test]
fn a_master_that_only_fails_its_probes_is_not_replaced() {
    let master = MariaDb::start();
    let replica = MariaDb::start_replica_of(&master);
    let cfg = ProxyConfig::new(master.port)
        .group(&format!(
            "replicas = [ {{ addr = \"127.0.0.1:{}\" }} ]",
            replica.port
        ))
        .group("failover = \"promote\"")
        .tail("[health]\ninterval = \"300ms\"\ntimeout = \"250ms\"\ndown_after = 2\nup_after = 2");
    let proxy = Proxy::start(&cfg);
    master.pause();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !proxy.log().contains("is DOWN after") && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    // The failover thread looks every 300 ms; its confirmation connect
    // (backend.connect_timeout, 2 s) then waits for the frozen master. If
    // it looks after the thaw, the master is still DOWN (two good probes
    // 300 ms apart bring it UP) and answers at once.
    thread::sleep(Duration::from_millis(450));
    master.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy.log().contains("answered a confirmation connect") && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    let log = proxy.log();
    assert!(
        log.contains("answered a confirmation connect"),
        "no promotion was attempted and refused:\n{log}"
    );
    assert!(
        !log.contains("is the master now"),
        "a live master was replaced:\n{log}"
    );
    assert!(
        !replica.slave_status().is_empty(),
        "the replica's replication was reset"
    );
}
