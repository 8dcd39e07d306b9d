//! The byte encoding of a [`MetaState`]: the payload of one slot of the
//! metadata file. Hand-written, little-endian, length-prefixed, versioned.
//! Decoding treats its input like network bytes: any input gives a state or
//! an error, never a panic, and never allocates more than the input could
//! describe.
//!
//! ```text
//! u16 version (PAYLOAD_VERSION)
//! u32 n, n × { str addr, u8 state (1 up, 2 down), str reason, u64 since_unix_ms }
//! u32 n, n × { str key, u64 version,
//!              u32 names, names × str,            distinct group names
//!              u32 buckets, buckets × u16 index } index into the names
//! u32 n, n × { str key, u64 high_water }
//! u32 n, n × { str xid, u8 decision (1 prepared, 2 commit, 3 abort),
//!              u64 at_unix_ms, u32 groups, groups × str }
//! str = u32 length + UTF-8 bytes
//! ```
//!
//! Map keys are written in order and must be strictly increasing when read
//! (so decoding then encoding gives the same bytes); nothing may follow the
//! last section.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::{BucketMap, InDoubtTxn, MetaState, NodeOverride, OperatorNode, TxnDecision};

/// The version of this encoding, the first two bytes of every payload.
pub const PAYLOAD_VERSION: u16 = 1;

/// Distinct group names one bucket map may use (the index is a `u16`).
pub const MAX_DISTINCT_GROUPS: usize = u16::MAX as usize;

/// A state this encoding cannot represent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why bytes are not an encoded state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload was written by another version of this encoding.
    Version { found: u16 },
    /// The bytes end inside a field starting at `at` that needs `need` bytes.
    Truncated { at: usize, need: usize },
    /// A field at `at` has an impossible value.
    Invalid { at: usize, what: String },
    /// `extra` bytes follow the last section.
    Trailing { at: usize, extra: usize },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Version { found } => write!(
                f,
                "state encoding version {found}, this shardgate reads {PAYLOAD_VERSION}"
            ),
            DecodeError::Truncated { at, need } => {
                write!(f, "truncated at byte {at} (a field needs {need} bytes)")
            }
            DecodeError::Invalid { at, what } => write!(f, "at byte {at}: {what}"),
            DecodeError::Trailing { at, extra } => {
                write!(f, "{extra} unexpected bytes after the state at byte {at}")
            }
        }
    }
}

/// Encodes `state`.
pub fn encode(state: &MetaState) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer(Vec::with_capacity(256));
    w.u16(PAYLOAD_VERSION);

    w.count(state.node_states.len(), "operator node states")?;
    for (addr, node) in &state.node_states {
        w.str(addr)?;
        w.u8(match node.state {
            NodeOverride::Up => 1,
            NodeOverride::Down => 2,
        });
        w.str(&node.reason)?;
        w.u64(node.since_unix_ms);
    }

    w.count(state.bucket_maps.len(), "bucket maps")?;
    for (key, map) in &state.bucket_maps {
        w.str(key)?;
        w.u64(map.version);
        let mut names: Vec<&str> = Vec::new();
        let mut index: HashMap<&str, u16> = HashMap::new();
        let mut indices = Vec::with_capacity(map.groups.len());
        for g in &map.groups {
            let i = match index.get(g.as_str()) {
                Some(&i) => i,
                None => {
                    let i = u16::try_from(names.len())
                        .ok()
                        .filter(|_| names.len() < MAX_DISTINCT_GROUPS)
                        .ok_or_else(|| {
                            EncodeError(format!(
                                "bucket map {key:?} uses more than {MAX_DISTINCT_GROUPS} \
                                 distinct group names"
                            ))
                        })?;
                    names.push(g);
                    index.insert(g, i);
                    i
                }
            };
            indices.push(i);
        }
        w.count(names.len(), "group names")?;
        for n in names {
            w.str(n)?;
        }
        w.count(indices.len(), "buckets")?;
        for i in indices {
            w.u16(i);
        }
    }

    w.count(state.id_high_water.len(), "ID high-water marks")?;
    for (key, v) in &state.id_high_water {
        w.str(key)?;
        w.u64(*v);
    }

    w.count(state.in_doubt.len(), "in-doubt transactions")?;
    for t in &state.in_doubt {
        w.str(&t.xid)?;
        w.u8(match t.decision {
            TxnDecision::Prepared => 1,
            TxnDecision::Commit => 2,
            TxnDecision::Abort => 3,
        });
        w.u64(t.at_unix_ms);
        w.count(t.groups.len(), "transaction groups")?;
        for g in &t.groups {
            w.str(g)?;
        }
    }
    Ok(w.0)
}

/// Decodes a payload written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<MetaState, DecodeError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.u16()?;
    if version != PAYLOAD_VERSION {
        return Err(DecodeError::Version { found: version });
    }
    let mut state = MetaState::default();

    // Smallest encoded entry of each section, to refuse counts the
    // remaining bytes cannot hold before looping over them.
    let n = r.count(4 + 1 + 4 + 8)?;
    for _ in 0..n {
        let at = r.pos;
        let addr = r.str()?;
        let state_at = r.pos;
        let s = match r.u8()? {
            1 => NodeOverride::Up,
            2 => NodeOverride::Down,
            other => return Err(r.invalid(state_at, format!("node state {other}"))),
        };
        let reason = r.str()?;
        let since_unix_ms = r.u64()?;
        insert_ordered(
            &mut state.node_states,
            addr,
            OperatorNode {
                state: s,
                reason,
                since_unix_ms,
            },
            at,
        )?;
    }

    let n = r.count(4 + 8 + 4 + 4)?;
    for _ in 0..n {
        let at = r.pos;
        let key = r.str()?;
        let version = r.u64()?;
        let names_n = r.count(4)?;
        if names_n > MAX_DISTINCT_GROUPS {
            return Err(r.invalid(at, format!("{names_n} distinct group names")));
        }
        let mut names = Vec::new();
        for _ in 0..names_n {
            names.push(r.str()?);
        }
        let buckets = r.count(2)?;
        let mut groups = Vec::with_capacity(buckets);
        for _ in 0..buckets {
            let idx_at = r.pos;
            let i = usize::from(r.u16()?);
            let name = names.get(i).ok_or_else(|| {
                r.invalid(idx_at, format!("group index {i} of {} names", names.len()))
            })?;
            groups.push(name.clone());
        }
        insert_ordered(
            &mut state.bucket_maps,
            key,
            BucketMap { version, groups },
            at,
        )?;
    }

    let n = r.count(4 + 8)?;
    for _ in 0..n {
        let at = r.pos;
        let key = r.str()?;
        let v = r.u64()?;
        insert_ordered(&mut state.id_high_water, key, v, at)?;
    }

    let n = r.count(4 + 1 + 8 + 4)?;
    for _ in 0..n {
        let xid = r.str()?;
        let at = r.pos;
        let decision = match r.u8()? {
            1 => TxnDecision::Prepared,
            2 => TxnDecision::Commit,
            3 => TxnDecision::Abort,
            other => return Err(r.invalid(at, format!("transaction decision {other}"))),
        };
        let at_unix_ms = r.u64()?;
        let groups_n = r.count(4)?;
        let mut groups = Vec::new();
        for _ in 0..groups_n {
            groups.push(r.str()?);
        }
        state.in_doubt.push(InDoubtTxn {
            xid,
            groups,
            decision,
            at_unix_ms,
        });
    }

    if r.pos != bytes.len() {
        return Err(DecodeError::Trailing {
            at: r.pos,
            extra: bytes.len() - r.pos,
        });
    }
    Ok(state)
}

/// Inserts into a map whose keys must arrive strictly increasing.
fn insert_ordered<V>(
    map: &mut BTreeMap<String, V>,
    key: String,
    value: V,
    at: usize,
) -> Result<(), DecodeError> {
    if let Some((last, _)) = map.last_key_value() {
        if *last >= key {
            return Err(DecodeError::Invalid {
                at,
                what: format!("key {key:?} out of order (after {last:?})"),
            });
        }
    }
    map.insert(key, value);
    Ok(())
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn count(&mut self, n: usize, what: &str) -> Result<(), EncodeError> {
        let n = u32::try_from(n)
            .map_err(|_| EncodeError(format!("{n} {what} (at most {})", u32::MAX)))?;
        self.u32(n);
        Ok(())
    }
    fn str(&mut self, s: &str) -> Result<(), EncodeError> {
        self.count(s.len(), "bytes in one string")?;
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let at = self.pos;
        let end = at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(DecodeError::Truncated { at, need: n })?;
        self.pos = end;
        Ok(&self.buf[at..end])
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// A `u32` count of entries of at least `min_size` bytes each; refused
    /// when the remaining bytes cannot hold that many.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.u32()? as usize;
        let left = self.buf.len() - self.pos;
        if n.saturating_mul(min_size) > left {
            return Err(DecodeError::Truncated {
                at,
                need: n.saturating_mul(min_size),
            });
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let n = self.u32()? as usize;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid {
            at,
            what: "string is not UTF-8".to_string(),
        })
    }
    fn invalid(&self, at: usize, what: String) -> DecodeError {
        DecodeError::Invalid { at, what }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// xorshift64*: deterministic pseudo-random numbers for the tests.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Rng {
            Rng(seed | 1)
        }
        pub(crate) fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn text(&mut self) -> String {
            let len = self.below(12) as usize;
            (0..len)
                .map(|_| match self.below(20) {
                    0 => 'é',
                    1 => '.',
                    2 => ':',
                    _ => char::from(b'a' + self.below(26) as u8),
                })
                .collect()
        }
    }

    fn random_state(rng: &mut Rng) -> MetaState {
        let mut s = MetaState::default();
        for _ in 0..rng.below(6) {
            s.node_states.insert(
                format!("10.0.0.{}:{}", rng.below(255), 3300 + rng.below(50)),
                OperatorNode {
                    state: if rng.below(2) == 0 {
                        NodeOverride::Up
                    } else {
                        NodeOverride::Down
                    },
                    reason: rng.text(),
                    since_unix_ms: rng.next(),
                },
            );
        }
        for _ in 0..rng.below(4) {
            let distinct = 1 + rng.below(5);
            let buckets = rng.below(300) as usize;
            let groups = (0..buckets)
                .map(|_| format!("g{}", rng.below(distinct)))
                .collect();
            s.bucket_maps.insert(
                rng.text(),
                BucketMap {
                    version: rng.next(),
                    groups,
                },
            );
        }
        for _ in 0..rng.below(5) {
            s.id_high_water.insert(rng.text(), rng.next());
        }
        for _ in 0..rng.below(4) {
            s.in_doubt.push(InDoubtTxn {
                xid: rng.text(),
                groups: (0..rng.below(4)).map(|_| rng.text()).collect(),
                decision: match rng.below(3) {
                    0 => TxnDecision::Prepared,
                    1 => TxnDecision::Commit,
                    _ => TxnDecision::Abort,
                },
                at_unix_ms: rng.next(),
            });
        }
        s
    }

    pub(crate) fn sample_state() -> MetaState {
        let mut s = MetaState::default();
        s.node_states.insert(
            "127.0.0.1:3311".into(),
            OperatorNode {
                state: NodeOverride::Down,
                reason: "disk swap".into(),
                since_unix_ms: 1_700_000_000_000,
            },
        );
        s.node_states.insert(
            "127.0.0.1:3312".into(),
            OperatorNode {
                state: NodeOverride::Up,
                reason: String::new(),
                since_unix_ms: 1_700_000_000_001,
            },
        );
        s.bucket_maps.insert(
            "shop.by_user".into(),
            BucketMap {
                version: 7,
                groups: (0..64)
                    .map(|b| if b % 3 == 0 { "g2" } else { "g1" }.to_string())
                    .collect(),
            },
        );
        s.bucket_maps
            .insert("shop.empty".into(), BucketMap::default());
        s.id_high_water.insert("shop.orders.id".into(), 1_000_000);
        s.in_doubt.push(InDoubtTxn {
            xid: "sg-1-42".into(),
            groups: vec!["g1".into(), "g2".into()],
            decision: TxnDecision::Commit,
            at_unix_ms: 1_700_000_000_002,
        });
        s
    }

    #[test]
    fn empty_state_is_version_and_four_zero_counts() {
        let bytes = encode(&MetaState::default()).expect("encode");
        assert_eq!(
            bytes,
            [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(decode(&bytes), Ok(MetaState::default()));
    }

    #[test]
    fn sample_round_trips_and_buckets_cost_two_bytes() {
        let s = sample_state();
        let bytes = encode(&s).expect("encode");
        assert_eq!(decode(&bytes).as_ref(), Ok(&s));
        assert_eq!(encode(&decode(&bytes).expect("decode")), Ok(bytes.clone()));
        // 64 buckets over two names: the map costs its names once plus two
        // bytes per bucket.
        let mut big = s.clone();
        if let Some(m) = big.bucket_maps.get_mut("shop.by_user") {
            m.groups.extend(m.groups.clone());
        }
        let grown = encode(&big).expect("encode").len() - bytes.len();
        assert_eq!(grown, 64 * 2);
    }

    #[test]
    fn pseudo_random_states_round_trip() {
        let mut rng = Rng::new(0x5eed_0001);
        for i in 0..300 {
            let s = random_state(&mut rng);
            let bytes = encode(&s).expect("encode");
            assert_eq!(decode(&bytes).as_ref(), Ok(&s), "state {i}");
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let mut rng = Rng::new(0x5eed_0002);
        let mut states = vec![sample_state(), MetaState::default()];
        states.extend((0..20).map(|_| random_state(&mut rng)));
        for s in &states {
            let bytes = encode(s).expect("encode");
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes");
            }
        }
    }

    #[test]
    fn garbage_and_bit_flips_never_panic() {
        let mut rng = Rng::new(0x5eed_0003);
        let bytes = encode(&sample_state()).expect("encode");
        for _ in 0..3000 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            let _ = decode(&b);
        }
        for _ in 0..3000 {
            let len = rng.below(200) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if b.len() >= 2 {
                b[0] = 1;
                b[1] = 0;
            }
            let _ = decode(&b);
        }
    }

    #[test]
    fn huge_counts_are_refused_before_allocating() {
        // Version 1, then 0xffff_ffff operator node states in 4 bytes.
        let b = [1, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            decode(&b),
            Err(DecodeError::Truncated { at: 2, .. })
        ));
        // A string claiming 4 GiB.
        let b = [
            1, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(decode(&b).is_err());
    }

    #[test]
    fn other_versions_trailing_bytes_and_bad_values_are_refused() {
        let mut bytes = encode(&sample_state()).expect("encode");
        let mut v2 = bytes.clone();
        v2[0] = 2;
        assert_eq!(decode(&v2), Err(DecodeError::Version { found: 2 }));
        bytes.push(0);
        assert!(matches!(
            decode(&bytes),
            Err(DecodeError::Trailing { extra: 1, .. })
        ));

        // One node state with value 3.
        let mut s = MetaState::default();
        s.node_states.insert(
            "a".into(),
            OperatorNode {
                state: NodeOverride::Up,
                reason: String::new(),
                since_unix_ms: 0,
            },
        );
        let mut b = encode(&s).expect("encode");
        // version(2) count(4) str "a"(4+1) -> state byte at 11
        assert_eq!(b[11], 1);
        b[11] = 3;
        assert!(matches!(
            decode(&b),
            Err(DecodeError::Invalid { at: 11, .. })
        ));
        // Invalid UTF-8 in the address.
        let mut b = encode(&s).expect("encode");
        b[10] = 0xff;
        assert!(matches!(
            decode(&b),
            Err(DecodeError::Invalid { at: 6, .. })
        ));
    }

    #[test]
    fn keys_out_of_order_and_bad_bucket_indices_are_refused() {
        let mut s = MetaState::default();
        s.id_high_water.insert("a".into(), 1);
        s.id_high_water.insert("b".into(), 2);
        let mut b = encode(&s).expect("encode");
        // version, 2 empty sections, count, then "a" at 14..19 and "b" at 27..32.
        assert_eq!(&b[18..19], b"a");
        assert_eq!(&b[31..32], b"b");
        b[18] = b'b';
        assert!(matches!(decode(&b), Err(DecodeError::Invalid { .. })));

        let mut s = MetaState::default();
        s.bucket_maps.insert(
            "k".into(),
            BucketMap {
                version: 1,
                groups: vec!["g".into()],
            },
        );
        let mut b = encode(&s).expect("encode");
        let n = b.len();
        // ..., u32 1 bucket, u16 index 0, then the two empty sections.
        assert_eq!(&b[n - 10..n - 8], &[0, 0]);
        b[n - 10] = 1;
        assert!(matches!(decode(&b), Err(DecodeError::Invalid { .. })));
    }

    #[test]
    fn too_many_distinct_groups_is_an_encode_error() {
        let mut s = MetaState::default();
        s.bucket_maps.insert(
            "k".into(),
            BucketMap {
                version: 1,
                groups: (0..=MAX_DISTINCT_GROUPS).map(|i| format!("g{i}")).collect(),
            },
        );
        assert!(encode(&s).is_err());
        if let Some(m) = s.bucket_maps.get_mut("k") {
            m.groups.pop();
        }
        let bytes = encode(&s).expect("65535 distinct names fit");
        assert_eq!(decode(&bytes), Ok(s));
    }
}
