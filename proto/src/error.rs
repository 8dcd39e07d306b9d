//! The one error type of the protocol crate: what went wrong while decoding
//! bytes from a peer. Decoders never panic on input; they return one of these.
//! The proxy maps them to a closed connection with a logged reason.

use std::fmt;

/// Why a packet or frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoError {
    /// The payload ended before a field that must be there.
    Truncated { what: &'static str },
    /// A field holds a value the protocol does not allow here.
    Invalid { what: &'static str },
    /// A frame's sequence id is not the one the conversation expects.
    OutOfOrder { expected: u8, got: u8 },
    /// A packet (after joining continuation frames) is larger than allowed.
    TooLarge { len: usize, max: usize },
    /// The first byte of a command packet names no command we know.
    UnknownCommand(u8),
    /// Bytes were left after a packet that must be consumed whole.
    TrailingBytes { what: &'static str, left: usize },
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Truncated { what } => write!(f, "truncated packet: {what}"),
            ProtoError::Invalid { what } => write!(f, "invalid packet: {what}"),
            ProtoError::OutOfOrder { expected, got } => {
                write!(
                    f,
                    "packets out of order: expected sequence id {expected}, got {got}"
                )
            }
            ProtoError::TooLarge { len, max } => {
                write!(f, "packet of {len} bytes exceeds the limit of {max} bytes")
            }
            ProtoError::UnknownCommand(c) => write!(f, "unknown command 0x{c:02x}"),
            ProtoError::TrailingBytes { what, left } => {
                write!(f, "{left} unexpected trailing bytes after {what}")
            }
        }
    }
}

impl std::error::Error for ProtoError {}

/// Result alias used by every decoder in this crate.
pub type Result<T> = std::result::Result<T, ProtoError>;
