//! ENUM and SET columns in an ORDER BY: the server sorts them by their
//! numeric value (an ENUM by its member's position, a SET by the bits of
//! its members), which a result row does not carry. The definition of the
//! column (`enum('a','b')` from information_schema's COLUMN_TYPE) gives
//! each value back its number ([`EnumDef::ordinal`]).
//!
//! <https://mariadb.com/kb/en/enum/#sorting>
//! <https://mariadb.com/kb/en/set-data-type/>

/// The members of an ENUM or SET column, in definition order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumDef {
    members: Vec<Vec<u8>>,
    set: bool,
}

impl EnumDef {
    /// Reads a COLUMN_TYPE such as `enum('a','it''s')` or `set('x','y')`;
    /// `None` for any other type.
    pub fn parse(column_type: &[u8]) -> Option<EnumDef> {
        let lower = column_type.to_ascii_lowercase();
        let (set, rest) = if let Some(r) = lower.strip_prefix(b"enum(") {
            (false, column_type.get(column_type.len() - r.len()..)?)
        } else if let Some(r) = lower.strip_prefix(b"set(") {
            (true, column_type.get(column_type.len() - r.len()..)?)
        } else {
            return None;
        };
        let mut members = Vec::new();
        let mut i = 0;
        loop {
            if rest.get(i) != Some(&b'\'') {
                return None;
            }
            i += 1;
            let mut m = Vec::new();
            loop {
                match (rest.get(i), rest.get(i + 1)) {
                    (Some(b'\''), Some(b'\'')) => {
                        m.push(b'\'');
                        i += 2;
                    }
                    (Some(b'\''), _) => {
                        i += 1;
                        break;
                    }
                    (Some(b'\\'), Some(&c)) => {
                        m.push(c);
                        i += 2;
                    }
                    (Some(&c), _) => {
                        m.push(c);
                        i += 1;
                    }
                    (None, _) => return None,
                }
            }
            members.push(m);
            match rest.get(i) {
                Some(b',') => i += 1,
                Some(b')') if i + 1 == rest.len() => break,
                _ => return None,
            }
        }
        Some(EnumDef { members, set })
    }

    /// The position of member `m` (exact bytes first, then ASCII
    /// case-insensitive as the column's collation would match it).
    fn position(&self, m: &[u8]) -> Option<usize> {
        self.members
            .iter()
            .position(|x| x == m)
            .or_else(|| self.members.iter().position(|x| x.eq_ignore_ascii_case(m)))
    }

    /// The number the server sorts `value` by: an ENUM member's position
    /// from 1 (0 for the empty error value), a SET's bit mask.
    pub fn ordinal(&self, value: &[u8]) -> u64 {
        if !self.set {
            return self.position(value).map_or(0, |p| p as u64 + 1);
        }
        if value.is_empty() {
            return 0;
        }
        value
            .split(|&b| b == b',')
            .filter_map(|m| self.position(m))
            .filter(|&p| p < 64)
            .fold(0, |bits, p| bits | (1u64 << p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_column_types() {
        let e = EnumDef::parse(b"enum('x','it''s','a,b','')").unwrap();
        assert_eq!(e.members, [&b"x"[..], b"it's", b"a,b", b""]);
        assert!(!e.set);
        assert!(EnumDef::parse(b"SET('r','w')").unwrap().set);
        assert_eq!(EnumDef::parse(b"varchar(10)"), None);
        assert_eq!(EnumDef::parse(b"enum('x'"), None);
        assert_eq!(EnumDef::parse(b"enum('x')junk"), None);
    }

    #[test]
    fn ordinals_follow_definition_order() {
        let e = EnumDef::parse(b"enum('zeta','alpha','Mid')").unwrap();
        assert_eq!(e.ordinal(b"zeta"), 1);
        assert_eq!(e.ordinal(b"alpha"), 2);
        assert_eq!(e.ordinal(b"mid"), 3);
        assert_eq!(e.ordinal(b""), 0);
        let s = EnumDef::parse(b"set('r','w','x')").unwrap();
        assert_eq!(s.ordinal(b""), 0);
        assert_eq!(s.ordinal(b"r"), 1);
        assert_eq!(s.ordinal(b"w,x"), 6);
        assert_eq!(s.ordinal(b"r,x"), 5);
    }
}
