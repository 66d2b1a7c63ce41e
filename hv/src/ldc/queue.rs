//! LDC queue arithmetic: byte offsets of 64-byte entries in a power-of-2
//! ring, as both the link layer and the simulated hypervisor use them.
//!
//! Rules (Linux `ldc.c` `rx_advance`/`tx_advance`; `hv/REFERENCES.md`,
//! "LDC link protocol"): head and tail are byte offsets, a multiple of
//! 64 below `entries × 64`; advancing adds 64 and wraps to 0. The queue is
//! empty when head == tail and full when advancing the tail would reach the
//! head, so one entry always stays unused.

use crate::abi::ldc::LDC_PACKET_SIZE;

const ENTRY_BYTES: u64 = LDC_PACKET_SIZE as u64;

/// The shape of one queue: its entry count (a power of 2, at least 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueGeometry {
    entries: u64,
}

impl QueueGeometry {
    /// A queue of `entries` entries; `None` unless a power of 2 of at least 2.
    pub fn new(entries: u64) -> Option<Self> {
        (entries >= 2 && entries.is_power_of_two()).then_some(QueueGeometry { entries })
    }

    /// Number of entries.
    pub fn entries(self) -> u64 {
        self.entries
    }

    /// Size in bytes (`entries × 64`), also the base alignment the
    /// hypervisor requires.
    pub fn size_bytes(self) -> u64 {
        self.entries * ENTRY_BYTES
    }

    /// Whether `offset` is a valid head or tail: a multiple of 64 below the
    /// queue size.
    pub fn is_valid_offset(self, offset: u64) -> bool {
        offset.is_multiple_of(ENTRY_BYTES) && offset < self.size_bytes()
    }

    /// The offset `count` entries after `offset`, wrapping.
    pub fn advance_by(self, offset: u64, count: u64) -> u64 {
        let mask = self.size_bytes() - 1;
        offset.wrapping_add(count.wrapping_mul(ENTRY_BYTES)) & mask
    }

    /// The offset one entry after `offset`, wrapping.
    pub fn advance(self, offset: u64) -> u64 {
        self.advance_by(offset, 1)
    }

    /// Entries from `from` forward to `to` (0 when equal).
    pub fn distance(self, from: u64, to: u64) -> u64 {
        (to.wrapping_sub(from) & (self.size_bytes() - 1)) / ENTRY_BYTES
    }

    /// Entries between head and tail: pending to receive, or written and
    /// not yet taken by the hypervisor.
    pub fn used(self, head: u64, tail: u64) -> u64 {
        self.distance(head, tail)
    }

    /// Entries that can still be added at the tail (one always stays free).
    pub fn free(self, head: u64, tail: u64) -> u64 {
        self.entries - 1 - self.used(head, tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_powers_of_two_from_two() {
        for bad in [0, 1, 3, 6, 100] {
            assert_eq!(QueueGeometry::new(bad), None, "{bad}");
        }
        for good in [2, 4, 128, 1 << 20] {
            assert_eq!(
                QueueGeometry::new(good).map(QueueGeometry::entries),
                Some(good)
            );
        }
    }

    #[test]
    fn offsets_wrap_and_one_entry_stays_free() {
        let queue = QueueGeometry::new(8).expect("8 entries");
        assert_eq!(queue.size_bytes(), 512);
        assert_eq!(queue.advance(448), 0);
        assert_eq!(queue.advance(0), 64);
        assert_eq!(queue.advance_by(384, 3), 64);
        assert!(queue.is_valid_offset(448));
        assert!(!queue.is_valid_offset(512));
        assert!(!queue.is_valid_offset(65));
        assert_eq!(queue.used(448, 64), 2);
        assert_eq!(queue.free(448, 64), 5);
        assert_eq!(queue.free(0, 0), 7);
        assert_eq!(queue.free(64, 0), 0);
        assert_eq!(queue.distance(128, 128), 0);
    }
}
