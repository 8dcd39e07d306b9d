//! The admin port and the metrics endpoint (issue 5) against a real
//! shardgate over real MariaDB servers: logins with the `mysql` crate and
//! the `mariadb` CLI, the SHOW commands, SET NODE (and that it survives a
//! restart), RELOAD with a valid and an invalid file, EXPLAIN SHARDGATE,
//! the connection cap, and `GET /metrics` checked line by line.
//!
//! These tests run their own shardgate (not `proxy::Proxy`): they need the
//! admin and metrics ports, a config they edit, and a metadata file that
//! outlives one process.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder, Row};

use crate::common::{cli, server_err, shared_db, text};
use crate::proxy::{APP_PASSWORD, APP_USER};
use crate::support::{free_port, MariaDb, BACKEND_PASSWORD, BACKEND_USER};

const ADMIN_USER: &str = "admin";
const ADMIN_PASSWORD: &str = "admin-secret";
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A temp folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("shardgate-admin-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A shardgate process with its three ports; SIGKILLed on drop.
struct Gate {
    port: u16,
    admin: u16,
    metrics: u16,
    conf: PathBuf,
    log: PathBuf,
    child: Child,
}

/// The config of a gate: `body` is everything after `[server]`'s lines.
fn config(dir: &Path, ports: (u16, u16, u16), body: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{}\"\nadmin_listen = \"127.0.0.1:{}\"\n\
         metrics_listen = \"127.0.0.1:{}\"\ndefault_group = \"g0\"\nslow_query = \"1s\"\n\
         metadata_file = \"{}\"\nio_threads = 1\nworker_threads = 1\n\n\
         [admin]\nuser = \"{ADMIN_USER}\"\npassword = \"{ADMIN_PASSWORD}\"\n\n\
         [[user]]\nname = \"{APP_USER}\"\npassword = \"{APP_PASSWORD}\"\n\n\
         [backend]\nuser = \"{BACKEND_USER}\"\npassword = \"{BACKEND_PASSWORD}\"\n\n\
         [health]\ninterval = \"200ms\"\ntimeout = \"200ms\"\n\n{body}",
        ports.0,
        ports.1,
        ports.2,
        dir.join("shardgate.meta").display()
    )
}

impl Gate {
    /// Starts shardgate in `dir` (config `dir/shardgate.toml`, metadata
    /// `dir/shardgate.meta`) on free ports; returns once it listens.
    fn start(dir: &Path, body: &str) -> Gate {
        static RUN: AtomicUsize = AtomicUsize::new(0);
        let mut last = String::new();
        for _ in 0..8 {
            let ports = (free_port(), free_port(), free_port());
            if ports.0 == ports.1 || ports.1 == ports.2 || ports.0 == ports.2 {
                continue;
            }
            let conf = dir.join("shardgate.toml");
            fs::write(&conf, config(dir, ports, body)).expect("write config");
            let log = dir.join(format!(
                "stderr-{}.log",
                RUN.fetch_add(1, Ordering::Relaxed)
            ));
            let mut child = Command::new(env!("CARGO_BIN_EXE_shardgate"))
                .arg("--config")
                .arg(&conf)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(File::create(&log).expect("create log")))
                .spawn()
                .expect("spawn shardgate");
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                let text = fs::read_to_string(&log).unwrap_or_default();
                if text.contains("shardgate listening on") {
                    return Gate {
                        port: ports.0,
                        admin: ports.1,
                        metrics: ports.2,
                        conf,
                        log,
                        child,
                    };
                }
                if let Ok(Some(st)) = child.try_wait() {
                    if text.contains("in use") {
                        last = text;
                        break;
                    }
                    panic!("shardgate exited at start ({st}):\n{text}");
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("shardgate did not listen within {START_TIMEOUT:?}:\n{text}");
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("shardgate: no free ports after 8 attempts:\n{last}");
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn admin_opts(&self, password: &str) -> OptsBuilder {
        OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.admin)
            .user(Some(ADMIN_USER))
            .pass(Some(password))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(Duration::from_secs(10)))
            .read_timeout(Some(Duration::from_secs(30)))
            .write_timeout(Some(Duration::from_secs(30)))
    }

    /// An admin connection with the `mysql` crate.
    fn admin_conn(&self) -> Conn {
        Conn::new(Opts::from(self.admin_opts(ADMIN_PASSWORD)))
            .unwrap_or_else(|e| panic!("admin login: {e}\n--- log ---\n{}", self.log()))
    }

    fn app_conn(&self) -> Conn {
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some(APP_USER))
            .pass(Some(APP_PASSWORD))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(Duration::from_secs(10)));
        Conn::new(Opts::from(opts)).expect("app login")
    }

    /// `GET path` on the metrics port: (status code, headers, body).
    fn http_get(&self, path: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, self.metrics)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"
        )
        .unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read response");
        let resp = text(&resp);
        let (head, body) = resp.split_once("\r\n\r\n").expect("head and body");
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status code");
        (code, head.to_string(), body.to_string())
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- shardgate stderr (tail) ---");
            for l in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{l}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Rows of an admin statement as column → value maps.
fn rows(c: &mut Conn, sql: &str) -> Vec<Vec<(String, Option<String>)>> {
    let result: Vec<Row> = c.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    result
        .into_iter()
        .map(|r| {
            let names: Vec<String> = r
                .columns_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect();
            names
                .into_iter()
                .enumerate()
                .map(|(i, n)| (n, r.get::<Option<String>, _>(i).flatten()))
                .collect()
        })
        .collect()
}

fn col<'a>(row: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    row.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no column {name} in {row:?}"))
        .1
        .as_deref()
}

/// The SHOW NODES row of `addr`.
fn node_row(c: &mut Conn, addr: &str) -> Vec<(String, Option<String>)> {
    rows(c, "SHOW NODES")
        .into_iter()
        .find(|r| col(r, "addr") == Some(addr))
        .unwrap_or_else(|| panic!("{addr} not in SHOW NODES"))
}

/// Waits (bounded) until every node's probe says up.
fn wait_probed_up(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all = rows(c, "SHOW NODES");
        if all.iter().all(|r| col(r, "probe") == Some("up")) {
            return;
        }
        assert!(Instant::now() < deadline, "nodes not probed up: {all:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// The error code and message of a failing admin statement.
fn admin_err(c: &mut Conn, sql: &str) -> (u16, String) {
    let e = c.query_drop(sql).expect_err(&format!("{sql} should fail"));
    server_err(&e).unwrap_or_else(|| panic!("{sql}: not a server error: {e}"))
}

/// Checks the Prometheus text exposition syntax of every line; returns the
/// samples (series with labels, value).
fn parse_exposition(body: &str) -> Vec<(String, f64)> {
    fn is_name(s: &str) -> bool {
        let mut cs = s.chars();
        cs.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut samples = Vec::new();
    for line in body.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut w = rest.trim_start().splitn(3, ' ');
            match w.next() {
                Some("HELP") => {
                    assert!(w.next().is_some_and(is_name), "{line}");
                }
                Some("TYPE") => {
                    assert!(w.next().is_some_and(is_name), "{line}");
                    assert!(
                        matches!(
                            w.next(),
                            Some("counter" | "gauge" | "histogram" | "summary" | "untyped")
                        ),
                        "{line}"
                    );
                }
                _ => {}
            }
            continue;
        }
        // name{k="v",...} value
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match series.find('{') {
            Some(i) => (&series[..i], Some(&series[i..])),
            None => (series, None),
        };
        assert!(is_name(name), "bad name in {line}");
        if let Some(l) = labels {
            let inner = l
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .unwrap_or_else(|| panic!("bad labels in {line}"));
            // k="v" pairs, values with \\ \" \n escapes.
            let mut rest = inner;
            while !rest.is_empty() {
                let eq = rest.find('=').unwrap_or_else(|| panic!("{line}"));
                assert!(is_name(&rest[..eq]), "bad label name in {line}");
                rest = rest[eq + 1..]
                    .strip_prefix('"')
                    .unwrap_or_else(|| panic!("{line}"));
                let mut end = None;
                let mut esc = false;
                for (i, c) in rest.char_indices() {
                    match (esc, c) {
                        (true, '\\' | '"' | 'n') => esc = false,
                        (true, _) => panic!("bad escape in {line}"),
                        (false, '\\') => esc = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.unwrap_or_else(|| panic!("unterminated label in {line}"));
                rest = &rest[end + 1..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
        }
        samples.push((series.to_string(), v));
    }
    samples
}

const SHOP: &str = r#"
[[schema]]
name = "shop"
default_group = "g0"

[[schema.rule]]
name = "by_bucket"
kind = "bucket"
groups = ["g0", "g1"]
tables_per_group = [2, 2]
buckets = 16

[[schema.rule]]
name = "by_id"
kind = "hash"
groups = ["g0", "g1"]

[[schema.table]]
name = "item"
key = "item_id"
rule = "by_bucket"

[[schema.table]]
name = "orders"
key = "order_id"
rule = "by_id"
"#;

fn two_groups(g0: u16, g1: u16) -> String {
    format!(
        "[[group]]\nname = \"g0\"\nmaster = \"127.0.0.1:{g0}\"\n\n\
         [[group]]\nname = \"g1\"\nmaster = \"127.0.0.1:{g1}\"\n{SHOP}"
    )
}

#[test]
fn admin_port_commands_reload_and_metrics() {
    let db0 = shared_db();
    let db1 = MariaDb::start();
    let dir = TempDir::new();
    let body = two_groups(db0.port, db1.port);
    let gate = Gate::start(&dir.0, &body);
    let addr0 = format!("127.0.0.1:{}", db0.port);
    let addr1 = format!("127.0.0.1:{}", db1.port);

    // Logins: the mysql crate (it asks for @@max_allowed_packet on
    // connect), a wrong password, the mariadb CLI.
    let mut c = gate.admin_conn();
    c.ping().expect("COM_PING");
    let e = Conn::new(Opts::from(gate.admin_opts("wrong"))).expect_err("wrong password");
    assert_eq!(server_err(&e).map(|e| e.0), Some(1045), "{e}");
    let app_as_admin = OptsBuilder::from_opts(Opts::from(gate.admin_opts(ADMIN_PASSWORD)))
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD));
    let e = Conn::new(Opts::from(app_as_admin)).expect_err("app user on the admin port");
    assert_eq!(server_err(&e).map(|e| e.0), Some(1045), "{e}");

    let out = cli(
        gate.admin,
        ADMIN_USER,
        ADMIN_PASSWORD,
        &[],
        "SELECT @@version_comment LIMIT 1; SHOW NODES; SHOW GROUPS",
    );
    assert!(out.status.success(), "mariadb CLI: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("shardgate admin port"), "{stdout}");
    assert!(
        stdout.contains(&addr0) && stdout.contains(&addr1),
        "{stdout}"
    );
    let out = cli(gate.admin, ADMIN_USER, "wrong", &[], "SHOW NODES");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("1045"), "{}", text(&out.stderr));

    // SHOW NODES: both masters, up once probed.
    wait_probed_up(&mut c);
    let nodes = rows(&mut c, "show nodes;");
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    for (r, (group, addr)) in nodes.iter().zip([("g0", &addr0), ("g1", &addr1)]) {
        assert_eq!(col(r, "group"), Some(group));
        assert_eq!(col(r, "addr"), Some(addr.as_str()));
        assert_eq!(col(r, "role"), Some("master"));
        assert_eq!(col(r, "state"), Some("up"));
        assert_eq!(col(r, "operator"), Some("auto"));
        assert!(col(r, "last_probe").is_some());
    }
    let groups = rows(&mut c, "SHOW GROUPS");
    assert_eq!(col(&groups[1], "master"), Some(addr1.as_str()));
    assert_eq!(col(&groups[1], "master_state"), Some("up"));

    // SET NODE: down by the operator, back to the probes, unknown node.
    c.query_drop(format!("SET NODE '{addr1}' DOWN"))
        .expect("SET NODE DOWN");
    let r = node_row(&mut c, &addr1);
    assert_eq!(
        (col(&r, "state"), col(&r, "operator"), col(&r, "why")),
        (Some("down"), Some("down"), Some("operator"))
    );
    c.query_drop(format!("set node {addr1} auto"))
        .expect("SET NODE AUTO");
    let r = node_row(&mut c, &addr1);
    assert_eq!(
        (col(&r, "state"), col(&r, "operator")),
        (Some("up"), Some("auto"))
    );
    let (code, msg) = admin_err(&mut c, "SET NODE '127.0.0.1:1' DOWN");
    assert_eq!(code, 1210);
    assert!(msg.contains("unknown node '127.0.0.1:1'"), "{msg}");

    // Unknown statements list the commands.
    let (code, msg) = admin_err(&mut c, "DROP DATABASE shop");
    assert_eq!(code, 1064);
    assert!(
        msg.contains("SHOW NODES") && msg.contains("RELOAD"),
        "{msg}"
    );
    let (code, _) = admin_err(&mut c, "SELECT * FROM mysql.user");
    assert_eq!(code, 1064);

    // Rules and buckets.
    let rules = rows(&mut c, "SHOW RULES");
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(col(&rules[0], "kind"), Some("bucket"));
    assert_eq!(col(&rules[0], "tables"), Some("item"));
    assert_eq!(col(&rules[0], "groups"), Some("g0,g1"));
    assert_eq!(col(&rules[1], "kind"), Some("hash"));
    let buckets = rows(&mut c, "SHOW BUCKETS shop.by_bucket");
    let runs: Vec<(Option<&str>, Option<&str>, Option<&str>)> = buckets
        .iter()
        .map(|r| (col(r, "bucket_from"), col(r, "bucket_to"), col(r, "group")))
        .collect();
    assert_eq!(
        runs,
        vec![
            (Some("0"), Some("7"), Some("g0")),
            (Some("8"), Some("15"), Some("g1"))
        ]
    );
    assert_eq!(col(&buckets[0], "version"), Some("1"));
    let (code, _) = admin_err(&mut c, "SHOW BUCKETS shop.by_id");
    assert_eq!(code, 1210);

    // EXPLAIN SHARDGATE plans in the schema chosen with USE.
    c.query_drop("USE shop").expect("USE");
    let plan = rows(
        &mut c,
        "EXPLAIN SHARDGATE SELECT * FROM item WHERE item_id = 42",
    );
    assert_eq!(plan.len(), 1, "{plan:?}");
    let sql = col(&plan[0], "sql").unwrap_or_default();
    assert!(sql.contains("item_000"), "{plan:?}");
    let node = col(&plan[0], "node").unwrap_or_default().to_string();
    assert!(node == addr0 || node == addr1, "{plan:?}");
    let plan = rows(&mut c, "explain shardgate select * from item;");
    assert_eq!(plan.len(), 4, "one target per shard: {plan:?}");

    // Sessions and stats.
    let mut app = gate.app_conn();
    app.query_drop("SELECT 1").expect("app query");
    let sessions = rows(&mut c, "SHOW SESSIONS");
    assert!(
        sessions.iter().any(|r| col(r, "user") == Some(APP_USER)),
        "{sessions:?}"
    );
    // A failed statement leaves the session unpinned: an ERR carries no
    // status flags, so the connection's transaction and autocommit state
    // are what it reported before. Its connection holds the error for
    // SHOW ERRORS, so the session keeps it for the one next statement
    // only; after that the backend goes back.
    let failed = app
        .query_drop("SELECT * FROM no_such_table_here")
        .expect_err("unknown table");
    let code = match failed {
        mysql::Error::MySqlError(e) => u32::from(e.code),
        other => panic!("{other}"),
    };
    let held_by_app = |c: &mut Conn| {
        rows(c, "SHOW SESSIONS")
            .into_iter()
            .filter(|r| col(r, "user") == Some(APP_USER) && col(r, "backend").is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(held_by_app(&mut c).len(), 1, "kept for SHOW ERRORS");
    let errors: Vec<(String, u32, String)> = app.query("SHOW ERRORS").expect("show errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].1, code, "{errors:?}");
    app.query_drop("SELECT 1").expect("app query");
    let held = held_by_app(&mut c);
    assert!(held.is_empty(), "sessions holding a backend: {held:?}");
    let stats = rows(&mut c, "SHOW STATS");
    let stat = |k: &str| {
        stats
            .iter()
            .find(|r| col(r, "name") == Some(k))
            .and_then(|r| col(r, "value").map(str::to_string))
            .unwrap_or_else(|| panic!("{k} not in SHOW STATS"))
    };
    assert!(stat("clients").parse::<u64>().unwrap() >= 1);
    assert!(stat("buffer_memory_limit").parse::<u64>().unwrap() > 0);

    // RELOAD: a valid edit applies, an invalid one is refused and changes
    // nothing.
    let slow = |c: &mut Conn| {
        rows(c, "SHOW CONFIG")
            .into_iter()
            .find(|r| col(r, "name") == Some("server.slow_query"))
            .and_then(|r| col(&r, "value").map(str::to_string))
    };
    assert_eq!(slow(&mut c).as_deref(), Some("1s"));
    let conf = fs::read_to_string(&gate.conf).unwrap();
    assert!(!rows(&mut c, "SHOW CONFIG")
        .iter()
        .any(|r| col(r, "value").is_some_and(|v| v.contains("secret"))));
    fs::write(
        &gate.conf,
        conf.replace("slow_query = \"1s\"", "slow_query = \"3s\""),
    )
    .unwrap();
    c.query_drop("RELOAD").expect("RELOAD of a valid file");
    assert_eq!(slow(&mut c).as_deref(), Some("3s"));
    fs::write(
        &gate.conf,
        conf.replace(
            "default_group = \"g0\"\nslow_query",
            "default_group = \"nope\"\nslow_query",
        )
        .replace("slow_query = \"1s\"", "slow_query = \"5s\""),
    )
    .unwrap();
    let (code, msg) = admin_err(&mut c, "RELOAD");
    assert_eq!(code, 1105);
    assert!(
        msg.contains("refused") && msg.contains("default_group"),
        "{msg}"
    );
    assert_eq!(slow(&mut c).as_deref(), Some("3s"), "old config kept");
    app.query_drop("SELECT 1")
        .expect("sessions carry on after a refused reload");

    // /metrics.
    let (code, head, body) = gate.http_get("/metrics");
    assert_eq!(code, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let samples = parse_exposition(&body);
    assert!(
        samples
            .iter()
            .any(|(s, _)| s == "shardgate_queries_total{kind=\"select\"}"),
        "{body}"
    );
    for (group, addr) in [("g0", &addr0), ("g1", &addr1)] {
        let series =
            format!("shardgate_node_up{{group=\"{group}\",role=\"master\",addr=\"{addr}\"}}");
        let up = samples.iter().find(|(s, _)| *s == series);
        assert_eq!(up.map(|u| u.1), Some(1.0), "{series} in\n{body}");
    }
    assert!(samples
        .iter()
        .any(|(s, _)| s == "shardgate_query_duration_seconds_bucket{le=\"+Inf\"}"));
    assert_eq!(gate.http_get("/nope").0, 404);

    // At most 16 admin sessions: the 17th gets ERR 1040.
    let mut held = Vec::new();
    while held.len() < 15 {
        held.push(gate.admin_conn());
    }
    let e = Conn::new(Opts::from(gate.admin_opts(ADMIN_PASSWORD))).expect_err("17th session");
    assert_eq!(server_err(&e).map(|e| e.0), Some(1040), "{e}");
    drop(held);
    c.query_drop("SHOW STATS")
        .expect("the first session still works");
    drop(c);
    drop(app);
    drop(gate);
    drop(db1);
}

#[test]
fn set_node_survives_a_restart() {
    let db0 = shared_db();
    let dir = TempDir::new();
    let addr = format!("127.0.0.1:{}", db0.port);
    let body = format!("[[group]]\nname = \"g0\"\nmaster = \"{addr}\"\n");

    let gate = Gate::start(&dir.0, &body);
    let mut c = gate.admin_conn();
    c.query_drop(format!("SET NODE '{addr}' DOWN REASON 'maintenance'"))
        .expect("SET NODE DOWN");
    let r = node_row(&mut c, &addr);
    assert_eq!(
        (col(&r, "state"), col(&r, "operator")),
        (Some("down"), Some("down"))
    );
    drop(c);
    drop(gate); // SIGKILL: nothing is flushed at exit

    let gate = Gate::start(&dir.0, &body);
    let mut c = gate.admin_conn();
    let r = node_row(&mut c, &addr);
    assert_eq!(
        (col(&r, "state"), col(&r, "operator"), col(&r, "why")),
        (Some("down"), Some("down"), Some("operator")),
        "the operator's DOWN was kept"
    );
    assert!(
        gate.log().contains("DOWN by a saved operator setting"),
        "{}",
        gate.log()
    );
    c.query_drop(format!("SET NODE '{addr}' AUTO"))
        .expect("SET NODE AUTO");
    assert_eq!(col(&node_row(&mut c, &addr), "operator"), Some("auto"));
    drop(c);
    drop(gate);

    let gate = Gate::start(&dir.0, &body);
    let mut c = gate.admin_conn();
    let r = node_row(&mut c, &addr);
    assert_eq!(
        (col(&r, "state"), col(&r, "operator")),
        (Some("up"), Some("auto"))
    );
}
