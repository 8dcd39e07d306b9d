//! Step two of loading a config: `RawConfig` → `Topology`. Applies defaults,
//! parses durations, sizes, addresses and networks, and checks every bound
//! and cross-reference (groups named by schemas and rules, rules named by
//! tables, no node address used twice, …).
//!
//! It is the only way a `Topology` is built, so start-up, SIGHUP reload and
//! `--check` all accept and refuse exactly the same files. The first problem
//! found is returned as `ConfigError::Invalid { key, problem }`, where `key`
//! reads like a path into the file: `group "g1": replicas[0].weight`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use log::LevelFilter;

use super::error::ConfigError;
use super::net::{Cidr, NodeAddr};
use super::raw::{
    RawAdmin, RawBackend, RawBalance, RawConfig, RawFailover, RawGroup, RawHealth, RawLookup,
    RawPlacement, RawReadFallback, RawRule, RawRuleKind, RawSchema, RawServer, RawSize, RawTable,
    RawUser,
};
use super::topology::{
    defaults, Admin, Backend, Balance, Failover, Group, Health, Lookup, Placement, RangeSpec,
    ReadFallback, Replica, Rule, RuleKind, Schema, SchemaAccess, Secret, Server, Table, TableKind,
    Topology, User,
};
use super::units::{format_size, parse_duration, parse_size};

type Result<T> = std::result::Result<T, ConfigError>;

/// Longest identifier MySQL accepts (schema, table and column names).
const MAX_IDENT: usize = 64;
/// Most virtual buckets a bucket rule may have.
const MAX_BUCKETS: i64 = 1 << 20;

/// Builds the validated topology from the raw file.
pub fn validate(raw: RawConfig) -> Result<Topology> {
    let RawConfig {
        server,
        admin,
        user,
        backend,
        health,
        group,
        schema,
    } = raw;
    let default_group = server.default_group.clone();
    let mut server = validate_server(server)?;
    let admin = validate_admin(admin, &server)?;
    let backend = validate_backend(backend)?;
    let health = validate_health(health)?;
    let groups = validate_groups(group, &server)?;

    if let Some(name) = default_group {
        if !groups.iter().any(|g| g.name == name) {
            return Err(ConfigError::invalid(
                "server.default_group",
                format!("group {name:?} is not defined"),
            ));
        }
        server.default_group = Some(name);
    }

    let schemas = validate_schemas(schema, &server, &groups)?;
    if schemas.is_empty() && server.default_group.is_none() {
        return Err(ConfigError::invalid(
            "schema",
            "no [[schema]] is declared and server.default_group is not set: nothing could be routed",
        ));
    }
    let users = validate_users(user, &server, &schemas)?;

    Ok(Topology {
        server,
        admin,
        users,
        backend,
        health,
        groups,
        schemas,
    })
}

// ---------------------------------------------------------------------------
// [server], [admin], [backend], [health]

fn validate_server(raw: RawServer) -> Result<Server> {
    let listen = socket_addr(
        "server.listen",
        raw.listen.as_deref().unwrap_or(defaults::LISTEN),
    )?;
    let admin_listen = raw
        .admin_listen
        .as_deref()
        .map(|s| socket_addr("server.admin_listen", s))
        .transpose()?;
    let metrics_listen = raw
        .metrics_listen
        .as_deref()
        .map(|s| socket_addr("server.metrics_listen", s))
        .transpose()?;
    if admin_listen == Some(listen) {
        return Err(ConfigError::invalid(
            "server.admin_listen",
            format!("{listen} is also server.listen"),
        ));
    }
    if metrics_listen.is_some()
        && (metrics_listen == Some(listen) || metrics_listen == admin_listen)
    {
        return Err(ConfigError::invalid(
            "server.metrics_listen",
            "must differ from server.listen and server.admin_listen",
        ));
    }

    let metadata_file = raw
        .metadata_file
        .unwrap_or_else(|| defaults::METADATA_FILE.to_string());
    if metadata_file.trim().is_empty() {
        return Err(ConfigError::invalid(
            "server.metadata_file",
            "must not be empty",
        ));
    }

    let max_packet_size = size(
        "server.max_packet_size",
        raw.max_packet_size,
        defaults::MAX_PACKET_SIZE,
    )?;
    if !(defaults::MIN_PACKET_SIZE..=defaults::MAX_MAX_PACKET_SIZE).contains(&max_packet_size) {
        return Err(ConfigError::invalid(
            "server.max_packet_size",
            format!(
                "must be >= 1KiB and <= 1GiB, got {}",
                format_size(max_packet_size)
            ),
        ));
    }
    let buffer_memory = size(
        "server.buffer_memory",
        raw.buffer_memory,
        defaults::BUFFER_MEMORY,
    )?;
    if buffer_memory < defaults::MIN_BUFFER_MEMORY {
        return Err(ConfigError::invalid(
            "server.buffer_memory",
            format!("must be >= 1MiB, got {}", format_size(buffer_memory)),
        ));
    }

    let log_level = match raw.log_level.as_deref() {
        None => LevelFilter::Info,
        Some(s) => LevelFilter::from_str(s.trim()).map_err(|_| {
            ConfigError::invalid(
                "server.log_level",
                format!("{s:?} is not one of off, error, warn, info, debug, trace"),
            )
        })?,
    };

    Ok(Server {
        listen,
        admin_listen,
        metrics_listen,
        io_threads: threads("server.io_threads", raw.io_threads)?,
        worker_threads: threads("server.worker_threads", raw.worker_threads)?,
        metadata_file: PathBuf::from(metadata_file),
        max_connections: count(
            "server.max_connections",
            raw.max_connections,
            defaults::MAX_CONNECTIONS,
            1,
        )?,
        max_packet_size: to_usize("server.max_packet_size", max_packet_size)?,
        buffer_memory: to_usize("server.buffer_memory", buffer_memory)?,
        log_level,
        slow_query: duration("server.slow_query", raw.slow_query, defaults::SLOW_QUERY)?,
        read_your_writes: duration(
            "server.read_your_writes",
            raw.read_your_writes,
            defaults::READ_YOUR_WRITES,
        )?,
        default_group: None, // checked once the groups are known
        handshake_timeout: positive_duration(
            "server.handshake_timeout",
            raw.handshake_timeout,
            defaults::HANDSHAKE_TIMEOUT,
        )?,
        shutdown_timeout: duration(
            "server.shutdown_timeout",
            raw.shutdown_timeout,
            defaults::SHUTDOWN_TIMEOUT,
        )?,
        idle_timeout: positive_duration(
            "server.idle_timeout",
            raw.idle_timeout,
            defaults::IDLE_TIMEOUT,
        )?,
        worker_queue: count(
            "server.worker_queue",
            raw.worker_queue,
            defaults::WORKER_QUEUE,
            1,
        )?,
        inline_plan_bytes: count(
            "server.inline_plan_bytes",
            raw.inline_plan_bytes,
            defaults::INLINE_PLAN_BYTES,
            0,
        )?,
    })
}

fn validate_admin(raw: Option<RawAdmin>, server: &Server) -> Result<Option<Admin>> {
    let Some(raw) = raw else {
        if server.admin_listen.is_some() {
            return Err(ConfigError::invalid(
                "admin",
                "an [admin] section (user, password) is required when server.admin_listen is set",
            ));
        }
        return Ok(None);
    };
    if raw.user.trim().is_empty() {
        return Err(ConfigError::invalid("admin.user", "must not be empty"));
    }
    if raw.password.is_empty() {
        return Err(ConfigError::invalid(
            "admin.password",
            "must not be empty: the admin port can change routing",
        ));
    }
    Ok(Some(Admin {
        user: raw.user,
        password: Secret::new(raw.password),
    }))
}

fn validate_backend(raw: Option<RawBackend>) -> Result<Backend> {
    let Some(raw) = raw else {
        return Err(ConfigError::invalid(
            "backend",
            "a [backend] section is required: the user (and password) shardgate logs in with on every server",
        ));
    };
    if raw.user.trim().is_empty() {
        return Err(ConfigError::invalid("backend.user", "must not be empty"));
    }
    let max_connections_per_node = count(
        "backend.max_connections_per_node",
        raw.max_connections_per_node,
        defaults::MAX_CONNECTIONS_PER_NODE,
        1,
    )?;
    let min_idle_per_node = count(
        "backend.min_idle_per_node",
        raw.min_idle_per_node,
        defaults::MIN_IDLE_PER_NODE,
        0,
    )?;
    let prepared_cache_per_connection = count(
        "backend.prepared_cache_per_connection",
        raw.prepared_cache_per_connection,
        defaults::PREPARED_CACHE_PER_CONNECTION,
        0,
    )?;
    if min_idle_per_node > max_connections_per_node {
        return Err(ConfigError::invalid(
            "backend.min_idle_per_node",
            format!(
                "must be <= backend.max_connections_per_node ({max_connections_per_node}), got {min_idle_per_node}"
            ),
        ));
    }
    let query_timeout = raw
        .query_timeout
        .map(|s| positive_duration("backend.query_timeout", Some(s), Duration::ZERO))
        .transpose()?;
    Ok(Backend {
        user: raw.user,
        password: Secret::new(raw.password),
        connect_timeout: positive_duration(
            "backend.connect_timeout",
            raw.connect_timeout,
            defaults::CONNECT_TIMEOUT,
        )?,
        max_connections_per_node,
        min_idle_per_node,
        idle_timeout: positive_duration(
            "backend.idle_timeout",
            raw.idle_timeout,
            defaults::BACKEND_IDLE_TIMEOUT,
        )?,
        ping_interval: positive_duration(
            "backend.ping_interval",
            raw.ping_interval,
            defaults::PING_INTERVAL,
        )?,
        query_timeout,
        prepared_cache_per_connection,
    })
}

fn validate_health(raw: RawHealth) -> Result<Health> {
    let interval = positive_duration("health.interval", raw.interval, defaults::HEALTH_INTERVAL)?;
    let timeout = positive_duration("health.timeout", raw.timeout, defaults::HEALTH_TIMEOUT)?;
    if timeout > interval {
        return Err(ConfigError::invalid(
            "health.timeout",
            format!("must be <= health.interval ({interval:?}), got {timeout:?}"),
        ));
    }
    Ok(Health {
        interval,
        timeout,
        down_after: small_count("health.down_after", raw.down_after, defaults::DOWN_AFTER)?,
        up_after: small_count("health.up_after", raw.up_after, defaults::UP_AFTER)?,
        max_replica_lag: duration(
            "health.max_replica_lag",
            raw.max_replica_lag,
            defaults::MAX_REPLICA_LAG,
        )?,
    })
}

// ---------------------------------------------------------------------------
// [[group]]

fn validate_groups(raw: Vec<RawGroup>, server: &Server) -> Result<Vec<Group>> {
    if raw.is_empty() {
        return Err(ConfigError::invalid(
            "group",
            "at least one [[group]] is required",
        ));
    }
    let mut groups: Vec<Group> = Vec::with_capacity(raw.len());
    // node identity -> where it was first used, for messages
    let mut used: HashMap<String, String> = HashMap::new();
    for (i, g) in raw.into_iter().enumerate() {
        label(&format!("group[{i}]: name"), &g.name)?;
        let at = format!("group {:?}", g.name);
        if groups.iter().any(|other| other.name == g.name) {
            return Err(ConfigError::invalid(
                format!("{at}: name"),
                "defined twice; group names must be unique",
            ));
        }
        let master = node_addr(&format!("{at}: master"), &g.master, server, &mut used)?;
        let mut replicas = Vec::with_capacity(g.replicas.len());
        for (r, replica) in g.replicas.into_iter().enumerate() {
            let addr = node_addr(
                &format!("{at}: replicas[{r}].addr"),
                &replica.addr,
                server,
                &mut used,
            )?;
            let weight = match replica.weight {
                None => defaults::REPLICA_WEIGHT,
                Some(w) => u32::try_from(w).ok().filter(|&w| w > 0).ok_or_else(|| {
                    ConfigError::invalid(
                        format!("{at}: replicas[{r}].weight"),
                        format!("must be > 0, got {w}"),
                    )
                })?,
            };
            replicas.push(Replica { addr, weight });
        }
        let failover = match g.failover.unwrap_or(RawFailover::None) {
            RawFailover::None => Failover::None,
            RawFailover::Promote => Failover::Promote,
        };
        if failover == Failover::Promote && replicas.is_empty() {
            return Err(ConfigError::invalid(
                format!("{at}: failover"),
                "\"promote\" needs at least one replica to promote",
            ));
        }
        let balance = match g.balance.unwrap_or(RawBalance::RoundRobin) {
            RawBalance::Random => Balance::Random,
            RawBalance::Weighted => Balance::Weighted,
            RawBalance::RoundRobin => Balance::RoundRobin,
            RawBalance::LeastConnections => Balance::LeastConnections,
        };
        let read_fallback = match g.read_fallback {
            None | Some(RawReadFallback::Master) => ReadFallback::Master,
            Some(RawReadFallback::Error) => ReadFallback::Error,
        };
        groups.push(Group {
            name: g.name,
            master,
            replicas,
            balance,
            failover,
            read_fallback,
        });
    }
    Ok(groups)
}

/// Parses a node address and checks it is not used elsewhere (another node,
/// or shardgate's own listening sockets).
fn node_addr(
    key: &str,
    text: &str,
    server: &Server,
    used: &mut HashMap<String, String>,
) -> Result<NodeAddr> {
    let addr = NodeAddr::from_str(text).map_err(|e| ConfigError::invalid(key, e))?;
    if let Some(sa) = addr.socket {
        let own = [
            ("server.listen", Some(server.listen)),
            ("server.admin_listen", server.admin_listen),
            ("server.metrics_listen", server.metrics_listen),
        ];
        for (own_key, own_addr) in own {
            if own_addr.is_some_and(|own| is_same_socket(own, sa)) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{addr} is shardgate's own {own_key}"),
                ));
            }
        }
    }
    if let Some(first) = used.get(&addr.identity()) {
        return Err(ConfigError::invalid(
            key,
            format!("{addr} is already used by {first}; a node belongs to one place only"),
        ));
    }
    used.insert(addr.identity(), key.replace(": ", " "));
    Ok(addr)
}

/// Whether a backend at `node` would be shardgate listening on `own`.
fn is_same_socket(own: SocketAddr, node: SocketAddr) -> bool {
    own == node
        || (own.port() == node.port()
            && own.ip().is_unspecified()
            && (node.ip().is_loopback() || node.ip().is_unspecified()))
}

// ---------------------------------------------------------------------------
// [[schema]], [[schema.rule]], [[schema.table]]

fn validate_schemas(raw: Vec<RawSchema>, server: &Server, groups: &[Group]) -> Result<Vec<Schema>> {
    let mut schemas: Vec<Schema> = Vec::with_capacity(raw.len());
    for (i, s) in raw.into_iter().enumerate() {
        ident(&format!("schema[{i}]: name"), &s.name)?;
        let at = format!("schema {:?}", s.name);
        if schemas.iter().any(|other| other.name == s.name) {
            return Err(ConfigError::invalid(
                format!("{at}: name"),
                "defined twice; schema names must be unique",
            ));
        }
        let default_group = match (s.default_group, &server.default_group) {
            (Some(g), _) => {
                group_exists(&format!("{at}: default_group"), &g, groups)?;
                g
            }
            (None, Some(g)) => g.clone(),
            (None, None) => {
                return Err(ConfigError::invalid(
                    format!("{at}: default_group"),
                    "not set, and server.default_group is not set either: unlisted tables would have nowhere to live",
                ))
            }
        };
        let mut rules: Vec<Rule> = Vec::with_capacity(s.rule.len());
        for (r, rule) in s.rule.into_iter().enumerate() {
            let built = validate_rule(&at, r, rule, groups)?;
            if rules.iter().any(|other| other.name == built.name) {
                return Err(ConfigError::invalid(
                    format!("{at} rule {:?}: name", built.name),
                    "defined twice in this schema; rule names must be unique",
                ));
            }
            rules.push(built);
        }
        let mut tables: Vec<Table> = Vec::with_capacity(s.table.len());
        for (t, table) in s.table.into_iter().enumerate() {
            let built = validate_table(&at, t, table, &rules)?;
            if tables.iter().any(|other| other.name == built.name) {
                return Err(ConfigError::invalid(
                    format!("{at} table {:?}: name", built.name),
                    "defined twice in this schema; table names must be unique",
                ));
            }
            tables.push(built);
        }
        schemas.push(Schema {
            name: s.name,
            default_group,
            rules,
            tables,
        });
    }
    Ok(schemas)
}

fn validate_rule(schema_at: &str, index: usize, raw: RawRule, groups: &[Group]) -> Result<Rule> {
    label(&format!("{schema_at} rule[{index}]: name"), &raw.name)?;
    let at = format!("{schema_at} rule {:?}", raw.name);
    let kind = raw.kind;

    // Keys that belong to another kind are mistakes, not harmless extras.
    let foreign: [(&str, bool, RawRuleKind); 4] = [
        (
            "rows_per_table",
            raw.rows_per_table.is_some(),
            RawRuleKind::Range,
        ),
        ("boundaries", raw.boundaries.is_some(), RawRuleKind::Range),
        ("lookup", raw.lookup.is_some(), RawRuleKind::Lookup),
        ("buckets", raw.buckets.is_some(), RawRuleKind::Bucket),
    ];
    for (key, present, owner) in foreign {
        if present && kind != owner {
            return Err(ConfigError::invalid(
                format!("{at}: {key}"),
                format!(
                    "only applies to kind = {:?}; this rule is kind = {:?}",
                    owner.as_str(),
                    kind.as_str()
                ),
            ));
        }
    }

    if raw.groups.is_empty() {
        return Err(ConfigError::invalid(
            format!("{at}: groups"),
            "must name at least one group",
        ));
    }
    for (i, g) in raw.groups.iter().enumerate() {
        let key = format!("{at}: groups[{i}]");
        group_exists(&key, g, groups)?;
        if raw.groups[..i].contains(g) {
            return Err(ConfigError::invalid(
                key,
                format!("group {g:?} is listed twice; raise its tables_per_group instead"),
            ));
        }
    }

    let tables_per_group: Vec<u32> = match raw.tables_per_group {
        None => vec![defaults::TABLES_PER_GROUP; raw.groups.len()],
        Some(list) => {
            if list.len() != raw.groups.len() {
                return Err(ConfigError::invalid(
                    format!("{at}: tables_per_group"),
                    format!(
                        "has {} entries but groups has {}; give one count per group",
                        list.len(),
                        raw.groups.len()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(list.len());
            for (i, n) in list.into_iter().enumerate() {
                let n = u32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                    ConfigError::invalid(
                        format!("{at}: tables_per_group[{i}]"),
                        format!("must be >= 1, got {n}"),
                    )
                })?;
                out.push(n);
            }
            out
        }
    };
    let shards: u64 = tables_per_group.iter().map(|&n| u64::from(n)).sum();
    if shards > defaults::MAX_SHARDS as u64 {
        return Err(ConfigError::invalid(
            format!("{at}: tables_per_group"),
            format!(
                "adds up to {shards} physical tables; at most {} (names run _0000.._9999)",
                defaults::MAX_SHARDS
            ),
        ));
    }

    let kind = match kind {
        RawRuleKind::Range => {
            RuleKind::Range(range_spec(&at, raw.rows_per_table, raw.boundaries, shards)?)
        }
        RawRuleKind::Hash => RuleKind::Hash,
        RawRuleKind::Lookup => {
            let Some(lookup) = raw.lookup else {
                return Err(ConfigError::invalid(
                    format!("{at}: lookup"),
                    "kind = \"lookup\" needs lookup = { group, table, key_column, shard_column }",
                ));
            };
            RuleKind::Lookup(validate_lookup(&at, lookup, groups)?)
        }
        RawRuleKind::Bucket => {
            let key = format!("{at}: buckets");
            let buckets = raw.buckets.unwrap_or(i64::from(defaults::BUCKETS));
            if buckets <= 0 || buckets > MAX_BUCKETS {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be > 0 and <= {MAX_BUCKETS}, got {buckets}"),
                ));
            }
            if buckets < raw.groups.len() as i64 {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "must be >= the number of groups ({}), got {buckets}",
                        raw.groups.len()
                    ),
                ));
            }
            RuleKind::Bucket {
                buckets: u32::try_from(buckets).unwrap_or(defaults::BUCKETS),
            }
        }
    };

    Ok(Rule::new(raw.name, raw.groups, tables_per_group, kind))
}

fn range_spec(
    at: &str,
    rows_per_table: Option<i64>,
    boundaries: Option<Vec<i64>>,
    shards: u64,
) -> Result<RangeSpec> {
    match (rows_per_table, boundaries) {
        (None, None) => Err(ConfigError::invalid(
            format!("{at}: rows_per_table"),
            "kind = \"range\" needs rows_per_table (keys per physical table) or boundaries (one upper bound per physical table)",
        )),
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            format!("{at}: boundaries"),
            "set either rows_per_table or boundaries, not both",
        )),
        (Some(n), None) => {
            let key = format!("{at}: rows_per_table");
            if n <= 0 {
                return Err(ConfigError::invalid(key, format!("must be > 0, got {n}")));
            }
            if (n as u64).checked_mul(shards).is_none_or(|top| top > i64::MAX as u64) {
                return Err(ConfigError::invalid(
                    key,
                    "times the number of physical tables overflows a 64-bit key",
                ));
            }
            Ok(RangeSpec::RowsPerTable(n as u64))
        }
        (None, Some(b)) => {
            if b.len() as u64 != shards {
                return Err(ConfigError::invalid(
                    format!("{at}: boundaries"),
                    format!(
                        "has {} entries but the rule has {shards} physical tables; give one upper bound (exclusive) per table",
                        b.len()
                    ),
                ));
            }
            for i in 1..b.len() {
                if b[i] <= b[i - 1] {
                    return Err(ConfigError::invalid(
                        format!("{at}: boundaries[{i}]"),
                        format!(
                            "must be greater than boundaries[{}] ({}), got {}; bounds are strictly increasing",
                            i - 1,
                            b[i - 1],
                            b[i]
                        ),
                    ));
                }
            }
            Ok(RangeSpec::Boundaries(b))
        }
    }
}

fn validate_lookup(at: &str, raw: RawLookup, groups: &[Group]) -> Result<Lookup> {
    group_exists(&format!("{at}: lookup.group"), &raw.group, groups)?;
    ident(&format!("{at}: lookup.table"), &raw.table)?;
    ident(&format!("{at}: lookup.key_column"), &raw.key_column)?;
    ident(&format!("{at}: lookup.shard_column"), &raw.shard_column)?;
    let placement = match raw.placement.unwrap_or(RawPlacement::None) {
        RawPlacement::None => Placement::None,
        RawPlacement::Hash => Placement::Hash,
        RawPlacement::RoundRobin => Placement::RoundRobin,
    };
    Ok(Lookup {
        group: raw.group,
        table: raw.table,
        key_column: raw.key_column,
        shard_column: raw.shard_column,
        cache_size: count(
            &format!("{at}: lookup.cache_size"),
            raw.cache_size,
            defaults::LOOKUP_CACHE_SIZE,
            0,
        )?,
        placement,
    })
}

fn validate_table(schema_at: &str, index: usize, raw: RawTable, rules: &[Rule]) -> Result<Table> {
    ident(&format!("{schema_at} table[{index}]: name"), &raw.name)?;
    let at = format!("{schema_at} table {:?}", raw.name);
    if raw.broadcast == Some(true) {
        for (key, present) in [("key", raw.key.is_some()), ("rule", raw.rule.is_some())] {
            if present {
                return Err(ConfigError::invalid(
                    format!("{at}: {key}"),
                    "not allowed with broadcast = true (a broadcast table is copied whole to every group)",
                ));
            }
        }
        return Ok(Table {
            name: raw.name,
            kind: TableKind::Broadcast,
        });
    }
    let (key, rule) = match (raw.key, raw.rule) {
        (Some(k), Some(r)) => (k, r),
        (None, _) => {
            return Err(ConfigError::invalid(
                format!("{at}: key"),
                "missing: a sharded table needs key and rule (or set broadcast = true)",
            ))
        }
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                format!("{at}: rule"),
                "missing: a sharded table needs key and rule (or set broadcast = true)",
            ))
        }
    };
    ident(&format!("{at}: key"), &key)?;
    if !rules.iter().any(|r| r.name == rule) {
        let defined: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
        let hint = if defined.is_empty() {
            "this schema defines no [[schema.rule]]".to_string()
        } else {
            format!("defined: {}", defined.join(", "))
        };
        return Err(ConfigError::invalid(
            at,
            format!("rule {rule:?} is not defined ({hint})"),
        ));
    }
    let longest = raw.name.chars().count() + "_0000".len();
    if longest > MAX_IDENT {
        return Err(ConfigError::invalid(
            format!("{at}: name"),
            format!("too long for a sharded table: physical names like {:?} would exceed {MAX_IDENT} characters",
                super::topology::physical_table_name(&raw.name, 0)),
        ));
    }
    Ok(Table {
        name: raw.name,
        kind: TableKind::Sharded { key, rule },
    })
}

// ---------------------------------------------------------------------------
// [[user]]

fn validate_users(raw: Vec<RawUser>, server: &Server, schemas: &[Schema]) -> Result<Vec<User>> {
    if raw.is_empty() {
        return Err(ConfigError::invalid(
            "user",
            "at least one [[user]] is required",
        ));
    }
    let mut users: Vec<User> = Vec::with_capacity(raw.len());
    for (i, u) in raw.into_iter().enumerate() {
        if u.name.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("user[{i}]: name"),
                "must not be empty",
            ));
        }
        let at = format!("user {:?}", u.name);
        if users.iter().any(|other| other.name == u.name) {
            return Err(ConfigError::invalid(
                format!("{at}: name"),
                "defined twice; user names must be unique",
            ));
        }
        let schemas = schema_access(&at, u.schemas, server, schemas)?;
        let allow_from = match u.allow_from {
            None => None,
            Some(list) if list.is_empty() => {
                return Err(ConfigError::invalid(
                    format!("{at}: allow_from"),
                    "is empty, so nobody could log in; leave it out to allow any address",
                ))
            }
            Some(list) => Some(
                list.iter()
                    .enumerate()
                    .map(|(n, s)| {
                        Cidr::from_str(s)
                            .map_err(|e| ConfigError::invalid(format!("{at}: allow_from[{n}]"), e))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let max_connections = u
            .max_connections
            .map(|n| count(&format!("{at}: max_connections"), Some(n), 0, 1))
            .transpose()?;
        users.push(User {
            name: u.name,
            password: Secret::new(u.password),
            schemas,
            allow_from,
            max_connections,
        });
    }
    Ok(users)
}

fn schema_access(
    at: &str,
    raw: Option<Vec<String>>,
    server: &Server,
    schemas: &[Schema],
) -> Result<SchemaAccess> {
    let Some(list) = raw else {
        return Ok(SchemaAccess::All);
    };
    if list.is_empty() {
        return Err(ConfigError::invalid(
            format!("{at}: schemas"),
            "is empty, so this user could use nothing; write [\"*\"] for every schema",
        ));
    }
    if list.iter().any(|s| s == "*") {
        if list.len() > 1 {
            return Err(ConfigError::invalid(
                format!("{at}: schemas"),
                "\"*\" already means every schema; it must be the only entry",
            ));
        }
        return Ok(SchemaAccess::All);
    }
    for (i, name) in list.iter().enumerate() {
        let key = format!("{at}: schemas[{i}]");
        ident(&key, name)?;
        if list[..i].contains(name) {
            return Err(ConfigError::invalid(
                key,
                format!("{name:?} is listed twice"),
            ));
        }
        if server.default_group.is_none() && !schemas.iter().any(|s| &s.name == name) {
            return Err(ConfigError::invalid(
                key,
                format!(
                    "schema {name:?} is not declared and server.default_group is not set, so it could never be used"
                ),
            ));
        }
    }
    Ok(SchemaAccess::Only(list))
}

// ---------------------------------------------------------------------------
// value helpers: each names its key in the error

fn group_exists(key: &str, name: &str, groups: &[Group]) -> Result<()> {
    if groups.iter().any(|g| g.name == name) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("group {name:?} is not defined"),
        ))
    }
}

/// A name used only by shardgate (group, rule): non-empty, no whitespace.
fn label(key: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(ConfigError::invalid(key, "must not be empty"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::invalid(
            key,
            format!("{name:?} must not contain whitespace"),
        ));
    }
    Ok(())
}

/// A name that shardgate writes into SQL (schema, table, column): a MySQL
/// identifier without characters that would need escaping in a path.
fn ident(key: &str, name: &str) -> Result<()> {
    label(key, name)?;
    if name.chars().count() > MAX_IDENT {
        return Err(ConfigError::invalid(
            key,
            format!("{name:?} is longer than {MAX_IDENT} characters"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '`' | '.' | '/' | '\\' | '\'' | '"'))
    {
        return Err(ConfigError::invalid(
            key,
            format!("{name:?} must not contain {c:?}"),
        ));
    }
    Ok(())
}

fn socket_addr(key: &str, text: &str) -> Result<SocketAddr> {
    SocketAddr::from_str(text.trim()).map_err(|_| {
        ConfigError::invalid(
            key,
            format!(
                "{text:?} is not an IP:port address (e.g. \"127.0.0.1:3307\" or \"[::1]:3307\")"
            ),
        )
    })
}

fn duration(key: &str, raw: Option<String>, default: Duration) -> Result<Duration> {
    match raw {
        None => Ok(default),
        Some(s) => parse_duration(&s).map_err(|e| ConfigError::invalid(key, e)),
    }
}

fn positive_duration(key: &str, raw: Option<String>, default: Duration) -> Result<Duration> {
    let d = duration(key, raw, default)?;
    if d.is_zero() {
        return Err(ConfigError::invalid(key, "must be > 0"));
    }
    Ok(d)
}

fn size(key: &str, raw: Option<RawSize>, default: u64) -> Result<u64> {
    match raw {
        None => Ok(default),
        Some(RawSize::Bytes(n)) => u64::try_from(n)
            .map_err(|_| ConfigError::invalid(key, format!("must not be negative, got {n}"))),
        Some(RawSize::Text(s)) => parse_size(&s).map_err(|e| ConfigError::invalid(key, e)),
    }
}

fn to_usize(key: &str, n: u64) -> Result<usize> {
    usize::try_from(n).map_err(|_| ConfigError::invalid(key, "too large for this platform"))
}

/// An integer setting with a lower bound.
fn count(key: &str, raw: Option<i64>, default: usize, min: i64) -> Result<usize> {
    let Some(n) = raw else {
        return Ok(default);
    };
    if n < min {
        let bound = if min == 1 {
            "must be > 0".to_string()
        } else {
            format!("must be >= {min}")
        };
        return Err(ConfigError::invalid(key, format!("{bound}, got {n}")));
    }
    usize::try_from(n).map_err(|_| ConfigError::invalid(key, "too large for this platform"))
}

/// A small positive count (probe thresholds).
fn small_count(key: &str, raw: Option<i64>, default: u32) -> Result<u32> {
    let n = count(key, raw, default as usize, 1)?;
    u32::try_from(n).map_err(|_| ConfigError::invalid(key, format!("too large, got {n}")))
}

/// A thread count: 0 means one per core.
fn threads(key: &str, raw: Option<i64>) -> Result<usize> {
    let n = count(key, raw, 0, 0)?;
    if n > defaults::MAX_THREADS {
        return Err(ConfigError::invalid(
            key,
            format!("must be <= {}, got {n}", defaults::MAX_THREADS),
        ));
    }
    if n == 0 {
        return Ok(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
    Ok(n)
}
