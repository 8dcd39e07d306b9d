//! Feature tests of the merger: union, ORDER BY per type, LIMIT/OFFSET,
//! aggregates, GROUP BY + HAVING, DISTINCT, errors, binary rows,
//! backpressure.

use super::*;
#[test]
fn union_of_three_shards() {
    for caps in [CLASSIC, MODERN] {
        let cols = [c("id", ColumnType::Long), c("name", ColumnType::VarString)];
        let replies = [
            reply(
                caps,
                &cols,
                &[cells(&[Some("1"), Some("a")]), cells(&[Some("2"), None])],
                1,
            ),
            reply(caps, &cols, &[], 0),
            reply(caps, &cols, &[cells(&[Some("3"), Some("c")])], 2),
        ];
        let o = run(MergeSpec::union(), caps, &replies);
        assert_eq!(o.cols.len(), 2);
        assert_eq!(o.cols[1].0, "name");
        let mut ids = col0(&o);
        ids.sort();
        assert_eq!(ids, [Some("1"), Some("2"), Some("3")]);
        assert_eq!(
            o.end,
            End::Eof {
                warnings: 3,
                status: AC
            }
        );
        // classic: count + 2 defs + EOF + 3 rows + EOF
        assert_eq!(o.packets, if caps == CLASSIC { 8 } else { 7 });
    }
}

#[test]
fn order_by_types_nulls_desc_and_multi_column() {
    let cases: Vec<(C, Vec<&str>)> = vec![
        (
            c("i", ColumnType::LongLong),
            vec!["-10", "-2", "0", "7", "100"],
        ),
        // general_ci: upper-cased code points ('_' = 0x5F after 'Z')
        (
            c("s", ColumnType::VarString),
            vec!["a", "B", "c ", "É", "z", "_x"],
        ),
        (
            with_cs(c("u", ColumnType::VarString), 224),
            vec!["_x", "9", "a", "B", "c ", "É", "z"],
        ),
        (
            with_cs(c("b", ColumnType::VarString), 46),
            vec!["B", "Z", "a", "b"],
        ),
        (
            c("d", ColumnType::Date),
            vec!["1999-12-31", "2024-01-01", "2024-02-29"],
        ),
        (
            c("t", ColumnType::Time),
            vec![
                "-100:00:00",
                "-01:00:00",
                "00:00:01",
                "99:00:00",
                "100:00:00",
            ],
        ),
        (
            with_dec(c("n", ColumnType::NewDecimal), 2, 10),
            vec!["-10.00", "-2.50", "0.45", "0.50", "10.50"],
        ),
        (
            c("f", ColumnType::Double),
            vec!["-1e20", "-0.5", "0.25", "999", "1e15"],
        ),
    ];
    for (col, sorted) in cases {
        for desc in [false, true] {
            let mut want: Vec<Option<&str>> = std::iter::once(None)
                .chain(sorted.iter().map(|s| Some(*s)))
                .collect();
            if desc {
                want.reverse();
            }
            // deal the values round robin to 3 shards, each shard sorted
            let mut shards: Vec<Vec<Cells>> = vec![Vec::new(); 3];
            for (i, v) in want.iter().enumerate() {
                shards[(i * 7 + 1) % 3].push(cells(&[*v]));
            }
            let replies: Vec<_> = shards
                .iter()
                .map(|r| reply(MODERN, std::slice::from_ref(&col), r, 0))
                .collect();
            let spec = MergeSpec {
                order_by: vec![OrderKey { column: 0, desc }],
                ..MergeSpec::default()
            };
            let o = run(spec, MODERN, &replies);
            assert_eq!(col0(&o), want, "{} desc={desc}", col.name);
        }
    }
    // two keys: a ASC, s DESC (general_ci: 'b' = 'B'), tie broken by the second
    let cols = [c("a", ColumnType::Long), c("s", ColumnType::VarString)];
    let s1 = vec![
        cells(&[None, Some("x")]),
        cells(&[Some("1"), Some("z")]),
        cells(&[Some("1"), Some("b")]),
    ];
    let s2 = vec![
        cells(&[Some("1"), Some("y")]),
        cells(&[Some("2"), Some("a")]),
    ];
    let spec = MergeSpec {
        order_by: vec![OrderKey::asc(0), OrderKey::desc(1)],
        ..MergeSpec::default()
    };
    let o = run(
        spec,
        CLASSIC,
        &[reply(CLASSIC, &cols, &s1, 0), reply(CLASSIC, &cols, &s2, 0)],
    );
    let got: Vec<_> = o.rows.iter().map(|r| r[1].clone().unwrap()).collect();
    assert_eq!(got, ["x", "z", "y", "b", "a"]);
}

#[test]
fn limit_and_offset_across_shards() {
    let cols = [c("i", ColumnType::Long), c("hidden", ColumnType::Long)];
    let mk = |v: &[i32]| -> Vec<Cells> {
        v.iter()
            .map(|i| vec![Some(i.to_string()), Some("0".into())])
            .collect()
    };
    let replies = [
        reply(MODERN, &cols, &mk(&[1, 2]), 0),
        reply(MODERN, &cols, &mk(&[3, 4, 5, 6, 7, 8]), 0),
        reply(MODERN, &cols, &mk(&[0, 9]), 0),
    ];
    let spec = |offset, count| MergeSpec {
        order_by: vec![OrderKey::asc(0)],
        hidden: 1,
        limit: Some(Limit { offset, count }),
        ..MergeSpec::default()
    };
    let o = run(spec(3, 4), MODERN, &replies);
    assert_eq!(o.cols.len(), 1);
    assert!(o.rows.iter().all(|r| r.len() == 1));
    assert_eq!(col0(&o), [Some("3"), Some("4"), Some("5"), Some("6")]);
    let o = run(spec(9, 5), MODERN, &replies);
    assert_eq!(col0(&o), [Some("9")]);
    let o = run(spec(20, 5), MODERN, &replies);
    assert!(o.rows.is_empty() && matches!(o.end, End::Eof { .. }));
    let o = run(spec(0, 0), CLASSIC, &[reply(CLASSIC, &cols, &mk(&[1]), 0)]);
    assert_eq!((o.cols.len(), o.rows.len()), (1, 0));
    // union + limit stops early: satisfied before the shards are done
    let spec = MergeSpec {
        limit: Some(Limit {
            offset: 0,
            count: 2,
        }),
        ..MergeSpec::default()
    };
    let mut m = Merger::new(spec, 2, MODERN);
    let (mut out, mut seq) = (Vec::new(), 1);
    for (s, r) in replies.iter().take(2).enumerate() {
        for p in &r[..4] {
            m.feed(s, p).unwrap();
        }
    }
    m.poll_output(&mut out, &mut seq);
    assert!(m.satisfied() && m.is_done());
    assert!(!m.wants_more(0) && !m.wants_more(1));
    assert_eq!(decode(&out, MODERN, false).rows.len(), 2);
}

fn agg_cols() -> Vec<C> {
    vec![
        c("COUNT(*)", ColumnType::LongLong),
        with_dec(c("SUM(d)", ColumnType::NewDecimal), 2, 34),
        c("MIN(s)", ColumnType::VarString),
        c("MAX(dt)", ColumnType::DateTime),
        with_dec(c("AVG(i)", ColumnType::NewDecimal), 0, 33), // SUM(i) in place
        c("SUM(f)", ColumnType::Double),
        c("COUNT(i)", ColumnType::LongLong), // hidden
    ]
}

fn agg_spec() -> MergeSpec {
    MergeSpec {
        aggregates: vec![
            (0, Aggregate::Count),
            (1, Aggregate::Sum),
            (2, Aggregate::Min),
            (3, Aggregate::Max),
            (4, Aggregate::Avg { sum: 4, count: 6 }),
            (5, Aggregate::Sum),
        ],
        hidden: 1,
        ..MergeSpec::default()
    }
}

#[test]
fn aggregates_without_group_by() {
    let cols = agg_cols();
    let r = |v: [Option<&str>; 7]| vec![cells(&v)];
    let replies = [
        reply(
            MODERN,
            &cols,
            &r([
                Some("2"),
                Some("1.50"),
                Some("b"),
                Some("2024-01-02 00:00:00"),
                Some("3"),
                Some("0.25"),
                Some("2"),
            ]),
            0,
        ),
        // an empty shard: COUNT 0, everything else NULL
        reply(
            MODERN,
            &cols,
            &r([Some("0"), None, None, None, None, None, Some("0")]),
            0,
        ),
        reply(
            MODERN,
            &cols,
            &r([
                Some("1"),
                Some("-0.25"),
                Some("A"),
                Some("2023-12-31 23:59:59"),
                Some("0"),
                Some("0.5"),
                Some("1"),
            ]),
            0,
        ),
    ];
    let o = run(agg_spec(), MODERN, &replies);
    assert_eq!(o.cols.len(), 6);
    assert_eq!(o.cols[4].0, "AVG(i)");
    assert_eq!(
        (o.cols[4].1, o.cols[4].2, o.cols[4].3),
        (ColumnType::NewDecimal, 4, 16)
    );
    // MariaDB: BINARY without NUM on a NEWDECIMAL AVG (PHP's mysqli shows it)
    assert_eq!(o.flags[4], ColumnFlags::BINARY);
    assert_eq!(
        o.rows,
        [cells(&[
            Some("3"),
            Some("1.25"),
            Some("A"),
            Some("2024-01-02 00:00:00"),
            Some("1.0000"),
            Some("0.75")
        ])]
    );
    // all empty: SUM/AVG/MIN NULL, COUNT 0
    let empty = r([Some("0"), None, None, None, None, None, Some("0")]);
    let o = run(
        agg_spec(),
        CLASSIC,
        &[
            reply(CLASSIC, &cols, &empty, 0),
            reply(CLASSIC, &cols, &empty, 0),
        ],
    );
    assert_eq!(o.rows, [cells(&[Some("0"), None, None, None, None, None])]);
    // AVG of a DOUBLE: DOUBLE = sum / count
    let cols = [
        c("AVG(x)", ColumnType::Double),
        c("c", ColumnType::LongLong),
    ];
    let spec = MergeSpec {
        aggregates: vec![(0, Aggregate::Avg { sum: 0, count: 1 })],
        hidden: 1,
        ..MergeSpec::default()
    };
    let replies = [
        reply(MODERN, &cols, &[cells(&[Some("0.1"), Some("1")])], 0),
        reply(MODERN, &cols, &[cells(&[Some("0.2"), Some("1")])], 0),
    ];
    let o = run(spec, MODERN, &replies);
    assert_eq!((o.cols[0].1, o.cols[0].2), (ColumnType::Double, 31));
    // MariaDB sends BINARY alone (checked with pymysql's raw flags: 128);
    // client libraries add NUM_FLAG for a DOUBLE themselves.
    assert_eq!(o.flags[0], ColumnFlags::BINARY);
    assert_eq!(o.rows, [cells(&[Some("0.15000000000000002")])]);
}

#[test]
fn group_by_with_having_order_and_limit() {
    // SELECT g, COUNT(*), SUM(v), MIN(v), MAX(v), AVG(v) ... GROUP BY g
    // shards: g, COUNT(*), SUM(v), MIN(v), MAX(v), SUM(v) AS `AVG(v)`, COUNT(v) hidden
    let cols = vec![
        c("g", ColumnType::VarString),
        c("COUNT(*)", ColumnType::LongLong),
        with_dec(c("SUM(v)", ColumnType::NewDecimal), 0, 33),
        c("MIN(v)", ColumnType::Long),
        c("MAX(v)", ColumnType::Long),
        with_dec(c("AVG(v)", ColumnType::NewDecimal), 0, 33),
        c("COUNT(v)", ColumnType::LongLong),
    ];
    let row =
        |g: Option<&str>, n: i64, sum: Option<i64>, min: Option<i64>, max: Option<i64>, nv: i64| {
            let s = |v: Option<i64>| v.map(|v| v.to_string());
            vec![
                g.map(String::from),
                Some(n.to_string()),
                s(sum),
                s(min),
                s(max),
                s(sum),
                Some(nv.to_string()),
            ]
        };
    // shard 0 and 1 sorted by g (general_ci: 'a' = 'A')
    let s0 = vec![
        row(None, 1, None, None, None, 0),
        row(Some("a"), 2, Some(3), Some(1), Some(2), 2),
        row(Some("c"), 1, Some(10), Some(10), Some(10), 1),
    ];
    let s1 = vec![
        row(Some("A"), 1, Some(4), Some(4), Some(4), 1),
        row(Some("b"), 3, Some(-3), Some(-5), Some(2), 3),
    ];
    let replies = [reply(MODERN, &cols, &s0, 0), reply(MODERN, &cols, &s1, 0)];
    let base = MergeSpec {
        group_by: vec![0],
        aggregates: vec![
            (1, Aggregate::Count),
            (2, Aggregate::Sum),
            (3, Aggregate::Min),
            (4, Aggregate::Max),
            (5, Aggregate::Avg { sum: 5, count: 6 }),
        ],
        hidden: 1,
        ..MergeSpec::default()
    };
    let all = |g: Option<&str>,
               n: &str,
               sum: Option<&str>,
               min: Option<&str>,
               max: Option<&str>,
               avg: Option<&str>| { cells(&[g, Some(n), sum, min, max, avg]) };
    let ga = all(
        Some("a"),
        "3",
        Some("7"),
        Some("1"),
        Some("4"),
        Some("2.3333"),
    );
    let gb = all(
        Some("b"),
        "3",
        Some("-3"),
        Some("-5"),
        Some("2"),
        Some("-1.0000"),
    );
    let gc = all(
        Some("c"),
        "1",
        Some("10"),
        Some("10"),
        Some("10"),
        Some("10.0000"),
    );
    let gnull = all(None, "1", None, None, None, None);
    // the group's value comes from whichever of 'a' / 'A' arrived first
    let norm = |o: Out| -> Vec<Cells> {
        let mut rows = o.rows;
        for r in &mut rows {
            r[0] = r[0].as_ref().map(|g| g.to_lowercase());
        }
        rows
    };
    // streaming: GROUP BY implies ORDER BY g
    let mut spec = base.clone();
    spec.group_order();
    assert!(spec.needs_sorted_shards());
    let o = run(spec.clone(), MODERN, &replies);
    assert_eq!(norm(o), [gnull.clone(), ga.clone(), gb.clone(), gc.clone()]);
    // ... with HAVING COUNT(*) > 1 AND LIMIT 1 OFFSET 1
    spec.having = Some(Predicate::Cmp {
        column: 1,
        op: CmpOp::Gt,
        value: Literal::Number("1".into()),
    });
    spec.limit = Some(Limit {
        offset: 1,
        count: 1,
    });
    assert_eq!(norm(run(spec, MODERN, &replies)), vec![gb.clone()]);
    // hash mode: ORDER BY SUM(v) DESC; HAVING on the hidden COUNT(v) too
    let mut spec = base.clone();
    spec.order_by = vec![OrderKey::desc(2)];
    assert!(!spec.needs_sorted_shards());
    let o = run(
        spec.clone(),
        CLASSIC,
        &[reply(CLASSIC, &cols, &s1, 0), reply(CLASSIC, &cols, &s0, 0)],
    );
    assert_eq!(norm(o), [gc.clone(), ga.clone(), gb.clone(), gnull.clone()]);
    spec.having = Some(Predicate::And(
        Box::new(Predicate::Cmp {
            column: 6,
            op: CmpOp::Ge,
            value: Literal::Number("1".into()),
        }),
        Box::new(Predicate::Not(Box::new(Predicate::Cmp {
            column: 0,
            op: CmpOp::Eq,
            value: Literal::Str(b"C".to_vec()),
        }))),
    ));
    spec.limit = Some(Limit {
        offset: 0,
        count: 1,
    });
    assert_eq!(norm(run(spec.clone(), MODERN, &replies)), vec![ga.clone()]);
    // ORDER BY AVG(v) ASC (the computed decimal) — the NULL group first
    spec.having = None;
    spec.limit = None;
    spec.order_by = vec![OrderKey::asc(5)];
    let o = run(spec.clone(), MODERN, &replies);
    assert_eq!(norm(o), [gnull, gb, ga, gc]);
    // too many groups
    spec.max_groups = 2;
    let o = run(spec, MODERN, &replies);
    assert!(
        matches!(&o.end, End::Err(1041, m) if m.starts_with("shardgate:")),
        "{:?}",
        o.end
    );
    assert!(o.cols.is_empty());
}

#[test]
fn distinct_across_shards() {
    let cols = [c("s", ColumnType::VarString), c("n", ColumnType::Long)];
    let s0 = vec![
        cells(&[Some("a"), Some("1")]),
        cells(&[Some("b"), Some("1")]),
    ];
    let s1 = vec![
        cells(&[Some("A "), Some("1")]),
        cells(&[Some("b"), Some("2")]),
        cells(&[None, None]),
    ];
    let s2 = vec![cells(&[None, None]), cells(&[Some("b"), Some("1")])];
    let replies = [
        reply(MODERN, &cols, &s0, 0),
        reply(MODERN, &cols, &s1, 0),
        reply(MODERN, &cols, &s2, 0),
    ];
    let spec = MergeSpec {
        distinct: true,
        ..MergeSpec::default()
    };
    let o = run(spec, MODERN, &replies);
    assert_eq!(o.rows.len(), 4, "{:?}", o.rows);
    // sorted + distinct + limit
    let spec = MergeSpec {
        distinct: true,
        order_by: vec![OrderKey::asc(0), OrderKey::asc(1)],
        limit: Some(Limit {
            offset: 1,
            count: 2,
        }),
        ..MergeSpec::default()
    };
    let sorted = |mut v: Vec<Cells>| {
        v.sort_by_key(|r| (r[0].as_ref().map(|s| s.trim().to_uppercase()), r[1].clone()));
        v
    };
    let replies = [
        reply(MODERN, &cols, &sorted(s0), 0),
        reply(MODERN, &cols, &sorted(s1), 0),
        reply(MODERN, &cols, &sorted(s2), 0),
    ];
    let o = run(spec, MODERN, &replies);
    let got: Vec<_> = o
        .rows
        .iter()
        .map(|r| (r[0].clone().map(|s| s.trim().to_lowercase()), r[1].clone()))
        .collect();
    assert_eq!(
        got,
        [
            (Some("a".into()), Some("1".into())),
            (Some("b".into()), Some("1".into()))
        ]
    );
}

#[test]
fn shard_errors() {
    let cols = [c("i", ColumnType::Long)];
    let ok = reply(
        CLASSIC,
        &cols,
        &[cells(&[Some("1")]), cells(&[Some("2")])],
        0,
    );
    // before the definitions: exactly one ERR, whatever the others do
    let o = run(
        MergeSpec::union(),
        CLASSIC,
        &[
            ok.clone(),
            vec![err(1146, "Table 'db.t_0001' doesn't exist")],
            ok.clone(),
        ],
    );
    assert_eq!(
        o.end,
        End::Err(1146, "Table 'db.t_0001' doesn't exist".into())
    );
    assert_eq!(o.packets, 1);
    // after rows went out: rows, then the ERR
    let mut m = Merger::new(MergeSpec::union(), 2, CLASSIC);
    let (mut out, mut seq) = (Vec::new(), 1);
    for s in 0..2 {
        for p in &ok[..4] {
            m.feed(s, p).unwrap();
        }
    }
    m.poll_output(&mut out, &mut seq);
    assert!(m.header_sent() && !m.is_done());
    assert_eq!(
        m.feed(1, &err(1317, "Query execution was interrupted"))
            .unwrap(),
        ShardReply::Complete
    );
    assert!(m.satisfied() && !m.wants_more(0));
    m.poll_output(&mut out, &mut seq);
    assert!(m.is_done());
    let o = decode(&out, CLASSIC, false);
    assert_eq!(o.rows.len(), 2);
    assert_eq!(
        o.end,
        End::Err(1317, "Query execution was interrupted".into())
    );
    // the rest of shard 0 can still be drained
    assert_eq!(m.feed(0, &ok[4]).unwrap(), ShardReply::Pending);
    assert_eq!(m.feed(0, &ok[5]).unwrap(), ShardReply::Complete);
    assert!(m.feed(0, &ok[5]).is_err());
    // malformed bytes: Err for the reactor, ERR 1105 for the client
    let mut m = Merger::new(MergeSpec::union(), 1, CLASSIC);
    m.feed(0, &ok[0]).unwrap();
    assert!(m.feed(0, &[0x03, b'd']).is_err());
    let (mut out, mut seq) = (Vec::new(), 1);
    m.poll_output(&mut out, &mut seq);
    assert!(matches!(
        decode(&out, CLASSIC, false).end,
        End::Err(1105, _)
    ));
    // abort from the reactor (lost backend)
    let mut m = Merger::new(MergeSpec::union(), 2, MODERN);
    m.abort(
        shardgate_proto::error_codes::CR_SERVER_LOST,
        "shardgate: lost shard 1",
    );
    let (mut out, mut seq) = (Vec::new(), 1);
    m.poll_output(&mut out, &mut seq);
    assert!(matches!(decode(&out, MODERN, false).end, End::Err(1158, _)));
}

#[test]
fn refuses_what_it_cannot_compare() {
    let cols = [with_cs(c("s", ColumnType::VarString), 2304)];
    let rows = vec![cells(&[Some("x")])];
    let spec = MergeSpec {
        order_by: vec![OrderKey::asc(0)],
        ..MergeSpec::default()
    };
    let o = run(
        spec.clone(),
        MODERN,
        &[
            reply(MODERN, &cols, &rows, 0),
            reply(MODERN, &cols, &rows, 0),
        ],
    );
    assert!(
        matches!(&o.end, End::Err(1235, m) if m.contains("`s`") && m.starts_with("shardgate:")),
        "{:?}",
        o.end
    );
    // a plain union of the same column is fine
    let o = run(
        MergeSpec::union(),
        MODERN,
        &[reply(MODERN, &cols, &rows, 0)],
    );
    assert_eq!(o.rows.len(), 1);
    // ENUM: ordering refused
    let mut e = c("e", ColumnType::String);
    e.flags = ColumnFlags::ENUM;
    let o = run(spec.clone(), MODERN, &[reply(MODERN, &[e], &rows, 0)]);
    assert!(matches!(o.end, End::Err(1235, _)));
    // a shard out of order
    let cols = [c("i", ColumnType::Long)];
    let bad = vec![cells(&[Some("2")]), cells(&[Some("1")])];
    let o = run(spec.clone(), MODERN, &[reply(MODERN, &cols, &bad, 0)]);
    assert!(matches!(&o.end, End::Err(1105, m) if m.contains("out of ORDER BY order")));
    // ... seen only against the other shard's rows, and in streamed groups
    let ok = vec![cells(&[Some("1")]), cells(&[Some("4")])];
    let bad = vec![cells(&[Some("3")]), cells(&[Some("2")])];
    let both = [reply(MODERN, &cols, &ok, 0), reply(MODERN, &cols, &bad, 0)];
    let o = run(spec.clone(), MODERN, &both);
    assert!(
        matches!(&o.end, End::Err(1105, m) if m.contains("shard 1 returned rows out of ORDER BY order")),
        "{:?}",
        o.end
    );
    let grouped = MergeSpec {
        group_by: vec![0],
        order_by: vec![OrderKey::asc(0)],
        ..MergeSpec::default()
    };
    let o = run(grouped, MODERN, &both);
    assert!(
        matches!(&o.end, End::Err(1105, m) if m.contains("out of ORDER BY order")),
        "{:?}",
        o.end
    );
    // shards disagree on the columns
    let two = [c("i", ColumnType::Long), c("j", ColumnType::Long)];
    let o = run(
        MergeSpec::union(),
        MODERN,
        &[reply(MODERN, &cols, &[], 0), reply(MODERN, &two, &[], 0)],
    );
    assert!(matches!(o.end, End::Err(1105, _)));
    // a spec that does not fit the result
    let o = run(
        MergeSpec {
            hidden: 3,
            ..MergeSpec::default()
        },
        MODERN,
        &[reply(MODERN, &cols, &[], 0)],
    );
    assert!(matches!(o.end, End::Err(1105, _)));
    // an OK instead of a result set
    let mut okp = Vec::new();
    OkPacket::new(0, 0, AC, 0).encode(&mut okp, MODERN);
    let o = run(MergeSpec::union(), MODERN, &[vec![okp]]);
    assert!(matches!(o.end, End::Err(1105, _)));
}

#[test]
fn binary_protocol_rows() {
    let cols = [
        c("i", ColumnType::LongLong),
        c("s", ColumnType::VarString),
        c("h", ColumnType::Double),
    ];
    let r = |i: i64, s: Option<&'static str>| {
        vec![
            Value::Int(i),
            s.map_or(Value::Null, |s| Value::Bytes(s.as_bytes())),
            Value::Double(0.5),
        ]
    };
    let replies = [
        reply_bin(MODERN, &cols, &[r(1, Some("a")), r(4, None)]),
        reply_bin(
            MODERN,
            &cols,
            &[r(2, Some("b")), r(3, Some("c")), r(9, Some("z"))],
        ),
    ];
    let spec = MergeSpec {
        binary: true,
        hidden: 1,
        order_by: vec![OrderKey::asc(0)],
        limit: Some(Limit {
            offset: 0,
            count: 4,
        }),
        ..MergeSpec::default()
    };
    let o = run(spec, MODERN, &replies);
    assert_eq!(o.cols.len(), 2);
    let got: Vec<_> = o
        .rows
        .iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("1".into(), Some("a".into())),
            ("2".into(), Some("b".into())),
            ("3".into(), Some("c".into())),
            ("4".into(), None)
        ]
    );
    // aggregates in binary: COUNT, SUM(decimal), AVG(decimal), SUM(double)
    let cols = [
        c("COUNT(*)", ColumnType::LongLong),
        with_dec(c("SUM(d)", ColumnType::NewDecimal), 2, 34),
        with_dec(c("AVG(d)", ColumnType::NewDecimal), 2, 34),
        c("SUM(f)", ColumnType::Double),
        c("COUNT(d)", ColumnType::LongLong),
    ];
    let row = |n: i64, d: &'static str, f: f64| {
        vec![
            Value::Int(n),
            Value::Bytes(d.as_bytes()),
            Value::Bytes(d.as_bytes()),
            Value::Double(f),
            Value::Int(n),
        ]
    };
    let replies = [
        reply_bin(MODERN, &cols, &[row(2, "1.50", 0.5)]),
        reply_bin(MODERN, &cols, &[row(1, "0.25", 1.0)]),
    ];
    let spec = MergeSpec {
        binary: true,
        hidden: 1,
        aggregates: vec![
            (0, Aggregate::Count),
            (1, Aggregate::Sum),
            (2, Aggregate::Avg { sum: 2, count: 4 }),
            (3, Aggregate::Sum),
        ],
        ..MergeSpec::default()
    };
    let o = run(spec, MODERN, &replies);
    assert_eq!(
        o.rows,
        [cells(&[
            Some("3"),
            Some("1.75"),
            Some("0.583333"),
            Some("1.5")
        ])]
    );
    assert_eq!((o.cols[2].1, o.cols[2].2), (ColumnType::NewDecimal, 6));
}

#[test]
fn backpressure() {
    let cols = [c("i", ColumnType::Long)];
    let rows: Vec<Cells> = (0..10).map(|i| cells(&[Some(&i.to_string())])).collect();
    let r0 = reply(MODERN, &cols, &rows, 0);
    let r1 = reply(MODERN, &cols, &rows, 0);
    let spec = MergeSpec {
        order_by: vec![OrderKey::asc(0)],
        buffer_rows: 3,
        ..MergeSpec::default()
    };
    let mut m = Merger::new(spec, 2, MODERN);
    let (mut out, mut seq) = (Vec::new(), 1);
    // shard 0 sends its header and rows; shard 1 nothing yet
    let mut fed = 0;
    while m.wants_more(0) {
        m.feed(0, &r0[fed]).unwrap();
        fed += 1;
        m.poll_output(&mut out, &mut seq);
    }
    assert_eq!(fed, 2 + 3, "header + buffer_rows rows, then stop");
    assert!(out.is_empty(), "nothing can go out before shard 1 answers");
    assert!(m.wants_more(1));
    for p in &r1[..3] {
        m.feed(1, p).unwrap();
    }
    m.poll_output(&mut out, &mut seq);
    // shard 1's first row let the merge emit; shard 1 is empty again
    assert!(m.header_sent());
    assert!(m.wants_more(1));
    // a plain union passes rows straight through
    let mut m = Merger::new(
        MergeSpec {
            buffer_rows: 3,
            ..MergeSpec::default()
        },
        2,
        MODERN,
    );
    let (mut out, mut seq) = (Vec::new(), 1);
    for p in &r0[..2] {
        m.feed(0, p).unwrap();
        m.feed(1, p).unwrap();
    }
    for p in &r0[2..8] {
        assert!(m.wants_more(0));
        m.feed(0, p).unwrap();
        let before = out.len();
        m.poll_output(&mut out, &mut seq);
        assert!(out.len() > before, "each row goes out at once");
    }
    // a grouped merge reads everything
    let spec = MergeSpec {
        aggregates: vec![(0, Aggregate::Count)],
        buffer_rows: 1,
        ..MergeSpec::default()
    };
    let mut m = Merger::new(spec, 2, MODERN);
    for p in &r0[..5] {
        m.feed(0, p).unwrap();
    }
    assert!(m.wants_more(0));
}

/// A pinned session's shards of one node answer one after the other: the
/// ORDER BY merge takes a shard's whole reply before the next one starts.
/// That works, and is bounded by `max_buffered_bytes`.
#[test]
fn sequential_shards_are_buffered_within_the_byte_bound() {
    let cols = [c("i", ColumnType::Long)];
    let even: Vec<Cells> = (0..50)
        .map(|i| cells(&[Some(&(2 * i).to_string())]))
        .collect();
    let odd: Vec<Cells> = (0..50)
        .map(|i| cells(&[Some(&(2 * i + 1).to_string())]))
        .collect();
    let replies = [
        reply(MODERN, &cols, &even, 0),
        reply(MODERN, &cols, &odd, 0),
    ];
    let sequential = |max_buffered_bytes: usize| {
        let spec = MergeSpec {
            order_by: vec![OrderKey::asc(0)],
            buffer_rows: 3,
            max_buffered_bytes,
            ..MergeSpec::default()
        };
        let mut m = Merger::new(spec, 2, MODERN);
        let (mut out, mut seq) = (Vec::new(), 1);
        for (shard, r) in replies.iter().enumerate() {
            for p in r {
                m.feed(shard, p).unwrap();
                m.poll_output(&mut out, &mut seq);
            }
        }
        m.poll_output(&mut out, &mut seq);
        assert!(m.is_done());
        decode(&out, MODERN, false)
    };
    let o = sequential(1 << 20);
    let want: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(
        col0(&o),
        want.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>()
    );
    // 50 rows of a few bytes each do not fit in 200 bytes.
    let o = sequential(200);
    assert!(
        matches!(&o.end, End::Err(1041, m) if m.starts_with("shardgate:") && m.contains("ORDER BY merge")),
        "{:?}",
        o.end
    );
    assert!(o.rows.is_empty());
}

#[test]
fn count_distinct_counts_values_by_collation_across_shards() {
    // The shards grouped by (g, s) and return s itself for COUNT(DISTINCT s).
    let cols = [
        c("g", ColumnType::Long),
        with_cs(c("COUNT(DISTINCT s)", ColumnType::VarString), 45),
    ];
    let s0 = vec![
        cells(&[Some("1"), Some("a")]),
        cells(&[Some("1"), Some("b")]),
        cells(&[Some("2"), None]),
    ];
    let s1 = vec![
        cells(&[Some("1"), Some("A")]),
        cells(&[Some("1"), Some("c")]),
        cells(&[Some("2"), Some("x")]),
    ];
    let spec = MergeSpec {
        group_by: vec![0],
        aggregates: vec![(1, Aggregate::CountDistinct)],
        ..MergeSpec::default()
    };
    let replies = [reply(MODERN, &cols, &s0, 0), reply(MODERN, &cols, &s1, 0)];
    let o = run(spec.clone(), MODERN, &replies);
    assert!(matches!(o.end, End::Eof { .. }), "{:?}", o.end);
    // 'a' = 'A' under utf8mb4_general_ci; NULL is not counted.
    assert_eq!(
        o.rows,
        vec![
            cells(&[Some("1"), Some("3")]),
            cells(&[Some("2"), Some("1")])
        ]
    );
    assert_eq!(o.cols[1].0, "COUNT(DISTINCT s)");
    assert_eq!(o.cols[1].1, ColumnType::LongLong, "defined as COUNT");
    // Without GROUP BY and without rows: one row, 0.
    let global = MergeSpec {
        aggregates: vec![(0, Aggregate::CountDistinct)],
        ..MergeSpec::default()
    };
    let one = [with_cs(c("n", ColumnType::VarString), 45)];
    let empty = [reply(MODERN, &one, &[], 0), reply(MODERN, &one, &[], 0)];
    let o = run(global, MODERN, &empty);
    assert_eq!(o.rows, vec![cells(&[Some("0")])]);
}

#[test]
fn float_sums_do_not_depend_on_the_order_shards_answer_in() {
    // 1e16 + 1 + 1 is 1e16 summed left to right, 1e16 + 2 the other way
    let cols = [c("SUM(f)", ColumnType::Double)];
    let spec = || MergeSpec {
        aggregates: vec![(0, Aggregate::Sum)],
        ..MergeSpec::default()
    };
    let shard = |v: &str| reply(MODERN, &cols, &[cells(&[Some(v)])], 0);
    let orders = [["1e16", "1", "1"], ["1", "1", "1e16"], ["1", "1e16", "1"]];
    let outs: Vec<_> = orders
        .iter()
        .map(|o| run(spec(), MODERN, &o.map(shard)).rows)
        .collect();
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
    let text = outs[0][0][0].as_deref().unwrap();
    assert_eq!(text.parse::<f64>().unwrap(), 1e16 + 2.0, "{text}");
}

#[test]
fn sum_and_avg_of_distinct_values_over_shards() {
    // SELECT SUM(DISTINCT x), AVG(DISTINCT x): the shards return x (twice),
    // grouped by it; 2 is on both shards, NULL is not counted
    let cols = [
        c("SUM(DISTINCT x)", ColumnType::Long),
        c("AVG(DISTINCT x)", ColumnType::Long),
    ];
    let spec = || MergeSpec {
        aggregates: vec![(0, Aggregate::SumDistinct), (1, Aggregate::AvgDistinct)],
        ..MergeSpec::default()
    };
    let rows = |v: &[Option<&str>]| v.iter().map(|x| cells(&[*x, *x])).collect::<Vec<_>>();
    let replies = [
        reply(MODERN, &cols, &rows(&[Some("1"), Some("2")]), 0),
        reply(MODERN, &cols, &rows(&[Some("2"), Some("3"), None]), 0),
    ];
    let o = run(spec(), MODERN, &replies);
    assert_eq!((o.cols[0].1, o.cols[0].2), (ColumnType::NewDecimal, 0));
    assert_eq!((o.cols[1].1, o.cols[1].2), (ColumnType::NewDecimal, 4));
    assert_eq!(o.rows, [cells(&[Some("6"), Some("2.0000")])]);
    // no rows anywhere: one row of NULLs
    let empty = [reply(MODERN, &cols, &[], 0), reply(MODERN, &cols, &[], 0)];
    assert_eq!(run(spec(), MODERN, &empty).rows, [cells(&[None, None])]);
    // a DOUBLE column: summed as doubles, exactly
    let cols = [
        c("SUM(DISTINCT f)", ColumnType::Double),
        c("AVG(DISTINCT f)", ColumnType::Double),
    ];
    let replies = [
        reply(MODERN, &cols, &rows(&[Some("0.5"), Some("1e16")]), 0),
        reply(MODERN, &cols, &rows(&[Some("1"), Some("0.5")]), 0),
    ];
    let o = run(spec(), MODERN, &replies);
    assert_eq!(o.cols[0].1, ColumnType::Double);
    let sum: f64 = o.rows[0][0].as_deref().unwrap().parse().unwrap();
    // 1e16 + 1.5 rounded once (a running sum could give 1e16)
    assert_eq!(sum, 1e16 + 2.0);
}

#[test]
fn avg_of_a_decimal_is_held_truncated_like_the_server() {
    // AVG of DECIMAL(10,5): 9 decimals; MariaDB holds 2/3 as 0.666666666
    // (a 9-digit word, truncated) and shows it as it holds it.
    let cols = [
        with_dec(c("AVG(x)", ColumnType::NewDecimal), 5, 33),
        c("COUNT(x)", ColumnType::LongLong),
    ];
    let spec = MergeSpec {
        aggregates: vec![(0, Aggregate::Avg { sum: 0, count: 1 })],
        hidden: 1,
        ..MergeSpec::default()
    };
    let replies = [
        reply(MODERN, &cols, &[cells(&[Some("1.00000"), Some("2")])], 0),
        reply(MODERN, &cols, &[cells(&[Some("1.00000"), Some("1")])], 0),
    ];
    let o = run(spec, MODERN, &replies);
    assert_eq!(o.rows, [cells(&[Some("0.666666666")])]);
}

#[test]
fn expressions_over_merged_aggregates() {
    // SELECT SUM(v) / COUNT(*), COUNT(*) > 2, ROUND(AVG(v), 1): the shards
    // compute the items on their own rows (ignored) and return SUM(v),
    // COUNT(*), SUM(v) and COUNT(v) hidden.
    use crate::merge::{CmpOp, Expr, ExprOp, Num};
    let cols = [
        with_dec(c("SUM(v) / COUNT(*)", ColumnType::NewDecimal), 6, 40),
        c("COUNT(*) > 2", ColumnType::Long),
        with_dec(c("ROUND(AVG(v), 1)", ColumnType::NewDecimal), 1, 36),
        with_dec(c("SUM(v)", ColumnType::NewDecimal), 2, 34),
        c("COUNT(*)", ColumnType::LongLong),
        c("COUNT(v)", ColumnType::LongLong),
    ];
    let col = |c| Box::new(Expr::Column(c));
    let spec = MergeSpec {
        aggregates: vec![
            (3, Aggregate::Sum),
            (4, Aggregate::Count),
            (5, Aggregate::Count),
        ],
        exprs: vec![
            (0, Expr::Bin(ExprOp::Div, col(3), col(4))),
            (
                1,
                Expr::Cmp(CmpOp::Gt, col(4), Box::new(Expr::Const(Some(Num::Int(2))))),
            ),
            (
                2,
                Expr::Round {
                    arg: Box::new(Expr::Avg { sum: 3, count: 5 }),
                    places: 1,
                    truncate: false,
                },
            ),
        ],
        hidden: 3,
        ..MergeSpec::default()
    };
    // Per-shard values of the items are nonsense on purpose.
    let replies = [
        reply(
            MODERN,
            &cols,
            &[cells(&[
                Some("9"),
                Some("0"),
                Some("9"),
                Some("1.00"),
                Some("2"),
                Some("2"),
            ])],
            0,
        ),
        reply(
            MODERN,
            &cols,
            &[cells(&[
                Some("9"),
                Some("0"),
                Some("9"),
                Some("1.05"),
                Some("1"),
                Some("1"),
            ])],
            0,
        ),
    ];
    let o = run(spec.clone(), MODERN, &replies);
    // 2.05 / 3 = 0.683333333 (held) -> 0.683333; AVG 0.68333.. -> 0.7
    assert_eq!(o.rows, [cells(&[Some("0.683333"), Some("1"), Some("0.7")])]);
    // The same over the binary protocol.
    let bin = MergeSpec {
        binary: true,
        ..spec
    };
    let row = |a: &'static str, n: i64| {
        vec![
            Value::Bytes(b"9"),
            Value::Int(0),
            Value::Bytes(b"9"),
            Value::Bytes(a.as_bytes()),
            Value::Int(n),
            Value::Int(n),
        ]
    };
    let replies = [
        reply_bin(MODERN, &cols, &[row("1.00", 2)]),
        reply_bin(MODERN, &cols, &[row("1.05", 1)]),
    ];
    let o = run(bin, MODERN, &replies);
    assert_eq!(o.rows, [cells(&[Some("0.683333"), Some("1"), Some("0.7")])]);
}

#[test]
fn count_of_a_merged_derived_table() {
    // SELECT COUNT(*) AS aggregate FROM (SELECT g, COUNT(*) FROM t GROUP BY g) x:
    // the groups are merged (a and b are on both shards), then counted.
    let cols = [
        c("g", ColumnType::VarString),
        c("COUNT(*)", ColumnType::LongLong),
    ];
    let spec = MergeSpec {
        group_by: vec![0],
        aggregates: vec![(1, Aggregate::Count)],
        count_rows: Some(b"aggregate".to_vec()),
        ..MergeSpec::default()
    };
    let rows = |v: &[(&str, &str)]| -> Vec<Cells> {
        v.iter().map(|(g, n)| cells(&[Some(g), Some(n)])).collect()
    };
    for caps in [CLASSIC, MODERN] {
        let replies = [
            reply(caps, &cols, &rows(&[("a", "1"), ("b", "2")]), 0),
            reply(caps, &cols, &rows(&[("a", "3"), ("b", "1"), ("c", "1")]), 0),
        ];
        let o = run(spec.clone(), caps, &replies);
        assert_eq!(o.cols.len(), 1);
        assert_eq!(
            (o.cols[0].0.as_str(), o.cols[0].1),
            ("aggregate", ColumnType::LongLong)
        );
        assert_eq!(o.flags[0], ColumnFlags::NOT_NULL | ColumnFlags::BINARY);
        assert_eq!(o.rows, [cells(&[Some("3")])]);
    }
    // No rows at all: one row, 0. With LIMIT 1, 5 on the derived table: 2.
    let empty = [reply(MODERN, &cols, &[], 0), reply(MODERN, &cols, &[], 0)];
    assert_eq!(
        run(spec.clone(), MODERN, &empty).rows,
        [cells(&[Some("0")])]
    );
    let limited = MergeSpec {
        limit: Some(Limit {
            offset: 1,
            count: 5,
        }),
        ..spec.clone()
    };
    let replies = [
        reply(MODERN, &cols, &rows(&[("a", "1"), ("b", "2")]), 0),
        reply(MODERN, &cols, &rows(&[("c", "1")]), 0),
    ];
    assert_eq!(run(limited, MODERN, &replies).rows, [cells(&[Some("2")])]);
    // Binary protocol: the count as a BIGINT value.
    let bin = MergeSpec {
        binary: true,
        ..spec
    };
    let r = |g: &'static str, n: i64| vec![Value::Bytes(g.as_bytes()), Value::Int(n)];
    let replies = [
        reply_bin(MODERN, &cols, &[r("a", 1)]),
        reply_bin(MODERN, &cols, &[r("a", 2), r("z", 1)]),
    ];
    assert_eq!(run(bin, MODERN, &replies).rows, [cells(&[Some("2")])]);
}

#[test]
fn expression_columns_counted_from_the_end_after_a_star() {
    // SELECT COUNT(*) + 1, t.* ...: the hidden COUNT(*) is the last column,
    // named from the end (the star's width is known only at run time).
    use crate::merge::{Expr, ExprOp, Num};
    let cols = [
        c("COUNT(*) + 1", ColumnType::LongLong),
        c("a", ColumnType::Long),
        c("b", ColumnType::Long),
        c("COUNT(*)", ColumnType::LongLong),
    ];
    let last = MergeSpec::from_end(0);
    let spec = MergeSpec {
        aggregates: vec![(last, Aggregate::Count)],
        exprs: vec![(
            0,
            Expr::Bin(
                ExprOp::Add,
                Box::new(Expr::Column(last)),
                Box::new(Expr::Const(Some(Num::Int(1)))),
            ),
        )],
        hidden: 1,
        ..MergeSpec::default()
    };
    let replies = [
        reply(
            MODERN,
            &cols,
            &[cells(&[Some("5"), Some("1"), Some("2"), Some("4")])],
            0,
        ),
        reply(
            MODERN,
            &cols,
            &[cells(&[Some("3"), Some("1"), Some("2"), Some("2")])],
            0,
        ),
    ];
    let o = run(spec, MODERN, &replies);
    assert_eq!(o.rows, [cells(&[Some("7"), Some("1"), Some("2")])]);
}
