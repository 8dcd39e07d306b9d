//! SIGTERM: stop accepting, let the statement in flight finish, exit within
//! `shutdown_timeout`.

use std::net::{Ipv4Addr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts};

use crate::common::shared_db;
use crate::proxy::{Proxy, ProxyConfig};

#[test]
fn shutdown_sigterm_finishes_in_flight_statement() {
    let db = shared_db();
    let mut p = Proxy::start(&ProxyConfig::new(db.port).server("shutdown_timeout = \"5s\""));
    let mut c = p.conn();
    let mut idle = p.conn();
    idle.query_drop("SELECT 1").unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let t = Instant::now();
        let r = c.query_first::<i64, _>("SELECT SLEEP(2)");
        let _ = tx.send((r, t.elapsed()));
    });
    thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    p.signal(libc::SIGTERM);
    thread::sleep(Duration::from_millis(300));

    // New connections are refused (connect fails, or the session is closed
    // before it can log in).
    let refused = match TcpStream::connect((Ipv4Addr::LOCALHOST, p.port)) {
        Err(_) => true,
        Ok(_) => Conn::new(Opts::from(
            p.opts().tcp_connect_timeout(Some(Duration::from_secs(2))),
        ))
        .and_then(|mut n| n.query_drop("SELECT 1"))
        .is_err(),
    };
    assert!(refused, "a new session was served after SIGTERM");

    let (r, took) = rx
        .recv_timeout(Duration::from_secs(6))
        .expect("the in-flight statement did not return");
    assert_eq!(
        r.expect("the in-flight statement must complete"),
        Some(0),
        "SLEEP(2) result"
    );
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    let status = p.wait_exit(Duration::from_secs(7));
    assert!(
        status.is_some(),
        "shardgate still running {:?} after SIGTERM (shutdown_timeout 5s)\n{}",
        signalled.elapsed(),
        p.log()
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(7),
        "exit took {:?}",
        signalled.elapsed()
    );
    let st = status.unwrap();
    assert!(st.success(), "exit status {st}\n{}", p.log());
    assert!(p.log().contains("shardgate stopped"), "{}", p.log());
}

#[test]
fn shutdown_sigterm_with_idle_sessions_is_prompt() {
    let db = shared_db();
    let mut p = Proxy::start(&ProxyConfig::new(db.port).server("shutdown_timeout = \"5s\""));
    let mut conns: Vec<Conn> = (0..5).map(|_| p.conn()).collect();
    for c in conns.iter_mut() {
        c.query_drop("SELECT 1").unwrap();
    }
    let t = Instant::now();
    p.signal(libc::SIGTERM);
    let st = p.wait_exit(Duration::from_secs(7));
    assert!(st.is_some(), "still running 7 s after SIGTERM\n{}", p.log());
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "exit took {:?} with only idle sessions",
        t.elapsed()
    );
    for c in conns.iter_mut() {
        assert!(
            c.query_drop("SELECT 1").is_err(),
            "session served after exit"
        );
    }
}
