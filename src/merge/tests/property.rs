//! Property tests: random rows split randomly over shards, each shard
//! sorted / aggregated as a server would, merged output compared with a
//! reference computed over all rows (deterministic PRNG, no extra crates).

use super::*;

/// A generated row: k INT NULL, s VARCHAR general_ci, d DECIMAL(8,2) in
/// cents, f DOUBLE in quarters (exact sums), dt DATE.
#[derive(Debug, Clone)]
struct Gen {
    k: Option<i64>,
    s: String,
    d: Option<i64>,
    f: Option<i64>,
    dt: (u16, u8, u8),
}

fn cents(v: i64) -> String {
    let sign = if v < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", v.abs() / 100, v.abs() % 100)
}

fn quarters(v: i64) -> String {
    let mut t = Vec::new();
    Value::Double(v as f64 / 4.0).to_text(&mut t);
    String::from_utf8(t).unwrap()
}

/// The reference collation key for the generated strings (letters a-c in
/// either case, optional trailing space): upper case, trailing spaces off.
fn sref(s: &str) -> String {
    s.trim_end_matches(' ').to_uppercase()
}

fn gen_rows(rng: &mut Rng, n: usize) -> Vec<Gen> {
    (0..n)
        .map(|_| {
            let len = rng.below(3) as usize;
            let mut s: String = (0..len)
                .map(|_| ["a", "A", "b", "B", "c", "C"][rng.below(6) as usize])
                .collect();
            if rng.below(4) == 0 {
                s.push(' ');
            }
            Gen {
                k: (rng.below(8) != 0).then(|| rng.below(7) as i64 - 3),
                s,
                d: (rng.below(6) != 0).then(|| rng.below(20001) as i64 - 10000),
                f: (rng.below(6) != 0).then(|| rng.below(401) as i64 - 200),
                dt: (
                    2000 + rng.below(30) as u16,
                    1 + rng.below(12) as u8,
                    1 + rng.below(28) as u8,
                ),
            }
        })
        .collect()
}

fn split(rng: &mut Rng, rows: &[Gen], shards: usize) -> Vec<Vec<Gen>> {
    let mut out = vec![Vec::new(); shards];
    for r in rows {
        out[rng.below(shards as u64) as usize].push(r.clone());
    }
    out
}

#[test]
fn property_sorted_merge_with_limit() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let cols = [
        c("k", ColumnType::Long),
        c("s", ColumnType::VarString),
        with_dec(c("d", ColumnType::NewDecimal), 2, 10),
        c("dt", ColumnType::Date),
    ];
    for round in 0..150 {
        let n = rng.below(60) as usize;
        let rows = gen_rows(&mut rng, n);
        let shards = 1 + rng.below(5) as usize;
        let descs = [rng.below(2) == 1, rng.below(2) == 1, rng.below(2) == 1];
        // reference order key: (k, s, d) with NULL first, per-column direction
        type RefKey = (Option<i64>, String, Option<i64>);
        let key = |g: &Gen| -> RefKey { (g.k, sref(&g.s), g.d) };
        let cmp = |a: &RefKey, b: &RefKey| {
            let o = [a.0.cmp(&b.0), a.1.cmp(&b.1), a.2.cmp(&b.2)];
            o.iter()
                .zip(descs)
                .map(|(o, d)| if d { o.reverse() } else { *o })
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        };
        let mut want = rows.clone();
        want.sort_by(|a, b| cmp(&key(a), &key(b)));
        let limit = (rng.below(3) == 0).then(|| Limit {
            offset: rng.below(20),
            count: rng.below(30),
        });
        let caps = if round % 2 == 0 { MODERN } else { CLASSIC };
        let replies: Vec<_> = split(&mut rng, &rows, shards)
            .into_iter()
            .map(|mut part| {
                part.sort_by(|a, b| cmp(&key(a), &key(b)));
                let cells: Vec<Cells> = part
                    .iter()
                    .map(|g| {
                        vec![
                            g.k.map(|k| k.to_string()),
                            Some(g.s.clone()),
                            g.d.map(cents),
                            Some(format!("{:04}-{:02}-{:02}", g.dt.0, g.dt.1, g.dt.2)),
                        ]
                    })
                    .collect();
                reply(caps, &cols, &cells, 1)
            })
            .collect();
        let spec = MergeSpec {
            order_by: (0..3)
                .map(|c| OrderKey {
                    column: c,
                    desc: descs[c],
                })
                .collect(),
            limit,
            buffer_rows: 1 + rng.below(4) as usize,
            ..MergeSpec::default()
        };
        let (o, _) = run_with(spec, caps, &replies, &mut rng);
        let got: Vec<RefKey> = o
            .rows
            .iter()
            .map(|r| {
                (
                    r[0].as_ref().map(|k| k.parse().unwrap()),
                    sref(r[1].as_ref().unwrap()),
                    r[2].as_ref()
                        .map(|d| (d.parse::<f64>().unwrap() * 100.0).round() as i64),
                )
            })
            .collect();
        let mut want_keys: Vec<RefKey> = want.iter().map(key).collect();
        if let Some(l) = limit {
            want_keys = want_keys
                .into_iter()
                .skip(l.offset as usize)
                .take(l.count as usize)
                .collect();
        }
        assert_eq!(got, want_keys, "round {round}");
        if limit.is_none() {
            assert_eq!(
                o.end,
                End::Eof {
                    warnings: shards as u16,
                    status: AC
                },
                "round {round}"
            );
        }
    }
}

#[test]
fn property_group_by_aggregates() {
    let mut rng = Rng(0xFEED_FACE_0000_0002);
    // shards: k, COUNT(*), SUM(d), MIN(s), MAX(dt), SUM(f) AS `AVG(f)`, COUNT(f) hidden
    let cols = vec![
        c("k", ColumnType::Long),
        c("COUNT(*)", ColumnType::LongLong),
        with_dec(c("SUM(d)", ColumnType::NewDecimal), 2, 34),
        c("MIN(s)", ColumnType::VarString),
        c("MAX(dt)", ColumnType::Date),
        c("AVG(f)", ColumnType::Double),
        c("COUNT(f)", ColumnType::LongLong),
    ];
    #[derive(Debug, Default, Clone)]
    struct Agg {
        n: i64,
        sum_d: Option<i64>,
        min_s: Option<String>,
        max_dt: Option<(u16, u8, u8)>,
        sum_f: Option<i64>,
        n_f: i64,
    }
    fn aggregate(rows: &[Gen]) -> Vec<(Option<i64>, Agg)> {
        let mut groups: std::collections::BTreeMap<Option<i64>, Agg> = Default::default();
        for g in rows {
            let a = groups.entry(g.k).or_default();
            a.n += 1;
            if let Some(d) = g.d {
                a.sum_d = Some(a.sum_d.unwrap_or(0) + d);
            }
            if a.min_s.as_ref().is_none_or(|m| sref(&g.s) < sref(m)) {
                a.min_s = Some(g.s.clone());
            }
            a.max_dt = a.max_dt.max(Some(g.dt));
            if let Some(f) = g.f {
                a.sum_f = Some(a.sum_f.unwrap_or(0) + f);
                a.n_f += 1;
            }
        }
        groups.into_iter().collect()
    }
    let date = |d: (u16, u8, u8)| format!("{:04}-{:02}-{:02}", d.0, d.1, d.2);
    for round in 0..150 {
        let n = rng.below(80) as usize;
        let rows = gen_rows(&mut rng, n);
        let shards = 1 + rng.below(5) as usize;
        let streaming = rng.below(2) == 0;
        let caps = if round % 2 == 0 { MODERN } else { CLASSIC };
        let mut spec = MergeSpec {
            group_by: vec![0],
            aggregates: vec![
                (1, Aggregate::Count),
                (2, Aggregate::Sum),
                (3, Aggregate::Min),
                (4, Aggregate::Max),
                (5, Aggregate::Avg { sum: 5, count: 6 }),
            ],
            hidden: 1,
            max_groups: 1000,
            buffer_rows: 1 + rng.below(3) as usize,
            ..MergeSpec::default()
        };
        if streaming {
            spec.group_order();
        } else {
            spec.order_by = vec![OrderKey::desc(1), OrderKey::asc(0)]; // ORDER BY COUNT(*) DESC, k
        }
        let having = rng.below(3) == 0;
        if having {
            spec.having = Some(Predicate::Cmp {
                column: 1,
                op: CmpOp::Ge,
                value: Literal::Number("2".into()),
            });
        }
        let limit = (rng.below(3) == 0).then(|| Limit {
            offset: rng.below(3),
            count: rng.below(5),
        });
        spec.limit = limit;
        let replies: Vec<_> = split(&mut rng, &rows, shards)
            .iter()
            .map(|part| {
                let mut groups = aggregate(part);
                if !streaming && rng.below(2) == 0 {
                    groups.reverse(); // ORDER BY NULL at the shards: any order
                }
                let cells: Vec<Cells> = groups
                    .iter()
                    .map(|(k, a)| {
                        vec![
                            k.map(|k| k.to_string()),
                            Some(a.n.to_string()),
                            a.sum_d.map(cents),
                            a.min_s.clone(),
                            a.max_dt.map(date),
                            a.sum_f.map(quarters),
                            Some(a.n_f.to_string()),
                        ]
                    })
                    .collect();
                reply(caps, &cols, &cells, 0)
            })
            .collect();
        let mut want = aggregate(&rows);
        if having {
            want.retain(|(_, a)| a.n >= 2);
        }
        if !streaming {
            want.sort_by(|x, y| y.1.n.cmp(&x.1.n).then(x.0.cmp(&y.0)));
        }
        if let Some(l) = limit {
            want = want
                .into_iter()
                .skip(l.offset as usize)
                .take(l.count as usize)
                .collect();
        }
        let want: Vec<Cells> = want
            .iter()
            .map(|(k, a)| {
                let avg = (a.n_f > 0).then(|| {
                    let mut t = Vec::new();
                    Value::Double(a.sum_f.unwrap_or(0) as f64 / 4.0 / a.n_f as f64).to_text(&mut t);
                    String::from_utf8(t).unwrap()
                });
                vec![
                    k.map(|k| k.to_string()),
                    Some(a.n.to_string()),
                    a.sum_d.map(cents),
                    a.min_s.as_deref().map(sref),
                    a.max_dt.map(date),
                    avg,
                ]
            })
            .collect();
        let (mut o, _) = run_with(spec, caps, &replies, &mut rng);
        for r in &mut o.rows {
            r[3] = r[3].as_deref().map(sref);
        }
        assert_eq!(o.rows, want, "round {round} streaming={streaming}");
        assert!(matches!(o.end, End::Eof { .. }));
    }
}
