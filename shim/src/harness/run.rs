//! One whole migration between two simulated machines, driven step by step
//! on a virtual clock (deterministic from the seed) or on the real clock.
//! The engines talk through the in-memory pipe, or (with
//! [`TransportKind::Ldc`]) each through a simulated LDC channel to its
//! shim's end, whose relays meet on the pipe.

use super::pipe::{pipe, LinkFault, LinkModel, PipeEnd};
use crate::host::counting::CountingHv;
use crate::host::ldc_hop::{HopTransport, LdcHop};
use crate::host::workers::{with_workers, PipelineStorage, Side, WorkTiming};
use ldmig::ldc_transport::BulkStatistics;
use ldmig::precopy::dirty_set::DirtySet;
use ldmig::precopy::{
    DomainShape, MigrationConfig, Outcome, SourceBuffers, SourceEngine, SourcePoll, TargetEngine,
};
use ldmig::stats::{MigrationStats, MigrationStatus};
use ldmig::transport::{Transport, TransportError};
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::{DomainId, DomainRunState, MemoryBlock};
use ldmig_sim::handle::MachineHandle;
use ldmig_sim::machine::{BlockSpec, DomainSpec, Machine, PhysRange};
use ldmig_sim::workload::{Workload, WorkloadSpec};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Which clock drives the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Simulated time advancing `step_ns` per step: deterministic. Page
    /// work takes no time on it: workers time nothing and finish each
    /// poll's batches before the clock moves.
    Virtual {
        /// Time per step.
        step_ns: u64,
    },
    /// The host's monotonic clock.
    Real,
}

/// When an intervention fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The first step at which the source reports this status.
    SourceStatus(MigrationStatus),
    /// The first step at or after this time since the migration started.
    AfterNs(u64),
    /// The first step at which the source progress reaches this percent.
    SourceProgress(u8),
    /// The first step after the source ended this many pre-copy rounds
    /// (it is then between rounds, or waiting for the target's round
    /// acknowledgement before it suspends).
    SourceRounds(u32),
}

/// Something done to the migration while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intervention {
    /// The administrator cancels on the source.
    CancelSource(Trigger),
    /// The link between the shims goes down.
    Disconnect(Trigger),
    /// Every later frame from the target is lost (the target goes on).
    LoseTargetFrames(Trigger),
    /// Every later send of the target fails at once (its link broke in
    /// that direction); it still receives what the source sent.
    TargetSendsFail(Trigger),
    /// A fault injected in the link from the start (0 = source to target).
    Link(usize, LinkFault),
    /// The hypervisor resets the source engine's LDC channel to its shim
    /// ([`TransportKind::Ldc`] only).
    LdcReset(Trigger),
    /// One byte of the source engine's frame number `frame` is flipped in
    /// its exported slot, after the engine wrote it and before the shim
    /// copies it ([`TransportKind::Ldc`] only).
    CorruptExportedFrame {
        /// Frame number in the source engine's transmit ring.
        frame: u64,
        /// Byte offset (wrapped to the frame).
        offset: usize,
    },
}

/// How the engines reach each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// Directly through the in-memory pipe.
    Pipe,
    /// engine -> LDC (descriptor rings, `LDC_COPY`) -> shim side -> pipe
    /// -> shim side -> LDC -> engine.
    Ldc,
}

/// Everything that defines a run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Seed of the workload (and so of the whole run in virtual time).
    pub seed: u64,
    /// Bytes of guest memory.
    pub memory_bytes: u64,
    /// Memory blocks the domain's memory is split into.
    pub memory_blocks: u64,
    /// vCPUs.
    pub vcpus: u64,
    /// What runs in the domain.
    pub workload: WorkloadSpec,
    /// The link between the machines.
    pub link: LinkModel,
    /// Migration limits.
    pub config: MigrationConfig,
    /// The clock.
    pub clock: ClockMode,
    /// Workload time before the migration starts.
    pub warmup_ns: u64,
    /// Workload time on the target after completion (proves it continues).
    pub continue_ns: u64,
    /// Bytes of a page frame.
    pub frame_bytes: usize,
    /// Stop the run after this much migration time (a stuck-run guard).
    pub max_ns: u64,
    /// Interventions.
    pub interventions: Vec<Intervention>,
    /// Initial memory content (the rest stays as the workload fills it).
    pub image: Option<Vec<u8>>,
    /// Compare the memories byte by byte at the end (costs a copy).
    pub verify: bool,
    /// The domain runs (live pre-copy) or is only bound (one-pass copy).
    pub active: bool,
    /// Crypto units of the domain.
    pub crypto_units: u64,
    /// Free crypto units on the target machine.
    pub target_crypto_units: u64,
    /// How the engines reach each other.
    pub transport: TransportKind,
    /// Worker threads per engine (0: each engine works within its polls,
    /// deterministically; more: real threads, batches finish in any order
    /// within a step).
    pub workers: u32,
    /// Lines of the source's delta cache (0: no deltas).
    pub delta_cache_lines: usize,
}

impl Scenario {
    /// A 10 GbE run of a domain of `memory_bytes` with `workload`, virtual time.
    pub fn new(seed: u64, memory_bytes: u64, workload: WorkloadSpec) -> Self {
        Scenario {
            seed,
            memory_bytes,
            memory_blocks: 2,
            vcpus: 4,
            workload,
            link: LinkModel::TEN_GBE,
            config: MigrationConfig::default(),
            clock: ClockMode::Virtual { step_ns: 100_000 },
            warmup_ns: 50_000_000,
            continue_ns: 20_000_000,
            frame_bytes: 256 << 10,
            max_ns: 3_600_000_000_000,
            interventions: Vec::new(),
            image: None,
            verify: true,
            active: true,
            crypto_units: 0,
            target_crypto_units: 8,
            transport: TransportKind::Pipe,
            workers: 0,
            delta_cache_lines: crate::host::workers::DELTA_CACHE_LINES,
        }
    }
}

/// What a run found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// How the source ended (`None`: the run hit `max_ns`).
    pub source_outcome: Option<Outcome>,
    /// How the target ended.
    pub target_outcome: Option<Outcome>,
    /// Source counters.
    pub source: MigrationStats,
    /// Target counters.
    pub target: MigrationStats,
    /// Suspension on the source to resumption on the target, exact.
    pub downtime_ns: Option<u64>,
    /// Target memory equals the source's at suspension (completed runs).
    pub memory_identical: Option<bool>,
    /// Target vCPU states equal the source's at suspension.
    pub vcpu_state_identical: Option<bool>,
    /// The source domain still exists on the source machine.
    pub source_domain_present: bool,
    /// The source domain runs (exists, not suspended, normal state).
    pub source_running: bool,
    /// The source domain's run state, if it exists.
    pub source_state: Option<DomainRunState>,
    /// The engine wrote to the source domain (memory or vCPU state).
    pub source_written: bool,
    /// Domains on the target machine at the end.
    pub target_domains: usize,
    /// The migrated domain runs on the target.
    pub target_running: bool,
    /// The workload wrote pages on the target after completion.
    pub workload_continued: Option<bool>,
    /// Migration time on the run's clock.
    pub migration_ns: u64,
    /// Host time the run took.
    pub host_ns: u64,
    /// Pages the workload wrote during the migration.
    pub workload_pages: u64,
    /// Crypto units the migrated domain has on the target.
    pub target_crypto_units: u64,
    /// Crypto units the source domain has at the end (if it still exists).
    pub source_crypto_units: u64,
    /// What the LDC hops did ([`TransportKind::Ldc`] runs).
    pub ldc: Option<LdcReport>,
    /// The first time either side's progress went down, in words (`None`:
    /// it never did).
    pub progress_went_back: Option<String>,
}

impl Report {
    /// Checks everything a completed live migration promises: both sides
    /// completed, memory and vCPU state equal to the source's at
    /// suspension, the source domain gone and never written by the engine,
    /// the domain running on the target, progress at 100 %. `Err` names
    /// every promise broken.
    pub fn completed_intact(&self) -> Result<(), String> {
        let checks = [
            (
                self.source_outcome == Some(Outcome::Completed),
                "the source did not complete",
            ),
            (
                self.target_outcome == Some(Outcome::Completed),
                "the target did not complete",
            ),
            (self.memory_identical == Some(true), "memory differs"),
            (
                self.vcpu_state_identical == Some(true),
                "vCPU state differs",
            ),
            (
                !self.source_domain_present,
                "the source domain is still there",
            ),
            (self.target_running, "the domain does not run on the target"),
            (
                !self.source_written,
                "the engine wrote to the source domain",
            ),
            (
                self.source.status == MigrationStatus::Completed,
                "the source status is not completed",
            ),
            (
                self.source.progress_percent == 100,
                "the source progress is not 100 %",
            ),
        ];
        let broken: Vec<&str> = checks
            .iter()
            .filter(|(kept, _)| !kept)
            .map(|(_, what)| *what)
            .collect();
        if broken.is_empty() {
            Ok(())
        } else {
            Err(format!("{} (seed {})", broken.join("; "), self.seed))
        }
    }
}

/// Counters of both LDC hops of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LdcReport {
    /// The source engine's end.
    pub source_engine: BulkStatistics,
    /// The source shim's end.
    pub source_shim: BulkStatistics,
    /// The target engine's end.
    pub target_engine: BulkStatistics,
    /// The target shim's end.
    pub target_shim: BulkStatistics,
    /// Ring registrations the source engine sent.
    pub source_registrations: u32,
    /// Link resets the source engine's LDC link went through.
    pub source_link_resets: u64,
}

/// What an engine of the harness sends its frames through.
enum EngineLink {
    Pipe(PipeEnd),
    Ldc(HopTransport<PipeEnd>),
}

impl Transport for EngineLink {
    fn send(&mut self, frame: &[u8]) -> Result<bool, TransportError> {
        match self {
            EngineLink::Pipe(end) => end.send(frame),
            EngineLink::Ldc(link) => link.send(frame),
        }
    }

    fn receive(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, TransportError> {
        match self {
            EngineLink::Pipe(end) => end.receive(buffer),
            EngineLink::Ldc(link) => link.receive(buffer),
        }
    }
}

const DOMAIN_NAME: &str = "ldg-src";

/// A domain's memory blocks (RA, bytes) and vCPU states at one instant.
type Snapshot = (Vec<(u64, Vec<u8>)>, Vec<VcpuState>);
const BLOCK_BASE_RA: u64 = 0x800_0000;

fn build_source(scenario: &Scenario) -> Result<(Machine, DomainId), String> {
    let page = 8192u64;
    let blocks = scenario.memory_blocks.max(1);
    let block_size = (scenario.memory_bytes / blocks).div_ceil(page) * page;
    let physical = vec![PhysRange {
        pa: 0x1_0000_0000,
        size: block_size * blocks + (64 << 20),
    }];
    let mut machine = Machine::new("source", physical, 64, 8);
    let specs = (0..blocks)
        .map(|index| BlockSpec {
            ra: BLOCK_BASE_RA + index * (block_size + (16 << 20)),
            size: block_size,
            pa: None,
        })
        .collect();
    let spec = DomainSpec {
        name: DOMAIN_NAME.into(),
        vcpus: scenario.vcpus,
        blocks: specs,
        crypto_units: scenario.crypto_units,
        active: scenario.active,
    };
    let domain = machine
        .add_domain(spec)
        .map_err(|error| error.to_string())?;
    Ok((machine, domain))
}

fn build_target(scenario: &Scenario) -> Machine {
    let physical = vec![PhysRange {
        pa: 0x2_0000_0000,
        size: scenario.memory_bytes + (256 << 20),
    }];
    Machine::new("target", physical, 64, scenario.target_crypto_units)
}

fn trigger_fires(trigger: Trigger, stats: &MigrationStats, elapsed_ns: u64) -> bool {
    match trigger {
        Trigger::SourceStatus(status) => stats.status == status,
        Trigger::AfterNs(ns) => elapsed_ns >= ns,
        Trigger::SourceProgress(percent) => stats.progress_percent >= percent,
        Trigger::SourceRounds(rounds) => stats.rounds >= rounds,
    }
}

/// Runs one migration as `scenario` says and checks what it left.
pub fn run(scenario: &Scenario) -> Result<Report, String> {
    let host_start = Instant::now();
    let (mut source_machine, domain) = build_source(scenario)?;
    let mut workload = Workload::new(scenario.workload, domain);
    workload
        .fill_initial(&mut source_machine)
        .map_err(|error| error.to_string())?;
    if let Some(image) = &scenario.image {
        let length = image.len().min(scenario.memory_bytes as usize) / 8 * 8;
        let blocks = source_machine.memory_blocks(domain);
        let mut offset = 0usize;
        for (block, _) in blocks {
            let take = (length - offset).min(block.size as usize);
            if take == 0 {
                break;
            }
            source_machine
                .load_memory(domain, block.ra, &image[offset..offset + take])
                .map_err(|e| e.to_string())?;
            offset += take;
        }
    }
    let source_handle = MachineHandle::new(source_machine);
    let target_handle = MachineHandle::new(build_target(scenario));
    let (source_end, target_end, link) = pipe(scenario.link);
    for intervention in &scenario.interventions {
        if let Intervention::Link(from, fault) = intervention {
            link.inject(*from, *fault);
        }
    }
    let (hops, source_end, target_end) = match scenario.transport {
        TransportKind::Pipe => (
            None,
            EngineLink::Pipe(source_end),
            EngineLink::Pipe(target_end),
        ),
        TransportKind::Ldc => {
            let source_hop = Rc::new(RefCell::new(LdcHop::open(
                scenario.frame_bytes,
                1,
                source_end,
            )?));
            let target_hop = Rc::new(RefCell::new(LdcHop::open(
                scenario.frame_bytes,
                2,
                target_end,
            )?));
            (
                Some((source_hop.clone(), target_hop.clone())),
                EngineLink::Ldc(HopTransport(source_hop)),
                EngineLink::Ldc(HopTransport(target_hop)),
            )
        }
    };
    for intervention in &scenario.interventions {
        match (intervention, &hops) {
            (Intervention::CorruptExportedFrame { frame, offset }, Some((source_hop, _))) => {
                source_hop.borrow_mut().corrupt = Some((*frame, *offset));
            }
            (Intervention::CorruptExportedFrame { .. } | Intervention::LdcReset(_), None) => {
                return Err("an LDC intervention needs TransportKind::Ldc".into());
            }
            _ => {}
        }
    }

    let blocks: Vec<MemoryBlock> = source_handle
        .lock()
        .memory_blocks(domain)
        .into_iter()
        .map(|(block, _)| block)
        .collect();
    let mut bitmap = vec![0u64; DirtySet::words_needed(&blocks)];
    let mut source_storage = PipelineStorage::new(
        Side::Source {
            cache_lines: scenario.delta_cache_lines,
        },
        scenario.workers,
        scenario.frame_bytes,
    );
    let source_pipeline = source_storage.pipeline()?;
    let mut target_storage =
        PipelineStorage::new(Side::Target, scenario.workers, scenario.frame_bytes);
    let target_pipeline = target_storage.pipeline()?;
    let config = MigrationConfig {
        workers: scenario.workers,
        ..scenario.config
    };
    let counting = CountingHv::new(source_handle.clone());
    let source_writes = counting.writes();
    let shape = DomainShape {
        target_name: DOMAIN_NAME,
        active: scenario.active,
        crypto_units: scenario.crypto_units,
    };
    let buffers = SourceBuffers {
        bitmap: &mut bitmap,
        pipeline: &source_pipeline,
    };
    let mut source = SourceEngine::new(counting, source_end, domain, shape, config, buffers)
        .map_err(|error| error.to_string())?;
    let mut target = TargetEngine::new(target_handle.clone(), target_end, config, &target_pipeline);

    // Warm-up: the domain runs before anyone migrates it.
    let mut now = 0u64;
    let real_start = Instant::now();
    let clock_now = |virtual_now: u64| match scenario.clock {
        ClockMode::Virtual { .. } => virtual_now,
        ClockMode::Real => real_start.elapsed().as_nanos() as u64,
    };
    let step = match scenario.clock {
        ClockMode::Virtual { step_ns } => step_ns.max(1),
        ClockMode::Real => 0,
    };
    while now < scenario.warmup_ns {
        now = if step == 0 { clock_now(0) } else { now + step };
        workload
            .run_until(&mut source_handle.lock(), now)
            .map_err(|e| e.to_string())?;
    }
    let pages_before = workload.pages_written();
    let migration_start = now;
    let mut snapshot: Option<Snapshot> = None;
    if !scenario.active && scenario.verify {
        // A bound domain does not change while it migrates.
        let machine = source_handle.lock();
        snapshot = Some((machine.memory_image(domain), machine.vcpu_states(domain)));
    }
    let mut fired = vec![false; scenario.interventions.len()];
    let mut progress = ProgressWatch::default();
    let mut source_outcome = None;
    let mut target_outcome = None;
    // On the virtual clock page work takes no time, on workers as inline:
    // their clock stands still and each poll's work is done before the
    // clock moves, so the run does not depend on the host's speed.
    let (timing, untimed) = match scenario.clock {
        ClockMode::Virtual { .. } => (WorkTiming::Untimed, true),
        ClockMode::Real => (WorkTiming::HostClock, false),
    };
    let workers = scenario.workers;
    with_workers(&source_pipeline, workers, timing, |source_workers| {
        with_workers(&target_pipeline, workers, timing, |target_workers| {
            loop {
                now = if step == 0 { clock_now(0) } else { now + step };
                link.set_now(now);
                // The workload runs while the source domain exists (it writes
                // nothing while suspended).
                if source_handle.lock().run_state(domain).is_some() {
                    workload
                        .run_until(&mut source_handle.lock(), now)
                        .map_err(|e| e.to_string())?;
                }
                let elapsed = now - migration_start;
                for (index, intervention) in scenario.interventions.iter().enumerate() {
                    if fired[index] {
                        continue;
                    }
                    match *intervention {
                        Intervention::CancelSource(trigger)
                            if trigger_fires(trigger, source.stats(), elapsed) =>
                        {
                            fired[index] = true;
                            source.cancel();
                        }
                        Intervention::Disconnect(trigger)
                            if trigger_fires(trigger, source.stats(), elapsed) =>
                        {
                            fired[index] = true;
                            link.disconnect();
                        }
                        Intervention::LoseTargetFrames(trigger)
                            if trigger_fires(trigger, source.stats(), elapsed) =>
                        {
                            fired[index] = true;
                            link.swallow_from_now(1);
                        }
                        Intervention::TargetSendsFail(trigger)
                            if trigger_fires(trigger, source.stats(), elapsed) =>
                        {
                            fired[index] = true;
                            link.refuse_sends_from_now(1);
                        }
                        Intervention::LdcReset(trigger)
                            if trigger_fires(trigger, source.stats(), elapsed) =>
                        {
                            fired[index] = true;
                            if let Some((source_hop, _)) = &hops {
                                source_hop
                                    .borrow()
                                    .engine
                                    .core()
                                    .hypervisor()
                                    .reset_channel();
                            }
                        }
                        _ => {}
                    }
                }
                // The shims relay whether or not their engine polls.
                if let Some((source_hop, target_hop)) = &hops {
                    source_hop.borrow_mut().pump();
                    target_hop.borrow_mut().pump();
                }
                if source_outcome.is_none() {
                    if let SourcePoll::Finished(outcome) = source.poll(now) {
                        source_outcome = Some(outcome);
                    }
                    source_workers.wake(&source_pipeline);
                    if untimed {
                        source_workers.wait_idle(&source_pipeline);
                    }
                    let machine = source_handle.lock();
                    if snapshot.is_none()
                        && scenario.verify
                        && source.suspended_at().is_some()
                        && machine.run_state(domain).is_some()
                    {
                        snapshot =
                            Some((machine.memory_image(domain), machine.vcpu_states(domain)));
                    }
                }
                if target_outcome.is_none() {
                    if let ldmig::precopy::TargetPoll::Finished(outcome) = target.poll(now) {
                        target_outcome = Some(outcome);
                    }
                    target_workers.wake(&target_pipeline);
                    if untimed {
                        target_workers.wait_idle(&target_pipeline);
                    }
                }
                progress.see("source", source.stats());
                progress.see("target", target.stats());
                if source_outcome.is_some() && target_outcome.is_some() {
                    break;
                }
                if elapsed > scenario.max_ns {
                    break;
                }
            }
            Ok::<(), String>(())
        })
    })?;

    let migration_ns = now - migration_start;
    let workload_pages = workload.pages_written() - pages_before;

    let target_domain = target
        .domain()
        .filter(|_| target_outcome == Some(Outcome::Completed));
    let downtime_ns = match (source.suspended_at(), target.resumed_at()) {
        (Some(suspended), Some(resumed)) => Some(resumed.saturating_sub(suspended)),
        _ => None,
    };
    let (memory_identical, vcpu_state_identical) = match (&snapshot, target_domain) {
        (Some((memory, vcpus)), Some(migrated)) => {
            let machine = target_handle.lock();
            (
                Some(machine.memory_image(migrated) == *memory),
                // A bound domain's stopped vCPUs carry no state across.
                scenario
                    .active
                    .then(|| machine.vcpu_states(migrated) == *vcpus),
            )
        }
        _ => (None, None),
    };
    let mut workload_continued = None;
    if let Some(migrated) = target_domain {
        let _ = target_handle.lock().set_domain_name(migrated, DOMAIN_NAME);
        if scenario.continue_ns > 0 && scenario.workload.pages_per_second > 0 {
            workload.set_domain(migrated);
            let before = workload.pages_written();
            let end = now + scenario.continue_ns;
            while now < end {
                now += step.max(100_000);
                workload
                    .run_until(&mut target_handle.lock(), now)
                    .map_err(|e| e.to_string())?;
            }
            workload_continued = Some(workload.pages_written() > before);
        }
    }
    let ldc = hops.as_ref().map(|(source_hop, target_hop)| {
        let (source_hop, target_hop) = (source_hop.borrow(), target_hop.borrow());
        LdcReport {
            source_engine: source_hop.engine.core().statistics(),
            source_shim: source_hop.shim.core().statistics(),
            target_engine: target_hop.engine.core().statistics(),
            target_shim: target_hop.shim.core().statistics(),
            source_registrations: source_hop.engine.generation(),
            source_link_resets: source_hop.engine.core().link_statistics().resets,
        }
    });
    let source_machine = source_handle.lock();
    let target_machine = target_handle.lock();
    let source_state = source_machine.run_state(domain);
    Ok(Report {
        seed: scenario.seed,
        source_outcome,
        target_outcome,
        source: *source.stats(),
        target: *target.stats(),
        downtime_ns,
        memory_identical,
        vcpu_state_identical,
        source_domain_present: source_state.is_some(),
        source_running: source_machine.is_running(domain)
            && source_state == Some(DomainRunState::Normal),
        source_state,
        source_written: source_writes.load(Ordering::Relaxed) > 0,
        target_domains: target_machine.domains().len(),
        target_running: target_domain.is_some_and(|migrated| target_machine.is_running(migrated)),
        workload_continued,
        migration_ns,
        host_ns: host_start.elapsed().as_nanos() as u64,
        workload_pages,
        source_crypto_units: if source_state.is_some() {
            source_machine.domain_crypto_units(domain)
        } else {
            0
        },
        target_crypto_units: target_domain
            .map_or(0, |migrated| target_machine.domain_crypto_units(migrated)),
        ldc,
        progress_went_back: progress.went_back,
    })
}

/// Watches both sides' progress for a step down.
#[derive(Default)]
struct ProgressWatch {
    last: [(u8, u32); 2],
    went_back: Option<String>,
}

impl ProgressWatch {
    fn see(&mut self, side: &str, stats: &MigrationStats) {
        let index = usize::from(side == "target");
        let (percent, round) = self.last[index];
        if stats.progress_percent < percent && self.went_back.is_none() {
            self.went_back = Some(format!(
                "{side}: {percent} % in round {round}, then {} % in round {}",
                stats.progress_percent, stats.rounds
            ));
        }
        self.last[index] = (stats.progress_percent, stats.rounds);
    }
}
