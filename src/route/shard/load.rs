//! `LOAD DATA LOCAL INFILE` into a sharded or broadcast table (bulk loads,
//! `mariadb-import`, the restore of `mariadb-dump --tab`). No one server
//! holds the table, so the file cannot go to one: shardgate asks the
//! client for the file itself (`Action::ReadInfile`), then this planner
//! runs again with the file's bytes (`RouteCtx::infile`, on a worker) and
//! cuts it into records exactly as the server would (`route::infile`).
//! Each record goes, byte for byte, to the shard its key field maps to;
//! every shard that gets records runs the statement on its physical table
//! with its part of the file (`IGNORE n LINES` applied by shardgate and
//! cut from the statement), and their OKs are added up (`Records: ..
//! Deleted: .. Skipped: .. Warnings: ..`). A broadcast table's file goes
//! whole to every group. Outside a transaction the shards load inside
//! shardgate's own transaction, so a failing shard leaves no rows anywhere
//! (`reactor/implicit_txn.rs`).
//!
//! Refused with a `shardgate:` message before any row is written: a server
//! file (no LOCAL: the file is on a database host), LOAD XML, the
//! fixed-width format, a key column not read from the file (absent from
//! the field list, or assigned by SET), a record without the key field or
//! with a key no shard takes (its line number is given), a file larger
//! than [`MAX_INFILE_BYTES`] (`reactor::load_data`).

use super::*;
use crate::route::infile::{Field, Format, Reader};
use crate::sql::parse::LoadData;

/// The largest file shardgate splits (held in memory while it is split).
pub const MAX_INFILE_BYTES: usize = 256 << 20;

impl<'a, 't> Planner<'a, 't> {
    pub(super) fn plan_load(&self, load: &LoadData<'_>) -> ShardPlan {
        let Some(Some(placement)) = self.placements.first() else {
            return ShardPlan::NotSharded;
        };
        let table = match placement {
            Placement::Sharded { name, .. } => format!("sharded table '{name}'"),
            Placement::Broadcast => format!(
                "broadcast table '{}'",
                self.parsed
                    .tables
                    .first()
                    .map_or_else(String::new, |t| String::from_utf8_lossy(&t.name.name)
                        .into_owned())
            ),
            Placement::Plain => return ShardPlan::NotSharded,
        };
        if load.xml {
            return refuse(format!(
                "shardgate: LOAD XML into {table} is not supported; use LOAD DATA LOCAL INFILE"
            ));
        }
        if !load.local {
            return refuse(format!(
                "shardgate: LOAD DATA INFILE into {table} reads a file on the database servers, \
                 which every group's server would need; use LOAD DATA LOCAL INFILE (the client \
                 sends the file and shardgate sends each group its records)"
            ));
        }
        if !self
            .ctx
            .caps
            .contains(shardgate_proto::capability::Capabilities::LOCAL_FILES)
        {
            return ShardPlan::Action(err(
                ec::ER_NOT_ALLOWED_COMMAND,
                "The used command is not allowed because the client has disabled the local infile \
                 capability",
            ));
        }
        if self.prepare {
            return refuse(format!(
                "shardgate: LOAD DATA into {table} cannot be prepared; send it as a query"
            ));
        }
        match placement {
            Placement::Sharded {
                schema,
                name,
                key,
                rule,
            } => self.plan_load_sharded(load, schema, name, key, rule),
            _ => self.plan_load_broadcast(),
        }
    }

    /// A broadcast table: the whole file to every group.
    fn plan_load_broadcast(&self) -> ShardPlan {
        let Some(file) = self.ctx.infile.as_ref() else {
            return self.read_infile();
        };
        let mut targets = Vec::new();
        for g in &self.topo.groups {
            match target(self.topo, &g.name, None) {
                Ok(mut t) => {
                    t.infile = Some(file.to_vec());
                    targets.push(t);
                }
                Err(p) => return p,
            }
        }
        ShardPlan::Action(Action::Forward {
            targets,
            gather: Gather::SameOk,
            effects: self.effects(),
        })
    }

    fn read_infile(&self) -> ShardPlan {
        let Stmt::LoadData(load) = &self.parsed.stmt else {
            return refuse("shardgate: not a LOAD DATA statement");
        };
        ShardPlan::Action(Action::ReadInfile {
            file: load.file.clone(),
        })
    }

    fn plan_load_sharded(
        &self,
        load: &LoadData<'_>,
        schema: &Schema,
        name: &str,
        key: &str,
        rule: &Rule,
    ) -> ShardPlan {
        if load.set_columns.iter().any(|c| c.is(key.as_bytes())) {
            return refuse(format!(
                "shardgate: LOAD DATA into sharded table '{name}' must read its shard key '{key}' \
                 straight from the file (name it in the field list), not set it with SET"
            ));
        }
        let (fields, key_at) = match &load.columns {
            Some(list) => (
                list.len(),
                list.iter()
                    .position(|c| c.as_ref().is_some_and(|c| c.is(key.as_bytes()))),
            ),
            None => match self.table_columns(schema, name, rule) {
                Ok(cols) if cols.ordered.is_empty() => {
                    return ShardPlan::Action(err(
                        ec::ER_NO_SUCH_TABLE,
                        &format!("Table '{}.{name}' doesn't exist", schema.name),
                    ))
                }
                Ok(cols) => (cols.ordered.len(), cols.position(key.as_bytes())),
                Err(p) => return p,
            },
        };
        let Some(key_at) = key_at else {
            return refuse(format!(
                "shardgate: LOAD DATA into sharded table '{name}' must read its shard key '{key}' \
                 from the file: name it in the field list"
            ));
        };
        let format = Format::new(
            &load.fields_terminated,
            &load.enclosed,
            &load.escaped,
            &load.lines_starting,
            &load.lines_terminated,
        );
        if format.is_fixed_width() {
            return refuse(
                "shardgate: LOAD DATA with FIELDS TERMINATED BY '' ENCLOSED BY '' (fixed-width \
                 rows) into a sharded table is not supported",
            );
        }
        // The file's character set: a key is converted from it to the key
        // column's, as the server converts the field to store it.
        let file_charset = match &load.charset {
            None => None,
            Some(cs) => match crate::merge::charset::charset_by_name(cs) {
                Some(c) => Some(c),
                None => {
                    return refuse(format!(
                        "shardgate: LOAD DATA into sharded table '{name}': the file character set \
                         '{}' is not supported (use utf8mb4, latin1, ascii or binary)",
                        String::from_utf8_lossy(cs)
                    ))
                }
            },
        };
        let Some(file) = self.ctx.infile.as_ref() else {
            return self.read_infile();
        };
        let mut env = match self.env(schema, rule) {
            Ok(e) => e,
            Err(p) => return p,
        };
        env.convert =
            file_charset.and_then(|cs| self.state.key_conversion(&schema.name, name, Some(cs)));
        // The records, shard by shard, in the file's order.
        let mut parts: Vec<Vec<u8>> = vec![Vec::new(); rule.shard_count()];
        let mut reader = Reader::new(file, format);
        let ignored = load.ignore_lines.as_ref().map_or(0, |(n, _)| *n);
        reader.skip_lines(ignored);
        let mut line = ignored;
        while let Some(record) = reader.next_record(fields, key_at) {
            line += 1;
            let value = match record.field {
                Some(Field::Null) => KeyValue::Null,
                Some(Field::Value(v)) => KeyValue::from_string(&v),
                None => {
                    return refuse(format!(
                    "shardgate: LOAD DATA into sharded table '{name}': line {line} has no value \
                         for shard key '{key}'; nothing was loaded"
                ))
                }
            };
            let shard = match rules::shard_for_key(rule, &env, &value) {
                Ok(s) => s as usize,
                Err(RouteError::DirectoryNeeded { .. }) if !self.may_block => {
                    return ShardPlan::NeedsWorker
                }
                Err(e) => {
                    let e = e.with_table(name);
                    let why = e.to_string();
                    let why = why.strip_prefix("shardgate: ").unwrap_or(&why);
                    return ShardPlan::Action(err(
                        e.code(),
                        &format!(
                            "shardgate: LOAD DATA into sharded table '{name}': line {line}: {why}; \
                             nothing was loaded"
                        ),
                    ));
                }
            };
            let Some(part) = parts.get_mut(shard) else {
                return refuse(format!(
                    "shardgate: LOAD DATA into sharded table '{name}': shard {shard} out of range"
                ));
            };
            part.extend_from_slice(&file[record.bytes]);
        }
        // Each shard skips nothing: shardgate skipped the lines.
        let cut: Vec<(Range<usize>, Vec<u8>)> = load
            .ignore_lines
            .as_ref()
            .map(|(_, at)| vec![(at.clone(), Vec::new())])
            .unwrap_or_default();
        // An empty file still gets its reply (`Records: 0 ...`), from the
        // first shard.
        let any = parts.iter().any(|p| !p.is_empty());
        let mut targets = Vec::new();
        for (shard, part) in parts.into_iter().enumerate() {
            if part.is_empty() && (any || shard > 0) {
                continue;
            }
            let group = match Self::group_of(rule, shard) {
                Ok(g) => g,
                Err(p) => return p,
            };
            match target(self.topo, group, Some(self.rewrite_for(shard, cut.clone()))) {
                Ok(mut t) => {
                    t.infile = Some(part);
                    targets.push(t);
                }
                Err(p) => return p,
            }
        }
        let mut effects = self.effects();
        effects.pin = crate::session::PinReasons::LAST_INSERT_ID;
        ShardPlan::Action(Action::Forward {
            targets,
            gather: Gather::SumOk(None),
            effects,
        })
    }
}
