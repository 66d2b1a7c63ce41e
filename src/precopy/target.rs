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

use super::config::MigrationConfig;
use super::outcome::{Failure, Outcome, SourceDomainState};
use super::step_error::StepError;
use crate::stats::{MigrationStats, MigrationStatus};
use crate::transport::{Transport, TransportError};
use crate::wire::codec::{BufferTooSmall, DecodeError, Reserved, Text, WireStruct};
use crate::wire::frame::{OLDEST_WIRE_VERSION, WIRE_VERSION};
use crate::wire::messages::{
    write_empty_frame, write_frame, Commit, CommitAck, FrameBody, Hello, HelloAck, RoundAck,
    RoundEnd, Stop, StopReason, Suspended, DOMAIN_NAME_BYTES, MAX_HELLO_BYTES,
};
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
pub struct TargetEngine<'b, H: Hypervisor, T: Transport> {
    hv: H,
    transport: T,
    config: MigrationConfig,
    inbox: &'b mut [u8],
    control: [u8; CONTROL_BYTES],
    pending: Option<usize>,
    decoder: PageDecoder,
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

impl<'b, H: Hypervisor, T: Transport> TargetEngine<'b, H, T> {
    /// A target waiting for a source's `Hello`; `inbox` must hold the
    /// largest frame the source will send (it says so in `Hello`).
    pub fn new(hv: H, transport: T, config: MigrationConfig, inbox: &'b mut [u8]) -> Self {
        TargetEngine {
            hv,
            transport,
            config,
            inbox,
            control: [0; CONTROL_BYTES],
            pending: None,
            decoder: PageDecoder::new(),
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
            let Some(size) = self
                .transport
                .receive(self.inbox)
                .map_err(StepError::Transport)?
            else {
                return self.check_timeout(now_ns);
            };
            self.last_heard = now_ns;
            self.stats.transferred += size as u64;
            let records = self.handle_frame(now_ns, size)?;
            budget = budget.saturating_sub(records.max(1));
        }
        Ok(())
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

    /// Handles the frame in `inbox[..size]`; returns the page records it held.
    fn handle_frame(&mut self, now_ns: u64, size: usize) -> Result<u64, StepError> {
        let bytes = self
            .inbox
            .get(..size)
            .ok_or(StepError::Protocol("frame larger than the inbox"))?;
        let (frame, _) = Frame::decode(bytes).map_err(StepError::Corrupt)?;
        if frame.sequence != self.expected_sequence {
            return Err(StepError::Sequence {
                expected: self.expected_sequence,
                found: frame.sequence,
            });
        }
        self.expected_sequence += 1;
        let (frame_type, payload_len) = (frame.frame_type, frame.payload.len());
        if frame_type == FrameType::Pages {
            return match self.phase {
                Phase::Receiving => self.apply_pages(payload_len),
                _ => Err(StepError::Unexpected(frame_type)),
            };
        }
        // Control payloads are small: copy them out of the inbox.
        let mut copy = [0u8; CONTROL_COPY_BYTES];
        let payload =
            copy.get_mut(..payload_len)
                .ok_or(StepError::Malformed(DecodeError::TooLong {
                    what: "control frame payload",
                    length: payload_len,
                    max: CONTROL_COPY_BYTES,
                }))?;
        payload.copy_from_slice(&self.inbox[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + payload_len]);
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
        if hello.frame_bytes.get() as usize > self.inbox.len() {
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
        self.queue_message(&HelloAck::accepted(WIRE_VERSION.min(version)))?;
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

    /// Applies the records of the (already CRC-checked) frame in the inbox.
    fn apply_pages(&mut self, payload_len: usize) -> Result<u64, StepError> {
        let domain = self
            .domain
            .ok_or(StepError::Protocol("no domain reserved"))?;
        let payload = &self.inbox[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + payload_len];
        let mut count = 0;
        for record in PageRecords::new(payload) {
            let record = record.map_err(StepError::Corrupt)?;
            let page = self.decoder.decode(&record).map_err(StepError::Corrupt)?;
            let skip = record.encoding == PageEncoding::Zero && self.round == 0 && !self.suspended;
            if !skip {
                self.hv
                    .write_memory(domain, record.ra, page)
                    .map_err(StepError::Hypervisor)?;
            }
            self.stats.count_record(record.encoding, record.data.len());
            count += 1;
        }
        self.round_records += count;
        self.records_applied += count;
        if self.suspended {
            self.final_records += count;
        }
        Ok(count)
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
                .queue_message(&Stop::describing(reason, 0, text))
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
