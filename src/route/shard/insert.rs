//! INSERT / REPLACE on a sharded table: each VALUES row goes to the shard
//! its key value maps to, one INSERT per shard with that shard's rows
//! (ON DUPLICATE KEY UPDATE kept); a row without the key is refused. An
//! INSERT without a column list finds the key by its position among the
//! table's columns (read from the first shard, then cached).

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
        if let Some(od) = &ins.on_duplicate {
            if od
                .assignments
                .iter()
                .any(|a| a.column.name.is(key.as_bytes()))
            {
                return refuse(format!(
                    "shardgate: ON DUPLICATE KEY UPDATE cannot change the shard key '{key}' of table '{name}'"
                ));
            }
        }
        match ins.source {
            parse::InsertSource::Select(_) => refuse(format!(
                "shardgate: INSERT ... SELECT into sharded table '{name}' is not supported; insert the rows with VALUES"
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
                ShardPlan::Action(Action::Forward { targets, gather: Gather::SumOk, effects })
            }
        }
    }
}
