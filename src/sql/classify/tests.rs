//! Unit tests of `classify`.

use super::*;
use std::fmt::Write as _;

/// The corpus summary: kind, then flags in a fixed order, then SET
/// assignments as `scope:name=value`.
fn summary(sql: &[u8], st: &Statement<'_>) -> String {
    use Kind as S;
    let mut s = match &st.kind {
        S::Use(db) => format!("use({})", String::from_utf8_lossy(db)),
        S::Begin {
            read_only,
            consistent_snapshot,
        } => {
            let mut s = "begin".to_string();
            if *read_only {
                s.push_str("(ro)");
            }
            if *consistent_snapshot {
                s.push_str("(snapshot)");
            }
            s
        }
        S::Commit { chain, release } | S::Rollback { chain, release } => {
            let mut s = if matches!(st.kind, S::Commit { .. }) {
                "commit".to_string()
            } else {
                "rollback".to_string()
            };
            if *chain {
                s.push_str("(chain)");
            }
            if *release {
                s.push_str("(release)");
            }
            s
        }
        S::Kill { query_only, id } => format!(
            "kill({},{})",
            if *query_only { "query" } else { "connection" },
            id.map_or("-".to_string(), |i| i.to_string())
        ),
        S::Load { local } => if *local { "load(local)" } else { "load" }.to_string(),
        other => format!("{other:?}").to_ascii_lowercase(),
    };
    let flags = [
        (st.is_write, "write"),
        (st.locking_read, "locking"),
        (st.uses_user_variables, "uservar"),
        (st.set_user_variable, "setuservar"),
        (st.get_lock, "getlock"),
        (st.sql_calc_found_rows, "calcfoundrows"),
        (st.found_rows, "foundrows"),
        (st.last_insert_id, "lastinsertid"),
        (st.row_count_fn, "rowcount"),
        (st.temporary_table, "temptable"),
        (st.lock_tables, "locktables"),
        (st.multi_statement, "multi"),
        (st.hint.is_some(), "hint"),
        (st.error.is_some(), "error"),
    ];
    for (on, name) in flags {
        if on {
            s.push(' ');
            s.push_str(name);
        }
    }
    for a in &st.set_assignments {
        let scope = match a.scope {
            Scope::Session => "session",
            Scope::Global => "global",
            Scope::User => "user",
        };
        let _ = write!(
            s,
            " {scope}:{}={}",
            String::from_utf8_lossy(&a.name),
            String::from_utf8_lossy(a.value_text(sql))
        );
    }
    s
}

#[test]
fn corpus() {
    let corpus = include_str!("../testdata/classify.txt");
    let mut failures = Vec::new();
    let mut n = 0;
    for (lineno, line) in corpus.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let Some((want, sql)) = line.split_once(" |") else {
            panic!("line {}: no ` | `", lineno + 1);
        };
        let sql = sql.strip_prefix(' ').unwrap_or(sql);
        // `\n` in the corpus stands for a newline.
        let sql = sql.replace("\\n", "\n");
        let st = classify(sql.as_bytes(), LexOptions::default());
        let got = summary(sql.as_bytes(), &st);
        if got != want.trim() {
            failures.push(format!(
                "line {}: {sql}\n  want: {want}\n  got:  {got}",
                lineno + 1
            ));
        }
        n += 1;
    }
    assert!(n >= 80, "corpus has only {n} statements");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn point_select_is_a_plain_read() {
    let st = classify(b"SELECT c FROM sbtest1 WHERE id=42", LexOptions::default());
    assert_eq!(st.kind, Kind::Select);
    assert!(!st.is_write && !st.locking_read && !st.multi_statement);
    assert!(st.set_assignments.is_empty() && st.set_assignments.capacity() == 0);
}

#[test]
fn use_unquotes_schema() {
    let st = classify(b"USE `my``db`", LexOptions::default());
    assert_eq!(st.kind, Kind::Use(Cow::Owned(b"my`db".to_vec())));
    let st = classify(b"use shop", LexOptions::default());
    assert!(matches!(st.kind, Kind::Use(Cow::Borrowed(b"shop"))));
}

#[test]
fn hint_range_points_at_the_comment() {
    let sql = b"SELECT /*+ shardgate: key=123 */ * FROM t";
    let st = classify(sql, LexOptions::default());
    let r = st.hint.clone().unwrap();
    assert_eq!(&sql[r], b"/*+ shardgate: key=123 */");
    assert!(st.has_hint());
}

#[test]
fn set_assignments_ranges_and_bools() {
    let o = LexOptions::default();
    let sql = b"SET autocommit = OFF, @@session.sql_mode='', @`X` := (1, 2), GLOBAL g = 'ON'";
    let st = classify(sql, o);
    let a = &st.set_assignments;
    assert_eq!(a.len(), 4);
    assert_eq!(a[0].bool_value(sql, o), Some(false));
    assert_eq!(&sql[a[0].name_range.clone()], b"autocommit");
    assert_eq!(&sql[a[1].name_range.clone()], b"@@session.sql_mode");
    assert_eq!(a[2].name, b"x");
    assert_eq!(a[2].value_text(sql), b"(1, 2)");
    assert_eq!(a[3].scope, Scope::Global);
    assert_eq!(a[3].bool_value(sql, o), Some(true));
    assert_eq!(a[1].bool_value(sql, o), None);
    assert!(st.is_write && st.set_user_variable);
}

#[test]
fn no_backslash_escapes_changes_statement_count() {
    let sql = br"SELECT 'a\'; DELETE FROM t; SELECT '";
    let st = classify(sql, LexOptions::default());
    assert!(!st.multi_statement && !st.is_write);
    let o = LexOptions {
        backslash_escapes: false,
        ..LexOptions::default()
    };
    let st = classify(sql, o);
    assert!(st.multi_statement && st.is_write);
    assert_eq!(st.kind, Kind::Select);
    assert_eq!(st.error, Some(LexError::UnterminatedString));
}

#[test]
fn any_bytes_classify_without_panic() {
    let pieces: &[&[u8]] = &[
        b"SELECT ",
        b"SET ",
        b"STATEMENT ",
        b"FOR ",
        b"WITH ",
        b"(",
        b")",
        b";",
        b"@a",
        b"@@x.y",
        b"=",
        b":=",
        b",",
        b"'",
        b"`",
        b"/*!",
        b"*/",
        b"/*+",
        b"CREATE ",
        b"PROCEDURE ",
        b"KILL ",
        b"QUERY ",
        b"99999999999999999999",
        b"NAMES ",
        b"CHARACTER ",
        b"GLOBAL ",
        b"TRANSACTION ",
        b"\xff",
        b"EXPLAIN ",
        b"FORMAT",
        b"USE ",
        b"LOAD ",
        b"DATA ",
        b"BEGIN ",
        b"NOT ",
        b"ROLE ",
        b"x",
        b" ",
    ];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..20_000 {
        let mut sql = Vec::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = seed % 12;
        let mut r = seed;
        for _ in 0..n {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            sql.extend_from_slice(pieces[((r >> 33) % pieces.len() as u64) as usize]);
        }
        let st = classify(&sql, LexOptions::default());
        for a in &st.set_assignments {
            assert!(a.value.end <= sql.len() && a.name_range.end <= sql.len());
        }
        // Splitting never panics, and each piece is one statement.
        let parts = split_statements(&sql, LexOptions::default());
        if st.multi_statement {
            assert!(parts.len() > 1, "{sql:?}");
        }
        for p in parts {
            assert!(!classify(p, LexOptions::default()).multi_statement, "{p:?}");
        }
    }
}

#[test]
fn split_statements_at_top_level_semicolons() {
    let o = LexOptions::default();
    let split = |sql: &str| -> Vec<String> {
        split_statements(sql.as_bytes(), o)
            .into_iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    };
    assert_eq!(split("SELECT 1"), ["SELECT 1"]);
    assert_eq!(split("SELECT 1;"), ["SELECT 1;"]);
    assert_eq!(
        split(" SELECT ';' ; /* ; */ UPDATE t SET a = `x;y`;\n SELECT \"a;\" -- ;\n;"),
        [
            "SELECT ';' ",
            "/* ; */ UPDATE t SET a = `x;y`",
            "SELECT \"a;\" -- ;\n;"
        ]
    );
    // an empty statement is kept for the server to refuse
    assert_eq!(split("SELECT 1;; SELECT 2"), ["SELECT 1", "; SELECT 2"]);
    // a hint stays with its statement
    assert_eq!(
        split("/*+ shardgate: key=1 */ SELECT 1; SELECT 2"),
        ["/*+ shardgate: key=1 */ SELECT 1", "SELECT 2"]
    );
    // a stored-program body is not split (nor is what follows it: the
    // server gets that text whole, as without shardgate)
    assert_eq!(
        split("SELECT 0; CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END; CALL p()"),
        [
            "SELECT 0",
            "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END; CALL p()"
        ]
    );
}
