//! Unit tests of `handshake`.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    s.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

/// Greeting of MariaDB 10.11.19 (Debian 12), captured on 127.0.0.1:3306.
const MARIADB_GREETING: &str = "0a352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531\
        0008000000387c29544c62263600fef72d0200ff81150000000000001d0000007c327d437440232b4d23665a00\
        6d7973716c5f6e61746976655f70617373776f726400";

/// Greeting of MySQL 8.0.39 (caching_sha2_password default).
const MYSQL8_GREETING: &str = "0a382e302e3339001c000000024439523e53074100ffffff0200ffdf1500000000\
        0000000000007f14467e1b0b131d1c5c5c250063616368696e675f736861325f70617373776f726400";

/// Reply of the `mariadb` 3.3 CLI (`-ualice -psecret -Dshop`) to
/// MARIADB_GREETING: lenenc auth data, database, plugin, attributes and
/// MariaDB extended capabilities in the filler.
const MARIADB_CLI_REPLY: &str = "8ca2bf000000100021000000000000000000000000000000000000001d000000\
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
const MYSQL8_CLIENT_REPLY: &str =
    "8da2bf0000001000210000000000000000000000000000000000000000000000616c69636500205c44ba28024f\
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
