//! [`PagePipeline`]: the batches, the two fixed-size queues between the
//! state machine and the workers (queued, finished), the delta cache and
//! the measured rates; [`PagePipeline::work`] is the worker-side API.

use super::batch::{Batch, BatchBuffers, Job};
use super::cache::DeltaCache;
use super::rates::EncodeRates;
use super::{decode, encode};
use crate::wire::record::MAX_RECORD_BYTES;
use crate::wire::FRAME_HEADER_BYTES;
use core::fmt;

/// Batches a pipeline holds at most.
pub const MAX_BATCHES: usize = 16;
/// Pages one source batch carries at most.
pub const MAX_BATCH_PAGES: usize = 64;

/// A queue of batch indices, behind a spin lock (held for a push or a pop).
type IndexQueue = spin::Mutex<heapless::Deque<u8, MAX_BATCHES>>;

/// Why a pipeline could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineError {
    /// No batch, or more than [`MAX_BATCHES`].
    BatchCount(usize),
    /// A batch's frame buffer cannot hold a frame of one record.
    FrameTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// A batch without pages.
    NoPages,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::BatchCount(count) => {
                write!(f, "{count} batches (1 to {MAX_BATCHES} are possible)")
            }
            PipelineError::FrameTooSmall { needed, available } => {
                write!(f, "batch frame of {available} bytes, {needed} needed")
            }
            PipelineError::NoPages => f.write_str("a batch without pages"),
        }
    }
}

impl core::error::Error for PipelineError {}

/// The shared half of an engine's page work: what the state machine and
/// its workers both reach (it is `Sync`; both sides borrow it).
pub struct PagePipeline<'b> {
    batches: heapless::Vec<spin::Mutex<Batch<'b>>, MAX_BATCHES>,
    queued: IndexQueue,
    finished: IndexQueue,
    cache: Option<DeltaCache<'b>>,
    rates: EncodeRates,
}

impl<'b> PagePipeline<'b> {
    /// A pipeline over the caller's batch buffers (1 to [`MAX_BATCHES`];
    /// about twice as many as workers keeps them all busy) and, for a
    /// source that sends deltas, a delta cache.
    pub fn new(
        buffers: impl IntoIterator<Item = BatchBuffers<'b>>,
        cache: Option<DeltaCache<'b>>,
    ) -> Result<Self, PipelineError> {
        let mut batches = heapless::Vec::new();
        let mut count = 0;
        for buffer in buffers {
            count += 1;
            let needed = FRAME_HEADER_BYTES + MAX_RECORD_BYTES;
            if buffer.frame.len() < needed {
                return Err(PipelineError::FrameTooSmall {
                    needed,
                    available: buffer.frame.len(),
                });
            }
            if buffer.pages.is_empty() {
                return Err(PipelineError::NoPages);
            }
            if batches.push(spin::Mutex::new(Batch::new(buffer))).is_err() {
                return Err(PipelineError::BatchCount(count));
            }
        }
        if batches.is_empty() {
            return Err(PipelineError::BatchCount(0));
        }
        Ok(PagePipeline {
            batches,
            queued: spin::Mutex::new(heapless::Deque::new()),
            finished: spin::Mutex::new(heapless::Deque::new()),
            cache,
            rates: EncodeRates::new(),
        })
    }

    /// Worker side: takes one queued batch, does its job (encode or
    /// decode), hands it back; false when nothing was queued. `clock` is
    /// the worker's clock in nanoseconds (its readings only measure how
    /// long the work took, for the compression policy; a clock that does
    /// not move measures nothing).
    pub fn work(&self, clock: &dyn Fn() -> u64) -> bool {
        let Some(index) = self.queued.lock().pop_front() else {
            return false;
        };
        {
            let mut batch = self.batches[usize::from(index)].lock();
            match batch.job {
                Job::Encode => {
                    encode::encode_batch(&mut batch, self.cache.as_ref(), &self.rates, clock)
                }
                Job::Decode => decode::decode_batch(&mut batch),
                Job::Idle | Job::Finished => {}
            }
            batch.job = Job::Finished;
        }
        // Cannot overflow: a batch is in at most one queue.
        let _ = self.finished.lock().push_back(index);
        true
    }

    /// True while batches wait for a worker (a host may wake its workers).
    pub fn has_queued(&self) -> bool {
        !self.queued.lock().is_empty()
    }

    /// Batches in the pipeline.
    pub fn batch_count(&self) -> usize {
        self.batches.len()
    }

    /// The delta cache, if the pipeline has one.
    pub fn cache(&self) -> Option<&DeltaCache<'b>> {
        self.cache.as_ref()
    }

    /// What the workers measured.
    pub fn rates(&self) -> &EncodeRates {
        &self.rates
    }

    /// The smallest frame buffer of the batches.
    pub fn frame_capacity(&self) -> usize {
        self.batches
            .iter()
            .map(|batch| batch.lock().frame_capacity())
            .min()
            .unwrap_or(0)
    }

    /// The fewest pages of the batches (what a source batch carries).
    pub fn page_capacity(&self) -> usize {
        self.batches
            .iter()
            .map(|batch| batch.lock().page_capacity())
            .min()
            .unwrap_or(0)
    }

    /// State machine side: runs `use_batch` on batch `index` (a batch the
    /// state machine holds: idle or finished, in no queue).
    pub(crate) fn with_batch<R>(
        &self,
        index: usize,
        use_batch: impl FnOnce(&mut Batch<'b>) -> R,
    ) -> R {
        use_batch(&mut self.batches[index].lock())
    }

    /// State machine side: queues batch `index` for `job`.
    pub(crate) fn submit(&self, index: usize, job: Job) {
        self.batches[index].lock().job = job;
        // Cannot overflow: a batch is in at most one queue, and the
        // queues hold MAX_BATCHES.
        #[allow(clippy::cast_possible_truncation)] // below MAX_BATCHES (16)
        let index = index as u8;
        let _ = self.queued.lock().push_back(index);
    }

    /// State machine side: the next batch a worker finished.
    pub(crate) fn take_finished(&self) -> Option<usize> {
        self.finished.lock().pop_front().map(usize::from)
    }
}

impl fmt::Debug for PagePipeline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagePipeline")
            .field("batches", &self.batches.len())
            .field("cache_lines", &self.cache.as_ref().map(DeltaCache::lines))
            .finish()
    }
}
