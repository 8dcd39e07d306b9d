//! Start-up and shutdown of the running proxy: binds the listener, starts
//! the worker threads, the I/O threads and the acceptor, then waits for
//! signals. SIGTERM/SIGINT stop accepting and let in-flight statements
//! finish (bounded by `server.shutdown_timeout`); SIGHUP re-reads and
//! validates the config and swaps the topology only if it is valid.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config::{self, Topology};
use crate::reactor::{acceptor, spawn_io_thread, Shared};
use crate::route;

/// A running proxy (used by `main` and by tests that embed it).
pub struct Running {
    pub shared: Arc<Shared>,
    pub local_addr: std::net::SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// Asks every thread to stop and waits for them.
    pub fn shutdown(self) {
        self.shared.shutdown.store(true, Ordering::Relaxed);
        if let Some(f) = self.shared.failover.lock().take() {
            f.stop();
        }
        if let Some(p) = self.shared.prober.lock().take() {
            p.stop();
        }
        for h in self.shared.io.read().iter() {
            let _ = h.waker.wake();
        }
        // Workers stop when every job sender (the I/O threads) is gone.
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn threads_or_cores(n: usize) -> usize {
    if n > 0 {
        n
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
}

/// Raises the open-files soft limit to the hard limit: every client and
/// every backend connection is a descriptor.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit struct we own; no other
    // memory is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass by reference.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } != 0 {
            log::warn!("could not raise the open files limit from {}", lim.rlim_cur);
        }
    }
}

/// Opens (or creates) the metadata file; `reset` starts it afresh when it
/// cannot be read. Refuses to go on when another shardgate holds it.
fn open_metadata(topology: &Topology, reset: bool) -> io::Result<Box<dyn crate::meta::MetaStore>> {
    let path = &topology.server.metadata_file;
    match crate::meta::MetaFile::open(path, reset) {
        Ok((file, report)) => {
            report.log(path);
            Ok(Box::new(file))
        }
        Err(e) => Err(io::Error::other(format!("metadata file: {e}"))),
    }
}

/// Binds and starts every thread; returns once the proxy accepts clients.
/// `reset_metadata`: `--reset-metadata` (start the metadata file afresh).
/// `config_path`: the file the admin port's `RELOAD` re-reads.
pub fn start(
    topology: Topology,
    reset_metadata: bool,
    config_path: Option<PathBuf>,
) -> io::Result<Running> {
    raise_fd_limit();
    let meta = open_metadata(&topology, reset_metadata)?;
    let listen = topology.server.listen;
    let io_threads = threads_or_cores(topology.server.io_threads);
    let workers = threads_or_cores(topology.server.worker_threads);
    let queue = topology.server.worker_queue.max(16);
    let std_listener = std::net::TcpListener::bind(listen)?;
    std_listener.set_nonblocking(true)?;
    let local_addr = std_listener.local_addr()?;
    let listener = mio::net::TcpListener::from_std(std_listener);
    let admin = crate::admin::Listeners::bind(&topology)?;
    let shared = Shared::with_meta(topology, meta);
    *shared.prober.lock() = Some(crate::health::Prober::start(
        shared.health.clone(),
        shared.topology(),
    ));
    *shared.failover.lock() = Some(crate::health::Failover::start(&shared)?);
    let (job_tx, job_rx) = crossbeam_channel::bounded(queue);
    let mut threads = Vec::new();
    for i in 0..workers {
        let rx = job_rx.clone();
        let sh = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("shardgate-worker-{i}"))
                .spawn(move || route::run_worker(rx, sh))?,
        );
    }
    drop(job_rx);
    {
        let mut handles = shared.io.write();
        for i in 0..io_threads {
            let (handle, thread) = spawn_io_thread(i, shared.clone(), job_tx.clone())?;
            handles.push(handle);
            threads.push(thread);
        }
    }
    drop(job_tx);
    let sh = shared.clone();
    threads.push(
        std::thread::Builder::new()
            .name("shardgate-accept".into())
            .spawn(move || {
                if let Err(e) = acceptor::run(listener, sh) {
                    log::error!("CONN acceptor stopped: {e}");
                }
            })?,
    );
    threads.extend(admin.spawn(shared.clone(), config_path)?);
    log::info!("shardgate listening on {local_addr} ({io_threads} I/O threads, {workers} workers)");
    Ok(Running {
        shared,
        local_addr,
        threads,
    })
}

/// Runs until SIGTERM/SIGINT; reloads on SIGHUP.
pub fn serve(topology: Topology, config_path: PathBuf, reset_metadata: bool) -> io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let running = start(topology, reset_metadata, Some(config_path.clone()))?;
    // systemd (Type=notify): bound and serving.
    crate::notify::ready();
    crate::notify::status(&format!("listening on {}", running.local_addr));
    for sig in signals.forever() {
        match sig {
            SIGHUP => {
                let _ = reload(&running.shared, &config_path);
            }
            _ => {
                log::info!("shardgate stopping (signal {sig}): finishing in-flight statements");
                crate::notify::stopping();
                break;
            }
        }
    }
    running.shutdown();
    log::info!("shardgate stopped");
    Ok(())
}

/// Re-reads the config; an invalid file changes nothing. Logs either way;
/// the error is the validation message (for the admin port's `RELOAD`).
pub fn reload(shared: &Shared, path: &std::path::Path) -> Result<(), String> {
    crate::notify::reloading();
    let result = reload_config(shared, path);
    match &result {
        Ok(()) => crate::notify::status("config reloaded"),
        Err(e) => crate::notify::status(&format!("config reload refused: {e}")),
    };
    crate::notify::ready();
    result
}

fn reload_config(shared: &Shared, path: &std::path::Path) -> Result<(), String> {
    match config::load(path) {
        Ok(t) => {
            let old = shared.topology();
            for w in t.warnings() {
                log::warn!("config: {w}");
            }
            if t.server.admin_listen != old.server.admin_listen
                || t.server.metrics_listen != old.server.metrics_listen
                || t.server.listen != old.server.listen
            {
                log::warn!(
                    "config reload: listen, admin_listen and metrics_listen changes take effect at the next restart"
                );
            }
            if t.server.metadata_file != old.server.metadata_file {
                log::warn!(
                    "config reload: server.metadata_file changed to {}; still using {} until a restart",
                    t.server.metadata_file.display(),
                    old.server.metadata_file.display()
                );
            }
            shared.install(t);
            log::info!("config reloaded from {}", path.display());
            Ok(())
        }
        Err(e) => {
            log::error!("config reload refused, keeping the running config: {e}");
            Err(e.to_string())
        }
    }
}
