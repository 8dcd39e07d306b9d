//! `shardgate-proto`: the MySQL client/server wire protocol as pure code over
//! byte slices. No sockets, threads or clocks: shardgate uses it as a server
//! (towards clients) and as a client (towards backends), tests and fuzz
//! targets drive it from byte vectors.
//!
//! Modules, from the bottom up:
//! - [`codec`]: integers, length-encoded values, strings.
//! - [`frame`]: packet framing, continuation frames, sequence ids.
//! - [`capability`]: capability and status flags.
//! - [`handshake`]: HandshakeV10, HandshakeResponse41, SSLRequest, auth switch.
//! - [`auth`]: `mysql_native_password` and `caching_sha2_password`.
//! - [`response`]: OK, ERR, EOF.
//! - [`column`]: column definitions and column types.
//! - [`value`] and [`row`]: text and binary result rows.
//! - [`command`]: every `COM_*` command; [`stmt`]: prepared statements.
//! - [`error_codes`]: the error codes and SQLSTATEs shardgate sends.

pub mod auth;
pub mod capability;
pub mod codec;
pub mod column;
pub mod command;
pub mod error;
pub mod error_codes;
pub mod frame;
pub mod handshake;
pub mod response;
pub mod row;
pub mod stmt;
pub mod value;

pub use error::{ProtoError, Result};
