//! Helpers the whole-system tests share: the small simulated scenario they
//! start from, the intact-arrival check, the workload presets they sweep.
#![allow(dead_code)] // each test file uses its own subset

use ldmig::precopy::{Outcome, SourceDomainState};
use ldmig::stats::MigrationStatus;
use ldmig_hv::hypervisor::DomainRunState;
use ldmig_shim::harness::run::{Intervention, Trigger};
use ldmig_shim::harness::{LinkModel, Report, Scenario};
use ldmig_sim::workload::WorkloadSpec;

/// Memory of the test domains: small enough for qemu-sparc64.
pub const MEMORY: u64 = 4 << 20;

/// A domain of [`MEMORY`] over a 1 GbE-like link with 64 KiB frames: 4 MiB
/// takes ~30 ms, so rounds happen.
pub fn scenario(seed: u64, workload: WorkloadSpec) -> Scenario {
    let mut scenario = Scenario::new(seed, MEMORY, workload);
    scenario.link = LinkModel::ONE_GBE;
    scenario.frame_bytes = 64 << 10;
    scenario
}

/// Panics, naming `label` and what broke, unless the migration completed
/// with every byte and register intact.
pub fn assert_completed(report: &Report, label: &str) {
    if let Err(broken) = report.completed_intact() {
        panic!("{label}: {broken}\n{report:#?}");
    }
}

/// Panics unless the source engine ended with `outcome`.
pub fn assert_source_outcome(report: &Report, outcome: Outcome) {
    assert_eq!(report.source_outcome, Some(outcome), "{report:#?}");
}

/// `scenario`, with `intervention` hitting it when the source reaches
/// `status`.
pub fn when_the_source_is(
    mut scenario: Scenario,
    status: MigrationStatus,
    intervention: fn(Trigger) -> Intervention,
) -> Scenario {
    scenario.interventions = vec![intervention(Trigger::SourceStatus(status))];
    scenario
}

/// Panics, naming `label`, unless the source domain runs on as before
/// the migration (normal state, memory never written by the engine) and
/// the target kept no reservation.
pub fn assert_source_left_running(report: &Report, label: &str) {
    assert!(report.source_running, "{label}: source not running");
    assert_eq!(report.source_state, Some(DomainRunState::Normal), "{label}");
    assert!(
        !report.source_written,
        "{label}: the engine wrote to the source domain"
    );
    assert_eq!(
        report.target_domains, 0,
        "{label}: target kept a reservation"
    );
}

/// Panics unless the migration failed with the source domain resumed
/// (running again) and the target holding no reservation.
pub fn assert_source_resumed(report: &Report) {
    assert!(
        matches!(report.source_outcome, Some(Outcome::Failed(f)) if f.source_domain == SourceDomainState::Running),
        "{report:#?}"
    );
    assert!(report.source_running, "source not resumed");
    assert_eq!(report.target_domains, 0, "target kept the reservation");
}

/// Panics unless the target engine ended with `outcome`.
pub fn assert_target_outcome(report: &Report, outcome: Outcome) {
    assert_eq!(report.target_outcome, Some(outcome), "{report:#?}");
}

/// A named workload preset.
pub type Preset = (&'static str, fn(u64) -> WorkloadSpec);

/// No writes.
pub const IDLE: Preset = ("idle", WorkloadSpec::idle);
/// 5 000 pages a second.
pub const MODERATE: Preset = ("moderate", WorkloadSpec::moderate);
/// 20 000 pages a second, most of them to a hot set.
pub const HOT: Preset = ("hot", WorkloadSpec::hot);
/// 50 000 pages a second.
pub const HEAVY: Preset = ("heavy", WorkloadSpec::heavy);

/// Runs `check` for every preset and each of `seeds` seeds from `base`, with
/// a label naming both.
pub fn for_each_workload(
    presets: &[Preset],
    base: u64,
    seeds: u64,
    mut check: impl FnMut(WorkloadSpec, &str),
) {
    for offset in 0..seeds {
        for (name, make) in presets {
            let seed = base + offset;
            check(make(seed), &format!("{name} seed {seed}"));
        }
    }
}

/// Panics unless a workload that writes kept running on the target.
pub fn assert_workload_continued(report: &Report, workload: &WorkloadSpec, label: &str) {
    if workload.pages_per_second > 0 {
        assert_eq!(
            report.workload_continued,
            Some(true),
            "{label}: workload stopped"
        );
    }
}
