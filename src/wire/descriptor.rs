//! The descriptor of the LDC bulk path's rings: one 32-byte big-endian
//! descriptor per frame slot, and its states.
//!
//! A ring of descriptors sits in exported memory; frame number `n` of a
//! direction always uses descriptor and slot `n % entries` (the ring's
//! shape is `ldc_transport::ring::RingGeometry`). The states are the sun4v
//! VIO descriptor states (Linux `arch/sparc/include/asm/vio.h`
//! `VIO_DESC_*`; `hv/REFERENCES.md`): FREE 1, READY 2, DONE 4; 0 is
//! invalid; VIO's ACCEPTED (3) is not used (a reader copies a frame out and
//! marks it DONE in one step).
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
use zerocopy::{FromBytes, IntoBytes};

use super::codec::{wire_enum, wire_struct, DecodeError, EnumField, Reserved, WireStruct};

/// Bytes of one [`Descriptor`].
pub const DESCRIPTOR_BYTES: usize = core::mem::size_of::<Descriptor>();
/// Bytes of the descriptor's first word (state, reserved, length).
pub const DESCRIPTOR_WORD0_BYTES: usize = 8;

wire_enum! {
    /// Who owns a descriptor and its slot. 0 is reserved as invalid.
    pub enum DescriptorState: u8 {
        /// Empty: the ring's writer may fill it.
        Free = 1,
        /// Holds a frame: the ring's reader may take it.
        Ready = 2,
        /// The reader took the frame: the writer reclaims the slot.
        Done = 4,
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

wire_struct! {
    /// One descriptor as it lies in exported memory (big-endian, 32 bytes).
    pub struct Descriptor {
        /// Who owns it.
        pub state: EnumField<DescriptorState>,
        /// Zero.
        pub reserved: Reserved<3>,
        /// Frame bytes in the slot.
        pub length: U32,
        /// Frame number in this direction.
        pub sequence: U64,
        /// Cookie of the slot's first byte.
        pub cookie: U64,
        /// Bytes of the slot behind the cookie.
        pub cookie_size: U64,
    }
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
            state: state.into(),
            reserved: Reserved::ZERO,
            length: U32::new(length),
            sequence: U64::new(sequence),
            cookie: U64::new(cookie),
            cookie_size: U64::new(cookie_size),
        }
    }

    /// The descriptor in 32 bytes (any alignment), checked in the codec's
    /// order: state (its kind), then the reserved bytes.
    pub fn decode(bytes: &[u8; DESCRIPTOR_BYTES]) -> Result<Self, DecodeError> {
        let descriptor =
            Descriptor::read_from_bytes(bytes).map_err(|_size| DecodeError::Length {
                what: "descriptor",
                expected: DESCRIPTOR_BYTES,
                actual: bytes.len(),
            })?;
        descriptor.state.checked("state")?;
        descriptor.check()?;
        Ok(descriptor)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_BYTES] {
        let mut bytes = [0u8; DESCRIPTOR_BYTES];
        bytes.copy_from_slice(self.as_bytes());
        bytes
    }

    /// The state (always one after [`Descriptor::decode`]).
    pub fn state(&self) -> Option<DescriptorState> {
        self.state.get()
    }

    /// Word 0 alone (state, reserved, length): what marks a hand-over.
    pub fn word0(state: DescriptorState, length: u32) -> [u8; DESCRIPTOR_WORD0_BYTES] {
        let mut word = [0u8; DESCRIPTOR_WORD0_BYTES];
        word.copy_from_slice(&Descriptor::new(state, length, 0, 0, 0).as_bytes()[..8]);
        word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_layout_is_fixed() {
        assert_eq!(core::mem::size_of::<Descriptor>(), 32);
        assert_eq!(DESCRIPTOR_BYTES, 32);
        assert_eq!(core::mem::align_of::<Descriptor>(), 1);
        assert_eq!(core::mem::offset_of!(Descriptor, state), 0);
        assert_eq!(core::mem::offset_of!(Descriptor, length), 4);
        assert_eq!(core::mem::offset_of!(Descriptor, sequence), 8);
        assert_eq!(core::mem::offset_of!(Descriptor, cookie), 16);
        assert_eq!(core::mem::offset_of!(Descriptor, cookie_size), 24);
        assert_eq!(DESCRIPTOR_WORD0_BYTES, 8);
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
        assert_eq!(Descriptor::decode(&bytes), Ok(descriptor));
        assert_eq!(
            Descriptor::word0(DescriptorState::Ready, 0x0102_0304),
            [2, 0, 0, 0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn states_reserve_zero_and_bad_descriptors_are_named() {
        assert_eq!(DescriptorState::from_raw(0), None);
        assert_eq!(DescriptorState::from_raw(3), None);
        assert_eq!(DescriptorState::from_raw(0xff), None);
        for state in DescriptorState::ALL {
            assert_eq!(DescriptorState::from_raw(state.raw()), Some(*state));
        }
        let mut bytes = Descriptor::new(DescriptorState::Free, 0, 0, 0, 0).to_bytes();
        bytes[1] = 1;
        assert_eq!(
            Descriptor::decode(&bytes),
            Err(DecodeError::ReservedNotZero { field: "reserved" })
        );
        bytes[0] = 3;
        assert_eq!(
            Descriptor::decode(&bytes),
            Err(DecodeError::InvalidEnum {
                field: "state",
                value: 3
            })
        );
    }
}
