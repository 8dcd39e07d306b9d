//! systemd readiness notification (`sd_notify(3)`) without libsystemd.
//!
//! Under `Type=notify` / `Type=notify-reload` systemd passes the path of a
//! datagram socket in `$NOTIFY_SOCKET`; the service sends newline-separated
//! `KEY=VALUE` states to it. The server calls [`ready`] once the listener is
//! bound, [`reloading`] / [`ready`] around a config reload, [`stopping`]
//! when shutdown begins and [`status`] for a one-line status shown by
//! `systemctl status`.
//!
//! Outside systemd (no `$NOTIFY_SOCKET`) every call does nothing. A failure
//! to notify never reaches the caller: the proxy keeps serving, and the
//! first failure is logged at warn, later ones at debug (systemd's own
//! start/reload timeout reports the consequence).
//!
//! Addresses: an absolute path, or `@name` for a Linux abstract socket
//! (systemd uses those in containers). `vsock:` addresses are not
//! supported and are reported as such.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The environment variable systemd sets for notify-type services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Why one notification could not be sent.
#[derive(Debug)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is neither an absolute path nor `@abstract`.
    BadAddress(String),
    /// Creating the datagram socket failed.
    Socket(io::Error),
    /// The datagram could not be sent to the address.
    Send { addr: String, source: io::Error },
    /// The kernel took only part of the datagram.
    Short {
        addr: String,
        sent: usize,
        len: usize,
    },
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotifyError::BadAddress(a) => write!(
                f,
                "{NOTIFY_SOCKET}={a:?}: not an absolute path or @abstract name"
            ),
            NotifyError::Socket(e) => write!(f, "cannot create a datagram socket: {e}"),
            NotifyError::Send { addr, source } => write!(f, "send to {addr}: {source}"),
            NotifyError::Short { addr, sent, len } => {
                write!(f, "send to {addr}: only {sent} of {len} bytes sent")
            }
        }
    }
}

impl std::error::Error for NotifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NotifyError::Socket(e) | NotifyError::Send { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

/// `READY=1`: start-up finished (the listener is bound), or a reload
/// announced with [`reloading`] finished.
pub fn ready() -> bool {
    notify("READY=1")
}

/// `RELOADING=1` with `MONOTONIC_USEC` (required by systemd >= 253 for
/// `Type=notify-reload`, harmless before). Follow it with [`ready`] when
/// the reload is done, whether it was applied or refused.
pub fn reloading() -> bool {
    notify(&reloading_message())
}

/// `STOPPING=1`: shutdown has begun (in-flight statements are finishing).
pub fn stopping() -> bool {
    notify("STOPPING=1")
}

/// `STATUS=...`: a one-line status for `systemctl status` (newlines are
/// replaced by spaces: each line would be a separate assignment).
pub fn status(text: &str) -> bool {
    notify(&status_message(text))
}

/// Sends `state` to `$NOTIFY_SOCKET` if it is set. Returns whether it was
/// sent; never fails the caller.
pub fn notify(state: &str) -> bool {
    notify_env(std::env::var_os(NOTIFY_SOCKET).as_deref(), state)
}

/// [`notify`] with the value of `$NOTIFY_SOCKET` passed in (tests: the
/// environment is process-global).
fn notify_env(socket: Option<&OsStr>, state: &str) -> bool {
    let Some(socket) = socket.filter(|s| !s.is_empty()) else {
        return false;
    };
    match notify_to(socket, state) {
        Ok(()) => {
            log::debug!("SYSTEMD notified {:?}", first_line(state));
            true
        }
        Err(e) => {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if WARNED.swap(true, Ordering::Relaxed) {
                log::debug!("SYSTEMD notify {:?} failed: {e}", first_line(state));
            } else {
                log::warn!(
                    "SYSTEMD notify {:?} failed: {e} (further failures are logged at debug)",
                    first_line(state)
                );
            }
            false
        }
    }
}

/// Sends `state` as one datagram to the notify socket `socket` (an
/// absolute path or `@abstract`).
pub fn notify_to(socket: &OsStr, state: &str) -> Result<(), NotifyError> {
    let bytes = socket.as_bytes();
    let shown = socket.to_string_lossy().into_owned();
    let sock = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
    let sent = match bytes.first() {
        Some(b'@') => {
            let addr = SocketAddr::from_abstract_name(&bytes[1..])
                .map_err(|_| NotifyError::BadAddress(shown.clone()))?;
            sock.send_to_addr(state.as_bytes(), &addr)
        }
        Some(b'/') => sock.send_to(state.as_bytes(), Path::new(socket)),
        _ => return Err(NotifyError::BadAddress(shown)),
    }
    .map_err(|source| NotifyError::Send {
        addr: shown.clone(),
        source,
    })?;
    if sent != state.len() {
        return Err(NotifyError::Short {
            addr: shown,
            sent,
            len: state.len(),
        });
    }
    Ok(())
}

fn reloading_message() -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec())
}

fn status_message(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    format!("STATUS={line}")
}

fn first_line(state: &str) -> &str {
    state.lines().next().unwrap_or("")
}

/// CLOCK_MONOTONIC in microseconds (what systemd compares `MONOTONIC_USEC`
/// with); 0 if the clock cannot be read.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the struct we own and
    // pass by a valid, exclusive pointer; CLOCK_MONOTONIC always exists on
    // Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(nanos / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::path::PathBuf;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// A fresh temp dir with a bound notify socket in it; removed on drop.
    struct Listener {
        dir: PathBuf,
        path: PathBuf,
        sock: UnixDatagram,
    }

    impl Listener {
        fn new() -> Listener {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("shardgate-notify-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let path = dir.join("notify.sock");
            let sock = UnixDatagram::bind(&path).expect("bind");
            sock.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            Listener { dir, path, sock }
        }

        fn recv(&self) -> String {
            let mut buf = [0u8; 4096];
            let n = self.sock.recv(&mut buf).expect("a datagram");
            String::from_utf8(buf[..n].to_vec()).expect("utf-8")
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn sends_one_datagram_to_a_path_socket() {
        let l = Listener::new();
        notify_to(l.path.as_os_str(), "READY=1").expect("sent");
        assert_eq!(l.recv(), "READY=1");
        notify_to(l.path.as_os_str(), "STOPPING=1").expect("sent");
        assert_eq!(l.recv(), "STOPPING=1");
    }

    #[test]
    fn sends_to_an_abstract_socket() {
        let name = format!("shardgate-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let sock = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        notify_to(OsStr::new(&format!("@{name}")), "READY=1").expect("sent");
        let mut buf = [0u8; 64];
        let n = sock.recv(&mut buf).expect("a datagram");
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn the_env_wrapper_sends_only_when_the_socket_is_set() {
        let l = Listener::new();
        assert!(!notify_env(None, "READY=1"));
        assert!(!notify_env(Some(OsStr::new("")), "READY=1"));
        assert!(notify_env(Some(l.path.as_os_str()), &status_message("ok")));
        assert_eq!(l.recv(), "STATUS=ok");
        assert!(notify_env(Some(l.path.as_os_str()), &reloading_message()));
        assert!(l.recv().starts_with("RELOADING=1\nMONOTONIC_USEC="));
    }

    #[test]
    fn failures_are_reported_not_raised() {
        let l = Listener::new();
        let missing: OsString = l.dir.join("nobody-listens").into_os_string();
        assert!(matches!(
            notify_to(&missing, "READY=1"),
            Err(NotifyError::Send { .. })
        ));
        assert!(matches!(
            notify_to(OsStr::new("relative.sock"), "READY=1"),
            Err(NotifyError::BadAddress(_))
        ));
        assert!(matches!(
            notify_to(OsStr::new("vsock:2:1234"), "READY=1"),
            Err(NotifyError::BadAddress(_))
        ));
        // The wrapper swallows them (logged once at warn, then debug).
        assert!(!notify_env(Some(&missing), "READY=1"));
        assert!(!notify_env(Some(&missing), "READY=1"));
    }

    #[test]
    fn reloading_carries_the_monotonic_clock() {
        let before = monotonic_usec();
        let msg = reloading_message();
        let after = monotonic_usec();
        let mut lines = msg.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let usec: u64 = lines
            .next()
            .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
            .and_then(|v| v.parse().ok())
            .expect("MONOTONIC_USEC=<number>");
        assert!(before > 0);
        assert!(before <= usec && usec <= after, "{before} {usec} {after}");
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn status_is_one_line() {
        assert_eq!(
            status_message("2 groups\nreloaded\r"),
            "STATUS=2 groups reloaded "
        );
        assert_eq!(first_line("RELOADING=1\nMONOTONIC_USEC=5"), "RELOADING=1");
    }
}
