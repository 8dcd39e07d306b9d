//! Decode benchmarks of `shardgate-proto`, the work done per packet on the
//! proxy's hot path: a `COM_QUERY` frame (framing + command decode) of a
//! point select, a ~1 KiB text row of 16 cells, and a binary row of 16
//! mixed-type values.
//!
//! Before timing, a counting global allocator checks that one decode of each
//! kind allocates nothing (the crate promises borrowed decoding); the bench
//! aborts if one does.
//!
//! Run: `cargo bench --bench proto_decode -- --warm-up-time 1 --measurement-time 3`
//! (results of a run are kept in `bench/results/proto_decode.txt`).
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset_row.html>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html>

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput};
use shardgate_proto::capability::Capabilities;
use shardgate_proto::column::ColumnType;
use shardgate_proto::command::Command;
use shardgate_proto::frame::{write_packet, PacketDecoder, DEFAULT_MAX_PACKET};
use shardgate_proto::row::{encode_binary_row, encode_text_row, BinaryValues, TextRow};
use shardgate_proto::value::Value;

/// The system allocator, counting allocations (and reallocations).
struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees hold; the counter has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by this allocator (hence by `System`)
        // with `layout`, as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Allocations made while running `f` (single-threaded: nothing else runs).
fn allocations_in<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let r = f();
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    (after - before, r)
}

const CAPS: Capabilities = Capabilities::server_default();

/// A typical point select, framed (header + payload) as a client sends it.
fn com_query_frame() -> Vec<u8> {
    let mut payload = vec![0x03];
    payload.extend_from_slice(
        b"SELECT id, name, email, balance, created_at FROM users WHERE id = 4242",
    );
    let mut frame = Vec::new();
    write_packet(&mut frame, &mut 0, &payload);
    frame
}

/// One decode of a `COM_QUERY` frame: framing, then the command.
fn decode_com_query(frame: &[u8]) -> usize {
    let mut decoder = PacketDecoder::new(DEFAULT_MAX_PACKET);
    decoder.expect_seq(0);
    let Ok(Some(packet)) = decoder.decode(frame) else {
        panic!("frame does not decode");
    };
    match Command::decode(&packet.payload, CAPS) {
        Ok(Command::Query { sql, .. }) => sql.len() + packet.consumed,
        other => panic!("not a COM_QUERY: {other:?}"),
    }
}

/// A text row of 16 cells, about 1 KiB: numbers, dates, short strings and
/// two long ones, one NULL.
fn text_row() -> (Vec<u8>, usize) {
    let long_a = "lorem ipsum dolor sit amet ".repeat(15);
    let long_b = "x".repeat(440);
    let cells: Vec<Option<&[u8]>> = vec![
        Some(b"4242"),
        Some(b"-17"),
        Some(b"18446744073709551615"),
        Some(b"12345.678901"),
        Some(b"3.14159"),
        Some(b"2024-02-29"),
        Some(b"2024-02-29 13:14:15.123456"),
        Some(b"-838:59:59"),
        Some(b"alice@example.com"),
        Some("Zoë Ölçer".as_bytes()),
        None,
        Some(long_a.as_bytes()),
        Some(b"{\"k\": [1, 2.5, \"x\", null]}"),
        Some(b"active"),
        Some(long_b.as_bytes()),
        Some(b"2155"),
    ];
    let ncols = cells.len();
    let mut payload = Vec::new();
    encode_text_row(cells, &mut payload);
    (payload, ncols)
}

/// One decode of a text row: every cell visited.
fn decode_text_row(payload: &[u8], ncols: usize) -> usize {
    let mut total = 0;
    for cell in TextRow::new(payload, ncols).cells() {
        match cell {
            Ok(Some(c)) => total += c.len(),
            Ok(None) => total += 1,
            Err(e) => panic!("text row: {e}"),
        }
    }
    total
}

/// A binary row of 16 mixed-type values, one NULL.
fn binary_row() -> (Vec<u8>, Vec<(ColumnType, bool)>) {
    let values = [
        Value::Int(-7),
        Value::UInt(65000),
        Value::Int(-2_000_000_000),
        Value::UInt(u64::MAX),
        Value::Int(-8_000_000),
        Value::Float(1.5),
        Value::Double(-1234.5678901234),
        Value::Bytes(b"-12345.678901"),
        Value::Date {
            year: 2024,
            month: 2,
            day: 29,
            hour: 0,
            minute: 0,
            second: 0,
            micros: 0,
        },
        Value::Date {
            year: 1999,
            month: 12,
            day: 31,
            hour: 23,
            minute: 59,
            second: 59,
            micros: 999_999,
        },
        Value::Time {
            negative: true,
            days: 34,
            hours: 22,
            minutes: 59,
            seconds: 59,
            micros: 0,
        },
        Value::Bytes(b"alice@example.com"),
        Value::Null,
        Value::Int(2155),
        Value::Bytes(b"{\"k\": [1, 2.5, \"x\", null]}"),
        Value::Bytes(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03]),
    ];
    let types = vec![
        (ColumnType::Tiny, false),
        (ColumnType::Short, true),
        (ColumnType::Long, false),
        (ColumnType::LongLong, true),
        (ColumnType::Int24, false),
        (ColumnType::Float, false),
        (ColumnType::Double, false),
        (ColumnType::NewDecimal, false),
        (ColumnType::Date, false),
        (ColumnType::DateTime, false),
        (ColumnType::Time, false),
        (ColumnType::VarString, false),
        (ColumnType::Long, false),
        (ColumnType::Year, false),
        (ColumnType::Json, false),
        (ColumnType::Blob, false),
    ];
    let mut payload = Vec::new();
    encode_binary_row(&values, &types, &mut payload).expect("binary row encodes");
    (payload, types)
}

/// One decode of a binary row: every value read.
fn decode_binary_row(payload: &[u8], types: &[(ColumnType, bool)]) -> usize {
    let mut nulls = 0;
    let values = BinaryValues::new(payload, types).expect("binary row header");
    for v in values {
        match v {
            Ok(v) => nulls += usize::from(black_box(v).is_null()),
            Err(e) => panic!("binary row: {e}"),
        }
    }
    nulls
}

/// One decode of each kind must allocate nothing.
fn check_no_allocations(
    frame: &[u8],
    text: &[u8],
    ncols: usize,
    bin: &[u8],
    types: &[(ColumnType, bool)],
) {
    let checks: [(&str, usize); 3] = [
        (
            "COM_QUERY frame",
            allocations_in(|| black_box(decode_com_query(black_box(frame)))).0,
        ),
        (
            "text row",
            allocations_in(|| black_box(decode_text_row(black_box(text), ncols))).0,
        ),
        (
            "binary row",
            allocations_in(|| black_box(decode_binary_row(black_box(bin), types))).0,
        ),
    ];
    for (what, n) in checks {
        println!("allocations in one decode of {what}: {n}");
    }
    for (what, n) in checks {
        assert_eq!(n, 0, "decoding a {what} allocated {n} times");
    }
}

fn main() {
    let frame = com_query_frame();
    let (text, ncols) = text_row();
    let (bin, types) = binary_row();
    println!(
        "inputs: COM_QUERY frame {} bytes; text row {} bytes, {ncols} cells; binary row {} bytes, {} values",
        frame.len(),
        text.len(),
        bin.len(),
        types.len()
    );
    // The counting allocator sees the decoders do not allocate...
    check_no_allocations(&frame, &text, ncols, &bin, &types);
    // ...and that it would see it if one did.
    let (n, _) = allocations_in(|| black_box(vec![0u8; 16]));
    assert!(n > 0, "the counting allocator counts nothing");

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("proto_decode");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("com_query_frame", |b| {
        b.iter(|| decode_com_query(black_box(&frame)))
    });
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("text_row_1k_16_cells", |b| {
        b.iter(|| decode_text_row(black_box(&text), ncols))
    });
    g.throughput(Throughput::Bytes(bin.len() as u64));
    g.bench_function("binary_row_16_mixed", |b| {
        b.iter(|| decode_binary_row(black_box(&bin), &types))
    });
    g.finish();
    c.final_summary();
}
