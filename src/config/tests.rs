//! Tests of the whole load path (`parse`: TOML → raw → validated topology):
//! the shipped configs, defaults, and one test per validation rule asserting
//! that the message names the key. Unit and address parsing are tested beside
//! their code (`units.rs`, `net.rs`).

use std::path::Path;
use std::time::Duration;

use super::*;

/// A valid config close to the shared example; tests edit one line of it.
const BASE: &str = r#"
[server]
listen = "127.0.0.1:3307"
admin_listen = "127.0.0.1:3308"
metrics_listen = "127.0.0.1:9307"
metadata_file = "/tmp/shardgate-test.meta"
default_group = "g0"

[admin]
user = "admin"
password = "admin-secret"

[[user]]
name = "app"
password = "app-secret"
schemas = ["blog"]
allow_from = ["127.0.0.1/32"]

[backend]
user = "shardgate"
password = "backend-secret"

[health]
interval = "1s"
timeout = "500ms"

[[group]]
name = "g0"
master = "127.0.0.1:3310"
replicas = [ { addr = "127.0.0.1:3311", weight = 2 }, { addr = "127.0.0.1:3312" } ]
balance = "weighted"

[[group]]
name = "g1"
master = "127.0.0.1:3320"
replicas = [ { addr = "127.0.0.1:3321", weight = 1 } ]

[[schema]]
name = "blog"
default_group = "g0"

[[schema.rule]]
name = "by_user"
kind = "range"
groups = ["g0", "g1"]
tables_per_group = [2, 2]
rows_per_table = 10000

[[schema.rule]]
name = "by_user_hash"
kind = "hash"
groups = ["g0", "g1"]
tables_per_group = [4, 4]

[[schema.rule]]
name = "by_directory"
kind = "lookup"
groups = ["g0", "g1"]
lookup = { group = "g0", table = "shard_directory", key_column = "k", shard_column = "shard" }

[[schema.rule]]
name = "by_bucket"
kind = "bucket"
groups = ["g0", "g1"]
buckets = 1024

[[schema.table]]
name = "article"
key = "user_id"
rule = "by_user"

[[schema.table]]
name = "comment"
key = "user_id"
rule = "by_user"

[[schema.table]]
name = "country"
broadcast = true
"#;

/// BASE with `from` (which must occur exactly once) replaced by `to`.
fn edit(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "{from:?} must occur once in BASE"
    );
    BASE.replacen(from, to, 1)
}

/// BASE with more TOML at the end (inside the last `[[schema]]`).
fn append(extra: &str) -> String {
    format!("{BASE}\n{extra}\n")
}

/// The error message for `text`, which must be refused.
fn refused(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("config was accepted but should be refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts `text` is refused with a message containing `want`.
#[track_caller]
fn assert_refused(text: &str, want: &str) {
    let msg = refused(text);
    assert!(
        msg.contains(want),
        "message does not contain {want:?}:\n  {msg}"
    );
}

fn ok(text: &str) -> Topology {
    parse(text).unwrap_or_else(|e| panic!("config refused: {e}\n{text}"))
}

const MINIMAL: &str = r#"
[server]
default_group = "g0"
[backend]
user = "root"
[[user]]
name = "app"
password = "pw"
[[group]]
name = "g0"
master = "127.0.0.1:3310"
"#;

// ---------------------------------------------------------------------------
// shipped files

#[test]
fn shipped_example_config_is_valid() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/shardgate.toml"));
    let topo = load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(topo.groups.len(), 2);
    let g0 = topo.group("g0").unwrap();
    assert_eq!(g0.master.text, "127.0.0.1:3310");
    let replicas: Vec<&str> = g0.replicas.iter().map(|r| r.addr.text.as_str()).collect();
    assert_eq!(replicas, ["127.0.0.1:3311", "127.0.0.1:3312"]);
    let g1 = topo.group("g1").unwrap();
    assert_eq!(g1.master.text, "127.0.0.1:3320");
    assert_eq!(g1.replicas[0].addr.text, "127.0.0.1:3321");
    assert!(
        topo.server.metadata_file.is_relative() || topo.server.metadata_file.starts_with("/tmp")
    );
}

#[test]
fn shipped_minimal_config_is_valid() {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/conf/minimal.toml"));
    let topo = load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(topo.groups.len(), 1);
    assert_eq!(topo.users.len(), 1);
}

#[test]
fn shared_config_example_is_valid() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/config-example.toml"
    ));
    if !path.exists() {
        eprintln!(
            "SKIPPED: {} is absent (it exists beside the repository in CI)",
            path.display()
        );
        return;
    }
    let topo = load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(topo.summary(), "2 groups, 1 users, 1 schemas");
    let blog = topo.schema("blog").unwrap();
    assert_eq!(blog.rules.len(), 4);
    assert_eq!(blog.tables.len(), 3);
}

#[test]
fn load_reports_missing_file() {
    let e = load(Path::new("/nonexistent/shardgate.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/shardgate.toml"), "{e}");
}

// ---------------------------------------------------------------------------
// what a valid file turns into

#[test]
fn minimal_config_gets_every_default() {
    let t = ok(MINIMAL);
    let s = &t.server;
    assert_eq!(s.listen, "127.0.0.1:3307".parse().unwrap());
    assert_eq!(s.admin_listen, None);
    assert_eq!(s.metrics_listen, None);
    assert!(s.io_threads >= 1 && s.worker_threads >= 1);
    assert_eq!(s.metadata_file, Path::new("shardgate.meta"));
    assert_eq!(s.max_connections, 10_000);
    assert_eq!(s.max_packet_size, 64 << 20);
    assert_eq!(s.buffer_memory, 256 << 20);
    assert_eq!(s.log_level, log::LevelFilter::Info);
    assert_eq!(s.slow_query, Duration::from_secs(1));
    assert_eq!(s.default_group.as_deref(), Some("g0"));
    assert_eq!(s.handshake_timeout, Duration::from_secs(10));
    assert_eq!(s.shutdown_timeout, Duration::from_secs(10));
    assert_eq!(s.idle_timeout, Duration::from_secs(8 * 3600));
    assert_eq!(s.worker_queue, 4096);
    assert_eq!(t.admin, None);

    let b = &t.backend;
    assert_eq!(b.user, "root");
    assert!(b.password.is_empty());
    assert_eq!(b.connect_timeout, Duration::from_secs(2));
    assert_eq!(b.max_connections_per_node, 256);
    assert_eq!(b.min_idle_per_node, 0);
    assert_eq!(b.idle_timeout, Duration::from_secs(60));
    assert_eq!(b.ping_interval, Duration::from_secs(30));
    assert_eq!(b.query_timeout, None);
    assert_eq!(b.prepared_cache_per_connection, 128);

    let h = &t.health;
    assert_eq!(h.interval, Duration::from_secs(1));
    assert_eq!(h.timeout, Duration::from_millis(500));
    assert_eq!((h.down_after, h.up_after), (3, 2));
    assert_eq!(h.max_replica_lag, Duration::from_secs(5));

    let u = &t.users[0];
    assert_eq!(u.schemas, SchemaAccess::All);
    assert_eq!(u.allow_from, None);
    assert_eq!(u.max_connections, None);
    assert!(u.allows("203.0.113.1".parse().unwrap()));

    let g = &t.groups[0];
    assert_eq!(g.balance, Balance::RoundRobin);
    assert_eq!(g.failover, Failover::None);
    assert!(g.replicas.is_empty());
    assert!(t.schemas.is_empty());
}

#[test]
fn base_config_builds_the_expected_topology() {
    let t = ok(BASE);
    assert_eq!(t.summary(), "2 groups, 1 users, 1 schemas");
    assert_eq!(t.admin.as_ref().unwrap().password.expose(), "admin-secret");
    let g0 = t.group("g0").unwrap();
    assert_eq!(g0.balance, Balance::Weighted);
    assert_eq!(g0.replicas[0].weight, 2);
    assert_eq!(g0.replicas[1].weight, 1, "weight defaults to 1");
    assert_eq!(g0.nodes().count(), 3);
    assert_eq!(t.group_index("g1"), Some(1));

    let u = t.user("app").unwrap();
    assert!(u.allows("127.0.0.1".parse().unwrap()));
    assert!(!u.allows("127.0.0.2".parse().unwrap()));
    assert!(u.may_use("blog") && !u.may_use("shop"));

    let blog = t.schema("blog").unwrap();
    assert_eq!(blog.default_group, "g0");
    let by_user = blog.rule("by_user").unwrap();
    assert_eq!(
        by_user.kind,
        RuleKind::Range(RangeSpec::RowsPerTable(10_000))
    );
    assert_eq!(by_user.shard_count(), 4);
    assert_eq!(
        by_user.locate("article", 2),
        Some(("g1", "article_0002".into()))
    );
    assert_eq!(blog.rule("by_user_hash").unwrap().shard_count(), 8);
    let RuleKind::Lookup(lookup) = &blog.rule("by_directory").unwrap().kind else {
        panic!("by_directory is a lookup rule");
    };
    assert_eq!(lookup.cache_size, 100_000);
    assert_eq!(lookup.placement, Placement::None);
    assert_eq!(blog.rule("by_directory").unwrap().tables_per_group, [1, 1]);
    assert_eq!(
        blog.rule("by_bucket").unwrap().kind,
        RuleKind::Bucket { buckets: 1024 }
    );
    assert_eq!(blog.table("country").unwrap().kind, TableKind::Broadcast);
    assert_eq!(
        blog.table("comment").unwrap().kind,
        TableKind::Sharded {
            key: "user_id".into(),
            rule: "by_user".into()
        }
    );
}

#[test]
fn explicit_values_override_defaults() {
    let t = ok(&edit(
        "metadata_file = \"/tmp/shardgate-test.meta\"",
        r#"metadata_file = "/tmp/x.meta"
io_threads = 3
worker_threads = 5
max_connections = 50
max_packet_size = 16777216
buffer_memory = "1GiB"
log_level = "DEBUG"
slow_query = "250us"
handshake_timeout = "3s"
shutdown_timeout = "0s"
idle_timeout = "1h"
worker_queue = 8"#,
    ));
    let s = &t.server;
    assert_eq!((s.io_threads, s.worker_threads), (3, 5));
    assert_eq!(s.max_connections, 50);
    assert_eq!(s.max_packet_size, 16 << 20);
    assert_eq!(s.buffer_memory, 1 << 30);
    assert_eq!(s.log_level, log::LevelFilter::Debug);
    assert_eq!(s.slow_query, Duration::from_micros(250));
    assert_eq!(s.handshake_timeout, Duration::from_secs(3));
    assert_eq!(s.shutdown_timeout, Duration::ZERO);
    assert_eq!(s.idle_timeout, Duration::from_secs(3600));
    assert_eq!(s.worker_queue, 8);
}

#[test]
fn backend_and_user_extras_are_read() {
    let t = ok(&edit(
        "password = \"backend-secret\"",
        r#"password = "backend-secret"
min_idle_per_node = 4
idle_timeout = "2m"
ping_interval = "10s"
query_timeout = "30s""#,
    ));
    assert_eq!(t.backend.min_idle_per_node, 4);
    assert_eq!(t.backend.idle_timeout, Duration::from_secs(120));
    assert_eq!(t.backend.ping_interval, Duration::from_secs(10));
    assert_eq!(t.backend.query_timeout, Some(Duration::from_secs(30)));

    let t = ok(&edit(
        "allow_from = [\"127.0.0.1/32\"]",
        "allow_from = [\"10.0.0.0/8\", \"::1/128\"]\nmax_connections = 20",
    ));
    let u = &t.users[0];
    assert!(u.allows("10.2.3.4".parse().unwrap()));
    assert!(u.allows("::1".parse().unwrap()));
    assert!(!u.allows("127.0.0.1".parse().unwrap()));
    assert_eq!(u.max_connections, Some(20));
}

#[test]
fn range_boundaries_and_lookup_options_are_read() {
    let t = ok(&edit(
        "rows_per_table = 10000",
        "boundaries = [-100, 0, 1000, 9223372036854775807]",
    ));
    let r = t.schema("blog").unwrap().rule("by_user").unwrap();
    assert_eq!(
        r.kind,
        RuleKind::Range(RangeSpec::Boundaries(vec![-100, 0, 1000, i64::MAX]))
    );
    let t = ok(&edit(
        "key_column = \"k\", shard_column = \"shard\" }",
        "key_column = \"k\", shard_column = \"shard\", cache_size = 0, placement = \"round_robin\" }",
    ));
    let RuleKind::Lookup(l) = &t.schema("blog").unwrap().rule("by_directory").unwrap().kind else {
        panic!("lookup rule");
    };
    assert_eq!((l.cache_size, l.placement), (0, Placement::RoundRobin));
}

#[test]
fn schema_default_group_falls_back_to_server_default_group() {
    let t = ok(&edit(
        "name = \"blog\"\ndefault_group = \"g0\"",
        "name = \"blog\"",
    ));
    assert_eq!(t.schema("blog").unwrap().default_group, "g0");
}

#[test]
fn thread_count_zero_means_one_per_core() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = ok(&edit(
        "default_group = \"g0\"\n\n[admin]",
        "default_group = \"g0\"\nio_threads = 0\n\n[admin]",
    ));
    assert_eq!(t.server.io_threads, cores);
    assert_eq!(t.server.worker_threads, cores);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let dump = format!("{:?}", ok(BASE));
    assert!(!dump.contains("app-secret") && !dump.contains("backend-secret"));
}

// ---------------------------------------------------------------------------
// TOML shape errors: unknown keys, wrong types, bad enum values

#[test]
fn unknown_top_level_key_is_an_error_with_its_line() {
    let msg = refused(&edit(
        "listen = \"127.0.0.1:3307\"",
        "listn = \"127.0.0.1:3307\"",
    ));
    assert!(msg.contains("listn") && msg.contains("line 3"), "{msg}");
}

#[test]
fn unknown_section_is_an_error() {
    assert_refused(&append("[sever]\nlisten = \"x\""), "sever");
}

#[test]
fn unknown_key_in_group_is_an_error() {
    assert_refused(
        &edit("balance = \"weighted\"", "balanse = \"weighted\""),
        "balanse",
    );
}

#[test]
fn unknown_key_in_replica_is_an_error() {
    assert_refused(&edit("weight = 2", "wieght = 2"), "wieght");
}

#[test]
fn unknown_key_in_rule_is_an_error() {
    assert_refused(&edit("buckets = 1024", "bucket = 1024"), "bucket");
}

#[test]
fn unknown_key_in_table_is_an_error() {
    assert_refused(
        &edit(
            "broadcast = true",
            "broadcast = true\nauto_increment = true",
        ),
        "auto_increment",
    );
}

#[test]
fn unknown_key_in_lookup_is_an_error() {
    assert_refused(
        &edit("shard_column = \"shard\" }", "shard_col = \"shard\" }"),
        "shard_col",
    );
}

#[test]
fn wrong_value_type_is_an_error_with_its_line() {
    let msg = refused(&edit(
        "metadata_file = \"/tmp/shardgate-test.meta\"",
        "metadata_file = 5",
    ));
    assert!(msg.contains("line 6"), "{msg}");
}

#[test]
fn unknown_balance_is_an_error() {
    assert_refused(
        &edit("balance = \"weighted\"", "balance = \"fastest\""),
        "fastest",
    );
}

#[test]
fn unknown_failover_is_an_error() {
    assert_refused(
        &edit("balance = \"weighted\"", "failover = \"maybe\""),
        "maybe",
    );
}

#[test]
fn unknown_rule_kind_is_an_error() {
    assert_refused(&edit("kind = \"hash\"", "kind = \"modulo\""), "modulo");
}

#[test]
fn unknown_lookup_placement_is_an_error() {
    assert_refused(
        &edit(
            "shard_column = \"shard\" }",
            "shard_column = \"shard\", placement = \"first\" }",
        ),
        "first",
    );
}

// ---------------------------------------------------------------------------
// [server]

#[test]
fn server_listen_must_be_ip_port() {
    assert_refused(
        &edit("listen = \"127.0.0.1:3307\"", "listen = \"localhost\""),
        "server.listen: ",
    );
}

#[test]
fn server_admin_listen_must_differ_from_listen() {
    assert_refused(
        &edit(
            "admin_listen = \"127.0.0.1:3308\"",
            "admin_listen = \"127.0.0.1:3307\"",
        ),
        "server.admin_listen: 127.0.0.1:3307 is also server.listen",
    );
}

#[test]
fn server_metrics_listen_must_differ() {
    assert_refused(
        &edit(
            "metrics_listen = \"127.0.0.1:9307\"",
            "metrics_listen = \"127.0.0.1:3308\"",
        ),
        "server.metrics_listen: must differ",
    );
}

#[test]
fn server_max_packet_size_lower_bound() {
    assert_refused(
        &append_server("max_packet_size = \"512B\""),
        "server.max_packet_size: must be >= 1KiB and <= 1GiB, got 512B",
    );
}

#[test]
fn server_max_packet_size_upper_bound() {
    assert_refused(
        &append_server("max_packet_size = \"2GiB\""),
        "server.max_packet_size: must be >= 1KiB and <= 1GiB, got 2GiB",
    );
}

#[test]
fn server_max_packet_size_accepts_the_bounds() {
    assert_eq!(
        ok(&append_server("max_packet_size = \"1KiB\""))
            .server
            .max_packet_size,
        1024
    );
    assert_eq!(
        ok(&append_server("max_packet_size = \"1GiB\""))
            .server
            .max_packet_size,
        1 << 30
    );
}

#[test]
fn server_max_packet_size_unit_must_be_known() {
    assert_refused(
        &append_server("max_packet_size = \"64MB\""),
        "server.max_packet_size: invalid size",
    );
}

#[test]
fn server_size_must_not_be_negative() {
    assert_refused(
        &append_server("max_packet_size = -1"),
        "server.max_packet_size: must not be negative",
    );
}

#[test]
fn server_buffer_memory_lower_bound() {
    assert_refused(
        &append_server("buffer_memory = \"64KiB\""),
        "server.buffer_memory: must be >= 1MiB",
    );
}

#[test]
fn server_log_level_must_be_known() {
    assert_refused(
        &append_server("log_level = \"loud\""),
        "server.log_level: \"loud\" is not one of",
    );
}

#[test]
fn server_slow_query_must_parse() {
    assert_refused(
        &append_server("slow_query = \"1\""),
        "server.slow_query: invalid duration",
    );
}

#[test]
fn server_handshake_timeout_must_be_positive() {
    assert_refused(
        &append_server("handshake_timeout = \"0s\""),
        "server.handshake_timeout: must be > 0",
    );
}

#[test]
fn server_idle_timeout_must_be_positive() {
    assert_refused(
        &append_server("idle_timeout = \"0ms\""),
        "server.idle_timeout: must be > 0",
    );
}

#[test]
fn server_shutdown_timeout_must_parse() {
    assert_refused(
        &append_server("shutdown_timeout = \"soon\""),
        "server.shutdown_timeout: invalid duration",
    );
}

#[test]
fn server_max_connections_must_be_positive() {
    assert_refused(
        &append_server("max_connections = 0"),
        "server.max_connections: must be > 0, got 0",
    );
}

#[test]
fn server_worker_queue_must_be_positive() {
    assert_refused(
        &append_server("worker_queue = 0"),
        "server.worker_queue: must be > 0",
    );
}

#[test]
fn server_io_threads_must_not_be_negative() {
    assert_refused(
        &append_server("io_threads = -1"),
        "server.io_threads: must be >= 0",
    );
}

#[test]
fn server_worker_threads_upper_bound() {
    assert_refused(
        &append_server("worker_threads = 5000"),
        "server.worker_threads: must be <= 1024",
    );
}

#[test]
fn server_metadata_file_must_not_be_empty() {
    assert_refused(
        &edit(
            "metadata_file = \"/tmp/shardgate-test.meta\"",
            "metadata_file = \"\"",
        ),
        "server.metadata_file: must not be empty",
    );
}

#[test]
fn server_default_group_must_exist() {
    assert_refused(
        &edit(
            "default_group = \"g0\"\n\n[admin]",
            "default_group = \"g9\"\n\n[admin]",
        ),
        "server.default_group: group \"g9\" is not defined",
    );
}

/// BASE with extra lines in `[server]`.
fn append_server(lines: &str) -> String {
    edit("[server]\n", &format!("[server]\n{lines}\n"))
}

// ---------------------------------------------------------------------------
// [admin], [backend], [health]

#[test]
fn admin_section_required_with_admin_listen() {
    assert_refused(
        &edit(
            "[admin]\nuser = \"admin\"\npassword = \"admin-secret\"\n",
            "",
        ),
        "admin: an [admin] section",
    );
}

#[test]
fn admin_section_optional_without_admin_listen() {
    let t = ok(&edit("admin_listen = \"127.0.0.1:3308\"\n", "").replacen(
        "[admin]\nuser = \"admin\"\npassword = \"admin-secret\"\n",
        "",
        1,
    ));
    assert_eq!(t.admin, None);
    assert_eq!(t.server.admin_listen, None);
}

#[test]
fn admin_password_must_not_be_empty() {
    assert_refused(
        &edit("password = \"admin-secret\"", "password = \"\""),
        "admin.password: must not be empty",
    );
}

#[test]
fn admin_user_must_not_be_empty() {
    assert_refused(
        &edit("user = \"admin\"", "user = \"\""),
        "admin.user: must not be empty",
    );
}

#[test]
fn backend_section_is_required() {
    assert_refused(
        &edit(
            "[backend]\nuser = \"shardgate\"\npassword = \"backend-secret\"\n",
            "",
        ),
        "backend: a [backend] section is required",
    );
}

#[test]
fn backend_user_must_not_be_empty() {
    assert_refused(
        &edit("user = \"shardgate\"", "user = \"\""),
        "backend.user: must not be empty",
    );
}

#[test]
fn backend_max_connections_per_node_must_be_positive() {
    assert_refused(
        &append_backend("max_connections_per_node = 0"),
        "backend.max_connections_per_node: must be > 0",
    );
}

#[test]
fn backend_min_idle_must_not_exceed_max() {
    assert_refused(
        &append_backend("max_connections_per_node = 4\nmin_idle_per_node = 5"),
        "backend.min_idle_per_node: must be <= backend.max_connections_per_node (4), got 5",
    );
}

#[test]
fn backend_connect_timeout_must_be_positive() {
    assert_refused(
        &append_backend("connect_timeout = \"0s\""),
        "backend.connect_timeout: must be > 0",
    );
}

#[test]
fn backend_idle_timeout_must_parse() {
    assert_refused(
        &append_backend("idle_timeout = \"60\""),
        "backend.idle_timeout: invalid duration",
    );
}

#[test]
fn backend_ping_interval_must_be_positive() {
    assert_refused(
        &append_backend("ping_interval = \"0s\""),
        "backend.ping_interval: must be > 0",
    );
}

#[test]
fn backend_query_timeout_must_be_positive() {
    assert_refused(
        &append_backend("query_timeout = \"0s\""),
        "backend.query_timeout: must be > 0",
    );
}

fn append_backend(lines: &str) -> String {
    edit("[backend]\n", &format!("[backend]\n{lines}\n"))
}

#[test]
fn health_timeout_must_not_exceed_interval() {
    assert_refused(
        &edit("timeout = \"500ms\"", "timeout = \"2s\""),
        "health.timeout: must be <= health.interval",
    );
}

#[test]
fn health_interval_must_be_positive() {
    assert_refused(
        &edit("interval = \"1s\"", "interval = \"0s\""),
        "health.interval: must be > 0",
    );
}

#[test]
fn health_down_after_must_be_positive() {
    assert_refused(
        &edit("[health]\n", "[health]\ndown_after = 0\n"),
        "health.down_after: must be > 0",
    );
}

#[test]
fn health_up_after_must_be_positive() {
    assert_refused(
        &edit("[health]\n", "[health]\nup_after = -2\n"),
        "health.up_after: must be > 0",
    );
}

#[test]
fn health_max_replica_lag_must_parse() {
    assert_refused(
        &edit("[health]\n", "[health]\nmax_replica_lag = \"5 s e c\"\n"),
        "health.max_replica_lag: invalid duration",
    );
}

// ---------------------------------------------------------------------------
// [[group]]

#[test]
fn at_least_one_group() {
    assert_refused(
        "[server]\ndefault_group = \"g0\"\n[backend]\nuser = \"u\"\n[[user]]\nname = \"a\"\npassword = \"p\"\n",
        "group: at least one [[group]] is required",
    );
}

#[test]
fn group_name_must_not_be_empty() {
    assert_refused(
        &edit("name = \"g1\"", "name = \"\""),
        "group[1]: name: must not be empty",
    );
}

#[test]
fn group_name_must_be_unique() {
    assert_refused(
        &edit("name = \"g1\"", "name = \"g0\""),
        "group \"g0\": name: defined twice",
    );
}

#[test]
fn group_master_must_be_host_port() {
    assert_refused(
        &edit("master = \"127.0.0.1:3320\"", "master = \"127.0.0.1\""),
        "group \"g1\": master: invalid address",
    );
}

#[test]
fn group_master_host_must_not_be_empty() {
    assert_refused(
        &edit("master = \"127.0.0.1:3320\"", "master = \":3320\""),
        "group \"g1\": master: invalid address \":3320\": host is empty",
    );
}

#[test]
fn group_master_may_be_a_host_name() {
    let t = ok(&edit(
        "master = \"127.0.0.1:3320\"",
        "master = \"db-g1.internal:3306\"",
    ));
    let m = &t.group("g1").unwrap().master;
    assert_eq!(
        (m.host.as_str(), m.port, m.socket),
        ("db-g1.internal", 3306, None)
    );
}

#[test]
fn group_replica_addr_must_parse() {
    assert_refused(
        &edit(
            "{ addr = \"127.0.0.1:3321\", weight = 1 }",
            "{ addr = \"127.0.0.1:99999\", weight = 1 }",
        ),
        "group \"g1\": replicas[0].addr: invalid address",
    );
}

#[test]
fn group_replica_weight_must_be_positive() {
    assert_refused(
        &edit(
            "{ addr = \"127.0.0.1:3321\", weight = 1 }",
            "{ addr = \"127.0.0.1:3321\", weight = 0 }",
        ),
        "group \"g1\": replicas[0].weight: must be > 0",
    );
}

#[test]
fn group_replica_weight_must_not_be_negative() {
    assert_refused(
        &edit("weight = 2", "weight = -2"),
        "group \"g0\": replicas[0].weight: must be > 0, got -2",
    );
}

#[test]
fn node_address_used_twice_across_groups() {
    assert_refused(
        &edit("master = \"127.0.0.1:3320\"", "master = \"127.0.0.1:3311\""),
        "group \"g1\": master: 127.0.0.1:3311 is already used by group \"g0\" replicas[0].addr",
    );
}

#[test]
fn node_address_used_twice_in_a_group() {
    assert_refused(
        &edit(
            "{ addr = \"127.0.0.1:3312\" }",
            "{ addr = \"127.0.0.1:3310\" }",
        ),
        "group \"g0\": replicas[1].addr: 127.0.0.1:3310 is already used by group \"g0\" master",
    );
}

#[test]
fn node_address_used_twice_by_host_name_case() {
    let text = edit("master = \"127.0.0.1:3320\"", "master = \"DB1:3306\"").replacen(
        "{ addr = \"127.0.0.1:3321\", weight = 1 }",
        "{ addr = \"db1:3306\", weight = 1 }",
        1,
    );
    assert_refused(
        &text,
        "group \"g1\": replicas[0].addr: db1:3306 is already used",
    );
}

#[test]
fn node_address_must_not_be_shardgate_itself() {
    assert_refused(
        &edit("master = \"127.0.0.1:3320\"", "master = \"127.0.0.1:3307\""),
        "group \"g1\": master: 127.0.0.1:3307 is shardgate's own server.listen",
    );
}

#[test]
fn failover_promote_needs_a_replica() {
    let text = edit(
        "replicas = [ { addr = \"127.0.0.1:3321\", weight = 1 } ]",
        "failover = \"promote\"",
    );
    assert_refused(
        &text,
        "group \"g1\": failover: \"promote\" needs at least one replica",
    );
}

#[test]
fn failover_promote_is_read() {
    let t = ok(&edit(
        "balance = \"weighted\"",
        "balance = \"least_connections\"\nfailover = \"promote\"",
    ));
    let g0 = t.group("g0").unwrap();
    assert_eq!(
        (g0.balance, g0.failover),
        (Balance::LeastConnections, Failover::Promote)
    );
}

// ---------------------------------------------------------------------------
// [[schema]]

#[test]
fn schema_name_must_be_unique() {
    assert_refused(
        &append("[[schema]]\nname = \"blog\""),
        "schema \"blog\": name: defined twice",
    );
}

#[test]
fn schema_name_must_be_an_identifier() {
    assert_refused(
        &append("[[schema]]\nname = \"my.db\""),
        "schema[1]: name: \"my.db\" must not contain '.'",
    );
}

#[test]
fn schema_default_group_must_exist() {
    assert_refused(
        &edit(
            "name = \"blog\"\ndefault_group = \"g0\"",
            "name = \"blog\"\ndefault_group = \"g7\"",
        ),
        "schema \"blog\": default_group: group \"g7\" is not defined",
    );
}

#[test]
fn schema_default_group_needed_somewhere() {
    let text = edit("default_group = \"g0\"\n\n[admin]", "\n[admin]").replacen(
        "name = \"blog\"\ndefault_group = \"g0\"",
        "name = \"blog\"",
        1,
    );
    assert_refused(
        &text,
        "schema \"blog\": default_group: not set, and server.default_group is not set either",
    );
}

#[test]
fn something_must_be_routable() {
    let text = MINIMAL.replacen("[server]\ndefault_group = \"g0\"\n", "", 1);
    assert_refused(
        &text,
        "schema: no [[schema]] is declared and server.default_group is not set",
    );
}

// ---------------------------------------------------------------------------
// [[schema.rule]]

const R: &str = "schema \"blog\" rule";

#[test]
fn rule_name_must_be_unique() {
    assert_refused(
        &edit("name = \"by_user_hash\"", "name = \"by_user\""),
        &format!("{R} \"by_user\": name: defined twice"),
    );
}

#[test]
fn rule_name_must_not_be_empty() {
    assert_refused(
        &edit("name = \"by_user_hash\"", "name = \"\""),
        "schema \"blog\" rule[1]: name: must not be empty",
    );
}

#[test]
fn rule_groups_must_not_be_empty() {
    assert_refused(
        &edit(
            "groups = [\"g0\", \"g1\"]\ntables_per_group = [4, 4]",
            "groups = []",
        ),
        &format!("{R} \"by_user_hash\": groups: must name at least one group"),
    );
}

#[test]
fn rule_groups_must_exist() {
    assert_refused(
        &edit(
            "groups = [\"g0\", \"g1\"]\ntables_per_group = [4, 4]",
            "groups = [\"g0\", \"g2\"]",
        ),
        &format!("{R} \"by_user_hash\": groups[1]: group \"g2\" is not defined"),
    );
}

#[test]
fn rule_groups_must_be_distinct() {
    assert_refused(
        &edit(
            "groups = [\"g0\", \"g1\"]\ntables_per_group = [4, 4]",
            "groups = [\"g0\", \"g0\"]",
        ),
        &format!("{R} \"by_user_hash\": groups[1]: group \"g0\" is listed twice"),
    );
}

#[test]
fn rule_tables_per_group_length_must_match() {
    assert_refused(
        &edit("tables_per_group = [4, 4]", "tables_per_group = [4, 4, 4]"),
        &format!("{R} \"by_user_hash\": tables_per_group: has 3 entries but groups has 2"),
    );
}

#[test]
fn rule_tables_per_group_entries_at_least_one() {
    assert_refused(
        &edit("tables_per_group = [4, 4]", "tables_per_group = [4, 0]"),
        &format!("{R} \"by_user_hash\": tables_per_group[1]: must be >= 1, got 0"),
    );
}

#[test]
fn rule_shard_count_is_bounded() {
    assert_refused(
        &edit("tables_per_group = [4, 4]", "tables_per_group = [5000, 5001]"),
        &format!("{R} \"by_user_hash\": tables_per_group: adds up to 10001 physical tables; at most 10000"),
    );
    let t = ok(&edit(
        "tables_per_group = [4, 4]",
        "tables_per_group = [5000, 5000]",
    ));
    let r = t.schema("blog").unwrap().rule("by_user_hash").unwrap();
    assert_eq!(r.locate("t", 9999), Some(("g1", "t_9999".into())));
}

#[test]
fn rule_key_of_another_kind_is_an_error() {
    assert_refused(
        &edit("tables_per_group = [4, 4]", "tables_per_group = [4, 4]\nrows_per_table = 5"),
        &format!("{R} \"by_user_hash\": rows_per_table: only applies to kind = \"range\"; this rule is kind = \"hash\""),
    );
    assert_refused(
        &edit(
            "rows_per_table = 10000",
            "rows_per_table = 10000\nbuckets = 8",
        ),
        &format!("{R} \"by_user\": buckets: only applies to kind = \"bucket\""),
    );
    assert_refused(
        &edit("buckets = 1024", "buckets = 1024\nboundaries = [1, 2]"),
        &format!("{R} \"by_bucket\": boundaries: only applies to kind = \"range\""),
    );
    assert_refused(
        &edit("kind = \"lookup\"", "kind = \"hash\""),
        &format!("{R} \"by_directory\": lookup: only applies to kind = \"lookup\""),
    );
}

#[test]
fn range_needs_rows_or_boundaries() {
    assert_refused(
        &edit("rows_per_table = 10000", ""),
        &format!("{R} \"by_user\": rows_per_table: kind = \"range\" needs rows_per_table"),
    );
}

#[test]
fn range_rows_and_boundaries_are_exclusive() {
    assert_refused(
        &edit(
            "rows_per_table = 10000",
            "rows_per_table = 10000\nboundaries = [1, 2, 3, 4]",
        ),
        &format!("{R} \"by_user\": boundaries: set either rows_per_table or boundaries, not both"),
    );
}

#[test]
fn range_rows_per_table_must_be_positive() {
    assert_refused(
        &edit("rows_per_table = 10000", "rows_per_table = 0"),
        &format!("{R} \"by_user\": rows_per_table: must be > 0, got 0"),
    );
}

#[test]
fn range_rows_per_table_must_not_overflow() {
    assert_refused(
        &edit(
            "rows_per_table = 10000",
            "rows_per_table = 9223372036854775807",
        ),
        &format!("{R} \"by_user\": rows_per_table: times the number of physical tables overflows"),
    );
}

#[test]
fn range_boundaries_one_per_table() {
    assert_refused(
        &edit("rows_per_table = 10000", "boundaries = [10, 20, 30]"),
        &format!("{R} \"by_user\": boundaries: has 3 entries but the rule has 4 physical tables"),
    );
}

#[test]
fn range_boundaries_strictly_increasing() {
    assert_refused(
        &edit("rows_per_table = 10000", "boundaries = [10, 20, 20, 30]"),
        &format!("{R} \"by_user\": boundaries[2]: must be greater than boundaries[1] (20), got 20"),
    );
}

#[test]
fn lookup_spec_is_required() {
    assert_refused(
        &edit(
            "lookup = { group = \"g0\", table = \"shard_directory\", key_column = \"k\", shard_column = \"shard\" }",
            "",
        ),
        &format!("{R} \"by_directory\": lookup: kind = \"lookup\" needs lookup"),
    );
}

#[test]
fn lookup_fields_are_required() {
    assert_refused(
        &edit(
            "key_column = \"k\", shard_column = \"shard\" }",
            "key_column = \"k\" }",
        ),
        "shard_column",
    );
}

#[test]
fn lookup_group_must_exist() {
    assert_refused(
        &edit("lookup = { group = \"g0\"", "lookup = { group = \"gx\""),
        &format!("{R} \"by_directory\": lookup.group: group \"gx\" is not defined"),
    );
}

#[test]
fn lookup_columns_must_not_be_empty() {
    assert_refused(
        &edit("key_column = \"k\"", "key_column = \"\""),
        &format!("{R} \"by_directory\": lookup.key_column: must not be empty"),
    );
    assert_refused(
        &edit("table = \"shard_directory\"", "table = \"dir`x\""),
        &format!("{R} \"by_directory\": lookup.table: \"dir`x\" must not contain '`'"),
    );
}

#[test]
fn lookup_cache_size_must_not_be_negative() {
    assert_refused(
        &edit(
            "shard_column = \"shard\" }",
            "shard_column = \"shard\", cache_size = -1 }",
        ),
        &format!("{R} \"by_directory\": lookup.cache_size: must be >= 0, got -1"),
    );
}

#[test]
fn bucket_count_must_be_positive() {
    assert_refused(
        &edit("buckets = 1024", "buckets = 0"),
        &format!("{R} \"by_bucket\": buckets: must be > 0"),
    );
}

#[test]
fn bucket_count_at_least_the_groups() {
    assert_refused(
        &edit("buckets = 1024", "buckets = 1"),
        &format!("{R} \"by_bucket\": buckets: must be >= the number of groups (2), got 1"),
    );
}

#[test]
fn bucket_count_defaults() {
    let t = ok(&edit("buckets = 1024", ""));
    let r = t.schema("blog").unwrap().rule("by_bucket").unwrap();
    assert_eq!(r.kind, RuleKind::Bucket { buckets: 1024 });
}

// ---------------------------------------------------------------------------
// [[schema.table]]

#[test]
fn table_rule_must_be_defined() {
    assert_refused(
        &edit(
            "name = \"comment\"\nkey = \"user_id\"\nrule = \"by_user\"",
            "name = \"comment\"\nkey = \"user_id\"\nrule = \"by_usr\"",
        ),
        "schema \"blog\" table \"comment\": rule \"by_usr\" is not defined",
    );
}

#[test]
fn table_name_must_be_unique() {
    assert_refused(
        &edit("name = \"comment\"", "name = \"article\""),
        "schema \"blog\" table \"article\": name: defined twice",
    );
}

#[test]
fn table_name_must_not_be_empty() {
    assert_refused(
        &edit("name = \"comment\"", "name = \"\""),
        "schema \"blog\" table[1]: name: must not be empty",
    );
}

#[test]
fn table_broadcast_excludes_key_and_rule() {
    assert_refused(
        &edit("broadcast = true", "broadcast = true\nkey = \"id\""),
        "schema \"blog\" table \"country\": key: not allowed with broadcast = true",
    );
    assert_refused(
        &edit("broadcast = true", "broadcast = true\nrule = \"by_user\""),
        "schema \"blog\" table \"country\": rule: not allowed with broadcast = true",
    );
}

#[test]
fn table_needs_key_and_rule() {
    assert_refused(
        &edit("broadcast = true", "broadcast = false"),
        "schema \"blog\" table \"country\": key: missing",
    );
    assert_refused(
        &edit(
            "name = \"comment\"\nkey = \"user_id\"\nrule = \"by_user\"",
            "name = \"comment\"\nkey = \"user_id\"",
        ),
        "schema \"blog\" table \"comment\": rule: missing",
    );
}

#[test]
fn table_key_must_not_be_empty() {
    assert_refused(
        &edit(
            "name = \"comment\"\nkey = \"user_id\"",
            "name = \"comment\"\nkey = \"\"",
        ),
        "schema \"blog\" table \"comment\": key: must not be empty",
    );
}

#[test]
fn sharded_table_name_leaves_room_for_the_suffix() {
    let long = "t".repeat(60);
    assert_refused(
        &edit("name = \"comment\"", &format!("name = \"{long}\"")),
        &format!("schema \"blog\" table \"{long}\": name: too long for a sharded table"),
    );
}

// ---------------------------------------------------------------------------
// [[user]]

#[test]
fn at_least_one_user() {
    let text = edit(
        "[[user]]\nname = \"app\"\npassword = \"app-secret\"\nschemas = [\"blog\"]\nallow_from = [\"127.0.0.1/32\"]\n",
        "",
    );
    assert_refused(&text, "user: at least one [[user]] is required");
}

#[test]
fn user_name_must_not_be_empty() {
    assert_refused(
        &edit("name = \"app\"", "name = \"\""),
        "user[0]: name: must not be empty",
    );
}

#[test]
fn user_name_must_be_unique() {
    assert_refused(
        &edit(
            "[backend]\n",
            "[[user]]\nname = \"app\"\npassword = \"x\"\n\n[backend]\n",
        ),
        "user \"app\": name: defined twice",
    );
}

#[test]
fn user_password_is_required() {
    assert_refused(&edit("password = \"app-secret\"", ""), "password");
}

#[test]
fn user_schemas_must_not_be_empty() {
    assert_refused(
        &edit("schemas = [\"blog\"]", "schemas = []"),
        "user \"app\": schemas: is empty",
    );
}

#[test]
fn user_schemas_star_must_be_alone() {
    assert_refused(
        &edit("schemas = [\"blog\"]", "schemas = [\"*\", \"blog\"]"),
        "user \"app\": schemas: \"*\" already means every schema",
    );
    let t = ok(&edit("schemas = [\"blog\"]", "schemas = [\"*\"]"));
    assert_eq!(t.users[0].schemas, SchemaAccess::All);
}

#[test]
fn user_schemas_must_be_usable() {
    // With server.default_group, undeclared schemas pass through: fine.
    ok(&edit(
        "schemas = [\"blog\"]",
        "schemas = [\"blog\", \"shop\"]",
    ));
    let text = edit("schemas = [\"blog\"]", "schemas = [\"blog\", \"shop\"]").replacen(
        "default_group = \"g0\"\n\n[admin]",
        "\n[admin]",
        1,
    );
    assert_refused(&text, "user \"app\": schemas[1]: schema \"shop\" is not declared and server.default_group is not set");
}

#[test]
fn user_allow_from_must_not_be_empty() {
    assert_refused(
        &edit("allow_from = [\"127.0.0.1/32\"]", "allow_from = []"),
        "user \"app\": allow_from: is empty",
    );
}

#[test]
fn user_allow_from_must_be_networks() {
    assert_refused(
        &edit(
            "allow_from = [\"127.0.0.1/32\"]",
            "allow_from = [\"127.0.0.1/32\", \"10.0.0.0/40\"]",
        ),
        "user \"app\": allow_from[1]: invalid network \"10.0.0.0/40\"",
    );
    assert_refused(
        &edit(
            "allow_from = [\"127.0.0.1/32\"]",
            "allow_from = [\"10.0.0.1/8\"]",
        ),
        "user \"app\": allow_from[0]: invalid network \"10.0.0.1/8\": host bits are set",
    );
}

#[test]
fn user_max_connections_must_be_positive() {
    assert_refused(
        &edit("allow_from = [\"127.0.0.1/32\"]", "max_connections = 0"),
        "user \"app\": max_connections: must be > 0",
    );
}
