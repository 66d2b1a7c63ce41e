//! What a restart makes of the state the daemon left: every migration that
//! was in flight ends, cleanly, by how far it went.
//!
//! | record (side, phase) | after the restart |
//! |---|---|
//! | source, before the commit | the domain is here, as it was; the target released its reservation when the link died |
//! | source, commit sent | error state: the target may run it; recovery says what to check |
//! | target, reservation | released (the domain is not listed) |
//! | target, acknowledging the commit | error state: the source may have let its copy go; recovery says what to check |
//! | error | error, as it was |
//!
//! A simulated machine lives in its daemon's process: after a restart, a
//! domain that runs here boots afresh (its guest's workload starts again),
//! where real hardware would have kept it running.

use super::record::{Condition, DomainRecord, IncomingPhase, OutgoingPhase, StateFile};
use ldmig_hv::resources::DomainState;

/// What the restart did to one domain, for the daemon's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartNote {
    /// The domain.
    pub domain: String,
    /// What happened to it.
    pub text: String,
}

/// Ends every in-flight migration of `state` (of host `host`) as the table
/// in the module docs says; returns the new state and a note per domain
/// that changed.
pub fn restart(mut state: StateFile, host: &str) -> (StateFile, Vec<RestartNote>) {
    let mut notes = Vec::new();
    let records = std::mem::take(&mut state.domains);
    for mut record in records {
        let name = record.requirements.name.to_string();
        let mut note = |text: String| {
            notes.push(RestartNote {
                domain: name.clone(),
                text,
            })
        };
        match record.condition.clone() {
            Condition::Normal | Condition::Error { .. } => {}
            Condition::MigratingOut {
                peer,
                phase: OutgoingPhase::PreCopy,
            } => {
                let result = format!(
                    "Migration of {name} to {peer} interrupted: the ldmig daemon on {host} restarted before the commit; {name} stays on {host}"
                );
                mark_failed(&mut record, &result, None);
                record.condition = Condition::Normal;
                note(result);
            }
            Condition::MigratingOut {
                peer,
                phase: OutgoingPhase::Committing,
            } => {
                let reason = format!(
                    "The ldmig daemon on {host} restarted after the final state of {name} went to {peer}, before {peer} acknowledged it: {name} may run on {peer}"
                );
                let recovery = format!(
                    "Check {peer}: if {name} runs there, remove it here (ldmig recover-domain {name} --remove); if it does not, resume it here (ldmig recover-domain {name} --resume)"
                );
                enter_error(&mut record, reason, recovery, &mut note);
            }
            Condition::MigratingIn {
                peer,
                phase: IncomingPhase::Reserved,
            } => {
                note(format!(
                    "The reservation for {name} from {peer} is released: the ldmig daemon on {host} restarted before the commit"
                ));
                continue;
            }
            Condition::MigratingIn {
                peer,
                phase: IncomingPhase::Acknowledging,
            } => {
                let reason = format!(
                    "The ldmig daemon on {host} restarted while acknowledging the commit of {name} from {peer}: {peer} may have let its copy go"
                );
                let recovery = format!(
                    "Check {peer}: if {name} is in the error state or gone there, resume it here (ldmig recover-domain {name} --resume; it boots: this machine's memory did not survive the restart); if it runs there, remove it here (ldmig recover-domain {name} --remove)"
                );
                enter_error(&mut record, reason, recovery, &mut note);
            }
        }
        state.domains.push(record);
    }
    (state, notes)
}

fn enter_error(
    record: &mut DomainRecord,
    reason: String,
    recovery: String,
    note: &mut impl FnMut(String),
) {
    mark_failed(record, &reason, Some(&recovery));
    if record.requirements.state == DomainState::Inactive {
        // Nothing of an inactive domain is bound: its configuration is
        // simply here or there; it stays here, listed, for the check.
        record.requirements.state = DomainState::Bound;
    }
    note(format!("{reason}; {recovery}"));
    record.condition = Condition::Error { reason, recovery };
}

/// Closes the record's last migration as failed with `result`.
fn mark_failed(record: &mut DomainRecord, result: &str, recovery: Option<&str>) {
    if let Some(info) = record.last_migration.as_mut() {
        info.status = "failed".into();
        info.result = Some(result.to_string());
        info.recovery = recovery.map(str::to_string);
        info.held = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::MigrationInfo;
    use crate::persist::record::STATE_VERSION;
    use ldmig_hv::resources::{DomainRequirements, PowerMode};

    fn record(name: &str, condition: Condition) -> DomainRecord {
        let requirements = DomainRequirements::bare(
            ldmig_hv::resources::name(name).expect("name"),
            DomainState::Active,
            4,
        );
        DomainRecord {
            requirements,
            placement: Some(vec![(0x800_0000, 0x100_0000, 0x1000_0000)]),
            vcpus_held: 4,
            crypto_units_held: 0,
            condition,
            memory_dr_disabled: false,
            seed: 1,
            last_migration: Some(MigrationInfo {
                status: "active".into(),
                ..MigrationInfo::default()
            }),
        }
    }

    fn state(domains: Vec<DomainRecord>) -> StateFile {
        StateFile {
            version: STATE_VERSION,
            host: "t5-a".into(),
            power_mode: PowerMode::Performance,
            deferred_power_mode: None,
            delayed_reconfiguration: false,
            domains,
            departed: Vec::new(),
        }
    }

    #[test]
    fn each_in_flight_migration_ends_by_how_far_it_went() {
        let out = |phase| Condition::MigratingOut {
            peer: "t5-b:8101".into(),
            phase,
        };
        let inbound = |phase| Condition::MigratingIn {
            peer: "t5-c".into(),
            phase,
        };
        let error = Condition::Error {
            reason: "before".into(),
            recovery: "check".into(),
        };
        let (after, notes) = restart(
            state(vec![
                record("quiet", Condition::Normal),
                record("leaving", out(OutgoingPhase::PreCopy)),
                record("committed", out(OutgoingPhase::Committing)),
                record("arriving", inbound(IncomingPhase::Reserved)),
                record("acknowledged", inbound(IncomingPhase::Acknowledging)),
                record("broken", error.clone()),
            ]),
            "t5-a",
        );
        let condition = |name: &str| {
            after
                .domains
                .iter()
                .find(|record| record.requirements.name == name)
                .map(|record| record.condition.clone())
        };
        assert_eq!(condition("quiet"), Some(Condition::Normal));
        assert_eq!(condition("leaving"), Some(Condition::Normal));
        assert_eq!(condition("arriving"), None, "reservation released");
        assert_eq!(condition("broken"), Some(error));
        for name in ["committed", "acknowledged"] {
            match condition(name) {
                Some(Condition::Error { recovery, .. }) => {
                    assert!(recovery.contains("--resume"), "{recovery}");
                    assert!(recovery.contains("--remove"), "{recovery}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        let leaving = after
            .domains
            .iter()
            .find(|record| record.requirements.name == "leaving")
            .and_then(|record| record.last_migration.clone())
            .expect("its migration");
        assert_eq!(leaving.status, "failed");
        assert!(
            leaving
                .result
                .as_deref()
                .is_some_and(|text| text.contains("restarted")),
            "{leaving:?}"
        );
        assert_eq!(notes.len(), 4, "{notes:?}");
    }
}
