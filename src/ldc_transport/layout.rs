//! Where everything of the bulk path lives in each side's own memory (real
//! addresses): the LDC queues, the engine's map table, its two descriptor
//! rings and their slots (the shim's side is in `ldmig-shim`).
//!
//! ```text
//! engine memory (from base, each item aligned as the hypervisor wants)
//!   transmit queue   entries x 64       aligned to its size
//!   receive queue    entries x 64       aligned to its size
//!   map table        entries x 16       64-byte aligned; entry 0 unused
//!   -- exported from here, 8 KiB pages, one map-table entry each --
//!   transmit ring    descriptors        COPY_R | COPY_W  (the shim marks DONE)
//!   receive ring     descriptors        COPY_R | COPY_W  (the shim marks READY)
//!   transmit slots   entries x slot     COPY_R           (the shim copies in)
//!   receive slots    entries x slot     COPY_R | COPY_W  (the shim copies out)
//!
//! shim memory
//!   transmit queue, receive queue
//!   descriptor buffer  one page (a whole ring of descriptors)
//!   frame buffer       the largest slot it accepts
//! ```
//! Each exported region takes consecutive map-table entries, so its cookies
//! are consecutive too: one cookie and a size describe a whole slot, and
//! `LDC_COPY` walks it page by page.

use core::fmt;

use ldmig_hv::abi::ldc::{make_cookie, MtePermissions, LDC_MTE_BYTES};
use ldmig_hv::abi::mmu::PGSZ_8K;
use ldmig_hv::ldc::QueueConfig;

use super::ring::RingGeometry;
use crate::page::PAGE_SIZE;

const PAGE: u64 = PAGE_SIZE as u64;
const QUEUE_ENTRY_BYTES: u64 = 64;

/// A layout that does not fit or is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The base RA is 0 or not 8 KiB aligned.
    Base(u64),
    /// Queue entries not a power of 2 of at least 2.
    QueueEntries(u64),
    /// The items need more memory than given.
    TooSmall {
        /// Bytes needed from the base.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Base(ra) => write!(f, "memory base {ra:#x} is 0 or not 8 KiB aligned"),
            LayoutError::QueueEntries(entries) => {
                write!(f, "{entries} queue entries: not a power of 2 of at least 2")
            }
            LayoutError::TooSmall { needed, available } => write!(
                f,
                "the bulk path needs {needed} bytes of memory, {available} given"
            ),
        }
    }
}

/// Which of the four exported regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// Descriptors of the engine-to-shim ring.
    TransmitRing,
    /// Descriptors of the shim-to-engine ring.
    ReceiveRing,
    /// Slots of the engine-to-shim ring.
    TransmitSlots,
    /// Slots of the shim-to-engine ring.
    ReceiveSlots,
}

impl Region {
    /// All four, in map-table order.
    pub const ALL: [Region; 4] = [
        Region::TransmitRing,
        Region::ReceiveRing,
        Region::TransmitSlots,
        Region::ReceiveSlots,
    ];

    /// The copy permissions its map-table entries carry.
    pub fn permissions(self) -> MtePermissions {
        match self {
            Region::TransmitSlots => MtePermissions::COPY_R,
            Region::TransmitRing | Region::ReceiveRing | Region::ReceiveSlots => {
                MtePermissions::COPY_R | MtePermissions::COPY_W
            }
        }
    }
}

/// One exported region: where it is and which map-table entries it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportedRegion {
    /// First byte (8 KiB aligned).
    pub ra: u64,
    /// Bytes (whole pages).
    pub bytes: u64,
    /// Map-table index of its first page.
    pub first_index: u64,
}

impl ExportedRegion {
    /// Pages (and map-table entries) it takes.
    pub fn pages(&self) -> u64 {
        self.bytes / PAGE
    }

    /// The cookie of byte `offset` of the region (8 KiB pages, consecutive
    /// entries: the cookie space is as contiguous as the region).
    pub fn cookie(&self, offset: u64) -> u64 {
        make_cookie(PGSZ_8K, self.first_index + offset / PAGE, offset % PAGE)
    }
}

/// `value` rounded up to a multiple of `alignment`.
pub fn align_up(value: u64, alignment: u64) -> u64 {
    value.div_ceil(alignment) * alignment
}

/// Bytes of an LDC queue of `entries` 64-byte entries (a power of 2, at least 2).
pub fn queue_geometry(entries: u64) -> Result<u64, LayoutError> {
    if entries >= 2 && entries.is_power_of_two() {
        Ok(entries * QUEUE_ENTRY_BYTES)
    } else {
        Err(LayoutError::QueueEntries(entries))
    }
}

/// Checks that a memory base is non-zero and 8 KiB aligned.
pub fn check_base(base: u64) -> Result<(), LayoutError> {
    if base == 0 || !base.is_multiple_of(PAGE) {
        return Err(LayoutError::Base(base));
    }
    Ok(())
}

/// The two LDC queues at the start of a side's memory, each aligned to
/// its size: the first thing both sides' layouts place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkQueues {
    /// The link's transmit queue.
    pub transmit: QueueConfig,
    /// The link's receive queue.
    pub receive: QueueConfig,
    /// The first RA after them.
    pub end: u64,
}

impl LinkQueues {
    /// Places two queues of `entries` each from `base`.
    pub fn place(base: u64, entries: u64) -> Result<Self, LayoutError> {
        let queue_bytes = queue_geometry(entries)?;
        let transmit = align_up(base, queue_bytes);
        let receive = align_up(transmit + queue_bytes, queue_bytes);
        Ok(LinkQueues {
            transmit: QueueConfig {
                ra: transmit,
                entries,
            },
            receive: QueueConfig {
                ra: receive,
                entries,
            },
            end: receive + queue_bytes,
        })
    }
}

/// Checks that everything from `base` up to `end` fits in `memory_bytes`.
pub fn check_fits(base: u64, end: u64, memory_bytes: u64) -> Result<(), LayoutError> {
    let needed = end - base;
    if needed > memory_bytes {
        return Err(LayoutError::TooSmall {
            needed,
            available: memory_bytes,
        });
    }
    Ok(())
}

/// The engine's memory: queues, map table, rings and slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineLayout {
    /// The link's transmit queue.
    pub transmit_queue: QueueConfig,
    /// The link's receive queue.
    pub receive_queue: QueueConfig,
    /// Map table RA.
    pub map_table_ra: u64,
    /// Map table entries (a power of 2).
    pub map_table_entries: u64,
    /// The ring geometry (both directions).
    pub ring: RingGeometry,
    regions: [ExportedRegion; 4],
    end: u64,
}

impl EngineLayout {
    /// Places everything from `base` (8 KiB aligned) in `memory_bytes`.
    pub fn new(
        base: u64,
        memory_bytes: u64,
        queue_entries: u64,
        ring: RingGeometry,
    ) -> Result<Self, LayoutError> {
        check_base(base)?;
        let queues = LinkQueues::place(base, queue_entries)?;
        let sizes = [
            ring.ring_bytes(),
            ring.ring_bytes(),
            ring.slots_bytes(),
            ring.slots_bytes(),
        ];
        let pages: u64 = sizes.iter().map(|bytes| bytes / PAGE).sum();
        // Entry 0 stays unused: no valid cookie is 0.
        let map_table_entries = (pages + 1).next_power_of_two().max(2);
        let map_table_ra = align_up(queues.end, 64);
        let mut next_ra = align_up(
            map_table_ra + map_table_entries * LDC_MTE_BYTES as u64,
            PAGE,
        );
        let mut next_index = 1;
        let mut regions = [ExportedRegion {
            ra: 0,
            bytes: 0,
            first_index: 0,
        }; 4];
        for (region, bytes) in regions.iter_mut().zip(sizes) {
            *region = ExportedRegion {
                ra: next_ra,
                bytes,
                first_index: next_index,
            };
            next_ra += bytes;
            next_index += bytes / PAGE;
        }
        check_fits(base, next_ra, memory_bytes)?;
        Ok(EngineLayout {
            transmit_queue: queues.transmit,
            receive_queue: queues.receive,
            map_table_ra,
            map_table_entries,
            ring,
            regions,
            end: next_ra,
        })
    }

    /// One exported region.
    pub fn region(&self, region: Region) -> ExportedRegion {
        self.regions[match region {
            Region::TransmitRing => 0,
            Region::ReceiveRing => 1,
            Region::TransmitSlots => 2,
            Region::ReceiveSlots => 3,
        }]
    }

    /// RA of descriptor `index` of a ring region.
    pub fn descriptor_ra(&self, ring: Region, index: u32) -> u64 {
        self.region(ring).ra + u64::from(index) * crate::wire::descriptor::DESCRIPTOR_BYTES as u64
    }

    /// RA of slot `index` of a slots region.
    pub fn slot_ra(&self, slots: Region, index: u32) -> u64 {
        self.region(slots).ra + u64::from(index) * u64::from(self.ring.slot_bytes())
    }

    /// Cookie of slot `index` of a slots region.
    pub fn slot_cookie(&self, slots: Region, index: u32) -> u64 {
        self.region(slots)
            .cookie(u64::from(index) * u64::from(self.ring.slot_bytes()))
    }

    /// First RA past everything.
    pub fn end(&self) -> u64 {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x8000_0000;

    #[test]
    fn engine_items_are_aligned_and_disjoint() {
        let ring = RingGeometry::new(8, 256 << 10).expect("ring");
        let layout = EngineLayout::new(BASE, 8 << 20, 128, ring).expect("fits");
        assert_eq!(layout.transmit_queue.ra, BASE);
        assert_eq!(layout.receive_queue.ra, BASE + 8192);
        assert_eq!(layout.map_table_ra, BASE + 16384);
        // 1 + 1 + 256 + 256 pages, entry 0 unused: 515 -> 1024 entries.
        assert_eq!(layout.map_table_entries, 1024);
        let transmit_ring = layout.region(Region::TransmitRing);
        assert_eq!(transmit_ring.ra, BASE + 16384 + 1024 * 16);
        assert_eq!(transmit_ring.first_index, 1);
        let receive_ring = layout.region(Region::ReceiveRing);
        assert_eq!(receive_ring.first_index, 2);
        let transmit_slots = layout.region(Region::TransmitSlots);
        assert_eq!(transmit_slots.first_index, 3);
        assert_eq!(transmit_slots.pages(), 256);
        let receive_slots = layout.region(Region::ReceiveSlots);
        assert_eq!(receive_slots.first_index, 259);
        assert_eq!(receive_slots.ra + receive_slots.bytes, layout.end());
        for region in Region::ALL {
            assert!(layout.region(region).ra.is_multiple_of(PAGE));
        }
        assert_eq!(
            layout.slot_ra(Region::TransmitSlots, 1),
            transmit_slots.ra + (256 << 10)
        );
        assert_eq!(
            layout.slot_cookie(Region::TransmitSlots, 1),
            make_cookie(0, 3 + 32, 0)
        );
        assert_eq!(transmit_slots.cookie(8192 + 40), make_cookie(0, 4, 40));
        assert_eq!(
            layout.descriptor_ra(Region::ReceiveRing, 3),
            receive_ring.ra + 96
        );
        assert_eq!(Region::TransmitSlots.permissions(), MtePermissions::COPY_R);
        assert_eq!(
            Region::ReceiveSlots.permissions(),
            MtePermissions::COPY_R | MtePermissions::COPY_W
        );
    }

    #[test]
    fn engine_layout_refuses_what_does_not_fit() {
        let ring = RingGeometry::new(8, 256 << 10).expect("ring");
        assert!(matches!(
            EngineLayout::new(BASE, 4 << 20, 128, ring),
            Err(LayoutError::TooSmall { .. })
        ));
        assert_eq!(
            EngineLayout::new(BASE + 8, 8 << 20, 128, ring),
            Err(LayoutError::Base(BASE + 8))
        );
        assert_eq!(
            EngineLayout::new(BASE, 8 << 20, 100, ring),
            Err(LayoutError::QueueEntries(100))
        );
        assert_eq!(
            EngineLayout::new(0, 8 << 20, 128, ring),
            Err(LayoutError::Base(0))
        );
    }
}
