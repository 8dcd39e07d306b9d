//! Configuration: the TOML file (`conf/shardgate.toml`) → a validated
//! [`Topology`], in two steps — `raw` deserializes the file as written
//! (unknown keys refused), `validate` applies defaults and checks every bound
//! and cross-reference.
//!
//! [`load`] is the one entry point used at start-up, on SIGHUP and by
//! `shardgate --check`: a reload that fails here changes nothing. Units
//! (durations, sizes) are in `units`, addresses and client networks in `net`,
//! the typed result in `topology`, errors in `error`.

mod error;
mod net;
mod raw;
mod topology;
mod units;
mod validate;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::ConfigError;
pub use net::{Cidr, NodeAddr};
pub use topology::{
    defaults, physical_table_name, Admin, Backend, Balance, Failover, Group, Health, Lookup,
    Placement, RangeSpec, ReadFallback, Replica, Rule, RuleKind, Schema, SchemaAccess, Secret,
    Server, Table, TableKind, Topology, User,
};
pub use units::{format_size, parse_duration, parse_size};

/// The config path used when `--config` is not given.
pub const DEFAULT_PATH: &str = "conf/shardgate.toml";

/// Reads, parses and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Topology, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text)
}

/// Parses and validates config text.
pub fn parse(text: &str) -> Result<Topology, ConfigError> {
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, text))?;
    validate::validate(raw)
}
