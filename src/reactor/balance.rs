//! Which node of a group runs a statement: the read/write split and the
//! replica balancing policies.
//!
//! The planner says which group a target goes to (its `addr` is the
//! group's master) and whether the statement may read from a replica
//! (`Effects::replica_ok`); the I/O thread decides per statement:
//! - a write, a locking read, anything in a transaction or on a pinned
//!   session, a session with `@@shardgate_use_master` on, and a session
//!   within `server.read_your_writes` of its last write: the master;
//! - other reads: a replica the health table calls readable (up, replicating,
//!   lag <= `health.max_replica_lag`), chosen by the group's `balance`:
//!   `random`, `weighted` (smooth weighted round robin: exact shares),
//!   `round_robin`, `least_connections` (fewest busy backend connections,
//!   all I/O threads);
//! - with the master down, every replica that is up takes reads (they
//!   cannot replicate, but hold what the master sent them);
//! - no readable replica: the master (`read_fallback = "master"`, default)
//!   or an error naming the group (`"error"`).
//!
//! A master that is down (probes or operator) fails its statements at
//! once with an error naming the group and node instead of waiting for a
//! connect timeout.
//!
//! Balancing state is per I/O thread (no shared counters on the hot path).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::{Balance, Group, ReadFallback, Topology};
use crate::health::{HealthTable, NodeEntry, NodeState};
use crate::stats::Metrics;

/// The health entries of one group's nodes (`None`: not in the table).
#[derive(Debug)]
struct GroupNodes {
    master: Option<Arc<NodeEntry>>,
    replicas: Vec<Option<Arc<NodeEntry>>>,
}

/// Per-I/O-thread balancing state.
#[derive(Debug)]
pub(super) struct Balancer {
    /// The topology the entries below were looked up for (kept alive, so a
    /// new topology never reuses its address) and, per group in config
    /// order, its nodes' health entries: no string lookups per statement.
    nodes: Option<(Arc<Topology>, Vec<GroupNodes>)>,
    /// Round robin position per group.
    next: HashMap<String, usize>,
    /// Smooth weighted round robin: current weight per replica, per group.
    current: HashMap<String, Vec<i64>>,
    rng: u64,
}

impl Balancer {
    pub fn new(seed: u64) -> Balancer {
        Balancer {
            nodes: None,
            next: HashMap::new(),
            current: HashMap::new(),
            rng: seed | 1,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The node for a statement on `group` (whose master is `master`).
    /// `read`: the statement may run on a replica, never on `avoid` (a
    /// replica that just failed it). Errors are messages for the client.
    #[allow(clippy::too_many_arguments)]
    pub fn choose(
        &mut self,
        topo: &Arc<Topology>,
        health: &HealthTable,
        metrics: &Metrics,
        group: &str,
        master: SocketAddr,
        read: bool,
        avoid: Option<SocketAddr>,
    ) -> Result<SocketAddr, String> {
        if !self
            .nodes
            .as_ref()
            .is_some_and(|(t, _)| Arc::ptr_eq(t, topo))
        {
            let groups = topo
                .groups
                .iter()
                .map(|g| GroupNodes {
                    master: health.entry(&g.master.text),
                    replicas: g
                        .replicas
                        .iter()
                        .map(|r| health.entry(&r.addr.text))
                        .collect(),
                })
                .collect();
            self.nodes = Some((topo.clone(), groups));
        }
        let Some(gi) = topo.groups.iter().position(|g| g.name == group) else {
            return Ok(master);
        };
        let g = &topo.groups[gi];
        let Some(nodes) = self.nodes.as_ref().and_then(|(_, n)| n.get(gi)) else {
            return Ok(master);
        };
        // Unknown nodes (not in the table) may take writes, not reads.
        let master_up = nodes
            .master
            .as_ref()
            .is_none_or(|e| e.effective() == NodeState::Up);
        let max_lag = topo.health.max_replica_lag;
        if read && !g.replicas.is_empty() {
            // With the master down, replicas cannot replicate (their I/O
            // thread reconnects, lag unknown) but hold everything it sent
            // them: reads continue on every replica that is up.
            let ready: Vec<(usize, SocketAddr)> = g
                .replicas
                .iter()
                .enumerate()
                .filter(|(i, _)| {
                    nodes
                        .replicas
                        .get(*i)
                        .and_then(|e| e.as_ref())
                        .is_some_and(|e| {
                            e.readable(max_lag)
                                || (!master_up && e.effective() == NodeState::Up && e.is_replica())
                        })
                })
                .filter_map(|(i, r)| r.addr.socket.map(|a| (i, a)))
                .filter(|&(_, a)| Some(a) != avoid)
                .collect();
            if !ready.is_empty() {
                return Ok(self.pick(g, &ready, metrics));
            }
            if g.read_fallback == ReadFallback::Error {
                let why: Vec<String> = g
                    .replicas
                    .iter()
                    .map(|r| {
                        let why = health
                            .entry(&r.addr.text)
                            .map_or_else(|| "unknown".to_string(), |e| e.why(max_lag));
                        format!("{} {why}", r.addr.text)
                    })
                    .collect();
                return Err(format!(
                    "shardgate: group '{}' has no replica that can take reads ({}); read_fallback = \"error\"",
                    g.name,
                    why.join("; ")
                ));
            }
        }
        if !master_up {
            let why = nodes
                .master
                .as_ref()
                .map_or_else(|| "down".to_string(), |e| e.why(max_lag));
            return Err(format!(
                "shardgate: group '{}' master {} is down ({why}); its writes fail until it is back",
                g.name, g.master.text
            ));
        }
        Ok(master)
    }

    fn pick(&mut self, g: &Group, ready: &[(usize, SocketAddr)], metrics: &Metrics) -> SocketAddr {
        if ready.len() == 1 {
            return ready[0].1;
        }
        match g.balance {
            Balance::Random => ready[(self.random() % ready.len() as u64) as usize].1,
            Balance::RoundRobin => {
                let n = self.next.entry(g.name.clone()).or_insert(0);
                *n = n.wrapping_add(1);
                ready[*n % ready.len()].1
            }
            Balance::LeastConnections => {
                let start = (self.random() % ready.len() as u64) as usize;
                let mut best = ready[start].1;
                let mut best_busy = i64::MAX;
                for k in 0..ready.len() {
                    let (_, a) = ready[(start + k) % ready.len()];
                    let busy = metrics.node(a).busy.load(Ordering::Relaxed);
                    if busy < best_busy {
                        best = a;
                        best_busy = busy;
                    }
                }
                best
            }
            Balance::Weighted => {
                // Smooth weighted round robin over the ready replicas: each
                // adds its weight, the largest is chosen and pays the total.
                let current = self
                    .current
                    .entry(g.name.clone())
                    .or_insert_with(|| vec![0; g.replicas.len()]);
                if current.len() != g.replicas.len() {
                    *current = vec![0; g.replicas.len()];
                }
                let mut total = 0i64;
                let mut best: Option<(usize, SocketAddr)> = None;
                for &(i, a) in ready {
                    let w = i64::from(g.replicas[i].weight);
                    current[i] += w;
                    total += w;
                    if best.is_none_or(|(b, _)| current[i] > current[b]) {
                        best = Some((i, a));
                    }
                }
                match best {
                    Some((i, a)) => {
                        current[i] -= total;
                        a
                    }
                    None => ready[0].1,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(balance: &str, fallback: &str) -> Topology {
        let text = format!(
            r#"
[server]
listen = "127.0.0.1:3307"
metadata_file = "/tmp/x.meta"
default_group = "g0"
[[user]]
name = "app"
password = "p"
schemas = ["*"]
[backend]
user = "sg"
password = "p"
[[group]]
name = "g0"
master = "127.0.0.1:4000"
replicas = [ {{ addr = "127.0.0.1:4001", weight = 3 }}, {{ addr = "127.0.0.1:4002", weight = 1 }} ]
balance = "{balance}"
read_fallback = "{fallback}"
"#
        );
        crate::config::parse(&text).expect("config")
    }

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    /// Marks a replica readable: a probe saw it replicating with no lag.
    fn healthy(h: &HealthTable, a: &str) {
        use crate::health::{ProbeOutcome, Replication};
        h.record_for(
            a,
            ProbeOutcome::Ok {
                replication: Some(Replication {
                    is_replica: true,
                    running: true,
                    lag: Some(std::time::Duration::ZERO),
                    detail: String::new(),
                }),
            },
        )
        .expect("known node");
    }

    fn shares(balance: &str, n: usize) -> HashMap<SocketAddr, usize> {
        let t = Arc::new(topo(balance, "master"));
        let h = HealthTable::new(&t);
        healthy(&h, "127.0.0.1:4001");
        healthy(&h, "127.0.0.1:4002");
        let m = Metrics::default();
        let mut b = Balancer::new(42);
        let mut out = HashMap::new();
        for _ in 0..n {
            let a = b.choose(&t, &h, &m, "g0", addr(4000), true, None).unwrap();
            *out.entry(a).or_insert(0) += 1;
        }
        out
    }

    #[test]
    fn weighted_shares_are_exact() {
        let s = shares("weighted", 4000);
        assert_eq!(s.get(&addr(4001)), Some(&3000));
        assert_eq!(s.get(&addr(4002)), Some(&1000));
        assert_eq!(s.get(&addr(4000)), None, "the master takes no reads");
    }

    #[test]
    fn round_robin_and_random_use_every_replica() {
        let s = shares("round_robin", 1000);
        assert_eq!(s.get(&addr(4001)), Some(&500));
        let s = shares("random", 1000);
        assert!(s[&addr(4001)] > 400 && s[&addr(4002)] > 400, "{s:?}");
    }

    #[test]
    fn writes_go_to_the_master_and_a_down_master_fails_fast() {
        let t = Arc::new(topo("weighted", "master"));
        let h = HealthTable::new(&t);
        healthy(&h, "127.0.0.1:4001");
        let m = Metrics::default();
        let mut b = Balancer::new(1);
        assert_eq!(
            b.choose(&t, &h, &m, "g0", addr(4000), false, None),
            Ok(addr(4000))
        );
        h.set_operator("127.0.0.1:4000", crate::health::Override::Down)
            .unwrap();
        let e = b
            .choose(&t, &h, &m, "g0", addr(4000), false, None)
            .unwrap_err();
        assert!(
            e.contains("group 'g0' master 127.0.0.1:4000 is down"),
            "{e}"
        );
        // Reads still go to the readable replica.
        assert_eq!(
            b.choose(&t, &h, &m, "g0", addr(4000), true, None),
            Ok(addr(4001))
        );
    }

    #[test]
    fn no_readable_replica_falls_back_or_fails() {
        let t = Arc::new(topo("round_robin", "master"));
        let h = HealthTable::new(&t);
        let m = Metrics::default();
        let mut b = Balancer::new(1);
        // Not probed yet: replicas take no reads, the master does.
        assert_eq!(
            b.choose(&t, &h, &m, "g0", addr(4000), true, None),
            Ok(addr(4000))
        );
        let t = Arc::new(topo("round_robin", "error"));
        let h = HealthTable::new(&t);
        let e = b
            .choose(&t, &h, &m, "g0", addr(4000), true, None)
            .unwrap_err();
        assert!(e.contains("no replica that can take reads"), "{e}");
    }
}
