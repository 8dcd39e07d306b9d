//! Round-trip property tests (encode -> decode -> equal) over generated
//! values for the packet types whose modules have no proptest of their own:
//! framing, length-encoded integers and strings, the connection phase and
//! every client command. (Values, rows, columns, OK/ERR and prepared
//! statements have theirs beside their code.)

use proptest::prelude::*;
use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::codec::{put_lenenc_bytes, put_lenenc_int, Reader};
use shardgate_proto::command::Command;
use shardgate_proto::frame::{write_packet, PacketDecoder};
use shardgate_proto::handshake::{
    AuthMoreData, AuthSwitchRequest, HandshakeResponse41, HandshakeV10, SslRequest,
};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Bytes without NUL (for NUL-terminated strings).
fn cstr(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 0..max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lenenc_int_and_bytes(n in any::<u64>(), s in bytes(300)) {
        let mut out = Vec::new();
        put_lenenc_int(&mut out, n);
        put_lenenc_bytes(&mut out, &s);
        let mut r = Reader::new(&out);
        prop_assert_eq!(r.lenenc_int("n").unwrap(), n);
        prop_assert_eq!(r.lenenc_bytes("s").unwrap(), &s[..]);
        prop_assert!(r.is_empty());
    }

    #[test]
    fn frames(payloads in prop::collection::vec(bytes(2000), 1..8), seq in any::<u8>()) {
        let mut wire = Vec::new();
        let mut s = seq;
        for p in &payloads {
            write_packet(&mut wire, &mut s, p);
        }
        let mut dec = PacketDecoder::new(1 << 20);
        dec.expect_seq(seq);
        let mut rest = &wire[..];
        for p in &payloads {
            let got = dec.decode(rest).unwrap().unwrap();
            prop_assert_eq!(&got.payload[..], &p[..]);
            rest = &rest[got.consumed..];
        }
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn greeting(
        version in cstr(40),
        conn_id in any::<u32>(),
        scramble in prop::collection::vec(1u8..=255, 20),
        caps in any::<u32>(),
        charset in any::<u8>(),
        status in any::<u16>(),
        plugin in cstr(30),
    ) {
        let caps = Capabilities(caps) | Capabilities::PROTOCOL_41 | Capabilities::PLUGIN_AUTH
            | Capabilities::SECURE_CONNECTION;
        let h = HandshakeV10::new(&version, conn_id, &scramble, caps, charset, StatusFlags(status), &plugin);
        let mut out = Vec::new();
        h.encode(&mut out);
        let back = HandshakeV10::decode(&out).unwrap();
        prop_assert_eq!(&back, &h);
        let mut again = Vec::new();
        back.encode(&mut again);
        prop_assert_eq!(again, out);
    }

    #[test]
    fn handshake_response(
        caps in any::<u32>(),
        max_packet in any::<u32>(),
        charset in any::<u8>(),
        user in cstr(30),
        auth in bytes(250),
        db in cstr(30),
        plugin in cstr(30),
        attrs in prop::collection::vec((bytes(20), bytes(40)), 0..5),
    ) {
        let caps = Capabilities(caps) | Capabilities::PROTOCOL_41;
        let lenenc = caps.contains(Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA);
        let secure = caps.contains(Capabilities::SECURE_CONNECTION);
        // Without a length prefix the auth response is NUL-terminated.
        let auth: Vec<u8> = if lenenc || secure { auth } else { auth.into_iter().filter(|&b| b != 0).collect() };
        let with_db = caps.contains(Capabilities::CONNECT_WITH_DB);
        let with_plugin = caps.contains(Capabilities::PLUGIN_AUTH);
        let with_attrs = caps.contains(Capabilities::CONNECT_ATTRS) && with_plugin;
        let attr_refs: Vec<(&[u8], &[u8])> = attrs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let r = HandshakeResponse41 {
            capabilities: caps,
            max_packet_size: max_packet,
            character_set: charset,
            filler: [0; 19],
            mariadb_capabilities: 0,
            username: &user,
            auth_response: &auth,
            database: with_db.then_some(&db[..]),
            auth_plugin_name: with_plugin.then_some(&plugin[..]),
            connect_attrs: with_attrs.then_some(attr_refs),
            zstd_compression_level: None,
        };
        let mut out = Vec::new();
        r.encode(&mut out);
        let back = HandshakeResponse41::decode(&out).unwrap();
        prop_assert_eq!(&back, &r);
    }

    #[test]
    fn ssl_request(caps in any::<u32>(), max_packet in any::<u32>(), charset in any::<u8>()) {
        let r = SslRequest {
            capabilities: Capabilities(caps) | Capabilities::SSL | Capabilities::PROTOCOL_41,
            max_packet_size: max_packet,
            character_set: charset,
            filler: [0; 19],
            mariadb_capabilities: 0,
        };
        let mut out = Vec::new();
        r.encode(&mut out);
        prop_assert!(shardgate_proto::handshake::is_ssl_request(&out));
        prop_assert_eq!(SslRequest::decode(&out).unwrap(), r);
    }

    #[test]
    fn auth_switch_and_more_data(plugin in cstr(40), data in bytes(64)) {
        let sw = AuthSwitchRequest { plugin_name: &plugin, plugin_data: &data };
        let mut out = Vec::new();
        sw.encode(&mut out);
        prop_assert_eq!(AuthSwitchRequest::decode(&out).unwrap(), sw);
        let more = AuthMoreData { data: &data };
        let mut out = Vec::new();
        more.encode(&mut out);
        prop_assert_eq!(AuthMoreData::decode(&out).unwrap(), more);
    }

    #[test]
    fn commands(
        sql in bytes(200),
        name in cstr(40),
        id in any::<u32>(),
        n in any::<u32>(),
        param in any::<u16>(),
        data in bytes(100),
        caps in any::<u32>(),
    ) {
        // Query attributes are covered by the command module's own tests.
        let caps = Capabilities(caps) & !Capabilities::QUERY_ATTRIBUTES;
        let mut exec_body = id.to_le_bytes().to_vec();
        exec_body.extend_from_slice(&data);
        let cmds = [
            Command::Query { attrs: None, sql: &sql },
            Command::InitDb { schema: &name },
            Command::Ping,
            Command::Quit,
            Command::Statistics,
            Command::ResetConnection,
            Command::FieldList { table: &name, wildcard: &data },
            Command::SetOption { option: param },
            Command::StmtPrepare { sql: &sql },
            Command::StmtExecute { stmt_id: id, body: &exec_body },
            Command::StmtSendLongData { stmt_id: id, param_id: param, data: &data },
            Command::StmtClose { stmt_id: id },
            Command::StmtReset { stmt_id: id },
            Command::StmtFetch { stmt_id: id, num_rows: n },
            Command::ProcessKill { id },
        ];
        for cmd in cmds {
            let mut out = Vec::new();
            cmd.encode(&mut out, caps);
            let back = Command::decode(&out, caps).unwrap();
            prop_assert_eq!(back, cmd);
            let mut again = Vec::new();
            back.encode(&mut again, caps);
            prop_assert_eq!(again, out);
        }
    }
}
