//! Tests of the routing-subset parser: the corpus in `testdata/parse.txt`
//! (every statement also checked against the structural invariants), unit
//! tests of the API per construct, and a no-panic loop over garbage.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::*;
use crate::sql::{classify, Kind, MbCharset, Scope};

fn opts() -> LexOptions {
    LexOptions::default()
}

fn parsed(sql: &str) -> Parsed<'_> {
    let parsed = parse(sql.as_bytes(), opts());
    check(sql.as_bytes(), &parsed);
    parsed
}

fn txt<'s>(sql: &'s str, r: &std::ops::Range<usize>) -> &'s str {
    &sql[r.clone()]
}

/// Structural invariants every parse keeps, whatever the input.
fn check(sql: &[u8], p: &Parsed<'_>) {
    let n = sql.len();
    let ok = |r: &std::ops::Range<usize>| r.start <= r.end && r.end <= n;
    assert!(!p.blocks.is_empty());
    if let Stmt::LockTables { items } = &p.stmt {
        assert_eq!(items.len(), p.tables.len(), "one lock item per table");
        for (item, t) in items.iter().zip(&p.tables) {
            assert!(ok(item) && item.start <= t.name.range.start && t.name.range.end <= item.end);
        }
    }
    for (i, t) in p.tables.iter().enumerate() {
        assert!(ok(&t.range) && ok(&t.name.range), "table {i} range");
        assert!(t.block < p.blocks.len());
        if i > 0 {
            assert!(
                p.tables[i - 1].range.start <= t.range.start,
                "tables out of order"
            );
        }
    }
    for (id, b) in p.blocks.iter().enumerate() {
        assert!(ok(&b.range));
        assert!(b
            .parent
            .map_or(id == 0, |par| par < p.blocks.len() && par != id));
        for f in &b.from {
            match &f.source {
                Source::Table(t) => assert!(*t < p.tables.len()),
                Source::Derived { block, .. } => assert!(*block < p.blocks.len()),
                Source::Other(r) => assert!(ok(r)),
            }
        }
        if let Some(l) = &b.limit {
            assert!(ok(&l.range));
        }
    }
    for q in &p.qualified {
        assert!(ok(&q.range) && q.block < p.blocks.len());
    }
    for s in p.name_sites() {
        assert!(ok(&s.name) && s.table < p.tables.len());
    }
    for &at in &p.params {
        assert_eq!(sql.get(at), Some(&b'?'));
    }
    if let Some(u) = p.unsupported {
        assert!(u.at <= n);
    }
}

/// Replaces every name site of a table called `from` with `to`.
fn rename(sql: &str, from: &str, to: &str) -> String {
    let p = parsed(sql);
    let mut out = String::new();
    let mut last = 0;
    for s in p.name_sites() {
        if p.tables[s.table].name.is(from.as_bytes()) {
            out.push_str(&sql[last..s.name.start]);
            out.push_str(to);
            last = s.name.end;
        }
    }
    out.push_str(&sql[last..]);
    out
}

#[test]
fn corpus() {
    let text = include_str!("testdata/parse.txt");
    let mut failures = Vec::new();
    let mut statements = 0;
    let mut lines = text.lines().enumerate().peekable();
    while let Some((no, line)) = lines.next() {
        if line.trim().is_empty() || line.starts_with("//") {
            continue;
        }
        assert!(
            !line.starts_with("= "),
            "line {}: expectation without SQL",
            no + 1
        );
        let sql = line.replace("\\n", "\n");
        let Some((_, want)) = lines.next().filter(|(_, l)| l.starts_with("= ")) else {
            panic!("line {}: SQL without `= expectation`", no + 1);
        };
        let parsed = parse(sql.as_bytes(), opts());
        check(sql.as_bytes(), &parsed);
        // The planner parses the tokens the classifier kept: same result.
        let kept = crate::sql::classify::classify_keeping_tokens(sql.as_bytes(), opts()).tokens;
        let relexed = parse_lexed(sql.as_bytes(), opts(), kept);
        if relexed != parsed {
            failures.push(format!(
                "line {}: {sql}\n  parse_lexed differs from parse",
                no + 1
            ));
        }
        let got = parsed.summary(sql.as_bytes());
        if got != want[2..] {
            failures.push(format!(
                "line {}: {sql}\n  want: {}\n  got:  {got}",
                no + 1,
                &want[2..]
            ));
        }
        statements += 1;
    }
    assert!(statements >= 150, "corpus has only {statements} statements");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn point_select() {
    let sql = "SELECT c FROM sbtest1 WHERE id=42";
    let p = parsed(sql);
    assert!(p.analysed() && p.stmt == Stmt::Select);
    assert_eq!(p.tables.len(), 1);
    let t = &p.tables[0];
    assert_eq!(
        (txt(sql, &t.range), t.role, t.block),
        ("sbtest1", TableRole::From, 0)
    );
    let b = p.top();
    assert_eq!(b.kind, BlockKind::Select);
    assert!(
        matches!(&b.items[..], [SelectItem { kind: ItemKind::Column(c), .. }] if c.name.is(b"c"))
    );
    let Some(Tree::Leaf(Leaf::Cmp { col, op, value })) = &b.where_ else {
        panic!("{:?}", b.where_)
    };
    assert!(col.name.is(b"id") && col.table.is_none() && *op == CmpOp::Eq);
    assert_eq!(
        (value.lit.clone(), txt(sql, &value.range)),
        (Literal::Int(42), "42")
    );
    assert_eq!(p.column_table(0, col), Some(0));
    assert!(p.hint.is_none() && p.params.is_empty() && !p.has_subquery());
}

#[test]
fn rewrite_table_names_and_qualifiers() {
    assert_eq!(
        rename(
            "SELECT article.user_id, `article`.* FROM shop.`article` WHERE article.user_id = 5",
            "article",
            "article_0003"
        ),
        "SELECT article_0003.user_id, article_0003.* FROM shop.article_0003 WHERE article_0003.user_id = 5"
    );
    // Aliases stay; only the table name changes.
    assert_eq!(
        rename(
            "SELECT a.x FROM article a WHERE a.user_id = 1",
            "article",
            "article_0001"
        ),
        "SELECT a.x FROM article_0001 a WHERE a.user_id = 1"
    );
    // Subqueries, joins, correlated references.
    assert_eq!(
        rename(
            "SELECT * FROM article WHERE EXISTS (SELECT 1 FROM comment c WHERE c.aid = article.id)",
            "article",
            "article_7"
        ),
        "SELECT * FROM article_7 WHERE EXISTS (SELECT 1 FROM comment c WHERE c.aid = article_7.id)"
    );
    // Multi-table DELETE: the target naming a table is renamed, an alias is not.
    assert_eq!(
        rename(
            "DELETE article, c FROM article JOIN comment c ON article.id = c.aid",
            "article",
            "article_2"
        ),
        "DELETE article_2, c FROM article_2 JOIN comment c ON article_2.id = c.aid"
    );
    // A CTE named like the table is not a table reference.
    assert_eq!(
        rename(
            "WITH article AS (SELECT 1) SELECT * FROM article",
            "article",
            "x"
        ),
        "WITH article AS (SELECT 1) SELECT * FROM article"
    );
    // INSERT with qualified columns and ON DUPLICATE KEY UPDATE.
    assert_eq!(
        rename(
            "INSERT INTO article (id) VALUES (1) ON DUPLICATE KEY UPDATE article.hits = 1",
            "article",
            "a_1"
        ),
        "INSERT INTO a_1 (id) VALUES (1) ON DUPLICATE KEY UPDATE a_1.hits = 1"
    );
}

#[test]
fn placeholders_are_numbered_across_the_statement() {
    let sql = "SELECT ?, x FROM t WHERE id = ? AND k IN (?, 3) LIMIT ?, ?";
    let p = parsed(sql);
    assert_eq!(p.params.len(), 5);
    let Some(Tree::And(v)) = &p.top().where_ else {
        panic!()
    };
    assert!(matches!(
        &v[0],
        Tree::Leaf(Leaf::Cmp {
            value: Value {
                lit: Literal::Param(1),
                ..
            },
            ..
        })
    ));
    assert!(
        matches!(&v[1], Tree::Leaf(Leaf::In { values, .. }) if values[0].lit == Literal::Param(2))
    );
    let l = p.top().limit.as_ref().unwrap();
    assert_eq!(l.offset.as_ref().map(|v| &v.lit), Some(&Literal::Param(3)));
    assert_eq!(l.count.lit, Literal::Param(4));
    assert_eq!(txt(sql, &l.range), "LIMIT ?, ?");
}

#[test]
fn limit_clause_range_for_rewriting() {
    let sql = "SELECT id FROM article ORDER BY id LIMIT 10, 5 FOR UPDATE";
    let p = parsed(sql);
    let l = p.top().limit.as_ref().unwrap();
    assert_eq!(txt(sql, &l.range), "LIMIT 10, 5");
    assert_eq!(
        (l.offset.as_ref().unwrap().lit.clone(), l.count.lit.clone()),
        (Literal::Int(10), Literal::Int(5))
    );
    assert_eq!(p.top().lock, Some(LockMode::Update));
    let sql = "SELECT id FROM t LIMIT 5 OFFSET 10";
    let p = parsed(sql);
    let l = p.top().limit.as_ref().unwrap();
    assert_eq!(txt(sql, &l.range), "LIMIT 5 OFFSET 10");
    assert_eq!(l.offset.as_ref().unwrap().lit, Literal::Int(10));
}

#[test]
fn insert_rows_and_values() {
    let sql = "INSERT INTO article (id, user_id, title) VALUES (1, ?, 'a'), (2, -8, NOW()) ON DUPLICATE KEY UPDATE title = VALUES(title), hits = 0";
    let p = parsed(sql);
    let Stmt::Insert(ins) = &p.stmt else { panic!() };
    assert_eq!(ins.column_index(b"USER_ID"), Some(1));
    assert_eq!(ins.rows.len(), 2);
    assert_eq!(
        txt(sql, ins.rows_range.as_ref().unwrap()),
        "(1, ?, 'a'), (2, -8, NOW())"
    );
    let r1 = ins.row_values(&ins.rows[1]);
    assert_eq!(txt(sql, &ins.rows[1].range), "(2, -8, NOW())");
    assert!(matches!(
        &r1[1].value,
        Operand::Value(Value {
            lit: Literal::Int(-8),
            ..
        })
    ));
    assert_eq!(txt(sql, &r1[1].range), "-8");
    assert!(matches!(r1[2].value, Operand::Expr(_)));
    assert!(matches!(
        &ins.row_values(&ins.rows[0])[1].value,
        Operand::Value(Value {
            lit: Literal::Param(0),
            ..
        })
    ));
    let dup = ins.on_duplicate.as_ref().unwrap();
    assert_eq!(
        txt(sql, &dup.range),
        "ON DUPLICATE KEY UPDATE title = VALUES(title), hits = 0"
    );
    let cols: Vec<_> = dup
        .assignments
        .iter()
        .map(|a| a.column.name.name.clone())
        .collect();
    assert_eq!(
        cols,
        [Cow::Borrowed(&b"title"[..]), Cow::Borrowed(&b"hits"[..])]
    );
    assert_eq!(p.tables[ins.table].role, TableRole::InsertTarget);
    // INSERT ... SELECT is flagged with its source block.
    let p2 = parse(b"INSERT INTO a (x) SELECT x FROM b WHERE k = 1", opts());
    let Stmt::Insert(ins) = &p2.stmt else {
        panic!()
    };
    let InsertSource::Select(src) = ins.source else {
        panic!()
    };
    assert_eq!(p2.blocks[src].place, Place::InsertSource);
    assert_eq!(p2.tables[1].block, src);
}

#[test]
fn update_assignments_show_key_changes() {
    let sql = "UPDATE article a SET a.user_id = 9, title = ? WHERE a.user_id = 3 LIMIT 1";
    let p = parsed(sql);
    let Stmt::Update { assignments } = &p.stmt else {
        panic!()
    };
    assert!(assignments[0].column.name.is(b"user_id"));
    assert_eq!(p.column_table(0, &assignments[0].column), Some(0));
    assert!(matches!(
        assignments[1].value,
        Operand::Value(Value {
            lit: Literal::Param(0),
            ..
        })
    ));
    assert_eq!(txt(sql, &assignments[0].range), "a.user_id = 9");
    assert!(p.top().limit.is_some());
}

#[test]
fn join_conditions_are_reported_apart() {
    let p = parsed(
        "SELECT * FROM article a JOIN comment c ON a.user_id = c.user_id WHERE a.user_id = 5",
    );
    let b = p.top();
    assert_eq!(b.from.len(), 2);
    assert_eq!(b.from[1].join, JoinKind::Inner);
    let Some(Tree::Leaf(Leaf::ColumnEq { left, right })) = &b.from[1].on else {
        panic!()
    };
    assert_eq!(p.column_table(0, left), Some(0));
    assert_eq!(p.column_table(0, right), Some(1));
    assert!(matches!(&b.where_, Some(Tree::Leaf(Leaf::Cmp { .. }))));
    // Unqualified columns of a join belong to no single table.
    let c = Column {
        range: 0..0,
        schema: None,
        table: None,
        name: Ident {
            range: 0..0,
            name: Cow::Borrowed(b"x"),
        },
    };
    assert_eq!(p.column_table(0, &c), None);
}

#[test]
fn group_by_keeps_its_direction() {
    let sql = "SELECT a, b, COUNT(*) FROM t GROUP BY a DESC, b ASC, c";
    let p = parsed(sql);
    let b = &p.blocks[0];
    let got: Vec<(&str, bool)> = b
        .group_by
        .iter()
        .map(|g| (txt(sql, &g.range), g.desc))
        .collect();
    assert_eq!(got, [("a DESC", true), ("b ASC", false), ("c", false)]);
    assert!(matches!(&b.group_by[0].key, Key::Column(c) if c.name.is(b"a")));
}

#[test]
fn aggregates_group_order_having() {
    let sql = "SELECT user_id, COUNT(DISTINCT tag) AS n, AVG(score) FROM article GROUP BY user_id HAVING n > 1 AND AVG(score) < 2.5 ORDER BY 2 DESC, user_id";
    let p = parsed(sql);
    let b = p.top();
    let ItemKind::Aggregate(a) = &b.items[1].kind else {
        panic!()
    };
    assert_eq!((a.func, a.distinct), (AggFunc::Count, true));
    let AggArg::Expr(r) = &a.arg else { panic!() };
    assert_eq!(txt(sql, r), "tag");
    assert_eq!(txt(sql, &b.items[1].range), "COUNT(DISTINCT tag) AS n");
    assert_eq!(txt(sql, &b.items[1].expr), "COUNT(DISTINCT tag)");
    assert!(matches!(
        b.items[2].kind,
        ItemKind::Aggregate(Aggregate {
            func: AggFunc::Avg,
            ..
        })
    ));
    assert!(matches!(&b.group_by[0].key, Key::Column(c) if c.name.is(b"user_id")));
    let h = b.having.as_ref().unwrap();
    assert_eq!(txt(sql, &h.range), "n > 1 AND AVG(score) < 2.5");
    let Tree::And(v) = &h.pred else { panic!() };
    assert!(matches!(
        &v[0],
        Tree::Leaf(HavingLeaf {
            operand: HavingOperand::Name(_),
            op: CmpOp::Gt,
            ..
        })
    ));
    assert!(matches!(
        &v[1],
        Tree::Leaf(HavingLeaf {
            operand: HavingOperand::Aggregate(_),
            op: CmpOp::Lt,
            ..
        })
    ));
    assert_eq!(b.order_by[0].key, Key::Position(2));
    assert!(b.order_by[0].desc && !b.order_by[1].desc);
    assert_eq!(txt(sql, &b.order_by[0].range), "2 DESC");
}

#[test]
fn hints_and_session_key() {
    let sql = "SELECT /*+ shardgate: key='u1', shard=3 master */ * FROM t";
    let p = parsed(sql);
    let h = p.hint.as_ref().unwrap();
    let k = h.key.as_ref().unwrap();
    assert_eq!(txt(sql, &k.range), "'u1'");
    assert_eq!((h.shard, h.master, h.error), (Some(3), true, None));
    assert_eq!(
        txt(sql, &h.range),
        "/*+ shardgate: key='u1', shard=3 master */"
    );

    // The classifier sees a session SET; the parser recognises the key.
    let sql = "SET @@shardgate_shard_key = 1222211";
    let st = classify(sql.as_bytes(), opts());
    assert_eq!(st.kind, Kind::Set);
    assert!(!st.is_write);
    assert_eq!(st.set_assignments[0].scope, Scope::Session);
    assert_eq!(st.set_assignments[0].name, SHARD_KEY_VAR);
    let p = parse(sql.as_bytes(), opts());
    let Stmt::SetShardKey {
        value: ShardKeyValue::Set(v),
        alone: true,
        assignment,
    } = &p.stmt
    else {
        panic!("{:?}", p.stmt)
    };
    assert_eq!(v.lit, Literal::Int(1222211));
    assert_eq!(txt(sql, assignment), "@@shardgate_shard_key = 1222211");
    assert!(p.analysed());
    let p = parse(b"SET @@SESSION.`shardgate_shard_key` := DEFAULT", opts());
    assert!(matches!(
        p.stmt,
        Stmt::SetShardKey {
            value: ShardKeyValue::Clear,
            ..
        }
    ));
}

#[test]
fn explain_shardgate_inner_statement() {
    let sql = "EXPLAIN SHARDGATE /*+ shardgate: key=5 */ SELECT * FROM article WHERE user_id = 5 ;";
    let p = parsed(sql);
    let Stmt::ExplainShardgate { inner } = &p.stmt else {
        panic!()
    };
    let inner_sql = txt(sql, inner);
    assert_eq!(
        inner_sql,
        "/*+ shardgate: key=5 */ SELECT * FROM article WHERE user_id = 5"
    );
    let q = parse(inner_sql.as_bytes(), opts());
    assert!(q.analysed() && q.hint.is_some() && q.tables.len() == 1);
    // Just `EXPLAIN shardgate` describes a table named shardgate.
    assert!(matches!(
        parse(b"EXPLAIN shardgate", opts()).stmt,
        Stmt::Describe
    ));
}

#[test]
fn ddl_and_show_targets() {
    let p1 = parsed("RENAME TABLE a TO b");
    assert_eq!(
        p1.tables.iter().map(|t| t.role).collect::<Vec<_>>(),
        [TableRole::RenameFrom, TableRole::RenameTo]
    );
    let p2 = parsed("SHOW COLUMNS FROM article FROM shop");
    assert!(p2.tables[0].schema.as_ref().is_some_and(|s| s.is(b"shop")));
    assert!(p2.tables[0].name.is(b"article"));
    let p3 = parsed("SELECT * FROM information_schema.TABLES");
    assert!(p3.info_schema.tables && !p3.info_schema.columns);
    let Stmt::CreateTable {
        select: Some(b), ..
    } = parsed("CREATE TABLE s SELECT * FROM t").stmt
    else {
        panic!()
    };
    assert_eq!(b, 1);
}

#[test]
fn unsupported_and_mentions() {
    for sql in [
        "SELECT * FROM t WHERE a = 'x",
        "SELECT * FROM t PROCEDURE x()",
        "SELECT * FROM t WHERE (a",
    ] {
        let p = parsed(sql);
        assert!(p.unsupported.is_some() && !p.analysed(), "{sql}");
    }
    let o = opts();
    assert!(mentions(
        b"CALL p((SELECT 1 FROM `Article`))",
        o,
        b"article"
    ));
    assert!(mentions(
        b"PREPARE s FROM 'SELECT * FROM article'",
        o,
        b"article"
    ));
    assert!(mentions(b"SELECT 'x FROM article", o, b"article"));
    assert!(!mentions(
        b"SELECT articles FROM t -- article",
        o,
        b"article"
    ));
    let p = parsed("GRANT SELECT ON shop.* TO u");
    assert_eq!(p.stmt, Stmt::Other);
    assert!(p.tables.is_empty() && !p.analysed());
}

#[test]
fn lexing_options_are_honoured() {
    let ansi = LexOptions {
        ansi_quotes: true,
        ..opts()
    };
    let sql = br#"SELECT "c" FROM "my table" WHERE "id" = 1"#;
    let p = parse(sql, ansi);
    assert_eq!(p.tables[0].name.name.as_ref(), b"my table");
    assert!(
        matches!(&p.top().where_, Some(Tree::Leaf(Leaf::Cmp { col, .. })) if col.name.is(b"id"))
    );
    let nb = LexOptions {
        backslash_escapes: false,
        ..opts()
    };
    let sql = br"SELECT * FROM t WHERE k = 'a\'";
    let p = parse(sql, nb);
    let Some(Tree::Leaf(Leaf::Cmp { value, .. })) = &p.top().where_ else {
        panic!()
    };
    assert_eq!(
        value.lit,
        Literal::Str {
            bytes: Cow::Borrowed(br"a\"),
            charset: None
        }
    );
    // GBK: 0xBF 0x5C is one character, not an escaped quote.
    let gbk = LexOptions {
        charset: MbCharset::Gbk,
        ..opts()
    };
    let sql: &[u8] = b"SELECT * FROM t WHERE k = '\xbf\x5c' OR 1=1";
    let p = parse(sql, gbk);
    assert!(matches!(&p.top().where_, Some(Tree::Unknown(_))));
    check(sql, &p);
}

#[test]
fn deep_and_huge_inputs_are_bounded() {
    let deep = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    let t = Instant::now();
    let p = parsed(&deep);
    assert!(p.unsupported.is_some());
    let nested = format!(
        "SELECT * FROM t WHERE {}",
        "a IN (SELECT a FROM t WHERE ".repeat(40) + "1" + &")".repeat(40)
    );
    let p2 = parsed(&nested);
    assert!(p2.blocks.len() > 40 && p2.analysed());
    let wide = format!(
        "INSERT INTO t (a, b) VALUES {}",
        (0..20_000)
            .map(|i| format!("({i}, 'v{i}')"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let p3 = parsed(&wide);
    let Stmt::Insert(ins) = &p3.stmt else {
        panic!()
    };
    assert_eq!(ins.rows.len(), 20_000);
    let ors = format!(
        "SELECT * FROM t WHERE {}",
        (0..5_000)
            .map(|i| format!("k = {i}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    let p4 = parsed(&ors);
    assert!(matches!(&p4.top().where_, Some(Tree::Or(v)) if v.len() == 5_000));
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'x>(&mut self, v: &[&'x str]) -> &'x str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

#[test]
fn garbage_never_panics_and_stays_bounded() {
    const FRAGMENTS: &[&str] = &[
        "SELECT",
        "INSERT",
        "INTO",
        "UPDATE",
        "DELETE",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "XOR",
        "(",
        ")",
        "(",
        ")",
        ",",
        ".",
        "*",
        "=",
        "<=>",
        "<",
        "?",
        "1",
        "-",
        "'s'",
        "`q`",
        "t",
        "a.b",
        "IN",
        "BETWEEN",
        "IS",
        "NULL",
        "JOIN",
        "LEFT",
        "ON",
        "USING",
        "GROUP",
        "BY",
        "ORDER",
        "LIMIT",
        "OFFSET",
        "HAVING",
        "UNION",
        "ALL",
        "WITH",
        "AS",
        "VALUES",
        "SET",
        "DUPLICATE",
        "KEY",
        "CASE",
        "WHEN",
        "END",
        "COUNT(*)",
        "SUM",
        "EXISTS",
        "CREATE",
        "TABLE",
        "DROP",
        "INDEX",
        "SHOW",
        "TABLES",
        "LOCK",
        "FOR",
        "USE",
        "EXPLAIN",
        "shardgate",
        "/*+ shardgate: key=1 */",
        "/*+ shardgate: x",
        ";",
        "ROW",
        "REFERENCES",
        "RENAME",
        "TO",
        "DUAL",
        "LATERAL",
        "x'4",
        "0x1",
        "_utf8mb4'a'",
        "@a",
        "@@shardgate_shard_key",
        "DEFAULT",
        "\n",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut worst = Duration::ZERO;
    for round in 0..30_000 {
        let sql: Vec<u8> = if round % 3 == 0 {
            let len = (rng.next() % 48) as usize;
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let len = (rng.next() % 30) as usize;
            let mut s = String::new();
            if round % 3 == 1 {
                s.push_str(rng.pick(&[
                    "SELECT * FROM t WHERE ",
                    "INSERT INTO t VALUES ",
                    "UPDATE t SET a = 1 WHERE ",
                    "DELETE FROM t WHERE ",
                ]));
            }
            for _ in 0..len {
                s.push_str(rng.pick(FRAGMENTS));
                s.push(' ');
            }
            s.into_bytes()
        };
        let t = Instant::now();
        let parsed = parse(&sql, opts());
        worst = worst.max(t.elapsed());
        check(&sql, &parsed);
        let _ = parsed.summary(&sql);
        let _ = mentions(&sql, opts(), b"t");
    }
    assert!(
        worst < Duration::from_millis(200),
        "slowest parse took {worst:?}"
    );
}

/// Rewrites `PARSE_DUMP_IN` (a corpus, or bare SQL lines) with the current
/// summaries into `PARSE_DUMP_OUT`: a tool for extending the corpus, whose
/// new expectations are then reviewed by hand.
#[test]
#[ignore = "tool: regenerates corpus expectations"]
fn dump_corpus() {
    let (Ok(input), Ok(output)) = (
        std::env::var("PARSE_DUMP_IN"),
        std::env::var("PARSE_DUMP_OUT"),
    ) else {
        return;
    };
    let text = std::fs::read_to_string(input).expect("PARSE_DUMP_IN");
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.starts_with("= ")) {
        out.push_str(line);
        out.push('\n');
        if line.trim().is_empty() || line.starts_with("//") {
            continue;
        }
        let sql = line.replace("\\n", "\n");
        let p = parse(sql.as_bytes(), opts());
        out.push_str("= ");
        out.push_str(&p.summary(sql.as_bytes()));
        out.push('\n');
    }
    std::fs::write(output, out).expect("PARSE_DUMP_OUT");
}

#[test]
fn lock_items_run_to_their_comma_and_keep_version_comments() {
    let sql =
        "LOCK TABLES `a` READ /*!32311 LOCAL */,db.b AS x LOW_PRIORITY WRITE , c WRITE -- end\n;";
    let p = parsed(sql);
    let Stmt::LockTables { items } = &p.stmt else {
        panic!("{:?}", p.stmt);
    };
    let texts: Vec<&str> = items.iter().map(|r| txt(sql, r)).collect();
    assert_eq!(
        texts,
        [
            "`a` READ /*!32311 LOCAL */",
            "db.b AS x LOW_PRIORITY WRITE",
            "c WRITE -- end"
        ]
    );
    let p = parsed("LOCK TABLE t READ");
    assert!(matches!(&p.stmt, Stmt::LockTables { items } if items.len() == 1));
}

#[test]
fn load_data_format_and_field_list() {
    let sql = b"LOAD DATA LOCAL INFILE 'd\\'x.csv' IGNORE INTO TABLE t CHARACTER SET latin1 \
        COLUMNS TERMINATED BY 0x2c ENCLOSED BY '\"' LINES STARTING BY '>' TERMINATED BY '\\r\\n' \
        IGNORE 3 ROWS (a, @b, c) SET d = @b * 2, e = NOW()";
    let p = parse(sql, LexOptions::default());
    let Stmt::LoadData(l) = &p.stmt else {
        panic!("{:?}", p.stmt)
    };
    assert!(l.local && !l.xml);
    assert_eq!(l.file, b"d'x.csv");
    assert_eq!(l.charset.as_deref(), Some(&b"latin1"[..]));
    assert_eq!(l.fields_terminated, b",");
    assert_eq!(l.enclosed, b"\"");
    assert_eq!(l.escaped, b"\\");
    assert_eq!(l.lines_starting, b">");
    assert_eq!(l.lines_terminated, b"\r\n");
    let (n, at) = l.ignore_lines.clone().expect("IGNORE n");
    assert_eq!((n, &sql[at]), (3, &b"IGNORE 3 ROWS"[..]));
    let cols: Vec<Option<String>> = l
        .columns
        .as_ref()
        .expect("field list")
        .iter()
        .map(|c| {
            c.as_ref()
                .map(|c| String::from_utf8_lossy(&c.name).into_owned())
        })
        .collect();
    assert_eq!(cols, vec![Some("a".into()), None, Some("c".into())]);
    let set: Vec<&[u8]> = l.set_columns.iter().map(|c| &*c.name).collect();
    assert_eq!(set, vec![&b"d"[..], b"e"]);
    // Defaults.
    let p = parse(b"LOAD DATA INFILE 'f' INTO TABLE t", LexOptions::default());
    let Stmt::LoadData(l) = &p.stmt else { panic!() };
    assert!(!l.local && l.columns.is_none() && l.ignore_lines.is_none());
    assert_eq!(
        (
            &*l.fields_terminated,
            &*l.enclosed,
            &*l.escaped,
            &*l.lines_terminated
        ),
        (&b"\t"[..], &b""[..], &b"\\"[..], &b"\n"[..])
    );
}
