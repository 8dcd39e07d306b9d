//! A multiply-rotate hasher for the proxy's hot in-memory maps whose keys
//! are short (SQL text of prepared statements, schema/table/rule names,
//! shard sets). SipHash, std's default, cost hundreds of instructions per
//! lookup on every routed statement. Its weakness to crafted collisions is
//! harmless where it is used: the maps are bounded (per-connection
//! statement caches) or filled only from the configuration.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// See the module documentation.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`FastHasher`]s.
pub type FastBuild = BuildHasherDefault<FastHasher>;

/// A `HashMap` hashed with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, FastBuild>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn the_hasher_tells_near_identical_statements_apart() {
        let b = FastBuild::default();
        let base = b"SELECT c FROM sbtest1_0001 WHERE id=?".to_vec();
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(b.hash_one(&base[..])));
        for i in 0..base.len() {
            let mut v = base.clone();
            v[i] ^= 1;
            assert!(seen.insert(b.hash_one(&v[..])), "byte {i}");
        }
        let mut longer = base.clone();
        longer.push(b' ');
        assert!(seen.insert(b.hash_one(&longer[..])));
    }

    #[test]
    fn spreads_similar_keys() {
        let b = FastBuild::default();
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            seen.insert(b.hash_one(format!("SELECT c FROM t WHERE id = {i}")) >> 52);
        }
        // 10,000 keys over the top 12 bits (4,096 buckets) fill most.
        assert!(seen.len() > 3_500, "{}", seen.len());
    }
}
