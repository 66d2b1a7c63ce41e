//! The source side of a live migration: a sans-IO state machine.
//!
//! ```text
//!  Start --Hello--> AwaitHelloAck --accepted--> Precopy(round n) --all sent--> EndOfRound
//!                        | refused                   ^                           | decide
//!                        v                           +------ Continue/Throttle --+
//!                      Failed                                                    | Switchover
//!                                                                                v
//!  Done <-- AwaitResumed <--CommitAck-- AwaitCommitAck <--Commit-- VcpuStates <-- FinalPages
//!                                            | silence: source to error state   (suspended)
//!  Cancel (before Commit), GiveUp, Failure: Stopping --> source resumed --> Done
//! ```
//!
//! [`SourceEngine::poll`] does bounded work (`pages_per_poll` pages at most)
//! and never blocks: it tries the transport and returns. The caller passes
//! the time; the engine reads no clock, spawns nothing and allocates nothing.
//! Page encoding fans out over the workers of a [`PagePipeline`]: the state
//! machine reads a batch of dirty pages into a free batch and queues it;
//! a worker encodes it into a frame's payload (zero, delta, LZ4 or raw, as
//! the [`CompressionPolicy`] chose per page); the state machine seals and
//! sends the frames in the order they finish. A round's `RoundEnd` leaves
//! once every batch of the round has left (the barrier the target relies
//! on), so rounds stay whole and numbered, and the next round starts only
//! from the dirty log synced at that end.

use super::bandwidth::{BandwidthMeter, RateLimiter};
use super::compression::CompressionPolicy;
use super::config::MigrationConfig;
use super::dirty_set::{DirtySet, DirtySetError};
use super::outcome::{Failure, Outcome, SourceDomainState};
use super::policy::{ConvergencePolicy, RoundDecision, RoundSummary};
use super::rate::{per_second, saturating_u32};
use super::step_error::StepError;
use crate::page::PAGE_SIZE;
use crate::pipeline::{Job, PageKind, PagePipeline, MAX_BATCHES, MAX_BATCH_PAGES};
use crate::stats::{MigrationStats, MigrationStatus};
use crate::transport::{Transport, TransportError};
use crate::wire::codec::{BufferTooSmall, Reserved, Text, WireStruct};
use crate::wire::frame::{MAX_FRAME_PAYLOAD, OLDEST_WIRE_VERSION, WIRE_VERSION};
use crate::wire::messages::{
    write_frame, Commit, CommitAck, FrameBody, Hello, HelloAck, HelloFlags, HelloResult, RoundAck,
    RoundEnd, Stop, StopReason, Suspended, DOMAIN_NAME_BYTES, MAX_HELLO_BYTES,
};
use crate::wire::record::{MAX_RECORD_BYTES, RECORD_HEADER_BYTES};
use crate::wire::{seal_frame_with_crc, Frame, FrameType, PageEncoding, FRAME_HEADER_BYTES};
use core::fmt;
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::{DomainId, DomainRunState, Hypervisor, MemoryBlock};
use ldmig_hv::resources::MAX_MEMORY_BLOCKS;
use ldmig_hv::HvError;
use zerocopy::byteorder::big_endian::{U16, U32, U64};

/// Bytes of the control-frame buffer: the largest control frame is a
/// `Hello` with [`MAX_MEMORY_BLOCKS`] blocks or a `VcpuState`.
const CONTROL_BYTES: usize = 4096;
const _: () = assert!(
    FRAME_HEADER_BYTES + MAX_HELLO_BYTES <= CONTROL_BYTES
        && FRAME_HEADER_BYTES + VcpuState::BYTES <= CONTROL_BYTES
);
/// Phase changes one poll may go through.
const STEPS_PER_POLL: usize = 16;
/// Bytes of the inbound buffer: the target sends only small control frames.
const INBOX_BYTES: usize = 512;

/// Why a source engine could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceSetupError {
    /// A hypervisor call failed while reading the domain's shape.
    Hypervisor(HvError),
    /// The domain has no memory block or more than [`MAX_MEMORY_BLOCKS`].
    BlockCount(u64),
    /// The dirty bitmap given is too small.
    DirtySet(DirtySetError),
    /// The pipeline's batch frames cannot hold one record, or exceed the
    /// largest frame a target accepts.
    FrameBufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
}

impl core::fmt::Display for SourceSetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SourceSetupError::Hypervisor(error) => write!(f, "reading the domain failed: {error}"),
            SourceSetupError::BlockCount(count) => {
                write!(f, "a domain with {count} memory blocks cannot be migrated")
            }
            SourceSetupError::DirtySet(error) => write!(f, "dirty bitmap: {error:?}"),
            SourceSetupError::FrameBufferTooSmall { needed, available } => {
                write!(f, "frame buffer of {available} bytes, {needed} needed")
            }
        }
    }
}

impl core::error::Error for SourceSetupError {}

/// What a poll left the migration doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourcePoll {
    /// Still going; poll again.
    Running,
    /// Finished; the outcome does not change any more.
    Finished(Outcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Start,
    AwaitHelloAck,
    Precopy,
    RoundDone,
    Decided(RoundDecision),
    FinalPages,
    VcpuStates {
        next: u64,
    },
    SendCommit,
    AwaitCommitAck,
    AwaitResumed,
    /// Flushing a Cancel/Failure frame before finishing with the outcome.
    Stopping(Outcome),
    Done(Outcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outgoing {
    None,
    /// The frame of a batch: (batch, bytes).
    Batch(usize, usize),
    Control(usize),
}

/// Where each batch of the pipeline is, from the state machine's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchState {
    Free,
    /// Queued for or held by a worker.
    Working,
    /// Encoded; waits to be sent.
    Ready,
}

/// Buffers the caller lends the source engine (no heap inside).
#[derive(Debug)]
pub struct SourceBuffers<'b, 'p> {
    /// Dirty bitmap words: [`DirtySet::words_needed`] for the domain's blocks.
    pub bitmap: &'b mut [u64],
    /// The page pipeline (its batches hold the pages read and the frames
    /// they go in; the workers share it); a delta cache in it makes
    /// re-sent pages go as deltas.
    pub pipeline: &'b PagePipeline<'p>,
}

/// The options of a migration the target must know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainShape<'n> {
    /// Name the domain takes on the target.
    pub target_name: &'n str,
    /// True for an active domain (pre-copy while it runs).
    pub active: bool,
    /// Crypto units the domain has (removed at start when the guest
    /// supports it, re-added on the target).
    pub crypto_units: u64,
}

/// The source engine of one migration.
pub struct SourceEngine<'b, 'p, H: Hypervisor, T: Transport> {
    hv: H,
    transport: T,
    config: MigrationConfig,
    domain: DomainId,
    vcpus: u64,
    active: bool,
    crypto_units: u64,
    target_name: Text<DOMAIN_NAME_BYTES>,
    blocks: heapless::Vec<MemoryBlock, MAX_MEMORY_BLOCKS>,
    dirty: DirtySet<'b>,
    pipeline: &'b PagePipeline<'p>,
    batches: [BatchState; MAX_BATCHES],
    /// Encoded batches in the order they finished.
    ready: heapless::Deque<u8, MAX_BATCHES>,
    /// Batches queued for or held by workers.
    working: usize,
    /// Pages a batch carries.
    batch_pages: usize,
    /// The dirty set has no more pages for this round.
    round_exhausted: bool,
    /// Wire version the target accepted (delta records from 2 on).
    wire_version: u16,
    limiter: RateLimiter,
    compression: CompressionPolicy,
    control: [u8; CONTROL_BYTES],
    inbox: [u8; INBOX_BYTES],
    vcpu_state: VcpuState,
    phase: Phase,
    outgoing: Outgoing,
    sequence: u64,
    policy: ConvergencePolicy,
    meter: BandwidthMeter,
    stats: MigrationStats,
    started_at: Option<u64>,
    suspended_at: Option<u64>,
    waiting_since: u64,
    round_pages: u64,
    round_bytes: u64,
    round_started_at: u64,
    dirty_at_sync: u64,
    total_records: u64,
    final_records: u64,
    domain_marked: bool,
    crypto_removed: u64,
    logging: bool,
    suspended: bool,
    cancel_requested: bool,
    commit_sent: bool,
    rounds_acked: u32,
    /// Bytes sent up to each unacknowledged RoundEnd, by round % 64.
    round_end_bytes: [u64; 64],
    precopy_started_at: u64,
    delivered_rate: Option<u64>,
}

impl<'b, 'p, H: Hypervisor, T: Transport> SourceEngine<'b, 'p, H, T> {
    /// Prepares the migration of `domain`; nothing moves until [`Self::poll`].
    pub fn new(
        mut hv: H,
        transport: T,
        domain: DomainId,
        shape: DomainShape<'_>,
        config: MigrationConfig,
        buffers: SourceBuffers<'b, 'p>,
    ) -> Result<Self, SourceSetupError> {
        let info = hv
            .domain_info(domain)
            .map_err(SourceSetupError::Hypervisor)?;
        if info.memory_blocks == 0 || info.memory_blocks > MAX_MEMORY_BLOCKS as u64 {
            return Err(SourceSetupError::BlockCount(info.memory_blocks));
        }
        let mut blocks = heapless::Vec::new();
        for index in 0..info.memory_blocks {
            let block = hv
                .memory_block(domain, index)
                .map_err(SourceSetupError::Hypervisor)?;
            // Cannot fail: the count was checked against the capacity.
            let _ = blocks.push(block);
        }
        let pipeline = buffers.pipeline;
        let needed = FRAME_HEADER_BYTES + MAX_RECORD_BYTES;
        let frame_bytes = pipeline.frame_capacity();
        if frame_bytes < needed || frame_bytes > FRAME_HEADER_BYTES + MAX_FRAME_PAYLOAD {
            return Err(SourceSetupError::FrameBufferTooSmall {
                needed,
                available: frame_bytes,
            });
        }
        let limiter = RateLimiter::new(config.max_bandwidth);
        // As many pages as the batch frames hold in the worst case, and
        // under a cap no more than 1 % of a second's worth per frame.
        let frame_room = limiter
            .frame_bytes(needed)
            .map_or(frame_bytes, |room| room.min(frame_bytes));
        let batch_pages = ((frame_room - FRAME_HEADER_BYTES) / MAX_RECORD_BYTES)
            .clamp(1, MAX_BATCH_PAGES)
            .min(pipeline.page_capacity());
        let dirty = DirtySet::new(&blocks, buffers.bitmap).map_err(SourceSetupError::DirtySet)?;
        let mut stats = MigrationStats::new();
        stats.total = dirty.total_pages() * PAGE_SIZE as u64;
        let target_name = Text::new(shape.target_name);
        Ok(SourceEngine {
            hv,
            transport,
            config,
            domain,
            vcpus: info.vcpus,
            active: shape.active,
            crypto_units: shape.crypto_units,
            target_name,
            blocks,
            dirty,
            pipeline,
            batches: [BatchState::Free; MAX_BATCHES],
            ready: heapless::Deque::new(),
            working: 0,
            batch_pages,
            round_exhausted: false,
            wire_version: OLDEST_WIRE_VERSION,
            limiter,
            compression: CompressionPolicy::new(
                config.workers,
                config.bandwidth_window_ns,
                config.max_bandwidth > 0,
            ),
            control: [0; CONTROL_BYTES],
            inbox: [0; INBOX_BYTES],
            vcpu_state: VcpuState::zeroed(),
            phase: Phase::Start,
            outgoing: Outgoing::None,
            sequence: 0,
            policy: ConvergencePolicy::new(config),
            meter: BandwidthMeter::new(config.bandwidth_window_ns),
            stats,
            started_at: None,
            suspended_at: None,
            waiting_since: 0,
            round_pages: 0,
            round_bytes: 0,
            round_started_at: 0,
            dirty_at_sync: 0,
            total_records: 0,
            final_records: 0,
            domain_marked: false,
            crypto_removed: 0,
            logging: false,
            suspended: false,
            cancel_requested: false,
            commit_sent: false,
            rounds_acked: 0,
            round_end_bytes: [0; 64],
            precopy_started_at: 0,
            delivered_rate: None,
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> &MigrationStats {
        &self.stats
    }

    /// Asks for a cancel; honoured on the next poll if the commit has not
    /// been sent yet. Returns false when it is too late to cancel.
    pub fn cancel(&mut self) -> bool {
        // Everything before the Commit leaves can be undone; from then on
        // the target may already own the domain.
        let cancellable = !matches!(
            self.phase,
            Phase::AwaitCommitAck | Phase::AwaitResumed | Phase::Stopping(_) | Phase::Done(_)
        );
        if cancellable {
            self.cancel_requested = true;
        }
        cancellable
    }

    /// When the domain was suspended (the caller's clock), once it was.
    pub fn suspended_at(&self) -> Option<u64> {
        self.suspended_at
    }

    /// The hypervisor handle (for the caller's own bookkeeping).
    pub fn hypervisor(&mut self) -> &mut H {
        &mut self.hv
    }

    /// The outcome once finished.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.phase {
            Phase::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Does a bounded amount of work at time `now_ns`.
    pub fn poll(&mut self, now_ns: u64) -> SourcePoll {
        if let Phase::Done(outcome) = self.phase {
            return SourcePoll::Finished(outcome);
        }
        let started = *self.started_at.get_or_insert(now_ns);
        self.stats.total_time_ns = now_ns.saturating_sub(started);
        self.meter.tick(now_ns);
        self.compression
            .tick(now_ns, self.pipeline.rates().snapshot());
        if let Some(bandwidth) = self.bandwidth() {
            self.stats.bandwidth = bandwidth;
        }
        // Control phases (vCPU states, commit) move on within one poll as
        // long as the transport takes their frames: fewer polls, less
        // downtime. Bulk page work stays bounded by `pages_per_poll`.
        for _ in 0..STEPS_PER_POLL {
            let before = self.phase;
            if let Err(error) = self.step(now_ns) {
                self.fail(now_ns, error);
                break;
            }
            if self.phase == before || matches!(self.phase, Phase::Done(_)) {
                break;
            }
        }
        self.update_progress();
        match self.phase {
            Phase::Done(outcome) => SourcePoll::Finished(outcome),
            _ => SourcePoll::Running,
        }
    }

    fn step(&mut self, now_ns: u64) -> Result<(), StepError> {
        if !self.flush(now_ns)? {
            self.read_inbox(now_ns)?;
            return self.check_timeout(now_ns);
        }
        self.waiting_since = match self.phase {
            Phase::AwaitHelloAck
            | Phase::AwaitCommitAck
            | Phase::AwaitResumed
            | Phase::RoundDone
            | Phase::Decided(RoundDecision::Switchover) => self.waiting_since,
            _ => now_ns,
        };
        self.read_inbox(now_ns)?;
        if let Phase::Stopping(outcome) = self.phase {
            self.finish(outcome);
            return Ok(());
        }
        if self.cancel_requested && !matches!(self.phase, Phase::Done(_)) {
            self.cancel_requested = false;
            let reason = StopReason::Cancelled;
            self.stop_with(now_ns, reason, &reason.describe(), Outcome::Cancelled, true);
            return Ok(());
        }
        match self.phase {
            Phase::Start => self.send_hello(now_ns),
            Phase::AwaitHelloAck | Phase::AwaitCommitAck | Phase::AwaitResumed => {
                self.check_timeout(now_ns)
            }
            Phase::Precopy | Phase::FinalPages => self.send_pages(now_ns),
            Phase::RoundDone => self.end_round(now_ns),
            Phase::Decided(decision) => self.apply_decision(now_ns, decision),
            Phase::VcpuStates { next } => self.send_vcpu_state(now_ns, next),
            Phase::SendCommit => self.send_commit(now_ns),
            Phase::Stopping(_) | Phase::Done(_) => Ok(()),
        }
    }

    // ---- sending -------------------------------------------------------

    /// Sends the pending frame if any; true when nothing is pending any more.
    fn flush(&mut self, now_ns: u64) -> Result<bool, StepError> {
        let sent = match self.outgoing {
            Outgoing::None => return Ok(true),
            Outgoing::Batch(index, size) => {
                let transport = &mut self.transport;
                self.pipeline
                    .with_batch(index, |batch| transport.send(&batch.frame[..size]))
            }
            Outgoing::Control(size) => self.transport.send(&self.control[..size]),
        };
        if !sent.map_err(StepError::Transport)? {
            return Ok(false);
        }
        let size = match self.outgoing {
            Outgoing::Batch(index, size) => {
                self.batches[index] = BatchState::Free;
                size
            }
            Outgoing::Control(size) => size,
            Outgoing::None => 0,
        };
        self.outgoing = Outgoing::None;
        self.limiter.take(now_ns, size as u64);
        self.compression.note_sent(size as u64);
        if self.phase == Phase::AwaitCommitAck {
            self.commit_sent = true;
        }
        self.meter.record(now_ns, size as u64);
        self.stats.transferred += size as u64;
        self.round_bytes += size as u64;
        if self.suspended {
            self.stats.downtime_bytes += size as u64;
        } else {
            self.stats.precopy_bytes += size as u64;
        }
        Ok(true)
    }

    /// Queues the frame `write` puts in the control buffer; returns its size.
    fn queue_control(
        &mut self,
        write: impl FnOnce(&mut [u8], u64) -> Result<usize, BufferTooSmall>,
    ) -> Result<usize, StepError> {
        let size = write(&mut self.control, self.sequence).map_err(StepError::Encode)?;
        self.sequence += 1;
        self.outgoing = Outgoing::Control(size);
        Ok(size)
    }

    fn queue_message<B: FrameBody>(&mut self, body: &B) -> Result<usize, StepError> {
        self.queue_control(|buffer, sequence| write_frame(buffer, sequence, body))
    }

    /// Takes the batches workers finished: their counts go to the
    /// statistics and the policy, their frames wait to be sent.
    fn collect_finished(&mut self) {
        while let Some(index) = self.pipeline.take_finished() {
            let (kind, tally) = self
                .pipeline
                .with_batch(index, |batch| (batch.kind, batch.tally));
            for encoding in PageEncoding::ALL {
                let (records, bytes) = tally.of(*encoding);
                if records > 0 {
                    self.stats.count_records(*encoding, records, bytes);
                }
            }
            self.stats.delta_cache_misses += u64::from(tally.cache_misses);
            self.stats.deep_compressed_pages += u64::from(tally.deep_compressed);
            self.compression
                .note_batch(kind, tally.lz4_asked, tally.deep_asked);
            self.batches[index] = BatchState::Ready;
            self.working -= 1;
            // Cannot overflow: one entry per batch at most.
            #[allow(clippy::cast_possible_truncation)] // below MAX_BATCHES (16)
            let index = index as u8;
            let _ = self.ready.push_back(index);
        }
    }

    /// Seals the next ready batch's frame and tries to send it, when the
    /// cap allows; true when nothing is left pending.
    fn send_ready(&mut self, now_ns: u64) -> Result<bool, StepError> {
        if self.outgoing != Outgoing::None {
            return self.flush(now_ns);
        }
        let Some(&index) = self.ready.front() else {
            return Ok(true);
        };
        if !self.limiter.allows(now_ns) {
            return Ok(false);
        }
        self.ready.pop_front();
        let index = usize::from(index);
        let sequence = self.sequence;
        let size = self.pipeline.with_batch(index, |batch| {
            let payload_len = batch.payload_len;
            seal_frame_with_crc(
                batch.frame,
                FrameType::Pages,
                sequence,
                payload_len,
                &batch.payload_crc,
            )
        });
        self.sequence += 1;
        self.outgoing = Outgoing::Batch(index, size);
        self.flush(now_ns)
    }

    /// Reads dirty pages into free batches and queues them for the
    /// workers, `budget` pages at most.
    fn fill_batches(&mut self, budget: &mut usize) -> Result<(), StepError> {
        let kind = if self.stats.rounds == 0 && !self.suspended {
            PageKind::FirstCopy
        } else {
            PageKind::Resend
        };
        let delta_limit = if self.wire_version >= 2 {
            self.compression.delta_limit()
        } else {
            0
        };
        while *budget > 0 && !self.round_exhausted {
            let Some(index) = self
                .batches
                .iter()
                .take(self.pipeline.batch_count())
                .position(|state| *state == BatchState::Free)
            else {
                return Ok(());
            };
            let (hv, dirty, compression) = (&mut self.hv, &mut self.dirty, &mut self.compression);
            let (domain, limit) = (self.domain, self.batch_pages);
            let mut exhausted = false;
            let count = self.pipeline.with_batch(index, |batch| {
                batch.reset();
                batch.kind = kind;
                batch.delta_limit = delta_limit;
                let mut count = 0;
                while count < limit && *budget > 0 {
                    let Some(ra) = dirty.next_dirty() else {
                        exhausted = true;
                        break;
                    };
                    hv.read_memory(domain, ra, &mut batch.pages[count])
                        .map_err(StepError::Hypervisor)?;
                    batch.ras[count] = ra;
                    batch.choices[count] = compression.choose(kind);
                    count += 1;
                    *budget -= 1;
                }
                batch.count = count;
                Ok(count)
            })?;
            self.round_exhausted = exhausted;
            if exhausted {
                self.compression.note_starved();
            }
            if count == 0 {
                return Ok(());
            }
            self.pipeline.submit(index, Job::Encode);
            self.batches[index] = BatchState::Working;
            self.working += 1;
            let count = count as u64;
            self.round_pages += count;
            self.total_records += count;
            if self.suspended {
                self.final_records += count;
            }
        }
        Ok(())
    }

    fn send_hello(&mut self, now_ns: u64) -> Result<(), StepError> {
        let flags = if self.active {
            HelloFlags::ACTIVE | HelloFlags::BOUND
        } else {
            HelloFlags::BOUND
        };
        let hello = Hello {
            wire_version: U16::new(WIRE_VERSION),
            flags: flags.into(),
            vcpus: U32::new(saturating_u32(self.vcpus)),
            block_count: U32::new(saturating_u32(self.blocks.len())),
            crypto_units: U32::new(saturating_u32(self.crypto_units)),
            total_pages: U64::new(self.dirty.total_pages()),
            frame_bytes: U32::new(saturating_u32(self.pipeline.frame_capacity())),
            reserved: Reserved::ZERO,
            name: self.target_name,
        };
        let blocks = self.blocks.clone();
        self.queue_control(|buffer, sequence| hello.write_frame(buffer, sequence, &blocks))?;
        self.phase = Phase::AwaitHelloAck;
        self.waiting_since = now_ns;
        Ok(())
    }

    fn begin_precopy(&mut self, now_ns: u64) -> Result<(), StepError> {
        self.stats.setup_time_ns = now_ns.saturating_sub(self.started_at.unwrap_or(now_ns));
        self.hv
            .set_domain_state(self.domain, DomainRunState::Migrating)
            .map_err(StepError::Hypervisor)?;
        self.domain_marked = true;
        if self.crypto_units > 0 {
            // Removing crypto units is the guest's DR; when it fails the
            // units stay with the domain and the migration goes on.
            self.crypto_removed = self.hv.remove_crypto_units(self.domain).unwrap_or(0);
        }
        if self.active {
            self.dirty
                .start_logging(&mut self.hv, self.domain)
                .map_err(StepError::Hypervisor)?;
            self.logging = true;
            self.sync(now_ns)?;
            self.stats.status = MigrationStatus::Active;
            self.start_round(now_ns);
            self.phase = Phase::Precopy;
        } else {
            // A bound domain: no vCPU runs, so nothing dirties memory. One
            // pass copies every page, without dirty logging or rounds; no
            // vCPU state goes (its vCPUs are stopped).
            self.dirty.mark_all();
            self.dirty_at_sync = self.dirty.total_pages();
            self.stats.status = MigrationStatus::Switchover;
            self.start_round(now_ns);
            self.phase = Phase::FinalPages;
        }
        Ok(())
    }

    fn sync(&mut self, now_ns: u64) -> Result<u64, StepError> {
        let dirty = self
            .dirty
            .sync(&mut self.hv, self.domain)
            .map_err(StepError::Hypervisor)?;
        self.stats.dirty_sync_count += 1;
        self.dirty_at_sync = dirty;
        self.stats.dirty_pages_at_sync = dirty;
        self.stats.remaining = dirty * PAGE_SIZE as u64;
        let elapsed = now_ns.saturating_sub(self.round_started_at).max(1);
        if self.stats.dirty_sync_count > 1 {
            self.stats.dirty_pages_rate = per_second(dirty, elapsed);
        }
        Ok(dirty)
    }

    fn start_round(&mut self, now_ns: u64) {
        self.dirty.rewind();
        self.round_exhausted = false;
        self.round_pages = 0;
        self.round_bytes = 0;
        self.round_started_at = now_ns;
    }

    fn send_pages(&mut self, now_ns: u64) -> Result<(), StepError> {
        let mut budget = self.config.pages_per_poll.max(1) as usize;
        loop {
            self.collect_finished();
            while !self.ready.is_empty() || self.outgoing != Outgoing::None {
                if !self.send_ready(now_ns)? {
                    break;
                }
            }
            self.fill_batches(&mut budget)?;
            // No workers: the state machine encodes what it queued.
            if self.config.workers > 0 || !self.pipeline.work(&|| now_ns) {
                break;
            }
            while self.pipeline.work(&|| now_ns) {}
        }
        self.collect_finished();
        let nothing_to_send = self.ready.is_empty() && self.outgoing == Outgoing::None;
        if nothing_to_send && self.working > 0 && self.limiter.allows(now_ns) {
            self.compression.note_workers_behind();
        }
        let idle = self.working == 0 && nothing_to_send;
        if self.round_exhausted && idle {
            self.phase = match self.phase {
                Phase::FinalPages => Phase::VcpuStates { next: 0 },
                _ => Phase::RoundDone,
            };
        }
        Ok(())
    }

    fn end_round(&mut self, now_ns: u64) -> Result<(), StepError> {
        if self.rounds_acked < self.stats.rounds {
            // At most one round in flight: its acknowledgement measures the
            // link, and tiny rounds cannot spin ahead of the data.
            self.compression.note_starved();
            return self.check_timeout(now_ns);
        }
        let dirty = self.sync(now_ns)?;
        let round = self.stats.rounds;
        self.stats.rounds += 1;
        let end = RoundEnd {
            round: U32::new(round),
            reserved: Reserved::ZERO,
            pages: U64::new(self.round_pages),
            dirty_pages: U64::new(dirty),
        };
        let end_size = self.queue_message(&end)?;
        self.round_end_bytes[round as usize % 64] = self.stats.transferred + end_size as u64;
        let summary = RoundSummary {
            round,
            dirty_pages: dirty,
            pages_sent: self.round_pages,
            bytes_sent: self.round_bytes,
            bandwidth: self.bandwidth(),
            wire_bytes_per_page: self.wire_bytes_per_page(),
            elapsed_ns: self.stats.total_time_ns,
        };
        self.stats.expected_downtime_ns = summary.expected_downtime_ns().unwrap_or(0);
        let decision = self.policy.decide(&summary);
        log::debug!(
            "round {round}: {} pages sent, {dirty} dirty, {} bytes/s: {decision:?}",
            self.round_pages,
            summary.bandwidth.unwrap_or(0)
        );
        self.phase = Phase::Decided(decision);
        Ok(())
    }

    fn apply_decision(&mut self, now_ns: u64, decision: RoundDecision) -> Result<(), StepError> {
        match decision {
            RoundDecision::Continue => {
                self.start_round(now_ns);
                self.phase = Phase::Precopy;
            }
            RoundDecision::Throttle(percent) => {
                self.hv
                    .throttle(self.domain, percent)
                    .map_err(StepError::Hypervisor)?;
                self.stats.cpu_throttle_percentage = percent;
                log::info!("domain {}: vCPUs throttled to {percent} %", self.domain);
                self.start_round(now_ns);
                self.phase = Phase::Precopy;
            }
            RoundDecision::Switchover if self.rounds_acked < self.stats.rounds => {
                // Frames of the last round are still in flight: suspending
                // now would add their transfer to the downtime. Wait; the
                // domain runs meanwhile and the final sync catches up.
                return self.check_timeout(now_ns);
            }
            RoundDecision::Switchover => {
                self.hv
                    .suspend(self.domain)
                    .map_err(StepError::Hypervisor)?;
                self.suspended = true;
                self.suspended_at = Some(now_ns);
                self.stats.status = MigrationStatus::Switchover;
                let dirty = self.sync(now_ns)?;
                log::info!(
                    "domain {} suspended after {} rounds: {dirty} dirty pages left",
                    self.domain,
                    self.stats.rounds
                );
                self.start_round(now_ns);
                let marker = Suspended {
                    dirty_pages: U64::new(dirty),
                };
                self.queue_message(&marker)?;
                self.phase = Phase::FinalPages;
            }
            RoundDecision::GiveUp(reason) => {
                self.stop_with(
                    now_ns,
                    StopReason::DidNotConverge,
                    &reason,
                    Outcome::GaveUp(reason),
                    true,
                );
            }
        }
        Ok(())
    }

    /// The link's rate: the meter's windows once one closed, else what the
    /// target acknowledged having received since pre-copy began.
    fn bandwidth(&self) -> Option<u64> {
        self.meter.bytes_per_second().or(self.delivered_rate)
    }

    fn wire_bytes_per_page(&self) -> u64 {
        let header = RECORD_HEADER_BYTES as u64;
        let records = self.stats.page_records.max(1);
        let bytes = self.stats.normal_wire_bytes + self.stats.page_records * header;
        (bytes / records).max(header)
    }

    fn send_vcpu_state(&mut self, now_ns: u64, next: u64) -> Result<(), StepError> {
        if !self.active || next >= self.vcpus {
            self.phase = Phase::SendCommit;
            return self.send_commit(now_ns);
        }
        self.hv
            .vcpu_state(self.domain, next, &mut self.vcpu_state)
            .map_err(StepError::Hypervisor)?;
        let state = self.vcpu_state;
        self.queue_message(&state)?;
        self.phase = Phase::VcpuStates { next: next + 1 };
        Ok(())
    }

    fn send_commit(&mut self, now_ns: u64) -> Result<(), StepError> {
        let vcpus_sent = if self.active { self.vcpus } else { 0 };
        let commit = Commit {
            total_records: U64::new(self.total_records),
            final_records: U64::new(self.final_records),
            vcpus: U32::new(saturating_u32(vcpus_sent)),
            crypto_units: U32::new(saturating_u32(self.crypto_units)),
        };
        self.queue_message(&commit)?;
        self.stats.status = MigrationStatus::Committing;
        self.phase = Phase::AwaitCommitAck;
        self.waiting_since = now_ns;
        Ok(())
    }

    // ---- receiving -----------------------------------------------------

    fn read_inbox(&mut self, now_ns: u64) -> Result<(), StepError> {
        for _ in 0..8 {
            let size = match self
                .transport
                .receive(&mut self.inbox)
                .map_err(StepError::Transport)?
            {
                None => return Ok(()),
                Some(size) => size,
            };
            let mut copy = [0u8; INBOX_BYTES];
            let length = size.min(INBOX_BYTES);
            copy[..length].copy_from_slice(&self.inbox[..length]);
            let (frame, _) = Frame::decode(&copy[..length]).map_err(StepError::Malformed)?;
            self.handle_frame(now_ns, frame.frame_type, frame.payload)?;
            if matches!(self.phase, Phase::Done(_)) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn handle_frame(
        &mut self,
        now_ns: u64,
        frame_type: FrameType,
        payload: &[u8],
    ) -> Result<(), StepError> {
        match (frame_type, self.phase) {
            (FrameType::HelloAck, Phase::AwaitHelloAck) => {
                let ack = HelloAck::decode(payload).map_err(StepError::Malformed)?;
                if ack.result == HelloResult::Accepted {
                    let version = ack.wire_version.get();
                    if !(OLDEST_WIRE_VERSION..=WIRE_VERSION).contains(&version) {
                        return Err(StepError::Protocol(
                            "the target accepted a version never proposed",
                        ));
                    }
                    self.wire_version = version;
                    return self.begin_precopy(now_ns);
                }
                let reason = ack.stop_reason().unwrap_or(StopReason::ReservationFailed);
                let failure = Failure {
                    reason,
                    hv_status: ack.hv_status.get(),
                    ra: ack.ra.get(),
                    size: ack.size.get(),
                    source_domain: SourceDomainState::Running,
                };
                self.stop_with(
                    now_ns,
                    reason,
                    &reason.describe(),
                    Outcome::Failed(failure),
                    false,
                );
                Ok(())
            }
            (FrameType::Cancel | FrameType::Failure, phase)
                if !matches!(phase, Phase::AwaitResumed | Phase::Done(_)) =>
            {
                let stop = Stop::decode(payload).map_err(StepError::Malformed)?;
                let reason = stop.stop_reason().unwrap_or(StopReason::ProtocolViolation);
                // The target refused or gave up before acknowledging the
                // commit: it will never run the domain, so the source resumes.
                let outcome = if frame_type == FrameType::Cancel {
                    Outcome::Cancelled
                } else {
                    let mut failure = Failure::new(reason, SourceDomainState::Running);
                    failure.hv_status = u64::from(stop.detail.get());
                    Outcome::Failed(failure)
                };
                self.stop_with(now_ns, reason, &reason.describe(), outcome, false);
                Ok(())
            }
            (FrameType::CommitAck, Phase::AwaitCommitAck) => {
                CommitAck::decode(payload).map_err(StepError::Malformed)?;
                if self.logging {
                    let _ = self.dirty.stop_logging(&mut self.hv, self.domain);
                    self.logging = false;
                }
                // The target owns the domain now: tear the source down.
                self.hv
                    .destroy_domain(self.domain)
                    .map_err(StepError::Hypervisor)?;
                self.phase = Phase::AwaitResumed;
                self.waiting_since = now_ns;
                Ok(())
            }
            (FrameType::Resumed, Phase::AwaitResumed) => {
                self.stats.downtime_ns = now_ns.saturating_sub(self.suspended_at.unwrap_or(now_ns));
                self.finish(Outcome::Completed);
                Ok(())
            }
            (FrameType::RoundAck, _) => {
                let ack = RoundAck::decode(payload).map_err(StepError::Malformed)?;
                let round = ack.round.get();
                if round != self.rounds_acked || round >= self.stats.rounds {
                    return Err(StepError::RoundAck(round));
                }
                let delivered = self.round_end_bytes[round as usize % 64];
                let elapsed = now_ns.saturating_sub(self.precopy_started_at).max(1);
                self.delivered_rate = Some(per_second(delivered, elapsed));
                self.rounds_acked += 1;
                Ok(())
            }
            (FrameType::Ping, _) => Ok(()),
            (unexpected, _) => Err(StepError::Unexpected(unexpected)),
        }
    }

    fn check_timeout(&mut self, now_ns: u64) -> Result<(), StepError> {
        if now_ns.saturating_sub(self.waiting_since) <= self.config.response_timeout_ns {
            return Ok(());
        }
        match self.phase {
            Phase::AwaitResumed => {
                // The target acknowledged; only its Resumed note is missing.
                self.stats.downtime_ns = now_ns.saturating_sub(self.suspended_at.unwrap_or(now_ns));
                self.finish(Outcome::Completed);
                Ok(())
            }
            Phase::Stopping(outcome) => {
                self.finish(outcome);
                Ok(())
            }
            _ => Err(StepError::Transport(TransportError::Disconnected)),
        }
    }

    // ---- stopping ------------------------------------------------------

    /// Puts the source domain back as it was: resumed, unthrottled, not
    /// logging, normal state, crypto units back. Tries every step.
    fn restore_source(&mut self) {
        if self.suspended {
            let _ = self.hv.resume(self.domain);
            self.suspended = false;
        }
        if self.stats.cpu_throttle_percentage > 0 {
            let _ = self.hv.throttle(self.domain, 0);
            self.stats.cpu_throttle_percentage = 0;
        }
        if self.logging {
            let _ = self.dirty.stop_logging(&mut self.hv, self.domain);
            self.logging = false;
        }
        if self.crypto_removed > 0 {
            let _ = self.hv.add_crypto_units(self.domain, self.crypto_removed);
            self.crypto_removed = 0;
        }
        if self.domain_marked {
            let _ = self
                .hv
                .set_domain_state(self.domain, DomainRunState::Normal);
            self.domain_marked = false;
        }
    }

    /// Stops with `outcome`; tells the peer `reason` (and `text`, for its
    /// administrator) when `notify_peer`.
    fn stop_with(
        &mut self,
        now_ns: u64,
        reason: StopReason,
        text: &dyn fmt::Display,
        outcome: Outcome,
        notify_peer: bool,
    ) {
        self.restore_source();
        // A page frame not yet sent is dropped: the peer will discard the
        // reservation anyway.
        self.outgoing = Outgoing::None;
        if notify_peer {
            let stop = Stop::describing(reason, outcome.stop_detail(), text);
            // The control buffer holds any Stop (checked at compile time).
            if self.queue_message(&stop).is_err() {
                self.finish(outcome);
                return;
            }
            self.waiting_since = now_ns;
            self.phase = Phase::Stopping(outcome);
            if matches!(self.flush(now_ns), Ok(true) | Err(_)) {
                self.finish(outcome);
            }
        } else {
            self.finish(outcome);
        }
    }

    fn fail(&mut self, now_ns: u64, error: StepError) {
        match (error, self.phase) {
            (_, Phase::Done(_)) => {}
            (_, Phase::AwaitResumed) => {
                // The target acknowledged the commit and the source copy is
                // gone: whatever goes wrong with the "resumed" note, the
                // domain runs there. Never "restore" a destroyed domain.
                self.stats.downtime_ns = now_ns.saturating_sub(self.suspended_at.unwrap_or(now_ns));
                self.finish(Outcome::Completed);
            }
            (_, Phase::AwaitCommitAck) if !self.commit_sent => {
                // The Commit never left: the target cannot run the domain.
                self.restore_source();
                self.finish(Outcome::Failed(Failure::new(
                    StopReason::Timeout,
                    SourceDomainState::Running,
                )));
            }
            (_, Phase::AwaitCommitAck) => {
                // The final state left; the target may be running the domain.
                // Never let it run twice: keep it stopped, in the error state.
                let _ = self.hv.set_domain_state(self.domain, DomainRunState::Error);
                self.finish(Outcome::Failed(Failure::new(
                    error.stop_reason(),
                    SourceDomainState::ErrorState,
                )));
            }
            (StepError::Transport(_), Phase::Stopping(outcome)) => self.finish(outcome),
            (StepError::Transport(_), _) => {
                self.restore_source();
                self.finish(Outcome::Failed(Failure::new(
                    StopReason::Timeout,
                    SourceDomainState::Running,
                )));
            }
            (StepError::Hypervisor(hv_error), _) => {
                let mut failure =
                    Failure::new(StopReason::HypervisorError, SourceDomainState::Running);
                failure.hv_status = hv_error.status();
                self.stop_with(
                    now_ns,
                    StopReason::HypervisorError,
                    &error,
                    Outcome::Failed(failure),
                    true,
                );
            }
            (_, _) => {
                // Whatever the target sent that the protocol refuses.
                let reason = error.stop_reason();
                let failure = Failure::new(reason, SourceDomainState::Running);
                self.stop_with(now_ns, reason, &error, Outcome::Failed(failure), true);
            }
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        self.stats.status = match outcome {
            Outcome::Completed => MigrationStatus::Completed,
            Outcome::Cancelled => MigrationStatus::Cancelled,
            Outcome::GaveUp(_) | Outcome::Failed(_) => MigrationStatus::Failed,
        };
        if outcome == Outcome::Completed {
            self.stats.remaining = 0;
        }
        match outcome {
            Outcome::Completed | Outcome::Cancelled => {
                log::info!("migration of domain {}: {outcome}", self.domain);
            }
            Outcome::GaveUp(_) | Outcome::Failed(_) => {
                log::warn!("migration of domain {}: {outcome}", self.domain);
            }
        }
        self.phase = Phase::Done(outcome);
    }

    /// Progress as a fraction of the whole migration, never going back:
    /// round 0 fills 5-85 %, and each later round half of what is left
    /// below 95 % (round 1: 85-90 %, round 2: 90-92.5 %, ...), since a
    /// round sends about what the previous one left dirty.
    fn update_progress(&mut self) {
        let previous = u64::from(self.stats.progress_percent);
        let rounds = self.stats.rounds;
        let percent = match self.phase {
            Phase::Start | Phase::AwaitHelloAck => 0,
            Phase::Precopy => {
                let expected = if rounds == 0 {
                    self.dirty.total_pages()
                } else {
                    self.dirty_at_sync
                };
                let start = round_start_permille(rounds);
                let band = round_start_permille(rounds + 1) - start;
                let sent = self.round_pages.min(expected);
                (start + band * sent / expected.max(1)) / 10
            }
            // The round just ended: the end of its band.
            Phase::RoundDone => round_start_permille(rounds + 1) / 10,
            Phase::Decided(_) => round_start_permille(rounds) / 10,
            Phase::FinalPages | Phase::VcpuStates { .. } => 96,
            Phase::SendCommit | Phase::AwaitCommitAck => 98,
            Phase::AwaitResumed => 99,
            Phase::Stopping(_) => previous,
            Phase::Done(Outcome::Completed) => 100,
            Phase::Done(_) => previous,
        };
        self.stats.progress_percent = percent.max(previous).min(100) as u8;
    }
}

/// Where pre-copy round `round` starts in the progress, per mille: round 0
/// at 5 %, round 1 at 85 %, then each round halfway from the last to 95 %.
fn round_start_permille(round: u32) -> u64 {
    match round {
        0 => 50,
        _ => 950 - (100 >> (round - 1).min(16)),
    }
}
