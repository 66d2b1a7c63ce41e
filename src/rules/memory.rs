//! The memory binding plan: where each memory block of a domain would land
//! on the target.
//!
//! A block is bound as a whole to one contiguous free physical range of at
//! least its size, and keeps its real address and size; only the physical
//! address may change. The plan binds block after block, in the domain's
//! order, each to the lowest free range that still holds it (first fit), and
//! takes that part of the range before the next block: the same policy as
//! the machine's own binding, so a plan that binds every block predicts a
//! reservation that succeeds. A block that fits nowhere is left unbound and
//! the plan goes on with the next one, so that every failing block is
//! reported.

use ldmig_hv::resources::{BlockRequirement, FreeRange, MAX_FREE_RANGES, MAX_MEMORY_BLOCKS};

/// Where one block would be bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockBinding {
    /// Real address of the block (unchanged by the migration).
    pub real_address: u64,
    /// Size of the block in bytes (unchanged by the migration).
    pub size: u64,
    /// Physical address on the target, or `None` when no free range holds
    /// the block in one piece.
    pub physical_address: Option<u64>,
}

/// The binding of every block of a domain, in the domain's block order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MemoryBinding {
    /// One entry per block, same order, same real addresses and sizes.
    pub blocks: heapless::Vec<BlockBinding, MAX_MEMORY_BLOCKS>,
}

impl MemoryBinding {
    /// True when every block found a range.
    pub fn is_complete(&self) -> bool {
        self.blocks
            .iter()
            .all(|block| block.physical_address.is_some())
    }

    /// The blocks that found no range.
    pub fn unbound(&self) -> impl Iterator<Item = &BlockBinding> {
        self.blocks
            .iter()
            .filter(|block| block.physical_address.is_none())
    }
}

/// Plans the binding of `blocks` into the free ranges `free` (first fit,
/// block by block). `blocks` longer than [`MAX_MEMORY_BLOCKS`] and `free`
/// longer than [`MAX_FREE_RANGES`] are cut at those capacities, which the
/// [`ldmig_hv::resources`] lists already enforce.
pub fn bind_memory_blocks(blocks: &[BlockRequirement], free: &[FreeRange]) -> MemoryBinding {
    let mut remaining: heapless::Vec<FreeRange, MAX_FREE_RANGES> = heapless::Vec::new();
    for range in free.iter().take(MAX_FREE_RANGES) {
        // Cannot fail: at most MAX_FREE_RANGES ranges are taken.
        let _ = remaining.push(*range);
    }
    let mut binding = MemoryBinding::default();
    for block in blocks.iter().take(MAX_MEMORY_BLOCKS) {
        let physical_address = take_first_fit(&mut remaining, block.size);
        // Cannot fail: at most MAX_MEMORY_BLOCKS blocks are taken.
        let _ = binding.blocks.push(BlockBinding {
            real_address: block.real_address,
            size: block.size,
            physical_address,
        });
    }
    binding
}

/// Takes `size` bytes from the start of the lowest-addressed free range
/// that holds them; `None` when no range does.
fn take_first_fit(free: &mut [FreeRange], size: u64) -> Option<u64> {
    let range = free
        .iter_mut()
        .filter(|range| range.size >= size && size > 0)
        .min_by_key(|range| range.pa)?;
    let pa = range.pa;
    range.pa = range.pa.saturating_add(size);
    range.size -= size;
    Some(pa)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIGABYTE: u64 = 1 << 30;

    fn block(real_address: u64, size: u64) -> BlockRequirement {
        BlockRequirement { real_address, size }
    }

    fn range(pa: u64, size: u64) -> FreeRange {
        FreeRange { pa, size }
    }

    #[test]
    fn two_gigabyte_block_does_not_fit_two_one_gigabyte_ranges() {
        let free = [
            range(0x1_0800_0000, GIGABYTE),
            range(0x1_8800_0000, GIGABYTE),
        ];
        let binding = bind_memory_blocks(&[block(0x800_0000, 2 * GIGABYTE)], &free);
        assert!(!binding.is_complete());
        let unbound: std::vec::Vec<_> = binding.unbound().collect();
        assert_eq!(unbound.len(), 1);
        assert_eq!(unbound[0].real_address, 0x800_0000);
        assert_eq!(unbound[0].size, 2 * GIGABYTE);
    }

    #[test]
    fn blocks_keep_their_real_addresses_and_sizes_and_take_first_fit() {
        let free = [
            range(0x4000_0000, 3 * GIGABYTE),
            range(0x1000_0000, GIGABYTE),
        ];
        let blocks = [
            block(0x800_0000, GIGABYTE),
            block(0x4800_0000, 2 * GIGABYTE),
        ];
        let binding = bind_memory_blocks(&blocks, &free);
        assert!(binding.is_complete());
        assert_eq!(binding.blocks.len(), blocks.len());
        for (bound, wanted) in binding.blocks.iter().zip(blocks.iter()) {
            assert_eq!(bound.real_address, wanted.real_address);
            assert_eq!(bound.size, wanted.size);
        }
        // The lowest range holds the first block; the second needs the big one.
        assert_eq!(binding.blocks[0].physical_address, Some(0x1000_0000));
        assert_eq!(binding.blocks[1].physical_address, Some(0x4000_0000));
    }

    #[test]
    fn a_range_is_used_up_block_by_block() {
        let free = [range(0x1000_0000, 3 * GIGABYTE)];
        let blocks = [
            block(0, 2 * GIGABYTE),
            block(0x8000_0000, GIGABYTE),
            block(0xc000_0000, GIGABYTE),
        ];
        let binding = bind_memory_blocks(&blocks, &free);
        assert_eq!(binding.blocks[0].physical_address, Some(0x1000_0000));
        assert_eq!(binding.blocks[1].physical_address, Some(0x9000_0000));
        assert_eq!(binding.blocks[2].physical_address, None);
        assert_eq!(binding.unbound().count(), 1);
    }
}
