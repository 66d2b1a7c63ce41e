//! Whole live migrations with each engine behind a simulated LDC channel:
//! engine -> descriptor ring + LDC_COPY -> shim side -> pipe -> shim side
//! -> LDC -> engine. Every byte and register arrives, the source is gone,
//! the workload goes on; an LDC reset mid-migration is survived; a frame
//! damaged in the engine's exported buffer is caught by its CRC.

use ldmig::precopy::{Outcome, SourceDomainState};
use ldmig::wire::messages::StopReason;
use ldmig_shim::harness::run::{Intervention, TransportKind, Trigger};
use ldmig_shim::harness::{run, Report, Scenario};
use ldmig_sim::rng::test_seed;
use ldmig_sim::workload::WorkloadSpec;

mod common;
use common::{
    assert_completed, assert_source_left_running, assert_source_resumed, assert_workload_continued,
    for_each_workload, HEAVY, IDLE, MODERATE,
};

fn scenario(seed: u64, workload: WorkloadSpec) -> Scenario {
    let mut scenario = common::scenario(seed, workload);
    scenario.transport = TransportKind::Ldc;
    scenario
}

/// Every frame went through both rings of the way.
fn assert_frames_went_through_ldc(report: &Report, label: &str) {
    let ldc = report.ldc.expect("an LDC run reports its hops");
    let sent = ldc.source_engine.frames_sent;
    assert!(sent > 10, "{label}: only {sent} frames");
    assert_eq!(ldc.source_shim.frames_received, sent, "{label}: {ldc:#?}");
    assert_eq!(ldc.target_engine.frames_received, sent, "{label}: {ldc:#?}");
    assert_eq!(ldc.target_shim.frames_sent, sent, "{label}");
    // And the target's answers came back the same way.
    let answers = ldc.target_engine.frames_sent;
    assert!(answers > 0, "{label}");
    assert_eq!(
        ldc.source_engine.frames_received, answers,
        "{label}: {ldc:#?}"
    );
    assert!(ldc.source_shim.copy_calls > 2 * sent, "{label}");
    assert_eq!(
        ldc.source_engine.bytes_sent, report.source.transferred,
        "{label}: the engine's bytes are the ring's"
    );
}

#[test]
fn whole_migrations_over_ldc_arrive_intact() {
    let base = test_seed(41);
    let workloads = [IDLE, MODERATE, HEAVY];
    for_each_workload(&workloads, base, 3, |workload, label| {
        let report = run(&scenario(workload.seed, workload)).expect("run");
        assert_completed(&report, label);
        assert_frames_went_through_ldc(&report, label);
        assert_workload_continued(&report, &workload, label);
    });
}

#[test]
fn an_ldc_reset_mid_migration_is_survived() {
    let seed = test_seed(43);
    let mut scenario = scenario(seed, WorkloadSpec::moderate(seed));
    // The migration takes about 27 ms of virtual time: one reset early in
    // pre-copy, one late.
    scenario.interventions = vec![
        Intervention::LdcReset(Trigger::AfterNs(5_000_000)),
        Intervention::LdcReset(Trigger::AfterNs(18_000_000)),
    ];
    let report = run(&scenario).expect("run");
    assert_completed(&report, "reset");
    let ldc = report.ldc.expect("ldc");
    assert!(ldc.source_link_resets >= 2, "{ldc:#?}");
    assert!(ldc.source_engine.link_resets >= 2, "{ldc:#?}");
    assert!(
        ldc.source_registrations >= 3,
        "the rings were registered again after each reset: {ldc:#?}"
    );
    assert_frames_went_through_ldc(&report, "reset");
}

#[test]
fn a_frame_corrupted_in_the_exported_buffer_is_caught_by_its_crc() {
    let seed = test_seed(47);
    let mut scenario = scenario(seed, WorkloadSpec::moderate(seed));
    // Frame 0 is the Hello; frame 3 carries pages.
    scenario.interventions = vec![Intervention::CorruptExportedFrame {
        frame: 3,
        offset: 5000,
    }];
    scenario.config.response_timeout_ns = 200_000_000;
    let report = run(&scenario).expect("run");
    match report.target_outcome {
        Some(Outcome::Failed(failure)) => assert_eq!(failure.reason, StopReason::CorruptData),
        other => panic!("target outcome {other:?}: {report:#?}"),
    }
    match report.source_outcome {
        Some(Outcome::Failed(failure)) => {
            assert_eq!(failure.source_domain, SourceDomainState::Running)
        }
        other => panic!("source outcome {other:?}"),
    }
    assert_source_left_running(&report, "corrupt frame");
}

#[test]
fn a_link_lost_between_the_shims_ends_cleanly_over_ldc() {
    let seed = test_seed(53);
    let mut scenario = scenario(seed, WorkloadSpec::moderate(seed));
    scenario.interventions = vec![Intervention::Disconnect(Trigger::SourceProgress(50))];
    scenario.config.response_timeout_ns = 200_000_000;
    let report = run(&scenario).expect("run");
    assert_source_resumed(&report);
}

#[test]
fn ldc_interventions_need_an_ldc_run() {
    let seed = test_seed(59);
    let mut scenario = scenario(seed, WorkloadSpec::idle(seed));
    scenario.transport = TransportKind::Pipe;
    scenario.interventions = vec![Intervention::LdcReset(Trigger::AfterNs(0))];
    assert!(run(&scenario).is_err());
}
