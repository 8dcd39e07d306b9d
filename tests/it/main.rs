//! Integration tests of the proxy core (issue 3): real `mariadbd` servers
//! from `tests/support/`, a real `shardgate` binary per test, real clients
//! (the `mysql` crate, the `mariadb` CLI, `mariadb-admin`, sysbench, raw
//! sockets).
//!
//! Modules: `proxy` (spawn shardgate), `common` (shared server, clients,
//! raw protocol helper), then one module per area.

#[path = "../support/mod.rs"]
mod support;

mod common;
mod proxy;

mod admin;
mod differential;
mod failover;
mod failures;
mod health;
mod kill;
mod load;
mod login;
mod lookup_directory;
mod meta_crash;
mod prepared_cache;
mod reload;
mod replication;
mod sharding;
mod sharding_collation;
mod sharding_load;
mod sharding_lock;
mod sharding_session;
mod sharding_txn;
mod sharding_writes;
mod shutdown;
mod statements;
