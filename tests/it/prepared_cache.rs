//! Prepared statements on sharded tables stay prepared on the backend
//! connections (`reactor::stmt_cache`): EXECUTE runs the statement's own
//! text with the client's parameters, and the backends see one
//! COM_STMT_PREPARE per (connection, physical statement), not one per
//! execution. Results must be the same as through the literal path.

use mysql::prelude::Queryable;
use mysql::Conn;

use crate::common::direct;
use crate::sharding::{cluster, q, serial, val};

/// `Com_stmt_prepare` summed over the three groups' servers.
fn backend_prepares() -> u64 {
    cluster()
        .dbs
        .iter()
        .map(|db| {
            let mut c = direct(db);
            let v: Option<(String, u64)> = c
                .query_first("SHOW GLOBAL STATUS LIKE 'Com_stmt_prepare'")
                .expect("status");
            v.map_or(0, |v| v.1)
        })
        .sum()
}

fn titles(
    conn: &mut Conn,
    stmt: &mysql::Statement,
    params: impl Into<mysql::Params>,
) -> Vec<String> {
    let rows: Vec<mysql::Row> = conn.exec(stmt, params).expect("execute");
    rows.into_iter()
        .map(|r| r.unwrap().iter().map(val).collect::<Vec<_>>().join("|"))
        .collect()
}

#[test]
fn executions_reuse_statements_prepared_on_the_backends() {
    let _s = serial();
    let c = cluster();
    let mut setup = c.proxy.conn_db("blog");
    // Keys 1950..1969 on _0001 (g0) and 2950..2969 on _0002 (g1), 3950.. on _0003 (g2).
    q(
        &mut setup,
        "DELETE FROM article WHERE user_id BETWEEN 1950 AND 1969",
    );
    q(
        &mut setup,
        "DELETE FROM article WHERE user_id BETWEEN 2950 AND 2969",
    );
    q(
        &mut setup,
        "DELETE FROM article WHERE user_id BETWEEN 3950 AND 3969",
    );
    let mut rows = Vec::new();
    for base in [1950, 2950, 3950] {
        for k in base..base + 20 {
            rows.push(format!("(1, {k}, 'cached {k}')"));
        }
    }
    q(
        &mut setup,
        &format!(
            "INSERT INTO article (id, user_id, title) VALUES {}",
            rows.join(",")
        ),
    );

    let before = backend_prepares();
    let mut sessions: Vec<Conn> = (0..4).map(|_| c.proxy.conn_db("blog")).collect();
    let mut executions = 0u64;
    let mut wrong = Vec::new();
    for (i, conn) in sessions.iter_mut().enumerate() {
        let stmt = conn
            .prep("SELECT user_id, title FROM article WHERE user_id = ?")
            .expect("prepare point select");
        for round in 0..30i64 {
            let k = [1950, 2950, 3950][(round % 3) as usize] + (round + i as i64) % 20;
            let got = titles(conn, &stmt, (k,));
            executions += 1;
            if got != [format!("{k}|cached {k}")] {
                wrong.push(format!("session {i} key {k}: {got:?}"));
            }
        }
    }
    let prepares = backend_prepares() - before;
    assert!(
        wrong.is_empty(),
        "wrong point results:\n  {}",
        wrong.join("\n  ")
    );
    // Without the cache every execution prepares (plus 4 metadata prepares).
    assert!(
        prepares <= executions / 4,
        "{prepares} backend prepares for {executions} executions: statements are not kept prepared"
    );

    // Several shards, merged in key order from binary rows.
    let conn = &mut sessions[0];
    let range = conn
        .prep("SELECT user_id, title FROM article WHERE user_id BETWEEN ? AND ? ORDER BY user_id DESC")
        .expect("prepare range");
    for _ in 0..3 {
        let got = titles(conn, &range, (1960, 3955));
        let mut want: Vec<String> = (1960..=1969)
            .chain(2950..=2969)
            .chain(3950..=3955)
            .map(|k| format!("{k}|cached {k}"))
            .collect();
        want.reverse();
        assert_eq!(got, want, "prepared range over three shards");
    }

    // LIMIT ? needs the value in the SQL (the literal path): same answers.
    let limited = conn
        .prep("SELECT user_id FROM article WHERE user_id BETWEEN ? AND ? ORDER BY user_id LIMIT ?")
        .expect("prepare limit");
    let got = titles(conn, &limited, (1965, 2952, 6));
    assert_eq!(got, ["1965", "1966", "1967", "1968", "1969", "2950"]);

    // A session that changes sql_mode still gets its statements right
    // (statements prepared under other variables are closed first).
    q(conn, "SET SESSION sql_mode = 'ANSI_QUOTES'");
    let quoted = conn
        .prep("SELECT \"title\" FROM article WHERE user_id = ?")
        .expect("prepare with ANSI_QUOTES");
    assert_eq!(titles(conn, &quoted, (2951,)), ["cached 2951"]);
    q(conn, "SET SESSION sql_mode = DEFAULT");
    let other = &mut sessions[1];
    let plain = other
        .prep("SELECT \"title\" FROM article WHERE user_id = ?")
        .expect("prepare without ANSI_QUOTES");
    assert_eq!(
        titles(other, &plain, (2951,)),
        ["title"],
        "a string, not the column"
    );

    // Writes through cached statements, and the table changed under them.
    let upd = other
        .prep("UPDATE article SET views = views + ? WHERE user_id = ?")
        .expect("prepare update");
    for _ in 0..3 {
        other.exec_drop(&upd, (2, 3960)).expect("update");
    }
    q(other, "ALTER TABLE article ADD COLUMN extra INT NULL");
    other
        .exec_drop(&upd, (1, 3960))
        .expect("update after ALTER");
    let v = q(other, "SELECT views FROM article WHERE user_id = 3960");
    q(other, "ALTER TABLE article DROP COLUMN extra");
    assert_eq!(v.rows, vec![vec!["7".to_string()]]);

    for base in [1950, 2950, 3950] {
        q(
            &mut setup,
            &format!(
                "DELETE FROM article WHERE user_id BETWEEN {base} AND {}",
                base + 19
            ),
        );
    }
}
