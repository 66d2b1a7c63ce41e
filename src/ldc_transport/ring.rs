//! The shape of the bulk path's descriptor rings: how many descriptors and
//! how big each frame slot is, and the bounds both ends check.
//!
//! A ring of `entries` descriptors (a power of 2; the descriptor format is
//! [`crate::wire::descriptor`]) sits in one exported region; slot `i` (a
//! fixed buffer of `slot_bytes`) sits in another. Frame number `n` of a
//! direction always uses descriptor and slot `n % entries`, so both sides
//! know where the next frame goes without asking.

use core::fmt;

use super::error::{BulkError, DescriptorFault};
use crate::page::PAGE_SIZE;
use crate::wire::descriptor::{Descriptor, DescriptorState, DESCRIPTOR_BYTES};
use crate::wire::frame::{FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD};

/// Fewest descriptors in a ring.
pub const MIN_RING_ENTRIES: u32 = 2;
/// Most descriptors in a ring (the ring then fills one 8 KiB page).
#[allow(clippy::cast_possible_truncation)] // 256: fits
pub const MAX_RING_ENTRIES: u32 = (PAGE_SIZE / DESCRIPTOR_BYTES) as u32;
/// Largest slot: the largest frame the wire allows, rounded up to pages.
#[allow(clippy::cast_possible_truncation)] // under 1 MiB: fits
pub const MAX_SLOT_BYTES: u32 = round_up_to_page(FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD) as u32;

const fn round_up_to_page(bytes: usize) -> usize {
    bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// Descriptor `index` as read out of its ring, decoded.
pub fn decode_descriptor(
    bytes: &[u8; DESCRIPTOR_BYTES],
    index: u32,
) -> Result<Descriptor, BulkError> {
    Descriptor::decode(bytes).map_err(|error| BulkError::BadDescriptor {
        index,
        fault: DescriptorFault::Malformed(error),
    })
}

/// Who owns descriptor `index`, as it says.
pub fn descriptor_state(descriptor: &Descriptor, index: u32) -> Result<DescriptorState, BulkError> {
    descriptor
        .state
        .checked("state")
        .map_err(|error| BulkError::BadDescriptor {
            index,
            fault: DescriptorFault::Malformed(error),
        })
}

/// Descriptor `index` is in `state`, which its peer never writes there.
pub fn unexpected_state(index: u32, state: DescriptorState) -> BulkError {
    BulkError::BadDescriptor {
        index,
        fault: DescriptorFault::UnexpectedState(state),
    }
}

/// The part of `buffer` the frame of descriptor `index` fills: its length
/// fits the ring's `slot_bytes` and the buffer.
pub fn frame_target<'b>(
    descriptor: &Descriptor,
    index: u32,
    slot_bytes: u32,
    buffer: &'b mut [u8],
) -> Result<&'b mut [u8], BulkError> {
    let length = descriptor.length.get();
    if length > slot_bytes {
        return Err(BulkError::BadDescriptor {
            index,
            fault: DescriptorFault::Length(length),
        });
    }
    let capacity = buffer.len();
    buffer
        .get_mut(..length as usize)
        .ok_or(BulkError::FrameTooLarge {
            size: length as usize,
            capacity,
        })
}

/// The shape of a ring: how many descriptors and how big each slot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingGeometry {
    entries: u32,
    slot_bytes: u32,
}

/// A ring shape the bulk path refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeometryError {
    /// Entries not a power of 2 in [`MIN_RING_ENTRIES`]..=[`MAX_RING_ENTRIES`].
    Entries(u32),
    /// Slot bytes not a multiple of 8 KiB in 8 KiB..=[`MAX_SLOT_BYTES`].
    SlotBytes(u32),
}

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GeometryError::Entries(entries) => write!(
                f,
                "{entries} ring entries: must be a power of 2 from {MIN_RING_ENTRIES} to {MAX_RING_ENTRIES}"
            ),
            GeometryError::SlotBytes(bytes) => write!(
                f,
                "{bytes}-byte slots: must be a multiple of 8 KiB up to {MAX_SLOT_BYTES}"
            ),
        }
    }
}

impl RingGeometry {
    /// A ring of `entries` descriptors and slots of `slot_bytes`.
    pub fn new(entries: u32, slot_bytes: u32) -> Result<Self, GeometryError> {
        if !(MIN_RING_ENTRIES..=MAX_RING_ENTRIES).contains(&entries) || !entries.is_power_of_two() {
            return Err(GeometryError::Entries(entries));
        }
        #[allow(clippy::cast_possible_truncation)] // 8 KiB: fits
        let page = PAGE_SIZE as u32;
        if slot_bytes == 0 || !slot_bytes.is_multiple_of(page) || slot_bytes > MAX_SLOT_BYTES {
            return Err(GeometryError::SlotBytes(slot_bytes));
        }
        Ok(RingGeometry {
            entries,
            slot_bytes,
        })
    }

    /// The smallest slot (whole pages) that holds frames of `frame_bytes`.
    pub fn slot_bytes_for(frame_bytes: usize) -> u32 {
        #[allow(clippy::cast_possible_truncation)] // clamped to MAX_SLOT_BYTES, a u32
        let slot =
            round_up_to_page(frame_bytes.clamp(1, FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD)) as u32;
        slot
    }

    /// Descriptors in the ring.
    pub fn entries(self) -> u32 {
        self.entries
    }

    /// Bytes of one slot.
    pub fn slot_bytes(self) -> u32 {
        self.slot_bytes
    }

    /// The descriptor (and slot) index of frame `sequence`.
    pub fn index(self, sequence: u64) -> u32 {
        #[allow(clippy::cast_possible_truncation)] // below `entries`, a u32
        let index = (sequence % u64::from(self.entries)) as u32;
        index
    }

    /// Bytes of the descriptors, rounded up to whole pages (what is exported).
    pub fn ring_bytes(self) -> u64 {
        round_up_to_page(self.entries as usize * DESCRIPTOR_BYTES) as u64
    }

    /// Bytes of all slots.
    pub fn slots_bytes(self) -> u64 {
        u64::from(self.entries) * u64::from(self.slot_bytes)
    }
}

/// `length` rounded up to the 8-byte granule of `LDC_COPY`.
pub fn copy_length(length: usize) -> usize {
    length.div_ceil(8) * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_bounds_are_fixed() {
        assert_eq!(MAX_RING_ENTRIES, 256);
        assert_eq!(MAX_SLOT_BYTES as usize, 1024 * 1024 + 8192);
    }

    #[test]
    fn geometry_bounds() {
        let ring = RingGeometry::new(8, 256 << 10).expect("valid");
        assert_eq!(ring.index(9), 1);
        assert_eq!(ring.ring_bytes(), 8192);
        assert_eq!(ring.slots_bytes(), 2 << 20);
        assert_eq!(RingGeometry::new(6, 8192), Err(GeometryError::Entries(6)));
        assert_eq!(RingGeometry::new(1, 8192), Err(GeometryError::Entries(1)));
        assert_eq!(
            RingGeometry::new(512, 8192),
            Err(GeometryError::Entries(512))
        );
        assert_eq!(
            RingGeometry::new(8, 100),
            Err(GeometryError::SlotBytes(100))
        );
        assert_eq!(RingGeometry::new(8, 0), Err(GeometryError::SlotBytes(0)));
        assert!(RingGeometry::new(8, MAX_SLOT_BYTES).is_ok());
        assert!(RingGeometry::new(8, MAX_SLOT_BYTES + 8192).is_err());
        assert_eq!(RingGeometry::slot_bytes_for(256 << 10), 256 << 10);
        assert_eq!(
            RingGeometry::slot_bytes_for((256 << 10) + 24),
            (256 << 10) + 8192
        );
        assert_eq!(RingGeometry::slot_bytes_for(0), 8192);
        assert_eq!(copy_length(13), 16);
        assert_eq!(copy_length(16), 16);
    }
}
