//! String comparison by collation, for merging sorted, grouped and distinct
//! string columns the way the server compares them: a column definition's
//! character set field is the collation id of its values; [`Collation`]
//! turns a cell into a [`StrKey`] (its weights) that orders and hashes like
//! the server's `strnncollsp`.
//!
//! Supported (MariaDB 10.11 ids; MySQL shares the ones below 256):
//! - bytewise: `binary` (63, NO PAD), `*_bin` (46, 83, 47, 65: PAD SPACE),
//!   `*_nopad_bin` (1070, 1107, 1071, 1089) and MySQL's `utf8mb4_0900_bin`
//!   (309), NO PAD. For valid UTF-8, byte order is code point order.
//! - `utf8mb4_general_ci` / `utf8mb3_general_ci` (45, 33; NO PAD 1069,
//!   1057): one weight per character from the server's own table (upper
//!   case, accents stripped: `é` = `E`, `ß` = `S`); characters above U+FFFF
//!   all weigh U+FFFD, as in the server.
//! - `utf8mb4_unicode_ci` / `utf8mb3_unicode_ci` (224, 192; NO PAD 1248,
//!   1216): UCA 4.0.0 primary weights, exact (the server's table, with
//!   expansions such as `ß` = `ss` and ignorable controls) for U+0000..U+024F
//!   and U+2000..U+206F: Latin text and punctuation. Other characters are
//!   approximated: folded as in general_ci, then ordered by code point after
//!   every tabled character and before CJK ideographs (which get the UCA's
//!   implicit weights, so they order like the server). Greek and Cyrillic
//!   letters keep their alphabet order and case-insensitivity, Katakana
//!   equal Hiragana as in the UCA; other scripts whose UCA order is not
//!   code point order may order differently from the server. (Checked on
//!   3,000 random strings of Latin, punctuation, controls, Greek, Cyrillic,
//!   kana, CJK and emoji against MariaDB 10.11's ORDER BY: no difference.)
//! - `latin1_swedish_ci` (8, NO PAD 1032), `latin1_general_ci` (48): the
//!   server's 256-entry tables. `ascii_general_ci` (11, NO PAD 1035): ASCII
//!   upper-casing.
//!
//! PAD SPACE compares as if the shorter string were padded with spaces
//! (`'a'` = `'a  '`, and `'a\t'` < `'a'` since TAB weighs less than space);
//! keys drop trailing space weights so equal strings hash equally. Invalid
//! UTF-8 bytes weigh more than any character (the server compares the rest
//! bytewise; only the order of such bytes among themselves is kept).
//! Cells in another character set than the collation's (a latin1 column
//! read over a utf8mb4 connection) are converted to it before they are
//! weighed ([`Collation::reading`], `merge::charset`).
//! Anything else (`utf8mb4_uca1400_ai_ci`, MySQL's `utf8mb4_0900_ai_ci`,
//! language-specific collations, `_cs` collations): [`collation_supported`]
//! is false and the merger refuses to compare such columns.
//!
//! <https://mariadb.com/kb/en/supported-character-sets-and-collations/>
//! <https://mariadb.com/kb/en/weight_string/>
//! <https://www.unicode.org/Public/UCA/4.0.0/allkeys-4.0.0.txt>

use std::borrow::Cow;
use std::cmp::Ordering;

use super::charset::{charset_of, latin1_chars, transcode, utf8_as_latin1, Charset};

use super::collation_tables::{
    GENERAL_CI, LATIN1_GENERAL_CI, LATIN1_SWEDISH_CI, UNICODE_CI_EXPANSIONS, UNICODE_CI_LATIN,
    UNICODE_CI_PUNCT,
};

/// The collation id of `binary` (numbers, dates, blobs, BIT).
pub const BINARY: u16 = 63;

/// True when the merger can compare strings of collation `id` as the
/// server does (see the module documentation for the list). The planner
/// refuses to scatter an ORDER BY / GROUP BY / DISTINCT / MIN / MAX on a
/// string column of any other collation when it knows the collation; the
/// merger checks again when the column definitions arrive.
pub fn collation_supported(id: u16) -> bool {
    Collation::from_id(id).is_some()
}

/// The id of a collation the merger supports, by name (`COLLATE name` in
/// a statement; `utf8_` is MariaDB's alias of `utf8mb3_`). `None` for
/// names it does not know, or does not support.
pub fn collation_id_by_name(name: &str) -> Option<u16> {
    let name = name.to_ascii_lowercase();
    let name = match name.strip_prefix("utf8_") {
        Some(rest) => format!("utf8mb3_{rest}"),
        None => name,
    };
    Some(match name.as_str() {
        "binary" => 63,
        "latin1_swedish_ci" => 8,
        "ascii_general_ci" => 11,
        "utf8mb3_general_ci" => 33,
        "utf8mb4_general_ci" => 45,
        "utf8mb4_bin" => 46,
        "latin1_bin" => 47,
        "latin1_general_ci" => 48,
        "ascii_bin" => 65,
        "utf8mb3_bin" => 83,
        "utf8mb3_unicode_ci" => 192,
        "utf8mb4_unicode_ci" => 224,
        "latin1_swedish_nopad_ci" => 1032,
        "ascii_general_nopad_ci" => 1035,
        "utf8mb3_general_nopad_ci" => 1057,
        "utf8mb4_general_nopad_ci" => 1069,
        "utf8mb4_nopad_bin" => 1070,
        "latin1_nopad_bin" => 1071,
        "ascii_nopad_bin" => 1089,
        "utf8mb3_nopad_bin" => 1107,
        "utf8mb3_unicode_nopad_ci" => 1216,
        "utf8mb4_unicode_nopad_ci" => 1248,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bytes,
    GeneralCi,
    UnicodeCi,
    Latin1(&'static [u8; 256]),
    AsciiCi,
}

/// How strings of one collation compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collation {
    kind: Kind,
    /// PAD SPACE (true) or NO PAD.
    pad: bool,
    /// The character set the collation weighs.
    charset: Charset,
    /// The cells are in this other character set: they are converted to
    /// `charset` before they are weighed (see [`Collation::reading`]).
    input: Option<Charset>,
}

/// The weights of one string under a collation; ordered with the
/// collation's pad attribute, hashable (trailing spaces removed for PAD
/// SPACE collations, so `'a'` and `'a '` are the same key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StrKey {
    weights: Vec<u32>,
    /// Weight of a space for PAD SPACE collations, `None` for NO PAD.
    space: Option<u32>,
}

impl Ord for StrKey {
    fn cmp(&self, other: &StrKey) -> Ordering {
        let n = self.weights.len().min(other.weights.len());
        let prefix = self.weights[..n].cmp(&other.weights[..n]);
        if prefix != Ordering::Equal {
            return prefix;
        }
        let Some(space) = self.space else {
            return self.weights.len().cmp(&other.weights.len());
        };
        // The longer one against spaces: its first non-space weight decides.
        let (rest, flip) = if self.weights.len() > n {
            (&self.weights[n..], false)
        } else {
            (&other.weights[n..], true)
        };
        let o = rest
            .iter()
            .map(|w| w.cmp(&space))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal);
        if flip {
            o.reverse()
        } else {
            o
        }
    }
}

impl PartialOrd for StrKey {
    fn partial_cmp(&self, other: &StrKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Weight of an invalid UTF-8 byte: above every character.
const INVALID_BASE: u32 = 0x11_0000;
/// UCA weights of characters outside the tables: after every tabled
/// weight, before the implicit weights of CJK ideographs.
const UCA_OTHER: u32 = 0xF000;

impl Collation {
    /// The collation for an id, `None` when not supported.
    pub fn from_id(id: u16) -> Option<Collation> {
        let (kind, pad) = match id {
            63 | 1070 | 1107 | 1071 | 1089 | 309 => (Kind::Bytes, false),
            46 | 83 | 47 | 65 => (Kind::Bytes, true),
            45 | 33 => (Kind::GeneralCi, true),
            1069 | 1057 => (Kind::GeneralCi, false),
            224 | 192 => (Kind::UnicodeCi, true),
            1248 | 1216 => (Kind::UnicodeCi, false),
            8 => (Kind::Latin1(&LATIN1_SWEDISH_CI), true),
            1032 => (Kind::Latin1(&LATIN1_SWEDISH_CI), false),
            48 => (Kind::Latin1(&LATIN1_GENERAL_CI), true),
            11 => (Kind::AsciiCi, true),
            1035 => (Kind::AsciiCi, false),
            _ => return None,
        };
        Some(Collation {
            kind,
            pad,
            charset: charset_of(id)?,
            input: None,
        })
    }

    /// This collation over cells whose bytes are in the character set of
    /// collation `cells_id` (a result column's character set field: the
    /// values as converted for the connection). `None` when the merger
    /// cannot read that character set.
    pub fn reading(self, cells_id: u16) -> Option<Collation> {
        let from = charset_of(cells_id)?;
        let input = match from {
            Charset::Binary | Charset::Ascii => None,
            _ if from == self.charset || self.charset == Charset::Binary => None,
            _ => Some(from),
        };
        Some(Collation { input, ..self })
    }

    /// The cell's bytes in the collation's own character set.
    fn own<'a>(&self, s: &'a [u8]) -> Cow<'a, [u8]> {
        match self.input {
            Some(from) => transcode(s, from, self.charset),
            None => Cow::Borrowed(s),
        }
    }

    /// True for collations that compare bytes as they are.
    pub fn is_binary(&self) -> bool {
        self.kind == Kind::Bytes
    }

    fn space_weight(&self) -> u32 {
        match self.kind {
            Kind::UnicodeCi => 0x0209,
            Kind::Latin1(t) => u32::from(t[usize::from(b' ')]),
            _ => u32::from(b' '),
        }
    }

    /// The one weight of ASCII character `c` when it has exactly one
    /// (ASCII is the same byte in every supported character set); `None`
    /// for a non-ASCII byte and for `unicode_ci`'s ignorable controls.
    #[inline]
    fn ascii_weight(&self, c: u8) -> Option<u32> {
        if !c.is_ascii() {
            return None;
        }
        match self.kind {
            Kind::Bytes => Some(u32::from(c)),
            Kind::Latin1(t) => Some(u32::from(t[usize::from(c)])),
            Kind::GeneralCi | Kind::AsciiCi => Some(u32::from(c.to_ascii_uppercase())),
            Kind::UnicodeCi => match UNICODE_CI_LATIN[usize::from(c)] {
                0 | 0xFFFF => None,
                w => Some(u32::from(w)),
            },
        }
    }

    /// The key of a string.
    pub fn key(&self, s: &[u8]) -> StrKey {
        let s = &*self.own(s);
        let mut weights = Vec::with_capacity(s.len());
        match self.kind {
            Kind::Bytes => weights.extend(s.iter().map(|&b| u32::from(b))),
            Kind::Latin1(t) => weights.extend(s.iter().map(|&b| u32::from(t[usize::from(b)]))),
            Kind::AsciiCi => weights.extend(s.iter().map(|&b| u32::from(b.to_ascii_uppercase()))),
            // ASCII (most keys) needs no table: its weights are the
            // upper-case letters (checked against the table in the tests).
            Kind::GeneralCi if s.is_ascii() => {
                weights.extend(s.iter().map(|&b| u32::from(b.to_ascii_uppercase())))
            }
            Kind::GeneralCi => for_each_char(s, |c| match c {
                Ok(cp) => weights.push(general_ci_weight(cp)),
                Err(b) => weights.push(INVALID_BASE + u32::from(b)),
            }),
            Kind::UnicodeCi => for_each_char(s, |c| match c {
                Ok(cp) => unicode_ci_weights(cp, &mut weights),
                Err(b) => weights.push(INVALID_BASE + u32::from(b)),
            }),
        }
        let space = self.pad.then(|| self.space_weight());
        if let Some(sp) = space {
            while weights.last() == Some(&sp) {
                weights.pop();
            }
        }
        StrKey { weights, space }
    }

    /// Compares two strings as their keys compare, without building the
    /// keys where the collation has one weight per character (everything
    /// but `unicode_ci`, whose expansions go through [`Collation::key`]):
    /// the weights are read in step and the first difference decides, so
    /// the merge's comparisons cost what the common prefix costs.
    ///
    /// Identical leading bytes (up to a character boundary) weigh the same
    /// in every supported collation and are skipped first; when the first
    /// characters after them are ASCII with different single weights, they
    /// decide without going further (random strings usually differ there).
    pub fn compare(&self, a: &[u8], b: &[u8]) -> Ordering {
        let (a, b) = after_common_prefix(a, b);
        if let (Some(&x), Some(&y)) = (a.first(), b.first()) {
            if let (Some(wx), Some(wy)) = (self.ascii_weight(x), self.ascii_weight(y)) {
                if wx != wy {
                    return wx.cmp(&wy);
                }
            }
        }
        if let Some(from) = self.input {
            return self.compare_converted(from, a, b);
        }
        let space = self.pad.then(|| self.space_weight());
        match self.kind {
            Kind::Bytes if !self.pad => a.cmp(b),
            Kind::Bytes => padded_cmp(bytes(a), bytes(b), space),
            Kind::Latin1(t) => padded_cmp(latin1(a, t), latin1(b, t), space),
            Kind::AsciiCi => padded_cmp(upper(a), upper(b), space),
            Kind::GeneralCi => {
                // ASCII bytes are whole characters weighing their upper
                // case: step over the common ASCII prefix, then compare
                // the rest by characters from that boundary.
                let same = a
                    .iter()
                    .zip(b)
                    .take_while(|(x, y)| x.is_ascii() && y.is_ascii() && x.eq_ignore_ascii_case(y))
                    .count();
                let (a, b) = (&a[same..], &b[same..]);
                match (a.first(), b.first()) {
                    (Some(x), Some(y)) if x.is_ascii() && y.is_ascii() => {
                        x.to_ascii_uppercase().cmp(&y.to_ascii_uppercase())
                    }
                    _ => padded_cmp(general_ci(a), general_ci(b), space),
                }
            }
            Kind::UnicodeCi => self.key(a).cmp(&self.key(b)),
        }
    }
}

impl Collation {
    /// [`Collation::compare`] of cells in character set `from`: identical
    /// leading characters weigh the same and are skipped, the rest is
    /// converted character by character as it is compared (no copy) where
    /// the collation has one weight per character.
    fn compare_converted(&self, from: Charset, a: &[u8], b: &[u8]) -> Ordering {
        let space = self.pad.then(|| self.space_weight());
        match (self.kind, from) {
            (Kind::Latin1(t), Charset::Utf8) => padded_cmp(
                utf8_as_latin1(a).map(|c| u32::from(t[usize::from(c)])),
                utf8_as_latin1(b).map(|c| u32::from(t[usize::from(c)])),
                space,
            ),
            (Kind::Bytes, Charset::Utf8) if self.charset == Charset::Latin1 => padded_cmp(
                utf8_as_latin1(a).map(u32::from),
                utf8_as_latin1(b).map(u32::from),
                space,
            ),
            (Kind::GeneralCi, Charset::Latin1) => padded_cmp(
                latin1_chars(a).map(|c| general_ci_weight(u32::from(c))),
                latin1_chars(b).map(|c| general_ci_weight(u32::from(c))),
                space,
            ),
            _ => {
                let (a, b) = (self.own(a), self.own(b));
                Collation {
                    input: None,
                    ..*self
                }
                .compare(&a, &b)
            }
        }
    }
}

/// `a` and `b` after their longest identical prefix that ends at a
/// character boundary (moved back over UTF-8 continuation bytes; in latin1
/// that only shortens the prefix). Identical characters weigh the same, and
/// no supported collation has contractions, so the rest compares as the
/// whole does.
fn after_common_prefix<'a, 'b>(a: &'a [u8], b: &'b [u8]) -> (&'a [u8], &'b [u8]) {
    let mut same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let continuation = |s: &[u8], i: usize| s.get(i).is_some_and(|c| c & 0xC0 == 0x80);
    while same > 0 && (continuation(a, same) || continuation(b, same)) {
        same -= 1;
    }
    (&a[same..], &b[same..])
}

fn bytes(s: &[u8]) -> impl Iterator<Item = u32> + '_ {
    s.iter().map(|&b| u32::from(b))
}

fn latin1<'a>(s: &'a [u8], table: &'static [u8; 256]) -> impl Iterator<Item = u32> + 'a {
    s.iter().map(move |&c| u32::from(table[usize::from(c)]))
}

fn upper(s: &[u8]) -> impl Iterator<Item = u32> + '_ {
    s.iter().map(|&b| u32::from(b.to_ascii_uppercase()))
}

/// The `general_ci` weights of a string, as [`Collation::key`] makes them.
fn general_ci(s: &[u8]) -> impl Iterator<Item = u32> + '_ {
    s.utf8_chunks().flat_map(|chunk| {
        let valid = chunk
            .valid()
            .chars()
            .map(|c| general_ci_weight(u32::from(c)));
        let invalid = chunk.invalid().iter().map(|&b| INVALID_BASE + u32::from(b));
        valid.chain(invalid)
    })
}

/// Compares two weight sequences as [`StrKey`] does: the shorter one is
/// extended with spaces for PAD SPACE collations (`space` is the space's
/// weight), and is smaller when the collation is NO PAD.
fn padded_cmp(
    mut a: impl Iterator<Item = u32>,
    mut b: impl Iterator<Item = u32>,
    space: Option<u32>,
) -> Ordering {
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => return x.cmp(&y),
            (None, None) => return Ordering::Equal,
            (Some(x), None) => {
                return match space {
                    None => Ordering::Greater,
                    Some(sp) => against_spaces(x, a, sp),
                }
            }
            (None, Some(y)) => {
                return match space {
                    None => Ordering::Less,
                    Some(sp) => against_spaces(y, b, sp).reverse(),
                }
            }
        }
    }
}

/// The rest of the longer string against spaces: its first non-space
/// weight decides.
fn against_spaces(first: u32, rest: impl Iterator<Item = u32>, space: u32) -> Ordering {
    std::iter::once(first)
        .chain(rest)
        .map(|w| w.cmp(&space))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Calls `f` with each character's code point, or `Err(byte)` for each
/// byte of an invalid sequence.
fn for_each_char(s: &[u8], mut f: impl FnMut(Result<u32, u8>)) {
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            f(Ok(u32::from(c)));
        }
        for &b in chunk.invalid() {
            f(Err(b));
        }
    }
}

fn general_ci_weight(cp: u32) -> u32 {
    let Ok(c) = u16::try_from(cp) else {
        return 0xFFFD;
    };
    match GENERAL_CI.binary_search_by_key(&c, |&(k, _)| k) {
        Ok(i) => u32::from(GENERAL_CI[i].1),
        Err(_) => cp,
    }
}

fn unicode_ci_weights(cp: u32, out: &mut Vec<u32>) {
    let table = match cp {
        0..=0x24F => UNICODE_CI_LATIN.get(cp as usize),
        0x2000..=0x206F => UNICODE_CI_PUNCT.get(cp as usize - 0x2000),
        _ => None,
    };
    match table.copied() {
        Some(0) => {}
        Some(0xFFFF) => {
            if let Ok(i) = UNICODE_CI_EXPANSIONS.binary_search_by_key(&(cp as u16), |&(k, _)| k) {
                out.extend(UNICODE_CI_EXPANSIONS[i].1.iter().map(|&w| u32::from(w)));
            }
        }
        Some(w) => out.push(u32::from(w)),
        None if cp > 0xFFFF => out.push(0xFFFD),
        None => {
            // UCA 4.0.0 implicit weights for CJK ideographs (allkeys
            // "derived collation elements"); other scripts approximated.
            let base = match cp {
                0x4E00..=0x9FA5 | 0xF900..=0xFA2D => Some(0xFB40),
                0x3400..=0x4DB5 => Some(0xFB80),
                _ => None,
            };
            match base {
                Some(b) => {
                    out.push(b + (cp >> 15));
                    out.push((cp & 0x7FFF) | 0x8000);
                }
                None => {
                    // Katakana weigh as Hiragana at the primary level.
                    let cp = if (0x30A1..=0x30F6).contains(&cp) {
                        cp - 0x60
                    } else {
                        cp
                    };
                    out.push(UCA_OTHER);
                    out.push(general_ci_weight(cp));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(id: u16, a: &str, b: &str) -> Ordering {
        Collation::from_id(id)
            .unwrap()
            .compare(a.as_bytes(), b.as_bytes())
    }

    #[test]
    fn cells_in_another_character_set_are_converted_first() {
        // A latin1_swedish_ci column read over a utf8mb4 connection: 'ü'
        // (C3 BC in UTF-8) weighs as latin1 0xFC does, like 'Y', so it
        // sorts after 'k'; read as latin1 bytes it would be 'Ã¼' ~ 'A'.
        let swedish_over_utf8 = Collation::from_id(8).unwrap().reading(45).unwrap();
        assert_eq!(
            swedish_over_utf8.compare("ü47".as_bytes(), b"k54"),
            Ordering::Greater
        );
        assert_eq!(
            swedish_over_utf8.key("ü47".as_bytes()),
            Collation::from_id(8).unwrap().key(b"\xfc47")
        );
        assert_eq!(
            cmp(8, "ü47", "k54"),
            Ordering::Less,
            "bytes taken as latin1"
        );
        // A utf8mb4_general_ci column read over a latin1 connection.
        let general_over_latin1 = Collation::from_id(45).unwrap().reading(8).unwrap();
        assert_eq!(
            general_over_latin1.compare(b"\xe9mile", b"Emile"),
            Ordering::Equal
        );
        assert_eq!(
            general_over_latin1.key(b"\xe9mile"),
            Collation::from_id(45).unwrap().key(b"EMILE")
        );
        // Same character set, or binary results: no conversion.
        let same = Collation::from_id(45).unwrap().reading(224).unwrap();
        assert_eq!(same, Collation::from_id(45).unwrap());
        assert_eq!(
            Collation::from_id(8).unwrap().reading(63),
            Collation::from_id(8)
        );
        // Results in a character set shardgate cannot read.
        assert_eq!(Collation::from_id(45).unwrap().reading(95), None);
    }

    #[test]
    fn converted_comparison_agrees_with_converted_keys() {
        let words = [
            "", " ", "a", "a ", "A", "ab", "ü", "üa", "Ü", "y", "Åsa", "ärlig", "ö", "€", "ß",
            "ss", "東", "a東", "é", "e", "ÿ", "\t", "a\t", "zz", "ü47", "ü48", "k54",
        ];
        for (coll, cells) in [
            (8u16, 45u16),
            (1032, 224),
            (47, 45),
            (48, 33),
            (45, 8),
            (224, 8),
            (11, 45),
        ] {
            let c = Collation::from_id(coll).unwrap().reading(cells).unwrap();
            let enc = |w: &str| -> Vec<u8> {
                if cells == 8 {
                    transcode(w.as_bytes(), Charset::Utf8, Charset::Latin1).into_owned()
                } else {
                    w.as_bytes().to_vec()
                }
            };
            for x in words {
                for y in words {
                    let (a, b) = (enc(x), enc(y));
                    assert_eq!(
                        c.compare(&a, &b),
                        c.key(&a).cmp(&c.key(&b)),
                        "collation {coll} over {cells}: {x:?} vs {y:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn general_ci_ascii_fast_path_equals_the_table() {
        for b in 0u8..0x80 {
            assert_eq!(
                general_ci_weight(u32::from(b)),
                u32::from(b.to_ascii_uppercase()),
                "byte {b:#x}"
            );
        }
    }

    #[test]
    fn general_ci_matches_mariadb() {
        use Ordering::*;
        // Each checked with MariaDB 10.11: `SELECT STRCMP('x' COLLATE ..., 'y')`.
        assert_eq!(cmp(45, "a", "A"), Equal);
        assert_eq!(cmp(45, "é", "E"), Equal);
        assert_eq!(cmp(45, "ß", "s"), Equal);
        assert_eq!(cmp(45, "a", "a  "), Equal);
        assert_eq!(cmp(45, "a\t", "a"), Less);
        assert_eq!(cmp(45, "a", "_"), Less);
        assert_eq!(cmp(45, "Zebra", "apple"), Greater);
        assert_eq!(cmp(45, "😀", "\u{FFFD}"), Equal);
        assert_eq!(cmp(1069, "a", "a "), Less);
        assert_eq!(cmp(45, "ÅNGSTRÖM", "angstrom"), Equal);
        let k = Collation::from_id(45).unwrap();
        assert_eq!(k.key(b"Abc  "), k.key(b"aBC"));
    }

    #[test]
    fn unicode_ci_matches_mariadb() {
        use Ordering::*;
        assert_eq!(cmp(224, "ß", "ss"), Equal);
        assert_eq!(cmp(224, "Æ", "ae"), Greater); // a letter of its own in UCA 4.0.0
        assert_eq!(cmp(224, "_", "a"), Less); // punctuation before letters
        assert_eq!(cmp(224, "9", "a"), Less);
        assert_eq!(cmp(224, "a\u{0001}b", "ab"), Equal); // ignorable control
        assert_eq!(cmp(224, "a\u{00A0}", "a"), Equal); // NBSP weighs like space
        assert_eq!(cmp(224, "α", "Α"), Equal);
        assert_eq!(cmp(224, "z", "α"), Less);
        assert_eq!(cmp(224, "я", "Я"), Equal);
        assert_eq!(cmp(224, "Ω", "一"), Less);
        assert_eq!(cmp(224, "…", "..."), Equal);
    }

    #[test]
    fn latin1_and_binary() {
        use Ordering::*;
        // latin1_swedish_ci: Å and Ä after Z, Ü = Y.
        let s = Collation::from_id(8).unwrap();
        assert_eq!(s.compare(&[0xC5], b"Z"), Greater);
        assert_eq!(s.compare(&[0xC5], &[0xE5]), Equal);
        assert_eq!(s.compare(b"abc ", b"ABC"), Equal);
        assert_eq!(cmp(11, "abc", "ABC"), Equal);
        assert_eq!(cmp(46, "a", "a "), Equal);
        assert_eq!(cmp(46, "a", "B"), Greater);
        assert_eq!(cmp(63, "a", "a "), Less);
        assert_eq!(cmp(1070, "a", "a "), Less);
        assert!(collation_supported(63) && collation_supported(45));
        assert_eq!(collation_id_by_name("UTF8MB4_BIN"), Some(46));
        assert_eq!(collation_id_by_name("utf8_general_ci"), Some(33));
        assert_eq!(collation_id_by_name("utf8mb4_unicode_520_ci"), None);
        for id in [
            8u16, 11, 33, 45, 46, 47, 48, 63, 65, 83, 192, 224, 1032, 1035, 1057, 1069, 1070, 1071,
            1089, 1107, 1216, 1248,
        ] {
            assert!(collation_supported(id), "{id}");
        }
        assert!(!collation_supported(255) && !collation_supported(2304));
        assert!(Collation::from_id(63).unwrap().is_binary());
    }

    #[test]
    fn invalid_utf8_sorts_last_and_never_panics() {
        let k = Collation::from_id(45).unwrap();
        assert_eq!(k.compare(&[0xff], b"z"), Ordering::Greater);
        assert_eq!(k.compare(&[b'a', 0xc3], &[b'a', 0xc3]), Ordering::Equal);
        let u = Collation::from_id(224).unwrap();
        for b in 0..=255u8 {
            let _ = u.key(&[b, 0x80, b]);
        }
    }

    /// The server's own ORDER BY of random strings (testdata file), one
    /// collation per section: adjacent rows compare as the server ranks them.
    #[test]
    fn orders_like_the_server() {
        let text = include_str!("testdata/collation_order.txt");
        let mut sections = 0;
        for section in text.split("\n= ").skip(1) {
            let mut lines = section.lines();
            let head = lines.next().unwrap();
            let id: u16 = head.split(' ').next().unwrap().parse().unwrap();
            let c = Collation::from_id(id).unwrap();
            let rows: Vec<(Vec<u8>, u32)> = lines
                .map(|l| {
                    let (h, r) = l.split_once(' ').unwrap();
                    let b = (0..h.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                        .collect();
                    (b, r.parse().unwrap())
                })
                .collect();
            assert!(rows.len() > 300, "{head}");
            for w in rows.windows(2) {
                assert_eq!(
                    c.compare(&w[0].0, &w[1].0),
                    w[0].1.cmp(&w[1].1),
                    "{head}: {:?} vs {:?}",
                    String::from_utf8_lossy(&w[0].0),
                    String::from_utf8_lossy(&w[1].0)
                );
            }
            sections += 1;
        }
        assert_eq!(sections, 6);
    }

    /// The lazy comparison and the keys agree on every collation, for
    /// strings with trailing spaces, tabs, invalid UTF-8 and multi-byte
    /// characters.
    #[test]
    fn compare_agrees_with_keys() {
        let words: &[&[u8]] = &[
            b"",
            b" ",
            b"a",
            b"a ",
            b"a  ",
            b"A",
            b"a\t",
            b"ab",
            b"a b",
            b"b",
            b"_",
            b"\xff",
            b"a\xc3",
            "é".as_bytes(),
            "E".as_bytes(),
            "ß".as_bytes(),
            "ss".as_bytes(),
            "Straße ".as_bytes(),
            "strasse".as_bytes(),
            "東京".as_bytes(),
            "😀".as_bytes(),
            &[0xC5],
            &[0xE5, b' '],
            b"Z",
        ];
        for id in [63, 46, 45, 1069, 224, 1248, 8, 1032, 48, 11, 1035] {
            let c = Collation::from_id(id).unwrap();
            for a in words {
                for b in words {
                    assert_eq!(
                        c.compare(a, b),
                        c.key(a).cmp(&c.key(b)),
                        "collation {id}: {a:?} vs {b:?}"
                    );
                }
            }
        }
    }

    /// Random strings sharing prefixes, over ASCII (cases, digits, spaces,
    /// UCA-ignorable controls), Latin-1 letters, expansions, CJK and invalid
    /// bytes: the prefix skip and the ASCII step agree with whole keys in
    /// every collation, read directly and converted.
    #[test]
    fn fast_comparison_agrees_with_keys_on_random_strings() {
        let pieces: [&[u8]; 16] = [
            b"a",
            b"A",
            b"b",
            b"0",
            b"9",
            b"-",
            b" ",
            b"\x01",
            b"\t",
            "é".as_bytes(),
            "É".as_bytes(),
            "ß".as_bytes(),
            "東".as_bytes(),
            b"\xc3",
            b"\xff",
            b"ss",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut words: Vec<Vec<u8>> = Vec::new();
        for _ in 0..300 {
            let mut w = match words.len() {
                0 => Vec::new(),
                n => {
                    let base = &words[next(n)];
                    base[..next(base.len() + 1)].to_vec()
                }
            };
            for _ in 0..next(5) {
                w.extend_from_slice(pieces[next(pieces.len())]);
            }
            words.push(w);
        }
        let settings = [
            (63, None),
            (46, None),
            (45, None),
            (1069, None),
            (224, None),
            (1248, None),
            (8, None),
            (1032, None),
            (48, None),
            (11, None),
            (8, Some(45)),
            (224, Some(8)),
            (45, Some(8)),
            (11, Some(45)),
        ];
        for (id, cells) in settings {
            let mut c = Collation::from_id(id).unwrap();
            if let Some(cells) = cells {
                c = c.reading(cells).unwrap();
            }
            for a in &words {
                for b in words.iter().step_by(7) {
                    assert_eq!(
                        c.compare(a, b),
                        c.key(a).cmp(&c.key(b)),
                        "collation {id} over {cells:?}: {a:?} vs {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn tables_are_sorted() {
        assert!(GENERAL_CI.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(UNICODE_CI_EXPANSIONS.windows(2).all(|w| w[0].0 < w[1].0));
        // every tabled weight is below the approximation band
        assert!(UNICODE_CI_LATIN
            .iter()
            .chain(&UNICODE_CI_PUNCT)
            .all(|&w| u32::from(w) < UCA_OTHER || w == 0xFFFF));
    }
}
