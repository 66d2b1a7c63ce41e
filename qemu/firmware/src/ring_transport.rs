//! The link between the source and target engines inside the service
//! domain: two descriptor rings in memory, shaped like the LDC bulk path
//! (hv/API.md "Bulk path"): per direction a ring of descriptors (state
//! FREE 1 / READY 2, the sun4v VIO values; length; sequence) and a frame
//! slot per descriptor. The sender fills the slot at its tail and marks it
//! READY; the receiver copies the frame out and marks it FREE. A full ring
//! is "not now" for the sender (`Ok(false)`), as the `Transport` trait says.
//! One strand runs both engines, so `Cell`s are all the sharing needs.

use core::cell::{Cell, RefCell};
use ldmig::transport::{Transport, TransportError};

/// Frames in flight per direction.
pub const RING_ENTRIES: usize = 4;
/// Bytes of one frame slot: the largest frame either engine sends.
pub const SLOT_BYTES: usize = 64 * 1024;

/// A descriptor's state (0 is invalid, as every wire enum here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DescriptorState {
    Free = 1,
    Ready = 2,
}

#[derive(Clone, Copy, Debug)]
struct Descriptor {
    state: DescriptorState,
    length: usize,
    sequence: u64,
}

/// One direction: descriptors and their slots.
pub struct FrameRing {
    descriptors: [Cell<Descriptor>; RING_ENTRIES],
    slots: [RefCell<[u8; SLOT_BYTES]>; RING_ENTRIES],
    /// Next frame the sender writes.
    tail: Cell<u64>,
    /// Next frame the receiver reads.
    head: Cell<u64>,
    /// Frames that went through.
    frames: Cell<u64>,
    /// Bytes that went through.
    bytes: Cell<u64>,
}

impl Default for FrameRing {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameRing {
    /// An empty ring, every descriptor FREE.
    pub fn new() -> Self {
        FrameRing {
            descriptors: core::array::from_fn(|_| {
                Cell::new(Descriptor {
                    state: DescriptorState::Free,
                    length: 0,
                    sequence: 0,
                })
            }),
            slots: core::array::from_fn(|_| RefCell::new([0; SLOT_BYTES])),
            tail: Cell::new(0),
            head: Cell::new(0),
            frames: Cell::new(0),
            bytes: Cell::new(0),
        }
    }

    /// Frames and bytes that went through so far.
    pub fn carried(&self) -> (u64, u64) {
        (self.frames.get(), self.bytes.get())
    }

    fn push(&self, frame: &[u8]) -> Result<bool, TransportError> {
        if frame.len() > SLOT_BYTES {
            return Err(TransportError::FrameTooLarge {
                size: frame.len(),
                capacity: SLOT_BYTES,
            });
        }
        let sequence = self.tail.get();
        let index = sequence as usize % RING_ENTRIES;
        let descriptor = self.descriptors[index].get();
        if descriptor.state != DescriptorState::Free {
            return Ok(false);
        }
        self.slots[index].borrow_mut()[..frame.len()].copy_from_slice(frame);
        self.descriptors[index].set(Descriptor {
            state: DescriptorState::Ready,
            length: frame.len(),
            sequence,
        });
        self.tail.set(sequence + 1);
        Ok(true)
    }

    fn pop(&self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        let sequence = self.head.get();
        let index = sequence as usize % RING_ENTRIES;
        let descriptor = self.descriptors[index].get();
        if descriptor.state != DescriptorState::Ready || descriptor.sequence != sequence {
            return Ok(None);
        }
        let length = descriptor.length;
        let capacity = buffer.len();
        let target = buffer
            .get_mut(..length)
            .ok_or(TransportError::FrameTooLarge {
                size: length,
                capacity,
            })?;
        target.copy_from_slice(&self.slots[index].borrow()[..length]);
        self.descriptors[index].set(Descriptor {
            state: DescriptorState::Free,
            ..descriptor
        });
        self.head.set(sequence + 1);
        self.frames.set(self.frames.get() + 1);
        self.bytes.set(self.bytes.get() + length as u64);
        Ok(Some(length))
    }
}

/// One engine's end: sends on one ring, receives from the other.
pub struct RingEnd<'r> {
    outbound: &'r FrameRing,
    inbound: &'r FrameRing,
}

impl<'r> RingEnd<'r> {
    /// The end that sends on `outbound` and receives from `inbound`.
    pub fn new(outbound: &'r FrameRing, inbound: &'r FrameRing) -> Self {
        RingEnd { outbound, inbound }
    }
}

impl Transport for RingEnd<'_> {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        self.outbound.push(frame)
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        self.inbound.pop(buffer)
    }
}
