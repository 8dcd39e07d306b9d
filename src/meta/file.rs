//! [`MetaFile`]: the metadata store as one memory-mapped file
//! (`server.metadata_file`), locked by one shardgate, holding two
//! checksummed copies of the state so that a crash at any instant leaves a
//! readable one.
//!
//! # Layout (all integers little-endian)
//!
//! ```text
//! offset 0, 4096 bytes: the header, written once per file
//!   0  [u8; 8]  magic "SHGMETA\0"
//!   8  u32      format version (FORMAT_VERSION)
//!   12 u32      header size (4096)
//!   16 u64      slot size S (a multiple of 4096)
//!   24 u32      CRC-32 of bytes 0..24
//!   28..4096    zero
//! offset 4096: slot 0, S bytes;  offset 4096 + S: slot 1, S bytes
//!   0  u64      generation (0 = never written)
//!   8  u32      payload length L (at most S - 16)
//!   12 u32      CRC-32 of bytes 0..12 followed by the payload
//!   16 [u8; L]  payload: the encoded state (see `codec`)
//! ```
//!
//! The file is exactly `4096 + 2 × S` bytes. CRC-32 is the project's
//! (`route::crc32`, zlib's).
//!
//! # Why a crash never loses an acknowledged state
//!
//! A slot is *valid* when its CRC matches; the state is the valid slot with
//! the highest generation. A commit of generation `g + 1` while slot `a`
//! holds `g`:
//!
//! 1. writes the payload into the other slot `b`, then `msync`s it;
//! 2. writes `b`'s 16-byte slot header (generation, length, CRC), then
//!    `msync`s it; only then does `commit` return `Ok`.
//!
//! Slot `a` is not touched, so it stays valid throughout. A crash before
//! step 2 completes leaves `b` with a stale header over a new payload, or a
//! partly written header: its CRC fails (or it still shows its old, lower
//! generation), and `g` in `a` is the state found. A crash after step 2 finds
//! `g + 1`. Either way the last acknowledged generation or the one being
//! committed is found, never anything older, never a mix. `kill -9` needs no
//! msync at all (the writes are in the page cache); the msyncs cover power
//! loss, and their order means the header that validates the copy reaches
//! the disk after the payload it covers. The header page and each slot are
//! page-aligned, so flushing one slot never rewrites the other's pages.
//!
//! # Growth
//!
//! Slots start at [`INITIAL_SLOT_SIZE`]. A state that does not fit is
//! committed by writing a whole new file `<path>.grow` with slots of (at
//! least) twice the needed size (up to [`MAX_SLOT_SIZE`]), the state in
//! slot 0 as generation `g + 1`; it is locked, fsynced, mapped, then
//! `rename`d over `<path>`, and the directory is fsynced before `Ok`. A crash
//! before the rename leaves the old file (and a stale `.grow`, removed at the
//! next open); after it, the new one. Either holds a valid state. (A symlink
//! at `<path>` is replaced by the file at that point.)
//!
//! # Creation, locking, reset
//!
//! The file is opened (created if absent) and locked with a non-blocking
//! exclusive `flock` before anything is read; a held lock is
//! [`MetaError::Locked`]. Because growth replaces the file, after taking the
//! lock we check that the path still names the locked inode, and retry if
//! not. A new or empty file is initialised in place: sized, slot 0 written
//! (generation 1, empty state) and synced, then the header written and
//! synced. A crash in between leaves a zero-length file or one of the
//! initial size whose header is all zeros; both are recognised as
//! "never initialised" and initialised again. (The 28-byte header is one
//! `pwrite` inside one sector: a kill cannot split a syscall's copy, and
//! disks write a sector whole.) Anything else that does not
//! parse is refused ([`MetaError::Foreign`], [`MetaError::Corrupt`],
//! [`MetaError::UnsupportedVersion`]) unless `reset` is set, which truncates
//! and re-initialises it (or, for a readable file, commits an empty state)
//! and says in [`OpenReport::discarded`] what was lost.
//!
//! The mapping is treated like network input: slot bytes are copied out and
//! checked before they are decoded, and decoding never panics.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use memmap2::MmapMut;

use super::codec::{self, DecodeError, PAYLOAD_VERSION};
use super::{MetaError, MetaState, MetaStore};
use crate::route::crc32;

/// The first eight bytes of every metadata file.
pub const MAGIC: [u8; 8] = *b"SHGMETA\0";
/// The layout version this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The slot size of a new file.
pub const INITIAL_SLOT_SIZE: u64 = 64 * 1024;
/// The largest slot: a state must encode to at most this minus 16 bytes.
pub const MAX_SLOT_SIZE: u64 = 64 * 1024 * 1024;

const HEADER_SIZE: u64 = 4096;
/// Bytes of the header in use (the rest is zero).
const HEADER_USED: usize = 28;
const SLOT_HEADER: usize = 16;
const PAGE: u64 = 4096;
/// How often opening retries when the file is replaced under it.
const OPEN_ATTEMPTS: usize = 5;
const GROW_SUFFIX: &str = ".grow";

/// What [`MetaFile::open`] found, for the caller to log ([`OpenReport::log`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The file was new (or never initialised) and now holds an empty state.
    pub created: bool,
    /// The generation of the state now held.
    pub generation: u64,
    /// [`MetaState::summary`] of the state now held.
    pub summary: String,
    /// With `reset`: what was thrown away ("discarded generation 17: 3
    /// operator node states, ..." or "discarded an unreadable file of N
    /// bytes (...)"). `None` when nothing was lost.
    pub discarded: Option<String>,
    /// One copy was unreadable (normally an update interrupted by a crash,
    /// which was then never acknowledged) and the other was used.
    pub skipped_copy: Option<String>,
}

impl OpenReport {
    /// Logs the report: what was discarded and skipped as warnings, what was
    /// loaded as info.
    pub fn log(&self, path: &Path) {
        let p = path.display();
        if let Some(d) = &self.discarded {
            log::warn!("META {p}: --reset-metadata {d}");
        }
        if let Some(s) = &self.skipped_copy {
            log::warn!("META {p}: {s}");
        }
        if self.created {
            log::info!("META {p}: created (empty)");
        } else {
            log::info!(
                "META {p}: loaded generation {}: {}",
                self.generation,
                self.summary
            );
        }
    }
}

/// The metadata file, open and exclusively locked. See the module doc.
#[derive(Debug)]
pub struct MetaFile {
    path: PathBuf,
    /// Holds the lock; closing it releases it.
    file: File,
    map: MmapMut,
    slot_size: u64,
    /// The slot holding `generation`.
    active: usize,
    generation: u64,
    state: MetaState,
    /// `MAX_SLOT_SIZE`, lowered by tests.
    max_slot_size: u64,
}

impl MetaFile {
    /// Opens (creating if absent) and locks the metadata file at `path` and
    /// loads its newest valid state. The directory must exist. With
    /// `reset`, a file that cannot be used is replaced by an empty one and a
    /// readable one is emptied; the report says what was lost. The lock is
    /// taken first either way: a file another shardgate holds is never
    /// touched.
    pub fn open(path: &Path, reset: bool) -> Result<(MetaFile, OpenReport), MetaError> {
        let dir = dir_of(path);
        if !dir.is_dir() {
            return Err(MetaError::NoDirectory {
                path: path.to_path_buf(),
                dir,
            });
        }
        let file = open_locked(path, &dir)?;
        remove_stale_grow(path);

        let mut report = OpenReport::default();
        if is_pristine(&file, path)? {
            init_in_place(&file, path)?;
            report.created = true;
        }
        let loaded = match load(&file, path) {
            Ok(l) => l,
            Err(e) if reset && resettable(&e) => {
                let len = file_len(&file, path)?;
                report.discarded = Some(format!(
                    "discarded an unreadable file of {len} bytes ({})",
                    unreadable_reason(&e)
                ));
                init_in_place(&file, path)?;
                load(&file, path)?
            }
            Err(e) => return Err(e),
        };
        report.skipped_copy = loaded.skipped;
        let mut meta = MetaFile {
            path: path.to_path_buf(),
            file,
            map: loaded.map,
            slot_size: loaded.slot_size,
            active: loaded.active,
            generation: loaded.generation,
            state: loaded.state,
            max_slot_size: MAX_SLOT_SIZE,
        };
        if reset && report.discarded.is_none() && !meta.state.is_empty() {
            let (old, summary) = (meta.generation, meta.state.summary());
            meta.commit(MetaState::default())?;
            report.discarded = Some(format!("discarded generation {old}: {summary}"));
        }
        report.generation = meta.generation;
        report.summary = meta.state.summary();
        Ok((meta, report))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current slot size in bytes (grows with the state).
    pub fn slot_size(&self) -> u64 {
        self.slot_size
    }

    /// Commits by writing a larger file and renaming it over this one.
    fn grow(&mut self, next: MetaState, payload: &[u8], generation: u64) -> Result<u64, MetaError> {
        let need = (SLOT_HEADER + payload.len()) as u64;
        let slot_size = need
            .saturating_mul(2)
            .next_power_of_two()
            .max(self.slot_size.saturating_mul(2))
            .min(self.max_slot_size);
        let tmp = grow_path(&self.path);
        let file = build_grown(&tmp, slot_size, generation, payload).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })?;
        // SAFETY: `file` is a regular file we created and hold an exclusive
        // lock on, sized before mapping and never resized while mapped; the
        // map lives in `self` beside the file and is only read and written
        // through `&self`/`&mut self`, so no reference into it outlives it.
        // (memmap2: a process that ignores the lock and truncates the file
        // could still fault us; nothing in shardgate does.)
        let map = unsafe { MmapMut::map_mut(&file) }
            .map_err(io_err(&tmp, "map the grown file into memory"))
            .inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })?;
        if let Err(e) = fs::rename(&tmp, &self.path) {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&self.path, "rename the grown file over it")(e));
        }
        // The path now names the new file; switch to it (dropping the old
        // file releases the old inode's lock; the new one is held by `file`).
        let old_size = self.slot_size;
        self.file = file;
        self.map = map;
        self.slot_size = slot_size;
        self.active = 0;
        self.generation = generation;
        self.state = next;
        sync_dir(&self.path)?;
        log::info!(
            "META {}: grew to slots of {} KiB (were {} KiB) for a {}-byte state",
            self.path.display(),
            slot_size / 1024,
            old_size / 1024,
            payload.len()
        );
        Ok(generation)
    }
}

impl MetaStore for MetaFile {
    fn state(&self) -> &MetaState {
        &self.state
    }

    fn generation(&self) -> u64 {
        self.generation
    }

    fn commit(&mut self, next: MetaState) -> Result<u64, MetaError> {
        let payload = codec::encode(&next).map_err(|e| MetaError::TooLarge {
            detail: e.to_string(),
        })?;
        fits(payload.len(), self.max_slot_size)?;
        let generation = self.generation.checked_add(1).ok_or(MetaError::TooLarge {
            detail: "the generation counter is exhausted".to_string(),
        })?;
        if payload.len() > self.slot_size as usize - SLOT_HEADER {
            return self.grow(next, &payload, generation);
        }
        let target = 1 - self.active;
        let w = commit_writes(target, self.slot_size, generation, &payload);
        // Step 1: the payload, flushed. Until step 2 the target slot's
        // checksum fails (or it still shows an older generation).
        self.map[w.body..w.body + payload.len()].copy_from_slice(&payload);
        self.map
            .flush_range(w.body, payload.len())
            .map_err(io_err(&self.path, "flush the new state"))?;
        // Step 2: the slot header, which makes the copy valid and newest.
        self.map[w.header_at..w.header_at + SLOT_HEADER].copy_from_slice(&w.header);
        // The mapping now holds the new copy whatever the flush says; keep
        // memory in step with it so the next commit overwrites the old copy.
        self.active = target;
        self.generation = generation;
        self.state = next;
        self.map
            .flush_range(w.header_at, SLOT_HEADER)
            .map_err(io_err(
                &self.path,
                format!("flush generation {generation} (written, not confirmed durable)"),
            ))?;
        log::debug!(
            "META {}: committed generation {generation} ({} bytes)",
            self.path.display(),
            payload.len()
        );
        Ok(generation)
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// Refuses a payload no slot can hold.
pub(crate) fn check_payload_fits(len: usize) -> Result<(), MetaError> {
    fits(len, MAX_SLOT_SIZE)
}

fn fits(len: usize, max_slot_size: u64) -> Result<(), MetaError> {
    let max = max_slot_size as usize - SLOT_HEADER;
    if len > max {
        return Err(MetaError::TooLarge {
            detail: format!(
                "the state encodes to {len} bytes, a metadata file holds at most {max}"
            ),
        });
    }
    Ok(())
}

fn io_err(path: &Path, action: impl Into<String>) -> impl FnOnce(io::Error) -> MetaError {
    let path = path.to_path_buf();
    let action = action.into();
    move |source| MetaError::Io {
        path,
        action,
        source,
    }
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn grow_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(GROW_SUFFIX);
    PathBuf::from(s)
}

fn slot_offset(slot: usize, slot_size: u64) -> u64 {
    HEADER_SIZE + slot as u64 * slot_size
}

/// Opens (creating if absent) and locks `path`, making sure the locked
/// inode is the one the path names (a previous holder may have renamed a
/// grown file over it).
fn open_locked(path: &Path, dir: &Path) -> Result<File, MetaError> {
    for _ in 0..OPEN_ATTEMPTS {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound && !dir.is_dir() {
                    MetaError::NoDirectory {
                        path: path.to_path_buf(),
                        dir: dir.to_path_buf(),
                    }
                } else {
                    io_err(path, "open it")(e)
                }
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(MetaError::Locked {
                    path: path.to_path_buf(),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io_err(path, "lock it")(e)),
        }
        let mine = file.metadata().map_err(io_err(path, "stat it"))?;
        match fs::metadata(path) {
            Ok(now) if now.dev() == mine.dev() && now.ino() == mine.ino() => return Ok(file),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path, "stat it")(e)),
        }
    }
    Err(io_err(path, "lock it")(io::Error::other(format!(
        "the file was replaced {OPEN_ATTEMPTS} times while opening it"
    ))))
}

/// Removes a `<path>.grow` left by a crash during growth (we hold the lock,
/// so no growth is under way).
fn remove_stale_grow(path: &Path) {
    let tmp = grow_path(path);
    match fs::remove_file(&tmp) {
        Ok(()) => log::info!(
            "META {}: removed {} left by an interrupted growth",
            path.display(),
            tmp.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("META cannot remove {}: {e}", tmp.display()),
    }
}

fn file_len(file: &File, path: &Path) -> Result<u64, MetaError> {
    Ok(file.metadata().map_err(io_err(path, "stat it"))?.len())
}

/// True for a file that was never initialised: empty, or of the initial
/// size with an all-zero header (a crash during `init_in_place`).
fn is_pristine(file: &File, path: &Path) -> Result<bool, MetaError> {
    let len = file_len(file, path)?;
    if len == 0 {
        return Ok(true);
    }
    if len != HEADER_SIZE + 2 * INITIAL_SLOT_SIZE {
        return Ok(false);
    }
    let mut head = vec![0u8; HEADER_SIZE as usize];
    file.read_exact_at(&mut head, 0)
        .map_err(io_err(path, "read its header"))?;
    Ok(head.iter().all(|&b| b == 0))
}

/// Makes `file` a new metadata file holding the empty state as
/// generation 1; crash-safe as described in the module doc.
fn init_in_place(file: &File, path: &Path) -> Result<(), MetaError> {
    let payload = codec::encode(&MetaState::default()).map_err(|e| MetaError::TooLarge {
        detail: e.to_string(),
    })?;
    let size = HEADER_SIZE + 2 * INITIAL_SLOT_SIZE;
    file.set_len(0).map_err(io_err(path, "truncate it"))?;
    file.set_len(size).map_err(io_err(path, "size it"))?;
    file.write_all_at(&slot_bytes(1, &payload), HEADER_SIZE)
        .map_err(io_err(path, "write the first state"))?;
    file.sync_data().map_err(io_err(path, "sync it"))?;
    file.write_all_at(&header_bytes(INITIAL_SLOT_SIZE), 0)
        .map_err(io_err(path, "write its header"))?;
    file.sync_all().map_err(io_err(path, "sync it"))?;
    sync_dir(path)
}

/// Writes the grown file at `tmp`: header, slot 0 = `generation`, synced
/// and locked.
fn build_grown(
    tmp: &Path,
    slot_size: u64,
    generation: u64,
    payload: &[u8],
) -> Result<File, MetaError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(tmp)
        .map_err(io_err(tmp, "create it"))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(MetaError::Locked {
                path: tmp.to_path_buf(),
            })
        }
        Err(TryLockError::Error(e)) => return Err(io_err(tmp, "lock it")(e)),
    }
    file.set_len(0).map_err(io_err(tmp, "truncate it"))?;
    file.set_len(HEADER_SIZE + 2 * slot_size)
        .map_err(io_err(tmp, "size it"))?;
    file.write_all_at(&slot_bytes(generation, payload), HEADER_SIZE)
        .map_err(io_err(tmp, "write the state"))?;
    file.write_all_at(&header_bytes(slot_size), 0)
        .map_err(io_err(tmp, "write its header"))?;
    file.sync_all().map_err(io_err(tmp, "sync it"))?;
    Ok(file)
}

/// fsyncs the directory holding `path`, so a created or renamed entry
/// survives power loss.
fn sync_dir(path: &Path) -> Result<(), MetaError> {
    let dir = dir_of(path);
    File::open(&dir).and_then(|d| d.sync_all()).map_err(io_err(
        path,
        format!("sync its directory {}", dir.display()),
    ))
}

fn header_bytes(slot_size: u64) -> [u8; HEADER_USED] {
    let mut h = [0u8; HEADER_USED];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    h[16..24].copy_from_slice(&slot_size.to_le_bytes());
    let crc = crc32::crc32(&h[0..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Where a commit of `generation` into slot `target` writes, in the order
/// `commit` writes: the payload at `body`, then `header` (which validates
/// it) at `header_at`. The tests replay every prefix of this as a crash.
struct CommitWrites {
    body: usize,
    header_at: usize,
    header: [u8; SLOT_HEADER],
}

fn commit_writes(target: usize, slot_size: u64, generation: u64, payload: &[u8]) -> CommitWrites {
    let off = slot_offset(target, slot_size) as usize;
    CommitWrites {
        body: off + SLOT_HEADER,
        header_at: off,
        header: slot_header(generation, payload),
    }
}

fn slot_header(generation: u64, payload: &[u8]) -> [u8; SLOT_HEADER] {
    let mut h = [0u8; SLOT_HEADER];
    h[0..8].copy_from_slice(&generation.to_le_bytes());
    // Payloads are bounded by MAX_SLOT_SIZE (< 4 GiB) before they get here.
    h[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc = crc32::update(crc32::crc32(&h[0..12]), payload);
    h[12..16].copy_from_slice(&crc.to_le_bytes());
    h
}

fn slot_bytes(generation: u64, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(SLOT_HEADER + payload.len());
    v.extend_from_slice(&slot_header(generation, payload));
    v.extend_from_slice(payload);
    v
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Checks the header (`head`: the file's first bytes, up to 4096) against
/// the file length; returns the slot size.
fn parse_header(head: &[u8], len: u64, path: &Path) -> Result<u64, MetaError> {
    let corrupt = |detail: String| MetaError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let n = head.len().min(MAGIC.len());
    if n == 0 || head[..n] != MAGIC[..n] {
        return Err(MetaError::Foreign {
            path: path.to_path_buf(),
            magic: head[..n].to_vec(),
        });
    }
    if head.len() < HEADER_USED {
        return Err(corrupt(format!("the file is only {len} bytes long")));
    }
    let version = le_u32(head, 8);
    let crc_ok = crc32::crc32(&head[0..24]) == le_u32(head, 24);
    if version != FORMAT_VERSION {
        return Err(MetaError::UnsupportedVersion {
            path: path.to_path_buf(),
            what: "file format",
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if !crc_ok {
        return Err(corrupt("the header fails its checksum".to_string()));
    }
    let header_size = u64::from(le_u32(head, 12));
    let slot_size = le_u64(head, 16);
    if header_size != HEADER_SIZE
        || slot_size < PAGE
        || !slot_size.is_multiple_of(PAGE)
        || slot_size > MAX_SLOT_SIZE
    {
        return Err(corrupt(format!(
            "the header gives impossible sizes (header {header_size}, slot {slot_size})"
        )));
    }
    let want = HEADER_SIZE + 2 * slot_size;
    if len != want {
        return Err(corrupt(format!(
            "the file is {len} bytes long, its header says {want}"
        )));
    }
    Ok(slot_size)
}

/// What one slot holds.
enum Slot {
    /// All-zero header: never written.
    Unused,
    /// Fails its checks; why.
    Bad(String),
    Good {
        generation: u64,
        payload: Vec<u8>,
    },
}

fn read_slot(map: &[u8], slot: usize, slot_size: u64) -> Slot {
    let off = slot_offset(slot, slot_size) as usize;
    let bytes = &map[off..off + slot_size as usize];
    let mut head = [0u8; SLOT_HEADER];
    head.copy_from_slice(&bytes[..SLOT_HEADER]);
    if head == [0u8; SLOT_HEADER] {
        return Slot::Unused;
    }
    let generation = le_u64(&head, 0);
    let len = le_u32(&head, 8) as usize;
    if len > bytes.len() - SLOT_HEADER {
        return Slot::Bad(format!(
            "claims a {len}-byte state, more than the slot holds"
        ));
    }
    // Copied out first: the checksum and the decoder see the same bytes.
    let payload = bytes[SLOT_HEADER..SLOT_HEADER + len].to_vec();
    if slot_header(generation, &payload) != head {
        return Slot::Bad("checksum mismatch".to_string());
    }
    if generation == 0 {
        return Slot::Bad("generation 0".to_string());
    }
    Slot::Good {
        generation,
        payload,
    }
}

/// A file's content, checked and decoded.
struct Loaded {
    map: MmapMut,
    slot_size: u64,
    active: usize,
    generation: u64,
    state: MetaState,
    skipped: Option<String>,
}

fn load(file: &File, path: &Path) -> Result<Loaded, MetaError> {
    let len = file_len(file, path)?;
    let mut head = vec![0u8; len.min(HEADER_SIZE) as usize];
    file.read_exact_at(&mut head, 0)
        .map_err(io_err(path, "read its header"))?;
    let slot_size = parse_header(&head, len, path)?;
    // SAFETY: `file` is a regular file we hold an exclusive lock on, so no
    // other shardgate maps or writes it; its length was just checked and we
    // never resize a file while it is mapped (reset drops the map first).
    // The map is owned by `MetaFile` next to the file and only reached
    // through `&self`/`&mut self`: no reference into it outlives it or a
    // remap. Its bytes are copied out and checked before use. (memmap2: a
    // process that ignores the lock and truncates the file could still
    // fault us; nothing in shardgate does.)
    let map = unsafe { MmapMut::map_mut(file) }.map_err(io_err(path, "map it into memory"))?;
    if map.len() as u64 != len {
        return Err(MetaError::Corrupt {
            path: path.to_path_buf(),
            detail: "the file changed size while being opened".to_string(),
        });
    }
    let slots = [read_slot(&map, 0, slot_size), read_slot(&map, 1, slot_size)];
    let (active, generation, payload) = pick(&slots, path)?;
    let state = codec::decode(payload).map_err(|e| match e {
        DecodeError::Version { found } => MetaError::UnsupportedVersion {
            path: path.to_path_buf(),
            what: "state encoding",
            found: u32::from(found),
            supported: u32::from(PAYLOAD_VERSION),
        },
        e => MetaError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "generation {generation} (copy {active}) passes its checksum but does not \
                 decode: {e}"
            ),
        },
    })?;
    let skipped = match &slots[1 - active] {
        Slot::Bad(why) => Some(format!(
            "copy {} is unreadable ({why}), normally an update interrupted by a crash and \
             never acknowledged; using generation {generation} from copy {active}",
            1 - active
        )),
        _ => None,
    };
    Ok(Loaded {
        map,
        slot_size,
        active,
        generation,
        state,
        skipped,
    })
}

/// The valid slot with the highest generation: (slot, generation, payload).
fn pick<'a>(slots: &'a [Slot; 2], path: &Path) -> Result<(usize, u64, &'a [u8]), MetaError> {
    let corrupt = |detail: String| MetaError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    match slots {
        [Slot::Good {
            generation: g0,
            payload: p0,
        }, Slot::Good {
            generation: g1,
            payload: p1,
        }] => {
            if g0 == g1 && p0 != p1 {
                Err(corrupt(format!(
                    "both copies claim generation {g0} with different contents"
                )))
            } else if g1 > g0 {
                Ok((1, *g1, p1))
            } else {
                Ok((0, *g0, p0))
            }
        }
        [Slot::Good {
            generation,
            payload,
        }, _] => Ok((0, *generation, payload)),
        [_, Slot::Good {
            generation,
            payload,
        }] => Ok((1, *generation, payload)),
        [a, b] => {
            let why = |s: &Slot| match s {
                Slot::Unused => "never written".to_string(),
                Slot::Bad(w) => w.clone(),
                Slot::Good { .. } => "readable".to_string(),
            };
            Err(corrupt(format!(
                "neither copy of the state is readable (copy 0: {}; copy 1: {})",
                why(a),
                why(b)
            )))
        }
    }
}

/// Errors `reset` may throw away the file for.
fn resettable(e: &MetaError) -> bool {
    matches!(
        e,
        MetaError::Foreign { .. }
            | MetaError::Corrupt { .. }
            | MetaError::UnsupportedVersion { .. }
    )
}

fn unreadable_reason(e: &MetaError) -> String {
    match e {
        MetaError::Foreign { .. } => "not a shardgate metadata file".to_string(),
        MetaError::Corrupt { detail, .. } => detail.clone(),
        MetaError::UnsupportedVersion { what, found, .. } => format!("{what} version {found}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
