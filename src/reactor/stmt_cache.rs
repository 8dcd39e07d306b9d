//! Server-side prepared statements kept open on one backend connection.
//!
//! EXECUTE of a prepared statement on a sharded table runs, on each target,
//! the statement's physical text (table names replaced, `?` kept) as a
//! server-side statement with the client's parameter block. Preparing it
//! for every execution costs two extra server commands, so each backend
//! connection remembers what it has prepared: (current schema, SQL) ->
//! backend statement id. Any session that uses the connection may run
//! them: a statement holds no session state beyond the schema it was
//! prepared in (part of the key) and the session variables in force then
//! (the cache is emptied whenever shardgate changes those on the
//! connection). Bounded per connection (least recently used closed first)
//! so the servers' `max_prepared_stmt_count` is not exhausted.

use crate::fast_hash::FastMap;

/// SQL text -> (backend statement id, last use tick), for one schema
/// (hashed fast: SipHash of the SQL text cost ~700 instructions per
/// EXECUTE, and the map is bounded per connection).
type BySql = FastMap<Box<[u8]>, (u32, u64)>;

/// The statements prepared on one backend connection.
#[derive(Debug, Default)]
pub struct StmtCache {
    /// schema -> SQL -> (backend statement id, last use tick).
    map: FastMap<Option<String>, BySql>,
    len: usize,
    tick: u64,
    /// A statement being prepared (its reply not read yet).
    pending: Option<(Option<String>, Box<[u8]>)>,
}

impl StmtCache {
    /// The backend id of `sql` prepared in `schema`, marked as used.
    pub fn get(&mut self, schema: &Option<String>, sql: &[u8]) -> Option<u32> {
        self.tick += 1;
        let tick = self.tick;
        let v = self.map.get_mut(schema)?.get_mut(sql)?;
        v.1 = tick;
        Some(v.0)
    }

    /// `sql` is being prepared in `schema`; its id comes with the reply.
    pub fn expect(&mut self, schema: Option<String>, sql: &[u8]) {
        self.pending = Some((schema, sql.into()));
    }

    /// Forgets a prepare in progress (its reply was an error, or it was
    /// never sent).
    pub fn cancel(&mut self) {
        self.pending = None;
    }

    /// Whether a prepare's reply is awaited.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The pending prepare succeeded with backend id `id`. Returns the id
    /// of a statement to close when the cache was full (`cap`).
    pub fn prepared(&mut self, id: u32, cap: usize) -> Option<u32> {
        let (schema, sql) = self.pending.take()?;
        self.tick += 1;
        let mut evicted = None;
        if self.len >= cap.max(1) {
            let oldest = self
                .map
                .iter()
                .flat_map(|(s, m)| m.iter().map(move |(q, v)| (s, q, v.1)))
                .min_by_key(|e| e.2)
                .map(|(s, q, _)| (s.clone(), q.clone()));
            if let Some((s, q)) = oldest {
                if let Some(m) = self.map.get_mut(&s) {
                    evicted = m.remove(&q).map(|v| v.0);
                    self.len -= 1;
                    if m.is_empty() {
                        self.map.remove(&s);
                    }
                }
            }
        }
        match self
            .map
            .entry(schema)
            .or_default()
            .insert(sql, (id, self.tick))
        {
            // Prepared twice (cannot happen: a hit is never re-prepared);
            // close the older one rather than leak it.
            Some(prev) if prev.0 != id => evicted.or(Some(prev.0)),
            Some(_) => evicted,
            None => {
                self.len += 1;
                evicted
            }
        }
    }

    /// Empties the cache; returns the ids to close on the server.
    pub fn clear(&mut self) -> Vec<u32> {
        self.pending = None;
        self.len = 0;
        self.map
            .drain()
            .flat_map(|(_, m)| m.into_values().map(|v| v.0))
            .collect()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_after_prepare_and_schema_is_part_of_the_key() {
        let mut c = StmtCache::default();
        let db = Some("app".to_string());
        assert_eq!(c.get(&db, b"SELECT ?"), None);
        c.expect(db.clone(), b"SELECT ?");
        assert!(c.is_pending());
        assert_eq!(c.prepared(7, 4), None);
        assert_eq!(c.get(&db, b"SELECT ?"), Some(7));
        assert_eq!(c.get(&None, b"SELECT ?"), None);
        assert_eq!(c.get(&Some("other".into()), b"SELECT ?"), None);
    }

    #[test]
    fn least_recently_used_is_evicted_at_the_cap() {
        let mut c = StmtCache::default();
        for (i, sql) in [b"a".as_slice(), b"b", b"c"].iter().enumerate() {
            c.expect(None, sql);
            assert_eq!(c.prepared(i as u32 + 1, 3), None);
        }
        // Use "a" so "b" is the oldest.
        assert_eq!(c.get(&None, b"a"), Some(1));
        c.expect(None, b"d");
        assert_eq!(c.prepared(4, 3), Some(2));
        assert_eq!(c.get(&None, b"b"), None);
        assert_eq!(c.len(), 3);
        let mut ids = c.clear();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 3, 4]);
        assert!(c.is_empty());
    }

    #[test]
    fn a_failed_prepare_records_nothing() {
        let mut c = StmtCache::default();
        c.expect(None, b"SELEC");
        c.cancel();
        assert_eq!(c.prepared(9, 4), None);
        assert!(c.is_empty());
    }
}
