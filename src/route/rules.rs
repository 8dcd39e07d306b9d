//! The sharding rules engine: a key value → the shard that holds it, and a
//! key predicate → the set of shards that can hold matching rows. Pure and
//! allocation-light (a point lookup allocates nothing for up to 64 shards);
//! `lookup` rules are the exception and reach their directory through
//! [`LookupRouter`].
//!
//! A shard is an index into the rule's physical tables (`{table}_{i:04}`),
//! numbered group by group; `Rule::locate` turns it into (group, table).
//!
//! # The rules
//!
//! * `range` (key type [`KeyType::Integer`]): `rows_per_table = n` puts keys
//!   `0..n` in shard 0, `n..2n` in shard 1, …; `boundaries = [b0, b1, …]`
//!   puts keys `< b0` in shard 0, `b0..b1` in shard 1, …. A key below 0
//!   (`rows_per_table`) or at or above the last bound is
//!   [`RouteError::KeyOutOfRange`] for an INSERT, never a guess. Range
//!   predicates give exactly the shards whose ranges intersect.
//! * `hash` (key type [`KeyType::Integer`], [`KeyType::Text`] or
//!   [`KeyType::PaddedText`] as the key
//!   column's type says, [`KeyType::Auto`] for other columns; the planner
//!   reads it with the table's columns and passes it in
//!   [`RuleEnv::key_type`]): an integer key `k` goes to
//!   `k.rem_euclid(n)` — the mathematical modulo, never negative, so
//!   `-1` is on shard `n - 1`. Check placement in SQL with
//!   `MOD(MOD(k, n) + n, n)` (`MOD(k, n)` alone is negative for negative
//!   `k`; for `BIGINT UNSIGNED` columns `k % n` is enough). Any other key
//!   (strings, dates) goes to `CRC32(bytes) % n`, checkable as
//!   `CRC32(k) % n`; in a string column every key is its bytes (`'042'` is
//!   not 42), without trailing spaces when the column's collation is PAD
//!   SPACE (MariaDB's default, under which `'ab' = 'ab '`; a CHAR column
//!   stores no trailing spaces, so `CRC32(k)` still checks it; for a
//!   VARCHAR key stored with trailing spaces check
//!   `CRC32(TRIM(TRAILING ' ' FROM k))`). Case- and accent-insensitive
//!   collations are not folded: placement stays `CRC32(k)`, and a warning
//!   says that a key written in another case than stored routes elsewhere.
//!   A string key is hashed in the key column's character set: sent over
//!   a connection in another one (a latin1 client, a utf8mb4 column), it is
//!   converted first, as the server converts it to store it
//!   ([`RuleEnv::convert`]; UTF-8, latin1 and ASCII; other client character
//!   sets are hashed as sent).
//!   A DATE, DATETIME or TIMESTAMP key ([`KeyType::Date`],
//!   [`KeyType::DateTime`]) is the text the column stores (`2024-01-05`,
//!   `2024-01-05 00:00:00.000` for DATETIME(3)), whichever spelling the
//!   statement used (`'2024-1-5'`, `20240105`, a binary-protocol date), so
//!   `CRC32(k) % n` checks it too; a spelling shardgate cannot read is
//!   refused as an INSERT key and reads every shard in WHERE.
//!   Predicates: `=`/`IN` give their shards (a number compared
//!   with a string column gives every shard: it matches `'42'`, `' 42'`,
//!   `'042'`...); a range gives every shard, except a small range between
//!   two number literals on an integer column or one of unknown type (`BETWEEN 10
//!   AND 12`, at most `n` integers), which gives the shards of those
//!   integers.
//! * `bucket` (key type as for `hash`): `CRC32(key) % buckets` is the
//!   bucket (for an integer key, the CRC32 of its decimal text, so
//!   `CRC32(k) % buckets` checks it in SQL), the [`BucketMap`] gives the
//!   bucket's group, and the table within the group is
//!   `bucket % tables_on_that_group`: every row of one bucket is in one
//!   physical table, so a bucket moves to another group as one
//!   `SELECT … WHERE CRC32(k) % buckets = b` from one table. The shard
//!   index is the group's first shard plus that table number. Predicates as
//!   for `hash`; "every shard" means every shard of the groups that own at
//!   least one bucket.
//! * `lookup`: the directory table says; see `lookup.rs`. `=`/`IN` ask the
//!   directory (through its cache); a key the directory does not have
//!   matches no row (the directory is authoritative: an INSERT needs a
//!   directory row first). Ranges give every shard.
//!
//! # Empty sets and NULL
//!
//! `k = NULL`, `k IN (NULL)`, a NULL range bound, a range key out of every
//! range and a lookup key without a directory row match no row: the shard
//! set is empty. The planner must still run the statement on one shard (the
//! first, say) so the client gets an empty result with the right columns, or
//! 0 affected rows. An INSERT with a NULL key is [`RouteError::NullKey`].
//!
//! # Errors
//!
//! [`RouteError`]'s messages start with `shardgate:` and say what to do;
//! [`RouteError::code`] gives the MySQL error code for the ERR packet.

use std::borrow::Cow;
use std::fmt;
use std::ops::Bound;

use shardgate_proto::error_codes::{self as ec, ErrorCode};

use super::crc32::{crc32, crc32_int};
use super::keyvalue::{Canon, KeyType, KeyValue};
use super::lookup::LookupRouter;
use crate::config::{RangeSpec, Rule, RuleKind};
use crate::merge::charset::{transcode, Charset};

/// `ER_BAD_NULL_ERROR` (MariaDB `errmsg-utf8.txt`: 1048, SQLSTATE 23000),
/// what the server says for a NULL in a NOT NULL column.
pub const ER_BAD_NULL_ERROR: ErrorCode = ErrorCode {
    code: 1048,
    sqlstate: b"23000",
    name: "ER_BAD_NULL_ERROR",
};

/// `ER_NO_PARTITION_FOR_GIVEN_VALUE` (1526, HY000): what the server's own
/// partitioning says for a value no partition holds.
pub const ER_NO_PARTITION_FOR_GIVEN_VALUE: ErrorCode = ErrorCode {
    code: 1526,
    sqlstate: b"HY000",
    name: "ER_NO_PARTITION_FOR_GIVEN_VALUE",
};

/// Why a key could not be routed. `table` is filled in by the planner
/// ([`RouteError::with_table`]); the rule functions do not know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// An INSERT (or a point locate) with a NULL key.
    NullKey { rule: String, table: Option<String> },
    /// A `range` key outside every range.
    KeyOutOfRange {
        key: String,
        rule: String,
        table: Option<String>,
        /// The keys the rule covers, e.g. `0..40000` or `..100000`.
        ranges: String,
    },
    /// A key value this rule cannot place (not an integer for a `range`
    /// rule, a fraction, an ambiguous hex number).
    BadKey {
        key: String,
        rule: String,
        table: Option<String>,
        why: &'static str,
        fix: &'static str,
    },
    /// An INSERT of a key the directory does not have, with
    /// `placement = "none"`.
    NoDirectoryEntry {
        key: String,
        rule: String,
        table: Option<String>,
        directory: String,
    },
    /// The directory's row for a key is not a shard of the rule.
    BadDirectoryEntry {
        key: String,
        directory: String,
        detail: String,
    },
    /// The directory could not be read or written.
    Directory { directory: String, detail: String },
    /// A `bucket` rule with no bucket map (or one that does not fit it).
    NoBucketMap { rule: String, detail: String },
    /// Bytes that are not a bucket map.
    BadBucketMap(String),
    /// A `lookup` rule routed without a [`LookupRouter`]: the caller must
    /// route it where blocking is allowed (a worker thread).
    DirectoryNeeded { rule: String },
}

impl RouteError {
    /// Names the logical table in the message.
    pub fn with_table(mut self, name: &str) -> RouteError {
        match &mut self {
            RouteError::NullKey { table, .. }
            | RouteError::KeyOutOfRange { table, .. }
            | RouteError::BadKey { table, .. }
            | RouteError::NoDirectoryEntry { table, .. } => *table = Some(name.to_string()),
            _ => {}
        }
        self
    }

    /// The MySQL error for the ERR packet:
    /// * NULL key: 1048 `ER_BAD_NULL_ERROR` (23000), as a NOT NULL column;
    /// * out of range, no directory row: 1526
    ///   `ER_NO_PARTITION_FOR_GIVEN_VALUE`, as MySQL's own partitioning;
    /// * a key this rule cannot place: 1235 `ER_NOT_SUPPORTED_YET` (42000),
    ///   shardgate's "cannot route this" refusal;
    /// * directory and bucket map trouble: 1105 `ER_UNKNOWN_ERROR`.
    pub fn code(&self) -> ErrorCode {
        match self {
            RouteError::NullKey { .. } => ER_BAD_NULL_ERROR,
            RouteError::KeyOutOfRange { .. } | RouteError::NoDirectoryEntry { .. } => {
                ER_NO_PARTITION_FOR_GIVEN_VALUE
            }
            RouteError::BadKey { .. } => ec::ER_NOT_SUPPORTED_YET,
            RouteError::BadDirectoryEntry { .. }
            | RouteError::Directory { .. }
            | RouteError::NoBucketMap { .. }
            | RouteError::BadBucketMap(_)
            | RouteError::DirectoryNeeded { .. } => ec::ER_UNKNOWN_ERROR,
        }
    }
}

struct OfTable<'a>(&'a Option<String>);

impl fmt::Display for OfTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => write!(f, " of table {t}"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::NullKey { rule, table } => write!(
                f,
                "shardgate: shard key{} cannot be NULL (rule {rule}); give the key column a value",
                OfTable(table)
            ),
            RouteError::KeyOutOfRange {
                key,
                rule,
                table,
                ranges,
            } => write!(
                f,
                "shardgate: key {key}{} is outside every range of rule {rule} ({ranges}); add a range or use another key",
                OfTable(table)
            ),
            RouteError::BadKey {
                key,
                rule,
                table,
                why,
                fix,
            } => write!(
                f,
                "shardgate: key {key}{} cannot be routed by rule {rule}: {why}; {fix}",
                OfTable(table)
            ),
            RouteError::NoDirectoryEntry {
                key,
                rule,
                table,
                directory,
            } => write!(
                f,
                "shardgate: key {key}{} has no row in directory {directory} (rule {rule}, placement = \"none\"); insert the key and its shard into the directory first, or set placement = \"hash\" or \"round_robin\" on the rule",
                OfTable(table)
            ),
            RouteError::BadDirectoryEntry {
                key,
                directory,
                detail,
            } => write!(
                f,
                "shardgate: directory {directory} has a bad row for key {key}: {detail}; fix the directory row"
            ),
            RouteError::Directory { directory, detail } => write!(
                f,
                "shardgate: cannot use directory {directory}: {detail}; check that its group's master is up and the table exists"
            ),
            RouteError::NoBucketMap { rule, detail } => write!(
                f,
                "shardgate: rule {rule} has no usable bucket map: {detail}; check the metadata file or reload the configuration"
            ),
            RouteError::BadBucketMap(detail) => {
                write!(f, "shardgate: bad bucket map: {detail}")
            }
            RouteError::DirectoryNeeded { rule } => write!(
                f,
                "shardgate: rule {rule} needs a directory lookup that cannot run on this thread; route the statement on a worker"
            ),
        }
    }
}

impl std::error::Error for RouteError {}

// ---------------------------------------------------------------------------
// Shard sets

/// A set of shard indexes below a capacity (the rule's shard count): a
/// bitset, inline for up to 64 shards. Iterates in increasing order.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShardSet {
    cap: u32,
    bits: Bits,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Bits {
    Small(u64),
    Large(Box<[u64]>),
}

impl ShardSet {
    /// No shard.
    pub fn empty(cap: usize) -> ShardSet {
        let cap = cap.min(u32::MAX as usize) as u32;
        let bits = if cap <= 64 {
            Bits::Small(0)
        } else {
            Bits::Large(vec![0; (cap as usize).div_ceil(64)].into())
        };
        ShardSet { cap, bits }
    }

    /// Every shard `0..cap`.
    pub fn all(cap: usize) -> ShardSet {
        let mut s = ShardSet::empty(cap);
        s.insert_range(0, s.cap);
        s
    }

    /// Just `shard` (nothing if `shard >= cap`).
    pub fn single(cap: usize, shard: u32) -> ShardSet {
        let mut s = ShardSet::empty(cap);
        s.insert(shard);
        s
    }

    /// The shard count this set is over.
    pub fn capacity(&self) -> usize {
        self.cap as usize
    }

    fn words(&self) -> &[u64] {
        match &self.bits {
            Bits::Small(w) => std::slice::from_ref(w),
            Bits::Large(ws) => ws,
        }
    }

    fn words_mut(&mut self) -> &mut [u64] {
        match &mut self.bits {
            Bits::Small(w) => std::slice::from_mut(w),
            Bits::Large(ws) => ws,
        }
    }

    /// Adds `shard`; ignored when `shard >= capacity`.
    pub fn insert(&mut self, shard: u32) {
        if shard < self.cap {
            if let Some(w) = self.words_mut().get_mut((shard / 64) as usize) {
                *w |= 1 << (shard % 64);
            }
        }
    }

    /// Adds shards `lo..hi` (clipped to the capacity).
    pub fn insert_range(&mut self, lo: u32, hi: u32) {
        let hi = hi.min(self.cap);
        let mut i = lo;
        while i < hi {
            let word = (i / 64) as usize;
            let bit = i % 64;
            let n = (64 - bit).min(hi - i);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << bit
            };
            if let Some(w) = self.words_mut().get_mut(word) {
                *w |= mask;
            }
            i += n;
        }
    }

    pub fn contains(&self, shard: u32) -> bool {
        shard < self.cap
            && self
                .words()
                .get((shard / 64) as usize)
                .is_some_and(|w| w & (1 << (shard % 64)) != 0)
    }

    pub fn len(&self) -> usize {
        self.words().iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words().iter().all(|&w| w == 0)
    }

    /// Whether every shard `0..capacity` is in.
    pub fn is_all(&self) -> bool {
        self.len() == self.cap as usize
    }

    /// The lowest shard.
    pub fn first(&self) -> Option<u32> {
        self.iter().next()
    }

    /// The shard when there is exactly one.
    pub fn only(&self) -> Option<u32> {
        let mut it = self.iter();
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// The shards in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words().iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some(i as u32 * 64 + b)
            })
        })
    }

    pub fn to_vec(&self) -> Vec<u32> {
        self.iter().collect()
    }

    /// AND of two predicates: the shards in both.
    pub fn and(&self, other: &ShardSet) -> ShardSet {
        let mut out = self.clone();
        out.intersect_with(other);
        out
    }

    /// OR of two predicates: the shards in either.
    pub fn or(&self, other: &ShardSet) -> ShardSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    pub fn intersect_with(&mut self, other: &ShardSet) {
        let theirs = other.words();
        for (i, w) in self.words_mut().iter_mut().enumerate() {
            *w &= theirs.get(i).copied().unwrap_or(0);
        }
    }

    /// Shards of `other` beyond this set's capacity are dropped.
    pub fn union_with(&mut self, other: &ShardSet) {
        let theirs = other.words();
        let cap = self.cap;
        for (i, w) in self.words_mut().iter_mut().enumerate() {
            *w |= theirs.get(i).copied().unwrap_or(0);
            let end = (i as u32 + 1) * 64;
            if end > cap {
                let keep = 64 - (end - cap);
                *w &= if keep == 0 {
                    0
                } else {
                    u64::MAX >> (64 - keep)
                };
            }
        }
    }
}

impl fmt::Debug for ShardSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

// ---------------------------------------------------------------------------
// Predicates

/// What a WHERE clause says about the shard key (the planner combines
/// several with [`ShardSet::and`] / [`ShardSet::or`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPredicate {
    /// `k = v` (also `k <=> v`).
    Eq(KeyValue),
    /// `k IN (v, ...)`.
    In(Vec<KeyValue>),
    /// `k > lo`, `k <= hi`, `k BETWEEN lo AND hi`, ...
    Range {
        lo: Bound<KeyValue>,
        hi: Bound<KeyValue>,
    },
    /// Nothing usable about the key.
    Any,
}

impl KeyPredicate {
    /// `k BETWEEN lo AND hi`.
    pub fn between(lo: KeyValue, hi: KeyValue) -> KeyPredicate {
        KeyPredicate::Range {
            lo: Bound::Included(lo),
            hi: Bound::Included(hi),
        }
    }
}

/// What the rules need besides the rule itself.
#[derive(Clone, Copy, Default)]
pub struct RuleEnv<'a> {
    /// The current bucket map of a `bucket` rule.
    pub bucket_map: Option<&'a BucketMap>,
    /// The directory (with its cache) of a `lookup` rule.
    pub lookup: Option<&'a LookupRouter>,
    /// The key column's type as read from the table (`hash` and `bucket`
    /// rules); `None`: the rule's own assumption ([`key_type_of`]).
    pub key_type: Option<KeyType>,
    /// A string key column in another character set than the client's:
    /// (client's, column's). String literals are converted before they are
    /// hashed, so a key is placed by the bytes the column stores (what
    /// `CRC32(k)` reads in SQL) whatever the connection's character set.
    pub convert: Option<(Charset, Charset)>,
}

/// The conversion [`RuleEnv::convert`] needs for a client sending
/// `client` to a string key column stored in `column`: none when they are
/// the same or the column is binary (its bytes are stored as sent).
pub fn key_conversion(client: Charset, column: Charset) -> Option<(Charset, Charset)> {
    (client != column && column != Charset::Binary).then_some((client, column))
}

impl RuleEnv<'_> {
    /// `v` normalised for a `hash`/`bucket` key column
    /// ([`KeyValue::canon`]), a string converted to the column's character
    /// set. (`X'..'` and `_charset'..'` strings are converted like quoted
    /// ones, though the server takes their bytes as they are; hex numbers
    /// `0x..` are not converted.)
    fn canon<'v>(&self, v: &'v KeyValue) -> Canon<'v> {
        let c = v.canon(hashed_key_type(self));
        match (c, self.convert) {
            (Canon::Bytes(b), Some((from, to)))
                if matches!(v, KeyValue::Str(_)) && !b.is_ascii() =>
            {
                Canon::Bytes(Cow::Owned(transcode(&b, from, to).into_owned()))
            }
            (c, _) => c,
        }
    }
}

/// The key type each rule kind assumes: integers for `range`, unknown
/// otherwise (see `keyvalue.rs`).
pub fn key_type_of(rule: &Rule) -> KeyType {
    match rule.kind {
        RuleKind::Range(_) => KeyType::Integer,
        _ => KeyType::Auto,
    }
}

/// The key type a `hash` or `bucket` rule works with: the column's, when
/// known.
fn hashed_key_type(env: &RuleEnv<'_>) -> KeyType {
    env.key_type.unwrap_or(KeyType::Auto)
}

/// Every shard of the rule (DDL, scans).
pub fn all_shards(rule: &Rule) -> ShardSet {
    ShardSet::all(rule.shard_count())
}

/// The shards that can hold rows matching `pred`, for `range`, `hash` and
/// `bucket` rules. A `lookup` rule answers [`RouteError::DirectoryNeeded`]
/// for `=`/`IN` (use [`shards_for_predicate_in`] with a `LookupRouter`).
pub fn shards_for_predicate(
    rule: &Rule,
    bucket_map: Option<&BucketMap>,
    pred: &KeyPredicate,
) -> Result<ShardSet, RouteError> {
    shards_for_predicate_in(
        rule,
        &RuleEnv {
            bucket_map,
            ..RuleEnv::default()
        },
        pred,
    )
}

/// [`shards_for_predicate`] for every rule kind.
pub fn shards_for_predicate_in(
    rule: &Rule,
    env: &RuleEnv<'_>,
    pred: &KeyPredicate,
) -> Result<ShardSet, RouteError> {
    let n = rule.shard_count();
    match pred {
        KeyPredicate::Any => spread(rule, env),
        KeyPredicate::Eq(v) => eq_shards(rule, env, v),
        KeyPredicate::In(vs) => {
            let mut out = ShardSet::empty(n);
            for v in vs {
                out.union_with(&eq_shards(rule, env, v)?);
                if out.is_all() {
                    break;
                }
            }
            Ok(out)
        }
        KeyPredicate::Range { lo, hi } => range_pred_shards(rule, env, lo, hi),
    }
}

/// Every shard that can hold a row at all.
fn spread(rule: &Rule, env: &RuleEnv<'_>) -> Result<ShardSet, RouteError> {
    match &rule.kind {
        RuleKind::Bucket { .. } => {
            let map = bucket_map_for(rule, env.bucket_map)?;
            let mut out = ShardSet::empty(rule.shard_count());
            let mut start = 0u32;
            for (g, &t) in rule.tables_per_group.iter().enumerate() {
                if map.buckets_of_group(g) > 0 {
                    out.insert_range(start, start + t);
                }
                start += t;
            }
            Ok(out)
        }
        _ => Ok(all_shards(rule)),
    }
}

fn eq_shards(rule: &Rule, env: &RuleEnv<'_>, v: &KeyValue) -> Result<ShardSet, RouteError> {
    let n = rule.shard_count();
    let one = |s: u32| Ok(ShardSet::single(n, s));
    match &rule.kind {
        RuleKind::Range(spec) => match v.canon(KeyType::Integer) {
            Canon::Int(k) => match range_index(spec, n, k) {
                Some(s) => one(s),
                None => Ok(ShardSet::empty(n)),
            },
            // An integer column never equals a fraction or a number beyond
            // 64 bits; NULL equals nothing.
            Canon::Null | Canon::Frac { .. } | Canon::Big(_) => Ok(ShardSet::empty(n)),
            _ => Err(not_integer(rule, v)),
        },
        // A number compared with a string column compares numerically:
        // '42', ' 42' and '42abc' all equal 42, wherever their bytes are.
        RuleKind::Hash | RuleKind::Bucket { .. }
            if hashed_key_type(env).is_text() && v.is_numeric_literal() =>
        {
            spread(rule, env)
        }
        RuleKind::Hash => match env.canon(v) {
            Canon::Null => Ok(ShardSet::empty(n)),
            Canon::Int(k) => one(hash_int(k, n)),
            Canon::Bytes(b) => one(hash_bytes(&b, n)),
            // A fraction, a huge or hex number compared with a column of
            // unknown type: rows anywhere may match.
            _ => Ok(all_shards(rule)),
        },
        RuleKind::Bucket { buckets } => {
            let map = bucket_map_for(rule, env.bucket_map)?;
            match env.canon(v) {
                Canon::Null => Ok(ShardSet::empty(n)),
                Canon::Int(k) => one(shard_of_bucket(rule, map, crc32_int(k) % buckets)?),
                Canon::Bytes(b) => one(shard_of_bucket(rule, map, crc32(&b) % buckets)?),
                _ => spread(rule, env),
            }
        }
        RuleKind::Lookup(_) => {
            if v.is_null() {
                return Ok(ShardSet::empty(n));
            }
            let Some(router) = env.lookup else {
                return Err(RouteError::DirectoryNeeded {
                    rule: rule.name.clone(),
                });
            };
            Ok(match router.shard_of(v)? {
                Some(s) => ShardSet::single(n, s),
                None => ShardSet::empty(n),
            })
        }
    }
}

/// Lowest key a lower bound admits, highest an upper bound admits (as
/// inclusive integers); `None`: the bound is NULL, nothing matches.
fn int_bound(rule: &Rule, b: &Bound<KeyValue>, lower: bool) -> Result<Option<i128>, RouteError> {
    let (v, incl) = match b {
        Bound::Unbounded => return Ok(Some(if lower { i128::MIN } else { i128::MAX })),
        Bound::Included(v) => (v, true),
        Bound::Excluded(v) => (v, false),
    };
    Ok(Some(match v.canon(KeyType::Integer) {
        Canon::Null => return Ok(None),
        Canon::Int(k) => match (lower, incl) {
            (true, true) | (false, true) => k,
            (true, false) => k + 1,
            (false, false) => k - 1,
        },
        Canon::Frac { floor } => {
            if lower {
                floor + 1
            } else {
                floor
            }
        }
        Canon::Big(neg) => {
            if neg {
                i128::MIN
            } else {
                i128::MAX
            }
        }
        _ => return Err(not_integer(rule, v)),
    }))
}

fn range_pred_shards(
    rule: &Rule,
    env: &RuleEnv<'_>,
    lo: &Bound<KeyValue>,
    hi: &Bound<KeyValue>,
) -> Result<ShardSet, RouteError> {
    let n = rule.shard_count();
    let is_null = |b: &Bound<KeyValue>| match b {
        Bound::Included(v) | Bound::Excluded(v) => v.is_null(),
        Bound::Unbounded => false,
    };
    if is_null(lo) || is_null(hi) {
        return Ok(ShardSet::empty(n));
    }
    match &rule.kind {
        RuleKind::Range(spec) => {
            let (Some(l), Some(h)) = (int_bound(rule, lo, true)?, int_bound(rule, hi, false)?)
            else {
                return Ok(ShardSet::empty(n));
            };
            let mut out = ShardSet::empty(n);
            if let Some((a, b)) = range_span(spec, n, l, h) {
                out.insert_range(a, b + 1);
            }
            Ok(out)
        }
        RuleKind::Hash | RuleKind::Bucket { .. } => {
            // Only between two number literals: a string bound compares as
            // a string on a string column, where no hash order exists (and
            // a number bound compares numerically with a string column).
            let numeric = |b: &Bound<KeyValue>| match b {
                Bound::Included(v) | Bound::Excluded(v) => v.is_numeric_literal(),
                Bound::Unbounded => false,
            };
            // (Integers hash as integers only on integer or unknown columns;
            // a string or date column hashes the text it stores.)
            let integers = matches!(hashed_key_type(env), KeyType::Integer | KeyType::Auto);
            if !(numeric(lo) && numeric(hi) && integers) {
                return spread(rule, env);
            }
            let (Some(l), Some(h)) = (int_bound(rule, lo, true)?, int_bound(rule, hi, false)?)
            else {
                return Ok(ShardSet::empty(n));
            };
            if l > h {
                return Ok(ShardSet::empty(n));
            }
            if l < i128::from(i64::MIN) || h > i128::from(u64::MAX) || h - l >= n as i128 {
                return spread(rule, env);
            }
            let mut out = ShardSet::empty(n);
            for k in l..=h {
                let s = match &rule.kind {
                    RuleKind::Bucket { buckets } => {
                        let map = bucket_map_for(rule, env.bucket_map)?;
                        shard_of_bucket(rule, map, crc32_int(k) % buckets)?
                    }
                    _ => hash_int(k, n),
                };
                out.insert(s);
            }
            Ok(out)
        }
        RuleKind::Lookup(_) => Ok(all_shards(rule)),
    }
}

// ---------------------------------------------------------------------------
// Key → shard (INSERT)

/// The shard of one key for an INSERT (or any statement that must name one
/// shard): errors for NULL, out-of-range and unplaceable keys. `lookup`
/// rules ask the directory and may place a new key (`placement`).
pub fn shard_for_key(rule: &Rule, env: &RuleEnv<'_>, key: &KeyValue) -> Result<u32, RouteError> {
    match &rule.kind {
        RuleKind::Range(spec) => range_shard(rule, spec, key),
        RuleKind::Hash => hash_canon(rule, rule.shard_count(), key, env.canon(key)),
        RuleKind::Bucket { .. } => bucket_canon(
            rule,
            bucket_map_for(rule, env.bucket_map)?,
            key,
            env.canon(key),
        ),
        RuleKind::Lookup(_) => match env.lookup {
            Some(router) => router.shard_for_insert(key),
            None => Err(RouteError::DirectoryNeeded {
                rule: rule.name.clone(),
            }),
        },
    }
}

/// `range`: the shard whose range holds `key`.
pub fn range_shard(rule: &Rule, spec: &RangeSpec, key: &KeyValue) -> Result<u32, RouteError> {
    let n = rule.shard_count();
    match key.canon(KeyType::Integer) {
        Canon::Null => Err(null_key(rule)),
        Canon::Int(k) => range_index(spec, n, k).ok_or_else(|| RouteError::KeyOutOfRange {
            key: key.to_string(),
            rule: rule.name.clone(),
            table: None,
            ranges: ranges_text(spec, n),
        }),
        Canon::Big(_) => Err(RouteError::KeyOutOfRange {
            key: key.to_string(),
            rule: rule.name.clone(),
            table: None,
            ranges: ranges_text(spec, n),
        }),
        Canon::Frac { .. } => Err(fraction(rule, key)),
        _ => Err(not_integer(rule, key)),
    }
}

/// `hash`: `k.rem_euclid(n)` for integers, `CRC32(bytes) % n` otherwise
/// (key column type unknown).
pub fn hash_shard(rule: &Rule, key: &KeyValue) -> Result<u32, RouteError> {
    hash_key(rule, rule.shard_count(), key, KeyType::Auto)
}

/// The `hash` placement of `key` over `n` shards for a key column of type
/// `ty` (also the lookup rule's `placement = "hash"`).
pub(super) fn hash_key(
    rule: &Rule,
    n: usize,
    key: &KeyValue,
    ty: KeyType,
) -> Result<u32, RouteError> {
    hash_canon(rule, n, key, key.canon(ty))
}

/// [`hash_key`] of a key already normalised (`canon`).
fn hash_canon(rule: &Rule, n: usize, key: &KeyValue, canon: Canon<'_>) -> Result<u32, RouteError> {
    match canon {
        Canon::Null => Err(null_key(rule)),
        Canon::Int(k) => Ok(hash_int(k, n)),
        Canon::Bytes(b) => Ok(hash_bytes(&b, n)),
        Canon::Frac { .. } => Err(fraction(rule, key)),
        Canon::Big(_) => Err(RouteError::BadKey {
            key: key.to_string(),
            rule: rule.name.clone(),
            table: None,
            why: "it is a number beyond the 64-bit integer range",
            fix: "use a key that fits BIGINT, or write it as a quoted string",
        }),
        Canon::Ambiguous => Err(ambiguous(rule, key)),
        Canon::NotNumber => Err(not_integer(rule, key)),
        Canon::NotTemporal => Err(not_temporal(rule, key)),
    }
}

/// `bucket`: CRC32 → bucket → group (through `map`) → table `bucket % t`
/// (key column type unknown).
pub fn bucket_shard(rule: &Rule, map: &BucketMap, key: &KeyValue) -> Result<u32, RouteError> {
    bucket_shard_as(rule, map, key, KeyType::Auto)
}

/// [`bucket_shard`] for a key column of type `ty`.
fn bucket_shard_as(
    rule: &Rule,
    map: &BucketMap,
    key: &KeyValue,
    ty: KeyType,
) -> Result<u32, RouteError> {
    bucket_canon(rule, map, key, key.canon(ty))
}

/// [`bucket_shard_as`] of a key already normalised (`canon`).
fn bucket_canon(
    rule: &Rule,
    map: &BucketMap,
    key: &KeyValue,
    canon: Canon<'_>,
) -> Result<u32, RouteError> {
    let RuleKind::Bucket { buckets } = rule.kind else {
        return Err(RouteError::NoBucketMap {
            rule: rule.name.clone(),
            detail: "it is not a bucket rule".into(),
        });
    };
    let bucket = match canon {
        Canon::Null => return Err(null_key(rule)),
        Canon::Int(k) => crc32_int(k) % buckets,
        Canon::Bytes(b) => crc32(&b) % buckets,
        Canon::Frac { .. } => return Err(fraction(rule, key)),
        Canon::Ambiguous => return Err(ambiguous(rule, key)),
        Canon::NotTemporal => return Err(not_temporal(rule, key)),
        Canon::Big(_) | Canon::NotNumber => return Err(not_integer(rule, key)),
    };
    shard_of_bucket(rule, map, bucket)
}

/// The bucket of a key (what `CRC32(k) % buckets` gives in SQL); `None`
/// for keys that have none (NULL, fractions, ambiguous hex).
pub fn bucket_of(buckets: u32, key: &KeyValue) -> Option<u32> {
    match key.canon(KeyType::Auto) {
        Canon::Int(k) => Some(crc32_int(k) % buckets.max(1)),
        Canon::Bytes(b) => Some(crc32(&b) % buckets.max(1)),
        _ => None,
    }
}

/// The shard that holds `bucket`: the first shard of the bucket's group
/// plus `bucket % tables_on_that_group`.
pub fn shard_of_bucket(rule: &Rule, map: &BucketMap, bucket: u32) -> Result<u32, RouteError> {
    let bad = |detail: String| RouteError::NoBucketMap {
        rule: rule.name.clone(),
        detail,
    };
    let g = map
        .group_of(bucket)
        .ok_or_else(|| bad(format!("bucket {bucket} is beyond the map's {}", map.len())))?;
    let Some(&t) = rule.tables_per_group.get(g) else {
        return Err(bad(format!(
            "bucket {bucket} is on group #{g}, but the rule has {} groups",
            rule.groups.len()
        )));
    };
    let start: u32 = rule.tables_per_group.iter().take(g).sum();
    Ok(start + bucket % t.max(1))
}

fn bucket_map_for<'m>(
    rule: &Rule,
    map: Option<&'m BucketMap>,
) -> Result<&'m BucketMap, RouteError> {
    let RuleKind::Bucket { buckets } = rule.kind else {
        return Err(RouteError::NoBucketMap {
            rule: rule.name.clone(),
            detail: "it is not a bucket rule".into(),
        });
    };
    let map = map.ok_or_else(|| RouteError::NoBucketMap {
        rule: rule.name.clone(),
        detail: "none loaded".into(),
    })?;
    if map.len() != buckets as usize {
        return Err(RouteError::NoBucketMap {
            rule: rule.name.clone(),
            detail: format!("the map has {} buckets, the rule {buckets}", map.len()),
        });
    }
    Ok(map)
}

#[inline]
fn hash_int(k: i128, n: usize) -> u32 {
    k.rem_euclid(n.max(1) as i128) as u32
}

#[inline]
fn hash_bytes(b: &[u8], n: usize) -> u32 {
    crc32(b) % n.max(1) as u32
}

/// The shard of integer key `k`, if any range holds it.
fn range_index(spec: &RangeSpec, n: usize, k: i128) -> Option<u32> {
    match spec {
        RangeSpec::RowsPerTable(r) => {
            if k < 0 {
                return None;
            }
            let i = k / i128::from((*r).max(1));
            (i < n as i128).then_some(i as u32)
        }
        RangeSpec::Boundaries(b) => {
            let i = b.partition_point(|&x| i128::from(x) <= k);
            (i < b.len()).then_some(i as u32)
        }
    }
}

/// The shards (inclusive) whose ranges meet keys `lo..=hi`.
fn range_span(spec: &RangeSpec, n: usize, lo: i128, hi: i128) -> Option<(u32, u32)> {
    if lo > hi || n == 0 {
        return None;
    }
    match spec {
        RangeSpec::RowsPerTable(r) => {
            let r = i128::from((*r).max(1));
            let lo = lo.max(0);
            let hi = hi.min(r * n as i128 - 1);
            (lo <= hi).then(|| ((lo / r) as u32, (hi / r) as u32))
        }
        RangeSpec::Boundaries(b) => {
            let a = b.partition_point(|&x| i128::from(x) <= lo);
            if a >= b.len() {
                return None;
            }
            let z = b.partition_point(|&x| i128::from(x) <= hi).min(b.len() - 1);
            Some((a as u32, z as u32))
        }
    }
}

fn ranges_text(spec: &RangeSpec, n: usize) -> String {
    match spec {
        RangeSpec::RowsPerTable(r) => format!("0..{}", i128::from(*r) * n as i128),
        RangeSpec::Boundaries(b) => match b.last() {
            Some(last) => format!("..{last}"),
            None => "no ranges".into(),
        },
    }
}

fn null_key(rule: &Rule) -> RouteError {
    RouteError::NullKey {
        rule: rule.name.clone(),
        table: None,
    }
}

fn not_integer(rule: &Rule, key: &KeyValue) -> RouteError {
    RouteError::BadKey {
        key: key.to_string(),
        rule: rule.name.clone(),
        table: None,
        why: "it is not a number, and the rule places integer keys",
        fix: "write the key as an integer",
    }
}

fn fraction(rule: &Rule, key: &KeyValue) -> RouteError {
    RouteError::BadKey {
        key: key.to_string(),
        rule: rule.name.clone(),
        table: None,
        why: "it has a fractional part",
        fix: "shard keys are integers or strings; write an integer, or quote a string key",
    }
}

fn ambiguous(rule: &Rule, key: &KeyValue) -> RouteError {
    RouteError::BadKey {
        key: key.to_string(),
        rule: rule.name.clone(),
        table: None,
        why: "a hex number is an integer or a string depending on the column",
        fix: "write the key as a decimal integer or a quoted string",
    }
}

fn not_temporal(rule: &Rule, key: &KeyValue) -> RouteError {
    RouteError::BadKey {
        key: key.to_string(),
        rule: rule.name.clone(),
        table: None,
        why: "the key column is a DATE/DATETIME and shardgate cannot tell which date this \
              spelling stores",
        fix: "write it as 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS[.ffffff]' (or YYYYMMDD[HHMMSS])",
    }
}

// ---------------------------------------------------------------------------
// Bucket map

/// A `bucket` rule's bucket → group table (group = index into the rule's
/// `groups`), with a version that changes whenever a bucket moves. The
/// metadata file keeps it ([`BucketMap::to_bytes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketMap {
    version: u64,
    map: Vec<u16>,
    /// Buckets per group index.
    counts: Vec<u32>,
}

/// `to_bytes` layout: magic, format, version (LE u64), bucket count (LE
/// u32), one LE u16 group index per bucket. No checksum: the metadata
/// layer adds its own.
const MAP_MAGIC: &[u8; 4] = b"SGBM";
const MAP_FORMAT: u8 = 1;
/// `buckets` is at most this in the config.
pub const MAX_BUCKETS: u32 = 1 << 20;

impl BucketMap {
    /// Contiguous ranges of buckets over `groups` groups, in order, as even
    /// as integers allow: bucket `b` is on group `b * groups / buckets`
    /// (1024 over 3: 0..342, 342..683, 683..1024). Version 1.
    pub fn initial(buckets: u32, groups: usize) -> BucketMap {
        let g = groups.clamp(1, usize::from(u16::MAX) + 1) as u64;
        let b = u64::from(buckets.max(1));
        let map = (0..b).map(|i| (i * g / b) as u16).collect();
        BucketMap::from_parts(1, map)
    }

    /// The initial map of a `bucket` rule; `None` for other kinds.
    pub fn for_rule(rule: &Rule) -> Option<BucketMap> {
        match rule.kind {
            RuleKind::Bucket { buckets } => Some(BucketMap::initial(buckets, rule.groups.len())),
            _ => None,
        }
    }

    /// A map from its parts (bucket `i` on group `map[i]`).
    pub fn from_parts(version: u64, map: Vec<u16>) -> BucketMap {
        let mut counts = Vec::new();
        for &g in &map {
            let g = usize::from(g);
            if counts.len() <= g {
                counts.resize(g + 1, 0);
            }
            counts[g] += 1;
        }
        BucketMap {
            version,
            map,
            counts,
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The group index that holds `bucket`.
    pub fn group_of(&self, bucket: u32) -> Option<usize> {
        self.map.get(bucket as usize).map(|&g| usize::from(g))
    }

    /// How many buckets group `group` holds.
    pub fn buckets_of_group(&self, group: usize) -> u32 {
        self.counts.get(group).copied().unwrap_or(0)
    }

    /// bucket → group index, for every bucket.
    pub fn as_slice(&self) -> &[u16] {
        &self.map
    }

    /// Moves `bucket` to `group` and bumps the version; `false` (nothing
    /// changed) when the bucket does not exist or is already there.
    pub fn move_bucket(&mut self, bucket: u32, group: u16) -> bool {
        let Some(slot) = self.map.get_mut(bucket as usize) else {
            return false;
        };
        if *slot == group {
            return false;
        }
        let old = usize::from(std::mem::replace(slot, group));
        if let Some(c) = self.counts.get_mut(old) {
            *c -= 1;
        }
        let g = usize::from(group);
        if self.counts.len() <= g {
            self.counts.resize(g + 1, 0);
        }
        self.counts[g] += 1;
        self.version += 1;
        true
    }

    /// Whether the map fits `rule`: a bucket rule with the same bucket
    /// count, and no bucket on a group the rule does not have.
    pub fn check(&self, rule: &Rule) -> Result<(), RouteError> {
        bucket_map_for(rule, Some(self))?;
        if self.counts.len() > rule.groups.len() {
            return Err(RouteError::NoBucketMap {
                rule: rule.name.clone(),
                detail: format!(
                    "buckets are on group #{}, but the rule has {} groups",
                    self.counts.len() - 1,
                    rule.groups.len()
                ),
            });
        }
        Ok(())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + 2 * self.map.len());
        out.extend_from_slice(MAP_MAGIC);
        out.push(MAP_FORMAT);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.map.len() as u32).to_le_bytes());
        for &g in &self.map {
            out.extend_from_slice(&g.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<BucketMap, RouteError> {
        let bad = |s: &str| RouteError::BadBucketMap(s.to_string());
        let (head, rest) = b
            .split_first_chunk::<17>()
            .ok_or_else(|| bad("shorter than its header"))?;
        if &head[..4] != MAP_MAGIC {
            return Err(bad("wrong magic"));
        }
        if head[4] != MAP_FORMAT {
            return Err(RouteError::BadBucketMap(format!(
                "unknown format {}",
                head[4]
            )));
        }
        let mut v = [0u8; 8];
        v.copy_from_slice(&head[5..13]);
        let version = u64::from_le_bytes(v);
        let mut c = [0u8; 4];
        c.copy_from_slice(&head[13..17]);
        let count = u32::from_le_bytes(c);
        if count == 0 || count > MAX_BUCKETS {
            return Err(RouteError::BadBucketMap(format!(
                "bucket count {count} is not within 1..={MAX_BUCKETS}"
            )));
        }
        if rest.len() != 2 * count as usize {
            return Err(RouteError::BadBucketMap(format!(
                "{} bytes of entries for {count} buckets",
                rest.len()
            )));
        }
        let map = rest
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        Ok(BucketMap::from_parts(version, map))
    }
}

#[cfg(test)]
mod tests;
