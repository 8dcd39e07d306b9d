//! Counters the I/O threads update and the admin port / metrics endpoint
//! read: statements by kind, statement latency histogram, and per backend
//! node the statements sent, errors, and connections open / busy. Plain
//! relaxed atomics; node counters are looked up once per statement by the
//! node's socket address (a read-locked map, entries never removed while
//! the process runs, so a node that left the config keeps its totals).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

/// Statement kinds counted separately (the planner sets them from
/// `sql::classify`; statements it does not plan count as `Other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryKind {
    Select,
    Insert,
    Update,
    Delete,
    #[default]
    Other,
}

impl QueryKind {
    pub const ALL: [QueryKind; 5] = [
        QueryKind::Select,
        QueryKind::Insert,
        QueryKind::Update,
        QueryKind::Delete,
        QueryKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::Select => "select",
            QueryKind::Insert => "insert",
            QueryKind::Update => "update",
            QueryKind::Delete => "delete",
            QueryKind::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Upper bounds (seconds) of the latency histogram buckets; the last
/// bucket (+Inf) is implicit.
pub const LATENCY_BOUNDS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// [`LATENCY_BOUNDS`] in microseconds (integer compares on the hot path).
const LATENCY_BOUNDS_MICROS: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];

/// Counters of one backend node.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// Statements (targets) sent to this node.
    pub queries: AtomicU64,
    /// Of those, answered with an error or lost.
    pub errors: AtomicU64,
    /// Backend connections open to the node (all I/O threads).
    pub open: AtomicI64,
    /// Of those, running a statement right now.
    pub busy: AtomicI64,
}

/// Process-wide statement counters.
#[derive(Debug, Default)]
pub struct Metrics {
    by_kind: [AtomicU64; 5],
    errors_by_kind: [AtomicU64; 5],
    latency: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    latency_sum_micros: AtomicU64,
    nodes: RwLock<HashMap<SocketAddr, Arc<NodeStats>>>,
}

impl Metrics {
    /// One client statement finished after `elapsed`.
    pub fn statement(&self, kind: QueryKind, elapsed: Duration, error: bool) {
        self.by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors_by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
        }
        let micros = elapsed.as_micros() as u64;
        let bucket = LATENCY_BOUNDS_MICROS.partition_point(|&b| b < micros);
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counters of `node` (created on first use).
    pub fn node(&self, node: SocketAddr) -> Arc<NodeStats> {
        if let Some(n) = self.nodes.read().get(&node) {
            return n.clone();
        }
        self.nodes.write().entry(node).or_default().clone()
    }

    /// Statements of `kind` so far, and how many of them failed.
    pub fn count(&self, kind: QueryKind) -> (u64, u64) {
        (
            self.by_kind[kind.index()].load(Ordering::Relaxed),
            self.errors_by_kind[kind.index()].load(Ordering::Relaxed),
        )
    }

    /// The latency histogram: per bucket (non-cumulative) counts, the last
    /// one above every bound; and the sum of all latencies.
    pub fn latency(&self) -> (Vec<u64>, Duration) {
        let counts = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let sum = Duration::from_micros(self.latency_sum_micros.load(Ordering::Relaxed));
        (counts, sum)
    }

    /// Every node seen so far with its counters.
    pub fn nodes(&self) -> Vec<(SocketAddr, Arc<NodeStats>)> {
        let mut v: Vec<_> = self
            .nodes
            .read()
            .iter()
            .map(|(a, n)| (*a, n.clone()))
            .collect();
        v.sort_by_key(|e| e.0);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_bounds_match_the_published_ones() {
        for (s, m) in LATENCY_BOUNDS.iter().zip(LATENCY_BOUNDS_MICROS) {
            assert_eq!((s * 1e6).round() as u64, m);
        }
    }

    #[test]
    fn histogram_and_counts() {
        let m = Metrics::default();
        m.statement(QueryKind::Select, Duration::from_micros(50), false);
        m.statement(QueryKind::Select, Duration::from_millis(3), true);
        m.statement(QueryKind::Delete, Duration::from_secs(10), false);
        assert_eq!(m.count(QueryKind::Select), (2, 1));
        assert_eq!(m.count(QueryKind::Delete), (1, 0));
        let (h, sum) = m.latency();
        assert_eq!(h[0], 1);
        assert_eq!(h[5], 1); // <= 5 ms
        assert_eq!(h[LATENCY_BOUNDS.len()], 1);
        assert_eq!(sum, Duration::from_micros(10_003_050));
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        m.node(a).queries.fetch_add(2, Ordering::Relaxed);
        assert_eq!(m.nodes()[0].1.queries.load(Ordering::Relaxed), 2);
    }
}
