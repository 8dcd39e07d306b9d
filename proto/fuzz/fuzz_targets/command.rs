//! Command decoder under arbitrary capabilities (first 4 bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardgate_proto::capability::Capabilities;
use shardgate_proto::command::{peek_code, Command};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let caps = Capabilities(u32::from_le_bytes([data[0], data[1], data[2], data[3]]));
    let payload = &data[4..];
    let _ = peek_code(payload);
    if let Ok(cmd) = Command::decode(payload, caps) {
        let _ = cmd.name();
        let mut out = Vec::new();
        cmd.encode(&mut out, caps);
        let again = Command::decode(&out, caps).expect("re-decode command");
        assert_eq!(cmd.code(), again.code());
    }
});
