//! The guide's promises around a running migration: cancel at any phase
//! before the commit leaves the source running and the target empty; bound
//! domains migrate in one pass; crypto units come back, fewer if need be.

use ldmig::precopy::{MigrationConfig, Outcome, SourceDomainState};
use ldmig::stats::MigrationStatus;
use ldmig_hv::hypervisor::DomainRunState;
use ldmig_shim::harness::run::{Intervention, Trigger};
use ldmig_shim::harness::{run, Scenario};
use ldmig_sim::rng::test_seed;
use ldmig_sim::workload::WorkloadSpec;

mod common;
use common::{assert_source_outcome, when_the_source_is};

fn small(seed: u64) -> Scenario {
    let mut scenario = common::scenario(seed, WorkloadSpec::heavy(seed));
    // Small polls stretch every phase over several steps, so that a cancel
    // can land in each of them.
    scenario.config = MigrationConfig {
        pages_per_poll: 4,
        ..MigrationConfig::default()
    };
    scenario
}

/// [`small`], the domain holding `units` crypto units.
fn with_crypto_units(seed: u64, units: u64) -> Scenario {
    let mut scenario = small(seed);
    scenario.crypto_units = units;
    scenario
}

#[test]
fn rule_cancel_at_every_phase_leaves_the_source_running() {
    let base = test_seed(100);
    let triggers = [
        Trigger::AfterNs(0),
        Trigger::SourceStatus(MigrationStatus::Active),
        Trigger::SourceProgress(20),
        Trigger::SourceProgress(60),
        Trigger::SourceProgress(86),
        Trigger::SourceRounds(1),
        Trigger::SourceStatus(MigrationStatus::Switchover),
    ];
    let mut cancelled = 0;
    for offset in 0..8 {
        for trigger in triggers {
            let seed = base + offset;
            let mut scenario = small(seed);
            scenario.interventions = vec![Intervention::CancelSource(trigger)];
            let report = run(&scenario).expect("run");
            let label = format!("seed {seed} cancel at {trigger:?}");
            assert_eq!(
                report.source_outcome,
                Some(Outcome::Cancelled),
                "{label}: {report:#?}"
            );
            cancelled += 1;
            assert!(report.source_running, "{label}: source not running");
            assert_eq!(report.source_state, Some(DomainRunState::Normal), "{label}");
            assert!(!report.source_written, "{label}: source memory touched");
            assert_eq!(
                report.source.cpu_throttle_percentage, 0,
                "{label}: throttle left on"
            );
            assert_eq!(
                report.target_domains, 0,
                "{label}: target kept the reservation"
            );
            assert!(
                matches!(report.target_outcome, Some(Outcome::Cancelled)),
                "{label}: {:?}",
                report.target_outcome
            );
        }
    }
    assert_eq!(cancelled, 56);
}

#[test]
fn rule_cancel_after_the_commit_is_refused() {
    let scenario = when_the_source_is(
        small(test_seed(200)),
        MigrationStatus::Committing,
        Intervention::CancelSource,
    );
    let report = run(&scenario).expect("run");
    // Too late to cancel: the migration completes.
    assert_source_outcome(&report, Outcome::Completed);
    assert_eq!(report.memory_identical, Some(true));
}

#[test]
fn rule_bound_domain_migrates_in_one_pass() {
    let seed = test_seed(300);
    let mut scenario = small(seed);
    scenario.active = false;
    let report = run(&scenario).expect("run");
    assert_source_outcome(&report, Outcome::Completed);
    assert_eq!(report.memory_identical, Some(true));
    assert_eq!(
        report.source.rounds, 0,
        "a bound domain needs no pre-copy rounds"
    );
    assert_eq!(
        report.source.dirty_sync_count, 0,
        "no dirty logging for a bound domain"
    );
    assert!(!report.source_domain_present);
    assert!(
        !report.target_running,
        "a bound domain stays bound on the target"
    );
    assert_eq!(report.target_domains, 1);
}

#[test]
fn rule_crypto_units_come_back_fewer_if_the_target_lacks_them() {
    let seed = test_seed(400);
    let mut scenario = with_crypto_units(seed, 4);
    scenario.target_crypto_units = 2;
    let report = run(&scenario).expect("run");
    assert_source_outcome(&report, Outcome::Completed);
    assert_eq!(
        report.target_crypto_units, 2,
        "the target gives what it has"
    );
    let report = run(&with_crypto_units(seed, 4)).expect("run");
    assert_eq!(report.target_crypto_units, 4);
}

#[test]
fn rule_crypto_units_return_to_a_cancelled_source() {
    let seed = test_seed(500);
    let mut scenario = with_crypto_units(seed, 3);
    scenario.interventions = vec![Intervention::CancelSource(Trigger::SourceProgress(50))];
    let report = run(&scenario).expect("run");
    assert_eq!(report.source_outcome, Some(Outcome::Cancelled));
    assert_eq!(
        report.source_crypto_units, 3,
        "crypto units not re-added on the source"
    );
}

#[test]
fn rule_cancel_while_waiting_to_suspend_is_honoured() {
    // An idle domain is ready to switch over right after round 0, and then
    // waits for the target's acknowledgement of that round before it
    // suspends: a cancel in that wait must still win.
    let seed = test_seed(600);
    let mut scenario = small(seed);
    scenario.workload = WorkloadSpec::idle(seed);
    scenario.interventions = vec![Intervention::CancelSource(Trigger::SourceRounds(1))];
    let report = run(&scenario).expect("run");
    assert_source_outcome(&report, Outcome::Cancelled);
    assert!(report.source_running);
    assert_eq!(report.target_domains, 0);
}

#[test]
fn rule_target_releases_its_reservation_when_its_commit_ack_cannot_leave() {
    // The source sent its final state; from now on nothing the target
    // sends gets out. The source never hears the acknowledgement: it stays
    // in the error state, and the domain must not stay reserved on the
    // target, where it never ran.
    let mut scenario = when_the_source_is(
        small(test_seed(300)),
        MigrationStatus::Committing,
        Intervention::TargetSendsFail,
    );
    scenario.config.response_timeout_ns = 200_000_000;
    let report = run(&scenario).expect("run");
    match report.source_outcome {
        Some(Outcome::Failed(failure)) => {
            assert_eq!(
                failure.source_domain,
                SourceDomainState::ErrorState,
                "{report:#?}"
            );
        }
        other => panic!("unexpected source outcome {other:?}: {report:#?}"),
    }
    assert!(
        matches!(report.target_outcome, Some(Outcome::Failed(_))),
        "{report:#?}"
    );
    assert_eq!(
        report.target_domains, 0,
        "the target kept the reservation of a domain it never ran"
    );
}
