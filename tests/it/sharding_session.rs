//! Session features over several groups through shardgate (issue 4):
//! multi-statement queries naming sharded tables (split and run statement
//! by statement, replies chained as one server chains them), and user
//! variables (a literal `SET @v` is repeated on every group's connection;
//! values a query assigned on one group are refused elsewhere instead of
//! reading as NULL).
//!
//! Runs on the three-group cluster of `sharding.rs` (schema `blog`,
//! `orders` hashed by `order_id` over 5 shards: `id % 5` 0 and 1 on g0, 2
//! on g1, 3 and 4 on g2), under its [`serial`] lock, with its own keys.

use mysql::prelude::Queryable;
use mysql::Conn;

use crate::common::{server_err, Raw, Reply, RAW_CAPS};
use crate::proxy::{APP_PASSWORD, APP_USER};
use crate::sharding::{cluster, q, row_strings, serial};

/// `orders` keys of this module.
const LO: i64 = 880_000;
const HI: i64 = 880_099;
const CLIENT_MULTI_STATEMENTS: u32 = 0x1_0000;
const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

fn proxy_conn() -> Conn {
    cluster().proxy.conn_db("blog")
}

/// One statement's result: affected rows, rows as text.
type Set = (u64, Vec<Vec<String>>);

/// Every result of a multi-statement query, and the error that ended it.
fn results(conn: &mut Conn, sql: &str) -> (Vec<Set>, Option<(u16, String)>) {
    let mut out = Vec::new();
    let mut result = match conn.query_iter(sql) {
        Ok(r) => r,
        Err(e) => return (out, server_err(&e)),
    };
    while let Some(set) = result.iter() {
        let affected = set.affected_rows();
        let mut rows = Vec::new();
        for r in set {
            match r {
                Ok(r) => rows.push(row_strings(&r)),
                Err(e) => return (out, server_err(&e)),
            }
        }
        out.push((affected, rows));
    }
    (out, None)
}

fn reset(conn: &mut Conn) {
    q(
        conn,
        &format!("DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI}"),
    );
}

fn count(conn: &mut Conn) -> String {
    q(
        conn,
        &format!("SELECT COUNT(*) FROM orders WHERE order_id BETWEEN {LO} AND {HI}"),
    )
    .rows[0][0]
        .clone()
}

#[test]
fn multi_statement_queries_over_sharded_tables_run_statement_by_statement() {
    let _s = serial();
    let mut conn = proxy_conn();
    reset(&mut conn);
    // Writes split over groups, a merged aggregate, a merged ORDER BY, a
    // scattered UPDATE: each result in order, with its own counts.
    let (sets, err) = results(
        &mut conn,
        &format!(
            "INSERT INTO orders (order_id, amount) VALUES ({a}, 1.50), ({b}, 2.50), ({c}, 3); \
             SELECT COUNT(*), SUM(amount) FROM orders WHERE order_id BETWEEN {LO} AND {HI};\n\
             SELECT order_id FROM orders WHERE order_id BETWEEN {LO} AND {HI} ORDER BY order_id DESC ; \
             UPDATE orders SET note = 'x;y' WHERE order_id IN ({a}, {c});",
            a = LO + 1,
            b = LO + 2,
            c = LO + 3,
        ),
    );
    assert_eq!(err, None);
    let expected: Vec<Set> = vec![
        (3, vec![]),
        (0, vec![vec!["3".into(), "7.00".into()]]),
        (
            0,
            vec![
                vec![(LO + 3).to_string()],
                vec![(LO + 2).to_string()],
                vec![(LO + 1).to_string()],
            ],
        ),
        (2, vec![]),
    ];
    assert_eq!(sets, expected);
    assert_eq!(
        q(
            &mut conn,
            &format!(
                "SELECT COUNT(*) FROM orders WHERE note = 'x;y' AND order_id BETWEEN {LO} AND {HI}"
            )
        )
        .rows,
        [["2"]]
    );
    // The first error ends the query, as on one server: the statements
    // after it do not run.
    let (sets, err) = results(
        &mut conn,
        &format!(
            "SELECT COUNT(*) FROM orders WHERE order_id BETWEEN {LO} AND {HI}; \
             INSERT INTO orders (order_id) VALUES ({dup}); \
             INSERT INTO orders (order_id) VALUES ({new})",
            dup = LO + 2,
            new = LO + 50,
        ),
    );
    assert_eq!(sets, [(0, vec![vec!["3".to_string()]])]);
    assert_eq!(err.map(|e| e.0), Some(1062));
    assert_eq!(count(&mut conn), "3", "nothing ran after the error");
    // An empty statement is a syntax error there too.
    let (sets, err) = results(
        &mut conn,
        &format!(
            "SELECT COUNT(*) FROM orders WHERE order_id BETWEEN {LO} AND {HI};; \
             INSERT INTO orders (order_id) VALUES ({new})",
            new = LO + 51,
        ),
    );
    assert_eq!(sets, [(0, vec![vec!["3".to_string()]])]);
    assert_eq!(err.map(|e| e.0), Some(1064));
    assert_eq!(count(&mut conn), "3", "nothing ran after the error");
    // A transaction inside one query.
    let (_, err) = results(
        &mut conn,
        &format!("BEGIN; DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI}; ROLLBACK"),
    );
    assert_eq!(err, None);
    assert_eq!(count(&mut conn), "3");
    // Statements planned by a worker (a lookup rule reads its directory,
    // and places a new key) chain like the others.
    let uid = LO + 77;
    let (sets, err) = results(
        &mut conn,
        &format!(
            "INSERT INTO profile (uid, nick) VALUES ({uid}, 'm'); \
             SELECT nick FROM profile WHERE uid = {uid}; \
             DELETE FROM profile WHERE uid = {uid}"
        ),
    );
    assert_eq!(err, None);
    assert_eq!(
        sets,
        [(1, vec![]), (0, vec![vec!["m".to_string()]]), (1, vec![])]
    );
    // LOAD DATA LOCAL would need the client's file mid-reply: refused
    // before anything runs.
    let (sets, err) = results(
        &mut conn,
        &format!(
            "DELETE FROM orders WHERE order_id = {}; \
             LOAD DATA LOCAL INFILE '/nonexistent' INTO TABLE orders",
            LO + 1
        ),
    );
    assert!(sets.is_empty(), "{sets:?}");
    assert_eq!(err.map(|e| e.0), Some(1235));
    assert_eq!(count(&mut conn), "3", "the DELETE did not run");
    // Multi-statement queries over unsharded tables still go through whole.
    let (sets, err) = results(&mut conn, "SELECT 1; SELECT 2 + 2");
    assert_eq!(err, None);
    assert_eq!(
        sets,
        [
            (0, vec![vec!["1".to_string()]]),
            (0, vec![vec!["4".to_string()]])
        ]
    );
    reset(&mut conn);
}

/// The classic protocol (EOF packets, no CLIENT_DEPRECATE_EOF): every
/// result but the last says more follow, so a client reads them all and
/// then the reply to its next command.
#[test]
fn multi_statement_replies_chain_in_the_classic_protocol() {
    let _s = serial();
    let mut conn = proxy_conn();
    reset(&mut conn);
    let mut raw = Raw::login(
        cluster().proxy.port,
        APP_USER,
        APP_PASSWORD,
        RAW_CAPS | CLIENT_MULTI_STATEMENTS,
    );
    assert!(matches!(raw.query("USE blog")[..], [Reply::Ok { .. }]));
    let replies = raw.query(&format!(
        "INSERT INTO orders (order_id) VALUES ({}), ({}); \
         SELECT COUNT(*) FROM orders WHERE order_id BETWEEN {LO} AND {HI}; \
         DELETE FROM orders WHERE order_id = {}",
        LO + 10,
        LO + 12,
        LO + 10
    ));
    match &replies[..] {
        [Reply::Ok {
            affected: 2,
            status: s1,
        }, Reply::Rows { rows, .. }, Reply::Ok {
            affected: 1,
            status: s3,
        }] => {
            assert_ne!(s1 & SERVER_MORE_RESULTS_EXISTS, 0);
            assert_eq!(s3 & SERVER_MORE_RESULTS_EXISTS, 0);
            assert_eq!(rows, &[vec![Some("2".to_string())]]);
        }
        other => panic!("{other:?}"),
    }
    // Nothing left over: the next command gets its own reply.
    assert_eq!(
        raw.query(&format!(
            "SELECT COUNT(*) FROM orders WHERE order_id = {}",
            LO + 12
        )),
        [Reply::Rows {
            cols: vec!["COUNT(*)".into()],
            rows: vec![vec![Some("1".into())]]
        }]
    );
    reset(&mut conn);
}

#[test]
fn user_variables_set_to_literals_reach_every_group() {
    let _s = serial();
    let mut conn = proxy_conn();
    reset(&mut conn);
    let keys: Vec<String> = (1..=10).map(|i| format!("({}, {i})", LO + i)).collect();
    q(
        &mut conn,
        &format!(
            "INSERT INTO orders (order_id, amount) VALUES {}",
            keys.join(", ")
        ),
    );
    // Scattered over the 5 shards (3 groups): every shard must see @lo/@hi
    // (before, only the group that ran the SET did: 4 of 10 rows).
    q(
        &mut conn,
        &format!("SET @lo = {LO}, @hi = {HI}, @tag = _utf8mb4'caf\u{e9}'"),
    );
    let r = q(
        &mut conn,
        "SELECT COUNT(*), SUM(amount), @tag FROM orders WHERE order_id BETWEEN @lo AND @hi",
    );
    assert_eq!(r.rows, [["10", "55.00", "caf\u{e9}"]]);
    // A point statement on another group sees them too.
    let r = q(
        &mut conn,
        &format!(
            "SELECT order_id FROM orders WHERE order_id = {} AND @hi = {HI}",
            LO + 2
        ),
    );
    assert_eq!(r.rows, [[(LO + 2).to_string()]]);

    // A value a query assigned lives on one group's connection only.
    q(
        &mut conn,
        &format!(
            "SELECT @on_g1 := amount FROM orders WHERE order_id = {}",
            LO + 2
        ),
    );
    let refused = |conn: &mut Conn, sql: &str| -> String {
        let e = conn.query_drop(sql).expect_err(sql);
        let (code, msg) = server_err(&e).unwrap_or_else(|| panic!("{sql}: {e}"));
        assert_eq!(code, 1235, "{sql}: {msg}");
        assert!(msg.starts_with("shardgate:"), "{msg}");
        msg
    };
    let msg = refused(
        &mut conn,
        "SELECT COUNT(*) FROM orders WHERE amount > @on_g1",
    );
    assert!(msg.contains("@on_g1") && msg.contains("'g1'"), "{msg}");
    // A statement of no table runs where its variables are (g1), and a
    // variable a SET computes from them lives there too.
    assert_eq!(q(&mut conn, "SELECT @on_g1").rows, [["2.00"]]);
    q(&mut conn, "SET @twice = @on_g1 * 2");
    assert_eq!(
        q(&mut conn, "SELECT @twice, @on_g1").rows,
        [["4.00", "2.00"]]
    );
    // ... but variables held by two groups cannot be read together.
    q(
        &mut conn,
        &format!(
            "SELECT @on_g0 := amount FROM orders WHERE order_id = {}",
            LO + 5
        ),
    );
    let msg = refused(&mut conn, "SELECT @on_g0 + @on_g1");
    assert!(msg.contains("@on_g"), "{msg}");
    // a table on the default group (g0) cannot see g1's
    refused(
        &mut conn,
        "SELECT @on_g1 FROM information_schema.TABLES LIMIT 1",
    );
    // on its own group it is there
    let r = q(
        &mut conn,
        &format!("SELECT @on_g1 + 1 FROM orders WHERE order_id = {}", LO + 7),
    );
    // (a DECIMAL user variable: MariaDB widens the sum's scale)
    assert!(r.rows[0][0].starts_with("3.00"), "{:?}", r.rows);
    // other variables are not affected
    assert_eq!(
        q(
            &mut conn,
            "SELECT COUNT(*) FROM orders WHERE order_id BETWEEN @lo AND @hi"
        )
        .rows,
        [["10"]]
    );
    // assigning on several shards at once: each would count on its own
    refused(
        &mut conn,
        "SELECT @n := @n + 1 FROM orders WHERE order_id BETWEEN @lo AND @hi",
    );
    // a literal makes it repeatable again
    q(&mut conn, "SET @on_g1 = 5");
    assert_eq!(
        q(
            &mut conn,
            "SELECT COUNT(*) FROM orders WHERE amount > @on_g1 AND order_id BETWEEN @lo AND @hi"
        )
        .rows,
        [["5"]]
    );
    // A new session starts without them.
    let mut other = proxy_conn();
    assert_eq!(
        q(
            &mut other,
            "SELECT COUNT(*), @lo FROM orders WHERE order_id BETWEEN @lo AND @hi"
        )
        .rows,
        [["0", "NULL"]]
    );
    reset(&mut conn);
}

/// `k IN (SELECT k FROM bound_table WHERE ...)`: a semi-join on the key
/// runs on every shard as written (each outer row's matches live on its
/// shard), for reads and writes.
#[test]
fn semi_joins_on_the_shard_key_run_on_every_shard() {
    let _s = serial();
    let mut conn = proxy_conn();
    // users on g0 (150, 650), g1 (2150) and g2 (3150)
    let users = [150, 650, 2150, 3150];
    let clean = |conn: &mut Conn| {
        for t in ["article", "comment"] {
            q(
                conn,
                &format!("DELETE FROM {t} WHERE id BETWEEN {LO} AND {HI}"),
            );
        }
    };
    clean(&mut conn);
    for (i, u) in users.iter().enumerate() {
        let i = i as i64;
        q(
            &mut conn,
            &format!(
                "INSERT INTO article (id, user_id, title) VALUES ({}, {u}, 'a'), ({}, {u}, 'b')",
                LO + 2 * i,
                LO + 2 * i + 1
            ),
        );
        let body = if u % 1000 == 150 { "spam" } else { "fine" };
        q(
            &mut conn,
            &format!(
                "INSERT INTO comment (id, user_id, article_id, body) VALUES ({}, {u}, 0, '{body}')",
                LO + i
            ),
        );
    }
    let spammers =
        format!("SELECT user_id FROM comment WHERE body = 'spam' AND id BETWEEN {LO} AND {HI}");
    let r = q(
        &mut conn,
        &format!(
            "SELECT user_id, COUNT(*) FROM article WHERE user_id IN ({spammers}) \
             AND id BETWEEN {LO} AND {HI} GROUP BY user_id ORDER BY user_id"
        ),
    );
    assert_eq!(r.rows, [["150", "2"], ["2150", "2"], ["3150", "2"]]);
    let r = q(
        &mut conn,
        &format!("DELETE FROM article WHERE user_id IN ({spammers}) AND id BETWEEN {LO} AND {HI}"),
    );
    assert_eq!(r.affected, 6, "summed over g0, g1 and g2");
    let r = q(
        &mut conn,
        &format!("SELECT user_id FROM article WHERE id BETWEEN {LO} AND {HI} ORDER BY id"),
    );
    assert_eq!(r.rows, [["650"], ["650"]]);
    // A multi-table DELETE of bound tables joined on the key, the target
    // named by its alias.
    let r = q(
        &mut conn,
        &format!(
            "DELETE a FROM article a JOIN comment c ON a.user_id = c.user_id \
             WHERE c.body = 'fine' AND a.id BETWEEN {LO} AND {HI} AND c.id BETWEEN {LO} AND {HI}"
        ),
    );
    assert_eq!(r.affected, 2);
    assert_eq!(count_articles(&mut conn), "0");
    // A LIMIT in the subquery would be global: refused.
    let e = conn
        .query_drop("SELECT id FROM article WHERE user_id IN (SELECT user_id FROM comment LIMIT 1)")
        .expect_err("LIMIT in a semi-join over several shards");
    assert_eq!(server_err(&e).map(|e| e.0), Some(1235), "{e}");
    clean(&mut conn);
}

/// INSERT ... SELECT between bound tables, key to key: every row stays on
/// its shard, so it runs on each shard as written (affected rows summed);
/// the key taken from another column is refused.
#[test]
fn insert_select_between_bound_tables_keeps_rows_on_their_shards() {
    let _s = serial();
    let mut conn = proxy_conn();
    let clean = |conn: &mut Conn| {
        for t in ["article", "comment"] {
            q(
                conn,
                &format!("DELETE FROM {t} WHERE id BETWEEN {LO} AND {HI}"),
            );
        }
    };
    clean(&mut conn);
    // users on g0 (180), g1 (2180) and g2 (3180)
    for (i, u) in [180, 2180, 3180].iter().enumerate() {
        q(
            &mut conn,
            &format!(
                "INSERT INTO article (id, user_id, title) VALUES ({}, {u}, 'old {u}')",
                LO + i as i64
            ),
        );
    }
    let r = q(
        &mut conn,
        &format!(
            "INSERT INTO comment (id, user_id, article_id, body) \
             SELECT id, user_id, id, title FROM article WHERE id BETWEEN {LO} AND {HI}"
        ),
    );
    assert_eq!(r.affected, 3, "summed over the groups");
    // Each copy is on its user's shard, in the physical comment table there.
    for (g, shard, u) in [(0, 0, 180), (1, 2, 2180), (2, 3, 3180)] {
        let mut direct = crate::common::direct_db(&cluster().dbs[g], "blog");
        let rows: Vec<String> = direct
            .query(format!(
                "SELECT body FROM {} WHERE id BETWEEN {LO} AND {HI}",
                crate::sharding::phys("comment", shard)
            ))
            .expect("direct read");
        assert_eq!(rows, [format!("old {u}")], "group g{g}");
    }
    let e = conn
        .query_drop(format!(
            "INSERT INTO comment (id, user_id, article_id) \
             SELECT id + 1, views, id FROM article WHERE id BETWEEN {LO} AND {HI}"
        ))
        .expect_err("the key from another column");
    assert_eq!(server_err(&e).map(|e| e.0), Some(1235), "{e}");
    clean(&mut conn);
}

fn count_articles(conn: &mut Conn) -> String {
    q(
        conn,
        &format!("SELECT COUNT(*) FROM article WHERE id BETWEEN {LO} AND {HI}"),
    )
    .rows[0][0]
        .clone()
}

#[test]
fn session_transaction_isolation_reaches_every_group() {
    let _s = serial();
    let mut conn = proxy_conn();
    reset(&mut conn);
    // One row on each group: id % 5 = 0 on g0, 2 on g1, 3 on g2.
    let keys = [LO, LO + 2, LO + 3];
    for k in keys {
        q(
            &mut conn,
            &format!("INSERT INTO orders (order_id) VALUES ({k})"),
        );
    }
    let seen = |conn: &mut Conn, var: &str| -> Vec<String> {
        keys.iter()
            .map(|k| {
                q(
                    conn,
                    &format!("SELECT @@session.{var} FROM orders WHERE order_id = {k}"),
                )
                .rows[0][0]
                    .clone()
            })
            .collect()
    };
    // What Django runs on every new connection.
    q(
        &mut conn,
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    );
    assert_eq!(seen(&mut conn, "tx_isolation"), ["READ-COMMITTED"; 3]);
    q(&mut conn, "SET SESSION TRANSACTION READ ONLY");
    assert_eq!(seen(&mut conn, "tx_read_only"), ["1"; 3]);
    let e = conn
        .query_drop(format!(
            "UPDATE orders SET note = 'x' WHERE order_id = {}",
            LO + 3
        ))
        .expect_err("a read-only session on g2");
    assert_eq!(server_err(&e).map(|e| e.0), Some(1792), "{e}");
    q(
        &mut conn,
        "SET SESSION TRANSACTION READ WRITE, ISOLATION LEVEL SERIALIZABLE",
    );
    assert_eq!(seen(&mut conn, "tx_isolation"), ["SERIALIZABLE"; 3]);
    assert_eq!(seen(&mut conn, "tx_read_only"), ["0"; 3]);
    // Another session (maybe on the same pooled connections) has the
    // servers' defaults.
    let mut other = proxy_conn();
    assert_eq!(seen(&mut other, "tx_isolation"), ["REPEATABLE-READ"; 3]);
    reset(&mut conn);
}

#[test]
fn found_rows_answers_for_the_previous_select_wherever_it_ran() {
    let _s = serial();
    let mut conn = proxy_conn();
    reset(&mut conn);
    // Three rows on g1 (id % 5 = 2), two on g2 (id % 5 = 3).
    let on_g1 = [LO + 2, LO + 7, LO + 12];
    for k in on_g1.iter().chain(&[LO + 3, LO + 8]) {
        q(
            &mut conn,
            &format!("INSERT INTO orders (order_id) VALUES ({k})"),
        );
    }
    let found = |conn: &mut Conn| -> String {
        let r = q(conn, "SELECT FOUND_ROWS()");
        assert_eq!(r.cols, ["FOUND_ROWS()"]);
        r.rows[0][0].clone()
    };
    let g1 = format!("order_id IN ({}, {}, {})", on_g1[0], on_g1[1], on_g1[2]);
    // A SELECT on g1; FOUND_ROWS() alone would run on g0.
    q(
        &mut conn,
        &format!("SELECT order_id FROM orders WHERE {g1}"),
    );
    assert_eq!(found(&mut conn), "3");
    // FOUND_ROWS() itself returned one row.
    assert_eq!(found(&mut conn), "1");
    // SQL_CALC_FOUND_ROWS on g1: the count without the LIMIT, from g1.
    let r = q(
        &mut conn,
        &format!("SELECT SQL_CALC_FOUND_ROWS order_id FROM orders WHERE {g1} LIMIT 1"),
    );
    assert_eq!(r.rows.len(), 1);
    assert_eq!(found(&mut conn), "3");
    // A merged SELECT over every shard: the rows the client got.
    q(
        &mut conn,
        &format!("SELECT order_id FROM orders WHERE order_id BETWEEN {LO} AND {HI} ORDER BY order_id LIMIT 4"),
    );
    let r = q(&mut conn, "SELECT FOUND_ROWS() AS total, 'FOUND_ROWS()'");
    assert_eq!(r.rows, [["4", "FOUND_ROWS()"]]);
    // Prepared (binary protocol), after SQL_CALC_FOUND_ROWS on g1 and
    // after a merged SELECT: the prepare in between changes nothing, as on
    // one server.
    q(
        &mut conn,
        &format!("SELECT SQL_CALC_FOUND_ROWS order_id FROM orders WHERE {g1} LIMIT 1"),
    );
    let n: Option<u64> = conn.exec_first("SELECT FOUND_ROWS()", ()).expect("execute");
    assert_eq!(n, Some(3));
    q(
        &mut conn,
        &format!("SELECT order_id FROM orders WHERE order_id BETWEEN {LO} AND {HI}"),
    );
    let n: Option<u64> = conn.exec_first("SELECT FOUND_ROWS()", ()).expect("execute");
    assert_eq!(n, Some(5));
    reset(&mut conn);
}
