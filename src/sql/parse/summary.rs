//! A compact one-line text form of a [`Parsed`], used by the parser's test
//! corpus (`testdata/parse.txt`) and handy in logs and `EXPLAIN SHARDGATE`.
//!
//! Fields, each printed only when it has something to say:
//! `<stmt> [hint(...)] [!reason] [multi] [tables=[...]] [quals=[...]]
//! <block 0 fields> [#n:<kind>/<place>^parent{<fields>}...] [insert/update
//! fields] [info_schema=...] [params=N]`. Table references print as
//! `[role:]schema.name@start..end [as alias]` (role omitted for FROM; `#b`
//! for a block other than 0); qualifiers as `t.c->t0` (table 0 by name),
//! `->a0` (by alias), `->b2` (derived block 2), `->?`. Predicates print as
//! `AND(...)`, `OR(...)`, leaves like `id=42`, `id IN (1,2)`, and unknown
//! conditions as `?{text}`. Values: `42`, `'str'`, `_cs'str'`, `x'41'`,
//! `?0` (placeholder ordinal), `NULL`, `TRUE`.

use std::fmt::Write as _;

use super::types::*;

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn text(sql: &[u8], r: &std::ops::Range<usize>) -> String {
    s(sql.get(r.clone()).unwrap_or(&[]))
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(", ")
}

fn col(c: &Column<'_>) -> String {
    let mut out = String::new();
    for part in [&c.schema, &c.table].into_iter().flatten() {
        out.push_str(&s(&part.name));
        out.push('.');
    }
    out.push_str(&s(&c.name.name));
    out
}

pub(super) fn value(v: &Value<'_>) -> String {
    match &v.lit {
        Literal::Int(n) => n.to_string(),
        Literal::UInt(n) => n.to_string(),
        Literal::Decimal { neg, digits } => format!("{}{}", if *neg { "-" } else { "" }, s(digits)),
        Literal::Float { neg, text } => format!("{}{}", if *neg { "-" } else { "" }, s(text)),
        Literal::Str { bytes, charset } => match charset {
            Some(cs) => format!("_{}'{}'", s(cs), s(bytes)),
            None => format!("'{}'", s(bytes)),
        },
        Literal::Hex(b) => format!(
            "x'{}'",
            b.iter().map(|b| format!("{b:02X}")).collect::<String>()
        ),
        Literal::Bits(d) => format!("b'{}'", s(d)),
        Literal::Null => "NULL".into(),
        Literal::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Literal::Param(n) => format!("?{n}"),
    }
}

fn op(o: CmpOp) -> &'static str {
    match o {
        CmpOp::Eq => "=",
        CmpOp::NullSafeEq => "<=>",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
        CmpOp::Ne => "<>",
    }
}

fn tree<L>(sql: &[u8], t: &Tree<L>, leaf: &dyn Fn(&L) -> String) -> String {
    match t {
        Tree::And(v) => format!("AND({})", list(v, |x| tree(sql, x, leaf))),
        Tree::Or(v) => format!("OR({})", list(v, |x| tree(sql, x, leaf))),
        Tree::Leaf(l) => leaf(l),
        Tree::Unknown(r) => format!("?{{{}}}", text(sql, r)),
    }
}

fn pred(sql: &[u8], p: &Pred<'_>) -> String {
    tree(sql, p, &|l: &Leaf<'_>| match l {
        Leaf::Cmp {
            col: c,
            op: o,
            value: v,
        } => format!("{}{}{}", col(c), op(*o), value(v)),
        Leaf::In { col: c, values } => format!("{} IN ({})", col(c), list(values, value)),
        Leaf::Between { col: c, low, high } => {
            format!("{} BETWEEN {} AND {}", col(c), value(low), value(high))
        }
        Leaf::IsNull { col: c } => format!("{} IS NULL", col(c)),
        Leaf::ColumnEq { left, right } => format!("{}={}", col(left), col(right)),
        Leaf::InSubquery { col: c, .. } => format!("{} IN (subquery)", col(c)),
    })
}

fn agg(sql: &[u8], a: &Aggregate) -> String {
    let f = match a.func {
        AggFunc::Count => "count",
        AggFunc::Sum => "sum",
        AggFunc::Min => "min",
        AggFunc::Max => "max",
        AggFunc::Avg => "avg",
    };
    let arg = match &a.arg {
        AggArg::Star => "*".to_string(),
        AggArg::Expr(r) => text(sql, r),
    };
    format!("{f}({}{arg})", if a.distinct { "distinct " } else { "" })
}

fn info(i: &ExprInfo) -> String {
    let mut out = String::new();
    for (on, tag) in [
        (i.aggregate, "+agg"),
        (i.window, "+win"),
        (i.subquery, "+sub"),
    ] {
        if on {
            out.push_str(tag);
        }
    }
    out
}

fn key(sql: &[u8], k: &Key<'_>, expr: &std::ops::Range<usize>) -> String {
    match k {
        Key::Column(c) => format!("col({})", col(c)),
        Key::Alias(n) => format!("alias({n})"),
        Key::Position(n) => format!("pos({n})"),
        Key::Expr(i) => format!("expr({}){}", text(sql, expr), info(i)),
    }
}

fn operand(sql: &[u8], o: &Operand<'_>, r: &std::ops::Range<usize>) -> String {
    match o {
        Operand::Value(v) => value(v),
        Operand::Default => "DEFAULT".into(),
        Operand::Expr(i) => format!("expr({}){}", text(sql, r), info(i)),
    }
}

fn assigns(sql: &[u8], a: &[Assign<'_>]) -> String {
    list(a, |a| {
        format!(
            "{}={}",
            col(&a.column),
            operand(sql, &a.value, &a.value_range)
        )
    })
}

fn role(r: TableRole) -> &'static str {
    match r {
        TableRole::From => "",
        TableRole::UpdateTarget => "update:",
        TableRole::DeleteTarget => "delete:",
        TableRole::InsertTarget => "insert:",
        TableRole::Create => "create:",
        TableRole::CreateLike => "like:",
        TableRole::Alter => "alter:",
        TableRole::RenameFrom => "rename-from:",
        TableRole::RenameTo => "rename-to:",
        TableRole::Drop => "drop:",
        TableRole::Truncate => "truncate:",
        TableRole::IndexOn => "index-on:",
        TableRole::Referenced => "ref:",
        TableRole::Lock => "lock:",
        TableRole::Load => "load:",
        TableRole::Show => "show:",
        TableRole::Describe => "describe:",
    }
}

fn resolved(r: Resolved) -> String {
    match r {
        Resolved::Table(t) => format!("t{t}"),
        Resolved::Alias(t) => format!("a{t}"),
        Resolved::Derived(b) => format!("b{b}"),
        Resolved::Unresolved => "?".into(),
    }
}

fn table(t: &TableRef<'_>) -> String {
    let mut out = role(t.role).to_string();
    if let Some(sc) = &t.schema {
        let _ = write!(out, "{}.", s(&sc.name));
    }
    let _ = write!(
        out,
        "{}@{}..{}",
        s(&t.name.name),
        t.range.start,
        t.range.end
    );
    if let Some(a) = &t.alias {
        let _ = write!(out, " as {}", s(&a.name));
    }
    if t.block != 0 {
        let _ = write!(out, "#{}", t.block);
    }
    if let Some(c) = t.cte {
        let _ = write!(out, "=cte{c}");
    }
    if let Some(r) = t.target_of {
        let _ = write!(out, "->{}", resolved(r));
    }
    out
}

fn join(j: JoinKind) -> &'static str {
    match j {
        JoinKind::First => "",
        JoinKind::Comma => ", ",
        JoinKind::Inner => " JOIN ",
        JoinKind::Cross => " CROSS ",
        JoinKind::Straight => " STRAIGHT ",
        JoinKind::Left => " LEFT ",
        JoinKind::Right => " RIGHT ",
        JoinKind::Natural => " NATURAL ",
        JoinKind::NaturalLeft => " NATURAL-LEFT ",
        JoinKind::NaturalRight => " NATURAL-RIGHT ",
    }
}

fn block(sql: &[u8], b: &Block<'_>, out: &mut Vec<String>) {
    if b.kind == BlockKind::Union {
        out.push(format!("union({})", list(&b.parts, |p| format!("#{p}"))));
    }
    if b.distinct {
        out.push("distinct".into());
    }
    if b.calc_found_rows {
        out.push("calc_found_rows".into());
    }
    if !b.items.is_empty() {
        out.push(format!(
            "items=[{}]",
            list(&b.items, |it| {
                let mut x = match &it.kind {
                    ItemKind::Column(c) => format!("col({})", col(c)),
                    ItemKind::Star { schema, table } => {
                        let mut x = String::new();
                        for p in [schema, table].into_iter().flatten() {
                            let _ = write!(x, "{}.", s(&p.name));
                        }
                        x + "*"
                    }
                    ItemKind::Aggregate(a) => agg(sql, a),
                    ItemKind::Expr(i) => format!("expr({}){}", text(sql, &it.expr), info(i)),
                };
                if let Some(a) = &it.alias {
                    let _ = write!(x, " as {}", s(&a.name));
                }
                x
            })
        ));
    }
    let simple_from = matches!(b.from.as_slice(), [f] if matches!(f.source, Source::Table(_)) && f.on.is_none() && f.using.is_empty());
    if !b.from.is_empty() && !simple_from {
        let mut x = String::new();
        for f in &b.from {
            x.push_str(join(f.join));
            match &f.source {
                Source::Table(t) => {
                    let _ = write!(x, "t{t}");
                }
                Source::Derived { block, alias } => {
                    let _ = write!(x, "(#{block})");
                    if let Some(a) = alias {
                        let _ = write!(x, " as {}", s(&a.name));
                    }
                }
                Source::Other(r) => {
                    let _ = write!(x, "fn({})", text(sql, r));
                }
            }
            if let Some(on) = &f.on {
                let _ = write!(x, " ON {}", pred(sql, on));
            }
            if !f.using.is_empty() {
                let _ = write!(x, " USING({})", list(&f.using, |u| s(&u.name)));
            }
        }
        out.push(format!("from=[{x}]"));
    }
    if b.nested_joins {
        out.push("nested".into());
    }
    if let Some(w) = &b.where_ {
        out.push(format!("where={}", pred(sql, w)));
    }
    if !b.group_by.is_empty() {
        out.push(format!(
            "group=[{}]",
            list(&b.group_by, |g| key(sql, &g.key, &g.range))
        ));
    }
    if b.with_rollup {
        out.push("rollup".into());
    }
    if let Some(h) = &b.having {
        out.push(format!(
            "having={}",
            tree(sql, &h.pred, &|l: &HavingLeaf<'_>| {
                let lhs = match &l.operand {
                    HavingOperand::Aggregate(a) => agg(sql, a),
                    HavingOperand::Name(c) => col(c),
                };
                format!("{lhs}{}{}", op(l.op), value(&l.value))
            })
        ));
    }
    if !b.order_by.is_empty() {
        out.push(format!(
            "order=[{}]",
            list(&b.order_by, |o| {
                let mut x = key(sql, &o.key, &o.expr);
                if o.desc {
                    x.push_str(" desc");
                }
                match o.nulls {
                    Some(Nulls::First) => x.push_str(" nulls-first"),
                    Some(Nulls::Last) => x.push_str(" nulls-last"),
                    None => {}
                }
                x
            })
        ));
    }
    if let Some(l) = &b.limit {
        let off = l
            .offset
            .as_ref()
            .map(|o| value(o) + ",")
            .unwrap_or_default();
        out.push(format!(
            "limit={off}{}@{}..{}",
            value(&l.count),
            l.range.start,
            l.range.end
        ));
    }
    match b.lock {
        Some(LockMode::Update) => out.push("lock=update".into()),
        Some(LockMode::Share) => out.push("lock=share".into()),
        None => {}
    }
    match b.into {
        Some(IntoTarget::Outfile) => out.push("into=outfile".into()),
        Some(IntoTarget::Dumpfile) => out.push("into=dumpfile".into()),
        Some(IntoTarget::Vars) => out.push("into=vars".into()),
        None => {}
    }
    if !b.subqueries.is_empty() {
        let names = [
            (Clause::SelectList, "select"),
            (Clause::From, "from"),
            (Clause::JoinOn, "on"),
            (Clause::Where, "where"),
            (Clause::GroupBy, "group"),
            (Clause::Having, "having"),
            (Clause::OrderBy, "order"),
            (Clause::Set, "set"),
            (Clause::Values, "values"),
            (Clause::OnDuplicate, "dup"),
            (Clause::Other, "other"),
        ];
        let v: Vec<_> = names
            .iter()
            .filter(|(c, _)| b.subqueries.contains(*c))
            .map(|(_, n)| *n)
            .collect();
        out.push(format!("subq=[{}]", v.join(",")));
    }
}

fn stmt(sql: &[u8], st: &Stmt<'_>) -> String {
    let flags = |name: &str, f: &[(bool, &str)]| {
        let mut x = name.to_string();
        for (on, tag) in f {
            if *on {
                x.push(' ');
                x.push_str(tag);
            }
        }
        x
    };
    match st {
        Stmt::Select => "select".into(),
        Stmt::Insert(i) => flags(
            if i.replace { "replace" } else { "insert" },
            &[(i.ignore, "ignore")],
        ),
        Stmt::Update { .. } => "update".into(),
        Stmt::Delete { multi } => if *multi { "delete-multi" } else { "delete" }.into(),
        Stmt::CreateTable {
            or_replace,
            temporary,
            if_not_exists,
            ..
        } => flags(
            "create-table",
            &[
                (*or_replace, "or-replace"),
                (*temporary, "temporary"),
                (*if_not_exists, "if-not-exists"),
            ],
        ),
        Stmt::AlterTable => "alter-table".into(),
        Stmt::DropTable {
            temporary,
            if_exists,
        } => flags(
            "drop-table",
            &[(*temporary, "temporary"), (*if_exists, "if-exists")],
        ),
        Stmt::Truncate => "truncate".into(),
        Stmt::RenameTable => "rename-table".into(),
        Stmt::CreateIndex { unique, name } => flags(
            &format!("create-index({})", s(&name.name)),
            &[(*unique, "unique")],
        ),
        Stmt::DropIndex { name } => format!("drop-index({})", s(&name.name)),
        Stmt::CreateDatabase {
            name,
            if_not_exists,
        } => flags(
            &format!("create-database({})", s(&name.name)),
            &[(*if_not_exists, "if-not-exists")],
        ),
        Stmt::DropDatabase { name, if_exists } => flags(
            &format!("drop-database({})", s(&name.name)),
            &[(*if_exists, "if-exists")],
        ),
        Stmt::Use { name } => format!("use({})", s(&name.name)),
        Stmt::LockTables { .. } => "lock-tables".into(),
        Stmt::LoadData(l) => format!(
            "load-data{}{}",
            if l.local { " local" } else { "" },
            if l.xml { " xml" } else { "" }
        ),
        Stmt::UnlockTables => "unlock-tables".into(),
        Stmt::ShowTables(t) => {
            let mut x = flags("show-tables", &[(t.full, "full"), (t.status, "status")]);
            if let Some(db) = &t.db {
                let _ = write!(x, " db={}", s(&db.name));
            }
            if let Some(l) = &t.like {
                let _ = write!(x, " like={}", value(l));
            }
            if let Some(w) = &t.where_ {
                let _ = write!(x, " where={{{}}}", text(sql, w));
            }
            x
        }
        Stmt::ShowCreateTable => "show-create-table".into(),
        Stmt::ShowColumns { full } => flags("show-columns", &[(*full, "full")]),
        Stmt::ShowIndex => "show-index".into(),
        Stmt::ShowOther => "show".into(),
        Stmt::Describe => "describe".into(),
        Stmt::SetShardKey {
            value: v, alone, ..
        } => {
            let v = match v {
                ShardKeyValue::Set(v) => value(v),
                ShardKeyValue::Clear => "clear".into(),
            };
            flags(&format!("set-shard-key({v})"), &[(!alone, "with-others")])
        }
        Stmt::ExplainShardgate { inner } => format!("explain-shardgate{{{}}}", text(sql, inner)),
        Stmt::Other => "other".into(),
    }
}

/// See the module documentation.
pub(super) fn summary(p: &Parsed<'_>, sql: &[u8]) -> String {
    let mut out = vec![stmt(sql, &p.stmt)];
    if let Some(h) = &p.hint {
        let mut v = Vec::new();
        if let Some(k) = &h.key {
            v.push(format!("key={}", value(k)));
        }
        if let Some(n) = h.shard {
            v.push(format!("shard={n}"));
        }
        if h.master {
            v.push("master".into());
        }
        if let Some(e) = h.error {
            v.push(format!("error={{{e}}}"));
        }
        out.push(format!("hint({})", v.join(",")));
    }
    if let Some(u) = &p.unsupported {
        out.push(format!("!{{{}}}@{}", u.reason, u.at));
    }
    if p.multi_statement {
        out.push("multi".into());
    }
    if !p.tables.is_empty() {
        out.push(format!("tables=[{}]", list(&p.tables, table)));
    }
    if !p.qualified.is_empty() {
        out.push(format!(
            "quals=[{}]",
            list(&p.qualified, |q| format!(
                "{}->{}",
                text(sql, &q.range),
                resolved(q.resolved)
            ))
        ));
    }
    if let Some(b0) = p.blocks.first() {
        block(sql, b0, &mut out);
    }
    match &p.stmt {
        Stmt::Insert(i) => {
            if let Some((_, cols)) = &i.columns {
                out.push(format!("cols=({})", list(cols, |c| s(&c.name))));
            }
            if !i.rows.is_empty() {
                out.push(format!(
                    "rows=[{}]",
                    list(&i.rows, |r| format!(
                        "({})@{}..{}",
                        list(i.row_values(r), |v| operand(sql, &v.value, &v.range)),
                        r.range.start,
                        r.range.end
                    ))
                ));
            }
            if !i.set.is_empty() {
                out.push(format!("set=[{}]", assigns(sql, &i.set)));
            }
            if let InsertSource::Select(b) = i.source {
                out.push(format!("select=#{b}"));
            }
            if let Some(a) = &i.row_alias {
                out.push(format!("alias={}", s(&a.name)));
            }
            if let Some(d) = &i.on_duplicate {
                out.push(format!(
                    "dup=[{}]@{}..{}",
                    assigns(sql, &d.assignments),
                    d.range.start,
                    d.range.end
                ));
            }
            if let Some(r) = &i.returning {
                out.push(format!("returning={{{}}}", text(sql, r)));
            }
        }
        Stmt::Update { assignments } => out.push(format!("set=[{}]", assigns(sql, assignments))),
        _ => {}
    }
    for (id, b) in p.blocks.iter().enumerate().skip(1) {
        let kind = match b.kind {
            BlockKind::Select => "select",
            BlockKind::Union => "union",
            BlockKind::Update => "update",
            BlockKind::Delete => "delete",
            BlockKind::Insert => "insert",
            BlockKind::Other => "other",
        };
        let place = match b.place {
            Place::Top => "top".to_string(),
            Place::UnionPart { index, op, all } => {
                let o = match op {
                    None => "",
                    Some(SetOp::Union) => "union",
                    Some(SetOp::Except) => "except",
                    Some(SetOp::Intersect) => "intersect",
                };
                format!("part{index}{o}{}", if all { "-all" } else { "" })
            }
            Place::Subquery(c) => format!("subquery-{c:?}").to_lowercase(),
            Place::Derived => "derived".into(),
            Place::Cte => "cte".into(),
            Place::InsertSource => "insert-source".into(),
            Place::CreateSource => "create-source".into(),
        };
        let mut fields = Vec::new();
        block(sql, b, &mut fields);
        out.push(format!(
            "#{id}:{kind}/{place}^{}{{{}}}",
            b.parent.unwrap_or(0),
            fields.join(" ")
        ));
    }
    let is = p.info_schema;
    if is.any() {
        let v: Vec<&str> = [
            (is.tables, "tables"),
            (is.columns, "columns"),
            (is.other, "other"),
        ]
        .iter()
        .filter(|x| x.0)
        .map(|x| x.1)
        .collect();
        out.push(format!("info_schema={}", v.join(",")));
    }
    if !p.params.is_empty() {
        out.push(format!("params={}", p.params.len()));
    }
    out.join(" ")
}
