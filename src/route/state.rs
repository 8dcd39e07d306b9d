//! Routing state built from one topology: the bucket map of every `bucket`
//! rule and the directory router (with its LRU cache) of every `lookup`
//! rule, keyed by (schema, rule). Rebuilt when the config is reloaded, so
//! lookup caches are invalidated with it. Bucket maps start as the initial
//! contiguous layout; the metadata file will own their moved versions.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{RuleKind, Topology};

use super::lookup::{BlockingDirectory, LookupRouter};
use super::rules::BucketMap;

/// Column collations of one sharded table: (lowercased column, id).
pub type Collations = Arc<Vec<(Vec<u8>, u16)>>;

#[derive(Default)]
pub struct RouteState {
    /// Column collations of sharded tables, read from information_schema
    /// on first need (merging compares strings by them).
    collations: parking_lot::Mutex<HashMap<(String, String), Collations>>,
    /// Bumped whenever DDL makes a table's collations be read again: plans
    /// kept by prepared statements (which carry collations in their merge
    /// step) are made again after it.
    collation_epoch: std::sync::atomic::AtomicU64,
    bucket_maps: HashMap<(String, String), Arc<BucketMap>>,
    lookups: HashMap<(String, String), Arc<LookupRouter>>,
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
                            st.bucket_maps.insert(key, Arc::new(map));
                        }
                    }
                    RuleKind::Lookup(_) => {
                        match BlockingDirectory::for_rule(topo, &schema.name, rule) {
                            Ok(dir) => {
                                if let Some(router) = LookupRouter::new(rule, Arc::new(dir)) {
                                    st.lookups.insert(key, Arc::new(router));
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

    /// The cached column collations of `schema.table`.
    pub fn collations(&self, schema: &str, table: &str) -> Option<Collations> {
        self.collations
            .lock()
            .get(&(schema.to_ascii_lowercase(), table.to_ascii_lowercase()))
            .cloned()
    }

    /// Reads the column collations of `schema.table` from its first
    /// physical table on `addr` (blocking: workers only) and caches them.
    pub fn load_collations(
        &self,
        topo: &Topology,
        addr: std::net::SocketAddr,
        schema: &str,
        table: &str,
        physical: &str,
    ) -> Result<Collations, String> {
        let mut conn = crate::backend::blocking::BlockingConn::connect(addr, &topo.backend)
            .map_err(|e| e.to_string())?;
        let esc = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
        let sql = format!(
            "SELECT c.COLUMN_NAME, k.ID FROM information_schema.COLUMNS c JOIN information_schema.COLLATIONS k \
             ON k.COLLATION_NAME = c.COLLATION_NAME WHERE c.TABLE_SCHEMA = '{}' AND c.TABLE_NAME = '{}'",
            esc(schema),
            esc(physical)
        );
        let packets = conn.query(&sql).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        // column count, 2 definitions, EOF, rows, EOF
        for p in packets.iter().skip(4) {
            if p.first() == Some(&0xfe) && p.len() < 9 {
                break;
            }
            let cells: Vec<Option<&[u8]>> = shardgate_proto::row::TextRow::new(p, 2)
                .cells()
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            if let [Some(name), Some(id)] = cells[..] {
                if let Some(id) = std::str::from_utf8(id)
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok())
                {
                    out.push((name.to_ascii_lowercase(), id));
                }
            }
        }
        let coll: Collations = Arc::new(out);
        self.collations.lock().insert(
            (schema.to_ascii_lowercase(), table.to_ascii_lowercase()),
            coll.clone(),
        );
        Ok(coll)
    }

    /// Sets the column collations of `schema.table` (tests, and callers that
    /// know them).
    pub fn set_collations(&self, schema: &str, table: &str, cols: Vec<(Vec<u8>, u16)>) {
        self.collations.lock().insert(
            (schema.to_ascii_lowercase(), table.to_ascii_lowercase()),
            Arc::new(cols),
        );
    }

    /// DDL changed a table: its collations are read again when needed.
    pub fn forget_collations(&self, schema: &str, table: &str) {
        self.collations
            .lock()
            .remove(&(schema.to_ascii_lowercase(), table.to_ascii_lowercase()));
        self.collation_epoch
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Changes whenever [`RouteState::forget_collations`] runs.
    pub fn collation_epoch(&self) -> u64 {
        self.collation_epoch
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn bucket_map(&self, schema: &str, rule: &str) -> Option<&BucketMap> {
        self.bucket_maps
            .get(&(schema.to_string(), rule.to_string()))
            .map(|m| &**m)
    }

    pub fn lookup(&self, schema: &str, rule: &str) -> Option<&LookupRouter> {
        self.lookups
            .get(&(schema.to_string(), rule.to_string()))
            .map(|l| &**l)
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
