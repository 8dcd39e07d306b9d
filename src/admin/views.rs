//! The result sets of the admin `SHOW` commands, built from snapshots
//! (topology, health reports, counters). Every value is text; `NULL` where
//! it is not known. Pure functions of their inputs except [`stats`], which
//! reads the shared counters.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{
    Balance, Failover, NodeAddr, Placement, RangeSpec, ReadFallback, RuleKind, TableKind, Topology,
};
use crate::health::{NodeReport, NodeState, Role};
use crate::reactor::{SessionEntry, Shared};
use crate::route::state::RouteState;
use crate::stats::{Metrics, NodeStats, QueryKind};

/// A result set: column names and text rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Rows {
    pub(super) fn new(columns: &[&str]) -> Rows {
        Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// The value of column `col` in row `row`.
    #[cfg(test)]
    pub fn get(&self, row: usize, col: &str) -> Option<&str> {
        let c = self.columns.iter().position(|n| n == col)?;
        self.rows.get(row)?.get(c)?.as_deref()
    }
}

pub(super) fn s(v: impl ToString) -> Option<String> {
    Some(v.to_string())
}

/// The socket address of a configured node: its IP, or the first address
/// its host name resolves to (DNS; `None` when it does not resolve).
pub(super) fn node_socket(addr: &NodeAddr) -> Option<SocketAddr> {
    addr.socket.or_else(|| {
        (addr.host.as_str(), addr.port)
            .to_socket_addrs()
            .ok()?
            .next()
    })
}

/// Config text → socket address of every configured node.
pub(super) fn node_sockets(topo: &Topology) -> HashMap<String, Option<SocketAddr>> {
    topo.groups
        .iter()
        .flat_map(|g| g.nodes())
        .map(|n| (n.text.clone(), node_socket(n)))
        .collect()
}

/// The counters of the node at config address `addr`, when it has any.
pub(super) fn node_stats<'a>(
    sockets: &HashMap<String, Option<SocketAddr>>,
    stats: &'a HashMap<SocketAddr, Arc<NodeStats>>,
    addr: &str,
) -> Option<&'a NodeStats> {
    let sa = (*sockets.get(addr)?)?;
    stats.get(&sa).map(|a| a.as_ref())
}

pub(super) fn state_word(s: NodeState) -> &'static str {
    match s {
        NodeState::Up => "up",
        NodeState::Down => "down",
    }
}

pub(super) fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// `2024-05-01 12:00:00.123` (UTC).
pub(super) fn fmt_time(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ms % 1000
    )
}

/// `8h`, `90s`, `500ms`, `250us`: the shortest exact unit.
pub(super) fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    for (unit, name) in [
        (3_600_000_000_000u128, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ] {
        if ns.is_multiple_of(unit) {
            return format!("{}{name}", ns / unit);
        }
    }
    format!("{ns}ns")
}

// ---------------------------------------------------------------------------
// SHOW NODES / SHOW GROUPS

/// `SHOW NODES`: one row per node, in config order.
pub fn nodes(topo: &Topology, reports: &[NodeReport], metrics: &Metrics) -> Rows {
    let sockets = node_sockets(topo);
    let stats: HashMap<SocketAddr, Arc<NodeStats>> = metrics.nodes().into_iter().collect();
    let mut out = Rows::new(&[
        "group",
        "role",
        "addr",
        "state",
        "probe",
        "operator",
        "readable",
        "why",
        "lag_ms",
        "replication",
        "connections",
        "busy",
        "queries",
        "errors",
        "last_probe",
    ]);
    for r in reports {
        let st = node_stats(&sockets, &stats, &r.addr);
        let counter = |f: fn(&NodeStats) -> i64| s(st.map_or(0, f));
        let replication = match r.role {
            Role::Master => None,
            Role::Replica if r.replication_running => s("running"),
            Role::Replica if r.last_probe.is_none() => s("unknown"),
            Role::Replica => s("not running"),
        };
        out.rows.push(vec![
            s(&r.group),
            s(r.role.as_str()),
            s(&r.addr),
            s(state_word(r.state)),
            s(r.probe.as_str().to_ascii_lowercase()),
            s(r.operator.as_str().to_ascii_lowercase()),
            s(yes_no(r.readable)),
            s(&r.why),
            r.lag.map(|l| l.as_millis().to_string()),
            replication,
            counter(|n| n.open.load(Ordering::Relaxed)),
            counter(|n| n.busy.load(Ordering::Relaxed)),
            counter(|n| n.queries.load(Ordering::Relaxed) as i64),
            counter(|n| n.errors.load(Ordering::Relaxed) as i64),
            r.last_probe.map(fmt_time),
        ]);
    }
    out
}

pub(super) fn balance_word(b: Balance) -> &'static str {
    match b {
        Balance::Random => "random",
        Balance::Weighted => "weighted",
        Balance::RoundRobin => "round_robin",
        Balance::LeastConnections => "least_connections",
    }
}

pub(super) fn failover_word(f: Failover) -> &'static str {
    match f {
        Failover::None => "none",
        Failover::Promote => "promote",
    }
}

pub(super) fn fallback_word(f: ReadFallback) -> &'static str {
    match f {
        ReadFallback::Master => "master",
        ReadFallback::Error => "error",
    }
}

fn placement_word(p: Placement) -> &'static str {
    match p {
        Placement::None => "none",
        Placement::Hash => "hash",
        Placement::RoundRobin => "round_robin",
    }
}

pub(super) fn replicas_text(g: &crate::config::Group) -> String {
    g.replicas
        .iter()
        .map(|r| format!("{} (weight {})", r.addr.text, r.weight))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SHOW GROUPS`: one row per group.
pub fn groups(topo: &Topology, reports: &[NodeReport]) -> Rows {
    let mut out = Rows::new(&[
        "group",
        "master",
        "replicas",
        "balance",
        "failover",
        "read_fallback",
        "master_state",
        "readable_replicas",
    ]);
    for g in &topo.groups {
        let mine = || reports.iter().filter(|r| r.group == g.name);
        let master_state = mine()
            .find(|r| r.role == Role::Master)
            .map(|r| state_word(r.state).to_string());
        let readable = mine()
            .filter(|r| r.role == Role::Replica && r.readable)
            .count();
        out.rows.push(vec![
            s(&g.name),
            s(&g.master.text),
            s(replicas_text(g)),
            s(balance_word(g.balance)),
            s(failover_word(g.failover)),
            s(fallback_word(g.read_fallback)),
            master_state,
            s(format!("{readable}/{}", g.replicas.len())),
        ]);
    }
    out
}

// ---------------------------------------------------------------------------
// SHOW RULES / SHOW BUCKETS

pub(super) fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

/// `SHOW RULES`: one row per sharding rule of every schema.
pub fn rules(topo: &Topology, state: &RouteState) -> Rows {
    let mut out = Rows::new(&[
        "schema",
        "rule",
        "kind",
        "groups",
        "tables_per_group",
        "detail",
        "tables",
    ]);
    for schema in &topo.schemas {
        for rule in &schema.rules {
            let detail = match &rule.kind {
                RuleKind::Range(RangeSpec::RowsPerTable(n)) => format!("rows_per_table={n}"),
                RuleKind::Range(RangeSpec::Boundaries(b)) => {
                    format!("boundaries=[{}]", join(b))
                }
                RuleKind::Hash => format!("shards={}", rule.shard_count()),
                RuleKind::Bucket { buckets } => match state.bucket_map(&schema.name, &rule.name) {
                    Some(m) => format!("buckets={buckets}, map version {}", m.version()),
                    None => format!("buckets={buckets}, no map"),
                },
                RuleKind::Lookup(l) => format!(
                    "directory {}.{}({} -> {}) on {}, cache {}, placement {}",
                    schema.name,
                    l.table,
                    l.key_column,
                    l.shard_column,
                    l.group,
                    l.cache_size,
                    placement_word(l.placement)
                ),
            };
            let tables: Vec<&str> = schema
                .tables
                .iter()
                .filter(
                    |t| matches!(&t.kind, TableKind::Sharded { rule: r, .. } if *r == rule.name),
                )
                .map(|t| t.name.as_str())
                .collect();
            out.rows.push(vec![
                s(&schema.name),
                s(&rule.name),
                s(rule.kind.as_str()),
                s(rule.groups.join(",")),
                s(join(&rule.tables_per_group)),
                s(detail),
                s(tables.join(",")),
            ]);
        }
    }
    out
}

/// `SHOW BUCKETS [schema.rule]`: the bucket map of each bucket rule (or of
/// the one named) as runs of contiguous buckets on one group.
pub fn buckets(
    topo: &Topology,
    state: &RouteState,
    which: Option<&super::RuleRef>,
) -> Result<Rows, String> {
    let mut out = Rows::new(&[
        "schema",
        "rule",
        "version",
        "bucket_from",
        "bucket_to",
        "group",
    ]);
    if let Some(w) = which {
        let rule = topo
            .schema(&w.schema)
            .and_then(|s| s.rule(&w.rule))
            .ok_or_else(|| {
                format!(
                    "shardgate admin: no rule '{}.{}' (see SHOW RULES)",
                    w.schema, w.rule
                )
            })?;
        if !matches!(rule.kind, RuleKind::Bucket { .. }) {
            return Err(format!(
                "shardgate admin: rule '{}.{}' is a {} rule, not a bucket rule",
                w.schema,
                w.rule,
                rule.kind.as_str()
            ));
        }
    }
    for schema in &topo.schemas {
        for rule in &schema.rules {
            if !matches!(rule.kind, RuleKind::Bucket { .. }) {
                continue;
            }
            if which.is_some_and(|w| w.schema != schema.name || w.rule != rule.name) {
                continue;
            }
            let Some(map) = state.bucket_map(&schema.name, &rule.name) else {
                continue;
            };
            let slice = map.as_slice();
            let mut start = 0usize;
            while start < slice.len() {
                let g = slice[start];
                let mut end = start;
                while end + 1 < slice.len() && slice[end + 1] == g {
                    end += 1;
                }
                let group = rule
                    .groups
                    .get(usize::from(g))
                    .cloned()
                    .unwrap_or_else(|| format!("#{g}"));
                out.rows.push(vec![
                    s(&schema.name),
                    s(&rule.name),
                    s(map.version()),
                    s(start),
                    s(end),
                    s(group),
                ]);
                start = end + 1;
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// SHOW SESSIONS / SHOW STATS

/// `SHOW SESSIONS`: the client sessions of the proxy port.
pub fn sessions(list: &[(u32, SessionEntry)]) -> Rows {
    let mut out = Rows::new(&["id", "user", "peer", "io_thread", "backend"]);
    for (id, e) in list {
        out.rows.push(vec![
            s(id),
            s(&e.user),
            s(e.peer),
            s(e.io),
            e.backend.map(|(a, t)| format!("{a}/{t}")),
        ]);
    }
    out
}

/// `SHOW STATS`: name/value counters of the whole process.
pub fn stats(shared: &Shared) -> Rows {
    let mut out = Rows::new(&["name", "value"]);
    let mut add = |n: &str, v: String| out.rows.push(vec![s(n), Some(v)]);
    let st = &shared.stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed).to_string();
    add("uptime_s", shared.started.elapsed().as_secs().to_string());
    add(
        "clients",
        shared.clients.load(Ordering::Relaxed).to_string(),
    );
    add("sessions", shared.sessions.lock().len().to_string());
    add("queries", load(&st.queries));
    add("errors", load(&st.errors));
    add("slow_queries", load(&st.slow_queries));
    for kind in QueryKind::ALL {
        let (n, e) = shared.metrics.count(kind);
        add(&format!("queries_{}", kind.as_str()), n.to_string());
        add(&format!("errors_{}", kind.as_str()), e.to_string());
    }
    let (hist, sum) = shared.metrics.latency();
    let count: u64 = hist.iter().sum();
    add("latency_count", count.to_string());
    add(
        "latency_avg_ms",
        if count == 0 {
            "0".to_string()
        } else {
            format!("{:.3}", sum.as_secs_f64() * 1000.0 / count as f64)
        },
    );
    add("backend_connects", load(&st.backend_connects));
    add(
        "backend_connect_failures",
        load(&st.backend_connect_failures),
    );
    let (open, busy) = shared
        .metrics
        .nodes()
        .iter()
        .fold((0, 0), |(o, b), (_, n)| {
            (
                o + n.open.load(Ordering::Relaxed),
                b + n.busy.load(Ordering::Relaxed),
            )
        });
    add("backend_connections_open", open.to_string());
    add("backend_connections_busy", busy.to_string());
    add("buffer_memory_used", shared.budget.used().to_string());
    add("buffer_memory_limit", shared.budget.cap().to_string());
    add("buffer_memory_refused", shared.budget.refused().to_string());
    let reports = shared.health.snapshot();
    add("nodes", reports.len().to_string());
    add(
        "nodes_down",
        reports
            .iter()
            .filter(|r| r.state == NodeState::Down)
            .count()
            .to_string(),
    );
    {
        let meta = shared.meta.lock();
        add("metadata_store", meta.describe());
        add("metadata_generation", meta.generation().to_string());
        add("metadata_state", meta.state().summary());
    }
    add("topology", shared.topology().summary());
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::health::Override;

    pub(crate) const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:3307"
admin_listen = "127.0.0.1:3308"
metrics_listen = "127.0.0.1:9307"
metadata_file = "/tmp/shardgate-admin-unit.meta"
default_group = "g0"

[admin]
user = "admin"
password = "admin-secret"

[[user]]
name = "app"
password = "app-secret"

[backend]
user = "shardgate"
password = "backend-secret"

[[group]]
name = "g0"
master = "127.0.0.1:3310"
replicas = [ { addr = "127.0.0.1:3311", weight = 2 } ]

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
tables_per_group = [2, 1]
rows_per_table = 1000

[[schema.rule]]
name = "by_bucket"
kind = "bucket"
groups = ["g0", "g1"]
buckets = 10

[[schema.table]]
name = "article"
key = "user_id"
rule = "by_user"

[[schema.table]]
name = "item"
key = "item_id"
rule = "by_bucket"

[[schema.table]]
name = "country"
broadcast = true
"#;

    pub(crate) fn shared() -> Arc<Shared> {
        Shared::new(crate::config::parse(CONFIG).expect("config"))
    }

    #[test]
    fn nodes_lists_every_node_with_counters() {
        let sh = shared();
        let a: SocketAddr = "127.0.0.1:3310".parse().unwrap();
        let n = sh.metrics.node(a);
        n.queries.fetch_add(5, Ordering::Relaxed);
        n.open.fetch_add(2, Ordering::Relaxed);
        sh.health
            .set_operator("127.0.0.1:3320", Override::Down)
            .unwrap();
        let r = nodes(&sh.topology(), &sh.health.snapshot(), &sh.metrics);
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.columns.len(), r.rows[0].len());
        assert_eq!(r.get(0, "addr"), Some("127.0.0.1:3310"));
        assert_eq!(r.get(0, "role"), Some("master"));
        assert_eq!(r.get(0, "state"), Some("up"));
        assert_eq!(r.get(0, "queries"), Some("5"));
        assert_eq!(r.get(0, "connections"), Some("2"));
        assert_eq!(r.get(0, "replication"), None);
        assert_eq!(r.get(1, "role"), Some("replica"));
        assert_eq!(r.get(1, "replication"), Some("unknown"));
        assert_eq!(r.get(1, "queries"), Some("0"));
        assert_eq!(r.get(2, "state"), Some("down"));
        assert_eq!(r.get(2, "operator"), Some("down"));
        assert_eq!(r.get(2, "why"), Some("operator"));
        assert_eq!(r.get(2, "last_probe"), None);
    }

    #[test]
    fn groups_rows() {
        let sh = shared();
        let r = groups(&sh.topology(), &sh.health.snapshot());
        assert_eq!(r.get(0, "group"), Some("g0"));
        assert_eq!(r.get(0, "replicas"), Some("127.0.0.1:3311 (weight 2)"));
        assert_eq!(r.get(0, "master_state"), Some("up"));
        // No probe yet: the replica takes no reads.
        assert_eq!(r.get(0, "readable_replicas"), Some("0/1"));
        assert_eq!(r.get(1, "replicas"), Some(""));
    }

    #[test]
    fn rules_and_buckets() {
        let sh = shared();
        let r = rules(&sh.topology(), &sh.route_state());
        assert_eq!(r.rows.len(), 2);
        assert_eq!(r.get(0, "kind"), Some("range"));
        assert_eq!(r.get(0, "detail"), Some("rows_per_table=1000"));
        assert_eq!(r.get(0, "tables_per_group"), Some("2,1"));
        assert_eq!(r.get(0, "tables"), Some("article"));
        assert_eq!(r.get(1, "detail"), Some("buckets=10, map version 1"));
        assert_eq!(r.get(1, "tables"), Some("item"));

        let b = buckets(&sh.topology(), &sh.route_state(), None).unwrap();
        // 10 buckets over 2 groups: 0..=4 on g0, 5..=9 on g1.
        let runs: Vec<_> = b
            .rows
            .iter()
            .map(|r| {
                (
                    r[3].clone().unwrap(),
                    r[4].clone().unwrap(),
                    r[5].clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            runs,
            vec![
                ("0".into(), "4".into(), "g0".into()),
                ("5".into(), "9".into(), "g1".into())
            ]
        );
        let one = super::super::RuleRef {
            schema: "blog".into(),
            rule: "by_bucket".into(),
        };
        assert_eq!(
            buckets(&sh.topology(), &sh.route_state(), Some(&one)).unwrap(),
            b
        );
        let range = super::super::RuleRef {
            schema: "blog".into(),
            rule: "by_user".into(),
        };
        let e = buckets(&sh.topology(), &sh.route_state(), Some(&range)).unwrap_err();
        assert!(e.contains("range rule"), "{e}");
        let none = super::super::RuleRef {
            schema: "blog".into(),
            rule: "nope".into(),
        };
        assert!(buckets(&sh.topology(), &sh.route_state(), Some(&none)).is_err());
    }

    #[test]
    fn stats_has_the_counters() {
        let sh = shared();
        sh.metrics
            .statement(QueryKind::Select, Duration::from_millis(2), false);
        let r = stats(&sh);
        let find = |k: &str| {
            r.rows
                .iter()
                .find(|row| row[0].as_deref() == Some(k))
                .and_then(|row| row[1].clone())
        };
        assert_eq!(find("queries_select").as_deref(), Some("1"));
        assert_eq!(find("latency_count").as_deref(), Some("1"));
        assert_eq!(find("latency_avg_ms").as_deref(), Some("2.000"));
        assert_eq!(find("nodes").as_deref(), Some("3"));
        assert!(find("buffer_memory_limit").is_some());
        assert!(find("metadata_generation").is_some());
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(fmt_time(UNIX_EPOCH), "1970-01-01 00:00:00.000");
        assert_eq!(
            fmt_time(UNIX_EPOCH + Duration::from_millis(1_709_294_400_123)),
            "2024-03-01 12:00:00.123"
        );
        assert_eq!(
            fmt_time(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00.000"
        );
        assert_eq!(fmt_duration(Duration::from_secs(8 * 3600)), "8h");
        assert_eq!(fmt_duration(Duration::from_secs(90)), "90s");
        assert_eq!(fmt_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(fmt_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn sessions_rows() {
        let e = SessionEntry {
            io: 1,
            token: 3,
            user: "app".into(),
            peer: "127.0.0.1:4000".parse().unwrap(),
            backend: Some(("127.0.0.1:3310".parse().unwrap(), 42)),
        };
        let r = sessions(&[(9, e)]);
        assert_eq!(r.get(0, "id"), Some("9"));
        assert_eq!(r.get(0, "backend"), Some("127.0.0.1:3310/42"));
        assert_eq!(r.get(0, "io_thread"), Some("1"));
    }
}
