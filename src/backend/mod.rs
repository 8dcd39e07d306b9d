//! Backend groups and nodes. The non-blocking backend connection state
//! machine and the per-I/O-thread pools live in `reactor::backend`; this
//! module holds what runs outside the reactor: the blocking client used for
//! out-of-band statements (KILL QUERY, health probes, lookup directory reads).

pub mod blocking;
