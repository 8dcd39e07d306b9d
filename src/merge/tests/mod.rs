//! End-to-end tests of the merger: shard replies built with the proto
//! encoders, fed packet by packet (interleaved as a reactor would, obeying
//! `wants_more`), and the client stream decoded back into rows. This file
//! holds the helpers; `cases.rs` the feature tests, `property.rs` the
//! property tests against a reference implementation.

mod cases;
mod property;

use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::column::{
    column_count, encode_column_count, ColumnDefinition41, ColumnFlags, ColumnType,
};
use shardgate_proto::frame::PacketDecoder;
use shardgate_proto::response::{
    is_eof, is_result_terminator, EofPacket, ErrPacket, OkPacket, EOF_HEADER,
};
use shardgate_proto::row::{decode_binary_row, encode_binary_row, encode_text_row, TextRow};
use shardgate_proto::value::Value;

use super::*;

const CLASSIC: Capabilities =
    Capabilities(Capabilities::PROTOCOL_41.0 | Capabilities::TRANSACTIONS.0);
const MODERN: Capabilities = Capabilities(CLASSIC.0 | Capabilities::DEPRECATE_EOF.0);
const AC: StatusFlags = StatusFlags::AUTOCOMMIT;

/// A column of a test result.
#[derive(Debug, Clone)]
struct C {
    name: &'static str,
    ty: ColumnType,
    cs: u16,
    dec: u8,
    len: u32,
    flags: ColumnFlags,
}

fn c(name: &'static str, ty: ColumnType) -> C {
    let string = matches!(
        ty,
        ColumnType::VarString | ColumnType::String | ColumnType::Blob
    );
    C {
        name,
        ty,
        cs: if string { 45 } else { 63 },
        dec: if ty.is_float() { 31 } else { 0 },
        len: 20,
        flags: ColumnFlags::default(),
    }
}

fn with_cs(mut col: C, cs: u16) -> C {
    col.cs = cs;
    col
}

fn with_dec(mut col: C, dec: u8, len: u32) -> C {
    col.dec = dec;
    col.len = len;
    col
}

fn def(col: &C) -> Vec<u8> {
    let mut d = ColumnDefinition41::new(col.name.as_bytes(), col.ty, col.cs);
    d.decimals = col.dec;
    d.column_length = col.len;
    d.flags = col.flags;
    let mut p = Vec::new();
    d.encode(&mut p);
    p
}

type Cells = Vec<Option<String>>;

fn cells(v: &[Option<&str>]) -> Cells {
    v.iter().map(|c| c.map(str::to_string)).collect()
}

fn header(caps: Capabilities, cols: &[C]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut p = Vec::new();
    encode_column_count(cols.len() as u64, &mut p);
    packets.push(p);
    packets.extend(cols.iter().map(def));
    if !caps.contains(Capabilities::DEPRECATE_EOF) {
        let mut p = Vec::new();
        EofPacket {
            warnings: 0,
            status: AC,
        }
        .encode(&mut p, caps);
        packets.push(p);
    }
    packets
}

fn terminator(caps: Capabilities, warnings: u16, status: StatusFlags) -> Vec<u8> {
    let mut p = Vec::new();
    if caps.contains(Capabilities::DEPRECATE_EOF) {
        OkPacket {
            header: EOF_HEADER,
            ..OkPacket::new(0, 0, status, warnings)
        }
        .encode(&mut p, caps);
    } else {
        EofPacket { warnings, status }.encode(&mut p, caps);
    }
    p
}

/// A shard's text result set.
fn reply(caps: Capabilities, cols: &[C], rows: &[Cells], warnings: u16) -> Vec<Vec<u8>> {
    let mut packets = header(caps, cols);
    for r in rows {
        let mut p = Vec::new();
        encode_text_row(r.iter().map(|c| c.as_deref().map(str::as_bytes)), &mut p);
        packets.push(p);
    }
    packets.push(terminator(caps, warnings, AC));
    packets
}

/// A shard's binary result set.
fn reply_bin(caps: Capabilities, cols: &[C], rows: &[Vec<Value<'_>>]) -> Vec<Vec<u8>> {
    let types: Vec<_> = cols.iter().map(|c| (c.ty, false)).collect();
    let mut packets = header(caps, cols);
    for r in rows {
        let mut p = Vec::new();
        encode_binary_row(r, &types, &mut p).unwrap();
        packets.push(p);
    }
    packets.push(terminator(caps, 0, AC));
    packets
}

fn err(code: u16, msg: &str) -> Vec<u8> {
    let mut p = Vec::new();
    ErrPacket::new(code, *b"42S02", msg.as_bytes()).encode(&mut p, CLASSIC);
    p
}

#[derive(Debug, Clone, PartialEq)]
enum End {
    Eof { warnings: u16, status: StatusFlags },
    Err(u16, String),
    Missing,
}

#[derive(Debug)]
struct Out {
    cols: Vec<(String, ColumnType, u8, u32)>,
    /// Each column definition's flags.
    flags: Vec<ColumnFlags>,
    rows: Vec<Cells>,
    end: End,
    packets: usize,
}

/// Decodes the client stream: every packet framed with consecutive
/// sequence ids from 1, nothing after the final packet.
fn decode(out: &[u8], caps: Capabilities, binary: bool) -> Out {
    let mut d = PacketDecoder::new(1 << 24);
    d.expect_seq(1);
    let mut packets = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let p = d.decode(&out[at..]).unwrap().expect("complete packet");
        at += p.consumed;
        packets.push(p.payload.to_vec());
    }
    let mut o = Out {
        cols: Vec::new(),
        flags: Vec::new(),
        rows: Vec::new(),
        end: End::Missing,
        packets: packets.len(),
    };
    let mut it = packets.into_iter();
    let Some(first) = it.next() else { return o };
    if first[0] == 0xff {
        let e = ErrPacket::decode(&first, caps).unwrap();
        o.end = End::Err(e.code, String::from_utf8_lossy(e.message).into());
        assert!(it.next().is_none(), "packets after the ERR");
        return o;
    }
    let n = column_count(&first).unwrap() as usize;
    let mut types = Vec::new();
    for _ in 0..n {
        let p = it.next().unwrap();
        let d = ColumnDefinition41::decode(&p).unwrap();
        types.push(d.binary_type());
        o.cols.push((
            String::from_utf8_lossy(d.name).into(),
            d.column_type,
            d.decimals,
            d.column_length,
        ));
        o.flags.push(d.flags);
    }
    if !caps.contains(Capabilities::DEPRECATE_EOF) {
        assert!(is_eof(&it.next().unwrap()), "EOF after the definitions");
    }
    for p in it.by_ref() {
        if p[0] == 0xff {
            let e = ErrPacket::decode(&p, caps).unwrap();
            o.end = End::Err(e.code, String::from_utf8_lossy(e.message).into());
            break;
        }
        if is_result_terminator(&p, caps) {
            let (warnings, status) = if caps.contains(Capabilities::DEPRECATE_EOF) {
                let ok = OkPacket::decode(&p, caps).unwrap();
                assert_eq!(ok.header, EOF_HEADER);
                (ok.warnings, ok.status)
            } else {
                let e = EofPacket::decode(&p, caps).unwrap();
                (e.warnings, e.status)
            };
            o.end = End::Eof { warnings, status };
            break;
        }
        let row = if binary {
            decode_binary_row(&p, &types)
                .unwrap()
                .iter()
                .zip(&o.cols)
                .map(|(v, c)| {
                    (!v.is_null()).then(|| {
                        let mut t = Vec::new();
                        v.to_text_typed(c.1, c.2, &mut t);
                        String::from_utf8(t).unwrap()
                    })
                })
                .collect()
        } else {
            TextRow::new(&p, n)
                .cells()
                .map(|c| c.unwrap().map(|b| String::from_utf8_lossy(b).into_owned()))
                .collect()
        };
        o.rows.push(row);
    }
    assert!(it.next().is_none(), "packets after the final one");
    o
}

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Feeds the replies as a reactor would (a shard is read only while
/// `wants_more`), polling after each packet; then drains the rest.
fn run_with(
    spec: MergeSpec,
    caps: Capabilities,
    replies: &[Vec<Vec<u8>>],
    rng: &mut Rng,
) -> (Out, Merger) {
    let binary = spec.binary;
    let n = replies.len();
    let mut m = Merger::new(spec, n, caps);
    let (mut out, mut seq) = (Vec::new(), 1u8);
    let mut pos = vec![0; n];
    while !m.is_done() {
        let wanted: Vec<usize> = (0..n)
            .filter(|&s| pos[s] < replies[s].len() && m.wants_more(s))
            .collect();
        if wanted.is_empty() {
            m.poll_output(&mut out, &mut seq);
            assert!(m.is_done(), "stalled: no shard wanted, merger not done");
            break;
        }
        let s = wanted[rng.below(wanted.len() as u64) as usize];
        let r = m.feed(s, &replies[s][pos[s]]).unwrap();
        pos[s] += 1;
        assert_eq!(
            r == ShardReply::Complete,
            pos[s] == replies[s].len(),
            "shard {s} packet {}",
            pos[s]
        );
        m.poll_output(&mut out, &mut seq);
    }
    for s in 0..n {
        while pos[s] < replies[s].len() {
            m.feed(s, &replies[s][pos[s]]).unwrap();
            pos[s] += 1;
        }
    }
    let len = out.len();
    m.poll_output(&mut out, &mut seq);
    assert_eq!(out.len(), len, "output after the end");
    (decode(&out, caps, binary), m)
}

fn run(spec: MergeSpec, caps: Capabilities, replies: &[Vec<Vec<u8>>]) -> Out {
    run_with(spec, caps, replies, &mut Rng(0x9E37_79B9_7F4A_7C15)).0
}

fn col0(o: &Out) -> Vec<Option<&str>> {
    o.rows.iter().map(|r| r[0].as_deref()).collect()
}
