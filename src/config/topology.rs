//! The validated configuration (`Topology`): typed values with defaults
//! applied and every cross-reference checked, built only by `validate.rs`.
//!
//! The rest of the proxy reads this and never the raw TOML: the reactor reads
//! `Server`, sessions read `User`, the backend pools read `Backend` and
//! `Group`, health checks read `Health`, the router reads `Schema`, `Rule`
//! and `Table`. A reload builds a whole new `Topology` and swaps it in only if
//! it validated, so holders may rely on every invariant documented here.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use super::net::{Cidr, NodeAddr};

/// Defaults for every setting that has one; `conf/shardgate.toml` documents
/// the same values.
pub mod defaults {
    use std::time::Duration;

    pub const LISTEN: &str = "127.0.0.1:3307";
    pub const METADATA_FILE: &str = "shardgate.meta";
    pub const MAX_CONNECTIONS: usize = 10_000;
    pub const MAX_PACKET_SIZE: u64 = 64 << 20;
    pub const MIN_PACKET_SIZE: u64 = 1 << 10;
    pub const MAX_MAX_PACKET_SIZE: u64 = 1 << 30;
    pub const BUFFER_MEMORY: u64 = 256 << 20;
    pub const MIN_BUFFER_MEMORY: u64 = 1 << 20;
    pub const SLOW_QUERY: Duration = Duration::from_secs(1);
    pub const READ_YOUR_WRITES: Duration = Duration::from_secs(2);
    pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
    /// Same as MySQL's `wait_timeout` default.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);
    pub const WORKER_QUEUE: usize = 4096;
    pub const INLINE_PLAN_BYTES: usize = 4096;
    /// Most I/O or worker threads one process may be configured with.
    pub const MAX_THREADS: usize = 1024;

    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    pub const MAX_CONNECTIONS_PER_NODE: usize = 256;
    pub const MIN_IDLE_PER_NODE: usize = 0;
    pub const PREPARED_CACHE_PER_CONNECTION: usize = 128;
    pub const BACKEND_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const PING_INTERVAL: Duration = Duration::from_secs(30);

    pub const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
    pub const HEALTH_TIMEOUT: Duration = Duration::from_millis(500);
    pub const DOWN_AFTER: u32 = 3;
    pub const UP_AFTER: u32 = 2;
    pub const MAX_REPLICA_LAG: Duration = Duration::from_secs(5);

    pub const REPLICA_WEIGHT: u32 = 1;
    pub const TABLES_PER_GROUP: u32 = 1;
    pub const BUCKETS: u32 = 1024;
    pub const LOOKUP_CACHE_SIZE: usize = 100_000;
    /// Physical tables are named `{table}_{i:04}`, so a rule has at most
    /// 10000 shards.
    pub const MAX_SHARDS: usize = 10_000;
}

/// A password from the config. `Debug` does not print it, so a logged
/// `Topology` leaks nothing.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// Everything the proxy runs from, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub server: Server,
    /// Set whenever `server.admin_listen` is.
    pub admin: Option<Admin>,
    /// At least one; names unique.
    pub users: Vec<User>,
    pub backend: Backend,
    pub health: Health,
    /// At least one; names unique; no node address used twice.
    pub groups: Vec<Group>,
    /// Names unique.
    pub schemas: Vec<Schema>,
}

impl Topology {
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.name == name)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn schema(&self, name: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.name == name)
    }

    /// `"2 groups, 1 users, 1 schemas"`: what `--check` and the start-up log
    /// print.
    pub fn summary(&self) -> String {
        format!(
            "{} groups, {} users, {} schemas",
            self.groups.len(),
            self.users.len(),
            self.schemas.len()
        )
    }

    /// Valid settings that do not do what they say yet, for the log (at
    /// start-up, on reload and by `--check`). None at present.
    pub fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `[server]`: the proxy process itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub listen: SocketAddr,
    pub admin_listen: Option<SocketAddr>,
    pub metrics_listen: Option<SocketAddr>,
    /// Resolved: never 0 (0 in the file means one per core).
    pub io_threads: usize,
    /// Resolved: never 0.
    pub worker_threads: usize,
    /// Relative paths resolve against the working directory.
    pub metadata_file: PathBuf,
    pub max_connections: usize,
    /// Bytes; within 1KiB..=1GiB.
    pub max_packet_size: usize,
    /// Bytes; cap of the buffer pool over all threads.
    pub buffer_memory: usize,
    /// `RUST_LOG`, when set, overrides it.
    pub log_level: LevelFilter,
    pub slow_query: Duration,
    /// After a session writes (or commits), its reads go to the master for
    /// this long, so it sees its own writes whatever the replicas' lag
    /// below it. Zero: reads go to replicas right away.
    pub read_your_writes: Duration,
    /// Names an existing group; unknown schemas pass through to it.
    pub default_group: Option<String>,
    pub handshake_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// Idle client sessions are closed after this (like `wait_timeout`).
    pub idle_timeout: Duration,
    /// Capacity of the bounded I/O → worker channel.
    pub worker_queue: usize,
    /// COM_QUERY statements up to this size are planned on the I/O thread
    /// (no hand-off); larger ones, and plans that need blocking I/O, go to
    /// the workers. 0 sends every statement to a worker.
    pub inline_plan_bytes: usize,
}

/// `[admin]`: the account for the admin port.
#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    pub user: String,
    pub password: Secret,
}

/// `[[user]]`: an application account that shardgate authenticates itself.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub password: Secret,
    pub schemas: SchemaAccess,
    /// `None`: any client address.
    pub allow_from: Option<Vec<Cidr>>,
    /// Most concurrent sessions of this user; `None`: only the server cap.
    pub max_connections: Option<usize>,
}

impl User {
    /// Whether a client at `ip` may log in as this user.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match &self.allow_from {
            None => true,
            Some(nets) => nets.iter().any(|n| n.contains(ip)),
        }
    }

    /// Whether this user may use logical schema `schema`.
    pub fn may_use(&self, schema: &str) -> bool {
        match &self.schemas {
            SchemaAccess::All => true,
            SchemaAccess::Only(names) => names.iter().any(|n| n == schema),
        }
    }
}

/// Which logical schemas a user may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaAccess {
    /// `schemas = ["*"]` (the default).
    All,
    /// Non-empty.
    Only(Vec<String>),
}

/// `[backend]`: how shardgate connects to the MySQL servers.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub user: String,
    pub password: Secret,
    pub connect_timeout: Duration,
    /// Per node and per process (all I/O threads together).
    pub max_connections_per_node: usize,
    /// At most `max_connections_per_node`.
    pub min_idle_per_node: usize,
    /// Idle pooled connections above `min_idle_per_node` are closed after this.
    pub idle_timeout: Duration,
    /// Idle pooled connections are pinged this often.
    pub ping_interval: Duration,
    /// `None`: statements may run as long as the server lets them.
    pub query_timeout: Option<Duration>,
    /// Server-side prepared statements kept open per backend connection
    /// for EXECUTEs on sharded tables; 0 = prepare, execute and close each time.
    pub prepared_cache_per_connection: usize,
}

/// `[health]`: active probes of every node.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub interval: Duration,
    /// At most `interval`.
    pub timeout: Duration,
    /// >= 1.
    pub down_after: u32,
    /// >= 1.
    pub up_after: u32,
    pub max_replica_lag: Duration,
}

/// `[[group]]`: one replication set.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub master: NodeAddr,
    pub replicas: Vec<Replica>,
    pub balance: Balance,
    pub failover: Failover,
    /// Where reads go when no replica can take them.
    pub read_fallback: ReadFallback,
}

/// `read_fallback` of a group: what a read does when no replica is
/// readable (all down, stopped, or lagging).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadFallback {
    /// The master takes the read.
    #[default]
    Master,
    /// The read fails with an error naming the group.
    Error,
}

impl Group {
    /// The master then the replicas.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeAddr> {
        std::iter::once(&self.master).chain(self.replicas.iter().map(|r| &r.addr))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub addr: NodeAddr,
    /// >= 1.
    pub weight: u32,
}

/// How reads are spread over a group's replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    Random,
    Weighted,
    RoundRobin,
    LeastConnections,
}

/// What happens when a group's master goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failover {
    /// Writes fail until an operator acts.
    None,
    /// The most caught-up healthy replica is promoted.
    Promote,
}

/// `[[schema]]`: a logical schema that clients `USE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: String,
    /// Where unlisted (unsharded) tables live; names an existing group.
    pub default_group: String,
    pub rules: Vec<Rule>,
    pub tables: Vec<Table>,
}

impl Schema {
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// `[[schema.rule]]`: turns a key value into a shard index; shard `i` is the
/// physical table `{table}_{i:04}` on one of `groups`. Shards are numbered
/// group by group in the order of `groups`: with `groups = ["g0", "g1"]` and
/// `tables_per_group = [2, 2]`, shards 0 and 1 are on g0, 2 and 3 on g1.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    /// Non-empty, distinct, existing groups.
    pub groups: Vec<String>,
    /// Same length as `groups`, each >= 1.
    pub tables_per_group: Vec<u32>,
    pub kind: RuleKind,
    /// Shard index → index into `groups`; length = shard count.
    shard_groups: Vec<usize>,
}

impl Rule {
    /// Builds a rule; `tables_per_group` has one count per entry of `groups`.
    pub fn new(
        name: String,
        groups: Vec<String>,
        tables_per_group: Vec<u32>,
        kind: RuleKind,
    ) -> Rule {
        let shard_groups = tables_per_group
            .iter()
            .enumerate()
            .flat_map(|(g, &n)| std::iter::repeat_n(g, n as usize))
            .collect();
        Rule {
            name,
            groups,
            tables_per_group,
            kind,
            shard_groups,
        }
    }

    /// Sum of `tables_per_group`; 1..=10000.
    pub fn shard_count(&self) -> usize {
        self.shard_groups.len()
    }

    /// The group that holds shard `shard`.
    pub fn group_of_shard(&self, shard: usize) -> Option<&str> {
        let g = *self.shard_groups.get(shard)?;
        self.groups.get(g).map(String::as_str)
    }

    /// The first shard `group` holds (the physical table that stands for a
    /// sharded table in that group's metadata listings).
    pub fn first_shard_on(&self, group: &str) -> Option<usize> {
        (0..self.shard_count()).find(|&s| self.group_of_shard(s) == Some(group))
    }

    /// Shard `shard` of logical table `table`: its group and physical table
    /// name (`{table}_{shard:04}`).
    pub fn locate(&self, table: &str, shard: usize) -> Option<(&str, String)> {
        let group = self.group_of_shard(shard)?;
        Some((group, physical_table_name(table, shard)))
    }

    /// The shard indexes stored on `group` (empty if the rule does not use it).
    pub fn shards_on(&self, group: &str) -> Range<usize> {
        let Some(g) = self.groups.iter().position(|n| n == group) else {
            return 0..0;
        };
        let start: usize = self
            .tables_per_group
            .iter()
            .take(g)
            .map(|&n| n as usize)
            .sum();
        let len = self.tables_per_group.get(g).map_or(0, |&n| n as usize);
        start..start + len
    }
}

/// The physical name of shard `shard` of `table`: `article`, 3 → `article_0003`.
pub fn physical_table_name(table: &str, shard: usize) -> String {
    format!("{table}_{shard:04}")
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    Range(RangeSpec),
    /// Integer keys: key mod shard count; other keys: crc32 of the bytes.
    Hash,
    Lookup(Lookup),
    /// Key → crc32 → one of `buckets` virtual buckets → group, through the
    /// bucket map in the metadata file. `buckets` >= number of groups.
    Bucket {
        buckets: u32,
    },
}

impl RuleKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RuleKind::Range(_) => "range",
            RuleKind::Hash => "hash",
            RuleKind::Lookup(_) => "lookup",
            RuleKind::Bucket { .. } => "bucket",
        }
    }
}

/// How a range rule maps integer keys to shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeSpec {
    /// Keys `0..n` → shard 0, `n..2n` → shard 1, …; keys below 0 or at or
    /// above `n * shard_count` have no shard. `n` > 0.
    RowsPerTable(u64),
    /// One exclusive upper bound per shard, strictly increasing: keys below
    /// `b[0]` → shard 0, `b[0]..b[1]` → shard 1, …; keys at or above the last
    /// bound have no shard. Length = shard count.
    Boundaries(Vec<i64>),
}

/// The directory of a lookup rule: `key_column` → `shard_column` rows in
/// `table`, in the schema's database on `group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub group: String,
    pub table: String,
    pub key_column: String,
    pub shard_column: String,
    /// Entries kept in memory; 0 disables the cache.
    pub cache_size: usize,
    pub placement: Placement,
}

/// Where an INSERT puts a key that the directory does not have yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Refused: the application fills the directory first.
    None,
    /// Shard = hash of the key, recorded in the directory.
    Hash,
    /// Next shard in turn, recorded in the directory.
    RoundRobin,
}

/// `[[schema.table]]`: a table that is not simply unsharded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub kind: TableKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableKind {
    /// A full copy on every group; writes go to all of them.
    Broadcast,
    /// Split by `key` through the schema's rule `rule` (which exists).
    Sharded { key: String, rule: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], tables: &[u32]) -> Rule {
        Rule::new(
            "r".into(),
            groups.iter().map(|s| s.to_string()).collect(),
            tables.to_vec(),
            RuleKind::Hash,
        )
    }

    #[test]
    fn shards_are_numbered_group_by_group() {
        let r = rule(&["g0", "g1"], &[2, 3]);
        assert_eq!(r.shard_count(), 5);
        assert_eq!(r.group_of_shard(0), Some("g0"));
        assert_eq!(r.group_of_shard(1), Some("g0"));
        assert_eq!(r.group_of_shard(2), Some("g1"));
        assert_eq!(r.group_of_shard(4), Some("g1"));
        assert_eq!(r.group_of_shard(5), None);
        assert_eq!(r.shards_on("g0"), 0..2);
        assert_eq!(r.shards_on("g1"), 2..5);
        assert_eq!(r.shards_on("g9"), 0..0);
    }

    #[test]
    fn locate_names_physical_tables() {
        let r = rule(&["g0", "g1"], &[2, 2]);
        assert_eq!(r.locate("article", 0), Some(("g0", "article_0000".into())));
        assert_eq!(r.locate("article", 3), Some(("g1", "article_0003".into())));
        assert_eq!(r.locate("article", 4), None);
        assert_eq!(physical_table_name("t", 9999), "t_9999");
    }

    #[test]
    fn user_allows_and_may_use() {
        let mut u = User {
            name: "app".into(),
            password: Secret::new("pw"),
            schemas: SchemaAccess::Only(vec!["blog".into()]),
            allow_from: Some(vec!["10.0.0.0/8".parse().unwrap()]),
            max_connections: None,
        };
        assert!(u.allows("10.1.2.3".parse().unwrap()));
        assert!(!u.allows("192.168.0.1".parse().unwrap()));
        assert!(u.may_use("blog"));
        assert!(!u.may_use("shop"));
        u.allow_from = None;
        u.schemas = SchemaAccess::All;
        assert!(u.allows("192.168.0.1".parse().unwrap()));
        assert!(u.may_use("shop"));
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"***\"");
        assert_eq!(s.expose(), "hunter2");
    }
}
