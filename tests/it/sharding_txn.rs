//! Transactions over several groups through shardgate (issue 4): with
//! `SET autocommit = 0` or `BEGIN`, a session holds one connection per
//! group it touches, and every one of them must be in the transaction:
//! other sessions (direct connections to each MariaDB) see nothing before
//! COMMIT, ROLLBACK undoes the writes on every group (sharded rows and
//! broadcast copies alike), and `SET autocommit = 1` commits them all, as
//! MySQL does. Reads of broadcast tables inside a transaction return the
//! transaction's own rows.
//!
//! Runs on the three-group cluster of `sharding.rs` (schema `blog`,
//! `article` by ranges of 1000 `user_id`s: 100 on g0, 2100 on g1, 3100 on
//! g2; `country` broadcast), under its [`serial`] lock, with its own keys.

use mysql::prelude::Queryable;
use mysql::Conn;

use crate::common::direct_db;
use crate::sharding::{cluster, q, serial, GROUPS};

/// Article ids of this module (each test cleans them up).
const ID_LO: i64 = 970_000;
/// One user per group: g0, g1, g2.
const USERS: [i64; 3] = [100, 2100, 3100];
/// Broadcast `country` codes of this module.
const CODE: &str = "Q1";

fn proxy_conn() -> Conn {
    cluster().proxy.conn_db("blog")
}

/// Committed state as another session sees it, group by group: the
/// number of this module's article rows, and whether the country copy is
/// there.
fn committed(ids_from: i64) -> Vec<(i64, bool)> {
    cluster()
        .dbs
        .iter()
        .enumerate()
        .map(|(g, db)| {
            let mut d = direct_db(db, "blog");
            let mut n = 0i64;
            for t in article_tables(g) {
                let c: i64 = d
                    .query_first(format!("SELECT COUNT(*) FROM {t} WHERE id >= {ids_from}"))
                    .expect("count")
                    .expect("a row");
                n += c;
            }
            let copy: Option<String> = d
                .query_first(format!("SELECT name FROM country WHERE code = '{CODE}'"))
                .expect("country");
            (n, copy.is_some())
        })
        .collect()
}

fn write_everywhere(conn: &mut Conn, id: i64) {
    for (i, u) in USERS.iter().enumerate() {
        q(
            conn,
            &format!(
                "INSERT INTO article (id, user_id, title) VALUES ({}, {u}, 'txn')",
                id + i as i64
            ),
        );
    }
    q(
        conn,
        &format!("INSERT INTO country (code, name) VALUES ('{CODE}', 'Txnland')"),
    );
}

fn cleanup(conn: &mut Conn) {
    q(conn, "SET autocommit = 1");
    q(conn, &format!("DELETE FROM article WHERE id >= {ID_LO}"));
    q(conn, &format!("DELETE FROM country WHERE code = '{CODE}'"));
}

#[test]
fn autocommit_off_covers_every_group_and_rollback_undoes_all() {
    let _s = serial();
    let mut conn = proxy_conn();
    cleanup(&mut conn);
    let nothing = vec![(0, false); GROUPS.len()];

    q(&mut conn, "SET autocommit = 0");
    write_everywhere(&mut conn, ID_LO);
    assert_eq!(
        committed(ID_LO),
        nothing,
        "with autocommit off no group may commit before COMMIT"
    );
    // The session itself sees its rows, on every group, and the broadcast
    // copy (a read that must return rows, not an OK).
    let mine = q(
        &mut conn,
        &format!("SELECT user_id FROM article WHERE id >= {ID_LO} ORDER BY user_id"),
    );
    assert_eq!(mine.rows, vec![vec!["100"], vec!["2100"], vec!["3100"]]);
    let copy = q(
        &mut conn,
        &format!("SELECT name FROM country WHERE code = '{CODE}'"),
    );
    assert_eq!(copy.cols, vec!["name"]);
    assert_eq!(copy.rows, vec![vec!["Txnland"]]);
    q(&mut conn, "ROLLBACK");
    assert_eq!(committed(ID_LO), nothing, "ROLLBACK undoes every group");
    let left = q(
        &mut conn,
        &format!("SELECT COUNT(*) FROM article WHERE id >= {ID_LO}"),
    );
    assert_eq!(left.rows, vec![vec!["0"]]);

    // Still autocommit off: the next writes are a new transaction.
    write_everywhere(&mut conn, ID_LO + 10);
    assert_eq!(committed(ID_LO), nothing);
    q(&mut conn, "COMMIT");
    assert_eq!(committed(ID_LO), vec![(1, true); GROUPS.len()]);

    // SET autocommit = 1 commits what is pending, on every group.
    q(
        &mut conn,
        &format!("DELETE FROM country WHERE code = '{CODE}'"),
    );
    q(
        &mut conn,
        &format!("DELETE FROM article WHERE id >= {ID_LO}"),
    );
    assert_eq!(committed(ID_LO), vec![(1, true); GROUPS.len()]);
    q(&mut conn, "SET autocommit = 1");
    assert_eq!(committed(ID_LO), nothing, "SET autocommit = 1 commits");

    // Back in autocommit mode every write commits at once.
    write_everywhere(&mut conn, ID_LO + 20);
    assert_eq!(committed(ID_LO), vec![(1, true); GROUPS.len()]);
    cleanup(&mut conn);
}

#[test]
fn begin_covers_every_group_and_broadcast_reads_see_the_transaction() {
    let _s = serial();
    let mut conn = proxy_conn();
    cleanup(&mut conn);
    let nothing = vec![(0, false); GROUPS.len()];
    for end in ["ROLLBACK", "COMMIT"] {
        q(&mut conn, "BEGIN");
        write_everywhere(&mut conn, ID_LO + 30);
        for _ in 0..GROUPS.len() {
            // Whatever group a read would be balanced to, inside the
            // transaction it sees the transaction's own copy.
            let copy = q(
                &mut conn,
                &format!("SELECT code, name FROM country WHERE code = '{CODE}'"),
            );
            assert_eq!(copy.rows, vec![vec![CODE, "Txnland"]], "{end}");
        }
        assert_eq!(committed(ID_LO), nothing, "{end}: nothing before the end");
        q(&mut conn, end);
        let want = if end == "COMMIT" {
            vec![(1, true); GROUPS.len()]
        } else {
            nothing.clone()
        };
        assert_eq!(committed(ID_LO), want, "after {end}");
    }
    cleanup(&mut conn);
}

/// The physical `article` tables of group `g`.
fn article_tables(g: usize) -> &'static [&'static str] {
    match g {
        0 => &["article_0000", "article_0001"],
        1 => &["article_0002"],
        _ => &["article_0003"],
    }
}

/// `(user_id, id)` rows of this module committed on group `g` (as another
/// session sees them), sorted.
fn committed_rows(g: usize) -> Vec<(i64, i64)> {
    let mut d = direct_db(&cluster().dbs[g], "blog");
    let mut rows = Vec::new();
    for t in article_tables(g) {
        let r: Vec<(i64, i64)> = d
            .query(format!("SELECT user_id, id FROM {t} WHERE id >= {ID_LO}"))
            .expect("rows");
        rows.extend(r);
    }
    rows.sort_unstable();
    rows
}

fn err_code(conn: &mut Conn, sql: &str) -> u16 {
    match conn.query_drop(sql) {
        Ok(()) => panic!("{sql}: expected an error"),
        Err(mysql::Error::MySqlError(e)) => e.code,
        Err(e) => panic!("{sql}: {e}"),
    }
}

#[test]
fn a_write_on_several_shards_is_all_or_nothing_in_autocommit_mode() {
    let _s = serial();
    let mut conn = proxy_conn();
    cleanup(&mut conn);
    let [u0, u1, u2] = USERS;
    let lo = ID_LO + 40;

    // A multi-row INSERT split over the three groups, whose g2 row is a
    // duplicate: nothing of it stays anywhere, as on one server.
    q(
        &mut conn,
        &format!("INSERT INTO article (id, user_id, title) VALUES ({lo}, {u2}, 'first')"),
    );
    let code = err_code(
        &mut conn,
        &format!(
            "INSERT INTO article (id, user_id, title) VALUES ({}, {u0}, 'x'), ({}, {u1}, 'x'), \
             ({lo}, {u2}, 'dup')",
            lo + 1,
            lo + 2
        ),
    );
    assert_eq!(code, 1062, "duplicate key on one shard");
    assert_eq!(committed_rows(0), vec![], "g0 rolled back");
    assert_eq!(committed_rows(1), vec![], "g1 rolled back");
    assert_eq!(committed_rows(2), vec![(u2, lo)]);

    // A scatter UPDATE that fails on g0 only (two rows of one user get the
    // same primary key): g1's row keeps its id.
    q(
        &mut conn,
        &format!(
            "INSERT INTO article (id, user_id, title) VALUES ({}, {u0}, 'a'), ({}, {u0}, 'b'), \
             ({}, {u1}, 'c')",
            lo + 10,
            lo + 11,
            lo + 12
        ),
    );
    let dup_update = format!(
        "UPDATE article SET id = {} WHERE id BETWEEN {} AND {}",
        lo + 20,
        lo + 10,
        lo + 12
    );
    let code = err_code(&mut conn, &dup_update);
    assert_eq!(code, 1062, "duplicate key on g0");
    assert_eq!(committed_rows(0), vec![(u0, lo + 10), (u0, lo + 11)]);
    assert_eq!(committed_rows(1), vec![(u1, lo + 12)], "g1 rolled back");
    // The same as a prepared statement (routed at EXECUTE).
    let stmt = conn
        .prep("UPDATE article SET id = ? WHERE id BETWEEN ? AND ?")
        .expect("prepare");
    match conn.exec_drop(&stmt, (lo + 20, lo + 10, lo + 12)) {
        Err(mysql::Error::MySqlError(e)) => assert_eq!(e.code, 1062),
        other => panic!("prepared duplicate update: {other:?}"),
    }
    assert_eq!(
        committed_rows(1),
        vec![(u1, lo + 12)],
        "g1 rolled back (prepared)"
    );

    // A broadcast INSERT whose row already exists on g1 only.
    let mut g1 = direct_db(&cluster().dbs[1], "blog");
    g1.query_drop(format!(
        "INSERT INTO country (code, name) VALUES ('{CODE}', 'only g1')"
    ))
    .expect("direct insert");
    let code = err_code(
        &mut conn,
        &format!("INSERT INTO country (code, name) VALUES ('{CODE}', 'Txnland')"),
    );
    assert_eq!(code, 1062, "duplicate on g1");
    let copies: Vec<bool> = committed(ID_LO).iter().map(|&(_, c)| c).collect();
    assert_eq!(copies, vec![false, true, false], "g0 and g2 rolled back");
    g1.query_drop(format!("DELETE FROM country WHERE code = '{CODE}'"))
        .expect("direct delete");

    // Success: committed everywhere at once, affected rows summed, and the
    // session is not left in a transaction (ROLLBACK undoes nothing).
    conn.query_drop(format!(
        "UPDATE article SET title = 'done' WHERE id >= {ID_LO}"
    ))
    .expect("scatter update");
    assert_eq!(conn.affected_rows(), 4);
    q(&mut conn, "ROLLBACK");
    for g in 0..GROUPS.len() {
        let mut d = direct_db(&cluster().dbs[g], "blog");
        for t in article_tables(g) {
            let n: i64 = d
                .query_first(format!(
                    "SELECT COUNT(*) FROM {t} WHERE id >= {ID_LO} AND title <> 'done'"
                ))
                .expect("count")
                .expect("a row");
            assert_eq!(n, 0, "{t}: the update is committed");
        }
    }
    // Inside an explicit transaction the application decides: a failed
    // statement leaves the other shards' changes to its COMMIT/ROLLBACK.
    q(&mut conn, "BEGIN");
    assert_eq!(err_code(&mut conn, &dup_update), 1062);
    q(&mut conn, "ROLLBACK");
    assert_eq!(committed_rows(1), vec![(u1, lo + 12)]);
    cleanup(&mut conn);
}

/// Concurrent writes over the same rows of every group, outside any
/// transaction: shardgate's own transactions take the groups in one order,
/// so they never wait for each other across servers (in parallel, two of
/// them could each hold one group's rows and wait for the other's: a
/// deadlock no server sees, ended only by innodb_lock_wait_timeout).
#[test]
fn concurrent_multi_group_writes_do_not_deadlock_across_groups() {
    let _s = serial();
    let mut conn = proxy_conn();
    cleanup(&mut conn);
    write_everywhere(&mut conn, ID_LO + 50);
    let start = std::sync::Barrier::new(4);
    let results: Vec<Vec<(std::time::Duration, Option<String>)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let start = &start;
                s.spawn(move || {
                    let mut c = proxy_conn();
                    start.wait();
                    (0..25)
                        .map(|i| {
                            let t = std::time::Instant::now();
                            let r = c.query_drop(format!(
                                "UPDATE article SET title = 'w{w} {i}' WHERE id >= {ID_LO}"
                            ));
                            (t.elapsed(), r.err().map(|e| e.to_string()))
                        })
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    for (w, runs) in results.iter().enumerate() {
        for (i, (took, err)) in runs.iter().enumerate() {
            assert!(err.is_none(), "worker {w} statement {i}: {err:?}");
            assert!(
                *took < std::time::Duration::from_secs(10),
                "worker {w} statement {i} waited {took:?}"
            );
        }
    }
    cleanup(&mut conn);
}

/// Each statement's outcome: `ok` or the server's error code.
fn outcomes(conn: &mut Conn, statements: &[&str]) -> Vec<String> {
    statements
        .iter()
        .map(|s| match conn.query_drop(s) {
            Ok(()) => "ok".to_string(),
            Err(mysql::Error::MySqlError(e)) => e.code.to_string(),
            Err(e) => panic!("{s}: {e}"),
        })
        .collect()
}

/// Runs each scenario through shardgate on `orders` (keys `lo + k`: `k %
/// 5` is the shard, 0 and 1 on g0, 2 on g1, 3 and 4 on g2, so the
/// transactions reach the groups one after another) and on one plain
/// MariaDB (a table of the same columns); asserts the same outcome for
/// every statement and the same rows in the end. Returns the rows.
fn same_as_one_server(lo: i64, scenarios: &[Vec<String>]) -> Vec<(i64, String)> {
    let c = cluster();
    let mut plain = direct_db(&c.dbs[0], "blog");
    plain
        .query_drop(
            "CREATE TABLE IF NOT EXISTS txn_plain (order_id BIGINT NOT NULL PRIMARY KEY, \
             amount DECIMAL(10,2), note VARCHAR(50))",
        )
        .expect("plain table");
    plain.query_drop("DELETE FROM txn_plain").expect("clean");
    let mut conn = proxy_conn();
    let clean = format!(
        "DELETE FROM orders WHERE order_id BETWEEN {lo} AND {}",
        lo + 99
    );
    q(&mut conn, &clean);
    for scenario in scenarios {
        let statements: Vec<&str> = scenario.iter().map(String::as_str).collect();
        let through = outcomes(&mut conn, &statements);
        let plain_statements: Vec<String> = scenario
            .iter()
            .map(|s| s.replace("orders", "txn_plain"))
            .collect();
        let plain_statements: Vec<&str> = plain_statements.iter().map(String::as_str).collect();
        let direct = outcomes(&mut plain, &plain_statements);
        assert_eq!(through, direct, "outcomes of {statements:?}");
    }
    let rows = |conn: &mut Conn, table: &str| -> Vec<(i64, String)> {
        conn.query(format!(
            "SELECT order_id, CAST(amount AS CHAR) FROM {table} \
             WHERE order_id BETWEEN {lo} AND {} ORDER BY order_id",
            lo + 99
        ))
        .expect("rows")
    };
    let mine = rows(&mut conn, "orders");
    assert_eq!(mine, rows(&mut plain, "txn_plain"));
    q(&mut conn, &clean);
    plain.query_drop("DROP TABLE txn_plain").expect("drop");
    mine
}

fn insert(lo: i64, k: i64) -> String {
    format!(
        "INSERT INTO orders (order_id, amount) VALUES ({}, 1)",
        lo + k
    )
}

#[test]
fn savepoints_cover_every_group_the_transaction_reaches() {
    let _s = serial();
    const LO: i64 = 975_000;
    let ins = |k: i64| insert(LO, k);
    let upd = |k: i64| {
        format!(
            "UPDATE orders SET amount = amount + 1 WHERE order_id = {}",
            LO + k
        )
    };
    let s = |t: &str| t.to_string();
    let scenarios: Vec<Vec<String>> = vec![
        // The savepoint comes before the transaction reaches g1 and g2: a
        // rollback to it must undo their writes too.
        vec![
            s("BEGIN"),
            s("SAVEPOINT s0"),
            ins(0),
            ins(2),
            ins(3),
            s("ROLLBACK TO SAVEPOINT s0"),
            ins(4),
            s("COMMIT"),
        ],
        // Nested savepoints, each group reached at another depth.
        vec![
            s("BEGIN"),
            ins(10),
            s("SAVEPOINT a"),
            ins(12),
            s("SAVEPOINT b"),
            ins(13),
            upd(10),
            s("ROLLBACK TO SAVEPOINT b"),
            ins(14),
            s("ROLLBACK TO SAVEPOINT a"),
            ins(11),
            s("COMMIT"),
        ],
        // RELEASE drops the later savepoints; unknown names are ERR 1305.
        vec![
            s("BEGIN"),
            s("SAVEPOINT a"),
            s("SAVEPOINT b"),
            ins(22),
            s("RELEASE SAVEPOINT a"),
            s("ROLLBACK TO SAVEPOINT b"),
            s("ROLLBACK TO SAVEPOINT a"),
            ins(23),
            s("COMMIT"),
            s("ROLLBACK TO SAVEPOINT a"),
        ],
        // autocommit off: the transaction starts by itself.
        vec![
            s("SET autocommit = 0"),
            s("SAVEPOINT a"),
            ins(30),
            ins(32),
            s("ROLLBACK TO a"),
            ins(33),
            s("COMMIT"),
            s("SAVEPOINT c"),
            ins(34),
            s("ROLLBACK WORK TO SAVEPOINT c"),
            s("COMMIT"),
            s("SET autocommit = 1"),
        ],
    ];
    let rows = same_as_one_server(LO, &scenarios);
    // (what one server kept: s0's writes undone but for the one after it)
    assert!(rows.iter().any(|(k, _)| *k == LO + 4), "{rows:?}");
    assert!(!rows.iter().any(|(k, _)| *k == LO + 2), "{rows:?}");
}

#[test]
fn chained_and_implicitly_committed_transactions_as_one_server() {
    let _s = serial();
    const LO: i64 = 977_000;
    let ins = |k: i64| insert(LO, k);
    let s = |t: &str| t.to_string();
    let scenarios: Vec<Vec<String>> = vec![
        // AND CHAIN: the next transaction covers the groups it reaches.
        vec![
            s("BEGIN"),
            ins(0),
            s("COMMIT AND CHAIN"),
            ins(4),
            ins(2),
            s("ROLLBACK"),
        ],
        // ... with the access mode of the one before.
        vec![
            s("START TRANSACTION READ ONLY"),
            s("SELECT COUNT(*) FROM orders"),
            s("COMMIT AND CHAIN"),
            ins(12),
            s("ROLLBACK"),
        ],
        vec![
            s("BEGIN"),
            ins(20),
            ins(24),
            s("ROLLBACK AND CHAIN"),
            ins(22),
            ins(26),
            s("COMMIT"),
        ],
        // DDL and LOCK TABLES commit the transaction on every group first
        // (the DDL runs on the default group, g0; the writes were on g2;
        // `orders_ddl` is `txn_plain_ddl` on the plain server).
        vec![
            s("BEGIN"),
            ins(34),
            s("CREATE TABLE IF NOT EXISTS orders_ddl (x INT)"),
            s("ROLLBACK"),
        ],
        vec![
            s("BEGIN"),
            ins(44),
            s("TRUNCATE TABLE orders_ddl"),
            s("ROLLBACK"),
        ],
        vec![
            s("BEGIN"),
            ins(53),
            s("LOCK TABLES orders_ddl READ"),
            s("UNLOCK TABLES"),
            s("ROLLBACK"),
            s("DROP TABLE orders_ddl"),
        ],
    ];
    let rows = same_as_one_server(LO, &scenarios);
    let keys: Vec<i64> = rows.iter().map(|(k, _)| k - LO).collect();
    assert_eq!(keys, [0, 22, 26, 34, 44, 53]);
}

#[test]
fn reset_connection_ends_the_sharded_transaction() {
    let _s = serial();
    const KEY: i64 = 976_000; // shard 0: g0
    let mut conn = proxy_conn();
    q(
        &mut conn,
        &format!(
            "DELETE FROM orders WHERE order_id BETWEEN {KEY} AND {}",
            KEY + 9
        ),
    );
    q(&mut conn, "BEGIN");
    q(&mut conn, "SAVEPOINT before_reset");
    q(
        &mut conn,
        &format!("INSERT INTO orders (order_id, amount) VALUES ({KEY}, 1)"),
    );
    conn.reset().expect("COM_RESET_CONNECTION");
    // Autocommit again: this write (on g1) is committed at once, and the
    // transaction's savepoint is gone.
    q(
        &mut conn,
        &format!(
            "INSERT INTO orders (order_id, amount) VALUES ({}, 1)",
            KEY + 2
        ),
    );
    let mut g1 = direct_db(&cluster().dbs[1], "blog");
    let seen: Option<i64> = g1
        .query_first(format!(
            "SELECT order_id FROM orders_0002 WHERE order_id = {}",
            KEY + 2
        ))
        .expect("read");
    assert_eq!(
        seen,
        Some(KEY + 2),
        "the write after the reset is committed"
    );
    assert_eq!(
        err_code(&mut conn, "ROLLBACK TO SAVEPOINT before_reset"),
        1305
    );
    // The reset rolled the open transaction back.
    let n = q(
        &mut conn,
        &format!("SELECT COUNT(*) FROM orders WHERE order_id = {KEY}"),
    );
    assert_eq!(n.rows, [["0"]]);
    q(
        &mut conn,
        &format!(
            "DELETE FROM orders WHERE order_id BETWEEN {KEY} AND {}",
            KEY + 9
        ),
    );
}

#[test]
fn commit_release_commits_everywhere_then_disconnects() {
    let _s = serial();
    const KEY: i64 = 978_002; // shard 2: g1
    let mut conn = proxy_conn();
    q(
        &mut conn,
        &format!("DELETE FROM orders WHERE order_id = {KEY}"),
    );
    q(&mut conn, "BEGIN");
    q(
        &mut conn,
        &format!("INSERT INTO orders (order_id, amount) VALUES ({KEY}, 1)"),
    );
    q(&mut conn, "COMMIT RELEASE");
    // As one server does: the session is over.
    match conn.query_drop("SELECT 1") {
        Err(mysql::Error::MySqlError(e)) => panic!("a server error after RELEASE: {e}"),
        Err(_) => {}
        Ok(()) => panic!("the session went on after COMMIT RELEASE"),
    }
    let mut g1 = direct_db(&cluster().dbs[1], "blog");
    let seen: Option<i64> = g1
        .query_first(format!(
            "SELECT order_id FROM orders_0002 WHERE order_id = {KEY}"
        ))
        .expect("read");
    assert_eq!(seen, Some(KEY));
    let mut conn = proxy_conn();
    q(
        &mut conn,
        &format!("DELETE FROM orders WHERE order_id = {KEY}"),
    );
}

#[test]
fn prepared_transaction_statements_cover_every_group() {
    let _s = serial();
    const KEY: i64 = 979_002; // shard 2: g1
    let mut conn = proxy_conn();
    q(
        &mut conn,
        &format!("DELETE FROM orders WHERE order_id = {KEY}"),
    );
    // Every statement through COM_STMT_PREPARE / EXECUTE.
    conn.exec_drop("BEGIN", ()).expect("begin");
    conn.exec_drop("SAVEPOINT s", ()).expect("savepoint");
    conn.exec_drop(
        "INSERT INTO orders (order_id, amount) VALUES (?, 1)",
        (KEY,),
    )
    .expect("insert");
    conn.exec_drop("ROLLBACK TO SAVEPOINT s", ())
        .expect("rollback to");
    conn.exec_drop("COMMIT", ()).expect("commit");
    let n: Option<i64> = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM orders WHERE order_id = {KEY}"
        ))
        .expect("count");
    assert_eq!(n, Some(0), "the write after the savepoint was rolled back");
    // autocommit off, prepared: every group's connection leaves it.
    conn.exec_drop("SET autocommit = 0", ())
        .expect("autocommit off");
    conn.exec_drop(
        "INSERT INTO orders (order_id, amount) VALUES (?, 1)",
        (KEY,),
    )
    .expect("insert");
    conn.exec_drop("ROLLBACK", ()).expect("rollback");
    conn.exec_drop("SET autocommit = 1", ())
        .expect("autocommit on");
    let n: Option<i64> = conn
        .query_first(format!(
            "SELECT COUNT(*) FROM orders WHERE order_id = {KEY}"
        ))
        .expect("count");
    assert_eq!(
        n,
        Some(0),
        "the write in autocommit-off mode was rolled back"
    );
    // A session variable, prepared: on every group's connection.
    conn.exec_drop("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", ())
        .expect("isolation");
    let keys = [KEY - 2, KEY, KEY + 2]; // shards 0, 2, 4: g0, g1, g2
    for key in keys {
        conn.exec_drop(
            "INSERT INTO orders (order_id, amount) VALUES (?, 1)",
            (key,),
        )
        .expect("row");
    }
    for key in keys {
        let level: Option<String> = conn
            .exec_first(
                "SELECT @@tx_isolation FROM orders WHERE order_id = ?",
                (key,),
            )
            .expect("isolation");
        assert_eq!(
            level.as_deref(),
            Some("READ-COMMITTED"),
            "group of key {key}"
        );
    }
    // A user variable bound by a placeholder: on every group's connection.
    conn.exec_drop("SET @bound = ?", (KEY,))
        .expect("set @bound");
    for key in keys {
        let v: Option<i64> = conn
            .exec_first("SELECT @bound FROM orders WHERE order_id = ?", (key,))
            .expect("@bound");
        assert_eq!(v, Some(KEY), "@bound on the group of key {key}");
    }
    q(
        &mut conn,
        &format!(
            "DELETE FROM orders WHERE order_id BETWEEN {} AND {}",
            KEY - 2,
            KEY + 2
        ),
    );
}
