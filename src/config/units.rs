//! Units in the config file: durations (`"500ms"`, `"2s"`, `"1m30s"`) and
//! byte sizes (`"64MiB"`, or a plain integer number of bytes).
//!
//! The validation pass (`validate.rs`) calls these and wraps their error
//! strings with the key they came from; they are public so the admin port can
//! parse the same syntax when an operator changes a setting at run time.

use std::time::Duration;

/// Parses a duration: one or more `<integer><unit>` pairs, e.g. `"250us"`,
/// `"500ms"`, `"2s"`, `"1m"`, `"8h"`, `"1m30s"`.
///
/// Units: `ns`, `us` (or `µs`), `ms`, `s`, `m` (minutes), `h`, `d`.
/// A bare number is refused: `"5"` could mean seconds or milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write a number with a unit, e.g. \"2s\"".into());
    }
    let mut rest = s;
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "invalid duration {text:?}: expected a number at {rest:?} (e.g. \"500ms\", \"2s\")"
            ));
        }
        let (num, after) = rest.split_at(digits);
        let value: u128 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number {num:?} is too large"))?;
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, next) = after.split_at(unit_len);
        let per_unit: u128 = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "" => {
                return Err(format!(
                "invalid duration {text:?}: missing unit (ns, us, ms, s, m, h, d), e.g. \"{num}s\""
            ))
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?} (use ns, us, ms, s, m, h, d)"
                ))
            }
        };
        total_ns = value
            .checked_mul(per_unit)
            .and_then(|v| total_ns.checked_add(v))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
        rest = next;
    }
    let ns =
        u64::try_from(total_ns).map_err(|_| format!("invalid duration {text:?}: too large"))?;
    Ok(Duration::from_nanos(ns))
}

/// Parses a byte size: an integer with an optional binary unit, e.g. `"64MiB"`,
/// `"16KiB"`, `"1GiB"`, `"4096"`, `"512B"`; whitespace between number and unit
/// is allowed. `K`/`M`/`G`/`T` are accepted as binary units (as MySQL reads
/// them). Decimal-looking units (`KB`, `MB`, `GB`, `TB`) are refused as
/// ambiguous.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "invalid size {text:?}: expected a number with an optional unit, e.g. \"64MiB\""
        ));
    }
    let (num, unit) = s.split_at(digits);
    let value: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {text:?}: number {num:?} is too large"))?;
    let shift = match unit.trim() {
        "" | "B" | "b" => 0,
        "K" | "k" | "KiB" | "kiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        u @ ("KB" | "kB" | "kb" | "MB" | "mb" | "GB" | "gb" | "TB" | "tb") => {
            let first = u.chars().next().unwrap_or('K').to_ascii_uppercase();
            return Err(format!(
                "invalid size {text:?}: unit {u:?} is ambiguous; write {num}{first}iB (binary) or the number of bytes"
            ));
        }
        other => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("invalid size {text:?}: too large"))
}

/// Formats a byte count the way the example config writes it (`64MiB`), for
/// messages. Exact only: `1536` stays `1536B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
    for (shift, unit) in UNITS {
        if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("8h"), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_compound_and_spaced() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 2s "), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1s 500ms"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn durations_refused() {
        for bad in ["", "5", "s", "2x", "1.5s", "-1s", "2 seconds", "ms500"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        let e = parse_duration("5").unwrap_err();
        assert!(e.contains("missing unit"), "{e}");
        let e = parse_duration("2x").unwrap_err();
        assert!(e.contains("unknown unit \"x\""), "{e}");
    }

    #[test]
    fn durations_overflow_is_an_error() {
        assert!(parse_duration("99999999999999999999999999999999999999999s").is_err());
        assert!(parse_duration("999999999999d").is_err());
    }

    #[test]
    fn sizes_in_every_unit() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("16KiB"), Ok(16 * 1024));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size(" 64 MiB "), Ok(64 << 20));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn sizes_refused() {
        for bad in ["", "MiB", "1.5GiB", "-1", "64XB", "64 mebibytes"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
        let e = parse_size("64MB").unwrap_err();
        assert!(e.contains("ambiguous") && e.contains("64MiB"), "{e}");
        assert!(parse_size("99999999999999999999999").is_err());
        assert!(parse_size("16777216TiB").is_err());
    }

    #[test]
    fn sizes_format_back() {
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(1024), "1KiB");
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(0), "0B");
    }
}
