//! DDL on sharded tables (CREATE / ALTER / DROP / TRUNCATE TABLE, CREATE
//! INDEX): run on every physical table of every group; the tables' cached
//! columns are forgotten when the DDL is planned and again when it is over.

use super::*;

impl<'a, 't> Planner<'a, 't> {
    pub(super) fn plan_ddl(&self, sharded: &[TableId]) -> ShardPlan {
        // Columns and collations may change: read them again when next
        // needed (and forget them once more when the DDL is over).
        let mut effects = self.effects();
        for &t in sharded {
            if let Some(Some(Placement::Sharded { schema, name, .. })) = self.placements.get(t) {
                self.state.forget_table_columns(&schema.name, name);
                effects
                    .forget_columns
                    .get_or_insert_with(Default::default)
                    .push((schema.name.clone(), (*name).to_owned()));
            }
        }
        let named: Vec<TableId> = (0..self.placements.len())
            .filter(|&i| self.placements[i].is_some())
            .collect();
        if named.len() > 1
            && named
                .iter()
                .any(|&t| !matches!(self.placements[t], Some(Placement::Plain)))
        {
            // e.g. DROP TABLE article, country: the tables live apart.
            let only_one_logical = sharded.len() == 1
                && named.iter().all(|&t| {
                    t == sharded[0]
                        || self.parsed.tables[t].name.name
                            == self.parsed.tables[sharded[0]].name.name
                });
            if !only_one_logical {
                return refuse(
                    "shardgate: DDL naming a sharded or broadcast table together with another table \
                     (DROP TABLE a, b; CREATE TABLE t LIKE / AS SELECT a sharded table) is not \
                     supported: the tables do not live on the same servers; one table per statement",
                );
            }
        }
        if sharded.is_empty() {
            // Broadcast: every group, the same statement.
            let mut targets = Vec::new();
            for g in &self.topo.groups {
                match target(self.topo, &g.name, None) {
                    Ok(t) => targets.push(t),
                    Err(p) => return p,
                }
            }
            return ShardPlan::Action(Action::Forward {
                targets,
                gather: Gather::SameOk,
                effects: self.effects(),
            });
        }
        let (_, rule) = match self.common_rule(sharded) {
            Ok(r) => r,
            Err(p) => return p,
        };
        let targets = match self.shard_targets(rule, 0..rule.shard_count()) {
            Ok(t) => t,
            Err(p) => return p,
        };
        ShardPlan::Action(Action::Forward {
            targets,
            gather: Gather::SameOk,
            effects,
        })
    }
}
