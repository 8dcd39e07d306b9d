//! Frame decoder: any bytes, any limit, any expected sequence id. Checks
//! that a decoded packet re-encodes to the bytes it consumed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardgate_proto::frame::{write_packet, PacketDecoder};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let max = usize::from(u16::from_le_bytes([data[0], data[1]])) * 64;
    let mut dec = PacketDecoder::new(max);
    if data[2] & 1 == 1 {
        dec.expect_seq(data[2] >> 1);
    }
    let mut rest = &data[3..];
    while let Ok(Some(p)) = dec.decode(rest) {
        let mut out = Vec::new();
        let mut seq = p.seq;
        write_packet(&mut out, &mut seq, &p.payload);
        assert_eq!(&out[..], &rest[..p.consumed]);
        rest = &rest[p.consumed..];
    }
});
