//! The contents of one simulated memory block: its 8 KiB pages in chunks of
//! up to 2 MiB, each chunk allocated when one of its pages is first written
//! with something not zero.
//!
//! A page never written reads as zeros, so a large domain costs only the
//! chunks its workload touches. A whole 2 MiB chunk is an anonymous mapping
//! aligned to 2 MiB and advised as a huge page (`MADV_HUGEPAGE`) on Linux: a
//! target that receives a whole domain then takes one page fault per 2 MiB
//! instead of one per 4 KiB, and nothing zeroes the memory twice (the kernel
//! hands out zeroed pages). Page faults and zeroing of the fresh memory were
//! the largest cost of a simulated migration (a third of all CPU time in a
//! profile of `ldmig demo`), a cost real sun4v memory, bound before the
//! migration starts, does not have. Chunks shorter than 2 MiB (the tail of a
//! block) live on the heap.
//!
//! Whole chunks are not unmapped when a block goes: they wait in a pool of
//! the process and are zeroed when taken again. Memory the kernel has just
//! handed out is slow to touch the first time, above all in a virtual
//! machine whose host backs its memory lazily (on the build machine a
//! migration into fresh memory took twice as long and spent 70 % of its
//! CPU time in the kernel). [`reserve_resident_memory`] fills the pool
//! ahead, as the bound memory of a real machine is there before a
//! migration comes in; `ldmig demo` reserves the target's share.

use ldmig_hv::abi::mmu::PAGE_SIZE;

/// Makes `bytes` (rounded up to 2 MiB) of memory resident for later
/// domains: mapped, touched and kept in the pool of free chunks, so that
/// the first writes of the domains that take them do not wait for the
/// kernel. Does nothing where chunks are not mapped (outside Linux).
pub fn reserve_resident_memory(bytes: u64) {
    #[cfg(target_os = "linux")]
    {
        let chunks = usize::try_from(bytes.div_ceil(CHUNK_BYTES as u64)).unwrap_or(usize::MAX);
        for _ in 0..chunks {
            let Some(mut mapping) = huge::Mapping::fresh() else {
                return;
            };
            // Touched now, so that the kernel maps it now; still zero.
            mapping.bytes_mut().fill(0);
            huge::release(mapping, true);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
}

/// Pages of a whole chunk (2 MiB of 8 KiB pages).
pub(crate) const CHUNK_PAGES: usize = 256;
/// Bytes of a whole chunk: the size of an x86_64 (and sparc64) huge page.
const CHUNK_BYTES: usize = CHUNK_PAGES * PAGE_SIZE;

/// The pages of a block.
#[derive(Clone, Default)]
pub(crate) struct PageStore {
    /// Chunk `i` holds pages `i * CHUNK_PAGES ..`; `None` until written.
    chunks: Vec<Option<Chunk>>,
    /// One bit per page (least significant first): written with data (a
    /// page whose bit is clear reads as zeros and its bytes are zero).
    written: Vec<u64>,
    /// Number of pages.
    pages: usize,
}

impl PageStore {
    /// `pages` pages of zeros, nothing allocated but the tables.
    pub(crate) fn new(pages: usize) -> Self {
        PageStore {
            chunks: core::iter::repeat_with(|| None)
                .take(pages.div_ceil(CHUNK_PAGES))
                .collect(),
            written: vec![0; pages.div_ceil(64)],
            pages,
        }
    }

    /// Page `page`'s bytes, `None` if it was never written with data (it
    /// reads as zeros). The caller keeps `page` below the page count.
    pub(crate) fn page(&self, page: usize) -> Option<&[u8]> {
        if !self.is_written(page) {
            return None;
        }
        let chunk = self.chunks[page / CHUNK_PAGES].as_ref()?;
        let start = (page % CHUNK_PAGES) * PAGE_SIZE;
        Some(&chunk.bytes()[start..start + PAGE_SIZE])
    }

    /// Writes `data` at `inside` bytes into page `page` (the caller keeps
    /// the range inside the page). Writing zeros into a page never written
    /// allocates nothing.
    pub(crate) fn write(&mut self, page: usize, inside: usize, data: &[u8]) {
        if !self.is_written(page) && data.iter().all(|&byte| byte == 0) {
            return;
        }
        let chunk_index = page / CHUNK_PAGES;
        let first = chunk_index * CHUNK_PAGES;
        let length = (self.pages - first).min(CHUNK_PAGES) * PAGE_SIZE;
        let chunk = self.chunks[chunk_index].get_or_insert_with(|| Chunk::zeroed(length));
        let start = (page % CHUNK_PAGES) * PAGE_SIZE + inside;
        chunk.bytes_mut()[start..start + data.len()].copy_from_slice(data);
        self.written[page / 64] |= 1 << (page % 64);
    }

    /// Number of pages written with data.
    pub(crate) fn written_count(&self) -> usize {
        self.written
            .iter()
            .map(|word| word.count_ones() as usize)
            .sum()
    }

    /// Keeps the first `pages` pages (at most the count) and frees the rest.
    pub(crate) fn truncate(&mut self, pages: usize) {
        let pages = pages.min(self.pages);
        // Pages past the end in the chunk that stays are zeroed, so that
        // the rule "a page not written is zero" holds for all its bytes.
        let kept_chunks = pages.div_ceil(CHUNK_PAGES);
        for page in pages..self.pages.min(kept_chunks * CHUNK_PAGES) {
            if self.is_written(page) {
                if let Some(chunk) = self.chunks[page / CHUNK_PAGES].as_mut() {
                    let start = (page % CHUNK_PAGES) * PAGE_SIZE;
                    chunk.bytes_mut()[start..start + PAGE_SIZE].fill(0);
                }
            }
        }
        self.chunks.truncate(kept_chunks);
        self.written.truncate(pages.div_ceil(64));
        if let (Some(last), true) = (self.written.last_mut(), !pages.is_multiple_of(64)) {
            *last &= (1u64 << (pages % 64)) - 1;
        }
        self.pages = pages;
    }

    fn is_written(&self, page: usize) -> bool {
        self.written[page / 64] & (1 << (page % 64)) != 0
    }
}

/// The zeroed bytes of one chunk.
enum Chunk {
    /// A whole 2 MiB chunk in its own huge-page mapping.
    #[cfg(target_os = "linux")]
    Mapped(huge::Mapping),
    /// A chunk on the heap.
    Heap(Box<[u8]>),
}

impl Chunk {
    fn zeroed(length: usize) -> Chunk {
        #[cfg(target_os = "linux")]
        if length == CHUNK_BYTES {
            if let Some(mapping) = huge::Mapping::zeroed() {
                return Chunk::Mapped(mapping);
            }
        }
        Chunk::Heap(vec![0u8; length].into_boxed_slice())
    }

    fn bytes(&self) -> &[u8] {
        match self {
            #[cfg(target_os = "linux")]
            Chunk::Mapped(mapping) => mapping.bytes(),
            Chunk::Heap(bytes) => bytes,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            #[cfg(target_os = "linux")]
            Chunk::Mapped(mapping) => mapping.bytes_mut(),
            Chunk::Heap(bytes) => bytes,
        }
    }
}

impl Clone for Chunk {
    fn clone(&self) -> Chunk {
        let mut copy = Chunk::zeroed(self.bytes().len());
        copy.bytes_mut().copy_from_slice(self.bytes());
        copy
    }
}

#[cfg(target_os = "linux")]
mod huge {
    //! A 2 MiB anonymous mapping aligned to 2 MiB, advised as a huge page,
    //! and the pool of free ones.

    use super::CHUNK_BYTES;
    use std::sync::Mutex;

    /// Mappings no block holds, and whether each is known to be zero
    /// (reserved ahead) or holds what its last block wrote.
    static FREE: Mutex<Vec<(Mapping, bool)>> = Mutex::new(Vec::new());

    /// Puts `mapping` into the pool; `zero` if every byte of it is zero.
    pub(super) fn release(mapping: Mapping, zero: bool) {
        FREE.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((mapping, zero));
    }

    /// The mapping; unmapped on drop.
    pub(super) struct Mapping {
        start: core::ptr::NonNull<u8>,
    }

    // SAFETY: the mapping is plain memory owned by this value alone (no
    // other pointer to it exists), so it may move to and be shared with
    // other threads as a `Box<[u8]>` may.
    unsafe impl Send for Mapping {}
    // SAFETY: as for `Send`: shared access only reads through `&self`.
    unsafe impl Sync for Mapping {}

    impl Mapping {
        /// A zeroed mapping: one from the pool, zeroed, or a fresh one;
        /// `None` if the kernel refuses one.
        pub(super) fn zeroed() -> Option<Mapping> {
            let pooled = FREE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            match pooled {
                Some((mapping, true)) => Some(mapping),
                Some((mut mapping, false)) => {
                    mapping.bytes_mut().fill(0);
                    Some(mapping)
                }
                None => Mapping::fresh(),
            }
        }

        /// A new mapping from the kernel (zero-filled), `None` if it
        /// refuses one.
        pub(super) fn fresh() -> Option<Mapping> {
            // Twice the size, so that a 2 MiB-aligned 2 MiB lies inside;
            // the rest is unmapped again.
            let span = 2 * CHUNK_BYTES;
            // A new private anonymous mapping at an address of the kernel's
            // choice aliases no memory of this program.
            // SAFETY: see the line above.
            let base = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    span,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return None;
            }
            let address = base as usize;
            let aligned = address.next_multiple_of(CHUNK_BYTES);
            let head = aligned - address;
            let tail = span - head - CHUNK_BYTES;
            // Both ranges lie inside the mapping made above, outside the
            // aligned chunk kept, and nothing refers to them; a failed unmap
            // only leaves address space mapped until exit.
            // SAFETY: see the lines above.
            unsafe {
                if head != 0 {
                    libc::munmap(base, head);
                }
                if tail != 0 {
                    libc::munmap((aligned + CHUNK_BYTES) as *mut libc::c_void, tail);
                }
                // Advice only: without huge pages the chunk is still
                // zeroed memory, faulted in 4 KiB at a time.
                libc::madvise(
                    aligned as *mut libc::c_void,
                    CHUNK_BYTES,
                    libc::MADV_HUGEPAGE,
                );
            }
            core::ptr::NonNull::new(aligned as *mut u8).map(|start| Mapping { start })
        }

        pub(super) fn bytes(&self) -> &[u8] {
            // `start` is the start of a live readable mapping of CHUNK_BYTES
            // bytes owned by `self`, zero-filled by the kernel, so every byte
            // is initialised; the borrow of `self` keeps it.
            // SAFETY: see the lines above.
            unsafe { core::slice::from_raw_parts(self.start.as_ptr(), CHUNK_BYTES) }
        }

        pub(super) fn bytes_mut(&mut self) -> &mut [u8] {
            // As in `bytes`, and the `&mut self` borrow makes this the only
            // reference to the mapping's bytes.
            // SAFETY: see the lines above.
            unsafe { core::slice::from_raw_parts_mut(self.start.as_ptr(), CHUNK_BYTES) }
        }
    }

    impl Drop for Mapping {
        /// The mapping goes to the pool under a new owner (this one is
        /// gone once `drop` returns), never back to the kernel: the
        /// process keeps the most it ever used.
        fn drop(&mut self) {
            release(Mapping { start: self.start }, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_read_back_across_whole_and_tail_chunks_and_zero_writes_allocate_nothing() {
        // One whole chunk and a tail of 3 pages.
        let mut store = PageStore::new(CHUNK_PAGES + 3);
        store.write(5, 0, &[0u8; PAGE_SIZE]);
        assert!(store.chunks.iter().all(Option::is_none));
        assert_eq!(store.page(5), None);
        store.write(5, 8, &[1, 2, 3]);
        store.write(CHUNK_PAGES + 2, PAGE_SIZE - 1, &[9]);
        assert_eq!(store.written_count(), 2);
        let page = store.page(5).expect("written");
        assert_eq!(&page[..12], &[0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 0]);
        assert_eq!(
            store.page(6),
            None,
            "a neighbour in the chunk stays unwritten"
        );
        assert_eq!(
            store.page(CHUNK_PAGES + 2).expect("written")[PAGE_SIZE - 1],
            9
        );
        // Zeros into a written page are written.
        store.write(5, 8, &[0]);
        assert_eq!(store.page(5).expect("written")[8], 0);
        let copy = store.clone();
        assert_eq!(copy.page(5), store.page(5));
        assert_eq!(copy.page(CHUNK_PAGES + 2), store.page(CHUNK_PAGES + 2));
    }

    #[test]
    fn a_chunk_taken_again_from_the_pool_is_zero() {
        reserve_resident_memory(1);
        for round in 0..3u8 {
            let mut store = PageStore::new(CHUNK_PAGES);
            assert_eq!(store.page(7), None);
            store.write(7, 0, &[0]);
            assert_eq!(store.page(7), None, "zeros into a fresh page");
            store.write(8, 0, &[round + 1; 64]);
            let chunk = store.chunks[0].as_ref().expect("mapped");
            // Every byte but the page written now is zero, whatever the
            // chunk held in an earlier round.
            let bytes = chunk.bytes();
            assert!(bytes[..8 * PAGE_SIZE].iter().all(|&byte| byte == 0));
            assert!(bytes[8 * PAGE_SIZE + 64..].iter().all(|&byte| byte == 0));
            assert_eq!(bytes.len(), CHUNK_PAGES * PAGE_SIZE);
        }
    }

    #[test]
    fn truncate_drops_the_pages_past_the_new_end() {
        let mut store = PageStore::new(CHUNK_PAGES + 3);
        store.write(1, 0, &[7]);
        store.write(70, 0, &[7]);
        store.write(CHUNK_PAGES + 1, 0, &[7]);
        store.truncate(65);
        assert_eq!(store.written_count(), 1);
        assert_eq!(store.chunks.len(), 1);
        store.write(64, 0, &[0]);
        assert_eq!(store.page(64), None);
        assert_eq!(store.page(1).expect("kept")[0], 7);
    }
}
