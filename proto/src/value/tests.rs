//! Unit tests of `value`.

use super::*;
use proptest::prelude::*;

fn bin(v: &Value<'_>, ty: ColumnType, unsigned: bool) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode_binary(ty, unsigned, &mut out).unwrap();
    out
}

fn text(v: &Value<'_>) -> String {
    let mut out = Vec::new();
    v.to_text(&mut out);
    String::from_utf8(out).unwrap()
}

fn typed(v: &Value<'_>, ty: ColumnType, dec: u8) -> String {
    let mut out = Vec::new();
    v.to_text_typed(ty, dec, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn doc_examples_binary() {
    // Examples from the binary protocol value page.
    assert_eq!(
        bin(&Value::Int(1), ColumnType::LongLong, false),
        [1, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(bin(&Value::Int(1), ColumnType::Long, false), [1, 0, 0, 0]);
    assert_eq!(bin(&Value::Int(1), ColumnType::Short, false), [1, 0]);
    assert_eq!(bin(&Value::Int(1), ColumnType::Tiny, false), [1]);
    assert_eq!(
        bin(&Value::Double(35.0), ColumnType::Double, false),
        [0, 0, 0, 0, 0, 0x80, 0x41, 0x40]
    );
    assert_eq!(
        bin(&Value::Float(35.0), ColumnType::Float, false),
        [0, 0, 0x0c, 0x42]
    );
    let dt = Value::Date {
        year: 2010,
        month: 10,
        day: 17,
        hour: 19,
        minute: 27,
        second: 30,
        micros: 1,
    };
    assert_eq!(
        bin(&dt, ColumnType::DateTime, false),
        [0x0b, 0xda, 0x07, 0x0a, 0x11, 0x13, 0x1b, 0x1e, 0x01, 0x00, 0x00, 0x00]
    );
    let d = Value::Date {
        year: 2010,
        month: 10,
        day: 17,
        hour: 0,
        minute: 0,
        second: 0,
        micros: 0,
    };
    assert_eq!(
        bin(&d, ColumnType::Date, false),
        [0x04, 0xda, 0x07, 0x0a, 0x11]
    );
    let zero = Value::Date {
        year: 0,
        month: 0,
        day: 0,
        hour: 0,
        minute: 0,
        second: 0,
        micros: 0,
    };
    assert_eq!(bin(&zero, ColumnType::Timestamp, false), [0]);
    let t = Value::Time {
        negative: true,
        days: 120,
        hours: 19,
        minutes: 27,
        seconds: 30,
        micros: 1,
    };
    assert_eq!(
        bin(&t, ColumnType::Time, false),
        [0x0c, 0x01, 0x78, 0x00, 0x00, 0x00, 0x13, 0x1b, 0x1e, 0x01, 0x00, 0x00, 0x00]
    );
    let t = Value::Time {
        negative: true,
        days: 120,
        hours: 19,
        minutes: 27,
        seconds: 30,
        micros: 0,
    };
    assert_eq!(
        bin(&t, ColumnType::Time, false),
        [0x08, 0x01, 0x78, 0x00, 0x00, 0x00, 0x13, 0x1b, 0x1e]
    );
    assert_eq!(
        bin(&Value::Bytes(b"foo"), ColumnType::VarString, false),
        [3, b'f', b'o', b'o']
    );
}

#[test]
fn integer_ranges_and_signedness() {
    assert_eq!(bin(&Value::Int(-1), ColumnType::Tiny, false), [0xff]);
    assert_eq!(bin(&Value::UInt(255), ColumnType::Tiny, true), [0xff]);
    let mut out = Vec::new();
    assert!(Value::Int(128)
        .encode_binary(ColumnType::Tiny, false, &mut out)
        .is_err());
    assert!(Value::Int(-1)
        .encode_binary(ColumnType::LongLong, true, &mut out)
        .is_err());
    assert!(Value::UInt(u64::MAX)
        .encode_binary(ColumnType::LongLong, false, &mut out)
        .is_err());
    assert!(Value::Null
        .encode_binary(ColumnType::Long, false, &mut out)
        .is_err());
    assert!(Value::Null
        .encode_binary(ColumnType::Blob, false, &mut out)
        .is_err());
    assert!(Value::Bytes(b"1")
        .encode_binary(ColumnType::Long, false, &mut out)
        .is_err());
    assert!(out.is_empty());
    let mut r = Reader::new(&[0xff]);
    assert_eq!(
        Value::decode_binary(&mut r, ColumnType::Tiny, false).unwrap(),
        Value::Int(-1)
    );
    let mut r = Reader::new(&[0xff]);
    assert_eq!(
        Value::decode_binary(&mut r, ColumnType::Tiny, true).unwrap(),
        Value::UInt(255)
    );
    // numbers sent as a string type are written as text
    assert_eq!(
        bin(&Value::Int(-12), ColumnType::NewDecimal, false),
        [3, b'-', b'1', b'2']
    );
}

#[test]
fn bad_temporal_lengths_and_signs() {
    for bytes in [&[5u8, 0, 0, 0, 0, 0][..], &[1, 0]] {
        let mut r = Reader::new(bytes);
        assert!(Value::decode_binary(&mut r, ColumnType::DateTime, false).is_err());
    }
    let mut r = Reader::new(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    assert!(Value::decode_binary(&mut r, ColumnType::Time, false).is_err());
    let mut r = Reader::new(&[4, 0, 0, 0, 0]);
    assert!(Value::decode_binary(&mut r, ColumnType::Time, false).is_err());
}

#[test]
fn text_forms() {
    assert_eq!(text(&Value::Int(-42)), "-42");
    assert_eq!(text(&Value::UInt(u64::MAX)), "18446744073709551615");
    assert_eq!(text(&Value::Double(1.5)), "1.5");
    assert_eq!(text(&Value::Double(-0.25)), "-0.25");
    assert_eq!(text(&Value::Double(100000.0)), "100000");
    assert_eq!(text(&Value::Double(1e14)), "100000000000000");
    assert_eq!(text(&Value::Double(1e15)), "1e15");
    assert_eq!(text(&Value::Double(1.5e20)), "1.5e20");
    assert_eq!(text(&Value::Double(0.0001)), "0.0001");
    assert_eq!(text(&Value::Double(1e-14)), "1e-14");
    assert_eq!(text(&Value::Double(0.1 + 0.2)), "0.30000000000000004");
    assert_eq!(text(&Value::Double(0.0)), "0");
    assert_eq!(text(&Value::Float(0.1)), "0.1");
    assert_eq!(text(&Value::Float(1234567.0)), "1234570");
    assert_eq!(text(&Value::Float(3.25)), "3.25");
    assert_eq!(typed(&Value::Double(1.5), ColumnType::Double, 2), "1.50");
    let dt = Value::Date {
        year: 2024,
        month: 2,
        day: 29,
        hour: 0,
        minute: 0,
        second: 0,
        micros: 0,
    };
    assert_eq!(text(&dt), "2024-02-29");
    assert_eq!(typed(&dt, ColumnType::DateTime, 0), "2024-02-29 00:00:00");
    assert_eq!(typed(&dt, ColumnType::Date, 0), "2024-02-29");
    let dt = Value::Date {
        year: 2024,
        month: 2,
        day: 29,
        hour: 13,
        minute: 5,
        second: 9,
        micros: 120000,
    };
    assert_eq!(text(&dt), "2024-02-29 13:05:09.120000");
    assert_eq!(
        typed(&dt, ColumnType::Timestamp, 3),
        "2024-02-29 13:05:09.120"
    );
    assert_eq!(typed(&dt, ColumnType::DateTime, 0), "2024-02-29 13:05:09");
    let t = Value::Time {
        negative: true,
        days: 34,
        hours: 22,
        minutes: 59,
        seconds: 59,
        micros: 0,
    };
    assert_eq!(text(&t), "-838:59:59");
    let t = Value::Time {
        negative: false,
        days: 0,
        hours: 1,
        minutes: 2,
        seconds: 3,
        micros: 5,
    };
    assert_eq!(text(&t), "01:02:03.000005");
    assert_eq!(typed(&t, ColumnType::Time, 2), "01:02:03.00");
    assert_eq!(typed(&Value::UInt(0), ColumnType::Year, 0), "0000");
    let mut cell = Vec::new();
    Value::Null.to_text_cell(&mut cell);
    Value::Int(7).to_text_cell(&mut cell);
    assert_eq!(cell, [0xfb, 1, b'7']);
}

#[test]
fn parse_text() {
    assert_eq!(
        Value::from_text(ColumnType::Long, false, b"-5").unwrap(),
        Value::Int(-5)
    );
    assert_eq!(
        Value::from_text(ColumnType::LongLong, true, b"18446744073709551615").unwrap(),
        Value::UInt(u64::MAX)
    );
    assert!(Value::from_text(ColumnType::Long, true, b"-5").is_err());
    assert!(Value::from_text(ColumnType::Long, false, b"5x").is_err());
    assert_eq!(
        Value::from_text(ColumnType::Double, false, b"1e15").unwrap(),
        Value::Double(1e15)
    );
    assert_eq!(
        Value::from_text(ColumnType::NewDecimal, false, b"1.50").unwrap(),
        Value::Bytes(b"1.50")
    );
    assert_eq!(
        Value::from_text(ColumnType::DateTime, false, b"2024-02-29 13:05:09.12").unwrap(),
        Value::Date {
            year: 2024,
            month: 2,
            day: 29,
            hour: 13,
            minute: 5,
            second: 9,
            micros: 120000
        }
    );
    assert_eq!(
        Value::from_text(ColumnType::Time, false, b"-838:59:59").unwrap(),
        Value::Time {
            negative: true,
            days: 34,
            hours: 22,
            minutes: 59,
            seconds: 59,
            micros: 0
        }
    );
    for bad in [
        &b"2024-02-2"[..],
        b"2024/02/29",
        b"2024-02-29 1:2",
        b"2024-02-29 10:00:00.1234567",
        b"2024-02-29x",
    ] {
        assert!(
            Value::from_text(ColumnType::DateTime, false, bad).is_err(),
            "{bad:?}"
        );
    }
    for bad in [&b""[..], b"-", b"10:00", b"10:00:00:00", b"a:00:00"] {
        assert!(
            Value::from_text(ColumnType::Time, false, bad).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn ordering() {
    use Ordering::*;
    assert_eq!(compare_text(ColumnType::Long, false, b"-10", b"9"), Less);
    assert_eq!(
        compare_text(ColumnType::LongLong, true, b"18446744073709551615", b"9"),
        Greater
    );
    assert_eq!(
        compare_text(ColumnType::NewDecimal, false, b"10.50", b"10.5"),
        Equal
    );
    assert_eq!(
        compare_text(ColumnType::NewDecimal, false, b"-0.00", b"0"),
        Equal
    );
    assert_eq!(
        compare_text(ColumnType::NewDecimal, false, b"-2.5", b"-10"),
        Greater
    );
    assert_eq!(
        compare_text(ColumnType::NewDecimal, false, b"0.45", b"0.5"),
        Less
    );
    assert_eq!(
        compare_text(
            ColumnType::NewDecimal,
            false,
            b"123456789012345678901234567890",
            b"99"
        ),
        Greater
    );
    assert_eq!(
        compare_text(ColumnType::Double, false, b"1e15", b"999"),
        Greater
    );
    assert_eq!(
        compare_text(
            ColumnType::DateTime,
            false,
            b"2024-01-01",
            b"2023-12-31 23:59:59"
        ),
        Greater
    );
    assert_eq!(
        compare_text(ColumnType::Time, false, b"-01:00:00", b"00:00:01"),
        Less
    );
    assert_eq!(
        compare_text(ColumnType::Time, false, b"100:00:00", b"99:00:00"),
        Greater
    );
    assert_eq!(compare_text(ColumnType::VarString, false, b"B", b"a"), Less);
    assert_eq!(
        compare_cells(ColumnType::Long, false, None, Some(b"1")),
        Less
    );
    assert_eq!(compare_cells(ColumnType::Long, false, None, None), Equal);
}

/// A (type, unsigned, value) triple that the type can carry.
fn typed_value() -> impl Strategy<Value = (ColumnType, bool, Value<'static>)> {
    let date = (
        0u16..10000,
        0u8..13,
        0u8..32,
        0u8..24,
        0u8..60,
        0u8..60,
        0u32..1_000_000,
    )
        .prop_map(
            |(year, month, day, hour, minute, second, micros)| Value::Date {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            },
        );
    let time = (
        any::<bool>(),
        0u32..35,
        0u8..24,
        0u8..60,
        0u8..60,
        0u32..1_000_000,
    )
        .prop_map(
            |(negative, days, hours, minutes, seconds, micros)| Value::Time {
                negative,
                days,
                hours,
                minutes,
                seconds,
                micros,
            },
        );
    let bytes = proptest::collection::vec(any::<u8>(), 0..300)
        .prop_map(|v| Value::Bytes(Box::leak(v.into_boxed_slice())));
    let string_types = prop::sample::select(vec![
        ColumnType::Decimal,
        ColumnType::NewDecimal,
        ColumnType::VarChar,
        ColumnType::Bit,
        ColumnType::Json,
        ColumnType::Enum,
        ColumnType::Set,
        ColumnType::TinyBlob,
        ColumnType::MediumBlob,
        ColumnType::LongBlob,
        ColumnType::Blob,
        ColumnType::VarString,
        ColumnType::String,
        ColumnType::Geometry,
        ColumnType::Vector,
        ColumnType::Unknown(0x20),
    ]);
    let date_types = prop::sample::select(vec![
        ColumnType::Date,
        ColumnType::DateTime,
        ColumnType::Timestamp,
        ColumnType::NewDate,
    ]);
    prop_oneof![
        any::<i8>().prop_map(|v| (ColumnType::Tiny, false, Value::Int(v.into()))),
        any::<u8>().prop_map(|v| (ColumnType::Tiny, true, Value::UInt(v.into()))),
        any::<i16>().prop_map(|v| (ColumnType::Short, false, Value::Int(v.into()))),
        any::<u16>().prop_map(|v| (ColumnType::Year, true, Value::UInt(v.into()))),
        any::<i32>().prop_map(|v| (ColumnType::Long, false, Value::Int(v.into()))),
        any::<u32>().prop_map(|v| (ColumnType::Int24, true, Value::UInt(v.into()))),
        any::<i64>().prop_map(|v| (ColumnType::LongLong, false, Value::Int(v))),
        any::<u64>().prop_map(|v| (ColumnType::LongLong, true, Value::UInt(v))),
        any::<f32>()
            .prop_filter("nan", |f| !f.is_nan())
            .prop_map(|v| (ColumnType::Float, false, Value::Float(v))),
        any::<f64>()
            .prop_filter("nan", |f| !f.is_nan())
            .prop_map(|v| (ColumnType::Double, false, Value::Double(v))),
        Just((ColumnType::Null, false, Value::Null)),
        (date_types, date).prop_map(|(t, v)| (t, false, v)),
        time.prop_map(|v| (ColumnType::Time, false, v)),
        (string_types, bytes).prop_map(|(t, v)| (t, false, v)),
    ]
}

proptest! {
    #[test]
    fn binary_round_trip((ty, unsigned, v) in typed_value()) {
        let mut out = Vec::new();
        v.encode_binary(ty, unsigned, &mut out).unwrap();
        let mut r = Reader::new(&out);
        let back = Value::decode_binary(&mut r, ty, unsigned).unwrap();
        prop_assert!(r.is_empty());
        prop_assert_eq!(back, v);
        let mut again = Vec::new();
        back.encode_binary(ty, unsigned, &mut again).unwrap();
        prop_assert_eq!(&again, &out);
        // every cut of the encoding is an error, never a panic
        for cut in 0..out.len() {
            let mut r = Reader::new(&out[..cut]);
            prop_assert!(Value::decode_binary(&mut r, ty, unsigned).is_err());
        }
    }

    #[test]
    fn text_round_trip((ty, unsigned, v) in typed_value()) {
        // FLOAT prints 6 significant digits, so it does not read back exactly.
        prop_assume!(ty != ColumnType::Float && ty != ColumnType::Null);
        let mut t = Vec::new();
        v.to_text_typed(ty, NOT_FIXED_DEC, &mut t);
        let back = Value::from_text(ty, unsigned, &t).unwrap();
        if matches!(ty, ColumnType::Date | ColumnType::NewDate) {
            let (a, b) = (date_key(&back), date_key(&v));
            prop_assert_eq!((a.0, a.1, a.2), (b.0, b.1, b.2));
        } else {
            prop_assert_eq!(back, v);
        }
        prop_assert_eq!(compare_text(ty, unsigned, &t, &t), Ordering::Equal);
    }

    #[test]
    fn decimal_order_matches_integers(a in any::<i64>(), b in any::<i64>()) {
        let (sa, sb) = (a.to_string(), b.to_string());
        prop_assert_eq!(compare_decimal_text(sa.as_bytes(), sb.as_bytes()), Some(a.cmp(&b)));
    }

    #[test]
    fn decimal_order_matches_floats(a in -1e6f64..1e6, b in -1e6f64..1e6) {
        let (sa, sb) = (format!("{a:.3}"), format!("{b:.3}"));
        let (pa, pb): (f64, f64) = (sa.parse().unwrap(), sb.parse().unwrap());
        prop_assert_eq!(compare_decimal_text(sa.as_bytes(), sb.as_bytes()), pa.partial_cmp(&pb));
    }

    #[test]
    fn double_text_reads_back(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let mut t = Vec::new();
        Value::Double(f).to_text(&mut t);
        let back: f64 = std::str::from_utf8(&t).unwrap().parse().unwrap();
        prop_assert_eq!(back, f);
    }

    #[test]
    fn decode_never_panics(code in any::<u8>(), unsigned in any::<bool>(), p in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut r = Reader::new(&p);
        let _ = Value::decode_binary(&mut r, ColumnType::from_u8(code), unsigned);
        let _ = Value::from_text(ColumnType::from_u8(code), unsigned, &p);
        let _ = compare_text(ColumnType::from_u8(code), unsigned, &p, &p[p.len() / 2..]);
    }
}
