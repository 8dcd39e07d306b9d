//! Routing-parser benchmarks: the CPU a worker spends turning a statement
//! into what the sharding planner needs (`shardgate::sql::parse`), on the
//! statements of the budget — a sysbench point SELECT (parse and
//! route together must stay well under 2 µs), a 3-row INSERT (rows split
//! per shard) and a scatter SELECT with ORDER BY / LIMIT (merge inputs) —
//! plus classify + parse of the point SELECT, which is what a worker runs
//! for every COM_QUERY.
//!
//! Run: `cargo bench --bench sql_route -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use shardgate::sql::{classify, parse, LexOptions};

const POINT: &[u8] = b"SELECT c FROM sbtest1 WHERE id=42";
const INSERT3: &[u8] = b"INSERT INTO article (id, user_id, title, created) VALUES \
    (1, 1001, 'first post', '2024-01-01 10:00:00'), \
    (2, 1002, 'second post', '2024-01-02 11:00:00'), \
    (3, 1001, 'third post', '2024-01-03 12:00:00')";
const SCATTER: &[u8] = b"SELECT a.id, a.title, a.user_id, a.created FROM article a \
    WHERE a.created >= '2024-01-01' AND a.status IN (1, 2) \
    ORDER BY a.created DESC, a.id LIMIT 20, 10";

fn benches(c: &mut Criterion) {
    let opts = LexOptions::default();
    // Sanity: the statements parse completely.
    for sql in [POINT, INSERT3, SCATTER] {
        let p = parse(sql, opts);
        assert!(p.analysed(), "{}", String::from_utf8_lossy(sql));
    }
    let mut g = c.benchmark_group("sql_route");
    for (name, sql) in [
        ("parse_point_select", POINT),
        ("parse_insert_3_rows", INSERT3),
        ("parse_scatter_order_limit", SCATTER),
    ] {
        g.throughput(Throughput::Bytes(sql.len() as u64));
        g.bench_function(name, |b| b.iter(|| parse(black_box(sql), opts)));
    }
    g.throughput(Throughput::Bytes(POINT.len() as u64));
    g.bench_function("classify_and_parse_point_select", |b| {
        b.iter(|| {
            let st = classify(black_box(POINT), opts);
            let p = parse(black_box(POINT), opts);
            (st.is_write, p.tables.len())
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
