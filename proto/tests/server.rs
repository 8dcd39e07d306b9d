//! Acceptance test of `shardgate-proto` against real clients: a tiny
//! test-only MySQL server built from nothing but this crate (std::net, one
//! thread per connection, blocking I/O, bound to 127.0.0.1:0), which the
//! `mysql` crate, the `mysql_async` crate and the `mariadb` CLI connect to.
//!
//! Who negotiates what: `mysql_async` asks for `CLIENT_DEPRECATE_EOF` (and
//! gets it when offered); the `mysql` crate and the `mariadb` CLI (MariaDB
//! Connector/C) never ask, so they read classic EOF packets even from a
//! server that offers it. `mysql_async` is also run against a server that
//! does not offer the flag.
//!
//! The real clients are the oracle: they authenticate (`mysql_native_password`,
//! `caching_sha2_password` fast path, auth switches both ways, a wrong
//! password), read a result set holding every column type over the text
//! protocol (`COM_QUERY`) and the binary protocol (`COM_STMT_PREPARE` /
//! `COM_STMT_EXECUTE`, with parameters the client binds and the server
//! decodes with `StmtExecute::decode` and echoes back), and run `COM_PING`,
//! `COM_INIT_DB` and `COM_QUIT`, with and without `CLIENT_DEPRECATE_EOF`.
//! The values the clients decode must be exactly what the server meant.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html>

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command as Process, Output};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, Row};
use shardgate_proto::auth::{
    self, Credential, Sha2FastAuth, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD, SHA2_FAST_AUTH_SUCCESS,
};
use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::column::{encode_column_count, ColumnDefinition41, ColumnFlags, ColumnType};
use shardgate_proto::command::Command;
use shardgate_proto::error_codes::{self, ErrorCode};
use shardgate_proto::frame::{write_packet, PacketDecoder, DEFAULT_MAX_PACKET};
use shardgate_proto::handshake::{
    AuthMoreData, AuthSwitchRequest, AuthSwitchResponse, HandshakeResponse41, HandshakeV10,
};
use shardgate_proto::response::{EofPacket, OkPacket, EOF_HEADER};
use shardgate_proto::row::{encode_binary_row, encode_text_row};
use shardgate_proto::stmt::{ParamValue, StmtExecute, StmtPrepareOk};
use shardgate_proto::value::{Value, NOT_FIXED_DEC};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret!pw";
const SERVER_VERSION: &[u8] = b"8.0.34-shardgate-test";
/// utf8mb4_general_ci, binary, utf8mb4_bin.
const UTF8MB4: u16 = 45;
const BINARY: u16 = 63;
const UTF8MB4_BIN: u16 = 46;
/// The table every "all types" query returns.
const ALL_TYPES_SQL: &str = "SELECT * FROM all_types";

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

// ---------------------------------------------------------------------------
// The result set with every column type.
// ---------------------------------------------------------------------------

/// One column of the all-types row: its definition, the value the server
/// means, how MySQL prints it in a text row, and what the `mysql` crate must
/// decode from the binary row (`mysql_common` gives `Int` for every unsigned
/// value that fits an `i64`, `UInt` only above; a signed decode of the same
/// bytes would give a negative `Int`).
struct Col {
    name: &'static str,
    ty: ColumnType,
    unsigned: bool,
    decimals: u8,
    charset: u16,
    length: u32,
    value: Value<'static>,
    text: Option<&'static [u8]>,
    binary: mysql::Value,
}

#[allow(clippy::too_many_arguments)]
fn col(
    name: &'static str,
    ty: ColumnType,
    unsigned: bool,
    decimals: u8,
    charset: u16,
    length: u32,
    value: Value<'static>,
    text: Option<&'static [u8]>,
    binary: mysql::Value,
) -> Col {
    Col {
        name,
        ty,
        unsigned,
        decimals,
        charset,
        length,
        value,
        text,
        binary,
    }
}

fn date(
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    micros: u32,
) -> Value<'static> {
    Value::Date {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micros,
    }
}

fn time(
    negative: bool,
    days: u32,
    hours: u8,
    minutes: u8,
    seconds: u8,
    micros: u32,
) -> Value<'static> {
    Value::Time {
        negative,
        days,
        hours,
        minutes,
        seconds,
        micros,
    }
}

/// WKB of `POINT(1 2)` with SRID 0, as MySQL stores GEOMETRY.
const POINT_1_2: &[u8] = &[
    0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0,
    0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40,
];
const BLOB: &[u8] = &[0x00, 0x01, 0x7f, 0x80, 0xff];
/// `b'1000000001'` in a BIT(10) column.
const BIT10: &[u8] = &[0x02, 0x01];
const JSON: &[u8] = br#"{"a": [1, 2.5, null], "b": "x"}"#;

#[rustfmt::skip]
fn all_types() -> Vec<Col> {
    use mysql::Value as M;
    use ColumnType as T;
    const NF: u8 = NOT_FIXED_DEC;
    const HELLO: &str = "héllo wörld";
    const QUOTED: &[u8] = b"it's \"quoted\"";
    vec![
        col("tiny_min", T::Tiny, false, 0, BINARY, 4, Value::Int(-128), Some(b"-128"), M::Int(-128)),
        col("tiny_umax", T::Tiny, true, 0, BINARY, 3, Value::UInt(255), Some(b"255"), M::Int(255)),
        col("short_min", T::Short, false, 0, BINARY, 6, Value::Int(-32768), Some(b"-32768"), M::Int(-32768)),
        col("short_umax", T::Short, true, 0, BINARY, 5, Value::UInt(65535), Some(b"65535"), M::Int(65535)),
        col("int24_min", T::Int24, false, 0, BINARY, 9, Value::Int(-8388608), Some(b"-8388608"), M::Int(-8388608)),
        col("int24_umax", T::Int24, true, 0, BINARY, 8, Value::UInt(16777215), Some(b"16777215"), M::Int(16777215)),
        col("long_min", T::Long, false, 0, BINARY, 11, Value::Int(i32::MIN.into()), Some(b"-2147483648"), M::Int(i32::MIN.into())),
        col("long_umax", T::Long, true, 0, BINARY, 10, Value::UInt(u32::MAX.into()), Some(b"4294967295"), M::Int(u32::MAX.into())),
        col("longlong_min", T::LongLong, false, 0, BINARY, 20, Value::Int(i64::MIN), Some(b"-9223372036854775808"), M::Int(i64::MIN)),
        col("longlong_max", T::LongLong, false, 0, BINARY, 20, Value::Int(i64::MAX), Some(b"9223372036854775807"), M::Int(i64::MAX)),
        col("longlong_umax", T::LongLong, true, 0, BINARY, 20, Value::UInt(u64::MAX), Some(b"18446744073709551615"), M::UInt(u64::MAX)),
        col("float", T::Float, false, NF, BINARY, 12, Value::Float(0.1), Some(b"0.1"), M::Float(0.1)),
        col("double", T::Double, false, NF, BINARY, 22, Value::Double(-1234.5678901234), Some(b"-1234.5678901234"), M::Double(-1234.5678901234)),
        col("double_big", T::Double, false, NF, BINARY, 22, Value::Double(1e300), Some(b"1e300"), M::Double(1e300)),
        col("decimal", T::NewDecimal, false, 4, BINARY, 12, Value::Bytes(b"-12345.6789"), Some(b"-12345.6789"), M::Bytes(b"-12345.6789".to_vec())),
        col("date", T::Date, false, 0, BINARY, 10, date(2024, 2, 29, 0, 0, 0, 0), Some(b"2024-02-29"), M::Date(2024, 2, 29, 0, 0, 0, 0)),
        col("datetime", T::DateTime, false, 0, BINARY, 19, date(2024, 12, 31, 23, 59, 58, 0), Some(b"2024-12-31 23:59:58"), M::Date(2024, 12, 31, 23, 59, 58, 0)),
        col("datetime_us", T::DateTime, false, 6, BINARY, 26, date(1999, 1, 2, 3, 4, 5, 123456), Some(b"1999-01-02 03:04:05.123456"), M::Date(1999, 1, 2, 3, 4, 5, 123456)),
        col("timestamp", T::Timestamp, false, 0, BINARY, 19, date(2038, 1, 19, 3, 14, 7, 0), Some(b"2038-01-19 03:14:07"), M::Date(2038, 1, 19, 3, 14, 7, 0)),
        col("time_neg", T::Time, false, 0, BINARY, 10, time(true, 0, 1, 2, 3, 0), Some(b"-01:02:03"), M::Time(true, 0, 1, 2, 3, 0)),
        col("time_long", T::Time, false, 0, BINARY, 10, time(false, 34, 22, 59, 59, 0), Some(b"838:59:59"), M::Time(false, 34, 22, 59, 59, 0)),
        col("time_us", T::Time, false, 6, BINARY, 17, time(true, 1, 1, 0, 0, 1), Some(b"-25:00:00.000001"), M::Time(true, 1, 1, 0, 0, 1)),
        col("year", T::Year, true, 0, BINARY, 4, Value::UInt(2024), Some(b"2024"), M::Int(2024)),
        col("varchar", T::VarChar, false, 0, UTF8MB4, 80, Value::Bytes(HELLO.as_bytes()), Some(HELLO.as_bytes()), M::Bytes(HELLO.into())),
        col("var_string", T::VarString, false, 0, UTF8MB4, 80, Value::Bytes(QUOTED), Some(QUOTED), M::Bytes(QUOTED.to_vec())),
        col("string", T::String, false, 0, UTF8MB4, 20, Value::Bytes(b"fixed"), Some(b"fixed"), M::Bytes(b"fixed".to_vec())),
        col("blob", T::Blob, false, 0, BINARY, 65535, Value::Bytes(BLOB), Some(BLOB), M::Bytes(BLOB.to_vec())),
        col("bit", T::Bit, true, 0, BINARY, 10, Value::Bytes(BIT10), Some(BIT10), M::Bytes(BIT10.to_vec())),
        col("json", T::Json, false, 0, UTF8MB4_BIN, u32::MAX, Value::Bytes(JSON), Some(JSON), M::Bytes(JSON.to_vec())),
        col("geometry", T::Geometry, false, 0, BINARY, u32::MAX, Value::Bytes(POINT_1_2), Some(POINT_1_2), M::Bytes(POINT_1_2.to_vec())),
        col("enum", T::Enum, false, 0, UTF8MB4, 24, Value::Bytes(b"medium"), Some(b"medium"), M::Bytes(b"medium".to_vec())),
        col("set", T::Set, false, 0, UTF8MB4, 20, Value::Bytes(b"a,c"), Some(b"a,c"), M::Bytes(b"a,c".to_vec())),
        col("null_int", T::Long, false, 0, BINARY, 11, Value::Null, None, M::NULL),
        col("null_str", T::VarString, false, 0, UTF8MB4, 80, Value::Null, None, M::NULL),
        col("null_datetime", T::DateTime, false, 0, BINARY, 19, Value::Null, None, M::NULL),
    ]
}

/// Column flags as MySQL sets them: NUM for numbers, UNSIGNED, BINARY for
/// the binary collation, BLOB, ENUM/SET, ZEROFILL for YEAR.
fn flags_of(c: &Col) -> ColumnFlags {
    let mut f = ColumnFlags::default();
    if c.ty.is_integer() || c.ty.is_float() || c.ty.is_decimal() {
        f.insert(ColumnFlags::NUM);
    }
    if c.unsigned {
        f.insert(ColumnFlags::UNSIGNED);
    }
    if c.ty == ColumnType::Year {
        f.insert(ColumnFlags::ZEROFILL);
    }
    if c.charset == BINARY {
        f.insert(ColumnFlags::BINARY);
    }
    match c.ty {
        ColumnType::Blob | ColumnType::Json | ColumnType::Geometry => f.insert(ColumnFlags::BLOB),
        ColumnType::Enum => f.insert(ColumnFlags::ENUM),
        ColumnType::Set => f.insert(ColumnFlags::SET),
        _ => {}
    }
    f
}

fn definition<'a>(c: &'a Col) -> ColumnDefinition41<'a> {
    let mut d = ColumnDefinition41::new(c.name.as_bytes(), c.ty, c.charset);
    d.schema = b"test";
    d.table = b"all_types";
    d.org_table = b"all_types";
    d.column_length = c.length;
    d.flags = flags_of(c);
    d.decimals = c.decimals;
    d
}

// ---------------------------------------------------------------------------
// The server.
// ---------------------------------------------------------------------------

/// How a test server authenticates.
#[derive(Debug, Clone, Copy)]
struct Config {
    /// The plugin the greeting names.
    greeting_plugin: &'static str,
    /// Always switch to this plugin after the client's first reply.
    switch_to: Option<&'static str>,
    /// Offer `CLIENT_DEPRECATE_EOF`.
    deprecate_eof: bool,
}

impl Config {
    fn new(greeting_plugin: &'static str) -> Config {
        Config {
            greeting_plugin,
            switch_to: None,
            deprecate_eof: true,
        }
    }
}

/// A running test server and what its connections logged.
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(cfg: Config) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let accept_log = Arc::clone(&log);
        thread::spawn(move || {
            for (id, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&accept_log);
                thread::spawn(move || {
                    let mut conn = ServerConn::new(stream, cfg, id as u32 + 1, Arc::clone(&log));
                    if let Err(e) = conn.serve() {
                        log.lock().unwrap().push(format!("error: {e}"));
                    }
                });
            }
        });
        Server { addr, log }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits (at most 5 s) for a log line starting with `prefix`.
    fn wait_for(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(l) = self.log().into_iter().find(|l| l.starts_with(prefix)) {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no {prefix:?} in log {:#?}",
                self.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn assert_no_errors(&self) {
        let errors: Vec<_> = self
            .log()
            .into_iter()
            .filter(|l| l.starts_with("error"))
            .collect();
        assert!(errors.is_empty(), "server errors: {errors:#?}");
    }
}

/// What a prepared statement returns.
#[derive(Debug, Clone)]
enum StmtKind {
    /// The all-types row, no parameters.
    AllTypes,
    /// One column per parameter, echoing the values bound.
    Echo,
}

#[derive(Debug)]
struct Prepared {
    kind: StmtKind,
    num_params: usize,
    prev_types: Option<Vec<(ColumnType, bool)>>,
}

struct ServerConn {
    stream: TcpStream,
    cfg: Config,
    id: u32,
    log: Arc<Mutex<Vec<String>>>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    decoder: PacketDecoder,
    seq: u8,
    caps: Capabilities,
    schema: Option<String>,
    stmts: HashMap<u32, Prepared>,
    next_stmt: u32,
}

/// A scramble of 20 printable bytes, different for each call.
fn scramble() -> [u8; 20] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 20];
    let state = RandomState::new();
    for (i, b) in out.iter_mut().enumerate() {
        let mut h = state.build_hasher();
        h.write_usize(i);
        *b = 0x21 + (h.finish() % 94) as u8;
    }
    out
}

impl ServerConn {
    fn new(stream: TcpStream, cfg: Config, id: u32, log: Arc<Mutex<Vec<String>>>) -> Self {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        ServerConn {
            stream,
            cfg,
            id,
            log,
            inbuf: Vec::new(),
            out: Vec::new(),
            decoder: PacketDecoder::new(DEFAULT_MAX_PACKET),
            seq: 0,
            caps: Capabilities::empty(),
            schema: None,
            stmts: HashMap::new(),
            next_stmt: 1,
        }
    }

    fn note(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    /// The next packet's payload (its sequence id must be `expect`), or
    /// `None` when the client closed the connection.
    fn read(&mut self, expect: u8) -> Res<Option<Vec<u8>>> {
        self.decoder.expect_seq(expect);
        loop {
            if let Some(p) = self.decoder.decode(&self.inbuf)? {
                let payload = p.payload.into_owned();
                self.seq = p.last_seq.wrapping_add(1);
                self.inbuf.drain(..p.consumed);
                return Ok(Some(payload));
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            self.inbuf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Queues one packet.
    fn push(&mut self, payload: &[u8]) {
        write_packet(&mut self.out, &mut self.seq, payload);
    }

    fn flush(&mut self) -> Res<()> {
        self.stream.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    fn push_ok(&mut self) {
        let mut p = Vec::new();
        OkPacket::new(0, 0, StatusFlags::AUTOCOMMIT, 0).encode(&mut p, self.caps);
        self.push(&p);
    }

    fn push_err(&mut self, code: ErrorCode, message: &str) {
        let mut p = Vec::new();
        error_codes::write_err_for(&mut p, self.caps, code, message);
        self.push(&p);
    }

    fn deprecate_eof(&self) -> bool {
        self.caps.contains(Capabilities::DEPRECATE_EOF)
    }

    /// The EOF after column definitions (absent with DEPRECATE_EOF).
    fn push_columns_eof(&mut self) {
        if !self.deprecate_eof() {
            let mut p = Vec::new();
            EofPacket {
                warnings: 0,
                status: StatusFlags::AUTOCOMMIT,
            }
            .encode(&mut p, self.caps);
            self.push(&p);
        }
    }

    /// The end of the rows: EOF, or an OK with the 0xfe header.
    fn push_rows_end(&mut self) {
        let mut p = Vec::new();
        if self.deprecate_eof() {
            let mut ok = OkPacket::new(0, 0, StatusFlags::AUTOCOMMIT, 0);
            ok.header = EOF_HEADER;
            ok.encode(&mut p, self.caps);
        } else {
            EofPacket {
                warnings: 0,
                status: StatusFlags::AUTOCOMMIT,
            }
            .encode(&mut p, self.caps);
        }
        self.push(&p);
    }

    fn push_columns(&mut self, defs: &[ColumnDefinition41<'_>]) {
        let mut p = Vec::new();
        encode_column_count(defs.len() as u64, &mut p);
        self.push(&p);
        for d in defs {
            p.clear();
            d.encode(&mut p);
            self.push(&p);
        }
        self.push_columns_eof();
    }

    fn serve(&mut self) -> Res<()> {
        if !self.authenticate()? {
            return Ok(());
        }
        loop {
            let Some(payload) = self.read(0)? else {
                self.note("closed without COM_QUIT".into());
                return Ok(());
            };
            let cmd = Command::decode(&payload, self.caps)?;
            if !self.command(cmd)? {
                return Ok(());
            }
            self.flush()?;
        }
    }

    /// Connection phase. True when the client is in.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html>
    fn authenticate(&mut self) -> Res<bool> {
        let mut offered = Capabilities::server_default();
        if !self.cfg.deprecate_eof {
            offered.remove(Capabilities::DEPRECATE_EOF);
        }
        let nonce = scramble();
        let greeting = HandshakeV10::new(
            SERVER_VERSION,
            self.id,
            &nonce,
            offered,
            UTF8MB4 as u8,
            StatusFlags::AUTOCOMMIT,
            self.cfg.greeting_plugin.as_bytes(),
        );
        let mut p = Vec::new();
        greeting.encode(&mut p);
        self.seq = 0;
        self.push(&p);
        self.flush()?;

        let seq = self.seq;
        let Some(reply) = self.read(seq)? else {
            return Ok(false);
        };
        let resp = HandshakeResponse41::decode(&reply)?;
        self.caps = resp.capabilities & offered;
        let user = String::from_utf8_lossy(resp.username).into_owned();
        let client_plugin = resp
            .auth_plugin_name
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|| NATIVE_PASSWORD.to_string());
        self.schema = resp
            .database
            .filter(|d| !d.is_empty())
            .map(|d| String::from_utf8_lossy(d).into_owned());
        self.note(format!(
            "handshake user={user} plugin={client_plugin} db={:?} deprecate_eof={} client_caps={:#x}",
            self.schema,
            self.deprecate_eof(),
            resp.capabilities.bits()
        ));

        let mut plugin = client_plugin.clone();
        let mut nonce = nonce.to_vec();
        let mut response = resp.auth_response.to_vec();
        let switch = match self.cfg.switch_to {
            Some(to) => Some(to),
            None if client_plugin != self.cfg.greeting_plugin => Some(self.cfg.greeting_plugin),
            None => None,
        };
        if let Some(to) = switch {
            let fresh = scramble();
            let mut data = fresh.to_vec();
            data.push(0);
            p.clear();
            AuthSwitchRequest {
                plugin_name: to.as_bytes(),
                plugin_data: &data,
            }
            .encode(&mut p);
            self.push(&p);
            self.flush()?;
            self.note(format!("auth switch {client_plugin} -> {to}"));
            let seq = self.seq;
            let Some(answer) = self.read(seq)? else {
                return Ok(false);
            };
            response = AuthSwitchResponse::decode(&answer)?.data.to_vec();
            plugin = to.to_string();
            nonce = fresh.to_vec();
        }

        let stored = Credential::plain(PASSWORD);
        let password_ok = match plugin.as_str() {
            NATIVE_PASSWORD => auth::native_verify(&nonce, &response, &stored),
            CACHING_SHA2_PASSWORD => match auth::sha2_fast_auth(&nonce, &response, &stored) {
                Sha2FastAuth::Success => {
                    p.clear();
                    AuthMoreData {
                        data: &[SHA2_FAST_AUTH_SUCCESS],
                    }
                    .encode(&mut p);
                    self.push(&p);
                    self.note("caching_sha2 fast auth success".into());
                    true
                }
                Sha2FastAuth::EmptyPassword => true,
                Sha2FastAuth::Denied | Sha2FastAuth::FullAuthRequired => false,
            },
            _ => false,
        };
        let host = self.stream.peer_addr()?.ip().to_string();
        if !password_ok || user != USER {
            let msg = error_codes::access_denied_message(&user, &host, !response.is_empty());
            self.push_err(error_codes::ER_ACCESS_DENIED_ERROR, &msg);
            self.flush()?;
            self.note(format!("auth denied {plugin}"));
            return Ok(false);
        }
        if self.schema.as_deref() == Some("nosuchdb") {
            self.push_err(error_codes::ER_BAD_DB_ERROR, "Unknown database 'nosuchdb'");
            self.flush()?;
            return Ok(false);
        }
        self.push_ok();
        self.flush()?;
        self.note(format!("auth ok {plugin}"));
        Ok(true)
    }

    /// Answers one command; false when the connection must end.
    fn command(&mut self, cmd: Command<'_>) -> Res<bool> {
        match cmd {
            Command::Quit => {
                self.note("COM_QUIT".into());
                return Ok(false);
            }
            Command::Ping => {
                self.note("COM_PING".into());
                self.push_ok();
            }
            Command::InitDb { schema } => {
                let schema = String::from_utf8_lossy(schema).into_owned();
                self.note(format!("COM_INIT_DB {schema}"));
                if schema == "nosuchdb" {
                    let msg = format!("Unknown database '{schema}'");
                    self.push_err(error_codes::ER_BAD_DB_ERROR, &msg);
                } else {
                    self.schema = Some(schema);
                    self.push_ok();
                }
            }
            Command::Query { sql, .. } => {
                let sql = String::from_utf8_lossy(sql).into_owned();
                self.note(format!("COM_QUERY {sql}"));
                self.query(&sql);
            }
            Command::StmtPrepare { sql } => {
                let sql = String::from_utf8_lossy(sql).into_owned();
                self.note(format!("COM_STMT_PREPARE {sql}"));
                self.prepare(&sql);
            }
            Command::StmtExecute { stmt_id, body } => {
                self.note(format!("COM_STMT_EXECUTE {stmt_id}"));
                self.execute(stmt_id, body)?;
            }
            Command::StmtClose { stmt_id } => {
                self.note(format!("COM_STMT_CLOSE {stmt_id}"));
                self.stmts.remove(&stmt_id);
            }
            Command::StmtReset { .. } => self.push_ok(),
            other => {
                self.note(format!("unsupported {}", other.name()));
                self.push_err(error_codes::ER_UNKNOWN_COM_ERROR, "Unknown command");
            }
        }
        Ok(true)
    }

    /// `COM_QUERY`: the all-types table, the variables the clients ask for
    /// on connect, `DATABASE()`.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset.html>
    fn query(&mut self, sql: &str) {
        let lower = sql.trim().to_ascii_lowercase();
        let single = |name: &'static str, ty, charset, value: Option<String>| {
            (ColumnDefinition41::new(name.as_bytes(), ty, charset), value)
        };
        let (def, value) = match lower.as_str() {
            l if l == ALL_TYPES_SQL.to_ascii_lowercase() => {
                let cols = all_types();
                let defs: Vec<_> = cols.iter().map(definition).collect();
                self.push_columns(&defs);
                let texts: Vec<Option<Vec<u8>>> = cols
                    .iter()
                    .map(|c| {
                        (!c.value.is_null()).then(|| {
                            let mut t = Vec::new();
                            c.value.to_text_typed(c.ty, c.decimals, &mut t);
                            t
                        })
                    })
                    .collect();
                let mut p = Vec::new();
                encode_text_row(texts.iter().map(|t| t.as_deref()), &mut p);
                self.push(&p);
                self.push_rows_end();
                return;
            }
            "select @@max_allowed_packet" => single(
                "@@max_allowed_packet",
                ColumnType::LongLong,
                BINARY,
                Some(DEFAULT_MAX_PACKET.to_string()),
            ),
            "select @@version_comment limit 1" => single(
                "@@version_comment",
                ColumnType::VarString,
                UTF8MB4,
                Some("shardgate test server".into()),
            ),
            "select database()" => single(
                "DATABASE()",
                ColumnType::VarString,
                UTF8MB4,
                self.schema.clone(),
            ),
            l if l.starts_with("set ") => {
                self.push_ok();
                return;
            }
            _ => {
                let msg = format!("You have an error in your SQL syntax near '{sql}'");
                self.push_err(error_codes::ER_PARSE_ERROR, &msg);
                return;
            }
        };
        self.push_columns(&[def]);
        let mut p = Vec::new();
        encode_text_row([value.as_deref().map(str::as_bytes)], &mut p);
        self.push(&p);
        self.push_rows_end();
    }

    /// `COM_STMT_PREPARE`: the all-types table, or `SELECT ?, ?, ...`.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_prepare.html>
    fn prepare(&mut self, sql: &str) {
        let (kind, num_params) = if sql.eq_ignore_ascii_case(ALL_TYPES_SQL) {
            (StmtKind::AllTypes, 0)
        } else if sql.to_ascii_lowercase().starts_with("select ?") {
            (StmtKind::Echo, sql.matches('?').count())
        } else {
            let msg = format!("You have an error in your SQL syntax near '{sql}'");
            self.push_err(error_codes::ER_PARSE_ERROR, &msg);
            return;
        };
        let cols = all_types();
        let columns: Vec<ColumnDefinition41<'_>> = match kind {
            StmtKind::AllTypes => cols.iter().map(definition).collect(),
            StmtKind::Echo => (0..num_params)
                .map(|_| ColumnDefinition41::new(b"?", ColumnType::VarString, BINARY))
                .collect(),
        };
        let id = self.next_stmt;
        self.next_stmt += 1;
        let mut p = Vec::new();
        StmtPrepareOk {
            statement_id: id,
            num_columns: columns.len() as u16,
            num_params: num_params as u16,
            reserved: 0,
            warning_count: Some(0),
            metadata_follows: None,
        }
        .encode(&mut p);
        self.push(&p);
        if num_params > 0 {
            for _ in 0..num_params {
                p.clear();
                ColumnDefinition41::new(b"?", ColumnType::VarString, BINARY).encode(&mut p);
                self.push(&p);
            }
            self.push_columns_eof();
        }
        if !columns.is_empty() {
            for d in &columns {
                p.clear();
                d.encode(&mut p);
                self.push(&p);
            }
            self.push_columns_eof();
        }
        self.stmts.insert(
            id,
            Prepared {
                kind,
                num_params,
                prev_types: None,
            },
        );
    }

    /// `COM_STMT_EXECUTE`: decodes the parameters and answers a binary
    /// result set.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_execute.html>
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html>
    fn execute(&mut self, stmt_id: u32, body: &[u8]) -> Res<()> {
        let Some(stmt) = self.stmts.get_mut(&stmt_id) else {
            let msg = format!(
                "Unknown prepared statement handler ({stmt_id}) given to mysqld_stmt_execute"
            );
            self.push_err(error_codes::ER_UNKNOWN_COM_ERROR, &msg);
            return Ok(());
        };
        let exec = StmtExecute::decode(body, stmt.num_params, stmt.prev_types.as_deref())?;
        stmt.prev_types = Some(exec.types.to_vec());
        let kind = stmt.kind.clone();
        let mut params = Vec::new();
        for param in exec.params(&[]) {
            let param = param?;
            let ParamValue::Value(v) = param.value else {
                return Err("unexpected long data parameter".into());
            };
            params.push((param.column_type, param.unsigned, v));
        }
        self.note(format!("params {params:?}"));

        let cols = all_types();
        let names: Vec<String> = (0..params.len()).map(|i| format!("p{i}")).collect();
        let (defs, values, types): (Vec<ColumnDefinition41<'_>>, Vec<Value<'_>>, Vec<_>) =
            match kind {
                StmtKind::AllTypes => (
                    cols.iter().map(definition).collect(),
                    cols.iter().map(|c| c.value).collect(),
                    cols.iter().map(|c| (c.ty, c.unsigned)).collect(),
                ),
                StmtKind::Echo => {
                    let defs = params
                        .iter()
                        .zip(&names)
                        .map(|(&(ty, unsigned, v), name)| {
                            let charset = if matches!(v, Value::Bytes(_)) {
                                UTF8MB4
                            } else {
                                BINARY
                            };
                            let mut d = ColumnDefinition41::new(name.as_bytes(), ty, charset);
                            if unsigned {
                                d.flags.insert(ColumnFlags::UNSIGNED);
                            }
                            d.decimals = match v {
                                Value::Float(_) | Value::Double(_) => NOT_FIXED_DEC,
                                Value::Date { micros, .. } | Value::Time { micros, .. }
                                    if micros != 0 =>
                                {
                                    6
                                }
                                _ => 0,
                            };
                            d
                        })
                        .collect();
                    let values = params.iter().map(|p| p.2).collect();
                    let types = params.iter().map(|p| (p.0, p.1)).collect();
                    (defs, values, types)
                }
            };
        self.push_columns(&defs);
        let mut p = Vec::new();
        encode_binary_row(&values, &types, &mut p)?;
        self.push(&p);
        self.push_rows_end();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// What the clients must decode (the `mysql` and `mysql_async` crates share
// `mysql_common`, so their rows and values are the same types).
// ---------------------------------------------------------------------------

/// The parameters the echo statement binds, and what comes back: the same.
fn echo_params() -> Vec<mysql::Value> {
    use mysql::Value as M;
    vec![
        M::Int(i64::MIN),
        M::Int(-1),
        M::Int(i64::MAX),
        M::UInt(u64::MAX),
        M::Float(1.5),
        M::Double(-0.1),
        M::Bytes(b"hello\0world\xff".to_vec()),
        M::Bytes(Vec::new()),
        M::Date(2024, 2, 29, 0, 0, 0, 0),
        M::Date(1999, 1, 2, 3, 4, 5, 0),
        M::Date(1999, 1, 2, 3, 4, 5, 123456),
        M::Date(0, 0, 0, 0, 0, 0, 0),
        M::Time(true, 1, 1, 0, 0, 1),
        M::Time(false, 34, 22, 59, 59, 0),
        M::Time(false, 0, 0, 0, 0, 0),
        M::NULL,
    ]
}

fn echo_sql() -> String {
    format!("SELECT {}", vec!["?"; echo_params().len()].join(", "))
}

fn single_row(rows: Vec<Row>) -> Row {
    assert_eq!(rows.len(), 1, "want one row");
    rows.into_iter().next().unwrap()
}

/// Text protocol: names and types as sent, every cell the text MySQL
/// prints, and the client's own conversions of that text.
fn check_text_row(row: Row) {
    let cols = all_types();
    let names: Vec<String> = row
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    assert_eq!(names, cols.iter().map(|c| c.name).collect::<Vec<_>>());
    for (c, def) in cols.iter().zip(row.columns_ref()) {
        assert_eq!(def.column_type() as u8, c.ty.to_u8(), "type of {}", c.name);
    }
    let values = row.unwrap();
    assert_eq!(values.len(), cols.len());
    for (c, got) in cols.iter().zip(&values) {
        let want = match c.text {
            Some(t) => mysql::Value::Bytes(t.to_vec()),
            None => mysql::Value::NULL,
        };
        assert_eq!(got, &want, "text value of {}", c.name);
    }
    let get = |n: &str| values[cols.iter().position(|c| c.name == n).unwrap()].clone();
    assert_eq!(mysql::from_value::<i64>(get("longlong_min")), i64::MIN);
    assert_eq!(mysql::from_value::<u64>(get("longlong_umax")), u64::MAX);
    assert_eq!(mysql::from_value::<u8>(get("tiny_umax")), 255);
    assert_eq!(mysql::from_value::<i32>(get("int24_min")), -8388608);
    assert_eq!(mysql::from_value::<f32>(get("float")), 0.1f32);
    assert_eq!(mysql::from_value::<f64>(get("double")), -1234.5678901234);
    assert_eq!(mysql::from_value::<f64>(get("double_big")), 1e300);
    let long = Duration::from_secs(838 * 3600 + 59 * 60 + 59);
    assert_eq!(mysql::from_value::<Duration>(get("time_long")), long);
    assert_eq!(mysql::from_value::<Option<i64>>(get("null_int")), None);
}

/// Binary protocol: the all-types row as the client decodes it.
fn check_binary_row(row: Row) {
    let cols = all_types();
    let values = row.unwrap();
    assert_eq!(values.len(), cols.len());
    for (c, got) in cols.iter().zip(&values) {
        assert_eq!(got, &c.binary, "binary value of {}", c.name);
    }
}

fn check_echo_row(row: Row) {
    assert_eq!(row.unwrap(), echo_params());
}

fn check_access_denied(code: u16, state: &str, message: &str) {
    assert_eq!((code, state), (1045, "28000"));
    assert_eq!(
        message,
        "Access denied for user 'alice'@'127.0.0.1' (using password: YES)"
    );
}

fn handshake_line(server: &Server) -> String {
    server.wait_for("handshake")
}

// ---------------------------------------------------------------------------
// mysql crate tests (blocking client; never negotiates DEPRECATE_EOF: its
// result-set reader always skips an EOF after the column definitions, so it
// must not ask for the flag).
// ---------------------------------------------------------------------------

fn opts(server: &Server, password: &str) -> OptsBuilder {
    OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(server.port())
        .user(Some(USER))
        .pass(Some(password))
        .prefer_socket(false)
        .read_timeout(Some(Duration::from_secs(10)))
        .write_timeout(Some(Duration::from_secs(10)))
}

fn connect(server: &Server) -> Conn {
    Conn::new(opts(server, PASSWORD))
        .unwrap_or_else(|e| panic!("connect: {e}; server log {:#?}", server.log()))
}

/// Everything a `mysql` crate connection checks: text and binary all-types
/// rows, parameters echoed, ping, init db, and quit on drop.
fn exercise_mysql_crate(server: &Server, mut conn: Conn) {
    let hs = handshake_line(server);
    assert!(hs.contains("deprecate_eof=false"), "{hs}");

    check_text_row(single_row(conn.query(ALL_TYPES_SQL).expect("text query")));
    check_binary_row(single_row(
        conn.exec(ALL_TYPES_SQL, ()).expect("binary query"),
    ));
    // twice: the second execution reuses the cached statement
    for _ in 0..2 {
        check_echo_row(single_row(
            conn.exec(echo_sql(), echo_params()).expect("echo"),
        ));
    }

    // COM_PING, COM_INIT_DB (and its effect), a bad schema.
    conn.ping().expect("ping");
    conn.select_db("shop").expect("init db");
    let db: Option<Option<String>> = conn.query_first("SELECT DATABASE()").expect("database()");
    assert_eq!(db, Some(Some("shop".to_string())));
    match conn.select_db("nosuchdb") {
        Err(mysql::Error::MySqlError(e)) => {
            assert_eq!((e.code, e.state.as_str()), (1049, "42000"));
            assert_eq!(e.message, "Unknown database 'nosuchdb'");
        }
        other => panic!("select_db(nosuchdb): {other:?}"),
    }
    conn.ping().expect("ping after an error");

    drop(conn); // COM_STMT_CLOSE for the cached statements, then COM_QUIT
    server.wait_for("COM_QUIT");
    let log = server.log();
    for want in [
        "COM_PING",
        "COM_INIT_DB shop",
        "COM_STMT_PREPARE",
        "COM_STMT_EXECUTE",
        "COM_STMT_CLOSE",
    ] {
        assert!(
            log.iter().any(|l| l.starts_with(want)),
            "no {want} in {log:#?}"
        );
    }
    server.assert_no_errors();
}

#[test]
fn mysql_crate_native_password() {
    let server = Server::start(Config::new(NATIVE_PASSWORD));
    let conn = connect(&server);
    assert!(handshake_line(&server).contains("plugin=mysql_native_password"));
    server.wait_for("auth ok mysql_native_password");
    exercise_mysql_crate(&server, conn);
}

#[test]
fn mysql_crate_caching_sha2_fast_path() {
    let server = Server::start(Config::new(CACHING_SHA2_PASSWORD));
    let conn = connect(&server);
    assert!(handshake_line(&server).contains("plugin=caching_sha2_password"));
    server.wait_for("caching_sha2 fast auth success");
    server.wait_for("auth ok caching_sha2_password");
    exercise_mysql_crate(&server, conn);
}

#[test]
fn mysql_crate_auth_switch_native_to_sha2() {
    let server = Server::start(Config {
        switch_to: Some(CACHING_SHA2_PASSWORD),
        ..Config::new(NATIVE_PASSWORD)
    });
    let conn = connect(&server);
    server.wait_for("auth switch mysql_native_password -> caching_sha2_password");
    server.wait_for("caching_sha2 fast auth success");
    server.wait_for("auth ok caching_sha2_password");
    exercise_mysql_crate(&server, conn);
}

#[test]
fn mysql_crate_auth_switch_sha2_to_native() {
    let server = Server::start(Config {
        switch_to: Some(NATIVE_PASSWORD),
        ..Config::new(CACHING_SHA2_PASSWORD)
    });
    let conn = connect(&server);
    server.wait_for("auth switch caching_sha2_password -> mysql_native_password");
    server.wait_for("auth ok mysql_native_password");
    exercise_mysql_crate(&server, conn);
}

#[test]
fn mysql_crate_wrong_password_is_1045() {
    for cfg in [
        Config::new(NATIVE_PASSWORD),
        Config::new(CACHING_SHA2_PASSWORD),
        Config {
            switch_to: Some(CACHING_SHA2_PASSWORD),
            ..Config::new(NATIVE_PASSWORD)
        },
        Config {
            switch_to: Some(NATIVE_PASSWORD),
            ..Config::new(CACHING_SHA2_PASSWORD)
        },
    ] {
        let server = Server::start(cfg);
        match Conn::new(opts(&server, "wrong")) {
            Err(mysql::Error::MySqlError(e)) => check_access_denied(e.code, &e.state, &e.message),
            Err(e) => panic!("{cfg:?}: wrong error {e:?}"),
            Ok(_) => panic!("{cfg:?}: wrong password accepted"),
        }
        server.wait_for("auth denied");
        server.assert_no_errors();
    }
}

// ---------------------------------------------------------------------------
// mysql_async tests: the client that asks for CLIENT_DEPRECATE_EOF.
// ---------------------------------------------------------------------------

fn async_opts(server: &Server, password: &str) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(server.port())
        .user(Some(USER))
        .pass(Some(password))
        .prefer_socket(false)
        // given, so the client does not query them on connect
        .max_allowed_packet(Some(DEFAULT_MAX_PACKET))
        .wait_timeout(Some(28800))
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// Text and binary all-types rows, echoed parameters, ping and quit over
/// `mysql_async`; `deprecate_eof` is what the server must have agreed.
fn exercise_mysql_async(server: &Server, deprecate_eof: bool) {
    use mysql_async::prelude::Queryable as _;
    block_on(async {
        let mut conn = mysql_async::Conn::new(async_opts(server, PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("connect: {e}; server log {:#?}", server.log()));
        let hs = handshake_line(server);
        assert!(
            hs.contains(&format!("deprecate_eof={deprecate_eof}")),
            "{hs}"
        );

        let rows: Vec<Row> = conn.query(ALL_TYPES_SQL).await.expect("text query");
        check_text_row(single_row(rows));
        let rows: Vec<Row> = conn.exec(ALL_TYPES_SQL, ()).await.expect("binary query");
        check_binary_row(single_row(rows));
        for _ in 0..2 {
            let rows: Vec<Row> = conn.exec(echo_sql(), echo_params()).await.expect("echo");
            check_echo_row(single_row(rows));
        }
        let db: Option<Option<String>> = conn.query_first("SELECT DATABASE()").await.unwrap();
        assert_eq!(db, Some(None));
        conn.ping().await.expect("ping");
        conn.disconnect().await.expect("disconnect");
    });
    server.wait_for("COM_QUIT");
    server.assert_no_errors();
}

#[test]
fn mysql_async_native_password_deprecate_eof() {
    let server = Server::start(Config::new(NATIVE_PASSWORD));
    exercise_mysql_async(&server, true);
    server.wait_for("auth ok mysql_native_password");
}

#[test]
fn mysql_async_caching_sha2_fast_path_deprecate_eof() {
    let server = Server::start(Config::new(CACHING_SHA2_PASSWORD));
    exercise_mysql_async(&server, true);
    server.wait_for("caching_sha2 fast auth success");
    server.wait_for("auth ok caching_sha2_password");
}

#[test]
fn mysql_async_classic_eof_when_not_offered() {
    // The client asks for DEPRECATE_EOF; the server does not offer it.
    let server = Server::start(Config {
        deprecate_eof: false,
        ..Config::new(CACHING_SHA2_PASSWORD)
    });
    exercise_mysql_async(&server, false);
}

#[test]
fn mysql_async_auth_switch_both_ways() {
    for (from, to) in [
        (NATIVE_PASSWORD, CACHING_SHA2_PASSWORD),
        (CACHING_SHA2_PASSWORD, NATIVE_PASSWORD),
    ] {
        let server = Server::start(Config {
            switch_to: Some(to),
            ..Config::new(from)
        });
        exercise_mysql_async(&server, true);
        server.wait_for(&format!("auth switch {from} -> {to}"));
        server.wait_for(&format!("auth ok {to}"));
    }
}

#[test]
fn mysql_async_wrong_password_is_1045() {
    for plugin in [NATIVE_PASSWORD, CACHING_SHA2_PASSWORD] {
        let server = Server::start(Config::new(plugin));
        match block_on(mysql_async::Conn::new(async_opts(&server, "wrong"))) {
            Err(mysql_async::Error::Server(e)) => check_access_denied(e.code, &e.state, &e.message),
            Err(e) => panic!("{plugin}: wrong error {e:?}"),
            Ok(_) => panic!("{plugin}: wrong password accepted"),
        }
        server.wait_for("auth denied");
    }
}

// ---------------------------------------------------------------------------
// mariadb CLI tests.
// ---------------------------------------------------------------------------

const MARIADB: &str = "/usr/bin/mariadb";

fn cli(server: &Server, password: &str, extra: &[&str], sql: &str) -> Output {
    assert!(
        std::path::Path::new(MARIADB).exists(),
        "{MARIADB} is missing: install the mariadb-client package"
    );
    let port = format!("-P{}", server.port());
    let pw = format!("-p{password}");
    let mut cmd = Process::new(MARIADB);
    cmd.args([
        "--no-defaults",
        "-h127.0.0.1",
        &port,
        "-ualice",
        &pw,
        "--skip-ssl",
    ])
    .arg("--connect-timeout=10")
    .args(extra)
    .args(["-e", sql]);
    cmd.output().expect("run mariadb")
}

fn cli_ok(server: &Server, extra: &[&str], sql: &str) -> String {
    let out = cli(server, PASSWORD, extra, sql);
    assert!(
        out.status.success(),
        "mariadb failed: {}\nserver log {:#?}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `--vertical --binary-as-hex` output of the all-types row (columns of the
/// binary collation that hold strings are printed in hex).
const ALL_TYPES_VERTICAL: &str = "\
*************************** 1. row ***************************
     tiny_min: -128
    tiny_umax: 255
    short_min: -32768
   short_umax: 65535
    int24_min: -8388608
   int24_umax: 16777215
     long_min: -2147483648
    long_umax: 4294967295
 longlong_min: -9223372036854775808
 longlong_max: 9223372036854775807
longlong_umax: 18446744073709551615
        float: 0.1
       double: -1234.5678901234
   double_big: 1e300
      decimal: -12345.6789
         date: 2024-02-29
     datetime: 2024-12-31 23:59:58
  datetime_us: 1999-01-02 03:04:05.123456
    timestamp: 2038-01-19 03:14:07
     time_neg: -01:02:03
    time_long: 838:59:59
      time_us: -25:00:00.000001
         year: 2024
      varchar: héllo wörld
   var_string: it's \"quoted\"
       string: fixed
         blob: 0x00017F80FF
          bit: 0x0201
         json: {\"a\": [1, 2.5, null], \"b\": \"x\"}
     geometry: 0x000000000101000000000000000000F03F0000000000000040
         enum: medium
          set: a,c
     null_int: NULL
     null_str: NULL
null_datetime: NULL
";

const SMALL_TABLE_SQL: &str = "SELECT DATABASE(); SELECT @@version_comment LIMIT 1";

fn small_table(db: &str) -> String {
    format!(
        "\
+------------+
| DATABASE() |
+------------+
| {db:<10} |
+------------+
+-----------------------+
| @@version_comment     |
+-----------------------+
| shardgate test server |
+-----------------------+
"
    )
}

fn exercise_cli(server: &Server) {
    let out = cli_ok(server, &["--vertical", "--binary-as-hex"], ALL_TYPES_SQL);
    assert_eq!(out, ALL_TYPES_VERTICAL);
    let out = cli_ok(
        server,
        &["--table", "-Dtest"],
        &format!("USE shop; {SMALL_TABLE_SQL}"),
    );
    assert_eq!(out, small_table("shop"));
    // The server thread logs COM_QUIT after the CLI has exited: wait for it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut log = server.log();
    while log.iter().filter(|l| *l == "COM_QUIT").count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        log = server.log();
    }
    assert!(log.iter().any(|l| l == "COM_INIT_DB shop"), "{log:#?}");
    assert!(
        log.iter().any(|l| l.contains("db=Some(\"test\")")),
        "{log:#?}"
    );
    let quits = log.iter().filter(|l| *l == "COM_QUIT").count();
    assert_eq!(quits, 2, "{log:#?}");
    server.assert_no_errors();
}

#[test]
fn cli_native_password() {
    let server = Server::start(Config::new(NATIVE_PASSWORD));
    exercise_cli(&server);
    let hs = handshake_line(&server);
    assert!(hs.contains("plugin=mysql_native_password"), "{hs}");
    // MariaDB Connector/C (the CLI's client library) never asks for
    // CLIENT_DEPRECATE_EOF, even when offered: it is a classic-EOF client.
    assert!(hs.contains("deprecate_eof=false"), "{hs}");
}

#[test]
fn cli_caching_sha2_password() {
    let server = Server::start(Config::new(CACHING_SHA2_PASSWORD));
    exercise_cli(&server);
    let hs = handshake_line(&server);
    assert!(hs.contains("plugin=caching_sha2_password"), "{hs}");
    server.wait_for("caching_sha2 fast auth success");
}

#[test]
fn cli_auth_switch_both_ways() {
    for (from, to) in [
        (NATIVE_PASSWORD, CACHING_SHA2_PASSWORD),
        (CACHING_SHA2_PASSWORD, NATIVE_PASSWORD),
    ] {
        let server = Server::start(Config {
            switch_to: Some(to),
            ..Config::new(from)
        });
        let out = cli_ok(&server, &["--table"], SMALL_TABLE_SQL);
        assert_eq!(out, small_table("NULL"));
        server.wait_for(&format!("auth switch {from} -> {to}"));
        server.wait_for(&format!("auth ok {to}"));
        server.assert_no_errors();
    }
}

#[test]
fn cli_wrong_password_is_1045() {
    for plugin in [NATIVE_PASSWORD, CACHING_SHA2_PASSWORD] {
        let server = Server::start(Config::new(plugin));
        let out = cli(&server, "wrong", &[], "SELECT 1");
        assert!(!out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "ERROR 1045 (28000): Access denied for user 'alice'@'127.0.0.1' (using password: YES)\n"
        );
        server.wait_for("auth denied");
    }
}
