//! The machine's free physical memory: sorted, coalesced free ranges.
//!
//! Every memory block of a domain is backed by one contiguous physical range,
//! so allocation is by whole ranges: first fit, or at a given physical
//! address. Releasing a range merges it with its free neighbours, so the free
//! list stays sorted and never holds two touching ranges.

use ldmig_hv::abi::mmu::PAGE_SIZE;

/// A range of physical memory: `size` bytes starting at `pa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    /// Physical address of the first byte.
    pub pa: u64,
    /// Size in bytes.
    pub size: u64,
}

impl PhysRange {
    /// One past the last byte (saturating at `u64::MAX`).
    pub fn end(&self) -> u64 {
        self.pa.saturating_add(self.size)
    }
}

const PAGE_BYTES: u64 = PAGE_SIZE as u64;

/// The free physical ranges of a machine.
#[derive(Clone, Debug)]
pub(crate) struct FreePhysical {
    /// Sorted by address, coalesced, each 8 KiB aligned.
    ranges: Vec<PhysRange>,
}

impl FreePhysical {
    /// All of `physical` free. Each range is shrunk inwards to 8 KiB
    /// boundaries; overlapping or touching ranges are merged.
    pub(crate) fn new(physical: Vec<PhysRange>) -> Self {
        let mut free = FreePhysical { ranges: Vec::new() };
        for range in physical {
            let start = range.pa.div_ceil(PAGE_BYTES).saturating_mul(PAGE_BYTES);
            let end = range.end() / PAGE_BYTES * PAGE_BYTES;
            if end > start {
                free.insert_merging(start, end);
            }
        }
        free
    }

    /// The free ranges, sorted and coalesced.
    pub(crate) fn ranges(&self) -> &[PhysRange] {
        &self.ranges
    }

    /// Takes the first free range of at least `size` bytes (lowest address)
    /// and returns the physical address of the part taken.
    pub(crate) fn allocate_first_fit(&mut self, size: u64) -> Option<u64> {
        let index = self.ranges.iter().position(|range| range.size >= size)?;
        let pa = self.ranges[index].pa;
        self.take(index, pa, size);
        Some(pa)
    }

    /// Takes exactly `[pa, pa + size)` if it lies entirely inside one free
    /// range; `false` (and nothing taken) otherwise.
    pub(crate) fn allocate_at(&mut self, pa: u64, size: u64) -> bool {
        let Some(end) = pa.checked_add(size) else {
            return false;
        };
        let found = self
            .ranges
            .iter()
            .position(|range| range.pa <= pa && end <= range.end());
        match found {
            Some(index) => {
                self.take(index, pa, size);
                true
            }
            None => false,
        }
    }

    /// Returns `[pa, pa + size)` to the free list, merging it with touching
    /// free ranges. The caller guarantees it was allocated.
    pub(crate) fn release(&mut self, pa: u64, size: u64) {
        if size > 0 {
            self.insert_merging(pa, pa.saturating_add(size));
        }
    }

    /// Removes `[pa, pa + size)` from the free range at `index`, which
    /// contains it, keeping what is left on either side.
    fn take(&mut self, index: usize, pa: u64, size: u64) {
        let range = self.ranges[index];
        let before = PhysRange {
            pa: range.pa,
            size: pa - range.pa,
        };
        let after = PhysRange {
            pa: pa + size,
            size: range.end() - (pa + size),
        };
        let mut replacement = Vec::with_capacity(2);
        if before.size > 0 {
            replacement.push(before);
        }
        if after.size > 0 {
            replacement.push(after);
        }
        self.ranges.splice(index..=index, replacement);
    }

    /// Adds `[start, end)`, merged with every free range it touches or overlaps.
    fn insert_merging(&mut self, mut start: u64, mut end: u64) {
        let first = self.ranges.partition_point(|range| range.end() < start);
        let mut last = first;
        while last < self.ranges.len() && self.ranges[last].pa <= end {
            start = start.min(self.ranges[last].pa);
            end = end.max(self.ranges[last].end());
            last += 1;
        }
        self.ranges.splice(
            first..last,
            [PhysRange {
                pa: start,
                size: end - start,
            }],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn range(pa: u64, size: u64) -> PhysRange {
        PhysRange { pa, size }
    }

    #[test]
    fn new_sorts_merges_and_aligns_ranges() {
        let free = FreePhysical::new(vec![
            range(8 * MIB, MIB),
            range(0, MIB),
            range(MIB, MIB),
            range(20 * MIB + 1, 3 * PAGE_BYTES),
            range(30 * MIB, 100),
        ]);
        assert_eq!(
            free.ranges(),
            &[
                range(0, 2 * MIB),
                range(8 * MIB, MIB),
                range(20 * MIB + PAGE_BYTES, 2 * PAGE_BYTES),
            ]
        );
    }

    #[test]
    fn first_fit_takes_the_lowest_range_big_enough() {
        let mut free = FreePhysical::new(vec![range(0, MIB), range(4 * MIB, 4 * MIB)]);
        assert_eq!(free.allocate_first_fit(2 * MIB), Some(4 * MIB));
        assert_eq!(free.allocate_first_fit(MIB), Some(0));
        assert_eq!(free.allocate_first_fit(4 * MIB), None);
        assert_eq!(free.ranges(), &[range(6 * MIB, 2 * MIB)]);
    }

    #[test]
    fn allocate_at_splits_a_range_and_refuses_what_is_not_free() {
        let mut free = FreePhysical::new(vec![range(0, 8 * MIB)]);
        assert!(free.allocate_at(2 * MIB, MIB));
        assert_eq!(free.ranges(), &[range(0, 2 * MIB), range(3 * MIB, 5 * MIB)]);
        assert!(!free.allocate_at(2 * MIB, MIB), "already taken");
        assert!(!free.allocate_at(MIB, 2 * MIB), "straddles a taken range");
        assert!(!free.allocate_at(7 * MIB, 2 * MIB), "runs past the end");
        assert!(!free.allocate_at(u64::MAX - 10, 100), "wraps");
    }

    #[test]
    fn release_coalesces_with_both_neighbours() {
        let mut free = FreePhysical::new(vec![range(0, 3 * MIB)]);
        assert_eq!(free.allocate_first_fit(MIB), Some(0));
        assert_eq!(free.allocate_first_fit(MIB), Some(MIB));
        assert_eq!(free.allocate_first_fit(MIB), Some(2 * MIB));
        assert!(free.ranges().is_empty());
        free.release(0, MIB);
        free.release(2 * MIB, MIB);
        assert_eq!(free.ranges(), &[range(0, MIB), range(2 * MIB, MIB)]);
        free.release(MIB, MIB);
        assert_eq!(free.ranges(), &[range(0, 3 * MIB)]);
    }

    #[test]
    fn two_small_free_ranges_do_not_make_one_big_block() {
        // The guide's example ([G] 2.0, chapter 9): a 2 GB block cannot be bound to two free 1 GB ranges.
        let gib = 1u64 << 30;
        let mut free = FreePhysical::new(vec![range(0, gib), range(2 * gib, gib)]);
        assert_eq!(free.allocate_first_fit(2 * gib), None);
        assert_eq!(free.ranges().len(), 2);
    }
}
