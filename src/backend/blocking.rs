//! A small blocking MySQL client over `std::net::TcpStream`, for the rare
//! out-of-band statements that must not run on an I/O thread: `KILL QUERY`
//! on a backend, lookup-directory reads, and the health probes
//! (`crate::health::probe`). Bounded by timeouts: [`BlockingConn::connect`]
//! uses `backend.connect_timeout` for every step; [`BlockingConn::connect_until`]
//! bounds the connect, the login and later statements by one deadline (what a
//! probe needs: "answer within `health.timeout`, all steps together").
//! [`BlockingConn::query_result`] decodes a text result set with its column
//! names (`SHOW SLAVE STATUS` is read by column name).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use shardgate_proto::auth as pauth;
use shardgate_proto::capability::Capabilities;
use shardgate_proto::column::{column_count, ColumnDefinition41};
use shardgate_proto::frame::{write_packet, PacketDecoder};
use shardgate_proto::handshake::{AuthPhasePacket, HandshakeResponse41, HandshakeV10};
use shardgate_proto::row::TextRow;

use crate::config::Backend as BackendConfig;
use crate::reactor::relay::{Expect, ReplyTracker};

/// One logged-in blocking connection.
pub struct BlockingConn {
    sock: TcpStream,
    buf: Vec<u8>,
    /// When set, every read and write must finish before it (the socket
    /// timeouts are set to the time left before each one).
    deadline: Option<Instant>,
}

fn proto_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn deadline_passed() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

/// A blocked read or write that ran out of time reports `WouldBlock`
/// (EAGAIN) on Unix; callers see `TimedOut`.
fn timeout_kind(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "timed out")
    } else {
        e
    }
}

impl BlockingConn {
    /// Connects and logs in with the `[backend]` account; the connect, and
    /// then each read and write, are bounded by `backend.connect_timeout`
    /// (at least 1 s for reads and writes).
    pub fn connect(addr: SocketAddr, cfg: &BackendConfig) -> io::Result<BlockingConn> {
        let sock = TcpStream::connect_timeout(&addr, cfg.connect_timeout)?;
        let timeout = Some(cfg.connect_timeout.max(Duration::from_secs(1)));
        sock.set_read_timeout(timeout)?;
        sock.set_write_timeout(timeout)?;
        let mut conn = BlockingConn {
            sock,
            buf: Vec::new(),
            deadline: None,
        };
        conn.login(cfg.user.as_bytes(), cfg.password.expose().as_bytes())?;
        Ok(conn)
    }

    /// Connects and logs in with the `[backend]` account, all before
    /// `deadline`; the connection keeps the deadline for later statements
    /// (see [`BlockingConn::set_deadline`]). A step that runs out of time
    /// fails with `ErrorKind::TimedOut`.
    pub fn connect_until(
        addr: SocketAddr,
        cfg: &BackendConfig,
        deadline: Instant,
    ) -> io::Result<BlockingConn> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(deadline_passed());
        }
        let sock = TcpStream::connect_timeout(&addr, left).map_err(timeout_kind)?;
        sock.set_nodelay(true)?;
        let mut conn = BlockingConn {
            sock,
            buf: Vec::new(),
            deadline: Some(deadline),
        };
        conn.login(cfg.user.as_bytes(), cfg.password.expose().as_bytes())?;
        Ok(conn)
    }

    /// Bounds every later read and write by `deadline` (`None`: back to the
    /// per-operation timeouts the socket has).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Sets the socket timeout of the next read (`write == false`) or write
    /// to the time left before the deadline, if there is one.
    fn arm(&self, write: bool) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(deadline_passed());
        }
        if write {
            self.sock.set_write_timeout(Some(left))
        } else {
            self.sock.set_read_timeout(Some(left))
        }
    }

    fn read_packet(&mut self, dec: &mut PacketDecoder) -> io::Result<(u8, Vec<u8>)> {
        loop {
            if let Some(p) = dec.decode(&self.buf).map_err(proto_err)? {
                let out = (p.last_seq, p.payload.into_owned());
                let used = p.consumed;
                self.buf.drain(..used);
                return Ok(out);
            }
            let mut chunk = [0u8; 8192];
            self.arm(false)?;
            let n = self.sock.read(&mut chunk).map_err(timeout_kind)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn write_packet(&mut self, seq: u8, payload: &[u8]) -> io::Result<()> {
        let mut out = Vec::with_capacity(payload.len() + 4);
        let mut s = seq;
        write_packet(&mut out, &mut s, payload);
        self.arm(true)?;
        self.sock.write_all(&out).map_err(timeout_kind)
    }

    fn login(&mut self, user: &[u8], password: &[u8]) -> io::Result<()> {
        let mut dec = PacketDecoder::new(16 << 20);
        let (seq, greeting) = self.read_packet(&mut dec)?;
        if greeting.first() == Some(&0xff) {
            return Err(proto_err(format!(
                "server refused: {}",
                String::from_utf8_lossy(&greeting[3..])
            )));
        }
        let hs = HandshakeV10::decode(&greeting).map_err(proto_err)?;
        let mut scramble = hs.auth_plugin_data.clone();
        let sha2 = hs.auth_plugin_name == pauth::CACHING_SHA2_PASSWORD.as_bytes();
        let auth = if sha2 {
            pauth::sha2_auth_response(password, &scramble)
        } else {
            pauth::native_auth_response(password, &scramble)
        };
        let plugin: &[u8] = if sha2 {
            pauth::CACHING_SHA2_PASSWORD.as_bytes()
        } else {
            pauth::NATIVE_PASSWORD.as_bytes()
        };
        let caps = (Capabilities::LONG_PASSWORD
            | Capabilities::PROTOCOL_41
            | Capabilities::SECURE_CONNECTION
            | Capabilities::PLUGIN_AUTH
            | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA
            | Capabilities::TRANSACTIONS)
            & hs.capabilities;
        let resp = HandshakeResponse41 {
            capabilities: caps,
            max_packet_size: 16 << 20,
            character_set: 45,
            filler: [0; 19],
            mariadb_capabilities: 0,
            username: user,
            auth_response: &auth,
            database: None,
            auth_plugin_name: Some(plugin),
            connect_attrs: None,
            zstd_compression_level: None,
        };
        let mut p = Vec::new();
        resp.encode(&mut p);
        let mut next = seq.wrapping_add(1);
        dec.expect_seq(next.wrapping_add(1));
        self.write_packet(next, &p)?;
        for _ in 0..8 {
            let (seq, pkt) = self.read_packet(&mut dec)?;
            next = seq.wrapping_add(1);
            dec.expect_seq(next.wrapping_add(1));
            match AuthPhasePacket::decode(&pkt).map_err(proto_err)? {
                AuthPhasePacket::Ok => return Ok(()),
                AuthPhasePacket::Err => {
                    return Err(proto_err(format!(
                        "login failed: {}",
                        String::from_utf8_lossy(pkt.get(3..).unwrap_or_default())
                    )))
                }
                AuthPhasePacket::Switch(sw) => {
                    scramble = sw.scramble().to_vec();
                    let data = if sw.plugin_name == pauth::CACHING_SHA2_PASSWORD.as_bytes() {
                        pauth::sha2_auth_response(password, &scramble)
                    } else {
                        pauth::native_auth_response(password, &scramble)
                    };
                    self.write_packet(next, &data)?;
                }
                AuthPhasePacket::MoreData(m) => match m.data {
                    [0x03] => dec.expect_seq(next),
                    [0x04] => self.write_packet(next, &[0x02])?,
                    pem => {
                        let enc = pauth::sha2_encrypt_password(password, &scramble, pem)
                            .map_err(proto_err)?;
                        self.write_packet(next, &enc)?;
                    }
                },
                AuthPhasePacket::OldSwitch => {
                    return Err(proto_err("mysql_old_password is not supported"))
                }
            }
        }
        Err(proto_err("login did not finish"))
    }

    /// Runs one statement; returns the raw reply packets (payloads).
    pub fn query(&mut self, sql: &str) -> io::Result<Vec<Vec<u8>>> {
        let mut p = vec![0x03];
        p.extend_from_slice(sql.as_bytes());
        self.write_packet(0, &p)?;
        let mut tracker = ReplyTracker::new(Expect::ResultSets, false);
        let mut dec = PacketDecoder::new(64 << 20);
        dec.expect_seq(1);
        let mut packets = Vec::new();
        loop {
            let (seq, payload) = self.read_packet(&mut dec)?;
            let mut framed = Vec::with_capacity(payload.len() + 4);
            let mut s = seq;
            write_packet(&mut framed, &mut s, &payload);
            let adv = tracker.advance(&framed).map_err(proto_err)?;
            packets.push(payload);
            if adv.done {
                if tracker.outcome().error {
                    let last = packets.last().cloned().unwrap_or_default();
                    return Err(proto_err(String::from_utf8_lossy(
                        last.get(9..).unwrap_or_default(),
                    )));
                }
                return Ok(packets);
            }
            if adv.local_infile {
                return Err(proto_err("unexpected LOCAL INFILE request"));
            }
        }
    }

    /// Runs one statement and decodes its first result set (text protocol):
    /// column names and cells. A statement without a result set (an OK
    /// reply) gives an empty [`ResultSet`]. A server ERR is an error whose
    /// message is the server's.
    pub fn query_result(&mut self, sql: &str) -> io::Result<ResultSet> {
        let packets = self.query(sql)?;
        ResultSet::decode(&packets).map_err(proto_err)
    }

    /// Says goodbye (COM_QUIT, errors ignored) and closes the connection, so
    /// the server does not log an aborted connection.
    pub fn quit(mut self) {
        let _ = self.write_packet(0, &[0x01]);
    }
}

/// The first result set of a text-protocol reply: column names and rows of
/// cells (`None` = NULL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
}

impl ResultSet {
    /// Decodes the reply packets (payloads) as [`BlockingConn::query`]
    /// returns them: column count, column definitions, EOF, rows, EOF (the
    /// client never announces `CLIENT_DEPRECATE_EOF`, but a missing EOF is
    /// accepted). An OK reply gives an empty set.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset.html>
    pub fn decode(packets: &[Vec<u8>]) -> Result<ResultSet, String> {
        let first = packets.first().ok_or("empty reply")?;
        if first.first() == Some(&0x00) {
            return Ok(ResultSet::default());
        }
        let n = column_count(first).map_err(|e| e.to_string())?;
        let n = usize::try_from(n).map_err(|_| "column count out of range")?;
        let defs = packets
            .get(1..1 + n)
            .ok_or("reply ends inside the column definitions")?;
        let columns = defs
            .iter()
            .map(|p| {
                ColumnDefinition41::decode(p)
                    .map(|d| String::from_utf8_lossy(d.name).into_owned())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let is_eof = |p: &[u8]| p.first() == Some(&0xfe) && p.len() < 9;
        let mut i = 1 + n;
        if packets.get(i).is_some_and(|p| is_eof(p)) {
            i += 1;
        }
        let mut rows = Vec::new();
        for p in packets.iter().skip(i) {
            if is_eof(p) || p.first() == Some(&0xff) {
                break;
            }
            let row = TextRow::new(p, n)
                .cells()
                .map(|c| c.map(|c| c.map(<[u8]>::to_vec)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            rows.push(row);
        }
        Ok(ResultSet { columns, rows })
    }

    /// Index of the column named `name` (ASCII case-insensitive).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// The cell of row `row` in column `name`: `None` when the row or the
    /// column does not exist, `Some(None)` for NULL.
    pub fn cell(&self, row: usize, name: &str) -> Option<Option<&[u8]>> {
        let c = self.column(name)?;
        self.rows.get(row)?.get(c).map(|v| v.as_deref())
    }

    /// Like [`ResultSet::cell`], as text (lossy UTF-8); `None` for a missing
    /// row or column and for NULL.
    pub fn text(&self, row: usize, name: &str) -> Option<String> {
        self.cell(row, name)
            .flatten()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// Connects, runs one statement, disconnects.
pub fn run_once(addr: SocketAddr, cfg: &BackendConfig, sql: &str) -> io::Result<()> {
    let mut c = BlockingConn::connect(addr, cfg)?;
    c.query(sql)?;
    c.quit();
    Ok(())
}

/// `KILL QUERY` of server thread `thread_id` on `addr`, on a connection of
/// its own: cancels the statement that thread is running.
pub fn kill_query(addr: SocketAddr, cfg: &BackendConfig, thread_id: u32) -> io::Result<()> {
    run_once(addr, cfg, &format!("KILL QUERY {thread_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proto::column::{encode_column_count, ColumnType};
    use shardgate_proto::row::encode_text_row;

    fn reply(cols: &[&str], rows: &[Vec<Option<&[u8]>>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut p = Vec::new();
        encode_column_count(cols.len() as u64, &mut p);
        out.push(p);
        for c in cols {
            let mut p = Vec::new();
            ColumnDefinition41::new(c.as_bytes(), ColumnType::VarString, 33).encode(&mut p);
            out.push(p);
        }
        let eof = vec![0xfe, 0, 0, 2, 0];
        out.push(eof.clone());
        for r in rows {
            let mut p = Vec::new();
            encode_text_row(r.iter().copied(), &mut p);
            out.push(p);
        }
        out.push(eof);
        out
    }

    #[test]
    fn result_set_by_column_name() {
        let packets = reply(
            &[
                "Slave_IO_Running",
                "Slave_SQL_Running",
                "Seconds_Behind_Master",
            ],
            &[vec![Some(b"Yes"), Some(b""), None]],
        );
        let rs = ResultSet::decode(&packets).unwrap();
        assert_eq!(rs.columns.len(), 3);
        assert_eq!(rs.rows.len(), 1);
        assert_eq!(rs.text(0, "slave_io_running").as_deref(), Some("Yes"));
        assert_eq!(rs.cell(0, "Slave_SQL_Running"), Some(Some(&b""[..])));
        assert_eq!(rs.cell(0, "Seconds_Behind_Master"), Some(None));
        assert_eq!(rs.text(0, "Seconds_Behind_Master"), None);
        assert_eq!(rs.cell(0, "No_Such_Column"), None);
        assert_eq!(rs.cell(1, "Slave_IO_Running"), None);
    }

    #[test]
    fn result_set_without_rows_and_ok_reply() {
        let rs = ResultSet::decode(&reply(&["a"], &[])).unwrap();
        assert_eq!(rs.columns, vec!["a".to_string()]);
        assert!(rs.rows.is_empty());
        let ok = ResultSet::decode(&[vec![0x00, 0, 0, 2, 0, 0, 0]]).unwrap();
        assert!(ok.columns.is_empty() && ok.rows.is_empty());
    }

    #[test]
    fn result_set_refuses_truncated_replies() {
        let mut packets = reply(&["a", "b"], &[]);
        packets.truncate(2);
        assert!(ResultSet::decode(&packets).is_err());
        assert!(ResultSet::decode(&[]).is_err());
        let mut bad_row = reply(&["a", "b"], &[]);
        bad_row.insert(4, vec![0x01, b'x']);
        assert!(ResultSet::decode(&bad_row).is_err());
    }
}
