//! The target side of a live migration: a sans-IO state machine.
//!
//! ```text
//!  AwaitHello --Hello--> reserve (create domain, bind blocks at their RAs)
//!      | refused: HelloAck(refused) --> Done(Failed)
//!      v accepted: HelloAck(accepted)
//!  Receiving: Pages -> check CRC, write | RoundEnd -> cross-check counts
//!      | Suspended -> final pages | VcpuState -> load into the suspended vCPU
//!      v Commit -> verify totals
//!  CommitAck sent --> resume the domain --> Resumed sent --> Done(Completed)
//!  Cancel, a bad frame or page, silence: release the reservation --> Done
//! ```
//!
//! Nothing from a frame or record that failed its checks reaches guest
//! memory: frames are CRC-checked before parsing, and every page is
//! decoded into a scratch page and checked against its CRC before the
//! hypervisor writes it. Zero pages of round 0 are not written at all
//! (the freshly bound memory is already zero).
//!
//! `Pages` frames are received into the batches of a [`PagePipeline`] and
//! checked and decoded by its workers, several at once; the state machine
//! writes the pages of each batch as it finishes, in any order (a round
//! carries each page once). Any other frame is a barrier: it is handled
//! only once every `Pages` frame before it has been written, so a round's
//! end, the suspension and the commit see every page sent before them,
//! and a delta record always applies onto the version sent before it.

use super::config::MigrationConfig;
use super::outcome::{Failure, Outcome, SourceDomainState};
use super::step_error::StepError;
use crate::page::{Page, PAGE_SIZE, ZERO_PAGE};
use crate::pipeline::{Batch, Job, PagePipeline, MAX_BATCHES};
use crate::stats::{MigrationStats, MigrationStatus};
use crate::transport::{Transport, TransportError};
use crate::wire::codec::{BufferTooSmall, DecodeError, Reserved, Text, WireStruct};
use crate::wire::frame::{OLDEST_WIRE_VERSION, WIRE_VERSION};
use crate::wire::messages::{
    write_empty_frame, write_frame, Commit, CommitAck, FrameBody, Hello, HelloAck, RoundAck,
    RoundEnd, Stop, StopReason, Suspended, DOMAIN_NAME_BYTES, MAX_HELLO_BYTES,
};
use crate::wire::record::parse_record;
use crate::wire::{Frame, FrameType, PageDecoder, PageEncoding, PageRecords, FRAME_HEADER_BYTES};
use core::fmt;
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::{DomainId, DomainRunState, Hypervisor};
use zerocopy::byteorder::big_endian::U64;

/// Bytes of the outgoing control-frame buffer (the largest is a `Stop`).
const CONTROL_BYTES: usize = 512;
/// Steps one poll may take (each bounded by `pages_per_poll` records).
const STEPS_PER_POLL: usize = 4;
/// Largest control payload (a `VcpuState`, or a `Hello` with every block).
const CONTROL_COPY_BYTES: usize = 3072;
const _: () = assert!(
    FRAME_HEADER_BYTES + Stop::BYTES <= CONTROL_BYTES
        && MAX_HELLO_BYTES <= CONTROL_COPY_BYTES
        && VcpuState::BYTES <= CONTROL_COPY_BYTES
);

/// What a poll left the target doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetPoll {
    /// Still going; poll again.
    Running,
    /// Finished.
    Finished(Outcome),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    AwaitHello,
    Receiving,
    /// CommitAck queued; resume once it left.
    Acknowledging,
    /// Resumed queued; done once it left.
    Announcing,
    /// A Failure/Cancel frame is queued; finish once it left.
    Stopping(Outcome),
    Done(Outcome),
}

/// The target engine of one incoming migration.
pub struct TargetEngine<'b, 'p, H: Hypervisor, T: Transport> {
    hv: H,
    transport: T,
    config: MigrationConfig,
    pipeline: &'b PagePipeline<'p>,
    /// Batches queued for or held by workers.
    working: [bool; MAX_BATCHES],
    /// A frame other than `Pages` waits in this batch (bytes) for the
    /// `Pages` frames before it to be written.
    held: Option<(usize, usize)>,
    control: [u8; CONTROL_BYTES],
    pending: Option<usize>,
    decoder: PageDecoder,
    /// The version of a page a delta record applies onto.
    base: Page,
    wire_version: u16,
    phase: Phase,
    sequence: u64,
    expected_sequence: u64,
    domain: Option<DomainId>,
    name: Text<DOMAIN_NAME_BYTES>,
    vcpus: u64,
    vcpus_loaded: u64,
    crypto_units: u64,
    crypto_added: u64,
    round: u32,
    round_records: u64,
    records_applied: u64,
    final_records: u64,
    suspended: bool,
    total_pages: u64,
    stats: MigrationStats,
    started_at: Option<u64>,
    last_heard: u64,
    resumed_at: Option<u64>,
    cancel_requested: bool,
}

impl<'b, 'p, H: Hypervisor, T: Transport> TargetEngine<'b, 'p, H, T> {
    /// A target waiting for a source's `Hello`; the frames of `pipeline`'s
    /// batches must hold the largest frame the source will send (it says
    /// so in `Hello`), and their pages are where LZ4 records expand.
    pub fn new(
        hv: H,
        transport: T,
        config: MigrationConfig,
        pipeline: &'b PagePipeline<'p>,
    ) -> Self {
        TargetEngine {
            hv,
            transport,
            config,
            pipeline,
            working: [false; MAX_BATCHES],
            held: None,
            control: [0; CONTROL_BYTES],
            pending: None,
            decoder: PageDecoder::new(),
            base: [0; PAGE_SIZE],
            wire_version: OLDEST_WIRE_VERSION,
            phase: Phase::AwaitHello,
            sequence: 0,
            expected_sequence: 0,
            domain: None,
            name: Text::EMPTY,
            vcpus: 0,
            vcpus_loaded: 0,
            crypto_units: 0,
            crypto_added: 0,
            round: 0,
            round_records: 0,
            records_applied: 0,
            final_records: 0,
            suspended: false,
            total_pages: 0,
            stats: MigrationStats::new(),
            started_at: None,
            last_heard: 0,
            resumed_at: None,
            cancel_requested: false,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &MigrationStats {
        &self.stats
    }

    /// The domain reserved on this machine, once `Hello` was accepted.
    pub fn domain(&self) -> Option<DomainId> {
        self.domain
    }

    /// The name the source asked the domain to take here.
    pub fn domain_name(&self) -> &str {
        self.name.as_str()
    }

    /// When the domain was resumed here (the caller's clock).
    pub fn resumed_at(&self) -> Option<u64> {
        self.resumed_at
    }

    /// Crypto units added back to the domain (may be fewer than it had).
    pub fn crypto_units_added(&self) -> (u64, u64) {
        (self.crypto_added, self.crypto_units)
    }

    /// The hypervisor handle.
    pub fn hypervisor(&mut self) -> &mut H {
        &mut self.hv
    }

    /// Asks for a cancel from the target side (before the commit).
    pub fn cancel(&mut self) -> bool {
        let cancellable = matches!(self.phase, Phase::AwaitHello | Phase::Receiving);
        self.cancel_requested |= cancellable;
        cancellable
    }

    /// The outcome once finished.
    pub fn outcome(&self) -> Option<Outcome> {
        match self.phase {
            Phase::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Does a bounded amount of work at time `now_ns`.
    pub fn poll(&mut self, now_ns: u64) -> TargetPoll {
        if let Phase::Done(outcome) = self.phase {
            return TargetPoll::Finished(outcome);
        }
        let started = *self.started_at.get_or_insert(now_ns);
        if self.last_heard == 0 {
            self.last_heard = now_ns;
        }
        self.stats.total_time_ns = now_ns.saturating_sub(started);
        // A few steps per poll: a control frame queued in one step (an
        // acknowledgement) leaves in the next, without waiting for a poll.
        for _ in 0..STEPS_PER_POLL {
            if let Err(error) = self.step(now_ns) {
                self.fail(now_ns, error);
            }
            if matches!(self.phase, Phase::Done(_))
                || self.pending.is_some() && !matches!(self.flush(), Ok(true))
            {
                break;
            }
        }
        self.update_progress();
        match self.phase {
            Phase::Done(outcome) => TargetPoll::Finished(outcome),
            _ => TargetPoll::Running,
        }
    }

    fn step(&mut self, now_ns: u64) -> Result<(), StepError> {
        if !self.flush()? {
            return self.check_timeout(now_ns);
        }
        match self.phase {
            Phase::Acknowledging => return self.resume_domain(now_ns),
            Phase::Announcing => {
                self.finish(Outcome::Completed);
                return Ok(());
            }
            Phase::Stopping(outcome) => {
                self.finish(outcome);
                return Ok(());
            }
            Phase::Done(_) => return Ok(()),
            Phase::AwaitHello | Phase::Receiving => {}
        }
        if self.cancel_requested {
            self.cancel_requested = false;
            let reason = StopReason::Cancelled;
            self.stop_with(reason, &reason.describe(), Outcome::Cancelled, true);
            return Ok(());
        }
        let mut budget = u64::from(self.config.pages_per_poll.max(1));
        while budget > 0
            && self.pending.is_none()
            && matches!(self.phase, Phase::AwaitHello | Phase::Receiving)
        {
            budget = budget.saturating_sub(self.apply_finished()?);
            if let Some((index, size)) = self.held {
                if self.working.iter().any(|&working| working) {
                    // The barrier: the pages before this frame first.
                    self.run_inline(now_ns);
                    return self.check_timeout(now_ns);
                }
                self.held = None;
                self.handle_frame(now_ns, index, size)?;
                continue;
            }
            let Some(index) = self
                .working
                .iter()
                .take(self.pipeline.batch_count())
                .position(|&working| !working)
            else {
                // Every batch is with a worker.
                self.run_inline(now_ns);
                return Ok(());
            };
            let transport = &mut self.transport;
            let received = self
                .pipeline
                .with_batch(index, |batch| transport.receive(batch.frame))
                .map_err(StepError::Transport)?;
            let Some(size) = received else {
                self.run_inline(now_ns);
                return self.check_timeout(now_ns);
            };
            self.last_heard = now_ns;
            self.stats.transferred += size as u64;
            let records = self.handle_frame(now_ns, index, size)?;
            budget = budget.saturating_sub(records.max(1));
        }
        Ok(())
    }

    /// Without workers, the state machine decodes what it queued.
    fn run_inline(&mut self, now_ns: u64) {
        if self.config.workers == 0 {
            while self.pipeline.work(&|| now_ns) {}
        }
    }

    fn flush(&mut self) -> Result<bool, StepError> {
        let Some(size) = self.pending else {
            return Ok(true);
        };
        if self
            .transport
            .send(&self.control[..size])
            .map_err(StepError::Transport)?
        {
            self.pending = None;
            return Ok(true);
        }
        Ok(false)
    }

    /// Queues the frame `write` puts in the control buffer.
    fn queue_control(
        &mut self,
        write: impl FnOnce(&mut [u8], u64) -> Result<usize, BufferTooSmall>,
    ) -> Result<(), StepError> {
        let size = write(&mut self.control, self.sequence).map_err(StepError::Encode)?;
        self.sequence += 1;
        self.pending = Some(size);
        Ok(())
    }

    fn queue_message<B: FrameBody>(&mut self, body: &B) -> Result<(), StepError> {
        self.queue_control(|buffer, sequence| write_frame(buffer, sequence, body))
    }

    /// Handles the frame in batch `index` (`size` bytes): a `Pages` frame
    /// goes to the workers (returns 0), any other waits for the `Pages`
    /// frames before it, then is handled here (returns the records
    /// applied meanwhile).
    fn handle_frame(&mut self, now_ns: u64, index: usize, size: usize) -> Result<u64, StepError> {
        let pipeline = self.pipeline;
        let header = pipeline.with_batch(index, |batch| {
            let bytes = batch
                .frame
                .get(..size)
                .ok_or(StepError::Protocol("frame larger than the inbox"))?;
            match Frame::peek(bytes) {
                Ok((frame_type, sequence, length)) => Ok((frame_type, sequence, length)),
                Err(error) => Err(StepError::Corrupt(error)),
            }
        })?;
        let (frame_type, sequence, payload_len) = header;
        if sequence != self.expected_sequence {
            // A damaged frame says so before its sequence number counts.
            pipeline
                .with_batch(index, |batch| {
                    Frame::decode(&batch.frame[..size]).map(|_| ())
                })
                .map_err(StepError::Corrupt)?;
            return Err(StepError::Sequence {
                expected: self.expected_sequence,
                found: sequence,
            });
        }
        if frame_type == FrameType::Pages {
            if self.phase != Phase::Receiving {
                return Err(StepError::Unexpected(frame_type));
            }
            self.expected_sequence += 1;
            pipeline.with_batch(index, |batch| {
                batch.reset();
                batch.frame_len = size;
            });
            pipeline.submit(index, Job::Decode);
            self.working[index] = true;
            self.run_inline(now_ns);
            return self.apply_finished();
        }
        if self.working.iter().any(|&working| working) {
            self.held = Some((index, size));
            return Ok(0);
        }
        self.expected_sequence += 1;
        // Control payloads are small: copy them out of the batch.
        let mut copy = [0u8; CONTROL_COPY_BYTES];
        let payload =
            copy.get_mut(..payload_len)
                .ok_or(StepError::Malformed(DecodeError::TooLong {
                    what: "control frame payload",
                    length: payload_len,
                    max: CONTROL_COPY_BYTES,
                }))?;
        pipeline
            .with_batch(index, |batch| {
                Frame::decode(&batch.frame[..size])
                    .map(|(frame, _)| payload.copy_from_slice(frame.payload))
            })
            .map_err(StepError::Corrupt)?;
        let payload = &copy[..payload_len];
        match (frame_type, self.phase) {
            (FrameType::Hello, Phase::AwaitHello) => {
                self.reserve(payload)?;
                Ok(0)
            }
            (FrameType::RoundEnd, Phase::Receiving) if !self.suspended => {
                let end = RoundEnd::decode(payload).map_err(StepError::Malformed)?;
                if end.round.get() != self.round || end.pages.get() != self.round_records {
                    return Err(StepError::Verify);
                }
                let ack = RoundAck {
                    round: end.round,
                    reserved: Reserved::ZERO,
                };
                self.queue_message(&ack)?;
                self.round += 1;
                self.round_records = 0;
                self.stats.rounds = self.round;
                self.stats.remaining = end.dirty_pages.get() * crate::page::PAGE_SIZE as u64;
                Ok(0)
            }
            (FrameType::Suspended, Phase::Receiving) if !self.suspended => {
                let marker = Suspended::decode(payload).map_err(StepError::Malformed)?;
                self.suspended = true;
                self.stats.status = MigrationStatus::Switchover;
                self.stats.remaining = marker.dirty_pages.get() * crate::page::PAGE_SIZE as u64;
                Ok(0)
            }
            (FrameType::VcpuState, Phase::Receiving) if self.suspended => {
                let state = VcpuState::decode(payload).map_err(StepError::Malformed)?;
                let vcpu = state.vcpu_id.get();
                if vcpu >= self.vcpus {
                    return Err(StepError::Verify);
                }
                let domain = self
                    .domain
                    .ok_or(StepError::Protocol("no domain reserved"))?;
                self.hv
                    .set_vcpu_state(domain, vcpu, &state)
                    .map_err(StepError::Hypervisor)?;
                self.vcpus_loaded += 1;
                Ok(0)
            }
            (FrameType::Commit, Phase::Receiving) => {
                let commit = Commit::decode(payload).map_err(StepError::Malformed)?;
                self.commit(now_ns, &commit)?;
                Ok(0)
            }
            (FrameType::Cancel, _) => {
                Stop::decode(payload).map_err(StepError::Malformed)?;
                let reason = StopReason::Cancelled;
                self.stop_with(reason, &reason.describe(), Outcome::Cancelled, false);
                Ok(0)
            }
            (FrameType::Failure, _) => {
                let stop = Stop::decode(payload).map_err(StepError::Malformed)?;
                let reason = stop.stop_reason().unwrap_or(StopReason::ProtocolViolation);
                self.stop_with(
                    reason,
                    &reason.describe(),
                    Outcome::Failed(Failure::new(reason, SourceDomainState::Running)),
                    false,
                );
                Ok(0)
            }
            (FrameType::Ping, _) => Ok(0),
            (unexpected, _) => Err(StepError::Unexpected(unexpected)),
        }
    }

    fn reserve(&mut self, payload: &[u8]) -> Result<(), StepError> {
        let (hello, blocks) = Hello::decode_with_blocks(payload).map_err(StepError::Malformed)?;
        let version = hello.wire_version.get();
        if version < OLDEST_WIRE_VERSION {
            self.refuse(StopReason::VersionMismatch, 0, 0, 0)?;
            return Ok(());
        }
        if hello.frame_bytes.get() as usize > self.pipeline.frame_capacity() {
            self.refuse(StopReason::ReservationFailed, 0, 0, 0)?;
            return Ok(());
        }
        let vcpus = u64::from(hello.vcpus.get());
        self.name = hello.name;
        self.vcpus = vcpus;
        self.crypto_units = u64::from(hello.crypto_units.get());
        self.total_pages = hello.total_pages.get();
        self.stats.total = self.total_pages * crate::page::PAGE_SIZE as u64;
        let domain = match self.hv.create_domain(vcpus) {
            Ok(domain) => domain,
            Err(error) => {
                self.refuse(StopReason::ReservationFailed, error.status(), 0, 0)?;
                return Ok(());
            }
        };
        self.domain = Some(domain);
        let _ = self.hv.set_domain_state(domain, DomainRunState::Migrating);
        let mut pages = 0;
        for entry in blocks {
            let (ra, size) = (entry.ra.get(), entry.size.get());
            if let Err(error) = self.hv.bind_memory_block(domain, ra, size) {
                self.release();
                self.refuse(StopReason::ReservationFailed, error.status(), ra, size)?;
                return Ok(());
            }
            pages += size / crate::page::PAGE_SIZE as u64;
        }
        if pages != self.total_pages {
            self.release();
            return Err(StepError::Protocol(
                "blocks do not add up to the total pages",
            ));
        }
        self.wire_version = WIRE_VERSION.min(version);
        self.queue_message(&HelloAck::accepted(self.wire_version))?;
        self.stats.status = MigrationStatus::Active;
        self.phase = Phase::Receiving;
        Ok(())
    }

    fn refuse(
        &mut self,
        reason: StopReason,
        hv_status: u64,
        ra: u64,
        size: u64,
    ) -> Result<(), StepError> {
        let ack = HelloAck::refused(WIRE_VERSION, reason, hv_status, ra, size);
        self.queue_message(&ack)?;
        let failure = Failure {
            reason,
            hv_status,
            ra,
            size,
            source_domain: SourceDomainState::Running,
        };
        self.phase = Phase::Stopping(Outcome::Failed(failure));
        Ok(())
    }

    /// Writes the pages of every batch the workers finished; returns the
    /// records applied. A batch that failed its checks writes nothing.
    fn apply_finished(&mut self) -> Result<u64, StepError> {
        let mut applied = 0;
        while let Some(index) = self.pipeline.take_finished() {
            self.working[index] = false;
            let domain = self
                .domain
                .ok_or(StepError::Protocol("no domain reserved"))?;
            let skip_zero = self.round == 0 && !self.suspended;
            let mut pages = AppliedPages {
                hv: &mut self.hv,
                domain,
                skip_zero,
                deltas: self.wire_version >= 2,
                decoder: &mut self.decoder,
                base: &mut self.base,
                stats: &mut self.stats,
                count: 0,
            };
            self.pipeline
                .with_batch(index, |batch| pages.apply(batch))?;
            let count = pages.count;
            self.round_records += count;
            self.records_applied += count;
            if self.suspended {
                self.final_records += count;
            }
            applied += count;
        }
        Ok(applied)
    }

    fn commit(&mut self, now_ns: u64, commit: &Commit) -> Result<(), StepError> {
        let _ = now_ns;
        let complete = commit.total_records.get() == self.records_applied
            && commit.final_records.get() == self.final_records
            && u64::from(commit.vcpus.get()) == self.vcpus_loaded
            && (self.vcpus_loaded == self.vcpus || (self.vcpus_loaded == 0 && !self.suspended));
        if !complete {
            return Err(StepError::Verify);
        }
        let ack = CommitAck {
            records_applied: U64::new(self.records_applied),
        };
        self.queue_message(&ack)?;
        self.stats.status = MigrationStatus::Committing;
        self.phase = Phase::Acknowledging;
        Ok(())
    }

    /// The CommitAck left: the domain is ours. Resume it (an active one).
    fn resume_domain(&mut self, now_ns: u64) -> Result<(), StepError> {
        let domain = self
            .domain
            .ok_or(StepError::Protocol("no domain reserved"))?;
        if self.crypto_units > 0 {
            self.crypto_added = self
                .hv
                .add_crypto_units(domain, self.crypto_units)
                .unwrap_or(0);
        }
        let _ = self.hv.set_domain_state(domain, DomainRunState::Normal);
        if self.suspended {
            // The source is gone once it saw the CommitAck; a failure here
            // leaves the domain bound but stopped, for the administrator.
            self.hv.resume(domain).map_err(StepError::Hypervisor)?;
        }
        self.resumed_at = Some(now_ns);
        log::info!("domain {domain} ({}) resumed here", self.name.as_str());
        self.queue_control(|buffer, sequence| {
            write_empty_frame(buffer, FrameType::Resumed, sequence)
        })?;
        self.phase = Phase::Announcing;
        Ok(())
    }

    fn check_timeout(&mut self, now_ns: u64) -> Result<(), StepError> {
        if now_ns.saturating_sub(self.last_heard) > self.config.response_timeout_ns {
            return Err(StepError::Transport(TransportError::Disconnected));
        }
        Ok(())
    }

    fn release(&mut self) {
        if let Some(domain) = self.domain.take() {
            let _ = self.hv.destroy_domain(domain);
        }
    }

    /// Stops with `outcome`; tells the peer `reason` (and `text`, for its
    /// administrator) when `notify_peer`.
    fn stop_with(
        &mut self,
        reason: StopReason,
        text: &dyn fmt::Display,
        outcome: Outcome,
        notify_peer: bool,
    ) {
        self.release();
        if notify_peer {
            // The control buffer holds any Stop (checked at compile time).
            if self
                .queue_message(&Stop::describing(reason, outcome.stop_detail(), text))
                .is_err()
            {
                self.finish(outcome);
                return;
            }
            self.phase = Phase::Stopping(outcome);
            if matches!(self.flush(), Ok(true) | Err(_)) {
                self.finish(outcome);
            }
        } else {
            self.finish(outcome);
        }
    }

    fn fail(&mut self, _now_ns: u64, error: StepError) {
        match self.phase {
            Phase::Done(_) => {}
            Phase::Announcing => self.finish(Outcome::Completed),
            Phase::Acknowledging => {
                let mut failure = Failure::new(StopReason::Timeout, SourceDomainState::ErrorState);
                if let StepError::Hypervisor(hv_error) = error {
                    // The CommitAck left, then resuming failed: the source
                    // may have let its copy go. Keep the domain bound and
                    // stopped; the administrator decides (recovery).
                    failure.hv_status = hv_error.status();
                    failure.reason = StopReason::HypervisorError;
                } else {
                    // The CommitAck never left (the link failed or stayed
                    // full): the source still holds the domain, stopped in
                    // its error state. Release the reservation here.
                    self.release();
                }
                self.finish(Outcome::Failed(failure));
            }
            Phase::Stopping(outcome) => self.finish(outcome),
            Phase::AwaitHello | Phase::Receiving => {
                let reason = error.stop_reason();
                let mut failure = Failure::new(reason, SourceDomainState::Running);
                if let StepError::Hypervisor(hv_error) = error {
                    failure.hv_status = hv_error.status();
                }
                let notify = !matches!(error, StepError::Transport(_));
                self.stop_with(reason, &error, Outcome::Failed(failure), notify);
            }
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        self.stats.status = match outcome {
            Outcome::Completed => MigrationStatus::Completed,
            Outcome::Cancelled => MigrationStatus::Cancelled,
            Outcome::GaveUp(_) | Outcome::Failed(_) => MigrationStatus::Failed,
        };
        if !matches!(outcome, Outcome::Completed | Outcome::Cancelled) {
            log::warn!("incoming migration of {}: {outcome}", self.name.as_str());
        }
        self.phase = Phase::Done(outcome);
    }

    /// Progress as a fraction of the whole migration, never going back.
    fn update_progress(&mut self) {
        let total = self.total_pages.max(1);
        let previous = u64::from(self.stats.progress_percent);
        let percent = match self.phase {
            Phase::AwaitHello => 0,
            Phase::Receiving if self.round == 0 && !self.suspended => {
                5 + 80 * self.round_records.min(total) / total
            }
            Phase::Receiving if !self.suspended => 90,
            Phase::Receiving => 96,
            Phase::Acknowledging | Phase::Announcing => 99,
            Phase::Done(Outcome::Completed) => 100,
            Phase::Stopping(_) | Phase::Done(_) => previous,
        };
        self.stats.progress_percent = percent.max(previous).min(100) as u8;
    }
}

/// What writing one finished batch needs: the hypervisor, the decoder for
/// what the worker left, and the counters.
struct AppliedPages<'a, H: Hypervisor> {
    hv: &'a mut H,
    domain: DomainId,
    /// Round 0 skips zero pages (fresh memory is zero).
    skip_zero: bool,
    /// Delta records are allowed (wire version 2 on).
    deltas: bool,
    decoder: &'a mut PageDecoder,
    base: &'a mut Page,
    stats: &'a mut MigrationStats,
    count: u64,
}

impl<H: Hypervisor> AppliedPages<'_, H> {
    fn apply(&mut self, batch: &mut Batch<'_>) -> Result<(), StepError> {
        if let Some(error) = batch.error {
            return Err(StepError::Corrupt(error));
        }
        let frame = &batch.frame[..batch.frame_len];
        for record in batch.decoded.iter() {
            let page: &[u8] = match record.encoding {
                PageEncoding::Zero => &ZERO_PAGE,
                PageEncoding::Raw => &frame[record.location..record.location + PAGE_SIZE],
                PageEncoding::Lz4 => &batch.pages[record.location],
                PageEncoding::Delta => {
                    let parsed =
                        parse_record(&frame[record.location..]).map_err(StepError::Corrupt)?;
                    self.write_delta(&parsed)?;
                    continue;
                }
            };
            self.write(record.ra, record.encoding, page)?;
        }
        // What the worker left: decoded here, one record at a time.
        let payload = &frame[FRAME_HEADER_BYTES..];
        for record in PageRecords::new(&payload[batch.resume_at..]) {
            let record = record.map_err(StepError::Corrupt)?;
            if record.encoding == PageEncoding::Delta {
                self.write_delta(&record)?;
                continue;
            }
            let page = self.decoder.decode(&record).map_err(StepError::Corrupt)?;
            let (hv, domain) = (&mut *self.hv, self.domain);
            if !(record.encoding == PageEncoding::Zero && self.skip_zero) {
                hv.write_memory(domain, record.ra, page)
                    .map_err(StepError::Hypervisor)?;
            }
            self.stats.count_record(record.encoding, record.data.len());
            self.count += 1;
        }
        Ok(())
    }

    fn write(&mut self, ra: u64, encoding: PageEncoding, page: &[u8]) -> Result<(), StepError> {
        if !(encoding == PageEncoding::Zero && self.skip_zero) {
            self.hv
                .write_memory(self.domain, ra, page)
                .map_err(StepError::Hypervisor)?;
        }
        let data = match encoding {
            PageEncoding::Zero => 0,
            PageEncoding::Raw => PAGE_SIZE,
            // The worker checked the record; its data length is not kept.
            PageEncoding::Lz4 | PageEncoding::Delta => 0,
        };
        self.stats.count_record(encoding, data);
        self.count += 1;
        Ok(())
    }

    /// A delta applies onto the page as the target holds it (the version
    /// sent before, written before this frame was read).
    fn write_delta(&mut self, record: &crate::wire::PageRecord<'_>) -> Result<(), StepError> {
        if !self.deltas {
            return Err(StepError::Protocol("a delta record before wire version 2"));
        }
        self.hv
            .read_memory(self.domain, record.ra, self.base)
            .map_err(StepError::Hypervisor)?;
        let page = self
            .decoder
            .decode_delta(record, self.base)
            .map_err(StepError::Corrupt)?;
        self.hv
            .write_memory(self.domain, record.ra, page)
            .map_err(StepError::Hypervisor)?;
        self.stats.count_record(record.encoding, record.data.len());
        self.count += 1;
        Ok(())
    }
}
