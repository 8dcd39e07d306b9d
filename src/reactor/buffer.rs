//! Packet memory: a pool of reusable byte buffers per I/O thread, under one
//! byte budget shared by all threads (`server.buffer_memory`).
//!
//! A connection holds buffers only while it has bytes in flight: an idle
//! session keeps none, so 10,000 idle clients cost almost nothing. Reads
//! first land in the I/O thread's scratch buffer; only a partial packet is
//! copied into a buffer of the connection's own.
//!
//! Checking out a buffer never panics and never exceeds the budget: it
//! returns `None`, the caller refuses the work (ERR 1041) and a counter
//! records it. Freed buffers go back to a bounded free list (the slab of
//! spare buffers) so the steady state allocates nothing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Default capacity of one pooled buffer.
pub const CHUNK: usize = 16 * 1024;
/// Spare buffers kept per thread before they are freed.
const MAX_SPARE: usize = 256;

/// The byte budget shared by every thread's pool.
#[derive(Debug)]
pub struct MemoryBudget {
    cap: usize,
    used: AtomicUsize,
    refused: AtomicU64,
}

impl MemoryBudget {
    pub fn new(cap: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            cap,
            used: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// Reserves `n` bytes; false (and nothing reserved) when over the cap.
    pub fn try_reserve(&self, n: usize) -> bool {
        let mut cur = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = cur.checked_add(n).filter(|&v| v <= self.cap) else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return false;
            };
            match self
                .used
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    pub fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many reservations were refused since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// A buffer checked out of a [`BufferPool`]: bytes `[start, end)` of `data`
/// are unread ("data"), `[end, len)` is free space. The vector is kept at
/// its full length (zeroed once when it grows), so reading from a socket
/// into the free space costs no memset.
#[derive(Debug, Default)]
pub struct Buf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes charged to the budget for this buffer.
    charged: usize,
}

impl Buf {
    fn from_vec(mut data: Vec<u8>) -> Buf {
        let cap = data.capacity().max(CHUNK);
        data.resize(cap, 0);
        Buf {
            data,
            start: 0,
            end: 0,
            charged: CHUNK,
        }
    }

    /// The unread bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The unread bytes, mutable (to patch a relayed packet in place).
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }

    /// Marks `n` unread bytes as used.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n.min(self.len());
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space of at least `min` bytes (compacting or growing first).
    #[inline]
    pub fn space(&mut self, min: usize) -> &mut [u8] {
        if self.data.len() - self.end < min {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.data.len() - self.end < min {
                let want = (self.end + min).max(self.data.len() * 2);
                self.data.resize(want, 0);
            }
        }
        &mut self.data[self.end..]
    }

    /// Marks `n` bytes of [`Buf::space`] as filled.
    #[inline]
    pub fn fill(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.data.len());
        self.end = (self.end + n).min(self.data.len());
    }

    /// Appends bytes.
    #[inline]
    pub fn extend(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.space(n)[..n].copy_from_slice(bytes);
        self.fill(n);
    }

    /// Capacity charged to the budget.
    pub fn charged(&self) -> usize {
        self.charged
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

/// One I/O thread's pool.
#[derive(Debug)]
pub struct BufferPool {
    spare: Vec<Vec<u8>>,
    budget: Arc<MemoryBudget>,
}

impl BufferPool {
    pub fn new(budget: Arc<MemoryBudget>) -> BufferPool {
        BufferPool {
            spare: Vec::new(),
            budget,
        }
    }

    pub fn budget(&self) -> &Arc<MemoryBudget> {
        &self.budget
    }

    /// A buffer of at least `CHUNK` bytes, or `None` when the budget is spent.
    pub fn checkout(&mut self) -> Option<Buf> {
        if !self.budget.try_reserve(CHUNK) {
            return None;
        }
        Some(match self.spare.pop() {
            Some(data) => Buf {
                data,
                start: 0,
                end: 0,
                charged: CHUNK,
            },
            None => Buf::from_vec(Vec::with_capacity(CHUNK)),
        })
    }

    /// Charges the growth of `buf` (after appending to it) to the budget;
    /// false when the budget cannot cover it (the caller stops reading).
    pub fn account(&mut self, buf: &mut Buf) -> bool {
        let cap = buf.capacity();
        if cap <= buf.charged {
            return true;
        }
        let extra = cap - buf.charged;
        if self.budget.try_reserve(extra) {
            buf.charged = cap;
            true
        } else {
            false
        }
    }

    /// Returns a buffer: oversize ones are freed, the rest kept as spares.
    pub fn release(&mut self, mut buf: Buf) {
        self.budget.release(buf.charged);
        if buf.data.len() == CHUNK && self.spare.len() < MAX_SPARE {
            self.spare.push(std::mem::take(&mut buf.data));
        }
    }

    /// Releases `slot`'s buffer if it holds no unread bytes.
    pub fn release_if_empty(&mut self, slot: &mut Option<Buf>) {
        if slot.as_ref().is_some_and(Buf::is_empty) {
            if let Some(b) = slot.take() {
                self.release(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_never_exceeded() {
        let budget = MemoryBudget::new(3 * CHUNK);
        let mut pool = BufferPool::new(budget.clone());
        let a = pool.checkout().unwrap();
        let b = pool.checkout().unwrap();
        let c = pool.checkout().unwrap();
        assert!(pool.checkout().is_none());
        assert_eq!(budget.refused(), 1);
        assert_eq!(budget.used(), 3 * CHUNK);
        pool.release(a);
        let d = pool.checkout().unwrap();
        for x in [b, c, d] {
            pool.release(x);
        }
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn growth_is_charged_and_consume_works() {
        let budget = MemoryBudget::new(10 * CHUNK);
        let mut pool = BufferPool::new(budget.clone());
        let mut b = pool.checkout().unwrap();
        b.extend(&vec![7u8; 3 * CHUNK]);
        assert!(pool.account(&mut b));
        assert!(budget.used() >= 3 * CHUNK);
        b.consume(2 * CHUNK);
        assert_eq!(b.len(), CHUNK);
        b.extend(&[1]);
        assert_eq!(b.len(), CHUNK + 1);
        b.consume(CHUNK + 1);
        assert!(b.is_empty());
        pool.release(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn growth_over_budget_is_refused() {
        let budget = MemoryBudget::new(2 * CHUNK);
        let mut pool = BufferPool::new(budget.clone());
        let mut b = pool.checkout().unwrap();
        b.extend(&vec![0u8; 4 * CHUNK]);
        assert!(!pool.account(&mut b));
        pool.release(b);
        assert_eq!(budget.used(), 0);
    }
}
