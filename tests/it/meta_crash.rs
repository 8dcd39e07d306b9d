//! The metadata file survives `kill -9` (issue: metadata file): a writer
//! process commits node state changes (and a growing rest of the state, so
//! the file also grows) as fast as it can and prints each generation once
//! `commit` has returned; the test SIGKILLs it at random moments, reopens
//! the file and checks that it holds the last printed generation, or the one
//! that was being committed, with exactly the state the writer commits for
//! that generation.
//!
//! The writer is this test binary re-executed on the ignored test
//! `meta_crash::child_writer`, which does nothing unless
//! `SHARDGATE_META_CRASH_FILE` names the file.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shardgate::meta::{
    BucketMap, InDoubtTxn, MetaFile, MetaState, MetaStore, NodeOverride, OperatorNode, TxnDecision,
    INITIAL_SLOT_SIZE,
};

const FILE_ENV: &str = "SHARDGATE_META_CRASH_FILE";
const READY: &str = "META-READY ";
const ACK: &str = "META-ACK ";
const ITERATIONS: usize = 30;
/// The file is removed every this many iterations, so creation and growth
/// happen (and may be interrupted) more than once.
const EPOCH: usize = 10;
/// The first generation whose state needs more than the initial slot.
const GROWN_AT: u64 = 5;
/// Fewer acknowledged commits over the whole loop means it tested little
/// (a healthy run has dozens even on a loaded machine).
const MIN_ACKS: usize = 10;

/// A simple 64-bit mix (splitmix64's finaliser).
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The state the writer commits as generation `g`. Generation 1 is the
/// empty state of a new file. From generation 2 on: six nodes each AUTO, UP
/// or DOWN, a bucket map, ID marks whose number grows with `g` (about 14 KB
/// a generation: generation 5 is the first past the initial 64 KiB slot, so
/// the file grows; 170 KB from generation 12 on), and now and then an
/// in-doubt transaction.
fn expected(g: u64) -> MetaState {
    let mut s = MetaState::default();
    if g <= 1 {
        return s;
    }
    for i in 0..6u64 {
        let state = match mix(g * 16 + i) % 3 {
            0 => continue,
            1 => NodeOverride::Up,
            _ => NodeOverride::Down,
        };
        s.node_states.insert(
            format!("127.0.0.1:{}", 3311 + i),
            OperatorNode {
                state,
                reason: format!("generation {g}"),
                since_unix_ms: g,
            },
        );
    }
    s.bucket_maps.insert(
        "shop.by_user".into(),
        BucketMap {
            version: g,
            groups: (0..256u64).map(|b| format!("g{}", (b + g) % 4)).collect(),
        },
    );
    s.id_high_water.insert("shop.orders.id".into(), g * 1000);
    for k in 0..g.min(12) * 300 {
        s.id_high_water
            .insert(format!("pad.sequence_{k:06}.with_a_long_name"), g);
    }
    if g.is_multiple_of(5) {
        s.in_doubt.push(InDoubtTxn {
            xid: format!("sg-{g}"),
            groups: vec!["g0".into(), "g2".into()],
            decision: TxnDecision::Commit,
            at_unix_ms: g,
        });
    }
    s
}

/// The writer: commits generation after generation and prints each one
/// after `commit` returned. Runs only when re-executed by the crash loop.
#[test]
#[ignore = "the writer process of crash_loop_finds_the_last_acknowledged_state"]
fn child_writer() {
    let Some(path) = std::env::var_os(FILE_ENV) else {
        return;
    };
    let (mut meta, report) =
        MetaFile::open(Path::new(&path), false).unwrap_or_else(|e| panic!("open: {e}"));
    let mut g = report.generation;
    assert_eq!(meta.state(), &expected(g), "state at open");
    println!("{READY}{g}");
    // Bounded: the parent kills us long before.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let next = g + 1;
        let got = meta
            .commit(expected(next))
            .unwrap_or_else(|e| panic!("commit {next}: {e}"));
        assert_eq!(got, next);
        println!("{ACK}{next}");
        g = next;
    }
}

/// A number following `marker` in `line`.
fn number_after(line: &str, marker: &str) -> Option<u64> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

enum Event {
    Ready(u64),
    Ack(u64),
}

/// The writer and the threads reading its output.
struct Writer {
    child: Child,
    events: Receiver<Event>,
    stdout: JoinHandle<()>,
    stderr: JoinHandle<String>,
}

impl Writer {
    fn spawn(path: &Path) -> Writer {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "meta_crash::child_writer",
                "--nocapture",
                "--ignored",
                "--test-threads=1",
            ])
            .env(FILE_ENV, path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the writer");
        let out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let (tx, events) = mpsc::channel();
        let stdout = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let event = if let Some(g) = number_after(&line, ACK) {
                    Event::Ack(g)
                } else if let Some(g) = number_after(&line, READY) {
                    Event::Ready(g)
                } else {
                    continue;
                };
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Writer {
            child,
            events,
            stdout,
            stderr,
        }
    }

    /// Waits for the READY line; the events that came before it stay
    /// queued (there are none).
    fn wait_ready(&mut self) -> Result<u64, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.events.recv_timeout(Duration::from_millis(50)) {
                Ok(Event::Ready(g)) => return Ok(g),
                Ok(Event::Ack(g)) => return Err(format!("ACK {g} before READY")),
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => return Err("no READY line".to_string()),
            }
        }
    }

    /// SIGKILLs the writer and returns what it said: (ready, acks, stderr).
    /// Fails when it had already exited on its own.
    fn kill(mut self, ready: Option<u64>) -> (Option<u64>, Vec<u64>, String) {
        let early = self.child.try_wait().expect("try_wait");
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait");
        let _ = self.stdout.join();
        let stderr = self.stderr.join().unwrap_or_default();
        assert!(
            early.is_none(),
            "the writer exited on its own ({status}):\n{stderr}"
        );
        let mut ready = ready;
        let mut acks = Vec::new();
        for e in self.events.try_iter() {
            match e {
                Event::Ready(g) => ready = Some(g),
                Event::Ack(g) => acks.push(g),
            }
        }
        (ready, acks, stderr)
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn crash_loop_finds_the_last_acknowledged_state() {
    let started = Instant::now();
    let dir = TempDir(std::env::temp_dir().join(format!(
        "shardgate-meta-crash-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )));
    std::fs::create_dir_all(&dir.0).expect("create temp dir");
    // The states are sized as documented: the file grows at GROWN_AT.
    {
        let probe = dir.0.join("probe");
        let (mut m, _) = MetaFile::open(&probe, false).expect("open probe");
        m.commit(expected(GROWN_AT - 1)).expect("commit");
        assert_eq!(m.slot_size(), INITIAL_SLOT_SIZE);
        m.commit(expected(GROWN_AT)).expect("commit");
        assert!(m.slot_size() > INITIAL_SLOT_SIZE);
    }
    let path = dir.0.join("meta");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    eprintln!("meta_crash: seed {seed}");
    let mut rng = seed;
    let mut random = move |n: u64| {
        rng = mix(rng.wrapping_add(0x9e37_79b9_7f4a_7c15));
        rng % n
    };

    // The generation the last reopen found; a new file starts at 1.
    let mut found = 1u64;
    let (mut acked_total, mut in_flight_landed, mut early_kills) = (0usize, 0usize, 0usize);
    let (mut max_generation, mut max_slot) = (0u64, INITIAL_SLOT_SIZE);
    for iter in 0..ITERATIONS {
        if iter % EPOCH == 0 {
            let _ = std::fs::remove_file(&path);
            found = 1;
        }
        let mut writer = Writer::spawn(&path);
        // One kill in five lands at a random moment of start-up (often
        // before or during open, on a new file during its creation); the
        // others while committing.
        let ready = if random(5) == 0 {
            thread::sleep(Duration::from_millis(random(15)));
            early_kills += 1;
            None
        } else {
            match writer.wait_ready() {
                Ok(g) => {
                    thread::sleep(Duration::from_millis(random(60)));
                    Some(g)
                }
                Err(why) => {
                    let (_, _, stderr) = writer.kill(None);
                    panic!("iteration {iter}: {why}; writer stderr:\n{stderr}");
                }
            }
        };
        let (ready, acks, stderr) = writer.kill(ready);

        // The writer started from what the last reopen found, and
        // acknowledged consecutive generations after it.
        if let Some(r) = ready {
            assert_eq!(r, found, "iteration {iter}: writer opened generation {r}");
        }
        for (i, g) in acks.iter().enumerate() {
            assert_eq!(*g, found + 1 + i as u64, "iteration {iter}: acks {acks:?}");
        }
        acked_total += acks.len();
        let last_acked = acks.last().copied().unwrap_or(found);

        let (meta, report) = MetaFile::open(&path, false).unwrap_or_else(|e| {
            panic!("iteration {iter}: reopen after kill: {e}\nwriter stderr:\n{stderr}")
        });
        let g = report.generation;
        assert!(
            g == last_acked || g == last_acked + 1,
            "iteration {iter}: found generation {g}, last acknowledged {last_acked}"
        );
        assert!(
            meta.state() == &expected(g),
            "iteration {iter}: generation {g} does not hold the state written for it"
        );
        if g == last_acked + 1 {
            in_flight_landed += 1;
        }
        if let Some(note) = &report.skipped_copy {
            eprintln!("meta_crash: iteration {iter}: {note}");
        }
        max_generation = max_generation.max(g);
        max_slot = max_slot.max(meta.slot_size());
        found = g;
        drop(meta);
    }
    eprintln!(
        "meta_crash: {ITERATIONS} kills ({early_kills} during start-up), {acked_total} \
         acknowledged commits, {in_flight_landed} unacknowledged in-flight commits found, \
         highest generation {max_generation}, largest slot {max_slot} bytes, {:?}",
        started.elapsed()
    );
    assert!(
        acked_total >= MIN_ACKS,
        "the writer acknowledged only {acked_total} commits: the loop tested little"
    );
    if max_generation >= GROWN_AT {
        assert!(
            max_slot > INITIAL_SLOT_SIZE,
            "generation {max_generation} outgrew 64 KiB but the slot did not grow"
        );
    }
}

/// A metadata file that is not shardgate's is refused at start-up with a
/// message naming `--reset-metadata`; with that flag shardgate starts and
/// logs what it discarded. The foreign file is never overwritten without it.
#[test]
fn a_foreign_metadata_file_is_refused_unless_reset() {
    let db = crate::common::shared_db();
    let dir = std::env::temp_dir().join(format!("shardgate-meta-foreign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let meta = dir.join("shardgate.meta");
    let foreign = b"this is somebody else's file, not shardgate metadata\n".repeat(100);
    std::fs::write(&meta, &foreign).expect("write foreign file");
    let port = crate::support::free_port();
    let conf = dir.join("shardgate.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\ndefault_group = \"g0\"\nmetadata_file = \"{}\"\n\
             io_threads = 1\nworker_threads = 1\n\n[[user]]\nname = \"app\"\npassword = \"p\"\nschemas = [\"*\"]\n\n\
             [backend]\nuser = \"{}\"\npassword = \"{}\"\n\n[[group]]\nname = \"g0\"\nmaster = \"127.0.0.1:{}\"\n",
            meta.display(),
            crate::support::BACKEND_USER,
            crate::support::BACKEND_PASSWORD,
            db.port
        ),
    )
    .expect("write config");
    let bin = env!("CARGO_BIN_EXE_shardgate");
    let out = crate::common::run_bounded(
        Command::new(bin)
            .arg("--config")
            .arg(&conf)
            .env_remove("RUST_LOG"),
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started on a foreign metadata file: {stderr}"
    );
    assert!(
        stderr.contains("--reset-metadata"),
        "no hint at --reset-metadata: {stderr}"
    );
    assert_eq!(
        std::fs::read(&meta).expect("read"),
        foreign,
        "the foreign file was changed"
    );

    // With --reset-metadata it starts, says what it discarded, and serves.
    let log = dir.join("stderr.log");
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(&conf)
        .arg("--reset-metadata")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("shardgate listening on") {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        text.contains("shardgate listening on"),
        "did not start with --reset-metadata: {text}"
    );
    assert!(
        text.contains("discarded"),
        "the log does not say what was discarded: {text}"
    );
}
