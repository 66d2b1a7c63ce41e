//! A domain's life on the machine: `bind-domain` (inactive -> bound),
//! `start-domain` (bound -> active: it boots, its guest runs),
//! `stop-domain` (active -> bound: the guest stops), `stop-domain -r` (a
//! reboot), `unbind-domain` (bound -> inactive).
//!
//! A boot (start or reboot) re-enables memory dynamic reconfiguration of a
//! domain that migrated here and applies its pending delayed
//! reconfiguration; a stopped domain is bound, where memory changes are
//! not dynamic, and boots afresh when started.

use super::super::daemon::{lock, Domain, State};
use super::super::listing::CONTROL_DOMAIN;
use ldmig_hv::hypervisor::DomainControl;
use ldmig_hv::resources::{DomainState, MemorySize};
use ldmig_sim::machine::{DomainSpec, SimError};

/// `bind-domain`: takes the domain's strands, memory (each block one
/// contiguous free range, first fit) and crypto units.
pub(super) fn bind(state: &State, domain: &mut Domain) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    if domain.requirements.state != DomainState::Inactive {
        return Err(format!("Domain {name} is already bound"));
    }
    let requirements = &domain.requirements;
    let spec = DomainSpec::first_fit(requirements, requirements.crypto_units);
    let id = state
        .machine
        .lock()
        .add_domain(spec)
        .map_err(|error| format!("{}\nBinding domain {name} failed", binding_error(&error)))?;
    domain.id = Some(id);
    domain.requirements.state = DomainState::Bound;
    Ok(format!("Domain {name} bound on {}", state.host()))
}

/// A binding failure in `ldm`'s words where it has them.
fn binding_error(error: &SimError) -> String {
    match error {
        SimError::NoContiguousRange { ra, size } => format!(
            "Unable to bind {} memory region at real address {ra:#x}",
            MemorySize(*size)
        ),
        other => other.to_string(),
    }
}

/// `unbind-domain`: a bound domain gives its resources back and keeps its
/// configuration.
pub(super) fn unbind(state: &State, domain: &mut Domain) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    refuse_control_domain(&name, "unbound")?;
    let id = match (domain.requirements.state, domain.id) {
        (DomainState::Bound, Some(id)) => id,
        (DomainState::Active, _) => {
            return Err(format!(
                "Domain {name} is active: stop it first (ldmig stop-domain {name})"
            ))
        }
        _ => return Err(format!("Domain {name} is not bound")),
    };
    let mut machine = state.machine.clone();
    machine
        .destroy_domain(id)
        .map_err(|error| format!("Unbinding domain {name} failed: {error}"))?;
    domain.id = None;
    domain.workload = None;
    domain.requirements.state = DomainState::Inactive;
    Ok(format!("Domain {name} unbound from {}", state.host()))
}

/// `start-domain`: a bound domain boots; its guest starts writing.
pub(super) fn start(state: &State, domain: &mut Domain) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    let id = match (domain.requirements.state, domain.id) {
        (DomainState::Bound, Some(id)) => id,
        (DomainState::Active, _) => return Err(format!("Domain {name} is already active")),
        _ => {
            return Err(format!(
                "Domain {name} is not bound: bind it first (ldmig bind-domain {name})"
            ))
        }
    };
    state
        .machine
        .lock()
        .start_domain(id)
        .map_err(|error| format!("Starting domain {name} failed: {error}"))?;
    domain.requirements.state = DomainState::Active;
    booted(state, domain, true);
    Ok(format!("Domain {name} started on {}", state.host()))
}

/// `stop-domain`: an active domain stops and stays bound.
pub(super) fn stop(state: &State, domain: &mut Domain) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    refuse_control_domain(&name, "stopped")?;
    let id = active_id(domain)?;
    state
        .machine
        .lock()
        .stop_domain(id)
        .map_err(|error| format!("Stopping domain {name} failed: {error}"))?;
    domain.workload = None;
    domain.requirements.state = DomainState::Bound;
    // Bound, its memory changes are not dynamic; started, it boots afresh.
    lock(&state.locks).domain_rebooted(&name);
    Ok(format!("Domain {name} stopped"))
}

/// `stop-domain -r`: an active domain reboots.
pub(super) fn reboot(state: &State, domain: &mut Domain) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    let id = active_id(domain)?;
    {
        let mut machine = state.machine.lock();
        machine
            .stop_domain(id)
            .and_then(|()| machine.start_domain(id))
            .map_err(|error| format!("Rebooting domain {name} failed: {error}"))?;
    }
    let memory_dr_was_disabled = lock(&state.locks).memory_reconfiguration_disabled(&name);
    // The OS restarts on the memory it has.
    booted(state, domain, false);
    let mut message = format!("Domain {name} rebooted");
    if memory_dr_was_disabled {
        message.push_str(": memory dynamic reconfiguration is enabled again");
    }
    Ok(message)
}

/// What a boot changes: memory DR allowed again, a pending delayed
/// reconfiguration applied, the guest running from the start.
fn booted(state: &State, domain: &mut Domain, fill: bool) {
    let name = domain.requirements.name.to_string();
    lock(&state.locks).domain_rebooted(&name);
    domain.requirements.delayed_reconfiguration_pending = false;
    if name == CONTROL_DOMAIN {
        lock(&state.host).delayed_reconfiguration = false;
    }
    state.boot_guest(domain, fill);
}

fn active_id(domain: &Domain) -> Result<u64, String> {
    let name = &domain.requirements.name;
    match (domain.requirements.state, domain.id) {
        (DomainState::Active, Some(id)) => Ok(id),
        _ => Err(format!("Domain {name} is not active")),
    }
}

fn refuse_control_domain(name: &str, what: &str) -> Result<(), String> {
    if name == CONTROL_DOMAIN {
        return Err(format!("The control domain {name} cannot be {what}"));
    }
    Ok(())
}
