//! Client commands of the command phase: the first byte of every packet a
//! client sends after authentication names a `COM_*` command, the rest is its
//! arguments. This module owns the command byte table ([`CommandCode`]), the
//! cheap [`peek_code`] used on the hot path, and [`Command`], decoded from a
//! command packet payload (borrowing from it) and encoded back byte for byte.
//!
//! `COM_STMT_EXECUTE` is only split into its statement id and raw body here;
//! the body is decoded by [`crate::stmt`], which needs the statement's
//! parameter count and previously bound types.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html>
//! <https://mariadb.com/kb/en/2-text-protocol/>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/my__command_8h.html>

use crate::capability::Capabilities;
use crate::codec::{
    put_lenenc_bytes, put_lenenc_int, put_null_bytes, put_u16, put_u32, put_u8, Reader,
};
use crate::error::{ProtoError, Result};

/// Every command byte MySQL or MariaDB define. Commands shardgate does not
/// serve decode as [`Command::Unsupported`]; bytes missing from this table
/// are [`ProtoError::UnknownCommand`].
///
/// MySQL's `include/my_command.h` (0x00..=0x21) and MariaDB's
/// `include/mysql_com.h` (0xfa `COM_STMT_BULK_EXECUTE`, 0xfe the old
/// `COM_MULTI`). MariaDB's `COM_SLAVE_*` (0xfb..=0xfd) are thread states,
/// never sent on the wire, and are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CommandCode {
    Sleep = 0x00,
    Quit = 0x01,
    InitDb = 0x02,
    Query = 0x03,
    FieldList = 0x04,
    CreateDb = 0x05,
    DropDb = 0x06,
    Refresh = 0x07,
    Shutdown = 0x08,
    Statistics = 0x09,
    ProcessInfo = 0x0a,
    Connect = 0x0b,
    ProcessKill = 0x0c,
    Debug = 0x0d,
    Ping = 0x0e,
    Time = 0x0f,
    DelayedInsert = 0x10,
    ChangeUser = 0x11,
    BinlogDump = 0x12,
    TableDump = 0x13,
    ConnectOut = 0x14,
    RegisterSlave = 0x15,
    StmtPrepare = 0x16,
    StmtExecute = 0x17,
    StmtSendLongData = 0x18,
    StmtClose = 0x19,
    StmtReset = 0x1a,
    SetOption = 0x1b,
    StmtFetch = 0x1c,
    Daemon = 0x1d,
    BinlogDumpGtid = 0x1e,
    ResetConnection = 0x1f,
    Clone = 0x20,
    SubscribeGroupReplicationStream = 0x21,
    StmtBulkExecute = 0xfa,
    Multi = 0xfe,
}

impl CommandCode {
    /// Every known code, in byte order (for pre-registering metric labels).
    pub const ALL: [CommandCode; 36] = [
        CommandCode::Sleep,
        CommandCode::Quit,
        CommandCode::InitDb,
        CommandCode::Query,
        CommandCode::FieldList,
        CommandCode::CreateDb,
        CommandCode::DropDb,
        CommandCode::Refresh,
        CommandCode::Shutdown,
        CommandCode::Statistics,
        CommandCode::ProcessInfo,
        CommandCode::Connect,
        CommandCode::ProcessKill,
        CommandCode::Debug,
        CommandCode::Ping,
        CommandCode::Time,
        CommandCode::DelayedInsert,
        CommandCode::ChangeUser,
        CommandCode::BinlogDump,
        CommandCode::TableDump,
        CommandCode::ConnectOut,
        CommandCode::RegisterSlave,
        CommandCode::StmtPrepare,
        CommandCode::StmtExecute,
        CommandCode::StmtSendLongData,
        CommandCode::StmtClose,
        CommandCode::StmtReset,
        CommandCode::SetOption,
        CommandCode::StmtFetch,
        CommandCode::Daemon,
        CommandCode::BinlogDumpGtid,
        CommandCode::ResetConnection,
        CommandCode::Clone,
        CommandCode::SubscribeGroupReplicationStream,
        CommandCode::StmtBulkExecute,
        CommandCode::Multi,
    ];

    /// The command a byte names, if any.
    pub const fn from_u8(b: u8) -> Option<CommandCode> {
        use CommandCode::*;
        Some(match b {
            0x00 => Sleep,
            0x01 => Quit,
            0x02 => InitDb,
            0x03 => Query,
            0x04 => FieldList,
            0x05 => CreateDb,
            0x06 => DropDb,
            0x07 => Refresh,
            0x08 => Shutdown,
            0x09 => Statistics,
            0x0a => ProcessInfo,
            0x0b => Connect,
            0x0c => ProcessKill,
            0x0d => Debug,
            0x0e => Ping,
            0x0f => Time,
            0x10 => DelayedInsert,
            0x11 => ChangeUser,
            0x12 => BinlogDump,
            0x13 => TableDump,
            0x14 => ConnectOut,
            0x15 => RegisterSlave,
            0x16 => StmtPrepare,
            0x17 => StmtExecute,
            0x18 => StmtSendLongData,
            0x19 => StmtClose,
            0x1a => StmtReset,
            0x1b => SetOption,
            0x1c => StmtFetch,
            0x1d => Daemon,
            0x1e => BinlogDumpGtid,
            0x1f => ResetConnection,
            0x20 => Clone,
            0x21 => SubscribeGroupReplicationStream,
            0xfa => StmtBulkExecute,
            0xfe => Multi,
            _ => return None,
        })
    }

    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The server's name for the command, e.g. `"COM_QUERY"`.
    pub const fn name(self) -> &'static str {
        use CommandCode::*;
        match self {
            Sleep => "COM_SLEEP",
            Quit => "COM_QUIT",
            InitDb => "COM_INIT_DB",
            Query => "COM_QUERY",
            FieldList => "COM_FIELD_LIST",
            CreateDb => "COM_CREATE_DB",
            DropDb => "COM_DROP_DB",
            Refresh => "COM_REFRESH",
            Shutdown => "COM_SHUTDOWN",
            Statistics => "COM_STATISTICS",
            ProcessInfo => "COM_PROCESS_INFO",
            Connect => "COM_CONNECT",
            ProcessKill => "COM_PROCESS_KILL",
            Debug => "COM_DEBUG",
            Ping => "COM_PING",
            Time => "COM_TIME",
            DelayedInsert => "COM_DELAYED_INSERT",
            ChangeUser => "COM_CHANGE_USER",
            BinlogDump => "COM_BINLOG_DUMP",
            TableDump => "COM_TABLE_DUMP",
            ConnectOut => "COM_CONNECT_OUT",
            RegisterSlave => "COM_REGISTER_SLAVE",
            StmtPrepare => "COM_STMT_PREPARE",
            StmtExecute => "COM_STMT_EXECUTE",
            StmtSendLongData => "COM_STMT_SEND_LONG_DATA",
            StmtClose => "COM_STMT_CLOSE",
            StmtReset => "COM_STMT_RESET",
            SetOption => "COM_SET_OPTION",
            StmtFetch => "COM_STMT_FETCH",
            Daemon => "COM_DAEMON",
            BinlogDumpGtid => "COM_BINLOG_DUMP_GTID",
            ResetConnection => "COM_RESET_CONNECTION",
            Clone => "COM_CLONE",
            SubscribeGroupReplicationStream => "COM_SUBSCRIBE_GROUP_REPLICATION_STREAM",
            StmtBulkExecute => "COM_STMT_BULK_EXECUTE",
            Multi => "COM_MULTI",
        }
    }
}

/// Name of a command byte for logs, `"COM_UNKNOWN"` when it names none.
pub fn code_name(code: u8) -> &'static str {
    match CommandCode::from_u8(code) {
        Some(c) => c.name(),
        None => "COM_UNKNOWN",
    }
}

/// The command byte of a command payload, without decoding anything else.
pub fn peek_code(payload: &[u8]) -> Option<u8> {
    payload.first().copied()
}

/// `COM_SET_OPTION` value turning multi-statements on.
pub const MYSQL_OPTION_MULTI_STATEMENTS_ON: u16 = 0;
/// `COM_SET_OPTION` value turning multi-statements off.
pub const MYSQL_OPTION_MULTI_STATEMENTS_OFF: u16 = 1;

/// MySQL 8 query attributes in front of a `COM_QUERY` text, present when
/// `CLIENT_QUERY_ATTRIBUTES` was negotiated. Kept raw (counts included) so
/// that re-encoding is exact; [`QueryAttributes::params`] walks them.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query.html>
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryAttributes<'a> {
    /// Number of attributes.
    pub param_count: u64,
    /// Number of parameter sets (always 1 today).
    pub param_set_count: u64,
    /// Every byte from `parameter_count` up to the query text.
    pub raw: &'a [u8],
}

/// One query attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryAttribute<'a> {
    /// Column type in the low byte, flags (0x80 = unsigned) in the high byte.
    pub type_and_flag: u16,
    pub name: &'a [u8],
    /// The value in binary protocol encoding, `None` when NULL.
    pub value: Option<&'a [u8]>,
}

impl<'a> QueryAttributes<'a> {
    /// The attributes, in order.
    pub fn params(&self) -> Result<Vec<QueryAttribute<'a>>> {
        let mut r = Reader::new(self.raw);
        let mut out = Vec::new();
        walk_query_attributes(&mut r, |a| out.push(a))?;
        Ok(out)
    }
}

/// Parses the query attribute block at the start of `r`, calling `each` per
/// attribute; leaves `r` at the query text. Returns the two counts.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query.html>
fn walk_query_attributes<'a>(
    r: &mut Reader<'a>,
    mut each: impl FnMut(QueryAttribute<'a>),
) -> Result<(u64, u64)> {
    let count = r.lenenc_int("query attributes: parameter_count")?;
    let sets = r.lenenc_int("query attributes: parameter_set_count")?;
    if count == 0 {
        return Ok((count, sets));
    }
    // Every attribute takes at least 3 bytes (type and an empty name), so a
    // count larger than the payload is malformed; this also bounds the loop.
    if count > r.len() as u64 {
        return Err(ProtoError::Invalid {
            what: "query attributes: parameter_count",
        });
    }
    let n = count as usize;
    let bitmap = r.take(n.div_ceil(8), "query attributes: null bitmap")?;
    if r.u8("query attributes: new_params_bind_flag")? != 1 {
        // The server answers a malformed-packet error when it is not 1.
        return Err(ProtoError::Invalid {
            what: "query attributes: new_params_bind_flag",
        });
    }
    // Types and names come first, values after all of them: remember where the
    // types start and walk twice instead of allocating.
    let types = *r;
    for _ in 0..n {
        r.u16("query attributes: parameter type")?;
        r.lenenc_bytes("query attributes: parameter name")?;
    }
    let mut t = types;
    for i in 0..n {
        let type_and_flag = t.u16("query attributes: parameter type")?;
        let name = t.lenenc_bytes("query attributes: parameter name")?;
        let is_null = bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
        let value = if is_null {
            None
        } else {
            Some(binary_value(r, type_and_flag as u8)?)
        };
        each(QueryAttribute {
            type_and_flag,
            name,
            value,
        });
    }
    Ok((count, sets))
}

/// One value of the binary protocol, returned raw (length prefix included for
/// variable-length types), sized by its column type.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html#sect_protocol_binary_resultset_row_value>
fn binary_value<'a>(r: &mut Reader<'a>, column_type: u8) -> Result<&'a [u8]> {
    const WHAT: &str = "query attributes: parameter value";
    let start = *r;
    match column_type {
        // NULL
        0x06 => {}
        // TINY
        0x01 => r.skip(1, WHAT)?,
        // SHORT, YEAR
        0x02 | 0x0d => r.skip(2, WHAT)?,
        // LONG, FLOAT, INT24
        0x03 | 0x04 | 0x09 => r.skip(4, WHAT)?,
        // DOUBLE, LONGLONG
        0x05 | 0x08 => r.skip(8, WHAT)?,
        // TIMESTAMP, DATE, TIME, DATETIME, NEWDATE, TIMESTAMP2, DATETIME2, TIME2:
        // one length byte, then that many bytes.
        0x07 | 0x0a | 0x0b | 0x0c | 0x0e | 0x11 | 0x12 | 0x13 => {
            let len = r.u8(WHAT)?;
            r.skip(usize::from(len), WHAT)?;
        }
        // DECIMAL, VARCHAR, BIT, VECTOR, JSON, NEWDECIMAL, ENUM, SET, the
        // BLOBs, VAR_STRING, STRING, GEOMETRY: length-encoded strings.
        0x00 | 0x0f | 0x10 | 0xf2 | 0xf5..=0xff => {
            r.lenenc_bytes(WHAT)?;
        }
        _ => {
            return Err(ProtoError::Invalid {
                what: "query attributes: parameter type",
            })
        }
    }
    let used = start.len() - r.len();
    Ok(&start.remaining()[..used])
}

/// A decoded client command. Fields borrow from the packet payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `COM_QUERY` (0x03).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query.html>
    Query {
        /// Query attributes; `Some` exactly when the payload was decoded with
        /// `CLIENT_QUERY_ATTRIBUTES`. Encoding without that capability drops
        /// them; encoding `None` with it writes "no attributes".
        attrs: Option<QueryAttributes<'a>>,
        sql: &'a [u8],
    },
    /// `COM_INIT_DB` (0x02).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_init_db.html>
    InitDb { schema: &'a [u8] },
    /// `COM_PING` (0x0e).
    Ping,
    /// `COM_QUIT` (0x01).
    Quit,
    /// `COM_FIELD_LIST` (0x04).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_field_list.html>
    FieldList { table: &'a [u8], wildcard: &'a [u8] },
    /// `COM_STATISTICS` (0x09).
    Statistics,
    /// `COM_RESET_CONNECTION` (0x1f).
    ResetConnection,
    /// `COM_CHANGE_USER` (0x11).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_change_user.html>
    /// <https://mariadb.com/kb/en/com_change_user/>
    ChangeUser {
        user: &'a [u8],
        /// At most 255 bytes with `CLIENT_SECURE_CONNECTION` (one length
        /// byte); encoding cuts anything longer.
        auth_response: &'a [u8],
        schema: &'a [u8],
        /// Collation id; when `None` but later fields are present, encoding
        /// writes 0.
        charset: Option<u16>,
        /// Only with `CLIENT_PLUGIN_AUTH`.
        auth_plugin: Option<&'a [u8]>,
        /// Connection attributes (key/value lenenc strings, without the total
        /// length prefix); only with `CLIENT_CONNECT_ATTRS`.
        attrs: Option<&'a [u8]>,
    },
    /// `COM_SET_OPTION` (0x1b), see [`MYSQL_OPTION_MULTI_STATEMENTS_ON`].
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_set_option.html>
    SetOption { option: u16 },
    /// `COM_STMT_PREPARE` (0x16).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_prepare.html>
    StmtPrepare { sql: &'a [u8] },
    /// `COM_STMT_EXECUTE` (0x17). `body` is every byte after the command byte
    /// (statement id included), for `crate::stmt`. Encoding writes `stmt_id`
    /// then `body[4..]`, so a proxy rewrites the id by changing `stmt_id`.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_execute.html>
    StmtExecute { stmt_id: u32, body: &'a [u8] },
    /// `COM_STMT_SEND_LONG_DATA` (0x18).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_send_long_data.html>
    StmtSendLongData {
        stmt_id: u32,
        param_id: u16,
        data: &'a [u8],
    },
    /// `COM_STMT_CLOSE` (0x19).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_close.html>
    StmtClose { stmt_id: u32 },
    /// `COM_STMT_RESET` (0x1a).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_reset.html>
    StmtReset { stmt_id: u32 },
    /// `COM_STMT_FETCH` (0x1c).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_fetch.html>
    StmtFetch { stmt_id: u32, num_rows: u32 },
    /// `COM_PROCESS_KILL` (0x0c).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_process_kill.html>
    ProcessKill { id: u32 },
    /// `COM_DEBUG` (0x0d).
    Debug,
    /// A known command shardgate does not serve (replication, shutdown,
    /// thread states, ...); `body` is everything after the command byte.
    Unsupported { code: u8, body: &'a [u8] },
}

impl<'a> Command<'a> {
    /// Decodes a command packet payload. `caps` are the capabilities agreed
    /// with the peer that sent it (they shape `COM_QUERY` and
    /// `COM_CHANGE_USER`). Commands with fixed arguments reject trailing bytes.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html>
    pub fn decode(payload: &'a [u8], caps: Capabilities) -> Result<Command<'a>> {
        let mut r = Reader::new(payload);
        let code = r.u8("command byte")?;
        let cmd = match code {
            0x03 => {
                let attrs = if caps.contains(Capabilities::QUERY_ATTRIBUTES) {
                    let start = r;
                    let (param_count, param_set_count) = walk_query_attributes(&mut r, |_| {})?;
                    let used = start.len() - r.len();
                    Some(QueryAttributes {
                        param_count,
                        param_set_count,
                        raw: &start.remaining()[..used],
                    })
                } else {
                    None
                };
                return Ok(Command::Query {
                    attrs,
                    sql: r.rest(),
                });
            }
            0x02 => return Ok(Command::InitDb { schema: r.rest() }),
            0x0e => Command::Ping,
            0x01 => Command::Quit,
            0x04 => {
                let table = r.null_bytes("COM_FIELD_LIST: table")?;
                return Ok(Command::FieldList {
                    table,
                    wildcard: r.rest(),
                });
            }
            0x09 => Command::Statistics,
            0x1f => Command::ResetConnection,
            0x11 => return decode_change_user(r, caps),
            0x1b => Command::SetOption {
                option: r.u16("COM_SET_OPTION: option")?,
            },
            0x16 => return Ok(Command::StmtPrepare { sql: r.rest() }),
            0x17 => {
                let body = r.remaining();
                let stmt_id = r.u32("COM_STMT_EXECUTE: statement id")?;
                return Ok(Command::StmtExecute { stmt_id, body });
            }
            0x18 => {
                let stmt_id = r.u32("COM_STMT_SEND_LONG_DATA: statement id")?;
                let param_id = r.u16("COM_STMT_SEND_LONG_DATA: parameter id")?;
                return Ok(Command::StmtSendLongData {
                    stmt_id,
                    param_id,
                    data: r.rest(),
                });
            }
            0x19 => Command::StmtClose {
                stmt_id: r.u32("COM_STMT_CLOSE: statement id")?,
            },
            0x1a => Command::StmtReset {
                stmt_id: r.u32("COM_STMT_RESET: statement id")?,
            },
            0x1c => {
                let stmt_id = r.u32("COM_STMT_FETCH: statement id")?;
                let num_rows = r.u32("COM_STMT_FETCH: number of rows")?;
                Command::StmtFetch { stmt_id, num_rows }
            }
            0x0c => Command::ProcessKill {
                id: r.u32("COM_PROCESS_KILL: connection id")?,
            },
            0x0d => Command::Debug,
            other => {
                return match CommandCode::from_u8(other) {
                    Some(_) => Ok(Command::Unsupported {
                        code: other,
                        body: r.rest(),
                    }),
                    None => Err(ProtoError::UnknownCommand(other)),
                };
            }
        };
        r.finish(code_name(code))?;
        Ok(cmd)
    }

    /// Appends the command payload (command byte first) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>, caps: Capabilities) {
        put_u8(out, self.code());
        match *self {
            Command::Query { attrs, sql } => {
                if caps.contains(Capabilities::QUERY_ATTRIBUTES) {
                    match attrs {
                        Some(a) => out.extend_from_slice(a.raw),
                        None => {
                            put_lenenc_int(out, 0);
                            put_lenenc_int(out, 1);
                        }
                    }
                }
                out.extend_from_slice(sql);
            }
            Command::InitDb { schema } => out.extend_from_slice(schema),
            Command::FieldList { table, wildcard } => {
                put_null_bytes(out, table);
                out.extend_from_slice(wildcard);
            }
            Command::ChangeUser {
                user,
                auth_response,
                schema,
                charset,
                auth_plugin,
                attrs,
            } => {
                put_null_bytes(out, user);
                if caps.contains(Capabilities::SECURE_CONNECTION) {
                    let auth = &auth_response[..auth_response.len().min(255)];
                    put_u8(out, auth.len() as u8);
                    out.extend_from_slice(auth);
                } else {
                    put_null_bytes(out, auth_response);
                }
                put_null_bytes(out, schema);
                let plugin = auth_plugin.filter(|_| caps.contains(Capabilities::PLUGIN_AUTH));
                let attrs = attrs.filter(|_| caps.contains(Capabilities::CONNECT_ATTRS));
                if charset.is_some() || plugin.is_some() || attrs.is_some() {
                    put_u16(out, charset.unwrap_or(0));
                }
                if caps.contains(Capabilities::PLUGIN_AUTH) && (plugin.is_some() || attrs.is_some())
                {
                    put_null_bytes(out, plugin.unwrap_or(b""));
                }
                if let Some(a) = attrs {
                    put_lenenc_bytes(out, a);
                }
            }
            Command::SetOption { option } => put_u16(out, option),
            Command::StmtPrepare { sql } => out.extend_from_slice(sql),
            Command::StmtExecute { stmt_id, body } => {
                put_u32(out, stmt_id);
                out.extend_from_slice(body.get(4..).unwrap_or(&[]));
            }
            Command::StmtSendLongData {
                stmt_id,
                param_id,
                data,
            } => {
                put_u32(out, stmt_id);
                put_u16(out, param_id);
                out.extend_from_slice(data);
            }
            Command::StmtClose { stmt_id } | Command::StmtReset { stmt_id } => {
                put_u32(out, stmt_id)
            }
            Command::StmtFetch { stmt_id, num_rows } => {
                put_u32(out, stmt_id);
                put_u32(out, num_rows);
            }
            Command::ProcessKill { id } => put_u32(out, id),
            Command::Unsupported { body, .. } => out.extend_from_slice(body),
            Command::Ping
            | Command::Quit
            | Command::Statistics
            | Command::ResetConnection
            | Command::Debug => {}
        }
    }

    /// The command byte.
    pub fn code(&self) -> u8 {
        let c = match self {
            Command::Query { .. } => CommandCode::Query,
            Command::InitDb { .. } => CommandCode::InitDb,
            Command::Ping => CommandCode::Ping,
            Command::Quit => CommandCode::Quit,
            Command::FieldList { .. } => CommandCode::FieldList,
            Command::Statistics => CommandCode::Statistics,
            Command::ResetConnection => CommandCode::ResetConnection,
            Command::ChangeUser { .. } => CommandCode::ChangeUser,
            Command::SetOption { .. } => CommandCode::SetOption,
            Command::StmtPrepare { .. } => CommandCode::StmtPrepare,
            Command::StmtExecute { .. } => CommandCode::StmtExecute,
            Command::StmtSendLongData { .. } => CommandCode::StmtSendLongData,
            Command::StmtClose { .. } => CommandCode::StmtClose,
            Command::StmtReset { .. } => CommandCode::StmtReset,
            Command::StmtFetch { .. } => CommandCode::StmtFetch,
            Command::ProcessKill { .. } => CommandCode::ProcessKill,
            Command::Debug => CommandCode::Debug,
            Command::Unsupported { code, .. } => return *code,
        };
        c.as_u8()
    }

    /// The command's name for logs and metrics, e.g. `"COM_QUERY"`.
    pub fn name(&self) -> &'static str {
        code_name(self.code())
    }
}

/// `COM_CHANGE_USER` after its command byte.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_change_user.html>
/// <https://mariadb.com/kb/en/com_change_user/>
fn decode_change_user(mut r: Reader<'_>, caps: Capabilities) -> Result<Command<'_>> {
    let user = r.null_bytes("COM_CHANGE_USER: user")?;
    let auth_response = if caps.contains(Capabilities::SECURE_CONNECTION) {
        let len = r.u8("COM_CHANGE_USER: auth response length")?;
        r.take(usize::from(len), "COM_CHANGE_USER: auth response")?
    } else {
        r.null_bytes("COM_CHANGE_USER: auth response")?
    };
    let schema = r.null_bytes("COM_CHANGE_USER: schema")?;
    // The rest is optional: old clients stop after the schema.
    let charset = if r.is_empty() {
        None
    } else {
        Some(r.u16("COM_CHANGE_USER: charset")?)
    };
    let auth_plugin = if caps.contains(Capabilities::PLUGIN_AUTH) && !r.is_empty() {
        // Some clients leave out the NUL after the last string of a packet.
        Some(r.null_or_eof_bytes())
    } else {
        None
    };
    let attrs = if caps.contains(Capabilities::CONNECT_ATTRS) && !r.is_empty() {
        Some(r.lenenc_bytes("COM_CHANGE_USER: connection attributes")?)
    } else {
        None
    };
    r.finish("COM_CHANGE_USER")?;
    Ok(Command::ChangeUser {
        user,
        auth_response,
        schema,
        charset,
        auth_plugin,
        attrs,
    })
}

#[cfg(test)]
mod tests;
