//! One bound memory block of a simulated domain: its contents and dirty log.
//!
//! Contents are stored sparsely ([`super::pages`]): a page never written
//! reads as zeros, so a large domain costs only the chunks its workload
//! touches.
//! The dirty log is one bit per page (`u64` words, least significant bit
//! first), present only while logging is on.

use ldmig_hv::abi::mmu::{PAGE_SHIFT, PAGE_SIZE};
use ldmig_hv::hypervisor::MemoryBlock;
use ldmig_hv::HvError;

use super::pages::PageStore;

/// A memory block bound to a physical range, with its contents.
#[derive(Clone)]
pub(crate) struct BoundBlock {
    /// Real address and size.
    pub(crate) block: MemoryBlock,
    /// Physical address of the backing range.
    pub(crate) pa: u64,
    /// The block's pages.
    pages: PageStore,
    /// The dirty bits while logging is on.
    dirty: Option<Vec<u64>>,
}

impl core::fmt::Debug for BoundBlock {
    /// The block, its physical address, how many pages hold data and whether
    /// it is logging; never the contents.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BoundBlock")
            .field("block", &self.block)
            .field("pa", &format_args!("{:#x}", self.pa))
            .field("pages_with_data", &self.pages.written_count())
            .field("logging", &self.is_logging())
            .finish()
    }
}

impl BoundBlock {
    /// A block of zeros, not logging.
    pub(crate) fn new(block: MemoryBlock, pa: u64) -> Self {
        let pages = usize::try_from(block.pages()).unwrap_or(usize::MAX);
        BoundBlock {
            block,
            pa,
            pages: PageStore::new(pages),
            dirty: None,
        }
    }

    /// The byte offset of `[ra, ra + length)` inside this block, if the whole
    /// range lies inside it.
    pub(crate) fn offset_of(&self, ra: u64, length: u64) -> Option<u64> {
        let offset = ra.checked_sub(self.block.ra)?;
        let end = offset.checked_add(length)?;
        (end <= self.block.size).then_some(offset)
    }

    /// Whether `[ra, ra + size)` overlaps this block in real address space.
    pub(crate) fn overlaps(&self, ra: u64, size: u64) -> bool {
        let end = ra.saturating_add(size);
        let block_end = self.block.ra.saturating_add(self.block.size);
        ra < block_end && self.block.ra < end
    }

    /// Copies the bytes at `offset` into `buffer`; the caller checked bounds.
    pub(crate) fn read(&self, offset: u64, buffer: &mut [u8]) {
        let mut done = 0;
        while done < buffer.len() {
            let position = offset + done as u64;
            let (page, inside) = split(position);
            let count = (PAGE_SIZE - inside).min(buffer.len() - done);
            let target = &mut buffer[done..done + count];
            match self.pages.page(page) {
                Some(bytes) => target.copy_from_slice(&bytes[inside..inside + count]),
                None => target.fill(0),
            }
            done += count;
        }
    }

    /// Copies `data` to `offset`; the caller checked bounds.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let position = offset + done as u64;
            let (page, inside) = split(position);
            let count = (PAGE_SIZE - inside).min(data.len() - done);
            self.pages.write(page, inside, &data[done..done + count]);
            done += count;
        }
    }

    /// The whole block's contents.
    pub(crate) fn image(&self) -> Vec<u8> {
        let length = usize::try_from(self.block.size).unwrap_or(usize::MAX);
        let mut image = vec![0u8; length];
        for (page, target) in image.chunks_exact_mut(PAGE_SIZE).enumerate() {
            if let Some(bytes) = self.pages.page(page) {
                target.copy_from_slice(bytes);
            }
        }
        image
    }

    /// Calls `visit` with the RA of every page and its contents (`None` for
    /// a page never written, which reads as zeros), in order.
    pub(crate) fn for_each_page(&self, mut visit: impl FnMut(u64, Option<&[u8]>)) {
        let pages = usize::try_from(self.block.pages()).unwrap_or(usize::MAX);
        for page in 0..pages {
            visit(
                self.block.ra + ((page as u64) << PAGE_SHIFT),
                self.pages.page(page),
            );
        }
    }

    /// Whether dirty logging is on.
    pub(crate) fn is_logging(&self) -> bool {
        self.dirty.is_some()
    }

    /// Number of `u64` words a dirty bitmap of this block needs.
    pub(crate) fn bitmap_words(&self) -> usize {
        usize::try_from(self.block.pages().div_ceil(64)).unwrap_or(usize::MAX)
    }

    /// Marks the pages of `[offset, offset + length)` dirty if logging is on.
    pub(crate) fn mark_dirty(&mut self, offset: u64, length: u64) {
        let Some(bits) = self.dirty.as_mut() else {
            return;
        };
        if length == 0 {
            return;
        }
        let first = offset >> PAGE_SHIFT;
        let last = (offset + length - 1) >> PAGE_SHIFT;
        for page in first..=last {
            // Every page of a store inside the block has its word.
            if let Some(word) = usize::try_from(page / 64)
                .ok()
                .and_then(|index| bits.get_mut(index))
            {
                *word |= 1 << (page % 64);
            }
        }
    }

    /// Starts (or restarts) logging with every page dirty.
    pub(crate) fn dirty_log_start(&mut self) {
        let pages = self.block.pages();
        let mut bits = vec![u64::MAX; self.bitmap_words()];
        let tail = pages % 64;
        if let (Some(last), true) = (bits.last_mut(), tail != 0) {
            *last = (1u64 << tail) - 1;
        }
        self.dirty = Some(bits);
    }

    /// Copies the dirty bits into `bitmap`, zeroes the words of `bitmap` past
    /// the block's, clears the log and returns the number of dirty pages.
    /// `EINVAL` when not logging or when `bitmap` is too small.
    pub(crate) fn dirty_log_sync(&mut self, bitmap: &mut [u64]) -> Result<u64, HvError> {
        let words = self.bitmap_words();
        let bits = self.dirty.as_mut().ok_or(HvError::Invalid)?;
        if bitmap.len() < words {
            return Err(HvError::Invalid);
        }
        let mut count = 0u64;
        for (target, source) in bitmap.iter_mut().zip(bits.iter_mut()) {
            count += u64::from(source.count_ones());
            *target = core::mem::take(source);
        }
        bitmap[words..].fill(0);
        Ok(count)
    }

    /// Cuts the block to its first `size` bytes (a multiple of 8 KiB, at
    /// most its size): the pages past it and their dirty bits go; the
    /// caller returns the physical range past `size` to the free memory.
    pub(crate) fn shrink_to(&mut self, size: u64) {
        let size = size.min(self.block.size) & !(PAGE_SIZE as u64 - 1);
        self.block.size = size;
        let pages = usize::try_from(self.block.pages()).unwrap_or(usize::MAX);
        self.pages.truncate(pages);
        let words = self.bitmap_words();
        if let Some(bits) = self.dirty.as_mut() {
            bits.truncate(words);
            let tail = pages % 64;
            if let (Some(last), true) = (bits.last_mut(), tail != 0) {
                *last &= (1u64 << tail) - 1;
            }
        }
    }

    /// Stops logging; `EINVAL` when it was not on.
    pub(crate) fn dirty_log_stop(&mut self) -> Result<(), HvError> {
        self.dirty.take().map(|_| ()).ok_or(HvError::Invalid)
    }
}

/// Page index and offset inside the page of a byte offset.
// Offsets are inside a block whose pages are held in memory (indices of a
// `Vec`), so they fit a usize on every host the simulator runs on.
#[allow(clippy::cast_possible_truncation)]
fn split(offset: u64) -> (usize, usize) {
    (
        (offset >> PAGE_SHIFT) as usize,
        (offset as usize) & (PAGE_SIZE - 1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = PAGE_SIZE as u64;

    fn block(pages: u64) -> BoundBlock {
        BoundBlock::new(
            MemoryBlock {
                ra: 0x10_0000,
                size: pages * PAGE,
            },
            0x4000_0000,
        )
    }

    #[test]
    fn unwritten_pages_read_as_zero_and_writes_cross_pages() {
        let mut memory = block(3);
        let mut buffer = [0xffu8; 16];
        memory.read(PAGE, &mut buffer);
        assert_eq!(buffer, [0u8; 16]);
        let data: Vec<u8> = (0..100u8).collect();
        memory.write(PAGE - 50, &data);
        let mut back = vec![0u8; 100];
        memory.read(PAGE - 50, &mut back);
        assert_eq!(back, data);
        let image = memory.image();
        assert_eq!(image.len(), 3 * PAGE_SIZE);
        assert_eq!(&image[PAGE_SIZE - 50..PAGE_SIZE + 50], &data[..]);
        assert!(image[..PAGE_SIZE - 50].iter().all(|&byte| byte == 0));
    }

    #[test]
    fn zero_writes_to_untouched_pages_allocate_nothing() {
        let mut memory = block(2);
        memory.write(0, &[0u8; PAGE_SIZE]);
        assert_eq!(memory.pages.written_count(), 0);
        memory.write(PAGE + 8, &[1u8; 8]);
        assert!(memory.pages.page(0).is_none());
        assert!(memory.pages.page(1).is_some());
        let mut visited = Vec::new();
        memory.for_each_page(|ra, bytes| visited.push((ra, bytes.map(|b| b[8]))));
        assert_eq!(
            visited,
            vec![(0x10_0000, None), (0x10_0000 + PAGE, Some(1))]
        );
    }

    #[test]
    fn offset_of_accepts_only_ranges_inside_the_block() {
        let memory = block(2);
        assert_eq!(memory.offset_of(0x10_0000, 2 * PAGE), Some(0));
        assert_eq!(memory.offset_of(0x10_0008, 8), Some(8));
        assert_eq!(memory.offset_of(0x0f_fff8, 16), None);
        assert_eq!(memory.offset_of(0x10_0000 + PAGE, PAGE + 8), None);
        assert_eq!(memory.offset_of(0x10_0000, u64::MAX), None);
        assert!(memory.overlaps(0x10_0000 + PAGE, 4 * PAGE));
        assert!(!memory.overlaps(0x10_0000 + 2 * PAGE, PAGE));
        assert!(!memory.overlaps(0, 0x10_0000));
    }

    #[test]
    fn dirty_log_start_marks_exactly_every_page() {
        let mut memory = block(70);
        memory.dirty_log_start();
        let mut bitmap = [0u64; 3];
        bitmap[2] = 0xdead;
        assert_eq!(memory.dirty_log_sync(&mut bitmap), Ok(70));
        assert_eq!(bitmap, [u64::MAX, (1 << 6) - 1, 0]);
        assert_eq!(memory.dirty_log_sync(&mut bitmap), Ok(0), "sync clears");
        assert_eq!(bitmap, [0, 0, 0]);
    }

    #[test]
    fn mark_dirty_sets_every_touched_page_bit() {
        let mut memory = block(130);
        memory.mark_dirty(0, 8);
        assert!(!memory.is_logging());
        memory.dirty_log_start();
        let mut bitmap = [0u64; 3];
        memory.dirty_log_sync(&mut bitmap).expect("logging is on");
        memory.mark_dirty(63 * PAGE + PAGE - 1, 2);
        memory.mark_dirty(129 * PAGE, PAGE);
        memory.mark_dirty(5 * PAGE, 0);
        assert_eq!(memory.dirty_log_sync(&mut bitmap), Ok(3));
        assert_eq!(bitmap, [1 << 63, 1, 1 << 1]);
    }

    #[test]
    fn sync_and_stop_without_start_and_short_bitmap_are_einval() {
        let mut memory = block(65);
        let mut bitmap = [0u64; 2];
        assert_eq!(memory.dirty_log_sync(&mut bitmap), Err(HvError::Invalid));
        assert_eq!(memory.dirty_log_stop(), Err(HvError::Invalid));
        memory.dirty_log_start();
        assert_eq!(
            memory.dirty_log_sync(&mut bitmap[..1]),
            Err(HvError::Invalid)
        );
        assert_eq!(memory.dirty_log_stop(), Ok(()));
        assert!(!memory.is_logging());
    }
}
