//! Table maintenance statements (`ANALYZE`, `OPTIMIZE`, `CHECK`, `REPAIR`,
//! `CHECKSUM TABLE`) naming sharded or broadcast tables: each group gets
//! the statement over the physical tables it holds (every shard of a
//! sharded table, the copy of a broadcast table, unsharded tables on the
//! schema's default group), and the groups' result rows (one per physical
//! table: `Table`, `Op`, `Msg_type`, `Msg_text`) are listed one after the
//! other; CHECKSUM TABLE answers one row per logical table, its physical
//! tables' checksums added up as one server's would be
//! ([`crate::merge::checksum`]).
//!
//! <https://mariadb.com/kb/en/analyze-table/>

use super::*;
use crate::route::default_target;
use crate::route::lookup::quote_ident;
use crate::sql::{unquote_ident, Lexer, Token, TokenKind};

/// The statements handled here, by their first word.
const VERBS: [&[u8]; 5] = [b"ANALYZE", b"OPTIMIZE", b"CHECK", b"REPAIR", b"CHECKSUM"];

/// One table of the list: schema and name unquoted, and where it is.
struct NamedTable {
    schema: Option<Vec<u8>>,
    name: Vec<u8>,
    range: Range<usize>,
}

/// Where the table list of a maintenance statement lies, and its tables.
struct TableList {
    range: Range<usize>,
    tables: Vec<NamedTable>,
}

/// `VERB [NO_WRITE_TO_BINLOG | LOCAL] TABLE[S] t [, t]... [options]`.
fn maintenance_tables(sql: &[u8], opts: LexOptions) -> Option<TableList> {
    let tokens: Vec<Token> = Lexer::new(sql, opts)
        .filter(|t| t.kind != TokenKind::Hint)
        .collect();
    let word = |i: usize| {
        tokens
            .get(i)
            .filter(|t| t.is_word())
            .map(|t| t.text(sql).to_ascii_uppercase())
    };
    let verb = word(0)?;
    if !VERBS.contains(&verb.as_slice()) {
        return None;
    }
    let mut i = 1;
    if matches!(word(i).as_deref(), Some(b"NO_WRITE_TO_BINLOG" | b"LOCAL")) {
        i += 1;
    }
    if !matches!(word(i).as_deref(), Some(b"TABLE" | b"TABLES")) {
        return None;
    }
    i += 1;
    let start = tokens.get(i)?.start;
    let mut tables = Vec::new();
    loop {
        let first = tokens.get(i).filter(|t| t.is_word())?;
        let (schema, name, end) = match (tokens.get(i + 1), tokens.get(i + 2)) {
            (Some(d), Some(n)) if d.kind == TokenKind::Dot && n.is_word() => {
                let schema = unquote_ident(first.text(sql)).into_owned();
                i += 3;
                (Some(schema), unquote_ident(n.text(sql)).into_owned(), n.end)
            }
            _ => {
                i += 1;
                (None, unquote_ident(first.text(sql)).into_owned(), first.end)
            }
        };
        tables.push(NamedTable {
            schema,
            name,
            range: first.start..end,
        });
        match tokens.get(i) {
            Some(t) if t.kind == TokenKind::Comma => i += 1,
            _ => break,
        }
    }
    let end = tables.last()?.range.end;
    Some(TableList {
        range: start..end,
        tables,
    })
}

/// The plan of a maintenance statement, `None` when `sql` is not one or
/// names no sharded or broadcast table.
pub(super) fn plan_maintenance(
    topo: &Topology,
    current: Option<&str>,
    sql: &[u8],
    opts: LexOptions,
) -> Option<ShardPlan> {
    // Most statements: one look at the first word.
    let start = sql.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let len = sql[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .count();
    let first = &sql[start..start + len];
    if !VERBS.iter().any(|v| v.eq_ignore_ascii_case(first)) {
        return None;
    }
    let list = maintenance_tables(sql, opts)?;
    // Physical table names per group, in the topology's group order.
    let mut per_group: Vec<Vec<Vec<u8>>> = vec![Vec::new(); topo.groups.len()];
    let mut push = |group: &str, name: Vec<u8>| {
        if let Some(g) = topo.groups.iter().position(|g| g.name == group) {
            per_group[g].push(name);
        }
    };
    let mut any = false;
    let mut sharded: Vec<String> = Vec::new();
    for NamedTable {
        schema,
        name,
        range,
    } in &list.tables
    {
        let schema_name = schema
            .as_ref()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .or_else(|| current.map(str::to_owned));
        let qualifier = |out: Vec<u8>| -> Vec<u8> {
            match schema {
                Some(s) => [
                    quote_ident(&String::from_utf8_lossy(s)).as_bytes(),
                    b".",
                    &out,
                ]
                .concat(),
                None => out,
            }
        };
        match placement_of(topo, schema_name.as_deref(), name) {
            Placement::Sharded { rule, name, .. } => {
                any = true;
                sharded.push(name.to_owned());
                for shard in 0..rule.shard_count() {
                    let Some(group) = rule.group_of_shard(shard) else {
                        return Some(refuse(format!(
                            "shardgate: shard {shard} of rule '{}' has no group",
                            rule.name
                        )));
                    };
                    push(group, qualifier(physical_sql_name(name, shard)));
                }
            }
            Placement::Broadcast => {
                any = true;
                for g in &topo.groups {
                    push(&g.name, sql[range.clone()].to_vec());
                }
            }
            Placement::Plain => match default_target(topo, schema_name.as_deref()) {
                Ok((group, _)) => push(&group, sql[range.clone()].to_vec()),
                Err((code, msg)) => return Some(ShardPlan::Action(err(code, &msg))),
            },
        }
    }
    if !any {
        return None;
    }
    let mut targets = Vec::new();
    for (g, names) in topo.groups.iter().zip(&per_group) {
        if names.is_empty() {
            continue;
        }
        let mut text = sql[..list.range.start].to_vec();
        text.extend_from_slice(&names.join(&b", "[..]));
        text.extend_from_slice(&sql[list.range.end..]);
        match target(topo, &g.name, Some(text)) {
            Ok(t) => targets.push(t),
            Err(p) => return Some(p),
        }
    }
    let gather = if first.eq_ignore_ascii_case(b"CHECKSUM") {
        // One row per logical table, the physical tables' checksums added.
        Gather::Rename(Box::new(crate::merge::rename::RenameSpec {
            sharded,
            checksum: true,
            ..Default::default()
        }))
    } else if targets.len() == 1 {
        Gather::Relay
    } else {
        Gather::Merge(Box::new(MergeSpec::union()))
    };
    Some(ShardPlan::Action(Action::Forward {
        targets,
        gather,
        effects: Effects::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Option<Vec<String>> {
        maintenance_tables(sql.as_bytes(), LexOptions::default()).map(|l| {
            l.tables
                .iter()
                .map(|t| {
                    let n = String::from_utf8_lossy(&t.name);
                    match &t.schema {
                        Some(s) => format!("{}.{n}", String::from_utf8_lossy(s)),
                        None => n.into_owned(),
                    }
                })
                .collect()
        })
    }

    #[test]
    fn reads_table_lists() {
        assert_eq!(names("ANALYZE TABLE t").unwrap(), ["t"]);
        assert_eq!(
            names("optimize no_write_to_binlog table `a b`, db.t2").unwrap(),
            ["a b", "db.t2"]
        );
        assert_eq!(names("CHECK TABLE t, u EXTENDED").unwrap(), ["t", "u"]);
        assert_eq!(names("CHECKSUM TABLE t QUICK").unwrap(), ["t"]);
        assert_eq!(names("ANALYZE SELECT 1"), None);
        assert_eq!(names("SELECT 1"), None);
        assert_eq!(names("REPAIR TABLE"), None);
    }
}
