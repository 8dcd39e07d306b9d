//! Connection phase: authentication with both plugins and both client
//! libraries, access denials with MySQL's codes and messages, `allow_from`,
//! per-user schemas, `max_connections`, the handshake timeout and
//! `max_packet_size`.

use std::net::{Ipv4Addr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};
use shardgate_proto::handshake::HandshakeResponse41;

use crate::common::{cli, server_err, shared_db, sniff, split_packets, text, Raw};
use crate::proxy::{Proxy, ProxyConfig, APP_PASSWORD, APP_USER};

fn connect(opts: OptsBuilder) -> Result<Conn, mysql::Error> {
    Conn::new(Opts::from(opts))
}

#[test]
fn login_mysql_crate_native_password() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut c = p.conn();
    let v: Option<(i64, String)> = c.query_first("SELECT 1 + 1, 'shard' 'gate'").unwrap();
    assert_eq!(v, Some((2, "shardgate".to_string())));
    assert_ne!(c.connection_id(), 0, "greeting carries a connection id");
    // Two sessions get different shardgate connection ids.
    let c2 = p.conn();
    assert_ne!(c.connection_id(), c2.connection_id());
}

#[test]
fn login_cli_native_password() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let out = cli(p.port, APP_USER, APP_PASSWORD, &[], "SELECT 40 + 2");
    assert!(out.status.success(), "CLI failed: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "42");
}

/// The CLI forced to caching_sha2_password: the relay shows that its
/// HandshakeResponse (or its answer to an auth switch) really is a
/// caching_sha2 scramble (32 bytes) and that shardgate takes it.
#[test]
fn login_cli_caching_sha2_password() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let relay = sniff(p.port);
    let out = cli(
        relay.port,
        APP_USER,
        APP_PASSWORD,
        &["--default-auth=caching_sha2_password"],
        "SELECT 'sha2 ok'",
    );
    let up = split_packets(&relay.up.lock().unwrap());
    let down = split_packets(&relay.down.lock().unwrap());
    assert!(
        out.status.success(),
        "CLI with caching_sha2_password failed: {}\nclient packets: {up:?}\nserver packets: {down:?}\nlog:\n{}",
        text(&out.stderr),
        p.log()
    );
    assert_eq!(text(&out.stdout).trim(), "sha2 ok");
    let resp = HandshakeResponse41::decode(&up[0].1).expect("handshake response");
    assert_eq!(
        resp.auth_plugin_name,
        Some(&b"caching_sha2_password"[..]),
        "the client must announce caching_sha2_password"
    );
    // The scramble the server checked: in the response, or in the answer to
    // an AuthSwitchRequest naming caching_sha2_password.
    let sha2_answer = if resp.auth_response.len() == 32 {
        true
    } else {
        let switch = down
            .iter()
            .find(|(s, p)| *s == 2 && p.first() == Some(&0xfe));
        match switch {
            Some((_, sw)) => {
                assert!(
                    sw.starts_with(b"\xfecaching_sha2_password\0"),
                    "switched away from caching_sha2_password: {:?}",
                    text(sw)
                );
                up.iter().any(|(s, p)| *s == 3 && p.len() == 32)
            }
            None => false,
        }
    };
    assert!(
        sha2_answer,
        "no 32-byte caching_sha2 scramble was sent: {up:?}"
    );
}

#[test]
fn login_greeting_names_a_supported_plugin() {
    // The mysql crate follows whatever plugin the greeting names; both must
    // work: check the greeting's plugin is one of the two supported.
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let relay = sniff(p.port);
    let mut c = connect(p.opts().tcp_port(relay.port)).expect("login via relay");
    let one: Option<i64> = c.query_first("SELECT 1").unwrap();
    assert_eq!(one, Some(1));
    let down = split_packets(&relay.down.lock().unwrap());
    let greeting = &down[0].1;
    let g = text(greeting);
    assert!(
        g.contains("mysql_native_password") || g.contains("caching_sha2_password"),
        "greeting names an unexpected plugin: {g:?}"
    );
    // The version reads as MariaDB's own greeting: "5.5.5-" then a 10.x
    // MariaDB version, so MySQL clients do not take it for a MySQL 8
    // (whose default collation utf8mb4_0900_ai_ci MariaDB refuses).
    let version_end = greeting[1..].iter().position(|&b| b == 0).map(|i| i + 1);
    let version = text(&greeting[1..version_end.expect("NUL-ended version")]);
    assert!(
        version.starts_with("5.5.5-10.") && version.contains("-MariaDB"),
        "greeting version {version:?}"
    );
    // (The mysql crate, like MySQL clients, reads it as 5.5.5, exactly as
    // it reads a MariaDB server's own greeting.)
    assert_eq!(c.server_version(), (5, 5, 5), "{version}");
}

#[test]
fn login_wrong_password_is_1045_with_mysql_message() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let e = connect(p.opts_as(APP_USER, "wrong")).expect_err("wrong password must fail");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert_eq!(code, 1045);
    assert_eq!(
        msg,
        "Access denied for user 'app'@'127.0.0.1' (using password: YES)"
    );
    // The same message MariaDB itself gives (modulo the user name).
    let direct_err = Conn::new(
        Opts::from_url(&format!("mysql://shardgate:wrong@127.0.0.1:{}", db.port)).unwrap(),
    )
    .expect_err("wrong password direct");
    let (dcode, dmsg) = server_err(&direct_err).unwrap();
    assert_eq!(dcode, 1045);
    assert_eq!(dmsg.replace("'shardgate'", "'app'"), msg);
    // The CLI shows the same code and SQLSTATE.
    let out = cli(p.port, APP_USER, "wrong", &[], "SELECT 1");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(
            "ERROR 1045 (28000): Access denied for user 'app'@'127.0.0.1' (using password: YES)"
        ),
        "CLI stderr: {}",
        text(&out.stderr)
    );
    // The refused logins do not stop the right password from working.
    let mut c = p.conn();
    c.query_drop("SELECT 1").unwrap();
}

#[test]
fn login_unknown_user_is_1045() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let e = connect(p.opts_as("nobody", "whatever")).expect_err("unknown user must fail");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert_eq!(code, 1045);
    assert_eq!(
        msg,
        "Access denied for user 'nobody'@'127.0.0.1' (using password: YES)"
    );
}

#[test]
fn login_allow_from_excluding_client_is_refused() {
    let db = shared_db();
    let users = "[[user]]\nname = \"app\"\npassword = \"app-secret\"\nschemas = [\"*\"]\n\
                 allow_from = [\"10.0.0.0/8\", \"::1/128\"]\n\n\
                 [[user]]\nname = \"local\"\npassword = \"local-secret\"\n\
                 allow_from = [\"127.0.0.0/8\"]\n";
    let p = Proxy::start(&ProxyConfig::new(db.port).users(users));
    let e = connect(p.opts()).expect_err("127.0.0.1 is not in app's allow_from");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert!(
        code == 1045 || code == 1130,
        "refusal code {code}: {msg} (expected 1045 or 1130)"
    );
    assert!(msg.contains("127.0.0.1"), "message names the host: {msg}");
    let mut ok = connect(p.opts_as("local", "local-secret")).expect("allowed user");
    ok.query_drop("SELECT 1").unwrap();
}

#[test]
fn login_per_user_schemas_refuse_other_databases() {
    let db = shared_db();
    db.sql("CREATE DATABASE IF NOT EXISTS login_blog; CREATE DATABASE IF NOT EXISTS login_other");
    let users = "[[user]]\nname = \"app\"\npassword = \"app-secret\"\nschemas = [\"login_blog\"]\n";
    let p = Proxy::start(&ProxyConfig::new(db.port).users(users));

    let mut c = p.conn_db("login_blog");
    let cur: Option<String> = c.query_first("SELECT DATABASE()").unwrap();
    assert_eq!(cur.as_deref(), Some("login_blog"));

    // COM_INIT_DB.
    let e = c.select_db("login_other").expect_err("COM_INIT_DB other");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert_eq!(code, 1044, "{msg}");
    assert_eq!(
        msg,
        "Access denied for user 'app'@'127.0.0.1' to database 'login_other'"
    );
    // USE as a statement.
    let e = c.query_drop("USE login_other").expect_err("USE other");
    assert_eq!(server_err(&e).map(|x| x.0), Some(1044), "{e:?}");
    // Still in the allowed schema, and the session still works.
    let cur: Option<String> = c.query_first("SELECT DATABASE()").unwrap();
    assert_eq!(cur.as_deref(), Some("login_blog"));
    c.select_db("login_blog")
        .expect("USE of the allowed schema");
    c.query_drop("USE login_blog")
        .expect("USE of the allowed schema");

    // Connect with the other database.
    let e = connect(p.opts().db_name(Some("login_other"))).expect_err("connect-with-db other");
    assert_eq!(server_err(&e).map(|x| x.0), Some(1044), "{e:?}");
    // The CLI too.
    let out = cli(
        p.port,
        APP_USER,
        APP_PASSWORD,
        &["-Dlogin_other"],
        "SELECT 1",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("1044"), "{}", text(&out.stderr));
}

#[test]
fn login_max_connections_refuses_the_sixth() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port).server("max_connections = 5"));
    let mut held: Vec<Conn> = (0..5).map(|_| p.conn()).collect();
    let e = connect(p.opts()).expect_err("6th connection must be refused");
    let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("not an ERR packet: {e:?}"));
    assert_eq!(code, 1040, "{msg}");
    assert_eq!(msg, "Too many connections");
    for c in held.iter_mut() {
        c.query_drop("SELECT 1")
            .expect("held connections keep working");
    }
    // Closing one frees a slot (closing is asynchronous: retry briefly).
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match connect(p.opts()) {
            Ok(mut c) => {
                c.query_drop("SELECT 1").unwrap();
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert_eq!(server_err(&e).map(|x| x.0), Some(1040), "{e:?}");
                thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("slot not freed after a close: {e:?}"),
        }
    }
}

#[test]
fn login_handshake_timeout_closes_silent_clients() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port).server("handshake_timeout = \"1s\""));
    // A client that reads the greeting and then says nothing.
    let started = Instant::now();
    let (mut silent, _) = Raw::connect(p.port);
    assert!(
        silent.closed_within(Duration::from_secs(5)),
        "silent client still open after 5 s (handshake_timeout = 1s)"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "closed too early: {took:?}"
    );
    // A socket that connects and never even reads.
    let started = Instant::now();
    let mute = TcpStream::connect((Ipv4Addr::LOCALHOST, p.port)).unwrap();
    let mut raw = Raw {
        s: mute,
        conn_id: 0,
    };
    thread::sleep(Duration::from_millis(1500));
    assert!(
        raw.closed_within(Duration::from_secs(4)),
        "mute client still open after {:?}",
        started.elapsed()
    );
    // Normal logins are unaffected.
    let mut c = p.conn();
    thread::sleep(Duration::from_millis(1500)); // idle after login is fine
    c.query_drop("SELECT 1")
        .expect("an authenticated session outlives the handshake timeout");
}

#[test]
fn login_max_packet_size_refuses_big_statements() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port).server("max_packet_size = \"1MiB\""));
    let mut other = p.conn();
    let mut c =
        Conn::new(Opts::from(p.opts().max_allowed_packet(Some(64 << 20)))).expect("connect");
    let big = format!("SELECT LENGTH('{}')", "x".repeat(2 << 20));
    match c.query_first::<i64, _>(&big) {
        Ok(v) => panic!("a 2 MiB statement passed max_packet_size = 1MiB: {v:?}"),
        Err(e) => match server_err(&e) {
            Some((code, msg)) => assert_eq!(code, 1153, "{msg}"),
            None => {
                // Closed instead: the reason must be in the log.
                assert!(
                    p.wait_log("bad packet", Duration::from_secs(3))
                        || p.log().to_lowercase().contains("too large"),
                    "connection closed without a logged reason: {e:?}\n{}",
                    p.log()
                );
            }
        },
    }
    // Others keep being served, old and new sessions alike.
    let v: Option<i64> = other.query_first("SELECT 7").unwrap();
    assert_eq!(v, Some(7));
    let mut fresh = p.conn();
    let v: Option<i64> = fresh
        .query_first(format!("SELECT LENGTH('{}')", "y".repeat(512 << 10)))
        .unwrap();
    assert_eq!(v, Some(512 << 10), "a 512 KiB statement is under the limit");
}
