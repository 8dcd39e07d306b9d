//! Planning benchmarks: the CPU shardgate spends turning one COM_QUERY into
//! a plan (`shardgate::route::plan_query`: parse, find the shard(s), rewrite
//! the table names, pick the merge step) on a sharded topology, no I/O.
//! Issue 4's budget: a typical point SELECT is parsed and routed in under
//! 2 µs of CPU. Also measured: a 3-row INSERT split over shards and a
//! scatter SELECT with ORDER BY / LIMIT (every shard, merge plan).
//!
//! The topology is schema `sbtest` with `sbtest1` sharded by `id` over two
//! groups with a hash rule (2 tables per group, 4 shards) and `article`
//! sharded by `user_id` with a range rule, as in bench/sharding.sh.
//!
//! Run: `cargo bench --bench route_plan -- --warm-up-time 1 --measurement-time 3`
//! (the numbers recorded in bench/results/route_plan.txt).

use std::hint::black_box;

/// The allocator the shardgate binary runs with (src/main.rs): planning
/// allocates (token and name vectors, the rewritten SQL), so the bench
/// measures it under the same allocator rather than glibc's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput};
use shardgate::route::keyvalue::KeyType;
use shardgate::route::state::{RouteState, TableColumns};
use shardgate::route::{plan_query, Action, RouteCtx};
use shardgate_proto::capability::Capabilities;

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:3307"
metadata_file = "/tmp/shardgate-route-plan-bench.meta"

[[user]]
name = "app"
password = "app-secret"

[backend]
user = "shardgate"
password = "backend-secret"

[[group]]
name = "g0"
master = "127.0.0.1:3310"

[[group]]
name = "g1"
master = "127.0.0.1:3320"

[[schema]]
name = "sbtest"
default_group = "g0"

[[schema.rule]]
name = "by_id"
kind = "hash"
groups = ["g0", "g1"]
tables_per_group = [2, 2]

[[schema.rule]]
name = "by_user"
kind = "range"
groups = ["g0", "g1"]
tables_per_group = [2, 2]
rows_per_table = 10000

[[schema.table]]
name = "sbtest1"
key = "id"
rule = "by_id"

[[schema.table]]
name = "article"
key = "user_id"
rule = "by_user"
"#;

/// sysbench's point select (oltp_point_select, --db-ps-mode=disable).
const POINT: &[u8] = b"SELECT c FROM sbtest1 WHERE id=42";
/// Three rows for three different shards.
const INSERT3: &[u8] = b"INSERT INTO article (id, user_id, title, created) VALUES \
    (1, 1001, 'first post', '2024-01-01 10:00:00'), \
    (2, 12002, 'second post', '2024-01-02 11:00:00'), \
    (3, 25001, 'third post', '2024-01-03 12:00:00')";
/// No key predicate: every shard, k-way merge by `created DESC, id`, LIMIT.
const SCATTER: &[u8] = b"SELECT a.id, a.title, a.user_id, a.created FROM article a \
    WHERE a.created >= '2024-01-01' AND a.status IN (1, 2) \
    ORDER BY a.created DESC, a.id LIMIT 20, 10";

fn targets(action: &Action) -> usize {
    match action {
        Action::Forward { targets, .. } => targets.len(),
        _ => 0,
    }
}

fn benches(c: &mut Criterion) {
    let topo = shardgate::config::parse(CONFIG).expect("bench config is valid");
    let state = RouteState::build(&topo);
    // Merges compare strings by the columns' collations, normally read once
    // per table from a backend; no backend here, so the cache is filled.
    // sbtest1's key type decides how its hash rule reads keys; read with
    // the columns too.
    for t in ["article", "comment", "sbtest1"] {
        state.set_table_columns(
            "sbtest",
            t,
            TableColumns {
                ordered: vec![b"id".to_vec(), b"user_id".to_vec(), b"title".to_vec()],
                collations: vec![(b"title".to_vec(), 45)],
                key_types: vec![
                    (b"id".to_vec(), KeyType::Integer),
                    (b"user_id".to_vec(), KeyType::Integer),
                ],
                ..Default::default()
            },
        );
    }
    let ctx = RouteCtx {
        schema: Some("sbtest".into()),
        user: "app".into(),
        conn_id: 1,
        backslash_escapes: true,
        multi_statements: false,
        in_transaction: false,
        caps: Capabilities::empty(),
        shard_key: None,
        client_charset: Some(shardgate::merge::charset::Charset::Utf8),
        user_vars_by_query: Vec::new(),
        row_count: None,
        warnings_on: None,
        diagnostics_count: (0, 0),
        found_rows: Default::default(),
        infile: None,
    };
    // Sanity: each statement is planned as intended (one shard; three
    // shards; all four), not refused.
    for (sql, want) in [(POINT, 1), (INSERT3, 3), (SCATTER, 4)] {
        let got = targets(&plan_query(&topo, &state, &ctx, sql, false));
        assert_eq!(got, want, "{}", String::from_utf8_lossy(sql));
    }
    let mut g = c.benchmark_group("route_plan");
    for (name, sql) in [
        ("plan_point_select", POINT),
        ("plan_insert_3_rows", INSERT3),
        ("plan_scatter_order_limit", SCATTER),
    ] {
        g.throughput(Throughput::Bytes(sql.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| plan_query(&topo, &state, &ctx, black_box(sql), false))
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
