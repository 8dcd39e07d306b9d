//! Merging the rows of one group: [`GroupPlan`] decides from the spec and
//! the column types how each column folds (first value, any non-NULL value,
//! COUNT, SUM, MIN, MAX) and how it is finished (as folded, or AVG =
//! SUM / COUNT), and writes the finished cells in the stream's protocol
//! (text, or binary values of the output column type).
//!
//! Result types follow MariaDB 10.11 (checked with `mariadb
//! --column-type-info`): COUNT is LONGLONG; SUM of integers and DECIMALs is
//! NEWDECIMAL (summed exactly here), SUM of FLOAT/DOUBLE is DOUBLE (summed
//! as f64, so the last digits may differ from a single server, which adds
//! in another order); AVG of integers/DECIMAL(p,s) is NEWDECIMAL with
//! s + `div_precision_increment` decimals (max 38), rounded half away from
//! zero; AVG of FLOAT/DOUBLE is DOUBLE (decimals 31) = sum / count.
//!
//! <https://mariadb.com/kb/en/avg/>
//! <https://mariadb.com/kb/en/sum/>

use std::collections::HashSet;

use shardgate_proto::codec::put_lenenc_bytes;
use shardgate_proto::column::{ColumnDefinition41, ColumnFlags, ColumnType};
use shardgate_proto::value::{Value, NOT_FIXED_DEC};

use super::collation::Collation;
use super::decimal::Decimal;
use super::expr::{Columns, Expr, Num};
use super::fsum::ExactSum;
use super::key::{cell_key, cell_value, ColMeta, Key};
use super::row::Row;
use super::spec::{Aggregate, MergeSpec};

/// Most decimals of a DECIMAL (`DECIMAL_MAX_SCALE`).
const DECIMAL_MAX_SCALE: u32 = 38;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fold {
    /// GROUP BY column: the first row's value.
    First,
    /// Neither grouped nor aggregated: the first non-NULL value.
    Any,
    Count,
    /// `COUNT(DISTINCT x)`: the set of `x` values seen.
    CountDistinct,
    /// `SUM(DISTINCT x)` / `AVG(DISTINCT x)`: the `x` values seen, summed.
    SumDistinct,
    AvgDistinct,
    SumDec,
    SumFloat,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    Folded,
    Avg {
        sum: usize,
        count: usize,
        scale: Option<u32>,
    },
    /// An expression over merged columns: `GroupPlan::exprs[k]`.
    Expr(usize),
}

#[derive(Debug, Clone)]
enum Acc {
    None,
    Count(i128),
    Dec(Option<Decimal>),
    /// SUM of FLOAT/DOUBLE: exact, so the shards' order does not matter.
    Float(Option<ExactSum>),
    /// SUM/AVG(DISTINCT x): the distinct values seen and their sum.
    DistinctSum {
        seen: HashSet<Key>,
        dec: Option<Decimal>,
        float: Option<ExactSum>,
    },
    Best(Option<(Key, Vec<u8>)>),
    Any(Option<Vec<u8>>),
    Distinct(HashSet<Key>),
}

/// One group being merged: its first row and one accumulator per column.
#[derive(Debug, Clone)]
pub struct Group {
    first: Row,
    accs: Vec<Acc>,
}

impl Group {
    /// The group's first row.
    pub fn first(&self) -> &Row {
        &self.first
    }
}

/// How the columns of a grouped result merge.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    folds: Vec<Fold>,
    finish: Vec<Finish>,
    in_meta: Vec<ColMeta>,
    colls: Vec<Option<Collation>>,
    out_meta: Vec<ColMeta>,
    binary: bool,
    div_precision_increment: u8,
    exprs: Vec<Expr>,
}

impl GroupPlan {
    /// The plan for shard columns `in_meta` (already checked against the
    /// spec's indices).
    pub fn new(spec: &MergeSpec, in_meta: &[ColMeta]) -> GroupPlan {
        let n = in_meta.len();
        let mut folds = vec![Fold::Any; n];
        let mut finish = vec![Finish::Folded; n];
        let sum_fold = |c: usize| {
            if in_meta[c].ty.is_float() {
                Fold::SumFloat
            } else {
                Fold::SumDec
            }
        };
        // AVG inputs first, so an explicit aggregate on them wins.
        for &(c, a) in &spec.aggregates {
            if let Aggregate::Avg { sum, count } = a {
                folds[sum] = sum_fold(sum);
                folds[count] = Fold::Count;
                let scale = (!in_meta[sum].ty.is_float())
                    .then(|| avg_scale(&in_meta[sum], spec.div_precision_increment));
                finish[c] = Finish::Avg { sum, count, scale };
                if c != sum && c != count {
                    folds[c] = Fold::First;
                }
            }
        }
        for &(c, a) in &spec.aggregates {
            folds[c] = match a {
                Aggregate::Count => Fold::Count,
                Aggregate::Sum => sum_fold(c),
                Aggregate::Min => Fold::Min,
                Aggregate::Max => Fold::Max,
                Aggregate::CountDistinct => Fold::CountDistinct,
                Aggregate::SumDistinct => Fold::SumDistinct,
                Aggregate::AvgDistinct => Fold::AvgDistinct,
                Aggregate::Avg { .. } => continue,
            };
        }
        for &g in &spec.group_by {
            folds[g] = Fold::First;
        }
        // Expressions over aggregates: the shards' own values are ignored.
        for (k, (c, _)) in spec.exprs.iter().enumerate() {
            if let (Some(f), Some(fold)) = (finish.get_mut(*c), folds.get_mut(*c)) {
                *f = Finish::Expr(k);
                *fold = Fold::Any;
            }
        }
        let mut out_meta = in_meta.to_vec();
        for (c, f) in finish.iter().enumerate() {
            if let Finish::Avg { scale, .. } = *f {
                out_meta[c] = avg_meta(scale);
            }
        }
        for (c, f) in folds.iter().enumerate() {
            match f {
                Fold::CountDistinct => out_meta[c] = count_meta(),
                Fold::SumDistinct => out_meta[c] = distinct_sum_meta(&in_meta[c], None),
                Fold::AvgDistinct => {
                    let scale = avg_scale(&in_meta[c], spec.div_precision_increment);
                    out_meta[c] = distinct_sum_meta(&in_meta[c], Some(scale));
                }
                _ => {}
            }
        }
        GroupPlan {
            folds,
            finish,
            in_meta: in_meta.to_vec(),
            colls: in_meta.iter().map(ColMeta::collation).collect(),
            out_meta,
            binary: spec.binary,
            div_precision_increment: spec.div_precision_increment,
            exprs: spec.exprs.iter().map(|(_, e)| e.clone()).collect(),
        }
    }

    /// Column metadata of the merged rows (AVG columns rewritten).
    pub fn out_meta(&self) -> &[ColMeta] {
        &self.out_meta
    }

    /// Writes column `c`'s definition as MariaDB shows an AVG (name and
    /// table from the shard's column `c`; type, decimals and length derived
    /// from the SUM column's) and returns true, when `c` is an AVG.
    pub fn write_avg_definition(&self, c: usize, defs: &[Vec<u8>], p: &mut Vec<u8>) -> bool {
        let Some(&Finish::Avg { sum, .. }) = self.finish.get(c) else {
            return false;
        };
        let (Some(meta), Some(own), Some(sum)) = (self.out_meta.get(c), defs.get(c), defs.get(sum))
        else {
            return false;
        };
        let (Ok(def), Ok(sum)) = (
            ColumnDefinition41::decode(own),
            ColumnDefinition41::decode(sum),
        ) else {
            return false;
        };
        // MariaDB: AVG precision = SUM precision - 22 + increment (SUM
        // widened its argument by 22 digits), plus sign and point.
        let column_length = if meta.ty == ColumnType::Double {
            sum.column_length
        } else {
            let sum_prec = sum
                .column_length
                .saturating_sub(1 + u32::from(sum.decimals > 0));
            let prec = sum_prec.saturating_sub(22) + u32::from(self.div_precision_increment);
            prec + 1 + u32::from(meta.decimals > 0)
        };
        write_computed_definition(def, meta, column_length, p);
        true
    }

    /// Writes column `c`'s definition as MariaDB shows a COUNT (name and
    /// table from the shard's column `c`, which held the counted values)
    /// and returns true, when `c` is a `COUNT(DISTINCT ...)`.
    pub fn write_count_definition(&self, c: usize, defs: &[Vec<u8>], p: &mut Vec<u8>) -> bool {
        if self.folds.get(c) != Some(&Fold::CountDistinct) {
            return false;
        }
        let Some(Ok(def)) = defs.get(c).map(|d| ColumnDefinition41::decode(d)) else {
            return false;
        };
        write_computed_definition(def, &count_meta(), 21, p);
        true
    }

    /// Writes column `c`'s definition as MariaDB shows a SUM or AVG (name
    /// from the shard's column `c`, which held the summed values) and
    /// returns true, when `c` is a `SUM(DISTINCT ...)` / `AVG(DISTINCT ...)`.
    pub fn write_distinct_sum_definition(
        &self,
        c: usize,
        defs: &[Vec<u8>],
        p: &mut Vec<u8>,
    ) -> bool {
        if !matches!(
            self.folds.get(c),
            Some(Fold::SumDistinct | Fold::AvgDistinct)
        ) {
            return false;
        }
        let (Some(Ok(def)), Some(meta)) = (
            defs.get(c).map(|d| ColumnDefinition41::decode(d)),
            self.out_meta.get(c),
        ) else {
            return false;
        };
        // MariaDB widens a SUM by 22 digits, an AVG by div_precision_increment
        // (display length: digits, sign and point).
        let widen = if self.folds[c] == Fold::SumDistinct {
            22
        } else {
            u32::from(self.div_precision_increment)
        };
        let column_length = if meta.ty == ColumnType::Double {
            23
        } else {
            (def.column_length + widen).min(67)
        };
        write_computed_definition(def, meta, column_length, p);
        true
    }

    /// The row of a grouping without GROUP BY over no rows at all (MariaDB
    /// still answers one row): counts are 0, everything else NULL.
    pub fn empty_row(&self) -> Result<Row, String> {
        let mut row = Row::with_capacity(self.folds.len());
        let fresh = Group {
            first: Row::default(),
            accs: self.fresh_accs(),
        };
        for (c, f) in self.folds.iter().enumerate() {
            if let Finish::Expr(k) = self.finish[c] {
                row.push(self.expr_cell(&fresh, k, c)?.as_deref());
                continue;
            }
            match f {
                Fold::Count | Fold::CountDistinct => row.push(Some(
                    &self.encode_number(&Decimal::from_i128(0), &self.out_meta[c])?,
                )),
                _ => row.push(None),
            }
        }
        Ok(row)
    }

    /// A group holding one row.
    pub fn start(&self, row: Row) -> Result<Group, String> {
        let mut g = Group {
            first: Row::default(),
            accs: self.fresh_accs(),
        };
        self.fold(&mut g, &row)?;
        g.first = row;
        Ok(g)
    }

    /// One accumulator per column, before any row.
    fn fresh_accs(&self) -> Vec<Acc> {
        self.folds
            .iter()
            .map(|f| match f {
                Fold::First => Acc::None,
                Fold::Any => Acc::Any(None),
                Fold::Count => Acc::Count(0),
                Fold::CountDistinct => Acc::Distinct(HashSet::new()),
                Fold::SumDistinct | Fold::AvgDistinct => Acc::DistinctSum {
                    seen: HashSet::new(),
                    dec: None,
                    float: None,
                },
                Fold::SumDec => Acc::Dec(None),
                Fold::SumFloat => Acc::Float(None),
                Fold::Min | Fold::Max => Acc::Best(None),
            })
            .collect()
    }

    /// Folds one more row into a group; returns how many values it added
    /// to the group's `COUNT(DISTINCT ...)` sets (memory the caller bounds).
    pub fn fold(&self, g: &mut Group, row: &Row) -> Result<usize, String> {
        let mut added = 0;
        for (c, acc) in g.accs.iter_mut().enumerate() {
            let cell = row.cell(c);
            let meta = &self.in_meta[c];
            match acc {
                Acc::None => {}
                Acc::Any(v) => {
                    if v.is_none() {
                        *v = cell.map(<[u8]>::to_vec);
                    }
                }
                Acc::Count(n) => {
                    if let Some(cell) = cell {
                        let d = number(meta, self.binary, cell)?;
                        *n += d.to_i128().ok_or("COUNT is not an integer")?;
                    }
                }
                Acc::Dec(sum) => {
                    if let Some(cell) = cell {
                        let d = number(meta, self.binary, cell)?;
                        *sum = Some(match sum.take() {
                            Some(s) => s.add(&d),
                            None => d,
                        });
                    }
                }
                Acc::Float(sum) => {
                    if let Some(cell) = cell {
                        let f = float(meta, self.binary, cell)?;
                        sum.get_or_insert_with(ExactSum::new).add(f);
                    }
                }
                Acc::Distinct(seen) => {
                    let key = cell_key(meta, self.colls[c].as_ref(), self.binary, cell)?;
                    if key != Key::Null && seen.insert(key) {
                        added += 1;
                    }
                }
                Acc::DistinctSum {
                    seen,
                    dec,
                    float: fsum,
                } => {
                    let key = cell_key(meta, self.colls[c].as_ref(), self.binary, cell)?;
                    let Some(cell) = cell.filter(|_| key != Key::Null) else {
                        continue;
                    };
                    if seen.insert(key) {
                        added += 1;
                        if meta.ty.is_float() {
                            let f = float(meta, self.binary, cell)?;
                            fsum.get_or_insert_with(ExactSum::new).add(f);
                        } else {
                            let d = number(meta, self.binary, cell)?;
                            *dec = Some(match dec.take() {
                                Some(s) => s.add(&d),
                                None => d,
                            });
                        }
                    }
                }
                Acc::Best(best) => {
                    let key = cell_key(meta, self.colls[c].as_ref(), self.binary, cell)?;
                    if key == Key::Null {
                        continue;
                    }
                    let better = match best {
                        None => true,
                        Some((b, _)) if self.folds[c] == Fold::Min => key < *b,
                        Some((b, _)) => key > *b,
                    };
                    if better {
                        *best = Some((key, cell.unwrap_or_default().to_vec()));
                    }
                }
            }
        }
        Ok(added)
    }

    /// The merged row of a group.
    pub fn finish(&self, g: &Group) -> Result<Row, String> {
        let mut row = Row::with_capacity(g.accs.len());
        for (c, acc) in g.accs.iter().enumerate() {
            if let Finish::Expr(k) = self.finish[c] {
                row.push(self.expr_cell(g, k, c)?.as_deref());
                continue;
            }
            if let Finish::Avg { sum, count, scale } = self.finish[c] {
                let v = avg(
                    &g.accs[sum],
                    &g.accs[count],
                    scale,
                    self.div_precision_increment,
                );
                row.push(
                    v.map(|(v, _)| self.encode_value(&v, &self.out_meta[c]))
                        .transpose()?
                        .as_deref(),
                );
                continue;
            }
            let meta = &self.in_meta[c];
            match acc {
                Acc::None => row.push(g.first.cell(c)),
                Acc::Any(v) => row.push(v.as_deref()),
                Acc::Best(b) => row.push(b.as_ref().map(|(_, v)| v.as_slice())),
                Acc::Count(n) => {
                    row.push(Some(&self.encode_number(&Decimal::from_i128(*n), meta)?))
                }
                Acc::Distinct(seen) => {
                    row.push(Some(&self.encode_number(
                        &Decimal::from_i128(seen.len() as i128),
                        &self.out_meta[c],
                    )?))
                }
                Acc::DistinctSum { seen, dec, float } => {
                    let out = &self.out_meta[c];
                    let avg = self.folds[c] == Fold::AvgDistinct;
                    let n = seen.len() as u64;
                    let v = match (dec, float) {
                        _ if n == 0 => None,
                        (Some(d), _) if avg => {
                            let scale = u32::from(out.decimals);
                            exact_avg(d, scale, i128::from(n), self.div_precision_increment)
                                .map(|(q, _)| Computed::Exact(q, scale))
                        }
                        (Some(d), _) => Some(Computed::Exact(d.clone(), u32::from(out.decimals))),
                        (None, Some(f)) if avg => {
                            Some(Computed::Value(Value::Double(f.value() / n as f64)))
                        }
                        (None, Some(f)) => Some(Computed::Value(Value::Double(f.value()))),
                        (None, None) => None,
                    };
                    row.push(
                        v.map(|v| self.encode_value(&v, out))
                            .transpose()?
                            .as_deref(),
                    );
                }
                Acc::Dec(None) | Acc::Float(None) => row.push(None),
                Acc::Dec(Some(d)) => row.push(Some(&self.encode_number(d, meta)?)),
                Acc::Float(Some(s)) => {
                    let v = if meta.ty == ColumnType::Float {
                        Value::Float(s.value() as f32)
                    } else {
                        Value::Double(s.value())
                    };
                    row.push(Some(&self.encode_value(&Computed::Value(v), meta)?));
                }
            }
        }
        Ok(row)
    }

    /// Expression `k` over group `g`, as a cell of column `c` (the type the
    /// shards gave the expression).
    fn expr_cell(&self, g: &Group, k: usize, c: usize) -> Result<Option<Vec<u8>>, String> {
        let cols = GroupColumns { plan: self, g };
        let e = self.exprs.get(k).ok_or("no such expression")?;
        let v = e.eval(&cols, self.div_precision_increment)?;
        let Some(v) = v else {
            return Ok(None);
        };
        let meta = &self.out_meta[c];
        if is_string_type(meta.ty) {
            // A string result: a literal or a string column's MIN/MAX as
            // is; an exact number in its text form.
            let text = match v {
                Num::Str(b) => b,
                Num::Int(i) => i.to_string().into_bytes(),
                Num::Dec { v, scale, .. } => v.to_text(scale),
                Num::Dbl(_) => {
                    return Err("a DOUBLE shown as a string is not computed by shardgate".into())
                }
            };
            let mut out = Vec::with_capacity(text.len() + 9);
            if self.binary {
                put_lenenc_bytes(&mut out, &text);
            } else {
                out = text;
            }
            return Ok(Some(out));
        }
        if v.is_str() {
            return Err(format!("a string where the server gives a {:?}", meta.ty));
        }
        let computed = if meta.ty.is_integer() {
            let i = match v {
                Num::Int(i) => i,
                Num::Dec { v, .. } => v.round(0).to_i128().ok_or("integer out of range")?,
                Num::Dbl(f) => f.round() as i128,
                Num::Str(_) => 0,
            };
            match i64::try_from(i) {
                Ok(v) if !meta.unsigned || v >= 0 => Computed::Value(Value::Int(v)),
                _ => Computed::Value(Value::UInt(
                    u64::try_from(i).map_err(|_| "BIGINT value is out of range".to_string())?,
                )),
            }
        } else if meta.ty.is_float() {
            Computed::Value(Value::Double(v.to_f64()))
        } else if meta.ty.is_decimal() {
            let d = match v {
                Num::Int(i) => Decimal::from_i128(i),
                Num::Dec { v, .. } => v,
                Num::Dbl(f) => Decimal::parse(format!("{f}").as_bytes())
                    .ok_or("a DOUBLE where a DECIMAL was expected")?,
                Num::Str(_) => Decimal::default(),
            };
            Computed::Exact(d, decimals_of(meta))
        } else {
            return Err(format!(
                "an expression over aggregates gave a {:?} column, which shardgate does not compute",
                meta.ty
            ));
        };
        self.encode_value(&computed, meta).map(Some)
    }

    /// An exact number as a cell of a column of type `meta`.
    fn encode_number(&self, d: &Decimal, meta: &ColMeta) -> Result<Vec<u8>, String> {
        if meta.ty.is_integer() {
            let i = d.to_i128().ok_or("integer sum is not an integer")?;
            let v = match i64::try_from(i) {
                Ok(v) if !meta.unsigned => Value::Int(v),
                _ => Value::UInt(u64::try_from(i).map_err(|_| format!("sum {i} is out of range"))?),
            };
            return self.encode_value(&Computed::Value(v), meta);
        }
        if meta.ty.is_float() {
            return self.encode_value(&Computed::Value(Value::Double(d.to_f64())), meta);
        }
        self.encode_value(&Computed::Exact(d.clone(), decimals_of(meta)), meta)
    }

    fn encode_value(&self, v: &Computed, meta: &ColMeta) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        match v {
            Computed::Exact(d, scale) => {
                let text = d.to_text(*scale);
                if self.binary {
                    put_lenenc_bytes(&mut out, &text);
                } else {
                    out = text;
                }
            }
            Computed::Value(v) => {
                if self.binary {
                    v.encode_binary(meta.ty, meta.unsigned, &mut out)
                        .map_err(|e| format!("cannot encode {v:?} as {:?}: {e}", meta.ty))?;
                } else {
                    v.to_text_typed(meta.ty, meta.decimals, &mut out);
                }
            }
        }
        Ok(out)
    }
}

/// The merged columns of one group, as numbers for an [`Expr`].
struct GroupColumns<'a> {
    plan: &'a GroupPlan,
    g: &'a Group,
}

impl Columns for GroupColumns<'_> {
    fn value(&self, column: usize) -> Result<Option<Num>, String> {
        let plan = self.plan;
        // A select item read by its alias: its finished value.
        match plan.finish.get(column) {
            Some(&Finish::Avg { sum, count, .. }) => return self.avg(sum, count),
            Some(&Finish::Expr(k)) => {
                let e = plan.exprs.get(k).ok_or("no such expression")?;
                return e.eval(self, plan.div_precision_increment);
            }
            _ => {}
        }
        let meta = plan.in_meta.get(column).ok_or("no such column")?;
        let num = |cell: &[u8]| -> Result<Num, String> {
            if meta.ty == ColumnType::Float {
                // The server computes with the FLOAT's single precision.
                Ok(Num::Dbl(f64::from(float(meta, plan.binary, cell)? as f32)))
            } else if meta.ty.is_float() {
                Ok(Num::Dbl(float(meta, plan.binary, cell)?))
            } else if meta.ty.is_integer() {
                let d = number(meta, plan.binary, cell)?;
                Ok(Num::Int(d.to_i128().ok_or("not an integer")?))
            } else if meta.ty.is_decimal() {
                Ok(Num::exact(
                    number(meta, plan.binary, cell)?,
                    decimals_of(meta),
                ))
            } else if is_string_type(meta.ty) {
                Ok(Num::Str(match cell_value(meta, plan.binary, cell)? {
                    Value::Bytes(b) => b.to_vec(),
                    _ => cell.to_vec(),
                }))
            } else {
                Err(format!(
                    "shardgate computes expressions over numeric aggregates only, not over {:?} values",
                    meta.ty
                ))
            }
        };
        Ok(match self.g.accs.get(column).ok_or("no such column")? {
            Acc::Count(n) => Some(Num::Int(*n)),
            Acc::Dec(Some(d)) => Some(Num::exact(d.clone(), decimals_of(meta))),
            Acc::Float(Some(s)) => Some(Num::Dbl(s.value())),
            Acc::Dec(None) | Acc::Float(None) | Acc::Best(None) => None,
            Acc::Best(Some((_, cell))) => Some(num(cell)?),
            Acc::Any(Some(cell)) => Some(num(cell)?),
            Acc::None => self.g.first.cell(column).map(num).transpose()?,
            Acc::Any(None) => None,
            Acc::Distinct(_) | Acc::DistinctSum { .. } => {
                return Err("DISTINCT aggregates inside expressions are not merged".into())
            }
        })
    }

    fn avg(&self, sum: usize, count: usize) -> Result<Option<Num>, String> {
        let plan = self.plan;
        let (Some(meta), Some(sum), Some(count)) = (
            plan.in_meta.get(sum),
            self.g.accs.get(sum),
            self.g.accs.get(count),
        ) else {
            return Err("no such column".into());
        };
        let scale = (!meta.ty.is_float()).then(|| avg_scale(meta, plan.div_precision_increment));
        let incr = plan.div_precision_increment;
        Ok(match avg(sum, count, scale, incr) {
            Some((Computed::Exact(v, scale), frac)) => Some(Num::Dec { v, scale, frac }),
            Some((Computed::Value(Value::Double(f)), _)) => Some(Num::Dbl(f)),
            Some(_) | None => None,
        })
    }
}

/// Columns whose values are strings (passed through by expressions).
fn is_string_type(ty: ColumnType) -> bool {
    matches!(
        ty,
        ColumnType::VarChar
            | ColumnType::VarString
            | ColumnType::String
            | ColumnType::TinyBlob
            | ColumnType::MediumBlob
            | ColumnType::LongBlob
            | ColumnType::Blob
            | ColumnType::Enum
            | ColumnType::Set
            | ColumnType::Json
    )
}

/// The fraction digits of a column's values (0 for "not fixed").
fn decimals_of(meta: &ColMeta) -> u32 {
    let d = u32::from(meta.decimals);
    if d > DECIMAL_MAX_SCALE {
        0
    } else {
        d
    }
}

/// A computed value: an exact decimal with its scale, or a [`Value`].
#[derive(Debug, Clone)]
enum Computed {
    Exact(Decimal, u32),
    Value(Value<'static>),
}

/// AVG = sum / count as the server computes it: a DECIMAL quotient held
/// with the digits `Decimal::div_mariadb` gives (truncated; shown rounded
/// to `scale`), or a double. Also returns the fraction digits held.
fn avg(sum: &Acc, count: &Acc, scale: Option<u32>, incr: u8) -> Option<(Computed, u32)> {
    let n = match count {
        Acc::Count(n) if *n > 0 => *n,
        _ => return None,
    };
    match (sum, scale) {
        (Acc::Dec(Some(s)), Some(scale)) => {
            let (q, frac) = exact_avg(s, scale, n, incr)?;
            Some((Computed::Exact(q, scale), frac))
        }
        (Acc::Float(Some(s)), _) => Some((Computed::Value(Value::Double(s.value() / n as f64)), 0)),
        (Acc::Dec(Some(s)), None) => {
            Some((Computed::Value(Value::Double(s.to_f64() / n as f64)), 0))
        }
        _ => None,
    }
}

/// `sum / n` for an AVG shown with `scale` decimals (the sum's own
/// decimals + `incr`).
fn exact_avg(sum: &Decimal, scale: u32, n: i128, incr: u8) -> Option<(Decimal, u32)> {
    let sum_frac = scale.saturating_sub(u32::from(incr));
    sum.div_mariadb(sum_frac, &Decimal::from_i128(n), 0, u32::from(incr))
}

/// What MariaDB's AVG result column looks like: NEWDECIMAL with `scale`
/// decimals, or DOUBLE (decimals 31) when `scale` is `None`; BINARY is its
/// only flag on the wire (client libraries such as mysqlnd and libmysql add
/// NUM_FLAG themselves for the types up to INT24, DOUBLE included).
fn avg_meta(scale: Option<u32>) -> ColMeta {
    ColMeta {
        ty: if scale.is_some() {
            ColumnType::NewDecimal
        } else {
            ColumnType::Double
        },
        unsigned: false,
        decimals: scale.map_or(NOT_FIXED_DEC, |s| s as u8),
        charset: super::collation::BINARY,
        cells_charset: super::collation::BINARY,
        flags: ColumnFlags::BINARY,
    }
}

/// The definition of a column shardgate computes from shard column `def`
/// (its name kept; no table, as for an aggregate): type, flags, decimals
/// from `meta`.
fn write_computed_definition(
    def: ColumnDefinition41<'_>,
    meta: &ColMeta,
    column_length: u32,
    p: &mut Vec<u8>,
) {
    ColumnDefinition41 {
        character_set: meta.charset,
        column_length,
        column_type: meta.ty,
        flags: meta.flags,
        decimals: meta.decimals,
        filler: [0, 0],
        trailing: b"",
        schema: b"",
        table: b"",
        org_table: b"",
        org_name: b"",
        ..def
    }
    .encode(p);
}

/// The scale of an AVG over values of column `m` (NEWDECIMAL results).
fn avg_scale(m: &ColMeta, div_precision_increment: u8) -> u32 {
    let d = u32::from(m.decimals);
    let d = if d >= u32::from(NOT_FIXED_DEC) { 0 } else { d };
    (d + u32::from(div_precision_increment)).min(DECIMAL_MAX_SCALE)
}

/// What MariaDB gives for SUM (`avg_scale`: None) or AVG over values of
/// column `m`: DOUBLE for a float column, else NEWDECIMAL with `m`'s
/// decimals (SUM) or the AVG scale.
fn distinct_sum_meta(m: &ColMeta, avg_scale: Option<u32>) -> ColMeta {
    if m.ty.is_float() {
        return avg_meta(None);
    }
    let d = u32::from(m.decimals);
    let d = if d >= u32::from(NOT_FIXED_DEC) { 0 } else { d };
    avg_meta(Some(avg_scale.unwrap_or(d)))
}

/// What MariaDB gives for a COUNT: a BIGINT that is never NULL.
fn count_meta() -> ColMeta {
    ColMeta {
        ty: ColumnType::LongLong,
        unsigned: false,
        decimals: 0,
        charset: super::collation::BINARY,
        cells_charset: super::collation::BINARY,
        flags: ColumnFlags::NOT_NULL | ColumnFlags::BINARY,
    }
}

/// A numeric cell as an exact decimal (integers, DECIMAL text).
fn number(meta: &ColMeta, binary: bool, cell: &[u8]) -> Result<Decimal, String> {
    match cell_value(meta, binary, cell)? {
        Value::Int(i) => Ok(Decimal::from_i128(i.into())),
        Value::UInt(u) => Ok(Decimal::from_i128(u.into())),
        Value::Bytes(b) => Decimal::parse(b).ok_or_else(|| "not a number".into()),
        Value::Double(f) => {
            Decimal::parse(format!("{f}").as_bytes()).ok_or_else(|| "not a number".into())
        }
        Value::Float(f) => {
            Decimal::parse(format!("{f}").as_bytes()).ok_or_else(|| "not a number".into())
        }
        other => Err(format!("{other:?} is not a number")),
    }
}

/// A numeric cell as a double.
fn float(meta: &ColMeta, binary: bool, cell: &[u8]) -> Result<f64, String> {
    match cell_value(meta, binary, cell)? {
        Value::Double(f) => Ok(f),
        Value::Float(f) => Ok(f.into()),
        Value::Int(i) => Ok(i as f64),
        Value::UInt(u) => Ok(u as f64),
        Value::Bytes(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| "not a number".into()),
        other => Err(format!("{other:?} is not a number")),
    }
}
