//! The dirty set of a domain: one bitmap over all its memory blocks, filled
//! by dirty-log syncs (merged, so nothing pending is lost) and walked in
//! address order by a cursor.
//!
//! The caller gives the words: [`DirtySet::words_needed`] for the working
//! bitmap plus the same again as scratch for the hypervisor's sync.

use ldmig_hv::hypervisor::{DirtyLog, DomainId, MemoryBlock};
use ldmig_hv::resources::MAX_MEMORY_BLOCKS;
use ldmig_hv::HvError;

/// Why a dirty set could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirtySetError {
    /// More blocks than [`MAX_MEMORY_BLOCKS`].
    TooManyBlocks(usize),
    /// The caller's bitmap is too small.
    BitmapTooSmall {
        /// Words needed (working + scratch).
        needed: usize,
        /// Words given.
        available: usize,
    },
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    block: MemoryBlock,
    first_word: usize,
}

/// Dirty pages of every block, with a walking cursor.
#[derive(Debug)]
pub struct DirtySet<'b> {
    slots: heapless::Vec<Slot, MAX_MEMORY_BLOCKS>,
    working: &'b mut [u64],
    scratch: &'b mut [u64],
    cursor_block: usize,
    cursor_page: u64,
}

fn words_for(block: &MemoryBlock) -> usize {
    // A bitmap larger than the address space cannot be given anyway: the
    // caller's buffer check refuses it.
    usize::try_from(block.pages().div_ceil(64)).unwrap_or(usize::MAX)
}

impl<'b> DirtySet<'b> {
    /// Words of bitmap (working + scratch) needed for `blocks`.
    pub fn words_needed(blocks: &[MemoryBlock]) -> usize {
        2 * blocks.iter().map(words_for).sum::<usize>()
    }

    /// A dirty set over `blocks` using `bitmap` (see [`Self::words_needed`]).
    pub fn new(blocks: &[MemoryBlock], bitmap: &'b mut [u64]) -> Result<Self, DirtySetError> {
        if blocks.len() > MAX_MEMORY_BLOCKS {
            return Err(DirtySetError::TooManyBlocks(blocks.len()));
        }
        let needed = Self::words_needed(blocks);
        if bitmap.len() < needed {
            return Err(DirtySetError::BitmapTooSmall {
                needed,
                available: bitmap.len(),
            });
        }
        let (working, rest) = bitmap.split_at_mut(needed / 2);
        let scratch = &mut rest[..needed / 2];
        working.fill(0);
        let mut slots = heapless::Vec::new();
        let mut first_word = 0;
        for block in blocks {
            // Cannot fail: the length was checked against the capacity above.
            let _ = slots.push(Slot {
                block: *block,
                first_word,
            });
            first_word += words_for(block);
        }
        Ok(DirtySet {
            slots,
            working,
            scratch,
            cursor_block: 0,
            cursor_page: 0,
        })
    }

    /// Pages of all blocks.
    pub fn total_pages(&self) -> u64 {
        self.slots.iter().map(|slot| slot.block.pages()).sum()
    }

    /// Syncs every block's dirty log and merges it into the set; returns
    /// the pages now dirty (pending ones included).
    pub fn sync<H: DirtyLog>(&mut self, hv: &mut H, domain: DomainId) -> Result<u64, HvError> {
        for (index, slot) in self.slots.iter().enumerate() {
            let words = words_for(&slot.block);
            let scratch = &mut self.scratch[..words];
            hv.dirty_log_sync(domain, index as u64, scratch)?;
            let working = &mut self.working[slot.first_word..slot.first_word + words];
            for (pending, fresh) in working.iter_mut().zip(scratch.iter()) {
                *pending |= *fresh;
            }
            // Bits past the block's end are not pages.
            let tail = slot.block.pages() % 64;
            if tail != 0 {
                working[words - 1] &= (1u64 << tail) - 1;
            }
        }
        Ok(self.count())
    }

    /// Marks every page of every block dirty (a one-pass copy).
    pub fn mark_all(&mut self) {
        for slot in &self.slots {
            let words = words_for(&slot.block);
            let working = &mut self.working[slot.first_word..slot.first_word + words];
            working.fill(u64::MAX);
            let tail = slot.block.pages() % 64;
            if tail != 0 {
                working[words - 1] = (1u64 << tail) - 1;
            }
        }
    }

    /// Pages currently marked dirty.
    pub fn count(&self) -> u64 {
        self.working
            .iter()
            .map(|word| u64::from(word.count_ones()))
            .sum()
    }

    /// Moves the cursor back to the first page.
    pub fn rewind(&mut self) {
        self.cursor_block = 0;
        self.cursor_page = 0;
    }

    /// The real address of the next dirty page at or after the cursor,
    /// cleared from the set; `None` when the walk reached the end.
    pub fn next_dirty(&mut self) -> Option<u64> {
        while let Some(slot) = self.slots.get(self.cursor_block) {
            let pages = slot.block.pages();
            while self.cursor_page < pages {
                let word_index = slot.first_word + (self.cursor_page / 64) as usize;
                let bit = self.cursor_page % 64;
                let word = self.working[word_index] >> bit;
                if word == 0 {
                    self.cursor_page = (self.cursor_page / 64 + 1) * 64;
                    continue;
                }
                let page = self.cursor_page + u64::from(word.trailing_zeros());
                if page >= pages {
                    break;
                }
                self.working[word_index] &= !(1u64 << (page % 64));
                self.cursor_page = page + 1;
                return Some(slot.block.ra + (page << crate::page::PAGE_SHIFT));
            }
            self.cursor_block += 1;
            self.cursor_page = 0;
        }
        None
    }

    /// Starts dirty logging on every block (every page starts dirty).
    pub fn start_logging<H: DirtyLog>(&self, hv: &mut H, domain: DomainId) -> Result<(), HvError> {
        for index in 0..self.slots.len() {
            hv.dirty_log_start(domain, index as u64)?;
        }
        Ok(())
    }

    /// Stops dirty logging on every block; returns the first error but
    /// tries every block.
    pub fn stop_logging<H: DirtyLog>(&self, hv: &mut H, domain: DomainId) -> Result<(), HvError> {
        let mut result = Ok(());
        for index in 0..self.slots.len() {
            if let Err(error) = hv.dirty_log_stop(domain, index as u64) {
                result = result.and(Err(error));
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dirty log that reports a fixed bitmap per block once.
    struct FakeLog {
        reports: [[u64; 2]; 2],
    }

    impl DirtyLog for FakeLog {
        fn dirty_log_start(&mut self, _: DomainId, _: u64) -> Result<(), HvError> {
            Ok(())
        }
        fn dirty_log_sync(
            &mut self,
            _: DomainId,
            block: u64,
            bitmap: &mut [u64],
        ) -> Result<u64, HvError> {
            let report = self
                .reports
                .get_mut(block as usize)
                .ok_or(HvError::Invalid)?;
            for (word, value) in bitmap.iter_mut().zip(report.iter_mut()) {
                *word = core::mem::take(value);
            }
            Ok(0)
        }
        fn dirty_log_stop(&mut self, _: DomainId, _: u64) -> Result<(), HvError> {
            Ok(())
        }
    }

    #[test]
    fn walks_every_dirty_page_in_order_and_merges_syncs() {
        let blocks = [
            MemoryBlock {
                ra: 0x10_0000,
                size: 70 * 8192,
            },
            MemoryBlock {
                ra: 0x800_0000,
                size: 8 * 8192,
            },
        ];
        let mut words = [0u64; 8];
        assert_eq!(DirtySet::words_needed(&blocks), 6);
        let mut set = DirtySet::new(&blocks, &mut words).expect("room");
        assert_eq!(set.total_pages(), 78);
        let mut log = FakeLog {
            reports: [[1 | (1 << 63), 1 << 5 | u64::MAX << 10], [0b1000_0001, 0]],
        };
        // Bits past the 70th page of block 0 and the 8th of block 1 are dropped.
        assert_eq!(set.sync(&mut log, 1).expect("sync"), 2 + 1 + 2);
        let ra = |block: u64, page: u64| [0x10_0000, 0x800_0000][block as usize] + page * 8192;
        assert_eq!(set.next_dirty(), Some(ra(0, 0)));
        log.reports[0] = [1 << 1, 0];
        assert_eq!(set.sync(&mut log, 1).expect("sync"), 5);
        // The cursor moves on; page 1 (newly dirty) is behind it until a rewind.
        assert_eq!(set.next_dirty(), Some(ra(0, 1)));
        assert_eq!(set.next_dirty(), Some(ra(0, 63)));
        assert_eq!(set.next_dirty(), Some(ra(0, 69)));
        assert_eq!(set.next_dirty(), Some(ra(1, 0)));
        assert_eq!(set.next_dirty(), Some(ra(1, 7)));
        assert_eq!(set.next_dirty(), None);
        assert_eq!(set.count(), 0);
        set.mark_all();
        assert_eq!(set.count(), 78);
    }

    #[test]
    fn refuses_small_bitmaps_and_too_many_blocks() {
        let blocks = [MemoryBlock {
            ra: 0,
            size: 64 * 8192,
        }];
        let mut words = [0u64; 1];
        assert_eq!(
            DirtySet::new(&blocks, &mut words).map(|_| ()),
            Err(DirtySetError::BitmapTooSmall {
                needed: 2,
                available: 1
            })
        );
        let many = [MemoryBlock { ra: 0, size: 8192 }; MAX_MEMORY_BLOCKS + 1];
        let mut words = [0u64; 200];
        assert_eq!(
            DirtySet::new(&many, &mut words).map(|_| ()),
            Err(DirtySetError::TooManyBlocks(65))
        );
    }
}
