//! The machine's free physical memory: ranges of partition RAM not bound to
//! any domain, taken first fit (`MIG_MEMBLOCK_BIND`) and given back merged
//! with their neighbours (`MIG_DOMAIN_DESTROY`), as hv/API.md says.

use crate::memory_map::Range;

/// Free ranges the hypervisor can track (one more than blocks can split it).
pub const MAX_FREE_RANGES: usize = 32;

/// The free physical ranges, sorted by address, never adjacent.
#[derive(Debug)]
pub struct FreeRanges {
    ranges: heapless::Vec<Range, MAX_FREE_RANGES>,
}

impl FreeRanges {
    /// No free memory.
    pub const fn empty() -> Self {
        FreeRanges {
            ranges: heapless::Vec::new(),
        }
    }

    /// All of `range` free.
    pub fn whole(range: Range) -> Self {
        let mut free = FreeRanges::empty();
        // Cannot fail: an empty list has room.
        let _ = free.ranges.push(range);
        free
    }

    /// The lowest-addressed free range of at least `size` bytes, taken
    /// from its start; its physical address.
    pub fn take_first_fit(&mut self, size: u64) -> Option<u64> {
        let index = self.ranges.iter().position(|range| range.size >= size)?;
        let range = &mut self.ranges[index];
        let base = range.base;
        range.base += size;
        range.size -= size;
        if range.size == 0 {
            self.ranges.remove(index);
        }
        Some(base)
    }

    /// Returns `[base, base + size)` to the free list, merged with free
    /// neighbours. False if the list is full (the range stays lost).
    pub fn give_back(&mut self, base: u64, size: u64) -> bool {
        let index = self
            .ranges
            .iter()
            .position(|range| range.base > base)
            .unwrap_or(self.ranges.len());
        if self.ranges.insert(index, Range { base, size }).is_err() {
            return false;
        }
        // Merge with the next, then with the previous.
        if index + 1 < self.ranges.len() && self.ranges[index].end() == self.ranges[index + 1].base
        {
            let next = self.ranges.remove(index + 1);
            self.ranges[index].size += next.size;
        }
        if index > 0 && self.ranges[index - 1].end() == self.ranges[index].base {
            let this = self.ranges.remove(index);
            self.ranges[index - 1].size += this.size;
        }
        true
    }

    /// The free ranges, lowest first.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// Free bytes in all.
    pub fn free_bytes(&self) -> u64 {
        self.ranges.iter().map(|range| range.size).sum()
    }
}
