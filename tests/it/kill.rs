//! `KILL QUERY n` / `KILL n` where n is shardgate's connection id (the one
//! in its greeting), and the `mariadb` CLI's Ctrl-C, which sends KILL QUERY
//! on a new connection.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::Conn;

use crate::common::{server_err, shared_db, text};
use crate::proxy::{Proxy, ProxyConfig, APP_PASSWORD, APP_USER};

/// Runs `sql` on `c` in a thread; the result (error code or value) and the
/// time it took arrive on the channel.
fn run_async(
    mut c: Conn,
    sql: &'static str,
) -> mpsc::Receiver<(Result<Option<i64>, mysql::Error>, Duration, Conn)> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let t = Instant::now();
        let r = c.query_first::<i64, _>(sql);
        let _ = tx.send((r, t.elapsed(), c));
    });
    rx
}

#[test]
fn kill_query_interrupts_the_statement_only() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let a = p.conn();
    let id = a.connection_id();
    let mut b = p.conn();
    let rx = run_async(a, "SELECT SLEEP(30)");
    thread::sleep(Duration::from_millis(700));
    b.query_drop(format!("KILL QUERY {id}"))
        .expect("KILL QUERY of a shardgate connection id");
    let (r, took, mut a) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the killed statement did not return within 10 s");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let e = r.expect_err("SLEEP(30) should be interrupted");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert_eq!(code, 1317, "{msg}");
    // The session itself survives KILL QUERY.
    let v: Option<i64> = a
        .query_first("SELECT 5")
        .expect("session alive after KILL QUERY");
    assert_eq!(v, Some(5));
    // B is fine too.
    b.query_drop("SELECT 1").unwrap();
    // Killing an unknown id: ERR 1094 (Unknown thread id).
    let e = b.query_drop("KILL QUERY 987654").expect_err("unknown id");
    assert_eq!(server_err(&e).map(|x| x.0), Some(1094), "{e:?}");
}

/// Two statements in flight at once: at least one of them runs on a backend
/// connection opened for it (the pool held one idle connection).
#[test]
fn kill_query_of_concurrent_statements_on_fresh_backends() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let a1 = p.conn();
    let a2 = p.conn();
    let a3 = p.conn();
    let ids = [a1.connection_id(), a2.connection_id(), a3.connection_id()];
    let mut b = p.conn();
    let rxs = [
        run_async(a1, "SELECT SLEEP(30)"),
        run_async(a2, "SELECT SLEEP(30)"),
        run_async(a3, "SELECT SLEEP(30)"),
    ];
    thread::sleep(Duration::from_millis(1000));
    for id in ids {
        b.query_drop(format!("KILL QUERY {id}"))
            .unwrap_or_else(|e| panic!("KILL QUERY {id}: {e}\n{}", p.log()));
    }
    for (i, rx) in rxs.iter().enumerate() {
        let (r, took, _) = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("statement {i} not interrupted within 10 s"));
        assert!(took < Duration::from_secs(8), "statement {i} took {took:?}");
        let e = r.expect_err("SLEEP(30) should be interrupted");
        assert_eq!(
            server_err(&e).map(|x| x.0),
            Some(1317),
            "statement {i}: {e:?}"
        );
    }
}

#[test]
fn kill_connection_closes_the_session() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let a = p.conn();
    let id = a.connection_id();
    let mut b = p.conn();
    let rx = run_async(a, "SELECT SLEEP(30)");
    thread::sleep(Duration::from_millis(700));
    b.query_drop(format!("KILL {id}"))
        .expect("KILL of a shardgate connection id");
    let (r, took, mut a) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the killed session did not return within 10 s");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(r.is_err(), "KILL must interrupt the statement: {r:?}");
    // The connection is closed: the next statement fails.
    let next = a.query_first::<i64, _>("SELECT 1");
    assert!(next.is_err(), "session still usable after KILL: {next:?}");
    b.query_drop("SELECT 1")
        .expect("the killer's session is fine");
    // An idle session can be killed too.
    let mut idle = p.conn();
    let id = idle.connection_id();
    b.query_drop(format!("KILL CONNECTION {id}")).unwrap();
    thread::sleep(Duration::from_millis(300));
    assert!(
        idle.query_drop("SELECT 1").is_err(),
        "idle session survived KILL"
    );
    // The proxy still serves new sessions.
    p.conn().query_drop("SELECT 1").unwrap();
}

/// Ctrl-C in the CLI: it opens a second connection and sends KILL QUERY
/// with the id from the first connection's greeting.
#[test]
fn kill_cli_ctrl_c_cancels_the_running_statement() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut child = std::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "--protocol=TCP",
            "-h127.0.0.1",
            &format!("-P{}", p.port),
            &format!("-u{APP_USER}"),
            &format!("--password={APP_PASSWORD}"),
            "-N",
            "-e",
            "SELECT SLEEP(29)",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mariadb");
    thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("CLI still running 10 s after Ctrl-C\n{}", p.log());
        }
        thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "Ctrl-C took {:?}",
        started.elapsed()
    );
    assert!(!status.success(), "the statement was not interrupted");
    assert!(
        err.contains("1317") || err.contains("interrupted") || err.contains("killed"),
        "CLI stderr: {err}"
    );
    // The backend statement is really gone: no SLEEP left in the processlist.
    thread::sleep(Duration::from_millis(300));
    let left = db.sql(
        "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(29)%'",
    );
    assert_eq!(left.trim(), "0", "SLEEP still running on the backend");
}
