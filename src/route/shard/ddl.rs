//! DDL on sharded tables (CREATE / ALTER / DROP / TRUNCATE TABLE, CREATE
//! INDEX): run on every physical table of every group; the tables' cached
//! columns are forgotten when the DDL is planned and again when it is over.
//! Several tables of one rule in one statement (`DROP TABLE article,
//! comment`, `CREATE TABLE article_archive LIKE article` with both
//! sharded alike) run shard by shard, each shard's tables together; `CREATE
//! TABLE t LIKE article` for an unsharded `t` copies the structure of
//! article's physical table on the default group, where `t` lives.

use super::*;

impl<'a, 't> Planner<'a, 't> {
    pub(super) fn plan_ddl(&self, sharded: &[TableId]) -> ShardPlan {
        if let (
            Stmt::CreateTable {
                temporary: true, ..
            },
            Some(Some(created)),
        ) = (&self.parsed.stmt, self.placements.first())
        {
            if !matches!(created, Placement::Plain) {
                // On one server it would hide the table for the session;
                // spread over shards it would be a table no statement
                // could use consistently.
                return refuse(format!(
                    "shardgate: a temporary table cannot take the name of sharded or broadcast table '{}'; \
                     name it differently",
                    String::from_utf8_lossy(&self.parsed.tables[0].name.name)
                ));
            }
        }
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
            let as_select = matches!(
                self.parsed.stmt,
                Stmt::CreateTable {
                    select: Some(_),
                    ..
                }
            );
            let all_sharded = named
                .iter()
                .all(|&t| matches!(self.placements[t], Some(Placement::Sharded { .. })));
            if let (Some(plan), false) = (self.plain_like_sharded(&named), as_select) {
                return plan;
            }
            // Tables of one rule: shard by shard (a refusal names the
            // tables' rules otherwise).
            if all_sharded && !as_select && !only_one_logical {
                if let Err(p) = self.common_rule(sharded) {
                    return p;
                }
            } else if !only_one_logical {
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

    /// `CREATE TABLE t LIKE article` with `t` unsharded: on the default
    /// group (where `t` lives), from article's physical table there.
    /// `None` for any other statement.
    fn plain_like_sharded(&self, named: &[TableId]) -> Option<ShardPlan> {
        if !matches!(self.parsed.stmt, Stmt::CreateTable { select: None, .. }) {
            return None;
        }
        let [new, source] = named else {
            return None;
        };
        let (
            Some(Placement::Plain),
            Some(Placement::Sharded {
                schema, rule, name, ..
            }),
        ) = (&self.placements[*new], &self.placements[*source])
        else {
            return None;
        };
        let Some(shard) = rule.first_shard_on(&schema.default_group) else {
            return Some(refuse(format!(
                "shardgate: CREATE TABLE ... LIKE {name}: the default group '{}' holds no shard of it; \
                 create the table with its own definition",
                schema.default_group
            )));
        };
        Some(
            match target(
                self.topo,
                &schema.default_group,
                Some(self.rewrite_for(shard, Vec::new())),
            ) {
                Ok(t) => ShardPlan::Action(Action::Forward {
                    targets: vec![t],
                    gather: Gather::Relay,
                    effects: self.effects(),
                }),
                Err(p) => p,
            },
        )
    }
}
