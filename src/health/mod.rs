//! Node health: active probes of every backend node and the shared table of
//! node states that routing consults (issue: health checks, replica lag,
//! operator push).
//!
//! - `table`: [`HealthTable`], one [`NodeEntry`] of atomics per node (probe
//!   state, operator override, replication lag and running flag, counters,
//!   state epoch); the down/up state machine; what the admin port shows
//!   ([`NodeReport`]) and sets ([`Override`]).
//! - `probe`: [`Prober`], one thread per node that connects, logs in and
//!   runs `SELECT 1` (masters) or `SHOW SLAVE STATUS` (replicas) every
//!   `health.interval`, bounded by `health.timeout`, and records the result.
//! - `failover`: [`Failover`], the thread that promotes a replica when a
//!   `failover = "promote"` group's master goes down ([`Promotion`],
//!   [`apply_promotions`]) and fences the old master when it returns.
//!
//! Nothing here runs on an I/O thread: the reactor only reads the table.

pub mod failover;
pub mod probe;
pub mod table;

pub use failover::{apply_promotions, Failover, FailoverHandle, Promotion};
pub use probe::{Prober, ProberHandle};
pub use table::{
    HealthTable, NodeEntry, NodeReport, NodeState, Override, ProbeOutcome, ProbeState, Recorded,
    Replication, Role, UnknownNode, LAG_UNKNOWN,
};
