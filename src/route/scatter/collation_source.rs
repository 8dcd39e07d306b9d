//! Where the collation of a computed select item or ORDER BY / GROUP BY
//! expression comes from, read off its tokens for the merger
//! ([`ExprCollation`]; the merger resolves column names to collations once
//! it has the table's columns and the shards' column definitions).
//!
//! MySQL's rules, as far as the merge needs them: an explicit `COLLATE`
//! wins; string functions that build their result from their arguments
//! (`CONCAT`, `UPPER`, `SUBSTRING`, `TRIM`, `IFNULL`, `CASE`, ...) keep the
//! collation of their column arguments; anything else (`CAST`, `CONVERT`,
//! JSON functions, subqueries, functions shardgate does not know) is
//! [`ExprCollation::Unknown`].

use crate::merge::collation::collation_id_by_name;
use crate::merge::ExprCollation;
use crate::sql::lexer::{self, Kw, LexOptions, TokenKind};

/// Functions whose string result has the collation of their string
/// arguments (MySQL's collation aggregation over the arguments).
const KEEPING: &[&str] = &[
    "concat",
    "concat_ws",
    "upper",
    "ucase",
    "lower",
    "lcase",
    "substring",
    "substr",
    "mid",
    "left",
    "right",
    "trim",
    "ltrim",
    "rtrim",
    "replace",
    "lpad",
    "rpad",
    "reverse",
    "repeat",
    "insert",
    "substring_index",
    "ifnull",
    "coalesce",
    "nullif",
    "if",
    "greatest",
    "least",
    "min",
    "max",
];

/// The collation source of the expression `expr` (its SQL text); `None`
/// when it names no column and no collation (literals only: the
/// connection's collation, which the column definition already says).
pub fn collation_source(expr: &[u8]) -> Option<ExprCollation> {
    let tokens = lexer::tokenize(expr, LexOptions::default());
    let word = |i: usize| {
        tokens.get(i).is_some_and(|t| {
            matches!(
                t.kind,
                TokenKind::Ident | TokenKind::QuotedIdent | TokenKind::Keyword(_)
            )
        })
    };
    let mut named: Option<String> = None;
    let mut columns: Vec<Vec<u8>> = Vec::new();
    let mut kept = true;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        if t.kw() == Some(Kw::Collate) {
            if let Some(n) = tokens.get(i + 1) {
                let text = match n.kind {
                    TokenKind::String => {
                        lexer::string_value(n.text(expr), LexOptions::default()).into_owned()
                    }
                    _ => lexer::unquote_ident(n.text(expr)).into_owned(),
                };
                named = Some(String::from_utf8_lossy(&text).into_owned());
            }
            i += 2;
            continue;
        }
        if t.kw() == Some(Kw::Select) {
            kept = false;
        }
        if word(i) {
            let next = tokens.get(i + 1).map(|t| t.kind);
            if next == Some(TokenKind::LParen) {
                let name = t.text(expr).to_ascii_lowercase();
                if !KEEPING.iter().any(|k| k.as_bytes() == name.as_slice()) {
                    kept = false;
                }
            } else if next != Some(TokenKind::Dot) {
                // A column (the last part of `t.col`), or a keyword that
                // no table column is named like.
                columns.push(lexer::unquote_ident(t.text(expr)).to_ascii_lowercase());
            }
        }
        i += 1;
    }
    if let Some(name) = named {
        return Some(match collation_id_by_name(&name) {
            Some(id) => ExprCollation::Named(id),
            None => ExprCollation::Unsupported(name),
        });
    }
    if columns.is_empty() {
        return None;
    }
    columns.sort();
    columns.dedup();
    Some(if kept {
        ExprCollation::Kept(columns)
    } else {
        ExprCollation::Unknown(columns)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(e: &str) -> Option<ExprCollation> {
        collation_source(e.as_bytes())
    }

    fn names(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn explicit_collate_wins() {
        assert_eq!(
            src("title COLLATE utf8mb4_bin"),
            Some(ExprCollation::Named(46))
        );
        assert_eq!(
            src("CONCAT(a, b COLLATE 'latin1_bin')"),
            Some(ExprCollation::Named(47))
        );
        assert_eq!(
            src("x COLLATE utf8mb4_unicode_520_ci"),
            Some(ExprCollation::Unsupported("utf8mb4_unicode_520_ci".into()))
        );
    }

    #[test]
    fn keeping_functions_name_their_columns() {
        assert_eq!(
            src("CONCAT(tag, '')"),
            Some(ExprCollation::Kept(names(&["tag"])))
        );
        assert_eq!(
            src("UPPER(t.`Code`)"),
            Some(ExprCollation::Kept(names(&["code"])))
        );
        assert_eq!(
            src("SUBSTRING(tenant, 1, 3)"),
            Some(ExprCollation::Kept(names(&["tenant"])))
        );
        assert_eq!(
            src("CASE WHEN a > 1 THEN b ELSE c END"),
            Some(ExprCollation::Kept(names(&[
                "a", "b", "c", "case", "else", "end", "then", "when"
            ])))
        );
    }

    #[test]
    fn other_functions_are_unknown_and_literals_need_nothing() {
        assert_eq!(
            src("CAST(tag AS CHAR)"),
            Some(ExprCollation::Unknown(names(&["as", "char", "tag"])))
        );
        assert_eq!(
            src("JSON_VALUE(doc, '$.a')"),
            Some(ExprCollation::Unknown(names(&["doc"])))
        );
        assert_eq!(
            src("(SELECT MAX(x) FROM t)"),
            Some(ExprCollation::Unknown(names(&["from", "select", "t", "x"])))
        );
        assert_eq!(src("'abc'"), None);
        assert_eq!(src("CONCAT('a', 'b')"), None);
    }
}
