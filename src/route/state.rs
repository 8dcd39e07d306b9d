//! Routing state built from one topology: the bucket map of every `bucket`
//! rule and the directory router (with its LRU cache) of every `lookup`
//! rule, keyed by (schema, rule). Rebuilt when the config is reloaded, so
//! lookup caches are invalidated with it. Bucket maps start as the initial
//! contiguous layout; the metadata file will own their moved versions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::config::{RuleKind, TableKind, Topology};
use crate::fast_hash::FastMap;
use crate::merge::charset::{charset_of, Charset};

use super::keyvalue::KeyType;
use super::lookup::{BlockingDirectory, LookupRouter};
use super::rules::BucketMap;
use crate::merge::EnumDef;

/// The columns of one sharded table as its first physical table has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableColumns {
    /// Every column, lowercased, in table order (an INSERT without a column
    /// list gives values in this order).
    pub ordered: Vec<Vec<u8>>,
    /// The string columns' collations: (lowercased column, collation id).
    pub collations: Vec<(Vec<u8>, u16)>,
    /// The members of the ENUM and SET columns: (lowercased column, them).
    pub enums: Vec<(Vec<u8>, Arc<EnumDef>)>,
    /// How each column's values compare as a shard key (from its type):
    /// (lowercased column, key type).
    pub key_types: Vec<(Vec<u8>, KeyType)>,
}

impl TableColumns {
    /// The position of column `name` (ASCII case-insensitive).
    pub fn position(&self, name: &[u8]) -> Option<usize> {
        self.ordered
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// The key type of column `name`; `Auto` for a column it lacks.
    pub fn key_type(&self, name: &[u8]) -> KeyType {
        self.key_types
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
            .map_or(KeyType::Auto, |&(_, t)| t)
    }
}

/// What routing knows of a sharded table's key column type
/// ([`RouteState::key_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTypeState {
    /// The table's rule does not depend on it (`range`, `lookup`), or the
    /// table is not a sharded one.
    NotNeeded,
    /// A `hash` or `bucket` table whose columns have not been read yet.
    Unknown,
    Known(KeyType),
}

/// The key column type slot of one `hash`/`bucket` table.
struct KeySlot {
    /// The key column, lowercased.
    column: Vec<u8>,
    /// 0 = unknown, else [`encode_key_type`].
    ty: AtomicU8,
    /// The key column's character set: 0 = unknown or not a string, else
    /// [`encode_charset`].
    charset: AtomicU8,
}

fn encode_charset(c: Option<Charset>) -> u8 {
    match c {
        None => 0,
        Some(Charset::Utf8) => 1,
        Some(Charset::Latin1) => 2,
        Some(Charset::Ascii) => 3,
        Some(Charset::Binary) => 4,
    }
}

fn decode_charset(v: u8) -> Option<Charset> {
    match v {
        1 => Some(Charset::Utf8),
        2 => Some(Charset::Latin1),
        3 => Some(Charset::Ascii),
        4 => Some(Charset::Binary),
        _ => None,
    }
}

fn encode_key_type(t: KeyType) -> u8 {
    match t {
        KeyType::Integer => 1,
        KeyType::Text => 2,
        KeyType::Auto => 3,
        KeyType::PaddedText => 4,
        KeyType::Date => 5,
        // 6..=12: fractional digits 0..=6 (of_column_type keeps them <= 6).
        KeyType::DateTime(d) => 6 + d.min(6),
    }
}

fn decode_key_type(v: u8) -> Option<KeyType> {
    match v {
        1 => Some(KeyType::Integer),
        2 => Some(KeyType::Text),
        3 => Some(KeyType::Auto),
        4 => Some(KeyType::PaddedText),
        5 => Some(KeyType::Date),
        6..=12 => Some(KeyType::DateTime(v - 6)),
        _ => None,
    }
}

/// Whether collation `name` compares letters case- or accent-insensitively
/// (`_ci`, `_ai` in MariaDB's names; `_bin`, `_cs`, `binary` do not).
fn folds_case_or_accents(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.split('_').any(|part| part == "ci" || part == "ai")
}

#[derive(Default)]
pub struct RouteState {
    /// Columns of sharded tables, read from information_schema on first
    /// need (merging compares strings by their collations; an INSERT
    /// without a column list finds the shard key by its position).
    columns: parking_lot::Mutex<HashMap<(String, String), Arc<TableColumns>>>,
    /// Bumped whenever DDL makes a table's collations be read again: plans
    /// kept by prepared statements (which carry collations in their merge
    /// step) are made again after it.
    collation_epoch: std::sync::atomic::AtomicU64,
    /// The key column types of `hash` and `bucket` tables, by schema then
    /// table (config spelling): where a string key's bytes are hashed
    /// exactly and where `'42'` is the integer 42 depends on them. Filled
    /// when the table's columns are read.
    key_types: FastMap<String, FastMap<String, KeySlot>>,
    /// Bucket maps and lookup routers by schema then rule name (nested so
    /// that the per-statement lookups borrow the names).
    bucket_maps: FastMap<String, FastMap<String, Arc<BucketMap>>>,
    lookups: FastMap<String, FastMap<String, Arc<LookupRouter>>>,
    /// Schemas with at least one sharded or broadcast table.
    sharded_schemas: Vec<String>,
}

impl RouteState {
    pub fn build(topo: &Topology) -> RouteState {
        RouteState::build_with(topo, &std::collections::BTreeMap::new()).0
    }

    /// Like [`RouteState::build`], with the bucket maps kept in the
    /// metadata store (`stored`, keyed "schema.rule", group names per
    /// bucket). A stored map is used when it still fits its rule (same
    /// bucket count, only the rule's groups); otherwise the rule starts from
    /// the initial layout. Returns the maps to write back to the store.
    pub fn build_with(
        topo: &Topology,
        stored: &std::collections::BTreeMap<String, crate::meta::BucketMap>,
    ) -> (RouteState, Vec<(String, crate::meta::BucketMap)>) {
        let mut store = Vec::new();
        let mut st = RouteState::default();
        for schema in &topo.schemas {
            if !schema.tables.is_empty() {
                st.sharded_schemas.push(schema.name.clone());
            }
            for table in &schema.tables {
                let TableKind::Sharded { key, rule } = &table.kind else {
                    continue;
                };
                if schema
                    .rule(rule)
                    .is_some_and(|r| matches!(r.kind, RuleKind::Hash | RuleKind::Bucket { .. }))
                {
                    st.key_types.entry(schema.name.clone()).or_default().insert(
                        table.name.clone(),
                        KeySlot {
                            column: key.to_ascii_lowercase().into_bytes(),
                            ty: AtomicU8::new(0),
                            charset: AtomicU8::new(0),
                        },
                    );
                }
            }
            for rule in &schema.rules {
                let key = (schema.name.clone(), rule.name.clone());
                match &rule.kind {
                    RuleKind::Bucket { .. } => {
                        let name = format!("{}.{}", schema.name, rule.name);
                        let kept = stored.get(&name).and_then(|m| {
                            let idx: Option<Vec<u16>> = m
                                .groups
                                .iter()
                                .map(|g| {
                                    rule.groups
                                        .iter()
                                        .position(|rg| rg == g)
                                        .and_then(|i| u16::try_from(i).ok())
                                })
                                .collect();
                            let map = BucketMap::from_parts(m.version, idx?);
                            map.check(rule).ok().map(|_| map)
                        });
                        if kept.is_none() && stored.contains_key(&name) {
                            log::warn!(
                                "ROUTER bucket map of {name} in the metadata file no longer fits the rule \
                                 (bucket count or groups changed); starting from the initial layout"
                            );
                        }
                        let map = match kept {
                            Some(m) => Some(m),
                            None => BucketMap::for_rule(rule).inspect(|m| {
                                let groups = m
                                    .as_slice()
                                    .iter()
                                    .map(|&g| {
                                        rule.groups.get(usize::from(g)).cloned().unwrap_or_default()
                                    })
                                    .collect();
                                store.push((
                                    name.clone(),
                                    crate::meta::BucketMap {
                                        version: m.version(),
                                        groups,
                                    },
                                ));
                            }),
                        };
                        if let Some(map) = map {
                            st.bucket_maps
                                .entry(key.0.clone())
                                .or_default()
                                .insert(key.1.clone(), Arc::new(map));
                        }
                    }
                    RuleKind::Lookup(_) => {
                        match BlockingDirectory::for_rule(topo, &schema.name, rule) {
                            Ok(dir) => {
                                if let Some(router) = LookupRouter::new(rule, Arc::new(dir)) {
                                    st.lookups
                                        .entry(key.0.clone())
                                        .or_default()
                                        .insert(key.1.clone(), Arc::new(router));
                                }
                            }
                            Err(e) => {
                                log::error!("ROUTER lookup rule {}.{}: {e}", schema.name, rule.name)
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        (st, store)
    }

    /// The cached columns of `schema.table`.
    pub fn table_columns(&self, schema: &str, table: &str) -> Option<Arc<TableColumns>> {
        self.columns
            .lock()
            .get(&(schema.to_ascii_lowercase(), table.to_ascii_lowercase()))
            .cloned()
    }

    /// Reads the columns of `schema.table` from its first physical table
    /// `physical` on `addr` (blocking: workers only) and caches them. A
    /// table the server does not have has no columns, and is not cached.
    pub fn load_table_columns(
        &self,
        topo: &Topology,
        addr: std::net::SocketAddr,
        schema: &str,
        table: &str,
        physical: &str,
    ) -> Result<Arc<TableColumns>, String> {
        let mut conn = crate::backend::blocking::BlockingConn::connect(addr, &topo.backend)
            .map_err(|e| e.to_string())?;
        let esc = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
        let sql = format!(
            "SELECT c.COLUMN_NAME, k.ID, c.COLUMN_TYPE, c.COLLATION_NAME FROM information_schema.COLUMNS c LEFT JOIN information_schema.COLLATIONS k \
             ON k.COLLATION_NAME = c.COLLATION_NAME WHERE c.TABLE_SCHEMA = '{}' AND c.TABLE_NAME = '{}' \
             ORDER BY c.ORDINAL_POSITION",
            esc(schema),
            esc(physical)
        );
        let packets = conn.query(&sql).map_err(|e| e.to_string())?;
        let mut out = TableColumns::default();
        let mut key_collations = Vec::new();
        // column count, 4 definitions, EOF, rows, EOF
        for p in packets.iter().skip(6) {
            if p.first() == Some(&0xfe) && p.len() < 9 {
                break;
            }
            let cells: Vec<Option<&[u8]>> = shardgate_proto::row::TextRow::new(p, 4)
                .cells()
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let [Some(name), id, ty, collation] = cells[..] else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            if let Some(def) = ty.and_then(EnumDef::parse) {
                out.enums.push((name.clone(), Arc::new(def)));
            }
            let id = id
                .and_then(|id| std::str::from_utf8(id).ok())
                .and_then(|s| s.parse::<u16>().ok());
            if let Some(id) = id {
                out.collations.push((name.clone(), id));
            }
            if let Some(ty) = ty {
                out.key_types
                    .push((name.clone(), KeyType::of_column(ty, collation)));
            }
            if let Some(c) = collation {
                key_collations.push((name.clone(), String::from_utf8_lossy(c).into_owned()));
            }
            out.ordered.push(name);
        }
        let cols = Arc::new(out);
        if cols.ordered.is_empty() {
            // No such table (yet): nothing to cache; its statements fail on
            // the server, or read the columns once it is created.
            return Ok(cols);
        }
        self.note_key_type(schema, table, &cols, &key_collations);
        self.columns.lock().insert(
            (schema.to_ascii_lowercase(), table.to_ascii_lowercase()),
            cols.clone(),
        );
        Ok(cols)
    }

    /// Records the key column type of `schema.table` from its columns, and
    /// warns when a string key's collation equates different bytes.
    fn note_key_type(
        &self,
        schema: &str,
        table: &str,
        cols: &TableColumns,
        collations: &[(Vec<u8>, String)],
    ) {
        let Some(slot) = self.key_slot(schema, table) else {
            return;
        };
        let ty = cols.key_type(&slot.column);
        let charset = cols
            .collations
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(&slot.column))
            .and_then(|&(_, id)| charset_of(id))
            .filter(|_| ty.is_text());
        slot.charset
            .store(encode_charset(charset), Ordering::Release);
        slot.ty.store(encode_key_type(ty), Ordering::Release);
        let collation = collations
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(&slot.column))
            .map(|(_, name)| name.as_str());
        if let Some(name) = collation.filter(|n| folds_case_or_accents(n)) {
            log::warn!(
                "ROUTER {schema}.{table}: shard key column {} has collation {name}, which \
                 compares different bytes as equal ('a' = 'A'); string keys are placed by \
                 their exact bytes, so a key written in another case or accent than the \
                 stored one routes to another shard. Prefer a _bin collation for a string \
                 shard key",
                String::from_utf8_lossy(&slot.column)
            );
        }
    }

    fn key_slot(&self, schema: &str, table: &str) -> Option<&KeySlot> {
        let tables = match self.key_types.get(schema) {
            Some(t) => t,
            None => {
                self.key_types
                    .iter()
                    .find(|(s, _)| s.eq_ignore_ascii_case(schema))?
                    .1
            }
        };
        match tables.get(table) {
            Some(slot) => Some(slot),
            None => tables
                .iter()
                .find(|(t, _)| t.eq_ignore_ascii_case(table))
                .map(|(_, slot)| slot),
        }
    }

    /// The character set of the string key column of sharded table
    /// `schema.table`, once its columns are read (`None` for other key
    /// types and character sets shardgate cannot convert).
    pub fn key_charset(&self, schema: &str, table: &str) -> Option<Charset> {
        decode_charset(
            self.key_slot(schema, table)?
                .charset
                .load(Ordering::Acquire),
        )
    }

    /// The conversion string keys of `schema.table` need from a client
    /// sending `client` ([`RuleEnv::convert`](super::rules::RuleEnv)).
    pub fn key_conversion(
        &self,
        schema: &str,
        table: &str,
        client: Option<Charset>,
    ) -> Option<(Charset, Charset)> {
        super::rules::key_conversion(client?, self.key_charset(schema, table)?)
    }

    /// The key column type of sharded table `schema.table` (config
    /// spelling; other spellings are found too, more slowly).
    pub fn key_type(&self, schema: &str, table: &str) -> KeyTypeState {
        match self.key_slot(schema, table) {
            None => KeyTypeState::NotNeeded,
            Some(slot) => match decode_key_type(slot.ty.load(Ordering::Acquire)) {
                Some(t) => KeyTypeState::Known(t),
                None => KeyTypeState::Unknown,
            },
        }
    }

    /// Sets the columns of `schema.table` (tests, and callers that know
    /// them).
    pub fn set_table_columns(&self, schema: &str, table: &str, cols: TableColumns) {
        self.note_key_type(schema, table, &cols, &[]);
        self.columns.lock().insert(
            (schema.to_ascii_lowercase(), table.to_ascii_lowercase()),
            Arc::new(cols),
        );
    }

    /// DDL changed a table: its columns are read again when needed.
    pub fn forget_table_columns(&self, schema: &str, table: &str) {
        if let Some(slot) = self.key_slot(schema, table) {
            slot.ty.store(0, Ordering::Release);
        }
        self.columns
            .lock()
            .remove(&(schema.to_ascii_lowercase(), table.to_ascii_lowercase()));
        self.collation_epoch
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Changes whenever [`RouteState::forget_table_columns`] runs.
    pub fn collation_epoch(&self) -> u64 {
        self.collation_epoch
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn bucket_map(&self, schema: &str, rule: &str) -> Option<&BucketMap> {
        self.bucket_maps.get(schema)?.get(rule).map(|m| &**m)
    }

    pub fn lookup(&self, schema: &str, rule: &str) -> Option<&LookupRouter> {
        self.lookups.get(schema)?.get(rule).map(|l| &**l)
    }

    /// True when some schema has sharded or broadcast tables (otherwise
    /// statements need no parsing beyond classification).
    pub fn any_sharding(&self) -> bool {
        !self.sharded_schemas.is_empty()
    }

    pub fn is_sharded_schema(&self, schema: &str) -> bool {
        self.sharded_schemas
            .iter()
            .any(|s| s.eq_ignore_ascii_case(schema))
    }
}

#[cfg(test)]
mod tests {
    use super::folds_case_or_accents;

    #[test]
    fn insensitive_collations_are_told_from_exact_ones() {
        for name in [
            "utf8mb4_general_ci",
            "latin1_swedish_ci",
            "utf8mb4_uca1400_ai_ci",
            "UTF8MB4_UNICODE_CI",
            "utf8mb4_general_nopad_ci",
        ] {
            assert!(folds_case_or_accents(name), "{name}");
        }
        for name in [
            "utf8mb4_bin",
            "binary",
            "latin1_general_cs",
            "utf8mb4_nopad_bin",
            "utf8mb4_uca1400_as_cs",
        ] {
            assert!(!folds_case_or_accents(name), "{name}");
        }
    }
}
