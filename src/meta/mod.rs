//! Metadata: the state that must survive a restart — operator node states,
//! bucket maps and their versions, global ID high-water marks and in-doubt
//! transaction records — behind one interface, [`MetaStore`].
//!
//! Two implementations: [`MetaFile`] (`server.metadata_file`, a
//! memory-mapped, checksummed file with two copies, crash-safe; see `file`)
//! and [`MemoryMeta`] (tests, and runs that want no file). A later consensus
//! store (etcd, see "Past one machine" in the design card) is meant to be a
//! third: callers hold a `Box<dyn MetaStore>` and never see the file.
//!
//! The model is deliberately plain data ([`MetaState`]): a commit replaces
//! the whole state, so every committed generation is one consistent
//! snapshot. The state is small (kilobytes; a bucket map stores two bytes
//! per bucket) and changes rarely (operator commands, bucket moves, ID
//! range grants, XA decisions). The byte encoding is in `codec`.

mod codec;
mod file;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

pub use file::{MetaFile, OpenReport, FORMAT_VERSION, INITIAL_SLOT_SIZE, MAGIC, MAX_SLOT_SIZE};

/// An operator's override of a node's health (`absence` = AUTO: the health
/// checker decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeOverride {
    /// Forced up: used even when the health checker says otherwise.
    Up,
    /// Forced down: never used, e.g. for maintenance.
    Down,
}

/// One operator-set node state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorNode {
    pub state: NodeOverride,
    /// Free text the operator gave ("disk swap"), may be empty.
    pub reason: String,
    /// When it was set, milliseconds since the Unix epoch.
    pub since_unix_ms: u64,
}

/// The group of each bucket of one `bucket` rule, with the map's version
/// (bumped on every move, so sessions can tell a stale map).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BucketMap {
    pub version: u64,
    /// `groups[b]` is the group name holding bucket `b`. Stored as a table of
    /// distinct names plus a `u16` index per bucket (at most 65,535
    /// distinct groups per map).
    pub groups: Vec<String>,
}

/// What the coordinator decided for a distributed (XA) transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnDecision {
    /// All branches were asked to prepare; no decision recorded yet.
    Prepared,
    /// Decided to commit: recovery commits every branch.
    Commit,
    /// Decided to roll back: recovery rolls back every branch.
    Abort,
}

/// An XA transaction whose outcome recovery may still have to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InDoubtTxn {
    pub xid: String,
    /// The groups holding a branch.
    pub groups: Vec<String>,
    pub decision: TxnDecision,
    /// When the record was last changed, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
}

/// Everything the metadata store keeps. One value is one generation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MetaState {
    /// Operator overrides by node address (`"127.0.0.1:3311"`).
    pub node_states: BTreeMap<String, OperatorNode>,
    /// Bucket maps by `"schema.rule"`.
    pub bucket_maps: BTreeMap<String, BucketMap>,
    /// Global ID high-water marks by sequence name: no ID at or below the
    /// mark is handed out again after a restart.
    pub id_high_water: BTreeMap<String, u64>,
    /// XA transactions recovery must finish.
    pub in_doubt: Vec<InDoubtTxn>,
}

impl MetaState {
    /// True when the state holds nothing.
    pub fn is_empty(&self) -> bool {
        self.node_states.is_empty()
            && self.bucket_maps.is_empty()
            && self.id_high_water.is_empty()
            && self.in_doubt.is_empty()
    }

    /// What the state holds, for logs: `3 operator node states, 2 bucket
    /// maps, 1 ID high-water mark, 0 in-doubt transactions`.
    pub fn summary(&self) -> String {
        format!(
            "{}, {}, {}, {}",
            plural(self.node_states.len(), "operator node state"),
            plural(self.bucket_maps.len(), "bucket map"),
            plural(self.id_high_water.len(), "ID high-water mark"),
            plural(self.in_doubt.len(), "in-doubt transaction"),
        )
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The metadata interface. A store always holds one committed state;
/// [`commit`](MetaStore::commit) replaces it as a whole. Not shared between
/// threads by itself: wrap it in a mutex.
pub trait MetaStore: Send {
    /// The last committed state.
    fn state(&self) -> &MetaState;

    /// The generation of [`state`](MetaStore::state): it grows by one per
    /// commit, also across restarts. (A commit cut short by a crash was
    /// never acknowledged; its number is used by the next one.)
    fn generation(&self) -> u64;

    /// Makes `next` the stored state and returns its generation. `Ok` means
    /// it is durable: a restart (after a crash or power loss) finds it or a
    /// later one. On `Err` the store is still usable and
    /// [`state`](MetaStore::state) says what it holds (the old state, or
    /// the new one when only the final flush failed, in which case a restart
    /// may find either).
    fn commit(&mut self, next: MetaState) -> Result<u64, MetaError>;

    /// Applies `change` to a copy of the state and commits it; commits
    /// nothing (and returns the current generation) when it changed
    /// nothing.
    fn update(&mut self, change: &mut dyn FnMut(&mut MetaState)) -> Result<u64, MetaError> {
        let mut next = self.state().clone();
        change(&mut next);
        if &next == self.state() {
            return Ok(self.generation());
        }
        self.commit(next)
    }

    /// Where the state lives, for logs (`file /var/lib/shardgate/meta`).
    fn describe(&self) -> String;
}

/// A [`MetaStore`] in memory: nothing survives the process. Applies the same
/// size limits as the file, so a state it accepts can also be stored.
#[derive(Debug, Default)]
pub struct MemoryMeta {
    state: MetaState,
    generation: u64,
}

impl MemoryMeta {
    /// An empty store at generation 1 (like a new file).
    pub fn new() -> MemoryMeta {
        MemoryMeta {
            state: MetaState::default(),
            generation: 1,
        }
    }

    /// A store holding `state` at `generation`.
    pub fn with_state(state: MetaState, generation: u64) -> MemoryMeta {
        MemoryMeta { state, generation }
    }
}

impl MetaStore for MemoryMeta {
    fn state(&self) -> &MetaState {
        &self.state
    }

    fn generation(&self) -> u64 {
        self.generation
    }

    fn commit(&mut self, next: MetaState) -> Result<u64, MetaError> {
        let bytes = codec::encode(&next).map_err(|e| MetaError::TooLarge {
            detail: e.to_string(),
        })?;
        file::check_payload_fits(bytes.len())?;
        let generation = self.generation.checked_add(1).ok_or(MetaError::TooLarge {
            detail: "the generation counter is exhausted".to_string(),
        })?;
        self.state = next;
        self.generation = generation;
        Ok(generation)
    }

    fn describe(&self) -> String {
        "memory (not kept across restarts)".to_string()
    }
}

/// Why the metadata store cannot be opened or written. Messages are meant
/// for operators and say what to do.
#[derive(Debug)]
pub enum MetaError {
    /// An I/O call failed; `action` says which ("map it into memory").
    Io {
        path: PathBuf,
        action: String,
        source: io::Error,
    },
    /// The directory that should hold the file does not exist.
    NoDirectory { path: PathBuf, dir: PathBuf },
    /// Another process (another shardgate) holds the file's lock.
    Locked { path: PathBuf },
    /// The file is not a shardgate metadata file; `magic` is how it starts.
    Foreign { path: PathBuf, magic: Vec<u8> },
    /// A shardgate metadata file, but no copy of the state is readable.
    Corrupt { path: PathBuf, detail: String },
    /// Written by a shardgate with another format (`what`: "file format" or
    /// "state encoding").
    UnsupportedVersion {
        path: PathBuf,
        what: &'static str,
        found: u32,
        supported: u32,
    },
    /// The state does not fit the format's limits; nothing was written.
    TooLarge { detail: String },
}

const RESET_HINT: &str = "start shardgate once with --reset-metadata to replace it with an \
     empty one (that forgets operator node states, bucket maps, ID high-water marks and \
     in-doubt transaction records)";

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::Io {
                path,
                action,
                source,
            } => write!(f, "metadata file {}: {action}: {source}", path.display()),
            MetaError::NoDirectory { path, dir } => write!(
                f,
                "metadata file {}: directory {} does not exist; create it or set \
                 server.metadata_file to a path in an existing directory",
                path.display(),
                dir.display()
            ),
            MetaError::Locked { path } => write!(
                f,
                "metadata file {} is locked by another process (another shardgate?); \
                 two shardgates cannot share one metadata file: give each its own \
                 server.metadata_file",
                path.display()
            ),
            MetaError::Foreign { path, magic } => write!(
                f,
                "{} is not a shardgate metadata file (it starts with {} instead of \
                 \"SHGMETA\\0\"); set server.metadata_file to another path, or {RESET_HINT}",
                path.display(),
                show_bytes(magic)
            ),
            MetaError::Corrupt { path, detail } => write!(
                f,
                "metadata file {} is corrupt: {detail}; restore it from a backup, or \
                 {RESET_HINT}",
                path.display()
            ),
            MetaError::UnsupportedVersion {
                path,
                what,
                found,
                supported,
            } => write!(
                f,
                "metadata file {} uses {what} version {found} but this shardgate reads \
                 version {supported}; run a shardgate that reads version {found}, or \
                 {RESET_HINT}",
                path.display()
            ),
            MetaError::TooLarge { detail } => {
                write!(f, "metadata state too large: {detail}; nothing was written")
            }
        }
    }
}

/// `"SHGM" 00 ff` style: printable ASCII quoted, other bytes in hex.
fn show_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing (empty file)".to_string();
    }
    let mut out = String::new();
    let mut in_text = false;
    for &b in bytes {
        if b.is_ascii_graphic() || b == b' ' {
            if !in_text {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push('"');
                in_text = true;
            }
            out.push(char::from(b));
        } else {
            if in_text {
                out.push('"');
                in_text = false;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&format!("{b:02x}"));
        }
    }
    if in_text {
        out.push('"');
    }
    out
}

impl std::error::Error for MetaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MetaError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn summary_counts_and_plurals() {
        let mut s = MetaState::default();
        assert!(s.is_empty());
        assert_eq!(
            s.summary(),
            "0 operator node states, 0 bucket maps, 0 ID high-water marks, 0 in-doubt transactions"
        );
        s.id_high_water.insert("orders.id".into(), 10);
        s.node_states.insert(
            "127.0.0.1:3311".into(),
            OperatorNode {
                state: NodeOverride::Down,
                reason: String::new(),
                since_unix_ms: 1,
            },
        );
        s.node_states.insert(
            "127.0.0.1:3312".into(),
            OperatorNode {
                state: NodeOverride::Up,
                reason: String::new(),
                since_unix_ms: 1,
            },
        );
        assert!(!s.is_empty());
        assert_eq!(
            s.summary(),
            "2 operator node states, 0 bucket maps, 1 ID high-water mark, 0 in-doubt transactions"
        );
    }

    #[test]
    fn memory_store_commits_and_updates() {
        let mut m = MemoryMeta::new();
        assert_eq!(m.generation(), 1);
        let g = m
            .update(&mut |s| {
                s.id_high_water.insert("seq".into(), 5);
            })
            .expect("update");
        assert_eq!(g, 2);
        assert_eq!(m.state().id_high_water.get("seq"), Some(&5));
        // No change, no new generation.
        let g = m.update(&mut |_| {}).expect("no-op update");
        assert_eq!(g, 2);
        let boxed: Box<dyn MetaStore> = Box::new(m);
        assert!(boxed.describe().contains("memory"));
    }

    #[test]
    fn memory_store_refuses_what_the_file_could_not_hold() {
        let mut m = MemoryMeta::new();
        let mut s = MetaState::default();
        s.bucket_maps.insert(
            "db.r".into(),
            BucketMap {
                version: 1,
                groups: (0..70_000).map(|i| format!("g{i}")).collect(),
            },
        );
        let err = m.commit(s).expect_err("too many distinct groups");
        assert!(matches!(err, MetaError::TooLarge { .. }), "{err}");
        assert_eq!(m.generation(), 1);
        assert!(m.state().is_empty());
    }

    #[test]
    fn messages_tell_the_operator_what_to_do() {
        let path = Path::new("/var/lib/shardgate/meta");
        let e = MetaError::Foreign {
            path: path.into(),
            magic: b"PK\x03\x04abcd".to_vec(),
        };
        let text = e.to_string();
        assert!(text.contains("not a shardgate metadata file"), "{text}");
        assert!(text.contains("\"PK\" 03 04 \"abcd\""), "{text}");
        assert!(text.contains("--reset-metadata"), "{text}");
        let e = MetaError::Locked { path: path.into() };
        assert!(e.to_string().contains("another shardgate"));
        let e = MetaError::Corrupt {
            path: path.into(),
            detail: "both copies fail their checksum".into(),
        };
        let text = e.to_string();
        assert!(text.contains("both copies") && text.contains("--reset-metadata"));
        assert!(text.contains("in-doubt transaction records"), "{text}");
        let e = MetaError::UnsupportedVersion {
            path: path.into(),
            what: "file format",
            found: 9,
            supported: 1,
        };
        assert!(e.to_string().contains("file format version 9"));
        assert_eq!(show_bytes(b""), "nothing (empty file)");
    }
}
