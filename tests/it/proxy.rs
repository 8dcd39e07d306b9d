//! A `shardgate` process for one test: its config in a temp folder, a free
//! port, stderr captured to a file (for assertions on logs), killed on drop.

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use mysql::{Conn, Opts, OptsBuilder};

use crate::support::{free_port, BACKEND_PASSWORD, BACKEND_USER};

/// The application account every proxy config has.
pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "app-secret";
/// A second account (for COM_CHANGE_USER), schemas `["*"]` unless replaced.
pub const OTHER_USER: &str = "other";
pub const OTHER_PASSWORD: &str = "other-secret";

/// How long shardgate may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What goes into the generated config. `listen` and `metadata_file` are
/// filled in by [`Proxy::start`].
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// `host:port` of the master of group `g0`.
    pub master: String,
    /// Extra `key = value` lines of `[server]`.
    pub server: Vec<String>,
    /// Extra `key = value` lines of `[backend]`.
    pub backend: Vec<String>,
    /// The `[[user]]` blocks (TOML); `None` = app + other with `["*"]`.
    pub users: Option<String>,
    /// Extra `key = value` lines of group `g0` (`replicas = [...]`, ...).
    pub group: Vec<String>,
    /// TOML appended after group `g0` (`[health]`, more groups, schemas).
    pub tail: String,
}

impl ProxyConfig {
    /// One group `g0` whose master is the MariaDB on `127.0.0.1:db_port`.
    pub fn new(db_port: u16) -> ProxyConfig {
        ProxyConfig::with_master(&format!("127.0.0.1:{db_port}"))
    }

    pub fn with_master(addr: &str) -> ProxyConfig {
        ProxyConfig {
            master: addr.to_string(),
            server: Vec::new(),
            backend: Vec::new(),
            users: None,
            group: Vec::new(),
            tail: String::new(),
        }
    }

    /// Adds a line to group `g0`, e.g. `balance = "weighted"`.
    pub fn group(mut self, line: &str) -> ProxyConfig {
        self.group.push(line.to_string());
        self
    }

    /// Appends TOML after group `g0`.
    pub fn tail(mut self, toml: &str) -> ProxyConfig {
        self.tail.push_str(toml);
        self.tail.push('\n');
        self
    }

    /// Adds a `[server]` line, e.g. `max_connections = 5`.
    pub fn server(mut self, line: &str) -> ProxyConfig {
        self.server.push(line.to_string());
        self
    }

    /// Adds a `[backend]` line, e.g. `connect_timeout = "1s"`.
    pub fn backend(mut self, line: &str) -> ProxyConfig {
        self.backend.push(line.to_string());
        self
    }

    /// Replaces the `[[user]]` blocks.
    pub fn users(mut self, toml: &str) -> ProxyConfig {
        self.users = Some(toml.to_string());
        self
    }

    fn render(&self, port: u16, dir: &std::path::Path) -> String {
        let users = self.users.clone().unwrap_or_else(|| {
            format!(
                "[[user]]\nname = \"{APP_USER}\"\npassword = \"{APP_PASSWORD}\"\nschemas = [\"*\"]\n\n\
                 [[user]]\nname = \"{OTHER_USER}\"\npassword = \"{OTHER_PASSWORD}\"\nschemas = [\"*\"]\n"
            )
        });
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndefault_group = \"g0\"\nslow_query = \"1s\"\n\
             metadata_file = \"{meta}\"\nio_threads = 2\nworker_threads = 2\n{server}\n\n\
             {users}\n\
             [backend]\nuser = \"{BACKEND_USER}\"\npassword = \"{BACKEND_PASSWORD}\"\n{backend}\n\n\
             [[group]]\nname = \"g0\"\nmaster = \"{master}\"\n{group}\n\n{tail}",
            meta = dir.join("shardgate.meta").display(),
            server = self.server.join("\n"),
            backend = self.backend.join("\n"),
            master = self.master,
            group = self.group.join("\n"),
            tail = self.tail,
        )
    }
}

/// A running shardgate. Dropping it SIGKILLs the process and removes its
/// folder (after printing the log tail when the test panicked).
pub struct Proxy {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
}

impl Proxy {
    /// Starts shardgate with `cfg` on a free port; returns once its log says
    /// it listens. Panics with the log when it does not start.
    pub fn start(cfg: &ProxyConfig) -> Proxy {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("shardgate-it-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut last_log = String::new();
        for _ in 0..8 {
            let port = free_port();
            let conf = dir.join("shardgate.toml");
            fs::write(&conf, cfg.render(port, &dir)).expect("write config");
            let log = File::create(dir.join("stderr.log")).expect("create log");
            let mut child = Command::new(env!("CARGO_BIN_EXE_shardgate"))
                .arg("--config")
                .arg(&conf)
                // SG_TEST_LOG=debug: the proxy's log filter, for diagnosis.
                .env_remove("RUST_LOG")
                .envs(std::env::var("SG_TEST_LOG").map(|v| ("RUST_LOG", v)))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn shardgate");
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                let text = fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
                if text.contains("shardgate listening on") {
                    return Proxy {
                        port,
                        dir,
                        child,
                        exited: None,
                    };
                }
                if let Ok(Some(st)) = child.try_wait() {
                    if text.contains("in use") {
                        last_log = text;
                        break; // port taken: try another
                    }
                    let _ = fs::remove_dir_all(&dir);
                    panic!("shardgate exited at start ({st}):\n{text}");
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = fs::remove_dir_all(&dir);
                    panic!("shardgate did not listen within {START_TIMEOUT:?}:\n{text}");
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = fs::remove_dir_all(&dir);
        panic!("shardgate: no free port after 8 attempts:\n{last_log}");
    }

    /// The process id (for /proc and signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything shardgate wrote to stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Waits (bounded) until the log contains `needle`; returns whether it did.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Resident set size in KiB (VmRSS of /proc/<pid>/status).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// Whether the process still runs.
    pub fn is_alive(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(st)) => {
                self.exited = Some(st);
                false
            }
            _ => true,
        }
    }

    /// Sends `sig` (libc::SIGTERM, ...) to the process.
    pub fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.pid()).expect("pid fits i32");
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig})");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_alive() {
                return self.exited;
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Options for the `mysql` crate as `user`.
    pub fn opts_as(&self, user: &str, password: &str) -> OptsBuilder {
        OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(Duration::from_secs(10)))
            .read_timeout(Some(Duration::from_secs(60)))
            .write_timeout(Some(Duration::from_secs(60)))
    }

    /// Options for the `mysql` crate as the app user.
    pub fn opts(&self) -> OptsBuilder {
        self.opts_as(APP_USER, APP_PASSWORD)
    }

    /// A connection as the app user (panics on failure, with the log).
    pub fn conn(&self) -> Conn {
        self.try_conn(self.opts())
    }

    /// A connection as the app user with `db` selected.
    pub fn conn_db(&self, db: &str) -> Conn {
        self.try_conn(self.opts().db_name(Some(db)))
    }

    fn try_conn(&self, opts: OptsBuilder) -> Conn {
        Conn::new(Opts::from(opts)).unwrap_or_else(|e| {
            panic!(
                "connect through shardgate on {}: {e}\n--- log ---\n{}",
                self.port,
                self.log()
            )
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let from = lines.len().saturating_sub(40);
            eprintln!("--- shardgate {} stderr (tail) ---", self.port);
            for l in &lines[from..] {
                eprintln!("{l}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// VmRSS of `pid` in KiB (0 when it cannot be read).
pub fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
