//! [`Merger`]: one scattered SELECT's result sets from N shards in, one
//! result set for the client out. The reactor feeds each shard's packets as
//! they arrive ([`Merger::feed`]), asks which shards to keep reading
//! ([`Merger::wants_more`]) and writes what [`Merger::poll_output`] appends
//! to the client. Sans-io: no sockets, no clock.
//!
//! Pipeline: per-shard state machine (column count, definitions, EOF unless
//! `CLIENT_DEPRECATE_EOF`, rows, terminator or ERR) → source (union in
//! arrival order; k-way merge by ORDER BY; groups merged as they stream when
//! the ORDER BY is the GROUP BY; else groups in a hash map, sorted at the
//! end) → HAVING → DISTINCT → OFFSET/LIMIT → hidden columns dropped → client.
//!
//! The column definitions go out only when every shard has sent its own
//! (they must agree) and a first row is ready or the input is complete, so
//! most failures (a missing table on one shard, an unsupported collation)
//! reach the client as a single ERR. An ERR after that follows the rows
//! already sent, which the protocol allows.
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_text_resultset.html>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html>
//! <https://mariadb.com/kb/en/result-set-packets/>

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::column::{column_count, ColumnDefinition41, ColumnFlags, ColumnType};
use shardgate_proto::error_codes::{
    write_err_for, ErrorCode, ER_NOT_SUPPORTED_YET, ER_OUT_OF_RESOURCES, ER_UNKNOWN_ERROR,
};
use shardgate_proto::frame::write_packet;
use shardgate_proto::response::{
    is_progress_report, is_result_terminator, EofPacket, ErrPacket, OkPacket, EOF_HEADER,
    ERR_HEADER, LOCAL_INFILE_HEADER, OK_HEADER,
};
use shardgate_proto::{ProtoError, Result};

use super::aggregate::{Group, GroupPlan};
use super::collation::Collation;
use super::enums::EnumDef;
use super::key::{cell_key, ColMeta, Key};
use super::ok::StatusMerge;
use super::row::Row;
use super::sort::{RowOrder, ShardHeap};
use super::spec::{Aggregate, MergeSpec};

mod output;

/// Most columns a shard result may have (MariaDB's limit is 4096).
const MAX_COLUMNS: u64 = 4096;

/// What a fed packet meant for its shard's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardReply {
    /// More packets of this shard's reply follow.
    Pending,
    /// The packet ended the shard's reply (its terminator or an ERR): the
    /// backend connection is idle again.
    Complete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Count,
    Defs(usize),
    DefsEof,
    Rows,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Union,
    Sorted,
    GroupStream,
    GroupHash,
}

#[derive(Debug)]
struct Shard {
    phase: Phase,
    types: Vec<(ColumnType, bool)>,
    /// Definitions, kept until the first shard completes its own.
    defs: Vec<Vec<u8>>,
    /// Sorted modes: rows waiting for the k-way merge.
    queue: VecDeque<Row>,
    /// Union: rows of this shard in the union queue.
    queued: usize,
}

/// The scatter-gather merger of one statement. See the module docs of
/// [`super`] for the API contract and the SQL rewrites it expects.
#[derive(Debug)]
pub struct Merger {
    spec: MergeSpec,
    caps: Capabilities,
    mode: Mode,
    shards: Vec<Shard>,
    columns_known: bool,
    defs: Vec<Vec<u8>>,
    types: Vec<(ColumnType, bool)>,
    in_meta: Vec<ColMeta>,
    in_colls: Vec<Option<Collation>>,
    /// The members of each ENUM/SET column whose definition is known.
    in_enums: Vec<Option<Arc<EnumDef>>>,
    emit_meta: Vec<ColMeta>,
    emit_colls: Vec<Option<Collation>>,
    plan: Option<GroupPlan>,
    /// The ORDER BY over the shards' rows (sorted and streamed-group modes).
    order: RowOrder,
    heap: ShardHeap,
    /// Unfinished shards with nothing buffered (the k-way merge waits).
    waiting: usize,
    /// Bytes of the rows in the shards' queues (`spec.max_buffered_bytes`).
    buffered_bytes: usize,
    union: VecDeque<(usize, Row)>,
    groups: HashMap<Vec<Key>, usize>,
    group_list: Vec<Group>,
    /// Streamed groups: the current group (its first row compares with
    /// the next rows).
    current: Option<Group>,
    seen: HashSet<Vec<Key>>,
    /// Values held in the groups' `COUNT(DISTINCT ...)` sets (bounded by
    /// `spec.max_groups`, like the groups).
    distinct_values: usize,
    /// DISTINCT over rows sorted on every visible column: duplicates are
    /// adjacent, so only the last distinct row is kept (no set).
    distinct_adjacent: bool,
    /// Sorted mode: the last row the k-way merge gave. The next one must
    /// not sort before it (a shard that sorts differently from the merge
    /// is caught there, one comparison per row), and equals it when it is
    /// an adjacent duplicate. With the shard it came from.
    last_sorted: Option<(usize, Row)>,
    skipped: u64,
    emitted: u64,
    header_sent: bool,
    failure: Option<Vec<u8>>,
    finished: bool,
    done: bool,
    def_status: StatusMerge,
    end_status: StatusMerge,
    warnings: u32,
    session_status: StatusFlags,
}

type Fail = (ErrorCode, String);

impl Merger {
    /// A merger for `shards` result sets answering one statement, towards
    /// a client with capabilities `client_caps` (the backends negotiated the
    /// same `CLIENT_DEPRECATE_EOF`, see the architecture's "protocol
    /// flavour").
    pub fn new(spec: MergeSpec, shards: usize, client_caps: Capabilities) -> Merger {
        let mode = if spec.grouped() {
            if spec.streams_groups() {
                Mode::GroupStream
            } else {
                Mode::GroupHash
            }
        } else if spec.order_by.is_empty() {
            Mode::Union
        } else {
            Mode::Sorted
        };
        let mut m = Merger {
            spec,
            caps: client_caps,
            mode,
            shards: (0..shards)
                .map(|_| Shard {
                    phase: Phase::Count,
                    types: Vec::new(),
                    defs: Vec::new(),
                    queue: VecDeque::new(),
                    queued: 0,
                })
                .collect(),
            columns_known: false,
            defs: Vec::new(),
            types: Vec::new(),
            in_meta: Vec::new(),
            in_colls: Vec::new(),
            in_enums: Vec::new(),
            emit_meta: Vec::new(),
            emit_colls: Vec::new(),
            plan: None,
            order: RowOrder::default(),
            heap: ShardHeap::default(),
            waiting: shards,
            union: VecDeque::new(),
            groups: HashMap::new(),
            group_list: Vec::new(),
            current: None,
            seen: HashSet::new(),
            distinct_values: 0,
            distinct_adjacent: false,
            last_sorted: None,
            skipped: 0,
            emitted: 0,
            buffered_bytes: 0,
            header_sent: false,
            failure: None,
            finished: false,
            done: false,
            def_status: StatusMerge::default(),
            end_status: StatusMerge::default(),
            warnings: 0,
            session_status: StatusFlags::AUTOCOMMIT,
        };
        if shards == 0 {
            m.fail_with(
                ER_UNKNOWN_ERROR,
                "shardgate: internal error: a merge over no shard",
            );
        }
        m
    }

    /// The session's status flags before the statement, used for the
    /// client's EOF/OK when no shard reported any (default AUTOCOMMIT).
    pub fn set_session_status(&mut self, status: StatusFlags) {
        self.session_status = status;
    }

    /// Feeds one packet payload of shard `shard`'s reply. `Err` means the
    /// shard sent bytes that are not a valid reply: close that backend; the
    /// merger has already turned the statement into an ERR for the client.
    /// Packets keep being accepted (and only tracked) after the merger is
    /// satisfied or failed, so the reactor can drain a shard's reply and
    /// learn from [`ShardReply::Complete`] when its connection is idle.
    pub fn feed(&mut self, shard: usize, payload: &[u8]) -> Result<ShardReply> {
        if shard >= self.shards.len() {
            return Err(ProtoError::Invalid {
                what: "merge: no such shard",
            });
        }
        self.feed_shard(shard, payload).inspect_err(|e| {
            self.shard_done(shard);
            self.fail_with(
                ER_UNKNOWN_ERROR,
                &format!("shardgate: malformed reply from shard {shard}: {e}"),
            );
        })
    }

    /// Fails the statement with this error (a backend lost mid-reply, a
    /// timeout): the client gets one ERR, after the rows already sent.
    pub fn abort(&mut self, code: ErrorCode, message: &str) {
        self.fail_with(code, message);
    }

    /// [`Merger::abort`] with an ERR packet shardgate wrote itself (always
    /// in the `PROTOCOL_41` form), re-encoded for the client. False (and
    /// nothing done) when `payload` is not one.
    pub fn abort_with_err(&mut self, payload: &[u8]) -> bool {
        let Ok(err) = ErrPacket::decode(payload, Capabilities::PROTOCOL_41) else {
            return false;
        };
        let mut p = Vec::new();
        err.encode(&mut p, self.caps);
        self.fail(p);
        true
    }

    /// True while shard `shard` should be read: its reply is not over and
    /// the merger needs its rows. False for a shard with `buffer_rows` rows
    /// buffered while the ORDER BY merge waits for another shard (or before
    /// every shard's column definitions are in), and for every shard once
    /// [`Merger::satisfied`]. Reading a shard anyway (to drain it) is fine.
    pub fn wants_more(&self, shard: usize) -> bool {
        let Some(s) = self.shards.get(shard) else {
            return false;
        };
        if s.phase == Phase::Done || self.satisfied() {
            return false;
        }
        if s.phase != Phase::Rows {
            return true;
        }
        let bound = self.spec.buffer_rows.max(1);
        match self.mode {
            Mode::GroupHash => true,
            Mode::Union => s.queued < bound,
            Mode::Sorted | Mode::GroupStream => {
                s.queue.len() < bound
                    || !self
                        .shards
                        .iter()
                        .enumerate()
                        .any(|(i, o)| i != shard && o.phase != Phase::Done && o.queue.is_empty())
            }
        }
    }

    /// True when the client's reply is decided (LIMIT reached, every shard
    /// done, or an error): the merger needs nothing more from the shards;
    /// the reactor may drain or close them.
    pub fn satisfied(&self) -> bool {
        self.finished || self.failure.is_some() || self.done
    }

    /// True once the final packet (EOF/OK or ERR) has been written.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// True once the column definitions have been written to the client.
    /// Rows written to the client so far.
    pub fn rows_emitted(&self) -> u64 {
        match self.spec.count_rows {
            Some(_) => u64::from(self.header_sent),
            None => self.emitted,
        }
    }

    pub fn header_sent(&self) -> bool {
        self.header_sent
    }

    /// Appends every packet ready for the client to `out`, framed from
    /// sequence id `*seq` (left at the next id).
    pub fn poll_output(&mut self, out: &mut Vec<u8>, seq: &mut u8) {
        if self.done {
            return;
        }
        if self.failure.is_none() && !self.finished {
            if let Err((code, msg)) = self.drive(out, seq) {
                self.fail_with(code, &msg);
            }
        }
        if let Some(err) = self.failure.take() {
            write_packet(out, seq, &err);
            self.done = true;
            self.finished = true;
            return;
        }
        if self.finished {
            if self.spec.count_rows.is_some() {
                self.write_count(out, seq);
            } else if !self.header_sent {
                self.write_header(out, seq);
            }
            self.write_final(out, seq);
            self.done = true;
        }
    }

    fn fail(&mut self, err_payload: Vec<u8>) {
        if self.failure.is_none() && !self.done {
            self.failure = Some(err_payload);
        }
    }

    fn fail_with(&mut self, code: ErrorCode, message: &str) {
        if self.failure.is_none() && !self.done {
            let mut p = Vec::new();
            write_err_for(&mut p, self.caps, code, message);
            self.failure = Some(p);
        }
    }

    fn deprecate_eof(&self) -> bool {
        self.caps.contains(Capabilities::DEPRECATE_EOF)
    }

    fn shard_done(&mut self, shard: usize) {
        let s = &mut self.shards[shard];
        if s.phase != Phase::Done {
            s.phase = Phase::Done;
            if s.queue.is_empty() {
                self.waiting -= 1;
            }
        }
    }

    fn feed_shard(&mut self, shard: usize, payload: &[u8]) -> Result<ShardReply> {
        let caps = self.caps;
        let phase = self.shards[shard].phase;
        if phase == Phase::Done {
            return Err(ProtoError::Invalid {
                what: "merge: packet after the end of the reply",
            });
        }
        if payload.first() == Some(&ERR_HEADER) {
            if is_progress_report(payload) {
                return Ok(ShardReply::Pending);
            }
            let err = ErrPacket::decode(payload, caps)?;
            let mut p = Vec::new();
            err.encode(&mut p, caps);
            self.shard_done(shard);
            self.fail(p);
            return Ok(ShardReply::Complete);
        }
        match phase {
            Phase::Count => {
                match payload.first() {
                    Some(&OK_HEADER) => {
                        let ok = OkPacket::decode(payload, caps)?;
                        if ok.status.contains(StatusFlags::MORE_RESULTS_EXISTS) {
                            self.fail_with(ER_NOT_SUPPORTED_YET, MULTI_RESULTS);
                            return Ok(ShardReply::Pending);
                        }
                        self.shard_done(shard);
                        self.fail_with(
                            ER_UNKNOWN_ERROR,
                            &format!("shardgate: shard {shard} answered without a result set"),
                        );
                        return Ok(ShardReply::Complete);
                    }
                    Some(&LOCAL_INFILE_HEADER) | Some(&EOF_HEADER) | None => {
                        return Err(ProtoError::Invalid {
                            what: "merge: expected a result set",
                        })
                    }
                    _ => {}
                }
                let n = column_count(payload)?;
                if n == 0 || n > MAX_COLUMNS {
                    return Err(ProtoError::Invalid {
                        what: "merge: column count",
                    });
                }
                let s = &mut self.shards[shard];
                s.phase = Phase::Defs(n as usize);
                s.types.clear();
                s.defs.clear();
            }
            Phase::Defs(left) => {
                let def = ColumnDefinition41::decode(payload)?;
                let keep = !self.columns_known;
                let s = &mut self.shards[shard];
                s.types.push(def.binary_type());
                if keep {
                    s.defs.push(payload.to_vec());
                }
                if left > 1 {
                    s.phase = Phase::Defs(left - 1);
                } else if caps.contains(Capabilities::DEPRECATE_EOF) {
                    s.phase = Phase::Rows;
                    self.columns_ready(shard);
                } else {
                    s.phase = Phase::DefsEof;
                }
            }
            Phase::DefsEof => {
                let eof = EofPacket::decode(payload, caps)?;
                self.def_status.add(eof.status);
                self.shards[shard].phase = Phase::Rows;
                self.columns_ready(shard);
            }
            Phase::Rows => {
                if is_result_terminator(payload, caps) {
                    let (status, warnings) = if caps.contains(Capabilities::DEPRECATE_EOF) {
                        let ok = OkPacket::decode(payload, caps)?;
                        (ok.status, ok.warnings)
                    } else {
                        let eof = EofPacket::decode(payload, caps)?;
                        (eof.status, eof.warnings)
                    };
                    if status.contains(StatusFlags::MORE_RESULTS_EXISTS) {
                        self.fail_with(ER_NOT_SUPPORTED_YET, MULTI_RESULTS);
                        self.shards[shard].phase = Phase::Count;
                        return Ok(ShardReply::Pending);
                    }
                    self.end_status.add(status);
                    self.warnings = self.warnings.saturating_add(u32::from(warnings));
                    self.shard_done(shard);
                    return Ok(ShardReply::Complete);
                }
                if self.satisfied() {
                    return Ok(ShardReply::Pending);
                }
                let s = &self.shards[shard];
                let row = if matches!(self.mode, Mode::Union)
                    && !self.spec.distinct
                    && self.spec.hidden == 0
                {
                    Row::opaque(payload)
                } else if self.spec.binary {
                    Row::parse_binary(payload, &s.types)?
                } else {
                    Row::parse_text(payload, s.types.len())?
                };
                if let Err((code, msg)) = self.accept(shard, row) {
                    self.fail_with(code, &msg);
                }
            }
            Phase::Done => {
                return Err(ProtoError::Invalid {
                    what: "merge: packet after the end of the reply",
                })
            }
        }
        Ok(ShardReply::Pending)
    }

    /// A shard's column definitions are complete.
    fn columns_ready(&mut self, shard: usize) {
        if self.columns_known {
            self.shards[shard].defs.clear();
            let (mine, theirs) = (self.shards[shard].types.len(), self.types.len());
            if mine != theirs {
                self.fail_with(
                    ER_UNKNOWN_ERROR,
                    &format!(
                        "shardgate: shards returned {theirs} and {mine} columns for the same statement; \
                         the physical tables of a logical table must have the same columns"
                    ),
                );
            } else if self.spec.binary && self.shards[shard].types != self.types {
                self.fail_with(
                    ER_UNKNOWN_ERROR,
                    "shardgate: shards returned different column types for the same statement; \
                     the physical tables of a logical table must have the same columns",
                );
            }
            return;
        }
        self.columns_known = true;
        self.defs = std::mem::take(&mut self.shards[shard].defs);
        self.types = self.shards[shard].types.clone();
        let overrides = &self.spec.column_collations;
        let own = |d: &ColumnDefinition41<'_>, list_name: &[u8]| {
            !d.org_table.is_empty() && d.org_name.eq_ignore_ascii_case(list_name)
        };
        // One pass over the definitions: each column's metadata (with the
        // column's own collation, not the connection's) and, for ENUM/SET
        // columns, their members.
        let described: Vec<(ColMeta, Option<Arc<EnumDef>>)> = self
            .defs
            .iter()
            .map(|d| {
                ColumnDefinition41::decode(d).map(|d| {
                    let mut m = ColMeta::of(&d);
                    if let Some((_, id)) = overrides.iter().find(|(n, _)| own(&d, n)) {
                        if m.charset != 63 {
                            m.charset = *id;
                        }
                    }
                    let is_enum =
                        d.flags.contains(ColumnFlags::ENUM) || d.flags.contains(ColumnFlags::SET);
                    let members = is_enum
                        .then(|| self.spec.column_enums.iter().find(|(n, _)| own(&d, n)))
                        .flatten()
                        .map(|(_, e)| e.clone());
                    (m, members)
                })
            })
            .collect::<Result<_>>()
            .unwrap_or_default();
        (self.in_meta, self.in_enums) = described.into_iter().unzip();
        for (idx, name) in &self.spec.derived_from {
            let id = overrides
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, id)| *id);
            if let (Some(id), Some(m)) = (id, self.in_meta.get_mut(*idx)) {
                if m.charset != 63 {
                    m.charset = id;
                }
            }
        }
        if let Err((code, msg)) = self.setup() {
            self.fail_with(code, &msg);
        }
    }

    fn column_name(&self, c: usize) -> String {
        self.defs
            .get(c)
            .and_then(|d| ColumnDefinition41::decode(d).ok())
            .map(|d| String::from_utf8_lossy(d.name).into_owned())
            .unwrap_or_else(|| format!("#{}", c + 1))
    }

    fn setup(&mut self) -> std::result::Result<(), Fail> {
        let n = self.in_meta.len();
        self.spec.resolve_from_end(n);
        self.spec.check(n).map_err(|m| {
            (
                ER_UNKNOWN_ERROR,
                format!("shardgate: internal error in the merge plan: {m}"),
            )
        })?;
        super::expr_collation::apply(&self.spec, &mut self.in_meta)?;
        self.in_colls = self.in_meta.iter().map(ColMeta::collation).collect();
        self.order = RowOrder::new(
            self.spec.order_by.iter().map(|o| (o.column, o.desc)),
            &self.in_meta,
            &self.in_colls,
            self.spec.binary,
        )
        .with_enums(&self.in_enums);
        if self.spec.grouped() {
            let plan = GroupPlan::new(&self.spec, &self.in_meta);
            self.emit_meta = plan.out_meta().to_vec();
            self.plan = Some(plan);
        } else {
            self.emit_meta = self.in_meta.clone();
        }
        self.emit_colls = self.emit_meta.iter().map(ColMeta::collation).collect();
        let visible = n - self.spec.hidden;
        self.distinct_adjacent = self.spec.distinct
            && matches!(self.mode, Mode::Sorted)
            && (0..visible).all(|c| self.spec.order_by.iter().any(|o| o.column == c));
        let unsupported = |what: &str, c: usize, problem: String| {
            (
                ER_NOT_SUPPORTED_YET,
                format!(
                    "shardgate: cannot merge {what} on column `{}` across shards: {problem}; add a \
                     shard-key condition so the query runs on one shard",
                    self.column_name(c)
                ),
            )
        };
        for o in &self.spec.order_by {
            let known_enum = self.in_enums.get(o.column).is_some_and(Option::is_some);
            if let Some(p) = self.emit_meta[o.column]
                .order_problem()
                .filter(|_| !known_enum)
            {
                return Err(unsupported("ORDER BY", o.column, p));
            }
        }
        for &g in &self.spec.group_by {
            if let Some(p) = self.in_meta[g].equality_problem() {
                return Err(unsupported("GROUP BY", g, p));
            }
        }
        if self.spec.distinct {
            for c in 0..n - self.spec.hidden {
                if let Some(p) = self.emit_meta[c].equality_problem() {
                    return Err(unsupported("DISTINCT", c, p));
                }
            }
        }
        let numeric = |m: &ColMeta| m.ty.is_integer() || m.ty.is_decimal() || m.ty.is_float();
        for &(c, a) in &self.spec.aggregates {
            let inputs = match a {
                Aggregate::Min | Aggregate::Max => {
                    // MIN/MAX compare ENUM and SET by their string value,
                    // as the server does: only the type and collation matter.
                    if let Some(p) = self.in_meta[c].equality_problem() {
                        return Err(unsupported("MIN/MAX", c, p));
                    }
                    continue;
                }
                Aggregate::CountDistinct => {
                    // The shards return the counted values themselves.
                    if let Some(p) = self.in_meta[c].equality_problem() {
                        return Err(unsupported("COUNT(DISTINCT)", c, p));
                    }
                    continue;
                }
                // The shards return the summed values themselves.
                Aggregate::SumDistinct | Aggregate::AvgDistinct => [c, c],
                Aggregate::Count | Aggregate::Sum => [c, c],
                Aggregate::Avg { sum, count } => [sum, count],
            };
            if let Some(&bad) = inputs.iter().find(|&&i| !numeric(&self.in_meta[i])) {
                return Err(unsupported(
                    "an aggregate",
                    bad,
                    format!(
                        "the shards returned {:?}, not a number",
                        self.in_meta[bad].ty
                    ),
                ));
            }
        }
        let mut cols = Vec::new();
        if let Some(h) = &self.spec.having {
            h.columns(&mut cols);
        }
        for c in cols {
            if let Some(p) = self.emit_meta[c].equality_problem() {
                return Err(unsupported("HAVING", c, p));
            }
        }
        Ok(())
    }

    /// The error of a cell that does not read as a value of its column.
    fn bad_cell(&self, (column, problem): (usize, String)) -> Fail {
        (
            ER_UNKNOWN_ERROR,
            format!(
                "shardgate: column `{}`: {problem}",
                self.column_name(column)
            ),
        )
    }

    fn accept(&mut self, shard: usize, row: Row) -> std::result::Result<(), Fail> {
        match self.mode {
            Mode::Union => {
                self.union.push_back((shard, row));
                self.shards[shard].queued += 1;
            }
            Mode::Sorted | Mode::GroupStream => {
                self.order.check(&row).map_err(|e| self.bad_cell(e))?;
                let s = &self.shards[shard];
                let was_empty = s.queue.is_empty();
                self.buffered_bytes += row.size();
                if self.buffered_bytes > self.spec.max_buffered_bytes {
                    return Err(too_much_buffered(self.spec.max_buffered_bytes));
                }
                self.shards[shard].queue.push_back(row);
                if was_empty {
                    self.waiting -= 1;
                    let (shards, order) = (&self.shards, &self.order);
                    self.heap.push(shard, |a, b| head_cmp(shards, order, a, b));
                }
            }
            Mode::GroupHash => {
                let key = self
                    .spec
                    .group_by
                    .iter()
                    .map(|&g| {
                        cell_key(
                            &self.in_meta[g],
                            self.in_colls[g].as_ref(),
                            self.spec.binary,
                            row.cell(g),
                        )
                    })
                    .collect::<std::result::Result<Vec<Key>, String>>()
                    .map_err(|e| (ER_UNKNOWN_ERROR, format!("shardgate: GROUP BY: {e}")))?;
                let plan = self
                    .plan
                    .as_ref()
                    .ok_or((ER_UNKNOWN_ERROR, String::new()))?;
                let internal =
                    |e: String| (ER_UNKNOWN_ERROR, format!("shardgate: merging groups: {e}"));
                if let Some(&i) = self.groups.get(&key) {
                    let added = plan.fold(&mut self.group_list[i], &row).map_err(internal)?;
                    self.hold_distinct(added)?;
                } else {
                    if self.group_list.len() >= self.spec.max_groups {
                        return Err(too_many("groups", self.spec.max_groups));
                    }
                    let g = plan.start(row).map_err(internal)?;
                    self.groups.insert(key, self.group_list.len());
                    self.group_list.push(g);
                }
            }
        }
        Ok(())
    }

    /// Counts `added` more values held in `COUNT(DISTINCT ...)` sets,
    /// failing past `spec.max_groups`.
    fn hold_distinct(&mut self, added: usize) -> std::result::Result<(), Fail> {
        self.distinct_values += added;
        if self.distinct_values > self.spec.max_groups {
            return Err(too_many("COUNT(DISTINCT) values", self.spec.max_groups));
        }
        Ok(())
    }

    /// The next row of the k-way merge and its shard, when every
    /// unfinished shard has a row buffered.
    fn pop_sorted(&mut self) -> Option<(usize, Row)> {
        if self.waiting > 0 {
            return None;
        }
        let s = self.heap.peek()?;
        let row = self.shards[s].queue.pop_front()?;
        self.buffered_bytes = self.buffered_bytes.saturating_sub(row.size());
        let empty = self.shards[s].queue.is_empty();
        let (shards, order) = (&self.shards, &self.order);
        if empty {
            self.heap.pop(|a, b| head_cmp(shards, order, a, b));
            if self.shards[s].phase != Phase::Done {
                self.waiting += 1;
            }
        } else {
            self.heap.top_changed(|a, b| head_cmp(shards, order, a, b));
        }
        Some((s, row))
    }

    fn limit_reached(&self) -> bool {
        self.spec.limit.is_some_and(|l| self.emitted >= l.count)
    }

    fn drive(&mut self, out: &mut Vec<u8>, seq: &mut u8) -> std::result::Result<(), Fail> {
        let metadata_in = self.columns_known
            && self
                .shards
                .iter()
                .all(|s| matches!(s.phase, Phase::Rows | Phase::Done));
        if !metadata_in {
            return Ok(());
        }
        if self.limit_reached() {
            self.finished = true;
            return Ok(());
        }
        let internal = |e: String| (ER_UNKNOWN_ERROR, format!("shardgate: merging groups: {e}"));
        match self.mode {
            Mode::Union => {
                while let Some((s, row)) = self.union.pop_front() {
                    self.shards[s].queued -= 1;
                    self.emit(&row, out, seq)?;
                    if self.limit_reached() {
                        self.finished = true;
                        return Ok(());
                    }
                }
            }
            Mode::Sorted => {
                while let Some((shard, row)) = self.pop_sorted() {
                    // A row from another shard than the last one's was in
                    // the heap when the last one was its top, so it does
                    // not sort before it: only a shard's own next row can
                    // be out of order. Duplicates need the comparison.
                    let after_last = self
                        .last_sorted
                        .as_ref()
                        .filter(|(from, _)| *from == shard || self.distinct_adjacent)
                        .map(|(_, last)| self.order.cmp(last, &row));
                    if after_last == Some(Ordering::Greater) {
                        return Err(out_of_order(shard));
                    }
                    if self.distinct_adjacent {
                        // The ORDER BY covers every selected column: rows
                        // that sort equal are equal, and come out adjacent.
                        if after_last == Some(Ordering::Equal) {
                            continue;
                        }
                        self.emit_row(&row, out, seq)?;
                    } else {
                        self.emit(&row, out, seq)?;
                    }
                    self.last_sorted = Some((shard, row));
                    if self.limit_reached() {
                        self.finished = true;
                        return Ok(());
                    }
                }
            }
            Mode::GroupStream => {
                while let Some((shard, row)) = self.pop_sorted() {
                    let plan = self
                        .plan
                        .as_ref()
                        .ok_or((ER_UNKNOWN_ERROR, String::new()))?;
                    let after = self
                        .current
                        .as_ref()
                        .map(|g| self.order.cmp(g.first(), &row));
                    match (&mut self.current, after) {
                        (_, Some(Ordering::Greater)) => return Err(out_of_order(shard)),
                        (Some(g), Some(Ordering::Equal)) => {
                            let added = plan.fold(g, &row).map_err(internal)?;
                            self.hold_distinct(added)?;
                        }
                        _ => {
                            let g = plan.start(row).map_err(internal)?;
                            if let Some(prev) = self.current.replace(g) {
                                self.emit_group(&prev, out, seq)?;
                                if self.limit_reached() {
                                    self.finished = true;
                                    return Ok(());
                                }
                            }
                        }
                    }
                }
            }
            Mode::GroupHash => {}
        }
        if self.shards.iter().all(|s| s.phase == Phase::Done) {
            match self.mode {
                Mode::GroupStream => {
                    if let Some(g) = self.current.take() {
                        self.emit_group(&g, out, seq)?;
                    }
                }
                Mode::GroupHash => self.flush_groups(out, seq)?,
                Mode::Union | Mode::Sorted => {}
            }
            self.finished = true;
        }
        Ok(())
    }

    /// The merged row of a group, or `None` when HAVING drops it.
    fn finish_group(&self, g: &Group) -> std::result::Result<Option<Row>, Fail> {
        let plan = self
            .plan
            .as_ref()
            .ok_or((ER_UNKNOWN_ERROR, String::new()))?;
        let row = plan
            .finish(g)
            .map_err(|e| (ER_UNKNOWN_ERROR, format!("shardgate: merging groups: {e}")))?;
        Ok(self.having_passes(&row).then_some(row))
    }

    /// Whether a merged group's row passes HAVING (true without HAVING).
    fn having_passes(&self, row: &Row) -> bool {
        self.spec.having.as_ref().is_none_or(|h| {
            let cell = |i: usize| row.cell(i);
            h.eval(&cell, &self.emit_meta, &self.emit_colls, self.spec.binary) == Some(true)
        })
    }

    fn emit_group(
        &mut self,
        g: &Group,
        out: &mut Vec<u8>,
        seq: &mut u8,
    ) -> std::result::Result<(), Fail> {
        match self.finish_group(g)? {
            Some(row) => self.emit(&row, out, seq),
            None => Ok(()),
        }
    }

    fn flush_groups(&mut self, out: &mut Vec<u8>, seq: &mut u8) -> std::result::Result<(), Fail> {
        self.groups.clear();
        let groups = std::mem::take(&mut self.group_list);
        // The ORDER BY over the merged groups' rows.
        let order = RowOrder::new(
            self.spec.order_by.iter().map(|o| (o.column, o.desc)),
            &self.emit_meta,
            &self.emit_colls,
            self.spec.binary,
        )
        .with_enums(&self.in_enums);
        let mut rows = Vec::with_capacity(groups.len());
        for g in &groups {
            if let Some(row) = self.finish_group(g)? {
                order.check(&row).map_err(|e| self.bad_cell(e))?;
                rows.push(row);
            }
        }
        let global = self.spec.group_by.is_empty();
        let shards_grouped = self.spec.aggregates.iter().any(|&(_, a)| a.is_distinct());
        if groups.is_empty() && global && shards_grouped {
            // The shards grouped by the COUNT(DISTINCT) column and found no
            // row; without GROUP BY the server still answers one row.
            if let Some(plan) = &self.plan {
                let row = plan
                    .empty_row()
                    .map_err(|e| (ER_UNKNOWN_ERROR, format!("shardgate: merging groups: {e}")))?;
                if self.having_passes(&row) {
                    rows.push(row);
                }
            }
        }
        drop(groups);
        rows.sort_by(|a, b| order.cmp(a, b));
        for row in rows {
            self.emit(&row, out, seq)?;
            if self.limit_reached() {
                break;
            }
        }
        Ok(())
    }
}

const MULTI_RESULTS: &str =
    "shardgate: a statement with several result sets (CALL, multi-statement) cannot be merged across shards";

/// A shard's rows came in another order than the merge's: the shards'
/// collation or sort differs from what shardgate merges by.
fn out_of_order(shard: usize) -> Fail {
    (
        ER_UNKNOWN_ERROR,
        format!(
            "shardgate: shard {shard} returned rows out of ORDER BY order (the shards' \
             collation or sort differs from what shardgate merges by)"
        ),
    )
}

fn too_many(what: &str, max: usize) -> Fail {
    (
        ER_OUT_OF_RESOURCES,
        format!(
            "shardgate: merging the shards' results needs more than {max} {what} in memory; \
             narrow the query with a shard-key condition"
        ),
    )
}

fn too_much_buffered(max: usize) -> Fail {
    (
        ER_OUT_OF_RESOURCES,
        format!(
            "shardgate: the ORDER BY merge would hold more than {} MiB of rows (in a transaction, \
             shards on one server answer one after the other on its connection); narrow the \
             query with a shard-key condition or a LIMIT, or run it outside the transaction",
            max >> 20
        ),
    )
}

/// Orders two shards by their first buffered rows (ties by shard index, so
/// the merge is deterministic).
fn head_cmp(shards: &[Shard], order: &RowOrder, a: usize, b: usize) -> Ordering {
    match (shards[a].queue.front(), shards[b].queue.front()) {
        (Some(x), Some(y)) => order.cmp(x, y).then(a.cmp(&b)),
        _ => a.cmp(&b),
    }
}
