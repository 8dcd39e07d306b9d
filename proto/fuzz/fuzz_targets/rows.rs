//! Text and binary row decoders; column types come from the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardgate_proto::column::ColumnType;
use shardgate_proto::row::{decode_binary_row, TextRow};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let ncols = usize::from(data[0] % 32);
    if data.len() < 1 + ncols {
        return;
    }
    let types: Vec<(ColumnType, bool)> = data[1..1 + ncols]
        .iter()
        .map(|&b| (ColumnType::from_u8(b & 0x7f | if b & 0x7f > 0x14 { 0x80 } else { 0 }), b & 0x80 != 0))
        .collect();
    let payload = &data[1 + ncols..];
    for cell in TextRow::new(payload, ncols).cells() {
        let _ = cell;
    }
    if let Ok(values) = decode_binary_row(payload, &types) {
        for v in &values {
            let mut out = Vec::new();
            v.to_text(&mut out);
        }
    }
});
