//! `LOAD DATA LOCAL INFILE` into sharded and broadcast tables through
//! shardgate (issue 4), with the `mariadb` client: the same file loaded
//! into a sharded table and into one plain MariaDB gives the same rows and
//! the same `Records: .. Deleted: .. Skipped: .. Warnings: ..` line, each
//! row on the shard its key maps to; refusals load nothing.
//!
//! Runs on the three-group cluster of `sharding.rs` (`loaded` hashed by
//! `k` over 5 shards: `k % 5` 0 and 1 on g0, 2 on g1, 3 and 4 on g2;
//! `country` broadcast), under its [`serial`] lock.

use std::path::PathBuf;

use crate::common::{cli, text};
use crate::proxy::{APP_PASSWORD, APP_USER};
use crate::sharding::{cluster, layout, phys, serial};
use crate::support::{BACKEND_PASSWORD, BACKEND_USER};

const TABLE_DDL: &str = "CREATE TABLE loaded (k BIGINT NOT NULL PRIMARY KEY, \
     name VARCHAR(40) CHARACTER SET utf8mb4, note TEXT CHARACTER SET utf8mb4, \
     amount DECIMAL(10,2), born DATE)";

/// `loaded`'s (group index, shard) pairs.
fn shards() -> Vec<(usize, usize)> {
    layout(&[0, 1, 2], &[2, 1, 2])
}

/// A file in the test's own temporary directory.
fn file(name: &str, body: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sg-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write file");
    path
}

/// Runs `sql` with the `mariadb` client (LOCAL INFILE on, verbose so that
/// the OK's info line is printed): (stdout, stderr).
fn client(port: u16, user: &str, password: &str, db: &str, sql: &str) -> (String, String) {
    let out = cli(
        port,
        user,
        password,
        &["--local-infile=1", "-vvv", &format!("--database={db}")],
        sql,
    );
    (text(&out.stdout), text(&out.stderr))
}

fn proxy(sql: &str) -> (String, String) {
    client(cluster().proxy.port, APP_USER, APP_PASSWORD, "blog", sql)
}

/// The plain reference server: database `loadref` on g0's server.
fn plain(sql: &str) -> (String, String) {
    let db = &cluster().dbs[0];
    client(db.port, BACKEND_USER, BACKEND_PASSWORD, "loadref", sql)
}

/// The `Records: ...` line of a verbose client's output.
fn info_line(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with("Records:"))
        .unwrap_or_else(|| panic!("no info line in {out}"))
        .trim()
        .to_string()
}

/// Every row, ordered by key, as the client prints them.
fn dump(run: fn(&str) -> (String, String), table: &str) -> Vec<String> {
    let (out, err) = run(&format!(
        "SELECT k, name, note, amount, born, HEX(name) FROM {table} ORDER BY k"
    ));
    assert!(err.is_empty(), "dump of {table}: {err}");
    out.lines()
        .filter(|l| !l.starts_with("SELECT") && !l.starts_with('-') && !l.is_empty())
        .filter(|l| !l.contains(" rows in set") && !l.contains(" row in set") && *l != "Bye")
        .map(str::to_string)
        .collect()
}

fn fresh_tables() {
    let (_, err) = proxy(&format!("DROP TABLE IF EXISTS loaded; {TABLE_DDL}"));
    assert!(err.is_empty(), "{err}");
    let db = &cluster().dbs[0];
    db.sql(&format!(
        "DROP DATABASE IF EXISTS loadref; CREATE DATABASE loadref CHARACTER SET utf8mb4; \
         USE loadref; {TABLE_DDL}"
    ));
}

/// Rows of `loaded` on each physical table whose key maps elsewhere, and
/// the total.
fn placement() -> (usize, usize) {
    let c = cluster();
    let (mut wrong, mut total) = (0, 0);
    for (g, s) in shards() {
        let t = phys("loaded", s);
        let out = c.dbs[g].sql(&format!(
            "SELECT COUNT(*), COALESCE(SUM(MOD(MOD(k, 5) + 5, 5) <> {s}), 0) FROM blog.{t}"
        ));
        let mut it = out.split_whitespace().map(|v| v.parse::<usize>().unwrap());
        total += it.next().unwrap();
        wrong += it.next().unwrap();
    }
    (wrong, total)
}

/// A CSV of `n` rows with what a real export holds: a header line,
/// enclosed fields holding commas, newlines and doubled quotes, escapes,
/// NULLs, unicode, negative keys, and every 97th key repeated.
fn csv(n: i64) -> Vec<u8> {
    let mut out = b"k,name,note,amount,born\n".to_vec();
    for i in 0..n {
        let k = if i % 97 == 96 { i - 1 } else { i * 7 - n };
        let name = match i % 5 {
            0 => format!("\"plain {i}\""),
            1 => format!("\"comma, {i}\""),
            2 => format!("\"quote \"\"{i}\"\"\""),
            3 => format!("\"café ☕ {i}\""),
            _ => "\\N".to_string(),
        };
        let note = if i % 3 == 0 {
            format!("\"line one\nline two {i}\"")
        } else {
            format!("tab\\there {i}")
        };
        let amount = if i % 11 == 0 {
            "\\N".to_string()
        } else {
            format!("{}.{:02}", i % 1000, i % 100)
        };
        let born = format!("20{:02}-{:02}-{:02}", i % 30, i % 12 + 1, i % 28 + 1);
        out.extend_from_slice(format!("{k},{name},{note},{amount},{born}\n").as_bytes());
    }
    out
}

const CSV_OPTIONS: &str =
    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' IGNORE 1 LINES";

#[test]
fn load_data_local_splits_a_file_over_the_shards_as_one_server_loads_it() {
    let _g = serial();
    fresh_tables();
    let path = file("rows.csv", &csv(40_000));
    let load = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE loaded {CSV_OPTIONS}",
        path.display()
    );
    let (p_out, p_err) = proxy(&load);
    let (r_out, r_err) = plain(&load);
    assert!(p_err.is_empty() && r_err.is_empty(), "{p_err} / {r_err}");
    assert_eq!(info_line(&p_out), info_line(&r_out));
    assert!(info_line(&p_out).starts_with("Records: 40000"), "{p_out}");
    let skipped: usize = info_line(&r_out)
        .split("Skipped: ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("skipped count");
    assert!(skipped > 0, "the repeated keys are skipped: {r_out}");
    let (wrong, total) = placement();
    assert_eq!((wrong, total), (0, 40_000 - skipped));
    let (p, r) = (dump(proxy, "loaded"), dump(plain, "loaded"));
    assert_eq!(p.len(), r.len());
    assert_eq!(p, r, "rows differ");

    // Again with REPLACE, a field list with a user variable and SET: every
    // row replaced, on its shard.
    let again = format!(
        "LOAD DATA LOCAL INFILE '{}' REPLACE INTO TABLE loaded {CSV_OPTIONS} \
         (k, @n, note, amount, born) SET name = UPPER(@n)",
        path.display()
    );
    let (p_out, p_err) = proxy(&again);
    let (r_out, r_err) = plain(&again);
    assert!(p_err.is_empty() && r_err.is_empty(), "{p_err} / {r_err}");
    assert_eq!(info_line(&p_out), info_line(&r_out));
    let affected = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("Query OK"))
            .map(str::to_string)
            .unwrap_or_default()
            .split(" (")
            .next()
            .map(str::to_string)
    };
    assert_eq!(affected(&p_out), affected(&r_out));
    assert_eq!(placement(), (0, 40_000 - skipped));
    assert_eq!(dump(proxy, "loaded"), dump(plain, "loaded"));
    let _ = std::fs::remove_file(path);
}

#[test]
fn load_data_refusals_load_nothing() {
    let _g = serial();
    fresh_tables();
    let good = file(
        "good.tsv",
        b"1\ta\t\\N\t1.00\t2024-01-01\n2\tb\t\\N\t2.00\t2024-01-02\n",
    );
    let load = |path: &PathBuf, rest: &str| {
        format!(
            "LOAD DATA LOCAL INFILE '{}' INTO TABLE loaded {rest}",
            path.display()
        )
    };
    // A record without the key field, a NULL key: refused with its line.
    let short = file("short.tsv", b"c\t3\nd\n");
    let (_, err) = proxy(&load(&short, "(name, k)"));
    assert!(
        err.contains("line 2 has no value for shard key 'k'"),
        "{err}"
    );
    let null = file("null.tsv", b"3\tc\n\\N\td\n");
    let (_, err) = proxy(&load(&null, "(k, name)"));
    assert!(err.contains("line 2") && err.contains("NULL"), "{err}");
    // The key not read from the file.
    let (_, err) = proxy(&load(&good, "(@k, name) SET k = @k"));
    assert!(err.contains("ERROR 1235") && err.contains("SET"), "{err}");
    let (_, err) = proxy(&load(&good, "(name)"));
    assert!(err.contains("field list"), "{err}");
    // A file on the server.
    let (_, err) = proxy(&format!(
        "LOAD DATA INFILE '{}' INTO TABLE loaded",
        good.display()
    ));
    assert!(err.contains("LOAD DATA LOCAL INFILE"), "{err}");
    // A client that does not allow LOCAL INFILE.
    let out = cli(
        cluster().proxy.port,
        APP_USER,
        APP_PASSWORD,
        &["--local-infile=0", "--database=blog"],
        &load(&good, ""),
    );
    assert!(
        text(&out.stderr).contains("ERROR 1148"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(placement(), (0, 0), "nothing was loaded");
    // The session goes on, and the good file loads.
    let (out, err) = proxy(&format!("{}; SELECT COUNT(*) FROM loaded", load(&good, "")));
    assert!(err.is_empty(), "{err}");
    assert!(
        out.contains("Records: 2  Deleted: 0  Skipped: 0  Warnings: 0"),
        "{out}"
    );
    assert_eq!(placement(), (0, 2));
    // An empty file: the reply one server gives.
    let empty = file("empty.tsv", b"");
    let (out, _) = proxy(&load(&empty, ""));
    assert_eq!(
        info_line(&out),
        "Records: 0  Deleted: 0  Skipped: 0  Warnings: 0"
    );
    for p in [good, short, null, empty] {
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn load_data_into_a_broadcast_table_reaches_every_group() {
    let _g = serial();
    let c = cluster();
    let (_, err) = proxy("DELETE FROM country WHERE code IN ('x1', 'x2', 'x3')");
    assert!(err.is_empty(), "{err}");
    let path = file(
        "country.csv",
        "x1,Atlantis\nx2,Ümlautland\nx3,\"Comma, Land\"\n".as_bytes(),
    );
    let (out, err) = proxy(&format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE country FIELDS TERMINATED BY ',' \
         OPTIONALLY ENCLOSED BY '\"'",
        path.display()
    ));
    assert!(err.is_empty(), "{err}");
    assert_eq!(
        info_line(&out),
        "Records: 3  Deleted: 0  Skipped: 0  Warnings: 0"
    );
    for db in &c.dbs {
        let rows = db.sql(
            "SELECT code, name FROM blog.country WHERE code IN ('x1', 'x2', 'x3') ORDER BY code",
        );
        assert_eq!(
            rows.trim(),
            "x1\tAtlantis\nx2\tÜmlautland\nx3\tComma, Land",
            "group on port {}",
            db.port
        );
    }
    let (_, err) = proxy("DELETE FROM country WHERE code IN ('x1', 'x2', 'x3')");
    assert!(err.is_empty(), "{err}");
    let _ = std::fs::remove_file(path);
}
