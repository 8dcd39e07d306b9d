//! Unit tests of `command`.

use super::*;

fn caps41() -> Capabilities {
    Capabilities::PROTOCOL_41
        | Capabilities::SECURE_CONNECTION
        | Capabilities::PLUGIN_AUTH
        | Capabilities::CONNECT_ATTRS
}

fn encode(cmd: &Command<'_>, caps: Capabilities) -> Vec<u8> {
    let mut out = Vec::new();
    cmd.encode(&mut out, caps);
    out
}

/// Decodes, checks the expected value, re-encodes byte for byte, and
/// checks every cut of the payload decodes to an error or a command that
/// itself round-trips.
fn check(bytes: &[u8], caps: Capabilities, expected: Command<'_>) {
    let cmd = Command::decode(bytes, caps).unwrap();
    assert_eq!(cmd, expected);
    assert_eq!(encode(&cmd, caps), bytes, "{}", cmd.name());
    assert_eq!(cmd.code(), bytes[0]);
    assert_eq!(peek_code(bytes), Some(bytes[0]));
    cuts_never_panic(bytes, caps);
}

fn cuts_never_panic(bytes: &[u8], caps: Capabilities) {
    for cut in 0..bytes.len() {
        if let Ok(c) = Command::decode(&bytes[..cut], caps) {
            let again = encode(&c, caps);
            assert_eq!(Command::decode(&again, caps).unwrap(), c);
        }
    }
}

#[test]
fn com_query_from_protocol_doc() {
    // The example of page_protocol_com_query.html, without its header.
    let bytes = b"\x03select @@version_comment limit 1";
    let expected = Command::Query {
        attrs: None,
        sql: b"select @@version_comment limit 1",
    };
    check(bytes, caps41(), expected);
    assert_eq!(expected.name(), "COM_QUERY");
}

#[test]
fn com_query_with_empty_query_attributes() {
    let caps = caps41() | Capabilities::QUERY_ATTRIBUTES;
    let bytes = b"\x03\x00\x01select 1";
    let cmd = Command::decode(bytes, caps).unwrap();
    let Command::Query {
        attrs: Some(a),
        sql,
    } = cmd
    else {
        panic!("{cmd:?}")
    };
    assert_eq!(
        (a.param_count, a.param_set_count, a.raw, sql),
        (0, 1, &b"\x00\x01"[..], &b"select 1"[..])
    );
    check(bytes, caps, cmd);
    // Encoding a query without attributes for such a peer writes none.
    assert_eq!(
        encode(
            &Command::Query {
                attrs: None,
                sql: b"select 1"
            },
            caps
        ),
        bytes
    );
    // A peer without the capability never sees them.
    assert_eq!(encode(&cmd, caps41()), b"\x03select 1");
}

#[test]
fn com_query_with_query_attributes() {
    let caps = caps41() | Capabilities::QUERY_ATTRIBUTES;
    // Three attributes: a (LONGLONG 7), b (VAR_STRING "xy"), c (NULL by bitmap).
    let mut bytes = vec![0x03, 0x03, 0x01, 0b100, 0x01];
    bytes.extend_from_slice(&[0x08, 0x00, 0x01, b'a']);
    bytes.extend_from_slice(&[0xfd, 0x00, 0x01, b'b']);
    bytes.extend_from_slice(&[0xfd, 0x00, 0x01, b'c']);
    bytes.extend_from_slice(&7u64.to_le_bytes());
    bytes.extend_from_slice(&[0x02, b'x', b'y']);
    bytes.extend_from_slice(b"select 1");
    let cmd = Command::decode(&bytes, caps).unwrap();
    let Command::Query {
        attrs: Some(a),
        sql,
    } = cmd
    else {
        panic!("{cmd:?}")
    };
    assert_eq!(sql, b"select 1");
    assert_eq!(a.param_count, 3);
    let p = a.params().unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(
        (p[0].type_and_flag, p[0].name, p[0].value),
        (8, &b"a"[..], Some(&7u64.to_le_bytes()[..]))
    );
    assert_eq!((p[1].name, p[1].value), (&b"b"[..], Some(&b"\x02xy"[..])));
    assert_eq!((p[2].name, p[2].value), (&b"c"[..], None));
    check(&bytes, caps, cmd);
}

#[test]
fn com_query_attributes_malformed() {
    let caps = Capabilities::QUERY_ATTRIBUTES;
    // new_params_bind_flag must be 1
    assert!(Command::decode(b"\x03\x01\x01\x00\x00select", caps).is_err());
    // a count larger than the packet
    assert!(Command::decode(b"\x03\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01", caps).is_err());
    // an unknown type
    assert!(Command::decode(b"\x03\x01\x01\x00\x01\x42\x00\x00", caps).is_err());
    // no counts at all
    assert!(Command::decode(b"\x03", caps).is_err());
}

#[test]
fn simple_commands() {
    let c = caps41();
    check(b"\x0e", c, Command::Ping);
    check(b"\x01", c, Command::Quit);
    check(b"\x09", c, Command::Statistics);
    check(b"\x1f", c, Command::ResetConnection);
    check(b"\x0d", c, Command::Debug);
    check(b"\x02test", c, Command::InitDb { schema: b"test" });
    check(
        b"\x16SELECT ?",
        c,
        Command::StmtPrepare { sql: b"SELECT ?" },
    );
    assert_eq!(Command::Ping.name(), "COM_PING");
    // fixed-size commands reject trailing bytes
    assert!(matches!(
        Command::decode(b"\x0e\x00", c),
        Err(ProtoError::TrailingBytes { .. })
    ));
    assert!(Command::decode(b"\x19\x01\x00\x00\x00\x00", c).is_err());
}

#[test]
fn field_list() {
    check(
        b"\x04t1\0",
        caps41(),
        Command::FieldList {
            table: b"t1",
            wildcard: b"",
        },
    );
    check(
        b"\x04t1\0a%",
        caps41(),
        Command::FieldList {
            table: b"t1",
            wildcard: b"a%",
        },
    );
    assert!(Command::decode(b"\x04t1", caps41()).is_err());
}

#[test]
fn statement_commands() {
    let c = caps41();
    check(
        b"\x19\x01\x00\x00\x00",
        c,
        Command::StmtClose { stmt_id: 1 },
    );
    check(
        b"\x1a\x02\x00\x00\x00",
        c,
        Command::StmtReset { stmt_id: 2 },
    );
    check(
        b"\x1c\x01\x00\x00\x00\x0a\x00\x00\x00",
        c,
        Command::StmtFetch {
            stmt_id: 1,
            num_rows: 10,
        },
    );
    check(
        b"\x18\x01\x00\x00\x00\x02\x00abc",
        c,
        Command::StmtSendLongData {
            stmt_id: 1,
            param_id: 2,
            data: b"abc",
        },
    );
    // page_protocol_com_stmt_execute.html example: id 1, no cursor, 1 iteration.
    let exec = b"\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00";
    check(
        exec,
        c,
        Command::StmtExecute {
            stmt_id: 1,
            body: &exec[1..],
        },
    );
    // Rewriting the id keeps the rest of the body.
    let moved = Command::StmtExecute {
        stmt_id: 0x0a0b0c0d,
        body: &exec[1..],
    };
    assert_eq!(
        encode(&moved, c),
        b"\x17\x0d\x0c\x0b\x0a\x00\x01\x00\x00\x00"
    );
}

#[test]
fn set_option_and_kill() {
    let c = caps41();
    check(
        b"\x1b\x00\x00",
        c,
        Command::SetOption {
            option: MYSQL_OPTION_MULTI_STATEMENTS_ON,
        },
    );
    check(
        b"\x1b\x01\x00",
        c,
        Command::SetOption {
            option: MYSQL_OPTION_MULTI_STATEMENTS_OFF,
        },
    );
    check(b"\x0c\x2a\x00\x00\x00", c, Command::ProcessKill { id: 42 });
}

#[test]
fn change_user_full() {
    let mut bytes = b"\x11root\0".to_vec();
    bytes.push(20);
    bytes.extend_from_slice(&[0xaa; 20]);
    bytes.extend_from_slice(b"test\0");
    bytes.extend_from_slice(&[0x21, 0x00]);
    bytes.extend_from_slice(b"mysql_native_password\0");
    let attrs = b"\x04_pid\x0512345";
    bytes.push(attrs.len() as u8);
    bytes.extend_from_slice(attrs);
    check(
        &bytes,
        caps41(),
        Command::ChangeUser {
            user: b"root",
            auth_response: &[0xaa; 20],
            schema: b"test",
            charset: Some(33),
            auth_plugin: Some(b"mysql_native_password"),
            attrs: Some(attrs),
        },
    );
}

#[test]
fn change_user_variants() {
    // Old client: NUL-terminated auth, no optional fields.
    let old = Capabilities::PROTOCOL_41;
    check(
        b"\x11bob\0secret\0db\0",
        old,
        Command::ChangeUser {
            user: b"bob",
            auth_response: b"secret",
            schema: b"db",
            charset: None,
            auth_plugin: None,
            attrs: None,
        },
    );
    // Charset only.
    check(
        b"\x11bob\0\x00\0\x2d\x00",
        caps41(),
        Command::ChangeUser {
            user: b"bob",
            auth_response: b"",
            schema: b"",
            charset: Some(45),
            auth_plugin: None,
            attrs: None,
        },
    );
    // Plugin name without its final NUL decodes; it re-encodes with one.
    let cmd = Command::decode(b"\x11u\0\x00\0\x21\x00caching_sha2_password", caps41()).unwrap();
    let Command::ChangeUser { auth_plugin, .. } = cmd else {
        panic!()
    };
    assert_eq!(auth_plugin, Some(&b"caching_sha2_password"[..]));
    assert_eq!(
        encode(&cmd, caps41()),
        b"\x11u\0\x00\0\x21\x00caching_sha2_password\0"
    );
    // One stray byte where the charset would be.
    assert!(Command::decode(b"\x11u\0\x00\0\x21", caps41()).is_err());
    // An auth length past the end.
    assert!(Command::decode(b"\x11u\0\x09ab", caps41()).is_err());
}

#[test]
fn unsupported_and_unknown() {
    let c = caps41();
    check(
        b"\x00",
        c,
        Command::Unsupported {
            code: 0x00,
            body: b"",
        },
    );
    check(
        b"\x12\x04\x00\x00\x00",
        c,
        Command::Unsupported {
            code: 0x12,
            body: b"\x04\x00\x00\x00",
        },
    );
    check(
        b"\x1e",
        c,
        Command::Unsupported {
            code: 0x1e,
            body: b"",
        },
    );
    check(
        b"\xfa\x01",
        c,
        Command::Unsupported {
            code: 0xfa,
            body: b"\x01",
        },
    );
    assert_eq!(
        Command::Unsupported {
            code: 0x1e,
            body: b""
        }
        .name(),
        "COM_BINLOG_DUMP_GTID"
    );
    for b in [0x22u8, 0x80, 0xf9, 0xfb, 0xfd, 0xff] {
        assert_eq!(
            Command::decode(&[b, 1, 2], c),
            Err(ProtoError::UnknownCommand(b))
        );
    }
    assert!(matches!(
        Command::decode(b"", c),
        Err(ProtoError::Truncated { .. })
    ));
    assert_eq!(peek_code(b""), None);
    assert_eq!(code_name(0x99), "COM_UNKNOWN");
}

#[test]
fn code_table_is_consistent() {
    for (i, c) in CommandCode::ALL.iter().enumerate() {
        assert_eq!(CommandCode::from_u8(c.as_u8()), Some(*c));
        assert!(c.name().starts_with("COM_"));
        if i > 0 {
            assert!(CommandCode::ALL[i - 1].as_u8() < c.as_u8());
        }
    }
    let known = (0..=255u8)
        .filter(|b| CommandCode::from_u8(*b).is_some())
        .count();
    assert_eq!(known, CommandCode::ALL.len());
}

#[test]
fn every_byte_and_short_tail_never_panics() {
    let all = Capabilities(u32::MAX);
    for b in 0..=255u8 {
        for tail in [
            &[][..],
            &[0],
            &[1, 0],
            &[0xff; 3],
            &[0xfe, 1, 2, 3],
            &[1, 1, 1, 0, 0, 0, 0, 0, 0],
        ] {
            let mut p = vec![b];
            p.extend_from_slice(tail);
            for caps in [Capabilities::empty(), all] {
                if let Ok(c) = Command::decode(&p, caps) {
                    let again = encode(&c, caps);
                    assert_eq!(Command::decode(&again, caps).unwrap(), c);
                }
            }
        }
    }
}
