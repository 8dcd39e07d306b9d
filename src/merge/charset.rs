//! The character set a cell's bytes are in, and converting between the
//! ones the merger compares (UTF-8, latin1, ASCII).
//!
//! A result column carries the values converted to the connection's
//! `character_set_results` (its definition's character set field says
//! which), while the merge must compare them by the table column's own
//! collation (read from information_schema). When the two character sets
//! differ (a latin1 table read over a utf8mb4 connection is the usual
//! case), the bytes are converted back to the collation's character set
//! before they are weighed, as the server would hold them.
//!
//! MariaDB's `latin1` is Windows-1252 with its five undefined bytes mapped
//! to the C1 controls of the same value (`cs_to_uni` of ctype-latin1.c);
//! a character latin1 lacks becomes `?`, as the server's conversion does.
//!
//! The router uses the same conversion for string shard keys: a key sent
//! in the client's character set is placed by the bytes the key column
//! stores ([`charset_by_name`] reads both names).
//!
//! <https://mariadb.com/kb/en/server-system-variables/#character_set_results>

use std::borrow::Cow;

/// The character sets the merger can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb4 and utf8mb3 (a subset of it).
    Utf8,
    Latin1,
    Ascii,
    /// `binary`: bytes as stored, no conversion.
    Binary,
}

/// The character set of collation `id` (MariaDB 10.11 and 11.x ids, and
/// MySQL's below 324), `None` for character sets the merger cannot read.
pub fn charset_of(id: u16) -> Option<Charset> {
    Some(match id {
        63 => Charset::Binary,
        33 | 45 | 46 | 76 | 83 | 192..=215 | 223..=247 | 255..=323 => Charset::Utf8,
        1057 | 1069 | 1070 | 1107 | 1216..=1271 | 2048..=2559 => Charset::Utf8,
        5 | 8 | 15 | 31 | 47 | 48 | 49 | 94 | 1032 | 1071 => Charset::Latin1,
        11 | 65 | 1035 | 1089 => Charset::Ascii,
        _ => return None,
    })
}

/// The character set named by a character set or collation name
/// (`utf8mb4`, `utf8mb3_general_ci`, `latin1`, `ascii_bin`, `binary`),
/// `None` for the ones the merger cannot convert.
pub fn charset_by_name(name: &[u8]) -> Option<Charset> {
    let cs = name.split(|&c| c == b'_').next().unwrap_or_default();
    let is = |w: &[u8]| cs.eq_ignore_ascii_case(w);
    if is(b"utf8mb4") || is(b"utf8mb3") || is(b"utf8") {
        Some(Charset::Utf8)
    } else if is(b"latin1") {
        Some(Charset::Latin1)
    } else if is(b"ascii") {
        Some(Charset::Ascii)
    } else if is(b"binary") {
        Some(Charset::Binary)
    } else {
        None
    }
}

/// Unicode of latin1 bytes 0x80..=0x9F (Windows-1252; the undefined
/// ones are the C1 control of the same value). Bytes from 0xA0 are the
/// code point of the same value.
const LATIN1_80_9F: [u16; 32] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
];

fn latin1_to_char(b: u8) -> char {
    let cp = match b {
        0x80..=0x9F => u32::from(LATIN1_80_9F[usize::from(b - 0x80)]),
        _ => u32::from(b),
    };
    char::from_u32(cp).unwrap_or('?')
}

fn char_to_latin1(c: char) -> u8 {
    let cp = u32::from(c);
    match cp {
        0..=0x7F | 0xA0..=0xFF => cp as u8,
        _ => LATIN1_80_9F
            .iter()
            .position(|&u| u32::from(u) == cp)
            .map_or(b'?', |i| 0x80 + i as u8),
    }
}

/// The latin1 bytes of UTF-8 `s`, one per character (`?` for what latin1
/// lacks and for each byte of an invalid sequence). Decodes lazily: a
/// comparison that stops early reads no further.
pub fn utf8_as_latin1(s: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *s.get(i)?;
        if b.is_ascii() {
            i += 1;
            return Some(b);
        }
        let len = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 0,
        };
        let c = s
            .get(i..i + len)
            .filter(|_| len > 0)
            .and_then(|seq| std::str::from_utf8(seq).ok())
            .and_then(|seq| seq.chars().next());
        Some(match c {
            Some(c) => {
                i += len;
                char_to_latin1(c)
            }
            None => {
                i += 1;
                b'?'
            }
        })
    })
}

/// The characters of latin1 `s`.
pub fn latin1_chars(s: &[u8]) -> impl Iterator<Item = char> + '_ {
    s.iter().map(|&b| latin1_to_char(b))
}

/// `s` (in `from`) converted to `to`; borrowed when nothing changes.
pub fn transcode(s: &[u8], from: Charset, to: Charset) -> Cow<'_, [u8]> {
    if from == to || from == Charset::Binary || to == Charset::Binary || s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    match (from, to) {
        (Charset::Utf8, Charset::Latin1) => out.extend(utf8_as_latin1(s)),
        (Charset::Utf8, Charset::Ascii) => {
            out.extend(utf8_as_latin1(s).map(|b| if b.is_ascii() { b } else { b'?' }))
        }
        (Charset::Latin1, Charset::Utf8) => {
            let mut buf = [0u8; 4];
            for &b in s {
                out.extend_from_slice(latin1_to_char(b).encode_utf8(&mut buf).as_bytes());
            }
        }
        // ASCII holds no byte above 0x7F; latin1 bytes above it have no
        // ASCII character.
        _ => out.extend(s.iter().map(|&b| if b.is_ascii() { b } else { b'?' })),
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_round_trips_through_utf8() {
        let all: Vec<u8> = (0..=255u8).collect();
        let utf8 = transcode(&all, Charset::Latin1, Charset::Utf8);
        assert!(std::str::from_utf8(&utf8).is_ok());
        assert_eq!(transcode(&utf8, Charset::Utf8, Charset::Latin1), &all[..]);
        assert_eq!(
            &*transcode("€ü".as_bytes(), Charset::Utf8, Charset::Latin1),
            &[0x80, 0xFC]
        );
    }

    #[test]
    fn characters_latin1_lacks_become_question_marks() {
        assert_eq!(
            &*transcode("a東b".as_bytes(), Charset::Utf8, Charset::Latin1),
            b"a?b"
        );
        assert_eq!(
            &*transcode(b"a\xffb", Charset::Utf8, Charset::Latin1),
            b"a?b"
        );
        assert_eq!(
            &*transcode("aü".as_bytes(), Charset::Utf8, Charset::Ascii),
            b"a?"
        );
        assert!(matches!(
            transcode(b"plain", Charset::Utf8, Charset::Latin1),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn collation_ids_name_their_character_set() {
        assert_eq!(charset_of(45), Some(Charset::Utf8));
        assert_eq!(charset_of(224), Some(Charset::Utf8));
        assert_eq!(charset_of(8), Some(Charset::Latin1));
        assert_eq!(charset_of(63), Some(Charset::Binary));
        assert_eq!(charset_of(11), Some(Charset::Ascii));
        assert_eq!(charset_of(95), None); // cp932
    }
}
