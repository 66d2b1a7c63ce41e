//! A counted cap on concurrent connections: a [`Slot`] is held while a
//! connection is served and given back when dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// At most `capacity` slots taken at once.
#[derive(Debug)]
pub struct Slots {
    taken: Arc<AtomicUsize>,
    capacity: usize,
}

/// One taken slot; dropping it gives it back.
#[derive(Debug)]
pub struct Slot {
    taken: Arc<AtomicUsize>,
}

impl Slots {
    /// `capacity` slots.
    pub fn new(capacity: usize) -> Self {
        Slots {
            taken: Arc::new(AtomicUsize::new(0)),
            capacity,
        }
    }

    /// A slot, or `None` when all are taken.
    pub fn take(&self) -> Option<Slot> {
        self.taken
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |taken| {
                (taken < self.capacity).then_some(taken + 1)
            })
            .ok()
            .map(|_| Slot {
                taken: self.taken.clone(),
            })
    }

    /// Slots taken now.
    pub fn taken(&self) -> usize {
        self.taken.load(Ordering::SeqCst)
    }

    /// The cap.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.taken.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_and_come_back() {
        let slots = Slots::new(2);
        let first = slots.take().expect("one");
        let second = slots.take().expect("two");
        assert!(slots.take().is_none(), "the cap holds");
        assert_eq!(slots.taken(), 2);
        drop(first);
        let third = slots.take().expect("given back");
        drop((second, third));
        assert_eq!(slots.taken(), 0);
        assert_eq!(slots.capacity(), 2);
    }
}
