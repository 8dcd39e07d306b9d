//! The OKs of a write sent to several shards, as one OK: the reactor sums
//! their affected rows and warnings as they arrive (`reactor/reply.rs`) and
//! uses, from here, [`StatusMerge`] (the status flags of several servers
//! as one) and [`InfoSum`] (their info texts as one).
//!
//! - affected rows: summed (with `CLIENT_FOUND_ROWS` the shards count
//!   matched rows, summed the same way); a statement every group runs alike
//!   (broadcast writes, DDL) reports one group's;
//! - last insert id: the smallest non-zero id the shards generated. Shards
//!   have independent AUTO_INCREMENT counters, so clients that infer the
//!   other rows' ids as id+1, id+2... (JDBC `getGeneratedKeys`,
//!   `mysqli_insert_id` loops) get wrong ids: sharded tables should take
//!   ids from a global generator instead;
//! - warnings summed; the info text (`Records: 3  Duplicates: 0  Warnings:
//!   0`, `Rows matched: 2  Changed: 2  Warnings: 0`) summed number by
//!   number ([`InfoSum`]); session-state trackers are not forwarded;
//! - any ERR wins: the first ERR received is the reply (outside a
//!   transaction shardgate's own transaction rolls the other shards back,
//!   `reactor/implicit_txn.rs`).
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_ok_packet.html>
//! <https://mariadb.com/kb/en/last_insert_id/>

use shardgate_proto::capability::StatusFlags;

/// Status flags of several servers combined into the ones the client sees:
/// in a transaction (or read-only one) if any is, autocommit only if all
/// are, index/slow-query/backslash/dropped-db flags if any; per-statement
/// flags of a single server (more results, cursor, last row, metadata
/// changed, out params, session state changed) cleared.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusMerge {
    any: bool,
    or: u16,
    and: u16,
}

const OR_FLAGS: u16 = StatusFlags::IN_TRANS.0
    | StatusFlags::IN_TRANS_READONLY.0
    | StatusFlags::NO_GOOD_INDEX_USED.0
    | StatusFlags::NO_INDEX_USED.0
    | StatusFlags::QUERY_WAS_SLOW.0
    | StatusFlags::NO_BACKSLASH_ESCAPES.0
    | StatusFlags::DB_DROPPED.0;

impl StatusMerge {
    pub fn add(&mut self, s: StatusFlags) {
        if self.any {
            self.or |= s.0;
            self.and &= s.0;
        } else {
            (self.any, self.or, self.and) = (true, s.0, s.0);
        }
    }

    /// The combined flags, `fallback` when none was added.
    pub fn result(&self, fallback: StatusFlags) -> StatusFlags {
        if !self.any {
            return fallback;
        }
        StatusFlags((self.or & OR_FLAGS) | (self.and & StatusFlags::AUTOCOMMIT.0))
    }
}

/// The info texts of several OKs (`Records: 3  Duplicates: 0  Warnings:
/// 0`, `Rows matched: 2  Changed: 2  Warnings: 0`, in the server's message
/// language) as one: the first text with each of its numbers replaced by
/// the sum (or, for a statement every group ran alike, the largest) of
/// the numbers in that place. Texts that differ in anything but their
/// numbers give no text.
///
/// A multi-row INSERT split over shards sends some shards a single row,
/// whose OK has no text; such rows count in the `Records: n  Duplicates: d
/// Warnings: w` text of the others ([`InfoSum::add_single_row_insert`]),
/// in English when no shard sent one.
#[derive(Debug, Clone, Default)]
pub struct InfoSum {
    /// The first text, and the numbers in it.
    template: Vec<u8>,
    numbers: Vec<u64>,
    seen: bool,
    /// Texts disagreed.
    dropped: bool,
    /// Records, duplicates and warnings of single-row INSERTs.
    single_rows: Option<[u64; 3]>,
}

impl InfoSum {
    /// Adds one OK's info text (summed).
    pub fn add(&mut self, info: &[u8]) {
        self.combine(info, u64::saturating_add);
    }

    /// Adds one OK's info text (the largest number kept).
    pub fn add_max(&mut self, info: &[u8]) {
        self.combine(info, u64::max);
    }

    fn combine(&mut self, info: &[u8], f: fn(u64, u64) -> u64) {
        if self.dropped {
            return;
        }
        let Some((skeleton, numbers)) = split_numbers(info) else {
            self.dropped = true;
            return;
        };
        if !self.seen {
            self.seen = true;
            self.template = info.to_vec();
            self.numbers = numbers;
            return;
        }
        let same = split_numbers(&self.template).is_some_and(|(s, _)| s == skeleton);
        if !same || numbers.len() != self.numbers.len() {
            self.dropped = true;
            return;
        }
        for (a, b) in self.numbers.iter_mut().zip(numbers) {
            *a = f(*a, b);
        }
    }

    /// A single-row INSERT's OK (no text): one record, a duplicate unless
    /// it inserted exactly one row (IGNORE skipped it: 0; ON DUPLICATE KEY
    /// UPDATE changed a row: 2 or 0), and its warnings.
    pub fn add_single_row_insert(&mut self, affected: u64, warnings: u16) {
        let r = self.single_rows.get_or_insert([0; 3]);
        r[0] += 1;
        r[1] += u64::from(affected != 1);
        r[2] += u64::from(warnings);
    }

    /// The combined text (empty when none was added or they disagreed).
    pub fn text(&self) -> Vec<u8> {
        if self.dropped || (!self.seen && self.single_rows.is_none()) {
            return Vec::new();
        }
        let (template, mut numbers): (&[u8], Vec<u64>) = match self.seen {
            true => (&self.template, self.numbers.clone()),
            false => (b"Records: 0  Duplicates: 0  Warnings: 0", vec![0; 3]),
        };
        if let Some(rows) = self.single_rows {
            if numbers.len() != 3 {
                return Vec::new();
            }
            for (n, r) in numbers.iter_mut().zip(rows) {
                *n = n.saturating_add(r);
            }
        }
        let mut out = Vec::with_capacity(template.len() + 8);
        let mut numbers = numbers.into_iter();
        let mut i = 0;
        while i < template.len() {
            if template[i].is_ascii_digit() {
                while i < template.len() && template[i].is_ascii_digit() {
                    i += 1;
                }
                out.extend_from_slice(numbers.next().unwrap_or(0).to_string().as_bytes());
            } else {
                out.push(template[i]);
                i += 1;
            }
        }
        out
    }
}

/// The first number of an OK's info text: an UPDATE's matched rows
/// (`Rows matched: 3  Changed: 2  Warnings: 0`, ER_UPDATE_INFO, gives them
/// first in the server's message languages too).
pub fn first_info_number(info: &[u8]) -> Option<u64> {
    split_numbers(info)?.1.first().copied()
}

/// A text without its digit runs, and the numbers they spell; `None` when
/// one does not fit a u64.
fn split_numbers(text: &[u8]) -> Option<(Vec<u8>, Vec<u64>)> {
    let mut skeleton = Vec::with_capacity(text.len());
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() {
            let start = i;
            while i < text.len() && text[i].is_ascii_digit() {
                i += 1;
            }
            numbers.push(std::str::from_utf8(&text[start..i]).ok()?.parse().ok()?);
            skeleton.push(b'#');
        } else {
            skeleton.push(text[i]);
            i += 1;
        }
    }
    Some((skeleton, numbers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_merge() {
        let mut s = StatusMerge::default();
        assert_eq!(s.result(StatusFlags::IN_TRANS), StatusFlags::IN_TRANS);
        s.add(StatusFlags::AUTOCOMMIT | StatusFlags::MORE_RESULTS_EXISTS);
        s.add(StatusFlags::IN_TRANS | StatusFlags::SESSION_STATE_CHANGED);
        assert_eq!(s.result(StatusFlags::default()), StatusFlags::IN_TRANS);
    }

    #[test]
    fn info_texts_combine_by_the_numbers_in_place() {
        let sum = |texts: &[&str]| {
            let mut s = InfoSum::default();
            for t in texts {
                s.add(t.as_bytes());
            }
            String::from_utf8(s.text()).unwrap()
        };
        assert_eq!(
            sum(&[
                "Records: 2  Duplicates: 0  Warnings: 0",
                "Records: 13  Duplicates: 1  Warnings: 1"
            ]),
            "Records: 15  Duplicates: 1  Warnings: 1"
        );
        // Any language: only the numbers change.
        assert_eq!(
            sum(&[
                "Datensätze: 1  Duplikate: 0  Warnungen: 0",
                "Datensätze: 1  Duplikate: 0  Warnungen: 0"
            ]),
            "Datensätze: 2  Duplikate: 0  Warnungen: 0"
        );
        assert_eq!(sum(&["Rows matched: 1  Changed: 1  Warnings: 0", ""]), "");
        assert_eq!(
            sum(&[
                "Rows matched: 1  Changed: 1  Warnings: 0",
                "Records: 1  Duplicates: 0  Warnings: 0"
            ]),
            ""
        );
        assert_eq!(sum(&[]), "");
        assert_eq!(sum(&["", ""]), "");
        // Single-row INSERTs (no text) count in the others' records.
        let mut s = InfoSum::default();
        s.add(b"Records: 2  Duplicates: 1  Warnings: 1");
        s.add_single_row_insert(1, 0);
        s.add_single_row_insert(0, 1);
        assert_eq!(s.text(), b"Records: 4  Duplicates: 2  Warnings: 2");
        let mut s = InfoSum::default();
        s.add_single_row_insert(1, 0);
        s.add_single_row_insert(1, 0);
        assert_eq!(s.text(), b"Records: 2  Duplicates: 0  Warnings: 0");
        let mut s = InfoSum::default();
        s.add(b"Rows matched: 1  Changed: 1");
        s.add_single_row_insert(1, 0);
        assert_eq!(s.text(), b"");
        let mut max = InfoSum::default();
        max.add_max(b"Records: 2  Duplicates: 0  Warnings: 0");
        max.add_max(b"Records: 2  Duplicates: 1  Warnings: 1");
        assert_eq!(max.text(), b"Records: 2  Duplicates: 1  Warnings: 1");
    }
}
