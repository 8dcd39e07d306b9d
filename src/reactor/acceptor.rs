//! The acceptor thread: accepts client sockets on `server.listen`, refuses
//! them with ERR 1040 past `max_connections`, and hands each one to an I/O
//! thread round robin (channel + `Waker`).

use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use shardgate_proto::capability::Capabilities;
use shardgate_proto::error_codes::{write_err_for, ER_CON_COUNT_ERROR};
use shardgate_proto::frame::write_packet;

use super::{Inbound, Shared};

const LISTENER: Token = Token(0);

/// Runs until shutdown. Returns an error only if polling fails.
pub fn run(mut listener: TcpListener, shared: Arc<Shared>) -> io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(64);
    let mut next_io = 0usize;
    while !shared.is_shutting_down() {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(200))) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if events.is_empty() {
            continue;
        }
        loop {
            match listener.accept() {
                Ok((sock, peer)) => {
                    let max = shared.topology().server.max_connections;
                    let now = shared.clients.fetch_add(1, Ordering::Relaxed);
                    if now >= max {
                        shared.clients.fetch_sub(1, Ordering::Relaxed);
                        log::warn!("CONN refusing {peer}: max_connections ({max}) reached");
                        refuse(sock);
                        continue;
                    }
                    super::sock::tune(&sock);
                    let conn_id = shared.next_conn_id.fetch_add(1, Ordering::Relaxed);
                    let n = shared.io.read().len().max(1);
                    shared.send_to_io(next_io % n, Inbound::Accept(sock, peer, conn_id));
                    next_io = next_io.wrapping_add(1);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: log, back off briefly, carry on.
                    log::error!("CONN accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Sends "Too many connections" in place of a greeting, as MySQL does:
/// no capabilities are agreed yet, so without the SQLSTATE marker.
fn refuse(mut sock: TcpStream) {
    let mut payload = Vec::new();
    write_err_for(
        &mut payload,
        Capabilities::empty(),
        ER_CON_COUNT_ERROR,
        "Too many connections",
    );
    let mut out = Vec::new();
    let mut seq = 0;
    write_packet(&mut out, &mut seq, &payload);
    let _ = sock.write(&out);
}
