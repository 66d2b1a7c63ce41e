//! The parallel page pipeline: page encoding (zero check, delta, LZ4, CRC32)
//! on the source and page decoding (CRC32, LZ4) on the target, fanned out
//! over N workers through fixed-size queues, with no heap and no thread of
//! its own.
//!
//! ```text
//!  state machine (poll)                     workers (host threads, strands)
//!   fill a free batch: read its pages  -->  queued  --> PagePipeline::work:
//!   (source) / receive a frame (target)                 encode or decode it
//!   send its frame (source) / write    <--  finished <--
//!   its pages to guest memory (target)
//! ```
//!
//! The unit of work is a [`batch::Batch`]: up to a frame's worth of pages
//! and the frame they go in (source), or a received frame and the pages
//! its records decode to (target), in buffers the caller lends
//! ([`BatchBuffers`]). The state machine stays in charge of the rounds and
//! of every hypervisor call (it reads and writes guest memory, sends and
//! receives); workers only transform bytes. Batches finish in any order,
//! so the records of a round reach the target out of order, each with its
//! RA; a round's end is a barrier: the state machine sends `RoundEnd`
//! only once every batch of the round has left, and the target applies
//! every frame before it before reading on (see [`crate::wire::messages`]).
//!
//! With `MigrationConfig::workers == 0` the state machine runs the work
//! itself within `poll` (one strand, deterministic); otherwise the host
//! calls [`PagePipeline::work`] from that many threads or strands.

pub mod batch;
pub mod cache;
mod decode;
mod encode;
pub mod queue;
pub mod rates;

pub use batch::{Batch, BatchBuffers, DecodedRecord, Job, PageKind, Tally};
pub use cache::{CacheLine, DeltaCache, DELTA_CACHE_SHARDS};
pub use queue::{PagePipeline, PipelineError, MAX_BATCHES, MAX_BATCH_PAGES};
pub use rates::{EncodeRates, Method, RateSnapshot};
