//! The public result of the routing-subset parser: what one statement names
//! and says, as byte ranges into the original SQL plus the few decoded
//! values (unquoted names, literals) the sharding planner needs.
//!
//! Everything here borrows from the parsed SQL (`'a`); names and string
//! literals are `Cow`s that allocate only when the text holds escapes or
//! doubled quotes. Ranges are byte offsets into the SQL given to
//! [`super::parse`], so the planner can splice a rewritten statement by
//! replacing ranges and copying every other byte.
//!
//! Indices: [`TableId`] indexes [`Parsed::tables`], [`BlockId`] indexes
//! [`Parsed::blocks`]. Block 0 is always the statement itself.

use std::borrow::Cow;
use std::ops::Range;

/// Index into [`Parsed::tables`].
pub type TableId = usize;
/// Index into [`Parsed::blocks`].
pub type BlockId = usize;

/// A name as written (`range`, quotes included) and unquoted (`name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident<'a> {
    pub range: Range<usize>,
    /// The unquoted name (`` `a``b` `` → ``a`b``), case preserved.
    pub name: Cow<'a, [u8]>,
}

impl Ident<'_> {
    /// ASCII case-insensitive comparison of the unquoted name.
    pub fn is(&self, name: &[u8]) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// A column reference `[[schema.]table.]column`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column<'a> {
    /// The whole reference, qualifiers included.
    pub range: Range<usize>,
    pub schema: Option<Ident<'a>>,
    /// The qualifier: a table name or an alias (see [`Parsed::resolve`]).
    pub table: Option<Ident<'a>>,
    pub name: Ident<'a>,
}

/// A literal or placeholder with its byte range (a leading sign included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value<'a> {
    pub range: Range<usize>,
    pub lit: Literal<'a>,
}

/// The decoded value of a literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal<'a> {
    /// An integer that fits `i64` (`42`, `-5`).
    Int(i64),
    /// A positive integer above `i64::MAX` that fits `u64`.
    UInt(u64),
    /// A decimal number (`4.2`, or an integer too large for 64 bits): the
    /// digits as written (`digits` has no sign; `neg` is a leading `-`).
    Decimal {
        neg: bool,
        digits: &'a [u8],
    },
    /// `1e3`, `-4.2E-1`: the text without the sign.
    Float {
        neg: bool,
        text: &'a [u8],
    },
    /// A string: bytes with quotes and escapes decoded ([`crate::sql::string_value`]),
    /// and the charset of an introducer (`_utf8mb4'x'` → `utf8mb4`).
    Str {
        bytes: Cow<'a, [u8]>,
        charset: Option<&'a [u8]>,
    },
    /// `X'4142'` / `0x4142`, decoded to bytes (`AB`). MySQL reads it as a
    /// binary string, or in a numeric context (`id = 0x10`) as the unsigned
    /// big-endian integer of those bytes (16).
    Hex(Cow<'a, [u8]>),
    /// `b'0101'` / `0b0101`: the binary digits.
    Bits(&'a [u8]),
    Null,
    /// `TRUE` / `FALSE`.
    Bool(bool),
    /// A `?` placeholder: its 0-based ordinal among all `?` of the statement,
    /// i.e. the index of the parameter bound by COM_STMT_EXECUTE.
    Param(u32),
}

/// A comparison operator of a predicate leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    /// `<=>`
    NullSafeEq,
    Lt,
    Le,
    Gt,
    Ge,
    /// `<>` / `!=`: only in HAVING; a WHERE `<>` is an unknown leaf.
    Ne,
}

/// A boolean condition as far as routing cares: AND/OR structure over
/// leaves; anything else (NOT, functions, subqueries, `<>`, LIKE, ...) is
/// `Unknown`, which the planner treats as "true on any shard".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tree<L> {
    And(Vec<Tree<L>>),
    Or(Vec<Tree<L>>),
    Leaf(L),
    /// A condition not analysed; the range is its text.
    Unknown(Range<usize>),
}

/// A WHERE / ON condition.
pub type Pred<'a> = Tree<Leaf<'a>>;
/// A HAVING condition.
pub type HavingPred<'a> = Tree<HavingLeaf<'a>>;

/// A WHERE / ON leaf. The column is always on the left: `5 < id` is
/// reported as `id > 5`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leaf<'a> {
    /// `col op value` (op is never [`CmpOp::Ne`]).
    Cmp {
        col: Column<'a>,
        op: CmpOp,
        value: Value<'a>,
    },
    /// `col IN (v1, v2, ...)` (every element a literal or placeholder).
    In {
        col: Column<'a>,
        values: Vec<Value<'a>>,
    },
    /// `col BETWEEN low AND high`
    Between {
        col: Column<'a>,
        low: Value<'a>,
        high: Value<'a>,
    },
    /// `col IS NULL`
    IsNull { col: Column<'a> },
    /// `a.k = b.k`: two columns compared with `=` (join conditions).
    ColumnEq { left: Column<'a>, right: Column<'a> },
    /// `col IN (SELECT ...)`: the subquery's parentheses are tokens
    /// `open` and `close` ([`crate::sql::parse::Parsed::subquery_within`]
    /// finds its block).
    InSubquery {
        col: Column<'a>,
        open: usize,
        close: usize,
    },
}

/// A HAVING leaf: `operand op literal` (flipped like [`Leaf`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HavingLeaf<'a> {
    pub operand: HavingOperand<'a>,
    pub op: CmpOp,
    pub value: Value<'a>,
}

/// The left side of a HAVING comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HavingOperand<'a> {
    Aggregate(Aggregate),
    /// A select-list alias or a column.
    Name(Column<'a>),
}

/// An aggregate function the merger knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

/// The argument of an aggregate call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AggArg {
    /// `COUNT(*)`
    Star,
    /// The argument text, after `DISTINCT`/`ALL` (for `COUNT(DISTINCT a, b)`:
    /// `a, b`).
    Expr(Range<usize>),
}

/// `FUNC([DISTINCT] arg)` — a whole aggregate call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub func: AggFunc,
    pub distinct: bool,
    pub arg: AggArg,
    /// The whole call, `COUNT(*)`.
    pub range: Range<usize>,
}

/// What an expression that is not a plain column contains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExprInfo {
    /// Calls an aggregate (any: also GROUP_CONCAT, STDDEV, ... or an
    /// aggregate inside an expression such as `SUM(a)/COUNT(*)`).
    pub aggregate: bool,
    /// A window function (`... OVER ...`).
    pub window: bool,
    pub subquery: bool,
}

/// One select-list item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectItem<'a> {
    /// The item with its alias.
    pub range: Range<usize>,
    /// The expression alone.
    pub expr: Range<usize>,
    pub alias: Option<Ident<'a>>,
    pub kind: ItemKind<'a>,
}

impl SelectItem<'_> {
    /// ` AS `<the item as written>``: the name the server gives an item
    /// without alias (its text, backquotes and spacing kept), for when the
    /// text sent to a server differs from the client's (table names or
    /// values written in, an aggregate rewritten). Backquotes are doubled.
    pub fn name_as_written(&self, sql: &[u8]) -> Vec<u8> {
        let text = sql.get(self.expr.clone()).unwrap_or_default();
        let mut out = Vec::with_capacity(text.len() + 6);
        out.extend_from_slice(b" AS `");
        for &c in text {
            out.push(c);
            if c == b'`' {
                out.push(b'`');
            }
        }
        out.push(b'`');
        out
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemKind<'a> {
    Column(Column<'a>),
    /// `*`, `t.*`, `db.t.*`
    Star {
        schema: Option<Ident<'a>>,
        table: Option<Ident<'a>>,
    },
    /// Exactly one COUNT/SUM/MIN/MAX/AVG call (no OVER).
    Aggregate(Aggregate),
    Expr(ExprInfo),
}

/// A GROUP BY / ORDER BY key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key<'a> {
    Column(Column<'a>),
    /// An unqualified name equal to a select-item alias: the item's index
    /// (for GROUP BY, MySQL prefers a FROM column of the same name if one
    /// exists; the parser cannot know the columns).
    Alias(usize),
    /// A 1-based select-list position (`ORDER BY 2`).
    Position(u64),
    Expr(ExprInfo),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupItem<'a> {
    pub range: Range<usize>,
    pub key: Key<'a>,
    /// `GROUP BY x DESC` (MariaDB): the groups come out in descending order
    /// when there is no ORDER BY.
    pub desc: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nulls {
    First,
    Last,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderItem<'a> {
    /// The item with its direction.
    pub range: Range<usize>,
    /// The key expression alone.
    pub expr: Range<usize>,
    pub key: Key<'a>,
    pub desc: bool,
    pub nulls: Option<Nulls>,
}

/// `LIMIT count`, `LIMIT offset, count`, `LIMIT count OFFSET offset`.
/// Values are [`Literal::Int`]/[`Literal::UInt`]/[`Literal::Param`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit<'a> {
    /// From `LIMIT` to the end of its last value.
    pub range: Range<usize>,
    pub offset: Option<Value<'a>>,
    pub count: Value<'a>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Having<'a> {
    /// The condition after `HAVING`.
    pub range: Range<usize>,
    pub pred: HavingPred<'a>,
}

/// `FOR UPDATE` or `FOR SHARE` / `LOCK IN SHARE MODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    Update,
    Share,
}

/// `SELECT ... INTO`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntoTarget {
    Outfile,
    Dumpfile,
    /// `INTO @a, @b` (or local variables).
    Vars,
}

/// Where a table reference occurs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableRole {
    /// FROM / JOIN of any SELECT block (subqueries and the source of
    /// `INSERT ... SELECT` / `CREATE TABLE ... SELECT` included), and the
    /// FROM/USING list of a multi-table DELETE.
    From,
    /// The table list of UPDATE (every table of a multi-table UPDATE).
    UpdateTarget,
    /// `DELETE FROM t`, or a name of the target list of a multi-table
    /// DELETE (`DELETE t1, t2 FROM ...`), see [`TableRef::target_of`].
    DeleteTarget,
    /// INSERT / REPLACE INTO
    InsertTarget,
    /// CREATE TABLE target.
    Create,
    /// `CREATE TABLE t LIKE src`: the source.
    CreateLike,
    /// ALTER TABLE target.
    Alter,
    /// RENAME TABLE source.
    RenameFrom,
    /// RENAME TABLE destination, `ALTER TABLE t RENAME TO dst`.
    RenameTo,
    Drop,
    Truncate,
    /// `CREATE INDEX i ON t`, `DROP INDEX i ON t`.
    IndexOn,
    /// Named by DDL in passing: `REFERENCES parent`, `EXCHANGE PARTITION p
    /// WITH TABLE t2`.
    Referenced,
    /// LOCK TABLES
    Lock,
    /// `LOAD DATA ... INTO TABLE t`
    Load,
    /// SHOW CREATE TABLE t, SHOW COLUMNS/INDEX FROM t.
    Show,
    /// DESCRIBE t
    Describe,
}

/// How a qualifier (or a multi-table DELETE target) resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Names table `TableId` by its table name: rewrite it like the table.
    Table(TableId),
    /// Names the alias of table `TableId`: leave it as written.
    Alias(TableId),
    /// Names a derived table (or CTE) whose body is block `BlockId`.
    Derived(BlockId),
    /// Names nothing visible in the statement.
    Unresolved,
}

impl Resolved {
    /// The table meant, by name or alias.
    pub fn table(self) -> Option<TableId> {
        match self {
            Resolved::Table(t) | Resolved::Alias(t) => Some(t),
            _ => None,
        }
    }
}

/// One table reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef<'a> {
    /// `schema.table` / `` `t` `` / `t` as written (alias not included).
    pub range: Range<usize>,
    /// Its range is inside `range`, except for `SHOW COLUMNS FROM t FROM db`.
    pub schema: Option<Ident<'a>>,
    pub name: Ident<'a>,
    pub alias: Option<Ident<'a>>,
    pub role: TableRole,
    /// The block the reference belongs to (0 for DDL, SHOW, LOCK...).
    pub block: BlockId,
    /// A multi-table DELETE target: which FROM table (or alias) it names.
    /// `Table(i)`: rewrite it like table `i`; `Alias(_)`: leave it.
    pub target_of: Option<Resolved>,
    /// The name is a common table expression of this statement (its body
    /// is this block), not a real table: neither route nor rewrite it.
    pub cte: Option<BlockId>,
}

/// A qualified column reference `t.c`, `db.t.c`, `t.*` anywhere in the
/// statement (select list, WHERE, ON, SET, ON DUPLICATE KEY UPDATE, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QualifiedRef<'a> {
    /// The whole reference.
    pub range: Range<usize>,
    pub schema: Option<Ident<'a>>,
    pub table: Ident<'a>,
    /// `None` for `t.*`.
    pub column: Option<Ident<'a>>,
    /// The innermost block the reference is in.
    pub block: BlockId,
    /// `Table(i)`: the qualifier is table `i`'s name (rewrite it with the
    /// table); `Alias`/`Derived`: an alias (leave it).
    pub resolved: Resolved,
}

/// A byte range that names table `table` and must be rewritten with it:
/// see [`Parsed::name_sites`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameSite {
    pub table: TableId,
    /// The schema qualifier, if written.
    pub schema: Option<Range<usize>>,
    /// The table name (or qualifier) itself.
    pub name: Range<usize>,
}

/// A join operator before a FROM item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// The first item of a FROM list.
    First,
    /// `,`
    Comma,
    /// `JOIN`, `INNER JOIN`
    Inner,
    Cross,
    /// `STRAIGHT_JOIN`
    Straight,
    Left,
    Right,
    /// `NATURAL [INNER] JOIN`
    Natural,
    NaturalLeft,
    NaturalRight,
}

/// What a FROM item is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    Table(TableId),
    /// `(SELECT ...) [AS] alias`: the subquery's block.
    Derived {
        block: BlockId,
        alias: Option<Ident<'a>>,
    },
    /// A table function such as `JSON_TABLE(...)`: not analysed.
    Other(Range<usize>),
}

/// One item of a FROM list (or the table list of UPDATE / DELETE, or the
/// INSERT target).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromItem<'a> {
    pub join: JoinKind,
    pub source: Source<'a>,
    /// `ON` condition (reported apart from WHERE).
    pub on: Option<Pred<'a>>,
    /// The text of the ON condition.
    pub on_range: Option<Range<usize>>,
    /// `USING (a, b)`
    pub using: Vec<Ident<'a>>,
}

/// A clause, for where subqueries occur.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clause {
    SelectList,
    From,
    JoinOn,
    Where,
    GroupBy,
    Having,
    OrderBy,
    /// UPDATE SET / INSERT SET values.
    Set,
    /// INSERT VALUES rows.
    Values,
    OnDuplicate,
    /// Anywhere else (DDL CHECK, LIMIT, WINDOW...).
    Other,
}

/// A set of [`Clause`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clauses(pub u16);

impl Clauses {
    pub fn contains(self, c: Clause) -> bool {
        self.0 & (1 << c as u16) != 0
    }
    pub fn insert(&mut self, c: Clause) {
        self.0 |= 1 << c as u16;
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// `UNION`, `EXCEPT`, `INTERSECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Except,
    Intersect,
}

/// What a block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    Select,
    /// A UNION/EXCEPT/INTERSECT: its parts are [`Block::parts`]; its own
    /// `order_by` / `limit` are the ones that apply to the whole union.
    Union,
    Update,
    Delete,
    Insert,
    /// Block 0 of any other statement (DDL, SHOW, LOCK TABLES, ...).
    Other,
}

/// Where a block sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The statement itself (block 0).
    Top,
    /// Part `index` of the union that is its parent; `op`/`all` is the set
    /// operator before it (`None` for the first part).
    UnionPart {
        index: usize,
        op: Option<SetOp>,
        all: bool,
    },
    /// A subquery in an expression of the parent's clause.
    Subquery(Clause),
    /// A derived table in the parent's FROM.
    Derived,
    /// A common table expression (`WITH name AS (...)`).
    Cte,
    /// The SELECT of `INSERT ... SELECT`.
    InsertSource,
    /// The SELECT of `CREATE TABLE ... SELECT`.
    CreateSource,
}

/// A query block: one SELECT, a union, or the UPDATE/DELETE/INSERT itself.
/// Fields that do not apply to a kind stay empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block<'a> {
    pub kind: BlockKind,
    pub place: Place,
    pub parent: Option<BlockId>,
    /// The block's text (for a parenthesised subquery: inside the parens).
    pub range: Range<usize>,
    /// Token indices (internal: maps column references to blocks).
    pub(crate) tokens: Range<usize>,
    /// Union parts, in order.
    pub parts: Vec<BlockId>,
    pub distinct: bool,
    pub calc_found_rows: bool,
    pub items: Vec<SelectItem<'a>>,
    /// FROM list; for UPDATE its table list; for single-table DELETE its
    /// target; for multi-table DELETE the FROM/USING list; for INSERT its
    /// target.
    pub from: Vec<FromItem<'a>>,
    /// FROM had parenthesised joins (`(a JOIN b) JOIN c`), flattened here.
    pub nested_joins: bool,
    pub where_: Option<Pred<'a>>,
    /// The text of the WHERE condition.
    pub where_range: Option<Range<usize>>,
    pub group_by: Vec<GroupItem<'a>>,
    pub with_rollup: bool,
    pub having: Option<Having<'a>>,
    pub order_by: Vec<OrderItem<'a>>,
    pub limit: Option<Limit<'a>>,
    pub lock: Option<LockMode>,
    pub into: Option<IntoTarget>,
    /// Clauses of this block that contain subqueries.
    pub subqueries: Clauses,
}

impl Block<'_> {
    pub(crate) fn new(kind: BlockKind, place: Place, parent: Option<BlockId>) -> Self {
        Block {
            kind,
            place,
            parent,
            range: 0..0,
            tokens: 0..0,
            parts: Vec::new(),
            distinct: false,
            calc_found_rows: false,
            items: Vec::new(),
            from: Vec::new(),
            nested_joins: false,
            where_: None,
            where_range: None,
            group_by: Vec::new(),
            with_rollup: false,
            having: None,
            order_by: Vec::new(),
            limit: None,
            lock: None,
            into: None,
            subqueries: Clauses::default(),
        }
    }

    /// A select item aggregates rows: COUNT/SUM/... or an expression
    /// holding one.
    pub fn has_aggregate(&self) -> bool {
        self.items.iter().any(|i| match &i.kind {
            ItemKind::Aggregate(_) => true,
            ItemKind::Expr(info) => info.aggregate,
            _ => false,
        })
    }

    /// A select item holds a window function (`OVER`).
    pub fn has_window(&self) -> bool {
        self.items
            .iter()
            .any(|i| matches!(&i.kind, ItemKind::Expr(info) if info.window))
    }

    /// The tables of this block's FROM list (derived tables excluded).
    pub fn tables(&self) -> impl Iterator<Item = TableId> + '_ {
        self.from.iter().filter_map(|f| match f.source {
            Source::Table(t) => Some(t),
            _ => None,
        })
    }
}

/// An expression on the right of `=` in SET / VALUES.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand<'a> {
    /// A single literal or placeholder.
    Value(Value<'a>),
    /// `DEFAULT`
    Default,
    /// Anything else.
    Expr(ExprInfo),
}

/// `col = expr` of UPDATE SET, INSERT SET or ON DUPLICATE KEY UPDATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assign<'a> {
    /// The whole assignment.
    pub range: Range<usize>,
    pub column: Column<'a>,
    pub value_range: Range<usize>,
    pub value: Operand<'a>,
}

/// One VALUES row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// `(...)` with its parens (and a leading `ROW` keyword).
    pub range: Range<usize>,
    /// Indices into [`Insert::values`].
    pub values: Range<usize>,
}

/// One value of a VALUES row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsertValue<'a> {
    pub range: Range<usize>,
    pub value: Operand<'a>,
}

/// Where an INSERT's rows come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertSource {
    Values,
    Set,
    /// `INSERT ... SELECT` (or `TABLE t`): the source block.
    Select(BlockId),
}

/// `ON DUPLICATE KEY UPDATE ...`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnDuplicate<'a> {
    /// From `ON` to the end of the last assignment.
    pub range: Range<usize>,
    pub assignments: Vec<Assign<'a>>,
}

/// INSERT or REPLACE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Insert<'a> {
    pub replace: bool,
    pub ignore: bool,
    pub table: TableId,
    /// The column list `(a, b)` (its range with parens, the names).
    pub columns: Option<(Range<usize>, Vec<Ident<'a>>)>,
    pub source: InsertSource,
    pub rows: Vec<Row>,
    /// The values of every row, row after row.
    pub values: Vec<InsertValue<'a>>,
    /// From the first row's start to the last row's end (`VALUES` excluded).
    pub rows_range: Option<Range<usize>>,
    /// The `SET a = 1, b = ?` form.
    pub set: Vec<Assign<'a>>,
    /// `VALUES (...) AS new` (MySQL 8 row alias).
    pub row_alias: Option<Ident<'a>>,
    pub on_duplicate: Option<OnDuplicate<'a>>,
    /// MariaDB `RETURNING ...` text.
    pub returning: Option<Range<usize>>,
}

impl<'a> Insert<'a> {
    /// The values of row `r`.
    pub fn row_values(&self, r: &Row) -> &[InsertValue<'a>] {
        self.values.get(r.values.clone()).unwrap_or(&[])
    }

    /// Index of column `name` in the column list (ASCII case-insensitive).
    pub fn column_index(&self, name: &[u8]) -> Option<usize> {
        self.columns.as_ref()?.1.iter().position(|c| c.is(name))
    }
}

/// `SHOW [FULL] TABLES [FROM db] [LIKE 'p' | WHERE ...]`, `SHOW TABLE STATUS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowTables<'a> {
    pub full: bool,
    /// `SHOW TABLE STATUS`
    pub status: bool,
    pub db: Option<Ident<'a>>,
    /// The LIKE pattern.
    pub like: Option<Value<'a>>,
    /// The WHERE condition text.
    pub where_: Option<Range<usize>>,
}

/// The value of `SET @@shardgate_shard_key = v`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardKeyValue<'a> {
    Set(Value<'a>),
    /// `DEFAULT` or `NULL`: clear the session key.
    Clear,
}

/// `LOAD DATA`: the file name and the format of its text, as the server
/// reads it (defaults filled in), so that shardgate can split the file's
/// records over shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadData<'a> {
    /// `LOCAL`: the client sends the file.
    pub local: bool,
    /// `LOAD XML`.
    pub xml: bool,
    /// The file name, decoded (what the server asks the client for).
    pub file: Vec<u8>,
    /// `CHARACTER SET name` of the file.
    pub charset: Option<Vec<u8>>,
    /// `FIELDS TERMINATED BY` (default tab).
    pub fields_terminated: Vec<u8>,
    /// `[OPTIONALLY] ENCLOSED BY` (default none).
    pub enclosed: Vec<u8>,
    /// `ESCAPED BY` (default backslash; empty: no escapes).
    pub escaped: Vec<u8>,
    /// `LINES STARTING BY` (default none).
    pub lines_starting: Vec<u8>,
    /// `LINES TERMINATED BY` (default newline).
    pub lines_terminated: Vec<u8>,
    /// `IGNORE n LINES|ROWS`: n and the clause's byte range.
    pub ignore_lines: Option<(u64, Range<usize>)>,
    /// The field list: a column's name, or `None` for a user variable.
    pub columns: Option<Vec<Option<Ident<'a>>>>,
    /// The columns its `SET` clause assigns.
    pub set_columns: Vec<Ident<'a>>,
}

/// The statement kind, with what is particular to it. Table references
/// are in [`Parsed::tables`] (their roles say which is which).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt<'a> {
    /// SELECT (block 0 is a `Select` or `Union` block).
    Select,
    /// INSERT / REPLACE (block 0 has kind `Insert`).
    Insert(Box<Insert<'a>>),
    Update {
        assignments: Vec<Assign<'a>>,
    },
    /// `multi`: `DELETE t1, t2 FROM ...` / `DELETE FROM t1 USING ...`.
    Delete {
        multi: bool,
    },
    CreateTable {
        or_replace: bool,
        temporary: bool,
        if_not_exists: bool,
        /// `CREATE TABLE ... SELECT`: the source block.
        select: Option<BlockId>,
    },
    AlterTable,
    DropTable {
        temporary: bool,
        if_exists: bool,
    },
    Truncate,
    RenameTable,
    CreateIndex {
        unique: bool,
        name: Ident<'a>,
    },
    DropIndex {
        name: Ident<'a>,
    },
    CreateDatabase {
        name: Ident<'a>,
        if_not_exists: bool,
    },
    DropDatabase {
        name: Ident<'a>,
        if_exists: bool,
    },
    Use {
        name: Ident<'a>,
    },
    /// `LOCK TABLES`: the byte range of each lock item (`t [AS a] READ`),
    /// one per table reference, in order.
    LockTables {
        items: Vec<Range<usize>>,
    },
    UnlockTables,
    /// `LOAD DATA|XML [LOCAL] INFILE ... INTO TABLE t` (the table is the
    /// one reference, role `Load`).
    LoadData(Box<LoadData<'a>>),
    ShowTables(ShowTables<'a>),
    ShowCreateTable,
    /// `SHOW [FULL] COLUMNS|FIELDS FROM t [FROM db]`
    ShowColumns {
        full: bool,
    },
    /// `SHOW INDEX|INDEXES|KEYS FROM t [FROM db]`
    ShowIndex,
    /// Any other SHOW.
    ShowOther,
    Describe,
    /// `SET [SESSION] @@shardgate_shard_key = v`. `alone`: the SET assigns
    /// nothing else; `assignment` is this assignment's text.
    SetShardKey {
        value: ShardKeyValue<'a>,
        assignment: Range<usize>,
        alone: bool,
    },
    /// `EXPLAIN SHARDGATE <stmt>`: `inner` is `<stmt>`'s byte range. The
    /// inner statement is not parsed: call [`super::parse`] on it.
    ExplainShardgate {
        inner: Range<usize>,
    },
    /// Outside the routing subset: nothing was extracted.
    Other,
}

impl Stmt<'_> {
    /// SHOW CREATE TABLE / SHOW COLUMNS / SHOW INDEX / DESCRIBE: reads a
    /// table's structure.
    pub fn shows_table_structure(&self) -> bool {
        matches!(
            self,
            Stmt::ShowCreateTable | Stmt::ShowColumns { .. } | Stmt::ShowIndex | Stmt::Describe
        )
    }
}

/// A route hint comment `/*+ shardgate: key=..., shard=N, master */`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteHint<'a> {
    /// The first shardgate hint comment.
    pub range: Range<usize>,
    /// `key=<literal>`: route as if the shard key had this value.
    pub key: Option<Value<'a>>,
    /// `shard=N`: route to shard N.
    pub shard: Option<u32>,
    /// `master`: run on the master even if it is a read.
    pub master: bool,
    /// A shardgate hint that could not be understood (the planner must
    /// refuse rather than ignore it).
    pub error: Option<&'static str>,
}

/// Which `information_schema` tables a statement reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InfoSchema {
    pub tables: bool,
    pub columns: bool,
    /// Any other information_schema table.
    pub other: bool,
}

impl InfoSchema {
    pub fn any(self) -> bool {
        self.tables || self.columns || self.other
    }
}

/// Why a statement was not analysed (completely).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// Byte offset where the parser gave up.
    pub at: usize,
    pub reason: &'static str,
}

/// Everything the parser extracted from one statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub stmt: Stmt<'a>,
    /// Every table reference, in text order.
    pub tables: Vec<TableRef<'a>>,
    /// Block 0 is the statement; then subqueries, derived tables, CTEs,
    /// union parts.
    pub blocks: Vec<Block<'a>>,
    /// Every qualified column reference (`t.c`, `db.t.c`, `t.*`), in text order.
    pub qualified: Vec<QualifiedRef<'a>>,
    /// Byte offset of every `?` placeholder, in order (ordinal = index).
    pub params: Vec<usize>,
    pub hint: Option<RouteHint<'a>>,
    pub info_schema: InfoSchema,
    /// Text follows the first statement's `;`; only the first was parsed.
    pub multi_statement: bool,
    /// INSERT/REPLACE/DELETE ... RETURNING: the statement answers with rows.
    pub returning: bool,
    /// Set when the statement was not understood (completely): then
    /// `tables` may be incomplete, so the planner must not route it as a
    /// sharded statement; see [`super::mentions`].
    pub unsupported: Option<Unsupported>,
}
