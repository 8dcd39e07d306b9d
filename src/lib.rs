//! shardgate: a MySQL sharding proxy. The binary (`main.rs`) is a thin
//! command line over this library; see `src/ARCHITECTURE.md` for the
//! threads, the data flow and where each concern lives.
pub mod admin;
pub mod backend;
pub mod config;
pub mod fast_hash;
pub mod health;
pub mod merge;
pub mod meta;
pub mod notify;
pub mod reactor;
pub mod route;
pub mod server;
pub mod session;
pub mod sql;
pub mod stats;
