//! The admin `SHOW CONFIG` and `HELP` result sets: the running config
//! (validated, defaults applied) as name/value rows, passwords never shown,
//! and the list of admin commands.

use crate::config::{format_size, SchemaAccess, Secret, TableKind, Topology};

use super::views::{
    balance_word, failover_word, fallback_word, fmt_duration, join, replicas_text, s, Rows,
};

fn secret(p: &Secret) -> String {
    if p.is_empty() {
        "(empty)".to_string()
    } else {
        "***".to_string()
    }
}

fn opt<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(T::to_string)
}

/// `SHOW CONFIG`: the running (validated, defaults applied) config as
/// name/value rows. Passwords are never shown.
pub fn config(topo: &Topology) -> Rows {
    let mut out = Rows::new(&["name", "value"]);
    let mut add = |n: String, v: Option<String>| out.rows.push(vec![Some(n), v]);
    let sv = &topo.server;
    let server: [(&str, Option<String>); 19] = [
        ("listen", s(sv.listen)),
        ("admin_listen", opt(&sv.admin_listen)),
        ("metrics_listen", opt(&sv.metrics_listen)),
        ("io_threads", s(sv.io_threads)),
        ("worker_threads", s(sv.worker_threads)),
        ("metadata_file", s(sv.metadata_file.display())),
        ("max_connections", s(sv.max_connections)),
        ("max_packet_size", s(format_size(sv.max_packet_size as u64))),
        ("buffer_memory", s(format_size(sv.buffer_memory as u64))),
        ("log_level", s(sv.log_level.as_str().to_ascii_lowercase())),
        ("slow_query", s(fmt_duration(sv.slow_query))),
        ("read_your_writes", s(fmt_duration(sv.read_your_writes))),
        ("default_group", opt(&sv.default_group)),
        ("handshake_timeout", s(fmt_duration(sv.handshake_timeout))),
        ("shutdown_timeout", s(fmt_duration(sv.shutdown_timeout))),
        ("idle_timeout", s(fmt_duration(sv.idle_timeout))),
        ("worker_queue", s(sv.worker_queue)),
        ("inline_plan_bytes", s(sv.inline_plan_bytes)),
        ("config", s(topo.summary())),
    ];
    for (k, v) in server {
        add(format!("server.{k}"), v);
    }
    if let Some(a) = &topo.admin {
        add("admin.user".into(), s(&a.user));
        add("admin.password".into(), s(secret(&a.password)));
    }
    for u in &topo.users {
        let p = format!("user.{}", u.name);
        add(format!("{p}.password"), s(secret(&u.password)));
        let schemas = match &u.schemas {
            SchemaAccess::All => "*".to_string(),
            SchemaAccess::Only(v) => v.join(","),
        };
        add(format!("{p}.schemas"), s(schemas));
        add(
            format!("{p}.allow_from"),
            u.allow_from.as_ref().map(|v| join(v)),
        );
        add(format!("{p}.max_connections"), opt(&u.max_connections));
    }
    let b = &topo.backend;
    add("backend.user".into(), s(&b.user));
    add("backend.password".into(), s(secret(&b.password)));
    add(
        "backend.connect_timeout".into(),
        s(fmt_duration(b.connect_timeout)),
    );
    add(
        "backend.max_connections_per_node".into(),
        s(b.max_connections_per_node),
    );
    add("backend.min_idle_per_node".into(), s(b.min_idle_per_node));
    add(
        "backend.idle_timeout".into(),
        s(fmt_duration(b.idle_timeout)),
    );
    add(
        "backend.ping_interval".into(),
        s(fmt_duration(b.ping_interval)),
    );
    add(
        "backend.query_timeout".into(),
        b.query_timeout.map(fmt_duration),
    );
    add(
        "backend.prepared_cache_per_connection".into(),
        s(b.prepared_cache_per_connection),
    );
    let h = &topo.health;
    add("health.interval".into(), s(fmt_duration(h.interval)));
    add("health.timeout".into(), s(fmt_duration(h.timeout)));
    add("health.down_after".into(), s(h.down_after));
    add("health.up_after".into(), s(h.up_after));
    add(
        "health.max_replica_lag".into(),
        s(fmt_duration(h.max_replica_lag)),
    );
    for g in &topo.groups {
        let p = format!("group.{}", g.name);
        add(format!("{p}.master"), s(&g.master.text));
        add(format!("{p}.replicas"), s(replicas_text(g)));
        add(format!("{p}.balance"), s(balance_word(g.balance)));
        add(format!("{p}.failover"), s(failover_word(g.failover)));
        add(
            format!("{p}.read_fallback"),
            s(fallback_word(g.read_fallback)),
        );
    }
    for sc in &topo.schemas {
        let p = format!("schema.{}", sc.name);
        add(format!("{p}.default_group"), s(&sc.default_group));
        for r in &sc.rules {
            add(
                format!("{p}.rule.{}", r.name),
                s(format!(
                    "{} over {} (tables {})",
                    r.kind.as_str(),
                    r.groups.join(","),
                    join(&r.tables_per_group)
                )),
            );
        }
        for t in &sc.tables {
            let v = match &t.kind {
                TableKind::Broadcast => "broadcast".to_string(),
                TableKind::Sharded { key, rule } => format!("sharded by {key} (rule {rule})"),
            };
            add(format!("{p}.table.{}", t.name), s(v));
        }
    }
    out
}

/// `HELP` / `SHOW HELP`: the commands.
pub fn help() -> Rows {
    let mut out = Rows::new(&["command", "description"]);
    for (c, d) in [
        (
            "SHOW NODES",
            "every backend node: state, probe, operator override, lag, counters",
        ),
        ("SHOW GROUPS", "groups: master, replicas, balance, failover"),
        (
            "SHOW RULES",
            "sharding rules of every schema and the tables using them",
        ),
        (
            "SHOW BUCKETS [schema.rule]",
            "bucket maps as runs of buckets per group",
        ),
        ("SHOW SESSIONS", "client sessions of the proxy port"),
        ("SHOW STATS", "process counters"),
        ("SHOW CONFIG", "the running config (passwords hidden)"),
        (
            "SET NODE '<addr>' UP|DOWN|AUTO [REASON '<text>']",
            "operator override of a node (kept across restarts); AUTO hands it back to the probes",
        ),
        (
            "RELOAD",
            "re-read and validate the config file; an invalid file changes nothing",
        ),
        ("EXPLAIN SHARDGATE <sql>", "where a statement would run"),
        ("USE <schema>", "the schema EXPLAIN SHARDGATE plans in"),
    ] {
        out.rows.push(vec![s(c), s(d)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::views::tests::shared;

    #[test]
    fn config_hides_passwords() {
        let sh = shared();
        let r = config(&sh.topology());
        let text = format!("{:?}", r.rows);
        assert!(!text.contains("secret"), "a password leaked: {text}");
        let find = |k: &str| {
            r.rows
                .iter()
                .find(|row| row[0].as_deref() == Some(k))
                .and_then(|row| row[1].clone())
        };
        assert_eq!(find("admin.password").as_deref(), Some("***"));
        assert_eq!(find("backend.password").as_deref(), Some("***"));
        assert_eq!(find("user.app.password").as_deref(), Some("***"));
        assert_eq!(find("server.idle_timeout").as_deref(), Some("8h"));
        assert_eq!(find("server.max_packet_size").as_deref(), Some("64MiB"));
        assert_eq!(
            find("schema.blog.table.item").as_deref(),
            Some("sharded by item_id (rule by_bucket)")
        );
        assert_eq!(
            find("server.admin_listen").as_deref(),
            Some("127.0.0.1:3308")
        );
    }
}
