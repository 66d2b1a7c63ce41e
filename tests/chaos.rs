//! Seeded chaos: many whole migrations, directly or over LDC, each with
//! random faults at random moments (link cut, corrupted frames either way,
//! lost answers, cancel, LDC resets, frames damaged in the exported ring),
//! and the promises that must hold whatever happened: the run ends, the
//! domain runs in at most one place, a completed migration is exact, a
//! failed one leaves the source running and the target empty (or, if the
//! final state had left, a recoverable domain in the error state), and the
//! engine never writes to the source domain.

use ldmig::precopy::{MigrationConfig, Outcome, SourceDomainState};
use ldmig::stats::MigrationStatus;
use ldmig_hv::hypervisor::DomainRunState;
use ldmig_shim::harness::pipe::LinkFault;
use ldmig_shim::harness::run::{Intervention, TransportKind, Trigger};
use ldmig_shim::harness::{run, LinkModel, Report, Scenario};
use ldmig_sim::rng::{test_seed, SplitMix64};
use ldmig_sim::workload::WorkloadSpec;

fn random_trigger(rng: &mut SplitMix64) -> Trigger {
    match rng.below(4) {
        0 => Trigger::AfterNs(rng.below(40_000_000)),
        1 => Trigger::SourceProgress(rng.below(100) as u8),
        2 => Trigger::SourceRounds(rng.below(4) as u32),
        _ => Trigger::SourceStatus(
            [
                MigrationStatus::Active,
                MigrationStatus::Switchover,
                MigrationStatus::Committing,
            ][rng.below(3) as usize],
        ),
    }
}

fn random_fault(rng: &mut SplitMix64, over_ldc: bool) -> Intervention {
    if over_ldc && rng.chance(1, 3) {
        return if rng.chance(1, 2) {
            Intervention::LdcReset(random_trigger(rng))
        } else {
            Intervention::CorruptExportedFrame {
                frame: rng.below(40),
                offset: rng.below(1 << 16) as usize,
            }
        };
    }
    match rng.below(5) {
        0 => Intervention::Disconnect(random_trigger(rng)),
        1 => Intervention::LoseTargetFrames(random_trigger(rng)),
        2 => Intervention::CancelSource(random_trigger(rng)),
        side => Intervention::Link(
            (side - 3) as usize,
            LinkFault::CorruptFrame {
                frame: rng.below(80),
                offset: rng.below(1 << 16) as usize,
            },
        ),
    }
}

fn check_promises(report: &Report, label: &str) {
    let (Some(source), Some(target)) = (report.source_outcome, report.target_outcome) else {
        panic!("{label}: the run did not end: {report:#?}");
    };
    assert!(
        !report.source_written,
        "{label}: the engine wrote to the source domain"
    );
    assert!(
        !(report.source_running && report.target_running),
        "{label}: the domain runs twice"
    );
    match target {
        Outcome::Completed => {
            // The target owns the domain: it is exact, and the source copy
            // is gone or stopped in the error state, never running.
            assert_eq!(
                report.memory_identical,
                Some(true),
                "{label}: memory differs"
            );
            assert_eq!(
                report.vcpu_state_identical,
                Some(true),
                "{label}: vCPU state differs"
            );
            assert!(report.target_running, "{label}: completed but not running");
            match source {
                Outcome::Completed => {
                    assert!(!report.source_domain_present, "{label}: source copy kept")
                }
                Outcome::Failed(failure) => {
                    assert_eq!(
                        failure.source_domain,
                        SourceDomainState::ErrorState,
                        "{label}"
                    );
                    assert_eq!(report.source_state, Some(DomainRunState::Error), "{label}");
                }
                other => panic!("{label}: target completed, source {other:?}"),
            }
        }
        _ if matches!(source, Outcome::Failed(failure) if failure.source_domain == SourceDomainState::ErrorState) =>
        {
            // The final state left but its acknowledgement did not come
            // back: nothing runs, and the administrator recovers one copy.
            assert_eq!(report.source_state, Some(DomainRunState::Error), "{label}");
            assert!(!report.target_running, "{label}");
        }
        _ => {
            assert!(
                report.source_running,
                "{label}: the source does not run: {report:#?}"
            );
            assert_eq!(
                report.source.cpu_throttle_percentage, 0,
                "{label}: throttle left on"
            );
            assert!(report.target_domains <= 1, "{label}");
            if report.target_domains == 1 {
                // Only a target that acknowledged the commit may keep a
                // (stopped) copy, and then the source must be in error.
                panic!("{label}: the target kept a copy while the source runs: {report:#?}");
            }
            assert_ne!(source, Outcome::Completed, "{label}");
        }
    }
}

#[test]
fn random_faults_never_break_a_promise() {
    let base = test_seed(0x0c4a_0500);
    let runs = if cfg!(target_arch = "sparc64") {
        40
    } else {
        600
    };
    let mut outcomes = [0usize; 4];
    for index in 0..runs {
        let seed = base.wrapping_add(index);
        let mut rng = SplitMix64::new(seed);
        let workload = match rng.below(3) {
            0 => WorkloadSpec::idle(seed),
            1 => WorkloadSpec::moderate(seed),
            _ => WorkloadSpec::heavy(seed),
        };
        let mut scenario = Scenario::new(seed, 2 << 20, workload);
        scenario.link = LinkModel::ONE_GBE;
        scenario.frame_bytes = 32 << 10;
        scenario.continue_ns = 0;
        scenario.config = MigrationConfig {
            response_timeout_ns: 50_000_000,
            pages_per_poll: 1 + rng.below(64) as u32,
            ..MigrationConfig::default()
        };
        let over_ldc = rng.chance(1, 3);
        if over_ldc {
            scenario.transport = TransportKind::Ldc;
        }
        scenario.interventions = (0..rng.below(3))
            .map(|_| random_fault(&mut rng, over_ldc))
            .collect();
        let label = format!(
            "seed {seed} over LDC {over_ldc} faults {:?}",
            scenario.interventions
        );
        let report = run(&scenario).expect("run");
        check_promises(&report, &label);
        let slot = match report.source_outcome {
            Some(Outcome::Completed) => 0,
            Some(Outcome::Cancelled) => 1,
            Some(Outcome::Failed(_)) => 2,
            _ => 3,
        };
        outcomes[slot] += 1;
    }
    println!(
        "completed {}, cancelled {}, failed {}, other {}",
        outcomes[0], outcomes[1], outcomes[2], outcomes[3]
    );
    // The mix must exercise both happy and unhappy endings.
    assert!(outcomes[0] > 0 && outcomes[2] > 0, "outcomes {outcomes:?}");
}
