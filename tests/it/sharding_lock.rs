//! LOCK TABLES / UNLOCK TABLES over sharded, broadcast and unsharded
//! tables through shardgate (issue 4), and what depends on them:
//! `mariadb-dump` (which locks the tables it reads, and writes LOCK TABLES
//! around every table's rows) dumping and restoring through shardgate,
//! and CHECKSUM TABLE, which compares the data with another server's.
//!
//! Runs on the three-group cluster of `sharding.rs` (`orders` and
//! `scratch` hashed by their key over 5 shards: `k % 5` 0 and 1 on g0, 2 on
//! g1, 3 and 4 on g2; `country` broadcast), under its [`serial`] lock.

use std::time::{Duration, Instant};

use mysql::Conn;

use crate::common::{cli, run_bounded, server_err, text};
use crate::proxy::{APP_PASSWORD, APP_USER};
use crate::sharding::{cluster, phys, q, run, serial};

/// `orders` keys of this module: on g0 (shard 0), g1 (2), g2 (4).
const ON_G0: i64 = 770_000;
const ON_G1: i64 = 770_002;
const ON_G2: i64 = 770_004;

fn proxy_conn() -> Conn {
    cluster().proxy.conn_db("blog")
}

/// A second session that gives up on a table lock after one second.
fn impatient_conn() -> Conn {
    let mut conn = proxy_conn();
    q(
        &mut conn,
        "SET SESSION lock_wait_timeout = 1, innodb_lock_wait_timeout = 1",
    );
    conn
}

/// The error code of `sql` (`None` when it succeeds).
fn err_code(conn: &mut Conn, sql: &str) -> Option<u16> {
    match run(conn, sql) {
        Ok(_) => None,
        Err(e) => Some(
            server_err(&e)
                .unwrap_or_else(|| panic!("{sql}: not a server error: {e}"))
                .0,
        ),
    }
}

/// Whether another session can write the `orders` row `key` now (`false`:
/// it waited for a table lock and gave up, ERR 1205).
fn can_write(key: i64) -> bool {
    let mut other = impatient_conn();
    let started = Instant::now();
    let code = err_code(
        &mut other,
        &format!("UPDATE orders SET note = 'other' WHERE order_id = {key}"),
    );
    match code {
        None => true,
        Some(1205) => {
            assert!(started.elapsed() >= Duration::from_millis(900));
            false
        }
        Some(c) => panic!("update of {key}: unexpected ERR {c}"),
    }
}

/// This module's three `orders` rows, one per group, as new.
fn fresh_rows(conn: &mut Conn) {
    q(
        conn,
        &format!("DELETE FROM orders WHERE order_id IN ({ON_G0}, {ON_G1}, {ON_G2})"),
    );
    q(
        conn,
        &format!(
            "INSERT INTO orders (order_id, amount) VALUES ({ON_G0}, 1), ({ON_G1}, 2), ({ON_G2}, 3)"
        ),
    );
}

#[test]
fn lock_tables_hold_on_every_group_until_released() {
    let _s = serial();
    let mut a = proxy_conn();
    fresh_rows(&mut a);
    q(&mut a, "DROP TABLE IF EXISTS lock_notes");
    q(&mut a, "CREATE TABLE lock_notes (id INT PRIMARY KEY)");
    for key in [ON_G0, ON_G1, ON_G2] {
        assert!(can_write(key), "{key} before any lock");
    }

    // A WRITE lock on a sharded table holds on every group that has one
    // of its physical tables; the locking session reads and writes it.
    q(&mut a, "LOCK TABLES orders WRITE, country READ");
    for key in [ON_G0, ON_G1, ON_G2] {
        assert!(!can_write(key), "{key} under another session's WRITE lock");
    }
    let n = q(
        &mut a,
        &format!("SELECT COUNT(*) FROM orders WHERE order_id IN ({ON_G0}, {ON_G1}, {ON_G2})"),
    );
    assert_eq!(n.rows, [["3"]]);
    q(
        &mut a,
        &format!("UPDATE orders SET note = 'mine' WHERE order_id = {ON_G2}"),
    );
    // As on one server: a table not locked cannot be used meanwhile.
    assert_eq!(err_code(&mut a, "SELECT * FROM lock_notes"), Some(1100));

    // A new LOCK TABLES releases the earlier locks on every group, also
    // on those it does not lock anything on (lock_notes lives on g0 only).
    q(&mut a, "LOCK TABLES lock_notes READ");
    for key in [ON_G0, ON_G1, ON_G2] {
        assert!(
            can_write(key),
            "{key} after the session locked another table"
        );
    }
    q(&mut a, "SELECT * FROM lock_notes");
    q(&mut a, "UNLOCK TABLES");
    q(&mut a, "SELECT COUNT(*) FROM item");

    // UNLOCK TABLES releases every group's locks.
    q(&mut a, "LOCK TABLES orders READ");
    assert!(!can_write(ON_G1));
    q(&mut a, "UNLOCK TABLES");
    for key in [ON_G0, ON_G1, ON_G2] {
        assert!(can_write(key), "{key} after UNLOCK TABLES");
    }

    // A LOCK TABLES that fails on one group (lock_missing does not exist,
    // on g0) leaves no lock on the others, and the session out of lock
    // mode, as one server does.
    let code = err_code(&mut a, "LOCK TABLES orders WRITE, lock_missing READ");
    assert_eq!(code, Some(1146));
    for key in [ON_G0, ON_G1, ON_G2] {
        assert!(can_write(key), "{key} after a failed LOCK TABLES");
    }
    q(&mut a, "SELECT COUNT(*) FROM item");

    // One alias cannot name the two physical tables g0 holds.
    let msg = match run(&mut a, "LOCK TABLES orders AS o READ") {
        Err(e) => server_err(&e).expect("an ERR"),
        Ok(o) => panic!("aliased lock of orders accepted: {o:?}"),
    };
    assert_eq!(msg.0, 1235, "{msg:?}");
    assert!(msg.1.starts_with("shardgate:"), "{msg:?}");

    // A session that disconnects while holding locks releases them.
    q(&mut a, "LOCK TABLES orders WRITE");
    assert!(!can_write(ON_G0));
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !can_write(ON_G0) {
        assert!(
            Instant::now() < deadline,
            "locks kept after the session closed"
        );
    }
    for key in [ON_G1, ON_G2] {
        assert!(can_write(key), "{key} after the locking session closed");
    }
    let mut a = proxy_conn();
    q(&mut a, "DROP TABLE lock_notes");
}

fn table_rows(conn: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    q(conn, sql).rows
}

#[test]
fn mariadb_dump_through_shardgate_dumps_and_restores_sharded_tables() {
    let _s = serial();
    let c = cluster();
    let mut conn = proxy_conn();
    q(&mut conn, "DROP TABLE IF EXISTS scratch");
    q(&mut conn, "DROP TABLE IF EXISTS dump_notes");
    q(
        &mut conn,
        "CREATE TABLE scratch (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) CHARACTER SET utf8mb4, \
         d DECIMAL(8,2))",
    );
    q(
        &mut conn,
        "CREATE TABLE dump_notes (id INT NOT NULL PRIMARY KEY, note VARCHAR(20))",
    );
    let values: Vec<String> = (1..=200)
        .map(|i| {
            let v = match i % 4 {
                0 => "NULL".to_string(),
                1 => format!("'caf\u{e9} {i}'"),
                2 => format!("'it''s {i}'"),
                _ => format!("'\u{1F600} {i}'"),
            };
            format!("({i}, {v}, {i}.25)")
        })
        .collect();
    q(
        &mut conn,
        &format!("INSERT INTO scratch VALUES {}", values.join(", ")),
    );
    q(
        &mut conn,
        "INSERT INTO dump_notes VALUES (1, 'one'), (2, 'two')",
    );
    q(&mut conn, "REPLACE INTO country VALUES ('zq', 'Dumpland')");
    let scratch_before = table_rows(&mut conn, "SELECT * FROM scratch ORDER BY id");
    let notes_before = table_rows(&mut conn, "SELECT * FROM dump_notes ORDER BY id");
    let country_before = table_rows(&mut conn, "SELECT * FROM country ORDER BY code");
    assert_eq!(scratch_before.len(), 200);

    // The default dump: LOCK TABLES ... READ LOCAL over all three tables
    // (sharded, unsharded, broadcast), then each table's rows.
    let dir = std::env::temp_dir().join(format!("shardgate-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dump dir");
    let file = dir.join("blog.sql");
    let mut dump = std::process::Command::new("mariadb-dump");
    dump.arg("--no-defaults")
        .arg("--protocol=TCP")
        .arg("-h127.0.0.1")
        .arg(format!("-P{}", c.proxy.port))
        .arg(format!("-u{APP_USER}"))
        .arg(format!("--password={APP_PASSWORD}"))
        .args(["blog", "scratch", "dump_notes", "country"]);
    let out = run_bounded(&mut dump, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "mariadb-dump failed: {}",
        text(&out.stderr)
    );
    let sql = text(&out.stdout);
    for expected in [
        "CREATE TABLE `scratch`",
        "LOCK TABLES `scratch` WRITE",
        "INSERT INTO `scratch` VALUES",
        "INSERT INTO `dump_notes` VALUES",
        "INSERT INTO `country` VALUES",
    ] {
        assert!(sql.contains(expected), "dump lacks {expected:?}");
    }
    assert!(!sql.contains("scratch_000"), "physical names in the dump");
    std::fs::write(&file, &out.stdout).expect("write dump");

    // Lose the data, then restore the dump through shardgate.
    q(&mut conn, "DELETE FROM scratch");
    q(&mut conn, "DROP TABLE dump_notes");
    let out = cli(
        c.proxy.port,
        APP_USER,
        APP_PASSWORD,
        &["blog"],
        &format!("source {}", file.display()),
    );
    assert!(
        out.status.success(),
        "restore failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);

    let mut conn = proxy_conn();
    assert_eq!(
        table_rows(&mut conn, "SELECT * FROM scratch ORDER BY id"),
        scratch_before
    );
    assert_eq!(
        table_rows(&mut conn, "SELECT * FROM dump_notes ORDER BY id"),
        notes_before
    );
    assert_eq!(
        table_rows(&mut conn, "SELECT * FROM country ORDER BY code"),
        country_before
    );
    // Every row is back on its shard: `id % 5` on the group of that shard.
    let layout = [(0, 0), (0, 1), (1, 2), (2, 3), (2, 4)];
    for (g, s) in layout {
        let on_shard = c.dbs[g].sql(&format!(
            "SELECT COUNT(*), COALESCE(SUM(id % 5 <> {s}), 0) FROM blog.{}",
            phys("scratch", s)
        ));
        assert_eq!(
            on_shard.split_whitespace().collect::<Vec<_>>(),
            ["40", "0"],
            "scratch_{s:04} on g{g}"
        );
    }
    // The restore left the session's connections without locks.
    q(&mut conn, "UPDATE scratch SET d = d + 1 WHERE id = 3");
    q(&mut conn, "DROP TABLE scratch");
    q(&mut conn, "DROP TABLE dump_notes");
    q(&mut conn, "DELETE FROM country WHERE code = 'zq'");
}

#[test]
fn checksum_table_of_a_sharded_table_is_one_servers_checksum() {
    let _s = serial();
    let c = cluster();
    let mut conn = proxy_conn();
    let ddl =
        "CREATE TABLE scratch (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) CHARACTER SET utf8mb4, \
               d DECIMAL(8,2), n INT NULL)";
    q(&mut conn, "DROP TABLE IF EXISTS scratch");
    q(&mut conn, ddl);
    let values: Vec<String> = (1..=300)
        .map(|i| {
            let n = if i % 3 == 0 {
                "NULL".to_string()
            } else {
                (i * 7).to_string()
            };
            format!("({i}, 'v\u{e9}{i}', {i}.5, {n})")
        })
        .collect();
    let insert = format!("INSERT INTO scratch VALUES {}", values.join(", "));
    q(&mut conn, &insert);
    // The same rows in one table of one server.
    c.dbs[0].sql(&format!(
        "DROP DATABASE IF EXISTS checksum_plain; CREATE DATABASE checksum_plain CHARACTER SET utf8mb4; \
         USE checksum_plain; SET NAMES utf8mb4; {ddl}; {insert};"
    ));
    let plain = c.dbs[0].sql("CHECKSUM TABLE checksum_plain.scratch");
    let plain: Vec<&str> = plain.split_whitespace().collect();
    assert_eq!(plain.len(), 2, "{plain:?}");
    assert_ne!(plain[1], "NULL");

    let got = q(&mut conn, "CHECKSUM TABLE scratch");
    assert_eq!(got.cols, ["Table", "Checksum"]);
    assert_eq!(got.rows, [["blog.scratch", plain[1]]]);
    // With other tables, and EXTENDED: one row each, in the list's order.
    let got = q(&mut conn, "CHECKSUM TABLE scratch, country EXTENDED");
    assert_eq!(got.rows.len(), 2, "{:?}", got.rows);
    assert_eq!(got.rows[0], ["blog.scratch", plain[1]]);
    assert_eq!(got.rows[1][0], "blog.country");
    // A changed row changes it; QUICK (no live checksum) is NULL.
    q(&mut conn, "UPDATE scratch SET n = 1 WHERE id = 299");
    let changed = q(&mut conn, "CHECKSUM TABLE scratch");
    assert_ne!(changed.rows[0][1], plain[1]);
    let quick = q(&mut conn, "CHECKSUM TABLE scratch QUICK");
    assert_eq!(quick.rows, [["blog.scratch", "NULL"]]);

    // A broadcast table's copies agree: one row. A copy that drifted (a
    // row written on g2 alone) shows as a second row.
    assert_eq!(q(&mut conn, "CHECKSUM TABLE country").rows.len(), 1);
    c.dbs[2].sql("INSERT INTO blog.country VALUES ('zx', 'Drift')");
    let drifted = q(&mut conn, "CHECKSUM TABLE country");
    c.dbs[2].sql("DELETE FROM blog.country WHERE code = 'zx'");
    assert_eq!(drifted.rows.len(), 2, "{:?}", drifted.rows);
    assert_ne!(drifted.rows[0][1], drifted.rows[1][1]);

    c.dbs[0].sql("DROP DATABASE checksum_plain");
    q(&mut conn, "DROP TABLE scratch");
}

#[test]
fn prepared_lock_and_unlock_tables_cover_every_group() {
    use mysql::prelude::Queryable;
    let _s = serial();
    let mut a = proxy_conn();
    fresh_rows(&mut a);
    // COM_STMT_PREPARE / EXECUTE (mysql-connector with prepared=True,
    // server-side prepared JDBC): the same as the queries.
    a.exec_drop("LOCK TABLES orders WRITE", ())
        .expect("prepared LOCK");
    for key in [ON_G0, ON_G1, ON_G2] {
        assert!(!can_write(key), "{key} under a prepared LOCK TABLES");
    }
    a.exec_drop("UNLOCK TABLES", ()).expect("prepared UNLOCK");
    for key in [ON_G0, ON_G1, ON_G2] {
        assert!(can_write(key), "{key} after a prepared UNLOCK TABLES");
    }
}
