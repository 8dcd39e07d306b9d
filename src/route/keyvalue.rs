//! [`KeyValue`]: a shard-key value as the SQL text or a prepared statement
//! gave it, and the normalisation every rule applies before it hashes or
//! compares the value ([`KeyValue::canon`]).
//!
//! The planner builds key values from the parser's literals
//! ([`KeyValue::from_number_literal`], [`KeyValue::from_string`],
//! [`KeyValue::from_hex_literal`], [`KeyValue::from_bit_literal`], unary
//! minus with [`KeyValue::negated`]) or from `COM_STMT_EXECUTE` parameters
//! ([`KeyValue::from_value`]). A key value keeps the *form* it was written in
//! (a string stays a string): what the value means depends on the key
//! column's type, which the rules only know as a [`KeyType`].
//!
//! # Normalisation
//!
//! The aim: two values that MySQL considers equal for the key column route
//! to the same shard, and a row's shard is a function of its stored value.
//!
//! * Integers are exact: `Int` for `i64`, `UInt` only above `i64::MAX`.
//!   Number literals that are integers (`42.0`, `4.2e1`, `-0`) are integers.
//!   Everything else numeric (`42.5`, `1e30`) is a [`KeyValue::Number`] in
//!   canonical decimal text.
//! * [`KeyType::Integer`] (the key column is an integer column; every `range`
//!   rule): strings are read as numbers the way MySQL compares a string to an
//!   integer column (`'42'`, `' 42 '`, `'+42'`, `'42.0'`, `'4.2e1'` are 42);
//!   a string that is not a number (`'abc'`, `'42abc'`) is refused rather
//!   than read as MySQL would with a warning (`0`, `42`); `0x2A` is 42.
//! * [`KeyType::Auto`] (the column type is not known: `hash`, `bucket`
//!   rules): a string that reads completely as an integer (`'42'`, `'042'`,
//!   `' 42'`, `'42.0'`) is the integer 42, so `k = '42'` and `k = 42` agree
//!   on an integer column; on a string column this only puts `'042'` next to
//!   `'42'`, which is harmless. A date-like string (`'2024-1-5'`,
//!   `'2024-01-05 00:00:00'`) is its canonical text `'2024-01-05'` (time part
//!   only when not midnight, fraction without trailing zeros), the same text
//!   a binary-protocol DATE/DATETIME gets. Any other string is its bytes,
//!   compared and hashed exactly: keys compare as bytes, so a key column
//!   with a case-insensitive or PAD SPACE collation must be written
//!   consistently by the application (`'Abc'` and `'abc'` may be on
//!   different shards). `0x2A` is ambiguous (42 for an integer column, `'*'`
//!   for a string column) and is refused as an INSERT key.
//! * [`KeyType::Text`] (the key column is a string column: CHAR, VARCHAR,
//!   BINARY, TEXT, BLOB; `hash` and `bucket` rules learn it from the
//!   table's columns): a string is its bytes, exactly, whatever it looks
//!   like (`'042'` and `'42'` are two keys, placed by `CRC32('042')` and
//!   `CRC32('42')`), so placement is what `CRC32(k)` says in SQL.
//!   [`KeyType::PaddedText`] (CHAR/VARCHAR/TEXT with a PAD SPACE collation,
//!   MariaDB's default) drops trailing spaces first, as the column's
//!   comparisons do (`'ab' = 'ab '`): both spellings find the same row.
//!   An integer is the text MariaDB stores for it (`42` -> `'42'`); hex and bit
//!   literals are binary strings. A number compared with a string column
//!   is a *numeric* comparison that matches many strings (`'42'`, `' 42'`,
//!   `'42abc'`), so the rules give it every shard in WHERE (see
//!   `rules.rs`); a fraction is refused as an INSERT key (write it quoted).
//! * [`KeyType::Date`] / [`KeyType::DateTime`] (`hash` and `bucket` rules
//!   whose key column is a DATE, DATETIME or TIMESTAMP): a value is the text
//!   the column stores, `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS[.f]` with the
//!   column's fractional digits (a date alone is midnight, a longer
//!   fraction is truncated, a DATE drops the time), read from
//!   `'YYYY-M-D[ H:M:S[.f]]'` strings, `YYYYMMDD[HHMMSS]` integers and
//!   binary-protocol values; anything else is [`Canon::NotTemporal`].
//! * `lookup` rules do not normalise at all: the directory table's server
//!   compares the key as written, with the column's own type and collation.
//! * NULL: an INSERT with a NULL key is an error ("shard key cannot be
//!   NULL"); in a WHERE clause `k = NULL` (and `IN (NULL)`, and a NULL range
//!   bound) matches no row, so it adds no shard — see `rules.rs`.
//!
//! Known limit of `Auto` (a table whose columns could not be read, or a
//! key column of another type: DATE, DECIMAL, ...): on a string column,
//! `k = 42` would be a numeric comparison that also matches rows such as
//! `'42abc'`, hashed by their bytes elsewhere; `hash` and `bucket` rules
//! read the key column's type first, so string columns get `Text`.

use std::borrow::Cow;
use std::fmt;

use shardgate_proto::value::Value;

/// What the rules know of the key column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// An integer column (`range` rules: the ranges are integers).
    Integer,
    /// Not known: integer-like values are integers, other values are bytes.
    Auto,
    /// A binary string column (BINARY, VARBINARY, BLOB) or one with a NO
    /// PAD collation: strings are their exact bytes.
    Text,
    /// A character string column (CHAR, VARCHAR, TEXT) with a PAD SPACE
    /// collation, MariaDB's default: trailing spaces do not count in
    /// comparisons (`'ab' = 'ab '`, and CHAR stores neither), so a string
    /// is its bytes without them.
    PaddedText,
    /// A DATE column: a value is the text the column stores, `YYYY-MM-DD`
    /// (what `CRC32(k)` hashes in SQL).
    Date,
    /// A DATETIME or TIMESTAMP column with this many fractional digits
    /// (0-6): a value is `YYYY-MM-DD HH:MM:SS[.fff]`, as the column stores
    /// it.
    DateTime(u8),
}

impl KeyType {
    /// Whether the key column is a string column.
    pub fn is_text(self) -> bool {
        matches!(self, KeyType::Text | KeyType::PaddedText)
    }

    /// The key type of a column from its `information_schema` COLUMN_TYPE
    /// (`bigint(20) unsigned`, `varchar(64)`, `date`) and COLLATION_NAME
    /// (NULL for non-strings): integer columns are `Integer`, binary
    /// strings and NO PAD collations `Text`, other character strings
    /// `PaddedText`, anything else `Auto`.
    pub fn of_column(column_type: &[u8], collation: Option<&[u8]>) -> KeyType {
        match KeyType::of_column_type(column_type) {
            KeyType::Text
                if collation
                    .is_some_and(|c| !c.eq_ignore_ascii_case(b"binary") && !contains_nopad(c)) =>
            {
                KeyType::PaddedText
            }
            t => t,
        }
    }

    /// The key type of a column from its COLUMN_TYPE alone: string columns
    /// are `Text` (see [`KeyType::of_column`] for the padding).
    pub fn of_column_type(column_type: &[u8]) -> KeyType {
        let end = column_type
            .iter()
            .position(|c| !c.is_ascii_alphabetic())
            .unwrap_or(column_type.len());
        let word = column_type[..end].to_ascii_lowercase();
        match word.as_slice() {
            b"tinyint" | b"smallint" | b"mediumint" | b"int" | b"integer" | b"bigint" => {
                KeyType::Integer
            }
            b"char" | b"varchar" | b"binary" | b"varbinary" | b"tinytext" | b"text"
            | b"mediumtext" | b"longtext" | b"tinyblob" | b"blob" | b"mediumblob" | b"longblob" => {
                KeyType::Text
            }
            b"date" => KeyType::Date,
            b"datetime" | b"timestamp" => {
                // `datetime(3)`: the fractional digits the column keeps.
                let digits = column_type[end..]
                    .strip_prefix(b"(")
                    .and_then(|r| r.first())
                    .filter(|c| (b'0'..=b'6').contains(c))
                    .map_or(0, |c| c - b'0');
                KeyType::DateTime(digits)
            }
            _ => KeyType::Auto,
        }
    }
}

/// Whether a collation name is a NO PAD one (`utf8mb4_nopad_bin`,
/// `latin1_general_nopad_ci`, `utf8mb4_uca1400_..._nopad_...`).
fn contains_nopad(collation: &[u8]) -> bool {
    collation
        .windows(5)
        .any(|w| w.eq_ignore_ascii_case(b"nopad"))
}

/// `b` without its trailing spaces (PAD SPACE comparison ignores them).
fn trim_spaces(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    &b[..end]
}

/// One shard-key value, in the form SQL gave it. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyValue {
    Null,
    /// Any integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX` (constructors keep smaller ones `Int`).
    UInt(u64),
    /// A number that is not a 64-bit integer (it has a fraction, or it is
    /// too large), as canonical decimal text: `-12.5`, `0.25`,
    /// `100000000000000000000`.
    Number(Box<str>),
    /// String bytes (in the connection's character set), unescaped; also
    /// `X'..'` literals, dates and times from the binary protocol (as their
    /// canonical text).
    Str(Box<[u8]>),
    /// `0x2A` or `b'101010'`: a number in numeric context, a binary string
    /// in string context. Big-endian bytes.
    HexNum(Box<[u8]>),
}

/// A key value normalised for one [`KeyType`]: what the rules hash and
/// compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canon<'a> {
    Null,
    /// An integer in `i64::MIN..=u64::MAX`.
    Int(i128),
    /// A number with a fraction: strictly between `floor` and `floor + 1`.
    /// `floor` is within the 64-bit range.
    Frac {
        floor: i128,
    },
    /// A number beyond the 64-bit range; `true` when negative.
    Big(bool),
    /// Bytes, hashed and compared exactly.
    Bytes(Cow<'a, [u8]>),
    /// `KeyType::Auto` only: a hex/bit number that is an integer or a
    /// string depending on the column.
    Ambiguous,
    /// `KeyType::Integer` only: a string that is not a number.
    NotNumber,
    /// `KeyType::Date` / `DateTime` only: a value shardgate cannot read as
    /// the date or time the column would store (MariaDB accepts more
    /// spellings than `YYYY-M-D[ H:M:S[.f]]` and `YYYYMMDD[HHMMSS]`).
    NotTemporal,
}

impl KeyValue {
    /// An unsigned integer (`Int` when it fits `i64`).
    pub fn from_u64(v: u64) -> KeyValue {
        match i64::try_from(v) {
            Ok(i) => KeyValue::Int(i),
            Err(_) => KeyValue::UInt(v),
        }
    }

    /// A string literal's value (already unescaped, see
    /// `sql::string_value`) or a string parameter's bytes.
    pub fn from_string(bytes: &[u8]) -> KeyValue {
        KeyValue::Str(bytes.into())
    }

    /// The text of an Integer, Decimal or Float token (`42`, `4.2`, `.5`,
    /// `4e2`); `None` when it is not a number.
    pub fn from_number_literal(text: &[u8]) -> Option<KeyValue> {
        Some(Dec::parse(text)?.into_key())
    }

    /// `X'4142'` / `x'4142'` (a binary string: [`KeyValue::Str`]) or
    /// `0x4142` (a hex number: [`KeyValue::HexNum`]). `None` when malformed.
    pub fn from_hex_literal(text: &[u8]) -> Option<KeyValue> {
        match text {
            [b'x' | b'X', b'\'', inner @ .., b'\''] => {
                if inner.len() % 2 != 0 {
                    return None;
                }
                Some(KeyValue::Str(hex_bytes(inner)?.into()))
            }
            [b'0', b'x', digits @ ..] if !digits.is_empty() => {
                Some(KeyValue::HexNum(hex_bytes(digits)?.into()))
            }
            _ => None,
        }
    }

    /// `b'0101'` / `B'0101'` / `0b0101`: a bit literal, like a hex number.
    /// `None` when malformed.
    pub fn from_bit_literal(text: &[u8]) -> Option<KeyValue> {
        let digits = match text {
            [b'b' | b'B', b'\'', inner @ .., b'\''] => inner,
            [b'0', b'b', digits @ ..] if !digits.is_empty() => digits,
            _ => return None,
        };
        if !digits.iter().all(|&d| d == b'0' || d == b'1') {
            return None;
        }
        let nbytes = digits.len().div_ceil(8);
        let mut out = vec![0u8; nbytes];
        let pad = nbytes * 8 - digits.len();
        for (i, &d) in digits.iter().enumerate() {
            if d == b'1' {
                let bit = pad + i;
                if let Some(b) = out.get_mut(bit / 8) {
                    *b |= 0x80 >> (bit % 8);
                }
            }
        }
        Some(KeyValue::HexNum(out.into()))
    }

    /// A `COM_STMT_EXECUTE` parameter. Strings (and DECIMAL text, which
    /// drivers send as a string) are strings; floats that are integers are
    /// integers; dates and times are their canonical text (`2024-01-05`,
    /// `2024-01-05 10:00:00.5`, `-26:00:00`).
    pub fn from_value(v: &Value<'_>) -> KeyValue {
        match *v {
            Value::Null => KeyValue::Null,
            Value::Int(i) => KeyValue::Int(i),
            Value::UInt(u) => KeyValue::from_u64(u),
            Value::Float(f) => float_key(f64::from(f)),
            Value::Double(f) => float_key(f),
            Value::Bytes(b) => KeyValue::Str(b.into()),
            Value::Date {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            } => KeyValue::Str(
                date_text(
                    u32::from(year),
                    u32::from(month),
                    u32::from(day),
                    (u32::from(hour), u32::from(minute), u32::from(second)),
                    micros,
                )
                .into_bytes()
                .into(),
            ),
            Value::Time {
                negative,
                days,
                hours,
                minutes,
                seconds,
                micros,
            } => {
                let total = u64::from(days) * 24 + u64::from(hours);
                let sign = if negative { "-" } else { "" };
                let mut s = format!("{sign}{total:02}:{minutes:02}:{seconds:02}");
                push_micros(&mut s, micros);
                KeyValue::Str(s.into_bytes().into())
            }
        }
    }

    /// `-v` for a number (the tokenizer gives `-5` as minus then `5`);
    /// `None` for strings, hex numbers and NULL.
    pub fn negated(&self) -> Option<KeyValue> {
        Some(match self {
            KeyValue::Int(i) => match i.checked_neg() {
                Some(n) => KeyValue::Int(n),
                None => KeyValue::UInt(1 << 63),
            },
            KeyValue::UInt(u) => {
                if *u == 1u64 << 63 {
                    KeyValue::Int(i64::MIN)
                } else {
                    KeyValue::Number(format!("-{u}").into())
                }
            }
            KeyValue::Number(t) => match t.strip_prefix('-') {
                Some(pos) => Dec::parse(pos.as_bytes())?.into_key(),
                None => KeyValue::Number(format!("-{t}").into()),
            },
            KeyValue::Null | KeyValue::Str(_) | KeyValue::HexNum(_) => return None,
        })
    }

    pub fn is_null(&self) -> bool {
        matches!(self, KeyValue::Null)
    }

    /// Whether the value was written as a number (integer, decimal, float):
    /// its comparisons with any column are numeric.
    pub fn is_numeric_literal(&self) -> bool {
        matches!(
            self,
            KeyValue::Int(_) | KeyValue::UInt(_) | KeyValue::Number(_)
        )
    }

    /// The value normalised for a column of type `ty` (see the module docs).
    pub fn canon(&self, ty: KeyType) -> Canon<'_> {
        match ty {
            KeyType::Text => return self.canon_text(),
            KeyType::PaddedText => {
                return match self.canon_text() {
                    Canon::Bytes(Cow::Borrowed(b)) => Canon::Bytes(Cow::Borrowed(trim_spaces(b))),
                    Canon::Bytes(Cow::Owned(mut b)) => {
                        b.truncate(trim_spaces(&b).len());
                        Canon::Bytes(Cow::Owned(b))
                    }
                    other => other,
                };
            }
            KeyType::Date => return self.canon_temporal(None),
            KeyType::DateTime(digits) => return self.canon_temporal(Some(digits)),
            KeyType::Integer | KeyType::Auto => {}
        }
        match self {
            KeyValue::Null => Canon::Null,
            KeyValue::Int(i) => Canon::Int(i128::from(*i)),
            KeyValue::UInt(u) => Canon::Int(i128::from(*u)),
            KeyValue::Number(t) => match Dec::parse(t.as_bytes()) {
                Some(d) => d.canon(),
                None => Canon::NotNumber,
            },
            KeyValue::Str(b) => {
                let num = Dec::parse(b);
                match ty {
                    KeyType::Integer => num.map_or(Canon::NotNumber, |d| d.canon()),
                    // (Text, PaddedText, Date and DateTime returned above.)
                    _ => match num.map(|d| d.canon()) {
                        Some(Canon::Int(i)) => Canon::Int(i),
                        _ => match canonical_date(b) {
                            Some(d) => Canon::Bytes(Cow::Owned(d.into_bytes())),
                            None => Canon::Bytes(Cow::Borrowed(b)),
                        },
                    },
                }
            }
            KeyValue::HexNum(b) => match ty {
                KeyType::Auto
                | KeyType::Text
                | KeyType::PaddedText
                | KeyType::Date
                | KeyType::DateTime(_) => Canon::Ambiguous,
                KeyType::Integer => {
                    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                    let sig = &b[first..];
                    if sig.len() > 8 {
                        Canon::Big(false)
                    } else {
                        let v = sig.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
                        Canon::Int(i128::from(v))
                    }
                }
            },
        }
    }

    /// [`KeyValue::canon`] for a DATE column (`digits` `None`) or a
    /// DATETIME/TIMESTAMP column keeping `digits` fractional digits: the
    /// text the column stores for the value, so that placement is what
    /// `CRC32(k)` says in SQL and `'2024-1-5'`, `20240105` and a binary
    /// DATE find the same shard. A DATE drops a time part (as storing it
    /// does); a DATETIME gets midnight for a date alone and its fraction
    /// truncated to the column's digits.
    fn canon_temporal(&self, digits: Option<u8>) -> Canon<'_> {
        let parts = match self {
            KeyValue::Null => return Canon::Null,
            KeyValue::Str(b) => parse_temporal(b),
            KeyValue::Int(i) => temporal_of_number(*i),
            KeyValue::UInt(_) | KeyValue::Number(_) | KeyValue::HexNum(_) => None,
        };
        let Some(t) = parts else {
            return Canon::NotTemporal;
        };
        let mut text = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
        if let Some(digits) = digits {
            text.push_str(&format!(" {:02}:{:02}:{:02}", t.hour, t.minute, t.second));
            if digits > 0 {
                let frac = format!("{:06}", t.micros);
                text.push('.');
                text.push_str(&frac[..usize::from(digits.min(6))]);
            }
        }
        Canon::Bytes(Cow::Owned(text.into_bytes()))
    }

    /// [`KeyValue::canon`] for a string column: the bytes it stores.
    fn canon_text(&self) -> Canon<'_> {
        match self {
            KeyValue::Null => Canon::Null,
            KeyValue::Int(i) => Canon::Bytes(Cow::Owned(i.to_string().into_bytes())),
            KeyValue::UInt(u) => Canon::Bytes(Cow::Owned(u.to_string().into_bytes())),
            // `1.50` is stored as '1.50', `1.5e0` as '1.5': the literal's
            // text decides, which the canonical form has lost.
            KeyValue::Number(_) => Canon::Ambiguous,
            KeyValue::Str(b) | KeyValue::HexNum(b) => Canon::Bytes(Cow::Borrowed(b)),
        }
    }

    /// Bytes that identify the value *as written* (a tag then the value):
    /// equal for equal `KeyValue`s, different across forms (`42` vs `'42'`).
    /// The lookup cache key.
    pub fn raw_key(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        match self {
            KeyValue::Null => out.push(b'0'),
            KeyValue::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
            }
            KeyValue::UInt(u) => {
                out.push(b'i');
                out.extend_from_slice(u.to_string().as_bytes());
            }
            KeyValue::Number(t) => {
                out.push(b'n');
                out.extend_from_slice(t.as_bytes());
            }
            KeyValue::Str(b) => {
                out.push(b's');
                out.extend_from_slice(b);
            }
            KeyValue::HexNum(b) => {
                out.push(b'x');
                out.extend_from_slice(b);
            }
        }
        out
    }
}

/// SQL-like and short: `42`, `'abc'`, `0x2a`, `NULL`; long strings are cut.
impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        match self {
            KeyValue::Null => f.write_str("NULL"),
            KeyValue::Int(i) => write!(f, "{i}"),
            KeyValue::UInt(u) => write!(f, "{u}"),
            KeyValue::Number(t) => f.write_str(t),
            KeyValue::Str(b) => {
                let s = String::from_utf8_lossy(b);
                let cut: String = s.chars().take(MAX).collect();
                let more = if s.chars().count() > MAX { "..." } else { "" };
                write!(f, "'{}{more}'", cut.replace('\'', "''"))
            }
            KeyValue::HexNum(b) => {
                f.write_str("0x")?;
                for x in b.iter().take(MAX / 2) {
                    write!(f, "{x:02x}")?;
                }
                if b.len() > MAX / 2 {
                    f.write_str("...")?;
                }
                Ok(())
            }
        }
    }
}

impl From<i64> for KeyValue {
    fn from(v: i64) -> Self {
        KeyValue::Int(v)
    }
}

impl From<u64> for KeyValue {
    fn from(v: u64) -> Self {
        KeyValue::from_u64(v)
    }
}

impl From<&str> for KeyValue {
    fn from(v: &str) -> Self {
        KeyValue::from_string(v.as_bytes())
    }
}

fn float_key(f: f64) -> KeyValue {
    if !f.is_finite() {
        // Not a number MySQL can store; no key matches it.
        return KeyValue::Number(format!("{f}").into());
    }
    // `{}` prints the shortest text that reads back exactly, without exponent.
    let text = format!("{f}");
    KeyValue::from_number_literal(text.as_bytes()).unwrap_or(KeyValue::Number(text.into()))
}

fn hex_bytes(digits: &[u8]) -> Option<Vec<u8>> {
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(digits.len().div_ceil(2));
    // An odd number of digits (0x abc) has an implied leading zero.
    let (first, rest) = if digits.len() % 2 == 1 {
        (Some(digits.first()?), &digits[1..])
    } else {
        (None, digits)
    };
    if let Some(&d) = first {
        out.push(nib(d)?);
    }
    for pair in rest.chunks_exact(2) {
        out.push((nib(pair[0])? << 4) | nib(pair[1])?);
    }
    Some(out)
}

/// Exponents beyond this make the number "big" (or a fraction near 0)
/// without expanding it digit by digit.
const MAX_EXP: i64 = 400;
/// More integer digits than this is beyond the 64-bit range for sure.
const MAX_INT_DIGITS: usize = 20;

/// An exact decimal number: `-`? `int`.`frac`, no leading zeros in `int`,
/// no trailing zeros in `frac`, never negative zero.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dec {
    neg: bool,
    int: Vec<u8>,
    frac: Vec<u8>,
}

impl Dec {
    /// Reads the whole of `text` as MySQL reads a number out of a string:
    /// optional spaces, sign, digits, fraction, exponent, optional spaces.
    fn parse(text: &[u8]) -> Option<Dec> {
        let t = trim_ascii(text);
        let (neg, t) = match t.first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let int_len = t.iter().take_while(|c| c.is_ascii_digit()).count();
        let (int_part, mut rest) = t.split_at(int_len);
        let mut frac_part: &[u8] = &[];
        if rest.first() == Some(&b'.') {
            let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            frac_part = &rest[1..1 + n];
            rest = &rest[1 + n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let mut exp: i64 = 0;
        if let Some(b'e' | b'E') = rest.first() {
            let mut e = &rest[1..];
            let eneg = match e.first() {
                Some(b'-') => {
                    e = &e[1..];
                    true
                }
                Some(b'+') => {
                    e = &e[1..];
                    false
                }
                _ => false,
            };
            let n = e.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            for &c in &e[..n] {
                exp = (exp * 10 + i64::from(c - b'0')).min(MAX_EXP * 10);
            }
            if eneg {
                exp = -exp;
            }
            rest = &e[n..];
        }
        if !rest.is_empty() {
            return None;
        }
        // All significant digits, and where the point goes.
        let mut digits: Vec<u8> = int_part.iter().chain(frac_part).copied().collect();
        let mut point = int_part.len() as i64 + exp;
        let lead = digits.iter().take_while(|&&c| c == b'0').count();
        digits.drain(..lead);
        point -= lead as i64;
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        if digits.is_empty() {
            return Some(Dec {
                neg: false,
                int: Vec::new(),
                frac: Vec::new(),
            });
        }
        if point > MAX_EXP {
            // Huge: keep just enough integer digits to be "big".
            let mut int = digits;
            int.resize(MAX_EXP as usize, b'0');
            return Some(Dec {
                neg,
                int,
                frac: Vec::new(),
            });
        }
        if point < -MAX_EXP {
            // Tiny but not zero.
            let mut frac = vec![b'0'; MAX_EXP as usize];
            frac.push(b'1');
            return Some(Dec {
                neg,
                int: Vec::new(),
                frac,
            });
        }
        let (int, frac) = if point <= 0 {
            let mut f = vec![b'0'; (-point) as usize];
            f.extend_from_slice(&digits);
            (Vec::new(), f)
        } else if point as usize >= digits.len() {
            let mut i = digits;
            i.resize(point as usize, b'0');
            (i, Vec::new())
        } else {
            let f = digits.split_off(point as usize);
            (digits, f)
        };
        Some(Dec { neg, int, frac })
    }

    /// The integer part as i128, `None` beyond the 64-bit range.
    fn int_value(&self) -> Option<i128> {
        if self.int.len() > MAX_INT_DIGITS {
            return None;
        }
        let mut v: i128 = 0;
        for &c in &self.int {
            v = v * 10 + i128::from(c - b'0');
        }
        let v = if self.neg { -v } else { v };
        (i128::from(i64::MIN)..=i128::from(u64::MAX))
            .contains(&v)
            .then_some(v)
    }

    fn canon(&self) -> Canon<'static> {
        match self.int_value() {
            None => Canon::Big(self.neg),
            Some(v) if self.frac.is_empty() => Canon::Int(v),
            Some(v) => {
                // Strictly between floor and floor + 1.
                let floor = if self.neg { v - 1 } else { v };
                if floor < i128::from(i64::MIN) {
                    Canon::Big(true)
                } else {
                    Canon::Frac { floor }
                }
            }
        }
    }

    fn into_key(self) -> KeyValue {
        match self.canon() {
            Canon::Int(v) => match i64::try_from(v) {
                Ok(i) => KeyValue::Int(i),
                Err(_) => KeyValue::UInt(v as u64),
            },
            _ => KeyValue::Number(self.text().into()),
        }
    }

    fn text(&self) -> String {
        let mut s = String::with_capacity(self.int.len() + self.frac.len() + 3);
        if self.neg {
            s.push('-');
        }
        if self.int.is_empty() {
            s.push('0');
        } else {
            s.extend(self.int.iter().map(|&c| c as char));
        }
        if !self.frac.is_empty() {
            s.push('.');
            s.extend(self.frac.iter().map(|&c| c as char));
        }
        s
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    b.get(start..end).unwrap_or_default()
}

fn push_micros(s: &mut String, micros: u32) {
    if micros != 0 {
        let f = format!("{micros:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
}

fn date_text(y: u32, m: u32, d: u32, (hh, mi, ss): (u32, u32, u32), micros: u32) -> String {
    let mut s = format!("{y:04}-{m:02}-{d:02}");
    if hh != 0 || mi != 0 || ss != 0 || micros != 0 {
        s.push_str(&format!(" {hh:02}:{mi:02}:{ss:02}"));
        push_micros(&mut s, micros);
    }
    s
}

/// The parts of a date and time value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Temporal {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
}

/// `YYYY-M-D` with an optional `[ T]H:M:S[.ffffff]` (surrounding blanks
/// allowed); `None` for anything else.
fn parse_temporal(b: &[u8]) -> Option<Temporal> {
    temporal_parts(trim_ascii(b))
}

/// A number as MariaDB reads it for a date or datetime column:
/// `YYYYMMDD` or `YYYYMMDDHHMMSS` (other digit counts are not taken).
fn temporal_of_number(v: i64) -> Option<Temporal> {
    let digits = v.checked_ilog10().map_or(1, |l| l + 1);
    let v = u64::try_from(v).ok()?;
    let (date, time) = match digits {
        8 => (v, 0),
        14 => (v / 1_000_000, v % 1_000_000),
        _ => return None,
    };
    let t = Temporal {
        year: (date / 10_000) as u32,
        month: (date / 100 % 100) as u32,
        day: (date % 100) as u32,
        hour: (time / 10_000) as u32,
        minute: (time / 100 % 100) as u32,
        second: (time % 100) as u32,
        micros: 0,
    };
    let valid = (1..=12).contains(&t.month)
        && (1..=31).contains(&t.day)
        && t.hour < 24
        && t.minute < 60
        && t.second < 60;
    valid.then_some(t)
}

/// `YYYY-M-D` with an optional `[ T]H:M:S[.ffffff]`, in canonical form;
/// `None` for anything else.
fn canonical_date(b: &[u8]) -> Option<String> {
    let t = temporal_parts(b)?;
    Some(date_text(
        t.year,
        t.month,
        t.day,
        (t.hour, t.minute, t.second),
        t.micros,
    ))
}

/// The parts of `YYYY-M-D` with an optional `[ T]H:M:S[.ffffff]`; `None`
/// for anything else.
fn temporal_parts(b: &[u8]) -> Option<Temporal> {
    fn num(b: &[u8], max_len: usize) -> Option<(u32, &[u8])> {
        let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > max_len {
            return None;
        }
        let v = b[..n]
            .iter()
            .fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'));
        Some((v, &b[n..]))
    }
    fn sep(b: &[u8], c: u8) -> Option<&[u8]> {
        (b.first() == Some(&c)).then(|| &b[1..])
    }
    let (y, r) = num(b, 4)?;
    if b.iter().take_while(|c| c.is_ascii_digit()).count() != 4 {
        return None;
    }
    let (m, r) = num(sep(r, b'-')?, 2)?;
    let (d, r) = num(sep(r, b'-')?, 2)?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let date = |(hour, minute, second), micros| Temporal {
        year: y,
        month: m,
        day: d,
        hour,
        minute,
        second,
        micros,
    };
    if r.is_empty() {
        return Some(date((0, 0, 0), 0));
    }
    let r = match r.first() {
        Some(b' ' | b'T') => &r[1..],
        _ => return None,
    };
    let (hh, r) = num(r, 2)?;
    let (mi, r) = num(sep(r, b':')?, 2)?;
    let (ss, r) = num(sep(r, b':')?, 2)?;
    if hh > 23 || mi > 59 || ss > 59 {
        return None;
    }
    let micros = if r.is_empty() {
        0
    } else {
        let f = sep(r, b'.')?;
        if f.is_empty() || f.len() > 6 || !f.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let v = f.iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'));
        v * 10u32.pow(6 - f.len() as u32)
    };
    Some(date((hh, mi, ss), micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(t: &str) -> KeyValue {
        KeyValue::from_number_literal(t.as_bytes()).unwrap()
    }

    fn s(t: &str) -> KeyValue {
        KeyValue::from_string(t.as_bytes())
    }

    #[test]
    fn number_literals_normalise() {
        assert_eq!(num("42"), KeyValue::Int(42));
        assert_eq!(num("42.0"), KeyValue::Int(42));
        assert_eq!(num("4.2e1"), KeyValue::Int(42));
        assert_eq!(num("420e-1"), KeyValue::Int(42));
        assert_eq!(num("0042"), KeyValue::Int(42));
        assert_eq!(num("0.0"), KeyValue::Int(0));
        assert_eq!(num(".5"), KeyValue::Number("0.5".into()));
        assert_eq!(num("4."), KeyValue::Int(4));
        assert_eq!(num("42.50"), KeyValue::Number("42.5".into()));
        assert_eq!(num("9223372036854775807"), KeyValue::Int(i64::MAX));
        assert_eq!(
            num("9223372036854775808"),
            KeyValue::UInt(9_223_372_036_854_775_808)
        );
        assert_eq!(num("18446744073709551615"), KeyValue::UInt(u64::MAX));
        assert_eq!(
            num("18446744073709551616"),
            KeyValue::Number("18446744073709551616".into())
        );
        assert_eq!(num("1e2"), KeyValue::Int(100));
        assert_eq!(num("1e-2"), KeyValue::Number("0.01".into()));
        assert!(matches!(num("1e99999999"), KeyValue::Number(_)));
        assert!(matches!(num("1e-99999999"), KeyValue::Number(_)));
        assert_eq!(KeyValue::from_number_literal(b"abc"), None);
        assert_eq!(KeyValue::from_number_literal(b"1e"), None);
        assert_eq!(KeyValue::from_number_literal(b"."), None);
        assert_eq!(KeyValue::from_number_literal(b""), None);
    }

    #[test]
    fn negation() {
        assert_eq!(num("5").negated(), Some(KeyValue::Int(-5)));
        assert_eq!(
            num("9223372036854775808").negated(),
            Some(KeyValue::Int(i64::MIN))
        );
        assert_eq!(
            KeyValue::Int(i64::MIN).negated(),
            Some(KeyValue::UInt(1 << 63))
        );
        assert_eq!(num("2.5").negated(), Some(KeyValue::Number("-2.5".into())));
        assert_eq!(
            KeyValue::Number("-2.5".into()).negated(),
            Some(KeyValue::Number("2.5".into()))
        );
        assert_eq!(
            num("18446744073709551615").negated(),
            Some(KeyValue::Number("-18446744073709551615".into()))
        );
        assert_eq!(s("5").negated(), None);
        assert_eq!(KeyValue::Null.negated(), None);
        assert_eq!(num("0").negated(), Some(KeyValue::Int(0)));
    }

    #[test]
    fn strings_under_integer_type() {
        let t = KeyType::Integer;
        for text in ["42", " 42", "42 ", "+42", "042", "42.0", "4.2e1", "\t42\n"] {
            assert_eq!(s(text).canon(t), Canon::Int(42), "{text:?}");
        }
        assert_eq!(s("-42").canon(t), Canon::Int(-42));
        assert_eq!(s("42.5").canon(t), Canon::Frac { floor: 42 });
        assert_eq!(s("-42.5").canon(t), Canon::Frac { floor: -43 });
        assert_eq!(s("-0.5").canon(t), Canon::Frac { floor: -1 });
        assert_eq!(s("abc").canon(t), Canon::NotNumber);
        assert_eq!(s("42abc").canon(t), Canon::NotNumber);
        assert_eq!(s("").canon(t), Canon::NotNumber);
        assert_eq!(s("1e30").canon(t), Canon::Big(false));
        assert_eq!(s("-1e30").canon(t), Canon::Big(true));
        assert_eq!(
            s("18446744073709551615").canon(t),
            Canon::Int(u64::MAX.into())
        );
        assert_eq!(s("18446744073709551616").canon(t), Canon::Big(false));
        assert_eq!(s("-9223372036854775809").canon(t), Canon::Big(true));
        assert_eq!(s("-9223372036854775808.5").canon(t), Canon::Big(true));
        assert_eq!(
            s("-9223372036854775807.5").canon(t),
            Canon::Frac {
                floor: i128::from(i64::MIN)
            }
        );
    }

    #[test]
    fn strings_under_auto_type() {
        let t = KeyType::Auto;
        assert_eq!(s("42").canon(t), Canon::Int(42));
        assert_eq!(s("042").canon(t), Canon::Int(42));
        assert_eq!(s(" 42.0 ").canon(t), Canon::Int(42));
        assert_eq!(s("42.5").canon(t), Canon::Bytes(Cow::Borrowed(b"42.5")));
        assert_eq!(s("abc").canon(t), Canon::Bytes(Cow::Borrowed(b"abc")));
        assert_eq!(s("").canon(t), Canon::Bytes(Cow::Borrowed(b"")));
        assert_eq!(
            s("2024-1-5").canon(t),
            Canon::Bytes(Cow::Borrowed(b"2024-01-05"))
        );
        assert_eq!(
            s("2024-01-05 00:00:00").canon(t),
            Canon::Bytes(Cow::Borrowed(b"2024-01-05"))
        );
        assert_eq!(
            s("2024-01-05T10:02:03.500").canon(t),
            Canon::Bytes(Cow::Borrowed(b"2024-01-05 10:02:03.5"))
        );
        assert_eq!(
            s("2024-13-05").canon(t),
            Canon::Bytes(Cow::Borrowed(b"2024-13-05"))
        );
        assert_eq!(
            s("24-01-05").canon(t),
            Canon::Bytes(Cow::Borrowed(b"24-01-05"))
        );
        assert_eq!(KeyValue::Int(7).canon(t), Canon::Int(7));
        assert_eq!(KeyValue::Null.canon(t), Canon::Null);
        assert_eq!(num("2.5").canon(t), Canon::Frac { floor: 2 });
    }

    #[test]
    fn strings_under_text_type_are_their_bytes() {
        let t = KeyType::Text;
        for v in ["42", "042", " 42", "42.0", "2024-1-5", "abc", ""] {
            assert_eq!(
                s(v).canon(t),
                Canon::Bytes(Cow::Borrowed(v.as_bytes())),
                "{v}"
            );
        }
        assert_eq!(
            KeyValue::Int(-7).canon(t),
            Canon::Bytes(Cow::Borrowed(b"-7"))
        );
        assert_eq!(
            KeyValue::UInt(u64::MAX).canon(t),
            Canon::Bytes(Cow::Borrowed(b"18446744073709551615"))
        );
        assert_eq!(num("2.50").canon(t), Canon::Ambiguous);
        let h = KeyValue::from_hex_literal(b"0x2A").unwrap();
        assert_eq!(h.canon(t), Canon::Bytes(Cow::Borrowed(b"*")));
        assert_eq!(KeyValue::Null.canon(t), Canon::Null);
        assert_eq!(s("ab ").canon(t), Canon::Bytes(Cow::Borrowed(b"ab ")));
    }

    #[test]
    fn padded_strings_lose_their_trailing_spaces() {
        let t = KeyType::PaddedText;
        for (v, want) in [
            ("ab", "ab"),
            ("ab  ", "ab"),
            (" ab", " ab"),
            ("a b ", "a b"),
            ("   ", ""),
            ("ab\t", "ab\t"),
        ] {
            assert_eq!(
                s(v).canon(t),
                Canon::Bytes(Cow::Borrowed(want.as_bytes())),
                "{v:?}"
            );
        }
        assert_eq!(
            KeyValue::Int(42).canon(t),
            Canon::Bytes(Cow::Borrowed(b"42"))
        );
        let h = KeyValue::from_hex_literal(b"0x612020").unwrap();
        assert_eq!(h.canon(t), Canon::Bytes(Cow::Borrowed(b"a")));
    }

    #[test]
    fn key_types_of_columns_and_collations() {
        for (ty, coll, want) in [
            ("varchar(64)", Some("utf8mb4_bin"), KeyType::PaddedText),
            ("char(2)", Some("latin1_swedish_ci"), KeyType::PaddedText),
            ("varchar(64)", Some("utf8mb4_nopad_bin"), KeyType::Text),
            ("text", Some("utf8mb4_general_NOPAD_ci"), KeyType::Text),
            ("varbinary(16)", Some("binary"), KeyType::Text),
            ("blob", None, KeyType::Text),
            ("int(11)", None, KeyType::Integer),
            ("date", None, KeyType::Date),
        ] {
            assert_eq!(
                KeyType::of_column(ty.as_bytes(), coll.map(str::as_bytes)),
                want,
                "{ty} {coll:?}"
            );
        }
    }

    /// DATE/DATETIME keys are the text the column stores, whatever the
    /// spelling: what `CRC32(k)` hashes on the server.
    #[test]
    fn temporal_keys_are_the_text_the_column_stores() {
        let text = |v: &KeyValue, t: KeyType| match v.canon(t) {
            Canon::Bytes(b) => String::from_utf8(b.into_owned()).unwrap(),
            other => format!("{other:?}"),
        };
        let date = KeyType::Date;
        for v in [
            s("2024-01-05"),
            s("2024-1-5"),
            s(" 2024-01-05 "),
            s("2024-01-05 10:20:30"),
            s("2024-01-05T00:00:00.5"),
            KeyValue::Int(20240105),
            KeyValue::Int(20240105102030),
        ] {
            assert_eq!(text(&v, date), "2024-01-05", "{v:?}");
        }
        let dt0 = KeyType::DateTime(0);
        assert_eq!(text(&s("2024-01-05"), dt0), "2024-01-05 00:00:00");
        assert_eq!(text(&s("2024-1-5 1:2:3.999"), dt0), "2024-01-05 01:02:03");
        assert_eq!(
            text(&KeyValue::Int(20240105102030), dt0),
            "2024-01-05 10:20:30"
        );
        let dt3 = KeyType::DateTime(3);
        assert_eq!(text(&s("2024-01-05"), dt3), "2024-01-05 00:00:00.000");
        assert_eq!(
            text(&s("2024-01-05 10:20:30.5"), dt3),
            "2024-01-05 10:20:30.500"
        );
        assert_eq!(
            text(&s("2024-01-05 10:20:30.123456"), dt3),
            "2024-01-05 10:20:30.123"
        );
        assert_eq!(
            text(&s("2024-01-05 10:20:30.123456"), KeyType::DateTime(6)),
            "2024-01-05 10:20:30.123456"
        );
        // Spellings shardgate does not read: no guess.
        for v in [
            s("05/01/2024"),
            s("2024-13-01"),
            s("yesterday"),
            KeyValue::Int(2024),
            KeyValue::Int(20241305),
            KeyValue::Number("20240105.5".into()),
        ] {
            assert_eq!(v.canon(date), Canon::NotTemporal, "{v:?}");
            assert_eq!(v.canon(dt3), Canon::NotTemporal, "{v:?}");
        }
        assert_eq!(KeyValue::Null.canon(date), Canon::Null);
    }

    #[test]
    fn key_types_of_column_types() {
        for (ty, want) in [
            ("bigint(20) unsigned", KeyType::Integer),
            ("int(11)", KeyType::Integer),
            ("TINYINT(1)", KeyType::Integer),
            ("varchar(64)", KeyType::Text),
            ("char(2)", KeyType::Text),
            ("varbinary(16)", KeyType::Text),
            ("longtext", KeyType::Text),
            ("date", KeyType::Date),
            ("datetime", KeyType::DateTime(0)),
            ("datetime(3)", KeyType::DateTime(3)),
            ("timestamp(6)", KeyType::DateTime(6)),
            ("time", KeyType::Auto),
            ("decimal(10,2)", KeyType::Auto),
            ("enum('a','b')", KeyType::Auto),
            ("", KeyType::Auto),
        ] {
            assert_eq!(KeyType::of_column_type(ty.as_bytes()), want, "{ty}");
        }
    }

    #[test]
    fn hex_and_bit_literals() {
        assert_eq!(
            KeyValue::from_hex_literal(b"X'4142'"),
            Some(KeyValue::Str(b"AB".as_slice().into()))
        );
        assert_eq!(
            KeyValue::from_hex_literal(b"x''"),
            Some(KeyValue::Str(b"".as_slice().into()))
        );
        assert_eq!(KeyValue::from_hex_literal(b"X'414'"), None);
        assert_eq!(KeyValue::from_hex_literal(b"X'4G'"), None);
        let h = KeyValue::from_hex_literal(b"0x2A").unwrap();
        assert_eq!(h, KeyValue::HexNum(vec![0x2a].into()));
        assert_eq!(h.canon(KeyType::Integer), Canon::Int(42));
        assert_eq!(h.canon(KeyType::Auto), Canon::Ambiguous);
        let odd = KeyValue::from_hex_literal(b"0xabc").unwrap();
        assert_eq!(odd.canon(KeyType::Integer), Canon::Int(0xabc));
        let big = KeyValue::from_hex_literal(b"0x010000000000000000").unwrap();
        assert_eq!(big.canon(KeyType::Integer), Canon::Big(false));
        let zeros = KeyValue::from_hex_literal(b"0x0000000000000000002A").unwrap();
        assert_eq!(zeros.canon(KeyType::Integer), Canon::Int(42));
        assert_eq!(KeyValue::from_hex_literal(b"0x"), None);
        let b = KeyValue::from_bit_literal(b"b'101010'").unwrap();
        assert_eq!(b.canon(KeyType::Integer), Canon::Int(42));
        let b = KeyValue::from_bit_literal(b"0b100000000").unwrap();
        assert_eq!(b.canon(KeyType::Integer), Canon::Int(256));
        assert_eq!(KeyValue::from_bit_literal(b"b'102'"), None);
    }

    #[test]
    fn binary_protocol_values() {
        assert_eq!(KeyValue::from_value(&Value::Int(-3)), KeyValue::Int(-3));
        assert_eq!(KeyValue::from_value(&Value::UInt(3)), KeyValue::Int(3));
        assert_eq!(
            KeyValue::from_value(&Value::UInt(u64::MAX)),
            KeyValue::UInt(u64::MAX)
        );
        assert_eq!(
            KeyValue::from_value(&Value::Double(42.0)),
            KeyValue::Int(42)
        );
        assert_eq!(KeyValue::from_value(&Value::Float(2.5)), num("2.5"));
        assert!(matches!(
            KeyValue::from_value(&Value::Double(f64::NAN)),
            KeyValue::Number(_)
        ));
        assert_eq!(
            KeyValue::from_value(&Value::Double(f64::NAN)).canon(KeyType::Auto),
            Canon::NotNumber
        );
        assert_eq!(KeyValue::from_value(&Value::Bytes(b"x")), s("x"));
        assert_eq!(KeyValue::from_value(&Value::Null), KeyValue::Null);
        let d = Value::Date {
            year: 2024,
            month: 1,
            day: 5,
            hour: 0,
            minute: 0,
            second: 0,
            micros: 0,
        };
        assert_eq!(KeyValue::from_value(&d), s("2024-01-05"));
        let dt = Value::Date {
            year: 2024,
            month: 1,
            day: 5,
            hour: 10,
            minute: 2,
            second: 3,
            micros: 500_000,
        };
        assert_eq!(KeyValue::from_value(&dt), s("2024-01-05 10:02:03.5"));
        // The string literal of the same datetime routes the same.
        assert_eq!(
            KeyValue::from_value(&dt).canon(KeyType::Auto),
            s("2024-1-5 10:02:03.500000").canon(KeyType::Auto)
        );
        let t = Value::Time {
            negative: true,
            days: 1,
            hours: 2,
            minutes: 0,
            seconds: 0,
            micros: 0,
        };
        assert_eq!(KeyValue::from_value(&t), s("-26:00:00"));
    }

    #[test]
    fn display_and_raw_keys() {
        assert_eq!(KeyValue::Int(-4).to_string(), "-4");
        assert_eq!(s("it's").to_string(), "'it''s'");
        assert_eq!(KeyValue::Null.to_string(), "NULL");
        assert_eq!(KeyValue::HexNum(vec![0x2a].into()).to_string(), "0x2a");
        let long = s(&"x".repeat(100)).to_string();
        assert!(long.len() < 80 && long.ends_with("...'"), "{long}");
        assert_ne!(KeyValue::Int(42).raw_key(), s("42").raw_key());
        assert_eq!(KeyValue::Int(42).raw_key(), KeyValue::Int(42).raw_key());
        assert_eq!(
            KeyValue::UInt(u64::MAX).raw_key(),
            b"i18446744073709551615".to_vec()
        );
    }
}
