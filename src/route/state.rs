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

#[derive(Default)]
pub struct RouteState {
    bucket_maps: HashMap<(String, String), Arc<BucketMap>>,
    lookups: HashMap<(String, String), Arc<LookupRouter>>,
    /// Schemas with at least one sharded or broadcast table.
    sharded_schemas: Vec<String>,
}

impl RouteState {
    pub fn build(topo: &Topology) -> RouteState {
        let mut st = RouteState::default();
        for schema in &topo.schemas {
            if !schema.tables.is_empty() {
                st.sharded_schemas.push(schema.name.clone());
            }
            for rule in &schema.rules {
                let key = (schema.name.clone(), rule.name.clone());
                match &rule.kind {
                    RuleKind::Bucket { .. } => {
                        if let Some(map) = BucketMap::for_rule(rule) {
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
        st
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
