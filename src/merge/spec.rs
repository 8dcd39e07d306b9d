//! [`MergeSpec`]: what the planner tells the merger about one scattered
//! SELECT (sort keys, GROUP BY, aggregates, HAVING, DISTINCT, LIMIT, hidden
//! columns), the HAVING predicate language ([`Predicate`]) and its
//! evaluation, and [`check_aggregate`], which says which aggregate
//! functions can be merged at all. The SQL rewrites each field expects are
//! listed in the module documentation of [`super`].
//!
//! Every column index is 0-based in the *shard* result, hidden columns
//! included.
//!
//! <https://mariadb.com/kb/en/select/>
//! <https://mariadb.com/kb/en/aggregate-functions/>

use std::cmp::Ordering;

use super::collation::Collation;
use super::decimal::Decimal;
use shardgate_proto::value::Value;

use super::key::{cell_key, cell_value, ColMeta, Key};

/// One ORDER BY key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    pub column: usize,
    pub desc: bool,
}

impl OrderKey {
    pub fn asc(column: usize) -> OrderKey {
        OrderKey {
            column,
            desc: false,
        }
    }
    pub fn desc(column: usize) -> OrderKey {
        OrderKey { column, desc: true }
    }
}

/// `LIMIT count OFFSET offset` of the client's statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub offset: u64,
    pub count: u64,
}

/// How the merger combines one column over the rows of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// `COUNT(*)` / `COUNT(x)`: the sum of the shards' counts.
    Count,
    /// `SUM(x)`: exact for DECIMAL (and integer) results, double for
    /// DOUBLE results; NULL when every shard's sum is NULL.
    Sum,
    /// `MIN(x)`: by the column's type and collation, NULLs ignored.
    Min,
    /// `MAX(x)`.
    Max,
    /// `AVG(x)` = column `sum` / column `count` (a `SUM(x)` and a
    /// `COUNT(x)` the planner adds, usually hidden; `sum` may be this very
    /// column). Its definition is rewritten to what MariaDB gives for AVG:
    /// NEWDECIMAL with the sum's decimals + `div_precision_increment`
    /// (max 38), or DOUBLE with decimals 31 when the sum is a DOUBLE.
    Avg { sum: usize, count: usize },
    /// `COUNT(DISTINCT x)`: the shards group by `x` as well and return `x`
    /// itself in this column (one row per distinct value and group); the
    /// merger counts each group's distinct non-NULL values, compared by
    /// the column's type and collation as the server compares them. Its
    /// definition is rewritten to COUNT's (LONGLONG).
    CountDistinct,
    /// `SUM(DISTINCT x)`: as for COUNT(DISTINCT) the shards return `x`;
    /// the merger sums each group's distinct non-NULL values (exactly, or
    /// as doubles for a FLOAT/DOUBLE column). Definition rewritten to
    /// SUM's: NEWDECIMAL with `x`'s decimals, or DOUBLE.
    SumDistinct,
    /// `AVG(DISTINCT x)`: that sum over the number of distinct values, with
    /// AVG's type and scale.
    AvgDistinct,
}

impl Aggregate {
    /// The shards return the aggregated values themselves (grouped by
    /// them), not a partial aggregate.
    pub fn is_distinct(self) -> bool {
        matches!(
            self,
            Aggregate::CountDistinct | Aggregate::SumDistinct | Aggregate::AvgDistinct
        )
    }
}

/// Comparison operators of [`Predicate::Cmp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A constant of a HAVING predicate.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    /// A numeric literal as written (`12`, `-3.50`, `1e3`).
    Number(String),
    /// A string literal (unescaped bytes).
    Str(Vec<u8>),
}

/// A HAVING condition over the merged output columns (by index, hidden
/// columns included), with SQL's three-valued logic: a row is kept when the
/// predicate is TRUE.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    Cmp {
        column: usize,
        op: CmpOp,
        value: Literal,
    },
    IsNull(usize),
    IsNotNull(usize),
    And(Box<Predicate>, Box<Predicate>),
    Or(Box<Predicate>, Box<Predicate>),
    Not(Box<Predicate>),
}

/// What the merger does with the shards' result sets.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeSpec {
    /// Rows are binary-protocol rows (`COM_STMT_EXECUTE`), else text rows.
    pub binary: bool,
    /// This many trailing columns are dropped from the client's result.
    pub hidden: usize,
    /// Output order; with `group_by`, see [`MergeSpec::group_order`].
    pub order_by: Vec<OrderKey>,
    /// GROUP BY columns.
    pub group_by: Vec<usize>,
    /// Aggregated columns. With aggregates or `group_by`, rows are merged
    /// into groups; other columns take a value from some row of the group
    /// (the first non-NULL one seen), as MariaDB does for columns that are
    /// neither grouped nor aggregated.
    pub aggregates: Vec<(usize, Aggregate)>,
    /// HAVING, evaluated on merged groups.
    pub having: Option<Predicate>,
    /// SELECT DISTINCT: duplicates (over the visible columns, by collation)
    /// are removed.
    pub distinct: bool,
    pub limit: Option<Limit>,
    /// Most groups (or distinct rows) held at once; past it the statement
    /// fails with a `shardgate:` error.
    pub max_groups: usize,
    /// Most bytes of rows the ORDER BY merge holds at once. Shards are
    /// normally paused long before (see `buffer_rows`); a pinned session
    /// whose shards of one node run one after the other on its connection
    /// cannot pause, and past this the statement fails with a `shardgate:`
    /// error instead of growing without bound.
    pub max_buffered_bytes: usize,
    /// Rows buffered per shard before that shard stops being read (ORDER BY
    /// merge, and every mode before the column definitions are complete).
    pub buffer_rows: usize,
    /// The session's `div_precision_increment` (AVG's extra decimals).
    pub div_precision_increment: u8,
    /// The real collations of table columns, by (lowercased) column name:
    /// column definitions carry the connection's collation, not the
    /// column's, so string comparisons use these where a result column is
    /// a plain table column (`org_name`).
    pub column_collations: Vec<(Vec<u8>, u16)>,
    /// Result columns computed from a plain column (`MIN(sid)`): they take
    /// that column's collation from `column_collations`.
    pub derived_from: Vec<(usize, Vec<u8>)>,
    /// Result columns computed by an expression (`CONCAT(tag, '')`,
    /// `title COLLATE utf8mb4_bin`): where their collation comes from.
    pub expr_collations: Vec<(usize, ExprCollation)>,
    /// The members of the tables' ENUM and SET columns (by lowercased
    /// column name): an ORDER BY on one sorts by the member's number.
    pub column_enums: Vec<(Vec<u8>, std::sync::Arc<super::EnumDef>)>,
    /// Result columns that are expressions over aggregates (`SUM(a) /
    /// COUNT(*)`): the shards compute the expression on their own rows
    /// (which gives the column definition); the merger replaces the value
    /// with the expression over the merged aggregate columns.
    pub exprs: Vec<(usize, super::expr::Expr)>,
    /// `SELECT COUNT(*) [AS name] FROM (<this SELECT>) t`: the merged rows
    /// are counted, not sent; the client gets one row with the count, in a
    /// column with this name.
    pub count_rows: Option<Vec<u8>>,
}

/// Where the collation of a computed string column comes from. Column
/// definitions carry the connection's collation for every column, so the
/// merger needs this to order, group or de-duplicate such a column as the
/// server does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprCollation {
    /// `COLLATE name` with a collation the merger supports (its id).
    Named(u16),
    /// `COLLATE name` with one it does not: refused as a merge key.
    Unsupported(String),
    /// Functions that keep their argument's collation (`CONCAT`, `UPPER`,
    /// `SUBSTRING`, `IFNULL`, `CASE`, ...) over these (lowercased) columns:
    /// the collation of its string columns when they have one.
    Kept(Vec<Vec<u8>>),
    /// Functions whose result collation shardgate does not model, over
    /// these columns: usable as a merge key only when the string columns
    /// among them have the connection's collation.
    Unknown(Vec<Vec<u8>>),
}

impl Default for MergeSpec {
    fn default() -> Self {
        MergeSpec {
            binary: false,
            hidden: 0,
            order_by: Vec::new(),
            group_by: Vec::new(),
            aggregates: Vec::new(),
            having: None,
            distinct: false,
            limit: None,
            max_groups: 100_000,
            max_buffered_bytes: 256 << 20,
            buffer_rows: 128,
            div_precision_increment: 4,
            column_collations: Vec::new(),
            derived_from: Vec::new(),
            expr_collations: Vec::new(),
            column_enums: Vec::new(),
            exprs: Vec::new(),
            count_rows: None,
        }
    }
}

impl MergeSpec {
    /// A plain union: shard rows concatenated as they arrive.
    pub fn union() -> MergeSpec {
        MergeSpec::default()
    }

    /// True when rows are merged into groups (GROUP BY or aggregates).
    pub fn grouped(&self) -> bool {
        !self.group_by.is_empty() || !self.aggregates.is_empty()
    }

    /// MariaDB 10.11 returns GROUP BY results sorted by the group columns
    /// unless the statement says otherwise: sets `order_by` to the group
    /// columns ascending. Call it for `GROUP BY` without `ORDER BY`; leave
    /// `order_by` empty for `ORDER BY NULL`.
    pub fn group_order(&mut self) {
        self.order_by = self.group_by.iter().map(|&c| OrderKey::asc(c)).collect();
    }

    /// True when groups can be merged as they stream: the ORDER BY keys are
    /// exactly the GROUP BY columns (any order, any directions), so the
    /// rows of one group are adjacent in every shard's sorted stream.
    pub fn streams_groups(&self) -> bool {
        if self.group_by.is_empty() || self.order_by.len() != self.group_by.len() {
            return false;
        }
        self.group_by
            .iter()
            .all(|g| self.order_by.iter().any(|o| o.column == *g))
            && self
                .order_by
                .iter()
                .all(|o| self.group_by.contains(&o.column))
    }

    /// True when each shard must return its rows sorted by `order_by`
    /// (the planner then sends the ORDER BY to the shards): a non-grouped
    /// ORDER BY, or GROUP BY whose groups stream ([`Self::streams_groups`]).
    /// Otherwise the shards' order does not matter (send `ORDER BY NULL`
    /// with GROUP BY to spare the shards a sort).
    pub fn needs_sorted_shards(&self) -> bool {
        if self.grouped() {
            self.streams_groups()
        } else {
            !self.order_by.is_empty()
        }
    }

    /// The aggregate of column `c`, if any.
    pub fn aggregate(&self, c: usize) -> Option<Aggregate> {
        self.aggregates
            .iter()
            .find(|(i, _)| *i == c)
            .map(|&(_, a)| a)
    }

    /// The index of the `k`-th column from the end (0 = the last), for plans
    /// made before the column count is known (`SELECT *` plus hidden
    /// columns). Resolved by [`MergeSpec::resolve_from_end`].
    pub const fn from_end(k: usize) -> usize {
        usize::MAX - k
    }

    /// Turns [`MergeSpec::from_end`] indices into real ones for `ncols`
    /// shard columns (an index that does not fit stays out of range, so
    /// [`MergeSpec::check`] refuses it).
    pub fn resolve_from_end(&mut self, ncols: usize) {
        let fix = |c: &mut usize| {
            if *c > usize::MAX / 2 {
                let k = usize::MAX - *c;
                *c = ncols.checked_sub(k + 1).unwrap_or(usize::MAX / 2);
            }
        };
        for o in &mut self.order_by {
            fix(&mut o.column);
        }
        for g in &mut self.group_by {
            fix(g);
        }
        for (c, a) in &mut self.aggregates {
            fix(c);
            if let Aggregate::Avg { sum, count } = a {
                fix(sum);
                fix(count);
            }
        }
        if let Some(h) = &mut self.having {
            h.map_columns(&fix);
        }
        for (c, _) in &mut self.expr_collations {
            fix(c);
        }
        for (c, e) in &mut self.exprs {
            fix(c);
            e.map_columns(&|mut x| {
                fix(&mut x);
                x
            });
        }
    }

    /// Checks the indices against the shards' column count.
    pub fn check(&self, ncols: usize) -> Result<(), String> {
        let bad = |what: &str, c: usize| {
            Err(format!(
                "{what} column {c} is out of range ({ncols} columns)"
            ))
        };
        if self.hidden > ncols {
            return Err(format!(
                "{} hidden columns but only {ncols} columns",
                self.hidden
            ));
        }
        for o in &self.order_by {
            if o.column >= ncols {
                return bad("ORDER BY", o.column);
            }
        }
        for &g in &self.group_by {
            if g >= ncols {
                return bad("GROUP BY", g);
            }
        }
        for &(c, a) in &self.aggregates {
            if c >= ncols {
                return bad("aggregate", c);
            }
            if let Aggregate::Avg { sum, count } = a {
                if sum >= ncols || count >= ncols {
                    return bad("AVG", c);
                }
            }
        }
        let mut cols = Vec::new();
        if let Some(h) = &self.having {
            h.columns(&mut cols);
        }
        if let Some(&c) = cols.iter().find(|&&c| c >= ncols) {
            return bad("HAVING", c);
        }
        for (c, e) in &self.exprs {
            if let Some(bad_col) = e.columns().into_iter().chain([*c]).find(|&x| x >= ncols) {
                return bad("expression", bad_col);
            }
        }
        Ok(())
    }
}

/// Checks that an aggregate function can be merged across shards. `Ok` for
/// COUNT, SUM, MIN, MAX, AVG (and MIN/MAX with DISTINCT, which changes
/// nothing); otherwise the `shardgate:` message to send with ERR 1235
/// (`ER_NOT_SUPPORTED_YET`).
pub fn check_aggregate(name: &str, distinct: bool) -> Result<(), String> {
    let upper = name.to_ascii_uppercase();
    match (upper.as_str(), distinct) {
        ("MIN" | "MAX", _) | ("COUNT" | "SUM" | "AVG", false) => Ok(()),
        (f @ ("COUNT" | "SUM" | "AVG"), true) => Err(format!(
            "shardgate: {f}(DISTINCT ...) cannot be merged across shards (a value may be on \
             several shards); add a shard-key condition so the query runs on one shard, or \
             select the DISTINCT values and aggregate them in the application"
        )),
        (f, _) => Err(format!(
            "shardgate: aggregate {f}() cannot be merged across shards; use COUNT, SUM, MIN, \
             MAX or AVG, or add a shard-key condition so the query runs on one shard"
        )),
    }
}

impl Predicate {
    /// Applies `f` to every column index the predicate reads.
    pub fn map_columns(&mut self, f: &dyn Fn(&mut usize)) {
        match self {
            Predicate::Cmp { column, .. }
            | Predicate::IsNull(column)
            | Predicate::IsNotNull(column) => f(column),
            Predicate::And(a, b) | Predicate::Or(a, b) => {
                a.map_columns(f);
                b.map_columns(f);
            }
            Predicate::Not(a) => a.map_columns(f),
        }
    }

    /// Columns the predicate reads.
    pub fn columns(&self, out: &mut Vec<usize>) {
        match self {
            Predicate::Cmp { column, .. }
            | Predicate::IsNull(column)
            | Predicate::IsNotNull(column) => out.push(*column),
            Predicate::And(a, b) | Predicate::Or(a, b) => {
                a.columns(out);
                b.columns(out);
            }
            Predicate::Not(a) => a.columns(out),
        }
    }

    /// Evaluates on a row whose cells `cell(i)` belong to columns `meta[i]`;
    /// `None` is UNKNOWN.
    pub(crate) fn eval<'r>(
        &self,
        cell: &dyn Fn(usize) -> Option<&'r [u8]>,
        meta: &[ColMeta],
        colls: &[Option<Collation>],
        binary: bool,
    ) -> Option<bool> {
        match self {
            Predicate::IsNull(c) => Some(cell(*c).is_none()),
            Predicate::IsNotNull(c) => Some(cell(*c).is_some()),
            Predicate::Not(a) => a.eval(cell, meta, colls, binary).map(|v| !v),
            Predicate::And(a, b) => match (
                a.eval(cell, meta, colls, binary),
                b.eval(cell, meta, colls, binary),
            ) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Predicate::Or(a, b) => match (
                a.eval(cell, meta, colls, binary),
                b.eval(cell, meta, colls, binary),
            ) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Predicate::Cmp { column, op, value } => {
                let m = meta.get(*column)?;
                let coll = colls.get(*column).copied().flatten();
                let raw = cell(*column);
                let key = cell_key(m, coll.as_ref(), binary, raw).ok()?;
                let bytes = match raw.map(|c| cell_value(m, binary, c)) {
                    Some(Ok(Value::Bytes(b))) => Some(b),
                    _ => None,
                };
                let o = compare_literal(&key, bytes, m, coll.as_ref(), value)?;
                Some(match op {
                    CmpOp::Eq => o == Ordering::Equal,
                    CmpOp::Ne => o != Ordering::Equal,
                    CmpOp::Lt => o == Ordering::Less,
                    CmpOp::Le => o != Ordering::Greater,
                    CmpOp::Gt => o == Ordering::Greater,
                    CmpOp::Ge => o != Ordering::Less,
                })
            }
        }
    }
}

/// Leading number of a string, as MariaDB converts a string to a double
/// (`'12abc'` is 12, `'abc'` is 0).
fn str_to_f64(s: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(s);
    let t = s.trim_start();
    let mut best = 0.0;
    for end in (1..=t.len()).rev() {
        if let Some(v) = t.get(..end).and_then(|p| p.parse::<f64>().ok()) {
            if v.is_finite() {
                best = v;
                break;
            }
        }
    }
    best
}

fn key_f64(k: &Key) -> Option<f64> {
    match k {
        Key::Int(i) => Some(*i as f64),
        Key::Dec(d) => Some(d.to_f64()),
        Key::Float(f) => Some(f.0),
        _ => None,
    }
}

/// Compares a non-NULL cell key with a literal the way the server compares
/// a column with a constant: numbers numerically (exactly when both are
/// exact), temporal columns with the literal read as a date or time,
/// strings by the column's collation, a string with a number as doubles.
fn compare_literal(
    key: &Key,
    bytes: Option<&[u8]>,
    meta: &ColMeta,
    coll: Option<&Collation>,
    lit: &Literal,
) -> Option<Ordering> {
    let text: &[u8] = match lit {
        Literal::Null => return None,
        Literal::Number(n) => n.as_bytes(),
        Literal::Str(s) => s,
    };
    match key {
        Key::Null => None,
        Key::Int(_) | Key::Dec(_) | Key::Float(_) => {
            let exact = match key {
                Key::Int(i) => Some(Decimal::from_i128(*i)),
                Key::Dec(d) => Some(d.clone()),
                _ => None,
            };
            let lit_dec = match lit {
                Literal::Number(_) => Decimal::parse(text),
                _ => None,
            };
            if let (Some(a), Some(b)) = (exact, lit_dec) {
                return Some(a.cmp(&b));
            }
            let b = str_to_f64(text);
            key_f64(key)?.partial_cmp(&b)
        }
        Key::Temporal(_) => {
            let lit_key = cell_key(meta, None, false, Some(text)).ok()?;
            Some(key.cmp(&lit_key))
        }
        Key::Str(k) => match lit {
            Literal::Str(s) => Some(k.cmp(&coll?.key(s))),
            _ => str_to_f64(bytes?).partial_cmp(&str_to_f64(text)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardgate_proto::column::{ColumnFlags, ColumnType};

    fn meta(ty: ColumnType, charset: u16) -> ColMeta {
        ColMeta {
            ty,
            unsigned: false,
            decimals: 0,
            charset,
            cells_charset: charset,
            flags: ColumnFlags::default(),
        }
    }

    fn cmp(column: usize, op: CmpOp, value: Literal) -> Predicate {
        Predicate::Cmp { column, op, value }
    }

    fn num(s: &str) -> Literal {
        Literal::Number(s.into())
    }

    #[test]
    fn having_evaluation() {
        let metas = [
            meta(ColumnType::LongLong, 63),
            meta(ColumnType::NewDecimal, 63),
            meta(ColumnType::VarString, 45),
            meta(ColumnType::Date, 63),
            meta(ColumnType::Double, 63),
        ];
        let colls: Vec<_> = metas.iter().map(|m| m.collation()).collect();
        let cells: [Option<&[u8]>; 6] = [
            Some(b"10"),
            Some(b"2.50"),
            Some(b"abc"),
            Some(b"2024-02-29"),
            Some(b"0.1"),
            None,
        ];
        let get = |i: usize| cells.get(i).copied().flatten();
        let ev = |p: &Predicate| p.eval(&get, &metas, &colls, false);
        assert_eq!(ev(&cmp(0, CmpOp::Gt, num("9"))), Some(true));
        assert_eq!(ev(&cmp(0, CmpOp::Ge, num("10.0"))), Some(true));
        assert_eq!(ev(&cmp(0, CmpOp::Lt, num("1e1"))), Some(false));
        assert_eq!(ev(&cmp(1, CmpOp::Eq, num("2.5"))), Some(true));
        assert_eq!(
            ev(&cmp(1, CmpOp::Ne, Literal::Str(b"2.5".to_vec()))),
            Some(false)
        );
        assert_eq!(
            ev(&cmp(2, CmpOp::Eq, Literal::Str(b"ABC ".to_vec()))),
            Some(true)
        );
        assert_eq!(
            ev(&cmp(2, CmpOp::Lt, Literal::Str(b"abd".to_vec()))),
            Some(true)
        );
        assert_eq!(
            ev(&cmp(3, CmpOp::Gt, Literal::Str(b"2024-02-28".to_vec()))),
            Some(true)
        );
        assert_eq!(ev(&cmp(4, CmpOp::Le, num("0.1"))), Some(true));
        assert_eq!(ev(&cmp(2, CmpOp::Eq, num("0"))), Some(true)); // 'abc' = 0
                                                                  // NULLs: comparison is UNKNOWN, IS NULL is not
        assert_eq!(ev(&cmp(0, CmpOp::Eq, Literal::Null)), None);
        let null_cmp = cmp(5, CmpOp::Eq, num("1"));
        assert_eq!(ev(&Predicate::IsNull(5)), Some(true));
        assert_eq!(ev(&Predicate::IsNotNull(0)), Some(true));
        let t = cmp(0, CmpOp::Eq, num("10"));
        let f = cmp(0, CmpOp::Eq, num("11"));
        let and =
            |a: &Predicate, b: &Predicate| Predicate::And(Box::new(a.clone()), Box::new(b.clone()));
        let or =
            |a: &Predicate, b: &Predicate| Predicate::Or(Box::new(a.clone()), Box::new(b.clone()));
        assert_eq!(ev(&and(&t, &null_cmp)), None);
        assert_eq!(ev(&and(&f, &null_cmp)), Some(false));
        assert_eq!(ev(&or(&t, &null_cmp)), Some(true));
        assert_eq!(ev(&or(&f, &null_cmp)), None);
        assert_eq!(ev(&Predicate::Not(Box::new(null_cmp.clone()))), None);
        assert_eq!(ev(&Predicate::Not(Box::new(f.clone()))), Some(true));
    }

    #[test]
    fn spec_helpers() {
        let mut s = MergeSpec {
            group_by: vec![1, 0],
            aggregates: vec![(2, Aggregate::Count)],
            ..MergeSpec::default()
        };
        assert!(s.grouped());
        assert!(!s.needs_sorted_shards());
        s.group_order();
        assert_eq!(s.order_by, [OrderKey::asc(1), OrderKey::asc(0)]);
        assert!(s.streams_groups() && s.needs_sorted_shards());
        s.order_by = vec![OrderKey::desc(2)];
        assert!(!s.streams_groups());
        assert!(s.check(3).is_ok());
        assert!(s.check(2).is_err());
        s.having = Some(Predicate::IsNull(7));
        assert!(s.check(3).is_err());
        assert!(MergeSpec {
            order_by: vec![OrderKey::asc(0)],
            ..MergeSpec::union()
        }
        .needs_sorted_shards());
        assert_eq!(s.aggregate(2), Some(Aggregate::Count));
        assert_eq!(s.aggregate(0), None);
    }

    #[test]
    fn mergeable_aggregates() {
        assert!(check_aggregate("count", false).is_ok());
        assert!(check_aggregate("MAX", true).is_ok());
        assert!(check_aggregate("Avg", false).is_ok());
        let e = check_aggregate("count", true).unwrap_err();
        assert!(e.starts_with("shardgate: COUNT(DISTINCT"), "{e}");
        assert!(check_aggregate("SUM", true).is_err());
        assert!(check_aggregate("GROUP_CONCAT", false)
            .unwrap_err()
            .starts_with("shardgate:"));
        assert!(check_aggregate("STDDEV", false).is_err());
    }

    #[test]
    fn strings_to_numbers() {
        assert_eq!(str_to_f64(b"12abc"), 12.0);
        assert_eq!(str_to_f64(b"abc"), 0.0);
        assert_eq!(str_to_f64(b" -1.5e2x"), -150.0);
    }
}
