//! Packet framing: every MySQL packet is a 3-byte little-endian payload length,
//! a 1-byte sequence id and the payload. A payload of 16 MiB - 1 or more is
//! split over several frames; a frame shorter than 16 MiB - 1 ends the packet
//! (so a payload of exactly k * (16 MiB - 1) is followed by an empty frame).
//!
//! [`PacketDecoder`] is an incremental sans-io decoder: given the bytes read
//! so far it returns `Ok(None)` ("need more bytes"), or one whole packet and
//! how many bytes it used. A packet carried in one frame is returned as a
//! borrowed slice of the input (no copy); only continued packets are joined.
//! Sequence ids are checked, and a wrong one is an error value.
//!
//! Encoding: [`write_packet`] writes a payload with its headers, splitting as
//! needed; [`PacketWriter`] lets a caller encode a payload in place after a
//! reserved header and fixes the header(s) up afterwards.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html>

use std::borrow::Cow;

use crate::error::{ProtoError, Result};

/// Largest payload one frame carries (16 MiB - 1).
pub const MAX_FRAME_PAYLOAD: usize = 0xff_ffff;
/// Bytes of the frame header.
pub const HEADER_LEN: usize = 4;
/// The protocol's default `max_allowed_packet` on both sides (64 MiB).
pub const DEFAULT_MAX_PACKET: usize = 64 << 20;

/// One frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub payload_len: usize,
    pub seq: u8,
}

impl FrameHeader {
    /// Reads a header from the first four bytes, if present.
    #[inline]
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        Some(FrameHeader {
            payload_len: usize::from(buf[0]) | usize::from(buf[1]) << 8 | usize::from(buf[2]) << 16,
            seq: buf[3],
        })
    }

    #[inline]
    pub fn encode(self) -> [u8; 4] {
        let l = self.payload_len as u32;
        [l as u8, (l >> 8) as u8, (l >> 16) as u8, self.seq]
    }
}

/// One decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Sequence id of the first frame.
    pub seq: u8,
    /// Sequence id of the last frame (equal to `seq` for single-frame packets).
    pub last_seq: u8,
    /// The payload, borrowed when the packet was one frame.
    pub payload: Cow<'a, [u8]>,
    /// Input bytes this packet used, headers included.
    pub consumed: usize,
}

/// Where the end of the next complete packet lies in a buffer, without
/// joining its frames: used to relay packets byte-for-byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketSpan {
    pub seq: u8,
    pub last_seq: u8,
    /// Payload length summed over all frames.
    pub payload_len: usize,
    /// Input bytes (headers included) the packet occupies.
    pub wire_len: usize,
    /// Frames that make up the packet.
    pub frames: usize,
}

/// Incremental decoder for one direction of one connection.
#[derive(Debug, Clone)]
pub struct PacketDecoder {
    max_packet: usize,
    /// The sequence id the next frame must carry, or `None` to accept any.
    expected_seq: Option<u8>,
}

impl PacketDecoder {
    pub fn new(max_packet: usize) -> Self {
        PacketDecoder {
            max_packet,
            expected_seq: None,
        }
    }

    pub fn max_packet(&self) -> usize {
        self.max_packet
    }

    pub fn set_max_packet(&mut self, max_packet: usize) {
        self.max_packet = max_packet;
    }

    /// The next frame must carry `seq` (e.g. 0 when a new command starts).
    pub fn expect_seq(&mut self, seq: u8) {
        self.expected_seq = Some(seq);
    }

    /// Accept any sequence id for the next frame, then check from there on.
    pub fn accept_any_seq(&mut self) {
        self.expected_seq = None;
    }

    /// The sequence id the next frame is expected to carry.
    pub fn expected_seq(&self) -> Option<u8> {
        self.expected_seq
    }

    /// Finds the next complete packet in `buf` without copying. `Ok(None)`
    /// means more bytes are needed. The expected sequence id advances only
    /// when a whole packet is found.
    pub fn span(&mut self, buf: &[u8]) -> Result<Option<PacketSpan>> {
        let mut pos = 0usize;
        let mut total = 0usize;
        let mut frames = 0usize;
        let mut first_seq = 0u8;
        let mut seq = self.expected_seq;
        loop {
            let Some(h) = FrameHeader::parse(&buf[pos..]) else {
                return Ok(None);
            };
            if let Some(expected) = seq {
                if h.seq != expected {
                    return Err(ProtoError::OutOfOrder {
                        expected,
                        got: h.seq,
                    });
                }
            }
            if frames == 0 {
                first_seq = h.seq;
            }
            total += h.payload_len;
            if total > self.max_packet {
                return Err(ProtoError::TooLarge {
                    len: total,
                    max: self.max_packet,
                });
            }
            frames += 1;
            seq = Some(h.seq.wrapping_add(1));
            let end = pos + HEADER_LEN + h.payload_len;
            if buf.len() < end {
                return Ok(None);
            }
            pos = end;
            if h.payload_len < MAX_FRAME_PAYLOAD {
                self.expected_seq = seq;
                return Ok(Some(PacketSpan {
                    seq: first_seq,
                    last_seq: h.seq,
                    payload_len: total,
                    wire_len: pos,
                    frames,
                }));
            }
        }
    }

    /// Decodes the next complete packet in `buf`, joining continuation
    /// frames. `Ok(None)` means more bytes are needed.
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Result<Option<Packet<'a>>> {
        let Some(span) = self.span(buf)? else {
            return Ok(None);
        };
        Ok(Some(packet_from_span(buf, span)))
    }
}

/// Builds the packet a span describes (the span must come from `buf`).
pub fn packet_from_span(buf: &[u8], span: PacketSpan) -> Packet<'_> {
    let payload = if span.frames == 1 {
        Cow::Borrowed(&buf[HEADER_LEN..span.wire_len])
    } else {
        let mut joined = Vec::with_capacity(span.payload_len);
        let mut pos = 0;
        while pos < span.wire_len {
            let len = FrameHeader::parse(&buf[pos..]).map_or(0, |h| h.payload_len);
            joined.extend_from_slice(&buf[pos + HEADER_LEN..pos + HEADER_LEN + len]);
            pos += HEADER_LEN + len;
        }
        Cow::Owned(joined)
    };
    Packet {
        seq: span.seq,
        last_seq: span.last_seq,
        payload,
        consumed: span.wire_len,
    }
}

/// Calls `f` with the payload of each packet in a run of whole frames,
/// joining continuation frames (the borrowed frame when a packet is one
/// frame). A trailing partial frame is ignored.
pub fn for_each_packet(frames: &[u8], mut f: impl FnMut(&[u8])) {
    let mut pos = 0;
    let mut joined: Vec<u8> = Vec::new();
    let mut continuing = false;
    while let Some(h) = FrameHeader::parse(&frames[pos..]) {
        let end = pos + HEADER_LEN + h.payload_len;
        if end > frames.len() {
            break;
        }
        let body = &frames[pos + HEADER_LEN..end];
        let full = h.payload_len == MAX_FRAME_PAYLOAD;
        if continuing || full {
            joined.extend_from_slice(body);
            if !full {
                f(&joined);
                joined.clear();
            }
        } else {
            f(body);
        }
        continuing = full;
        pos = end;
    }
}

/// Appends `payload` as one packet (one or more frames) starting at
/// sequence id `*seq`; `*seq` is left at the id the next packet should use.
pub fn write_packet(out: &mut Vec<u8>, seq: &mut u8, payload: &[u8]) {
    out.reserve(payload.len() + HEADER_LEN * (1 + payload.len() / MAX_FRAME_PAYLOAD));
    let mut chunks = payload.chunks(MAX_FRAME_PAYLOAD);
    loop {
        let chunk = chunks.next().unwrap_or(&[]);
        out.extend_from_slice(
            &FrameHeader {
                payload_len: chunk.len(),
                seq: *seq,
            }
            .encode(),
        );
        out.extend_from_slice(chunk);
        *seq = seq.wrapping_add(1);
        if chunk.len() < MAX_FRAME_PAYLOAD {
            break;
        }
    }
}

/// Encodes one packet in place: `let w = PacketWriter::begin(out);` then
/// append the payload to `out`, then `w.finish(out, &mut seq)`. Costs no copy
/// unless the payload needs more than one frame.
#[derive(Debug)]
#[must_use = "finish() writes the header"]
pub struct PacketWriter {
    start: usize,
}

impl PacketWriter {
    pub fn begin(out: &mut Vec<u8>) -> PacketWriter {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0]);
        PacketWriter { start }
    }

    pub fn finish(self, out: &mut Vec<u8>, seq: &mut u8) {
        let payload_len = out.len() - self.start - HEADER_LEN;
        if payload_len < MAX_FRAME_PAYLOAD {
            out[self.start..self.start + HEADER_LEN].copy_from_slice(
                &FrameHeader {
                    payload_len,
                    seq: *seq,
                }
                .encode(),
            );
            *seq = seq.wrapping_add(1);
            return;
        }
        let payload = out.split_off(self.start + HEADER_LEN);
        out.truncate(self.start);
        write_packet(out, seq, &payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(payload: &[u8], seq: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = seq;
        write_packet(&mut out, &mut s, payload);
        out
    }

    #[test]
    fn small_packet_is_borrowed() {
        let wire = encode(b"\x03select 1", 0);
        assert_eq!(&wire[..4], &[9, 0, 0, 0]);
        let mut d = PacketDecoder::new(DEFAULT_MAX_PACKET);
        d.expect_seq(0);
        let p = d.decode(&wire).unwrap().unwrap();
        assert!(matches!(p.payload, Cow::Borrowed(_)));
        assert_eq!(&*p.payload, b"\x03select 1");
        assert_eq!(p.consumed, wire.len());
        assert_eq!(d.expected_seq(), Some(1));
    }

    #[test]
    fn need_more_bytes_at_every_cut() {
        let wire = encode(b"hello world", 3);
        for cut in 0..wire.len() {
            let mut d = PacketDecoder::new(100);
            assert_eq!(d.decode(&wire[..cut]).unwrap(), None, "cut {cut}");
        }
    }

    #[test]
    fn empty_payload() {
        let wire = encode(b"", 7);
        assert_eq!(wire, vec![0, 0, 0, 7]);
        let p = PacketDecoder::new(10).decode(&wire).unwrap().unwrap();
        assert_eq!((p.seq, p.payload.len(), p.consumed), (7, 0, 4));
    }

    fn check_big(len: usize, frames: usize) {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let wire = encode(&payload, 0);
        assert_eq!(wire.len(), len + frames * HEADER_LEN, "len {len}");
        let mut d = PacketDecoder::new(64 << 20);
        d.expect_seq(0);
        let span = d.span(&wire).unwrap().unwrap();
        assert_eq!(span.frames, frames);
        assert_eq!(span.last_seq as usize, frames - 1);
        let p = packet_from_span(&wire, span);
        assert_eq!(p.payload.len(), len);
        assert!(p.payload == payload);
        assert_eq!(d.expected_seq(), Some(frames as u8));
        // and through the in-place writer
        let mut out = Vec::new();
        let w = PacketWriter::begin(&mut out);
        out.extend_from_slice(&payload);
        let mut seq = 0;
        w.finish(&mut out, &mut seq);
        assert!(out == wire);
        assert_eq!(seq as usize, frames);
    }

    #[test]
    fn boundary_sizes() {
        check_big(MAX_FRAME_PAYLOAD - 1, 1);
        check_big(MAX_FRAME_PAYLOAD, 2); // followed by an empty frame
        check_big(MAX_FRAME_PAYLOAD + 1, 2);
        check_big(16 << 20, 2);
        check_big(2 * MAX_FRAME_PAYLOAD, 3);
        check_big(32 << 20, 3);
    }

    #[test]
    fn out_of_order_is_an_error_value() {
        let wire = encode(b"x", 5);
        let mut d = PacketDecoder::new(10);
        d.expect_seq(0);
        assert_eq!(
            d.decode(&wire),
            Err(ProtoError::OutOfOrder {
                expected: 0,
                got: 5
            })
        );
        // a continuation frame with the wrong id
        let mut wire = encode(&vec![1u8; MAX_FRAME_PAYLOAD + 3], 0);
        wire[HEADER_LEN + MAX_FRAME_PAYLOAD + 3] = 9;
        let mut d = PacketDecoder::new(64 << 20);
        assert_eq!(
            d.decode(&wire),
            Err(ProtoError::OutOfOrder {
                expected: 1,
                got: 9
            })
        );
    }

    #[test]
    fn sequence_wraps() {
        let mut wire = encode(b"a", 255);
        wire.extend(encode(b"b", 0));
        let mut d = PacketDecoder::new(10);
        d.expect_seq(255);
        let p = d.decode(&wire).unwrap().unwrap();
        let q = d.decode(&wire[p.consumed..]).unwrap().unwrap();
        assert_eq!(&*q.payload, b"b");
    }

    #[test]
    fn too_large_is_reported_before_the_body_arrives() {
        let header = FrameHeader {
            payload_len: 1000,
            seq: 0,
        }
        .encode();
        let mut d = PacketDecoder::new(999);
        assert_eq!(
            d.decode(&header),
            Err(ProtoError::TooLarge {
                len: 1000,
                max: 999
            })
        );
        let mut d = PacketDecoder::new(1000);
        assert_eq!(d.decode(&header), Ok(None));
    }

    #[test]
    fn for_each_packet_joins_continuations() {
        let big = vec![7u8; MAX_FRAME_PAYLOAD + 2];
        let mut wire = encode(b"one", 0);
        wire.extend(encode(&big, 1));
        wire.extend(encode(b"", 3));
        wire.extend_from_slice(&[9, 0, 0]); // a partial header is ignored
        let mut seen = Vec::new();
        for_each_packet(&wire, |p| seen.push(p.len()));
        assert_eq!(seen, vec![3, MAX_FRAME_PAYLOAD + 2, 0]);
    }

    #[test]
    fn two_packets_in_one_buffer() {
        let mut wire = encode(b"one", 0);
        wire.extend(encode(b"two", 1));
        let mut d = PacketDecoder::new(10);
        let a = d.decode(&wire).unwrap().unwrap();
        let b = d.decode(&wire[a.consumed..]).unwrap().unwrap();
        assert_eq!((&*a.payload, &*b.payload), (&b"one"[..], &b"two"[..]));
        assert_eq!(a.consumed + b.consumed, wire.len());
    }
}
