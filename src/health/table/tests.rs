//! Unit tests of `table`.

use super::*;

const LAG5: Duration = Duration::from_secs(5);

fn topo(extra_health: &str, groups: &str) -> Topology {
    let text = format!(
        r#"
[server]
default_group = "g0"

[[user]]
name = "app"
password = "app-secret"

[backend]
user = "shardgate"
password = "backend-secret"

[health]
interval = "1s"
timeout = "500ms"
down_after = 3
up_after = 2
max_replica_lag = "5s"
{extra_health}

{groups}
"#
    );
    crate::config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn two_groups() -> Topology {
    topo(
        "",
        r#"
[[group]]
name = "g0"
master = "127.0.0.1:3310"
replicas = [ { addr = "127.0.0.1:3311" }, { addr = "db2.example:3312" } ]

[[group]]
name = "g1"
master = "127.0.0.1:3320"
"#,
    )
}

fn ok() -> ProbeOutcome {
    ProbeOutcome::Ok { replication: None }
}

fn fail() -> ProbeOutcome {
    ProbeOutcome::Failed("connect refused".into())
}

fn repl(lag_s: Option<u64>) -> ProbeOutcome {
    ProbeOutcome::Ok {
        replication: Some(Replication::from_status(
            "Yes",
            "Yes",
            lag_s.map(Duration::from_secs),
            "",
        )),
    }
}

const M: &str = "127.0.0.1:3310";
const R: &str = "127.0.0.1:3311";

#[test]
fn fresh_nodes_count_as_up_and_first_success_is_up() {
    let t = HealthTable::new(&two_groups());
    assert_eq!(t.entries().len(), 4);
    let e = t.entry(M).unwrap();
    assert_eq!(e.probe_state(), ProbeState::Unknown);
    assert_eq!(t.effective(M), NodeState::Up);
    assert!(t.writable(M));
    assert!(t.readable(M, LAG5), "a master reads when up");
    assert!(!t.readable(R, LAG5), "a replica reads only once probed");
    assert_eq!(e.why(LAG5), "not probed yet");
    let r = t.record(&e, ok());
    assert_eq!(r.probe_change, Some((ProbeState::Unknown, ProbeState::Up)));
    assert_eq!(r.effective_change, None, "Unknown already counted as up");
    assert!(r.first);
    assert_eq!(e.why(LAG5), "ok");
    assert!(!t.record(&e, ok()).first);
    assert_eq!(t.epoch(), 0);
}

#[test]
fn down_after_and_up_after_thresholds() {
    let t = HealthTable::new(&two_groups());
    let e = t.entry(M).unwrap();
    t.record(&e, ok());
    let epoch = e.state_epoch();
    for i in 1..3 {
        let r = t.record(&e, fail());
        assert_eq!(r.probe_change, None, "failure {i} of 3");
        assert_eq!(t.effective(M), NodeState::Up);
        assert_eq!(e.consecutive_fail(), i);
    }
    assert!(e.why(LAG5).starts_with("probe failing (2 in a row)"));
    let r = t.record(&e, fail());
    assert_eq!(r.probe_change, Some((ProbeState::Up, ProbeState::Down)));
    assert_eq!(r.effective_change, Some(NodeState::Down));
    assert_eq!(t.effective(M), NodeState::Down);
    assert!(!t.writable(M) && !t.readable(M, LAG5));
    assert_eq!(e.state_epoch(), epoch + 1);
    assert_eq!(t.epoch(), 1);
    assert_eq!(e.why(LAG5), "probe: connect refused");
    // More failures change nothing.
    assert_eq!(t.record(&e, fail()).probe_change, None);
    assert_eq!(e.state_epoch(), epoch + 1);
    // One success is not enough (up_after = 2); a failure resets it.
    assert_eq!(t.record(&e, ok()).probe_change, None);
    assert!(e.why(LAG5).contains("1 good probes since"));
    t.record(&e, fail());
    assert_eq!(t.record(&e, ok()).probe_change, None);
    let r = t.record(&e, ok());
    assert_eq!(r.probe_change, Some((ProbeState::Down, ProbeState::Up)));
    assert_eq!(r.effective_change, Some(NodeState::Up));
    assert_eq!(e.state_epoch(), epoch + 2);
    assert_eq!(e.last_error(), "connect refused", "kept after recovery");
    assert!(e.last_probe().is_some());
}

#[test]
fn unknown_node_goes_down_after_down_after_failures() {
    let t = HealthTable::new(&two_groups());
    let e = t.entry(M).unwrap();
    t.record(&e, fail());
    t.record(&e, fail());
    assert_eq!(e.probe_state(), ProbeState::Unknown);
    assert_eq!(t.effective(M), NodeState::Up);
    let r = t.record(&e, fail());
    assert_eq!(
        r.probe_change,
        Some((ProbeState::Unknown, ProbeState::Down))
    );
    assert_eq!(t.effective(M), NodeState::Down);
}

#[test]
fn operator_wins_over_probes() {
    let t = HealthTable::new(&two_groups());
    let e = t.entry(M).unwrap();
    t.record(&e, ok());
    t.set_operator(M, Override::Down).unwrap();
    assert_eq!(t.effective(M), NodeState::Down);
    assert_eq!(e.state_epoch(), 1);
    assert_eq!(e.why(LAG5), "operator");
    // Probes keep running and are recorded, but do not decide.
    t.record(&e, ok());
    assert_eq!(t.effective(M), NodeState::Down);
    assert_eq!(
        t.operator_overrides(),
        vec![(M.to_string(), Override::Down)]
    );
    t.set_operator(M, Override::Auto).unwrap();
    assert_eq!(t.effective(M), NodeState::Up);
    assert_eq!(e.state_epoch(), 2);
    assert!(t.operator_overrides().is_empty());
    // UP wins over a down probe state.
    for _ in 0..3 {
        t.record(&e, fail());
    }
    assert_eq!(t.effective(M), NodeState::Down);
    t.set_operator(M, Override::Up).unwrap();
    assert_eq!(t.effective(M), NodeState::Up);
    assert_eq!(e.probe_state(), ProbeState::Down);
    assert_eq!(e.why(LAG5), "operator");
    // Probe transitions under an override do not move the epoch.
    let epoch = e.state_epoch();
    t.record(&e, ok());
    t.record(&e, ok());
    assert_eq!(e.probe_state(), ProbeState::Up);
    assert_eq!(e.state_epoch(), epoch);
    // Same state again: no epoch change.
    t.set_operator(M, Override::Up).unwrap();
    assert_eq!(e.state_epoch(), epoch);
    assert_eq!(
        t.set_operator("127.0.0.1:9999", Override::Down),
        Err(UnknownNode("127.0.0.1:9999".into()))
    );
}

#[test]
fn operator_accepts_other_spellings() {
    let t = HealthTable::new(&two_groups());
    t.set_operator("DB2.example:3312", Override::Down).unwrap();
    assert_eq!(t.effective("db2.example:3312"), NodeState::Down);
    t.set_operator(" 127.0.0.1:3320 ", Override::Down).unwrap();
    assert_eq!(t.effective("127.0.0.1:3320"), NodeState::Down);
}

#[test]
fn override_words() {
    assert_eq!("down".parse::<Override>(), Ok(Override::Down));
    assert_eq!(" Up ".parse::<Override>(), Ok(Override::Up));
    assert_eq!("AUTO".parse::<Override>(), Ok(Override::Auto));
    assert!("maintenance".parse::<Override>().is_err());
    for o in [Override::Auto, Override::Up, Override::Down] {
        assert_eq!(o.as_str().parse::<Override>(), Ok(o));
    }
}

#[test]
fn restore_operator_at_start() {
    let t = HealthTable::new(&two_groups());
    let unknown = t.restore_operator([
        (M, Override::Down),
        ("127.0.0.1:4000", Override::Down),
        (R, Override::Up),
    ]);
    assert_eq!(unknown, vec!["127.0.0.1:4000".to_string()]);
    assert_eq!(t.effective(M), NodeState::Down);
    assert_eq!(t.entry(R).unwrap().operator(), Override::Up);
    let saved: Vec<(String, Override)> = t.operator_overrides();
    assert_eq!(
        saved,
        vec![
            (M.to_string(), Override::Down),
            (R.to_string(), Override::Up)
        ]
    );
}

#[test]
fn readable_needs_running_replication_and_small_lag() {
    let t = HealthTable::new(&two_groups());
    let e = t.entry(R).unwrap();
    assert_eq!(e.role(), Role::Replica);
    t.record(&e, repl(Some(0)));
    assert!(t.readable(R, LAG5));
    assert_eq!(e.lag(), Some(Duration::ZERO));
    assert!(e.replication_running() && e.is_replica());
    assert_eq!(e.why(LAG5), "ok");
    // Lag over the limit.
    let r = t.record(&e, repl(Some(12)));
    assert!(r.readable_before && !r.readable_after);
    assert!(!t.readable(R, LAG5));
    assert!(t.readable(R, Duration::from_secs(12)));
    assert_eq!(e.why(LAG5), "lag 12s > 5s");
    assert_eq!(t.effective(R), NodeState::Up, "lag does not make it down");
    // NULL lag: not running.
    t.record(&e, repl(None));
    assert!(!t.readable(R, Duration::from_secs(3600)));
    assert!(e.why(LAG5).contains("replication"), "{}", e.why(LAG5));
    // SQL thread stopped.
    t.record(
        &e,
        ProbeOutcome::Ok {
            replication: Some(Replication::from_status(
                "Yes",
                "No",
                None,
                "Error 'x' on query",
            )),
        },
    );
    assert!(!t.readable(R, LAG5));
    let why = e.why(LAG5);
    assert!(why.starts_with("replication stopped"), "{why}");
    assert!(
        why.contains("Slave_SQL_Running=No") && why.contains("Error 'x'"),
        "{why}"
    );
    // Not a replica at all.
    t.record(
        &e,
        ProbeOutcome::Ok {
            replication: Some(Replication::not_a_replica()),
        },
    );
    assert!(!t.readable(R, LAG5));
    assert!(!e.is_replica());
    assert!(e.why(LAG5).contains("SHOW SLAVE STATUS is empty"));
    // Back.
    t.record(&e, repl(Some(1)));
    assert!(t.readable(R, LAG5));
    // Operator DOWN: not readable; operator UP does not lift the
    // replication gate.
    t.set_operator(R, Override::Down).unwrap();
    assert!(!t.readable(R, LAG5));
    t.set_operator(R, Override::Up).unwrap();
    t.record(&e, repl(None));
    assert!(!t.readable(R, LAG5));
    assert!(
        e.why(LAG5).starts_with("operator; replication"),
        "{}",
        e.why(LAG5)
    );
}

#[test]
fn going_down_forgets_replication() {
    let t = HealthTable::new(&two_groups());
    let e = t.entry(R).unwrap();
    t.record(&e, repl(Some(0)));
    // A single failure keeps the last facts (still up).
    t.record(&e, fail());
    assert!(t.readable(R, LAG5));
    t.record(&e, fail());
    t.record(&e, fail());
    assert_eq!(t.effective(R), NodeState::Down);
    assert_eq!(e.lag(), None);
    // Operator UP: live, but replication unknown until probed again.
    t.set_operator(R, Override::Up).unwrap();
    assert!(!t.readable(R, LAG5));
    t.record(&e, repl(Some(0)));
    assert!(t.readable(R, LAG5));
}

#[test]
fn sync_nodes_keeps_state_of_remaining_nodes() {
    let t = HealthTable::new(&two_groups());
    let m = t.entry(M).unwrap();
    let id = m.id();
    for _ in 0..3 {
        t.record(&m, fail());
    }
    t.set_operator("127.0.0.1:3320", Override::Down).unwrap();
    let r = t.entry(R).unwrap();
    t.record(&r, repl(Some(0)));
    // Reload: g1 gone, 3311 becomes g0's master (manual failover),
    // db2 respelled, a new replica, new thresholds.
    let next = topo(
        "",
        r#"
[[group]]
name = "g0"
master = "127.0.0.1:3311"
replicas = [ { addr = "127.0.0.1:3310" }, { addr = "DB2.EXAMPLE:3312" }, { addr = "127.0.0.1:3313" } ]
"#,
    );
    t.sync_nodes(&next);
    let reports = t.snapshot();
    let addrs: Vec<&str> = reports.iter().map(|r| r.addr.as_str()).collect();
    assert_eq!(
        addrs,
        [
            "127.0.0.1:3311",
            "127.0.0.1:3310",
            "DB2.EXAMPLE:3312",
            "127.0.0.1:3313"
        ]
    );
    let m2 = t.entry(M).unwrap();
    assert!(Arc::ptr_eq(&m, &m2), "same entry kept");
    assert_eq!(m2.id(), id);
    assert_eq!(m2.role(), Role::Replica);
    assert_eq!(t.effective(M), NodeState::Down, "state kept");
    assert!(t.entry("127.0.0.1:3320").is_none(), "removed");
    assert_eq!(t.effective("127.0.0.1:3320"), NodeState::Up, "unknown = up");
    assert!(!t.readable("127.0.0.1:3320", LAG5));
    assert!(t.entry("db2.example:3312").is_none(), "new spelling only");
    assert!(t.entry("DB2.EXAMPLE:3312").is_some());
    let new = t.entry("127.0.0.1:3313").unwrap();
    assert_eq!(new.probe_state(), ProbeState::Unknown);
    assert!(new.id() > id);
    let r2 = t.entry(R).unwrap();
    assert!(Arc::ptr_eq(&r, &r2));
    assert_eq!(r2.role(), Role::Master);
    assert_eq!(r2.lag(), None, "role change forgets replication");
    assert_eq!(reports[0].group, "g0");
    assert_eq!(reports[0].role, Role::Master);
    // Idempotent.
    t.sync_nodes(&next);
    assert_eq!(t.entries().len(), 4);
    assert!(Arc::ptr_eq(&m, &t.entry(M).unwrap()));
}

#[test]
fn sync_nodes_takes_new_thresholds() {
    let t = HealthTable::new(&two_groups());
    let e = t.entry(M).unwrap();
    t.record(&e, fail());
    t.sync_nodes(&topo(
        "",
        r#"
[[group]]
name = "g0"
master = "127.0.0.1:3310"
"#,
    ));
    assert_eq!(t.max_replica_lag(), LAG5);
    let mut strict = topo(
        "",
        r#"
[[group]]
name = "g0"
master = "127.0.0.1:3310"
"#,
    );
    strict.health.down_after = 2;
    strict.health.max_replica_lag = Duration::from_millis(1500);
    t.sync_nodes(&strict);
    assert_eq!(
        t.record(&e, fail()).probe_change,
        Some((ProbeState::Unknown, ProbeState::Down))
    );
    assert_eq!(t.max_replica_lag(), Duration::from_millis(1500));
}

#[test]
fn snapshot_reports_every_field() {
    let t = HealthTable::new(&two_groups());
    let r = t.entry(R).unwrap();
    t.record(&r, repl(Some(7)));
    let rep = t.snapshot().into_iter().find(|n| n.addr == R).unwrap();
    assert_eq!(rep.group, "g0");
    assert_eq!(rep.role, Role::Replica);
    assert_eq!(rep.state, NodeState::Up);
    assert_eq!(rep.probe, ProbeState::Up);
    assert_eq!(rep.operator, Override::Auto);
    assert!(!rep.readable);
    assert_eq!(rep.why, "lag 7s > 5s");
    assert_eq!(rep.lag, Some(Duration::from_secs(7)));
    assert!(rep.replication_running && rep.is_replica);
    assert_eq!((rep.consecutive_ok, rep.consecutive_fail), (1, 0));
    assert!(rep.last_probe.is_some());
    assert_eq!(rep.last_error, "");
    assert_eq!(fmt_ms(1500), "1500ms");
}

#[test]
fn readers_see_writers_from_other_threads() {
    let t = Arc::new(HealthTable::new(&two_groups()));
    let e = t.entry(M).unwrap();
    let writer = {
        let t = Arc::clone(&t);
        let e = Arc::clone(&e);
        std::thread::spawn(move || {
            for i in 0..3000 {
                t.record(&e, if i % 7 < 3 { fail() } else { ok() });
            }
        })
    };
    let mut seen = 0u64;
    while !writer.is_finished() {
        let s = e.state_epoch();
        assert!(s >= seen, "epoch never goes back");
        seen = s;
        let _ = t.readable(M, LAG5);
    }
    writer.join().unwrap();
    // Every effective change bumped both epochs once.
    assert_eq!(t.epoch(), e.state_epoch());
}
