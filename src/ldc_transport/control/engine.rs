//! The engine side's request handler: a state machine that turns the
//! shim's requests into [`Command`]s for its host (the harness, the daemon
//! or the firmware's main loop, which own the migration engines and the
//! machine) and the host's reports into events, without doing any I/O.
//!
//! The endpoint ([`super::super::engine_side::EngineEndpoint`]) feeds it
//! the requests it receives and sends what it queues. It stops reading
//! requests while the command or event queue is nearly full, so a slow
//! host pushes back on the shim through LDC itself.

use heapless::Deque;
use zerocopy::byteorder::big_endian::{U16, U32, U64};

use super::ControlError;
use crate::precopy::{Outcome, SourceDomainState};
use crate::stats::{MigrationStats, MigrationStatus};
use crate::wire::codec::{Reserved, Text};
use crate::wire::control::{
    Accepted, DomainEntry, DomainName, DomainRequest, ErrorCode, ErrorReport, FreeMemoryEntry,
    ListEnd, Message, MigrateOptions, MigrateRequest, MigrationResult, Phase, PhaseEvent,
    ProgressEvent, ResultKind, SourceState, Warning, WarningCode,
};
use crate::wire::messages::StopReason;

/// Commands waiting for the host, at most.
pub const MAX_COMMANDS: usize = 8;
/// Events waiting to be sent, at most.
pub const MAX_EVENTS: usize = 32;
/// Room kept free before more requests are read (one request makes at
/// most this many events without the host's help).
const EVENTS_PER_REQUEST: usize = 2;

/// What the host must do for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Start a migration (or only its checks): the host builds the engine,
    /// then calls [`EngineControl::report`] as it runs and
    /// [`EngineControl::finish`] at the end.
    Migrate {
        /// The request id.
        request: u32,
        /// Only the checks (`ldm migrate-domain -n`).
        dry_run: bool,
        /// The domain.
        domain: DomainName,
        /// Its name on the target (empty: the same).
        target_domain: DomainName,
        /// Limits (0 = default).
        options: MigrateOptions,
    },
    /// Cancel the running migration; answer with
    /// [`EngineControl::answer_cancel`].
    Cancel {
        /// The cancel request's id.
        request: u32,
    },
    /// List the domains: [`EngineControl::list_domain`] for each, then
    /// [`EngineControl::list_end`].
    ListDomains {
        /// The request id.
        request: u32,
    },
    /// List the free memory ranges: [`EngineControl::list_free_memory`]
    /// for each, then [`EngineControl::list_end`].
    ListFreeMemory {
        /// The request id.
        request: u32,
    },
}

/// Whether a migration (or dry run) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlState {
    /// None runs.
    Idle,
    /// One runs.
    Running {
        /// Its request id.
        request: u32,
        /// A dry run.
        dry_run: bool,
    },
}

/// Drops the oldest Progress of a full event queue, keeping the order of
/// the rest; `false` (the queue untouched) when it holds no Progress. Both
/// ends queue events this way: only progress may be lost.
pub fn drop_oldest_progress<const N: usize>(events: &mut Deque<Message, N>) -> bool {
    let mut kept: Deque<Message, N> = Deque::new();
    let mut dropped = false;
    while let Some(queued) = events.pop_front() {
        if !dropped && matches!(queued, Message::Progress(_)) {
            dropped = true;
            continue;
        }
        let _ = kept.push_back(queued);
    }
    *events = kept;
    dropped
}

/// The engine side's request handler.
#[derive(Debug)]
pub struct EngineControl {
    state: ControlState,
    domain: DomainName,
    commands: Deque<Command, MAX_COMMANDS>,
    events: Deque<Message, MAX_EVENTS>,
    last_progress: Option<ProgressEvent>,
    last_phase: Option<Phase>,
}

impl Default for EngineControl {
    fn default() -> Self {
        EngineControl::new()
    }
}

fn error(request: u32, code: ErrorCode, detail: u64, text: &str) -> Message {
    Message::Error(ErrorReport::new(request, code, detail, text))
}

impl From<MigrationStatus> for Phase {
    fn from(status: MigrationStatus) -> Self {
        match status {
            MigrationStatus::Setup => Phase::Setup,
            MigrationStatus::Active => Phase::PreCopy,
            MigrationStatus::Switchover => Phase::Switchover,
            MigrationStatus::Committing => Phase::Committing,
            MigrationStatus::Completed => Phase::Completed,
            MigrationStatus::Cancelled => Phase::Cancelled,
            MigrationStatus::Failed => Phase::Failed,
        }
    }
}

impl From<SourceDomainState> for SourceState {
    fn from(state: SourceDomainState) -> Self {
        match state {
            SourceDomainState::Running => SourceState::Running,
            SourceDomainState::ErrorState => SourceState::ErrorState,
            SourceDomainState::Gone => SourceState::Gone,
        }
    }
}

impl EngineControl {
    /// Idle, nothing queued.
    pub const fn new() -> Self {
        EngineControl {
            state: ControlState::Idle,
            domain: Text::EMPTY,
            commands: Deque::new(),
            events: Deque::new(),
            last_progress: None,
            last_phase: None,
        }
    }

    /// Whether a migration runs.
    pub fn state(&self) -> ControlState {
        self.state
    }

    /// The domain of the running migration (empty when idle).
    pub fn domain(&self) -> &str {
        self.domain.as_str()
    }

    /// Whether one more request can be handled without losing an answer.
    pub fn can_take_request(&self) -> bool {
        !self.commands.is_full() && self.events.capacity() - self.events.len() > EVENTS_PER_REQUEST
    }

    /// Events waiting to be sent.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// The next command for the host.
    pub fn next_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// Handles one request from the shim (anything else is answered with
    /// `BadRequest`). Call only when [`EngineControl::can_take_request`].
    pub fn on_request(&mut self, message: Message) {
        match message {
            Message::Migrate(request) => self.on_migrate(request, false),
            Message::DryRun(request) => self.on_migrate(request, true),
            Message::Status(request) => self.on_status(request),
            Message::Cancel(request) => self.on_cancel(request),
            Message::ListDomains(request) => {
                let request = request.request.get();
                self.command(request, Command::ListDomains { request });
            }
            Message::ListFreeMemory(request) => {
                let request = request.request.get();
                self.command(request, Command::ListFreeMemory { request });
            }
            other => {
                let request = other.request().unwrap_or(0);
                self.event(error(
                    request,
                    ErrorCode::BadRequest,
                    u64::from(other.kind().raw()),
                    "not a request",
                ));
            }
        }
    }

    /// Queues `command`; a full queue is answered with `HostFailure`.
    fn command(&mut self, request: u32, command: Command) -> bool {
        if self.commands.push_back(command).is_err() {
            self.event(error(request, ErrorCode::HostFailure, 0, "host busy"));
            return false;
        }
        true
    }

    /// Queues an answer to a request (room is kept for it).
    fn event(&mut self, message: Message) {
        if let Err(message) = self.events.push_back(message) {
            // Only progress may be lost: make room by dropping one.
            if drop_oldest_progress(&mut self.events) {
                let _ = self.events.push_back(message);
            }
        }
    }

    fn on_migrate(&mut self, migrate: MigrateRequest, dry_run: bool) {
        let request = migrate.request.get();
        if let ControlState::Running {
            request: running, ..
        } = self.state
        {
            self.event(error(
                request,
                ErrorCode::Busy,
                u64::from(running),
                "a migration already runs",
            ));
            return;
        }
        let command = Command::Migrate {
            request,
            dry_run,
            domain: migrate.domain,
            target_domain: migrate.target_domain,
            options: migrate.options,
        };
        if self.command(request, command) {
            self.state = ControlState::Running { request, dry_run };
            self.domain = migrate.domain;
            self.last_progress = None;
            self.last_phase = None;
            self.event(Message::Accepted(Accepted::new(request)));
        }
    }

    fn on_status(&mut self, status: DomainRequest) {
        let request = status.request.get();
        if !self.names_running(status.domain.as_str()) {
            self.event(error(
                request,
                ErrorCode::NotMigrating,
                0,
                "no migration of that domain runs",
            ));
            return;
        }
        let progress = self.last_progress.unwrap_or(ProgressEvent {
            phase: Phase::Setup.into(),
            ..zerocopy::FromZeros::new_zeroed()
        });
        self.event(Message::Progress(ProgressEvent {
            request: U32::new(request),
            ..progress
        }));
    }

    fn on_cancel(&mut self, cancel: DomainRequest) {
        let request = cancel.request.get();
        let cancellable = matches!(self.state, ControlState::Running { dry_run: false, .. });
        if !cancellable || !self.names_running(cancel.domain.as_str()) {
            self.event(error(
                request,
                ErrorCode::NotMigrating,
                0,
                "no migration of that domain runs",
            ));
            return;
        }
        self.command(request, Command::Cancel { request });
    }

    /// Whether `domain` (or, empty, any) is the running migration's.
    fn names_running(&self, domain: &str) -> bool {
        matches!(self.state, ControlState::Running { .. })
            && (domain.is_empty() || domain == self.domain.as_str())
    }

    fn running(&self) -> Result<u32, ControlError> {
        match self.state {
            ControlState::Running { request, .. } => Ok(request),
            ControlState::Idle => Err(ControlError::UnknownRequest(0)),
        }
    }

    fn queue(&mut self, message: Message) -> Result<(), ControlError> {
        self.events
            .push_back(message)
            .map_err(|_| ControlError::Backlog)
    }

    /// The running migration's counters: a Phase event when its status
    /// changed, a Progress event when its phase or percent did (a queued,
    /// unsent Progress is replaced rather than followed).
    pub fn report(&mut self, stats: &MigrationStats) -> Result<(), ControlError> {
        let request = self.running()?;
        let phase = Phase::from(stats.status);
        if self.last_phase != Some(phase) {
            self.queue(Message::Phase(PhaseEvent {
                request: U32::new(request),
                phase: phase.into(),
                reserved: Reserved::ZERO,
                round: U32::new(stats.rounds),
                reserved2: Reserved::ZERO,
            }))?;
            self.last_phase = Some(phase);
        }
        let progress = ProgressEvent {
            request: U32::new(request),
            phase: phase.into(),
            percent: stats.progress_percent.min(100),
            throttle_percent: stats.cpu_throttle_percentage.min(99),
            reserved: Reserved::ZERO,
            rounds: U32::new(stats.rounds),
            reserved2: Reserved::ZERO,
            transferred: U64::new(stats.transferred),
            remaining: U64::new(stats.remaining),
            total: U64::new(stats.total),
            bandwidth: U64::new(stats.bandwidth),
            expected_downtime_ns: U64::new(stats.expected_downtime_ns),
        };
        let changed = self
            .last_progress
            .is_none_or(|last| last.percent != progress.percent || last.phase != progress.phase);
        self.last_progress = Some(progress);
        if !changed {
            return Ok(());
        }
        if let Some(Message::Progress(queued)) = self.events.back_mut() {
            *queued = progress;
            return Ok(());
        }
        self.queue(Message::Progress(progress))
    }

    /// A warning about the running migration.
    pub fn warn(&mut self, code: WarningCode, text: &str) -> Result<(), ControlError> {
        let request = self.running()?;
        self.queue(Message::Warning(Warning {
            request: U32::new(request),
            code: code.into(),
            reserved: Reserved::ZERO,
            text: Text::new(text),
        }))
    }

    /// Answers a cancel request: accepted (the migration will end
    /// cancelled) or refused (the source already committed).
    pub fn answer_cancel(&mut self, request: u32, accepted: bool) -> Result<(), ControlError> {
        let answer = if accepted {
            Message::Accepted(Accepted::new(request))
        } else {
            error(
                request,
                ErrorCode::CancelRefused,
                0,
                "cancel refused: the final state was already sent",
            )
        };
        self.queue(answer)
    }

    /// The running migration or dry run ended: sends its result and goes
    /// back to idle. `result.request` must be the running request.
    pub fn finish(&mut self, result: MigrationResult) -> Result<(), ControlError> {
        let request = self.running()?;
        if result.request.get() != request {
            return Err(ControlError::UnknownRequest(result.request.get()));
        }
        self.queue(Message::Result(result))?;
        self.state = ControlState::Idle;
        self.domain = Text::EMPTY;
        Ok(())
    }

    /// [`EngineControl::finish`] from the source engine's outcome and
    /// statistics.
    pub fn finish_migration(
        &mut self,
        outcome: &Outcome,
        stats: &MigrationStats,
    ) -> Result<(), ControlError> {
        let request = self.running()?;
        let (kind, source, reason) = match outcome {
            Outcome::Completed => (ResultKind::Completed, SourceDomainState::Gone, 0),
            Outcome::Cancelled => (ResultKind::Cancelled, SourceDomainState::Running, 0),
            Outcome::GaveUp(_) => (
                ResultKind::GaveUp,
                SourceDomainState::Running,
                StopReason::DidNotConverge.raw(),
            ),
            Outcome::Failed(failure) => (
                ResultKind::Failed,
                failure.source_domain,
                failure.reason.raw(),
            ),
        };
        self.finish(MigrationResult {
            request: U32::new(request),
            kind: kind.into(),
            source: SourceState::from(source).into(),
            reason: U16::new(reason),
            rounds: U32::new(stats.rounds),
            reserved: Reserved::ZERO,
            total_time_ns: U64::new(stats.total_time_ns),
            downtime_ns: U64::new(stats.downtime_ns),
            transferred: U64::new(stats.transferred),
            normal_pages: U64::new(stats.normal),
            zero_pages: U64::new(stats.duplicate),
            text: Text::display(outcome),
        })
    }

    /// One domain of a ListDomains answer.
    pub fn list_domain(&mut self, entry: DomainEntry) -> Result<(), ControlError> {
        self.queue(Message::DomainEntry(entry))
    }

    /// One range of a ListFreeMemory answer.
    pub fn list_free_memory(&mut self, entry: FreeMemoryEntry) -> Result<(), ControlError> {
        self.queue(Message::FreeMemoryEntry(entry))
    }

    /// The end of a list of `count` entries.
    pub fn list_end(&mut self, request: u32, count: u32) -> Result<(), ControlError> {
        self.queue(Message::ListEnd(ListEnd {
            request: U32::new(request),
            count: U32::new(count),
        }))
    }

    /// The host cannot carry a request out; a refused migrate request ends
    /// the running state.
    pub fn reject(
        &mut self,
        request: u32,
        code: ErrorCode,
        detail: u64,
        text: &str,
    ) -> Result<(), ControlError> {
        self.queue(error(request, code, detail, text))?;
        if matches!(self.state, ControlState::Running { request: running, .. } if running == request)
        {
            self.state = ControlState::Idle;
            self.domain = Text::EMPTY;
        }
        Ok(())
    }

    /// The next event to send, left queued.
    pub(crate) fn peek_event(&self) -> Option<&Message> {
        self.events.front()
    }

    /// Drops the event [`EngineControl::peek_event`] showed (it was sent).
    pub(crate) fn pop_event(&mut self) {
        let _ = self.events.pop_front();
    }

    /// Queues a session-level answer (an error to a message that is not a
    /// request, a request before the session is set up).
    pub(crate) fn answer(&mut self, request: u32, code: ErrorCode, detail: u64, text: &str) {
        self.event(error(request, code, detail, text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precopy::Failure;
    use crate::wire::control::{DomainListState, MessageKind};
    use std::vec::Vec;

    fn migrate_request(request: u32, domain: &str) -> MigrateRequest {
        MigrateRequest {
            request: U32::new(request),
            options: MigrateOptions::default(),
            domain: Text::new(domain),
            target_domain: Text::EMPTY,
        }
    }

    fn migrate(request: u32, domain: &str) -> Message {
        Message::Migrate(migrate_request(request, domain))
    }

    fn domain_request(request: u32, domain: &str) -> DomainRequest {
        DomainRequest::new(request, domain)
    }

    fn accepted(request: u32) -> Message {
        Message::Accepted(Accepted::new(request))
    }

    fn drain(control: &mut EngineControl) -> Vec<Message> {
        let mut events = Vec::new();
        while let Some(event) = control.peek_event().cloned() {
            control.pop_event();
            events.push(event);
        }
        events
    }

    fn error_code(message: &Message) -> Option<ErrorCode> {
        match message {
            Message::Error(report) => report.code.get(),
            _ => None,
        }
    }

    #[test]
    fn a_migration_runs_from_request_to_result() {
        let mut control = EngineControl::new();
        assert_eq!(
            control.report(&MigrationStats::new()),
            Err(ControlError::UnknownRequest(0))
        );
        control.on_request(migrate(7, "ldg1"));
        assert_eq!(
            control.state(),
            ControlState::Running {
                request: 7,
                dry_run: false
            }
        );
        assert_eq!(control.domain(), "ldg1");
        assert!(matches!(
            control.next_command(),
            Some(Command::Migrate {
                request: 7,
                dry_run: false,
                ..
            })
        ));
        assert_eq!(drain(&mut control), vec![accepted(7)]);

        let mut stats = MigrationStats::new();
        control.report(&stats).expect("setup");
        stats.status = MigrationStatus::Active;
        stats.progress_percent = 10;
        control.report(&stats).expect("active");
        stats.progress_percent = 20;
        control
            .report(&stats)
            .expect("replaces the unsent progress");
        control.report(&stats).expect("no change, nothing queued");
        let events = drain(&mut control);
        let kinds: Vec<_> = events.iter().map(Message::kind).collect();
        use MessageKind as K;
        assert_eq!(kinds, [K::Phase, K::Progress, K::Phase, K::Progress]);
        assert!(matches!(
            events[3],
            Message::Progress(ProgressEvent { percent: 20, .. })
        ));

        // Status answers with the last progress under its own request id.
        control.on_request(Message::Status(domain_request(8, "")));
        assert!(matches!(
            drain(&mut control)[..],
            [Message::Progress(progress)] if progress.request.get() == 8 && progress.percent == 20
        ));
        // A second migration is refused while one runs.
        control.on_request(migrate(9, "ldg2"));
        assert_eq!(error_code(&drain(&mut control)[0]), Some(ErrorCode::Busy));

        stats.status = MigrationStatus::Completed;
        stats.progress_percent = 100;
        stats.rounds = 3;
        control
            .finish_migration(&Outcome::Completed, &stats)
            .expect("finish");
        assert_eq!(control.state(), ControlState::Idle);
        match &drain(&mut control)[..] {
            [Message::Result(result)] => {
                assert_eq!(result.kind, ResultKind::Completed);
                assert_eq!(result.source, SourceState::Gone);
                assert_eq!(result.rounds.get(), 3);
                assert_eq!(result.request.get(), 7);
            }
            other => panic!("unexpected {other:?}"),
        }
        control.on_request(Message::Status(domain_request(10, "")));
        assert_eq!(
            error_code(&drain(&mut control)[0]),
            Some(ErrorCode::NotMigrating)
        );
    }

    #[test]
    fn cancel_goes_to_the_host_and_its_answer_back() {
        let mut control = EngineControl::new();
        control.on_request(Message::Cancel(domain_request(1, "")));
        assert_eq!(
            error_code(&drain(&mut control)[0]),
            Some(ErrorCode::NotMigrating)
        );
        control.on_request(migrate(2, "ldg1"));
        let _ = control.next_command();
        control.on_request(Message::Cancel(domain_request(3, "other")));
        control.on_request(Message::Cancel(domain_request(4, "ldg1")));
        assert_eq!(control.next_command(), Some(Command::Cancel { request: 4 }));
        control.answer_cancel(4, false).expect("refused");
        let events = drain(&mut control);
        assert_eq!(events[0], accepted(2));
        assert_eq!(error_code(&events[1]), Some(ErrorCode::NotMigrating));
        assert_eq!(error_code(&events[2]), Some(ErrorCode::CancelRefused));
        let failure = Failure::new(StopReason::Timeout, SourceDomainState::ErrorState);
        control
            .finish_migration(&Outcome::Failed(failure), &MigrationStats::new())
            .expect("finish");
        match &drain(&mut control)[..] {
            [Message::Result(result)] => {
                assert_eq!(result.kind, ResultKind::Failed);
                assert_eq!(result.source, SourceState::ErrorState);
                assert_eq!(result.reason.get(), StopReason::Timeout.raw());
                assert!(!result.text.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn lists_dry_runs_and_rejections() {
        let mut control = EngineControl::new();
        control.on_request(Message::ListDomains(domain_request(1, "")));
        control.on_request(Message::ListFreeMemory(domain_request(2, "")));
        assert_eq!(
            control.next_command(),
            Some(Command::ListDomains { request: 1 })
        );
        assert_eq!(
            control.next_command(),
            Some(Command::ListFreeMemory { request: 2 })
        );
        let ldg1 = DomainEntry::new(1, 0, "ldg1", DomainListState::Active, 4, 1 << 30);
        control.list_domain(ldg1).expect("entry");
        control.list_end(1, 1).expect("end");
        assert_eq!(drain(&mut control).len(), 2);

        control.on_request(Message::DryRun(migrate_request(3, "ldg1")));
        assert!(matches!(
            control.next_command(),
            Some(Command::Migrate {
                request: 3,
                dry_run: true,
                ..
            })
        ));
        // A dry run cannot be cancelled.
        control.on_request(Message::Cancel(domain_request(4, "")));
        control
            .reject(3, ErrorCode::UnknownDomain, 0, "no domain ldg1")
            .expect("reject");
        assert_eq!(control.state(), ControlState::Idle);
        let events = drain(&mut control);
        assert_eq!(events[0], accepted(3));
        assert_eq!(error_code(&events[1]), Some(ErrorCode::NotMigrating));
        assert_eq!(error_code(&events[2]), Some(ErrorCode::UnknownDomain));
        // Events are not requests.
        control.on_request(accepted(5));
        assert_eq!(
            error_code(&drain(&mut control)[0]),
            Some(ErrorCode::BadRequest)
        );
    }

    #[test]
    fn statuses_and_source_states_map_to_their_wire_enums() {
        assert_eq!(Phase::from(MigrationStatus::Active), Phase::PreCopy);
        assert_eq!(Phase::from(MigrationStatus::Committing), Phase::Committing);
        assert_eq!(
            SourceState::from(SourceDomainState::ErrorState),
            SourceState::ErrorState
        );
        assert_eq!(
            SourceState::from(SourceDomainState::Gone),
            SourceState::Gone
        );
    }

    #[test]
    fn a_full_queue_pushes_back() {
        let mut control = EngineControl::new();
        control.on_request(migrate(1, "ldg1"));
        let mut warnings = 0;
        while control.warn(WarningCode::Throttle, "throttling").is_ok() {
            warnings += 1;
        }
        assert_eq!(warnings, MAX_EVENTS - 1);
        assert!(!control.can_take_request());
        assert_eq!(
            control.warn(WarningCode::Throttle, "one more"),
            Err(ControlError::Backlog)
        );
        for _ in 0..MAX_COMMANDS {
            let _ = control.next_command();
        }
        let _ = drain(&mut control);
        assert!(control.can_take_request());
    }
}
