//! What `list` and `list-devices memory` answer: every domain as the
//! daemon and the machine know it, the machine's power policy, and its free
//! memory ranges.
//!
//! A domain being migrated here is shown as `ldm` shows it: `bound`, in
//! transition, flagged as the target of a migration, with the physical
//! addresses of the memory reserved for it. The source of a migration is
//! flagged as such, and `suspended` during the switchover.

use super::control::{DomainListing, Event, HostListing};
use super::daemon::{lock, Domain, State};
use ldmig_hv::resources::DomainState;
use ldmig_sim::machine::Machine;

/// The control domain's name.
pub(crate) const CONTROL_DOMAIN: &str = "primary";

/// `list` (one domain, or all).
pub(crate) fn list(state: &State, only: Option<&str>) -> Event {
    let domains = lock(&state.domains);
    if let Some(name) = only {
        if !domains.contains_key(name) {
            return Event::failed(format!("Domain {name} not found on {}", state.host()));
        }
    }
    let locks = lock(&state.locks);
    let settings = *lock(&state.host);
    let resources = state.description.resources();
    let machine = state.machine.lock();
    // The control domain first, as `ldm` lists it, then by name.
    let ordered = domains
        .iter()
        .filter(|(name, _)| name.as_str() == CONTROL_DOMAIN)
        .chain(
            domains
                .iter()
                .filter(|(name, _)| name.as_str() != CONTROL_DOMAIN),
        );
    let listings = ordered
        .filter(|(name, _)| only.is_none_or(|wanted| wanted == name.as_str()))
        .map(|(name, domain)| {
            let mut listing = describe(name, domain, &machine, resources.niu_available);
            listing.memory_dr_disabled = domain.requirements.state == DomainState::Active
                && locks.memory_reconfiguration_disabled(name);
            if name == CONTROL_DOMAIN {
                listing.delayed_reconfiguration |= settings.delayed_reconfiguration;
            }
            listing.flags = flags(name, domain, &listing);
            listing
        })
        .collect();
    let host_listing = HostListing {
        cpu_type: resources.cpu_type.to_string(),
        cpu_frequency_mhz: resources.cpu_frequency_mhz,
        power_policy: settings.power_mode.to_string(),
        deferred_power_policy: locks.deferred_power_mode().map(|mode| mode.to_string()),
    };
    Event::Done {
        message: String::new(),
        host: state.host().to_string(),
        domains: listings,
        free_memory: Vec::new(),
        migration: None,
        findings: Vec::new(),
        host_listing: Some(host_listing),
    }
}

/// `list-devices memory`: the free physical ranges.
pub(crate) fn free_memory(state: &State) -> Event {
    let free = state
        .machine
        .lock()
        .free_ranges()
        .iter()
        .map(|range| (range.pa, range.size))
        .collect();
    Event::Done {
        message: String::new(),
        host: state.host().to_string(),
        domains: Vec::new(),
        free_memory: free,
        migration: None,
        findings: Vec::new(),
        host_listing: None,
    }
}

/// One domain, its flags left to fill.
fn describe(name: &str, domain: &Domain, machine: &Machine, niu_available: bool) -> DomainListing {
    let requirements = &domain.requirements;
    let bound = domain.id.filter(|&id| machine.run_state(id).is_some());
    let blocks = bound
        .map(|id| machine.memory_blocks(id))
        .unwrap_or_default();
    let memory_blocks: Vec<(u64, u64, Option<u64>)> = if blocks.is_empty() {
        requirements
            .memory_blocks
            .iter()
            .map(|block| (block.real_address, block.size, None))
            .collect()
    } else {
        blocks
            .iter()
            .map(|(block, pa)| (block.ra, block.size, Some(*pa)))
            .collect()
    };
    let migrating_in = domain.migrating()
        && domain
            .migration
            .as_ref()
            .is_some_and(|track| track.snapshot().side == "target");
    let state_name = if domain.error_state {
        "error"
    } else if migrating_in && requirements.state != DomainState::Inactive {
        "bound"
    } else if domain.migrating()
        && requirements.state == DomainState::Active
        && bound.is_some_and(|id| !machine.is_running(id))
    {
        "suspended"
    } else {
        requirements.state.as_str()
    };
    DomainListing {
        name: name.to_string(),
        state: state_name.to_string(),
        flags: String::new(),
        vcpus: bound.map_or(requirements.vcpus, |id| {
            machine.vcpu_states(id).len() as u64
        }),
        cpu_arch: requirements.cpu_arch.to_string(),
        memory_bytes: memory_blocks.iter().map(|(_, size, _)| size).sum(),
        memory_blocks,
        memory_dr_disabled: false,
        crypto_units: bound.map_or(requirements.crypto_units, |id| {
            machine.domain_crypto_units(id)
        }),
        crypto_units_requested: requirements.crypto_units,
        niu_constraint: requirements.niu_constraint,
        niu_satisfied: requirements.niu_constraint && niu_available,
        virtual_disks: requirements
            .virtual_disks
            .iter()
            .map(|disk| {
                (
                    disk.name.to_string(),
                    disk.service.to_string(),
                    disk.volume.to_string(),
                )
            })
            .collect(),
        virtual_networks: requirements
            .virtual_networks
            .iter()
            .map(|network| (network.name.to_string(), network.switch.to_string()))
            .collect(),
        delayed_reconfiguration: requirements.delayed_reconfiguration_pending,
        migration: domain.migration.as_ref().map(|track| track.snapshot()),
    }
}

/// `ldm`'s six flag columns for a domain.
fn flags(name: &str, domain: &Domain, listing: &DomainListing) -> String {
    let migration_side = domain
        .migration
        .as_ref()
        .filter(|_| domain.migrating())
        .map(|track| track.snapshot().side);
    let normal = match (migration_side.as_deref(), listing.state.as_str()) {
        (Some("target"), _) => 't',
        (_, "active" | "suspended") => 'n',
        _ => '-',
    };
    let reconfiguration = if listing.delayed_reconfiguration {
        'd'
    } else {
        '-'
    };
    let control = if name == CONTROL_DOMAIN { 'c' } else { '-' };
    let service = if name == CONTROL_DOMAIN { 'v' } else { '-' };
    let migration = match migration_side.as_deref() {
        _ if domain.error_state => 'e',
        Some("source") => 's',
        Some("target") => 't',
        _ => '-',
    };
    ['-', normal, reconfiguration, control, service, migration]
        .iter()
        .collect()
}
