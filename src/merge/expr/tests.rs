use super::*;

struct Cols(Vec<Option<Num>>);

impl Columns for Cols {
    fn value(&self, column: usize) -> Result<Option<Num>, String> {
        Ok(self.0[column].clone())
    }
    fn avg(&self, sum: usize, count: usize) -> Result<Option<Num>, String> {
        let (Some(s), Some(Num::Int(n))) = (&self.0[sum], &self.0[count]) else {
            return Ok(None);
        };
        binary(BinOp::Div, s, &Num::Int(*n), 4)
    }
}

fn dec(s: &str) -> Num {
    let d = Decimal::parse(s.as_bytes()).unwrap();
    let scale = s.split('.').nth(1).map_or(0, |f| f.len() as u32);
    Num::exact(d, scale)
}

fn text(v: Option<Num>) -> String {
    match v {
        None => "NULL".into(),
        Some(Num::Int(i)) => i.to_string(),
        Some(Num::Dec { v, scale, .. }) => String::from_utf8(v.to_text(scale)).unwrap(),
        Some(Num::Dbl(f)) => format!("{f}"),
        Some(Num::Str(b)) => String::from_utf8(b).unwrap(),
    }
}

fn col(c: usize) -> Box<Expr> {
    Box::new(Expr::Column(c))
}

fn lit(n: Num) -> Box<Expr> {
    Box::new(Expr::Const(Some(n)))
}

fn run(e: &Expr, cols: &[Option<Num>]) -> String {
    text(e.eval(&Cols(cols.to_vec()), 4).unwrap())
}

#[test]
fn division_keeps_the_dividends_scale_plus_the_increment() {
    let e = Expr::Bin(BinOp::Div, col(0), col(1));
    assert_eq!(run(&e, &[Some(dec("10")), Some(Num::Int(3))]), "3.3333");
    assert_eq!(
        run(&e, &[Some(dec("10.50")), Some(Num::Int(4))]),
        "2.625000"
    );
    assert_eq!(run(&e, &[Some(Num::Int(2)), Some(Num::Int(3))]), "0.6667");
    assert_eq!(run(&e, &[Some(Num::Int(-2)), Some(Num::Int(3))]), "-0.6667");
    assert_eq!(run(&e, &[Some(Num::Int(2)), Some(Num::Int(0))]), "NULL");
    assert_eq!(run(&e, &[None, Some(Num::Int(3))]), "NULL");
    assert_eq!(run(&e, &[Some(Num::Dbl(1.0)), Some(Num::Int(4))]), "0.25");
    assert_eq!(run(&e, &[Some(Num::Dbl(1.0)), Some(Num::Int(0))]), "NULL");
}

#[test]
fn integer_arithmetic_stays_integer_and_overflows_as_an_error() {
    let add = Expr::Bin(BinOp::Add, col(0), lit(Num::Int(1)));
    assert_eq!(run(&add, &[Some(Num::Int(41))]), "42");
    let big = Expr::Bin(BinOp::Mul, col(0), col(0));
    assert!(big.eval(&Cols(vec![Some(Num::Int(1 << 40))]), 4).is_err());
    let idiv = Expr::Bin(BinOp::IntDiv, col(0), lit(Num::Int(2)));
    assert_eq!(run(&idiv, &[Some(Num::Int(-7))]), "-3");
    assert_eq!(run(&idiv, &[Some(dec("7.9"))]), "3");
    let m = Expr::Bin(BinOp::Mod, col(0), lit(Num::Int(3)));
    assert_eq!(run(&m, &[Some(Num::Int(-7))]), "-1");
    assert_eq!(run(&m, &[Some(dec("7.50"))]), "1.50");
    let m0 = Expr::Bin(BinOp::Mod, col(0), lit(Num::Int(0)));
    assert_eq!(run(&m0, &[Some(Num::Int(7))]), "NULL");
}

#[test]
fn decimal_scales_follow_the_operators() {
    let mul = Expr::Bin(BinOp::Mul, col(0), col(1));
    assert_eq!(run(&mul, &[Some(dec("1.25")), Some(dec("0.5"))]), "0.625");
    let sub = Expr::Bin(BinOp::Sub, col(0), col(1));
    assert_eq!(run(&sub, &[Some(dec("1.25")), Some(Num::Int(3))]), "-1.75");
    // (a / b) * 100 rounds the quotient to its own scale first.
    let pct = Expr::Bin(
        BinOp::Mul,
        Box::new(Expr::Bin(BinOp::Div, col(0), col(1))),
        lit(Num::Int(100)),
    );
    // MariaDB: 1/3*100 = 33.3333 (the quotient is held with 9 digits).
    assert_eq!(
        run(&pct, &[Some(Num::Int(1)), Some(Num::Int(3))]),
        "33.3333"
    );
}

#[test]
fn comparisons_and_null_handling() {
    let gt = Expr::Cmp(CmpOp::Gt, col(0), lit(Num::Int(0)));
    assert_eq!(run(&gt, &[Some(Num::Int(3))]), "1");
    assert_eq!(run(&gt, &[Some(dec("-0.5"))]), "0");
    assert_eq!(run(&gt, &[None]), "NULL");
    let nse = Expr::NullSafeEq(col(0), Box::new(Expr::Const(None)));
    assert_eq!(run(&nse, &[None]), "1");
    let ifnull = Expr::Coalesce(vec![Expr::Column(0), Expr::Const(Some(Num::Int(0)))]);
    assert_eq!(run(&ifnull, &[None]), "0");
    assert_eq!(run(&ifnull, &[Some(dec("2.50"))]), "2.50");
    let nullif = Expr::NullIf(col(0), lit(Num::Int(0)));
    assert_eq!(run(&nullif, &[Some(Num::Int(0))]), "NULL");
    assert_eq!(run(&nullif, &[Some(Num::Int(5))]), "5");
}

#[test]
fn round_and_truncate() {
    let r = |places, truncate| Expr::Round {
        arg: col(0),
        places,
        truncate,
    };
    assert_eq!(run(&r(2, false), &[Some(dec("2.3450"))]), "2.35");
    assert_eq!(run(&r(2, false), &[Some(dec("-2.3450"))]), "-2.35");
    assert_eq!(run(&r(2, true), &[Some(dec("-2.3490"))]), "-2.34");
    assert_eq!(run(&r(5, false), &[Some(dec("2.345"))]), "2.34500");
    assert_eq!(run(&r(-1, false), &[Some(Num::Int(15))]), "20");
    assert_eq!(run(&r(-1, false), &[Some(Num::Int(-15))]), "-20");
    assert_eq!(run(&r(0, false), &[Some(Num::Dbl(2.5))]), "2");
    assert_eq!(run(&r(0, false), &[Some(Num::Dbl(3.5))]), "4");
    assert_eq!(run(&r(1, true), &[Some(Num::Dbl(-1.29))]), "-1.2");
    assert_eq!(run(&Expr::Abs(col(0)), &[Some(dec("-1.5"))]), "1.5");
}

#[test]
fn avg_leaf_and_renumbering() {
    let mut e = Expr::Bin(BinOp::Sub, Box::new(Expr::Avg { sum: 0, count: 1 }), col(2));
    e.map_columns(&|c| c + 10);
    assert_eq!(
        e,
        Expr::Bin(
            BinOp::Sub,
            Box::new(Expr::Avg { sum: 10, count: 11 }),
            col(12)
        )
    );
    e.map_columns(&|c| c - 10);
    assert_eq!(
        run(&e, &[Some(dec("10")), Some(Num::Int(4)), Some(Num::Int(1))]),
        "1.5000"
    );
}

#[test]
fn case_if_greatest_least_floor_ceil() {
    let cond = Expr::Cmp(CmpOp::Gt, col(0), lit(Num::Int(2)));
    let iff = Expr::Case {
        arms: vec![(cond, Expr::Column(1))],
        default: Some(lit(dec("1.5"))),
    };
    // The branch taken, in the type of both branches (scale 1).
    assert_eq!(run(&iff, &[Some(Num::Int(3)), Some(Num::Int(7))]), "7.0");
    assert_eq!(run(&iff, &[Some(Num::Int(1)), Some(Num::Int(7))]), "1.5");
    assert_eq!(run(&iff, &[None, Some(Num::Int(7))]), "1.5");
    let no_else = Expr::Case {
        arms: vec![(Expr::Const(Some(Num::Int(0))), Expr::Column(0))],
        default: None,
    };
    assert_eq!(run(&no_else, &[Some(Num::Int(3))]), "NULL");
    let greatest = Expr::Extreme {
        args: vec![Expr::Column(0), Expr::Column(1)],
        greatest: true,
    };
    assert_eq!(
        run(&greatest, &[Some(Num::Int(3)), Some(dec("2.50"))]),
        "3.00"
    );
    assert_eq!(run(&greatest, &[Some(Num::Int(3)), None]), "NULL");
    let least = Expr::Extreme {
        args: vec![Expr::Column(0), Expr::Column(1)],
        greatest: false,
    };
    assert_eq!(run(&least, &[Some(Num::Int(3)), Some(dec("2.50"))]), "2.50");
    let fl = |up| Expr::Floor { arg: col(0), up };
    assert_eq!(run(&fl(false), &[Some(dec("-2.5"))]), "-3");
    assert_eq!(run(&fl(true), &[Some(dec("-2.5"))]), "-2");
    assert_eq!(run(&fl(true), &[Some(dec("2.01"))]), "3");
    assert_eq!(run(&fl(false), &[Some(dec("2.00"))]), "2");
    assert_eq!(run(&fl(true), &[Some(Num::Dbl(1.2))]), "2");
}

#[test]
fn strings_pass_through_results_and_are_never_computed_with() {
    let s = |t: &str| Some(Num::Str(t.as_bytes().to_vec()));
    let ifnull = Expr::Coalesce(vec![Expr::Column(0), Expr::Const(s("none"))]);
    let v = ifnull.eval(&Cols(vec![None]), 4).unwrap();
    assert_eq!(v, s("none"));
    let v = ifnull.eval(&Cols(vec![s("bob")]), 4).unwrap();
    assert_eq!(v, s("bob"));
    let plus = Expr::Bin(BinOp::Add, col(0), lit(Num::Int(1)));
    assert!(plus.eval(&Cols(vec![s("bob")]), 4).is_err());
    let cmp = Expr::Cmp(CmpOp::Eq, col(0), Box::new(Expr::Const(s("bob"))));
    assert!(cmp.eval(&Cols(vec![s("bob")]), 4).is_err());
    let greatest = Expr::Extreme {
        args: vec![Expr::Column(0), Expr::Column(0)],
        greatest: true,
    };
    assert!(greatest.eval(&Cols(vec![s("a")]), 4).is_err());
}
