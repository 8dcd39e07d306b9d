//! A client's commands once logged in: COM_QUERY handed to the planner
//! (inline for small statements, else a worker) and its plan carried out
//! (`on_plan`: forward, local reply, transaction start and end, statements
//! on the session's attached backends), the commands shardgate answers
//! itself, and LOCAL INFILE data relayed to the backend.

use super::client::{
    err_payload, merger_for, ok_payload, queue_packet, session_status, InFlight, Phase, Target,
    GREETING_COLLATION,
};
use super::io_thread::{Conn, IoThread};
use super::relay::Expect;
use super::sock;
use crate::route::{self, Action, Effects, Gather, Job, Plan};
use crate::session::auth::{self, AuthCheck};
use crate::session::{PinReasons, Session};
use shardgate_proto::capability::{Capabilities, StatusFlags};
use shardgate_proto::command::Command;
use shardgate_proto::error_codes::{self as ec};
use shardgate_proto::frame::write_packet;
use std::net::SocketAddr;
use std::time::Instant;

impl IoThread {
    /// One command packet from an authenticated client.
    pub(super) fn on_command(&mut self, key: usize, payload: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let topo = self.shared.topology();
        c.deadline = Some(Instant::now() + topo.server.idle_timeout);
        c.gen = c.gen.wrapping_add(1);
        self.shared
            .stats
            .queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Prepared statements on sharded tables are shardgate's own.
        let code = payload.first().copied().unwrap_or(0);
        let stmt_id = shardgate_proto::stmt::stmt_id_of_execute(&payload).ok();
        match (code, stmt_id) {
            (0x16, _) if self.prepare_sharded(key, &payload) => return,
            (0x17, Some(id)) if super::prepared::ProxyStmts::is_proxy_id(id) => {
                self.execute_sharded(key, &payload);
                return;
            }
            (0x18 | 0x19 | 0x1a | 0x1c, Some(_)) if self.stmt_local(key, code, &payload) => return,
            _ => {}
        }
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let cmd = match Command::decode(&payload, c.sess.caps) {
            Ok(cmd) => cmd,
            Err(shardgate_proto::ProtoError::UnknownCommand(code)) => {
                log::debug!(
                    "CONN [{} {}] unknown command 0x{code:02x}",
                    c.sess.conn_id,
                    c.peer
                );
                self.reply_err(key, ec::ER_UNKNOWN_COM_ERROR, "Unknown command");
                return;
            }
            Err(e) => {
                self.close(key, &format!("malformed command: {e}"));
                return;
            }
        };
        match cmd {
            Command::Quit => self.close(key, "client quit"),
            Command::Ping => self.reply_ok(key),
            Command::Query { .. } => self.plan_and_run(key, payload),
            Command::InitDb { schema } => {
                let schema = String::from_utf8_lossy(schema).into_owned();
                if let Err((code, msg)) =
                    auth::check_schema(&topo, &c.sess.user, c.peer.ip(), &schema)
                {
                    self.reply_err(key, code, &msg);
                    return;
                }
                let effects = Effects {
                    use_schema: Some(Box::new(schema.clone())),
                    ..Effects::default()
                };
                self.forward_local(key, payload, Expect::OkOrErr, effects, Some(&schema));
            }
            Command::FieldList { .. } => {
                self.forward_local(key, payload, Expect::FieldList, Effects::default(), None)
            }
            Command::Statistics => {
                self.forward_local(key, payload, Expect::Statistics, Effects::default(), None)
            }
            Command::ResetConnection => {
                c.sess.reset_statement_state();
                c.open_statements = 0;
                // Closing the attached connections resets their sessions on
                // the servers (rolls back, drops temporary tables, unlocks).
                let attached = std::mem::take(&mut c.backends);
                for (_, bk) in attached {
                    self.close(bk, "client reset its connection");
                }
                self.reply_ok(key);
            }
            Command::ChangeUser {
                user,
                auth_response,
                schema,
                charset,
                auth_plugin,
                ..
            } => {
                let user = String::from_utf8_lossy(user).into_owned();
                let plugin = auth_plugin.unwrap_or(auth::NATIVE.as_bytes());
                let check = auth::check_login(
                    &topo,
                    &user,
                    c.peer.ip(),
                    plugin,
                    &c.scramble,
                    auth_response,
                );
                match check {
                    AuthCheck::Ok { .. } => {
                        if c.counted_user {
                            if let Some(n) = self.shared.user_conns.lock().get_mut(&c.sess.user) {
                                *n = n.saturating_sub(1);
                            }
                            c.counted_user = false;
                        }
                        let old_backends = std::mem::take(&mut c.backends);
                        let conn_id = c.sess.conn_id;
                        let caps = c.sess.caps;
                        c.sess = Session::new(conn_id);
                        c.sess.caps = caps;
                        c.sess.user = user.clone();
                        c.sess.collation = charset.map_or(GREETING_COLLATION, |cs| cs as u8);
                        c.open_statements = 0;
                        if !schema.is_empty() {
                            c.sess.state.schema =
                                Some(String::from_utf8_lossy(schema).into_owned());
                        }
                        for (_, bk) in old_backends {
                            // Their session state belongs to the old user.
                            self.close(bk, "client changed user");
                        }
                        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
                            return;
                        };
                        if let Some(e) = self.shared.sessions.lock().get_mut(&conn_id) {
                            e.user = user;
                        }
                        // The reply to COM_CHANGE_USER is the auth phase's OK.
                        c.phase = Phase::Greeting;
                        self.finish_auth_step(
                            key,
                            AuthCheck::Ok {
                                fast_auth_ok: false,
                            },
                            1,
                        );
                    }
                    AuthCheck::Switch(_) | AuthCheck::Denied { .. } => {
                        let msg =
                            auth::denied_message(&user, c.peer.ip(), !auth_response.is_empty());
                        let p = err_payload(ec::ER_ACCESS_DENIED_ERROR, &msg);
                        queue_packet(c, &mut self.pool, 1, &p);
                        c.phase = Phase::Closing;
                        self.rerun.push(key);
                    }
                }
            }
            Command::SetOption { option } => {
                c.sess.state.multi_statements =
                    option == shardgate_proto::command::MYSQL_OPTION_MULTI_STATEMENTS_ON;
                if c.sess.caps.contains(Capabilities::DEPRECATE_EOF) {
                    self.reply_ok(key);
                } else {
                    let status = session_status(c);
                    let mut p = vec![0xfe, 0, 0];
                    p.extend_from_slice(&status.to_le_bytes());
                    self.reply_local(key, &p);
                }
            }
            Command::StmtPrepare { .. } => {
                let effects = Effects {
                    pin: PinReasons::PREPARED,
                    ..Effects::default()
                };
                self.forward_local(key, payload, Expect::StmtPrepare, effects, None);
            }
            Command::StmtExecute { .. } | Command::StmtFetch { .. } | Command::StmtReset { .. } => {
                let Some((group, addr)) = c.stmt_target.clone().filter(|_| c.open_statements > 0)
                else {
                    self.reply_err(
                        key,
                        ec::ER_UNKNOWN_STMT_HANDLER,
                        "Unknown prepared statement handler given to shardgate",
                    );
                    return;
                };
                let expect = match cmd {
                    Command::StmtFetch { .. } => Expect::StmtFetch,
                    Command::StmtReset { .. } => Expect::OkOrErr,
                    _ => Expect::ResultSets,
                };
                let inflight =
                    InFlight::single(group, addr, payload, Some(expect), Effects::default());
                self.start_statement(key, inflight);
            }
            Command::StmtSendLongData { .. } | Command::StmtClose { .. } => {
                // No reply: write it to the pinned backend, stay Idle.
                let close = matches!(cmd, Command::StmtClose { .. });
                let Some(bk) = c
                    .stmt_target
                    .as_ref()
                    .and_then(|(_, addr)| c.backend_on(*addr))
                else {
                    // No backend holds the statement (it was lost): nothing to do.
                    self.rerun.push(key);
                    return;
                };
                if close {
                    c.open_statements = c.open_statements.saturating_sub(1);
                    if c.open_statements == 0 {
                        c.sess.pins.remove(PinReasons::PREPARED);
                    }
                }
                self.write_to_backend_no_reply(bk, &payload);
                self.maybe_release_after_statement(key);
                self.rerun.push(key);
            }
            Command::ProcessKill { id } => self.start_kill(key, id, false),
            _ => {
                self.reply_err(
                    key,
                    ec::ER_NOT_SUPPORTED_YET,
                    "shardgate: this command is not supported through the proxy",
                );
            }
        }
    }

    /// A COM_QUERY: planned here when small (planning costs less than the
    /// hand-off to a worker, see ARCHITECTURE.md), else by a worker; then
    /// carried out (`on_plan`).
    fn plan_and_run(&mut self, key: usize, payload: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let topo = self.shared.topology();
        let job = Job {
            io: self.idx,
            token: key,
            gen: c.gen,
            payload,
            ctx: c.route_ctx(),
        };
        c.phase = Phase::AwaitPlan;
        if job.payload.len() <= topo.server.inline_plan_bytes {
            let state = self.shared.route_state();
            let sql = job.payload.get(1..).unwrap_or_default();
            let action = route::plan_query(&topo, &state, &job.ctx, sql, false);
            if !matches!(action, Action::Defer) {
                let plan = Plan {
                    token: key,
                    gen: job.gen,
                    payload: job.payload,
                    action,
                };
                self.on_plan(plan);
                return;
            }
            // It needs a directory read: a worker plans it.
        }
        self.send_job(key, job);
    }

    /// Hands a COM_QUERY to the workers (parked while their channel is
    /// full).
    pub(super) fn send_job(&mut self, key: usize, job: Job) {
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(crossbeam_channel::TrySendError::Full(job)) => {
                // Park it; reading from this client pauses meanwhile.
                self.parked_jobs.push_back(job);
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                self.reply_err(key, ec::ER_SERVER_SHUTDOWN, "Server shutdown in progress");
            }
        }
    }

    /// The next statement of a split multi-statement query
    /// (`reactor::multi`), run as if the client had sent it.
    pub(super) fn run_query(&mut self, key: usize, payload: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        c.gen = c.gen.wrapping_add(1);
        self.plan_and_run(key, payload);
    }

    /// Forwards a command that needs no routing decision to the session's
    /// default group master.
    pub(super) fn forward_local(
        &mut self,
        key: usize,
        payload: Vec<u8>,
        expect: Expect,
        effects: Effects,
        schema: Option<&str>,
    ) {
        let Some(Conn::Client(c)) = self.conns.get(key) else {
            return;
        };
        let topo = self.shared.topology();
        let schema = schema
            .map(str::to_owned)
            .or_else(|| c.sess.state.schema.clone());
        match route::default_target(&topo, schema.as_deref()) {
            Ok((group, addr)) => {
                let inflight = InFlight::single(group, addr, payload, Some(expect), effects);
                self.start_statement(key, inflight);
            }
            Err((code, msg)) => self.reply_err(key, code, &msg),
        }
    }

    /// A worker's plan arrived.
    pub(super) fn on_plan(&mut self, plan: Plan) {
        let key = plan.token;
        let Some(Conn::Client(c)) = self.conns.get(key) else {
            return;
        };
        if c.gen != plan.gen || c.phase != Phase::AwaitPlan {
            return; // the session moved on (closed and reused slot, or killed)
        }
        match plan.action {
            Action::Reply(payload) => {
                if let Some(Conn::Client(c)) = self.conns.get_mut(key) {
                    c.sess.row_count = Some(super::client::row_count_of_reply(&payload));
                    if payload.first() == Some(&0xff) {
                        // shardgate's own error: no server holds it.
                        c.sess.warnings_on = None;
                        c.sess.pins.remove(PinReasons::WARNINGS);
                    }
                }
                self.reply_local(key, &payload)
            }
            Action::ReplyPackets(packets) => {
                let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
                    return;
                };
                c.sess.row_count = Some(-1);
                if !sock::append(&mut c.wbuf, &mut self.pool, &packets) {
                    self.close(key, "buffer memory exhausted");
                    return;
                }
                c.phase = Phase::Idle;
                c.inflight = None;
                self.rerun.push(key);
            }
            Action::Kill { id, query_only } => self.start_kill(key, id, query_only),
            Action::Defer => self.reply_err(
                key,
                ec::ER_UNKNOWN_ERROR,
                "shardgate: statement could not be planned",
            ),
            Action::SetShardKey(v) => {
                if let Some(Conn::Client(c)) = self.conns.get_mut(key) {
                    c.sess.shard_key = v;
                }
                self.reply_ok(key);
            }
            Action::SplitMulti => self.start_multi(key, &plan.payload),
            Action::SetUseMaster(on) => {
                if let Some(Conn::Client(c)) = self.conns.get_mut(key) {
                    c.sess.use_master = on;
                }
                self.reply_ok(key);
            }
            Action::Begin(sql) => self.begin_txn(key, sql),
            Action::EndTxn { chain, release } => self.end_txn(key, plan.payload, chain, release),
            Action::Savepoint { op, name } => self.savepoint(key, op, name, plan.payload),
            Action::Forward {
                targets,
                gather,
                effects,
            } => self.run_forward(key, plan.payload, targets, gather, effects),
            Action::ReadInfile { file } => self.ask_for_infile(key, file, plan.payload),
        }
    }

    /// Carries out a planned `Action::Forward` of the client's command
    /// `payload`: on the session's attached backends (`on_attached`), or
    /// on the targets, with COMMIT / UNLOCK TABLES for the session's other
    /// connections (`implicit_commit`, `unlock_elsewhere`).
    pub(super) fn run_forward(
        &mut self,
        key: usize,
        payload: Vec<u8>,
        targets: Vec<route::RouteTarget>,
        gather: Gather,
        effects: Effects,
    ) {
        let Some(Conn::Client(c)) = self.conns.get(key) else {
            return;
        };
        if effects.on_attached && !c.backends.is_empty() {
            self.run_on_attached(key, payload, effects);
            return;
        }
        let expect = if payload.first() == Some(&0x03) {
            Some(Expect::ResultSets)
        } else {
            None
        };
        let mut original = Some(payload);
        let n = targets.len();
        let mut elsewhere: Vec<SocketAddr> = Vec::new();
        // The session's transaction is committed on the groups the
        // statement does not run on (it commits on its own), or
        // (LOCK TABLES) their table locks are released.
        let commit_elsewhere = effects.implicit_commit
            && (c.sess.txn_begin.is_some() || c.sess.pins.contains(PinReasons::TRANSACTION));
        if commit_elsewhere || effects.unlock_elsewhere {
            elsewhere = c
                .backends
                .iter()
                .map(|(a, _)| *a)
                .filter(|a| !targets.iter().any(|t| t.addr == *a))
                .collect();
            elsewhere.sort();
            elsewhere.dedup();
        }
        let gather = match gather {
            Gather::Relay if !elsewhere.is_empty() => Gather::SameOk,
            g => g,
        };
        let mut targets: Vec<Target> = targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let payload = match t.sql {
                    Some(sql) => {
                        let mut p = Vec::with_capacity(sql.len() + 1);
                        p.push(0x03);
                        p.extend_from_slice(&sql);
                        p
                    }
                    None if i + 1 == n => original.take().unwrap_or_default(),
                    None => original.clone().unwrap_or_default(),
                };
                let mut target = Target::new(t.group, t.addr, payload);
                target.infile = t.infile;
                target
            })
            .collect();
        for addr in elsewhere {
            let payload = if commit_elsewhere {
                route::COMMIT_PAYLOAD
            } else {
                route::UNLOCK_TABLES_PAYLOAD
            };
            targets.push(Target::new(addr.to_string(), addr, payload.to_vec()));
        }
        let merger = merger_for(&gather, targets.len(), c.sess.caps);
        let inflight = InFlight::new(targets, expect, effects, gather, merger);
        self.start_statement(key, inflight);
    }

    /// BEGIN with sharding: the transaction opens lazily on each backend
    /// the session then uses (`send_target` replays the statement there).
    /// Backends already in a transaction get the BEGIN now (an implicit
    /// commit on each, as MySQL does).
    pub(super) fn begin_txn(&mut self, key: usize, sql: Vec<u8>) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        c.sess.pins.insert(PinReasons::TRANSACTION);
        // BEGIN ends the transaction before it, and its savepoints.
        c.sess.savepoints.clear();
        if c.backends.is_empty() {
            c.sess.txn_begin = Some(sql);
            let p = ok_payload(
                c.sess.caps,
                0,
                0,
                StatusFlags::IN_TRANS.0 | StatusFlags::AUTOCOMMIT.0,
            );
            self.reply_local(key, &p);
            return;
        }
        c.sess.txn_begin = Some(sql.clone());
        let mut payload = vec![0x03];
        payload.extend_from_slice(&sql);
        self.run_on_attached(key, payload, Effects::default());
    }

    /// COMMIT / ROLLBACK with sharding: on every backend the session holds.
    pub(super) fn end_txn(&mut self, key: usize, payload: Vec<u8>, chain: bool, release: bool) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        c.sess.savepoints.clear();
        if c.backends.is_empty() {
            if !chain {
                c.sess.txn_begin = None;
                c.sess.pins.remove(PinReasons::TRANSACTION);
            }
            self.reply_ok(key);
            if release {
                if let Some(Conn::Client(c)) = self.conns.get_mut(key) {
                    c.phase = Phase::Closing;
                }
            }
            return;
        }
        let effects = Effects {
            end_txn: true,
            txn_chain: chain,
            release_client: release,
            ..Effects::default()
        };
        self.run_on_attached(key, payload, effects);
    }

    /// Runs one statement on every node the session holds a connection to.
    pub(super) fn run_on_attached(&mut self, key: usize, payload: Vec<u8>, effects: Effects) {
        self.run_on_every_attached(key, payload, effects, Gather::Relay);
    }

    /// [`IoThread::run_on_attached`], gathering the replies with `gather`
    /// (`Gather::Relay`: relayed when there is one node, else one OK).
    pub(super) fn run_on_every_attached(
        &mut self,
        key: usize,
        payload: Vec<u8>,
        effects: Effects,
        gather: Gather,
    ) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let mut addrs: Vec<SocketAddr> = c.backends.iter().map(|(a, _)| *a).collect();
        addrs.sort();
        addrs.dedup();
        let targets: Vec<Target> = addrs
            .into_iter()
            .map(|addr| Target::new(addr.to_string(), addr, payload.clone()))
            .collect();
        let gather = match gather {
            Gather::Relay if targets.len() > 1 => Gather::SameOk,
            g => g,
        };
        let inflight = InFlight::new(targets, Some(Expect::ResultSets), effects, gather, None);
        self.start_statement(key, inflight);
    }

    /// LOAD DATA LOCAL: file packets from the client go to the backend
    /// unchanged; the empty packet ends the file.
    pub(super) fn on_infile_packet(
        &mut self,
        key: usize,
        seq: u8,
        _last_seq: u8,
        payload: Vec<u8>,
    ) {
        let Some(Conn::Client(c)) = self.conns.get_mut(key) else {
            return;
        };
        let Some(bk) = c
            .inflight
            .as_ref()
            .and_then(|i| i.targets.first())
            .and_then(|t| t.bk)
        else {
            self.close(key, "LOCAL INFILE data without a backend");
            return;
        };
        let done = payload.is_empty();
        let mut out = Vec::with_capacity(payload.len() + 8);
        let mut s = seq;
        write_packet(&mut out, &mut s, &payload);
        if done {
            c.phase = Phase::Relaying;
        }
        c.decoder.expect_seq(s);
        self.backend_write_raw(bk, &out, done);
    }
}
