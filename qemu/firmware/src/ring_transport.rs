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
/// Bytes of a frame slot from source to target: the largest frame the
/// source sends (its frame buffer is this big).
pub const SOURCE_SLOT_BYTES: usize = 64 * 1024;
/// Bytes of a frame slot from target to source: the target sends only
/// small control frames (acknowledgements, `Resumed`, a `Failure`).
pub const TARGET_SLOT_BYTES: usize = 4096;

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

/// One direction: descriptors and their slots of `SLOT` bytes.
pub struct FrameRing<const SLOT: usize> {
    descriptors: [Cell<Descriptor>; RING_ENTRIES],
    slots: [RefCell<[u8; SLOT]>; RING_ENTRIES],
    /// Next frame the sender writes.
    tail: Cell<u64>,
    /// Next frame the receiver reads.
    head: Cell<u64>,
}

impl<const SLOT: usize> Default for FrameRing<SLOT> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SLOT: usize> FrameRing<SLOT> {
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
            slots: core::array::from_fn(|_| RefCell::new([0; SLOT])),
            tail: Cell::new(0),
            head: Cell::new(0),
        }
    }

    fn push(&self, frame: &[u8]) -> Result<bool, TransportError> {
        if frame.len() > SLOT {
            return Err(TransportError::FrameTooLarge {
                size: frame.len(),
                capacity: SLOT,
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
        Ok(Some(length))
    }
}

/// One engine's end: sends on one ring (slots of `OUT` bytes), receives
/// from the other (slots of `IN` bytes).
pub struct RingEnd<'r, const OUT: usize, const IN: usize> {
    outbound: &'r FrameRing<OUT>,
    inbound: &'r FrameRing<IN>,
}

impl<'r, const OUT: usize, const IN: usize> RingEnd<'r, OUT, IN> {
    /// The end that sends on `outbound` and receives from `inbound`.
    pub fn new(outbound: &'r FrameRing<OUT>, inbound: &'r FrameRing<IN>) -> Self {
        RingEnd { outbound, inbound }
    }
}

impl<const OUT: usize, const IN: usize> Transport for RingEnd<'_, OUT, IN> {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        self.outbound.push(frame)
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        self.inbound.pop(buffer)
    }
}
