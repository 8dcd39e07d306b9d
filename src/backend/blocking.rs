//! A small blocking MySQL client over `std::net::TcpStream`, for the rare
//! out-of-band statements that must not run on an I/O thread: `KILL QUERY`
//! on a backend, and (later) health probes. Bounded by timeouts.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use shardgate_proto::auth as pauth;
use shardgate_proto::capability::Capabilities;
use shardgate_proto::frame::{write_packet, PacketDecoder};
use shardgate_proto::handshake::{AuthPhasePacket, HandshakeResponse41, HandshakeV10};

use crate::config::Backend as BackendConfig;
use crate::reactor::relay::{Expect, ReplyTracker};

/// One logged-in blocking connection.
pub struct BlockingConn {
    sock: TcpStream,
    buf: Vec<u8>,
}

fn proto_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl BlockingConn {
    pub fn connect(addr: SocketAddr, cfg: &BackendConfig) -> io::Result<BlockingConn> {
        let sock = TcpStream::connect_timeout(&addr, cfg.connect_timeout)?;
        let timeout = Some(cfg.connect_timeout.max(Duration::from_secs(1)));
        sock.set_read_timeout(timeout)?;
        sock.set_write_timeout(timeout)?;
        let mut conn = BlockingConn {
            sock,
            buf: Vec::new(),
        };
        conn.login(cfg.user.as_bytes(), cfg.password.expose().as_bytes())?;
        Ok(conn)
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
            let n = self.sock.read(&mut chunk)?;
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
        self.sock.write_all(&out)
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
}

/// Connects, runs one statement, disconnects.
pub fn run_once(addr: SocketAddr, cfg: &BackendConfig, sql: &str) -> io::Result<()> {
    let mut c = BlockingConn::connect(addr, cfg)?;
    c.query(sql)?;
    let _ = c.write_packet(0, &[0x01]);
    Ok(())
}
