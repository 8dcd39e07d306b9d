//! Unit tests of `lookup`.

use super::*;
use crate::config::RangeSpec;
use std::collections::BTreeMap;

#[test]
fn lru_evicts_least_recently_used() {
    let c = LookupCache::new(3);
    c.insert(b"a", 1);
    c.insert(b"b", 2);
    c.insert(b"c", 3);
    assert_eq!(c.get(b"a"), Some(1)); // a is now the most recent
    c.insert(b"d", 4); // evicts b
    assert_eq!(c.peek(b"b"), None);
    assert_eq!(c.len(), 3);
    c.insert(b"e", 5); // evicts c
    assert_eq!(c.peek(b"c"), None);
    assert_eq!(c.peek(b"a"), Some(1));
    c.insert(b"a", 9); // update, most recent
    c.insert(b"f", 6); // evicts d
    assert_eq!(c.peek(b"d"), None);
    assert_eq!(c.peek(b"a"), Some(9));
    assert_eq!(c.peek(b"e"), Some(5));
    assert_eq!(c.peek(b"f"), Some(6));
    assert_eq!(c.len(), 3);
    assert_eq!((c.hits(), c.misses()), (1, 0));
    assert_eq!(c.get(b"zz"), None);
    assert_eq!(c.stats().misses, 1);
    c.remove(b"e");
    assert_eq!(c.len(), 2);
    assert_eq!(c.peek(b"e"), None);
    // After the removal LRU order is kept: a (older) goes before f.
    c.insert(b"g", 7);
    c.insert(b"h", 8);
    assert_eq!(c.peek(b"a"), None);
    assert_eq!(c.peek(b"f"), Some(6));
    c.invalidate_all();
    assert!(c.is_empty());
    assert_eq!(c.generation(), 1);
}

#[test]
fn lru_matches_a_model() {
    // A deterministic mix of gets and inserts against a simple model.
    let cap = 7;
    let c = LookupCache::new(cap);
    let mut model: Vec<(u8, u32)> = Vec::new(); // most recent last
    let mut x: u32 = 12345;
    for step in 0..5000u32 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let k = ((x >> 16) % 15) as u8;
        if x & 1 == 0 {
            let got = c.get(&[k]);
            let want = model.iter().position(|e| e.0 == k).map(|p| {
                let e = model.remove(p);
                model.push(e);
                e.1
            });
            assert_eq!(got, want, "step {step}");
        } else {
            c.insert(&[k], step);
            if let Some(p) = model.iter().position(|e| e.0 == k) {
                model.remove(p);
            } else if model.len() == cap {
                model.remove(0);
            }
            model.push((k, step));
        }
        assert_eq!(c.len(), model.len());
    }
}

#[test]
fn large_caches_are_split_and_bounded() {
    let c = LookupCache::new(5000);
    assert_eq!(c.parts.len(), PARTS);
    for i in 0..20_000u32 {
        c.insert(&i.to_le_bytes(), i);
    }
    assert!(c.len() <= 5000);
    assert!(c.len() > 4000);
    let zero = LookupCache::new(0);
    zero.insert(b"a", 1);
    assert_eq!(zero.get(b"a"), None);
    assert_eq!(zero.len(), 0);
}

#[test]
fn stale_answers_are_not_cached_after_invalidation() {
    let c = LookupCache::new(10);
    let g = c.generation();
    c.invalidate_all();
    c.insert_if_current(g, b"k", 1);
    assert_eq!(c.peek(b"k"), None);
    c.insert_if_current(c.generation(), b"k", 1);
    assert_eq!(c.peek(b"k"), Some(1));
}

/// An in-memory directory that counts its calls.
#[derive(Default)]
struct MemDir {
    rows: parking_lot::Mutex<BTreeMap<Vec<u8>, u32>>,
    lookups: AtomicU32,
    inserts: AtomicU32,
}

impl Directory for MemDir {
    fn lookup(&self, key: &KeyValue) -> Result<Option<u32>, RouteError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        Ok(self.rows.lock().get(&key.raw_key()).copied())
    }
    fn insert(&self, key: &KeyValue, shard: u32) -> Result<u32, RouteError> {
        self.inserts.fetch_add(1, Ordering::Relaxed);
        Ok(*self.rows.lock().entry(key.raw_key()).or_insert(shard))
    }
    fn name(&self) -> String {
        "blog.dir on group g0".into()
    }
}

fn lookup_rule(placement: Placement, cache_size: usize) -> Rule {
    Rule::new(
        "by_dir".into(),
        vec!["g0".into(), "g1".into()],
        vec![2, 2],
        RuleKind::Lookup(Lookup {
            group: "g0".into(),
            table: "dir".into(),
            key_column: "k".into(),
            shard_column: "shard".into(),
            cache_size,
            placement,
        }),
    )
}

#[test]
fn router_caches_directory_answers() {
    let dir = Arc::new(MemDir::default());
    dir.rows.lock().insert(KeyValue::Int(7).raw_key(), 3);
    let r = LookupRouter::new(&lookup_rule(Placement::None, 100), dir.clone()).unwrap();
    assert_eq!(r.shard_of(&KeyValue::Int(7)), Ok(Some(3)));
    assert_eq!(r.shard_of(&KeyValue::Int(7)), Ok(Some(3)));
    assert_eq!(dir.lookups.load(Ordering::Relaxed), 1);
    assert_eq!(r.cached(&KeyValue::Int(7)), Some(3));
    assert_eq!(r.shard_of(&KeyValue::Int(8)), Ok(None));
    assert_eq!(r.shard_of(&KeyValue::Int(8)), Ok(None));
    assert_eq!(
        dir.lookups.load(Ordering::Relaxed),
        3,
        "misses are not cached"
    );
    assert_eq!(r.shard_of(&KeyValue::Null), Ok(None));
    r.cache().invalidate_all();
    assert_eq!(r.shard_of(&KeyValue::Int(7)), Ok(Some(3)));
    assert_eq!(dir.lookups.load(Ordering::Relaxed), 4);
    // A bad row is an error, not a shard.
    dir.rows.lock().insert(KeyValue::Int(9).raw_key(), 4);
    let e = r.shard_of(&KeyValue::Int(9)).unwrap_err();
    assert!(matches!(e, RouteError::BadDirectoryEntry { .. }), "{e}");
    // Through the rules engine.
    let rule = lookup_rule(Placement::None, 100);
    let env = super::super::rules::RuleEnv {
        lookup: Some(&r),
        ..Default::default()
    };
    use super::super::rules::{shard_for_key, shards_for_predicate_in, KeyPredicate};
    let p = KeyPredicate::In(vec![KeyValue::Int(7), KeyValue::Int(8)]);
    assert_eq!(
        shards_for_predicate_in(&rule, &env, &p).unwrap().to_vec(),
        [3]
    );
    assert_eq!(shard_for_key(&rule, &env, &KeyValue::Int(7)), Ok(3));
}

#[test]
fn placement_none_refuses_new_keys() {
    let dir = Arc::new(MemDir::default());
    let r = LookupRouter::new(&lookup_rule(Placement::None, 10), dir.clone()).unwrap();
    let e = r
        .shard_for_insert(&KeyValue::from_string(b"bob"))
        .unwrap_err()
        .with_table("article");
    assert_eq!(
            e.to_string(),
            "shardgate: key 'bob' of table article has no row in directory blog.dir on group g0 (rule by_dir, placement = \"none\"); insert the key and its shard into the directory first, or set placement = \"hash\" or \"round_robin\" on the rule"
        );
    assert_eq!(e.code().code, 1526);
    assert_eq!(dir.inserts.load(Ordering::Relaxed), 0);
    assert_eq!(
        r.shard_for_insert(&KeyValue::Null).unwrap_err().code().code,
        1048
    );
}

#[test]
fn placement_hash_and_round_robin_fill_the_directory() {
    let dir = Arc::new(MemDir::default());
    let r = LookupRouter::new(&lookup_rule(Placement::Hash, 10), dir.clone()).unwrap();
    // hash: 13 mod 4 = 1; CRC32('abc') % 4.
    assert_eq!(r.shard_for_insert(&KeyValue::Int(13)), Ok(1));
    assert_eq!(
        r.shard_for_insert(&KeyValue::from_string(b"abc")),
        Ok(891_568_578 % 4)
    );
    assert_eq!(dir.inserts.load(Ordering::Relaxed), 2);
    assert_eq!(r.shard_for_insert(&KeyValue::Int(13)), Ok(1));
    assert_eq!(
        dir.inserts.load(Ordering::Relaxed),
        2,
        "known keys are not inserted"
    );

    let dir = Arc::new(MemDir::default());
    // A racing writer already recorded key 5 on shard 2.
    let r = LookupRouter::new(&lookup_rule(Placement::RoundRobin, 0), dir.clone()).unwrap();
    let got: Vec<u32> = (0..6)
        .map(|k| r.shard_for_insert(&KeyValue::Int(k)).unwrap())
        .collect();
    assert_eq!(got, [0, 1, 2, 3, 0, 1]);
    // The directory's winner is what counts.
    dir.rows.lock().insert(KeyValue::Int(100).raw_key(), 2);
    let r2 = LookupRouter::new(&lookup_rule(Placement::RoundRobin, 0), dir.clone()).unwrap();
    assert_eq!(r2.shard_for_insert(&KeyValue::Int(100)), Ok(2));
    assert!(LookupRouter::new(
        &Rule::new(
            "x".into(),
            vec!["g0".into()],
            vec![1],
            RuleKind::Range(RangeSpec::RowsPerTable(1))
        ),
        dir
    )
    .is_none());
}

#[test]
fn sql_literals_are_escaped() {
    let s = |t: &[u8], b| sql_literal(&KeyValue::from_string(t), b).unwrap();
    assert_eq!(s(b"abc", true), "'abc'");
    assert_eq!(s(b"it's", true), r"'it\'s'");
    assert_eq!(s(b"it's", false), "'it''s'");
    assert_eq!(s(br"a\b", true), r"'a\\b'");
    assert_eq!(s(br"a\b", false), r"'a\b'");
    assert_eq!(s(b"a\0b\n\r\x1a", true), r"'a\0b\n\r\Z'");
    assert_eq!(s("é".as_bytes(), true), "'é'");
    assert_eq!(s(b"\xff\x00", true), "X'FF00'");
    assert_eq!(sql_literal(&KeyValue::Int(-5), true).unwrap(), "-5");
    assert_eq!(
        sql_literal(&KeyValue::UInt(u64::MAX), true).unwrap(),
        "18446744073709551615"
    );
    assert_eq!(
        sql_literal(&KeyValue::from_number_literal(b"2.50").unwrap(), true).unwrap(),
        "2.5"
    );
    assert_eq!(
        sql_literal(&KeyValue::from_hex_literal(b"0x2a").unwrap(), true).unwrap(),
        "0x2A"
    );
    assert_eq!(sql_literal(&KeyValue::Null, true), None);
    assert_eq!(sql_literal(&KeyValue::Number("NaN".into()), true), None);
    assert_eq!(quote_ident("a`b"), "`a``b`");
}

#[test]
fn text_rows_of_a_reply() {
    use shardgate_proto::row::encode_text_row;
    let mut row = Vec::new();
    encode_text_row([Some(&b"3"[..])], &mut row);
    let mut null = Vec::new();
    encode_text_row([None], &mut null);
    let eof = vec![0xfe, 0, 0, 2, 0];
    let mut coldef = Vec::new();
    shardgate_proto::column::ColumnDefinition41::new(
        b"shard",
        shardgate_proto::column::ColumnType::VarString,
        33,
    )
    .encode(&mut coldef);
    let packets = vec![vec![1], coldef, eof.clone(), row, null, eof];
    let rows = text_rows(&packets, 1).unwrap();
    assert_eq!(rows, vec![vec![Some(b"3".to_vec())], vec![None]]);
    assert!(text_rows(&packets, 2).is_err());
    assert!(text_rows(&[], 1).is_err());
    assert_eq!(parse_shard(b"12"), Some(12));
    assert_eq!(parse_shard(b"-1"), None);
    assert_eq!(parse_shard(b"1.0"), None);
    assert_eq!(parse_shard(b""), None);
}
