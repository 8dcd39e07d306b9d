//! The operator side of a running proxy: the admin port (`server.admin_listen`,
//! MySQL protocol, the `[admin]` account, any MySQL client) and the
//! Prometheus metrics endpoint (`server.metrics_listen`, `GET /metrics`).
//!
//! Neither is on the statement path, so both are plain blocking code on
//! their own threads: `shardgate-admin` accepts admin connections and runs
//! each on a `shardgate-admin-conn` thread (at most
//! [`MAX_ADMIN_CONNECTIONS`]); `shardgate-metrics` answers scrapes one at a
//! time. The accept loops wait in a mio `Poll` with a short timeout so they
//! notice `Shared::shutdown`; connection threads read with a short timeout
//! for the same reason.
//!
//! - `server`: the admin session (handshake, login, COM_* loop).
//! - `commands`: admin statement parsing and execution.
//! - `views`: the result sets of the `SHOW` commands; `config_view`: those of
//!   `SHOW CONFIG` and `HELP`.
//! - `metrics`: the HTTP endpoint and the text exposition.

mod commands;
mod config_view;
mod metrics;
mod server;
mod views;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Topology;
use crate::reactor::Shared;

pub use commands::{parse, Command, RuleRef};
pub use metrics::render as render_metrics;

/// Admin connections served at once; more get ERR 1040.
pub const MAX_ADMIN_CONNECTIONS: usize = 16;

/// How often the accept loops and connection threads look at the shutdown
/// flag.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(250);

/// The admin and metrics sockets, bound but not yet served.
pub struct Listeners {
    admin: Option<TcpListener>,
    metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds `server.admin_listen` and `server.metrics_listen` (those that
    /// are set). Errors name the setting.
    pub fn bind(topo: &Topology) -> io::Result<Listeners> {
        let bind = |what: &str, addr: Option<SocketAddr>| -> io::Result<Option<TcpListener>> {
            let Some(addr) = addr else {
                return Ok(None);
            };
            let l = TcpListener::bind(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("server.{what} {addr}: {e}")))?;
            l.set_nonblocking(true)?;
            Ok(Some(l))
        };
        Ok(Listeners {
            admin: bind("admin_listen", topo.server.admin_listen)?,
            metrics: bind("metrics_listen", topo.server.metrics_listen)?,
        })
    }

    /// Where the admin port listens (the bound address: port 0 resolved).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where the metrics endpoint listens.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Starts the accept threads. They stop (and the admin thread joins its
    /// connection threads) once `shared.shutdown` is set. `config_path` is
    /// what the admin `RELOAD` reads; `None` makes `RELOAD` fail with a
    /// message saying so.
    pub fn spawn(
        self,
        shared: Arc<Shared>,
        config_path: Option<PathBuf>,
    ) -> io::Result<Vec<JoinHandle<()>>> {
        let mut threads = Vec::new();
        if let Some(l) = self.admin {
            let addr = l.local_addr()?;
            let sh = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("shardgate-admin".into())
                    .spawn(move || server::run(l, sh, config_path))?,
            );
            log::info!("ADMIN admin port listening on {addr}");
        }
        if let Some(l) = self.metrics {
            let addr = l.local_addr()?;
            threads.push(
                std::thread::Builder::new()
                    .name("shardgate-metrics".into())
                    .spawn(move || metrics::run(l, shared))?,
            );
            log::info!("ADMIN metrics at http://{addr}/metrics");
        }
        Ok(threads)
    }
}

/// Binds and starts both endpoints of `shared`'s topology.
pub fn start(shared: Arc<Shared>, config_path: Option<PathBuf>) -> io::Result<Vec<JoinHandle<()>>> {
    Listeners::bind(&shared.topology())?.spawn(shared, config_path)
}

/// Accepts on `listener` until shutdown, handing each connection (blocking
/// mode) to `on_accept`. Waits in a mio `Poll` so a shutdown is seen within
/// [`SHUTDOWN_CHECK`].
fn accept_loop(
    listener: TcpListener,
    shared: &Shared,
    what: &str,
    mut on_accept: impl FnMut(TcpStream, SocketAddr),
) {
    let mut listener = mio::net::TcpListener::from_std(listener);
    let mut poll = match mio::Poll::new() {
        Ok(p) => p,
        Err(e) => {
            log::error!("ADMIN {what}: cannot create a poll: {e}");
            return;
        }
    };
    if let Err(e) = poll
        .registry()
        .register(&mut listener, mio::Token(0), mio::Interest::READABLE)
    {
        log::error!("ADMIN {what}: cannot register the listener: {e}");
        return;
    }
    let mut events = mio::Events::with_capacity(8);
    while !shared.is_shutting_down() {
        if let Err(e) = poll.poll(&mut events, Some(SHUTDOWN_CHECK)) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::error!("ADMIN {what}: poll failed: {e}");
                return;
            }
        }
        // Edge-triggered: drain every pending connection.
        loop {
            match listener.accept() {
                Ok((s, peer)) => {
                    let s = TcpStream::from(s);
                    if let Err(e) = s.set_nonblocking(false) {
                        log::debug!("ADMIN {what}: [{peer}] set blocking: {e}");
                        continue;
                    }
                    let _ = s.set_nodelay(true);
                    on_accept(s, peer);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    log::warn!("ADMIN {what}: accept failed: {e}");
                    std::thread::sleep(SHUTDOWN_CHECK);
                    break;
                }
            }
        }
    }
}
