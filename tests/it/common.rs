//! Shared helpers of the integration tests: the lazily started MariaDB that
//! ordinary tests share (each test uses its own database names), direct
//! connections, bounded runs of the CLI tools, a raw MySQL protocol client
//! (for commands the `mysql` crate cannot send and for malformed packets),
//! and a TCP relay that records what a client and shardgate say.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use mysql::{Conn, Opts};
use shardgate_proto::auth::native_auth_response;
use shardgate_proto::column::ColumnDefinition41;
use shardgate_proto::handshake::HandshakeV10;

use crate::support::MariaDb;

/// The MariaDB server shared by the tests that neither kill nor reconfigure
/// it. Started on first use; SIGKILLed and removed when the test process
/// exits (a static is never dropped, so an `atexit` hook does it).
pub fn shared_db() -> &'static MariaDb {
    static DB: OnceLock<MariaDb> = OnceLock::new();
    DB.get_or_init(|| {
        let db = MariaDb::start();
        // SAFETY: registering a plain extern "C" function with atexit(3).
        unsafe {
            libc::atexit(cleanup_shared);
        }
        db
    })
}

extern "C" fn cleanup_shared() {
    // Reached through the same OnceLock: the server was started.
    let db = shared_db();
    if let Ok(pid) = std::fs::read_to_string(db.dir.join("mysqld.pid")) {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: kill(2) on the pid our own mariadbd wrote.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    thread::sleep(Duration::from_millis(100));
    let _ = std::fs::remove_dir_all(&db.dir);
}

/// A `mysql` crate connection straight to a MariaDB server (no shardgate).
pub fn direct(db: &MariaDb) -> Conn {
    Conn::new(Opts::from_url(&db.url()).expect("url")).expect("direct connection")
}

/// A direct connection with `schema` selected.
pub fn direct_db(db: &MariaDb, schema: &str) -> Conn {
    Conn::new(Opts::from_url(&format!("{}/{schema}", db.url())).expect("url"))
        .expect("direct connection")
}

/// `(code, message)` of a server ERR packet, `None` for other errors.
pub fn server_err(e: &mysql::Error) -> Option<(u16, String)> {
    match e {
        mysql::Error::MySqlError(me) => Some((me.code, me.message.clone())),
        _ => None,
    }
}

/// Runs `cmd` with a deadline: killed (and the test fails) past `timeout`.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// The `mariadb` CLI over TCP with extra options (batch mode, no column
/// names), bounded to 60 s.
pub fn cli(port: u16, user: &str, password: &str, extra: &[&str], sql: &str) -> Output {
    let mut cmd = Command::new("mariadb");
    cmd.arg("--no-defaults")
        .arg("--protocol=TCP")
        .arg("-h127.0.0.1")
        .arg(format!("-P{port}"))
        .arg(format!("-u{user}"))
        .arg(format!("--password={password}"))
        .args(["--connect-timeout=10", "--batch", "-N"])
        .args(extra)
        .args(["-e", sql]);
    run_bounded(&mut cmd, Duration::from_secs(60))
}

/// `mariadb-admin` over TCP, bounded to 30 s.
pub fn admin(port: u16, user: &str, password: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("mariadb-admin");
    cmd.arg("--no-defaults")
        .arg("--protocol=TCP")
        .arg("-h127.0.0.1")
        .arg(format!("-P{port}"))
        .arg(format!("-u{user}"))
        .arg(format!("--password={password}"))
        .arg("--connect-timeout=10")
        .args(args);
    run_bounded(&mut cmd, Duration::from_secs(30))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------
// Raw protocol client
// ---------------------------------------------------------------------------

pub const CLIENT_LONG_PASSWORD: u32 = 1;
pub const CLIENT_LONG_FLAG: u32 = 4;
pub const CLIENT_CONNECT_WITH_DB: u32 = 8;
pub const CLIENT_PROTOCOL_41: u32 = 0x200;
pub const CLIENT_TRANSACTIONS: u32 = 0x2000;
pub const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
pub const CLIENT_MULTI_RESULTS: u32 = 0x2_0000;
pub const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;
/// What [`Raw::login`] announces unless told otherwise.
pub const RAW_CAPS: u32 = CLIENT_LONG_PASSWORD
    | CLIENT_LONG_FLAG
    | CLIENT_PROTOCOL_41
    | CLIENT_TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH;
const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;

/// One reply of a raw command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok {
        affected: u64,
        status: u16,
    },
    Err {
        code: u16,
        msg: String,
    },
    Eof {
        status: u16,
    },
    Rows {
        cols: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
    },
}

/// A hand-driven MySQL client connection (no EOF deprecation, text only).
pub struct Raw {
    pub s: TcpStream,
    pub conn_id: u32,
}

impl Raw {
    /// Connects and reads the greeting; returns it with the scramble.
    pub fn connect(port: u16) -> (Raw, Vec<u8>) {
        let s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut r = Raw { s, conn_id: 0 };
        let (_, g) = r.read_packet().expect("greeting");
        let hs = HandshakeV10::decode(&g).expect("decode greeting");
        r.conn_id = hs.connection_id;
        let scramble = hs.auth_plugin_data.clone();
        (r, scramble)
    }

    /// Connects and logs in with mysql_native_password (answering an auth
    /// switch); panics unless the server says OK.
    pub fn login(port: u16, user: &str, password: &str, caps: u32) -> Raw {
        let (mut r, scramble) = Raw::connect(port);
        let resp = handshake_response(caps, user, password, &scramble, None);
        r.write_packet(1, &resp).expect("send handshake response");
        let (seq, p) = r.read_packet().expect("auth reply");
        match p.first() {
            Some(0x00) => r,
            Some(0xfe) => {
                // AuthSwitchRequest: plugin name NUL, then the nonce.
                let rest = &p[1..];
                let nul = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                let nonce = rest.get(nul + 1..).unwrap_or(&[]);
                let nonce: Vec<u8> = nonce.iter().copied().take(20).collect();
                let ans = native_auth_response(password.as_bytes(), &nonce);
                r.write_packet(seq.wrapping_add(1), &ans)
                    .expect("switch answer");
                let (_, p) = r.read_packet().expect("auth reply after switch");
                assert_eq!(p.first(), Some(&0x00), "login failed: {:?}", text(&p));
                r
            }
            _ => panic!("login failed: {:?}", text(&p)),
        }
    }

    pub fn read_packet(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let mut h = [0u8; 4];
        self.s.read_exact(&mut h)?;
        let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
        let mut p = vec![0u8; len];
        self.s.read_exact(&mut p)?;
        Ok((h[3], p))
    }

    pub fn write_packet(&mut self, seq: u8, payload: &[u8]) -> io::Result<()> {
        let len = payload.len();
        let mut b = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, seq];
        b.extend_from_slice(payload);
        self.s.write_all(&b)
    }

    /// Sends a command (sequence id 0).
    pub fn send(&mut self, payload: &[u8]) {
        self.write_packet(0, payload).expect("send command");
    }

    /// COM_QUERY and every reply (several with multi-results).
    pub fn query(&mut self, sql: &str) -> Vec<Reply> {
        let mut p = vec![0x03];
        p.extend_from_slice(sql.as_bytes());
        self.send(&p);
        self.read_replies()
    }

    /// Reads one reply, and more while SERVER_MORE_RESULTS_EXISTS is set.
    pub fn read_replies(&mut self) -> Vec<Reply> {
        let mut out = Vec::new();
        loop {
            let (r, more) = self.read_reply();
            out.push(r);
            if !more {
                return out;
            }
        }
    }

    fn read_reply(&mut self) -> (Reply, bool) {
        let (_, p) = self.read_packet().expect("reply");
        match p.first() {
            Some(0x00) => {
                let mut i = 1;
                let affected = lenenc(&p, &mut i);
                let _last_id = lenenc(&p, &mut i);
                let status = u16_at(&p, i);
                (
                    Reply::Ok { affected, status },
                    status & SERVER_MORE_RESULTS_EXISTS != 0,
                )
            }
            Some(0xff) => (parse_err(&p), false),
            Some(0xfe) if p.len() < 9 => {
                let status = u16_at(&p, 3);
                (Reply::Eof { status }, false)
            }
            _ => {
                let mut i = 0;
                let n = lenenc(&p, &mut i);
                let mut cols = Vec::new();
                for _ in 0..n {
                    let (_, c) = self.read_packet().expect("column definition");
                    let def = ColumnDefinition41::decode(&c).expect("decode column");
                    cols.push(text(def.name));
                }
                let (_, eof) = self.read_packet().expect("EOF after columns");
                assert_eq!(eof.first(), Some(&0xfe), "EOF after columns");
                let mut rows = Vec::new();
                loop {
                    let (_, r) = self.read_packet().expect("row");
                    if r.first() == Some(&0xfe) && r.len() < 9 {
                        let status = u16_at(&r, 3);
                        return (
                            Reply::Rows { cols, rows },
                            status & SERVER_MORE_RESULTS_EXISTS != 0,
                        );
                    }
                    if r.first() == Some(&0xff) {
                        return (parse_err(&r), false);
                    }
                    let mut i = 0;
                    let mut row = Vec::new();
                    while i < r.len() {
                        if r[i] == 0xfb {
                            i += 1;
                            row.push(None);
                        } else {
                            let l = lenenc(&r, &mut i) as usize;
                            row.push(Some(text(&r[i..i + l])));
                            i += l;
                        }
                    }
                    rows.push(row);
                }
            }
        }
    }

    /// COM_FIELD_LIST: column names, or the ERR.
    pub fn field_list(&mut self, table: &str, wildcard: &str) -> Result<Vec<String>, Reply> {
        let mut p = vec![0x04];
        p.extend_from_slice(table.as_bytes());
        p.push(0);
        p.extend_from_slice(wildcard.as_bytes());
        self.send(&p);
        let mut names = Vec::new();
        loop {
            let (_, c) = self.read_packet().expect("field list reply");
            match c.first() {
                Some(0xff) => return Err(parse_err(&c)),
                Some(0xfe) if c.len() < 9 => return Ok(names),
                _ => {
                    let def = ColumnDefinition41::decode(&c).expect("decode column");
                    names.push(text(def.name));
                }
            }
        }
    }

    /// True when the peer closes the connection (EOF or reset) within
    /// `timeout`; packets it sends first (an ERR) are skipped.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.s.set_read_timeout(Some(left)).unwrap();
            match self.s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
    }
}

/// HandshakeResponse41 with mysql_native_password.
pub fn handshake_response(
    caps: u32,
    user: &str,
    password: &str,
    scramble: &[u8],
    db: Option<&str>,
) -> Vec<u8> {
    let caps = if db.is_some() {
        caps | CLIENT_CONNECT_WITH_DB
    } else {
        caps
    };
    let mut p = Vec::new();
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(16u32 << 20).to_le_bytes());
    p.push(33); // utf8_general_ci
    p.extend_from_slice(&[0u8; 23]);
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    let auth = native_auth_response(password.as_bytes(), scramble);
    p.push(auth.len() as u8);
    p.extend_from_slice(&auth);
    if let Some(db) = db {
        p.extend_from_slice(db.as_bytes());
        p.push(0);
    }
    p.extend_from_slice(b"mysql_native_password\0");
    p
}

fn parse_err(p: &[u8]) -> Reply {
    let code = u16_at(p, 1);
    let msg_start = if p.get(3) == Some(&b'#') { 9 } else { 3 };
    Reply::Err {
        code,
        msg: text(p.get(msg_start..).unwrap_or(&[])),
    }
}

fn u16_at(p: &[u8], i: usize) -> u16 {
    match (p.get(i), p.get(i + 1)) {
        (Some(&a), Some(&b)) => u16::from_le_bytes([a, b]),
        _ => 0,
    }
}

fn lenenc(p: &[u8], i: &mut usize) -> u64 {
    let first = p[*i];
    *i += 1;
    let n = match first {
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        b => return u64::from(b),
    };
    let mut v = 0u64;
    for k in 0..n {
        v |= u64::from(p[*i + k]) << (8 * k);
    }
    *i += n;
    v
}

/// Splits a recorded byte stream into `(seq, payload)` packets.
pub fn split_packets(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16;
        if b.len() < 4 + len {
            break;
        }
        out.push((b[3], b[4..4 + len].to_vec()));
        b = &b[4 + len..];
    }
    out
}

// ---------------------------------------------------------------------------
// Recording relay
// ---------------------------------------------------------------------------

/// A TCP relay for one client connection to `127.0.0.1:target`; records
/// client -> server bytes (`up`) and server -> client bytes (`down`).
pub struct Sniffer {
    pub port: u16,
    pub up: Arc<Mutex<Vec<u8>>>,
    pub down: Arc<Mutex<Vec<u8>>>,
}

pub fn sniff(target: u16) -> Sniffer {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind relay");
    let port = l.local_addr().unwrap().port();
    let up = Arc::new(Mutex::new(Vec::new()));
    let down = Arc::new(Mutex::new(Vec::new()));
    let (u, d) = (up.clone(), down.clone());
    thread::spawn(move || {
        let Ok((client, _)) = l.accept() else { return };
        let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target)) else {
            return;
        };
        let pump = |mut from: TcpStream, mut to: TcpStream, rec: Arc<Mutex<Vec<u8>>>| {
            thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            rec.lock().unwrap().extend_from_slice(&buf[..n]);
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = to.shutdown(Shutdown::Write);
            })
        };
        let a = pump(client.try_clone().unwrap(), server.try_clone().unwrap(), u);
        let b = pump(server, client, d);
        let _ = a.join();
        let _ = b.join();
    });
    Sniffer { port, up, down }
}
