//! `lookup` rules: the seed article's "routing database". A directory table
//! (`lookup = { group, table, key_column, shard_column }`, in the schema's
//! database on `group`) maps each key to its shard; shardgate caches it.
//!
//! * [`Directory`]: reads and writes directory rows. [`BlockingDirectory`]
//!   is the real one: SQL on the directory group's master over a small pool
//!   of [`BlockingConn`]s. It blocks (bounded by the backend connect
//!   timeout, which `BlockingConn` also uses as its read/write timeout), so
//!   it runs on worker threads only.
//! * [`LookupCache`]: a bounded LRU of key → shard (`cache_size` entries,
//!   0 = none), thread-safe (16 locked parts when large), with hit/miss
//!   counters. Entries live until evicted or [`LookupCache::invalidate_all`]
//!   (config reload): a directory row changed behind shardgate's back is
//!   seen after the next reload. Misses are not cached.
//! * [`LookupRouter`]: cache + directory + the rule's `placement` policy —
//!   what the rules engine calls (`rules::RuleEnv::lookup`).
//!
//! Keys are not normalised for the directory (see `keyvalue.rs`): the
//! directory's server compares them with the column's own type and
//! collation, and the cache is keyed by the value as written
//! ([`KeyValue::raw_key`]), so `42` and `'042'` are separate entries that
//! the server resolves each. A key without a directory row matches no row
//! for reads (the directory is authoritative); for an INSERT it is an error
//! with `placement = "none"`, or is placed (`"hash"`: the `hash` rule's
//! shard; `"round_robin"`: a per-process counter) and recorded with
//! `INSERT IGNORE`, then read back, so racing proxies agree on the row that
//! won.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::crc32::crc32;
use super::keyvalue::KeyValue;
use super::rules::{hash_key, RouteError};
use crate::backend::blocking::BlockingConn;
use crate::config::{Backend, Lookup, Placement, Rule, RuleKind, Topology};

/// Where a lookup rule's key → shard rows live.
pub trait Directory: Send + Sync {
    /// The shard recorded for `key`; `None` when the directory has no row.
    fn lookup(&self, key: &KeyValue) -> Result<Option<u32>, RouteError>;

    /// Records `key` → `shard` unless the key already has a row; returns
    /// the shard recorded now (`shard`, or the row another writer won with).
    fn insert(&self, key: &KeyValue, shard: u32) -> Result<u32, RouteError>;

    /// For messages: `blog.shard_directory on group g0`.
    fn name(&self) -> String;
}

// ---------------------------------------------------------------------------
// Cache

const NIL: u32 = u32::MAX;
/// Caches at least this large are split into [`PARTS`] locked parts.
const SPLIT_AT: usize = 4096;
const PARTS: usize = 16;

/// A bounded, thread-safe LRU of directory answers (normalised key bytes →
/// shard).
pub struct LookupCache {
    parts: Box<[Mutex<Lru>]>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    generation: AtomicU64,
}

/// Counters of a [`LookupCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
    pub capacity: usize,
}

impl LookupCache {
    /// A cache of at most `capacity` entries (0: caches nothing).
    pub fn new(capacity: usize) -> LookupCache {
        let n = if capacity >= SPLIT_AT { PARTS } else { 1 };
        let parts = (0..n)
            .map(|i| Mutex::new(Lru::new(capacity / n + usize::from(i < capacity % n))))
            .collect();
        LookupCache {
            parts,
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    fn part(&self, key: &[u8]) -> &Mutex<Lru> {
        let i = if self.parts.len() == 1 {
            0
        } else {
            crc32(key) as usize % self.parts.len()
        };
        &self.parts[i]
    }

    /// The cached shard of `key` (counts a hit or a miss; a hit becomes
    /// the most recently used entry).
    pub fn get(&self, key: &[u8]) -> Option<u32> {
        let r = if self.capacity == 0 {
            None
        } else {
            self.part(key).lock().get(key)
        };
        let c = if r.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        c.fetch_add(1, Ordering::Relaxed);
        r
    }

    /// The cached shard of `key` without touching counters or LRU order.
    pub fn peek(&self, key: &[u8]) -> Option<u32> {
        if self.capacity == 0 {
            return None;
        }
        let lru = self.part(key).lock();
        lru.map
            .get(key)
            .and_then(|&i| lru.nodes.get(i as usize))
            .map(|n| n.shard)
    }

    /// Caches `key` → `shard`, evicting the least recently used entry when
    /// full.
    pub fn insert(&self, key: &[u8], shard: u32) {
        if self.capacity > 0 {
            self.part(key).lock().insert(key, shard);
        }
    }

    /// Like [`LookupCache::insert`], unless the cache was invalidated since
    /// `generation` was read (the answer may predate a reload).
    pub fn insert_if_current(&self, generation: u64, key: &[u8], shard: u32) {
        if self.capacity == 0 {
            return;
        }
        let mut lru = self.part(key).lock();
        if self.generation.load(Ordering::Acquire) == generation {
            lru.insert(key, shard);
        }
    }

    /// Bumped by every [`LookupCache::invalidate_all`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets every entry (config reload, directory edited by hand).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for p in self.parts.iter() {
            p.lock().clear();
        }
    }

    /// Forgets one key.
    pub fn remove(&self, key: &[u8]) {
        if self.capacity > 0 {
            self.part(key).lock().remove(key);
        }
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.lock().map.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits(),
            misses: self.misses(),
            entries: self.len(),
            capacity: self.capacity,
        }
    }
}

struct Node {
    key: Box<[u8]>,
    shard: u32,
    prev: u32,
    next: u32,
}

/// One LRU: a hash map into a slab of nodes on a doubly linked list (most
/// recently used at `head`).
struct Lru {
    map: HashMap<Box<[u8]>, u32>,
    nodes: Vec<Node>,
    head: u32,
    tail: u32,
    cap: usize,
}

impl Lru {
    fn new(cap: usize) -> Lru {
        Lru {
            map: HashMap::new(),
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            cap,
        }
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = match self.nodes.get(i as usize) {
            Some(n) => (n.prev, n.next),
            None => return,
        };
        match self.nodes.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.nodes.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        if let Some(n) = self.nodes.get_mut(i as usize) {
            n.prev = NIL;
            n.next = old;
        }
        match self.nodes.get_mut(old as usize) {
            Some(h) => h.prev = i,
            None => self.tail = i,
        }
        self.head = i;
    }

    fn get(&mut self, key: &[u8]) -> Option<u32> {
        let i = *self.map.get(key)?;
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        self.nodes.get(i as usize).map(|n| n.shard)
    }

    fn insert(&mut self, key: &[u8], shard: u32) {
        if self.cap == 0 {
            return;
        }
        if let Some(&i) = self.map.get(key) {
            if let Some(n) = self.nodes.get_mut(i as usize) {
                n.shard = shard;
            }
            self.unlink(i);
            self.push_front(i);
            return;
        }
        let key: Box<[u8]> = key.into();
        let i = if self.map.len() >= self.cap {
            // Reuse the least recently used node.
            let t = self.tail;
            self.unlink(t);
            let Some(node) = self.nodes.get_mut(t as usize) else {
                return;
            };
            let old = std::mem::replace(&mut node.key, key.clone());
            node.shard = shard;
            self.map.remove(&old);
            t
        } else {
            self.nodes.push(Node {
                key: key.clone(),
                shard,
                prev: NIL,
                next: NIL,
            });
            (self.nodes.len() - 1) as u32
        };
        self.map.insert(key, i);
        self.push_front(i);
    }

    fn remove(&mut self, key: &[u8]) {
        let Some(i) = self.map.remove(key) else {
            return;
        };
        self.unlink(i);
        // Fill the hole with the last node and repoint its neighbours.
        let last = (self.nodes.len() - 1) as u32;
        if i != last {
            self.nodes.swap(i as usize, last as usize);
            let (prev, next) = match self.nodes.get(i as usize) {
                Some(n) => (n.prev, n.next),
                None => return,
            };
            match self.nodes.get_mut(prev as usize) {
                Some(p) => p.next = i,
                None => self.head = i,
            }
            match self.nodes.get_mut(next as usize) {
                Some(n) => n.prev = i,
                None => self.tail = i,
            }
            if let Some(moved) = self.nodes.get(i as usize) {
                if let Some(slot) = self.map.get_mut(&moved.key) {
                    *slot = i;
                }
            }
        }
        self.nodes.pop();
    }

    fn clear(&mut self) {
        self.map.clear();
        self.nodes.clear();
        self.head = NIL;
        self.tail = NIL;
    }
}

// ---------------------------------------------------------------------------
// Router

/// A lookup rule's cache, directory and placement policy.
pub struct LookupRouter {
    rule: Rule,
    shard_count: u32,
    placement: Placement,
    cache: LookupCache,
    directory: Arc<dyn Directory>,
    next: AtomicU32,
}

impl LookupRouter {
    /// The router of a `lookup` rule; `None` for other kinds.
    pub fn new(rule: &Rule, directory: Arc<dyn Directory>) -> Option<LookupRouter> {
        let RuleKind::Lookup(l) = &rule.kind else {
            return None;
        };
        Some(LookupRouter {
            rule: rule.clone(),
            shard_count: rule.shard_count() as u32,
            placement: l.placement,
            cache: LookupCache::new(l.cache_size),
            directory,
            next: AtomicU32::new(0),
        })
    }

    pub fn cache(&self) -> &LookupCache {
        &self.cache
    }

    pub fn directory(&self) -> &dyn Directory {
        self.directory.as_ref()
    }

    /// The cached shard of `key`, without blocking: what an I/O thread may
    /// use before handing a miss to a worker.
    pub fn cached(&self, key: &KeyValue) -> Option<u32> {
        self.cache.get(&key.raw_key())
    }

    fn checked(&self, key: &KeyValue, shard: u32) -> Result<u32, RouteError> {
        if shard < self.shard_count {
            Ok(shard)
        } else {
            Err(RouteError::BadDirectoryEntry {
                key: key.to_string(),
                directory: self.directory.name(),
                detail: format!(
                    "shard {shard} is not a shard of rule {} (0..{})",
                    self.rule.name, self.shard_count
                ),
            })
        }
    }

    /// The directory's shard for `key` (through the cache); `None` for NULL
    /// and for keys the directory does not have.
    pub fn shard_of(&self, key: &KeyValue) -> Result<Option<u32>, RouteError> {
        if key.is_null() {
            return Ok(None);
        }
        let ck = key.raw_key();
        if let Some(s) = self.cache.get(&ck) {
            return Ok(Some(s));
        }
        let generation = self.cache.generation();
        match self.directory.lookup(key)? {
            Some(s) => {
                let s = self.checked(key, s)?;
                self.cache.insert_if_current(generation, &ck, s);
                Ok(Some(s))
            }
            None => Ok(None),
        }
    }

    /// The shard an INSERT of `key` goes to: the directory's, or (for a new
    /// key) one chosen by `placement` and recorded first.
    pub fn shard_for_insert(&self, key: &KeyValue) -> Result<u32, RouteError> {
        if key.is_null() {
            return Err(RouteError::NullKey {
                rule: self.rule.name.clone(),
                table: None,
            });
        }
        if let Some(s) = self.shard_of(key)? {
            return Ok(s);
        }
        let n = self.shard_count.max(1);
        let shard = match self.placement {
            Placement::None => {
                return Err(RouteError::NoDirectoryEntry {
                    key: key.to_string(),
                    rule: self.rule.name.clone(),
                    table: None,
                    directory: self.directory.name(),
                })
            }
            Placement::Hash => {
                hash_key(&self.rule, n as usize, key, super::keyvalue::KeyType::Auto)?
            }
            Placement::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
        };
        let generation = self.cache.generation();
        let won = self.directory.insert(key, shard)?;
        let won = self.checked(key, won)?;
        self.cache
            .insert_if_current(generation, &key.raw_key(), won);
        Ok(won)
    }
}

// ---------------------------------------------------------------------------
// The directory table over blocking connections

/// Idle connections kept per directory.
const MAX_IDLE: usize = 4;

struct Pooled {
    conn: BlockingConn,
    /// `false` when the session's sql_mode has NO_BACKSLASH_ESCAPES.
    backslash_escapes: bool,
}

/// A directory table read and written with SQL on its group's master.
pub struct BlockingDirectory {
    addr: SocketAddr,
    backend: Backend,
    label: String,
    /// `SELECT `shard` FROM `db`.`t` WHERE `k` = `
    select: String,
    /// `INSERT IGNORE INTO `db`.`t` (`k`, `shard`) VALUES (`
    insert: String,
    idle: Mutex<Vec<Pooled>>,
}

impl BlockingDirectory {
    /// The directory `lookup` in database `database` on the server at
    /// `addr` (its group's master), reached with the `[backend]` account.
    pub fn new(addr: SocketAddr, backend: &Backend, database: &str, lookup: &Lookup) -> Self {
        let table = format!("{}.{}", quote_ident(database), quote_ident(&lookup.table));
        BlockingDirectory {
            addr,
            backend: backend.clone(),
            label: format!("{database}.{} on group {}", lookup.table, lookup.group),
            select: format!(
                "SELECT {} FROM {table} WHERE {} = ",
                quote_ident(&lookup.shard_column),
                quote_ident(&lookup.key_column)
            ),
            insert: format!(
                "INSERT IGNORE INTO {table} ({}, {}) VALUES (",
                quote_ident(&lookup.key_column),
                quote_ident(&lookup.shard_column)
            ),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The directory of lookup rule `rule` of schema `schema`: its group's
    /// master, resolved now. (A failover changes the master: build it
    /// again with the new topology.)
    pub fn for_rule(
        topo: &Topology,
        schema: &str,
        rule: &Rule,
    ) -> Result<BlockingDirectory, RouteError> {
        let RuleKind::Lookup(l) = &rule.kind else {
            return Err(RouteError::Directory {
                directory: rule.name.clone(),
                detail: "the rule is not a lookup rule".into(),
            });
        };
        let err = |detail: String| RouteError::Directory {
            directory: format!("{schema}.{} on group {}", l.table, l.group),
            detail,
        };
        let group = topo
            .group(&l.group)
            .ok_or_else(|| err(format!("group {} is not configured", l.group)))?;
        let m = &group.master;
        let addr = match m.socket {
            Some(a) => a,
            None => (m.host.as_str(), m.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| err(format!("cannot resolve master {}", m.text)))?,
        };
        Ok(BlockingDirectory::new(addr, &topo.backend, schema, l))
    }

    fn connect(&self) -> io::Result<Pooled> {
        let mut conn = BlockingConn::connect(self.addr, &self.backend)?;
        let reply = conn.query("SELECT @@SESSION.sql_mode")?;
        let rows = text_rows(&reply, 1).map_err(invalid)?;
        let mode = rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .flatten()
            .unwrap_or_default();
        let nbe = String::from_utf8_lossy(&mode)
            .split(',')
            .any(|m| m.trim().eq_ignore_ascii_case("NO_BACKSLASH_ESCAPES"));
        Ok(Pooled {
            conn,
            backslash_escapes: !nbe,
        })
    }

    /// Runs `f` on a pooled connection (a fresh one if none is idle). A
    /// pooled connection that fails is dropped and `f` is tried once more on
    /// a fresh one (it may have been closed by the server while idle).
    fn with_conn<T>(
        &self,
        mut f: impl FnMut(&mut Pooled) -> io::Result<T>,
    ) -> Result<T, RouteError> {
        let err = |e: io::Error| RouteError::Directory {
            directory: self.label.clone(),
            detail: e.to_string(),
        };
        let pooled = self.idle.lock().pop();
        let mut c = match pooled {
            Some(mut c) => match f(&mut c) {
                Ok(v) => {
                    self.put_back(c);
                    return Ok(v);
                }
                Err(_) => self.connect().map_err(err)?,
            },
            None => self.connect().map_err(err)?,
        };
        let v = f(&mut c).map_err(err)?;
        self.put_back(c);
        Ok(v)
    }

    fn put_back(&self, c: Pooled) {
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(c);
        }
    }

    fn literal(&self, key: &KeyValue, backslash_escapes: bool) -> Result<String, RouteError> {
        sql_literal(key, backslash_escapes).ok_or_else(|| RouteError::BadKey {
            key: key.to_string(),
            rule: self.label.clone(),
            table: None,
            why: "it is not a value a directory can hold",
            fix: "use an integer or string key",
        })
    }

    fn select_one(
        &self,
        c: &mut Pooled,
        key: &KeyValue,
    ) -> io::Result<Result<Option<u32>, RouteError>> {
        let lit = match self.literal(key, c.backslash_escapes) {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        let reply = c.conn.query(&format!("{}{lit} LIMIT 2", self.select))?;
        let rows = text_rows(&reply, 1).map_err(invalid)?;
        let bad = |detail: String| {
            Err(RouteError::BadDirectoryEntry {
                key: key.to_string(),
                directory: self.label.clone(),
                detail,
            })
        };
        Ok(match rows.as_slice() {
            [] => Ok(None),
            [row] => match row.first() {
                Some(Some(cell)) => match parse_shard(cell) {
                    Some(s) => Ok(Some(s)),
                    None => bad(format!(
                        "the shard column holds '{}', not a shard number",
                        String::from_utf8_lossy(cell)
                    )),
                },
                _ => bad("the shard column is NULL".into()),
            },
            _ => bad(
                "several rows match the key (make the key column the table's primary key)".into(),
            ),
        })
    }
}

impl Directory for BlockingDirectory {
    fn lookup(&self, key: &KeyValue) -> Result<Option<u32>, RouteError> {
        self.with_conn(|c| self.select_one(c, key))?
    }

    fn insert(&self, key: &KeyValue, shard: u32) -> Result<u32, RouteError> {
        self.with_conn(|c| {
            let lit = match self.literal(key, c.backslash_escapes) {
                Ok(l) => l,
                Err(e) => return Ok(Err(e)),
            };
            c.conn.query(&format!("{}{lit}, {shard})", self.insert))?;
            // Read back: ours, or the row a racing writer put first.
            Ok(match self.select_one(c, key)? {
                Ok(Some(s)) => Ok(s),
                Ok(None) => Err(RouteError::Directory {
                    directory: self.label.clone(),
                    detail: format!("key {key} is missing right after INSERT IGNORE"),
                }),
                Err(e) => Err(e),
            })
        })?
    }

    fn name(&self) -> String {
        self.label.clone()
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// The cells of the text rows of a one-result-set reply (as
/// `BlockingConn::query` returns it: column count, column definitions, EOF,
/// rows, EOF).
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset.html>
fn text_rows(packets: &[Vec<u8>], ncols: usize) -> Result<Vec<Vec<Option<Vec<u8>>>>, String> {
    let set = crate::backend::blocking::ResultSet::decode(packets)?;
    if set.columns.len() != ncols {
        return Err(format!(
            "expected {ncols} columns, got {}",
            set.columns.len()
        ));
    }
    Ok(set.rows)
}

fn parse_shard(cell: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(cell).ok()?.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `` `name` `` with backquotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `key` as an SQL literal: integers as decimal text, strings quoted (with
/// `\` and `'` escaped as `mysql_real_escape_string` does, or `'` doubled
/// under NO_BACKSLASH_ESCAPES), bytes that are not UTF-8 as `X'..'`, hex
/// numbers as `0x..`. `None` for NULL and for numbers that are not finite.
pub fn sql_literal(key: &KeyValue, backslash_escapes: bool) -> Option<String> {
    Some(match key {
        KeyValue::Null => return None,
        KeyValue::Int(i) => i.to_string(),
        KeyValue::UInt(u) => u.to_string(),
        KeyValue::Number(t) => {
            if t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
            {
                return None;
            }
            t.to_string()
        }
        KeyValue::Str(b) => match std::str::from_utf8(b) {
            Ok(s) => quote_string(s, backslash_escapes),
            Err(_) => format!("X'{}'", hex(b)),
        },
        KeyValue::HexNum(b) if b.is_empty() => "X''".to_string(),
        KeyValue::HexNum(b) => format!("0x{}", hex(b)),
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn quote_string(s: &str, backslash_escapes: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\'' if backslash_escapes => out.push_str("\\'"),
            '\'' => out.push_str("''"),
            '\\' if backslash_escapes => out.push_str("\\\\"),
            '\0' if backslash_escapes => out.push_str("\\0"),
            '\n' if backslash_escapes => out.push_str("\\n"),
            '\r' if backslash_escapes => out.push_str("\\r"),
            '\u{1a}' if backslash_escapes => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests;
