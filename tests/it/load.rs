//! Load: 2,000 client connections held open at once, a 1 GiB result set
//! streamed to a slow client with bounded proxy memory, and sysbench
//! `oltp_read_write` with and without prepared statements. Every loop is
//! bounded in count and time.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, Value};

use crate::common::{run_bounded, shared_db, text};
use crate::proxy::{rss_kib, Proxy, ProxyConfig, APP_PASSWORD, APP_USER};
use crate::support::MariaDb;

/// Raises this process's RLIMIT_NOFILE soft limit to at least `want` (up to
/// the hard limit); children (shardgate) inherit it. Returns the new limit.
fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    lim.rlim_cur
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn load_2000_concurrent_connections() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 500;
    let limit = raise_nofile(16_384);
    assert!(
        limit >= 2 * (THREADS * PER_THREAD) as u64 + 200,
        "RLIMIT_NOFILE hard limit too low: {limit}"
    );
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let started = Instant::now();
    let all_open = Arc::new(Barrier::new(THREADS + 1));
    let all_done = Arc::new(Barrier::new(THREADS + 1));
    let ok = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..THREADS {
        let opts = p.opts().max_allowed_packet(Some(16 << 20));
        let (all_open, all_done, ok) = (all_open.clone(), all_done.clone(), ok.clone());
        handles.push(thread::spawn(move || {
            let mut conns = Vec::with_capacity(PER_THREAD);
            let mut failure = None;
            for _ in 0..PER_THREAD {
                match Conn::new(Opts::from(opts.clone())) {
                    Ok(c) => conns.push(c),
                    Err(e) => {
                        failure = Some(format!("connect #{}: {e}", conns.len()));
                        break;
                    }
                }
            }
            all_open.wait();
            for (i, c) in conns.iter_mut().enumerate() {
                let n = (t * PER_THREAD + i) as i64;
                match c.query_first::<i64, _>(format!("SELECT {n}")) {
                    Ok(Some(v)) if v == n => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        failure.get_or_insert(format!("query on #{i}: {other:?}"));
                    }
                }
            }
            all_done.wait();
            drop(conns);
            failure
        }));
    }
    all_open.wait();
    let open_at_peak = open_fds(p.pid());
    all_done.wait();
    let failures: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().expect("client thread"))
        .collect();
    assert!(failures.is_empty(), "failures: {failures:?}\n{}", p.log());
    assert_eq!(ok.load(Ordering::Relaxed), (THREADS * PER_THREAD) as u64);
    assert!(
        open_at_peak >= THREADS * PER_THREAD,
        "shardgate had only {open_at_peak} fds open with all clients connected"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    // Still serving afterwards.
    p.conn().query_drop("SELECT 1").unwrap();
}

#[test]
fn load_1gib_result_to_a_slow_client_bounded_memory() {
    const ROWS: usize = 1_000_000;
    const WIDTH: usize = 1000;
    let db = shared_db();
    db.sql("CREATE DATABASE IF NOT EXISTS load_seq");
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let started = Instant::now();
    let mut c = p.conn_db("load_seq");
    // Warm up the session and the pools before taking the baseline.
    let warm: Option<i64> = c.query_first("SELECT COUNT(*) FROM seq_1_to_1000").unwrap();
    assert_eq!(warm, Some(1000));
    thread::sleep(Duration::from_millis(200));
    let baseline = p.rss_kib();
    assert!(baseline > 0, "cannot read VmRSS of shardgate");
    let peak = Arc::new(AtomicU64::new(baseline));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop, pid) = (peak.clone(), stop.clone(), p.pid());
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(150);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let sql = format!("SELECT REPEAT('x', {WIDTH}) FROM seq_1_to_{ROWS}");
    let mut count = 0usize;
    let mut bad = 0usize;
    {
        let mut res = c.query_iter(&sql).expect("1 GiB query");
        // Let the backend run ahead while the client reads nothing.
        thread::sleep(Duration::from_secs(2));
        let set = res.iter().expect("a result set");
        for row in set {
            let row = row.expect("row");
            match row.as_ref(0) {
                Some(Value::Bytes(b))
                    if b.len() == WIDTH && b[0] == b'x' && b[WIDTH - 1] == b'x' => {}
                _ => bad += 1,
            }
            count += 1;
            if count.is_multiple_of(5000) {
                thread::sleep(Duration::from_millis(25));
            }
            assert!(
                started.elapsed() < Duration::from_secs(110),
                "still reading after {:?} ({count} rows)",
                started.elapsed()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(count, ROWS, "rows lost");
    assert_eq!(bad, 0, "rows with a wrong value");
    let growth_mib = (peak.load(Ordering::Relaxed).saturating_sub(baseline)) / 1024;
    assert!(
        growth_mib < 64,
        "shardgate RSS grew by {growth_mib} MiB (baseline {} MiB) streaming 1 GiB",
        baseline / 1024
    );
    // The session is usable afterwards.
    let v: Option<i64> = c.query_first("SELECT 9").unwrap();
    assert_eq!(v, Some(9));
    eprintln!(
        "1 GiB streamed in {:?}; RSS baseline {} MiB, growth {growth_mib} MiB",
        started.elapsed(),
        baseline / 1024
    );
}

/// One sysbench run; returns its stdout (panics on a failed run).
fn sysbench(port: u16, args: &[&str], timeout: Duration) -> String {
    let mut cmd = Command::new("/usr/bin/sysbench");
    cmd.arg("oltp_read_write")
        .args([
            "--db-driver=mysql",
            "--mysql-host=127.0.0.1",
            &format!("--mysql-port={port}"),
            &format!("--mysql-user={APP_USER}"),
            &format!("--mysql-password={APP_PASSWORD}"),
            "--mysql-db=sbtest",
            "--tables=4",
            "--table-size=10000",
        ])
        .args(args);
    let out = run_bounded(&mut cmd, timeout);
    let so = text(&out.stdout);
    let se = text(&out.stderr);
    assert!(
        out.status.success(),
        "sysbench {args:?} failed ({}):\n{so}\n{se}",
        out.status
    );
    assert!(
        !so.contains("FATAL") && !se.contains("FATAL"),
        "sysbench {args:?}:\n{so}\n{se}"
    );
    so
}

/// The first number after `label` on its line.
fn stat(out: &str, label: &str) -> Option<f64> {
    out.lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.trim_start()[label.len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn load_sysbench_oltp_read_write_zero_errors() {
    let db = MariaDb::start();
    db.sql("CREATE DATABASE sbtest");
    let p = Proxy::start(&ProxyConfig::new(db.port));
    sysbench(
        p.port,
        &["prepare", "--threads=4"],
        Duration::from_secs(180),
    );
    assert_eq!(
        db.sql("SELECT COUNT(*) FROM sbtest.sbtest4").trim(),
        "10000",
        "prepare through shardgate loaded every row"
    );
    for mode in ["auto", "disable"] {
        let out = sysbench(
            p.port,
            &[
                "run",
                "--time=30",
                "--threads=8",
                &format!("--db-ps-mode={mode}"),
                // Only deadlocks and lock waits may be retried; any other
                // error counts in "errors" and fails the test.
                "--mysql-ignore-errors=1213,1020,1205",
            ],
            Duration::from_secs(120),
        );
        let tx =
            stat(&out, "transactions:").unwrap_or_else(|| panic!("no transactions line:\n{out}"));
        let ignored = stat(&out, "ignored errors:")
            .unwrap_or_else(|| panic!("no ignored errors line:\n{out}"));
        let errors = stat(&out, "errors:").unwrap_or(0.0);
        let reconnects = stat(&out, "reconnects:").unwrap_or(0.0);
        eprintln!("sysbench ps-mode={mode}: {tx} transactions, {ignored} ignored errors");
        assert!(tx > 0.0, "ps-mode={mode}: no transactions:\n{out}");
        assert_eq!(errors, 0.0, "ps-mode={mode}: errors:\n{out}");
        // Deadlocks (1213) happen under this load against plain MariaDB too;
        // sysbench retries them. They must stay rare.
        assert!(
            ignored <= (tx / 1000.0).max(1.0),
            "ps-mode={mode}: too many deadlocks / lock waits:\n{out}"
        );
        assert_eq!(reconnects, 0.0, "ps-mode={mode}: reconnects:\n{out}");
    }
    assert!(!p.log().contains("bad packet"), "{}", p.log());
}
