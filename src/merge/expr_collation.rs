//! The collations of computed string columns. MariaDB's column
//! definitions carry the connection's collation for every result column,
//! computed or not; for plain table columns the merger takes the real one
//! from the table (`MergeSpec::column_collations`), and for expressions
//! from what the planner found in them ([`ExprCollation`]): an explicit
//! `COLLATE`, or the collation of the string columns that functions like
//! `CONCAT`/`UPPER` keep. An expression whose collation cannot be told is
//! refused as a merge key (ORDER BY, GROUP BY, DISTINCT) unless its string
//! columns have the connection's collation anyway.

use shardgate_proto::error_codes::{ErrorCode, ER_NOT_SUPPORTED_YET};

use super::key::ColMeta;
use super::spec::{ExprCollation, MergeSpec};

/// Sets the collation of each computed string column of `meta` (as the
/// shards described it) from `spec.expr_collations`; an error for a merge
/// key whose collation cannot be told.
pub(super) fn apply(spec: &MergeSpec, meta: &mut [ColMeta]) -> Result<(), (ErrorCode, String)> {
    let visible = meta.len().saturating_sub(spec.hidden);
    let is_key = |c: usize| {
        spec.order_by.iter().any(|o| o.column == c)
            || spec.group_by.contains(&c)
            || (spec.distinct && c < visible)
            || spec
                .aggregates
                .contains(&(c, super::spec::Aggregate::CountDistinct))
    };
    let of_column = |name: &[u8]| {
        spec.column_collations
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, id)| *id)
    };
    for (c, source) in &spec.expr_collations {
        let Some(m) = meta.get_mut(*c) else {
            continue;
        };
        if !m.is_string() || m.charset == super::collation::BINARY {
            continue;
        }
        let connection = m.charset;
        let refuse = |why: String| {
            Err((
                ER_NOT_SUPPORTED_YET,
                format!(
                    "shardgate: ORDER BY / GROUP BY / DISTINCT on result column {} cannot be merged across \
                     shards: {why}",
                    c + 1
                ),
            ))
        };
        match source {
            ExprCollation::Named(id) => m.charset = *id,
            ExprCollation::Unsupported(name) if is_key(*c) => {
                return refuse(format!("collation {name} is not supported by the merge"));
            }
            ExprCollation::Unsupported(_) => {}
            ExprCollation::Kept(cols) | ExprCollation::Unknown(cols) => {
                let mut ids: Vec<u16> = cols
                    .iter()
                    .filter_map(|n| of_column(n))
                    .filter(|&id| id != super::collation::BINARY)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                let kept = matches!(source, ExprCollation::Kept(_));
                match ids.as_slice() {
                    [] => {}
                    [id] if kept => m.charset = *id,
                    ids if ids.iter().all(|&id| id == connection) => {}
                    _ if is_key(*c) => {
                        return refuse(
                            "shardgate cannot tell the collation of the expression; \
                             give it one with COLLATE"
                                .into(),
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
