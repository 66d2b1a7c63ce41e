//! How deep the stacks went: each stack is painted with a pattern before
//! it is first used (reset.S paints the boot stack, [`paint`] the others);
//! at the end the lowest word no longer holding the pattern marks the
//! deepest use. The guest's stack is in its own memory, zero when bound:
//! there the lowest non-zero word counts.

use crate::memory_map::{Range, STACK_PAINT};

/// Paints `range` (8-byte aligned, not in use).
pub fn paint(range: Range) {
    let mut address = range.base;
    while address < range.end() {
        // `range` is one of the memory map's stack regions, unused now.
        // SAFETY: no Rust object lives there.
        unsafe { core::ptr::write_volatile(address as *mut u64, STACK_PAINT) };
        address += 8;
    }
}

/// Bytes from the top of `range` down to the deepest word that lost the
/// paint (or, with `paint` 0, became non-zero).
pub fn peak(range: Range, paint: u64) -> u64 {
    let mut address = range.base;
    while address < range.end() {
        // As in `paint`: a stack region of the memory map; reading it
        // while its owner is stopped or gone changes nothing.
        // SAFETY: an aligned read of RAM.
        let word = unsafe { core::ptr::read_volatile(address as *const u64) };
        if word != paint {
            return range.end() - address;
        }
        address += 8;
    }
    0
}
