//! Capability flags (negotiated in the handshake) and server status flags
//! (carried in OK and EOF packets). Plain `u32`/`u16` newtypes with named
//! constants, so unknown bits survive a decode/encode round trip.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html>
//! <https://mariadb.com/kb/en/connection/#capabilities>

use std::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// Client/server capability flags (the low 32 bits; MariaDB's extended
/// capabilities travel separately in the handshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(pub u32);

impl Capabilities {
    pub const LONG_PASSWORD: Capabilities = Capabilities(1);
    pub const FOUND_ROWS: Capabilities = Capabilities(1 << 1);
    pub const LONG_FLAG: Capabilities = Capabilities(1 << 2);
    pub const CONNECT_WITH_DB: Capabilities = Capabilities(1 << 3);
    pub const NO_SCHEMA: Capabilities = Capabilities(1 << 4);
    pub const COMPRESS: Capabilities = Capabilities(1 << 5);
    pub const ODBC: Capabilities = Capabilities(1 << 6);
    pub const LOCAL_FILES: Capabilities = Capabilities(1 << 7);
    pub const IGNORE_SPACE: Capabilities = Capabilities(1 << 8);
    pub const PROTOCOL_41: Capabilities = Capabilities(1 << 9);
    pub const INTERACTIVE: Capabilities = Capabilities(1 << 10);
    pub const SSL: Capabilities = Capabilities(1 << 11);
    pub const IGNORE_SIGPIPE: Capabilities = Capabilities(1 << 12);
    pub const TRANSACTIONS: Capabilities = Capabilities(1 << 13);
    pub const RESERVED: Capabilities = Capabilities(1 << 14);
    pub const SECURE_CONNECTION: Capabilities = Capabilities(1 << 15);
    pub const MULTI_STATEMENTS: Capabilities = Capabilities(1 << 16);
    pub const MULTI_RESULTS: Capabilities = Capabilities(1 << 17);
    pub const PS_MULTI_RESULTS: Capabilities = Capabilities(1 << 18);
    pub const PLUGIN_AUTH: Capabilities = Capabilities(1 << 19);
    pub const CONNECT_ATTRS: Capabilities = Capabilities(1 << 20);
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: Capabilities = Capabilities(1 << 21);
    pub const CAN_HANDLE_EXPIRED_PASSWORDS: Capabilities = Capabilities(1 << 22);
    pub const SESSION_TRACK: Capabilities = Capabilities(1 << 23);
    pub const DEPRECATE_EOF: Capabilities = Capabilities(1 << 24);
    pub const OPTIONAL_RESULTSET_METADATA: Capabilities = Capabilities(1 << 25);
    pub const QUERY_ATTRIBUTES: Capabilities = Capabilities(1 << 27);
    pub const SSL_VERIFY_SERVER_CERT: Capabilities = Capabilities(1 << 30);
    pub const REMEMBER_OPTIONS: Capabilities = Capabilities(1 << 31);

    pub const fn empty() -> Self {
        Capabilities(0)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    /// True when every bit of `other` is set.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: Capabilities) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: Capabilities) {
        self.0 &= !other.0;
    }

    /// What shardgate offers to clients as a server. No SSL and no
    /// compression: the proxy does not implement them, and clients fall
    /// back to plain connections.
    pub const fn server_default() -> Capabilities {
        Capabilities(
            Self::LONG_PASSWORD.0
                | Self::FOUND_ROWS.0
                | Self::LONG_FLAG.0
                | Self::CONNECT_WITH_DB.0
                | Self::NO_SCHEMA.0
                | Self::ODBC.0
                | Self::LOCAL_FILES.0
                | Self::IGNORE_SPACE.0
                | Self::PROTOCOL_41.0
                | Self::INTERACTIVE.0
                | Self::IGNORE_SIGPIPE.0
                | Self::TRANSACTIONS.0
                | Self::RESERVED.0
                | Self::SECURE_CONNECTION.0
                | Self::MULTI_STATEMENTS.0
                | Self::MULTI_RESULTS.0
                | Self::PS_MULTI_RESULTS.0
                | Self::PLUGIN_AUTH.0
                | Self::CONNECT_ATTRS.0
                | Self::PLUGIN_AUTH_LENENC_CLIENT_DATA.0
                | Self::CAN_HANDLE_EXPIRED_PASSWORDS.0
                | Self::SESSION_TRACK.0
                | Self::DEPRECATE_EOF.0,
        )
    }
}

impl BitOr for Capabilities {
    type Output = Capabilities;
    fn bitor(self, rhs: Self) -> Self {
        Capabilities(self.0 | rhs.0)
    }
}

impl BitOrAssign for Capabilities {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Capabilities {
    type Output = Capabilities;
    fn bitand(self, rhs: Self) -> Self {
        Capabilities(self.0 & rhs.0)
    }
}

impl Not for Capabilities {
    type Output = Capabilities;
    fn not(self) -> Self {
        Capabilities(!self.0)
    }
}

/// MariaDB extended capabilities (upper 32 bits, sent in the greeting's
/// reserved bytes when the server does not set `LONG_PASSWORD`... i.e. when
/// `CLIENT_MYSQL` is off). shardgate announces none of them.
pub mod mariadb {
    pub const PROGRESS: u32 = 1;
    pub const COM_MULTI: u32 = 1 << 1;
    pub const STMT_BULK_OPERATIONS: u32 = 1 << 2;
    pub const EXTENDED_TYPE_INFO: u32 = 1 << 3;
    pub const CACHE_METADATA: u32 = 1 << 4;
}

/// Server status flags, in OK and EOF packets.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/mysql__com_8h.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StatusFlags(pub u16);

impl StatusFlags {
    pub const IN_TRANS: StatusFlags = StatusFlags(1);
    pub const AUTOCOMMIT: StatusFlags = StatusFlags(1 << 1);
    pub const MORE_RESULTS_EXISTS: StatusFlags = StatusFlags(1 << 3);
    pub const NO_GOOD_INDEX_USED: StatusFlags = StatusFlags(1 << 4);
    pub const NO_INDEX_USED: StatusFlags = StatusFlags(1 << 5);
    pub const CURSOR_EXISTS: StatusFlags = StatusFlags(1 << 6);
    pub const LAST_ROW_SENT: StatusFlags = StatusFlags(1 << 7);
    pub const DB_DROPPED: StatusFlags = StatusFlags(1 << 8);
    pub const NO_BACKSLASH_ESCAPES: StatusFlags = StatusFlags(1 << 9);
    pub const METADATA_CHANGED: StatusFlags = StatusFlags(1 << 10);
    pub const QUERY_WAS_SLOW: StatusFlags = StatusFlags(1 << 11);
    pub const PS_OUT_PARAMS: StatusFlags = StatusFlags(1 << 12);
    pub const IN_TRANS_READONLY: StatusFlags = StatusFlags(1 << 13);
    pub const SESSION_STATE_CHANGED: StatusFlags = StatusFlags(1 << 14);

    pub const fn bits(self) -> u16 {
        self.0
    }

    pub const fn contains(self, other: StatusFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: StatusFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: StatusFlags) {
        self.0 &= !other.0;
    }
}

impl BitOr for StatusFlags {
    type Output = StatusFlags;
    fn bitor(self, rhs: Self) -> Self {
        StatusFlags(self.0 | rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_combine() {
        let c = Capabilities::PROTOCOL_41 | Capabilities::DEPRECATE_EOF;
        assert!(c.contains(Capabilities::PROTOCOL_41));
        assert!(!c.contains(Capabilities::SSL));
        let mut d = c;
        d.remove(Capabilities::DEPRECATE_EOF);
        assert_eq!(d, Capabilities::PROTOCOL_41);
        assert!(!Capabilities::server_default().contains(Capabilities::SSL));
        assert!(!Capabilities::server_default().contains(Capabilities::COMPRESS));
        let s = StatusFlags::AUTOCOMMIT | StatusFlags::IN_TRANS;
        assert_eq!(s.bits(), 3);
    }
}
