//! Connection-phase packets: the server greeting ([`HandshakeV10`]), the
//! client's reply ([`HandshakeResponse41`]), the [`SslRequest`] a client sends
//! before TLS, and the auth exchange that may follow ([`AuthSwitchRequest`],
//! [`AuthSwitchResponse`], [`AuthMoreData`]). The checks themselves (scrambles,
//! RSA) live in [`crate::auth`].
//!
//! shardgate plays both sides: it sends a greeting to its clients and decodes
//! their replies, and it decodes the greetings of MySQL/MariaDB backends and
//! answers them. Decoders keep every byte they need to re-encode a real
//! greeting or reply byte for byte (reserved bytes, the scramble length byte,
//! MariaDB's extended capabilities).
//!
//! Only the 4.1+ protocol is supported: a reply without `CLIENT_PROTOCOL_41`
//! (`HandshakeResponse320`) and the pre-4.1 "old" auth switch are reported as
//! [`ProtoError::Invalid`].
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html>
//! <https://mariadb.com/kb/en/connection/>

use crate::capability::{Capabilities, StatusFlags};
use crate::codec::{
    put_lenenc_bytes, put_lenenc_int, put_null_bytes, put_u16, put_u32, put_u8, Reader,
};
use crate::error::{ProtoError, Result};

/// `CLIENT_ZSTD_COMPRESSION_ALGORITHM` (MySQL 8.0.18+): the reply then ends
/// with a one-byte zstd compression level.
const ZSTD_COMPRESSION_ALGORITHM: Capabilities = Capabilities(1 << 26);

/// First byte of an auth switch request (and of the old one).
pub const AUTH_SWITCH_HEADER: u8 = 0xfe;
/// First byte of an AuthMoreData packet.
pub const AUTH_MORE_DATA_HEADER: u8 = 0x01;
/// Payload length of an SSLRequest (and of the fixed head of a reply).
pub const SSL_REQUEST_LEN: usize = 32;

/// Length of the scramble shardgate and MySQL servers send.
pub const SCRAMBLE_LEN: usize = 20;

/// The server greeting, "Protocol::HandshakeV10".
///
/// `auth_plugin_data` is the scramble with its two parts joined and the
/// trailing NUL of part 2 removed (20 bytes from MySQL and MariaDB).
/// `mariadb_capabilities` holds the last 4 of the 10 reserved bytes as read;
/// they mean MariaDB's extended capabilities only when `LONG_PASSWORD`
/// (`CLIENT_MYSQL`) is clear, see [`HandshakeV10::mariadb_extended_capabilities`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeV10<'a> {
    pub server_version: &'a [u8],
    pub connection_id: u32,
    pub auth_plugin_data: Vec<u8>,
    pub capabilities: Capabilities,
    pub character_set: u8,
    pub status_flags: StatusFlags,
    /// The length byte as sent: scramble length + 1 (21) with `PLUGIN_AUTH`,
    /// 0 otherwise. Part 2 of the scramble takes `max(13, len - 8)` bytes.
    pub auth_plugin_data_len: u8,
    /// The first 6 reserved bytes (zero in practice).
    pub reserved: [u8; 6],
    pub mariadb_capabilities: u32,
    /// Present when `PLUGIN_AUTH` is set, empty otherwise.
    pub auth_plugin_name: &'a [u8],
}

impl<'a> HandshakeV10<'a> {
    /// A greeting as shardgate sends it. `auth_plugin_data_len` is set from
    /// the scramble (plus its trailing NUL) when `PLUGIN_AUTH` is on.
    pub fn new(
        server_version: &'a [u8],
        connection_id: u32,
        scramble: &[u8],
        capabilities: Capabilities,
        character_set: u8,
        status_flags: StatusFlags,
        auth_plugin_name: &'a [u8],
    ) -> Self {
        let auth_plugin_data_len = if capabilities.contains(Capabilities::PLUGIN_AUTH) {
            u8::try_from(scramble.len() + 1).unwrap_or(u8::MAX)
        } else {
            0
        };
        HandshakeV10 {
            server_version,
            connection_id,
            auth_plugin_data: scramble.to_vec(),
            capabilities,
            character_set,
            status_flags,
            auth_plugin_data_len,
            reserved: [0; 6],
            mariadb_capabilities: 0,
            auth_plugin_name,
        }
    }

    /// MariaDB's extended capabilities, when the server is MariaDB (it clears
    /// `LONG_PASSWORD`, a.k.a. `CLIENT_MYSQL`, and sends them in the last 4
    /// reserved bytes). <https://mariadb.com/kb/en/connection/#initial-handshake-packet>
    pub fn mariadb_extended_capabilities(&self) -> Option<u32> {
        if self.capabilities.contains(Capabilities::LONG_PASSWORD) {
            None
        } else {
            Some(self.mariadb_capabilities)
        }
    }

    /// Bytes of scramble part 2 on the wire.
    fn part2_len(&self) -> usize {
        usize::from(self.auth_plugin_data_len)
            .saturating_sub(8)
            .max(13)
    }

    /// Decodes a greeting. An ERR packet (0xff) or a protocol other than 10
    /// is [`ProtoError::Invalid`]; bytes after the plugin name are ignored.
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html>
    /// <https://mariadb.com/kb/en/connection/#initial-handshake-packet>
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        if r.u8("greeting protocol version")? != 10 {
            return Err(ProtoError::Invalid {
                what: "greeting protocol version (want 10)",
            });
        }
        let server_version = r.null_bytes("greeting server version")?;
        let connection_id = r.u32("greeting connection id")?;
        let part1 = r.take(8, "greeting scramble part 1")?;
        r.skip(1, "greeting filler")?;
        let caps_low = r.u16("greeting capabilities")?;
        let character_set = r.u8("greeting character set")?;
        let status_flags = StatusFlags(r.u16("greeting status flags")?);
        let caps_high = r.u16("greeting capabilities (upper)")?;
        let capabilities = Capabilities(u32::from(caps_low) | (u32::from(caps_high) << 16));
        let auth_plugin_data_len = r.u8("greeting scramble length")?;
        let mut reserved = [0u8; 6];
        reserved.copy_from_slice(r.take(6, "greeting reserved bytes")?);
        let mariadb_capabilities = r.u32("greeting extended capabilities")?;

        let mut auth_plugin_data = part1.to_vec();
        let mut hs = HandshakeV10 {
            server_version,
            connection_id,
            auth_plugin_data: Vec::new(),
            capabilities,
            character_set,
            status_flags,
            auth_plugin_data_len,
            reserved,
            mariadb_capabilities,
            auth_plugin_name: &[],
        };
        if capabilities.contains(Capabilities::SECURE_CONNECTION) {
            let part2 = r.take(hs.part2_len(), "greeting scramble part 2")?;
            let part2 = part2.strip_suffix(&[0]).unwrap_or(part2);
            auth_plugin_data.extend_from_slice(part2);
        }
        hs.auth_plugin_data = auth_plugin_data;
        if capabilities.contains(Capabilities::PLUGIN_AUTH) {
            if r.is_empty() {
                return Err(ProtoError::Truncated {
                    what: "greeting auth plugin name",
                });
            }
            // MySQL 5.5.7-5.5.9 omitted the final NUL.
            hs.auth_plugin_name = r.null_or_eof_bytes();
        }
        Ok(hs)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u8(out, 10);
        put_null_bytes(out, self.server_version);
        put_u32(out, self.connection_id);
        let data = &self.auth_plugin_data;
        let (part1, part2) = data.split_at(data.len().min(8));
        out.extend_from_slice(part1);
        out.resize(out.len() + (8 - part1.len()), 0);
        put_u8(out, 0);
        put_u16(out, self.capabilities.bits() as u16);
        put_u8(out, self.character_set);
        put_u16(out, self.status_flags.bits());
        put_u16(out, (self.capabilities.bits() >> 16) as u16);
        put_u8(out, self.auth_plugin_data_len);
        out.extend_from_slice(&self.reserved);
        put_u32(out, self.mariadb_capabilities);
        if self.capabilities.contains(Capabilities::SECURE_CONNECTION) {
            out.extend_from_slice(part2);
            out.resize(out.len() + self.part2_len().saturating_sub(part2.len()), 0);
        }
        if self.capabilities.contains(Capabilities::PLUGIN_AUTH) {
            put_null_bytes(out, self.auth_plugin_name);
        }
    }
}

/// The fixed 32-byte head shared by the SSLRequest and HandshakeResponse41.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClientHead {
    capabilities: Capabilities,
    max_packet_size: u32,
    character_set: u8,
    filler: [u8; 19],
    mariadb_capabilities: u32,
}

impl ClientHead {
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        // HandshakeResponse320 starts with 2 capability bytes; PROTOCOL_41 is
        // in the low ones, so check before reading further.
        let capabilities = Capabilities(r.u32("client capabilities")?);
        if !capabilities.contains(Capabilities::PROTOCOL_41) {
            return Err(ProtoError::Invalid {
                what: "client without CLIENT_PROTOCOL_41 (HandshakeResponse320 is not supported)",
            });
        }
        let max_packet_size = r.u32("client max packet size")?;
        let character_set = r.u8("client character set")?;
        let mut filler = [0u8; 19];
        filler.copy_from_slice(r.take(19, "client filler")?);
        let mariadb_capabilities = r.u32("client extended capabilities")?;
        Ok(ClientHead {
            capabilities,
            max_packet_size,
            character_set,
            filler,
            mariadb_capabilities,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.capabilities.bits());
        put_u32(out, self.max_packet_size);
        put_u8(out, self.character_set);
        out.extend_from_slice(&self.filler);
        put_u32(out, self.mariadb_capabilities);
    }
}

/// True when `payload` is an SSLRequest: exactly the 32-byte head of a
/// reply, with `CLIENT_SSL` set. A full HandshakeResponse41 is always longer.
pub fn is_ssl_request(payload: &[u8]) -> bool {
    match payload {
        [a, b, c, d, ..] if payload.len() == SSL_REQUEST_LEN => {
            Capabilities(u32::from_le_bytes([*a, *b, *c, *d])).contains(Capabilities::SSL)
        }
        _ => false,
    }
}

/// "Protocol::SSLRequest": the client asks to switch to TLS before it sends
/// its real reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SslRequest {
    pub capabilities: Capabilities,
    pub max_packet_size: u32,
    pub character_set: u8,
    /// The first 19 of the 23 filler bytes (zero in practice).
    pub filler: [u8; 19],
    /// MariaDB extended capabilities (last 4 filler bytes).
    pub mariadb_capabilities: u32,
}

impl SslRequest {
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_ssl_request.html>
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let h = ClientHead::decode(&mut r)?;
        r.finish("SSLRequest")?;
        if !h.capabilities.contains(Capabilities::SSL) {
            return Err(ProtoError::Invalid {
                what: "SSLRequest without CLIENT_SSL",
            });
        }
        Ok(SslRequest {
            capabilities: h.capabilities,
            max_packet_size: h.max_packet_size,
            character_set: h.character_set,
            filler: h.filler,
            mariadb_capabilities: h.mariadb_capabilities,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        ClientHead {
            capabilities: self.capabilities,
            max_packet_size: self.max_packet_size,
            character_set: self.character_set,
            filler: self.filler,
            mariadb_capabilities: self.mariadb_capabilities,
        }
        .encode(out);
    }
}

/// The client's reply to the greeting, "Protocol::HandshakeResponse41".
///
/// Which optional fields are on the wire follows `capabilities` (the
/// client's flags as sent). `database` is required when `CONNECT_WITH_DB` is
/// set; the plugin name, attributes and zstd level are `None` when the
/// packet ends before them (MySQL servers accept that too), and the encoder
/// writes exactly what is `Some`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeResponse41<'a> {
    pub capabilities: Capabilities,
    pub max_packet_size: u32,
    pub character_set: u8,
    /// The first 19 of the 23 filler bytes (zero in practice).
    pub filler: [u8; 19],
    /// MariaDB extended capabilities (last 4 filler bytes; meaningful when
    /// the client clears `LONG_PASSWORD`, i.e. `CLIENT_MYSQL`).
    pub mariadb_capabilities: u32,
    pub username: &'a [u8],
    pub auth_response: &'a [u8],
    pub database: Option<&'a [u8]>,
    pub auth_plugin_name: Option<&'a [u8]>,
    /// Connection attributes as key/value pairs, in wire order.
    pub connect_attrs: Option<Vec<(&'a [u8], &'a [u8])>>,
    pub zstd_compression_level: Option<u8>,
}

impl<'a> HandshakeResponse41<'a> {
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_response.html>
    /// <https://mariadb.com/kb/en/connection/#client-handshake-response>
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let h = ClientHead::decode(&mut r)?;
        let caps = h.capabilities;
        let username = r.null_bytes("handshake response username")?;
        let auth_response = if caps.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            r.lenenc_bytes("handshake response auth data")?
        } else if caps.contains(Capabilities::SECURE_CONNECTION) {
            let len = r.u8("handshake response auth data length")?;
            r.take(usize::from(len), "handshake response auth data")?
        } else {
            r.null_bytes("handshake response auth data")?
        };
        let database = if caps.contains(Capabilities::CONNECT_WITH_DB) {
            Some(r.null_bytes("handshake response database")?)
        } else {
            None
        };
        let auth_plugin_name = if caps.contains(Capabilities::PLUGIN_AUTH) && !r.is_empty() {
            Some(r.null_or_eof_bytes())
        } else {
            None
        };
        let connect_attrs = if caps.contains(Capabilities::CONNECT_ATTRS) && !r.is_empty() {
            let mut block = Reader::new(r.lenenc_bytes("handshake response attributes")?);
            let mut attrs = Vec::new();
            while !block.is_empty() {
                let key = block.lenenc_bytes("connection attribute key")?;
                let value = block.lenenc_bytes("connection attribute value")?;
                attrs.push((key, value));
            }
            Some(attrs)
        } else {
            None
        };
        let zstd_compression_level = if caps.contains(ZSTD_COMPRESSION_ALGORITHM) && !r.is_empty() {
            Some(r.u8("handshake response zstd level")?)
        } else {
            None
        };
        Ok(HandshakeResponse41 {
            capabilities: caps,
            max_packet_size: h.max_packet_size,
            character_set: h.character_set,
            filler: h.filler,
            mariadb_capabilities: h.mariadb_capabilities,
            username,
            auth_response,
            database,
            auth_plugin_name,
            connect_attrs,
            zstd_compression_level,
        })
    }

    /// Writes the reply. With `SECURE_CONNECTION` but not
    /// `PLUGIN_AUTH_LENENC_CLIENT_DATA`, an auth response longer than 255
    /// bytes cannot be sent and is cut (callers set the lenenc flag).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let caps = self.capabilities;
        ClientHead {
            capabilities: caps,
            max_packet_size: self.max_packet_size,
            character_set: self.character_set,
            filler: self.filler,
            mariadb_capabilities: self.mariadb_capabilities,
        }
        .encode(out);
        put_null_bytes(out, self.username);
        if caps.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            put_lenenc_bytes(out, self.auth_response);
        } else if caps.contains(Capabilities::SECURE_CONNECTION) {
            debug_assert!(self.auth_response.len() <= 255, "auth response too long");
            let data = &self.auth_response[..self.auth_response.len().min(255)];
            put_u8(out, data.len() as u8);
            out.extend_from_slice(data);
        } else {
            put_null_bytes(out, self.auth_response);
        }
        if caps.contains(Capabilities::CONNECT_WITH_DB) {
            put_null_bytes(out, self.database.unwrap_or_default());
        }
        if caps.contains(Capabilities::PLUGIN_AUTH) {
            match self.auth_plugin_name {
                Some(name) => put_null_bytes(out, name),
                None => return,
            }
        }
        if caps.contains(Capabilities::CONNECT_ATTRS) {
            match &self.connect_attrs {
                Some(attrs) => {
                    let mut block = Vec::new();
                    for (k, v) in attrs {
                        put_lenenc_bytes(&mut block, k);
                        put_lenenc_bytes(&mut block, v);
                    }
                    put_lenenc_int(out, block.len() as u64);
                    out.extend_from_slice(&block);
                }
                None => return,
            }
        }
        if caps.contains(ZSTD_COMPRESSION_ALGORITHM) {
            if let Some(level) = self.zstd_compression_level {
                put_u8(out, level);
            }
        }
    }

    /// The value of connection attribute `key`, if the client sent it.
    pub fn attr(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.connect_attrs
            .as_ref()?
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

/// True when `payload` is the pre-4.1 "OldAuthSwitchRequest": a single 0xfe
/// asking for a `mysql_old_password` scramble, which shardgate refuses.
pub fn is_old_auth_switch_request(payload: &[u8]) -> bool {
    payload == [AUTH_SWITCH_HEADER]
}

/// "Protocol::AuthSwitchRequest": the server asks the client to
/// authenticate again with another plugin and a new scramble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSwitchRequest<'a> {
    pub plugin_name: &'a [u8],
    /// Plugin data as sent (for the built-in plugins: the 20-byte scramble
    /// and a NUL; see [`AuthSwitchRequest::scramble`]).
    pub plugin_data: &'a [u8],
}

impl<'a> AuthSwitchRequest<'a> {
    /// The single-byte OldAuthSwitchRequest is [`ProtoError::Invalid`].
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_switch_request.html>
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_old_auth_switch_request.html>
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        if is_old_auth_switch_request(payload) {
            return Err(ProtoError::Invalid {
                what: "OldAuthSwitchRequest (mysql_old_password is not supported)",
            });
        }
        let mut r = Reader::new(payload);
        if r.u8("auth switch header")? != AUTH_SWITCH_HEADER {
            return Err(ProtoError::Invalid {
                what: "auth switch header (want 0xfe)",
            });
        }
        let plugin_name = r.null_bytes("auth switch plugin name")?;
        Ok(AuthSwitchRequest {
            plugin_name,
            plugin_data: r.rest(),
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u8(out, AUTH_SWITCH_HEADER);
        put_null_bytes(out, self.plugin_name);
        out.extend_from_slice(self.plugin_data);
    }

    /// The plugin data without the one trailing NUL the servers add.
    pub fn scramble(&self) -> &'a [u8] {
        self.plugin_data
            .strip_suffix(&[0])
            .unwrap_or(self.plugin_data)
    }
}

/// "Protocol::AuthSwitchResponse": the client's answer, raw plugin data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSwitchResponse<'a> {
    pub data: &'a [u8],
}

impl<'a> AuthSwitchResponse<'a> {
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_switch_response.html>
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        Ok(AuthSwitchResponse { data: payload })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.data);
    }
}

/// "Protocol::AuthMoreData": extra plugin data from the server (for
/// `caching_sha2_password`: a one-byte status or a PEM public key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthMoreData<'a> {
    pub data: &'a [u8],
}

impl<'a> AuthMoreData<'a> {
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_more_data.html>
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        if r.u8("auth more data header")? != AUTH_MORE_DATA_HEADER {
            return Err(ProtoError::Invalid {
                what: "auth more data header (want 0x01)",
            });
        }
        Ok(AuthMoreData { data: r.rest() })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u8(out, AUTH_MORE_DATA_HEADER);
        out.extend_from_slice(self.data);
    }
}

/// What a server packet during authentication is, by its first byte. OK
/// and ERR are only classified here; decode them with [`crate::response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthPhasePacket<'a> {
    Ok,
    Err,
    Switch(AuthSwitchRequest<'a>),
    /// OldAuthSwitchRequest: the server wants `mysql_old_password`.
    OldSwitch,
    MoreData(AuthMoreData<'a>),
}

impl<'a> AuthPhasePacket<'a> {
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html>
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        match payload.first() {
            Some(0x00) => Ok(AuthPhasePacket::Ok),
            Some(0xff) => Ok(AuthPhasePacket::Err),
            Some(&AUTH_SWITCH_HEADER) if is_old_auth_switch_request(payload) => {
                Ok(AuthPhasePacket::OldSwitch)
            }
            Some(&AUTH_SWITCH_HEADER) => {
                AuthSwitchRequest::decode(payload).map(AuthPhasePacket::Switch)
            }
            Some(&AUTH_MORE_DATA_HEADER) => {
                AuthMoreData::decode(payload).map(AuthPhasePacket::MoreData)
            }
            Some(_) => Err(ProtoError::Invalid {
                what: "auth phase packet header",
            }),
            None => Err(ProtoError::Truncated {
                what: "auth phase packet",
            }),
        }
    }
}

#[cfg(test)]
mod tests;
