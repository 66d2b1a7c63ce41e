//! The daemon's state to and from the state directory: [`snapshot`] makes
//! a [`StateFile`] of what the daemon knows now; [`restore`] makes the
//! machine and the domains a daemon starts with, from the host file alone
//! (no state saved yet) or from the saved state after the restart rules
//! ([`crate::persist::restart`]) ended what was in flight.

use super::{lock, Domain, HostSettings, MigrationTrack, State};
use crate::control::MigrationInfo;
use crate::persist::record::STATE_VERSION;
use crate::persist::restart::{restart, RestartNote};
use crate::persist::{Condition, Departed, DomainRecord, IncomingPhase, OutgoingPhase, StateFile};
use ldmig::rules::OperationLocks;
use ldmig_hv::resources::DomainState;
use ldmig_sim::description::HostDescription;
use ldmig_sim::machine::{BlockSpec, DomainSpec, Machine};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// What the daemon knows now, as the state directory keeps it.
pub(super) fn snapshot(state: &State, domains: &BTreeMap<String, Domain>) -> StateFile {
    let mut departed = lock(&state.departed).clone();
    let locks = lock(&state.locks);
    let host = *lock(&state.host);
    let machine = state.machine.lock();
    let mut records = Vec::new();
    for (name, domain) in domains {
        let track = domain.migration.as_ref();
        let in_flight = domain.migrating();
        let side = track.map(|track| track.side());
        let committing = track.is_some_and(|track| track.committing.load(Ordering::SeqCst));
        let info = track.map(|track| track.snapshot());
        if in_flight
            && side.as_deref() == Some("source")
            && track.is_some_and(|track| track.acknowledged.load(Ordering::SeqCst))
        {
            departed.push(Departed {
                name: name.clone(),
                how: format!(
                    "migrated to {}",
                    info.as_ref().map(|info| info.peer.as_str()).unwrap_or("?")
                ),
            });
            continue;
        }
        let peer = info
            .as_ref()
            .map(|info| info.peer.clone())
            .unwrap_or_default();
        let condition = if domain.error_state {
            Condition::Error {
                reason: info
                    .as_ref()
                    .and_then(|info| info.result.clone())
                    .unwrap_or_else(|| "a migration failed".into()),
                recovery: info
                    .as_ref()
                    .and_then(|info| info.recovery.clone())
                    .unwrap_or_else(|| format!("ldmig recover-domain {name} --resume or --remove")),
            }
        } else if in_flight && side.as_deref() == Some("source") {
            Condition::MigratingOut {
                peer,
                phase: if committing {
                    OutgoingPhase::Committing
                } else {
                    OutgoingPhase::PreCopy
                },
            }
        } else if in_flight {
            Condition::MigratingIn {
                peer,
                phase: if committing {
                    IncomingPhase::Acknowledging
                } else {
                    IncomingPhase::Reserved
                },
            }
        } else {
            Condition::Normal
        };
        let bound = domain.id.filter(|&id| machine.run_state(id).is_some());
        records.push(DomainRecord {
            requirements: domain.requirements.clone(),
            placement: bound.map(|id| {
                machine
                    .memory_blocks(id)
                    .into_iter()
                    .map(|(block, pa)| (block.ra, block.size, pa))
                    .collect()
            }),
            vcpus_held: bound.map_or(0, |id| machine.vcpu_states(id).len() as u64),
            crypto_units_held: bound.map_or(0, |id| machine.domain_crypto_units(id)),
            condition,
            memory_dr_disabled: locks.memory_reconfiguration_disabled(name),
            seed: domain.seed,
            last_migration: info,
        });
    }
    StateFile {
        version: STATE_VERSION,
        host: state.host().to_string(),
        power_mode: host.power_mode,
        deferred_power_mode: locks.deferred_power_mode(),
        delayed_reconfiguration: host.delayed_reconfiguration,
        domains: records,
        departed,
    }
}

/// What a daemon starts with.
pub(super) struct Restored {
    /// The machine, its domains bound.
    pub(super) machine: Machine,
    /// Every domain, in order, and whether its guest boots now.
    pub(super) domains: Vec<(String, Domain, bool)>,
    /// The domains that left.
    pub(super) departed: Vec<Departed>,
    /// The operation locks (memory DR disabled for domains that migrated in).
    pub(super) locks: OperationLocks,
    /// The machine's settings.
    pub(super) host: HostSettings,
    /// What the restart did, for the log.
    pub(super) notes: Vec<RestartNote>,
}

/// The machine and domains of a daemon starting on `description`, with the
/// state `saved` in its state directory (if any). Domains of the host file
/// that the state does not know (and that did not leave) are added as the
/// host file describes them. `seed` seeds the guests' workloads.
pub(super) fn restore(
    description: &HostDescription,
    saved: Option<StateFile>,
    seed: u64,
) -> Result<Restored, String> {
    let described = description.resources();
    let mut host = HostSettings {
        power_mode: described.power_mode,
        delayed_reconfiguration: described.delayed_reconfiguration_pending,
    };
    let mut restored = Restored {
        machine: description.bare_machine(),
        domains: Vec::new(),
        departed: Vec::new(),
        locks: OperationLocks::new(),
        host,
        notes: Vec::new(),
    };
    if let Some(saved) = saved {
        let (state, notes) = restart(saved, description.name());
        restored.notes = notes;
        host.power_mode = state.deferred_power_mode.unwrap_or(state.power_mode);
        host.delayed_reconfiguration = state.delayed_reconfiguration;
        restored.host = host;
        restored.departed = state.departed;
        for record in state.domains {
            let name = record.requirements.name.to_string();
            let domain = restore_record(&mut restored.machine, record, &mut restored.locks)
                .map_err(|error| format!("state directory: domain {name}: {error}"))?;
            restored.domains.push(domain);
        }
    }
    for (index, name) in description.domain_names().enumerate() {
        let known = restored.domains.iter().any(|(known, _, _)| known == name)
            || restored
                .departed
                .iter()
                .any(|departed| departed.name == name);
        if known {
            continue;
        }
        let requirements = description
            .domain_requirements(name)
            .map_err(|error| error.to_string())?;
        let id = match description.domain_spec(name) {
            Some(spec) => Some(
                restored
                    .machine
                    .add_domain(spec)
                    .map_err(|error| format!("domain[{name}]: cannot be bound: {error}"))?,
            ),
            None => None,
        };
        let active = requirements.state == DomainState::Active;
        let domain = Domain::new(requirements, id, seed.wrapping_add(index as u64));
        restored.domains.push((name.to_string(), domain, active));
    }
    Ok(restored)
}

/// One saved domain, bound again where it was.
fn restore_record(
    machine: &mut Machine,
    record: DomainRecord,
    locks: &mut OperationLocks,
) -> Result<(String, Domain, bool), String> {
    let name = record.requirements.name.to_string();
    let error = matches!(record.condition, Condition::Error { .. });
    let id = match (&record.placement, record.requirements.state) {
        (Some(placement), DomainState::Active | DomainState::Bound) => {
            let spec = DomainSpec {
                name: name.clone(),
                vcpus: record.vcpus_held.max(1),
                blocks: placement
                    .iter()
                    .map(|&(ra, size, pa)| BlockSpec {
                        ra,
                        size,
                        pa: Some(pa),
                    })
                    .collect(),
                crypto_units: record.crypto_units_held,
                active: !error && record.requirements.state == DomainState::Active,
            };
            Some(
                machine
                    .add_domain(spec)
                    .map_err(|error| format!("cannot be bound where it was: {error}"))?,
            )
        }
        (None, DomainState::Active | DomainState::Bound) => {
            return Err("bound, but its state holds no placement".into())
        }
        _ => None,
    };
    if record.memory_dr_disabled {
        let _ = locks.migrated_in(&name);
    }
    let boot = !error && id.is_some() && record.requirements.state == DomainState::Active;
    let mut domain = Domain::new(record.requirements, id, record.seed);
    domain.error_state = error;
    let mut info = record.last_migration.unwrap_or_default();
    if let Condition::Error { reason, recovery } = &record.condition {
        info.result.get_or_insert_with(|| reason.clone());
        info.recovery = Some(recovery.clone());
        if info.status.is_empty() {
            info.status = "failed".into();
        }
    }
    if info != MigrationInfo::default() {
        domain.migration = Some(MigrationTrack::finished_with(info));
    }
    Ok((name, domain, boot))
}
