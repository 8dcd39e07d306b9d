//! The admin port's MySQL side: the `shardgate-admin` accept loop and one
//! blocking session per connection (`shardgate-admin-conn`).
//!
//! A session sends HandshakeV10 with its own scramble, checks the client's
//! answer against the `[admin]` account (`mysql_native_password`, or the
//! `caching_sha2_password` fast path; any other plugin is switched to
//! native), then serves text-protocol commands: COM_QUERY (admin
//! statements, `commands`), COM_PING, COM_INIT_DB, COM_QUIT; anything else
//! gets ERR 1047. Reads time out every `SHUTDOWN_CHECK` so the thread sees a
//! shutdown; a session idle past `server.idle_timeout` (or a login slower
//! than `server.handshake_timeout`) is closed.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shardgate_proto::auth::{self as pauth, Credential, Sha2FastAuth};
use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::error_codes::{self as ec, ErrorCode};
use shardgate_proto::frame::{write_packet, PacketDecoder};
use shardgate_proto::handshake::{
    is_ssl_request, AuthSwitchRequest, HandshakeResponse41, HandshakeV10,
};
use shardgate_proto::response::OkPacket;

use super::commands::{self, Env, Reply, Session};
use super::{accept_loop, MAX_ADMIN_CONNECTIONS, SHUTDOWN_CHECK};
use crate::config::Admin;
use crate::reactor::Shared;
use crate::session::auth::{new_scramble, CACHING_SHA2, NATIVE};

/// What the admin port calls itself in the greeting.
pub const SERVER_VERSION: &str = concat!(
    "5.5.5-10.11.99-MariaDB-shardgate-",
    env!("CARGO_PKG_VERSION"),
    "-admin"
);

/// The version as `VERSION()` / `@@version` show it: without the greeting's
/// `5.5.5-` compatibility prefix, as MariaDB shows its own.
pub fn sql_version() -> &'static str {
    SERVER_VERSION.trim_start_matches("5.5.5-")
}

/// utf8mb4_general_ci.
const GREETING_COLLATION: u8 = 45;

/// Largest packet before login (a HandshakeResponse41 is small).
const MAX_LOGIN_PACKET: usize = 64 << 10;

/// Writes to a client that does not read fail after this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the admin port offers: text protocol, no TLS, no compression, no
/// multi-statements, no session tracking.
const ADMIN_CAPS: Capabilities = Capabilities(
    Capabilities::LONG_PASSWORD.0
        | Capabilities::FOUND_ROWS.0
        | Capabilities::LONG_FLAG.0
        | Capabilities::CONNECT_WITH_DB.0
        | Capabilities::PROTOCOL_41.0
        | Capabilities::INTERACTIVE.0
        | Capabilities::IGNORE_SIGPIPE.0
        | Capabilities::TRANSACTIONS.0
        | Capabilities::SECURE_CONNECTION.0
        | Capabilities::MULTI_RESULTS.0
        | Capabilities::PLUGIN_AUTH.0
        | Capabilities::CONNECT_ATTRS.0
        | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA.0
        | Capabilities::DEPRECATE_EOF.0,
);

const COM_QUIT: u8 = 0x01;
const COM_INIT_DB: u8 = 0x02;
const COM_QUERY: u8 = 0x03;
const COM_PING: u8 = 0x0e;

/// The `shardgate-admin` thread: accepts until shutdown, then waits for its
/// connection threads.
pub(super) fn run(listener: TcpListener, shared: Arc<Shared>, config_path: Option<PathBuf>) {
    let active = Arc::new(AtomicUsize::new(0));
    let next_id = AtomicU32::new(1);
    let config_path = Arc::new(config_path);
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    accept_loop(listener, &shared, "admin port", |s, peer| {
        conns.retain(|h| !h.is_finished());
        if active.load(Ordering::Acquire) >= MAX_ADMIN_CONNECTIONS {
            log::warn!(
                "ADMIN [{peer}] refused: {MAX_ADMIN_CONNECTIONS} admin connections already open"
            );
            refuse(s, ec::ER_CON_COUNT_ERROR, "Too many connections");
            return;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        active.fetch_add(1, Ordering::AcqRel);
        let guard = ActiveGuard(active.clone());
        let sh = shared.clone();
        let path = config_path.clone();
        let spawned = std::thread::Builder::new()
            .name("shardgate-admin-conn".into())
            .spawn(move || {
                let _guard = guard;
                serve(s, peer, id, &sh, path.as_ref().as_deref());
            });
        match spawned {
            Ok(h) => conns.push(h),
            Err(e) => log::error!("ADMIN [{peer}] cannot start a session thread: {e}"),
        }
    });
    for h in conns {
        let _ = h.join();
    }
}

/// Counts an admin session while it lives.
struct ActiveGuard(Arc<AtomicUsize>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sends one ERR instead of a greeting and closes.
fn refuse(mut s: TcpStream, code: ErrorCode, msg: &str) {
    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
    let mut p = Vec::new();
    ec::write_err(&mut p, code, msg);
    let mut out = Vec::new();
    write_packet(&mut out, &mut 0, &p);
    let _ = s.write_all(&out);
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    /// The client closed the connection (or sent COM_QUIT).
    Closed,
    /// No complete packet before the deadline.
    TimedOut,
    Shutdown,
    /// The login was refused (the client got an ERR).
    Refused(String),
    Io(io::Error),
    /// Bad framing or a malformed packet.
    Protocol(String),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Closed => f.write_str("closed by the client"),
            End::TimedOut => f.write_str("timed out"),
            End::Shutdown => f.write_str("shutting down"),
            End::Refused(why) => write!(f, "login refused: {why}"),
            End::Io(e) => write!(f, "I/O error: {e}"),
            End::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

/// One admin connection's socket and framing.
struct Conn<'a> {
    s: TcpStream,
    peer: SocketAddr,
    shared: &'a Shared,
    /// Bytes read and not yet decoded.
    buf: Vec<u8>,
    decoder: PacketDecoder,
}

impl Conn<'_> {
    /// The next whole packet's payload, waiting until `deadline`.
    fn read_packet(&mut self, deadline: Instant) -> Result<Vec<u8>, End> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.decoder.decode(&self.buf) {
                Ok(Some(p)) => {
                    let payload = p.payload.into_owned();
                    let used = p.consumed;
                    self.buf.drain(..used);
                    return Ok(payload);
                }
                Ok(None) => {}
                Err(e) => return Err(End::Protocol(e.to_string())),
            }
            if self.shared.is_shutting_down() {
                return Err(End::Shutdown);
            }
            if Instant::now() >= deadline {
                return Err(End::TimedOut);
            }
            match self.s.read(&mut chunk) {
                Ok(0) => return Err(End::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(End::Io(e)),
            }
        }
    }

    /// Sends one packet with sequence id `seq`.
    fn send(&mut self, seq: u8, payload: &[u8]) -> Result<(), End> {
        let mut out = Vec::with_capacity(payload.len() + 4);
        write_packet(&mut out, &mut { seq }, payload);
        self.s.write_all(&out).map_err(End::Io)
    }

    fn send_err(&mut self, seq: u8, code: ErrorCode, msg: &str) -> Result<(), End> {
        let mut p = Vec::with_capacity(msg.len() + 9);
        ec::write_err(&mut p, code, msg);
        self.send(seq, &p)
    }

    fn send_ok(&mut self, seq: u8, caps: Capabilities, info: &str) -> Result<(), End> {
        let mut ok = OkPacket::new(0, 0, StatusFlags::AUTOCOMMIT, 0);
        ok.info = info.as_bytes();
        let mut p = Vec::new();
        ok.encode(&mut p, caps);
        self.send(seq, &p)
    }
}

/// Runs one admin session to its end.
fn serve(
    s: TcpStream,
    peer: SocketAddr,
    id: u32,
    shared: &Shared,
    config_path: Option<&std::path::Path>,
) {
    if let Err(e) = s
        .set_read_timeout(Some(SHUTDOWN_CHECK))
        .and_then(|_| s.set_write_timeout(Some(WRITE_TIMEOUT)))
    {
        log::debug!("ADMIN [{id} {peer}] socket set-up: {e}");
        return;
    }
    let mut c = Conn {
        s,
        peer,
        shared,
        buf: Vec::new(),
        decoder: PacketDecoder::new(MAX_LOGIN_PACKET),
    };
    let mut sess = match login(&mut c, id) {
        Ok(sess) => sess,
        Err(End::Refused(why)) => {
            log::info!("ADMIN [{id} {peer}] login refused: {why}");
            return;
        }
        Err(e) => {
            log::debug!("ADMIN [{id} {peer}] login ended: {e}");
            return;
        }
    };
    log::info!("ADMIN [{id} {peer}] user '{}' logged in", sess.user);
    let end = commands_loop(&mut c, &mut sess, config_path);
    match end {
        End::Closed | End::Shutdown => {
            log::debug!("ADMIN [{id} {peer}] session ended: {end}")
        }
        End::TimedOut => log::info!("ADMIN [{id} {peer}] idle timeout: closed"),
        _ => log::warn!("ADMIN [{id} {peer}] session closed: {end}"),
    }
}

/// The verdict on one login answer.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    Ok { fast_auth_ok: bool },
    Switch(&'static str),
    Denied,
}

/// Checks a login answer (`plugin`, `response` to `scramble`) against the
/// `[admin]` account.
fn check(
    admin: Option<&Admin>,
    user: &str,
    plugin: &[u8],
    scramble: &[u8],
    response: &[u8],
) -> Check {
    let Some(admin) = admin.filter(|a| a.user == user) else {
        return Check::Denied;
    };
    let cred = Credential::plain(admin.password.expose().as_bytes().to_vec());
    let empty = admin.password.is_empty();
    if plugin == NATIVE.as_bytes() {
        if empty && response.is_empty() || !empty && pauth::native_verify(scramble, response, &cred)
        {
            Check::Ok {
                fast_auth_ok: false,
            }
        } else {
            Check::Denied
        }
    } else if plugin == CACHING_SHA2.as_bytes() {
        if response.is_empty() && !empty {
            return Check::Switch(CACHING_SHA2);
        }
        match pauth::sha2_fast_auth(scramble, response, &cred) {
            Sha2FastAuth::EmptyPassword if empty => Check::Ok {
                fast_auth_ok: false,
            },
            Sha2FastAuth::Success => Check::Ok { fast_auth_ok: true },
            _ => Check::Denied,
        }
    } else {
        Check::Switch(NATIVE)
    }
}

/// Greeting, HandshakeResponse41, optional auth switch, OK or ERR 1045.
fn login(c: &mut Conn<'_>, id: u32) -> Result<Session, End> {
    let topo = c.shared.topology();
    let deadline = Instant::now() + topo.server.handshake_timeout;
    let mut scramble = new_scramble();
    let greeting = HandshakeV10::new(
        SERVER_VERSION.as_bytes(),
        id,
        &scramble,
        ADMIN_CAPS,
        GREETING_COLLATION,
        StatusFlags::AUTOCOMMIT,
        NATIVE.as_bytes(),
    );
    let mut p = Vec::with_capacity(128);
    greeting.encode(&mut p);
    c.send(0, &p)?;
    c.decoder.expect_seq(1);
    let payload = c.read_packet(deadline)?;
    if is_ssl_request(&payload) {
        return Err(End::Refused(
            "client asked for TLS, which the admin port does not offer".into(),
        ));
    }
    let resp = match HandshakeResponse41::decode(&payload) {
        Ok(r) => r,
        Err(e) => {
            c.send_err(2, ec::ER_HANDSHAKE_ERROR, "Bad handshake")?;
            return Err(End::Protocol(format!("bad handshake response: {e}")));
        }
    };
    let caps = resp.capabilities & ADMIN_CAPS;
    let user = String::from_utf8_lossy(resp.username).into_owned();
    let schema = resp
        .database
        .filter(|d| !d.is_empty())
        .map(|d| String::from_utf8_lossy(d).into_owned());
    let plugin = resp.auth_plugin_name.unwrap_or(NATIVE.as_bytes());
    let mut using_password = !resp.auth_response.is_empty();
    let admin = topo.admin.as_ref();
    let mut seq = 2u8;
    let mut verdict = check(admin, &user, plugin, &scramble, resp.auth_response);
    if let Check::Switch(to) = verdict {
        scramble = new_scramble();
        let mut data = scramble.to_vec();
        data.push(0);
        let mut p = Vec::new();
        AuthSwitchRequest {
            plugin_name: to.as_bytes(),
            plugin_data: &data,
        }
        .encode(&mut p);
        c.send(seq, &p)?;
        c.decoder.expect_seq(seq.wrapping_add(1));
        let answer = c.read_packet(deadline)?;
        using_password = !answer.is_empty();
        seq = seq.wrapping_add(2);
        verdict = match check(admin, &user, to.as_bytes(), &scramble, &answer) {
            Check::Switch(_) => Check::Denied,
            v => v,
        };
    }
    match verdict {
        Check::Ok { fast_auth_ok } => {
            if fast_auth_ok {
                c.send(seq, &[0x01, pauth::SHA2_FAST_AUTH_SUCCESS])?;
                seq = seq.wrapping_add(1);
            }
            c.send_ok(seq, caps, "")?;
            c.decoder.set_max_packet(topo.server.max_packet_size);
            Ok(Session {
                id,
                user,
                peer: c.peer,
                schema,
                caps,
            })
        }
        Check::Switch(_) | Check::Denied => {
            let msg = ec::access_denied_message(&user, &c.peer.ip().to_string(), using_password);
            c.send_err(seq, ec::ER_ACCESS_DENIED_ERROR, &msg)?;
            Err(End::Refused(msg))
        }
    }
}

/// Serves commands until the session ends; returns why it ended.
fn commands_loop(
    c: &mut Conn<'_>,
    sess: &mut Session,
    config_path: Option<&std::path::Path>,
) -> End {
    loop {
        let idle = c.shared.topology().server.idle_timeout;
        c.decoder.expect_seq(0);
        let payload = match c.read_packet(Instant::now() + idle) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let result = match payload.first().copied() {
            Some(COM_QUIT) => return End::Closed,
            Some(COM_PING) => c.send_ok(1, sess.caps, ""),
            Some(COM_INIT_DB) => {
                let db = String::from_utf8_lossy(&payload[1..]).into_owned();
                sess.schema = Some(db);
                c.send_ok(1, sess.caps, "")
            }
            Some(COM_QUERY) => {
                let sql = String::from_utf8_lossy(&payload[1..]).into_owned();
                log::debug!("ADMIN [{} {}] {sql}", sess.id, sess.peer);
                let env = Env {
                    shared: c.shared,
                    config_path,
                };
                let reply = commands::execute(&env, sess, &sql);
                send_reply(c, sess.caps, reply)
            }
            Some(other) => c.send_err(
                1,
                ec::ER_UNKNOWN_COM_ERROR,
                &format!(
                    "shardgate admin: {} is not supported on the admin port (text queries only)",
                    shardgate_proto::command::code_name(other)
                ),
            ),
            None => return End::Protocol("empty command packet".into()),
        };
        if let Err(e) = result {
            return e;
        }
    }
}

fn send_reply(c: &mut Conn<'_>, caps: Capabilities, reply: Reply) -> Result<(), End> {
    match reply {
        Reply::Ok(info) => c.send_ok(1, caps, &info),
        Reply::Err(code, msg) => c.send_err(1, code, &msg),
        Reply::Payload(p) => c.send(1, &p),
        Reply::Packets(frames) => c.s.write_all(&frames).map_err(End::Io),
        Reply::Rows(rows) => {
            let cols: Vec<&str> = rows.columns.iter().map(String::as_str).collect();
            let frames = crate::route::local::text_result_set(
                caps,
                crate::route::local::IDLE_STATUS,
                &cols,
                &rows.rows,
            );
            c.s.write_all(&frames).map_err(End::Io)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn admin() -> Admin {
        Admin {
            user: "admin".into(),
            password: Secret::new("pw"),
        }
    }

    #[test]
    fn native_and_sha2_logins() {
        let a = admin();
        let nonce = new_scramble();
        let native = pauth::native_auth_response(b"pw", &nonce);
        assert_eq!(
            check(Some(&a), "admin", NATIVE.as_bytes(), &nonce, &native),
            Check::Ok {
                fast_auth_ok: false
            }
        );
        let wrong = pauth::native_auth_response(b"nope", &nonce);
        assert_eq!(
            check(Some(&a), "admin", NATIVE.as_bytes(), &nonce, &wrong),
            Check::Denied
        );
        assert_eq!(
            check(Some(&a), "root", NATIVE.as_bytes(), &nonce, &native),
            Check::Denied
        );
        assert_eq!(
            check(None, "admin", NATIVE.as_bytes(), &nonce, &native),
            Check::Denied
        );
        let sha2 = pauth::sha2_auth_response(b"pw", &nonce);
        assert_eq!(
            check(Some(&a), "admin", CACHING_SHA2.as_bytes(), &nonce, &sha2),
            Check::Ok { fast_auth_ok: true }
        );
        assert_eq!(
            check(Some(&a), "admin", CACHING_SHA2.as_bytes(), &nonce, &[]),
            Check::Switch(CACHING_SHA2)
        );
        assert_eq!(
            check(Some(&a), "admin", b"dialog", &nonce, b"x"),
            Check::Switch(NATIVE)
        );
        assert_eq!(
            check(Some(&a), "admin", NATIVE.as_bytes(), &nonce, &[]),
            Check::Denied
        );
    }
}
