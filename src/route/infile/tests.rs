use super::*;

fn records(
    data: &[u8],
    fmt: Format<'_>,
    fields: usize,
    want: usize,
) -> Vec<(String, Option<Field>)> {
    let mut r = Reader::new(data, fmt);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record(fields, want) {
        out.push((
            String::from_utf8_lossy(&data[rec.bytes.clone()]).into_owned(),
            rec.field,
        ));
        assert!(out.len() < 1000, "no progress");
    }
    out
}

fn tsv() -> Format<'static> {
    Format::new(b"\t", b"", b"\\", b"", b"\n")
}

fn csv() -> Format<'static> {
    Format::new(b",", b"\"", b"\\", b"", b"\n")
}

fn v(s: &str) -> Option<Field> {
    Some(Field::Value(s.as_bytes().to_vec()))
}

#[test]
fn tab_separated_lines_are_records() {
    let got = records(b"1\ta\n2\tb\n3\tc", tsv(), 2, 0);
    assert_eq!(
        got,
        vec![
            ("1\ta\n".into(), v("1")),
            ("2\tb\n".into(), v("2")),
            ("3\tc".into(), v("3")),
        ]
    );
    let got = records(b"1\ta\n2\tb\n", tsv(), 2, 1);
    assert_eq!(got[1], ("2\tb\n".into(), v("b")));
}

#[test]
fn enclosed_fields_hold_terminators_and_doubled_quotes() {
    let data = b"\"1,5\",\"line\nbreak\"\n\"a\"\"b\",x\n";
    let got = records(data, csv(), 2, 0);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], ("\"1,5\",\"line\nbreak\"\n".into(), v("1,5")));
    assert_eq!(got[1].1, v("a\"b"));
    // A quote not followed by a terminator is a plain byte.
    let got = records(b"\"a\"b\",c\n", csv(), 2, 0);
    assert_eq!(got[0].1, v("a\"b"));
}

#[test]
fn escapes_are_decoded_and_escaped_terminators_do_not_cut() {
    let got = records(b"a\\tb\\\nc\tx\n\\N\ty\n", tsv(), 2, 0);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, v("a\tb\nc"));
    assert_eq!(got[1].1, Some(Field::Null));
    // `\N` inside a longer value is the letter N.
    let got = records(b"x\\N\t1\n", tsv(), 2, 0);
    assert_eq!(got[0].1, v("xN"));
}

#[test]
fn null_word_is_null_only_unenclosed_with_enclosed_by_set() {
    let got = records(b"NULL,1\n\"NULL\",2\n", csv(), 2, 0);
    assert_eq!(got[0].1, Some(Field::Null));
    assert_eq!(got[1].1, v("NULL"));
    let got = records(b"NULL\t1\n", tsv(), 2, 0);
    assert_eq!(got[0].1, v("NULL"));
}

#[test]
fn lines_starting_by_skips_text_before_the_prefix() {
    let fmt = Format::new(b",", b"", b"\\", b"xxx", b"\n");
    let got = records(b"xxx1,a\nsomething xxx2,b\nno prefix\nxxx3,c\n", fmt, 2, 0);
    assert_eq!(
        got,
        vec![
            ("xxx1,a\n".into(), v("1")),
            ("xxx2,b\n".into(), v("2")),
            ("xxx3,c\n".into(), v("3")),
        ]
    );
}

#[test]
fn ignore_lines_skips_header_lines() {
    let mut r = Reader::new(b"id,name\n1,a\n2,b\n", csv());
    r.skip_lines(1);
    let rec = r.next_record(2, 0).unwrap();
    assert_eq!(rec.bytes, 8..12);
    assert_eq!(rec.field, v("1"));
}

#[test]
fn short_and_long_records() {
    // Fewer fields: the wanted one is missing; more: the rest of the line
    // is skipped (escape-aware only, as the server's next_line).
    let got = records(b"1\n2,b,c,d\n\n", csv(), 2, 1);
    assert_eq!(got[0], ("1\n".into(), None));
    assert_eq!(got[1], ("2,b,c,d\n".into(), v("b")));
    // An empty line is one empty field.
    assert_eq!(got[2], ("\n".into(), None));
    let got = records(b"\n", csv(), 1, 0);
    assert_eq!(got, vec![("\n".into(), v(""))]);
}

#[test]
fn multi_byte_terminators() {
    let fmt = Format::new(b"||", b"", b"\\", b"", b"\r\n");
    let got = records(b"1|x||a\r\n2||b\nc\r\n", fmt, 2, 0);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, v("1|x"));
    assert_eq!(got[1], ("2||b\nc\r\n".into(), v("2")));
}

#[test]
fn a_line_terminator_equal_to_the_field_terminator_is_ignored() {
    let fmt = Format::new(b",", b"", b"\\", b"", b",");
    let got = records(b"1,2,3,4", fmt, 2, 0);
    assert_eq!(got, vec![("1,2,3,4".into(), v("1"))]);
}

#[test]
fn escape_equal_to_enclosed_doubles_the_quote() {
    let fmt = Format::new(b",", b"\"", b"\"", b"", b"\n");
    let got = records(b"\"a\"\"b\",1\n\"c\",2\n", fmt, 2, 0);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, v("a\"b"));
    assert_eq!(got[1].1, v("c"));
}

#[test]
fn no_escape_character() {
    let fmt = Format::new(b"\t", b"", b"", b"", b"\n");
    let got = records(b"a\\\tb\n", fmt, 2, 0);
    assert_eq!(got[0].1, v("a\\"));
}

#[test]
fn empty_file_has_no_records() {
    assert!(records(b"", csv(), 2, 0).is_empty());
}

#[test]
fn arbitrary_bytes_never_panic_and_always_advance() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let alphabet = b",\"\\\n\r\tNUL1x|";
    for _ in 0..3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 40) as usize;
        let data: Vec<u8> = (0..len)
            .map(|i| alphabet[((seed >> (i % 50)) as usize + i * 7) % alphabet.len()])
            .collect();
        for fmt in [
            csv(),
            tsv(),
            Format::new(b"||", b"\"", b"\"", b"x", b"\r\n"),
        ] {
            let mut r = Reader::new(&data, fmt);
            r.skip_lines(seed % 2);
            let mut last = 0;
            let mut n = 0;
            while let Some(rec) = r.next_record(3, (seed % 4) as usize) {
                assert!(rec.bytes.start >= last && rec.bytes.end <= data.len());
                assert!(rec.bytes.end > rec.bytes.start, "empty record in {data:?}");
                last = rec.bytes.end;
                n += 1;
                assert!(n <= data.len() + 1);
            }
        }
    }
}
