//! LOCK TABLES naming sharded or broadcast tables (what `mysqldump` writes
//! around each table's rows, and takes itself before reading them): one
//! `LOCK TABLES` per group, listing the physical tables that group holds of
//! every locked table, each item's lock type kept as written. Table locks
//! belong to a connection: the session keeps every group's connection
//! (`PinReasons::LOCK_TABLES`) until `UNLOCK TABLES`, which runs on all of
//! them (`Effects::on_attached`), and a new `LOCK TABLES` releases the
//! session's locks on the groups it does not name
//! (`Effects::unlock_elsewhere`), as one server releases them all.

use super::*;

impl<'a, 't> Planner<'a, 't> {
    pub(super) fn plan_lock_tables(&self, items: &[Range<usize>]) -> ShardPlan {
        let mut per_group: Vec<(&str, Vec<Vec<u8>>)> = self
            .topo
            .groups
            .iter()
            .map(|g| (g.name.as_str(), Vec::new()))
            .collect();
        let mut add = |group: &str, item: Vec<u8>| -> Result<(), ShardPlan> {
            match per_group.iter_mut().find(|(g, _)| *g == group) {
                Some((_, list)) => {
                    list.push(item);
                    Ok(())
                }
                None => Err(refuse(format!(
                    "shardgate: LOCK TABLES: group '{group}' is not configured"
                ))),
            }
        };
        for (t, item) in items.iter().enumerate() {
            let (Some(table), Some(Some(placement))) =
                (self.parsed.tables.get(t), self.placements.get(t))
            else {
                return refuse("shardgate: LOCK TABLES: a lock item was not understood");
            };
            let text = |name: &[u8]| {
                let name_at = table.name.range.clone();
                let mut out = Vec::with_capacity(item.len() + 8);
                out.extend_from_slice(self.sql.get(item.start..name_at.start).unwrap_or_default());
                out.extend_from_slice(name);
                out.extend_from_slice(self.sql.get(name_at.end..item.end).unwrap_or_default());
                out
            };
            let result = match placement {
                Placement::Sharded { name, rule, .. } => {
                    if let Some(alias) = &table.alias {
                        let crowded = self.topo.groups.iter().find(|g| {
                            (0..rule.shard_count())
                                .filter(|&s| rule.group_of_shard(s) == Some(g.name.as_str()))
                                .count()
                                > 1
                        });
                        if let Some(g) = crowded {
                            return refuse(format!(
                                "shardgate: LOCK TABLES {name} AS {}: group '{}' holds several physical \
                                 tables of {name}, which cannot share one alias; lock the table without an alias",
                                String::from_utf8_lossy(&alias.name),
                                g.name
                            ));
                        }
                    }
                    (0..rule.shard_count()).try_for_each(|s| {
                        let group = Self::group_of(rule, s)?;
                        add(group, text(&physical_sql_name(name, s)))
                    })
                }
                Placement::Broadcast => self
                    .topo
                    .groups
                    .iter()
                    .try_for_each(|g| add(&g.name, self.sql[item.clone()].to_vec())),
                Placement::Plain => {
                    let schema = match &table.schema {
                        Some(s) => Some(String::from_utf8_lossy(&s.name).into_owned()),
                        None => self.ctx.schema.clone(),
                    };
                    match crate::route::default_target(self.topo, schema.as_deref()) {
                        Ok((group, _)) => add(&group, self.sql[item.clone()].to_vec()),
                        Err((code, msg)) => Err(ShardPlan::Action(err(code, &msg))),
                    }
                }
            };
            if let Err(p) = result {
                return p;
            }
        }
        let mut targets = Vec::new();
        for (group, list) in per_group {
            if list.is_empty() {
                continue;
            }
            let mut sql = b"LOCK TABLES ".to_vec();
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    // On a new line after an item that may end in a line
                    // comment (`-- ...`, `# ...`).
                    let line_comment =
                        |p: &Vec<u8>| p.contains(&b'#') || p.windows(2).any(|w| w == b"--");
                    if line_comment(&list[i - 1]) {
                        sql.push(b'\n');
                    }
                    sql.extend_from_slice(b", ");
                }
                sql.extend_from_slice(item);
            }
            match target(self.topo, group, Some(sql)) {
                Ok(t) => targets.push(t),
                Err(p) => return p,
            }
        }
        self.alike_on(targets)
    }
}
