//! Whole live migrations between two simulated machines: every byte and
//! every register arrives, the source is gone, the workload goes on.

use ldmig::precopy::{MigrationConfig, Outcome, SourceDomainState};
use ldmig::stats::MigrationStatus;
use ldmig_hv::hypervisor::DomainRunState;
use ldmig_shim::harness::pipe::LinkFault;
use ldmig_shim::harness::run::{Intervention, Trigger};
use ldmig_shim::harness::{run, LinkModel, Scenario};
use ldmig_sim::rng::test_seed;
use ldmig_sim::workload::WorkloadSpec;

mod common;
use common::{
    assert_completed, assert_source_left_running, assert_source_resumed, assert_target_outcome,
    assert_workload_continued, for_each_workload, scenario, HEAVY, HOT, IDLE, MODERATE,
};

#[test]
fn every_workload_over_many_seeds_arrives_intact() {
    let base = test_seed(1);
    let workloads = [IDLE, MODERATE, HOT, HEAVY];
    // 50 seeds per workload on the host; under qemu-sparc64 (20-50x slower)
    // a dozen, the same test otherwise.
    let seeds = if cfg!(target_arch = "sparc64") {
        12
    } else {
        50
    };
    for_each_workload(&workloads, base, seeds, |workload, label| {
        let report = run(&scenario(workload.seed, workload)).expect("run");
        assert_completed(&report, label);
        assert_workload_continued(&report, &workload, label);
    });
}

#[test]
fn records_out_of_order_within_each_round_arrive_intact() {
    // Every run of page frames reaches the target in reverse order (as if
    // the source's workers had finished its batches last first), so the
    // pages of a round, first copies and deltas alike, are written in
    // another order than they were read; the round ends stay barriers.
    let base = test_seed(3);
    let mut deltas = 0;
    // Fewer seeds under qemu-sparc64 (20-50x slower), the same test.
    let seeds = if cfg!(target_arch = "sparc64") { 2 } else { 4 };
    for offset in 0..seeds {
        for (name, workers) in [("inline", 0), ("two workers", 2)] {
            let seed = base + offset;
            let mut scenario = scenario(seed, WorkloadSpec::hot(seed));
            scenario.workers = workers;
            scenario
                .interventions
                .push(Intervention::Link(0, LinkFault::ReversePageFrames));
            let report = run(&scenario).expect("run");
            assert_completed(&report, &format!("{name}, seed {seed}, reversed"));
            assert!(report.source.rounds >= 2, "seed {seed}: one round only");
            deltas += report.source.delta_pages;
        }
    }
    assert!(deltas > 0, "no page went as a delta: the test missed them");
}

#[test]
fn a_link_bound_migration_sends_deep_lz4_pages_that_arrive_intact() {
    // A 4 MB/s link is far slower than the workers compress: every page is
    // compressed and, after the first windows, a share of them comes from
    // the deeper LZ4 search, inline and with two workers.
    let seed = test_seed(5);
    for (name, workers) in [("inline", 0), ("two workers", 2)] {
        let mut scenario = scenario(seed, WorkloadSpec::idle(seed));
        scenario.workers = workers;
        scenario.link = LinkModel {
            bytes_per_second: 4_000_000,
            latency_ns: 1_000_000,
            window_bytes: 256 << 10,
        };
        scenario.config = MigrationConfig {
            bandwidth_window_ns: 10_000_000,
            ..MigrationConfig::default()
        };
        let report = run(&scenario).expect("run");
        assert_completed(&report, name);
        let stats = &report.source;
        assert!(
            stats.deep_compressed_pages > 0,
            "{name}: no deep page: {stats:#?}"
        );
        assert!(
            stats.deep_compressed_pages <= stats.compressed_pages,
            "{name}"
        );
    }
}

#[test]
fn moderate_workload_has_short_downtime() {
    let seed = test_seed(7);
    let report = run(&scenario(seed, WorkloadSpec::moderate(seed))).expect("run");
    assert_completed(&report, "moderate");
    let downtime = report.downtime_ns.expect("downtime measured");
    assert!(
        downtime < 300_000_000,
        "downtime {downtime} ns over the limit"
    );
    assert!(
        report.source.rounds >= 2,
        "expected several rounds: {}",
        report.source.rounds
    );
}

#[test]
fn heavy_workload_converges_through_throttling() {
    let seed = test_seed(11);
    let mut scenario = scenario(
        seed,
        WorkloadSpec {
            pages_per_second: 200_000,
            ..WorkloadSpec::heavy(seed)
        },
    );
    scenario.config = MigrationConfig {
        downtime_limit_ns: 5_000_000,
        ..MigrationConfig::default()
    };
    let report = run(&scenario).expect("run");
    assert_completed(&report, "throttled");
    assert!(
        report.source.cpu_throttle_percentage > 0,
        "no throttling happened: {report:#?}"
    );
}

#[test]
fn unconvergeable_workload_gives_up_with_the_source_running() {
    let seed = test_seed(13);
    let mut scenario = scenario(seed, WorkloadSpec::unconvergeable(seed));
    // Even at its highest allowed throttle the domain dirties every page
    // faster than the link sends it, and the limit is tight.
    scenario.config = MigrationConfig {
        max_rounds: 6,
        throttle_max: 50,
        downtime_limit_ns: 2_000_000,
        ..MigrationConfig::default()
    };
    let report = run(&scenario).expect("run");
    assert!(
        matches!(report.source_outcome, Some(Outcome::GaveUp(_))),
        "{report:#?}"
    );
    assert_source_left_running(&report, "after give-up");
    assert_eq!(
        report.source.cpu_throttle_percentage, 0,
        "throttle not released"
    );
}

/// A moderate migration of seed `seed` that `intervention` hits when the
/// source reaches `status`; a silent peer is given up on after 200 ms.
fn impatient_when_the_source_is(
    seed: u64,
    status: MigrationStatus,
    intervention: fn(Trigger) -> Intervention,
) -> Scenario {
    let moderate = scenario(seed, WorkloadSpec::moderate(seed));
    let mut scenario = common::when_the_source_is(moderate, status, intervention);
    scenario.config.response_timeout_ns = 200_000_000;
    scenario
}

#[test]
fn lost_acknowledgement_leaves_only_the_target_running() {
    // Once the source committed, nothing from the target arrives: the
    // target resumes the domain, the source never hears of it.
    let scenario = impatient_when_the_source_is(
        test_seed(17),
        MigrationStatus::Committing,
        Intervention::LoseTargetFrames,
    );
    let report = run(&scenario).expect("run");
    assert_target_outcome(&report, Outcome::Completed);
    assert!(report.target_running);
    assert_eq!(report.memory_identical, Some(true));
    match report.source_outcome {
        Some(Outcome::Failed(failure)) => {
            assert_eq!(failure.source_domain, SourceDomainState::ErrorState);
            assert!(failure.recovery_advice().contains("error state"));
        }
        other => panic!("unexpected source outcome {other:?}"),
    }
    assert!(!report.source_running, "the domain runs twice");
    assert_eq!(report.source_state, Some(DomainRunState::Error));
}

#[test]
fn link_lost_during_switchover_resumes_the_source() {
    let mut scenario = impatient_when_the_source_is(
        test_seed(19),
        MigrationStatus::Switchover,
        Intervention::Disconnect,
    );
    // Few pages per poll: the final pages take several polls, so the link
    // goes down while the domain is suspended, before the commit.
    scenario.config.pages_per_poll = 2;
    let report = run(&scenario).expect("run");
    assert_source_resumed(&report);
    assert!(!matches!(report.target_outcome, Some(Outcome::Completed)));
}

#[test]
fn progress_never_goes_back_between_rounds() {
    let base = test_seed(23);
    let mut several_rounds = 0;
    for offset in 0..4 {
        let seed = base + offset;
        let mut scenario = scenario(seed, WorkloadSpec::moderate(seed));
        // A link barely faster than the guest dirties memory and a tight
        // downtime limit: several rounds before the rest fits.
        scenario.link = LinkModel {
            bytes_per_second: 60_000_000,
            ..LinkModel::ONE_GBE
        };
        scenario.config.downtime_limit_ns = 2_000_000;
        let report = run(&scenario).expect("run");
        let label = format!("seed {seed}");
        assert_completed(&report, &label);
        assert_eq!(report.progress_went_back, None, "{label}");
        if report.source.rounds >= 3 {
            several_rounds += 1;
        }
    }
    assert!(
        several_rounds > 0,
        "no run had three rounds: the test proves nothing"
    );
}
