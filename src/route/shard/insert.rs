//! INSERT / REPLACE on a sharded table: each VALUES row goes to the shard
//! its key value maps to, one INSERT per shard with that shard's rows
//! (ON DUPLICATE KEY UPDATE kept); a row without the key is refused. An
//! INSERT without a column list finds the key by its position among the
//! table's columns (read from the first shard, then cached).
//!
//! INSERT ... SELECT runs on every shard as written when each row stays on
//! its shard: the SELECT reads tables of the same rule (joined on their
//! keys) and gives the target's shard key the source's shard key, so a
//! row read on shard s belongs on shard s (archiving `INSERT INTO
//! article_archive SELECT * FROM article WHERE ...`).

use super::*;

impl<'a, 't> Planner<'a, 't> {
    pub(super) fn plan_insert(
        &self,
        ins: &parse::Insert<'_>,
        schema: &Schema,
        rule: &Rule,
        env: &RuleEnv<'_>,
    ) -> ShardPlan {
        let Some(Some(Placement::Sharded { key, name, .. })) = self.placements.get(ins.table)
        else {
            return refuse(
                "shardgate: INSERT into a sharded table through another table is not supported",
            );
        };
        // Preparing (no bound values yet): a `?` key routes the metadata
        // prepare to the first shard; EXECUTE routes by the bound value.
        let preparing = self.prepare;
        let shard_of = |v: Option<KeyValue>| -> Result<usize, ShardPlan> {
            if v.is_none() && preparing {
                return Ok(0);
            }
            let Some(v) = v else {
                return Err(refuse(format!(
                    "shardgate: INSERT into sharded table '{name}': the value of shard key '{key}' must be a literal \
                     or a parameter"
                )));
            };
            match rules::shard_for_key(rule, env, &v) {
                Ok(s) => Ok(s as usize),
                Err(RouteError::DirectoryNeeded { .. }) if !self.may_block => {
                    Err(ShardPlan::NeedsWorker)
                }
                Err(e) => Err(route_error(e.with_table(name))),
            }
        };
        if let Some(p) = key_changed_on_duplicate(ins, key, name) {
            return p;
        }
        match ins.source {
            parse::InsertSource::Select(_) => refuse(format!(
                "shardgate: INSERT ... SELECT into sharded table '{name}' cannot be prepared; send it as a query"
            )),
            parse::InsertSource::Set => {
                let Some(a) = ins.set.iter().find(|a| a.column.name.is(key.as_bytes())) else {
                    return refuse(format!("shardgate: INSERT into sharded table '{name}' must set its shard key '{key}'"));
                };
                let v = match &a.value {
                    Operand::Value(v) => self.key_value(v),
                    _ => None,
                };
                let shard = match shard_of(v) {
                    Ok(s) => s,
                    Err(p) => return p,
                };
                self.single_shard(rule, shard)
            }
            parse::InsertSource::Values => {
                let col = if ins.columns.is_some() {
                    ins.column_index(key.as_bytes())
                } else {
                    // No column list: values come in table order.
                    match self.table_columns(schema, name, rule) {
                        Ok(cols) if cols.ordered.is_empty() => {
                            return ShardPlan::Action(err(
                                ec::ER_NO_SUCH_TABLE,
                                &format!("Table '{}.{name}' doesn't exist", schema.name),
                            ))
                        }
                        Ok(cols) => cols.position(key.as_bytes()),
                        Err(p) => return p,
                    }
                };
                let Some(col) = col else {
                    return refuse(format!(
                        "shardgate: INSERT into sharded table '{name}' must give its shard key column '{key}' \
                         a value (name it in the column list)"
                    ));
                };
                let Some(rows_range) = ins.rows_range.clone() else {
                    return refuse("shardgate: INSERT without rows");
                };
                // Rows grouped by shard, in order.
                let mut by_shard: Vec<(usize, Vec<Range<usize>>)> = Vec::new();
                for row in &ins.rows {
                    let v = match ins.row_values(row).get(col).map(|iv| &iv.value) {
                        Some(Operand::Value(v)) => self.key_value(v),
                        _ => None,
                    };
                    let shard = match shard_of(v) {
                        Ok(s) => s,
                        Err(p) => return p,
                    };
                    match by_shard.iter_mut().find(|(s, _)| *s == shard) {
                        Some((_, rows)) => rows.push(row.range.clone()),
                        None => by_shard.push((shard, vec![row.range.clone()])),
                    }
                }
                if by_shard.len() == 1 {
                    return self.single_shard(rule, by_shard[0].0);
                }
                let mut targets = Vec::with_capacity(by_shard.len());
                for (shard, rows) in by_shard {
                    let mut text = Vec::new();
                    for (i, r) in rows.iter().enumerate() {
                        if i > 0 {
                            text.extend_from_slice(b", ");
                        }
                        text.extend_from_slice(&self.sql[r.clone()]);
                    }
                    let group = match Self::group_of(rule, shard) {
                        Ok(g) => g,
                        Err(p) => return p,
                    };
                    let sql = self.rewrite_for(shard, vec![(rows_range.clone(), text)]);
                    match target(self.topo, group, Some(sql)) {
                        Ok(t) => targets.push(t),
                        Err(p) => return p,
                    }
                }
                let mut effects = self.effects();
                effects.pin = crate::session::PinReasons::LAST_INSERT_ID;
                ShardPlan::Action(Action::Forward { targets, gather: Gather::SumOk(None), effects })
            }
        }
    }

    /// INSERT ... SELECT whose rows keep their shard (module docs); a
    /// refusal saying what is missing otherwise.
    pub(super) fn plan_insert_select(
        &self,
        ins: &parse::Insert<'_>,
        src: usize,
        sharded: &[TableId],
        schema: &Schema,
        rule: &Rule,
        env: &RuleEnv<'_>,
    ) -> ShardPlan {
        let Some(Some(Placement::Sharded { key, name, .. })) = self.placements.get(ins.table)
        else {
            return refuse(
                "shardgate: INSERT ... SELECT from a sharded table into a broadcast or unsharded table \
                 is not supported (it would need every shard's rows in one place)",
            );
        };
        let why = |what: &str| {
            refuse(format!(
                "shardgate: INSERT ... SELECT into sharded table '{name}' runs only when every row stays \
                 on its shard: {what}"
            ))
        };
        if let Some(p) = key_changed_on_duplicate(ins, key, name) {
            return p;
        }
        let Some(b) = self.parsed.blocks.get(src) else {
            return why("the SELECT could not be read");
        };
        let computed = b.has_aggregate() || b.has_window();
        if b.kind != BlockKind::Select || b.limit.is_some() {
            return why("the SELECT is a UNION or has a LIMIT");
        }
        if computed || !b.group_by.is_empty() || b.having.is_some() {
            match self.block_groups_on_shards(src, sharded, rule) {
                Ok(true) => {}
                Ok(false) => {
                    return why(
                        "the SELECT aggregates rows of several shards (group by the shard key)",
                    )
                }
                Err(p) => return p,
            }
        }
        let sources: Vec<TableId> = sharded
            .iter()
            .copied()
            .filter(|&t| t != ins.table)
            .collect();
        if sources.is_empty() {
            return why("the SELECT reads no sharded table (each row must be placed by its key)");
        }
        if sources.iter().any(|&t| self.parsed.tables[t].block != src) {
            return why("a sharded table is read outside the SELECT's FROM");
        }
        if !self.joined_on_keys(&sources) {
            return why("the SELECT's sharded tables are not joined on their keys");
        }
        // Where the target's key is among the inserted columns.
        let pos = if ins.columns.is_some() {
            ins.column_index(key.as_bytes())
        } else {
            match self.table_columns(schema, name, rule) {
                Ok(cols) => cols.position(key.as_bytes()),
                Err(p) => return p,
            }
        };
        let Some(pos) = pos else {
            return why(&format!("the SELECT must give shard key '{key}' a value"));
        };
        // The SELECT's value there must be the source's own shard key.
        let star_at = b
            .items
            .iter()
            .position(|i| matches!(i.kind, parse::ItemKind::Star { .. }));
        let keeps_key = match (star_at, b.items.as_slice(), b.from.as_slice()) {
            (None, items, _) => match items.get(pos).map(|i| &i.kind) {
                Some(parse::ItemKind::Column(c)) => {
                    self.is_key(src, c)
                        && self
                            .parsed
                            .column_table(src, c)
                            .is_some_and(|t| sources.contains(&t))
                }
                _ => false,
            },
            // `SELECT * FROM source`: the source's key at the same position.
            (Some(0), [_], [one]) => match (&one.source, sources.as_slice()) {
                (parse::Source::Table(t), [s]) if t == s => match self.placements.get(*s) {
                    Some(Some(Placement::Sharded {
                        schema: ss,
                        name: sn,
                        key: sk,
                        ..
                    })) => match self.table_columns(ss, sn, rule) {
                        Ok(cols) => cols.position(sk.as_bytes()) == Some(pos),
                        Err(p) => return p,
                    },
                    _ => false,
                },
                _ => false,
            },
            _ => false,
        };
        if !keeps_key {
            return why(&format!(
                "the SELECT must give shard key '{key}' the shard key column of the table it reads"
            ));
        }
        let set = match self.dml_shards(sharded, rule, env) {
            Ok(s) => s,
            Err(p) => return p,
        };
        let mut shards: Vec<usize> = set.iter().map(|s| s as usize).collect();
        if shards.is_empty() {
            shards.push(0);
        }
        let targets = match self.shard_targets(rule, shards.iter().copied()) {
            Ok(t) => t,
            Err(p) => return p,
        };
        let mut effects = self.effects();
        effects.pin = crate::session::PinReasons::LAST_INSERT_ID;
        let gather = if targets.len() == 1 {
            Gather::Relay
        } else {
            Gather::SumOk(None)
        };
        ShardPlan::Action(Action::Forward {
            targets,
            gather,
            effects,
        })
    }
}

/// The refusal of an ON DUPLICATE KEY UPDATE that assigns the shard key
/// `key` of table `name` (the row would belong on another shard).
fn key_changed_on_duplicate(ins: &parse::Insert<'_>, key: &str, name: &str) -> Option<ShardPlan> {
    let od = ins.on_duplicate.as_ref()?;
    od.assignments
        .iter()
        .any(|a| a.column.name.is(key.as_bytes()))
        .then(|| {
            refuse(format!(
                "shardgate: ON DUPLICATE KEY UPDATE cannot change the shard key '{key}' of table '{name}'"
            ))
        })
}
