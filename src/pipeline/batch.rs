//! One unit of pipeline work: a batch of pages and the frame they go in
//! (source), or a received frame and the pages it decodes to (target).

use super::queue::MAX_BATCH_PAGES;
use crate::page::Page;
use crate::wire::record::EncodeChoice;
use crate::wire::{DecodeError, PageEncoding};

/// Records a target worker decodes in one batch at most; the state machine
/// decodes whatever a frame holds beyond that (or beyond the batch's
/// pages) itself.
pub const MAX_DECODED: usize = 256;

/// The buffers of one batch, lent by the caller.
#[derive(Debug)]
pub struct BatchBuffers<'b> {
    /// Pages: read from guest memory (source; up to
    /// [`MAX_BATCH_PAGES`] are used), or LZ4 records decoded into them
    /// (target).
    pub pages: &'b mut [Page],
    /// The frame: header and records (source: as large as the frames the
    /// source announces; target: as large as the largest frame accepted).
    pub frame: &'b mut [u8],
}

/// Which of a page's sends a batch carries: the policy measures and
/// chooses per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    /// Round 0 of a live migration, or the one pass of a bound domain: the
    /// target has never seen these pages.
    FirstCopy,
    /// A later round, or the final pages: the target holds a version sent
    /// before, so a delta against it is possible.
    Resend,
}

/// What a batch is for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Free or being filled by the state machine.
    Idle,
    /// Source: encode the pages into the frame's payload.
    Encode,
    /// Target: check the frame and decode its records.
    Decode,
    /// Done; the state machine takes the result.
    Finished,
}

/// Counts per encoding of what a batch's worker produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records per encoding, indexed by `PageEncoding::raw() - 1`.
    pub records: [u32; 4],
    /// Data bytes (after the record header) per encoding, same index.
    pub data_bytes: [u64; 4],
    /// Re-sent pages whose last version was not in the delta cache.
    pub cache_misses: u32,
    /// Non-zero pages asked as LZ4 (whether LZ4 shrank them or not) and
    /// their record bytes: the measured ratio.
    pub lz4_asked: (u64, u64),
    /// The same for the pages asked as LZ4 from the deeper search.
    pub deep_asked: (u64, u64),
    /// Of those, the pages that went as LZ4 blocks.
    pub deep_compressed: u32,
}

impl Tally {
    /// Counts one record.
    pub fn count(&mut self, encoding: PageEncoding, data_bytes: usize) {
        let index = usize::from(encoding.raw() - 1);
        self.records[index] += 1;
        self.data_bytes[index] += data_bytes as u64;
    }

    /// Records of `encoding`.
    pub fn of(&self, encoding: PageEncoding) -> (u64, u64) {
        let index = usize::from(encoding.raw() - 1);
        (u64::from(self.records[index]), self.data_bytes[index])
    }
}

/// A record a target worker checked, and where its page is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodedRecord {
    /// Real address of the page.
    pub ra: u64,
    /// Its encoding.
    pub encoding: PageEncoding,
    /// LZ4: the index of the batch page it was decoded into; raw: the
    /// offset of its data in the frame; delta: the offset of the record in
    /// the frame (the state machine applies it onto the page it holds);
    /// zero: 0.
    pub location: usize,
}

/// One batch: its buffers, its job and its results. Lives in a
/// [`super::PagePipeline`], locked by whoever works on it.
#[derive(Debug)]
pub struct Batch<'b> {
    pub(crate) pages: &'b mut [Page],
    pub(crate) frame: &'b mut [u8],
    pub(crate) job: Job,
    /// Source: pages filled, their RAs and how to carry each.
    pub(crate) count: usize,
    pub(crate) ras: [u64; MAX_BATCH_PAGES],
    pub(crate) choices: [EncodeChoice; MAX_BATCH_PAGES],
    pub(crate) kind: PageKind,
    /// Source: a delta is taken when it is shorter than this (0: no delta).
    pub(crate) delta_limit: usize,
    /// Source result: payload bytes after the frame header, and their CRC.
    pub(crate) payload_len: usize,
    pub(crate) payload_crc: crc32fast::Hasher,
    pub(crate) tally: Tally,
    /// Target: the frame's bytes, then what the worker decoded, and where
    /// in the payload the state machine goes on decoding by itself.
    pub(crate) frame_len: usize,
    pub(crate) decoded: heapless::Vec<DecodedRecord, MAX_DECODED>,
    pub(crate) resume_at: usize,
    pub(crate) error: Option<DecodeError>,
}

impl<'b> Batch<'b> {
    pub(crate) fn new(buffers: BatchBuffers<'b>) -> Self {
        Batch {
            pages: buffers.pages,
            frame: buffers.frame,
            job: Job::Idle,
            count: 0,
            ras: [0; MAX_BATCH_PAGES],
            choices: [EncodeChoice::Lz4; MAX_BATCH_PAGES],
            kind: PageKind::FirstCopy,
            delta_limit: 0,
            payload_len: 0,
            payload_crc: crc32fast::Hasher::new(),
            tally: Tally::default(),
            frame_len: 0,
            decoded: heapless::Vec::new(),
            resume_at: 0,
            error: None,
        }
    }

    /// Pages a source batch holds at most.
    pub fn page_capacity(&self) -> usize {
        self.pages.len().min(MAX_BATCH_PAGES)
    }

    /// The frame buffer's size.
    pub fn frame_capacity(&self) -> usize {
        self.frame.len()
    }

    /// Clears the results of the last job.
    pub(crate) fn reset(&mut self) {
        self.job = Job::Idle;
        self.count = 0;
        self.payload_len = 0;
        self.payload_crc = crc32fast::Hasher::new();
        self.tally = Tally::default();
        self.frame_len = 0;
        self.decoded.clear();
        self.resume_at = 0;
        self.error = None;
    }
}
