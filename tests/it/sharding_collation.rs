//! Scatter-gather merges computed string columns in their own collation
//! (issue 4): MariaDB's column definitions carry the connection's
//! collation (`utf8mb4_general_ci` here) even for `CONCAT(sid, '')` over a
//! `utf8mb4_bin` column, so the merger takes the collation from the
//! expression (explicit `COLLATE`, or the column a string function keeps)
//! and refuses (ERR 1235) an expression whose collation it cannot tell.
//!
//! Runs on the three-group cluster of `sharding.rs` (`session_kv.sid` is
//! `utf8mb4_bin`, hashed by CRC32), under its [`serial`] lock; the keys
//! `'Bob'`/`'bob'` and `'_x'`/`'ax'` lie on different shards, so a wrong
//! collation gives a silently wrong answer rather than an error.

use crate::common::server_err;
use crate::sharding::{cluster, crc32, q, run, serial};

/// `session_kv` is hashed over 5 physical tables.
const HASH_SHARDS: u32 = 5;

#[test]
fn computed_columns_merge_by_the_collation_of_their_expression() {
    let _s = serial();
    let mut conn = cluster().proxy.conn_db("blog");
    for (a, b) in [("_x", "ax"), ("Bob", "bob")] {
        assert_ne!(
            crc32(a.as_bytes()) % HASH_SHARDS,
            crc32(b.as_bytes()) % HASH_SHARDS,
            "{a} and {b} must be on different shards"
        );
    }
    q(
        &mut conn,
        "INSERT IGNORE INTO session_kv (sid, val) VALUES ('Bob', 1), ('bob', 1), ('_x', 1), ('ax', 1)",
    );
    // Other tests of the cluster may have written these keys with other
    // values; the last check below counts rows by value.
    q(
        &mut conn,
        "UPDATE session_kv SET val = 1 WHERE sid IN ('Bob', 'bob', '_x', 'ax')",
    );
    let mut problems = Vec::new();
    let both_cases = "sid IN ('Bob', 'bob')";
    let both_signs = "sid IN ('ax', '_x')";
    for (sql, want) in [
        // utf8mb4_bin, kept by CONCAT, SUBSTRING, IFNULL.
        (
            format!("SELECT CONCAT(sid, '') AS s, COUNT(*) FROM session_kv WHERE {both_cases} GROUP BY s"),
            vec![vec!["Bob", "1"], vec!["bob", "1"]],
        ),
        (
            format!("SELECT DISTINCT SUBSTRING(sid, 1, 3) FROM session_kv WHERE {both_cases} ORDER BY 1"),
            vec![vec!["Bob"], vec!["bob"]],
        ),
        (
            format!("SELECT sid FROM session_kv WHERE {both_signs} ORDER BY CONCAT(sid, '')"),
            vec![vec!["_x"], vec!["ax"]],
        ),
        (
            format!("SELECT IFNULL(sid, 'none') AS s FROM session_kv WHERE {both_signs} ORDER BY s DESC"),
            vec![vec!["ax"], vec!["_x"]],
        ),
        // An explicit COLLATE wins over the column's.
        (
            format!("SELECT sid FROM session_kv WHERE {both_signs} ORDER BY sid COLLATE utf8mb4_general_ci"),
            vec![vec!["ax"], vec!["_x"]],
        ),
        (
            format!(
                "SELECT LOWER(sid COLLATE utf8mb4_general_ci) AS s, COUNT(*) FROM session_kv \
                 WHERE {both_cases} GROUP BY s"
            ),
            vec![vec!["bob", "2"]],
        ),
        (
            format!("SELECT UPPER(sid) AS s, COUNT(*) FROM session_kv WHERE {both_cases} GROUP BY s"),
            vec![vec!["BOB", "2"]],
        ),
    ] {
        let want: Vec<Vec<String>> = want
            .iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        match run(&mut conn, &sql) {
            Ok(o) if o.rows == want => {}
            Ok(o) => problems.push(format!("{sql}\n    got  {:?}\n    want {want:?}", o.rows)),
            Err(e) => problems.push(format!("{sql}\n    {e}")),
        }
    }
    // A function shardgate does not model, over a column whose collation
    // is not the connection's: refused, never merged by a guess.
    for sql in [
        format!("SELECT sid FROM session_kv WHERE {both_signs} ORDER BY JSON_UNQUOTE(sid)"),
        format!("SELECT DISTINCT CONVERT(sid USING utf8mb4) FROM session_kv WHERE {both_cases}"),
    ] {
        match run(&mut conn, &sql) {
            Ok(o) => problems.push(format!("{sql}\n    expected ERR 1235, got {:?}", o.rows)),
            Err(e) => match server_err(&e) {
                Some((1235, m)) if m.starts_with("shardgate:") => {}
                other => problems.push(format!("{sql}\n    expected ERR 1235, got {other:?}")),
            },
        }
    }
    // The connection's own collation needs nothing special.
    let o = q(
        &mut conn,
        "SELECT CONCAT('k', val) AS s, COUNT(*) FROM session_kv WHERE sid IN ('Bob', 'bob', 'ax', '_x') GROUP BY s",
    );
    assert_eq!(o.rows, vec![vec!["k1".to_string(), "4".to_string()]]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
