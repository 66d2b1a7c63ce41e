//! The service domain of one machine of a two-machine run (`qemu/pair`):
//! the engine's frames go over the UART to this machine's shim
//! ([`ldmig::serial_link`] over [`ConsoleLine`]), which relays them to the
//! other machine's shim over the network.
//!
//! - Source: the guest runs (a slice every [`GUEST_SLICE_NS`]); the
//!   `SourceEngine` starts when the shim's `Migrate` command arrives, and
//!   the source's digest is taken before the engine destroys its copy.
//! - Target: the partition is empty; the `TargetEngine` starts with the
//!   first frame that arrives, takes the domain's digest before it resumes
//!   it, and the guest then runs here.
//!
//! Either way a `MachineStatus` goes to the shim every [`STATUS_NS`]: the
//! engine's progress and outcome, the guest's progress counter, the digest.
//! The machine never stops by itself: `qemu/pair` ends it.

use crate::console_line::ConsoleLine;
use crate::cpu_registers::now_ns;
use crate::guest_layout::{GUEST_CRYPTO_UNITS, GUEST_NAME};
use crate::guest_workload::PROGRESS_OFFSET;
use crate::migration_driver::{
    cpu_yield, image_pipeline, negotiated, ImageSourceEngine, ImageTargetEngine,
};
use crate::observed_hypervisor::{CallLog, ObservedHypervisor};
use crate::pages::AlignedPage;
use crate::service_console::ServiceConsole;
use crate::switchover_check::{guest_state_word, SwitchoverCheck, SwitchoverMode};
use core::cell::RefCell;
use core::fmt::Write;
use ldmig::precopy::config::{NS_PER_MS, NS_PER_SECOND};
use ldmig::precopy::{
    DomainShape, MigrationConfig, Outcome, SourceBuffers, SourcePoll, TargetPoll,
};
use ldmig::serial_link::{SerialLink, SerialTransport};
use ldmig::stats::MigrationStats;
use ldmig::transport::Transport;
use ldmig::wire::codec::Text;
use ldmig::wire::serial::{
    Command, CommandKind, MachinePhase, MachineRole, MachineState, MachineStatus, GUEST_PRESENT,
    GUEST_RUNNING,
};
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::{DomainId, VcpuControl};
use ldmig_hv::sun4v::Sun4v;
use ldmig_hv::HvError;
use zerocopy::FromZeros;

/// The link's rings: each holds the largest frame its direction carries.
type PairLink = SerialLink<ConsoleLine, 32768, 32768>;
/// Bytes of the source engine's frames (16 KiB: a frame takes a quarter
/// of a second on the UART).
const FRAME_BYTES: usize = 16 * 1024;
/// Bytes of the target engine's inbox.
const INBOX_BYTES: usize = 24 * 1024;
/// Dirty-bitmap words the source gets.
const BITMAP_WORDS: usize = 64;
/// A status to the shim this often.
pub const STATUS_NS: u64 = 250 * NS_PER_MS;
/// The guest runs a slice this often (it dirties a few pages a slice):
/// slow enough for pre-copy over a UART to converge in a few rounds.
pub const GUEST_SLICE_NS: u64 = 200 * NS_PER_MS;

/// The engines' configuration for a UART: limits the shim sent, a longer
/// bandwidth window and patience fit for tens of KB/s.
fn engine_config(command: Option<&Command>) -> MigrationConfig {
    let mut config = MigrationConfig {
        pages_per_poll: 16,
        max_time_ns: 240 * NS_PER_SECOND,
        response_timeout_ns: 60 * NS_PER_SECOND,
        bandwidth_window_ns: NS_PER_SECOND,
        ..MigrationConfig::default()
    };
    if let Some(command) = command {
        config.downtime_limit_ns = u64::from(command.downtime_limit_ms.get()) * NS_PER_MS;
        config.max_bandwidth = command.max_bandwidth.get();
    }
    config
}

/// What this machine tells its shim, kept up to date.
struct Machine<'l> {
    link: &'l RefCell<PairLink>,
    status: MachineStatus,
    guest: DomainId,
    next_status: u64,
    next_slice: u64,
}

impl Machine<'_> {
    /// Pumps the link; sends a status and gives the guest a slice when
    /// their time came.
    fn tick(&mut self, hv: &mut Sun4v, console: &mut ServiceConsole) {
        let now = now_ns();
        let mut link = self.link.borrow_mut();
        let was_up = link.failure().is_none();
        if let Err(error) = link.poll(now, &mut |_| {}) {
            if was_up {
                let _ = writeln!(console, "serial link to the shim failed: {error}");
            }
        }
        if now >= self.next_status {
            self.next_status = now + STATUS_NS;
            self.refresh_guest(hv);
            let statistics = link.statistics();
            self.status.records_resent = (statistics.records_resent as u32).into();
            self.status.records_damaged = (statistics.records_damaged as u32).into();
            link.send_status(&self.status);
        }
        drop(link);
        if now >= self.next_slice {
            self.next_slice = now + GUEST_SLICE_NS;
            cpu_yield();
        }
    }

    fn refresh_guest(&mut self, hv: &mut Sun4v) {
        let mut flags = 0;
        if self.guest != 0 {
            if let Ok(progress) = guest_state_word(hv, self.guest, PROGRESS_OFFSET) {
                flags = GUEST_PRESENT;
                self.status.guest_progress = progress.into();
                let mut state = VcpuState::zeroed();
                if hv.vcpu_state(self.guest, 0, &mut state) == Err(HvError::Busy) {
                    flags |= GUEST_RUNNING;
                }
            }
        }
        self.status.guest_flags = flags;
        self.status.guest_domain = self.guest.into();
    }

    fn engine_stats(&mut self, state: MachineState, stats: &MigrationStats) {
        let status = &mut self.status;
        status.state = state.into();
        status.phase = MachinePhase::from(stats.status).into();
        status.percent = stats.progress_percent;
        status.throttle = stats.cpu_throttle_percentage;
        status.rounds = stats.rounds.into();
        status.transferred = stats.transferred.into();
        status.remaining = stats.remaining.into();
        status.total = stats.total.into();
        status.bandwidth = stats.bandwidth.into();
        status.expected_downtime_ns = stats.expected_downtime_ns.into();
        status.downtime_ns = stats.downtime_ns.into();
        status.total_time_ns = stats.total_time_ns.into();
        status.dirty_syncs = stats.dirty_sync_count.into();
        status.zero_pages = stats.duplicate.into();
        status.normal_pages = stats.normal.into();
        status.compressed_pages = stats.compressed_pages.into();
    }

    /// The engine's outcome and the switchover check's digest.
    fn finish(&mut self, outcome: Outcome, check: &SwitchoverCheck, stats: &MigrationStats) {
        self.engine_stats(MachineState::Finished, stats);
        if let Outcome::Failed(failure) = outcome {
            self.status.stop_reason = failure.reason.raw().into();
            self.status.hv_status = failure.hv_status.into();
        }
        let result = check.result();
        self.status.progress_at_switchover = result.progress_at_switchover.into();
        self.status.memory_digest = result.digest.memory.into();
        self.status.vcpu_digest = result.digest.vcpus.into();
        self.next_status = 0;
    }
}

/// The service domain's loop on one machine of a pair; `guest` is the
/// running guest (source) or 0 (target).
pub fn serve_pair(console: &mut ServiceConsole, guest: DomainId, source: bool, corrupt: bool) -> ! {
    let link = RefCell::new(PairLink::new(ConsoleLine));
    let mut status = MachineStatus::new_zeroed();
    status.role = if source {
        MachineRole::Source
    } else {
        MachineRole::Target
    }
    .into();
    status.state = MachineState::Idle.into();
    status.phase = MachinePhase::Setup.into();
    status.guest_name = Text::new(GUEST_NAME);
    let mut machine = Machine {
        link: &link,
        status,
        guest,
        next_status: 0,
        next_slice: 0,
    };
    let _ = writeln!(
        console,
        "two-machine run: {}; engine frames, status and commands share the UART with this console",
        if source {
            "source, waiting for the shim's Migrate"
        } else {
            "target, waiting for a domain"
        }
    );
    let Some(mut hv) = negotiated(console) else {
        crate::halt()
    };
    let mut done = false;
    loop {
        machine.tick(&mut hv, console);
        if done {
            continue;
        }
        if source {
            let command = link.borrow_mut().take_command();
            if let Some(command) = command.filter(|c| c.kind == CommandKind::Migrate) {
                done = run_source(console, &mut machine, &mut hv, &command);
            }
        } else if link.borrow().frame_waiting() {
            run_target(console, &mut machine, &mut hv, corrupt);
            done = true;
        }
    }
}

/// Migrates the guest as `command` says; true once the engine ran.
fn run_source(
    console: &mut ServiceConsole,
    machine: &mut Machine<'_>,
    hv: &mut Sun4v,
    command: &Command,
) -> bool {
    let Some(engine_hv) = negotiated(console) else {
        return false;
    };
    machine.status.request = command.request;
    let log = CallLog::default();
    let check = SwitchoverCheck::new(SwitchoverMode::SourceDigest, false);
    let mut transport = SerialTransport::new(machine.link);
    let mut bitmap = [0u64; BITMAP_WORDS];
    let mut frame = [0u8; FRAME_BYTES];
    let mut page = AlignedPage::zeroed();
    let Some(pipeline) = image_pipeline(&mut page, &mut frame) else {
        let _ = writeln!(console, "the page pipeline could not be laid out");
        return false;
    };
    let shape = DomainShape {
        target_name: command.target_domain.as_str(),
        active: true,
        crypto_units: GUEST_CRYPTO_UNITS,
    };
    let buffers = SourceBuffers {
        bitmap: &mut bitmap,
        pipeline: &pipeline,
    };
    let mut engine: ImageSourceEngine<'_, '_> = match ldmig::precopy::SourceEngine::new(
        ObservedHypervisor::new(engine_hv, &log, Some(&check)),
        &mut transport as &mut dyn Transport,
        machine.guest,
        shape,
        engine_config(Some(command)),
        buffers,
    ) {
        Ok(engine) => engine,
        Err(error) => {
            let _ = writeln!(console, "the source engine could not start: {error}");
            return false;
        }
    };
    let _ = writeln!(
        console,
        "migrating {GUEST_NAME} over the UART as {}: downtime limit {} ms",
        command.target_domain,
        command.downtime_limit_ms.get()
    );
    let outcome = loop {
        if let SourcePoll::Finished(outcome) = engine.poll(now_ns()) {
            break outcome;
        }
        machine.engine_stats(MachineState::Migrating, engine.stats());
        machine.tick(hv, console);
    };
    machine.finish(outcome, &check, engine.stats());
    if outcome == Outcome::Completed {
        machine.guest = 0;
    }
    let _ = writeln!(
        console,
        "source engine finished: {}",
        engine.stats().status.name()
    );
    true
}

/// Takes the domain that arrives, resumes it, and lets it run here.
fn run_target(
    console: &mut ServiceConsole,
    machine: &mut Machine<'_>,
    hv: &mut Sun4v,
    corrupt: bool,
) {
    let Some(engine_hv) = negotiated(console) else {
        return;
    };
    let log = CallLog::default();
    let check = SwitchoverCheck::new(SwitchoverMode::TargetDigest, corrupt);
    let mut transport = SerialTransport::new(machine.link);
    let mut inbox = [0u8; INBOX_BYTES];
    let mut page = AlignedPage::zeroed();
    let Some(pipeline) = image_pipeline(&mut page, &mut inbox) else {
        let _ = writeln!(console, "the page pipeline could not be laid out");
        return;
    };
    let mut engine: ImageTargetEngine<'_, '_> = ldmig::precopy::TargetEngine::new(
        ObservedHypervisor::new(engine_hv, &log, Some(&check)),
        &mut transport as &mut dyn Transport,
        engine_config(None),
        &pipeline,
    );
    let _ = writeln!(
        console,
        "a domain arrives over the UART: target engine started"
    );
    let outcome = loop {
        if let TargetPoll::Finished(outcome) = engine.poll(now_ns()) {
            break outcome;
        }
        machine.guest = engine.domain().unwrap_or(0);
        machine.engine_stats(MachineState::Migrating, engine.stats());
        machine.tick(hv, console);
    };
    machine.finish(outcome, &check, engine.stats());
    machine.guest = match outcome {
        Outcome::Completed => engine.domain().unwrap_or(0),
        _ => 0,
    };
    let _ = writeln!(
        console,
        "target engine finished: {}; {GUEST_NAME} is domain {} here",
        engine.stats().status.name(),
        machine.guest
    );
}
