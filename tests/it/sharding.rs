//! Sharding through a real shardgate over three MariaDB groups (issue 4):
//! DDL fan-out, where every INSERT puts its rows (checked on the backends
//! themselves, with MariaDB's own `CRC32()`/`MOD()` for hash and bucket
//! rules), routing of point/IN/BETWEEN statements (EXPLAIN SHARDGATE and
//! decoy rows prove a statement went to exactly one shard), summed
//! affected-row counts, broadcast tables, joins, refusals, route hints,
//! lookup rules with and without placement, and prepared statements.
//!
//! Owns the three-group [`cluster`] fixture that `differential.rs` shares:
//! MariaDB servers g0, g1, g2 and one shardgate with schemas `blog` (these
//! tests) and `sg_diff` (the differential test). It lives until the test
//! process exits (an `atexit` hook kills and removes it).
//!
//! The tests of this module take [`serial`] so they see each other's rows
//! only through keys they chose: each test uses its own key values.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use crate::common::{direct_db, server_err, Raw, Reply, RAW_CAPS};
use crate::proxy::{Proxy, ProxyConfig, APP_PASSWORD, APP_USER, OTHER_PASSWORD, OTHER_USER};
use crate::support::MariaDb;

// ---------------------------------------------------------------------------
// Layout of schema `blog`
// ---------------------------------------------------------------------------

/// Groups in the order of the `dbs` of [`Cluster`].
pub const GROUPS: [&str; 3] = ["g0", "g1", "g2"];

/// `by_user` (range): keys 0..999 -> _0000, 1000..1999 -> _0001 (g0),
/// 2000..2999 -> _0002 (g1), 3000..3999 -> _0003 (g2).
const ROWS_PER_TABLE: i64 = 1000;
const RANGE_TPG: [usize; 3] = [2, 1, 1];
/// `by_hash`: 5 shards, _0000/_0001 on g0, _0002 on g1, _0003/_0004 on g2.
const HASH_TPG: [usize; 3] = [2, 1, 2];
/// `by_bucket`: 64 buckets over 3 groups, 1 + 2 + 1 tables.
const BUCKETS: u32 = 64;
const BUCKET_TPG: [usize; 3] = [1, 2, 1];
/// `by_dir` (lookup, placement hash): one table per group.
const DIR_TPG: [usize; 3] = [1, 1, 1];
/// `by_dir_strict` (lookup, placement none): g1 and g2, one table each.
const STRICT_GROUPS: [usize; 2] = [1, 2];

const BLOG_SCHEMA: &str = r#"
[[schema]]
name = "blog"
default_group = "g0"

[[schema.rule]]
name = "by_user"
kind = "range"
groups = ["g0", "g1", "g2"]
tables_per_group = [2, 1, 1]
rows_per_table = 1000

[[schema.rule]]
name = "by_hash"
kind = "hash"
groups = ["g0", "g1", "g2"]
tables_per_group = [2, 1, 2]

[[schema.rule]]
name = "by_bucket"
kind = "bucket"
groups = ["g0", "g1", "g2"]
tables_per_group = [1, 2, 1]
buckets = 64

[[schema.rule]]
name = "by_dir"
kind = "lookup"
groups = ["g0", "g1", "g2"]
tables_per_group = [1, 1, 1]
lookup = { group = "g0", table = "shard_directory", key_column = "k", shard_column = "shard", placement = "hash" }

[[schema.rule]]
name = "by_dir_strict"
kind = "lookup"
groups = ["g1", "g2"]
lookup = { group = "g0", table = "shard_directory_strict", key_column = "k", shard_column = "shard", placement = "none" }

[[schema.table]]
name = "article"
key = "user_id"
rule = "by_user"

[[schema.table]]
name = "comment"
key = "user_id"
rule = "by_user"

[[schema.table]]
name = "orders"
key = "order_id"
rule = "by_hash"

[[schema.table]]
name = "session_kv"
key = "sid"
rule = "by_hash"

[[schema.table]]
name = "scratch"
key = "id"
rule = "by_hash"

[[schema.table]]
name = "loaded"
key = "k"
rule = "by_hash"

[[schema.table]]
name = "item"
key = "item_id"
rule = "by_bucket"

[[schema.table]]
name = "profile"
key = "uid"
rule = "by_dir"

[[schema.table]]
name = "vault"
key = "uid"
rule = "by_dir_strict"

[[schema.table]]
name = "country"
broadcast = true
"#;

/// DDL of schema `blog`, run through shardgate by the fixture.
const BLOG_DDL: &[&str] = &[
    "CREATE TABLE article (id INT NOT NULL, user_id INT NOT NULL, title VARCHAR(100) \
     CHARACTER SET utf8mb4, views INT NOT NULL DEFAULT 0, PRIMARY KEY (user_id, id))",
    "CREATE TABLE comment (id INT NOT NULL, user_id INT NOT NULL, article_id INT NOT NULL, \
     body VARCHAR(200) CHARACTER SET utf8mb4, PRIMARY KEY (user_id, id))",
    "CREATE TABLE orders (order_id BIGINT NOT NULL PRIMARY KEY, amount DECIMAL(10,2), \
     note VARCHAR(50))",
    "CREATE TABLE session_kv (sid VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin \
     NOT NULL PRIMARY KEY, val INT)",
    "CREATE TABLE item (item_id INT NOT NULL PRIMARY KEY, name VARCHAR(40), qty INT)",
    "CREATE TABLE profile (uid BIGINT NOT NULL PRIMARY KEY, nick VARCHAR(40))",
    "CREATE TABLE vault (uid BIGINT NOT NULL PRIMARY KEY, secret VARCHAR(40))",
    "CREATE TABLE country (code CHAR(2) NOT NULL PRIMARY KEY, name VARCHAR(60) \
     CHARACTER SET utf8mb4)",
];

// ---------------------------------------------------------------------------
// The cluster fixture
// ---------------------------------------------------------------------------

/// Three MariaDB servers (groups g0, g1, g2: `dbs[i]` is `GROUPS[i]`) and
/// one shardgate over them.
pub struct Cluster {
    pub dbs: Vec<MariaDb>,
    pub proxy: Proxy,
}

/// The shared three-group cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    static C: OnceLock<Cluster> = OnceLock::new();
    C.get_or_init(|| {
        let handles: Vec<_> = (0..3).map(|_| thread::spawn(MariaDb::start)).collect();
        let dbs: Vec<MariaDb> = handles
            .into_iter()
            .map(|h| h.join().expect("start mariadbd"))
            .collect();
        // ProxyConfig renders group g0 itself; the other groups and the
        // schemas ride along with the [[user]] blocks (TOML tables may come
        // in any order).
        let extra = format!(
            "[[user]]\nname = \"{APP_USER}\"\npassword = \"{APP_PASSWORD}\"\nschemas = [\"*\"]\n\n\
             [[user]]\nname = \"{OTHER_USER}\"\npassword = \"{OTHER_PASSWORD}\"\nschemas = [\"*\"]\n\n\
             [[group]]\nname = \"g1\"\nmaster = \"127.0.0.1:{}\"\n\n\
             [[group]]\nname = \"g2\"\nmaster = \"127.0.0.1:{}\"\n\n{BLOG_SCHEMA}\n{}\n",
            dbs[1].port,
            dbs[2].port,
            crate::differential::SCHEMA_TOML,
        );
        let proxy = Proxy::start(&ProxyConfig::new(dbs[0].port).users(&extra));
        let c = Cluster { dbs, proxy };
        // SAFETY: registering a plain extern "C" function with atexit(3).
        unsafe {
            libc::atexit(cleanup_cluster);
        }
        setup_blog(&c);
        c
    })
}

extern "C" fn cleanup_cluster() {
    let c = cluster();
    // SAFETY: kill(2) on our own child shardgate and on the pids our own
    // mariadbd servers wrote.
    unsafe {
        libc::kill(c.proxy.pid() as i32, libc::SIGKILL);
    }
    for db in &c.dbs {
        if let Ok(pid) = std::fs::read_to_string(db.dir.join("mysqld.pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // SAFETY: see above.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
    thread::sleep(Duration::from_millis(100));
    for db in &c.dbs {
        let _ = std::fs::remove_dir_all(&db.dir);
    }
    let _ = std::fs::remove_dir_all(&c.proxy.dir);
}

fn setup_blog(c: &Cluster) {
    let mut conn = c.proxy.conn();
    q(&mut conn, "CREATE DATABASE blog CHARACTER SET utf8mb4");
    // The lookup directories live in blog on g0; the test creates them.
    c.dbs[0].sql(
        "CREATE TABLE blog.shard_directory (k BIGINT NOT NULL PRIMARY KEY, shard INT NOT NULL);
         CREATE TABLE blog.shard_directory_strict (k BIGINT NOT NULL PRIMARY KEY, shard INT NOT NULL);",
    );
    q(&mut conn, "USE blog");
    for ddl in BLOG_DDL {
        q(&mut conn, ddl);
    }
}

/// Serialises the tests of this module.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Helpers (also used by differential.rs)
// ---------------------------------------------------------------------------

/// What a statement returned: column names, rows as text (`NULL` for SQL
/// NULL), affected rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub cols: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub affected: u64,
}

/// A value as text: text-protocol bytes as they are, binary values in the
/// same spelling the text protocol would use.
pub fn val(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Date(y, mo, d, h, mi, s, us) => {
            if *us != 0 {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
            } else {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            }
        }
        Value::Time(neg, d, h, mi, s, us) => {
            let sign = if *neg { "-" } else { "" };
            format!("{sign}{}:{mi:02}:{s:02}.{us:06}", u32::from(*h) + d * 24)
        }
    }
}

/// Runs one text-protocol statement; the first result set (or OK).
pub fn run(conn: &mut Conn, sql: &str) -> Result<Outcome, mysql::Error> {
    outcome(conn.query_iter(sql)?)
}

/// The first result set (or OK) of a statement's reply, text or binary.
pub fn outcome<P: mysql::prelude::Protocol>(
    mut res: mysql::QueryResult<'_, '_, '_, P>,
) -> Result<Outcome, mysql::Error> {
    let cols: Vec<String> = res
        .columns()
        .as_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    // An OK has no rows; once rows are read the state moves on.
    let affected = res.affected_rows();
    let mut rows = Vec::new();
    for r in res.by_ref() {
        rows.push(row_strings(&r?));
    }
    drop(res);
    Ok(Outcome {
        cols,
        rows,
        affected,
    })
}

/// [`run`] that must succeed.
pub fn q(conn: &mut Conn, sql: &str) -> Outcome {
    run(conn, sql).unwrap_or_else(|e| panic!("{sql}\n  failed: {e}"))
}

/// The rows of a query that must succeed.
fn rows(conn: &mut Conn, sql: &str) -> Vec<Vec<String>> {
    q(conn, sql).rows
}

/// The single value of a query that must succeed.
fn one(conn: &mut Conn, sql: &str) -> String {
    let r = rows(conn, sql);
    assert_eq!(r.len(), 1, "{sql}: one row expected, got {r:?}");
    r[0][0].clone()
}

/// Asserts `sql` is refused with ERR `code` and a `shardgate:` message;
/// returns the message.
fn refused_with(conn: &mut Conn, sql: &str, code: u16) -> String {
    match run(conn, sql) {
        Ok(o) => panic!("{sql}\n  expected ERR {code}, got {o:?}"),
        Err(e) => {
            let (c, msg) = server_err(&e).unwrap_or_else(|| panic!("{sql}: not an ERR: {e}"));
            assert_eq!(c, code, "{sql}: code ({msg})");
            assert!(msg.starts_with("shardgate:"), "{sql}: message {msg:?}");
            msg
        }
    }
}

/// Asserts ERR 1235 (`ER_NOT_SUPPORTED_YET`) with a `shardgate:` message.
fn refused(conn: &mut Conn, sql: &str) -> String {
    refused_with(conn, sql, 1235)
}

/// One row of EXPLAIN SHARDGATE.
#[derive(Debug, Clone)]
struct Target {
    group: String,
    sql: String,
    gather: String,
}

fn explain(conn: &mut Conn, sql: &str) -> Vec<Target> {
    let o = q(conn, &format!("EXPLAIN SHARDGATE {sql}"));
    assert_eq!(
        o.cols,
        ["group", "node", "sql", "gather"],
        "EXPLAIN columns"
    );
    o.rows
        .into_iter()
        .map(|r| Target {
            group: r[0].clone(),
            sql: r[2].clone(),
            gather: r[3].clone(),
        })
        .collect()
}

/// EXPLAIN shows exactly one target: its group and SQL.
fn one_target(conn: &mut Conn, sql: &str) -> Target {
    let t = explain(conn, sql);
    assert_eq!(t.len(), 1, "{sql}: one target expected, got {t:?}");
    t[0].clone()
}

/// Physical table name.
pub fn phys(table: &str, shard: usize) -> String {
    format!("{table}_{shard:04}")
}

/// (group index, shard) of every shard of a rule laid out as `tpg` over
/// `groups` (indexes into [`GROUPS`]).
pub fn layout(groups: &[usize], tpg: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (g, n) in groups.iter().zip(tpg) {
        for _ in 0..*n {
            let shard = out.len();
            out.push((*g, shard));
        }
    }
    out
}

/// CRC-32 (IEEE, reflected), bit by bit: what MariaDB's `CRC32()` gives.
/// Written here independently of `src/route/crc32.rs`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Shard of an integer key under a `bucket` rule with the initial map
/// (bucket `b` on group `b * groups / buckets`, table `b % tables`).
pub fn bucket_shard(key_text: &str, buckets: u32, tpg: &[usize]) -> usize {
    let b = crc32(key_text.as_bytes()) % buckets;
    let g = (u64::from(b) * tpg.len() as u64 / u64::from(buckets)) as usize;
    let first: usize = tpg[..g].iter().sum();
    first + (b as usize % tpg[g])
}

fn c() -> &'static Cluster {
    cluster()
}

fn pconn() -> Conn {
    c().proxy.conn_db("blog")
}

fn backend(g: usize) -> Conn {
    direct_db(&c().dbs[g], "blog")
}

/// `(group, physical table)` of every row with `col = key` of `table`
/// (searched on every backend, every physical table).
fn where_is(table: &str, shards: &[(usize, usize)], col: &str, key: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for &(g, s) in shards {
        let t = phys(table, s);
        let n: i64 = one(
            &mut backend(g),
            &format!("SELECT COUNT(*) FROM {t} WHERE {col} = {key}"),
        )
        .parse()
        .unwrap();
        for _ in 0..n {
            found.push((g, t.clone()));
        }
    }
    found
}

fn range_layout() -> Vec<(usize, usize)> {
    layout(&[0, 1, 2], &RANGE_TPG)
}

fn hash_layout() -> Vec<(usize, usize)> {
    layout(&[0, 1, 2], &HASH_TPG)
}

fn bucket_layout() -> Vec<(usize, usize)> {
    layout(&[0, 1, 2], &BUCKET_TPG)
}

fn dir_layout() -> Vec<(usize, usize)> {
    layout(&[0, 1, 2], &DIR_TPG)
}

fn strict_layout() -> Vec<(usize, usize)> {
    layout(&STRICT_GROUPS, &[1, 1])
}

// ---------------------------------------------------------------------------
// DDL
// ---------------------------------------------------------------------------

#[test]
fn create_table_fans_out_to_exactly_the_physical_tables() {
    let _s = serial();
    let c = c();
    let mut expected: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 3];
    let sharded: [(&str, Vec<(usize, usize)>); 7] = [
        ("article", range_layout()),
        ("comment", range_layout()),
        ("orders", hash_layout()),
        ("session_kv", hash_layout()),
        ("item", bucket_layout()),
        ("profile", dir_layout()),
        ("vault", strict_layout()),
    ];
    for (t, l) in &sharded {
        for &(g, s) in l {
            expected[g].insert(phys(t, s));
        }
    }
    for e in expected.iter_mut() {
        e.insert("country".into());
    }
    expected[0].insert("shard_directory".into());
    expected[0].insert("shard_directory_strict".into());
    for (g, db) in c.dbs.iter().enumerate() {
        let got: BTreeSet<String> = db
            .sql("SHOW TABLES FROM blog")
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(got, expected[g], "physical tables on {}", GROUPS[g]);
    }
}

/// Issue 4: "SHOW TABLES ... show the logical tables, not the physical ones".
#[test]

fn show_tables_through_shardgate_lists_logical_tables() {
    let _s = serial();
    let mut conn = pconn();
    let shown: BTreeSet<String> = rows(&mut conn, "SHOW TABLES")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    for t in ["article", "comment", "orders", "item", "country", "vault"] {
        assert!(
            shown.contains(t),
            "SHOW TABLES through shardgate: {shown:?}"
        );
    }
    assert!(
        !shown.iter().any(|t| t.ends_with("_0000")),
        "SHOW TABLES shows physical tables: {shown:?}"
    );
    // LIKE applies to the logical names, and a logical table is listed once.
    let like: Vec<String> = rows(&mut conn, "SHOW TABLES LIKE 'art%'")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(like, ["article"]);
    let like: Vec<String> = rows(&mut conn, "SHOW FULL TABLES LIKE '%o%'")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert!(
        like.iter().all(|t| t.contains('o'))
            && ["comment", "country", "orders", "profile", "session_kv"]
                .iter()
                .all(|t| like.contains(&t.to_string())),
        "{like:?}"
    );
    let mut sorted = like.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(like, sorted, "sorted, each table once");
    let status = rows(&mut conn, "SHOW TABLE STATUS LIKE 'comment'");
    assert_eq!(status.len(), 1, "{status:?}");
    assert_eq!(status[0][0], "comment");
    assert_eq!(
        status[0][1], "InnoDB",
        "the engine of the first physical table"
    );
    // A sharded table's sizes are those of all its physical tables, on
    // every group (orders: 5 shards over 3 groups).
    q(&mut conn, "ANALYZE TABLE orders");
    let status = q(&mut conn, "SHOW TABLE STATUS LIKE 'orders'");
    let data_at = status
        .cols
        .iter()
        .position(|c| c == "Data_length")
        .expect("Data_length");
    let shown: u64 = status.rows[0][data_at].parse().expect("a size");
    let direct: u64 = c()
        .dbs
        .iter()
        .map(|db| {
            db.sql(
                "SELECT COALESCE(SUM(DATA_LENGTH), 0) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = 'blog' AND TABLE_NAME LIKE 'orders\\_%'",
            )
            .trim()
            .parse::<u64>()
            .expect("a size")
        })
        .sum();
    assert_eq!(shown, direct, "summed over the 5 physical tables");
    assert!(shown >= 5 * 16384, "{shown}");
    // Structure: the first physical table's, under the logical name.
    let create = rows(&mut conn, "SHOW CREATE TABLE article");
    assert_eq!(create[0][0], "article");
    assert!(
        create[0][1].starts_with("CREATE TABLE `article` ("),
        "{create:?}"
    );
    let index = rows(&mut conn, "SHOW INDEX FROM article");
    assert!(
        !index.is_empty() && index.iter().all(|r| r[0] == "article"),
        "{index:?}"
    );
    // A broadcast table's structure comes from one group.
    let create = rows(&mut conn, "SHOW CREATE TABLE country");
    assert_eq!(create.len(), 1, "{create:?}");
    assert!(
        create[0][1].starts_with("CREATE TABLE `country` ("),
        "{create:?}"
    );
    assert_eq!(rows(&mut conn, "DESCRIBE country").len(), 2);
    // information_schema by logical name (as ORMs reflect a table).
    let cols = rows(
        &mut conn,
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = 'blog' AND TABLE_NAME = 'article' ORDER BY ORDINAL_POSITION",
    );
    assert_eq!(
        cols,
        [
            ["article", "id"],
            ["article", "user_id"],
            ["article", "title"],
            ["article", "views"]
        ],
        "columns of the logical table"
    );
    let keys = rows(
        &mut conn,
        "SELECT DISTINCT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('article', 'orders')",
    );
    assert!(
        keys.contains(&vec!["article".to_string(), "PRIMARY".to_string()])
            && keys.contains(&vec!["orders".to_string(), "PRIMARY".to_string()]),
        "{keys:?}"
    );
    // A listing whose rows differ per physical table (row counts, sizes;
    // here the name's suffix) shows each logical table once: g0 holds
    // orders_0000 and orders_0001, and the first stands for `orders`.
    let tables = rows(
        &mut conn,
        "SELECT TABLE_NAME, RIGHT(TABLE_NAME, 4) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = 'blog' AND TABLE_NAME LIKE 'orders%'",
    );
    assert_eq!(tables, [["orders", "0000"]]);
}

#[test]
fn create_table_like_a_sharded_table_copies_its_structure() {
    let _s = serial();
    let mut conn = pconn();
    // An unsharded table lives on the default group g0: its structure
    // comes from article's physical table there.
    q(&mut conn, "DROP TABLE IF EXISTS article_copy");
    q(&mut conn, "CREATE TABLE article_copy LIKE article");
    let create = c().dbs[0].sql("SHOW CREATE TABLE blog.article_copy");
    assert!(create.contains("`user_id` int(11) NOT NULL"), "{create}");
    q(
        &mut conn,
        "INSERT INTO article_copy (id, user_id, title) VALUES (1, 2, 'copied')",
    );
    assert_eq!(
        rows(&mut conn, "SELECT title FROM article_copy WHERE id = 1"),
        [["copied"]]
    );
    q(&mut conn, "DROP TABLE article_copy");
    // A sharded table with a plain one, or two tables of different rules:
    // refused, and nothing is created.
    for sql in [
        "CREATE TABLE article_copy AS SELECT * FROM article",
        "DROP TABLE article, orders",
    ] {
        let e = conn.query_drop(sql).expect_err(sql);
        assert_eq!(server_err(&e).map(|e| e.0), Some(1235), "{sql}: {e}");
    }
    assert!(c().dbs[0]
        .sql("SHOW TABLES FROM blog LIKE 'article_copy'")
        .trim()
        .is_empty());
}

#[test]
fn ddl_statements_run_on_every_physical_table() {
    let _s = serial();
    let mut conn = pconn();
    let l = hash_layout();
    let count_on = |g: usize, t: &str| -> usize {
        c().dbs[g]
            .sql(&format!(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'blog' \
                 AND table_name = '{t}'"
            ))
            .trim()
            .parse()
            .unwrap()
    };
    let o = q(
        &mut conn,
        "CREATE TABLE scratch (id INT NOT NULL PRIMARY KEY, v INT)",
    );
    assert_eq!(o.affected, 0);
    for &(g, s) in &l {
        assert_eq!(count_on(g, &phys("scratch", s)), 1, "scratch_{s:04}");
    }
    q(&mut conn, "ALTER TABLE scratch ADD COLUMN w VARCHAR(10)");
    q(&mut conn, "CREATE INDEX scratch_v ON scratch (v)");
    for &(g, s) in &l {
        let cols = c().dbs[g].sql(&format!(
            "SELECT GROUP_CONCAT(column_name ORDER BY ordinal_position) FROM \
             information_schema.columns WHERE table_schema='blog' AND table_name='{}'",
            phys("scratch", s)
        ));
        assert_eq!(cols.trim(), "id,v,w", "columns of scratch_{s:04}");
        let idx = c().dbs[g].sql(&format!(
            "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema='blog' \
             AND table_name='{}' AND index_name='scratch_v'",
            phys("scratch", s)
        ));
        assert_eq!(idx.trim(), "1", "index on scratch_{s:04}");
    }
    let o = q(
        &mut conn,
        "INSERT INTO scratch (id, v) VALUES (1,1),(2,2),(3,3)",
    );
    assert_eq!(o.affected, 3);
    q(&mut conn, "TRUNCATE TABLE scratch");
    for &(g, s) in &l {
        assert_eq!(
            c().dbs[g]
                .sql(&format!("SELECT COUNT(*) FROM blog.{}", phys("scratch", s)))
                .trim(),
            "0"
        );
    }
    q(&mut conn, "DROP TABLE scratch");
    for &(g, s) in &l {
        assert_eq!(
            count_on(g, &phys("scratch", s)),
            0,
            "dropped scratch_{s:04}"
        );
    }
}

// ---------------------------------------------------------------------------
// INSERT placement
// ---------------------------------------------------------------------------

#[test]
fn range_insert_places_rows_by_segment_with_exact_boundaries() {
    let _s = serial();
    let mut conn = pconn();
    let l = range_layout();
    let keys = [0i64, 1, 998, 999, 1000, 1001, 1999, 2000, 2999, 3000, 3999];
    for (i, k) in keys.iter().enumerate() {
        let o = q(
            &mut conn,
            &format!(
                "INSERT INTO article (id, user_id, title) VALUES ({}, {k}, 'boundary {k}')",
                100 + i
            ),
        );
        assert_eq!(o.affected, 1);
        let shard = (k / ROWS_PER_TABLE) as usize;
        let (g, _) = l[shard];
        let got = where_is("article", &l, "user_id", &k.to_string());
        assert_eq!(got, vec![(g, phys("article", shard))], "user_id {k}");
    }
    // Outside every range: an error, not a guess (1526 as partitioning).
    for k in [4000i64, 4001, -1, 9_999_999] {
        let msg = refused_with(
            &mut conn,
            &format!("INSERT INTO article (id, user_id, title) VALUES (1, {k}, 'x')"),
            1526,
        );
        assert!(msg.contains(&k.to_string()), "{msg}");
        assert!(where_is("article", &l, "user_id", &k.to_string()).is_empty());
    }
    // A non-integer key for a range rule is refused.
    refused(
        &mut conn,
        "INSERT INTO article (id, user_id, title) VALUES (1, 'abc', 'x')",
    );
    // SELECT of an out-of-range key: empty, not an error.
    assert!(rows(&mut conn, "SELECT * FROM article WHERE user_id = 5000").is_empty());
}

#[test]
fn hash_insert_places_rows_by_mod_and_crc32_checked_in_sql() {
    let _s = serial();
    let mut conn = pconn();
    let l = hash_layout();
    let n = l.len() as i64;
    let mut keys: Vec<i64> = (-12..=12).collect();
    keys.extend([i64::MAX, i64::MIN + 1, 1_000_003, -1_000_003, 4_294_967_296]);
    let values: Vec<String> = keys
        .iter()
        .map(|k| format!("({k}, {}.50, 'k{k}')", k % 1000))
        .collect();
    let o = q(
        &mut conn,
        &format!(
            "INSERT INTO orders (order_id, amount, note) VALUES {}",
            values.join(", ")
        ),
    );
    assert_eq!(o.affected, keys.len() as u64, "multi-row insert, summed");
    for k in &keys {
        let shard = k.rem_euclid(n) as usize;
        assert_eq!(
            where_is("orders", &l, "order_id", &k.to_string()),
            vec![(l[shard].0, phys("orders", shard))],
            "order_id {k}"
        );
    }
    // The rule docs: MOD(MOD(k, n) + n, n) names the shard in SQL.
    let mut total = 0;
    for &(g, s) in &l {
        let t = phys("orders", s);
        let bad = one(
            &mut backend(g),
            &format!("SELECT COUNT(*) FROM {t} WHERE MOD(MOD(order_id, {n}) + {n}, {n}) <> {s}"),
        );
        assert_eq!(bad, "0", "{t}: rows of other shards");
        total += one(&mut backend(g), &format!("SELECT COUNT(*) FROM {t}"))
            .parse::<usize>()
            .unwrap();
    }
    assert_eq!(total, keys.len());

    // String keys: CRC32(bytes) % n, multi-byte UTF-8 included.
    let sids = [
        "alice",
        "Bob",
        "bob",
        "José",
        "Zoë",
        "日本語",
        "🎉party",
        "o'brien",
        "",
        "a b",
        "Ærøskøbing",
        "Москва",
        // Strings that read as numbers are still strings in a VARCHAR key:
        // placed by CRC32 of their bytes, as CRC32(sid) says.
        "42",
        "042",
        "+42",
        "4.2e1",
        " 42",
        "2024-1-5",
    ];
    let values: Vec<String> = sids
        .iter()
        .enumerate()
        .map(|(i, s)| format!("('{}', {i})", s.replace('\'', "''")))
        .collect();
    let o = q(
        &mut conn,
        &format!(
            "INSERT INTO session_kv (sid, val) VALUES {}",
            values.join(",")
        ),
    );
    assert_eq!(o.affected, sids.len() as u64);
    for (i, s) in sids.iter().enumerate() {
        let shard = (crc32(s.as_bytes()) % n as u32) as usize;
        let lit = format!("'{}'", s.replace('\'', "''"));
        assert_eq!(
            where_is("session_kv", &l, "sid", &lit),
            vec![(l[shard].0, phys("session_kv", shard))],
            "sid {s:?}"
        );
        // And read back through shardgate by the key.
        let got = rows(
            &mut conn,
            &format!("SELECT val FROM session_kv WHERE sid = {lit}"),
        );
        assert_eq!(got, vec![vec![i.to_string()]], "read sid {s:?}");
    }
    for &(g, s) in &l {
        let t = phys("session_kv", s);
        let bad = one(
            &mut backend(g),
            &format!("SELECT COUNT(*) FROM {t} WHERE CRC32(sid) % {n} <> {s}"),
        );
        assert_eq!(bad, "0", "{t}: rows of other shards by CRC32()");
    }
    // A number compared with a string key compares numerically: '42',
    // '042', '+42', '4.2e1' and ' 42' all equal 42, on whatever shard their
    // bytes put them, so the statement reads every shard.
    let mut want = Vec::new();
    for &(g, s) in &l {
        want.extend(rows(
            &mut backend(g),
            &format!("SELECT val FROM {} WHERE sid = 42", phys("session_kv", s)),
        ));
    }
    want.sort();
    assert_eq!(want.len(), 5, "the server's numeric matches: {want:?}");
    let mut got = rows(&mut conn, "SELECT val FROM session_kv WHERE sid = 42");
    got.sort();
    assert_eq!(got, want, "sid = 42 through shardgate");
    let mut got = rows(
        &mut conn,
        "SELECT val FROM session_kv WHERE sid IN (42, 43)",
    );
    got.sort();
    assert_eq!(got, want, "sid IN (42, 43) through shardgate");
    // Prepared: a string parameter is one key, an integer one compares
    // numerically.
    let stmt = conn
        .prep("SELECT val FROM session_kv WHERE sid = ?")
        .expect("prepare");
    for _ in 0..2 {
        let got: Vec<i64> = conn.exec(&stmt, ("042",)).expect("exec '042'");
        assert_eq!(got, vec![(sids.len() - 5) as i64], "sid = '042' (prepared)");
        let mut got: Vec<i64> = conn.exec(&stmt, (42i64,)).expect("exec 42");
        got.sort_unstable();
        let mut want_ints: Vec<i64> = want.iter().map(|r| r[0].parse().unwrap()).collect();
        want_ints.sort_unstable();
        assert_eq!(got, want_ints, "sid = 42 (prepared, integer parameter)");
    }
    // utf8mb4_bin is PAD SPACE: 'k' = 'k  ' on the server, so both
    // spellings are one key, placed by the bytes without trailing spaces.
    let m = n as u32;
    let padded = (0..)
        .map(|i| format!("pad{i}"))
        .find(|k| crc32(k.as_bytes()) % m != crc32(format!("{k}  ").as_bytes()) % m)
        .expect("a key whose padded bytes hash elsewhere");
    for &(g, s) in &l {
        let t = phys("session_kv", s);
        q(
            &mut backend(g),
            &format!("DELETE FROM {t} WHERE sid LIKE 'pad%'"),
        );
    }
    q(
        &mut conn,
        &format!("INSERT INTO session_kv (sid, val) VALUES ('{padded}  ', 7001)"),
    );
    let home = (crc32(padded.as_bytes()) % m) as usize;
    assert_eq!(
        where_is("session_kv", &l, "sid", &format!("'{padded}'")),
        vec![(l[home].0, phys("session_kv", home))],
        "'{padded}  ' is placed as '{padded}'"
    );
    for lit in [
        format!("'{padded}'"),
        format!("'{padded} '"),
        format!("'{padded}  '"),
    ] {
        let got = rows(
            &mut conn,
            &format!("SELECT val FROM session_kv WHERE sid = {lit}"),
        );
        assert_eq!(got, vec![vec!["7001".to_string()]], "sid = {lit}");
    }
    // The server sees the same key: a duplicate, as on one MariaDB.
    let e = run(
        &mut conn,
        &format!("INSERT INTO session_kv (sid, val) VALUES ('{padded}', 7002)"),
    )
    .expect_err("duplicate of a padded key");
    assert_eq!(server_err(&e).map(|(c, _)| c), Some(1062), "{e}");
}

/// A string key sent over a latin1 connection is placed by the bytes the
/// utf8mb4 key column stores (what CRC32(sid) reads on the server), so the
/// row is found again from a utf8mb4 connection, and the other way round;
/// text and prepared statements.
#[test]
fn string_keys_from_a_latin1_connection_are_placed_by_the_stored_bytes() {
    let _s = serial();
    let l = hash_layout();
    let n = l.len() as u32;
    let mut conn = pconn();
    let mut raw = Raw::login(c().proxy.port, APP_USER, APP_PASSWORD, RAW_CAPS);
    assert!(
        matches!(raw.query("SET NAMES latin1")[..], [Reply::Ok { .. }]),
        "SET NAMES latin1"
    );
    let latin1 = |k: &str| -> Vec<u8> { k.chars().map(|c| c as u32 as u8).collect() };
    let keys = ["café", "Øresund", "naïve", "smørrebrød"];
    for (i, k) in keys.iter().enumerate() {
        let val = 9200 + i;
        let mut p = b"\x03INSERT INTO blog.session_kv (sid, val) VALUES ('".to_vec();
        p.extend(latin1(k));
        p.extend(format!("', {val})").as_bytes());
        raw.send(&p);
        let r = raw.read_replies();
        assert!(
            matches!(r[..], [Reply::Ok { affected: 1, .. }]),
            "{k}: {r:?}"
        );
        let shard = (crc32(k.as_bytes()) % n) as usize;
        assert_eq!(
            where_is("session_kv", &l, "sid", &format!("'{k}'")),
            vec![(l[shard].0, phys("session_kv", shard))],
            "{k} written over latin1"
        );
        let got = rows(
            &mut conn,
            &format!("SELECT val FROM session_kv WHERE sid = '{k}'"),
        );
        assert_eq!(got, vec![vec![val.to_string()]], "{k} read over utf8mb4");
        let mut p = b"\x03SELECT val FROM blog.session_kv WHERE sid = '".to_vec();
        p.extend(latin1(k));
        p.push(b'\'');
        raw.send(&p);
        let r = raw.read_replies();
        assert!(
            matches!(&r[..], [Reply::Rows { rows, .. }] if *rows == vec![vec![Some(val.to_string())]]),
            "{k} read over latin1: {r:?}"
        );
    }
    // Prepared, over latin1: a string parameter is in the connection's
    // character set too.
    let mut latin = pconn();
    latin.query_drop("SET NAMES latin1").unwrap();
    latin
        .exec_drop(
            "INSERT INTO session_kv (sid, val) VALUES (?, ?)",
            (Value::Bytes(latin1("crème")), 9290),
        )
        .expect("prepared insert over latin1");
    let shard = (crc32("crème".as_bytes()) % n) as usize;
    assert_eq!(
        where_is("session_kv", &l, "sid", "'crème'"),
        vec![(l[shard].0, phys("session_kv", shard))],
        "crème written by a prepared statement over latin1"
    );
    let got: Vec<i64> = latin
        .exec(
            "SELECT val FROM session_kv WHERE sid = ?",
            (Value::Bytes(latin1("crème")),),
        )
        .unwrap();
    assert_eq!(got, vec![9290]);
    q(
        &mut conn,
        "DELETE FROM session_kv WHERE val BETWEEN 9200 AND 9299",
    );
}

/// DATE and DATETIME keys: placed by CRC32 of the text the column stores
/// (checkable as `CRC32(k) % n` on every physical table), whichever
/// spelling wrote or reads them: '2024-1-5', 20240105, a binary DATE.
#[test]
fn hash_date_keys_are_placed_by_the_text_the_column_stores() {
    let _s = serial();
    let mut conn = pconn();
    let l = hash_layout();
    let n = l.len();
    for (ddl, written, reads) in [
        (
            "CREATE TABLE scratch (id DATE NOT NULL PRIMARY KEY, v INT)",
            vec![
                "'2024-1-5'",
                "20240106",
                "'2024-01-07 00:00:00'",
                "'2023-12-31'",
                "'1999-2-28'",
                "20300101",
                "' 2024-02-29 '",
            ],
            vec![
                ("'2024-01-05'", "0"),
                ("20240105", "0"),
                ("'2024-01-06'", "1"),
                ("'2024-1-7'", "2"),
                ("19990228", "4"),
            ],
        ),
        (
            "CREATE TABLE scratch (id DATETIME(3) NOT NULL PRIMARY KEY, v INT)",
            vec![
                "'2024-01-05'",
                "'2024-1-5 10:20:30.5'",
                "20240105102031",
                "'2024-01-05 23:59:59.999'",
            ],
            vec![
                ("'2024-01-05 00:00:00.000'", "0"),
                ("20240105", "0"),
                ("'2024-01-05 10:20:30.500'", "1"),
                ("'2024-01-05 10:20:31'", "2"),
            ],
        ),
    ] {
        q(&mut conn, ddl);
        let values: Vec<String> = written
            .iter()
            .enumerate()
            .map(|(i, k)| format!("({k}, {i})"))
            .collect();
        let o = q(
            &mut conn,
            &format!("INSERT INTO scratch (id, v) VALUES {}", values.join(", ")),
        );
        assert_eq!(o.affected, written.len() as u64, "{ddl}");
        let mut total = 0;
        for &(g, s) in &l {
            let t = phys("scratch", s);
            let bad = one(
                &mut backend(g),
                &format!("SELECT COUNT(*) FROM {t} WHERE CRC32(id) % {n} <> {s}"),
            );
            assert_eq!(bad, "0", "{ddl}: {t} holds rows of other shards by CRC32()");
            total += one(&mut backend(g), &format!("SELECT COUNT(*) FROM {t}"))
                .parse::<usize>()
                .unwrap();
        }
        assert_eq!(total, written.len(), "{ddl}");
        for (key, v) in &reads {
            let got = rows(
                &mut conn,
                &format!("SELECT v FROM scratch WHERE id = {key}"),
            );
            assert_eq!(got, vec![vec![v.to_string()]], "{ddl}: id = {key}");
        }
        // A binary-protocol DATETIME parameter finds the same row.
        let stmt = conn
            .prep("SELECT v FROM scratch WHERE id = ?")
            .expect("prepare");
        let got: Vec<i64> = conn
            .exec(&stmt, (Value::Date(2024, 1, 5, 0, 0, 0, 0),))
            .expect("exec");
        assert_eq!(got, vec![0], "{ddl}: prepared 2024-01-05 00:00:00");
        conn.close(stmt).expect("close");
        // A spelling shardgate cannot read is refused as a key to write.
        let e = run(
            &mut conn,
            "INSERT INTO scratch (id, v) VALUES ('05/01/2024', 9)",
        )
        .expect_err("an unreadable date key");
        let (code, msg) = server_err(&e).expect("an ERR packet");
        assert!(
            msg.starts_with("shardgate:") && msg.contains("YYYY-MM-DD"),
            "{code} {msg}"
        );
        q(&mut conn, "DROP TABLE scratch");
    }
}

#[test]
fn bucket_insert_places_rows_by_crc32_bucket_checked_in_sql() {
    let _s = serial();
    let mut conn = pconn();
    let l = bucket_layout();
    let keys: Vec<i64> = (0..300).chain([-5, -77, 123_456_789]).collect();
    for chunk in keys.chunks(60) {
        let values: Vec<String> = chunk
            .iter()
            .map(|k| format!("({k}, 'item {k}', {})", k % 7))
            .collect();
        let o = q(
            &mut conn,
            &format!(
                "INSERT INTO item (item_id, name, qty) VALUES {}",
                values.join(",")
            ),
        );
        assert_eq!(o.affected, chunk.len() as u64);
    }
    let mut seen_shards = BTreeSet::new();
    for &(g, s) in &l {
        let t = phys("item", s);
        // MariaDB computes each row's bucket; the test maps it to a shard.
        for r in rows(
            &mut backend(g),
            &format!("SELECT item_id, CRC32(item_id) % {BUCKETS} FROM {t}"),
        ) {
            let key = &r[0];
            let bucket: u32 = r[1].parse().unwrap();
            assert_eq!(
                crc32(key.as_bytes()) % BUCKETS,
                bucket,
                "test CRC32 agrees with MariaDB for {key}"
            );
            assert_eq!(
                bucket_shard(key, BUCKETS, &BUCKET_TPG),
                s,
                "item {key} (bucket {bucket}) is in {t}"
            );
            seen_shards.insert(s);
        }
    }
    assert_eq!(seen_shards.len(), l.len(), "300 keys reach every shard");
    let total: usize = l
        .iter()
        .map(|&(g, s)| {
            one(
                &mut backend(g),
                &format!("SELECT COUNT(*) FROM {}", phys("item", s)),
            )
            .parse::<usize>()
            .unwrap()
        })
        .sum();
    assert_eq!(total, keys.len());
    // Point reads find them all.
    for k in [0i64, 17, 299, -77, 123_456_789] {
        assert_eq!(
            rows(
                &mut conn,
                &format!("SELECT name FROM item WHERE item_id = {k}")
            ),
            vec![vec![format!("item {k}")]]
        );
        let shard = bucket_shard(&k.to_string(), BUCKETS, &BUCKET_TPG);
        let t = one_target(
            &mut conn,
            &format!("SELECT * FROM item WHERE item_id = {k}"),
        );
        assert_eq!(t.group, GROUPS[l[shard].0]);
        assert!(t.sql.contains(&phys("item", shard)), "{t:?}");
    }
}

#[test]
fn multi_row_insert_splits_per_shard_and_on_duplicate_key_update() {
    let _s = serial();
    let mut conn = pconn();
    let l = range_layout();
    // Two rows per shard, interleaved.
    let keys = [10i64, 1010, 2010, 3010, 11, 1011, 2011, 3011];
    let values: Vec<String> = keys
        .iter()
        .map(|k| format!("(1, {k}, 'split {k}')"))
        .collect();
    let sql = format!(
        "INSERT INTO article (id, user_id, title) VALUES {}",
        values.join(", ")
    );
    let t = explain(&mut conn, &sql);
    assert_eq!(t.len(), 4, "one target per shard: {t:?}");
    for (i, target) in t.iter().enumerate() {
        let shard = i; // keys' shards in first-seen order are 0,1,2,3
        assert_eq!(target.group, GROUPS[l[shard].0]);
        assert!(target.sql.contains(&phys("article", shard)), "{target:?}");
        assert_eq!(target.sql.matches("'split").count(), 2, "{target:?}");
    }
    assert_eq!(q(&mut conn, &sql).affected, 8, "affected rows summed");
    for k in keys {
        let shard = (k / ROWS_PER_TABLE) as usize;
        assert_eq!(
            where_is("article", &l, "user_id", &k.to_string()),
            vec![(l[shard].0, phys("article", shard))]
        );
    }
    // ON DUPLICATE KEY UPDATE over three shards: two rows exist (2 each),
    // one is new (1), one exists with the same value (0).
    let o = q(
        &mut conn,
        "INSERT INTO article (id, user_id, title) VALUES (1, 10, 'dup'), (1, 2010, 'dup'), \
         (2, 3010, 'new'), (1, 1011, 'split 1011') \
         ON DUPLICATE KEY UPDATE title = VALUES(title)",
    );
    assert_eq!(o.affected, 2 + 2 + 1, "ODKU affected rows summed");
    assert_eq!(
        one(
            &mut conn,
            "SELECT title FROM article WHERE user_id = 10 AND id = 1"
        ),
        "dup"
    );
    assert_eq!(
        one(
            &mut conn,
            "SELECT title FROM article WHERE user_id = 2010 AND id = 1"
        ),
        "dup"
    );
    assert_eq!(
        one(
            &mut conn,
            "SELECT title FROM article WHERE user_id = 3010 AND id = 2"
        ),
        "new"
    );
    // REPLACE splits too.
    let o = q(
        &mut conn,
        "REPLACE INTO article (id, user_id, title) VALUES (1, 11, 'r'), (1, 3011, 'r')",
    );
    assert_eq!(o.affected, 4, "REPLACE of two existing rows: 2 each");
    // ODKU cannot change the key.
    refused(
        &mut conn,
        "INSERT INTO article (id, user_id, title) VALUES (1, 10, 'x') \
         ON DUPLICATE KEY UPDATE user_id = 11",
    );
}

// ---------------------------------------------------------------------------
// Routing of point statements, IN, BETWEEN
// ---------------------------------------------------------------------------

#[test]
fn point_statements_go_to_exactly_one_shard() {
    let _s = serial();
    let mut conn = pconn();
    let l = range_layout();
    q(
        &mut conn,
        "INSERT INTO article (id, user_id, title, views) VALUES (1, 1500, 'real', 5)",
    );
    // Decoys: the same key planted straight into every other shard's table.
    for &(g, s) in &l {
        if s != 1 {
            q(
                &mut backend(g),
                &format!(
                    "INSERT INTO {} (id, user_id, title, views) VALUES (1, 1500, 'decoy', 5)",
                    phys("article", s)
                ),
            );
        }
    }
    for sql in [
        "SELECT title FROM article WHERE user_id = 1500",
        "UPDATE article SET views = views + 1 WHERE user_id = 1500",
        "DELETE FROM article WHERE user_id = 1500 AND id = 999",
        "SELECT title FROM blog.article AS a WHERE a.user_id = 1500",
        "SELECT title FROM `article` WHERE `user_id` = '1500'",
        "SELECT title FROM article WHERE user_id = 1500 AND title <> 'x' OR user_id = 1501",
        "SELECT title FROM article WHERE user_id IN (1500, 1999, 1000)",
        "SELECT title FROM article WHERE user_id BETWEEN 1400 AND 1600",
        "SELECT title FROM article WHERE user_id >= 1000 AND user_id < 2000",
    ] {
        let t = one_target(&mut conn, sql);
        assert_eq!(t.group, "g0", "{sql}");
        assert!(t.sql.contains("article_0001"), "{sql}: {t:?}");
        assert!(!t.sql.contains("article_0000"), "{sql}: {t:?}");
        assert!(t.gather.to_lowercase().contains("relay"), "{sql}: {t:?}");
    }
    assert_eq!(
        rows(&mut conn, "SELECT title FROM article WHERE user_id = 1500"),
        vec![vec!["real".to_string()]]
    );
    assert_eq!(
        q(
            &mut conn,
            "UPDATE article SET views = views + 1 WHERE user_id = 1500"
        )
        .affected,
        1
    );
    assert_eq!(
        rows(&mut conn, "SELECT views FROM article WHERE user_id = 1500"),
        vec![vec!["6".to_string()]]
    );
    // Decoys untouched.
    for &(g, s) in &l {
        if s != 1 {
            let v = one(
                &mut backend(g),
                &format!(
                    "SELECT views FROM {} WHERE user_id = 1500",
                    phys("article", s)
                ),
            );
            assert_eq!(v, "5", "decoy in {}", phys("article", s));
        }
    }
    assert_eq!(
        q(&mut conn, "DELETE FROM article WHERE user_id = 1500").affected,
        1
    );
    let left = where_is("article", &l, "user_id", "1500");
    assert_eq!(left.len(), 3, "only the real row was deleted: {left:?}");
    for &(g, s) in &l {
        if s != 1 {
            q(
                &mut backend(g),
                &format!("DELETE FROM {} WHERE user_id = 1500", phys("article", s)),
            );
        }
    }
}

#[test]
fn in_lists_and_ranges_over_several_shards() {
    let _s = serial();
    let mut conn = pconn();
    let l = range_layout();
    let keys = [20i64, 21, 1020, 2020, 3020];
    for k in keys {
        q(
            &mut conn,
            &format!("INSERT INTO article (id, user_id, title) VALUES (7, {k}, 'in')"),
        );
    }
    let upd = "UPDATE article SET views = 42 WHERE user_id IN (20, 21, 1020, 2020, 3020)";
    let t = explain(&mut conn, upd);
    assert_eq!(t.len(), 4, "{t:?}");
    assert!(
        t.iter().all(|t| t.gather.to_lowercase().contains("sum")),
        "{t:?}"
    );
    assert_eq!(q(&mut conn, upd).affected, 5, "summed over 4 shards");
    // A key list with a missing key and a NULL.
    assert_eq!(
        q(
            &mut conn,
            "UPDATE article SET views = 43 WHERE user_id IN (20, 1020, 1021, NULL)"
        )
        .affected,
        2
    );
    // Only shards 0 and 2: two targets.
    let t = explain(&mut conn, "DELETE FROM article WHERE user_id IN (21, 2020)");
    let groups: Vec<&str> = t.iter().map(|t| t.group.as_str()).collect();
    assert_eq!(groups, ["g0", "g1"], "{t:?}");
    // BETWEEN across a boundary: shards 0 and 1.
    let t = explain(
        &mut conn,
        "UPDATE article SET views = 1 WHERE user_id BETWEEN 990 AND 1030",
    );
    assert_eq!(t.len(), 2, "{t:?}");
    assert!(t[0].sql.contains("article_0000") && t[1].sql.contains("article_0001"));
    assert_eq!(
        q(
            &mut conn,
            "UPDATE article SET views = 1 WHERE user_id BETWEEN 0 AND 2500 AND id = 7"
        )
        .affected,
        4
    );
    // A range above the last shard's start: one shard.
    let t = one_target(&mut conn, "SELECT * FROM article WHERE user_id > 3000");
    assert!(t.sql.contains("article_0003"), "{t:?}");
    // Several-shard SELECT: merged by shardgate, or refused until it can.
    match run(
        &mut conn,
        "SELECT user_id FROM article WHERE user_id IN (20, 21, 1020, 2020, 3020) ORDER BY user_id",
    ) {
        Ok(o) => assert_eq!(
            o.rows,
            keys.iter().map(|k| vec![k.to_string()]).collect::<Vec<_>>()
        ),
        Err(e) => {
            let (code, msg) = server_err(&e).expect("ERR");
            assert_eq!(code, 1235);
            assert!(msg.contains("not supported yet"), "{msg}");
        }
    }
    assert_eq!(
        q(
            &mut conn,
            "DELETE FROM article WHERE user_id IN (20, 21, 1020, 2020, 3020)"
        )
        .affected,
        5
    );
    for k in keys {
        assert!(where_is("article", &l, "user_id", &k.to_string()).is_empty());
    }
    // A write without the key: every shard, summed.
    let t = explain(&mut conn, "UPDATE article SET views = views WHERE id = -1");
    assert_eq!(t.len(), 4, "{t:?}");
}

// ---------------------------------------------------------------------------
// Broadcast tables and joins
// ---------------------------------------------------------------------------

#[test]
fn broadcast_writes_reach_every_group_and_reads_are_right() {
    let _s = serial();
    let mut conn = pconn();
    q(&mut conn, "DELETE FROM country");
    let o = q(
        &mut conn,
        "INSERT INTO country (code, name) VALUES ('FR', 'France'), ('JP', '日本'), \
         ('IS', 'Ísland'), ('DE', 'Deutschland')",
    );
    assert_eq!(o.affected, 4, "the count of one group, not the sum");
    let t = explain(&mut conn, "UPDATE country SET name = 'x' WHERE code = 'FR'");
    let groups: BTreeSet<&str> = t.iter().map(|t| t.group.as_str()).collect();
    assert_eq!(groups.len(), 3, "{t:?}");
    let o = q(
        &mut conn,
        "UPDATE country SET name = 'Frankreich' WHERE code IN ('FR', 'XX')",
    );
    assert_eq!(o.affected, 1, "the count of one group, not the sum");
    for (g, db) in c().dbs.iter().enumerate() {
        assert_eq!(
            db.sql("SELECT code, name FROM blog.country ORDER BY code"),
            "DE\tDeutschland\nFR\tFrankreich\nIS\tÍsland\nJP\t日本\n",
            "copy on {}",
            GROUPS[g]
        );
    }
    // Reads: one group each time, always the same answer.
    let mut groups_seen = BTreeSet::new();
    for _ in 0..6 {
        let t = one_target(&mut conn, "SELECT name FROM country WHERE code = 'JP'");
        groups_seen.insert(t.group);
        assert_eq!(
            rows(&mut conn, "SELECT name FROM country WHERE code = 'JP'"),
            vec![vec!["日本".to_string()]]
        );
    }
    assert!(groups_seen.len() > 1, "reads balanced: {groups_seen:?}");
    assert_eq!(
        q(&mut conn, "DELETE FROM country WHERE code = 'DE'").affected,
        1
    );
    for db in &c().dbs {
        assert_eq!(db.sql("SELECT COUNT(*) FROM blog.country").trim(), "3");
    }
}

#[test]
fn joins_on_the_key_and_with_broadcast_tables_stay_on_one_shard() {
    let _s = serial();
    let mut conn = pconn();
    q(
        &mut conn,
        "INSERT INTO article (id, user_id, title) VALUES (1, 2500, 'a1'), (2, 2500, 'a2'), \
         (1, 2501, 'other')",
    );
    q(
        &mut conn,
        "INSERT INTO comment (id, user_id, article_id, body) VALUES (1, 2500, 1, 'c1'), \
         (2, 2500, 1, 'c2'), (3, 2500, 2, 'c3'), (1, 2501, 1, 'x')",
    );
    q(
        &mut conn,
        "INSERT IGNORE INTO country (code, name) VALUES ('SE', 'Sverige')",
    );
    let sql = "SELECT a.title, c.body FROM article a JOIN comment c \
               ON a.user_id = c.user_id AND a.id = c.article_id \
               WHERE a.user_id = 2500 ORDER BY c.id";
    let t = one_target(&mut conn, sql);
    assert_eq!(t.group, "g1");
    assert!(
        t.sql.contains("article_0002") && t.sql.contains("comment_0002"),
        "{t:?}"
    );
    assert_eq!(
        rows(&mut conn, sql),
        vec![
            vec!["a1".to_string(), "c1".to_string()],
            vec!["a1".to_string(), "c2".to_string()],
            vec!["a2".to_string(), "c3".to_string()],
        ]
    );
    // Key equality in WHERE instead of ON, and LEFT JOIN.
    assert_eq!(
        rows(
            &mut conn,
            "SELECT COUNT(*) FROM article a, comment c WHERE a.user_id = c.user_id \
             AND a.id = c.article_id AND c.user_id = 2500"
        ),
        vec![vec!["3".to_string()]]
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT a.id, COUNT(c.id) FROM article a LEFT JOIN comment c ON c.user_id = a.user_id \
             AND c.article_id = a.id WHERE a.user_id = 2501 GROUP BY a.id"
        ),
        vec![vec!["1".to_string(), "1".to_string()]]
    );
    // Sharded + broadcast: runs on the sharded table's shard.
    let sql = "SELECT a.title, k.name FROM article a JOIN country k ON k.code = 'SE' \
               WHERE a.user_id = 2501";
    let t = one_target(&mut conn, sql);
    assert_eq!(t.group, "g1");
    assert!(
        t.sql.contains("article_0002") && t.sql.contains("country"),
        "{t:?}"
    );
    assert_eq!(
        rows(&mut conn, sql),
        vec![vec!["other".to_string(), "Sverige".to_string()]]
    );
}

/// A subquery whose tables are all pinned to the same key value is on one
/// shard, like a JOIN on the key.
#[test]
fn subquery_on_the_same_key_stays_on_one_shard() {
    let _s = serial();
    let mut conn = pconn();
    q(
        &mut conn,
        "INSERT IGNORE INTO article (id, user_id, title) VALUES (1, 2700, 's1'), (2, 2700, 's2')",
    );
    q(
        &mut conn,
        "INSERT IGNORE INTO comment (id, user_id, article_id, body) VALUES (1, 2700, 2, 'c3')",
    );
    assert_eq!(
        rows(
            &mut conn,
            "SELECT title FROM article WHERE user_id = 2700 AND id IN \
             (SELECT article_id FROM comment WHERE user_id = 2700 AND body = 'c3')"
        ),
        vec![vec!["s2".to_string()]]
    );
}

// ---------------------------------------------------------------------------
// Refusals, hints
// ---------------------------------------------------------------------------

#[test]
fn statements_that_cannot_be_routed_are_refused_with_1235() {
    let _s = serial();
    let mut conn = pconn();
    let cases = [
        "UPDATE article SET user_id = 5 WHERE user_id = 4",
        "UPDATE article SET title = 'x', user_id = user_id + 1 WHERE user_id = 4",
        "INSERT INTO article (id, title) VALUES (1, 'no key')",
        "INSERT INTO orders (amount) VALUES (1.00)",
        // the key from another column: rows would change shard
        "INSERT INTO article (id, user_id, title) SELECT id, article_id, body FROM comment WHERE user_id = 1",
        "SELECT * FROM article a JOIN comment c ON a.id = c.id WHERE a.user_id = 1",
        "SELECT * FROM article a JOIN comment c ON a.user_id = c.user_id JOIN orders o \
         ON o.order_id = a.user_id WHERE a.user_id = 1",
        "SELECT * FROM article a JOIN orders o ON a.user_id = o.order_id WHERE a.user_id = 1",
        "SELECT * FROM article a JOIN shard_directory d ON d.k = a.user_id WHERE a.user_id = 1",
        "UPDATE article SET views = 1 WHERE user_id IN (1, 1001) ORDER BY id LIMIT 1",
        "/*+ shardgate: shard=99 */ SELECT * FROM article",
        "RENAME TABLE article TO article2",
    ];
    for sql in cases {
        let msg = refused(&mut conn, sql);
        eprintln!("refused as expected: {sql}\n    -> {msg}");
    }
    // EXPLAIN shows the refusal as a row.
    let t = explain(&mut conn, cases[0]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].gather, "error");
    assert!(t[0].sql.starts_with("shardgate:"), "{t:?}");
}

#[test]
fn route_hints_pick_the_shard() {
    let _s = serial();
    let mut conn = pconn();
    q(
        &mut conn,
        "INSERT INTO article (id, user_id, title) VALUES (1, 2600, 'h1'), (2, 2601, 'h2'), \
         (1, 600, 'h0')",
    );
    let sql =
        "/*+ shardgate: shard=2 */ SELECT title FROM article WHERE title LIKE 'h%' ORDER BY title";
    let t = one_target(&mut conn, sql);
    assert_eq!(t.group, "g1");
    assert_eq!(
        rows(&mut conn, sql),
        vec![vec!["h1".to_string()], vec!["h2".to_string()]]
    );
    let sql = "/*+ shardgate: key=650 */ SELECT title FROM article WHERE title LIKE 'h%'";
    let t = one_target(&mut conn, sql);
    assert!(t.sql.contains("article_0000"), "{t:?}");
    assert_eq!(rows(&mut conn, sql), vec![vec!["h0".to_string()]]);
    // A hint on a write.
    assert_eq!(
        q(
            &mut conn,
            "/*+ shardgate: key=2999 */ UPDATE article SET views = 9 WHERE title LIKE 'h%'"
        )
        .affected,
        2
    );
    // Hint key out of range.
    let msg = refused_with(
        &mut conn,
        "/*+ shardgate: key=77777 */ SELECT * FROM article",
        1526,
    );
    assert!(msg.contains("77777"), "{msg}");
    // The session shard key routes keyless statements until reset.
    q(&mut conn, "SET @@shardgate_shard_key = 2600");
    let sql = "SELECT title FROM article WHERE title LIKE 'h%' ORDER BY title";
    assert!(one_target(&mut conn, sql).sql.contains("article_0002"));
    assert_eq!(
        rows(&mut conn, sql),
        vec![vec!["h1".to_string()], vec!["h2".to_string()]]
    );
    q(&mut conn, "SET @@shardgate_shard_key = DEFAULT");
    assert_eq!(explain(&mut conn, sql).len(), 4, "every shard again");
    // A hint beats the session key.
    q(&mut conn, "SET @@shardgate_shard_key = 2600");
    let t = one_target(
        &mut conn,
        "/*+ shardgate: key=650 */ SELECT title FROM article WHERE title LIKE 'h%'",
    );
    assert!(t.sql.contains("article_0000"), "{t:?}");
    q(&mut conn, "SET @@shardgate_shard_key = DEFAULT");
}

/// Scatter-gather merges string columns in the column's own collation:
/// `session_kv.sid` is `utf8mb4_bin`, so `'Bob'` < `'_x'` < `'ax'` <
/// `'bob'` (bytes) and `'Bob'` and `'bob'` are two groups.
#[test]
fn scatter_merge_uses_the_column_collation() {
    let _s = serial();
    let mut conn = pconn();
    let n = hash_layout().len() as u32;
    let keys = ["Bob", "bob", "_x", "ax", "Ab", "Zed", "é1", "e2", "E3", "ß"];
    let shards: BTreeSet<u32> = keys.iter().map(|k| crc32(k.as_bytes()) % n).collect();
    assert!(shards.len() >= 3, "keys spread over shards: {shards:?}");
    assert_ne!(crc32(b"Bob") % n, crc32(b"bob") % n, "on different shards");
    let values: Vec<String> = keys.iter().map(|k| format!("('{k}', 1)")).collect();
    q(
        &mut conn,
        &format!(
            "INSERT IGNORE INTO session_kv (sid, val) VALUES {}",
            values.join(", ")
        ),
    );
    let list: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
    let list = list.join(", ");
    let mut want: Vec<&str> = keys.to_vec();
    want.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut problems = Vec::new();
    for (sql, want) in [
        (
            format!("SELECT sid FROM session_kv WHERE sid IN ({list}) ORDER BY sid"),
            want.clone(),
        ),
        (
            format!("SELECT sid FROM session_kv WHERE sid IN ({list}) ORDER BY sid DESC"),
            want.iter().rev().copied().collect(),
        ),
        (
            format!("SELECT sid FROM session_kv WHERE sid IN ({list}) GROUP BY sid ORDER BY sid"),
            want.clone(),
        ),
        (
            format!("SELECT DISTINCT sid FROM session_kv WHERE sid IN ({list}) ORDER BY sid"),
            want.clone(),
        ),
    ] {
        let want: Vec<Vec<String>> = want.iter().map(|k| vec![k.to_string()]).collect();
        match run(&mut conn, &sql) {
            Ok(o) if o.rows == want => {}
            Ok(o) => problems.push(format!("{sql}\n    got  {:?}\n    want {want:?}", o.rows)),
            Err(e) => problems.push(format!("{sql}\n    {e}")),
        }
    }
    // One row per shard: nothing for the merger to detect, so a wrong
    // collation gives a wrong answer without an error.
    for (a, b) in [("_x", "ax"), ("Bob", "bob")] {
        assert_ne!(crc32(a.as_bytes()) % n, crc32(b.as_bytes()) % n, "{a} {b}");
    }
    for (sql, want) in [
        (
            "SELECT sid FROM session_kv WHERE sid IN ('ax', '_x') ORDER BY sid",
            vec![vec!["_x"], vec!["ax"]],
        ),
        (
            "SELECT sid, COUNT(*) FROM session_kv WHERE sid IN ('Bob', 'bob') GROUP BY sid",
            vec![vec!["Bob", "1"], vec!["bob", "1"]],
        ),
        (
            "SELECT DISTINCT sid FROM session_kv WHERE sid IN ('Bob', 'bob') ORDER BY sid",
            vec![vec!["Bob"], vec!["bob"]],
        ),
        (
            "SELECT MIN(sid), MAX(sid) FROM session_kv WHERE sid IN ('ax', '_x')",
            vec![vec!["_x", "ax"]],
        ),
    ] {
        match run(&mut conn, sql) {
            Ok(o) if o.rows == want => {}
            Ok(o) => problems.push(format!(
                "{sql}\n    silently wrong: got {:?}, want {want:?}",
                o.rows
            )),
            Err(e) => problems.push(format!("{sql}\n    {e}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// Lookup rules
// ---------------------------------------------------------------------------

#[test]
fn lookup_rule_placement_fills_the_directory_and_reads_follow_it() {
    let _s = serial();
    let mut conn = pconn();
    let l = dir_layout();
    let mut g0 = backend(0);
    // placement = "hash": a new key is placed by the hash rule and recorded.
    for uid in [100i64, 101, 102, -4] {
        let o = q(
            &mut conn,
            &format!("INSERT INTO profile (uid, nick) VALUES ({uid}, 'n{uid}')"),
        );
        assert_eq!(o.affected, 1);
        let shard = uid.rem_euclid(3) as usize;
        let dir = one(
            &mut g0,
            &format!("SELECT shard FROM shard_directory WHERE k = {uid}"),
        );
        assert_eq!(dir, shard.to_string(), "directory row of {uid}");
        assert_eq!(
            where_is("profile", &l, "uid", &uid.to_string()),
            vec![(l[shard].0, phys("profile", shard))]
        );
    }
    // A directory row written beforehand wins over the placement policy.
    q(
        &mut g0,
        "INSERT INTO shard_directory (k, shard) VALUES (300, 2)",
    );
    assert_eq!(300 % 3, 0);
    q(
        &mut conn,
        "INSERT INTO profile (uid, nick) VALUES (300, 'pinned')",
    );
    assert_eq!(
        where_is("profile", &l, "uid", "300"),
        vec![(2, phys("profile", 2))]
    );
    // Reads go where the directory says.
    let t = one_target(&mut conn, "SELECT nick FROM profile WHERE uid = 300");
    assert_eq!(t.group, "g2");
    assert_eq!(
        rows(&mut conn, "SELECT nick FROM profile WHERE uid = 300"),
        vec![vec!["pinned".to_string()]]
    );
    assert_eq!(
        q(&mut conn, "UPDATE profile SET nick = 'p2' WHERE uid = 300").affected,
        1
    );
    // A key without a directory row matches nothing (and is not placed).
    assert!(rows(&mut conn, "SELECT * FROM profile WHERE uid = 555").is_empty());
    assert_eq!(
        one(
            &mut g0,
            "SELECT COUNT(*) FROM shard_directory WHERE k = 555"
        ),
        "0"
    );
    // Multi-row insert over several directory shards, summed.
    let o = q(
        &mut conn,
        "INSERT INTO profile (uid, nick) VALUES (400, 'a'), (401, 'b'), (402, 'c')",
    );
    assert_eq!(o.affected, 3);
    assert_eq!(
        one(
            &mut g0,
            "SELECT GROUP_CONCAT(shard ORDER BY k) FROM shard_directory WHERE k BETWEEN 400 AND 402"
        ),
        "1,2,0"
    );
}

#[test]
fn lookup_rule_without_placement_refuses_unknown_keys() {
    let _s = serial();
    let mut conn = pconn();
    let l = strict_layout();
    let msg = refused_with(
        &mut conn,
        "INSERT INTO vault (uid, secret) VALUES (7, 's')",
        1526,
    );
    assert!(
        msg.contains("shard_directory_strict"),
        "names the directory: {msg}"
    );
    assert!(msg.contains('7'), "names the key: {msg}");
    assert!(where_is("vault", &l, "uid", "7").is_empty());
    // Once the directory knows the key, the insert goes to its shard.
    let mut g0 = backend(0);
    q(
        &mut g0,
        "INSERT INTO shard_directory_strict (k, shard) VALUES (7, 1), (8, 0)",
    );
    assert_eq!(
        q(
            &mut conn,
            "INSERT INTO vault (uid, secret) VALUES (7, 's7'), (8, 's8')"
        )
        .affected,
        2
    );
    assert_eq!(
        where_is("vault", &l, "uid", "7"),
        vec![(2, phys("vault", 1))]
    );
    assert_eq!(
        where_is("vault", &l, "uid", "8"),
        vec![(1, phys("vault", 0))]
    );
    assert_eq!(
        rows(&mut conn, "SELECT secret FROM vault WHERE uid = 7"),
        vec![vec!["s7".to_string()]]
    );
    // A directory row naming a shard the rule does not have.
    q(
        &mut g0,
        "INSERT INTO shard_directory_strict (k, shard) VALUES (9, 5)",
    );
    match run(&mut conn, "INSERT INTO vault (uid, secret) VALUES (9, 'x')") {
        Ok(o) => panic!("bad directory row accepted: {o:?}"),
        Err(e) => {
            let (_, msg) = server_err(&e).expect("ERR");
            assert!(msg.starts_with("shardgate:"), "{msg}");
        }
    }
}

// ---------------------------------------------------------------------------
// Prepared statements
// ---------------------------------------------------------------------------

#[test]

fn prepared_statements_route_by_bound_parameters() {
    let _s = serial();
    let mut conn = pconn();
    let l = range_layout();
    let mut problems = Vec::new();
    let ins = conn.prep("INSERT INTO article (id, user_id, title) VALUES (?, ?, ?)");
    match ins {
        Ok(stmt) => {
            for k in [700i64, 1700, 2700, 3700] {
                if let Err(e) = conn.exec_drop(&stmt, (1, k, format!("prep {k}"))) {
                    problems.push(format!("exec INSERT key {k}: {e}"));
                    continue;
                }
                let shard = (k / ROWS_PER_TABLE) as usize;
                let got = where_is("article", &l, "user_id", &k.to_string());
                if got != vec![(l[shard].0, phys("article", shard))] {
                    problems.push(format!("prepared INSERT key {k} landed in {got:?}"));
                }
            }
        }
        Err(e) => problems.push(format!("prepare INSERT: {e}")),
    }
    match conn.prep("SELECT title FROM article WHERE user_id = ?") {
        Ok(stmt) => {
            for k in [700i64, 1700, 2700, 3700] {
                match conn.exec::<mysql::Row, _, _>(&stmt, (k,)) {
                    Ok(r) => {
                        let got: Vec<String> = r.into_iter().map(|r| val(&r[0])).collect();
                        if got != [format!("prep {k}")] {
                            problems.push(format!("prepared SELECT key {k}: {got:?}"));
                        }
                    }
                    Err(e) => problems.push(format!("exec SELECT key {k}: {e}")),
                }
            }
        }
        Err(e) => problems.push(format!("prepare SELECT: {e}")),
    }
    match conn.prep("UPDATE article SET views = ? WHERE user_id = ?") {
        Ok(stmt) => match conn.exec_iter(&stmt, (11, 2700)) {
            Ok(r) => {
                let n = r.affected_rows();
                drop(r);
                if n != 1 {
                    problems.push(format!("prepared UPDATE affected {n}"));
                }
            }
            Err(e) => problems.push(format!("exec UPDATE: {e}")),
        },
        Err(e) => problems.push(format!("prepare UPDATE: {e}")),
    }
    match conn.prep("DELETE FROM article WHERE user_id IN (?, ?)") {
        Ok(stmt) => match conn.exec_iter(&stmt, (700, 3700)) {
            Ok(r) => {
                let n = r.affected_rows();
                drop(r);
                if n != 2 {
                    problems.push(format!("prepared DELETE over 2 shards affected {n}"));
                }
            }
            Err(e) => problems.push(format!("exec DELETE: {e}")),
        },
        Err(e) => problems.push(format!("prepare DELETE: {e}")),
    }
    // Key out of range as a parameter.
    if let Ok(stmt) = conn.prep("INSERT INTO article (id, user_id, title) VALUES (?, ?, ?)") {
        match conn.exec_drop(&stmt, (1, 123_456, "x")) {
            Ok(()) => problems.push("prepared INSERT of key 123456 accepted".into()),
            Err(e) => match server_err(&e) {
                Some((1526, m)) if m.starts_with("shardgate:") => {}
                other => problems.push(format!("prepared out-of-range key: {other:?} ({e})")),
            },
        }
    }
    assert!(
        problems.is_empty(),
        "prepared statements:\n  {}",
        problems.join("\n  ")
    );
}

/// A scattered `ORDER BY ... LIMIT` that is satisfied before the shards
/// have sent all their rows must leave the session usable: the next
/// statement is answered.
#[test]
fn statement_after_an_early_finished_scatter_limit_is_answered() {
    let _s = serial();
    let opts = c()
        .proxy
        .opts()
        .db_name(Some("blog"))
        .read_timeout(Some(Duration::from_secs(5)));
    let mut conn = Conn::new(opts.clone()).expect("connect");
    let mut x: i64 = 12345;
    let mut vals = Vec::new();
    for _ in 0..8000 {
        x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
        vals.push(format!("({}, 1.5, 'note note note')", x - 1_000_000_000));
    }
    for ch in vals.chunks(500) {
        q(
            &mut conn,
            &format!(
                "INSERT IGNORE INTO orders (order_id, amount, note) VALUES {}",
                ch.join(",")
            ),
        );
    }
    let limit = "SELECT order_id FROM orders ORDER BY order_id LIMIT 5000, 3";
    let next = "SELECT COUNT(*) FROM orders WHERE order_id IN (1, 2, 3, 4, 5, 6)";
    let mut hung = Vec::new();
    for round in 0..20 {
        for sql in [limit, next] {
            match run(&mut conn, sql) {
                Ok(o) if sql == limit && o.rows.len() != 3 => {
                    hung.push(format!("round {round}: {sql}: {} rows", o.rows.len()))
                }
                Ok(_) => {}
                Err(e) => {
                    hung.push(format!("round {round}: {sql}: {e}"));
                    conn = Conn::new(opts.clone()).expect("connect");
                }
            }
        }
    }
    assert!(
        hung.is_empty(),
        "{} of 40 statements got no answer within 5 s:\n  {}",
        hung.len(),
        hung.join("\n  ")
    );
}

/// A prepared SELECT with ORDER BY over two shards of the same group, with
/// more rows than fit one read: the k-way merge needs both streams at once,
/// and every execution (same text, other values) answers in full.
#[test]
fn scatter_order_by_over_shards_of_one_group() {
    let _s = serial();
    let mut conn = pconn();
    let rows: Vec<String> = (0..2000i64)
        .map(|k| {
            format!(
                "({}, {k}, 'big {:04} {}')",
                900_000 + k,
                (k * 7919) % 2000,
                "x".repeat(60)
            )
        })
        .collect();
    for chunk in rows.chunks(500) {
        conn.query_drop(format!(
            "INSERT INTO article (id, user_id, title) VALUES {}",
            chunk.join(", ")
        ))
        .expect("insert");
    }
    let want = |lo: i64, hi: i64| {
        let mut want: Vec<(i64, String)> = (0..2000i64)
            .filter(|k| (lo..=hi).contains(k))
            .map(|k| {
                (
                    900_000 + k,
                    format!("big {:04} {}", (k * 7919) % 2000, "x".repeat(60)),
                )
            })
            .collect();
        want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        want
    };
    let mut problems = Vec::new();
    let mut check =
        |how: &str, lo: i64, hi: i64, got: Result<Vec<(i64, String)>, mysql::Error>| match got {
            Ok(got) if got == want(lo, hi) => {}
            Ok(got) => problems.push(format!(
                "{how} [{lo}, {hi}]: {} rows, want {}; first {:?}",
                got.len(),
                want(lo, hi).len(),
                got.first()
            )),
            Err(e) => problems.push(format!("{how} [{lo}, {hi}]: {e}")),
        };
    let sql = "SELECT id, title FROM article WHERE user_id BETWEEN ? AND ? AND id >= ? ORDER BY title DESC, id";
    let stmt = conn.prep(sql).expect("prepare");
    for (lo, hi) in [(0i64, 1999i64), (500, 1500), (0, 999), (10, 1990)] {
        check("prepared", lo, hi, conn.exec(&stmt, (lo, hi, 900_000)));
    }
    // A pinned session (a transaction, or a statement prepared on an
    // unsharded table) runs both shards of g0 on its one connection there,
    // one after the other: the merge must take the first shard's whole reply.
    let text = |lo: i64, hi: i64| {
        sql.replacen('?', &lo.to_string(), 1)
            .replacen('?', &hi.to_string(), 1)
            .replacen('?', "900000", 1)
    };
    conn.query_drop("BEGIN").expect("begin");
    check("in a transaction", 0, 1999, conn.query(text(0, 1999)));
    check(
        "prepared in a transaction",
        10,
        1990,
        conn.exec(&stmt, (10, 1990, 900_000)),
    );
    conn.query_drop("COMMIT").expect("commit");
    conn.query_drop("CREATE TABLE IF NOT EXISTS plain_note (id INT PRIMARY KEY)")
        .expect("create unsharded table");
    let plain = conn
        .prep("SELECT id FROM plain_note WHERE id = ?")
        .expect("prepare unsharded");
    check(
        "prepared beside an open statement",
        0,
        1999,
        conn.exec(&stmt, (0, 1999, 900_000)),
    );
    check(
        "text beside an open statement",
        500,
        1500,
        conn.query(text(500, 1500)),
    );
    conn.close(plain).expect("close");
    conn.query_drop("DROP TABLE plain_note")
        .expect("drop unsharded table");
    conn.query_drop("DELETE FROM article WHERE user_id BETWEEN 0 AND 1999 AND id >= 900000")
        .expect("cleanup");
    assert!(problems.is_empty(), "{problems:#?}");
}

/// DDL through shardgate that changes a column's collation: prepared
/// statements that kept their plans (whose merge step carries the column
/// collations) plan again, so DISTINCT and ORDER BY follow the new one.
#[test]
fn prepared_plans_follow_a_collation_change() {
    let _s = serial();
    let mut conn = pconn();
    q(&mut conn, "DROP TABLE IF EXISTS scratch");
    q(
        &mut conn,
        "CREATE TABLE scratch (id INT NOT NULL PRIMARY KEY, \
         v VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci)",
    );
    q(
        &mut conn,
        "INSERT INTO scratch (id, v) VALUES (1, 'zeta'), (2, 'Zeta'), (3, 'alpha'), (4, 'ALPHA'), (5, 'beta')",
    );
    let stmt = conn
        .prep("SELECT DISTINCT v FROM scratch WHERE id BETWEEN ? AND ? ORDER BY v")
        .expect("prepare");
    for _ in 0..2 {
        let got: Vec<String> = conn.exec(&stmt, (1, 5)).expect("execute");
        let folded: Vec<String> = got.iter().map(|s| s.to_lowercase()).collect();
        assert_eq!(folded, ["alpha", "beta", "zeta"], "general_ci: {got:?}");
    }
    q(
        &mut conn,
        "ALTER TABLE scratch MODIFY v VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
    );
    let got: Vec<String> = conn.exec(&stmt, (1, 5)).expect("execute after ALTER");
    q(&mut conn, "DROP TABLE scratch");
    assert_eq!(
        got,
        ["ALPHA", "Zeta", "alpha", "beta", "zeta"],
        "utf8mb4_bin"
    );
}

/// A latin1 table read over a utf8mb4 connection: the server converts the
/// values to UTF-8, and the merge must still order and group them by the
/// column's latin1_swedish_ci (`ü` sorts like `y`, after `k`; by the UTF-8
/// bytes taken as latin1 it would sort like `A`). Checked against the
/// server's own ORDER BY over all the rows in one table.
#[test]
fn latin1_columns_merge_by_their_collation_over_utf8_connections() {
    let _s = serial();
    let mut conn = pconn();
    q(&mut conn, "DROP TABLE IF EXISTS scratch");
    q(
        &mut conn,
        "CREATE TABLE scratch (id INT NOT NULL PRIMARY KEY, \
         v VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci)",
    );
    let words = [
        "ü47", "k54", "Åsa", "ärlig", "öl", "zebra", "Yngve", "ångest", "abc", "ÿ", "€uro", "ß",
        "ss", "Émile", "emile", "x", "Ü",
    ];
    let values: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, w)| format!("({}, '{w}')", i + 1))
        .collect();
    q(
        &mut conn,
        &format!("INSERT INTO scratch VALUES {}", values.join(", ")),
    );
    // The server's order of the same values, in one table.
    let mut db = backend(0);
    db.query_drop(
        "CREATE TEMPORARY TABLE blog.ref (id INT PRIMARY KEY, \
         v VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci)",
    )
    .expect("reference table");
    db.query_drop(format!("INSERT INTO blog.ref VALUES {}", values.join(", ")))
        .expect("reference rows");
    let want: Vec<String> = db
        .query("SELECT v FROM blog.ref ORDER BY v DESC, id")
        .expect("reference order");
    let want_groups: Vec<(i64,)> = db
        .query("SELECT COUNT(*) FROM blog.ref GROUP BY v ORDER BY v")
        .expect("reference groups");
    let sql = "SELECT v FROM scratch ORDER BY v DESC, id";
    let text: Vec<String> = conn.query(sql).expect("text ORDER BY");
    let stmt = conn.prep(sql).expect("prepare");
    let prepared: Vec<String> = conn.exec(&stmt, ()).expect("prepared ORDER BY");
    let groups: Vec<(i64,)> = conn
        .query("SELECT COUNT(*) FROM scratch GROUP BY v ORDER BY v")
        .expect("GROUP BY");
    q(&mut conn, "DROP TABLE scratch");
    assert_eq!(text, want, "text protocol");
    assert_eq!(prepared, want, "binary protocol");
    assert_eq!(groups, want_groups, "groups of equal values");
}

/// `INSERT INTO t VALUES (...)` without a column list: shardgate finds the
/// shard key by its position among the table's columns (read from the
/// backend), for text and prepared INSERTs, and each row lands on its shard.
#[test]
fn insert_without_a_column_list_finds_the_key_by_position() {
    let _s = serial();
    let mut conn = pconn();
    q(&mut conn, "DROP TABLE IF EXISTS scratch");
    q(
        &mut conn,
        "CREATE TABLE scratch (v VARCHAR(10), id INT NOT NULL PRIMARY KEY)",
    );
    q(
        &mut conn,
        "INSERT INTO scratch VALUES ('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5)",
    );
    let stmt = conn
        .prep("INSERT INTO scratch VALUES (?, ?)")
        .expect("prepare");
    for id in 6..=10 {
        conn.exec_drop(&stmt, (format!("p{id}"), id))
            .expect("execute");
    }
    q(&mut conn, "REPLACE INTO scratch VALUES ('z', 3)");
    let mut placed = Vec::new();
    for (g, s) in hash_layout() {
        let ids: Vec<i64> = backend(g)
            .query(format!(
                "SELECT id FROM blog.{} ORDER BY id",
                phys("scratch", s)
            ))
            .expect("physical rows");
        for id in ids {
            placed.push((id, s));
        }
    }
    let total: i64 = one(&mut conn, "SELECT COUNT(*) FROM scratch")
        .parse()
        .unwrap();
    let three = one(&mut conn, "SELECT v FROM scratch WHERE id = 3");
    q(&mut conn, "DROP TABLE scratch");
    placed.sort();
    let shards = hash_layout().len() as i64;
    let want: Vec<(i64, usize)> = (1..=10).map(|id| (id, (id % shards) as usize)).collect();
    assert_eq!(placed, want, "rows on the shards of their key");
    assert_eq!(total, 10);
    assert_eq!(three, "z");
}

/// A prepared statement whose subquery meets the outer table on one shard
/// only through its bound values is prepared, and executes on that shard.
#[test]
fn prepared_subquery_pinned_by_bound_values() {
    let _s = serial();
    let mut conn = pconn();
    q(&mut conn, "DELETE FROM comment WHERE user_id = 3100");
    q(&mut conn, "DELETE FROM article WHERE user_id = 3100");
    q(
        &mut conn,
        "INSERT INTO article (id, user_id, title) VALUES (31001, 3100, 'a'), (31002, 3100, 'b')",
    );
    q(
        &mut conn,
        "INSERT INTO comment (id, user_id, article_id, body) VALUES (1, 3100, 31002, 'c')",
    );
    let stmt = conn
        .prep(
            "SELECT title FROM article WHERE user_id = ? AND id IN \
             (SELECT article_id FROM comment WHERE user_id = ?)",
        )
        .expect("prepare");
    let got: Vec<String> = conn.exec(&stmt, (3100, 3100)).expect("execute");
    let across = conn.exec::<String, _, _>(&stmt, (3100, 1));
    q(&mut conn, "DELETE FROM comment WHERE user_id = 3100");
    q(&mut conn, "DELETE FROM article WHERE user_id = 3100");
    assert_eq!(got, ["b"]);
    match across {
        Err(mysql::Error::MySqlError(e)) => {
            assert_eq!(e.code, 1235, "{e:?}");
            assert!(e.message.starts_with("shardgate: a subquery"), "{e:?}");
        }
        other => panic!("a subquery on another shard must be refused: {other:?}"),
    }
}

/// ENUM and SET columns sort by their members' numbers (definition order,
/// bit mask), not by their text: shardgate reads the definitions and merges
/// in the server's order (text and binary protocol, plain and grouped).
#[test]
fn enum_and_set_columns_merge_in_definition_order() {
    let _s = serial();
    let mut conn = pconn();
    let ddl = "(id INT NOT NULL PRIMARY KEY, e ENUM('zeta','alpha','Mid'), s SET('w','r','x'))";
    q(&mut conn, "DROP TABLE IF EXISTS scratch");
    q(&mut conn, &format!("CREATE TABLE scratch {ddl}"));
    let values: Vec<String> = (1..=40)
        .map(|i: i64| {
            let e = ["'zeta'", "'alpha'", "'Mid'", "NULL"][(i * 7 % 4) as usize];
            let s = ["''", "'w'", "'r,x'", "'w,r,x'", "NULL", "'x'"][(i * 5 % 6) as usize];
            format!("({i}, {e}, {s})")
        })
        .collect();
    q(
        &mut conn,
        &format!("INSERT INTO scratch VALUES {}", values.join(", ")),
    );
    let mut db = backend(0);
    db.query_drop(format!("CREATE TEMPORARY TABLE blog.ref {ddl}"))
        .expect("reference table");
    db.query_drop(format!("INSERT INTO blog.ref VALUES {}", values.join(", ")))
        .expect("reference rows");
    let queries = [
        "SELECT id, e FROM {t} ORDER BY e DESC, id",
        "SELECT id, s FROM {t} ORDER BY s, id",
        "SELECT id FROM {t} ORDER BY e, s DESC, id LIMIT 7",
        "SELECT e, COUNT(*) FROM {t} GROUP BY e ORDER BY e",
    ];
    let mut problems = Vec::new();
    for sql in queries {
        let want: Vec<mysql::Row> = db.query(sql.replace("{t}", "blog.ref")).expect("reference");
        let want: Vec<Vec<String>> = want.iter().map(row_strings).collect();
        let text: Result<Vec<mysql::Row>, _> = conn.query(sql.replace("{t}", "scratch"));
        let prepared = conn
            .prep(sql.replace("{t}", "scratch"))
            .and_then(|st| conn.exec::<mysql::Row, _, _>(&st, ()));
        for (how, got) in [("text", text), ("prepared", prepared)] {
            match got {
                Ok(rows) => {
                    let got: Vec<Vec<String>> = rows.iter().map(row_strings).collect();
                    if got != want {
                        problems.push(format!("{how} {sql}: {got:?}\n   want {want:?}"));
                    }
                }
                Err(e) => problems.push(format!("{how} {sql}: {e}")),
            }
        }
    }
    q(&mut conn, "DROP TABLE scratch");
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A row's cells as text ([`val`]).
pub fn row_strings(r: &mysql::Row) -> Vec<String> {
    (0..r.len())
        .map(|i| r.as_ref(i).map(val).unwrap_or_default())
        .collect()
}

/// EXPLAIN of a statement on a sharded table: each target explains its own
/// rewritten statement (the server's plan rows, one set per shard).
#[test]
fn explain_shows_each_shards_plan() {
    let _s = serial();
    let mut conn = pconn();
    let one_shard = rows(
        &mut conn,
        "EXPLAIN SELECT * FROM article WHERE user_id = 1500",
    );
    assert_eq!(one_shard.len(), 1, "{one_shard:?}");
    assert_eq!(one_shard[0][2], "article_0001", "{one_shard:?}");
    let all: Vec<String> = rows(
        &mut conn,
        "EXPLAIN SELECT title FROM article ORDER BY id LIMIT 3",
    )
    .into_iter()
    .map(|r| r[2].clone())
    .collect();
    let mut tables = all.clone();
    tables.sort();
    assert_eq!(
        tables,
        [
            "article_0000",
            "article_0001",
            "article_0002",
            "article_0003"
        ],
        "one plan row per shard: {all:?}"
    );
    let json = rows(
        &mut conn,
        "EXPLAIN FORMAT=JSON UPDATE article SET views = 1 WHERE user_id = 3500",
    );
    assert_eq!(json.len(), 1, "{json:?}");
    assert!(json[0][0].contains("article_0003"), "{json:?}");
    let refused = refused(
        &mut conn,
        "EXPLAIN SELECT * FROM article a JOIN comment c ON a.id = c.id",
    );
    assert!(refused.contains("JOIN"), "{refused}");
}

/// Table maintenance on a sharded table runs on every physical table (one
/// result row each), on a broadcast table on every group's copy.
#[test]
fn table_maintenance_runs_on_every_physical_table() {
    let _s = serial();
    let mut conn = pconn();
    let analyzed = rows(&mut conn, "ANALYZE TABLE article");
    let mut tables: Vec<String> = analyzed
        .iter()
        .filter(|r| r[2] == "status")
        .map(|r| r[0].clone())
        .collect();
    tables.sort();
    assert_eq!(
        tables,
        (0..4)
            .map(|s| format!("blog.{}", phys("article", s)))
            .collect::<Vec<_>>(),
        "{analyzed:?}"
    );
    assert!(
        analyzed
            .iter()
            .filter(|r| r[2] == "status")
            .all(|r| r[3] == "OK"),
        "{analyzed:?}"
    );
    // The three copies agree: one row, as one server lists the table.
    let sums = rows(&mut conn, "CHECKSUM TABLE country");
    assert_eq!(sums.len(), 1, "copies that agree, listed once: {sums:?}");
    assert_eq!(sums[0][0], "blog.country");
    assert_ne!(sums[0][1], "NULL");
    let checked = rows(&mut conn, "CHECK TABLE orders, country QUICK");
    assert_eq!(
        checked.len(),
        5 + 3,
        "five shards of orders, three copies: {checked:?}"
    );
}

#[test]
fn server_errors_name_the_logical_tables() {
    let _s = serial();
    let mut conn = pconn();
    // The same statements on one server, on a table named `orders`.
    let mut plain = direct_db(&c().dbs[0], "mysql");
    plain
        .query_drop(
            "CREATE DATABASE IF NOT EXISTS errs_plain; \
             CREATE TABLE IF NOT EXISTS errs_plain.orders (order_id BIGINT NOT NULL PRIMARY KEY, \
             amount DECIMAL(10,2), note VARCHAR(50))",
        )
        .expect("plain table");
    plain.query_drop("USE errs_plain").expect("use");
    let message = |conn: &mut Conn, sql: &str| -> (u16, String) {
        let e = conn.query_drop(sql).expect_err(sql);
        server_err(&e).unwrap_or_else(|| panic!("{sql}: {e}"))
    };
    for sql in [
        // one shard (relayed), several shards (merged), a write on two
        // groups (gathered), a missing table's name
        "SELECT orders.nope FROM orders WHERE order_id = 7",
        "SELECT orders.nope FROM orders",
        "SELECT o.order_id FROM orders o WHERE orders.order_id = 1",
        "UPDATE orders SET nope = 1 WHERE order_id IN (5, 7)",
    ] {
        let got = message(&mut conn, sql);
        let want = message(&mut plain, sql);
        assert_eq!(got, want, "{sql}");
    }
    // A physical table missing on one group: named as the logical table.
    c().dbs[1].sql("RENAME TABLE blog.orders_0002 TO blog.orders_moved");
    let got = message(&mut conn, "SELECT * FROM orders WHERE order_id = 2");
    c().dbs[1].sql("RENAME TABLE blog.orders_moved TO blog.orders_0002");
    assert_eq!(got, (1146, "Table 'blog.orders' doesn't exist".to_string()));
    // Prepared (binary protocol) too.
    let e = conn
        .exec_drop("SELECT orders.nope FROM orders WHERE order_id > ?", (1,))
        .expect_err("prepared");
    let (code, msg) = server_err(&e).expect("an ERR");
    assert_eq!(code, 1054);
    assert!(msg.contains("'orders.nope'"), "{msg}");
    plain.query_drop("DROP DATABASE errs_plain").expect("drop");
}

#[test]
fn show_create_table_names_the_logical_tables_a_foreign_key_references() {
    let _s = serial();
    let mut conn = pconn();
    q(&mut conn, "DROP TABLE IF EXISTS scratch");
    // scratch and orders share the hash rule: scratch_000N references
    // orders_000N on each shard.
    q(
        &mut conn,
        "CREATE TABLE scratch (id BIGINT NOT NULL PRIMARY KEY, \
         FOREIGN KEY (id) REFERENCES orders (order_id))",
    );
    let refs = c().dbs[2].sql(
        "SELECT REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS \
         WHERE CONSTRAINT_SCHEMA = 'blog' AND TABLE_NAME = 'scratch_0003'",
    );
    assert_eq!(refs.trim(), "orders_0003");
    let create = rows(&mut conn, "SHOW CREATE TABLE scratch").remove(0);
    assert_eq!(create[0], "scratch");
    assert!(
        create[1].contains("REFERENCES `orders` (`order_id`)") && !create[1].contains("orders_0"),
        "{}",
        create[1]
    );
    q(&mut conn, "DROP TABLE scratch");
}
