//! Order-independent sum of floating-point partial sums (SUM/AVG of FLOAT
//! and DOUBLE columns over shards). The shards' partial sums arrive in
//! whatever order the network delivers them, and `a + b + c` rounds
//! differently from `c + a + b`: a plain running sum gave the same query
//! different last digits from one run to the next. [`ExactSum`] keeps the
//! sum exactly as a few non-overlapping doubles (Shewchuk's algorithm, as
//! in Python's `math.fsum`) and rounds once at the end, so the result is
//! the correctly rounded sum of the partials whatever their order.

/// An exact running sum of doubles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExactSum {
    /// Non-overlapping partials, smallest magnitude first.
    partials: Vec<f64>,
    /// Sum of the non-finite inputs (inf, -inf, NaN), kept apart: they
    /// would poison the exact partials.
    special: Option<f64>,
}

impl ExactSum {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            self.special = Some(self.special.unwrap_or(0.0) + x);
            return;
        }
        let mut x = x;
        let mut kept = 0;
        for i in 0..self.partials.len() {
            let mut y = self.partials[i];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if !hi.is_finite() {
                // The exact sum overflows a double: so does the result.
                self.special = Some(self.special.unwrap_or(0.0) + hi);
                self.partials.clear();
                return;
            }
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        self.partials.push(x);
    }

    /// The correctly rounded value of the sum.
    pub fn value(&self) -> f64 {
        if let Some(s) = self.special {
            return s;
        }
        let p = &self.partials;
        let Some((&last, rest)) = p.split_last() else {
            return 0.0;
        };
        let mut hi = last;
        let mut lo = 0.0;
        let mut i = rest.len();
        while i > 0 {
            i -= 1;
            let x = hi;
            let y = rest[i];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        // Round half to even across the remaining partials.
        if i > 0 && ((lo < 0.0 && rest[i - 1] < 0.0) || (lo > 0.0 && rest[i - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(xs: &[f64]) -> f64 {
        let mut s = ExactSum::new();
        for &x in xs {
            s.add(x);
        }
        s.value()
    }

    #[test]
    fn exact_where_a_running_sum_is_not() {
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(sum(&[1e16, 1.0, 1e-16]), 10000000000000002.0);
        assert_eq!(sum(&[-0.5, 0.5]), 0.0);
        assert_eq!(sum(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert_eq!(sum(&[1.0, f64::INFINITY]), f64::INFINITY);
        assert!(sum(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
    }

    #[test]
    fn the_same_whatever_the_order() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let n = (next() % 12 + 1) as usize;
            let mut xs: Vec<f64> = (0..n)
                .map(|_| {
                    let m = (next() % 2_000_000) as f64 - 1_000_000.0;
                    m * 10f64.powi((next() % 20) as i32 - 10) / 7.0
                })
                .collect();
            let want = sum(&xs);
            for _ in 0..5 {
                // a Fisher-Yates shuffle
                for i in (1..xs.len()).rev() {
                    let j = (next() % (i as u64 + 1)) as usize;
                    xs.swap(i, j);
                }
                assert_eq!(sum(&xs).to_bits(), want.to_bits(), "{xs:?}");
            }
        }
    }
}
