//! The config file as written: serde structs that mirror the TOML one to one
//! (step one of two; `validate.rs` turns them into a `Topology`).
//!
//! Every struct denies unknown fields, so a misspelt key is a TOML error with
//! its line and column instead of a setting silently left at its default.
//! Values stay loose here (integers as `i64`, durations and sizes as text) so
//! that the validation pass can say which key is out of range and why.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    pub admin: Option<RawAdmin>,
    #[serde(default)]
    pub user: Vec<RawUser>,
    pub backend: Option<RawBackend>,
    #[serde(default)]
    pub health: RawHealth,
    #[serde(default)]
    pub group: Vec<RawGroup>,
    #[serde(default)]
    pub schema: Vec<RawSchema>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub io_threads: Option<i64>,
    pub worker_threads: Option<i64>,
    pub metadata_file: Option<String>,
    pub max_connections: Option<i64>,
    pub max_packet_size: Option<RawSize>,
    pub buffer_memory: Option<RawSize>,
    pub log_level: Option<String>,
    pub slow_query: Option<String>,
    pub read_your_writes: Option<String>,
    pub default_group: Option<String>,
    pub handshake_timeout: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub worker_queue: Option<i64>,
    pub inline_plan_bytes: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub user: String,
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUser {
    pub name: String,
    pub password: String,
    pub schemas: Option<Vec<String>>,
    pub allow_from: Option<Vec<String>>,
    pub max_connections: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBackend {
    pub user: String,
    #[serde(default)]
    pub password: String,
    pub connect_timeout: Option<String>,
    pub max_connections_per_node: Option<i64>,
    pub min_idle_per_node: Option<i64>,
    pub prepared_cache_per_connection: Option<i64>,
    pub idle_timeout: Option<String>,
    pub ping_interval: Option<String>,
    pub query_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub down_after: Option<i64>,
    pub up_after: Option<i64>,
    pub max_replica_lag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub name: String,
    pub master: String,
    #[serde(default)]
    pub replicas: Vec<RawReplica>,
    pub balance: Option<RawBalance>,
    pub failover: Option<RawFailover>,
    pub read_fallback: Option<RawReadFallback>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawReadFallback {
    Master,
    Error,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplica {
    pub addr: String,
    pub weight: Option<i64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawBalance {
    Random,
    Weighted,
    RoundRobin,
    LeastConnections,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawFailover {
    None,
    Promote,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchema {
    pub name: String,
    pub default_group: Option<String>,
    #[serde(default)]
    pub rule: Vec<RawRule>,
    #[serde(default)]
    pub table: Vec<RawTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: String,
    pub kind: RawRuleKind,
    #[serde(default)]
    pub groups: Vec<String>,
    pub tables_per_group: Option<Vec<i64>>,
    /// range only
    pub rows_per_table: Option<i64>,
    /// range only
    pub boundaries: Option<Vec<i64>>,
    /// lookup only
    pub lookup: Option<RawLookup>,
    /// bucket only
    pub buckets: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawRuleKind {
    Range,
    Hash,
    Lookup,
    Bucket,
}

impl RawRuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RawRuleKind::Range => "range",
            RawRuleKind::Hash => "hash",
            RawRuleKind::Lookup => "lookup",
            RawRuleKind::Bucket => "bucket",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLookup {
    pub group: String,
    pub table: String,
    pub key_column: String,
    pub shard_column: String,
    pub cache_size: Option<i64>,
    pub placement: Option<RawPlacement>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawPlacement {
    None,
    Hash,
    RoundRobin,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    pub name: String,
    pub broadcast: Option<bool>,
    pub key: Option<String>,
    pub rule: Option<String>,
}

/// A size as written: a string with a unit (`"64MiB"`) or an integer number
/// of bytes. Parsed (and range-checked) by the validation pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = RawSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64MiB\" or an integer number of bytes")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawSize, E> {
                Ok(RawSize::Bytes(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawSize, E> {
                i64::try_from(v)
                    .map(RawSize::Bytes)
                    .map_err(|_| E::custom("size is too large"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawSize, E> {
                Ok(RawSize::Text(v.to_string()))
            }
        }

        d.deserialize_any(SizeVisitor)
    }
}
