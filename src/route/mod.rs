//! Routing: worker threads turn a client's COM_QUERY into a [`Plan`] —
//! where it runs, what it does to the session (schema, replayable `SET`s,
//! reasons to pin the session to its backend connection), or a local reply.
//!
//! Workers receive [`Job`]s from every I/O thread over one bounded crossbeam
//! channel and send each plan back to the I/O thread that asked, over its
//! inbox, waking it with its mio `Waker`. The packet bytes travel with the
//! job and come back in the plan, so nothing is copied twice.

#[cfg(test)]
mod corpus_tests;
pub mod crc32;
pub mod diagnostics;
pub mod infile;
pub mod keyvalue;
pub mod literal;
pub mod local;
pub mod lookup;
mod planner;
pub mod point;
pub mod row_count;
pub mod rules;
mod scatter;
pub mod shard;
pub mod state;

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use shardgate_proto::error_codes::{self as ec, ErrorCode};

use crate::config::Topology;
use crate::reactor::{Inbound, Shared};
use crate::session::{Assignment, PinReasons};

pub use planner::{plan_prepared, plan_query};

/// What a worker needs to know about the session.
#[derive(Debug, Clone, Default)]
pub struct RouteCtx {
    pub schema: Option<String>,
    pub user: String,
    pub conn_id: u32,
    pub backslash_escapes: bool,
    /// Multi-statements are allowed (capability or COM_SET_OPTION).
    pub multi_statements: bool,
    pub in_transaction: bool,
    /// The session's `@@shardgate_shard_key` literal, if set.
    pub shard_key: Option<Vec<u8>>,
    /// The client's capabilities (for results shardgate builds itself).
    pub caps: shardgate_proto::capability::Capabilities,
    /// The character set of the statement's string literals
    /// (`character_set_client`), when shardgate can convert it: string
    /// shard keys are placed by the bytes the key column stores.
    pub client_charset: Option<crate::merge::charset::Charset>,
    /// User variables a query assigned (`SELECT @v := ...`, `... INTO @v`,
    /// `SET @v = expr`), by name (lowercased, without `@` and quotes), with
    /// the group whose session connection alone holds each value:
    /// shardgate cannot repeat those elsewhere.
    pub user_vars_by_query: Vec<(String, String)>,
    /// What `ROW_COUNT()` must answer: the affected rows of the client's
    /// previous statement (-1 after rows or an error), which may have run
    /// on other connections (`route::row_count`). `None` before any.
    pub row_count: Option<i64>,
    /// The nodes whose reply to the previous statement carried warnings or
    /// an error, with their groups; empty when it raised none; `None` when
    /// unknown (`route::diagnostics`).
    pub warnings_on: Option<Vec<(String, SocketAddr)>>,
    /// The previous statement's diagnostics: (warnings and errors, errors).
    pub diagnostics_count: (u64, u64),
    /// What FOUND_ROWS() answers (`route::row_count`).
    pub found_rows: row_count::FoundRows,
    /// `LOAD DATA LOCAL` into a sharded or broadcast table: the file the
    /// client sent after [`Action::ReadInfile`], to split over the shards.
    pub infile: Option<std::sync::Arc<Vec<u8>>>,
}

/// A COM_QUERY to route.
pub struct Job {
    pub io: usize,
    pub token: usize,
    pub gen: u64,
    /// The command payload (command byte first).
    pub payload: Vec<u8>,
    pub ctx: RouteCtx,
}

/// What a statement does to the session when it succeeds.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    // (boxed: rare, and it keeps `Action` small)
    pub use_schema: Option<Box<String>>,
    pub set_vars: Vec<Assignment>,
    pub pin: PinReasons,
    pub unpin: PinReasons,
    /// The backend connection's session is reset (COM_RESET_CONNECTION).
    pub reset_backend: bool,
    /// The statement calls LAST_INSERT_ID(): the connection it runs on must
    /// carry the session's value.
    pub needs_last_insert_id: bool,
    /// The statement ends the session's transaction (COMMIT / ROLLBACK).
    pub end_txn: bool,
    /// ... `AND CHAIN`: a new one starts at once, alike (the lazily
    /// replayed BEGIN is kept).
    pub txn_chain: bool,
    /// ... `RELEASE`: the client is disconnected once it has the reply.
    pub release_client: bool,
    /// Commits the session's transaction before it runs, as one server
    /// does for DDL, LOCK TABLES, GRANT, FLUSH: with sharding the session's
    /// connections it does not run on get COMMIT with it
    /// (`reactor/command.rs`), and the transaction is over after it.
    pub implicit_commit: bool,
    /// A plain read (SELECT without locking clause, user variables,
    /// FOUND_ROWS()/LAST_INSERT_ID()/ROW_COUNT(), GET_LOCK, or a `master`
    /// hint): it may run on a replica.
    pub replica_ok: bool,
    /// May change data: reads after it go to the master for the
    /// read-your-writes window.
    pub write: bool,
    /// What the statement is, for the statement counters.
    pub kind: crate::stats::QueryKind,
    /// DDL on these sharded tables (schema, table): their cached columns
    /// are forgotten again once the statement is over, so a read made
    /// while it ran is not kept.
    pub forget_columns: Option<Box<Vec<(String, String)>>>,
    /// `autocommit` goes back to its default (`SET autocommit = 1`): no
    /// longer replayed.
    pub reset_autocommit: bool,
    /// Runs on every backend the session holds (and on its default target
    /// when it holds none): `SET autocommit` with sharding, so that every
    /// group's connection leaves or enters autocommit mode together.
    pub on_attached: bool,
    /// LOCK TABLES with sharding: the session's connections to nodes the
    /// statement does not run on get `UNLOCK TABLES` with it, since a new
    /// LOCK TABLES releases every lock the session held.
    pub unlock_elsewhere: bool,
    /// SHOW WARNINGS / ERRORS sent to the nodes that hold the previous
    /// statement's diagnostics (`route::diagnostics`): they are kept.
    pub reads_diagnostics: bool,
    /// The targets' nodes are kept as given (no read/write split): the
    /// statement reads what the previous one left on that connection.
    pub exact_node: bool,
    /// `SELECT SQL_CALC_FOUND_ROWS`: FOUND_ROWS() asks its node next.
    pub calc_found_rows: bool,
    /// User variables the statement assigns (boxed: rare, and plans stay
    /// small).
    pub user_vars: Option<Box<UserVarAssignments>>,
}

/// The LIMIT of an UPDATE/DELETE counted down over its targets, which run
/// one after the other in their order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitCountdown {
    /// The statement's LIMIT.
    pub rows: u64,
    /// An UPDATE: its LIMIT counts the rows it matched (not those changed).
    pub matched_rows: bool,
    /// Where the LIMIT's number is in each target's SQL.
    pub at: Vec<Range<usize>>,
    /// The next target to start.
    pub next: usize,
}

/// User variables a statement assigns, by name (lowercased, without `@`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserVarAssignments {
    /// Assigned from a query (`SELECT @v := ...`, `INTO @v`, `SET @v =
    /// expr`): the values live on the connections the statement ran on.
    pub by_query: Vec<String>,
    /// Set to a literal: replayed on every connection.
    pub literal: Vec<String>,
}

/// One backend a statement goes to.
#[derive(Debug, Clone)]
pub struct RouteTarget {
    pub group: String,
    pub addr: SocketAddr,
    /// The SQL to run there; `None` = the client's statement unchanged.
    pub sql: Option<Vec<u8>>,
    /// `LOAD DATA LOCAL`: the file's bytes this target loads, sent when
    /// the server asks for the file.
    pub infile: Option<Vec<u8>>,
}

/// How the replies of several targets become one reply.
#[derive(Debug, Clone, Default)]
pub enum Gather {
    /// One target: its reply is relayed byte for byte.
    #[default]
    Relay,
    /// Writes / DDL on several targets: one OK with the affected rows summed
    /// (the first ERR wins). With a countdown (an UPDATE/DELETE with LIMIT,
    /// `route::shard::write_limit`) the targets run one after the other,
    /// each with the LIMIT left.
    SumOk(Option<Box<LimitCountdown>>),
    /// The same statement on every group (broadcast writes, DDL): one OK
    /// with the affected rows of one group (the first ERR wins).
    SameOk,
    /// A SELECT on several shards: result sets merged (`crate::merge`).
    Merge(Box<crate::merge::MergeSpec>),
    /// SHOW TABLES / information_schema on one group: physical table names
    /// shown as logical ones (`crate::merge::rename`).
    Rename(Box<crate::merge::rename::RenameSpec>),
}

#[derive(Debug)]
pub enum Action {
    /// Send the statement to these nodes and gather their replies.
    Forward {
        targets: Vec<RouteTarget>,
        gather: Gather,
        effects: Effects,
    },
    /// Answer the client with this packet payload (OK or ERR).
    Reply(Vec<u8>),
    /// Answer the client with these framed packets (a result set made by
    /// shardgate, sequence ids from 1).
    ReplyPackets(Vec<u8>),
    /// KILL \[QUERY\] of a shardgate connection id.
    Kill { id: u32, query_only: bool },
    /// Planning needs blocking I/O: plan again on a worker.
    Defer,
    /// BEGIN / START TRANSACTION with sharding: opened lazily on each
    /// backend the transaction touches (the statement is replayed there).
    Begin(Vec<u8>),
    /// COMMIT / ROLLBACK with sharding: sent to every backend the session
    /// holds (`chain`: AND CHAIN, `release`: RELEASE).
    EndTxn { chain: bool, release: bool },
    /// SAVEPOINT / ROLLBACK TO SAVEPOINT / RELEASE SAVEPOINT with sharding
    /// (`name` as written): the session keeps the transaction's
    /// savepoints, runs the statement on its backends in the transaction
    /// and sets the savepoints on each backend the transaction reaches
    /// later (`reactor::savepoint`).
    Savepoint { op: SavepointOp, name: Vec<u8> },
    /// `SET @@shardgate_shard_key = v` (`None`: cleared).
    SetShardKey(Option<Vec<u8>>),
    /// `SET @@shardgate_use_master = ON|OFF`: the session's reads go to the
    /// master (no replica) while on.
    SetUseMaster(bool),
    /// A multi-statement query naming sharded tables: split it and run its
    /// statements one after the other (`reactor::multi`).
    SplitMulti,
    /// `LOAD DATA LOCAL INFILE` into a sharded or broadcast table: ask the
    /// client for `file`, then plan the statement again with the file's
    /// bytes (`RouteCtx::infile`), which go to the shards their records
    /// belong to (`reactor::load_data`).
    ReadInfile { file: Vec<u8> },
}

/// The COM_QUERY payload that releases a connection's table locks (sent
/// where a new LOCK TABLES does not run: `Effects::unlock_elsewhere`).
pub const UNLOCK_TABLES_PAYLOAD: &[u8] = b"\x03UNLOCK TABLES";

/// The COM_QUERY payload that commits a connection's transaction (sent
/// where a statement that commits implicitly does not run:
/// `Effects::implicit_commit`).
pub const COMMIT_PAYLOAD: &[u8] = b"\x03COMMIT";

/// What a savepoint statement does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavepointOp {
    Set,
    RollbackTo,
    Release,
}

pub struct Plan {
    pub token: usize,
    pub gen: u64,
    pub payload: Vec<u8>,
    pub action: Action,
}

/// The ERR payload for a routing refusal.
pub fn err(code: ErrorCode, msg: &str) -> Action {
    let mut p = Vec::with_capacity(msg.len() + 9);
    ec::write_err(&mut p, code, msg);
    Action::Reply(p)
}

/// The group (and its master's address) that holds a schema's unsharded
/// tables: the schema's `default_group`, else `server.default_group`.
pub fn default_target(
    topo: &Topology,
    schema: Option<&str>,
) -> Result<(String, SocketAddr), (ErrorCode, String)> {
    let group_name = match schema.and_then(|s| topo.schema(s)) {
        Some(s) => Some(s.default_group.as_str()),
        None => topo.server.default_group.as_deref(),
    };
    let Some(group_name) = group_name else {
        let name = schema.unwrap_or("");
        return Err((ec::ER_BAD_DB_ERROR, format!("Unknown database '{name}'")));
    };
    let Some(group) = topo.group(group_name) else {
        return Err((
            ec::ER_UNKNOWN_ERROR,
            format!("shardgate: group '{group_name}' is not configured"),
        ));
    };
    master_addr(topo, group_name)
        .map(|a| (group.name.clone(), a))
        .ok_or_else(|| {
            (
                ec::BACKEND_UNREACHABLE,
                format!(
                    "shardgate: cannot resolve group '{}' master {}",
                    group.name, group.master.text
                ),
            )
        })
}

/// The address of group `group`'s master (its host name resolved when the
/// configuration did not give an address); `None` for an unknown group
/// or a name that does not resolve.
pub(crate) fn master_addr(topo: &Topology, group: &str) -> Option<SocketAddr> {
    let g = topo.group(group)?;
    g.master
        .socket
        .or_else(|| resolve(&g.master.host, g.master.port))
}

fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    (host, port).to_socket_addrs().ok()?.next()
}

/// A worker thread: plans jobs until the channel closes.
pub fn run_worker(jobs: Receiver<Job>, shared: Arc<Shared>) {
    while let Ok(job) = jobs.recv() {
        let topo = shared.topology();
        let state = shared.route_state();
        let action = plan_query(
            &topo,
            &state,
            &job.ctx,
            job.payload.get(1..).unwrap_or_default(),
            true,
        );
        let plan = Plan {
            token: job.token,
            gen: job.gen,
            payload: job.payload,
            action,
        };
        shared.send_to_io(job.io, Inbound::Plan(plan));
    }
}
