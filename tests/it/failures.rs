//! Failures: a backend down at connect time, a backend killed mid-statement,
//! malformed client packets. Only the affected session may suffer; the
//! process and every other session carry on.

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts};

use crate::common::{cli, server_err, shared_db, Raw, Reply, RAW_CAPS};
use crate::proxy::{Proxy, ProxyConfig, APP_PASSWORD, APP_USER};
use crate::support::{free_port, MariaDb};

/// Logs in (if that fails, the login error is the statement error) and runs
/// one statement; returns the error and how long it all took.
fn first_statement_error(p: &Proxy) -> (mysql::Error, Duration) {
    let t = Instant::now();
    let r = Conn::new(Opts::from(p.opts())).and_then(|mut c| c.query_drop("SELECT 1"));
    let e = r.expect_err("a statement with no reachable backend must fail");
    (e, t.elapsed())
}

#[test]
fn failures_backend_refusing_connections_names_the_group() {
    // Nothing listens on this port.
    let dead = free_port();
    let p = Proxy::start(
        &ProxyConfig::with_master(&format!("127.0.0.1:{dead}")).backend("connect_timeout = \"1s\""),
    );
    let (e, took) = first_statement_error(&p);
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert!(
        msg.contains("g0"),
        "ERR {code} does not name the group: {msg}"
    );
    assert_eq!(code, 1429, "{msg}");
    // The proxy stays up and keeps answering (still with the error).
    let (e2, _) = first_statement_error(&p);
    assert!(server_err(&e2).is_some(), "{e2:?}");
    // MariaDB Connector/C (here the `mariadb` CLI) shows the error as sent:
    // a client-library code (2003) would read as "malformed packet" there.
    let out = cli(p.port, APP_USER, APP_PASSWORD, &[], "SELECT 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("ERROR 1429") && err.contains("g0") && !err.contains("malformed"),
        "{err}"
    );
}

#[test]
fn failures_backend_that_never_greets_times_out() {
    // Accepts TCP (the kernel does) but never sends a greeting.
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let p = Proxy::start(
        &ProxyConfig::with_master(&format!("127.0.0.1:{port}")).backend("connect_timeout = \"1s\""),
    );
    let (e, took) = first_statement_error(&p);
    assert!(
        took < Duration::from_secs(6),
        "no error within connect_timeout (1s) + slack: {took:?}"
    );
    let (_, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert!(msg.contains("g0"), "error does not name the group: {msg}");
    drop(l);
}

#[test]
fn failures_backend_killed_mid_statement() {
    let mut db = MariaDb::start();
    let p = Proxy::start(&ProxyConfig::new(db.port).backend("connect_timeout = \"2s\""));
    let mut c = p.conn();
    c.query_drop("SELECT 1").unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let t = Instant::now();
        let r = c.query_first::<i64, _>("SELECT SLEEP(10)");
        let _ = tx.send((r, t.elapsed(), c));
    });
    thread::sleep(Duration::from_millis(1000));
    db.kill();
    let (r, took, mut c) = rx
        .recv_timeout(Duration::from_secs(8))
        .expect("client hangs after its backend died");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let e = r.expect_err("a statement whose backend died must fail");
    if let Some((code, msg)) = server_err(&e) {
        // 1158 (SQLSTATE 08S01) from shardgate, 1927/1053 from a server
        // shutting down; never a client-library code (2000-2999), which
        // MariaDB Connector/C would take for a malformed packet.
        assert!(
            code == 1158 || code == 1927 || code == 1053,
            "unexpected code {code}: {msg}"
        );
    }
    db.restart();
    // The next statement on the same client connection gets a fresh backend.
    let v = c.query_first::<i64, _>("SELECT 11");
    assert!(
        matches!(v, Ok(Some(11))),
        "next statement after the backend came back: {v:?}\nlog:\n{}",
        p.log()
    );
    // And new sessions work.
    let mut d = p.conn();
    d.query_drop("SELECT 1").unwrap();
}

#[test]
fn failures_query_timeout_cancels_a_long_statement_and_the_session_goes_on() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port).backend("query_timeout = \"1s\""));
    let mut c = p.conn();
    let t = Instant::now();
    // (Read as rows: the server ends the result with the ERR, which the
    // driver's query_drop does not report.)
    let e = c
        .query::<Option<i64>, _>("SELECT SLEEP(20)")
        .expect_err("a statement past query_timeout must fail");
    let took = t.elapsed();
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    // KILL QUERY on the backend: the server's own "interrupted" error.
    assert_eq!(code, 1317, "{msg}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "took {took:?}"
    );
    assert!(p.log().contains("backend.query_timeout"), "{}", p.log());
    // Statements under the limit are untouched, on the same session.
    let v: Option<f64> = c.query_first("SELECT SLEEP(0.3) + 7").unwrap();
    assert_eq!(v, Some(7.0));
}

#[test]
fn failures_query_timeout_abandons_a_frozen_backend() {
    let db = MariaDb::start();
    let p = Proxy::start(
        &ProxyConfig::new(db.port)
            .backend("query_timeout = \"1s\"")
            .backend("connect_timeout = \"1s\""),
    );
    let mut c = p.conn();
    c.query_drop("SELECT 1").unwrap();
    // The server stops answering (SIGSTOP): a pooled connection accepts the
    // statement and nothing comes back; neither can a KILL get through.
    db.pause();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let t = Instant::now();
        let r = c.query_first::<i64, _>("SELECT 2");
        let _ = tx.send((r, t.elapsed(), c));
    });
    let got = rx.recv_timeout(Duration::from_secs(15));
    db.resume();
    let (r, took, mut c) = got.expect("the client still hangs on a frozen backend");
    // query_timeout 1 s + connect_timeout 1 s + 1 s grace (+ ticks).
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let e = r.expect_err("a statement on a frozen backend must fail");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert_eq!(code, 1158, "{msg}");
    assert!(msg.contains("query_timeout"), "{msg}");
    // Once the server answers again, the same session works.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c.query_first::<i64, _>("SELECT 3") {
            Ok(v) => {
                assert_eq!(v, Some(3));
                break;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!(
                "no statement works after the server resumed: {e}\n{}",
                p.log()
            ),
        }
    }
}

/// A scatter read with one group's server gone: the client gets the error
/// that names the unreachable group (not a generic "incomplete reply"),
/// and reads that stay on the live group still work.
#[test]
fn failures_scatter_read_with_a_group_down_names_the_group() {
    let g0 = MariaDb::start();
    let mut g1 = MariaDb::start();
    for db in [&g0, &g1] {
        let mut d = crate::common::direct(db);
        d.query_drop("CREATE DATABASE IF NOT EXISTS sg_down")
            .unwrap();
    }
    let extra = format!(
        "[[user]]\nname = \"{APP_USER}\"\npassword = \"{APP_PASSWORD}\"\nschemas = [\"*\"]\n\n\
         [[group]]\nname = \"g1\"\nmaster = \"127.0.0.1:{}\"\n\n\
         [[schema]]\nname = \"sg_down\"\ndefault_group = \"g0\"\n\n\
         [[schema.rule]]\nname = \"h\"\nkind = \"hash\"\ngroups = [\"g0\", \"g1\"]\n\n\
         [[schema.table]]\nname = \"t\"\nkey = \"id\"\nrule = \"h\"\n",
        g1.port
    );
    let p = Proxy::start(
        &ProxyConfig::new(g0.port)
            .users(&extra)
            .backend("connect_timeout = \"1s\""),
    );
    let mut c = p.conn_db("sg_down");
    c.query_drop("CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT)")
        .unwrap();
    c.query_drop("INSERT INTO t VALUES (1, 10), (2, 20), (3, 30), (4, 40)")
        .unwrap();
    g1.kill();
    let e = c
        .query_first::<i64, _>("SELECT COUNT(*) FROM t")
        .expect_err("a scatter read with a group down must fail");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert_eq!(code, 1429, "{msg}");
    assert!(msg.contains("g1"), "the error names the group: {msg}");
    // Once the probes mark it down, the statement fails at once, saying so.
    assert!(
        p.wait_log("is DOWN", Duration::from_secs(15)),
        "g1 never marked down:\n{}",
        p.log()
    );
    let e = c
        .query_first::<i64, _>("SELECT COUNT(*) FROM t")
        .expect_err("a scatter read with a group marked down must fail");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert_eq!(code, 1429, "{msg}");
    assert!(msg.contains("'g1'") && msg.contains("down"), "{msg}");
    // id 2 lives on g0 (2 mod 2 = 0): still readable.
    let v: Option<i64> = c.query_first("SELECT v FROM t WHERE id = 2").unwrap();
    assert_eq!(v, Some(20));
}

/// Sends `bytes` after a valid login, then checks: that client gets closed,
/// a concurrent normal session keeps working, the process is alive.
fn malformed_after_login(p: &mut Proxy, normal: &mut Conn, what: &str, bytes: &[u8], close: bool) {
    let mut r = Raw::login(p.port, APP_USER, APP_PASSWORD, RAW_CAPS);
    r.s.write_all(bytes).unwrap();
    if close {
        let _ = r.s.shutdown(std::net::Shutdown::Both);
    } else {
        assert!(
            r.closed_within(Duration::from_secs(5)),
            "{what}: the offending client was not closed"
        );
    }
    let v: Option<i64> = normal
        .query_first("SELECT 3")
        .unwrap_or_else(|e| panic!("{what}: the concurrent session broke: {e}\n{}", p.log()));
    assert_eq!(v, Some(3));
    let mut fresh = p.conn();
    fresh.query_drop("SELECT 1").unwrap();
    assert!(p.is_alive(), "{what}: shardgate died");
}

#[test]
fn failures_malformed_client_packets_close_only_that_client() {
    let db = shared_db();
    let mut p = Proxy::start(&ProxyConfig::new(db.port));
    let mut normal = p.conn();

    // An out-of-order sequence id on a command (expected 0).
    malformed_after_login(
        &mut p,
        &mut normal,
        "out-of-order sequence id",
        &[
            9, 0, 0, 7, 0x03, b'S', b'E', b'L', b'E', b'C', b'T', b' ', b'1',
        ],
        false,
    );
    // An empty packet (no command byte).
    malformed_after_login(&mut p, &mut normal, "empty packet", &[0, 0, 0, 0], true);
    // A length claiming 16 MiB, then hang-up.
    malformed_after_login(
        &mut p,
        &mut normal,
        "16 MiB header then close",
        &[0xff, 0xff, 0xff, 0x00, 0x03, b'x'],
        true,
    );
    // Garbage bytes.
    let garbage: Vec<u8> = (0..600u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    malformed_after_login(&mut p, &mut normal, "garbage", &garbage, true);
    // Truncated COM_STMT_EXECUTE (statement id cut short).
    malformed_after_login(
        &mut p,
        &mut normal,
        "truncated COM_STMT_EXECUTE",
        &[3, 0, 0, 0, 0x17, 0x01, 0x00],
        true,
    );

    // Garbage instead of a handshake response.
    let (mut r, _) = Raw::connect(p.port);
    r.s.write_all(&[5, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0x00])
        .unwrap();
    assert!(
        r.closed_within(Duration::from_secs(5)),
        "bad handshake response: client not closed"
    );
    // A handshake response with the wrong sequence id.
    let (mut r, _) = Raw::connect(p.port);
    r.write_packet(5, &[0u8; 40]).unwrap();
    assert!(
        r.closed_within(Duration::from_secs(5)),
        "wrong seq in handshake"
    );

    normal.query_drop("SELECT 1").unwrap();
    assert!(p.is_alive(), "shardgate died");
    assert!(
        p.log().contains("bad packet"),
        "no logged reason:\n{}",
        p.log()
    );
}

#[test]
fn failures_unknown_command_is_an_error_not_a_crash() {
    let db = shared_db();
    let mut p = Proxy::start(&ProxyConfig::new(db.port));
    for (port, user, pw) in [
        (p.port, APP_USER, APP_PASSWORD),
        (db.port, "shardgate", "backend-secret"),
    ] {
        let mut r = Raw::login(port, user, pw, RAW_CAPS);
        r.send(&[0xee, 1, 2, 3]);
        let replies = r.read_replies();
        assert!(
            matches!(replies[..], [Reply::Err { code: 1047, .. }]),
            "port {port}: {replies:?}"
        );
        // MariaDB keeps the session; so must shardgate.
        let got = r.query("SELECT 1");
        assert_eq!(got.len(), 1, "port {port}: {got:?}");
    }
    assert!(p.is_alive());
}
