//! Local MariaDB sandbox for the integration tests: throw-away `mariadbd`
//! servers on 127.0.0.1, free ports, temp datadirs, real GTID replication.
//!
//! Owns: finding the MariaDB binaries, the per-machine template datadir, and
//! the life of each test server (start, SQL as root, replica, kill, stop,
//! restart, clean-up on drop). Std only, so any test binary can include it:
//!
//! ```ignore
//! #[path = "../support/mod.rs"] mod support;        // tests/it/main.rs
//! #[path = "../../tests/support/mod.rs"] mod support; // proto/tests/*.rs
//!
//! let db = support::MariaDb::start();
//! db.sql("CREATE DATABASE app");
//! let url = db.url(); // mysql://shardgate:backend-secret@127.0.0.1:<port>
//! ```
//!
//! The shell twin for the demo and manual runs is `tests/support/sandbox.sh`;
//! both start `mariadbd` with the same options ([`SERVER_OPTS`]); keep them in
//! step. Every server listens on 127.0.0.1 only (and on a unix socket in its
//! own folder); nothing here ever connects anywhere else.
#![allow(dead_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Backend account created in every sandbox server (ALL PRIVILEGES on `*.*`
/// WITH GRANT OPTION, at `127.0.0.1` and `localhost`; ALL includes the
/// replication privileges, so replicas use it too).
pub const BACKEND_USER: &str = "shardgate";
/// Password of [`BACKEND_USER`] (mysql_native_password).
pub const BACKEND_PASSWORD: &str = "backend-secret";

/// How long a server may take to answer after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a clean shutdown may take before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at a free port when another process grabs the one we picked.
const PORT_ATTEMPTS: usize = 8;
/// Unix socket paths are limited to 108 bytes (sun_path).
const MAX_SOCKET_PATH: usize = 100;

/// Options shared by every sandbox server (tests/support/sandbox.sh:
/// `common_opts` plus the per-instance ones in `start_one`).
pub const SERVER_OPTS: &[&str] = &[
    "--user=root",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--innodb-use-native-aio=0",
    "--performance-schema=OFF",
    "--skip-name-resolve",
    "--max-connections=1000",
    // Internal temporary tables stay in memory (MEMORY engine) up to 64M:
    // fewer on-disk Aria temporary tables, whose drop crashed a 10.11
    // server once in a test run (ha_maria::drop_table).
    "--tmp-memory-table-size=64M",
    "--max-heap-table-size=64M",
];

/// SQL run once on the template datadir, with the binlog off so no instance
/// inherits GTIDs from it (keep in step with sandbox.sh `setup_sql`).
fn setup_sql() -> String {
    format!(
        "SET SESSION sql_log_bin=0;
DELETE FROM mysql.global_priv WHERE User='root' AND Host NOT IN ('localhost','127.0.0.1','::1');
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost','127.0.0.1','::1');
FLUSH PRIVILEGES;
CREATE USER IF NOT EXISTS '{u}'@'127.0.0.1' IDENTIFIED BY '{p}';
CREATE USER IF NOT EXISTS '{u}'@'localhost' IDENTIFIED BY '{p}';
GRANT ALL PRIVILEGES ON *.* TO '{u}'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '{u}'@'localhost' WITH GRANT OPTION;
",
        u = BACKEND_USER,
        p = BACKEND_PASSWORD
    )
}

/// One throw-away MariaDB server on `127.0.0.1:port`, files under `dir`.
///
/// Dropping it SIGKILLs the server and removes `dir`.
pub struct MariaDb {
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// Instance folder: `data/`, `mysqld.sock`, `mysqld.pid`, `error.log`.
    pub dir: PathBuf,
    child: Child,
    running: bool,
}

impl MariaDb {
    /// Start a fresh server on a free port with a copy of the template
    /// datadir; returns once `select 1` works. Panics (test code) on failure.
    pub fn start() -> MariaDb {
        sweep_stale();
        let template = template_dir();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("shardgate-test-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        check_socket_path(&dir.join("mysqld.sock"));
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg(template)
                .arg(dir.join("data")),
            "cp -a template",
        );
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            match spawn_and_wait(&dir, port) {
                Ok(child) => {
                    return MariaDb {
                        port,
                        dir,
                        child,
                        running: true,
                    }
                }
                Err(Spawn::PortTaken(log)) => last = log,
                Err(Spawn::Failed(msg)) => {
                    let _ = fs::remove_dir_all(&dir);
                    panic!("mariadbd failed to start in {}: {msg}", dir.display());
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
        panic!("mariadbd: no free port after {PORT_ATTEMPTS} attempts:\n{last}");
    }

    /// Start a fresh server and make it a GTID replica of `master`
    /// (`MASTER_USE_GTID=slave_pos`); returns once both replication threads
    /// run. It replays the master's whole binlog, so it catches up with data
    /// written before it was created; use [`MariaDb::sync_with`] to wait.
    pub fn start_replica_of(master: &MariaDb) -> MariaDb {
        let replica = MariaDb::start();
        replica.replicate_from(master);
        replica
    }

    /// Point this server at `master` as a GTID replica and wait until the IO
    /// and SQL threads both run (60 s).
    pub fn replicate_from(&self, master: &MariaDb) {
        self.sql(&format!(
            "STOP SLAVE; RESET SLAVE ALL;
             CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='{BACKEND_USER}',
               MASTER_PASSWORD='{BACKEND_PASSWORD}', MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos;
             START SLAVE;",
            master.port
        ));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let status = self.slave_status();
            let field = |k: &str| status.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            if field("Slave_IO_Running") == Some("Yes") && field("Slave_SQL_Running") == Some("Yes")
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "replica on {} never reached IO/SQL Yes/Yes: {status:?}",
                    self.port
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `SHOW SLAVE STATUS` as (field, value) pairs; empty when not a replica.
    pub fn slave_status(&self) -> Vec<(String, String)> {
        // Vertical output, with names (-N would drop them).
        self.root_cli(&["--batch", "--vertical"], "SHOW SLAVE STATUS")
            .unwrap_or_else(|e| panic!("SHOW SLAVE STATUS on {}: {e}", self.port))
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    /// Wait (60 s) until this replica has applied everything `master` has
    /// binlogged so far (`MASTER_GTID_WAIT`).
    pub fn sync_with(&self, master: &MariaDb) {
        let pos = master.sql("SELECT @@gtid_binlog_pos");
        let r = self.sql(&format!("SELECT MASTER_GTID_WAIT('{}', 60)", pos.trim()));
        assert_eq!(
            r.trim(),
            "0",
            "replica {} did not reach {} within 60 s",
            self.port,
            pos.trim()
        );
    }

    /// Unix socket of the server (root logs in here without a password).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }

    /// Datadir of the server.
    pub fn datadir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `mysql://shardgate:backend-secret@127.0.0.1:<port>` for the `mysql` crate.
    pub fn url(&self) -> String {
        format!(
            "mysql://{BACKEND_USER}:{BACKEND_PASSWORD}@127.0.0.1:{}",
            self.port
        )
    }

    /// Whether the server process is believed to be up (false after
    /// [`MariaDb::kill`] / [`MariaDb::stop`] until [`MariaDb::restart`]).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Run `sql` (one or more `;`-separated statements) with the `mariadb` CLI
    /// as root over the socket in batch mode without column names; returns
    /// stdout (tab-separated rows). Panics with stderr on failure.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("SQL on port {} failed: {e}\nSQL: {sql}", self.port))
    }

    /// Like [`MariaDb::sql`] but returns the CLI's stderr as `Err`.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        self.root_cli(&["--batch", "-N"], sql)
    }

    fn root_cli(&self, args: &[&str], sql: &str) -> Result<String, String> {
        let mut cmd = Command::new(bin(&["mariadb", "mysql"]));
        cmd.arg("--no-defaults")
            .arg("-uroot")
            .arg("-S")
            .arg(self.socket());
        cmd.args(args);
        let out = run_with_stdin(&mut cmd, sql);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// SIGSTOP the server: it keeps its sockets (connects are accepted by
    /// the kernel) but answers nothing until [`MariaDb::resume`].
    pub fn pause(&self) {
        self.signal("-STOP");
        // kill(1) returns once the signal is queued; each thread stops on
        // its next way back to user mode. Wait until all have, or a
        // statement sent right after could still be answered.
        let tasks = format!("/proc/{}/task", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let stopped = fs::read_dir(&tasks).map_or(true, |dir| {
                dir.flatten().all(|t| {
                    fs::read_to_string(t.path().join("stat")).map_or(true, |stat| {
                        // state: the first field after the `(comm)`.
                        stat.rsplit_once(") ")
                            .is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
                    })
                })
            });
            if stopped {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGCONT a server stopped by [`MariaDb::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(sig)
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} {}", self.child.id());
    }

    /// SIGKILL the server (crash, for failover tests). The datadir stays;
    /// [`MariaDb::restart`] brings it back on the same port.
    pub fn kill(&mut self) {
        if self.running {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.running = false;
        }
    }

    /// Clean shutdown (`mariadb-admin shutdown`), SIGKILL after 30 s.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let _ = Command::new(bin(&["mariadb-admin", "mysqladmin"]))
            .arg("--no-defaults")
            .arg("-uroot")
            .arg("-S")
            .arg(self.socket())
            .arg("shutdown")
            .stdin(Stdio::null())
            .output();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.running = false;
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    /// Start the server again (after kill/stop) on the same port and datadir.
    pub fn restart(&mut self) {
        assert!(
            !self.running,
            "restart: server on {} is still running",
            self.port
        );
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match spawn_and_wait(&self.dir, self.port) {
                Ok(child) => {
                    self.child = child;
                    self.running = true;
                    return;
                }
                Err(Spawn::PortTaken(log)) if Instant::now() > deadline => {
                    panic!("restart: port {} stays taken:\n{log}", self.port)
                }
                Err(Spawn::PortTaken(_)) => thread::sleep(Duration::from_millis(200)),
                Err(Spawn::Failed(msg)) => panic!("restart on {} failed: {msg}", self.port),
            }
        }
    }

    /// The server's error log (for assertions and diagnosis).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            eprintln!("--- mariadbd {} error.log (tail) ---", self.port);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to :0, release).
/// Another process may take it before use: callers retry on collision.
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Run the `mariadb` CLI over TCP to `127.0.0.1:port` (batch mode, no column
/// names, 10 s connect timeout) and return its raw output; the caller checks
/// `status`. Used to drive shardgate or a server with a real client.
pub fn mariadb_cli(port: u16, user: &str, password: &str, sql: &str) -> Output {
    Command::new(bin(&["mariadb", "mysql"]))
        .arg("--no-defaults")
        .arg("--protocol=TCP")
        .arg("-h127.0.0.1")
        .arg(format!("-P{port}"))
        .arg(format!("-u{user}"))
        .arg(format!("--password={password}"))
        .args(["--connect-timeout=10", "--batch", "-N", "-e", sql])
        .stdin(Stdio::null())
        .output()
        .expect("run mariadb CLI")
}

/// Whether `mariadbd` is installed (for tests that want to skip politely).
pub fn mariadb_available() -> bool {
    find_bin(&["mariadbd", "mysqld"]).is_some()
}

enum Spawn {
    /// mariadbd could not bind its TCP port (someone took it): retry.
    PortTaken(String),
    /// Anything else: give up with this message.
    Failed(String),
}

/// Spawn `mariadbd` for the instance in `dir` on `port`, wait until it answers.
fn spawn_and_wait(dir: &Path, port: u16) -> Result<Child, Spawn> {
    let sock = dir.join("mysqld.sock");
    let log_path = dir.join("error.log");
    let _ = fs::remove_file(&sock);
    let _ = fs::remove_file(dir.join("mysqld.sock.lock"));
    let _ = fs::remove_file(dir.join("mysqld.pid"));
    let log_start = fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
    let mut cmd = Command::new(bin(&["mariadbd", "mysqld"]));
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", sock.display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--log-error={}", log_path.display()))
        .args(SERVER_OPTS)
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--server-id={port}"))
        .args([
            "--log-bin=mysql-bin",
            "--log-slave-updates",
            "--gtid-strict-mode=1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| Spawn::Failed(format!("spawn mariadbd: {e}")))?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = read_from(&log_path, log_start);
            return Err(
                if log.contains("Address already in use") || log.contains("Bind on TCP/IP") {
                    Spawn::PortTaken(log)
                } else {
                    Spawn::Failed(format!(
                        "mariadbd exited ({status}) during start-up:\n{log}"
                    ))
                },
            );
        }
        if UnixStream::connect(&sock).is_ok() {
            let ok = Command::new(bin(&["mariadb", "mysql"]))
                .arg("--no-defaults")
                .arg("-uroot")
                .arg("-S")
                .arg(&sock)
                .args(["-N", "-e", "select 1"])
                .stdin(Stdio::null())
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                return Ok(child);
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = read_from(&log_path, log_start);
            return Err(Spawn::Failed(format!(
                "no answer within {START_TIMEOUT:?}:\n{log}"
            )));
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// The template datadir (mariadb-install-db + accounts), built once per
/// machine and MariaDB version under `temp_dir()/shardgate-template-<version>`;
/// an exclusive lock on `<that>.lock` keeps parallel tests and test binaries
/// from building it twice. The finished dir appears by an atomic rename.
pub fn template_dir() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(build_template)
}

fn build_template() -> PathBuf {
    let tmp = std::env::temp_dir();
    let version = mariadb_version();
    let tpl = tmp.join(format!("shardgate-template-{version}"));
    let lock_path = tmp.join(format!("shardgate-template-{version}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
    if tpl.join("mysql").is_dir() {
        return tpl;
    }
    let work = tmp.join(format!(
        "shardgate-template-{version}.tmp-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).unwrap_or_else(|e| panic!("create {}: {e}", work.display()));
    let data = work.join("data");
    let sock = work.join("s.sock");
    check_socket_path(&sock);
    run_ok(
        Command::new(bin(&["mariadb-install-db", "mysql_install_db"]))
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                "--innodb-log-file-size=8M",
                "--innodb-buffer-pool-size=32M",
            ]),
        "mariadb-install-db",
    );
    let mut child = Command::new(bin(&["mariadbd", "mysqld"]))
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", sock.display()))
        .arg(format!("--pid-file={}", work.join("s.pid").display()))
        .arg(format!("--log-error={}", work.join("error.log").display()))
        .args(SERVER_OPTS)
        .args(["--skip-networking", "--skip-log-bin", "--server-id=1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mariadbd for the template");
    let cli = |extra: &[&str], input: &str| {
        let mut c = Command::new(bin(&["mariadb", "mysql"]));
        c.arg("--no-defaults")
            .arg("-uroot")
            .arg("-S")
            .arg(&sock)
            .args(extra);
        run_with_stdin(&mut c, input)
    };
    let deadline = Instant::now() + START_TIMEOUT;
    while !cli(&["-N"], "select 1").status.success() {
        let log = || fs::read_to_string(work.join("error.log")).unwrap_or_default();
        if let Ok(Some(st)) = child.try_wait() {
            panic!("template mariadbd exited ({st}):\n{}", log());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "template mariadbd: no answer in {START_TIMEOUT:?}:\n{}",
                log()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    let out = cli(&["--batch"], &setup_sql());
    if !out.status.success() {
        let _ = child.kill();
        panic!(
            "template setup SQL failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    run_ok(
        Command::new(bin(&["mariadb-admin", "mysqladmin"]))
            .arg("--no-defaults")
            .arg("-uroot")
            .arg("-S")
            .arg(&sock)
            .arg("shutdown"),
        "mariadb-admin shutdown (template)",
    );
    let deadline = Instant::now() + STOP_TIMEOUT;
    while !matches!(child.try_wait(), Ok(Some(_))) {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("template mariadbd did not shut down in {STOP_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = fs::remove_file(data.join("multi-master.info"));
    let _ = fs::remove_dir_all(&tpl); // a half-made one from a crash
    fs::rename(&data, &tpl).unwrap_or_else(|e| panic!("rename template: {e}"));
    let _ = fs::remove_dir_all(&work);
    drop(lock);
    tpl
}

/// Once per process: kill servers and remove dirs left by test processes
/// that died without running Drop: instance dirs `shardgate-test-<pid>-<n>`
/// and half-built templates `shardgate-template-<version>.tmp-<pid>` whose
/// pid is gone. Only a pid from that dir's pid file whose command line names
/// that dir's datadir is signalled.
fn sweep_stale() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let (owner, pid_file) = if let Some(rest) = name.strip_prefix("shardgate-test-") {
                (rest.split('-').next(), "mysqld.pid")
            } else if name.starts_with("shardgate-template-") {
                (name.rsplit_once(".tmp-").map(|(_, p)| p), "s.pid")
            } else {
                continue;
            };
            let Some(owner) = owner.and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if process_alive(owner) {
                continue;
            }
            let dir = e.path();
            if let Ok(pid) = fs::read_to_string(dir.join(pid_file)) {
                let pid = pid.trim();
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let want = format!("--datadir={}", dir.join("data").display());
                if !pid.is_empty() && String::from_utf8_lossy(&cmdline).contains(&want) {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = fs::remove_dir_all(&dir);
        }
    });
}

/// Whether `pid` is a live (not zombie) process.
fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn mariadb_version() -> String {
    let out = Command::new(bin(&["mariadbd", "mysqld"]))
        .arg("--version")
        .output()
        .expect("mariadbd --version");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .split_whitespace()
        .skip_while(|w| *w != "Ver")
        .nth(1)
        .unwrap_or("unknown");
    v.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// First of `names` on PATH or in the usual sbin/bin folders.
fn find_bin(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    names
        .iter()
        .find_map(|n| dirs.iter().map(|d| d.join(n)).find(|p| p.is_file()))
}

fn bin(names: &[&str]) -> PathBuf {
    find_bin(names).unwrap_or_else(|| panic!("none of {names:?} found (is MariaDB installed?)"))
}

fn check_socket_path(sock: &Path) {
    let len = sock.as_os_str().len();
    assert!(
        len <= MAX_SOCKET_PATH,
        "socket path {} is {len} bytes, over the unix limit: use a shorter TMPDIR",
        sock.display()
    );
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run `cmd` with `input` on stdin (written from a thread, so large input and
/// large output cannot deadlock) and collect its output.
fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_owned();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait {cmd:?}: {e}"));
    let _ = writer.join();
    out
}

/// The part of a log file written after byte `from`.
fn read_from(path: &Path, from: u64) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_string(&mut s);
    }
    s
}
