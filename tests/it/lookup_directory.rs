//! `route::lookup::BlockingDirectory` and `LookupRouter` against a real
//! MariaDB directory table (issue 4, lookup rules): reads, misses, tricky
//! string keys escaped both with and without NO_BACKSLASH_ESCAPES, numeric
//! comparison on an integer directory column, bad directory rows, racing
//! placements that must agree, and unreachable or missing directories.

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use shardgate::config::{Backend, Lookup, Placement, Rule, RuleKind, Secret};
use shardgate::route::keyvalue::KeyValue;
use shardgate::route::lookup::{BlockingDirectory, Directory, LookupRouter};
use shardgate::route::rules::RouteError;

use crate::common::shared_db;
use crate::support::{self, MariaDb, BACKEND_PASSWORD, BACKEND_USER};

const DB: &str = "sg_lookup_dir";

fn backend() -> Backend {
    Backend {
        user: BACKEND_USER.into(),
        password: Secret::new(BACKEND_PASSWORD),
        connect_timeout: Duration::from_secs(2),
        max_connections_per_node: 8,
        min_idle_per_node: 0,
        idle_timeout: Duration::from_secs(60),
        ping_interval: Duration::from_secs(30),
        query_timeout: None,
        prepared_cache_per_connection: 0,
    }
}

fn lookup(table: &str, placement: Placement) -> Lookup {
    Lookup {
        group: "g0".into(),
        table: table.into(),
        key_column: "k".into(),
        shard_column: "shard".into(),
        cache_size: 100,
        placement,
    }
}

fn rule(l: Lookup) -> Rule {
    Rule::new(
        "by_dir".into(),
        vec!["g0".into(), "g1".into()],
        vec![2, 2],
        RuleKind::Lookup(l),
    )
}

fn addr(db: &MariaDb) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], db.port))
}

fn dir(db: &MariaDb, database: &str, table: &str) -> BlockingDirectory {
    BlockingDirectory::new(
        addr(db),
        &backend(),
        database,
        &lookup(table, Placement::None),
    )
}

fn s(v: &str) -> KeyValue {
    KeyValue::from_string(v.as_bytes())
}

const TRICKY: &[&str] = &[
    "it's",
    r"back\slash",
    r"\'",
    "''",
    "héllo",
    "tab\there",
    "nul\0byte",
    "new\nline",
    "ctrl\x1az",
    "%_",
    "",
];

fn setup(db: &MariaDb, database: &str) {
    db.sql(&format!(
        "DROP DATABASE IF EXISTS {database};
         CREATE DATABASE {database} CHARACTER SET utf8mb4;
         CREATE TABLE {database}.dir_s (k VARBINARY(64) NOT NULL PRIMARY KEY, shard INT NOT NULL);
         CREATE TABLE {database}.dir_i (k BIGINT NOT NULL PRIMARY KEY, shard INT NOT NULL);
         CREATE TABLE {database}.dir_bad (k INT, shard VARCHAR(10));
         INSERT INTO {database}.dir_s VALUES ('alice', 1), ('bob', 3);
         INSERT INTO {database}.dir_i VALUES (42, 2), (-7, 0), (9223372036854775807, 3);
         INSERT INTO {database}.dir_bad VALUES (1, '0'), (1, '1'), (2, 'x'), (3, NULL), (4, '9');"
    ));
}

/// Every tricky key written through the directory is stored byte for byte
/// and read back.
fn tricky_round_trip(db: &MariaDb, database: &str) {
    let d = dir(db, database, "dir_s");
    for (i, t) in TRICKY.iter().enumerate() {
        let shard = (i % 4) as u32;
        assert_eq!(d.lookup(&s(t)), Ok(None), "{t:?} before insert");
        assert_eq!(d.insert(&s(t), shard), Ok(shard), "{t:?}");
        assert_eq!(d.lookup(&s(t)), Ok(Some(shard)), "{t:?} after insert");
        let hex: String = t.bytes().map(|b| format!("{b:02X}")).collect();
        let stored = db.sql(&format!(
            "SELECT shard FROM {database}.dir_s WHERE HEX(k) = '{hex}'"
        ));
        assert_eq!(stored.trim(), shard.to_string(), "{t:?} stored exactly");
    }
    // Bytes that are not UTF-8 go as X'..'.
    let raw = KeyValue::from_string(b"\xff\xfe");
    assert_eq!(d.insert(&raw, 2), Ok(2));
    assert_eq!(d.lookup(&raw), Ok(Some(2)));
    assert_eq!(
        db.sql(&format!(
            "SELECT shard FROM {database}.dir_s WHERE k = X'FFFE'"
        ))
        .trim(),
        "2"
    );
}

#[test]
fn blocking_directory_reads_and_writes_rows() {
    let db = shared_db();
    setup(db, DB);
    let d = dir(db, DB, "dir_s");
    assert_eq!(d.name(), format!("{DB}.dir_s on group g0"));
    assert_eq!(d.lookup(&s("alice")), Ok(Some(1)));
    assert_eq!(d.lookup(&s("bob")), Ok(Some(3)));
    assert_eq!(d.lookup(&s("carol")), Ok(None));
    // An existing row wins over a later insert.
    assert_eq!(d.insert(&s("bob"), 0), Ok(3));
    tricky_round_trip(db, DB);

    // An integer directory: the server compares '042' and 42.0 numerically.
    let di = dir(db, DB, "dir_i");
    assert_eq!(di.lookup(&KeyValue::Int(42)), Ok(Some(2)));
    assert_eq!(di.lookup(&s("042")), Ok(Some(2)));
    assert_eq!(di.lookup(&KeyValue::Int(-7)), Ok(Some(0)));
    assert_eq!(di.lookup(&KeyValue::Int(i64::MAX)), Ok(Some(3)));
    assert_eq!(di.lookup(&KeyValue::UInt(u64::MAX)), Ok(None));
    assert_eq!(
        di.lookup(&KeyValue::from_number_literal(b"42.5").unwrap()),
        Ok(None)
    );
    assert_eq!(
        di.lookup(&KeyValue::from_hex_literal(b"0x2A").unwrap()),
        Ok(Some(2))
    );

    // Bad rows are errors that name the directory.
    let db_ = dir(db, DB, "dir_bad");
    for k in [1, 2, 3] {
        match db_.lookup(&KeyValue::Int(k)) {
            Err(RouteError::BadDirectoryEntry { directory, .. }) => {
                assert_eq!(directory, format!("{DB}.dir_bad on group g0"))
            }
            other => panic!("key {k}: {other:?}"),
        }
    }
    // A shard number beyond the rule is caught by the router.
    let r = LookupRouter::new(
        &rule(lookup("dir_bad", Placement::None)),
        Arc::new(dir(db, DB, "dir_bad")),
    )
    .unwrap();
    let e = r.shard_of(&KeyValue::Int(4)).unwrap_err();
    assert!(matches!(e, RouteError::BadDirectoryEntry { .. }), "{e}");

    // A missing table or an unreachable server is a Directory error.
    let missing = dir(db, DB, "no_such_table");
    let e = missing.lookup(&KeyValue::Int(1)).unwrap_err();
    assert!(matches!(e, RouteError::Directory { .. }), "{e}");
    assert!(e.to_string().starts_with("shardgate: "), "{e}");
    let nowhere = BlockingDirectory::new(
        SocketAddr::from(([127, 0, 0, 1], support::free_port())),
        &backend(),
        DB,
        &lookup("dir_s", Placement::None),
    );
    let e = nowhere.lookup(&KeyValue::Int(1)).unwrap_err();
    assert!(matches!(e, RouteError::Directory { .. }), "{e}");
}

#[test]
fn router_places_new_keys_once_under_races() {
    let db = shared_db();
    let database = "sg_lookup_race";
    setup(db, database);

    // placement = "none": a clear refusal, and nothing written.
    let none = LookupRouter::new(
        &rule(lookup("dir_s", Placement::None)),
        Arc::new(dir(db, database, "dir_s")),
    )
    .unwrap();
    let e = none
        .shard_for_insert(&s("dave"))
        .unwrap_err()
        .with_table("article");
    assert_eq!(e.code().code, 1526);
    assert!(
        e.to_string().contains(&format!(
            "key 'dave' of table article has no row in directory {database}.dir_s on group g0"
        )),
        "{e}"
    );
    assert_eq!(
        db.sql(&format!(
            "SELECT COUNT(*) FROM {database}.dir_s WHERE k = 'dave'"
        ))
        .trim(),
        "0"
    );
    assert_eq!(none.shard_for_insert(&s("alice")), Ok(1));
    assert_eq!(none.cache().stats().entries, 1);

    // placement = "hash": CRC32('erin') % 4, recorded in the directory.
    let hash = LookupRouter::new(
        &rule(lookup("dir_s", Placement::Hash)),
        Arc::new(dir(db, database, "dir_s")),
    )
    .unwrap();
    let want: u32 = db
        .sql("SELECT CRC32('erin') % 4")
        .trim()
        .parse()
        .expect("crc");
    assert_eq!(hash.shard_for_insert(&s("erin")), Ok(want));
    assert_eq!(
        db.sql(&format!(
            "SELECT shard FROM {database}.dir_s WHERE k = 'erin'"
        ))
        .trim(),
        want.to_string()
    );

    // Racing round-robin placements of the same new key from separate
    // routers (as from separate proxies): every one ends on the same shard.
    for key in ["race-1", "race-2", "race-3"] {
        let n = 6;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = barrier.clone();
                let d = dir(db, database, "dir_s");
                thread::spawn(move || {
                    let r = LookupRouter::new(&rule(lookup("dir_s", Placement::RoundRobin)), {
                        Arc::new(d)
                    })
                    .unwrap();
                    // Different starting points, so the routers disagree.
                    for j in 0..i {
                        let pre = format!("{key}-pre-{i}-{j}");
                        r.shard_for_insert(&s(&pre)).expect("pre-placement");
                    }
                    barrier.wait();
                    r.shard_for_insert(&s(key)).expect("placement")
                })
            })
            .collect();
        let got: Vec<u32> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        assert!(got.windows(2).all(|w| w[0] == w[1]), "{key}: {got:?}");
        assert_eq!(
            db.sql(&format!(
                "SELECT shard FROM {database}.dir_s WHERE k = '{key}'"
            ))
            .trim(),
            got[0].to_string()
        );
    }
}

#[test]
fn escaping_under_no_backslash_escapes() {
    // A server of its own: the global sql_mode change must not reach others.
    let db = MariaDb::start();
    db.sql("SET GLOBAL sql_mode = 'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES'");
    assert!(db
        .sql("SELECT @@GLOBAL.sql_mode")
        .contains("NO_BACKSLASH_ESCAPES"));
    let database = "sg_lookup_nbe";
    setup(&db, database);
    tricky_round_trip(&db, database);
}
