//! The MySQL/MariaDB error codes and SQLSTATEs shardgate sends in ERR packets
//! (its own errors, and server errors it re-creates), a lookup by code, and
//! the writer of an ERR packet payload.
//!
//! Server codes (1xxx, 4xxx) and their SQLSTATEs were generated from MariaDB
//! 10.11's `/usr/share/mysql/errmsg-utf8.txt` (the source of
//! `include/mysqld_error.h` and `sql_state.h`; entries without a SQLSTATE get
//! `HY000`, as `comp_err` does), then a subset picked by hand:
//!
//! ```text
//! awk '/^(start|skip-to)-error-number/ {n=$2; next}
//!      /^(languages|default-language)/ {next}
//!      /^[A-Z][A-Z0-9_]+/ {st=$2; if (st=="") st="HY000"; print n, $1, st; n++}' \
//!     /usr/share/mysql/errmsg-utf8.txt
//! ```
//!
//! Client codes (2xxx) are from libmysql's `include/errmsg.h`; the client
//! library reports them with SQLSTATE `HY000`, and shardgate sends them when
//! it speaks for a backend in client terms (backend gone, lost, unreachable).
//!
//! <https://mariadb.com/kb/en/mariadb-error-codes/>
//! <https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html>
//! <https://dev.mysql.com/doc/mysql-errors/8.0/en/client-error-reference.html>

use std::fmt;

use crate::capability::Capabilities;
use crate::codec::{put_u16, put_u8};

/// One error code with its SQLSTATE and symbolic name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    pub code: u16,
    pub sqlstate: &'static [u8; 5],
    pub name: &'static str,
}

impl ErrorCode {
    /// The SQLSTATE as text (always 5 ASCII characters).
    pub fn sqlstate_str(&self) -> &'static str {
        std::str::from_utf8(self.sqlstate).unwrap_or("HY000")
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, SQLSTATE {})",
            self.name,
            self.code,
            self.sqlstate_str()
        )
    }
}

/// Defines one `pub const` per code, [`ALL`] and [`by_code`]. A code listed
/// twice makes `by_code`'s match unreachable, which `-D warnings` refuses.
macro_rules! error_codes {
    ($($name:ident = $code:literal, $state:literal;)*) => {
        $(
            pub const $name: ErrorCode = ErrorCode { code: $code, sqlstate: $state, name: stringify!($name) };
        )*

        /// Every code of this table, in increasing order.
        pub const ALL: &[ErrorCode] = &[$($name),*];

        /// The table entry for a code.
        pub fn by_code(code: u16) -> Option<ErrorCode> {
            match code {
                $($code => Some($name),)*
                _ => None,
            }
        }
    };
}

error_codes! {
    // Server codes (mysqld_error.h / sql_state.h).
    ER_CON_COUNT_ERROR = 1040, b"08004";
    ER_OUT_OF_RESOURCES = 1041, b"HY000";
    ER_HANDSHAKE_ERROR = 1043, b"08S01";
    ER_DBACCESS_DENIED_ERROR = 1044, b"42000";
    ER_ACCESS_DENIED_ERROR = 1045, b"28000";
    ER_NO_DB_ERROR = 1046, b"3D000";
    ER_UNKNOWN_COM_ERROR = 1047, b"08S01";
    ER_BAD_DB_ERROR = 1049, b"42000";
    ER_TABLE_EXISTS_ERROR = 1050, b"42S01";
    ER_BAD_TABLE_ERROR = 1051, b"42S02";
    ER_NON_UNIQ_ERROR = 1052, b"23000";
    ER_SERVER_SHUTDOWN = 1053, b"08S01";
    ER_BAD_FIELD_ERROR = 1054, b"42S22";
    ER_DUP_ENTRY = 1062, b"23000";
    ER_PARSE_ERROR = 1064, b"42000";
    ER_EMPTY_QUERY = 1065, b"42000";
    ER_NO_SUCH_THREAD = 1094, b"HY000";
    ER_KILL_DENIED_ERROR = 1095, b"HY000";
    ER_UNKNOWN_ERROR = 1105, b"HY000";
    ER_UNKNOWN_TABLE = 1109, b"42S02";
    ER_UNKNOWN_CHARACTER_SET = 1115, b"42000";
    ER_HOST_NOT_PRIVILEGED = 1130, b"HY000";
    ER_WRONG_VALUE_COUNT_ON_ROW = 1136, b"21S01";
    ER_TABLEACCESS_DENIED_ERROR = 1142, b"42000";
    ER_NO_SUCH_TABLE = 1146, b"42S02";
    ER_NOT_ALLOWED_COMMAND = 1148, b"42000";
    ER_SYNTAX_ERROR = 1149, b"42000";
    ER_ABORTING_CONNECTION = 1152, b"08S01";
    ER_NET_PACKET_TOO_LARGE = 1153, b"08S01";
    ER_NET_PACKETS_OUT_OF_ORDER = 1156, b"08S01";
    ER_NET_READ_ERROR = 1158, b"08S01";
    ER_NET_READ_INTERRUPTED = 1159, b"08S01";
    ER_NET_ERROR_ON_WRITE = 1160, b"08S01";
    ER_NET_WRITE_INTERRUPTED = 1161, b"08S01";
    ER_TOO_LONG_STRING = 1162, b"42000";
    ER_CANT_DO_THIS_DURING_AN_TRANSACTION = 1179, b"25000";
    ER_NEW_ABORTING_CONNECTION = 1184, b"08S01";
    ER_LOCK_OR_ACTIVE_TRANSACTION = 1192, b"HY000";
    ER_UNKNOWN_SYSTEM_VARIABLE = 1193, b"HY000";
    ER_TOO_MANY_USER_CONNECTIONS = 1203, b"42000";
    ER_LOCK_WAIT_TIMEOUT = 1205, b"HY000";
    ER_READ_ONLY_TRANSACTION = 1207, b"25000";
    ER_WRONG_ARGUMENTS = 1210, b"HY000";
    ER_LOCK_DEADLOCK = 1213, b"40001";
    ER_CANNOT_ADD_FOREIGN = 1215, b"HY000";
    ER_SPECIFIC_ACCESS_DENIED_ERROR = 1227, b"42000";
    ER_WRONG_VALUE_FOR_VAR = 1231, b"42000";
    ER_NOT_SUPPORTED_YET = 1235, b"42000";
    ER_SUBQUERY_NO_1_ROW = 1242, b"21000";
    ER_UNKNOWN_STMT_HANDLER = 1243, b"HY000";
    ER_NOT_SUPPORTED_AUTH_MODE = 1251, b"08004";
    ER_UNKNOWN_COLLATION = 1273, b"HY000";
    ER_OPTION_PREVENTS_STATEMENT = 1290, b"HY000";
    ER_UNSUPPORTED_PS = 1295, b"HY000";
    ER_SP_DOES_NOT_EXIST = 1305, b"42000";
    ER_QUERY_INTERRUPTED = 1317, b"70100";
    ER_NO_DEFAULT_FOR_FIELD = 1364, b"HY000";
    ER_PS_MANY_PARAM = 1390, b"HY000";
    ER_XAER_NOTA = 1397, b"XAE04";
    ER_XAER_INVAL = 1398, b"XAE05";
    ER_XAER_RMFAIL = 1399, b"XAE07";
    ER_XAER_OUTSIDE = 1400, b"XAE09";
    ER_XAER_RMERR = 1401, b"XAE03";
    ER_XA_RBROLLBACK = 1402, b"XA100";
    ER_DATA_TOO_LONG = 1406, b"22001";
    ER_CONNECT_TO_FOREIGN_DATA_SOURCE = 1429, b"HY000";
    ER_XAER_DUPID = 1440, b"XAE08";
    ER_ROW_IS_REFERENCED_2 = 1451, b"23000";
    ER_NO_REFERENCED_ROW_2 = 1452, b"23000";
    ER_MAX_PREPARED_STMT_COUNT_REACHED = 1461, b"42000";
    ER_XA_RBTIMEOUT = 1613, b"XA106";
    ER_XA_RBDEADLOCK = 1614, b"XA102";
    ER_ACCESS_DENIED_NO_PASSWORD_ERROR = 1698, b"28000";
    ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION = 1792, b"25006";
    ER_READ_ONLY_MODE = 1836, b"HY000";
    ER_CONNECTION_KILLED = 1927, b"70100";
    ER_STATEMENT_TIMEOUT = 1969, b"70100";
    // Client library codes (errmsg.h).
    CR_UNKNOWN_ERROR = 2000, b"HY000";
    CR_CONNECTION_ERROR = 2002, b"HY000";
    CR_CONN_HOST_ERROR = 2003, b"HY000";
    CR_SERVER_GONE_ERROR = 2006, b"HY000";
    CR_SERVER_HANDSHAKE_ERR = 2012, b"HY000";
    CR_SERVER_LOST = 2013, b"HY000";
    CR_COMMANDS_OUT_OF_SYNC = 2014, b"HY000";
    CR_NET_PACKET_TOO_LARGE = 2020, b"HY000";
    CR_MALFORMED_PACKET = 2027, b"HY000";
    // MariaDB 4xxx codes.
    ER_ACCOUNT_HAS_BEEN_LOCKED = 4151, b"HY000";
}

/// What a proxy answers when a backend cannot be reached (connect failed,
/// node or group down): "unable to connect to foreign data source".
/// Not `CR_CONN_HOST_ERROR` (2003): codes 2000-2999 are the client
/// library's own, and MariaDB Connector/C 3.3+ (the `mariadb` CLI,
/// mysqlclient, PHP over libmariadb) refuses them in a server's ERR packet
/// as a malformed packet, losing the message (CONC-648).
pub const BACKEND_UNREACHABLE: ErrorCode = ER_CONNECT_TO_FOREIGN_DATA_SOURCE;

/// What a proxy answers when a backend connection breaks during a
/// statement (its outcome is unknown): a communication failure, SQLSTATE
/// 08S01, instead of the client library's `CR_SERVER_LOST` (2013).
pub const BACKEND_LOST: ErrorCode = ER_NET_READ_ERROR;

/// A client-library code (2000-2999) as a server may send it: see
/// [`BACKEND_UNREACHABLE`]. Other codes are returned as they are.
pub fn server_side(code: ErrorCode) -> ErrorCode {
    match code.code {
        2002 | 2003 | 2005 | 2012 => BACKEND_UNREACHABLE,
        2006 | 2013 => BACKEND_LOST,
        2000..=2999 => ER_UNKNOWN_ERROR,
        _ => code,
    }
}

/// Writes an ERR packet payload for a `CLIENT_PROTOCOL_41` peer: `0xff`,
/// the code, `#`, the SQLSTATE, the message. Client-library codes are
/// replaced by server ones ([`server_side`]).
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html>
/// <https://mariadb.com/kb/en/err_packet/>
pub fn write_err(out: &mut Vec<u8>, code: ErrorCode, message: &str) {
    let code = server_side(code);
    put_u8(out, 0xff);
    put_u16(out, code.code);
    put_u8(out, b'#');
    out.extend_from_slice(code.sqlstate);
    out.extend_from_slice(message.as_bytes());
}

/// Writes an ERR packet payload shaped for the peer's capabilities: without
/// the `#` and SQLSTATE when `CLIENT_PROTOCOL_41` is off (pre-4.1 clients).
pub fn write_err_for(out: &mut Vec<u8>, caps: Capabilities, code: ErrorCode, message: &str) {
    if caps.contains(Capabilities::PROTOCOL_41) {
        write_err(out, code, message);
    } else {
        put_u8(out, 0xff);
        put_u16(out, server_side(code).code);
        out.extend_from_slice(message.as_bytes());
    }
}

/// The server's [`ER_ACCESS_DENIED_ERROR`] message:
/// `Access denied for user 'u'@'h' (using password: YES)`.
pub fn access_denied_message(user: &str, host: &str, using_password: bool) -> String {
    let yes_no = if using_password { "YES" } else { "NO" };
    format!("Access denied for user '{user}'@'{host}' (using password: {yes_no})")
}

/// The server's [`ER_DBACCESS_DENIED_ERROR`] message:
/// `Access denied for user 'u'@'h' to database 'db'`.
pub fn db_access_denied_message(user: &str, host: &str, schema: &str) -> String {
    format!("Access denied for user '{user}'@'{host}' to database '{schema}'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn no_duplicate_codes_or_names_and_sorted() {
        let codes: HashSet<u16> = ALL.iter().map(|e| e.code).collect();
        let names: HashSet<&str> = ALL.iter().map(|e| e.name).collect();
        assert_eq!(codes.len(), ALL.len());
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.windows(2).all(|w| w[0].code < w[1].code));
    }

    #[test]
    fn sqlstates_are_five_ascii_alphanumerics() {
        for e in ALL {
            assert!(e.sqlstate.iter().all(u8::is_ascii_alphanumeric), "{e}");
            assert_eq!(e.sqlstate_str().len(), 5);
            assert!(
                e.name.starts_with("ER_") || e.name.starts_with("CR_"),
                "{e}"
            );
        }
    }

    /// MariaDB Connector/C refuses client-library codes from a server
    /// (ERROR 2027 "Received malformed packet" in the `mariadb` CLI, the
    /// message lost): no ERR packet shardgate writes carries one.
    #[test]
    fn err_packets_never_carry_client_library_codes() {
        for e in ALL {
            for caps in [Capabilities::PROTOCOL_41, Capabilities::empty()] {
                let mut out = Vec::new();
                write_err_for(&mut out, caps, *e, "m");
                let code = u16::from_le_bytes([out[1], out[2]]);
                assert!(!(2000..3000).contains(&code), "{e} written as {code}");
                if !(2000..3000).contains(&e.code) {
                    assert_eq!(code, e.code);
                }
            }
        }
        let mut out = Vec::new();
        write_err(&mut out, CR_CONN_HOST_ERROR, "m");
        assert_eq!(&out[..9], b"\xff\x95\x05#HY000");
        out.clear();
        write_err(&mut out, CR_SERVER_LOST, "m");
        assert_eq!(&out[..9], b"\xff\x86\x04#08S01");
    }

    #[test]
    fn lookup() {
        for e in ALL {
            assert_eq!(by_code(e.code), Some(*e));
        }
        assert_eq!(by_code(0), None);
        assert_eq!(by_code(1042), None);
        assert_eq!(by_code(1045), Some(ER_ACCESS_DENIED_ERROR));
    }

    #[test]
    fn values_checked_against_mariadb() {
        // Spot checks of values also seen from a live MariaDB 10.11.
        assert_eq!(
            (ER_NO_SUCH_TABLE.code, ER_NO_SUCH_TABLE.sqlstate),
            (1146, b"42S02")
        );
        assert_eq!(
            (ER_PARSE_ERROR.code, ER_PARSE_ERROR.sqlstate),
            (1064, b"42000")
        );
        assert_eq!((ER_XAER_NOTA.code, ER_XAER_NOTA.sqlstate), (1397, b"XAE04"));
        assert_eq!(
            (ER_NO_SUCH_THREAD.code, ER_NO_SUCH_THREAD.sqlstate),
            (1094, b"HY000")
        );
        assert_eq!(
            (ER_STATEMENT_TIMEOUT.code, ER_STATEMENT_TIMEOUT.sqlstate),
            (1969, b"70100")
        );
        assert_eq!(
            (ER_CON_COUNT_ERROR.code, ER_CON_COUNT_ERROR.sqlstate),
            (1040, b"08004")
        );
        assert_eq!(
            (ER_LOCK_DEADLOCK.code, ER_LOCK_DEADLOCK.sqlstate),
            (1213, b"40001")
        );
        assert_eq!(
            (CR_SERVER_GONE_ERROR.code, CR_SERVER_LOST.code),
            (2006, 2013)
        );
    }

    #[test]
    fn err_packet_bytes() {
        let mut out = Vec::new();
        write_err(&mut out, ER_NO_SUCH_TABLE, "Table 'test.t' doesn't exist");
        let mut expected = vec![0xff, 0x7a, 0x04, b'#', b'4', b'2', b'S', b'0', b'2'];
        expected.extend_from_slice(b"Table 'test.t' doesn't exist");
        assert_eq!(out, expected);

        // The example of page_protocol_basic_err_packet.html (without header).
        let mut out = Vec::new();
        write_err(&mut out, ER_NO_TABLES_USED_EXAMPLE, "No tables used");
        assert_eq!(out, b"\xff\x48\x04#HY000No tables used");

        let mut out = Vec::new();
        write_err_for(&mut out, Capabilities::empty(), ER_UNKNOWN_ERROR, "x");
        assert_eq!(out, b"\xff\x51\x04x");
        let mut out = Vec::new();
        write_err_for(&mut out, Capabilities::PROTOCOL_41, ER_UNKNOWN_ERROR, "x");
        assert_eq!(out, b"\xff\x51\x04#HY000x");
    }

    /// ER_NO_TABLES_USED (1096), only used by the protocol doc example.
    const ER_NO_TABLES_USED_EXAMPLE: ErrorCode = ErrorCode {
        code: 1096,
        sqlstate: b"HY000",
        name: "ER_NO_TABLES_USED",
    };

    #[test]
    fn access_denied_messages() {
        assert_eq!(
            access_denied_message("app", "10.0.0.1", true),
            "Access denied for user 'app'@'10.0.0.1' (using password: YES)"
        );
        assert_eq!(
            access_denied_message("root", "localhost", false),
            "Access denied for user 'root'@'localhost' (using password: NO)"
        );
        assert_eq!(
            db_access_denied_message("app", "%", "secret"),
            "Access denied for user 'app'@'%' to database 'secret'"
        );
    }
}
