//! Scattered writes that one server bounds or answers with rows (issue 4):
//! UPDATE/DELETE with LIMIT over several shards change at most LIMIT rows
//! in all (the shards run one after the other, each with what is left),
//! counting matched rows for UPDATE as the server does; ORDER BY with
//! LIMIT is refused; RETURNING runs on one shard and is refused on
//! several, before anything is changed. What a client reads about a
//! scattered write afterwards: its warnings and info text summed in the
//! OK, and
//! `ROW_COUNT()` answering for it wherever the next statement runs.
//!
//! Runs on the three-group cluster of `sharding.rs` (`orders` hashed by
//! `order_id` over 5 shards: `id % 5` 0 and 1 on g0, 2 on g1, 3 and 4 on
//! g2), under its [`serial`] lock, with its own keys.

use mysql::consts::CapabilityFlags;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts};

use crate::common::server_err;
use crate::sharding::{cluster, q, serial};

/// `orders` keys of this module: 20 rows, 4 on each shard.
const LO: i64 = 881_000;
const HI: i64 = 881_019;

/// A connection to schema `blog`; `found_rows`: CLIENT_FOUND_ROWS (an
/// UPDATE's affected rows are the rows it matched).
fn proxy_conn(found_rows: bool) -> Conn {
    let mut opts = cluster().proxy.opts().db_name(Some("blog"));
    if found_rows {
        opts = opts.additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS);
    }
    Conn::new(Opts::from(opts)).expect("connect through shardgate")
}

/// The module's 20 rows: amount 0 on g0's shards, 1 elsewhere.
fn fill(conn: &mut Conn) {
    q(
        conn,
        &format!("DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI}"),
    );
    let values: Vec<String> = (LO..=HI)
        .map(|id| {
            let amount = if id % 5 <= 1 { 0 } else { 1 };
            format!("({id}, {amount}, 'new')")
        })
        .collect();
    let r = q(
        conn,
        &format!(
            "INSERT INTO orders (order_id, amount, note) VALUES {}",
            values.join(", ")
        ),
    );
    assert_eq!(r.affected, 20);
}

fn count(conn: &mut Conn, cond: &str) -> i64 {
    let sql =
        format!("SELECT COUNT(*) FROM orders WHERE order_id BETWEEN {LO} AND {HI} AND {cond}");
    q(conn, &sql).rows[0][0].parse().expect("a count")
}

#[test]
fn delete_with_limit_over_shards_removes_at_most_limit_rows() {
    let _s = serial();
    let mut conn = proxy_conn(false);
    fill(&mut conn);
    let del = format!("DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI} LIMIT");
    // 7 rows span two shards (4 + 3): both run, the second with LIMIT 3.
    assert_eq!(q(&mut conn, &format!("{del} 7")).affected, 7);
    assert_eq!(count(&mut conn, "1"), 13);
    // The purge loop: batches of 5 until nothing is left.
    let batches: Vec<u64> = (0..6)
        .map(|_| q(&mut conn, &format!("{del} 5")).affected)
        .collect();
    assert_eq!(batches, [5, 5, 3, 0, 0, 0]);
    assert_eq!(count(&mut conn, "1"), 0);
    // LIMIT 0 changes nothing, but the statement is still checked.
    fill(&mut conn);
    assert_eq!(q(&mut conn, &format!("{del} 0")).affected, 0);
    let e = conn
        .query_drop("DELETE FROM orders WHERE nosuch = 1 LIMIT 0")
        .expect_err("an unknown column");
    assert_eq!(server_err(&e).map(|e| e.0), Some(1054), "{e}");
    // Inside a transaction the LIMIT holds too, and ROLLBACK undoes it.
    q(&mut conn, "BEGIN");
    assert_eq!(q(&mut conn, &format!("{del} 9")).affected, 9);
    assert_eq!(count(&mut conn, "1"), 11);
    q(&mut conn, "ROLLBACK");
    assert_eq!(count(&mut conn, "1"), 20);
    // A prepared statement, LIMIT bound at EXECUTE.
    let stmt = conn
        .prep("DELETE FROM orders WHERE order_id BETWEEN ? AND ? LIMIT ?")
        .expect("prepare");
    conn.exec_drop(&stmt, (LO, HI, 6)).expect("execute");
    assert_eq!(conn.affected_rows(), 6);
    conn.exec_drop(&stmt, (LO, HI, 100)).expect("execute");
    assert_eq!(conn.affected_rows(), 14);
    assert_eq!(count(&mut conn, "1"), 0);
    // A LIMIT written in the prepared statement: its plan is cached and
    // reused, each execution counting down from 9 again.
    fill(&mut conn);
    let stmt = conn
        .prep("DELETE FROM orders WHERE order_id BETWEEN ? AND ? LIMIT 9")
        .expect("prepare");
    let mut deleted = Vec::new();
    for _ in 0..3 {
        conn.exec_drop(&stmt, (LO, HI)).expect("execute");
        deleted.push(conn.affected_rows());
    }
    assert_eq!(deleted, [9, 9, 2]);
}

#[test]
fn update_with_limit_over_shards_counts_matched_rows() {
    let _s = serial();
    for found_rows in [false, true] {
        let mut conn = proxy_conn(found_rows);
        fill(&mut conn);
        let upd =
            format!("UPDATE orders SET note = 'seen' WHERE order_id BETWEEN {LO} AND {HI} LIMIT");
        // 10 rows: g0's two shards (8) and 2 of g1's shard.
        assert_eq!(q(&mut conn, &format!("{upd} 10")).affected, 10);
        assert_eq!(count(&mut conn, "note = 'seen'"), 10);
        // LIMIT 15 matches the same 10 first (each shard in primary-key
        // order) and 5 more: MariaDB's LIMIT counts matched rows, so 15
        // rows carry the note, not 20 (counting changed rows would go on).
        let r = q(&mut conn, &format!("{upd} 15"));
        assert_eq!(
            count(&mut conn, "note = 'seen'"),
            15,
            "found_rows {found_rows}"
        );
        assert_eq!(r.affected, if found_rows { 15 } else { 5 });
    }
}

#[test]
fn scattered_limit_write_that_fails_on_a_later_shard_changes_nothing() {
    let _s = serial();
    let mut conn = proxy_conn(false);
    fill(&mut conn);
    // g0's shards (amount 0) succeed; g1's (amount 1) overflows DECIMAL(10,2)
    // in strict mode: the whole statement fails and g0's part is undone.
    let e = conn
        .query_drop(format!(
            "UPDATE orders SET amount = amount * 1e20 + 5 WHERE order_id BETWEEN {LO} AND {HI} LIMIT 15"
        ))
        .expect_err("out of range on g1");
    assert_eq!(server_err(&e).map(|e| e.0), Some(1264), "{e}");
    assert_eq!(count(&mut conn, "amount = 5"), 0, "g0's rows rolled back");
    // ORDER BY with LIMIT would need the first rows of every shard: refused.
    let e = conn
        .query_drop(format!(
            "DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI} ORDER BY amount LIMIT 3"
        ))
        .expect_err("ORDER BY with LIMIT");
    assert_eq!(server_err(&e).map(|e| e.0), Some(1235), "{e}");
    // ORDER BY alone changes every matching row.
    let r = q(
        &mut conn,
        &format!("UPDATE orders SET note = 'all' WHERE order_id BETWEEN {LO} AND {HI} ORDER BY order_id DESC"),
    );
    assert_eq!(r.affected, 20);
    assert_eq!(count(&mut conn, "1"), 20);
}

#[test]
fn returning_runs_on_one_shard_and_is_refused_on_several() {
    let _s = serial();
    let mut conn = proxy_conn(false);
    fill(&mut conn);
    let r = q(
        &mut conn,
        &format!("DELETE FROM orders WHERE order_id = {LO} RETURNING order_id, note"),
    );
    assert_eq!(r.rows, [[LO.to_string(), "new".to_string()]]);
    let r = q(
        &mut conn,
        &format!("INSERT INTO orders (order_id, note) VALUES ({LO}, 'back') RETURNING note"),
    );
    assert_eq!(r.rows, [["back".to_string()]]);
    for sql in [
        format!("DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI} RETURNING order_id"),
        format!(
            "INSERT INTO orders (order_id, note) VALUES ({}, 'x'), ({}, 'y') RETURNING order_id",
            HI + 1,
            HI + 2
        ),
    ] {
        let e = conn
            .query_drop(&sql)
            .expect_err("RETURNING on several shards");
        assert_eq!(server_err(&e).map(|e| e.0), Some(1235), "{sql}: {e}");
    }
    // Refused before anything ran.
    assert_eq!(count(&mut conn, "1"), 20);
    let after = format!(
        "SELECT COUNT(*) FROM orders WHERE order_id > {HI} AND order_id <= {}",
        HI + 2
    );
    assert_eq!(q(&mut conn, &after).rows[0][0], "0");
    q(
        &mut conn,
        &format!("DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI}"),
    );
}

#[test]
fn row_count_answers_the_previous_statement_wherever_it_ran() {
    let _s = serial();
    let mut conn = proxy_conn(false);
    let row_count = |conn: &mut Conn| {
        let r = q(conn, "SELECT ROW_COUNT()");
        assert_eq!(r.cols, ["ROW_COUNT()"], "the name one server gives");
        r.rows[0][0].clone()
    };
    // 20 rows over every shard, in shardgate's own transaction: the summed
    // count, not the last COMMIT's or one group's.
    fill(&mut conn);
    assert_eq!(row_count(&mut conn), "20");
    // Right after, the SELECT itself counts: -1.
    assert_eq!(row_count(&mut conn), "-1");
    // A write on g1 alone; ROW_COUNT() without a table runs on the default
    // group g0, whose connection did not run it.
    let one_on_g1 = LO + 2;
    q(
        &mut conn,
        &format!("UPDATE orders SET note = 'g1' WHERE order_id = {one_on_g1}"),
    );
    assert_eq!(row_count(&mut conn), "1");
    q(
        &mut conn,
        &format!("DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI} LIMIT 7"),
    );
    let r = q(
        &mut conn,
        "SELECT ROW_COUNT() AS n, ROW_COUNT() + 1, 'ROW_COUNT()'",
    );
    assert_eq!(r.cols, ["n", "ROW_COUNT() + 1", "ROW_COUNT()"]);
    assert_eq!(r.rows, [["7", "8", "ROW_COUNT()"]]);
    // After rows or an error: -1; after DDL-like OKs: their count.
    q(
        &mut conn,
        &format!("SELECT * FROM orders WHERE order_id BETWEEN {LO} AND {HI}"),
    );
    assert_eq!(row_count(&mut conn), "-1");
    conn.query_drop("SELECT * FROM no_such_table")
        .expect_err("no table");
    assert_eq!(row_count(&mut conn), "-1");
    q(&mut conn, "SET @rc_probe = 1");
    assert_eq!(row_count(&mut conn), "0");
    q(
        &mut conn,
        &format!("DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI}"),
    );
    assert_eq!(row_count(&mut conn), "13");
}

#[test]
fn scattered_writes_report_the_warnings_and_info_of_every_shard() {
    let _s = serial();
    let mut conn = proxy_conn(false);
    fill(&mut conn);
    // Three duplicates, one on each group (id % 5 = 0, 2, 3), and a new row.
    let sql = format!(
        "INSERT IGNORE INTO orders (order_id, note) VALUES ({}, 'd'), ({}, 'd'), ({}, 'd'), ({}, 'n')",
        LO,
        LO + 2,
        LO + 3,
        HI + 1
    );
    q(&mut conn, &sql);
    assert_eq!((conn.affected_rows(), conn.warnings()), (1, 3));
    // The info text one server gives a 4-row INSERT: g0's shard 0 got two
    // rows (its own text), the others one each (none).
    assert_eq!(conn.info_str(), "Records: 4  Duplicates: 3  Warnings: 3");
    // Again in a transaction: the new row is a duplicate now too.
    q(&mut conn, "BEGIN");
    q(&mut conn, &sql);
    assert_eq!((conn.affected_rows(), conn.warnings()), (0, 4));
    q(&mut conn, "ROLLBACK");
    // A clean write has none; its text is summed.
    q(
        &mut conn,
        &format!("UPDATE orders SET note = 'u' WHERE order_id BETWEEN {LO} AND {HI}"),
    );
    assert_eq!(conn.warnings(), 0);
    assert_eq!(
        conn.info_str(),
        "Rows matched: 20  Changed: 20  Warnings: 0"
    );
    q(
        &mut conn,
        &format!(
            "DELETE FROM orders WHERE order_id BETWEEN {LO} AND {}",
            HI + 1
        ),
    );
}

#[test]
fn show_warnings_reads_the_nodes_the_statement_ran_on() {
    let _s = serial();
    let mut conn = proxy_conn(false);
    fill(&mut conn);
    let codes = |conn: &mut Conn, sql: &str| -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = q(conn, sql)
            .rows
            .into_iter()
            .map(|r| (r[1].clone(), r[2].clone()))
            .collect();
        rows.sort();
        rows
    };
    let dup = |id: i64| {
        (
            "1062".to_string(),
            format!("Duplicate entry '{id}' for key 'PRIMARY'"),
        )
    };
    // A duplicate on g1 only; SHOW WARNINGS alone would go to g0.
    q(
        &mut conn,
        &format!("INSERT IGNORE INTO orders (order_id) VALUES ({})", LO + 2),
    );
    assert_eq!(codes(&mut conn, "SHOW WARNINGS"), [dup(LO + 2)]);
    assert_eq!(q(&mut conn, "SHOW COUNT(*) WARNINGS").rows, [["1"]]);
    // Duplicates on g0 and g2, in shardgate's own transaction: both, and
    // still both after a SET (which keeps them, as on one server).
    q(
        &mut conn,
        &format!(
            "INSERT IGNORE INTO orders (order_id) VALUES ({LO}), ({})",
            LO + 3
        ),
    );
    assert_eq!(codes(&mut conn, "SHOW WARNINGS"), [dup(LO), dup(LO + 3)]);
    assert_eq!(q(&mut conn, "SHOW COUNT(*) WARNINGS").rows, [["2"]]);
    assert_eq!(q(&mut conn, "SHOW COUNT(*) ERRORS").rows, [["0"]]);
    q(&mut conn, "SET @after_warnings = 1");
    assert_eq!(codes(&mut conn, "SHOW WARNINGS"), [dup(LO), dup(LO + 3)]);
    // An error on g2.
    conn.query_drop(format!(
        "SELECT no_such_column FROM orders WHERE order_id = {}",
        LO + 3
    ))
    .expect_err("unknown column");
    let errors = codes(&mut conn, "SHOW ERRORS");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "1054");
    // A clean write replaces them.
    q(
        &mut conn,
        &format!("UPDATE orders SET note = 'ok' WHERE order_id = {}", LO + 3),
    );
    assert_eq!(codes(&mut conn, "SHOW WARNINGS"), []);
    q(
        &mut conn,
        &format!("DELETE FROM orders WHERE order_id BETWEEN {LO} AND {HI}"),
    );
}
