//! Statements and commands through shardgate compared with plain MariaDB:
//! DDL/DML/SELECT, multi-statements and multi-results, COM_FIELD_LIST,
//! COM_STATISTICS, COM_PING, COM_RESET_CONNECTION, COM_CHANGE_USER,
//! COM_SET_OPTION, prepared statements, LOAD DATA LOCAL INFILE, session state
//! under multiplexing and every kind of state that pins a session.

use std::collections::BTreeSet;
use std::fs;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{ChangeUserOpts, Conn, Opts, Row, Value};

use crate::common::{
    admin, cli, direct, direct_db, server_err, shared_db, text, Raw, Reply, CLIENT_MULTI_RESULTS,
    RAW_CAPS,
};
use crate::proxy::{Proxy, ProxyConfig, APP_PASSWORD, APP_USER, OTHER_PASSWORD, OTHER_USER};

type Sets = Vec<(Vec<String>, Vec<Vec<Value>>, u64)>;

/// Every result set of `sql`: column names, rows, affected rows.
fn sets(c: &mut Conn, sql: &str) -> Sets {
    let mut res = c.query_iter(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    while let Some(set) = res.iter() {
        let cols = set
            .columns()
            .as_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        let affected = set.affected_rows();
        let rows = set.map(|r| r.expect("row").unwrap()).collect();
        out.push((cols, rows, affected));
    }
    out
}

fn rows(c: &mut Conn, sql: &str) -> Vec<Vec<Value>> {
    c.query::<Row, _>(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(Row::unwrap)
        .collect()
}

fn one<T: mysql::prelude::FromValue>(c: &mut Conn, sql: &str) -> T {
    c.query_first::<T, _>(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

fn err_code(r: Result<impl std::fmt::Debug, mysql::Error>) -> u16 {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => {
            server_err(&e)
                .unwrap_or_else(|| panic!("not an ERR packet: {e:?}"))
                .0
        }
    }
}

/// Runs a statement on each of `others` so that pooled backend connections
/// change hands between the steps of a test.
fn churn(others: &mut [Conn]) {
    for c in others.iter_mut() {
        let _: Option<i64> = c.query_first("SELECT 1").unwrap();
    }
}

#[test]
fn statements_ddl_dml_select_match_mariadb() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut c = p.conn();
    c.query_drop("DROP DATABASE IF EXISTS st_rt").unwrap();
    c.query_drop("CREATE DATABASE st_rt").unwrap();
    c.query_drop("USE st_rt").unwrap();
    c.query_drop(
        "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(50), \
         price DECIMAL(10,2), at DATETIME(3), data BLOB, note TEXT NULL)",
    )
    .unwrap();
    c.query_drop(
        "INSERT INTO t (name, price, at, data, note) VALUES \
         ('a', 1.50, '2024-01-02 03:04:05.678', x'00ff10', NULL), \
         ('b', 2.00, '1999-12-31 23:59:59.999', '', 'n'), ('c', -3.25, NULL, NULL, 'é')",
    )
    .unwrap();
    assert_eq!(c.affected_rows(), 3);
    c.query_drop("UPDATE t SET price = price * 2 WHERE id >= 2")
        .unwrap();
    assert_eq!(c.affected_rows(), 2);
    c.query_drop("DELETE FROM t WHERE name = 'a'").unwrap();
    assert_eq!(c.affected_rows(), 1);
    c.query_drop("ALTER TABLE t ADD COLUMN extra INT DEFAULT 7")
        .unwrap();

    let mut d = direct_db(db, "st_rt");
    for q in [
        "SELECT * FROM t ORDER BY id",
        "SELECT COUNT(*), SUM(price), MAX(at) FROM t",
        "SELECT name, HEX(data), note IS NULL FROM t ORDER BY name DESC",
        "SHOW CREATE TABLE t",
        "SELECT id FROM t WHERE 1 = 0",
        "SHOW COLUMNS FROM t",
    ] {
        assert_eq!(sets(&mut c, q), sets(&mut d, q), "{q}");
    }
    assert_eq!(
        rows(&mut c, "SELECT name FROM t ORDER BY id"),
        vec![vec![Value::from("b")], vec![Value::from("c")]]
    );
    // Errors pass through with their codes.
    assert_eq!(err_code(c.query_drop("SELECT * FROM missing_table")), 1146);
    assert_eq!(err_code(c.query_drop("SELEC 1")), 1064);
    assert_eq!(
        err_code(c.query_drop("INSERT INTO t (id) VALUES (2)")),
        1062
    );
    c.query_drop("DROP TABLE t").unwrap();
    c.query_drop("DROP DATABASE st_rt").unwrap();
}

#[test]
fn statements_multi_statements_and_procedure_results() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    db.sql(
        "DROP DATABASE IF EXISTS st_multi; CREATE DATABASE st_multi;
         CREATE TABLE st_multi.t (id INT PRIMARY KEY);",
    );
    let mut d = direct_db(db, "st_multi");
    d.query_drop("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2, 3; END")
        .unwrap();
    let mut c = p.conn_db("st_multi");
    let q = "SELECT 1 AS a; SELECT 2 AS b, 3 AS c; INSERT INTO t VALUES (1), (2); \
             SELECT id FROM t ORDER BY id; DELETE FROM t";
    let got = sets(&mut c, q);
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[2].2, 2, "affected rows of the INSERT");
    assert_eq!(got, sets(&mut d, q));

    let got = sets(&mut c, "CALL p()");
    assert_eq!(got.len(), 3, "two result sets and the final OK: {got:?}");
    assert_eq!(got[0].1, vec![vec![Value::from("1")]]);
    assert_eq!(got[1].1, vec![vec![Value::from("2"), Value::from("3")]]);
    assert_eq!(got, sets(&mut d, "CALL p()"));

    // An error in the middle stops the batch; the session goes on.
    let mut res = c
        .query_iter("SELECT 1; SELECT * FROM nope; SELECT 3")
        .unwrap();
    let first = res.iter().unwrap().count();
    assert_eq!(first, 1);
    let mut err = None;
    while let Some(set) = res.iter() {
        for r in set {
            if let Err(e) = r {
                err = Some(e);
            }
        }
    }
    drop(res);
    // The mysql crate reports the mid-batch ERR on the next set.
    let e = err.expect("the failing statement reports its error");
    assert_eq!(server_err(&e).map(|x| x.0), Some(1146), "{e:?}");
    assert_eq!(one::<i64>(&mut c, "SELECT 42"), 42);
    // Procedure again (many times, across backend hand-overs).
    let mut others: Vec<Conn> = (0..3).map(|_| p.conn()).collect();
    for _ in 0..5 {
        churn(&mut others);
        assert_eq!(sets(&mut c, "CALL p()").len(), 3);
    }
}

#[test]
fn statements_com_field_list_matches_mariadb() {
    let db = shared_db();
    db.sql(
        "DROP DATABASE IF EXISTS st_fl; CREATE DATABASE st_fl;
         CREATE TABLE st_fl.t (id INT, name VARCHAR(10), nick VARCHAR(10), born DATE);",
    );
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut via = Raw::login(p.port, APP_USER, APP_PASSWORD, RAW_CAPS);
    let mut dir = Raw::login(db.port, "shardgate", "backend-secret", RAW_CAPS);
    for r in [&mut via, &mut dir] {
        assert!(matches!(r.query("USE st_fl")[0], Reply::Ok { .. }));
    }
    let got = via.field_list("t", "").expect("COM_FIELD_LIST");
    assert_eq!(got, vec!["id", "name", "nick", "born"]);
    assert_eq!(got, dir.field_list("t", "").unwrap());
    let got = via
        .field_list("t", "n%")
        .expect("COM_FIELD_LIST with a wildcard");
    assert_eq!(got, dir.field_list("t", "n%").unwrap());
    assert_eq!(got, vec!["name", "nick"]);
    match via.field_list("nope", "") {
        Err(Reply::Err { code, .. }) => assert_eq!(code, 1146),
        other => panic!("field list of a missing table: {other:?}"),
    }
    // The session carries on.
    assert_eq!(
        via.query("SELECT 5"),
        vec![Reply::Rows {
            cols: vec!["5".into()],
            rows: vec![vec![Some("5".into())]]
        }]
    );
    // The CLI sends COM_FIELD_LIST for its completion table (auto-rehash).
    let out = cli(
        p.port,
        APP_USER,
        APP_PASSWORD,
        &["--auto-rehash", "-Dst_fl"],
        "SELECT COUNT(*) FROM t",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "0");
}

#[test]
fn statements_admin_status_and_ping() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let out = admin(p.port, APP_USER, APP_PASSWORD, &["ping"]);
    assert!(out.status.success(), "ping: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("is alive"),
        "{}",
        text(&out.stdout)
    );
    let out = admin(p.port, APP_USER, APP_PASSWORD, &["status"]);
    assert!(out.status.success(), "status: {}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("Uptime:") && s.contains("Threads:"), "{s}");
    // COM_PING through the mysql crate, many times.
    let mut c = p.conn();
    for _ in 0..20 {
        c.ping().expect("COM_PING");
    }
    // And a raw COM_STATISTICS: one string packet, not an OK.
    let mut r = Raw::login(p.port, APP_USER, APP_PASSWORD, RAW_CAPS);
    r.send(&[0x09]);
    let (_, reply) = r.read_packet().unwrap();
    assert!(
        text(&reply).starts_with("Uptime:"),
        "COM_STATISTICS: {:?}",
        text(&reply)
    );
}

#[test]
fn statements_reset_connection_clears_session_state() {
    let db = shared_db();
    db.sql("CREATE DATABASE IF NOT EXISTS st_reset");
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut c = p.conn();
    c.query_drop("SET @x = 5, time_zone = '+03:00'").unwrap();
    c.query_drop("CREATE TEMPORARY TABLE st_reset.tmp (a INT)")
        .unwrap();
    c.query_drop("BEGIN").unwrap();
    c.reset().expect("reset");
    assert_eq!(one::<Option<i64>>(&mut c, "SELECT @x"), None);
    let tz_default: String = one(&mut direct(db), "SELECT @@time_zone");
    assert_eq!(one::<String>(&mut c, "SELECT @@time_zone"), tz_default);
    assert_eq!(
        err_code(c.query_drop("SELECT * FROM st_reset.tmp")),
        1146,
        "temporary table gone after reset"
    );
    assert_eq!(one::<i64>(&mut c, "SELECT @@in_transaction"), 0);

    // The command itself (the crate falls back to COM_CHANGE_USER on ERR).
    let mut r = Raw::login(p.port, APP_USER, APP_PASSWORD, RAW_CAPS);
    r.query("SET @y = 9");
    r.send(&[0x1f]);
    let (_, ok) = r.read_packet().unwrap();
    assert_eq!(
        ok.first(),
        Some(&0x00),
        "COM_RESET_CONNECTION: {:?}",
        text(&ok)
    );
    assert_eq!(
        r.query("SELECT @y"),
        vec![Reply::Rows {
            cols: vec!["@y".into()],
            rows: vec![vec![None]]
        }]
    );
}

#[test]
fn statements_change_user_switches_account() {
    let db = shared_db();
    db.sql("CREATE DATABASE IF NOT EXISTS st_cu_a; CREATE DATABASE IF NOT EXISTS st_cu_b;");
    let users = format!(
        "[[user]]\nname = \"{APP_USER}\"\npassword = \"{APP_PASSWORD}\"\nschemas = [\"*\"]\n\n\
         [[user]]\nname = \"{OTHER_USER}\"\npassword = \"{OTHER_PASSWORD}\"\nschemas = [\"st_cu_a\"]\n"
    );
    let p = Proxy::start(&ProxyConfig::new(db.port).users(&users));
    let mut c = p.conn();
    c.query_drop("SET @x = 1").unwrap();
    c.select_db("st_cu_b").unwrap();
    c.change_user(
        ChangeUserOpts::default()
            .with_user(Some(OTHER_USER.into()))
            .with_pass(Some(OTHER_PASSWORD.into()))
            .with_db_name(Some("st_cu_a".into())),
    )
    .expect("COM_CHANGE_USER to the second account");
    assert_eq!(one::<Option<i64>>(&mut c, "SELECT @x"), None, "state reset");
    assert_eq!(one::<String>(&mut c, "SELECT DATABASE()"), "st_cu_a");
    // Now bound by the second account's schemas.
    assert_eq!(err_code(c.select_db("st_cu_b")), 1044);
    // And back.
    c.change_user(
        ChangeUserOpts::default()
            .with_user(Some(APP_USER.into()))
            .with_pass(Some(APP_PASSWORD.into()))
            .with_db_name(None),
    )
    .expect("back to app");
    c.select_db("st_cu_b").expect("app may use st_cu_b");
    // A wrong password fails with 1045.
    let r = c.change_user(
        ChangeUserOpts::default()
            .with_user(Some(OTHER_USER.into()))
            .with_pass(Some("wrong".into())),
    );
    match r {
        Ok(()) => panic!("change_user with a wrong password succeeded"),
        Err(e) => {
            if let Some((code, _)) = server_err(&e) {
                assert_eq!(code, 1045)
            }
        }
    }
}

#[test]
fn statements_com_set_option_toggles_multi_statements() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let caps = RAW_CAPS | CLIENT_MULTI_RESULTS;
    for (port, user, pw) in [
        (p.port, APP_USER, APP_PASSWORD),
        (db.port, "shardgate", "backend-secret"),
    ] {
        let mut r = Raw::login(port, user, pw, caps);
        // Without CLIENT_MULTI_STATEMENTS a batch is a syntax error.
        let got = r.query("SELECT 1; SELECT 2");
        assert!(
            matches!(got[..], [Reply::Err { code: 1064, .. }]),
            "port {port}: {got:?}"
        );
        // MYSQL_OPTION_MULTI_STATEMENTS_ON: the reply is an EOF packet.
        r.send(&[0x1b, 0x00, 0x00]);
        let (_, reply) = r.read_packet().unwrap();
        assert_eq!(reply.first(), Some(&0xfe), "port {port}: {reply:?}");
        let got = r.query("SELECT 1; SELECT 2");
        assert_eq!(got.len(), 2, "port {port}: {got:?}");
        // OFF again.
        r.send(&[0x1b, 0x01, 0x00]);
        let (_, reply) = r.read_packet().unwrap();
        assert_eq!(reply.first(), Some(&0xfe), "port {port}: {reply:?}");
        let got = r.query("SELECT 1; SELECT 2");
        assert!(
            matches!(got[..], [Reply::Err { code: 1064, .. }]),
            "port {port}: {got:?}"
        );
    }
}

#[test]
fn statements_prepared_statements() {
    let db = shared_db();
    db.sql(
        "DROP DATABASE IF EXISTS st_ps; CREATE DATABASE st_ps;
         CREATE TABLE st_ps.t (id INT PRIMARY KEY, n INT NULL, b LONGBLOB, d DATE,
           dt DATETIME(6), f DOUBLE, s VARCHAR(100), tm TIME(3));",
    );
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let opts = p.opts().db_name(Some("st_ps")).stmt_cache_size(0);
    let mut c = Conn::new(Opts::from(opts)).expect("connect");
    let mut others: Vec<Conn> = (0..3).map(|_| p.conn()).collect();

    // Many statements open at once.
    let mut stmts = Vec::new();
    for i in 0..40i64 {
        stmts.push(c.prep(format!("SELECT ? + {i}, CONCAT(?, '{i}')")).unwrap());
    }
    churn(&mut others);
    for (i, s) in stmts.iter().enumerate() {
        let r: Option<(i64, String)> = c.exec_first(s, (5, "x")).unwrap();
        assert_eq!(r, Some((5 + i as i64, format!("x{i}"))));
    }
    // Close every other one; the rest still work, closed ones are unknown.
    for s in stmts.iter().step_by(2) {
        c.close(s.clone()).unwrap();
    }
    churn(&mut others);
    for (i, s) in stmts.iter().enumerate() {
        let r = c.exec_first::<(i64, String), _, _>(s, (1, "y"));
        if i % 2 == 0 {
            assert_eq!(err_code(r), 1243, "statement {i} was closed");
        } else {
            assert_eq!(r.unwrap(), Some((1 + i as i64, format!("y{i}"))));
        }
    }
    // Re-prepare.
    for i in (0..40i64).step_by(2) {
        let s = c.prep(format!("SELECT ? + {i}, CONCAT(?, '{i}')")).unwrap();
        let r: Option<(i64, String)> = c.exec_first(&s, (2, "z")).unwrap();
        assert_eq!(r, Some((2 + i, format!("z{i}"))));
        c.close(s).unwrap();
    }

    // Values of every kind, in and out, compared with MariaDB.
    let blob: Vec<u8> = (0..(300 * 1024)).map(|i| (i % 251) as u8).collect();
    let big: Vec<u8> = (0..(3 << 20)).map(|i| (i % 256) as u8).collect();
    let ins = c
        .prep("INSERT INTO t (id, n, b, d, dt, f, s, tm) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .unwrap();
    let params: Vec<Vec<Value>> = vec![
        vec![
            1.into(),
            Value::NULL,
            blob.clone().into(),
            Value::Date(2024, 2, 29, 0, 0, 0, 0),
            Value::Date(2024, 2, 29, 13, 14, 15, 123_456),
            3.25f64.into(),
            "héllo".into(),
            Value::Time(false, 0, 12, 34, 56, 789_000),
        ],
        vec![
            2.into(),
            7.into(),
            Value::NULL,
            Value::NULL,
            Value::NULL,
            Value::NULL,
            Value::NULL,
            Value::Time(true, 1, 2, 3, 4, 0),
        ],
        vec![
            3.into(),
            (-1).into(),
            big.clone().into(),
            Value::Date(1000, 1, 1, 0, 0, 0, 0),
            Value::Date(9999, 12, 31, 23, 59, 59, 999_999),
            f64::MIN_POSITIVE.into(),
            "".into(),
            Value::NULL,
        ],
    ];
    for ps in &params {
        c.exec_drop(&ins, ps.clone()).unwrap();
        assert_eq!(c.affected_rows(), 1);
    }
    c.close(ins).unwrap();
    let mut d = direct_db(db, "st_ps");
    let sel = "SELECT id, n, b, d, dt, f, s, tm FROM t WHERE id >= ? ORDER BY id";
    let via: Vec<Row> = c.exec(sel, (1,)).unwrap();
    let dir: Vec<Row> = d.exec(sel, (1,)).unwrap();
    assert_eq!(via.len(), 3);
    let via: Vec<Vec<Value>> = via.into_iter().map(Row::unwrap).collect();
    let dir: Vec<Vec<Value>> = dir.into_iter().map(Row::unwrap).collect();
    assert!(via == dir, "binary rows differ from MariaDB's");
    assert_eq!(via[0][2], Value::Bytes(blob));
    assert_eq!(via[2][2], Value::Bytes(big));
    assert_eq!(via[1][1], Value::Int(7));
    assert_eq!(via[0][1], Value::NULL);
    // Text protocol agrees too.
    let q = "SELECT id, n, LENGTH(b), MD5(b), d, dt, f, s, tm FROM t ORDER BY id";
    assert_eq!(sets(&mut c, q), sets(&mut d, q));
    // A prepare error passes through.
    assert_eq!(err_code(c.prep("SELECT * FROM nope WHERE a = ?")), 1146);
    // Two sessions preparing the same text get independent statements.
    let s1 = c.prep("SELECT ? * 2").unwrap();
    let s2 = others[0].prep("SELECT ? * 2").unwrap();
    for k in 0..10i64 {
        let a: Option<i64> = c.exec_first(&s1, (k,)).unwrap();
        let b: Option<i64> = others[0].exec_first(&s2, (k + 100,)).unwrap();
        assert_eq!((a, b), (Some(2 * k), Some(2 * (k + 100))));
    }
}

#[test]
fn statements_load_data_local_infile() {
    let db = shared_db();
    db.sql(
        "DROP DATABASE IF EXISTS st_load; CREATE DATABASE st_load;
         CREATE TABLE st_load.t (id INT PRIMARY KEY, name VARCHAR(30));",
    );
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let path = std::env::temp_dir().join(format!("sg-it-load-{}.csv", std::process::id()));
    let mut data = String::new();
    for i in 1..=5000 {
        data.push_str(&format!("{i},name_{i}\n"));
    }
    fs::write(&path, data).unwrap();
    let sql = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE st_load.t FIELDS TERMINATED BY ','; \
         SELECT COUNT(*), SUM(id), MAX(name) FROM st_load.t",
        path.display()
    );
    let out = cli(p.port, APP_USER, APP_PASSWORD, &["--local-infile=1"], &sql);
    let _ = fs::remove_file(&path);
    assert!(out.status.success(), "LOAD DATA: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "5000\t12502500\tname_999");
    assert_eq!(db.sql("SELECT COUNT(*) FROM st_load.t").trim(), "5000");
}

/// Several sessions set different session state and interleave on few
/// backend connections: each sees only its own settings, always.
#[test]
fn statements_session_state_does_not_leak() {
    let db = shared_db();
    db.sql("CREATE DATABASE IF NOT EXISTS st_state_0; CREATE DATABASE IF NOT EXISTS st_state_1; CREATE DATABASE IF NOT EXISTS st_state_2; CREATE DATABASE IF NOT EXISTS st_state_3;");
    let p = Proxy::start(&ProxyConfig::new(db.port).backend("max_connections_per_node = 3"));
    let q = "SELECT @@time_zone, @@sql_mode, @@character_set_client, @@collation_connection, \
             DATABASE(), @@autocommit";
    type State = (String, String, String, String, Option<String>, i64);
    let defaults: State = {
        let mut d = direct(db);
        let s: (String, String, String, String, Option<String>, i64) =
            d.query_first(q).unwrap().unwrap();
        s
    };
    // A session that changes nothing sees MariaDB's defaults.
    let mut plain = p.conn();
    let got: State = plain.query_first(q).unwrap().unwrap();
    assert_eq!(
        got, defaults,
        "a fresh session differs from a direct connection"
    );

    let setups: Vec<(&str, State)> = vec![
        (
            "SET NAMES latin1",
            (
                defaults.0.clone(),
                defaults.1.clone(),
                "latin1".into(),
                "latin1_swedish_ci".into(),
                Some("st_state_0".into()),
                1,
            ),
        ),
        (
            "SET time_zone = '+05:00'",
            (
                "+05:00".into(),
                defaults.1.clone(),
                defaults.2.clone(),
                defaults.3.clone(),
                Some("st_state_1".into()),
                1,
            ),
        ),
        (
            "SET sql_mode = 'ANSI_QUOTES'",
            (
                defaults.0.clone(),
                "ANSI_QUOTES".into(),
                defaults.2.clone(),
                defaults.3.clone(),
                Some("st_state_2".into()),
                1,
            ),
        ),
        (
            "SET SESSION time_zone = '-02:30', @@session.sql_mode = 'PIPES_AS_CONCAT', NAMES ascii, autocommit = 0",
            (
                "-02:30".into(),
                "PIPES_AS_CONCAT".into(),
                "ascii".into(),
                "ascii_general_ci".into(),
                Some("st_state_3".into()),
                0,
            ),
        ),
    ];
    // Sequential interleaving, deterministic.
    let mut conns: Vec<Conn> = (0..setups.len())
        .map(|i| p.conn_db(&format!("st_state_{i}")))
        .collect();
    for (c, (set, _)) in conns.iter_mut().zip(&setups) {
        c.query_drop(set).unwrap_or_else(|e| panic!("{set}: {e}"));
    }
    for round in 0..10 {
        for (i, (c, (_, want))) in conns.iter_mut().zip(&setups).enumerate() {
            let got: State = c.query_first(q).unwrap().unwrap();
            assert_eq!(&got, want, "session {i}, round {round}");
        }
        let got: State = plain.query_first(q).unwrap().unwrap();
        assert_eq!(got, defaults, "untouched session, round {round}");
    }
    // Behaviour, not only variables: ANSI_QUOTES makes "x" an identifier,
    // PIPES_AS_CONCAT makes || concatenate.
    assert_eq!(err_code(conns[2].query_drop("SELECT \"abc\"")), 1054);
    assert_eq!(one::<String>(&mut conns[1], "SELECT \"abc\""), "abc");
    assert_eq!(one::<String>(&mut conns[3], "SELECT 'a' || 'b'"), "ab");
    assert_eq!(one::<i64>(&mut plain, "SELECT 'a' || 'b'"), 0);
    drop(conns);

    // Concurrent: threads hammer with their own settings.
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let mut handles = Vec::new();
    for i in 0..n {
        let opts = p.opts().db_name(Some(format!("st_state_{}", i % 4)));
        let barrier = barrier.clone();
        handles.push(thread::spawn(move || {
            let mut c = Conn::new(Opts::from(opts)).expect("connect");
            let tz = format!("+0{i}:00");
            let mode = [
                "ANSI_QUOTES",
                "PIPES_AS_CONCAT",
                "REAL_AS_FLOAT",
                "IGNORE_SPACE",
                "NO_ZERO_DATE",
                "",
            ][i];
            let cs = ["latin1", "utf8mb4", "ascii", "latin2", "utf8mb3", "binary"][i];
            c.query_drop(format!(
                "SET time_zone = '{tz}', sql_mode = '{mode}', NAMES {cs}"
            ))
            .unwrap();
            barrier.wait();
            for k in 0..100 {
                let got: (String, String, String, Option<String>) = c
                    .query_first(
                        "SELECT @@time_zone, @@sql_mode, @@character_set_client, DATABASE()",
                    )
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    got,
                    (
                        tz.clone(),
                        mode.to_string(),
                        cs.to_string(),
                        Some(format!("st_state_{}", i % 4))
                    ),
                    "thread {i} iteration {k}"
                );
            }
        }));
    }
    for h in handles {
        h.join().expect("session thread");
    }
}

#[test]
fn statements_user_variables_stick_to_the_session() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut a = p.conn();
    let mut others: Vec<Conn> = (0..4).map(|_| p.conn()).collect();
    a.query_drop("SET @x = 42, @s = 'hello'").unwrap();
    for (i, o) in others.iter_mut().enumerate() {
        o.query_drop(format!("SET @x = {i}")).unwrap();
    }
    churn(&mut others);
    assert_eq!(
        a.query_first::<(i64, String), _>("SELECT @x, @s").unwrap(),
        Some((42, "hello".into()))
    );
    for (i, o) in others.iter_mut().enumerate() {
        assert_eq!(one::<i64>(o, "SELECT @x"), i as i64);
    }
    let mut fresh = p.conn();
    assert_eq!(one::<Option<i64>>(&mut fresh, "SELECT @x"), None);
    // SELECT ... INTO @var.
    a.query_drop("SELECT 7 INTO @y").unwrap();
    churn(&mut others);
    assert_eq!(one::<i64>(&mut a, "SELECT @y"), 7);
}

#[test]
fn statements_transactions_commit_and_rollback() {
    let db = shared_db();
    db.sql(
        "DROP DATABASE IF EXISTS st_tx; CREATE DATABASE st_tx;
         CREATE TABLE st_tx.t (id INT PRIMARY KEY) ENGINE=InnoDB;",
    );
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut a = p.conn_db("st_tx");
    let mut b = p.conn_db("st_tx");
    let mut others: Vec<Conn> = (0..3).map(|_| p.conn()).collect();
    let count = |c: &mut Conn| one::<i64>(c, "SELECT COUNT(*) FROM t");

    a.query_drop("BEGIN").unwrap();
    a.query_drop("INSERT INTO t VALUES (1)").unwrap();
    churn(&mut others);
    assert_eq!(count(&mut a), 1, "own uncommitted row visible");
    assert_eq!(count(&mut b), 0, "uncommitted row invisible to others");
    a.query_drop("ROLLBACK").unwrap();
    assert_eq!(count(&mut a), 0);
    assert_eq!(count(&mut b), 0);

    a.query_drop("START TRANSACTION").unwrap();
    a.query_drop("INSERT INTO t VALUES (2)").unwrap();
    churn(&mut others);
    a.query_drop("INSERT INTO t VALUES (3)").unwrap();
    assert_eq!(count(&mut b), 0);
    a.query_drop("COMMIT").unwrap();
    assert_eq!(count(&mut b), 2);

    // autocommit = 0 opens a transaction implicitly.
    a.query_drop("SET autocommit = 0").unwrap();
    a.query_drop("INSERT INTO t VALUES (4)").unwrap();
    churn(&mut others);
    assert_eq!(count(&mut b), 2);
    a.query_drop("ROLLBACK").unwrap();
    a.query_drop("INSERT INTO t VALUES (5)").unwrap();
    churn(&mut others);
    a.query_drop("COMMIT").unwrap();
    a.query_drop("SET autocommit = 1").unwrap();
    let ids: Vec<i64> = b.query("SELECT id FROM t ORDER BY id").unwrap();
    assert_eq!(ids, vec![2, 3, 5]);
    // The mysql crate's transaction API (BEGIN via START TRANSACTION).
    {
        let mut tx = a.start_transaction(mysql::TxOpts::default()).unwrap();
        tx.query_drop("INSERT INTO t VALUES (6)").unwrap();
        tx.rollback().unwrap();
    }
    assert_eq!(count(&mut b), 3);
}

#[test]
fn statements_last_insert_id_right_after_insert() {
    let db = shared_db();
    db.sql(
        "DROP DATABASE IF EXISTS st_lid; CREATE DATABASE st_lid;
         CREATE TABLE st_lid.t (id BIGINT PRIMARY KEY AUTO_INCREMENT, v INT);",
    );
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut conns: Vec<Conn> = (0..4).map(|_| p.conn_db("st_lid")).collect();
    let mut seen = BTreeSet::new();
    for round in 0..10 {
        let mut ids = Vec::new();
        for c in conns.iter_mut() {
            c.query_drop("INSERT INTO t (v) VALUES (1)").unwrap();
            let id = c.last_insert_id();
            assert!(id > 0);
            assert!(seen.insert(id), "duplicate id {id}");
            ids.push(id);
        }
        for (i, c) in conns.iter_mut().enumerate() {
            assert_eq!(
                one::<u64>(c, "SELECT LAST_INSERT_ID()"),
                ids[i],
                "session {i} round {round}"
            );
        }
    }
    // Multi-row insert: the id of the first row, in the OK packet and after.
    conns[0]
        .query_drop("INSERT INTO t (v) VALUES (1), (2), (3)")
        .unwrap();
    let first = conns[0].last_insert_id();
    conns[1].query_drop("INSERT INTO t (v) VALUES (9)").unwrap();
    assert_eq!(one::<u64>(&mut conns[0], "SELECT LAST_INSERT_ID()"), first);
    // Prepared inserts report the id as well.
    let id: u64 = {
        let c = &mut conns[2];
        c.exec_drop("INSERT INTO t (v) VALUES (?)", (5,)).unwrap();
        c.last_insert_id()
    };
    assert_eq!(one::<u64>(&mut conns[2], "SELECT LAST_INSERT_ID()"), id);
}

/// MySQL keeps LAST_INSERT_ID() for the session until the next insert, not
/// only for the statement right after it.
#[test]
fn statements_last_insert_id_after_other_statements() {
    let db = shared_db();
    db.sql(
        "DROP DATABASE IF EXISTS st_lid2; CREATE DATABASE st_lid2;
         CREATE TABLE st_lid2.t (id BIGINT PRIMARY KEY AUTO_INCREMENT, v INT);",
    );
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut a = p.conn_db("st_lid2");
    let mut others: Vec<Conn> = (0..3).map(|_| p.conn_db("st_lid2")).collect();
    a.query_drop("INSERT INTO t (v) VALUES (1)").unwrap();
    let id = a.last_insert_id();
    a.query_drop("SELECT 1").unwrap();
    for o in others.iter_mut() {
        o.query_drop("INSERT INTO t (v) VALUES (2)").unwrap();
    }
    churn(&mut others);
    assert_eq!(one::<u64>(&mut a, "SELECT LAST_INSERT_ID()"), id);
}

#[test]
fn statements_sql_calc_found_rows() {
    let db = shared_db();
    db.sql(
        "DROP DATABASE IF EXISTS st_fr; CREATE DATABASE st_fr;
         CREATE TABLE st_fr.t (id INT PRIMARY KEY);
         INSERT INTO st_fr.t SELECT seq FROM st_fr.seq_1_to_50;",
    );
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut a = p.conn_db("st_fr");
    let mut b = p.conn_db("st_fr");
    for _ in 0..5 {
        let got = rows(
            &mut a,
            "SELECT SQL_CALC_FOUND_ROWS id FROM t ORDER BY id LIMIT 5",
        );
        assert_eq!(got.len(), 5);
        let got = rows(
            &mut b,
            "SELECT SQL_CALC_FOUND_ROWS id FROM t WHERE id <= 3 LIMIT 1",
        );
        assert_eq!(got.len(), 1);
        assert_eq!(one::<i64>(&mut a, "SELECT FOUND_ROWS()"), 50);
        assert_eq!(one::<i64>(&mut b, "SELECT FOUND_ROWS()"), 3);
    }
}

#[test]
fn statements_found_rows_after_plain_select() {
    let db = shared_db();
    db.sql(
        "DROP DATABASE IF EXISTS st_fr2; CREATE DATABASE st_fr2;
         CREATE TABLE st_fr2.t (id INT PRIMARY KEY);
         INSERT INTO st_fr2.t SELECT seq FROM st_fr2.seq_1_to_20;",
    );
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut a = p.conn_db("st_fr2");
    let mut b = p.conn_db("st_fr2");
    assert_eq!(rows(&mut a, "SELECT id FROM t WHERE id <= 7").len(), 7);
    assert_eq!(rows(&mut b, "SELECT id FROM t WHERE id <= 2").len(), 2);
    assert_eq!(one::<i64>(&mut a, "SELECT FOUND_ROWS()"), 7);
}

#[test]
fn statements_temporary_tables_survive_and_stay_private() {
    let db = shared_db();
    db.sql("CREATE DATABASE IF NOT EXISTS st_tmp");
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut a = p.conn_db("st_tmp");
    let mut b = p.conn_db("st_tmp");
    let mut others: Vec<Conn> = (0..3).map(|_| p.conn()).collect();
    a.query_drop("CREATE TEMPORARY TABLE tt (id INT)").unwrap();
    churn(&mut others);
    a.query_drop("INSERT INTO tt VALUES (1), (2), (3)").unwrap();
    churn(&mut others);
    assert_eq!(err_code(b.query_drop("SELECT * FROM tt")), 1146);
    for _ in 0..5 {
        churn(&mut others);
        assert_eq!(one::<i64>(&mut a, "SELECT COUNT(*) FROM tt"), 3);
    }
    a.query_drop("DROP TEMPORARY TABLE tt").unwrap();
    assert_eq!(err_code(a.query_drop("SELECT * FROM tt")), 1146);
}

#[test]
fn statements_user_level_locks() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut a = p.conn();
    let mut b = p.conn();
    let mut others: Vec<Conn> = (0..3).map(|_| p.conn()).collect();
    assert_eq!(one::<i64>(&mut a, "SELECT GET_LOCK('sg_it_lock', 0)"), 1);
    churn(&mut others);
    assert_eq!(one::<i64>(&mut b, "SELECT GET_LOCK('sg_it_lock', 0)"), 0);
    assert_eq!(
        one::<i64>(
            &mut a,
            "SELECT IS_USED_LOCK('sg_it_lock') = CONNECTION_ID()"
        ),
        1
    );
    churn(&mut others);
    assert_eq!(one::<i64>(&mut a, "SELECT RELEASE_LOCK('sg_it_lock')"), 1);
    assert_eq!(one::<i64>(&mut b, "SELECT GET_LOCK('sg_it_lock', 0)"), 1);
    assert_eq!(
        one::<Option<i64>>(&mut a, "SELECT RELEASE_LOCK('sg_it_lock')"),
        Some(0),
        "a does not hold it any more"
    );
    assert_eq!(one::<i64>(&mut b, "SELECT RELEASE_LOCK('sg_it_lock')"), 1);
}

#[test]
fn statements_lock_tables() {
    let db = shared_db();
    db.sql(
        "DROP DATABASE IF EXISTS st_lock; CREATE DATABASE st_lock;
         CREATE TABLE st_lock.t (id INT); CREATE TABLE st_lock.u (id INT);",
    );
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut a = p.conn_db("st_lock");
    let mut b = p.conn_db("st_lock");
    let mut others: Vec<Conn> = (0..3).map(|_| p.conn()).collect();
    a.query_drop("LOCK TABLES t WRITE").unwrap();
    churn(&mut others);
    a.query_drop("INSERT INTO t VALUES (1)").unwrap();
    // The locking session is still the one holding the lock: a table it
    // did not lock is refused (ER_TABLE_NOT_LOCKED).
    assert_eq!(err_code(a.query_drop("SELECT * FROM u")), 1100);
    b.query_drop("SET SESSION lock_wait_timeout = 1").unwrap();
    assert_eq!(err_code(b.query_drop("SELECT * FROM t")), 1205);
    churn(&mut others);
    a.query_drop("UNLOCK TABLES").unwrap();
    assert_eq!(one::<i64>(&mut b, "SELECT COUNT(*) FROM t"), 1);
    a.query_drop("SELECT * FROM u").unwrap();
}

#[test]
fn statements_slow_query_is_logged() {
    let db = shared_db();
    let p = Proxy::start(&ProxyConfig::new(db.port));
    let mut c = p.conn_db("mysql");
    c.query_drop("SELECT 'fast one'").unwrap();
    c.query_drop("SELECT SLEEP(1.2)").unwrap();
    assert!(
        p.wait_log("SLEEP(1.2)", Duration::from_secs(3)),
        "slow statement not logged:\n{}",
        p.log()
    );
    let log = p.log();
    let line = log
        .lines()
        .find(|l| l.contains("SLEEP(1.2)"))
        .unwrap()
        .to_string();
    assert!(line.contains("app"), "user missing: {line}");
    assert!(line.contains("mysql"), "schema missing: {line}");
    assert!(line.contains("g0"), "target missing: {line}");
    assert!(!log.contains("fast one"), "fast statement logged:\n{log}");
}
