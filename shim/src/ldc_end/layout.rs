//! Where the shim's end of the bulk path lives in its own memory: the LDC
//! queues, one page of descriptors and the frame buffer `LDC_COPY` fills.
//!
//! ```text
//! shim memory (from base)
//!   transmit queue, receive queue   each aligned to its size
//!   descriptor buffer               one page (a whole ring of descriptors)
//!   frame buffer                    the largest slot it accepts
//! ```

use ldmig::ldc_transport::layout::{align_up, check_base, check_fits, LayoutError, LinkQueues};
use ldmig::ldc_transport::ring::MAX_RING_ENTRIES;
use ldmig::page::PAGE_SIZE;
use ldmig::wire::descriptor::DESCRIPTOR_BYTES;
use ldmig_hv::ldc::QueueConfig;

const PAGE: u64 = PAGE_SIZE as u64;

/// The shim's memory: queues and its two copy buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShimLayout {
    /// The link's transmit queue.
    pub transmit_queue: QueueConfig,
    /// The link's receive queue.
    pub receive_queue: QueueConfig,
    /// One page for descriptors copied in and out.
    pub descriptor_buffer_ra: u64,
    /// The frame buffer for `LDC_COPY`.
    pub frame_buffer_ra: u64,
    /// Its size: the largest slot the shim accepts.
    pub frame_buffer_bytes: u32,
}

impl ShimLayout {
    /// Places everything from `base` (8 KiB aligned) in `memory_bytes`,
    /// with a frame buffer for slots of up to `max_slot_bytes`.
    pub fn new(
        base: u64,
        memory_bytes: u64,
        queue_entries: u64,
        max_slot_bytes: u32,
    ) -> Result<Self, LayoutError> {
        check_base(base)?;
        let queues = LinkQueues::place(base, queue_entries)?;
        let descriptor_buffer_ra = align_up(queues.end, PAGE);
        let descriptor_bytes =
            align_up(u64::from(MAX_RING_ENTRIES) * DESCRIPTOR_BYTES as u64, PAGE);
        let frame_buffer_bytes = align_up(u64::from(max_slot_bytes).max(PAGE), PAGE);
        let frame_buffer_ra = descriptor_buffer_ra + descriptor_bytes;
        check_fits(base, frame_buffer_ra + frame_buffer_bytes, memory_bytes)?;
        Ok(ShimLayout {
            transmit_queue: queues.transmit,
            receive_queue: queues.receive,
            descriptor_buffer_ra,
            frame_buffer_ra,
            frame_buffer_bytes: frame_buffer_bytes as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = 0x8000_0000;

    #[test]
    fn shim_layout() {
        let layout = ShimLayout::new(BASE, 1 << 20, 128, 256 << 10).expect("fits");
        assert_eq!(layout.transmit_queue.ra, BASE);
        assert_eq!(layout.receive_queue.ra, BASE + 8192);
        assert_eq!(layout.descriptor_buffer_ra, BASE + 16384);
        assert_eq!(layout.frame_buffer_ra, BASE + 24576);
        assert_eq!(layout.frame_buffer_bytes, 256 << 10);
        assert!(matches!(
            ShimLayout::new(BASE, 1 << 20, 128, 1 << 20),
            Err(LayoutError::TooSmall { .. })
        ));
    }
}
