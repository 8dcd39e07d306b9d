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
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect()
    }

    /// Greeting of MariaDB 10.11.19 (Debian 12), captured on 127.0.0.1:3306.
    const MARIADB_GREETING: &str =
        "0a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531\
        0008000000387c29544c62263600fef72d0200ff81150000000000001d0000007c327d437440232b4d23665a00\
        6d7973716c5f6e61746976655f70617373776f726400";

    /// Greeting of MySQL 8.0.39 (caching_sha2_password default).
    const MYSQL8_GREETING: &str =
        "0a382e302e3339001c000000024439523e53074100ffffff0200ffdf1500000000\
        0000000000007f14467e1b0b131d1c5c5c250063616368696e675f736861325f70617373776f726400";

    /// Reply of the `mariadb` 3.3 CLI (`-ualice -psecret -Dshop`) to
    /// MARIADB_GREETING: lenenc auth data, database, plugin, attributes and
    /// MariaDB extended capabilities in the filler.
    const MARIADB_CLI_REPLY: &str =
        "8ca2bf000000100021000000000000000000000000000000000000001d000000\
        616c69636500148ce365483202f367e2006c0da10b955f1e7cb0ea73686f70006d7973716c5f6e61746976655f\
        70617373776f7264007f035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d61726961646204\
        5f7069640531313035330f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d0678\
        38365f36340c70726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f7374093132372e302e30\
        2e31";

    /// SSLRequest of the `mariadb` CLI with `--ssl`.
    const MARIADB_SSL_REQUEST: &str =
        "84aabf000000100021000000000000000000000000000000000000001d000000";

    /// Reply of the `mariadb` 3.3 CLI (`-ualice -psecret -Dshop --skip-ssl`) to
    /// MYSQL8_GREETING: a 32-byte caching_sha2_password scramble, `CLIENT_MYSQL`
    /// set and no extended capabilities.
    const MYSQL8_CLIENT_REPLY: &str = "8da2bf0000001000210000000000000000000000000000000000000000000000616c69636500205c44ba28024f\
        e9e1fdbb2c9c09429f87bb4b5114b2e85f61e820865cf19acfc273686f700063616368696e675f736861325f70\
        617373776f7264007f035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f\
        7069640531343838330f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d067838\
        365f36340c70726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f7374093132372e302e302e\
        31";

    fn roundtrip_greeting(bytes: &[u8]) -> HandshakeV10<'_> {
        let hs = HandshakeV10::decode(bytes).unwrap();
        let mut out = Vec::new();
        hs.encode(&mut out);
        assert_eq!(out, bytes);
        hs
    }

    #[test]
    fn mariadb_greeting_decodes_and_reencodes_exactly() {
        let bytes = hex(MARIADB_GREETING);
        let hs = roundtrip_greeting(&bytes);
        assert_eq!(hs.server_version, b"5.5.5-10.11.19-MariaDB-0+deb12u1");
        assert_eq!(hs.connection_id, 8);
        assert_eq!(
            hs.auth_plugin_data,
            hex("387c29544c622636 7c327d437440232b4d23665a")
        );
        assert_eq!(hs.auth_plugin_data_len, 21);
        assert_eq!(hs.character_set, 0x2d);
        assert_eq!(hs.status_flags, StatusFlags::AUTOCOMMIT);
        assert!(hs
            .capabilities
            .contains(Capabilities::PROTOCOL_41 | Capabilities::PLUGIN_AUTH));
        assert!(!hs.capabilities.contains(Capabilities::LONG_PASSWORD));
        assert_eq!(hs.mariadb_extended_capabilities(), Some(0x1d));
        assert_eq!(hs.auth_plugin_name, b"mysql_native_password");
    }

    #[test]
    fn mysql8_greeting_decodes_and_reencodes_exactly() {
        let bytes = hex(MYSQL8_GREETING);
        let hs = roundtrip_greeting(&bytes);
        assert_eq!(hs.server_version, b"8.0.39");
        assert_eq!(hs.connection_id, 28);
        assert_eq!(hs.auth_plugin_data.len(), SCRAMBLE_LEN);
        assert_eq!(&hs.auth_plugin_data[..4], &[2, 68, 57, 82]);
        assert_eq!(hs.character_set, 0xff);
        assert_eq!(hs.capabilities.bits(), 0xdfff_ffff);
        assert_eq!(hs.mariadb_extended_capabilities(), None);
        assert_eq!(hs.auth_plugin_name, b"caching_sha2_password");
    }

    #[test]
    fn greeting_built_by_shardgate_roundtrips() {
        let scramble: Vec<u8> = (1..=20).collect();
        let hs = HandshakeV10::new(
            b"8.0.35-shardgate",
            42,
            &scramble,
            Capabilities::server_default(),
            45,
            StatusFlags::AUTOCOMMIT,
            b"mysql_native_password",
        );
        let mut out = Vec::new();
        hs.encode(&mut out);
        // part 2 is 12 bytes + NUL, the length byte is 21
        assert_eq!(
            out.len(),
            1 + 17 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 13 + 22
        );
        let back = HandshakeV10::decode(&out).unwrap();
        assert_eq!(back, hs);
        assert_eq!(back.auth_plugin_data_len, 21);
    }

    #[test]
    fn greeting_without_plugin_auth_or_secure_connection() {
        let caps = Capabilities::PROTOCOL_41 | Capabilities::LONG_PASSWORD;
        let hs = HandshakeV10::new(b"5.0", 1, b"abcdefgh", caps, 8, StatusFlags(0), b"");
        let mut out = Vec::new();
        hs.encode(&mut out);
        assert_eq!(out.len(), 1 + 4 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10);
        assert_eq!(HandshakeV10::decode(&out).unwrap(), hs);
        // only SECURE_CONNECTION: 13-byte part 2, no plugin name
        let caps = caps | Capabilities::SECURE_CONNECTION;
        let scramble: Vec<u8> = (1..=20).collect();
        let hs = HandshakeV10::new(b"5.0", 1, &scramble, caps, 8, StatusFlags(0), b"");
        out.clear();
        hs.encode(&mut out);
        assert_eq!(out.len(), 1 + 4 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 13);
        assert_eq!(HandshakeV10::decode(&out).unwrap(), hs);
    }

    #[test]
    fn greeting_rejects_other_protocols_and_err() {
        assert!(matches!(
            HandshakeV10::decode(&[9, 0]),
            Err(ProtoError::Invalid { .. })
        ));
        let err = hex("ff6a04486f7374");
        assert!(matches!(
            HandshakeV10::decode(&err),
            Err(ProtoError::Invalid { .. })
        ));
    }

    #[test]
    fn greeting_truncated_at_every_cut_is_an_error() {
        for g in [hex(MARIADB_GREETING), hex(MYSQL8_GREETING)] {
            let name_start = g.len() - 22; // "..._password" + NUL
            for cut in 0..=name_start {
                assert!(HandshakeV10::decode(&g[..cut]).is_err(), "cut {cut}");
            }
            // the plugin name may lack its NUL (MySQL 5.5.7-5.5.9): a cut in
            // it decodes, to a shorter name
            for cut in name_start + 1..g.len() {
                let hs = HandshakeV10::decode(&g[..cut]).unwrap();
                assert_eq!(hs.auth_plugin_name.len(), cut - name_start, "cut {cut}");
            }
        }
    }

    #[test]
    fn mariadb_cli_reply_decodes_and_reencodes_exactly() {
        let bytes = hex(MARIADB_CLI_REPLY);
        let r = HandshakeResponse41::decode(&bytes).unwrap();
        assert_eq!(r.capabilities.bits(), 0x00bf_a28c);
        assert_eq!(r.max_packet_size, 1 << 20);
        assert_eq!(r.character_set, 0x21);
        assert_eq!(r.mariadb_capabilities, 0x1d);
        assert_eq!(r.username, b"alice");
        assert_eq!(
            r.auth_response,
            hex("8ce365483202f367e2006c0da10b955f1e7cb0ea")
        );
        assert_eq!(r.database, Some(&b"shop"[..]));
        assert_eq!(r.auth_plugin_name, Some(&b"mysql_native_password"[..]));
        assert_eq!(r.attr(b"_client_name"), Some(&b"libmariadb"[..]));
        assert_eq!(r.attr(b"program_name"), Some(&b"mysql"[..]));
        assert_eq!(r.connect_attrs.as_ref().unwrap().len(), 7);
        assert!(!is_ssl_request(&bytes));
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn mysql8_client_reply_decodes_and_reencodes_exactly() {
        let bytes = hex(MYSQL8_CLIENT_REPLY);
        let r = HandshakeResponse41::decode(&bytes).unwrap();
        assert_eq!(r.username, b"alice");
        assert_eq!(r.auth_response.len(), 32);
        assert_eq!(r.database, Some(&b"shop"[..]));
        assert_eq!(r.auth_plugin_name, Some(&b"caching_sha2_password"[..]));
        assert!(r.capabilities.contains(Capabilities::LONG_PASSWORD));
        assert_eq!(r.attr(b"_server_host"), Some(&b"127.0.0.1"[..]));
        assert_eq!(r.mariadb_capabilities, 0);
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(out, bytes);
    }

    fn reply(caps: Capabilities, auth: &'static [u8]) -> HandshakeResponse41<'static> {
        HandshakeResponse41 {
            capabilities: caps | Capabilities::PROTOCOL_41,
            max_packet_size: 16 << 20,
            character_set: 45,
            filler: [0; 19],
            mariadb_capabilities: 0,
            username: b"bob",
            auth_response: auth,
            database: caps
                .contains(Capabilities::CONNECT_WITH_DB)
                .then_some(&b"db1"[..]),
            auth_plugin_name: caps
                .contains(Capabilities::PLUGIN_AUTH)
                .then_some(&b"mysql_native_password"[..]),
            connect_attrs: caps
                .contains(Capabilities::CONNECT_ATTRS)
                .then(|| vec![(&b"k"[..], &b"v"[..]), (&b""[..], &b""[..])]),
            zstd_compression_level: caps.contains(ZSTD_COMPRESSION_ALGORITHM).then_some(3),
        }
    }

    fn roundtrip_reply(r: &HandshakeResponse41<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        r.encode(&mut out);
        assert_eq!(&HandshakeResponse41::decode(&out).unwrap(), r);
        out
    }

    #[test]
    fn reply_auth_response_in_all_three_encodings() {
        let lenenc = Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA | Capabilities::SECURE_CONNECTION;
        let out = roundtrip_reply(&reply(lenenc, &[7; 20]));
        assert_eq!(&out[32..], &[b"bob\0".as_slice(), &[20], &[7; 20]].concat());
        let out = roundtrip_reply(&reply(lenenc, &[7; 300]));
        assert_eq!(&out[36..39], &[0xfc, 0x2c, 0x01]);
        let out = roundtrip_reply(&reply(Capabilities::SECURE_CONNECTION, &[7; 255]));
        assert_eq!(out[36], 255);
        assert_eq!(out.len(), 32 + 4 + 1 + 255);
        let out = roundtrip_reply(&reply(Capabilities::empty(), b"scrambled"));
        assert_eq!(&out[32..], b"bob\0scrambled\0");
        roundtrip_reply(&reply(Capabilities::SECURE_CONNECTION, b""));
        roundtrip_reply(&reply(lenenc, b""));
    }

    #[test]
    fn reply_with_every_optional_field() {
        let all = Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA
            | Capabilities::SECURE_CONNECTION
            | Capabilities::CONNECT_WITH_DB
            | Capabilities::PLUGIN_AUTH
            | Capabilities::CONNECT_ATTRS
            | ZSTD_COMPRESSION_ALGORITHM;
        let r = reply(all, &[1; 32]);
        let out = roundtrip_reply(&r);
        assert_eq!(*out.last().unwrap(), 3);
        // absent optional tails stay absent
        let mut short = r.clone();
        short.zstd_compression_level = None;
        roundtrip_reply(&short);
        short.connect_attrs = None;
        roundtrip_reply(&short);
        short.auth_plugin_name = None;
        roundtrip_reply(&short);
        // no optional fields at all
        roundtrip_reply(&reply(Capabilities::SECURE_CONNECTION, &[1; 20]));
        // attributes block larger than 250 bytes (3-byte lenenc length)
        let mut big = r.clone();
        big.connect_attrs = Some(vec![(&b"key"[..], &[b'x'; 300][..])]);
        roundtrip_reply(&big);
    }

    #[test]
    fn reply_without_protocol_41_is_invalid() {
        // HandshakeResponse320: 2-byte capabilities, 3-byte max packet, user
        let old = hex("8500 000000 726f6f7400 00");
        assert!(matches!(
            HandshakeResponse41::decode(&old),
            Err(ProtoError::Invalid { .. })
        ));
        let mut r = reply(Capabilities::SECURE_CONNECTION, b"");
        r.capabilities.remove(Capabilities::PROTOCOL_41);
        let mut out = Vec::new();
        r.encode(&mut out);
        assert!(matches!(
            HandshakeResponse41::decode(&out),
            Err(ProtoError::Invalid { .. })
        ));
    }

    #[test]
    fn reply_truncated_at_every_cut_never_panics() {
        for bytes in [hex(MARIADB_CLI_REPLY), hex(MYSQL8_CLIENT_REPLY)] {
            for cut in 0..bytes.len() {
                // a cut after the database may decode with the optional tail
                // missing (and the plugin name without its NUL); re-encoding
                // gives back what was there
                if let Ok(r) = HandshakeResponse41::decode(&bytes[..cut]) {
                    let mut out = Vec::new();
                    r.encode(&mut out);
                    let with_nul = [&bytes[..cut], &[0]].concat();
                    assert!(out == bytes[..cut] || out == with_nul, "cut {cut}");
                }
            }
            // up to the end of the database, every cut is an error
            let db_end = 5 + bytes.windows(5).position(|w| w == b"shop\0").unwrap();
            for cut in 0..db_end {
                assert!(
                    HandshakeResponse41::decode(&bytes[..cut]).is_err(),
                    "cut {cut}"
                );
            }
        }
    }

    #[test]
    fn reply_with_bad_attributes_is_an_error() {
        let caps = Capabilities::SECURE_CONNECTION | Capabilities::CONNECT_ATTRS;
        let mut r = reply(caps, b"");
        r.connect_attrs = Some(vec![(&b"k"[..], &b"v"[..])]);
        let mut out = Vec::new();
        r.encode(&mut out);
        // block says 4 bytes: key "k", then value length 5 past the block
        let n = out.len();
        out[n - 2] = 5;
        assert!(HandshakeResponse41::decode(&out).is_err());
        // block length past the end of the packet
        out[n - 5] = 200;
        assert!(HandshakeResponse41::decode(&out).is_err());
    }

    #[test]
    fn ssl_request_roundtrip_and_recognition() {
        let bytes = hex(MARIADB_SSL_REQUEST);
        assert!(is_ssl_request(&bytes));
        let s = SslRequest::decode(&bytes).unwrap();
        assert!(s.capabilities.contains(Capabilities::SSL));
        assert_eq!(s.mariadb_capabilities, 0x1d);
        let mut out = Vec::new();
        s.encode(&mut out);
        assert_eq!(out, bytes);
        for cut in 0..bytes.len() {
            assert!(!is_ssl_request(&bytes[..cut]));
            assert!(SslRequest::decode(&bytes[..cut]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(!is_ssl_request(&long));
        assert!(matches!(
            SslRequest::decode(&long),
            Err(ProtoError::TrailingBytes { .. })
        ));
        let mut no_ssl = bytes.clone();
        no_ssl[1] &= !0x08;
        assert!(!is_ssl_request(&no_ssl));
        assert!(matches!(
            SslRequest::decode(&no_ssl),
            Err(ProtoError::Invalid { .. })
        ));
    }

    #[test]
    fn auth_switch_request_roundtrip() {
        // a switch to mysql_native_password: name, 20-byte scramble, NUL
        let bytes = [&[0xfe][..], b"mysql_native_password\0", &[b'x'; 20], &[0]].concat();
        let sw = AuthSwitchRequest::decode(&bytes).unwrap();
        assert_eq!(sw.plugin_name, b"mysql_native_password");
        assert_eq!(sw.plugin_data.len(), 21);
        assert_eq!(sw.scramble().len(), 20);
        let mut out = Vec::new();
        sw.encode(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(
            AuthPhasePacket::decode(&bytes).unwrap(),
            AuthPhasePacket::Switch(sw)
        );
        for cut in 0..bytes.len() {
            if cut == 1 {
                continue; // the old request
            }
            let name_end = 1 + sw.plugin_name.len();
            if cut <= name_end {
                assert!(
                    AuthSwitchRequest::decode(&bytes[..cut]).is_err(),
                    "cut {cut}"
                );
            }
        }
        let empty = AuthSwitchRequest {
            plugin_name: b"x",
            plugin_data: b"",
        };
        out.clear();
        empty.encode(&mut out);
        assert_eq!(AuthSwitchRequest::decode(&out).unwrap(), empty);
        assert!(AuthSwitchRequest::decode(b"\x01abc\0").is_err());
    }

    #[test]
    fn old_auth_switch_is_recognised_and_refused() {
        assert!(is_old_auth_switch_request(&[0xfe]));
        assert!(!is_old_auth_switch_request(&[0xfe, 0]));
        assert!(matches!(
            AuthSwitchRequest::decode(&[0xfe]),
            Err(ProtoError::Invalid { .. })
        ));
        assert_eq!(
            AuthPhasePacket::decode(&[0xfe]).unwrap(),
            AuthPhasePacket::OldSwitch
        );
    }

    #[test]
    fn auth_switch_response_and_more_data() {
        let resp = AuthSwitchResponse::decode(&[1, 2, 3]).unwrap();
        let mut out = Vec::new();
        resp.encode(&mut out);
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(AuthSwitchResponse::decode(&[]).unwrap().data, b"");

        // caching_sha2_password fast_auth_success
        let more = AuthMoreData::decode(&[0x01, 0x03]).unwrap();
        assert_eq!(more.data, [0x03]);
        out.clear();
        more.encode(&mut out);
        assert_eq!(out, [0x01, 0x03]);
        assert_eq!(
            AuthPhasePacket::decode(&out).unwrap(),
            AuthPhasePacket::MoreData(more)
        );
        assert_eq!(AuthMoreData::decode(&[0x01]).unwrap().data, b"");
        assert!(matches!(
            AuthMoreData::decode(&[]),
            Err(ProtoError::Truncated { .. })
        ));
        assert!(matches!(
            AuthMoreData::decode(&[0x02, 1]),
            Err(ProtoError::Invalid { .. })
        ));
    }

    #[test]
    fn auth_phase_classification() {
        assert_eq!(
            AuthPhasePacket::decode(&[0, 0, 0, 2, 0]).unwrap(),
            AuthPhasePacket::Ok
        );
        assert_eq!(
            AuthPhasePacket::decode(&[0xff, 0x15, 0x04]).unwrap(),
            AuthPhasePacket::Err
        );
        assert!(AuthPhasePacket::decode(&[]).is_err());
        assert!(AuthPhasePacket::decode(&[0x05]).is_err());
        assert!(AuthPhasePacket::decode(&[0xfe, b'a']).is_err());
    }
}
