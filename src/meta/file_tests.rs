//! Tests of `MetaFile`: each in its own directory under the system temp
//! dir, removed afterwards.

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::meta::codec::tests::sample_state;
use crate::meta::{BucketMap, NodeOverride, OperatorNode};

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "shardgate-meta-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    fn file(&self) -> PathBuf {
        self.0.join("meta")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn open(path: &Path) -> (MetaFile, OpenReport) {
    MetaFile::open(path, false).unwrap_or_else(|e| panic!("open: {e}"))
}

fn node_state(n: u64) -> MetaState {
    let mut s = MetaState::default();
    s.node_states.insert(
        "127.0.0.1:3311".into(),
        OperatorNode {
            state: if n.is_multiple_of(2) {
                NodeOverride::Up
            } else {
                NodeOverride::Down
            },
            reason: format!("change {n}"),
            since_unix_ms: n,
        },
    );
    s
}

/// Overwrites bytes of the file (no `MetaFile` may have it open).
fn poke(path: &Path, at: u64, bytes: &[u8]) {
    let f = OpenOptions::new().write(true).open(path).expect("open");
    f.write_all_at(bytes, at).expect("write");
}

/// A state that encodes to more than `bytes` bytes.
fn big_state(bytes: usize) -> MetaState {
    let mut s = sample_state();
    let mut i = 0u64;
    while codec::encode(&s).expect("encode").len() <= bytes {
        for _ in 0..500 {
            s.id_high_water
                .insert(format!("schema_{i:08}.table_with_a_long_name.id"), i);
            i += 1;
        }
    }
    s
}

#[test]
fn a_new_file_holds_an_empty_state_and_keeps_commits() {
    let dir = TempDir::new("new");
    let path = dir.file();
    let (mut m, report) = open(&path);
    assert!(report.created);
    assert_eq!(report.generation, 1);
    assert_eq!(report.discarded, None);
    assert_eq!(report.skipped_copy, None);
    assert!(m.state().is_empty());
    assert_eq!(
        fs::metadata(&path).expect("stat").len(),
        HEADER_SIZE + 2 * INITIAL_SLOT_SIZE
    );
    assert_eq!(m.commit(sample_state()).expect("commit"), 2);
    assert_eq!(m.state(), &sample_state());
    assert!(m.describe().contains("meta"));
    drop(m);

    let (mut m, report) = open(&path);
    assert!(!report.created);
    assert_eq!(report.generation, 2);
    assert_eq!(m.state(), &sample_state());
    assert!(report.summary.starts_with("2 operator node states"));
    // Many commits alternate the slots; each reopen finds the last.
    for n in 3..40 {
        assert_eq!(m.commit(node_state(n)).expect("commit"), n);
        if n.is_multiple_of(7) {
            drop(m);
            let (again, report) = open(&path);
            assert_eq!(report.generation, n);
            assert_eq!(again.state(), &node_state(n));
            assert_eq!(report.skipped_copy, None);
            m = again;
        }
    }
}

#[test]
fn a_torn_newest_copy_leaves_the_previous_generation() {
    let dir = TempDir::new("torn");
    let path = dir.file();
    let (mut m, _) = open(&path);
    m.commit(node_state(2)).expect("commit");
    m.commit(node_state(3)).expect("commit");
    let newest = m.active;
    drop(m);
    // Garbage in the middle of generation 3's payload.
    let at = slot_offset(newest, INITIAL_SLOT_SIZE) + SLOT_HEADER as u64 + 5;
    poke(&path, at, b"\xde\xad");
    let (mut m, report) = open(&path);
    assert_eq!(report.generation, 2);
    assert_eq!(m.state(), &node_state(2));
    let note = report.skipped_copy.expect("a skipped copy is reported");
    assert!(note.contains("checksum mismatch"), "{note}");
    // The next commit reuses the torn, never acknowledged generation.
    assert_eq!(m.commit(node_state(30)).expect("commit"), 3);
    drop(m);
    let (m, report) = open(&path);
    assert_eq!(report.generation, 3);
    assert_eq!(m.state(), &node_state(30));
}

#[test]
fn a_crash_between_the_two_flushes_keeps_the_acknowledged_state() {
    let dir = TempDir::new("between");
    let path = dir.file();
    let (mut m, _) = open(&path);
    m.commit(node_state(2)).expect("commit");
    // Step 1 of a commit of generation 3 only: payload, no slot header.
    let payload = codec::encode(&node_state(3)).expect("encode");
    let off = slot_offset(1 - m.active, m.slot_size) as usize + SLOT_HEADER;
    m.map[off..off + payload.len()].copy_from_slice(&payload);
    m.map.flush().expect("flush");
    drop(m);
    let (m, report) = open(&path);
    assert_eq!(report.generation, 2);
    assert_eq!(m.state(), &node_state(2));
    assert!(report.skipped_copy.is_some());

    // A slot header torn after its generation: the length and checksum
    // are stale, so the copy is refused too.
    let target = 1 - m.active;
    drop(m);
    poke(
        &path,
        slot_offset(target, INITIAL_SLOT_SIZE),
        &9u64.to_le_bytes(),
    );
    let (m, report) = open(&path);
    assert_eq!(report.generation, 2);
    assert_eq!(m.state(), &node_state(2));
}

/// Replays a `kill -9` after every byte of a commit, in the order `commit`
/// writes them: every reopen finds the old generation or (only once the
/// slot header is being written) the new one, each with its own state.
fn replay_every_prefix_of_a_commit(path: &Path, old: MetaState, new: MetaState) {
    let (m, _) = open(path);
    let (old_gen, target, slot_size) = (m.generation(), 1 - m.active, m.slot_size());
    assert_eq!(m.state(), &old);
    drop(m);
    let base = fs::read(path).expect("read");
    let payload = codec::encode(&new).expect("encode");
    let w = commit_writes(target, slot_size, old_gen + 1, &payload);
    let writes: Vec<(usize, u8)> = payload
        .iter()
        .enumerate()
        .map(|(i, &b)| (w.body + i, b))
        .chain(
            w.header
                .iter()
                .enumerate()
                .map(|(i, &b)| (w.header_at + i, b)),
        )
        .collect();
    let mut landed = 0;
    for k in 0..=writes.len() {
        let mut image = base.clone();
        for &(at, b) in &writes[..k] {
            image[at] = b;
        }
        fs::write(path, &image).expect("write image");
        let (m, _) = MetaFile::open(path, false)
            .unwrap_or_else(|e| panic!("crash after {k} of {} bytes: {e}", writes.len()));
        if m.generation() == old_gen + 1 {
            assert_eq!(m.state(), &new, "crash after {k} bytes");
            assert!(k > payload.len(), "valid before its header: {k} bytes");
            landed += 1;
        } else {
            assert_eq!(m.generation(), old_gen, "crash after {k} bytes");
            assert_eq!(m.state(), &old, "crash after {k} bytes");
        }
    }
    // The complete write (and by chance a few bytes before it) is the new one.
    assert!(
        (1..=4).contains(&landed),
        "{landed} prefixes held the new state"
    );
}

#[test]
fn a_kill_after_any_byte_of_a_commit_leaves_a_whole_state() {
    let dir = TempDir::new("prefix");
    // Into a never written slot (a new file's slot 1) ...
    let path = dir.file();
    drop(open(&path));
    replay_every_prefix_of_a_commit(&path, MetaState::default(), node_state(2));
    // ... and over an older valid copy.
    let path = dir.0.join("older");
    let (mut m, _) = open(&path);
    m.commit(node_state(2)).expect("commit");
    drop(m);
    replay_every_prefix_of_a_commit(&path, node_state(2), sample_state());
}

#[test]
fn both_copies_bad_is_corrupt_and_says_how_to_reset() {
    let dir = TempDir::new("corrupt");
    let path = dir.file();
    let (mut m, _) = open(&path);
    m.commit(node_state(2)).expect("commit");
    drop(m);
    for slot in 0..2 {
        poke(
            &path,
            slot_offset(slot, INITIAL_SLOT_SIZE) + SLOT_HEADER as u64,
            b"\xff\xff\xff",
        );
    }
    let err = MetaFile::open(&path, false).expect_err("corrupt");
    assert!(matches!(err, MetaError::Corrupt { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("neither copy"), "{text}");
    assert!(text.contains("--reset-metadata"), "{text}");

    // With reset it starts afresh and says what it threw away.
    let (m, report) = MetaFile::open(&path, true).expect("reset");
    assert!(m.state().is_empty());
    assert_eq!(report.generation, 1);
    let lost = report.discarded.expect("discarded");
    assert!(lost.contains("unreadable file of"), "{lost}");
    drop(m);
    let (m, report) = open(&path);
    assert!(m.state().is_empty());
    assert_eq!(report.discarded, None);
}

#[test]
fn a_bad_header_or_length_is_corrupt() {
    let dir = TempDir::new("header");
    let path = dir.file();
    drop(open(&path));
    poke(&path, 20, &[0x55]); // inside the slot size: checksum fails
    let err = MetaFile::open(&path, false).expect_err("bad header");
    assert!(
        err.to_string().contains("header fails its checksum"),
        "{err}"
    );

    let path = dir.0.join("short");
    drop(open(&path));
    let f = OpenOptions::new().write(true).open(&path).expect("open");
    f.set_len(HEADER_SIZE + INITIAL_SLOT_SIZE)
        .expect("truncate");
    drop(f);
    let err = MetaFile::open(&path, false).expect_err("truncated");
    assert!(matches!(err, MetaError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("header says"), "{err}");

    fs::write(&path, b"SHGM").expect("write");
    let err = MetaFile::open(&path, false).expect_err("stub");
    assert!(matches!(err, MetaError::Corrupt { .. }), "{err}");
}

#[test]
fn a_foreign_file_is_refused_and_left_alone() {
    let dir = TempDir::new("foreign");
    let path = dir.file();
    let text = b"[server]\nlisten = \"0.0.0.0:3307\"\n".repeat(10);
    fs::write(&path, &text).expect("write");
    let err = MetaFile::open(&path, false).expect_err("foreign");
    assert!(matches!(err, MetaError::Foreign { .. }), "{err}");
    assert!(
        err.to_string().contains("starts with \"[server]\""),
        "{err}"
    );
    assert_eq!(fs::read(&path).expect("read"), text);

    let (m, report) = MetaFile::open(&path, true).expect("reset");
    assert!(m.state().is_empty());
    let lost = report.discarded.expect("discarded");
    assert_eq!(
        lost,
        format!(
            "discarded an unreadable file of {} bytes (not a shardgate metadata file)",
            text.len()
        )
    );
}

#[test]
fn other_versions_are_refused() {
    let dir = TempDir::new("version");
    let path = dir.file();
    drop(open(&path));
    poke(&path, 8, &2u32.to_le_bytes());
    let err = MetaFile::open(&path, false).expect_err("format 2");
    assert!(
        matches!(
            err,
            MetaError::UnsupportedVersion {
                what: "file format",
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );

    // A valid copy whose payload is another encoding version.
    let path = dir.0.join("payload");
    let (mut m, _) = open(&path);
    m.commit(node_state(2)).expect("commit");
    let slot = m.active;
    drop(m);
    let mut payload = codec::encode(&node_state(2)).expect("encode");
    payload[0] = 7;
    poke(
        &path,
        slot_offset(slot, INITIAL_SLOT_SIZE),
        &slot_bytes(2, &payload),
    );
    let err = MetaFile::open(&path, false).expect_err("encoding 7");
    assert!(
        matches!(
            err,
            MetaError::UnsupportedVersion {
                what: "state encoding",
                found: 7,
                ..
            }
        ),
        "{err}"
    );
    let (m, report) = MetaFile::open(&path, true).expect("reset");
    assert!(m.state().is_empty());
    assert!(report
        .discarded
        .expect("discarded")
        .contains("state encoding version 7"));
}

#[test]
fn a_second_open_is_locked_out_even_with_reset() {
    let dir = TempDir::new("lock");
    let path = dir.file();
    let (mut m, _) = open(&path);
    m.commit(sample_state()).expect("commit");
    let err = MetaFile::open(&path, false).expect_err("locked");
    assert!(matches!(err, MetaError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("another shardgate"), "{err}");
    let err = MetaFile::open(&path, true).expect_err("locked with reset");
    assert!(matches!(err, MetaError::Locked { .. }), "{err}");
    assert_eq!(m.state(), &sample_state());
    drop(m);
    let (m, _) = open(&path);
    assert_eq!(m.state(), &sample_state());
}

#[test]
fn reset_of_a_readable_file_reports_what_is_lost() {
    let dir = TempDir::new("reset");
    let path = dir.file();
    let (mut m, _) = open(&path);
    m.commit(node_state(2)).expect("commit");
    m.commit(sample_state()).expect("commit");
    drop(m);
    let (m, report) = MetaFile::open(&path, true).expect("reset");
    assert!(m.state().is_empty());
    assert_eq!(report.generation, 4);
    assert_eq!(
        report.discarded.as_deref(),
        Some(
            "discarded generation 3: 2 operator node states, 2 bucket maps, \
             1 ID high-water mark, 1 in-doubt transaction"
        )
    );
    drop(m);
    // Resetting an empty state loses nothing.
    let (_, report) = MetaFile::open(&path, true).expect("reset");
    assert_eq!(report.discarded, None);
    assert_eq!(report.generation, 4);
}

#[test]
fn never_initialised_files_are_initialised() {
    let dir = TempDir::new("pristine");
    let path = dir.file();
    fs::write(&path, b"").expect("write");
    let (m, report) = open(&path);
    assert!(report.created);
    drop(m);
    // A crash during initialisation: sized, header still zero.
    let f = OpenOptions::new().write(true).open(&path).expect("open");
    f.write_all_at(&[0u8; HEADER_USED], 0).expect("zero header");
    drop(f);
    let (m, report) = open(&path);
    assert!(report.created);
    assert!(m.state().is_empty());
    assert_eq!(report.generation, 1);
}

#[test]
fn a_missing_directory_is_named() {
    let dir = TempDir::new("nodir");
    let path = dir.0.join("missing").join("meta");
    let err = MetaFile::open(&path, false).expect_err("no dir");
    assert!(matches!(err, MetaError::NoDirectory { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn growth_past_the_slot_size_keeps_the_state() {
    let dir = TempDir::new("grow");
    let path = dir.file();
    let (mut m, _) = open(&path);
    m.commit(node_state(2)).expect("commit");
    let big = big_state(INITIAL_SLOT_SIZE as usize + 10_000);
    assert_eq!(m.commit(big.clone()).expect("grow"), 3);
    assert!(m.slot_size() > INITIAL_SLOT_SIZE);
    let grown = m.slot_size();
    assert_eq!(
        fs::metadata(&path).expect("stat").len(),
        HEADER_SIZE + 2 * grown
    );
    assert!(!grow_path(&path).exists());
    // The old file's lock went with it; the new one is held.
    assert!(matches!(
        MetaFile::open(&path, false),
        Err(MetaError::Locked { .. })
    ));
    // Commits after growth use the other slot of the new file.
    let mut bigger = big.clone();
    bigger.id_high_water.insert("zz".into(), 1);
    assert_eq!(m.commit(bigger.clone()).expect("commit"), 4);
    drop(m);
    let (m, report) = open(&path);
    assert_eq!(report.generation, 4);
    assert_eq!(m.state(), &bigger);
    assert_eq!(m.slot_size(), grown);
    drop(m);

    // Growing again, twice in a row from one handle.
    let (mut m, _) = open(&path);
    let huge = big_state(grown as usize + 1);
    assert_eq!(m.commit(huge.clone()).expect("grow again"), 5);
    assert!(m.slot_size() > grown);
    assert_eq!(m.commit(node_state(6)).expect("small again"), 6);
    drop(m);
    let (m, report) = open(&path);
    assert_eq!(report.generation, 6);
    assert_eq!(m.state(), &node_state(6));
}

#[test]
fn a_stale_grow_file_is_removed_and_ignored() {
    let dir = TempDir::new("stale");
    let path = dir.file();
    let (mut m, _) = open(&path);
    m.commit(node_state(2)).expect("commit");
    drop(m);
    fs::write(grow_path(&path), b"half a file").expect("write");
    let (m, report) = open(&path);
    assert_eq!(report.generation, 2);
    assert_eq!(m.state(), &node_state(2));
    assert!(!grow_path(&path).exists());
}

#[test]
fn a_state_past_the_largest_slot_is_refused_and_nothing_changes() {
    let dir = TempDir::new("toolarge");
    let path = dir.file();
    let (mut m, _) = open(&path);
    m.commit(node_state(2)).expect("commit");
    m.max_slot_size = 2 * INITIAL_SLOT_SIZE;
    let err = m
        .commit(big_state(2 * INITIAL_SLOT_SIZE as usize))
        .expect_err("too large");
    assert!(matches!(err, MetaError::TooLarge { .. }), "{err}");
    assert_eq!(m.generation(), 2);
    assert_eq!(m.state(), &node_state(2));
    // Up to the limit it grows.
    let fits = big_state(INITIAL_SLOT_SIZE as usize);
    assert_eq!(m.commit(fits.clone()).expect("fits"), 3);
    assert_eq!(m.slot_size(), 2 * INITIAL_SLOT_SIZE);
    drop(m);
    let (m, _) = open(&path);
    assert_eq!(m.state(), &fits);
}

#[test]
fn update_through_the_trait_object() {
    let dir = TempDir::new("dyn");
    let path = dir.file();
    let (m, _) = open(&path);
    let mut store: Box<dyn MetaStore> = Box::new(m);
    let g = store
        .update(&mut |s| {
            s.bucket_maps.insert(
                "db.r".into(),
                BucketMap {
                    version: 1,
                    groups: vec!["g1".into(); 1024],
                },
            );
        })
        .expect("update");
    assert_eq!(g, 2);
    assert_eq!(store.update(&mut |_| {}).expect("no-op"), 2);
    drop(store);
    let (m, _) = open(&path);
    assert_eq!(m.state().bucket_maps["db.r"].groups.len(), 1024);
}
