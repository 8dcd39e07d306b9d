//! One cell of a result row or one statement parameter: [`Value`], its
//! binary-protocol encoding (rows of prepared statements, `COM_STMT_EXECUTE`
//! parameters), its text-protocol form (how the server prints each type) and
//! the reverse parser, and [`compare_text`], the ordering the merger uses to
//! sort text cells from several shards.
//!
//! Binary decoding needs the column's [`ColumnType`] and unsigned flag (from
//! the column definition or the parameter type); the value borrows strings
//! from the payload.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html#sect_protocol_binary_resultset_row_value>
//! <https://mariadb.com/kb/en/resultset-row/#binary-resultset-row>

use std::cmp::Ordering;

use crate::codec::{put_lenenc_bytes, put_u16, put_u32, put_u64, put_u8, Reader};
use crate::column::ColumnType;
use crate::error::{ProtoError, Result};

/// Value of one cell or parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    /// Signed integer types (TINY, SHORT, LONG, INT24, LONGLONG, YEAR).
    Int(i64),
    /// The same types with the UNSIGNED flag.
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Strings, DECIMAL text, blobs, BIT, JSON, GEOMETRY, ENUM, SET.
    Bytes(&'a [u8]),
    /// DATE, DATETIME, TIMESTAMP.
    Date {
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
    },
    /// TIME: `[-](days * 24 + hours):minutes:seconds.micros`.
    Time {
        negative: bool,
        days: u32,
        hours: u8,
        minutes: u8,
        seconds: u8,
        micros: u32,
    },
}

/// `NOT_FIXED_DEC`: the `decimals` of a column whose values have no fixed
/// number of fractional digits.
pub const NOT_FIXED_DEC: u8 = 31;

impl<'a> Value<'a> {
    /// A TIME as signed microseconds (days folded into hours): the order
    /// the server sorts TIME values in. `None` for other values.
    pub fn time_micros(&self) -> Option<i128> {
        let Value::Time {
            negative,
            days,
            hours,
            minutes,
            seconds,
            micros,
        } = *self
        else {
            return None;
        };
        let secs = (i128::from(days) * 24 + i128::from(hours)) * 3600
            + i128::from(minutes) * 60
            + i128::from(seconds);
        let us = secs * 1_000_000 + i128::from(micros);
        Some(if negative { -us } else { us })
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The parameter type to send this value with when the statement gives
    /// none: LONGLONG (signed or not), FLOAT, DOUBLE, VAR_STRING, DATETIME,
    /// TIME, NULL.
    pub fn natural_type(&self) -> (ColumnType, bool) {
        match self {
            Value::Null => (ColumnType::Null, false),
            Value::Int(_) => (ColumnType::LongLong, false),
            Value::UInt(_) => (ColumnType::LongLong, true),
            Value::Float(_) => (ColumnType::Float, false),
            Value::Double(_) => (ColumnType::Double, false),
            Value::Bytes(_) => (ColumnType::VarString, false),
            Value::Date { .. } => (ColumnType::DateTime, false),
            Value::Time { .. } => (ColumnType::Time, false),
        }
    }

    /// Reads one binary-protocol value of type `ty` from `r`. A NULL-typed
    /// value has no bytes and decodes to [`Value::Null`] (NULL cells are
    /// otherwise marked in the row's or parameters' NULL bitmap and never
    /// reach this function).
    ///
    /// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html#sect_protocol_binary_resultset_row_value>
    pub fn decode_binary(r: &mut Reader<'a>, ty: ColumnType, unsigned: bool) -> Result<Value<'a>> {
        const WHAT: &str = "binary value";
        Ok(match ty {
            ColumnType::Tiny => {
                let b = r.u8(WHAT)?;
                if unsigned {
                    Value::UInt(u64::from(b))
                } else {
                    Value::Int(i64::from(b as i8))
                }
            }
            ColumnType::Short | ColumnType::Year => {
                let v = r.u16(WHAT)?;
                if unsigned {
                    Value::UInt(u64::from(v))
                } else {
                    Value::Int(i64::from(v as i16))
                }
            }
            ColumnType::Long | ColumnType::Int24 => {
                let v = r.u32(WHAT)?;
                if unsigned {
                    Value::UInt(u64::from(v))
                } else {
                    Value::Int(i64::from(v as i32))
                }
            }
            ColumnType::LongLong => {
                let v = r.u64(WHAT)?;
                if unsigned {
                    Value::UInt(v)
                } else {
                    Value::Int(v as i64)
                }
            }
            ColumnType::Float => Value::Float(f32::from_bits(r.u32(WHAT)?)),
            ColumnType::Double => Value::Double(f64::from_bits(r.u64(WHAT)?)),
            ColumnType::Null => Value::Null,
            t if t.is_date() => decode_binary_date(r)?,
            t if t.is_time() => decode_binary_time(r)?,
            _ => Value::Bytes(r.lenenc_bytes("binary value: string")?),
        })
    }

    /// Appends the binary-protocol form of this value for a column or
    /// parameter of type `ty`. Integers must fit the type's wire width (with
    /// the signedness `unsigned` gives); dates and times need a DATE-like or
    /// TIME type; numbers, dates and times sent as a string type are written
    /// in their text form. NULL has no binary form (it goes in the NULL
    /// bitmap) and is an error, as is any other mismatch.
    ///
    /// Dates and times use the shortest length that holds them, as the
    /// server does, so `decode_binary` of the output gives `self` back.
    pub fn encode_binary(&self, ty: ColumnType, unsigned: bool, out: &mut Vec<u8>) -> Result<()> {
        match ty {
            ColumnType::Tiny => put_u8(out, self.int_bits(unsigned, 8)? as u8),
            ColumnType::Short | ColumnType::Year => {
                put_u16(out, self.int_bits(unsigned, 16)? as u16)
            }
            ColumnType::Long | ColumnType::Int24 => {
                put_u32(out, self.int_bits(unsigned, 32)? as u32)
            }
            ColumnType::LongLong => put_u64(out, self.int_bits(unsigned, 64)?),
            ColumnType::Float => match self {
                Value::Float(f) => put_u32(out, f.to_bits()),
                _ => return Err(mismatch()),
            },
            ColumnType::Double => match self {
                Value::Double(f) => put_u64(out, f.to_bits()),
                _ => return Err(mismatch()),
            },
            ColumnType::Null => match self {
                Value::Null => {}
                _ => return Err(mismatch()),
            },
            t if t.is_date() => match *self {
                Value::Date {
                    year,
                    month,
                    day,
                    hour,
                    minute,
                    second,
                    micros,
                } => {
                    let len: u8 = if micros != 0 {
                        11
                    } else if hour != 0 || minute != 0 || second != 0 {
                        7
                    } else if year != 0 || month != 0 || day != 0 {
                        4
                    } else {
                        0
                    };
                    put_u8(out, len);
                    if len >= 4 {
                        put_u16(out, year);
                        put_u8(out, month);
                        put_u8(out, day);
                    }
                    if len >= 7 {
                        put_u8(out, hour);
                        put_u8(out, minute);
                        put_u8(out, second);
                    }
                    if len == 11 {
                        put_u32(out, micros);
                    }
                }
                _ => return Err(mismatch()),
            },
            t if t.is_time() => match *self {
                Value::Time {
                    negative,
                    days,
                    hours,
                    minutes,
                    seconds,
                    micros,
                } => {
                    let len: u8 = if micros != 0 {
                        12
                    } else if negative || days != 0 || hours != 0 || minutes != 0 || seconds != 0 {
                        8
                    } else {
                        0
                    };
                    put_u8(out, len);
                    if len >= 8 {
                        put_u8(out, u8::from(negative));
                        put_u32(out, days);
                        put_u8(out, hours);
                        put_u8(out, minutes);
                        put_u8(out, seconds);
                    }
                    if len == 12 {
                        put_u32(out, micros);
                    }
                }
                _ => return Err(mismatch()),
            },
            _ => match self {
                Value::Null => return Err(mismatch()),
                Value::Bytes(b) => put_lenenc_bytes(out, b),
                other => {
                    let mut text = Vec::new();
                    other.to_text(&mut text);
                    put_lenenc_bytes(out, &text);
                }
            },
        }
        Ok(())
    }

    /// The integer as the low `bits` bits of its two's complement, after
    /// checking it fits a `bits`-wide integer of the given signedness.
    fn int_bits(&self, unsigned: bool, bits: u32) -> Result<u64> {
        let out_of_range = ProtoError::Invalid {
            what: "binary value: integer out of range",
        };
        let wide: i128 = match *self {
            Value::Int(v) => i128::from(v),
            Value::UInt(v) => i128::from(v),
            _ => return Err(mismatch()),
        };
        let (min, max) = if unsigned {
            (0i128, (1i128 << bits) - 1)
        } else {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        };
        if wide < min || wide > max {
            return Err(out_of_range);
        }
        Ok(wide as u64)
    }

    /// Appends the value as the text protocol shows it when nothing is
    /// known of its column: integers in decimal, floats as the server's
    /// `my_gcvt` would (FLOAT with 6 significant digits, DOUBLE with the
    /// shortest exact digits, exponent form when that is shorter than a
    /// 15-character plain form), strings verbatim, dates `YYYY-MM-DD` or
    /// `YYYY-MM-DD hh:mm:ss[.ffffff]` (time part only when not midnight),
    /// times `[-]hh:mm:ss[.ffffff]` with hours = days * 24 + hours.
    /// NULL appends nothing: in a text row it is the 0xfb marker, see
    /// [`Value::to_text_cell`].
    pub fn to_text(&self, out: &mut Vec<u8>) {
        match *self {
            Value::Null => {}
            Value::Int(v) => out.extend_from_slice(v.to_string().as_bytes()),
            Value::UInt(v) => out.extend_from_slice(v.to_string().as_bytes()),
            Value::Float(f) => put_float(out, f64::from(f), Some(6)),
            Value::Double(f) => put_float(out, f, None),
            Value::Bytes(b) => out.extend_from_slice(b),
            Value::Date {
                hour,
                minute,
                second,
                micros,
                ..
            } => {
                let with_time = hour != 0 || minute != 0 || second != 0 || micros != 0;
                self.put_date(out, with_time, NOT_FIXED_DEC);
            }
            Value::Time { .. } => self.put_time(out, NOT_FIXED_DEC),
        }
    }

    /// Appends the value as the server prints it in a column of type `ty`
    /// with `decimals` from the column definition: DATE without a time part,
    /// DATETIME/TIMESTAMP always with one, fractional seconds with exactly
    /// `decimals` digits (0..=6), FLOAT/DOUBLE with fixed decimals when
    /// `decimals` < 31, YEAR with 4 digits. ZEROFILL padding is not applied.
    pub fn to_text_typed(&self, ty: ColumnType, decimals: u8, out: &mut Vec<u8>) {
        match *self {
            Value::Date { .. } if ty.is_date() => {
                let with_time = !matches!(ty, ColumnType::Date | ColumnType::NewDate);
                self.put_date(out, with_time, decimals);
            }
            Value::Time { .. } if ty.is_time() => self.put_time(out, decimals),
            Value::Float(f) if decimals < NOT_FIXED_DEC => {
                out.extend_from_slice(format!("{:.*}", usize::from(decimals), f).as_bytes())
            }
            Value::Double(f) if decimals < NOT_FIXED_DEC => {
                out.extend_from_slice(format!("{:.*}", usize::from(decimals), f).as_bytes())
            }
            Value::Int(v) if ty == ColumnType::Year => {
                out.extend_from_slice(format!("{v:04}").as_bytes())
            }
            Value::UInt(v) if ty == ColumnType::Year => {
                out.extend_from_slice(format!("{v:04}").as_bytes())
            }
            _ => self.to_text(out),
        }
    }

    /// Appends the value as one text-row cell: a lenenc string, or 0xfb
    /// for NULL.
    pub fn to_text_cell(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.push(0xfb),
            Value::Bytes(b) => put_lenenc_bytes(out, b),
            other => {
                let mut text = Vec::new();
                other.to_text(&mut text);
                put_lenenc_bytes(out, &text);
            }
        }
    }

    fn put_date(&self, out: &mut Vec<u8>, with_time: bool, decimals: u8) {
        if let Value::Date {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
        } = *self
        {
            let s = format!("{year:04}-{month:02}-{day:02}");
            out.extend_from_slice(s.as_bytes());
            if with_time {
                let s = format!(" {hour:02}:{minute:02}:{second:02}");
                out.extend_from_slice(s.as_bytes());
                put_fraction(out, micros, decimals);
            }
        }
    }

    fn put_time(&self, out: &mut Vec<u8>, decimals: u8) {
        if let Value::Time {
            negative,
            days,
            hours,
            minutes,
            seconds,
            micros,
        } = *self
        {
            let total = u64::from(days) * 24 + u64::from(hours);
            let sign = if negative { "-" } else { "" };
            let s = format!("{sign}{total:02}:{minutes:02}:{seconds:02}");
            out.extend_from_slice(s.as_bytes());
            put_fraction(out, micros, decimals);
        }
    }

    /// Parses a text-protocol cell of a column of type `ty`: integers (as
    /// `UInt` when `unsigned`), FLOAT, DOUBLE, dates, times; every other type
    /// (DECIMAL included, to stay exact) stays [`Value::Bytes`]. A NULL-typed
    /// column gives [`Value::Null`]. Text that is not a valid value of the
    /// type is an error.
    pub fn from_text(ty: ColumnType, unsigned: bool, text: &'a [u8]) -> Result<Value<'a>> {
        let bad = |what| ProtoError::Invalid { what };
        Ok(match ty {
            t if t.is_integer() => {
                let s = std::str::from_utf8(text).map_err(|_| bad("text value: integer"))?;
                if unsigned {
                    Value::UInt(s.parse().map_err(|_| bad("text value: unsigned integer"))?)
                } else {
                    Value::Int(s.parse().map_err(|_| bad("text value: integer"))?)
                }
            }
            ColumnType::Float => {
                Value::Float(parse_f64(text).ok_or(bad("text value: float"))? as f32)
            }
            ColumnType::Double => Value::Double(parse_f64(text).ok_or(bad("text value: double"))?),
            ColumnType::Null => Value::Null,
            t if t.is_date() => parse_date(text).ok_or(bad("text value: date"))?,
            t if t.is_time() => parse_time(text).ok_or(bad("text value: time"))?,
            _ => Value::Bytes(text),
        })
    }
}

fn mismatch() -> ProtoError {
    ProtoError::Invalid {
        what: "binary value: value does not match the column type",
    }
}

fn decode_binary_date<'a>(r: &mut Reader<'a>) -> Result<Value<'a>> {
    const WHAT: &str = "binary value: date";
    let len = r.u8(WHAT)?;
    if !matches!(len, 0 | 4 | 7 | 11) {
        return Err(ProtoError::Invalid {
            what: "binary value: date length",
        });
    }
    let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut micros) =
        (0, 0, 0, 0, 0, 0, 0);
    if len >= 4 {
        year = r.u16(WHAT)?;
        month = r.u8(WHAT)?;
        day = r.u8(WHAT)?;
    }
    if len >= 7 {
        hour = r.u8(WHAT)?;
        minute = r.u8(WHAT)?;
        second = r.u8(WHAT)?;
    }
    if len == 11 {
        micros = r.u32(WHAT)?;
    }
    Ok(Value::Date {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micros,
    })
}

fn decode_binary_time<'a>(r: &mut Reader<'a>) -> Result<Value<'a>> {
    const WHAT: &str = "binary value: time";
    let len = r.u8(WHAT)?;
    if !matches!(len, 0 | 8 | 12) {
        return Err(ProtoError::Invalid {
            what: "binary value: time length",
        });
    }
    let (mut negative, mut days, mut hours, mut minutes, mut seconds, mut micros) =
        (false, 0, 0, 0, 0, 0);
    if len >= 8 {
        negative = match r.u8(WHAT)? {
            0 => false,
            1 => true,
            _ => {
                return Err(ProtoError::Invalid {
                    what: "binary value: time sign",
                })
            }
        };
        days = r.u32(WHAT)?;
        hours = r.u8(WHAT)?;
        minutes = r.u8(WHAT)?;
        seconds = r.u8(WHAT)?;
    }
    if len == 12 {
        micros = r.u32(WHAT)?;
    }
    Ok(Value::Time {
        negative,
        days,
        hours,
        minutes,
        seconds,
        micros,
    })
}

/// `.ffffff` with `decimals` digits (1..=6), none for 0, and six digits
/// when not zero for any other `decimals` (not fixed).
fn put_fraction(out: &mut Vec<u8>, micros: u32, decimals: u8) {
    match decimals {
        0 => {}
        1..=6 => {
            let d = u32::from(decimals);
            let v = micros / 10u32.pow(6 - d);
            out.extend_from_slice(format!(".{:0width$}", v, width = d as usize).as_bytes());
        }
        _ if micros != 0 => out.extend_from_slice(format!(".{micros:06}").as_bytes()),
        _ => {}
    }
}

/// Width under which the plain form of a float is always used (`my_gcvt`).
const FLOAT_TEXT_WIDTH: usize = 15;

/// Formats like the server's `my_gcvt`: `sig` significant digits (`None`:
/// the shortest that reads back exactly), then plain or exponent form.
fn put_float(out: &mut Vec<u8>, v: f64, sig: Option<usize>) {
    if v.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    let a = v.abs();
    if a.is_infinite() {
        out.extend_from_slice(b"inf");
        return;
    }
    if a == 0.0 {
        out.push(b'0');
        return;
    }
    let sci = match sig {
        None => format!("{a:e}"),
        Some(p) => format!("{:.*e}", p.saturating_sub(1), a),
    };
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    let len = digits.len() as i64;
    let decpt = exp + 1;
    let plain_len = if decpt <= 0 {
        len - decpt + 2
    } else if decpt < len {
        len + 1
    } else {
        decpt
    };
    let exp_digits = exp.unsigned_abs().to_string();
    let exp_len = len + i64::from(len > 1) + 1 + i64::from(exp < 0) + exp_digits.len() as i64;
    let plain =
        plain_len <= FLOAT_TEXT_WIDTH as i64 || (decpt > 0 && decpt < len) || plain_len <= exp_len;
    if plain {
        if decpt <= 0 {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + decpt.unsigned_abs() as usize, b'0');
            out.extend_from_slice(&digits);
        } else if decpt < len {
            let (int, frac) = digits.split_at(decpt as usize);
            out.extend_from_slice(int);
            out.push(b'.');
            out.extend_from_slice(frac);
        } else {
            out.extend_from_slice(&digits);
            out.resize(out.len() + (decpt - len) as usize, b'0');
        }
    } else {
        if let Some((first, rest)) = digits.split_first() {
            out.push(*first);
            if !rest.is_empty() {
                out.push(b'.');
                out.extend_from_slice(rest);
            }
        }
        out.push(b'e');
        if exp < 0 {
            out.push(b'-');
        }
        out.extend_from_slice(exp_digits.as_bytes());
    }
}

fn parse_f64(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.trim().parse().ok()
}

/// Reads `n` ASCII digits (exactly) as a number.
fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')),
    )
}

/// `.f{1,6}` → microseconds.
fn parse_fraction(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 6 {
        return None;
    }
    Some(digits(s)? * 10u32.pow(6 - s.len() as u32))
}

/// `hh:mm:ss[.f{1,6}]`, two-digit minutes and seconds, 1+ digit hours.
fn parse_clock(s: &[u8]) -> Option<(u32, u8, u8, u32)> {
    let (hms, frac) = match s.iter().position(|&b| b == b'.') {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    let mut parts = hms.split(|&b| b == b':');
    let h = digits(parts.next()?)?;
    let m = parts.next()?;
    let sec = parts.next()?;
    if parts.next().is_some() || m.len() != 2 || sec.len() != 2 {
        return None;
    }
    let micros = match frac {
        Some(f) => parse_fraction(f)?,
        None => 0,
    };
    Some((h, digits(m)? as u8, digits(sec)? as u8, micros))
}

/// `YYYY-MM-DD[( |T)hh:mm:ss[.ffffff]]`.
fn parse_date(text: &[u8]) -> Option<Value<'static>> {
    let date = text.get(..10)?;
    if date[4] != b'-' || date[7] != b'-' {
        return None;
    }
    let year = digits(&date[..4])? as u16;
    let month = digits(&date[5..7])? as u8;
    let day = digits(&date[8..10])? as u8;
    let (hour, minute, second, micros) = match text.get(10) {
        None => (0, 0, 0, 0),
        Some(b' ') | Some(b'T') => {
            let (h, m, s, us) = parse_clock(&text[11..])?;
            (u8::try_from(h).ok()?, m, s, us)
        }
        Some(_) => return None,
    };
    Some(Value::Date {
        year,
        month,
        day,
        hour,
        minute,
        second,
        micros,
    })
}

/// `[-]h+:mm:ss[.ffffff]`.
fn parse_time(text: &[u8]) -> Option<Value<'static>> {
    let (negative, rest) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (h, minutes, seconds, micros) = parse_clock(rest)?;
    Some(Value::Time {
        negative,
        days: h / 24,
        hours: (h % 24) as u8,
        minutes,
        seconds,
        micros,
    })
}

/// Orders two non-NULL text cells of a column of type `ty` as the server
/// would: integers and DECIMALs numerically (exact, any length), FLOAT and
/// DOUBLE as numbers, dates and times chronologically, everything else by
/// bytes (binary collation; other collations are out of scope). Text that
/// does not parse as the type falls back to byte order.
pub fn compare_text(ty: ColumnType, unsigned: bool, a: &[u8], b: &[u8]) -> Ordering {
    let bytes = || a.cmp(b);
    if ty.is_integer() {
        let (sa, sb) = (std::str::from_utf8(a), std::str::from_utf8(b));
        if let (Ok(sa), Ok(sb)) = (sa, sb) {
            if unsigned {
                if let (Ok(x), Ok(y)) = (sa.parse::<u64>(), sb.parse::<u64>()) {
                    return x.cmp(&y);
                }
            } else if let (Ok(x), Ok(y)) = (sa.parse::<i64>(), sb.parse::<i64>()) {
                return x.cmp(&y);
            }
        }
        return compare_decimal_text(a, b).unwrap_or_else(bytes);
    }
    if ty.is_decimal() {
        return compare_decimal_text(a, b).unwrap_or_else(bytes);
    }
    if ty.is_float() {
        return match (parse_f64(a), parse_f64(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or_else(bytes),
            _ => bytes(),
        };
    }
    if ty.is_date() {
        return match (parse_date(a), parse_date(b)) {
            (Some(x), Some(y)) => date_key(&x).cmp(&date_key(&y)),
            _ => bytes(),
        };
    }
    if ty.is_time() {
        return match (parse_time(a), parse_time(b)) {
            (Some(x), Some(y)) => time_key(&x).cmp(&time_key(&y)),
            _ => bytes(),
        };
    }
    bytes()
}

/// [`compare_text`] for cells that may be NULL; NULL sorts first, as in
/// the server's ascending order.
pub fn compare_cells(
    ty: ColumnType,
    unsigned: bool,
    a: Option<&[u8]>,
    b: Option<&[u8]>,
) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => compare_text(ty, unsigned, a, b),
    }
}

fn date_key(v: &Value<'_>) -> (u16, u8, u8, u8, u8, u8, u32) {
    match *v {
        Value::Date {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
        } => (year, month, day, hour, minute, second, micros),
        _ => (0, 0, 0, 0, 0, 0, 0),
    }
}

fn time_key(v: &Value<'_>) -> i128 {
    v.time_micros().unwrap_or(0)
}

/// A decimal number in text: sign, integer digits without leading zeros,
/// fraction digits without trailing zeros.
fn split_decimal(s: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(p) => (&s[..p], &s[p + 1..]),
        None => (s, &s[s.len()..]),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.iter().all(u8::is_ascii_digit)
        || !frac.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let int_start = int.iter().position(|&b| b != b'0').unwrap_or(int.len());
    let frac_end = frac.iter().rposition(|&b| b != b'0').map_or(0, |p| p + 1);
    let (int, frac) = (&int[int_start..], &frac[..frac_end]);
    let zero = int.is_empty() && frac.is_empty();
    Some((neg && !zero, int, frac))
}

/// Exact comparison of two decimal strings; `None` when one is not a
/// decimal number.
fn compare_decimal_text(a: &[u8], b: &[u8]) -> Option<Ordering> {
    let (na, ia, fa) = split_decimal(a)?;
    let (nb, ib, fb) = split_decimal(b)?;
    Some(match (na, nb) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        _ => {
            let mag = ia
                .len()
                .cmp(&ib.len())
                .then_with(|| ia.cmp(ib))
                .then_with(|| fa.cmp(fb));
            if na {
                mag.reverse()
            } else {
                mag
            }
        }
    })
}

#[cfg(test)]
mod tests;
