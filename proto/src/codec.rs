//! Basic data types of the MySQL protocol: fixed-length little-endian
//! integers, length-encoded integers and strings, NUL-terminated strings and
//! rest-of-packet strings. Every other module reads and writes through these.
//!
//! Reading is done with a [`Reader`], a cursor over a borrowed payload whose
//! methods return [`ProtoError::Truncated`] instead of panicking. Parsers built
//! with nom use the combinators at the bottom of this file.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_dt_integers.html>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_dt_strings.html>

use crate::error::{ProtoError, Result};

/// A cursor over a payload. Borrowed slices it returns live as long as the
/// payload, so decoding copies nothing.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails unless every byte was read.
    pub fn finish(&self, what: &'static str) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(ProtoError::TrailingBytes {
                what,
                left: self.buf.len(),
            })
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<()> {
        self.take(n, what).map(|_| ())
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(ProtoError::Truncated { what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Everything left (a `string<EOF>`).
    pub fn rest(&mut self) -> &'a [u8] {
        let all = self.buf;
        self.buf = &[];
        all
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u24(&mut self, what: &'static str) -> Result<u32> {
        let b = self.take(3, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], 0]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u48(&mut self, what: &'static str) -> Result<u64> {
        let b = self.take(6, what)?;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], 0, 0,
        ]))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A length-encoded integer. `0xfb` (NULL in rows) and `0xff` (ERR) are
    /// not integers and are reported as invalid; callers that accept NULL
    /// check for `0xfb` first.
    pub fn lenenc_int(&mut self, what: &'static str) -> Result<u64> {
        match self.u8(what)? {
            b @ 0x00..=0xfa => Ok(u64::from(b)),
            0xfc => Ok(u64::from(self.u16(what)?)),
            0xfd => Ok(u64::from(self.u24(what)?)),
            0xfe => self.u64(what),
            _ => Err(ProtoError::Invalid { what }),
        }
    }

    /// A length-encoded string.
    pub fn lenenc_bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let len = self.lenenc_int(what)?;
        let len = usize::try_from(len).map_err(|_| ProtoError::Truncated { what })?;
        self.take(len, what)
    }

    /// A NUL-terminated string, without its NUL.
    pub fn null_bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        match self.buf.iter().position(|&b| b == 0) {
            Some(pos) => {
                let s = &self.buf[..pos];
                self.buf = &self.buf[pos + 1..];
                Ok(s)
            }
            None => Err(ProtoError::Truncated { what }),
        }
    }

    /// A NUL-terminated string, or everything left when no NUL follows (some
    /// clients omit the final NUL of the last string in a packet).
    pub fn null_or_eof_bytes(&mut self) -> &'a [u8] {
        match self.buf.iter().position(|&b| b == 0) {
            Some(pos) => {
                let s = &self.buf[..pos];
                self.buf = &self.buf[pos + 1..];
                s
            }
            None => self.rest(),
        }
    }
}

/// Size in bytes of `n` written as a length-encoded integer.
pub fn lenenc_int_len(n: u64) -> usize {
    match n {
        0..=0xfa => 1,
        0xfb..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 9,
    }
}

pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

pub fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u24(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes()[..3]);
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u48(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes()[..6]);
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes `n` as a length-encoded integer (shortest form).
pub fn put_lenenc_int(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfa => out.push(n as u8),
        0xfb..=0xffff => {
            out.push(0xfc);
            put_u16(out, n as u16);
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            put_u24(out, n as u32);
        }
        _ => {
            out.push(0xfe);
            put_u64(out, n);
        }
    }
}

pub fn put_lenenc_bytes(out: &mut Vec<u8>, s: &[u8]) {
    put_lenenc_int(out, s.len() as u64);
    out.extend_from_slice(s);
}

pub fn put_null_bytes(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

/// nom combinators over the same types, for parsers written in nom style.
pub mod nom_parsers {
    use nom::number::complete::{le_u16, le_u24, le_u64, le_u8};
    use nom::IResult;

    pub fn lenenc_int(i: &[u8]) -> IResult<&[u8], u64> {
        let (i, first) = le_u8(i)?;
        match first {
            0x00..=0xfa => Ok((i, u64::from(first))),
            0xfc => le_u16(i).map(|(i, v)| (i, u64::from(v))),
            0xfd => le_u24(i).map(|(i, v)| (i, u64::from(v))),
            0xfe => le_u64(i),
            _ => Err(nom::Err::Error(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Tag,
            ))),
        }
    }

    pub fn lenenc_bytes(i: &[u8]) -> IResult<&[u8], &[u8]> {
        let (i, len) = lenenc_int(i)?;
        let len = usize::try_from(len).map_err(|_| {
            nom::Err::Error(nom::error::Error::new(i, nom::error::ErrorKind::TooLarge))
        })?;
        nom::bytes::complete::take(len)(i)
    }

    pub fn null_bytes(i: &[u8]) -> IResult<&[u8], &[u8]> {
        let (i, s) = nom::bytes::complete::take_until(&b"\0"[..])(i)?;
        Ok((&i[1..], s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_lenenc_int(&mut out, n);
        assert_eq!(out.len(), lenenc_int_len(n));
        let mut r = Reader::new(&out);
        assert_eq!(r.lenenc_int("n").unwrap(), n);
        assert!(r.is_empty());
        let (rest, v) = nom_parsers::lenenc_int(&out).unwrap();
        assert_eq!((rest.len(), v), (0, n));
        out
    }

    #[test]
    fn lenenc_int_edges() {
        assert_eq!(roundtrip(0), vec![0]);
        assert_eq!(roundtrip(0xfa), vec![0xfa]);
        assert_eq!(roundtrip(0xfb), vec![0xfc, 0xfb, 0x00]);
        assert_eq!(roundtrip(0xfc), vec![0xfc, 0xfc, 0x00]);
        assert_eq!(roundtrip(0xfd), vec![0xfc, 0xfd, 0x00]);
        assert_eq!(roundtrip(0xffff), vec![0xfc, 0xff, 0xff]);
        assert_eq!(roundtrip(0x1_0000), vec![0xfd, 0x00, 0x00, 0x01]);
        assert_eq!(roundtrip(0xff_ffff), vec![0xfd, 0xff, 0xff, 0xff]);
        assert_eq!(roundtrip(0x100_0000), vec![0xfe, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(
            roundtrip(u64::MAX),
            vec![0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn lenenc_int_rejects_null_and_err_markers() {
        assert!(matches!(
            Reader::new(&[0xfb]).lenenc_int("x"),
            Err(ProtoError::Invalid { .. })
        ));
        assert!(matches!(
            Reader::new(&[0xff]).lenenc_int("x"),
            Err(ProtoError::Invalid { .. })
        ));
        assert!(nom_parsers::lenenc_int(&[0xfb]).is_err());
    }

    #[test]
    fn truncated_inputs_are_errors() {
        for bytes in [
            &[0xfc, 0x01][..],
            &[0xfd, 1, 2],
            &[0xfe, 1, 2, 3, 4, 5, 6, 7],
            &[],
        ] {
            assert!(matches!(
                Reader::new(bytes).lenenc_int("x"),
                Err(ProtoError::Truncated { .. })
            ));
        }
        // a length that points past the end
        assert!(Reader::new(&[0x05, b'a', b'b']).lenenc_bytes("s").is_err());
        // a huge 8-byte length must not overflow or allocate
        let huge = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'a'];
        assert!(Reader::new(&huge).lenenc_bytes("s").is_err());
    }

    #[test]
    fn strings() {
        let mut out = Vec::new();
        put_lenenc_bytes(&mut out, b"hello");
        put_null_bytes(&mut out, b"world");
        out.extend_from_slice(b"rest");
        let mut r = Reader::new(&out);
        assert_eq!(r.lenenc_bytes("a").unwrap(), b"hello");
        assert_eq!(r.null_bytes("b").unwrap(), b"world");
        assert_eq!(r.rest(), b"rest");
        r.finish("all").unwrap();
        assert!(Reader::new(b"no-nul").null_bytes("x").is_err());
        assert_eq!(Reader::new(b"no-nul").null_or_eof_bytes(), b"no-nul");
    }

    #[test]
    fn fixed_ints() {
        let mut out = Vec::new();
        put_u8(&mut out, 1);
        put_u16(&mut out, 0x0302);
        put_u24(&mut out, 0x060504);
        put_u32(&mut out, 0x0a090807);
        put_u48(&mut out, 0x100f0e0d0c0b);
        put_u64(&mut out, 0x1817161514131211);
        assert_eq!(out, (1u8..=0x18).collect::<Vec<_>>());
        let mut r = Reader::new(&out);
        assert_eq!(r.u8("").unwrap(), 1);
        assert_eq!(r.u16("").unwrap(), 0x0302);
        assert_eq!(r.u24("").unwrap(), 0x060504);
        assert_eq!(r.u32("").unwrap(), 0x0a090807);
        assert_eq!(r.u48("").unwrap(), 0x100f0e0d0c0b);
        assert_eq!(r.u64("").unwrap(), 0x1817161514131211);
        assert!(r.u8("").is_err());
    }
}
