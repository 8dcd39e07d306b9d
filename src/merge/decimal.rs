//! A small exact decimal for merging `DECIMAL` values from shards: parse the
//! text the server prints (`-123.4500`), add, compare, divide by a count
//! with MariaDB's rounding (half away from zero, as `my_decimal_round` with
//! `HALF_UP`), and print with a fixed number of fraction digits.
//!
//! Digits are kept in base 10, least significant first, so any length the
//! server can produce (65 digits, 38 after the point) is exact. It is only
//! used per merged row or group, never per shard row of a big scan, so the
//! simple representation costs nothing that shows.
//!
//! <https://mariadb.com/kb/en/decimal/>
//! <https://mariadb.com/kb/en/div_precision_increment/>

use std::cmp::Ordering;

/// An exact decimal number, always normalised: no high zero digits, no
/// trailing zero fraction digits, zero is positive. Equal values are equal
/// structurally, so the type can key a hash map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Decimal {
    neg: bool,
    /// Base-10 digits, least significant first.
    mag: Vec<u8>,
    /// Number of digits of `mag` after the decimal point.
    scale: u32,
}

impl Decimal {
    /// Parses `[+-]digits[.digits]` (also `.5` and `5.`), the form the
    /// server prints DECIMAL and integer values in. Anything else is `None`.
    pub fn parse(text: &[u8]) -> Option<Decimal> {
        let (neg, rest) = match text.split_first() {
            Some((b'-', r)) => (true, r),
            Some((b'+', r)) => (false, r),
            _ => (false, text),
        };
        let (int, frac) = match rest.iter().position(|&b| b == b'.') {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (rest, &[][..]),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.iter().chain(frac).all(u8::is_ascii_digit) {
            return None;
        }
        let mag = frac
            .iter()
            .rev()
            .chain(int.iter().rev())
            .map(|d| d - b'0')
            .collect();
        let scale = u32::try_from(frac.len()).ok()?;
        Some(Decimal { neg, mag, scale }.normalised())
    }

    /// An integer.
    pub fn from_i128(v: i128) -> Decimal {
        let mut mag = Vec::new();
        let mut u = v.unsigned_abs();
        while u > 0 {
            mag.push((u % 10) as u8);
            u /= 10;
        }
        Decimal {
            neg: v < 0,
            mag,
            scale: 0,
        }
        .normalised()
    }

    fn normalised(mut self) -> Decimal {
        let lead = self
            .mag
            .iter()
            .take(self.scale as usize)
            .take_while(|&&d| d == 0)
            .count();
        if lead > 0 {
            self.mag.drain(..lead);
            self.scale -= lead as u32;
        }
        while self.mag.last() == Some(&0) && self.mag.len() > self.scale as usize {
            self.mag.pop();
        }
        if self.mag.iter().all(|&d| d == 0) {
            self.mag.clear();
            self.scale = 0;
            self.neg = false;
        }
        self
    }

    /// The magnitude with `scale` fraction digits (`scale >= self.scale`).
    fn mag_at(&self, scale: u32) -> Vec<u8> {
        let mut m = vec![0; (scale - self.scale) as usize];
        m.extend_from_slice(&self.mag);
        m
    }

    /// `self + other`, exact.
    pub fn add(&self, other: &Decimal) -> Decimal {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.mag_at(scale), other.mag_at(scale));
        let (neg, mag) = if self.neg == other.neg {
            (self.neg, add_mag(&a, &b))
        } else {
            match cmp_mag(&a, &b) {
                Ordering::Less => (other.neg, sub_mag(&b, &a)),
                _ => (self.neg, sub_mag(&a, &b)),
            }
        };
        Decimal { neg, mag, scale }.normalised()
    }

    /// `self / n` rounded half away from zero to `scale` fraction digits
    /// (MariaDB's AVG of DECIMAL). `None` when `n` is zero.
    pub fn div_round(&self, n: u64, scale: u32) -> Option<Decimal> {
        if n == 0 {
            return None;
        }
        // floor(|self| * 10^(scale+1) / n) keeps the digit that decides the
        // rounding; the floor does not change the digits above it.
        let extra = scale + 1;
        let mut num = vec![0u8; extra as usize];
        num.extend_from_slice(&self.mag);
        let mut quot = vec![0u8; num.len()];
        let mut rem: u128 = 0;
        let n = u128::from(n);
        for i in (0..num.len()).rev() {
            rem = rem * 10 + u128::from(num[i]);
            quot[i] = (rem / n) as u8;
            rem %= n;
        }
        let q = Decimal {
            neg: self.neg,
            mag: quot,
            scale: self.scale + extra,
        };
        Some(q.round(scale))
    }

    /// Rounds half away from zero to at most `scale` fraction digits.
    pub fn round(&self, scale: u32) -> Decimal {
        if self.scale <= scale {
            return self.clone();
        }
        let drop = (self.scale - scale) as usize;
        let up = self.mag.get(drop - 1).is_some_and(|&d| d >= 5);
        let mut mag: Vec<u8> = self.mag.get(drop..).unwrap_or(&[]).to_vec();
        if up {
            mag = add_mag(&mag, &[1]);
        }
        Decimal {
            neg: self.neg,
            mag,
            scale,
        }
        .normalised()
    }

    /// The text form with exactly `scale` fraction digits (rounded half
    /// away from zero when the value has more), `-` only when not zero.
    pub fn to_text(&self, scale: u32) -> Vec<u8> {
        let r = self.round(scale);
        let mag = r.mag_at(scale);
        let mut out = Vec::with_capacity(mag.len() + 3);
        if r.neg {
            out.push(b'-');
        }
        let int_len = mag.len().saturating_sub(scale as usize);
        if int_len == 0 {
            out.push(b'0');
        }
        for i in (0..mag.len()).rev() {
            if i + 1 == scale as usize {
                out.push(b'.');
            }
            out.push(b'0' + mag[i]);
        }
        out
    }

    /// The value as a double (for comparisons with approximate numbers).
    pub fn to_f64(&self) -> f64 {
        let text = self.to_text(self.scale);
        std::str::from_utf8(&text)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0)
    }

    /// The value as an integer when it is one and fits.
    pub fn to_i128(&self) -> Option<i128> {
        if self.scale != 0 {
            return None;
        }
        // Accumulated with the sign so that i128::MIN fits.
        let sign = if self.neg { -1 } else { 1 };
        let mut v: i128 = 0;
        for &d in self.mag.iter().rev() {
            v = v.checked_mul(10)?.checked_add(sign * i128::from(d))?;
        }
        Some(v)
    }
}

impl Decimal {
    pub fn is_zero(&self) -> bool {
        self.mag.is_empty()
    }

    /// `-self`.
    pub fn neg(&self) -> Decimal {
        Decimal {
            neg: !self.neg,
            ..self.clone()
        }
        .normalised()
    }

    /// `self - other`, exact.
    pub fn sub(&self, other: &Decimal) -> Decimal {
        self.add(&other.neg())
    }

    /// `self * other`, exact.
    pub fn mul(&self, other: &Decimal) -> Decimal {
        let mut acc = vec![0u32; self.mag.len() + other.mag.len() + 1];
        for (i, &a) in self.mag.iter().enumerate() {
            for (j, &b) in other.mag.iter().enumerate() {
                acc[i + j] += u32::from(a) * u32::from(b);
            }
        }
        let mut mag = Vec::with_capacity(acc.len());
        let mut carry = 0u32;
        for v in acc {
            let s = v + carry;
            mag.push((s % 10) as u8);
            carry = s / 10;
        }
        while carry > 0 {
            mag.push((carry % 10) as u8);
            carry /= 10;
        }
        Decimal {
            neg: self.neg != other.neg,
            mag,
            scale: self.scale + other.scale,
        }
        .normalised()
    }

    /// `self / other` rounded half away from zero to `scale` fraction
    /// digits (MariaDB's DECIMAL division). `None` when `other` is zero.
    pub fn div(&self, other: &Decimal, scale: u32) -> Option<Decimal> {
        let q = self.div_floor(other, scale + 1)?;
        Some(q.round(scale))
    }

    /// `self / other` as MariaDB's `decimal_div` computes it (the `/`
    /// operator and AVG): `self_frac` / `other_frac` are the operands'
    /// fraction digits as the server holds them, `incr` the session's
    /// `div_precision_increment`. The quotient is truncated (not rounded)
    /// to a whole number of 9-digit words of fraction, at least
    /// `self_frac + other_frac + incr` digits after the operands' own
    /// rounding up to words; the server rounds it to the result column's
    /// decimals only when it sends it. Returns the quotient and its
    /// fraction digits; `None` when `other` is zero.
    pub fn div_mariadb(
        &self,
        self_frac: u32,
        other: &Decimal,
        other_frac: u32,
        incr: u32,
    ) -> Option<(Decimal, u32)> {
        if other.is_zero() {
            return None;
        }
        if self.is_zero() {
            return Some((Decimal::default(), 0));
        }
        let words = |f: u32| f.div_ceil(9) * 9;
        let (f1, f2) = (words(self_frac), words(other_frac));
        let grown = (f1 - self_frac) + (f2 - other_frac);
        let incr = incr.saturating_sub(grown);
        // The server's decimals hold 9 words (81 digits) at most.
        let frac = words(f1 + f2 + incr).min(81);
        Some((self.div_trunc(other, frac)?, frac))
    }

    /// `self / other` truncated toward zero to `scale` fraction digits.
    pub fn div_trunc(&self, other: &Decimal, scale: u32) -> Option<Decimal> {
        self.div_floor(other, scale)
    }

    /// |self / other| truncated to `scale` digits, with the quotient's sign.
    fn div_floor(&self, other: &Decimal, scale: u32) -> Option<Decimal> {
        if other.is_zero() {
            return None;
        }
        // |q| = floor(A * 10^(scale + sb - sa) / B) for self = A*10^-sa,
        // other = B*10^-sb.
        let shift = i64::from(scale) + i64::from(other.scale) - i64::from(self.scale);
        let (num, den) = if shift >= 0 {
            (shifted(&self.mag, shift as usize), other.mag.clone())
        } else {
            (
                self.mag.clone(),
                shifted(&other.mag, shift.unsigned_abs() as usize),
            )
        };
        let den = significant(&den).to_vec();
        let mut quot = vec![0u8; num.len()];
        let mut rem: Vec<u8> = Vec::new();
        for i in (0..num.len()).rev() {
            rem.insert(0, num[i]);
            let mut digit = 0u8;
            while cmp_mag(&rem, &den) != Ordering::Less {
                rem = sub_mag(&rem, &den);
                rem.truncate(significant(&rem).len());
                digit += 1;
            }
            quot[i] = digit;
        }
        Some(
            Decimal {
                neg: self.neg != other.neg,
                mag: quot,
                scale,
            }
            .normalised(),
        )
    }

    /// Rounds half away from zero to `places` fraction digits; a negative
    /// `places` rounds to tens, hundreds, ... (SQL `ROUND(x, -2)`).
    pub fn round_places(&self, places: i64) -> Decimal {
        self.at_places(places, Decimal::round)
    }

    /// Truncates toward zero to `places` fraction digits (SQL `TRUNCATE`).
    pub fn truncate_places(&self, places: i64) -> Decimal {
        self.at_places(places, Decimal::truncate)
    }

    fn at_places(&self, places: i64, f: fn(&Decimal, u32) -> Decimal) -> Decimal {
        if places >= 0 {
            return f(self, u32::try_from(places).unwrap_or(u32::MAX));
        }
        let k = usize::try_from(places.unsigned_abs()).unwrap_or(usize::MAX);
        if k > self.mag.len() + 1 {
            return Decimal::default();
        }
        // Move the point k places left, cut, move it back.
        let moved = Decimal {
            scale: self.scale + k as u32,
            ..self.clone()
        };
        let cut = f(&moved, 0);
        Decimal {
            neg: cut.neg,
            mag: shifted(&cut.mag, k),
            scale: 0,
        }
        .normalised()
    }

    /// Drops the fraction digits past `scale` (toward zero).
    pub fn truncate(&self, scale: u32) -> Decimal {
        if self.scale <= scale {
            return self.clone();
        }
        let drop = (self.scale - scale) as usize;
        Decimal {
            neg: self.neg,
            mag: self.mag.get(drop..).unwrap_or(&[]).to_vec(),
            scale,
        }
        .normalised()
    }

    /// `|self|`.
    pub fn abs(&self) -> Decimal {
        Decimal {
            neg: false,
            ..self.clone()
        }
    }
}

/// `m * 10^k` (digits least significant first).
fn shifted(m: &[u8], k: usize) -> Vec<u8> {
    let mut out = vec![0; k];
    out.extend_from_slice(m);
    out
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match (self.neg, other.neg) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            _ => {
                let scale = self.scale.max(other.scale);
                let m = cmp_mag(&self.mag_at(scale), &other.mag_at(scale));
                if self.neg {
                    m.reverse()
                } else {
                    m
                }
            }
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn significant(m: &[u8]) -> &[u8] {
    let len = m.len() - m.iter().rev().take_while(|&&d| d == 0).count();
    &m[..len]
}

fn cmp_mag(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (significant(a), significant(b));
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0;
    for i in 0..a.len().max(b.len()) {
        let s = a.get(i).copied().unwrap_or(0) + b.get(i).copied().unwrap_or(0) + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out
}

/// `a - b` for `a >= b`.
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i8;
    for (i, &d) in a.iter().enumerate() {
        let mut s = d as i8 - b.get(i).copied().unwrap_or(0) as i8 - borrow;
        borrow = 0;
        if s < 0 {
            s += 10;
            borrow = 1;
        }
        out.push(s as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s.as_bytes()).unwrap()
    }

    fn t(v: &Decimal, scale: u32) -> String {
        String::from_utf8(v.to_text(scale)).unwrap()
    }

    #[test]
    fn parse_and_print() {
        assert_eq!(t(&d("1.50"), 2), "1.50");
        assert_eq!(t(&d("-0.00"), 2), "0.00");
        assert_eq!(d("-0.00"), Decimal::default());
        assert_eq!(t(&d("0012.3400"), 4), "12.3400");
        assert_eq!(t(&d(".5"), 1), "0.5");
        assert_eq!(t(&d("5."), 0), "5");
        assert_eq!(t(&d("-0.001"), 3), "-0.001");
        assert_eq!(t(&d("-0.001"), 2), "0.00");
        assert_eq!(t(&d("-0.005"), 2), "-0.01");
        assert_eq!(t(&d("123"), 0), "123");
        assert_eq!(t(&d("0"), 0), "0");
        assert_eq!(d("10.50"), d("10.5"));
        for bad in ["", "-", ".", "1e5", "1.2.3", "a", "--1", " 1"] {
            assert!(Decimal::parse(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn arithmetic() {
        assert_eq!(d("1.5").add(&d("2.25")), d("3.75"));
        assert_eq!(d("1.5").add(&d("-2.25")), d("-0.75"));
        assert_eq!(d("-1.5").add(&d("1.5")), Decimal::default());
        assert_eq!(
            d("99999999999999999999999999999999999999.99")
                .add(&d("0.01"))
                .to_text(2),
            b"100000000000000000000000000000000000000.00".to_vec()
        );
        assert_eq!(Decimal::from_i128(-42), d("-42"));
        assert_eq!(Decimal::from_i128(i128::MIN).to_i128(), Some(i128::MIN));
        assert_eq!(d("42.0").to_i128(), Some(42));
        assert_eq!(d("42.5").to_i128(), None);
        assert_eq!(d("-2.5").to_f64(), -2.5);
    }

    #[test]
    fn division_rounds_half_away_from_zero() {
        // Values checked against MariaDB 10.11 AVG().
        assert_eq!(t(&d("2").div_round(3, 4).unwrap(), 4), "0.6667");
        assert_eq!(t(&d("-2").div_round(3, 4).unwrap(), 4), "-0.6667");
        assert_eq!(t(&d("0.002").div_round(3, 7).unwrap(), 7), "0.0006667");
        assert_eq!(t(&d("3").div_round(2, 4).unwrap(), 4), "1.5000");
        assert_eq!(t(&d("1").div_round(8, 2).unwrap(), 2), "0.13");
        assert_eq!(t(&d("-1").div_round(8, 2).unwrap(), 2), "-0.13");
        assert_eq!(t(&d("1").div_round(3, 0).unwrap(), 0), "0");
        assert!(d("1").div_round(0, 4).is_none());
    }

    #[test]
    fn ordering() {
        let mut v: Vec<Decimal> = ["-10", "-2.5", "-0.001", "0", "0.45", "0.5", "10.5", "100"]
            .iter()
            .map(|s| d(s))
            .collect();
        let sorted = v.clone();
        v.reverse();
        v.sort();
        assert_eq!(v, sorted);
        for a in -50i64..50 {
            for b in -50i64..50 {
                let (x, y) = (Decimal::from_i128(a.into()), Decimal::from_i128(b.into()));
                assert_eq!(x.cmp(&y), a.cmp(&b));
                assert_eq!(x.add(&y), Decimal::from_i128((a + b).into()));
            }
        }
    }

    #[test]
    fn mul_div_round_truncate() {
        assert_eq!(t(&d("1.5").mul(&d("-2.25")), 3), "-3.375");
        assert_eq!(t(&d("1.5").sub(&d("2.25")), 2), "-0.75");
        assert_eq!(t(&d("10").div(&d("3"), 4).unwrap(), 4), "3.3333");
        assert_eq!(t(&d("20").div(&d("3"), 4).unwrap(), 4), "6.6667");
        assert_eq!(t(&d("-20").div(&d("3"), 4).unwrap(), 4), "-6.6667");
        assert_eq!(t(&d("1").div(&d("0.003"), 2).unwrap(), 2), "333.33");
        assert_eq!(t(&d("0.05").div(&d("100"), 4).unwrap(), 4), "0.0005");
        assert_eq!(
            t(
                &d("123456789012345678901234567890").div(&d("7"), 4).unwrap(),
                4
            ),
            "17636684144620811271604938270.0000"
        );
        assert!(d("1").div(&d("0.00"), 4).is_none());
        assert_eq!(t(&d("7.9").div_trunc(&d("2"), 0).unwrap(), 0), "3");
        assert_eq!(t(&d("-7.9").div_trunc(&d("2"), 0).unwrap(), 0), "-3");
        assert_eq!(t(&d("1234.5").round_places(-2), 0), "1200");
        assert_eq!(t(&d("1250").round_places(-2), 0), "1300");
        assert_eq!(t(&d("-1250").round_places(-2), 0), "-1300");
        assert_eq!(t(&d("49").round_places(-2), 0), "0");
        assert_eq!(t(&d("951").round_places(-3), 0), "1000");
        assert_eq!(t(&d("5").round_places(-30), 0), "0");
        assert_eq!(t(&d("2.345").round_places(2), 2), "2.35");
        assert_eq!(t(&d("-2.345").truncate_places(2), 2), "-2.34");
        assert_eq!(t(&d("1299").truncate_places(-2), 0), "1200");
        assert_eq!(t(&d("-0.004").truncate_places(2), 2), "0.00");
        assert!(d("-0.004").truncate_places(2).is_zero());
        // MariaDB: 2/3 -> 0.666666666 (9 digits, truncated); shown with
        // the column's 4 decimals as 0.6667.
        let (q, f) = d("2").div_mariadb(0, &d("3"), 0, 4).unwrap();
        assert_eq!((t(&q, f), f), ("0.666666666".into(), 9));
        // A DECIMAL(10,5) AVG: 9 digits, shown with 9: truncated.
        let (q, f) = d("2").div_mariadb(5, &d("3"), 0, 4).unwrap();
        assert_eq!((t(&q, 9), f), ("0.666666666".into(), 9));
        // 2.00000 / 3.0000: both grow to 9 digits, 18 in all.
        let (q, f) = d("2").div_mariadb(5, &d("3"), 4, 4).unwrap();
        assert_eq!((t(&q, 9), f), ("0.666666667".into(), 18));
        let (q, f) = d("-7").div_mariadb(0, &d("2"), 0, 4).unwrap();
        assert_eq!((t(&q, 4), f), ("-3.5000".into(), 9));
        assert!(d("1").div_mariadb(0, &d("0"), 0, 4).is_none());
    }
}
