//! CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial value and
//! final XOR 0xFFFFFFFF): the checksum of zlib's `crc32()`, and so of
//! MariaDB's and MySQL's SQL function `CRC32()`. The `hash` rule (non-integer
//! keys) and the `bucket` rule hash keys with it, so an operator can check
//! where a row belongs with plain SQL: `SELECT CRC32(k) % 8 ...`.
//!
//! Slicing-by-8: eight 256-entry tables built at compile time, eight input
//! bytes per step. No external crate, no `unsafe`.
//!
//! <https://mariadb.com/kb/en/crc32/>
//! <https://dev.mysql.com/doc/refman/8.0/en/mathematical-functions.html#function_crc32>

const POLY: u32 = 0xEDB8_8320;

/// `TABLES[k][b]`: the CRC of byte `b` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 8] = build_tables();

const fn build_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

/// CRC-32 of `data`: equal to MariaDB's `CRC32(data)` for the same bytes.
#[inline]
pub fn crc32(data: &[u8]) -> u32 {
    update(0, data)
}

/// Continues a CRC: `update(crc32(a), b) == crc32(a ++ b)`.
pub fn update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let lo = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]) ^ c;
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][(hi & 0xff) as usize]
            ^ TABLES[2][((hi >> 8) & 0xff) as usize]
            ^ TABLES[1][((hi >> 16) & 0xff) as usize]
            ^ TABLES[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = (c >> 8) ^ TABLES[0][((c ^ u32::from(b)) & 0xff) as usize];
    }
    !c
}

/// CRC-32 of the decimal text of an integer (`CRC32(k)` of an integer
/// column in SQL), without allocating.
pub fn crc32_int(v: i128) -> u32 {
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    crc32(&buf[i..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference.
    fn slow(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            }
        }
        !c
    }

    /// Values from the local MariaDB 10.11:
    /// `SELECT CRC32('abc'), CRC32(''), CRC32('1222211'), CRC32(_utf8mb4'héllo'), ...`
    #[test]
    fn matches_mariadb_crc32() {
        assert_eq!(crc32(b"abc"), 891_568_578);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"1222211"), 3_949_279_876);
        assert_eq!(crc32("héllo".as_bytes()), 2_654_700_086);
        assert_eq!(crc32(b"-5"), 926_977_075);
        assert_eq!(crc32(b"2024-01-31"), 4_259_163_891);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            1_095_738_169
        );
        // CRC32(42), CRC32(123456789), CRC32(-1), CRC32(18446744073709551615)
        assert_eq!(crc32_int(42), 841_265_288);
        assert_eq!(crc32_int(123_456_789), 3_421_780_262);
        assert_eq!(crc32_int(-1), 808_273_962);
        assert_eq!(crc32_int(u64::MAX.into()), 3_221_115_162);
        // The classic check value.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn sliced_equals_bitwise_at_every_length_and_split() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..data.len() {
            assert_eq!(crc32(&data[..n]), slow(&data[..n]), "len {n}");
        }
        for cut in 0..data.len() {
            assert_eq!(update(crc32(&data[..cut]), &data[cut..]), crc32(&data));
        }
    }

    #[test]
    fn int_text_forms() {
        for v in [0i128, 7, -7, 10, -10, i64::MIN.into(), i64::MAX.into()] {
            assert_eq!(crc32_int(v), crc32(v.to_string().as_bytes()), "{v}");
        }
    }
}
