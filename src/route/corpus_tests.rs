//! The sharding planner's corpus test: `testdata/plans.txt` lists
//! statements and the plans they must get (targets with their rewritten
//! SQL and the gather step, or the refusal).

use super::{plan_query, Action, Gather, RouteCtx};
use crate::config;
use crate::route::keyvalue::KeyType;
use crate::route::state::{RouteState, TableColumns};

const TOPOLOGY: &str = r#"
[server]
listen = "127.0.0.1:3307"
default_group = "g0"
[[user]]
name = "app"
password = "x"
[backend]
user = "shardgate"
password = "x"
[[group]]
name = "g0"
master = "127.0.0.1:3310"
[[group]]
name = "g1"
master = "127.0.0.1:3320"
[[schema]]
name = "blog"
default_group = "g0"
[[schema.rule]]
name = "by_user"
kind = "range"
groups = ["g0", "g1"]
tables_per_group = [2, 2]
rows_per_table = 100
[[schema.rule]]
name = "by_hash"
kind = "hash"
groups = ["g0", "g1"]
tables_per_group = [1, 1]
[[schema.table]]
name = "article"
key = "user_id"
rule = "by_user"
[[schema.table]]
name = "comment"
key = "user_id"
rule = "by_user"
[[schema.table]]
name = "h"
key = "id"
rule = "by_hash"
[[schema.table]]
name = "hs"
key = "code"
rule = "by_hash"
[[schema.table]]
name = "country"
broadcast = true
"#;

/// A session of user `app` in schema `blog`.
fn blog_ctx(multi_statements: bool) -> RouteCtx {
    RouteCtx {
        schema: Some("blog".into()),
        user: "app".into(),
        conn_id: 1,
        backslash_escapes: true,
        multi_statements,
        in_transaction: false,
        caps: shardgate_proto::capability::Capabilities::empty(),
        shard_key: None,
        client_charset: Some(crate::merge::charset::Charset::Utf8),
        user_vars_by_query: Vec::new(),
        row_count: None,
        warnings_on: None,
        diagnostics_count: (0, 0),
        found_rows: Default::default(),
        infile: None,
    }
}

fn describe(topo: &config::Topology, action: &Action) -> String {
    match action {
        Action::Forward {
            targets, gather, ..
        } => {
            let unsharded = targets.len() == 1
                && targets[0].sql.is_none()
                && matches!(gather, Gather::Relay)
                && topo.group("g0").is_some()
                && targets[0].group == "g0";
            if unsharded {
                return "unsharded".into();
            }
            let parts: Vec<String> = targets
                .iter()
                .map(|t| {
                    let sql = t
                        .sql
                        .as_ref()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .unwrap_or_else(|| "(unchanged)".into());
                    format!("{}: {sql}", t.group)
                })
                .collect();
            let g = match gather {
                Gather::Relay => "relay",
                Gather::SumOk(Some(_)) => "sum affected rows, one by one",
                Gather::SumOk(None) => "sum affected rows",
                Gather::SameOk => "same on every group",
                Gather::Merge(_) => "merge",
                Gather::Rename(_) => "rename",
            };
            format!("{} [{g}]", parts.join(" ; "))
        }
        Action::Reply(p) if p.first() == Some(&0xff) => {
            let code = u16::from_le_bytes([p[1], p[2]]);
            format!(
                "ERR {code} {}",
                String::from_utf8_lossy(p.get(9..).unwrap_or_default())
            )
        }
        other => format!("{other:?}"),
    }
}

/// The corpus tables' columns, as the planner would read them from the
/// first physical table (no servers in these tests).
fn set_corpus_columns(state: &RouteState) {
    for t in ["article", "comment", "h"] {
        state.set_table_columns(
            "blog",
            t,
            TableColumns {
                ordered: vec![b"id".to_vec(), b"user_id".to_vec(), b"title".to_vec()],
                collations: vec![(b"title".to_vec(), 45)],
                enums: Vec::new(),
                key_types: vec![
                    (b"id".to_vec(), KeyType::Integer),
                    (b"user_id".to_vec(), KeyType::Integer),
                    (b"title".to_vec(), KeyType::Text),
                ],
            },
        );
    }
    // hs: a hash table with a string key.
    state.set_table_columns(
        "blog",
        "hs",
        TableColumns {
            ordered: vec![b"code".to_vec(), b"n".to_vec()],
            collations: vec![(b"code".to_vec(), 45)],
            enums: Vec::new(),
            key_types: vec![
                (b"code".to_vec(), KeyType::Text),
                (b"n".to_vec(), KeyType::Integer),
            ],
        },
    );
}

#[test]
fn plans_match_the_corpus() {
    let topo = config::parse(TOPOLOGY).expect("corpus topology");
    let state = RouteState::build(&topo);
    // No servers here: the plans take the tables' columns from the cache
    // (set again before each statement: planning DDL forgets them).
    let set_columns = || set_corpus_columns(&state);
    let ctx = blog_ctx(false);
    let text = include_str!("testdata/plans.txt");
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'));
    while let Some(sql) = lines.next() {
        let Some(expected) = lines.next().and_then(|l| l.strip_prefix("= ")) else {
            panic!("corpus: `{sql}` has no `= expected` line");
        };
        cases += 1;
        set_columns();
        let got = describe(
            &topo,
            &plan_query(&topo, &state, &ctx, sql.as_bytes(), true),
        );
        let ok = if let Some(prefix) = expected.strip_prefix("ERR ") {
            got.strip_prefix("ERR ")
                .is_some_and(|g| g.starts_with(prefix))
        } else {
            got == expected
        };
        if !ok {
            failures.push(format!("{sql}\n  expected: {expected}\n  got:      {got}"));
        }
    }
    assert!(cases >= 25, "corpus too small: {cases}");
    assert!(
        failures.is_empty(),
        "{} of {cases} plans differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Truncated and garbled statements of the forms planned from their text
/// (EXPLAIN, table maintenance, SHOW ... LIKE, information_schema, INSERT
/// without a column list) never panic the planner.
/// A deterministic xorshift generator: each call gives a number below `n`
/// (0 for `n` = 0).
fn xorshift(mut state: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    }
}

#[test]
fn garbled_statements_do_not_panic_the_planner() {
    let topo = config::parse(TOPOLOGY).expect("corpus topology");
    let state = RouteState::build(&topo);
    let ctx = blog_ctx(true);
    let seeds = [
        "EXPLAIN FORMAT = JSON /* x */ SELECT * FROM article WHERE user_id = 5",
        "DESCRIBE DELETE FROM article WHERE user_id IN (1, 250)",
        "ANALYZE NO_WRITE_TO_BINLOG TABLE blog.article, `country`, plain_table EXTENDED",
        "CHECKSUM TABLE article QUICK",
        "SHOW FULL TABLES FROM blog LIKE 'art\\_%'",
        "SELECT * FROM information_schema.COLUMNS WHERE TABLE_NAME IN ('article', 'h')",
        "INSERT INTO h VALUES (1, 2, 'x'), (3, 4, 'y')",
        "SELECT 1; SELECT * FROM article",
        "SELECT title, COUNT(DISTINCT v) AS n, AVG(v) FROM h WHERE id > 3 GROUP BY title \
         HAVING n > 1 ORDER BY n DESC LIMIT 2, 3",
        "SELECT COUNT(DISTINCT LOWER(title)) FROM h t WHERE (v) IN (1, 2) FOR UPDATE",
        "SELECT DISTINCT title, MAX(v) FROM article GROUP BY title DESC ORDER BY 2",
    ];
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    for seed in seeds {
        let bytes = seed.as_bytes();
        for cut in 0..=bytes.len() {
            let _ = plan_query(&topo, &state, &ctx, &bytes[..cut], false);
        }
        for _ in 0..300 {
            let mut garbled = bytes.to_vec();
            for _ in 0..1 + next(4) {
                let at = next(garbled.len());
                match next(3) {
                    0 => garbled[at] = b"'`\"(),.;*/\\ \xff"[next(13)],
                    1 => {
                        garbled.remove(at);
                    }
                    _ => garbled.insert(at, next(256) as u8),
                }
            }
            let _ = plan_query(&topo, &state, &ctx, &garbled, false);
        }
    }
}

/// Every statement of both corpora (the planner's and the parser's),
/// mutated: cut, bytes dropped or replaced, SQL fragments spliced in
/// (quotes, comments, hints, operators, clauses, huge numbers), two
/// statements joined. Planned as text and as a prepared statement with
/// bound values of every kind, with the tables' columns known so the
/// deeper planning paths run. A panic names the input that caused it.
#[test]
fn mutated_corpus_statements_never_panic_the_planner() {
    use super::keyvalue::KeyValue;
    let topo = config::parse(TOPOLOGY).expect("corpus topology");
    let state = RouteState::build(&topo);
    let seeds: Vec<&str> = [
        include_str!("testdata/plans.txt"),
        include_str!("../sql/parse/testdata/parse.txt"),
    ]
    .iter()
    .flat_map(|t| t.lines())
    .filter(|l| {
        !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("//") && !l.starts_with("= ")
    })
    .collect();
    assert!(seeds.len() > 300, "corpora: {} statements", seeds.len());
    // 359 statements x 40 mutations x 2 sessions x (text, prepared).
    const FRAGMENTS: [&str; 40] = [
        "'",
        "\"",
        "`",
        "(",
        ")",
        ",",
        ";",
        "?",
        "\\",
        "/*",
        "*/",
        "-- ",
        "#",
        "/*!50000 ",
        "/*+ shardgate: key=",
        "/*+ shardgate: shard=99999999999 */",
        " SELECT ",
        " UNION ALL ",
        " JOIN h ON h.id = article.user_id ",
        " WHERE ",
        " user_id IN (",
        " BETWEEN 1 AND ",
        " AND ",
        " OR NOT ",
        " ORDER BY 1 DESC",
        " GROUP BY title",
        " HAVING COUNT(*) > ",
        " LIMIT 18446744073709551615",
        " OFFSET ",
        "COUNT(DISTINCT ",
        "AVG(",
        "-",
        "1e309",
        "0x",
        "X'",
        "99999999999999999999999",
        "\u{0}",
        "\u{ff}",
        " COLLATE utf8mb4_bin",
        "@@",
    ];
    let values = [
        KeyValue::Null,
        KeyValue::Int(i64::MIN),
        KeyValue::Int(-1),
        KeyValue::Int(150),
        KeyValue::UInt(u64::MAX),
        KeyValue::Number("-12.5".into()),
    ];
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let plan_all = |sql: &[u8], params: &[KeyValue]| {
        for (escapes, multi) in [(true, false), (false, true)] {
            let mut ctx = blog_ctx(multi);
            ctx.backslash_escapes = escapes;
            set_corpus_columns(&state);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = plan_query(&topo, &state, &ctx, sql, false);
                let _ = super::plan_prepared(&topo, &state, &ctx, sql, params, false);
            }));
            assert!(
                r.is_ok(),
                "the planner panicked on {:?}",
                String::from_utf8_lossy(sql)
            );
        }
    };
    for (i, seed) in seeds.iter().enumerate() {
        let seed = seed.replace("\\n", "\n");
        let bytes = seed.as_bytes();
        for _ in 0..40 {
            let mut m = bytes.to_vec();
            for _ in 0..1 + next(3) {
                let at = next(m.len() + 1);
                match next(5) {
                    0 => m.truncate(at),
                    1 => {
                        let end = (at + next(8)).min(m.len());
                        m.drain(at..end);
                    }
                    2 if at < m.len() => m[at] = next(256) as u8,
                    3 => {
                        let other = seeds[next(seeds.len())].as_bytes();
                        let from = next(other.len() + 1);
                        m.splice(at..at, other[from..].iter().copied());
                    }
                    _ => {
                        let f = FRAGMENTS[next(FRAGMENTS.len())].as_bytes();
                        m.splice(at..at, f.iter().copied());
                    }
                }
            }
            let params: Vec<KeyValue> = (0..next(4))
                .map(|_| values[next(values.len())].clone())
                .collect();
            plan_all(&m, &params);
        }
        if i % 7 == 0 {
            plan_all(bytes, &values);
        }
    }
}

/// DDL on a sharded table forgets its cached columns when planned, and asks
/// the executor to forget them again once the statement is over (a read in
/// between must not be kept).
#[test]
fn ddl_forgets_the_tables_columns_when_planned_and_when_over() {
    let topo = config::parse(TOPOLOGY).expect("corpus topology");
    let state = RouteState::build(&topo);
    state.set_table_columns("blog", "article", TableColumns::default());
    let ctx = blog_ctx(false);
    let plan = plan_query(
        &topo,
        &state,
        &ctx,
        b"ALTER TABLE article ADD COLUMN c0 INT FIRST",
        true,
    );
    assert!(state.table_columns("blog", "article").is_none());
    match plan {
        Action::Forward { effects, .. } => assert_eq!(
            effects.forget_columns.as_deref().map(Vec::as_slice),
            Some(&[("blog".to_string(), "article".to_string())][..])
        ),
        other => panic!("{other:?}"),
    }
}

/// `LOAD DATA LOCAL` into a sharded table: the file is asked for, then
/// split record by record over the shards (the statement rewritten per
/// physical table, `IGNORE n LINES` applied by the planner and cut).
#[test]
fn load_data_local_splits_the_file_by_key() {
    use shardgate_proto::capability::Capabilities;
    let topo = config::parse(TOPOLOGY).expect("corpus topology");
    let state = RouteState::build(&topo);
    set_corpus_columns(&state);
    let mut ctx = blog_ctx(false);
    ctx.caps = Capabilities::LOCAL_FILES;
    let sql = b"LOAD DATA LOCAL INFILE '/x.tsv' INTO TABLE h IGNORE 1 LINES";
    match plan_query(&topo, &state, &ctx, sql, true) {
        Action::ReadInfile { file } => assert_eq!(file, b"/x.tsv"),
        other => panic!("{}", describe(&topo, &other)),
    }
    ctx.infile = Some(std::sync::Arc::new(
        b"id\tuser_id\ttitle\n1\t5\tone\n2\t5\t\"two\n3\t5\tthree\\\nstill three\n".to_vec(),
    ));
    let Action::Forward {
        targets, gather, ..
    } = plan_query(&topo, &state, &ctx, sql, true)
    else {
        panic!("not a forward");
    };
    assert!(matches!(gather, Gather::SumOk(None)));
    let got: Vec<(String, String, String)> = targets
        .iter()
        .map(|t| {
            (
                t.group.clone(),
                String::from_utf8_lossy(t.sql.as_deref().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(t.infile.as_deref().unwrap_or_default()).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "g0".into(),
                "LOAD DATA LOCAL INFILE '/x.tsv' INTO TABLE h_0000 ".into(),
                "2\t5\t\"two\n".into()
            ),
            (
                "g1".into(),
                "LOAD DATA LOCAL INFILE '/x.tsv' INTO TABLE h_0001 ".into(),
                "1\t5\tone\n3\t5\tthree\\\nstill three\n".into()
            ),
        ]
    );
    // A key no range takes: refused with its line, nothing planned.
    ctx.infile = Some(std::sync::Arc::new(b"7,1\n8,450\n".to_vec()));
    let refused = plan_query(
        &topo,
        &state,
        &ctx,
        b"LOAD DATA LOCAL INFILE 'a' INTO TABLE article FIELDS TERMINATED BY ',' (id, user_id)",
        true,
    );
    let text = describe(&topo, &refused);
    assert!(
        text.starts_with("ERR 1526") && text.contains("line 2"),
        "{text}"
    );
    // A client without LOCAL INFILE.
    ctx.caps = Capabilities::empty();
    let text = describe(&topo, &plan_query(&topo, &state, &ctx, sql, true));
    assert!(text.starts_with("ERR 1148"), "{text}");
}
