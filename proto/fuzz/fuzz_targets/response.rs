//! OK / ERR / EOF / column definition / prepare-OK decoders.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardgate_proto::capability::Capabilities;
use shardgate_proto::column::ColumnDefinition41;
use shardgate_proto::response::{EofPacket, ErrPacket, OkPacket, ResponseKind};
use shardgate_proto::stmt::StmtPrepareOk;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let caps = Capabilities(u32::from_le_bytes([data[0], data[1], data[2], data[3]]));
    let p = &data[4..];
    let _ = ResponseKind::classify(p);
    if let Ok(ok) = OkPacket::decode(p, caps) {
        for change in ok.session_changes() {
            let _ = change;
        }
        let mut out = Vec::new();
        ok.encode(&mut out, caps);
        let again = OkPacket::decode(&out, caps).expect("re-decode OK");
        assert_eq!(ok.affected_rows, again.affected_rows);
    }
    if let Ok(e) = ErrPacket::decode(p, caps) {
        let mut out = Vec::new();
        e.encode(&mut out, caps);
        let _ = ErrPacket::decode(&out, caps).expect("re-decode ERR");
    }
    let _ = EofPacket::decode(p, caps);
    if let Ok(c) = ColumnDefinition41::decode(p) {
        let mut out = Vec::new();
        c.encode(&mut out);
        let again = ColumnDefinition41::decode(&out).expect("re-decode column");
        assert_eq!(c, again);
    }
    let _ = StmtPrepareOk::decode(p);
});
