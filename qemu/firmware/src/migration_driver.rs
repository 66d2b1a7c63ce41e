//! The migration of the running guest `ldg1`, driven from the service
//! domain: the engine's own `SourceEngine` and `TargetEngine` (its config,
//! convergence policy and statistics), each over its own `Sun4v` handle,
//! linked by the in-memory rings, polled in turn with the time from
//! `%stick`. Between polls the service domain yields the strand
//! (`CPU_YIELD`) and the guest runs a slice, writing pages while pre-copy
//! goes on; the source suspends it, moves the last pages and its vCPU
//! state; the target resumes it (after the switchover check) and the
//! source is destroyed. Then the guest runs on the target for a while, and
//! its progress counter is read back there.

use crate::cpu_registers::now_ns;
use crate::guest_layout::{GUEST_CRYPTO_UNITS, GUEST_NAME};
use crate::guest_workload::{ERRORS_OFFSET, GUEST_STATE_MAGIC, MAGIC_OFFSET, PROGRESS_OFFSET};
use crate::observed_hypervisor::{CallLog, ObservedHypervisor};
use crate::pages::AlignedPage;
use crate::ring_transport::{FrameRing, RingEnd, SOURCE_SLOT_BYTES, TARGET_SLOT_BYTES};
use crate::service_console::ServiceConsole;
use crate::service_report::{MigrationEnd, ServiceReport};
use crate::switchover_check::{guest_state_word, SwitchoverCheck, SwitchoverMode};
use core::fmt::Write;
use ldmig::pipeline::{BatchBuffers, PagePipeline};
use ldmig::precopy::config::{NS_PER_MS, NS_PER_SECOND};
use ldmig::precopy::{
    DomainShape, MigrationConfig, Outcome, SourceBuffers, SourceEngine, SourcePoll, TargetEngine,
    TargetPoll,
};
use ldmig::stats::MigrationStats;
use ldmig::transport::Transport;
use ldmig_hv::abi::cpu::CPU_YIELD;
use ldmig_hv::hypervisor::{DomainId, GuestMemory};
use ldmig_hv::sun4v::Sun4v;
use ldmig_hv::trampoline::fast_trap;
use ldmig_hv::HvError;

/// Slices the guest runs before the migration starts.
const WARM_UP_SLICES: u64 = 8;
/// Slices the guest runs on the target before its counter is read.
const TARGET_SLICES: u64 = 64;
/// Polls after which the driver gives up on the engines.
const MAX_POLLS: u64 = 100_000;
/// Time after which the driver gives up on the engines.
const MAX_TIME_NS: u64 = 40 * NS_PER_SECOND;
/// Dirty-bitmap words the source gets (2 x 3 are needed for ldg1).
const BITMAP_WORDS: usize = 64;

/// The engines' configuration: the engine's defaults (300 ms downtime
/// limit, QEMU's throttle steps), with work per poll kept small so that
/// the guest runs often during pre-copy, and limits that fit a boot.
pub fn engine_config() -> MigrationConfig {
    MigrationConfig {
        pages_per_poll: 16,
        max_time_ns: 30 * NS_PER_SECOND,
        response_timeout_ns: 10 * NS_PER_SECOND,
        bandwidth_window_ns: 20 * NS_PER_MS,
        ..MigrationConfig::default()
    }
}

/// What the console has been told about the rounds so far.
#[derive(Debug, Default)]
struct RoundProgress {
    rounds: u32,
    dirtied: u64,
    switchover: bool,
}

impl RoundProgress {
    /// A line per round the source finished since the last call (pages
    /// sent so far: a poll may go on into the next round; pages the guest
    /// dirtied during the round, from the sync that ended it), and one when
    /// the switchover starts.
    fn print(
        &mut self,
        console: &mut ServiceConsole,
        stats: &MigrationStats,
        log: &CallLog,
        suspended: bool,
    ) {
        while self.rounds < stats.rounds {
            let dirtied = log.pages_dirtied.get();
            let _ = writeln!(
                console,
                "round {} ended: {} pages sent so far, {} dirtied by the guest during it, {} KiB/s, throttle {} %",
                self.rounds,
                stats.page_records,
                dirtied - self.dirtied,
                stats.bandwidth / 1024,
                stats.cpu_throttle_percentage
            );
            self.rounds += 1;
            self.dirtied = dirtied;
        }
        if !self.switchover && suspended {
            self.switchover = true;
            let _ = writeln!(
                console,
                "switchover: {GUEST_NAME} suspended after round {}; its last dirty pages and its vCPU state went to the target ({})",
                stats.rounds.saturating_sub(1),
                stats.status.name()
            );
        }
    }
}

/// Gives the strand away for one turn (the guest runs a slice).
pub fn cpu_yield() {
    // SAFETY: CPU_YIELD takes no addresses.
    unsafe { fast_trap(CPU_YIELD, &[]) };
}

/// The source engine as the image runs it: over the observed `Sun4v` and
/// whatever link carries its frames (one engine type for both links, so
/// the image holds its code once).
pub type ImageSourceEngine<'a, 'p> =
    SourceEngine<'a, 'p, ObservedHypervisor<'a>, &'a mut dyn Transport>;
/// The target engine as the image runs it.
pub type ImageTargetEngine<'a, 'p> =
    TargetEngine<'a, 'p, ObservedHypervisor<'a>, &'a mut dyn Transport>;

/// An engine's page pipeline as the image gives it: one batch of one
/// (aligned) page and `frame`. The one strand does the page work inside
/// the engine's polls (no workers: `MigrationConfig::workers` is 0).
pub fn image_pipeline<'b>(
    page: &'b mut AlignedPage,
    frame: &'b mut [u8],
) -> Option<PagePipeline<'b>> {
    let buffers = BatchBuffers {
        pages: core::slice::from_mut(&mut page.0),
        frame,
    };
    PagePipeline::new([buffers], None).ok()
}

/// A negotiated `Sun4v` handle, or the refusal on the console.
pub fn negotiated(console: &mut ServiceConsole) -> Option<Sun4v> {
    match Sun4v::negotiate() {
        Ok(hv) => Some(hv),
        Err(error) => {
            let _ = writeln!(console, "API_SET_VERSION refused: {error}");
            None
        }
    }
}

/// Migrates `source` (the guest) and fills the migration part of `report`.
pub fn migrate_guest(
    console: &mut ServiceConsole,
    source: DomainId,
    corrupt_page: bool,
    report: &mut ServiceReport,
) {
    report.source_domain = source;
    report.migration_end = MigrationEnd::SetupFailed as u64;
    let Some(mut hv) = negotiated(console) else {
        return;
    };
    for _ in 0..WARM_UP_SLICES {
        cpu_yield();
    }
    let warm = guest_state_word(&mut hv, source, PROGRESS_OFFSET).unwrap_or(0);
    let _ = writeln!(
        console,
        "guest {GUEST_NAME} (domain {source}) runs: progress {warm} after {WARM_UP_SLICES} slices"
    );

    let log = CallLog::default();
    let check = SwitchoverCheck::new(SwitchoverMode::Compare { source }, corrupt_page);
    let (Some(source_hv), Some(target_hv)) = (negotiated(console), negotiated(console)) else {
        return;
    };
    let forward = FrameRing::<SOURCE_SLOT_BYTES>::new();
    let backward = FrameRing::<TARGET_SLOT_BYTES>::new();
    let mut source_end = RingEnd::new(&forward, &backward);
    let mut target_end = RingEnd::new(&backward, &forward);
    let mut bitmap = [0u64; BITMAP_WORDS];
    let mut frame = [0u8; SOURCE_SLOT_BYTES];
    let mut page = AlignedPage::zeroed();
    let mut inbox = [0u8; SOURCE_SLOT_BYTES];
    let mut target_page = AlignedPage::zeroed();
    let (Some(source_pipeline), Some(target_pipeline)) = (
        image_pipeline(&mut page, &mut frame),
        image_pipeline(&mut target_page, &mut inbox),
    ) else {
        let _ = writeln!(console, "the page pipelines could not be laid out");
        return;
    };
    let config = engine_config();
    let shape = DomainShape {
        target_name: GUEST_NAME,
        active: true,
        crypto_units: GUEST_CRYPTO_UNITS,
    };
    let buffers = SourceBuffers {
        bitmap: &mut bitmap,
        pipeline: &source_pipeline,
    };
    let mut source_engine: ImageSourceEngine<'_, '_> = match SourceEngine::new(
        ObservedHypervisor::new(source_hv, &log, None),
        &mut source_end as &mut dyn Transport,
        source,
        shape,
        config,
        buffers,
    ) {
        Ok(engine) => engine,
        Err(error) => {
            let _ = writeln!(console, "the source engine could not start: {error}");
            return;
        }
    };
    let mut target_engine: ImageTargetEngine<'_, '_> = TargetEngine::new(
        ObservedHypervisor::new(target_hv, &log, Some(&check)),
        &mut target_end as &mut dyn Transport,
        config,
        &target_pipeline,
    );
    let _ = writeln!(
        console,
        "migrating {GUEST_NAME}: SourceEngine and TargetEngine over Sun4v, {} pages per poll, downtime limit {} ms",
        config.pages_per_poll,
        config.downtime_limit_ns / NS_PER_MS
    );

    let started = now_ns();
    let mut progress = RoundProgress::default();
    let mut outcome = None;
    while report.polls < MAX_POLLS && now_ns() - started < MAX_TIME_NS {
        let now = now_ns();
        let source_poll = source_engine.poll(now);
        let target_poll = target_engine.poll(now);
        report.polls += 1;
        let suspended = source_engine.suspended_at().is_some();
        progress.print(console, source_engine.stats(), &log, suspended);
        if let (SourcePoll::Finished(source_outcome), TargetPoll::Finished(target_outcome)) =
            (source_poll, target_poll)
        {
            if target_outcome != Outcome::Completed {
                let _ = writeln!(console, "the target ended: {target_outcome}");
            }
            outcome = Some(source_outcome);
            break;
        }
        cpu_yield();
    }

    let stats = *source_engine.stats();
    report.rounds = u64::from(stats.rounds);
    report.pages_sent = stats.page_records;
    report.zero_pages = stats.duplicate;
    report.lz4_pages = stats.compressed_pages;
    let result = check.result();
    report.check_ns = result.duration_ns;
    report.downtime_ns = stats.downtime_ns.saturating_sub(result.duration_ns);
    report.total_time_ns = stats.total_time_ns;
    report.transferred_bytes = stats.transferred;
    report.downtime_bytes = stats.downtime_bytes;
    report.throttle_percent = u64::from(stats.cpu_throttle_percentage);
    report.target_domain = target_engine.domain().unwrap_or(0);
    report.pages_dirtied_during_precopy = log.pages_dirtied.get();
    report.dirty_syncs = log.syncs.get();
    for (count, logged) in report.engine_calls.iter_mut().zip(log.calls.iter()) {
        *count = logged.get();
    }
    report.migration_end = match outcome {
        None => MigrationEnd::DidNotFinish,
        Some(Outcome::Completed) => MigrationEnd::Completed,
        Some(Outcome::Cancelled) => MigrationEnd::Cancelled,
        Some(Outcome::GaveUp(reason)) => {
            let _ = writeln!(console, "pre-copy gave up: {reason}");
            MigrationEnd::GaveUp
        }
        Some(Outcome::Failed(failure)) => {
            report.failure_reason = failure.reason as u64;
            report.failure_status = failure.hv_status;
            let _ = writeln!(
                console,
                "failed: {} (hypervisor status {})",
                failure.reason.describe(),
                failure.hv_status
            );
            MigrationEnd::Failed
        }
    } as u64;
    report.pages_compared = result.pages_compared;
    report.differing_pages = result.differing_pages;
    report.first_differing_ra = result.first_differing_ra;
    report.corrupted_ra = result.corrupted_ra;
    report.memory_identical = u64::from(result.memory_identical());
    report.vcpus_compared = result.vcpus_compared;
    report.vcpu_state_identical = u64::from(result.vcpu_state_identical());
    report.check_status = result.failed_status;
    report.progress_at_switchover = result.progress_at_switchover;

    if report.migration_end != MigrationEnd::Completed as u64 {
        return;
    }
    let _ = writeln!(
        console,
        "completed: {GUEST_NAME} is domain {} now; {} rounds, {} pages sent, downtime {} us (+ {} us of switchover check)",
        report.target_domain,
        report.rounds,
        report.pages_sent,
        report.downtime_ns / 1000,
        report.check_ns / 1000
    );
    report.source_destroyed = u64::from(hv.domain_info(source) == Err(HvError::Invalid));
    for _ in 0..TARGET_SLICES {
        cpu_yield();
    }
    let target = report.target_domain;
    let magic = guest_state_word(&mut hv, target, MAGIC_OFFSET).unwrap_or(0);
    if magic == GUEST_STATE_MAGIC {
        report.progress_on_target = guest_state_word(&mut hv, target, PROGRESS_OFFSET).unwrap_or(0);
        report.guest_errors = guest_state_word(&mut hv, target, ERRORS_OFFSET).unwrap_or(0);
    }
    let _ = writeln!(
        console,
        "{GUEST_NAME} on the target: progress {} -> {} after {TARGET_SLICES} more slices, {} damaged pages found by the guest",
        report.progress_at_switchover,
        report.progress_on_target,
        report.guest_errors
    );
}
