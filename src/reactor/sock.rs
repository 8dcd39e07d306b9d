//! Socket I/O over pooled buffers: drain a readable socket into a
//! connection's buffer until WouldBlock, and write a buffer out until it is
//! empty or the socket is full. Events are hints (edge-triggered): callers
//! remember readiness and come back here.

use std::io::{self, Read, Write};
use std::time::Duration;

use mio::net::TcpStream;

use super::buffer::{Buf, BufferPool};

/// Idle time before the kernel probes a silent peer (client or backend).
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// Between two keepalive probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// Unanswered probes before the connection is declared dead.
pub const KEEPALIVE_PROBES: u32 = 3;
/// Longest time sent data may stay unacknowledged (a peer gone without a
/// FIN or RST while a statement or its reply was in flight).
pub const USER_TIMEOUT: Duration = Duration::from_secs(90);

/// Options of every client and backend socket: no Nagle delay, and a
/// peer that disappears without closing (host down, network partition) is
/// detected by the kernel within ~90 s — keepalive while the connection is
/// silent, `TCP_USER_TIMEOUT` while data is unacknowledged — so its
/// session, transaction and pooled connections are released instead of
/// waiting for ever (the socket then reports an error like a reset).
/// A server that is alive but stalled still answers the probes: that case
/// is `backend.query_timeout`'s. Failures are ignored (the defaults stay).
pub fn tune(sock: &TcpStream) {
    let _ = sock.set_nodelay(true);
    let s = socket2::SockRef::from(sock);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    let _ = s.set_tcp_keepalive(&keepalive);
    let _ = s.set_tcp_user_timeout(Some(USER_TIMEOUT));
}

/// Most bytes taken from one socket in one readiness round, so a fast
/// peer cannot starve the others on the thread.
const READ_BUDGET: usize = 256 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Some bytes were read; the socket may have more (`more`) or not.
    Data { more: bool },
    /// Nothing to read right now.
    WouldBlock,
    /// The peer closed its side.
    Closed,
    /// The buffer budget is spent: stop reading until memory frees up.
    NoMemory,
}

/// Reads from `sock` into the buffer in `slot` (checked out on demand).
pub fn read_into(
    sock: &mut TcpStream,
    slot: &mut Option<Buf>,
    pool: &mut BufferPool,
) -> io::Result<ReadOutcome> {
    let mut total = 0usize;
    loop {
        if slot.is_none() {
            match pool.checkout() {
                Some(b) => *slot = Some(b),
                None => return Ok(ReadOutcome::NoMemory),
            }
        }
        let Some(buf) = slot.as_mut() else {
            return Ok(ReadOutcome::NoMemory);
        };
        let space = buf.space(4096);
        let spare = space.len();
        let res = sock.read(space);
        if let Ok(n) = &res {
            buf.fill(*n);
        }
        if !pool.account(buf) {
            return Ok(ReadOutcome::NoMemory);
        }
        match res {
            Ok(0) => {
                return Ok(if total > 0 {
                    ReadOutcome::Data { more: false }
                } else {
                    ReadOutcome::Closed
                });
            }
            Ok(n) => {
                total += n;
                if n < spare {
                    // A short read drained the socket's receive queue. Any
                    // byte that arrives later raises a new edge (epoll calls
                    // back on every arrival), so the extra read() that would
                    // only return WouldBlock is skipped.
                    return Ok(ReadOutcome::Data { more: false });
                }
                if total >= READ_BUDGET {
                    return Ok(ReadOutcome::Data { more: true });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(if total > 0 {
                    ReadOutcome::Data { more: false }
                } else {
                    ReadOutcome::WouldBlock
                });
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// One readiness round of reading for a connection: drains the socket into
/// `slot` and updates `readable` (kept set while the peer has closed, so the
/// next round sees the end). `Err` carries the reason to close it.
pub fn read_ready(
    sock: &mut TcpStream,
    slot: &mut Option<Buf>,
    pool: &mut BufferPool,
    readable: &mut bool,
    read_closed: bool,
    peer: &str,
) -> Result<(), String> {
    match read_into(sock, slot, pool) {
        Ok(ReadOutcome::Data { more }) => *readable = more || read_closed,
        Ok(ReadOutcome::WouldBlock) => *readable = false,
        Ok(ReadOutcome::Closed) => return Err(format!("{peer} closed the connection")),
        Ok(ReadOutcome::NoMemory) => return Err("buffer memory exhausted".into()),
        Err(e) => return Err(format!("read failed: {e}")),
    }
    Ok(())
}

/// Writes the buffer in `slot` to `sock`; true when it is empty afterwards
/// (the buffer is then returned to the pool).
pub fn flush(
    sock: &mut TcpStream,
    slot: &mut Option<Buf>,
    pool: &mut BufferPool,
) -> io::Result<bool> {
    let (_, blocked) = flush_upto(sock, slot, pool, usize::MAX)?;
    Ok(!blocked)
}

/// Writes at most the first `limit` bytes of the buffer in `slot` to
/// `sock`: (bytes written, whether the socket would block). An emptied
/// buffer goes back to the pool.
pub fn flush_upto(
    sock: &mut TcpStream,
    slot: &mut Option<Buf>,
    pool: &mut BufferPool,
    limit: usize,
) -> io::Result<(usize, bool)> {
    let mut written = 0;
    loop {
        let Some(buf) = slot.as_mut() else {
            return Ok((written, false));
        };
        if buf.is_empty() {
            pool.release_if_empty(slot);
            return Ok((written, false));
        }
        let n = buf.len().min(limit - written);
        if n == 0 {
            return Ok((written, false));
        }
        match sock.write(&buf.data()[..n]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket closed")),
            Ok(n) => {
                buf.consume(n);
                written += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((written, true)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Appends `bytes` to the buffer in `slot`, checking one out if needed.
/// False when the budget cannot hold them.
pub fn append(slot: &mut Option<Buf>, pool: &mut BufferPool, bytes: &[u8]) -> bool {
    if slot.is_none() {
        match pool.checkout() {
            Some(b) => *slot = Some(b),
            None => return false,
        }
    }
    let Some(buf) = slot.as_mut() else {
        return false;
    };
    buf.extend(bytes);
    pool.account(buf)
}

/// Length of unread bytes in `slot`.
pub fn pending(slot: &Option<Buf>) -> usize {
    slot.as_ref().map_or(0, Buf::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuned_sockets_detect_a_vanished_peer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sock = TcpStream::connect(addr).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        tune(&sock);
        let s = socket2::SockRef::from(&sock);
        assert!(s.nodelay().unwrap());
        assert!(s.keepalive().unwrap());
        assert_eq!(s.keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(s.keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(s.keepalive_retries().unwrap(), KEEPALIVE_PROBES);
        assert_eq!(s.tcp_user_timeout().unwrap(), Some(USER_TIMEOUT));
    }
}
