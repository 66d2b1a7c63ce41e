//! The descriptor ring of the bulk path: one 32-byte big-endian descriptor
//! per frame slot, its states, and the ring's geometry.
//!
//! A ring of `entries` descriptors (a power of 2) sits in one exported
//! region; slot `i` (a fixed buffer of `slot_bytes`) sits in another.
//! Frame number `n` of a direction always uses descriptor and slot
//! `n % entries`, so both sides know where the next frame goes without
//! asking. The states are the sun4v VIO descriptor states (Linux
//! `arch/sparc/include/asm/vio.h` `VIO_DESC_*`; `hv/REFERENCES.md`):
//! FREE 1, READY 2, DONE 4; 0 is invalid; VIO's ACCEPTED (3) is
//! not used (a reader copies a frame out and marks it DONE in one step).
//!
//! ```text
//! offset  bytes  field
//!  0       1     state        (DescriptorState)
//!  1       3     reserved     (zero)
//!  4       4     length       (frame bytes in the slot)
//!  8       8     sequence     (frame number in this direction, from 0)
//! 16       8     cookie       (LDC cookie of the slot's first byte)
//! 24       8     cookie size  (slot bytes behind the cookie)
//! ```
//! Word 0 (state and length) is written last and alone, so a reader that
//! sees READY also sees the sequence and the cookie of that frame.

use core::fmt;
use zerocopy::byteorder::big_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::page::PAGE_SIZE;
use crate::wire::frame::{FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD};

/// Bytes of one [`Descriptor`].
pub const DESCRIPTOR_BYTES: usize = 32;
/// Bytes of the descriptor's first word (state, reserved, length).
pub const DESCRIPTOR_WORD0_BYTES: usize = 8;
/// Fewest descriptors in a ring.
pub const MIN_RING_ENTRIES: u32 = 2;
/// Most descriptors in a ring (the ring then fills one 8 KiB page).
pub const MAX_RING_ENTRIES: u32 = (PAGE_SIZE / DESCRIPTOR_BYTES) as u32;
/// Largest slot: the largest frame the wire allows, rounded up to pages.
pub const MAX_SLOT_BYTES: u32 = round_up_to_page(FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD) as u32;

const fn round_up_to_page(bytes: usize) -> usize {
    bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// Who owns a descriptor and its slot. 0 is reserved as invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DescriptorState {
    /// Empty: the ring's writer may fill it.
    Free = 1,
    /// Holds a frame: the ring's reader may take it.
    Ready = 2,
    /// The reader took the frame: the writer reclaims the slot.
    Done = 4,
}

impl DescriptorState {
    /// Parses a state byte; `None` for 0, 3 and unknown values.
    pub fn from_raw(raw: u8) -> Option<Self> {
        match raw {
            1 => Some(DescriptorState::Free),
            2 => Some(DescriptorState::Ready),
            4 => Some(DescriptorState::Done),
            _ => None,
        }
    }
}

impl fmt::Display for DescriptorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DescriptorState::Free => "FREE",
            DescriptorState::Ready => "READY",
            DescriptorState::Done => "DONE",
        })
    }
}

/// One descriptor as it lies in exported memory (big-endian, 32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Descriptor {
    /// [`DescriptorState`] as a byte.
    pub state: u8,
    /// Zero.
    pub reserved: [u8; 3],
    /// Frame bytes in the slot.
    pub length: U32,
    /// Frame number in this direction.
    pub sequence: U64,
    /// Cookie of the slot's first byte.
    pub cookie: U64,
    /// Bytes of the slot behind the cookie.
    pub cookie_size: U64,
}

impl Descriptor {
    /// A descriptor in `state` for frame `sequence` of `length` bytes in the
    /// slot at `cookie` of `cookie_size` bytes.
    pub fn new(
        state: DescriptorState,
        length: u32,
        sequence: u64,
        cookie: u64,
        cookie_size: u64,
    ) -> Self {
        Descriptor {
            state: state as u8,
            reserved: [0; 3],
            length: U32::new(length),
            sequence: U64::new(sequence),
            cookie: U64::new(cookie),
            cookie_size: U64::new(cookie_size),
        }
    }

    /// Reads a descriptor from 32 bytes (any alignment).
    pub fn read(bytes: &[u8; DESCRIPTOR_BYTES]) -> Self {
        let mut descriptor = Descriptor::new(DescriptorState::Free, 0, 0, 0, 0);
        descriptor.as_mut_bytes().copy_from_slice(bytes);
        descriptor
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_BYTES] {
        let mut bytes = [0u8; DESCRIPTOR_BYTES];
        bytes.copy_from_slice(self.as_bytes());
        bytes
    }

    /// The state, or `None` for a byte that names none.
    pub fn state(&self) -> Option<DescriptorState> {
        DescriptorState::from_raw(self.state)
    }

    /// Word 0 alone (state, reserved, length): what marks a hand-over.
    pub fn word0(state: DescriptorState, length: u32) -> [u8; DESCRIPTOR_WORD0_BYTES] {
        let mut word = [0u8; DESCRIPTOR_WORD0_BYTES];
        word[0] = state as u8;
        word[4..].copy_from_slice(&length.to_be_bytes());
        word
    }
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
        round_up_to_page(frame_bytes.clamp(1, FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD)) as u32
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
        (sequence % u64::from(self.entries)) as u32
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
    fn descriptor_layout_is_fixed() {
        assert_eq!(core::mem::size_of::<Descriptor>(), DESCRIPTOR_BYTES);
        assert_eq!(core::mem::align_of::<Descriptor>(), 1);
        assert_eq!(core::mem::offset_of!(Descriptor, state), 0);
        assert_eq!(core::mem::offset_of!(Descriptor, length), 4);
        assert_eq!(core::mem::offset_of!(Descriptor, sequence), 8);
        assert_eq!(core::mem::offset_of!(Descriptor, cookie), 16);
        assert_eq!(core::mem::offset_of!(Descriptor, cookie_size), 24);
        assert_eq!(DESCRIPTOR_WORD0_BYTES, 8);
        assert_eq!(MAX_RING_ENTRIES, 256);
        assert_eq!(MAX_SLOT_BYTES as usize, 1024 * 1024 + 8192);
    }

    #[test]
    fn descriptor_bytes_are_big_endian() {
        let descriptor = Descriptor::new(
            DescriptorState::Ready,
            0x0102_0304,
            0x1122_3344_5566_7788,
            0xa000,
            0x4_0000,
        );
        let bytes = descriptor.to_bytes();
        assert_eq!(&bytes[..8], &[2, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(&bytes[8..16], &0x1122_3344_5566_7788u64.to_be_bytes());
        assert_eq!(&bytes[16..24], &0xa000u64.to_be_bytes());
        assert_eq!(&bytes[24..], &0x4_0000u64.to_be_bytes());
        assert_eq!(Descriptor::read(&bytes), descriptor);
        assert_eq!(
            Descriptor::word0(DescriptorState::Ready, 0x0102_0304),
            [2, 0, 0, 0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn states_reserve_zero() {
        assert_eq!(DescriptorState::from_raw(0), None);
        assert_eq!(DescriptorState::from_raw(3), None);
        assert_eq!(DescriptorState::from_raw(0xff), None);
        for state in [
            DescriptorState::Free,
            DescriptorState::Ready,
            DescriptorState::Done,
        ] {
            assert_eq!(DescriptorState::from_raw(state as u8), Some(state));
        }
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
