//! Select-list expressions over merged aggregates (`SUM(a) / COUNT(*)`,
//! `ROUND(AVG(x), 2)`, `IFNULL(SUM(x), 0)`, `COUNT(*) > 0`): the planner
//! adds each aggregate as a (hidden) column, the shards still compute the
//! expression itself (so its column definition is MariaDB's own), and the
//! merger replaces the value with [`Expr::eval`] over the merged
//! aggregates, written in the type of that column definition.
//!
//! Arithmetic follows MariaDB 10.11: integers stay integers (BIGINT,
//! overflow is an error), integers and DECIMALs are exact (`+ -` keep the
//! larger scale, `*` adds the scales, `/` has the dividend's scale plus
//! `div_precision_increment`, rounded half away from zero), anything with
//! a DOUBLE is a double; division or modulo by zero is NULL; `ROUND` of a
//! double rounds half to even (`rint`), of an exact number half away from
//! zero.
//!
//! <https://mariadb.com/kb/en/arithmetic-operators/>
//! <https://mariadb.com/kb/en/round/>
//! <https://mariadb.com/kb/en/div_precision_increment/>

use std::cmp::Ordering;

use super::decimal::Decimal;
use super::spec::CmpOp;

/// Most decimals of a DECIMAL (`DECIMAL_MAX_SCALE`).
const MAX_SCALE: u32 = 38;

/// A number the expression computes with (`None` stands for NULL).
#[derive(Debug, Clone, PartialEq)]
pub enum Num {
    /// An integer (BIGINT arithmetic).
    Int(i128),
    /// An exact number: `scale` is the decimals of its type (what the
    /// server shows), `frac` the fraction digits the server holds while it
    /// computes (more after a division: see [`Decimal::div_mariadb`]).
    Dec {
        v: Decimal,
        scale: u32,
        frac: u32,
    },
    Dbl(f64),
    /// A string (a literal, or MIN/MAX of a string column): only passed
    /// through CASE / IF / IFNULL / COALESCE, never computed with.
    Str(Vec<u8>),
}

impl Num {
    /// An exact value with its scale and held fraction digits.
    pub fn exact(v: Decimal, scale: u32) -> Num {
        Num::Dec {
            v,
            scale,
            frac: scale,
        }
    }

    fn to_dec(&self) -> Option<(Decimal, u32, u32)> {
        match self {
            Num::Int(i) => Some((Decimal::from_i128(*i), 0, 0)),
            Num::Dec { v, scale, frac } => Some((v.clone(), *scale, *frac)),
            Num::Dbl(_) | Num::Str(_) => None,
        }
    }

    pub fn to_f64(&self) -> f64 {
        match self {
            Num::Int(i) => *i as f64,
            Num::Dec { v, .. } => v.to_f64(),
            Num::Dbl(f) => *f,
            Num::Str(_) => f64::NAN,
        }
    }

    pub fn is_str(&self) -> bool {
        matches!(self, Num::Str(_))
    }

    fn is_zero(&self) -> bool {
        match self {
            Num::Int(i) => *i == 0,
            Num::Dec { v, .. } => v.is_zero(),
            Num::Dbl(f) => *f == 0.0,
            Num::Str(_) => false,
        }
    }

    /// Numbers only (strings compare by collations: `None`).
    fn cmp(&self, other: &Num) -> Option<Ordering> {
        if self.is_str() || other.is_str() {
            return None;
        }
        match (self.to_dec(), other.to_dec()) {
            (Some((a, ..)), Some((b, ..))) => Some(a.cmp(&b)),
            _ => self.to_f64().partial_cmp(&other.to_f64()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// `DIV`: integer division, truncated toward zero.
    IntDiv,
    /// `%` / `MOD`.
    Mod,
}

/// An expression over merged columns and constants.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// The merged value of a column (an aggregate).
    Column(usize),
    /// `AVG(x)` of a merged SUM column and COUNT column, as MariaDB
    /// computes it (scale of the sum + `div_precision_increment`, or a
    /// double).
    Avg {
        sum: usize,
        count: usize,
    },
    Const(Option<Num>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// `a <=> b`: never NULL.
    NullSafeEq(Box<Expr>, Box<Expr>),
    /// `a AND b`, `a OR b`, `NOT a`: three-valued logic, 1/0/NULL.
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `a IS NULL`; `negated`: `a IS NOT NULL`.
    IsNull {
        arg: Box<Expr>,
        negated: bool,
    },
    /// `IFNULL(a, b)` / `COALESCE(a, ...)`.
    Coalesce(Vec<Expr>),
    /// `CASE WHEN c THEN r ... [ELSE e] END`, `IF(c, r, e)` (a simple
    /// `CASE x WHEN v` is written as `x = v` conditions).
    Case {
        arms: Vec<(Expr, Expr)>,
        default: Option<Box<Expr>>,
    },
    /// `GREATEST(...)` (`greatest`) / `LEAST(...)`: NULL when any is.
    Extreme {
        args: Vec<Expr>,
        greatest: bool,
    },
    /// `FLOOR(x)` (`up`: false) / `CEIL(x)`.
    Floor {
        arg: Box<Expr>,
        up: bool,
    },
    NullIf(Box<Expr>, Box<Expr>),
    /// `ROUND(x, places)`; `truncate`: `TRUNCATE(x, places)`.
    Round {
        arg: Box<Expr>,
        places: i64,
        truncate: bool,
    },
    Abs(Box<Expr>),
}

/// The value of a merged column for [`Expr::eval`]; `Avg` gets the sum and
/// count columns' values.
pub trait Columns {
    fn value(&self, column: usize) -> Result<Option<Num>, String>;
    fn avg(&self, sum: usize, count: usize) -> Result<Option<Num>, String>;
}

impl Expr {
    /// Every column the expression reads, renumbered by `f`.
    pub fn map_columns(&mut self, f: &dyn Fn(usize) -> usize) {
        match self {
            Expr::Column(c) => *c = f(*c),
            Expr::Avg { sum, count } => {
                *sum = f(*sum);
                *count = f(*count);
            }
            Expr::Const(_) => {}
            Expr::Neg(a)
            | Expr::Abs(a)
            | Expr::Not(a)
            | Expr::IsNull { arg: a, .. }
            | Expr::Round { arg: a, .. } => a.map_columns(f),
            Expr::Bin(_, a, b)
            | Expr::Cmp(_, a, b)
            | Expr::NullSafeEq(a, b)
            | Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::NullIf(a, b) => {
                a.map_columns(f);
                b.map_columns(f);
            }
            Expr::Coalesce(args) | Expr::Extreme { args, .. } => {
                args.iter_mut().for_each(|a| a.map_columns(f))
            }
            Expr::Case { arms, default } => {
                for (c, r) in arms {
                    c.map_columns(f);
                    r.map_columns(f);
                }
                if let Some(d) = default {
                    d.map_columns(f);
                }
            }
            Expr::Floor { arg, .. } => arg.map_columns(f),
        }
    }

    /// Every column the expression reads.
    pub fn columns(&self) -> Vec<usize> {
        let seen = std::cell::RefCell::new(Vec::new());
        self.clone().map_columns(&|c| {
            seen.borrow_mut().push(c);
            c
        });
        seen.into_inner()
    }

    /// The value over one merged group.
    pub fn eval(&self, cols: &dyn Columns, div_increment: u8) -> Result<Option<Num>, String> {
        let ev = |e: &Expr| e.eval(cols, div_increment);
        Ok(match self {
            Expr::Column(c) => cols.value(*c)?,
            Expr::Avg { sum, count } => cols.avg(*sum, *count)?,
            Expr::Const(v) => v.clone(),
            Expr::Neg(a)
            | Expr::Abs(a)
            | Expr::Floor { arg: a, .. }
            | Expr::Round { arg: a, .. }
                if ev(a)?.as_ref().is_some_and(Num::is_str) =>
            {
                return Err(strings_not_computed());
            }
            Expr::Neg(a) => ev(a)?.map(|v| match v {
                Num::Int(i) => Num::Int(-i),
                Num::Dec { v, scale, frac } => Num::Dec {
                    v: v.neg(),
                    scale,
                    frac,
                },
                Num::Dbl(f) => Num::Dbl(-f),
                Num::Str(b) => Num::Str(b),
            }),
            Expr::Abs(a) => ev(a)?.map(|v| match v {
                Num::Int(i) => Num::Int(i.abs()),
                Num::Dec { v, scale, frac } => Num::Dec {
                    v: v.abs(),
                    scale,
                    frac,
                },
                Num::Dbl(f) => Num::Dbl(f.abs()),
                Num::Str(b) => Num::Str(b),
            }),
            Expr::Bin(op, a, b) => match (ev(a)?, ev(b)?) {
                (Some(x), Some(y)) => binary(*op, &x, &y, div_increment)?,
                _ => None,
            },
            Expr::Cmp(op, a, b) => {
                let (x, y) = (ev(a)?, ev(b)?);
                if x.as_ref().is_some_and(Num::is_str) || y.as_ref().is_some_and(Num::is_str) {
                    return Err(strings_not_computed());
                }
                compare(*op, x, y)
            }
            Expr::NullSafeEq(a, b) => Some(match (ev(a)?, ev(b)?) {
                (None, None) => Num::Int(1),
                (Some(x), Some(y)) => Num::Int(i128::from(x.cmp(&y) == Some(Ordering::Equal))),
                _ => Num::Int(0),
            }),
            Expr::And(a, b) => match (truth(ev(a)?), truth(ev(b)?)) {
                (Some(false), _) | (_, Some(false)) => Some(Num::Int(0)),
                (Some(true), Some(true)) => Some(Num::Int(1)),
                _ => None,
            },
            Expr::Or(a, b) => match (truth(ev(a)?), truth(ev(b)?)) {
                (Some(true), _) | (_, Some(true)) => Some(Num::Int(1)),
                (Some(false), Some(false)) => Some(Num::Int(0)),
                _ => None,
            },
            Expr::Not(a) => truth(ev(a)?).map(|t| Num::Int(i128::from(!t))),
            Expr::IsNull { arg, negated } => {
                Some(Num::Int(i128::from(ev(arg)?.is_none() != *negated)))
            }
            Expr::Coalesce(args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(ev(a)?);
                }
                coalesce(vals)
            }
            Expr::Case { arms, default } => {
                // The result has the type of all branches together; a
                // branch not taken counts for its type only.
                let mut taken = None;
                let mut all = Vec::with_capacity(arms.len() + 1);
                for (c, r) in arms {
                    if taken.is_none() && truth(ev(c)?) == Some(true) {
                        let v = ev(r)?;
                        all.push(v.clone());
                        taken = Some(v);
                    } else {
                        all.push(ev(r).ok().flatten());
                    }
                }
                match default {
                    Some(d) if taken.is_none() => {
                        let v = ev(d)?;
                        all.push(v.clone());
                        taken = Some(v);
                    }
                    Some(d) => all.push(ev(d).ok().flatten()),
                    None => {}
                }
                taken.flatten().map(|v| unified(v, &all))
            }
            Expr::Extreme { args, greatest } => {
                let mut all = Vec::with_capacity(args.len());
                for a in args {
                    all.push(ev(a)?);
                }
                if all.iter().flatten().any(Num::is_str) {
                    return Err(strings_not_computed());
                }
                extreme(&all, *greatest).map(|v| unified(v, &all))
            }
            Expr::Floor { arg, up } => ev(arg)?.map(|v| floor(v, *up)),
            Expr::NullIf(a, b) => {
                let x = ev(a)?;
                match (&x, ev(b)?) {
                    (Some(v), Some(w)) if v.cmp(&w) == Some(Ordering::Equal) => None,
                    _ => x,
                }
            }
            Expr::Round {
                arg,
                places,
                truncate,
            } => ev(arg)?.map(|v| round(v, *places, *truncate)),
        })
    }
}

/// A value as a condition: true when not zero; NULL stays unknown.
fn truth(v: Option<Num>) -> Option<bool> {
    v.map(|v| !v.is_zero())
}

fn out_of_range() -> String {
    "BIGINT value is out of range".into()
}

fn strings_not_computed() -> String {
    "shardgate computes with numbers only; a string value reached an operator or function".into()
}

fn binary(op: BinOp, x: &Num, y: &Num, incr: u8) -> Result<Option<Num>, String> {
    if x.is_str() || y.is_str() {
        return Err(strings_not_computed());
    }
    let zero_divisor = matches!(op, BinOp::Div | BinOp::IntDiv | BinOp::Mod) && y.is_zero();
    if zero_divisor {
        return Ok(None);
    }
    if let (Num::Int(a), Num::Int(b)) = (x, y) {
        let v = match op {
            BinOp::Add => a.checked_add(*b),
            BinOp::Sub => a.checked_sub(*b),
            BinOp::Mul => a.checked_mul(*b),
            BinOp::IntDiv => a.checked_div(*b),
            BinOp::Mod => a.checked_rem(*b),
            BinOp::Div => None,
        };
        if op != BinOp::Div {
            let v = v.filter(|v| i64::try_from(*v).is_ok() || u64::try_from(*v).is_ok());
            return v.map(|v| Some(Num::Int(v))).ok_or_else(out_of_range);
        }
    }
    match (x.to_dec(), y.to_dec()) {
        (Some((a, sa, fa)), Some((b, sb, fb))) => Ok(match op {
            BinOp::Add => Some(Num::Dec {
                v: a.add(&b),
                scale: sa.max(sb),
                frac: fa.max(fb),
            }),
            BinOp::Sub => Some(Num::Dec {
                v: a.sub(&b),
                scale: sa.max(sb),
                frac: fa.max(fb),
            }),
            BinOp::Mul => {
                let frac = (fa + fb).min(MAX_SCALE);
                Some(Num::Dec {
                    v: a.mul(&b).truncate(frac),
                    scale: (sa + sb).min(MAX_SCALE),
                    frac,
                })
            }
            BinOp::Div => a
                .div_mariadb(fa, &b, fb, u32::from(incr))
                .map(|(v, frac)| Num::Dec {
                    v,
                    scale: (sa + u32::from(incr)).min(MAX_SCALE),
                    frac,
                }),
            BinOp::IntDiv => match a.div_trunc(&b, 0).and_then(|q| q.to_i128()) {
                Some(q) if i64::try_from(q).is_ok() => Some(Num::Int(q)),
                Some(_) => return Err(out_of_range()),
                None => None,
            },
            BinOp::Mod => a.div_trunc(&b, 0).map(|q| Num::Dec {
                v: a.sub(&q.mul(&b)),
                scale: sa.max(sb),
                frac: fa.max(fb),
            }),
        }),
        _ => {
            let (a, b) = (x.to_f64(), y.to_f64());
            Ok(match op {
                BinOp::Add => Some(Num::Dbl(a + b)),
                BinOp::Sub => Some(Num::Dbl(a - b)),
                BinOp::Mul => Some(Num::Dbl(a * b)),
                BinOp::Div => Some(Num::Dbl(a / b)),
                BinOp::Mod => Some(Num::Dbl(a % b)),
                BinOp::IntDiv => {
                    let q = (a / b).trunc();
                    if q.abs() >= 2f64.powi(63) {
                        return Err(out_of_range());
                    }
                    Some(Num::Int(q as i128))
                }
            }
            .filter(|v| !matches!(v, Num::Dbl(f) if !f.is_finite())))
        }
    }
}

fn compare(op: CmpOp, x: Option<Num>, y: Option<Num>) -> Option<Num> {
    let ord = x?.cmp(&y?)?;
    Some(Num::Int(i128::from(match op {
        CmpOp::Eq => ord == Ordering::Equal,
        CmpOp::Ne => ord != Ordering::Equal,
        CmpOp::Lt => ord == Ordering::Less,
        CmpOp::Le => ord != Ordering::Greater,
        CmpOp::Gt => ord == Ordering::Greater,
        CmpOp::Ge => ord != Ordering::Less,
    })))
}

/// The first non-NULL value, in the type of all of them together (a double
/// if any is one, else an exact number with the largest scale).
fn coalesce(vals: Vec<Option<Num>>) -> Option<Num> {
    let first = vals.iter().flatten().next()?.clone();
    Some(unified(first, &vals))
}

/// `v` in the type of all of `vals` together: a double if any is one, else
/// an exact number with the largest scale if any is one.
fn unified(v: Num, vals: &[Option<Num>]) -> Num {
    if v.is_str() {
        return v;
    }
    let any_double = vals.iter().flatten().any(|v| matches!(v, Num::Dbl(_)));
    let any_dec = vals.iter().flatten().any(|v| matches!(v, Num::Dec { .. }));
    let scale = vals
        .iter()
        .flatten()
        .map(|v| match v {
            Num::Dec { scale, .. } => *scale,
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    if any_double {
        Num::Dbl(v.to_f64())
    } else if any_dec {
        match v.to_dec() {
            Some((v, _, frac)) => Num::Dec { v, scale, frac },
            None => v,
        }
    } else {
        v
    }
}

/// The greatest (or least) of `vals`; NULL when any is NULL.
fn extreme(vals: &[Option<Num>], greatest: bool) -> Option<Num> {
    let mut best: Option<&Num> = None;
    for v in vals {
        let v = v.as_ref()?;
        best = match best {
            None => Some(v),
            Some(b) => {
                let ord = v.cmp(b)?;
                let wanted = if greatest {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
                Some(if ord == wanted { v } else { b })
            }
        };
    }
    best.cloned()
}

/// `FLOOR(v)` (`up`: `CEIL(v)`): an integer value.
fn floor(v: Num, up: bool) -> Num {
    match v {
        Num::Int(i) => Num::Int(i),
        Num::Dbl(f) => Num::Dbl(if up { f.ceil() } else { f.floor() }),
        Num::Str(b) => Num::Str(b),
        Num::Dec { v, .. } => {
            let t = v.truncate_places(0);
            let zero = Decimal::default();
            let adjust = t != v && ((up && v > zero) || (!up && v < zero));
            let r = match (adjust, up) {
                (true, true) => t.add(&Decimal::from_i128(1)),
                (true, false) => t.sub(&Decimal::from_i128(1)),
                _ => t,
            };
            Num::Dec {
                v: r,
                scale: 0,
                frac: 0,
            }
        }
    }
}

/// `ROUND(v, places)` / `TRUNCATE(v, places)`.
fn round(v: Num, places: i64, truncate: bool) -> Num {
    match v {
        Num::Int(i) if places >= 0 => Num::Int(i),
        Num::Int(i) => {
            let d = Decimal::from_i128(i);
            let r = if truncate {
                d.truncate_places(places)
            } else {
                d.round_places(places)
            };
            Num::Int(r.to_i128().unwrap_or(0))
        }
        Num::Dec { v, .. } => {
            let v = if truncate {
                v.truncate_places(places)
            } else {
                v.round_places(places)
            };
            // ROUND(x, n) has n decimals whatever x had.
            let scale = u32::try_from(places.clamp(0, i64::from(MAX_SCALE))).unwrap_or(0);
            Num::Dec {
                v,
                scale,
                frac: scale,
            }
        }
        Num::Dbl(f) => Num::Dbl(round_double(f, places, truncate)),
        Num::Str(b) => Num::Str(b),
    }
}

/// MariaDB's `my_double_round`: scale by a power of ten, `rint` (half to
/// even) or truncate, scale back.
fn round_double(value: f64, places: i64, truncate: bool) -> f64 {
    let abs = places.unsigned_abs();
    let tmp = 10f64.powi(i32::try_from(abs).unwrap_or(i32::MAX));
    let cut = |x: f64| {
        if truncate {
            x.trunc()
        } else {
            x.round_ties_even()
        }
    };
    if places >= 0 {
        let scaled = value * tmp;
        if scaled.is_infinite() {
            return value;
        }
        cut(scaled) / tmp
    } else {
        if tmp.is_infinite() {
            return 0.0;
        }
        cut(value / tmp) * tmp
    }
}

#[cfg(test)]
mod tests;
