//! `SHOW WARNINGS` / `SHOW ERRORS` (and their `COUNT(*)` forms) read the
//! diagnostics the previous statement left on the server connection it
//! ran on. Through shardgate that may be a replica, another group, or
//! several shards, none of them the connection the next statement would
//! get. The session records the nodes whose reply carried warnings or an
//! error (`Session::warnings_on`) and keeps their connections for one more
//! statement (`PinReasons::WARNINGS`); a diagnostics read then goes to
//! exactly those nodes: one is relayed, several are concatenated (their
//! `COUNT(*)` is the session's record of the statement's warnings and
//! errors, answered by shardgate). After a SELECT or write that raised
//! none, shardgate answers them itself: empty, or a count of 0 (another
//! connection may still hold older diagnostics). A statement of no table
//! that raises none (SET, COMMIT) leaves the record as it is, as one
//! server keeps its diagnostics; shards of one node that ran one after
//! the other on one connection leave only the last one's.

use std::net::SocketAddr;

use crate::merge::MergeSpec;
use crate::sql::lexer::{Kw, LexOptions, Lexer, Op, TokenKind};

use super::local::{typed_result_set, LocalColumn, IDLE_STATUS};
use super::{Action, Effects, Gather, RouteCtx, RouteTarget};
use shardgate_proto::column::ColumnType;

/// Which diagnostics statement a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DiagnosticsRead {
    /// `SHOW WARNINGS|ERRORS [LIMIT ...]`
    List,
    /// `SHOW COUNT(*) WARNINGS|ERRORS` (`errors`: the ERRORS form)
    Count { errors: bool },
}

fn diagnostics_read(sql: &[u8], opts: LexOptions) -> Option<DiagnosticsRead> {
    let mut toks = Lexer::new(sql, opts);
    if toks.next()?.kind != TokenKind::Keyword(Kw::Show) {
        return None;
    }
    let is_list = |t: &crate::sql::Token| {
        let w = t.text(sql);
        w.eq_ignore_ascii_case(b"warnings") || w.eq_ignore_ascii_case(b"errors")
    };
    let t = toks.next()?;
    if is_list(&t) {
        return Some(DiagnosticsRead::List);
    }
    if !t.text(sql).eq_ignore_ascii_case(b"count") {
        return None;
    }
    let rest: Vec<TokenKind> = toks.by_ref().take(3).map(|t| t.kind).collect();
    let star = [
        TokenKind::LParen,
        TokenKind::Op(Op::Star),
        TokenKind::RParen,
    ];
    match toks.next() {
        Some(w) if rest == star && is_list(&w) => Some(DiagnosticsRead::Count {
            errors: w.text(sql).eq_ignore_ascii_case(b"errors"),
        }),
        _ => None,
    }
}

/// The plan of a diagnostics read when the previous statement left its
/// diagnostics on `nodes` (group, node; none: it raised none); `None` for
/// any other statement, or when the default route must answer.
pub fn plan_diagnostics(
    sql: &[u8],
    opts: LexOptions,
    nodes: &[(String, SocketAddr)],
    ctx: &RouteCtx,
) -> Option<Action> {
    let read = diagnostics_read(sql, opts)?;
    let gather = match (nodes.len(), read) {
        (0 | 2.., DiagnosticsRead::Count { errors }) => {
            let (all, errors_only) = ctx.diagnostics_count;
            let n = if nodes.is_empty() {
                0
            } else if errors {
                errors_only
            } else {
                all
            };
            return Some(Action::ReplyPackets(count_result(ctx, errors, n)));
        }
        (0, read) => {
            let status = status_of(ctx);
            // The columns one server sends (NOT NULL, UNSIGNED, BINARY
            // flags; 39: the decimals of a dynamic string).
            return Some(Action::ReplyPackets(match read {
                DiagnosticsRead::List => {
                    let columns = [
                        LocalColumn {
                            flags: 1,
                            decimals: 39,
                            ..LocalColumn::text("Level", 28)
                        },
                        LocalColumn {
                            column_type: ColumnType::Long,
                            collation: 63,
                            length: 4,
                            flags: 1 | 32 | 128,
                            ..LocalColumn::text("Code", 4)
                        },
                        LocalColumn {
                            flags: 1,
                            decimals: 39,
                            ..LocalColumn::text("Message", 2048)
                        },
                    ];
                    typed_result_set(ctx.caps, status, &columns, &[])
                }
                DiagnosticsRead::Count { errors } => count_result(ctx, errors, 0),
            }));
        }
        (1, _) => Gather::Relay,
        (_, DiagnosticsRead::List) => Gather::Merge(Box::new(MergeSpec::union())),
    };
    let targets = nodes
        .iter()
        .map(|(group, addr)| RouteTarget {
            group: group.clone(),
            addr: *addr,
            sql: None,
            infile: None,
        })
        .collect();
    Some(Action::Forward {
        targets,
        gather,
        effects: Effects {
            reads_diagnostics: true,
            exact_node: true,
            ..Effects::default()
        },
    })
}

/// The one-row result of `SHOW COUNT(*) WARNINGS|ERRORS`, with the column
/// one server sends.
fn count_result(ctx: &RouteCtx, errors: bool, n: u64) -> Vec<u8> {
    let name = if errors {
        "@@session.error_count"
    } else {
        "@@session.warning_count"
    };
    let column = LocalColumn {
        column_type: ColumnType::LongLong,
        collation: 63,
        length: 21,
        flags: 32 | 128,
        ..LocalColumn::text(name, 21)
    };
    typed_result_set(
        ctx.caps,
        status_of(ctx),
        &[column],
        &[vec![Some(n.to_string())]],
    )
}

fn status_of(ctx: &RouteCtx) -> u16 {
    if ctx.in_transaction {
        IDLE_STATUS | shardgate_proto::capability::StatusFlags::IN_TRANS.0
    } else {
        IDLE_STATUS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str) -> Option<DiagnosticsRead> {
        diagnostics_read(sql.as_bytes(), LexOptions::default())
    }

    #[test]
    fn recognises_the_diagnostics_statements() {
        assert_eq!(read("SHOW WARNINGS"), Some(DiagnosticsRead::List));
        assert_eq!(read("show errors limit 1"), Some(DiagnosticsRead::List));
        assert_eq!(
            read("/* c */ SHOW warnings LIMIT 0, 5"),
            Some(DiagnosticsRead::List)
        );
        assert_eq!(
            read("SHOW COUNT(*) WARNINGS"),
            Some(DiagnosticsRead::Count { errors: false })
        );
        assert_eq!(
            read("show count ( * ) errors"),
            Some(DiagnosticsRead::Count { errors: true })
        );
        for other in [
            "SHOW TABLES",
            "SHOW COUNT(x) WARNINGS",
            "SELECT 'SHOW WARNINGS'",
            "SHOW",
        ] {
            assert_eq!(read(other), None, "{other}");
        }
    }

    #[test]
    fn goes_to_the_nodes_that_hold_the_diagnostics() {
        let a: SocketAddr = "127.0.0.1:3310".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:3320".parse().unwrap();
        let opts = LexOptions::default();
        let one = [("g0".to_string(), a)];
        let two = [("g0".to_string(), a), ("g1".to_string(), b)];
        let ctx = RouteCtx::default();
        let plan = |sql: &str, nodes: &[(String, SocketAddr)]| {
            plan_diagnostics(sql.as_bytes(), opts, nodes, &ctx)
        };
        // After a statement that raised none: answered here.
        assert!(matches!(
            plan("SHOW WARNINGS", &[]),
            Some(Action::ReplyPackets(_))
        ));
        assert!(matches!(
            plan("SHOW COUNT(*) ERRORS", &[]),
            Some(Action::ReplyPackets(_))
        ));
        assert!(plan("SELECT 1", &one).is_none());
        match plan("SHOW COUNT(*) ERRORS", &one) {
            Some(Action::Forward {
                targets,
                gather: Gather::Relay,
                effects,
            }) => {
                assert_eq!(targets.len(), 1);
                assert_eq!(targets[0].addr, a);
                assert!(effects.reads_diagnostics);
            }
            other => panic!("{other:?}"),
        }
        match plan("SHOW WARNINGS", &two) {
            Some(Action::Forward {
                targets,
                gather: Gather::Merge(_),
                ..
            }) => {
                assert_eq!(targets.iter().map(|t| t.addr).collect::<Vec<_>>(), [a, b]);
            }
            other => panic!("{other:?}"),
        }
        // A count over several nodes: the session's record.
        let counted = RouteCtx {
            diagnostics_count: (5, 1),
            ..RouteCtx::default()
        };
        let count = |sql: &str| match plan_diagnostics(sql.as_bytes(), opts, &two, &counted) {
            Some(Action::ReplyPackets(p)) => p,
            other => panic!("{other:?}"),
        };
        let row_of = |p: &[u8]| {
            let mut rows = Vec::new();
            shardgate_proto::frame::for_each_packet(p, |x| rows.push(x.to_vec()));
            rows[rows.len() - 2].clone()
        };
        assert_eq!(row_of(&count("SHOW COUNT(*) WARNINGS")), b"\x015");
        assert_eq!(row_of(&count("SHOW COUNT(*) ERRORS")), b"\x011");
    }
}
