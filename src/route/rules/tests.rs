//! Unit tests of `rules`.

use super::*;
use crate::config::{Lookup, Placement};

fn rule(kind: RuleKind, tables: &[u32]) -> Rule {
    let groups = (0..tables.len()).map(|i| format!("g{i}")).collect();
    Rule::new("r".into(), groups, tables.to_vec(), kind)
}

fn rows(n: u64, tables: &[u32]) -> Rule {
    rule(RuleKind::Range(RangeSpec::RowsPerTable(n)), tables)
}

fn bounds(b: &[i64]) -> Rule {
    rule(
        RuleKind::Range(RangeSpec::Boundaries(b.to_vec())),
        &vec![1; b.len()],
    )
}

fn spec(r: &Rule) -> &RangeSpec {
    match &r.kind {
        RuleKind::Range(s) => s,
        _ => unreachable!(),
    }
}

fn i(v: i64) -> KeyValue {
    KeyValue::Int(v)
}

fn s(v: &str) -> KeyValue {
    KeyValue::from_string(v.as_bytes())
}

fn n(t: &str) -> KeyValue {
    KeyValue::from_number_literal(t.as_bytes()).unwrap()
}

fn set(r: &Rule, p: KeyPredicate) -> Vec<u32> {
    shards_for_predicate(r, None, &p).unwrap().to_vec()
}

fn set_in(r: &Rule, env: &RuleEnv<'_>, p: KeyPredicate) -> Vec<u32> {
    shards_for_predicate_in(r, env, &p).unwrap().to_vec()
}

fn range(lo: Bound<KeyValue>, hi: Bound<KeyValue>) -> KeyPredicate {
    KeyPredicate::Range { lo, hi }
}

use Bound::{Excluded as Ex, Included as In, Unbounded as Un};

#[test]
fn rows_per_table_edges() {
    let r = rows(10_000, &[2, 2]);
    let sp = spec(&r);
    assert_eq!(range_shard(&r, sp, &i(0)), Ok(0));
    assert_eq!(range_shard(&r, sp, &i(9_999)), Ok(0));
    assert_eq!(range_shard(&r, sp, &i(10_000)), Ok(1));
    assert_eq!(range_shard(&r, sp, &i(39_999)), Ok(3));
    let e = range_shard(&r, sp, &i(40_000)).unwrap_err();
    assert!(matches!(e, RouteError::KeyOutOfRange { .. }));
    assert_eq!(e.code().code, 1526);
    assert!(range_shard(&r, sp, &i(-1)).is_err());
    assert!(range_shard(&r, sp, &KeyValue::UInt(u64::MAX)).is_err());
    // Integer-like strings are integers for a range rule.
    assert_eq!(range_shard(&r, sp, &s("10000")), Ok(1));
    assert_eq!(range_shard(&r, sp, &s(" 10000.0 ")), Ok(1));
    assert_eq!(range_shard(&r, sp, &n("1e4")), Ok(1));
    assert_eq!(
        range_shard(&r, sp, &KeyValue::from_hex_literal(b"0x2710").unwrap()),
        Ok(1)
    );
    let e = range_shard(&r, sp, &s("abc")).unwrap_err();
    assert_eq!(e.code().code, 1235);
    assert!(range_shard(&r, sp, &n("1.5")).is_err());
    assert!(range_shard(&r, sp, &n("1e30")).is_err());
    let e = range_shard(&r, sp, &KeyValue::Null).unwrap_err();
    assert_eq!(e.code().code, 1048);
}

#[test]
fn the_articles_blog_example() {
    // user_id 1..10000 → DB1, 10001..20000 → DB2: boundaries 10001, 20001.
    let r = bounds(&[10_001, 20_001]);
    let sp = spec(&r);
    assert_eq!(range_shard(&r, sp, &i(234)), Ok(0));
    assert_eq!(range_shard(&r, sp, &i(12_343)), Ok(1));
}

#[test]
fn u64_keys_and_large_rows_per_table() {
    let r = rows(i64::MAX as u64 / 2, &[2]);
    let sp = spec(&r);
    assert_eq!(range_shard(&r, sp, &i(i64::MAX / 2)), Ok(1));
    assert!(range_shard(&r, sp, &KeyValue::UInt(1 << 63)).is_err());
    let b = bounds(&[0, i64::MAX]);
    let sp = spec(&b);
    assert_eq!(range_shard(&b, sp, &i(i64::MAX - 1)), Ok(1));
    assert!(range_shard(&b, sp, &i(i64::MAX)).is_err());
    assert!(range_shard(&b, sp, &KeyValue::UInt(u64::MAX)).is_err());
}

#[test]
fn explicit_boundaries() {
    let r = bounds(&[-100, 0, 100, 1_000]);
    let sp = spec(&r);
    assert_eq!(range_shard(&r, sp, &i(i64::MIN)), Ok(0));
    assert_eq!(range_shard(&r, sp, &i(-101)), Ok(0));
    assert_eq!(range_shard(&r, sp, &i(-100)), Ok(1));
    assert_eq!(range_shard(&r, sp, &i(-1)), Ok(1));
    assert_eq!(range_shard(&r, sp, &i(0)), Ok(2));
    assert_eq!(range_shard(&r, sp, &i(99)), Ok(2));
    assert_eq!(range_shard(&r, sp, &i(100)), Ok(3));
    assert_eq!(range_shard(&r, sp, &i(999)), Ok(3));
    let e = range_shard(&r, sp, &i(1_000))
        .unwrap_err()
        .with_table("article");
    assert_eq!(
            e.to_string(),
            "shardgate: key 1000 of table article is outside every range of rule r (..1000); add a range or use another key"
        );
}

#[test]
fn out_of_range_message() {
    let r = Rule::new(
        "by_user".into(),
        vec!["g0".into(), "g1".into()],
        vec![2, 2],
        RuleKind::Range(RangeSpec::RowsPerTable(10_000)),
    );
    let e = range_shard(&r, spec(&r), &i(250_000))
        .unwrap_err()
        .with_table("article");
    assert_eq!(
            e.to_string(),
            "shardgate: key 250000 of table article is outside every range of rule by_user (0..40000); add a range or use another key"
        );
    let e = range_shard(&r, spec(&r), &KeyValue::Null)
        .unwrap_err()
        .with_table("article");
    assert!(e
        .to_string()
        .starts_with("shardgate: shard key of table article cannot be NULL"));
}

#[test]
fn range_predicates() {
    let r = rows(100, &[2, 2]); // 0..100, 100..200, 200..300, 300..400
    assert_eq!(set(&r, KeyPredicate::Eq(i(150))), [1]);
    assert_eq!(set(&r, KeyPredicate::Eq(i(400))), Vec::<u32>::new());
    assert_eq!(set(&r, KeyPredicate::Eq(i(-1))), Vec::<u32>::new());
    assert_eq!(set(&r, KeyPredicate::Eq(n("1.5"))), Vec::<u32>::new());
    assert_eq!(set(&r, KeyPredicate::Eq(KeyValue::Null)), Vec::<u32>::new());
    assert_eq!(
        set(
            &r,
            KeyPredicate::In(vec![i(5), i(350), i(7), KeyValue::Null])
        ),
        [0, 3]
    );
    assert_eq!(set(&r, KeyPredicate::between(i(99), i(100))), [0, 1]);
    assert_eq!(set(&r, KeyPredicate::between(i(100), i(199))), [1]);
    assert_eq!(
        set(&r, KeyPredicate::between(i(200), i(100))),
        Vec::<u32>::new()
    );
    assert_eq!(set(&r, range(Ex(i(99)), Ex(i(200)))), [1]);
    assert_eq!(set(&r, range(Ex(i(99)), In(i(200)))), [1, 2]);
    assert_eq!(set(&r, range(In(i(99)), Ex(i(100)))), [0]);
    assert_eq!(set(&r, range(Un, Ex(i(100)))), [0]);
    assert_eq!(set(&r, range(Un, In(i(100)))), [0, 1]);
    assert_eq!(set(&r, range(Ex(i(299)), Un)), [3]);
    assert_eq!(set(&r, range(In(i(299)), Un)), [2, 3]);
    assert_eq!(set(&r, range(In(i(400)), Un)), Vec::<u32>::new());
    assert_eq!(set(&r, range(Un, Ex(i(0)))), Vec::<u32>::new());
    assert_eq!(set(&r, range(Un, Un)), [0, 1, 2, 3]);
    assert_eq!(set(&r, range(Un, In(KeyValue::Null))), Vec::<u32>::new());
    // Fractions: k > 99.5 is k >= 100; k < 100.5 is k <= 100.
    assert_eq!(set(&r, range(Ex(n("99.5")), Un)), [1, 2, 3]);
    assert_eq!(set(&r, range(In(n("99.5")), Un)), [1, 2, 3]);
    assert_eq!(set(&r, range(Un, Ex(n("100.5")))), [0, 1]);
    assert_eq!(set(&r, range(Un, In(n("-0.5")))), Vec::<u32>::new());
    assert_eq!(set(&r, range(In(n("-1e30")), In(n("1e30")))), [0, 1, 2, 3]);
    assert_eq!(set(&r, range(In(s("150")), In(s("250")))), [1, 2]);
    assert!(shards_for_predicate(&r, None, &KeyPredicate::Eq(s("x"))).is_err());
    assert_eq!(set(&r, KeyPredicate::Any), [0, 1, 2, 3]);

    let b = bounds(&[-100, 0, 100, 1_000]);
    assert_eq!(set(&b, range(Un, In(i(-500)))), [0]);
    assert_eq!(set(&b, range(In(i(-100)), In(i(0)))), [1, 2]);
    assert_eq!(set(&b, range(In(i(-100)), Ex(i(0)))), [1]);
    assert_eq!(set(&b, range(In(i(999)), Un)), [3]);
    assert_eq!(set(&b, range(In(i(1_000)), Un)), Vec::<u32>::new());
    assert_eq!(set(&b, range(In(i(50)), In(i(5_000)))), [2, 3]);
    assert_eq!(
        set(&b, range(In(i(i64::MIN)), In(KeyValue::UInt(u64::MAX)))),
        [0, 1, 2, 3]
    );
}

#[test]
fn hash_of_ints_is_euclidean() {
    let r = rule(RuleKind::Hash, &[2, 2]);
    assert_eq!(hash_shard(&r, &i(7)), Ok(3));
    assert_eq!(hash_shard(&r, &i(8)), Ok(0));
    // MOD(MOD(-7, 4) + 4, 4) = 1 in MariaDB; MOD(-7, 4) = -3.
    assert_eq!(hash_shard(&r, &i(-7)), Ok(1));
    assert_eq!(hash_shard(&r, &i(-1)), Ok(3));
    assert_eq!(hash_shard(&r, &i(i64::MIN)), Ok(0));
    assert_eq!(hash_shard(&r, &KeyValue::UInt(u64::MAX)), Ok(3));
    assert_eq!(hash_shard(&r, &s("42")), hash_shard(&r, &i(42)));
    assert_eq!(hash_shard(&r, &n("42.0")), hash_shard(&r, &i(42)));
    assert!(hash_shard(&r, &n("42.5")).is_err());
    assert!(hash_shard(&r, &KeyValue::from_hex_literal(b"0x2A").unwrap()).is_err());
    assert!(hash_shard(&r, &KeyValue::Null).is_err());
    let r3 = rule(RuleKind::Hash, &[3]);
    assert_eq!(hash_shard(&r3, &i(-5)), Ok(1));
}

#[test]
fn hash_of_strings_is_mariadb_crc32() {
    // SELECT CRC32('abc') % 4, CRC32('1222211') % 4, CRC32(_utf8mb4'héllo') % 7
    let r = rule(RuleKind::Hash, &[4]);
    assert_eq!(hash_shard(&r, &s("abc")), Ok(891_568_578 % 4));
    assert_eq!(hash_shard(&r, &s("")), Ok(0));
    let r7 = rule(RuleKind::Hash, &[3, 4]);
    assert_eq!(hash_shard(&r7, &s("héllo")), Ok(2_654_700_086 % 7));
    // Dates: the canonical text, as CRC32(DATE'2024-01-31') gives.
    assert_eq!(hash_shard(&r7, &s("2024-1-31")), Ok(4_259_163_891 % 7));
    // X'..' is a string.
    assert_eq!(
        hash_shard(&r, &KeyValue::from_hex_literal(b"X'616263'").unwrap()),
        Ok(891_568_578 % 4)
    );
}

/// A string key sent in another character set than the key column's is
/// converted first: placed by the bytes the column stores, what CRC32(k)
/// reads in SQL ('héllo' in latin1 lands where the UTF-8 one does).
#[test]
fn string_keys_are_hashed_in_the_columns_character_set() {
    use crate::merge::charset::Charset;
    let r = rule(RuleKind::Hash, &[3, 4]);
    let utf8 = RuleEnv {
        key_type: Some(KeyType::PaddedText),
        ..RuleEnv::default()
    };
    let from_latin1 = RuleEnv {
        convert: key_conversion(Charset::Latin1, Charset::Utf8),
        ..utf8
    };
    let latin1_bytes = KeyValue::Str(b"h\xe9llo".to_vec().into());
    let want = 2_654_700_086 % 7; // SELECT CRC32(_utf8mb4'héllo') % 7
    assert_eq!(shard_for_key(&r, &from_latin1, &latin1_bytes), Ok(want));
    assert_eq!(
        set_in(&r, &from_latin1, KeyPredicate::Eq(latin1_bytes.clone())),
        [want]
    );
    assert_eq!(shard_for_key(&r, &utf8, &s("héllo")), Ok(want));
    assert_ne!(
        shard_for_key(&r, &utf8, &latin1_bytes),
        Ok(want),
        "bytes as sent"
    );
    // ASCII is the same in both; a binary column stores the bytes sent.
    assert_eq!(
        shard_for_key(&r, &from_latin1, &s("abc")),
        shard_for_key(&r, &utf8, &s("abc"))
    );
    assert_eq!(key_conversion(Charset::Latin1, Charset::Binary), None);
    assert_eq!(key_conversion(Charset::Utf8, Charset::Utf8), None);
}

#[test]
fn hash_predicates() {
    let r = rule(RuleKind::Hash, &[4, 4]);
    assert_eq!(set(&r, KeyPredicate::Eq(i(13))), [5]);
    assert_eq!(set(&r, KeyPredicate::Eq(i(-1))), [7]);
    assert_eq!(set(&r, KeyPredicate::In(vec![i(1), i(9), i(2)])), [1, 2]);
    assert_eq!(set(&r, KeyPredicate::between(i(10), i(12))), [2, 3, 4]);
    assert_eq!(set(&r, KeyPredicate::between(i(-1), i(1))), [0, 1, 7]);
    assert_eq!(set(&r, range(Ex(i(10)), Ex(i(12)))), [3]);
    assert_eq!(set(&r, range(In(n("9.5")), In(n("12.5")))), [2, 3, 4]);
    assert_eq!(set(&r, KeyPredicate::between(i(0), i(7))).len(), 8);
    assert_eq!(set(&r, KeyPredicate::between(i(0), i(8))).len(), 8);
    assert_eq!(
        set(&r, KeyPredicate::between(i(12), i(10))),
        Vec::<u32>::new()
    );
    assert_eq!(set(&r, KeyPredicate::between(n("-1e30"), i(5))).len(), 8);
    assert_eq!(set(&r, KeyPredicate::between(i(5), n("1e30"))).len(), 8);
    // Strings: no order to use.
    assert_eq!(set(&r, KeyPredicate::between(s("10"), s("12"))).len(), 8);
    assert_eq!(set(&r, range(In(i(10)), Un)).len(), 8);
    // Fractions and hex numbers against a column of unknown type.
    assert_eq!(set(&r, KeyPredicate::Eq(n("2.5"))).len(), 8);
    assert_eq!(
        set(
            &r,
            KeyPredicate::Eq(KeyValue::from_hex_literal(b"0x2A").unwrap())
        )
        .len(),
        8
    );
    assert_eq!(set(&r, KeyPredicate::Eq(KeyValue::Null)), Vec::<u32>::new());
    assert_eq!(
        set(&r, KeyPredicate::between(i(1), KeyValue::Null)),
        Vec::<u32>::new()
    );
}

#[test]
fn bucket_map_initial_layouts() {
    let m = BucketMap::initial(1024, 2);
    assert_eq!(m.len(), 1024);
    assert_eq!(m.version(), 1);
    assert_eq!(m.group_of(0), Some(0));
    assert_eq!(m.group_of(511), Some(0));
    assert_eq!(m.group_of(512), Some(1));
    assert_eq!(m.group_of(1023), Some(1));
    assert_eq!(m.group_of(1024), None);
    assert_eq!((m.buckets_of_group(0), m.buckets_of_group(1)), (512, 512));

    let m = BucketMap::initial(1024, 3);
    assert_eq!(m.group_of(341), Some(0));
    assert_eq!(m.group_of(342), Some(1));
    assert_eq!(m.group_of(682), Some(1));
    assert_eq!(m.group_of(683), Some(2));
    assert_eq!(
        (0..3).map(|g| m.buckets_of_group(g)).collect::<Vec<_>>(),
        [342, 341, 341]
    );
    // Contiguous: the group never decreases.
    assert!(m.as_slice().windows(2).all(|w| w[0] <= w[1]));

    let m = BucketMap::initial(3, 3);
    assert_eq!(m.as_slice(), [0, 1, 2]);
}

fn bucket_rule(buckets: u32, tables: &[u32]) -> Rule {
    rule(RuleKind::Bucket { buckets }, tables)
}

#[test]
fn bucket_shards_and_tables_per_group() {
    for tables in [[1u32, 1, 1], [2, 2, 2], [1, 3, 2], [4, 1, 1]] {
        let r = bucket_rule(1024, &tables);
        let m = BucketMap::for_rule(&r).unwrap();
        m.check(&r).unwrap();
        let mut seen = ShardSet::empty(r.shard_count());
        for b in 0..1024u32 {
            let s = shard_of_bucket(&r, &m, b).unwrap();
            let g = m.group_of(b).unwrap();
            // The shard is on the bucket's group, table bucket % t.
            assert_eq!(r.group_of_shard(s as usize), Some(format!("g{g}").as_str()));
            let first = r.shards_on(&format!("g{g}")).start as u32;
            assert_eq!(s - first, b % tables[g]);
            seen.insert(s);
        }
        assert!(seen.is_all(), "{tables:?}: every table gets buckets");
    }
    // Keys: CRC32('abc') = 891568578, % 1024 = 450 → group 0 of 2
    // (0..512), table 450 % 2 = 0 → shard 0; CRC32('1222211') % 1024 =
    // 644 → group 1, table 0 → shard 2 (g1's first).
    let r = bucket_rule(1024, &[2, 2]);
    let m = BucketMap::for_rule(&r).unwrap();
    assert_eq!(bucket_of(1024, &s("abc")), Some(450));
    assert_eq!(bucket_shard(&r, &m, &s("abc")), Ok(0));
    assert_eq!(bucket_of(1024, &s("1222211")), Some(644));
    assert_eq!(bucket_shard(&r, &m, &s("1222211")), Ok(2));
    // Integers hash their decimal text: CRC32(42) = 841265288, % 1024 = 136.
    assert_eq!(bucket_of(1024, &i(42)), Some(841_265_288 % 1024));
    assert_eq!(bucket_shard(&r, &m, &i(42)), Ok(136 % 2));
    assert_eq!(bucket_shard(&r, &m, &s("42")), Ok(0));
    assert!(bucket_shard(&r, &m, &KeyValue::Null).is_err());
    assert!(bucket_shard(&r, &m, &n("0.5")).is_err());
    // The dispatcher needs the map.
    let env = RuleEnv::default();
    assert!(matches!(
        shard_for_key(&r, &env, &i(1)),
        Err(RouteError::NoBucketMap { .. })
    ));
    let env = RuleEnv {
        bucket_map: Some(&m),
        ..RuleEnv::default()
    };
    assert_eq!(shard_for_key(&r, &env, &s("1222211")), Ok(2));
    // A map for another bucket count is refused.
    let other = BucketMap::initial(512, 2);
    assert!(other.check(&r).is_err());
    assert!(BucketMap::initial(1024, 3).check(&r).is_err());
}

#[test]
fn bucket_predicates_and_moves() {
    let r = bucket_rule(1024, &[2, 2, 1]);
    let mut m = BucketMap::initial(1024, 2); // the third group has no bucket yet
    let p = |pred: KeyPredicate, m: &BucketMap| {
        shards_for_predicate(&r, Some(m), &pred).unwrap().to_vec()
    };
    assert_eq!(p(KeyPredicate::Any, &m), [0, 1, 2, 3]);
    assert_eq!(p(KeyPredicate::Eq(s("abc")), &m), [0]);
    assert_eq!(p(KeyPredicate::between(s("a"), s("b")), &m), [0, 1, 2, 3]);
    assert_eq!(p(KeyPredicate::Eq(KeyValue::Null), &m), Vec::<u32>::new());
    // Bucket 450 ('abc') moves to the new group: shard 4, version 2.
    assert!(m.move_bucket(450, 2));
    assert!(!m.move_bucket(450, 2));
    assert!(!m.move_bucket(5000, 1));
    assert_eq!(m.version(), 2);
    assert_eq!(m.buckets_of_group(2), 1);
    assert_eq!(m.buckets_of_group(0), 511);
    assert_eq!(p(KeyPredicate::Eq(s("abc")), &m), [4]);
    assert_eq!(p(KeyPredicate::Any, &m), [0, 1, 2, 3, 4]);
    let small = p(KeyPredicate::between(i(1), i(3)), &m);
    let each: Vec<u32> = [1, 2, 3]
        .iter()
        .map(|&k| bucket_shard(&r, &m, &i(k)).unwrap())
        .collect();
    for s in &each {
        assert!(small.contains(s));
    }
    assert!(shards_for_predicate(&r, None, &KeyPredicate::Any).is_err());
}

#[test]
fn bucket_map_bytes_round_trip() {
    let mut m = BucketMap::initial(1024, 3);
    m.move_bucket(7, 2);
    let b = m.to_bytes();
    assert_eq!(b.len(), 17 + 2048);
    assert_eq!(&b[..4], b"SGBM");
    let back = BucketMap::from_bytes(&b).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.version(), 2);
    for cut in 0..b.len() {
        assert!(BucketMap::from_bytes(&b[..cut]).is_err(), "cut {cut}");
    }
    let mut extra = b.clone();
    extra.push(0);
    assert!(BucketMap::from_bytes(&extra).is_err());
    let mut magic = b.clone();
    magic[0] = b'X';
    assert!(BucketMap::from_bytes(&magic).is_err());
    let mut fmt = b;
    fmt[4] = 9;
    assert!(BucketMap::from_bytes(&fmt).is_err());
    let zero = BucketMap::from_parts(1, Vec::new()).to_bytes();
    assert!(BucketMap::from_bytes(&zero).is_err());
}

#[test]
fn shard_set_combinators() {
    let a = ShardSet::single(8, 1).or(&ShardSet::single(8, 5));
    let b = ShardSet::single(8, 5).or(&ShardSet::single(8, 6));
    assert_eq!(a.and(&b).to_vec(), [5]);
    assert_eq!(a.or(&b).to_vec(), [1, 5, 6]);
    assert_eq!(a.and(&ShardSet::empty(8)).to_vec(), Vec::<u32>::new());
    assert_eq!(a.or(&ShardSet::all(8)), ShardSet::all(8));
    assert_eq!(a.and(&ShardSet::all(8)), a);
    assert_eq!(a.and(&b).only(), Some(5));
    assert_eq!(a.only(), None);
    assert_eq!(a.first(), Some(1));
    assert!(ShardSet::empty(8).is_empty());
    assert!(ShardSet::all(8).is_all());
    assert_eq!(ShardSet::all(0).len(), 0);
    assert_eq!(format!("{a:?}"), "{1, 5}");
    let mut s = ShardSet::empty(3);
    s.insert(3); // beyond the capacity: ignored
    s.insert_range(1, 99);
    assert_eq!(s.to_vec(), [1, 2]);
    assert!(!s.contains(3) && s.contains(2));
    // Large sets (more than 64 shards).
    let mut big = ShardSet::empty(10_000);
    big.insert_range(60, 130);
    big.insert(9_999);
    assert_eq!(big.len(), 71);
    assert_eq!(big.first(), Some(60));
    assert_eq!(big.iter().last(), Some(9_999));
    let all = ShardSet::all(10_000);
    assert_eq!(all.len(), 10_000);
    assert!(all.is_all());
    assert_eq!(big.and(&all), big);
    let other = ShardSet::single(10_000, 5_000);
    assert_eq!(big.and(&other).len(), 0);
    assert_eq!(big.or(&other).len(), 72);
    let mut u = ShardSet::empty(70);
    u.union_with(&ShardSet::all(200));
    assert_eq!(u.len(), 70);
    assert!(u.is_all());
}

#[test]
fn lookup_rules_need_a_router() {
    let r = rule(
        RuleKind::Lookup(Lookup {
            group: "g0".into(),
            table: "dir".into(),
            key_column: "k".into(),
            shard_column: "shard".into(),
            cache_size: 10,
            placement: Placement::None,
        }),
        &[1, 1],
    );
    assert!(matches!(
        shards_for_predicate(&r, None, &KeyPredicate::Eq(i(1))),
        Err(RouteError::DirectoryNeeded { .. })
    ));
    assert_eq!(set(&r, KeyPredicate::Eq(KeyValue::Null)), Vec::<u32>::new());
    assert_eq!(set(&r, KeyPredicate::between(i(1), i(2))), [0, 1]);
    assert_eq!(set(&r, KeyPredicate::Any), [0, 1]);
    assert!(shard_for_key(&r, &RuleEnv::default(), &i(1)).is_err());
}

#[test]
fn error_codes_and_messages() {
    let e = RouteError::NoDirectoryEntry {
        key: "42".into(),
        rule: "by_directory".into(),
        table: None,
        directory: "blog.shard_directory".into(),
    }
    .with_table("article");
    assert_eq!(e.code().code, 1526);
    assert!(e.to_string().starts_with(
        "shardgate: key 42 of table article has no row in directory blog.shard_directory"
    ));
    for e in [
        RouteError::BadBucketMap("x".into()),
        RouteError::DirectoryNeeded { rule: "r".into() },
        RouteError::Directory {
            directory: "d".into(),
            detail: "down".into(),
        },
    ] {
        assert!(e.to_string().starts_with("shardgate: "));
        assert_eq!(e.code().code, 1105);
    }
}
