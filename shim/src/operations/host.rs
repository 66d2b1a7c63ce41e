//! Operations on the machine as a whole: a delayed reconfiguration
//! (`start-reconf`, `cancel-reconf`; on the control domain it is the
//! machine's, which no migration into or out of may meet) and the
//! power-management policy (`set-power-policy`; in `elastic`, no migration).
//!
//! A delayed reconfiguration here is the pending state `ldm` shows with
//! the `d` flag: it ends with `cancel-reconf` or when the domain reboots.

use super::super::daemon::{lock, Domain, State};
use super::super::listing::CONTROL_DOMAIN;
use ldmig_hv::resources::{DomainState, PowerMode};

/// `start-reconf DOMAIN`.
pub(super) fn start_reconfiguration(state: &State, domain: &mut Domain) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    if domain.requirements.state == DomainState::Inactive {
        return Err(format!("Domain {name} is not bound"));
    }
    let mut host = lock(&state.host);
    let pending = if name == CONTROL_DOMAIN {
        &mut host.delayed_reconfiguration
    } else {
        &mut domain.requirements.delayed_reconfiguration_pending
    };
    if *pending {
        return Err(format!(
            "Domain {name} is already in a delayed reconfiguration"
        ));
    }
    *pending = true;
    Ok(format!(
        "Initiating a delayed reconfiguration operation on the {name} domain: it takes effect when {name} reboots (cancel it with ldmig cancel-reconf {name})"
    ))
}

/// `cancel-reconf DOMAIN`.
pub(super) fn cancel_reconfiguration(state: &State, domain: &mut Domain) -> Result<String, String> {
    let name = domain.requirements.name.to_string();
    let mut host = lock(&state.host);
    let pending = if name == CONTROL_DOMAIN {
        &mut host.delayed_reconfiguration
    } else {
        &mut domain.requirements.delayed_reconfiguration_pending
    };
    if !*pending {
        return Err(format!("No delayed reconfiguration is pending on {name}"));
    }
    *pending = false;
    Ok(format!(
        "The delayed reconfiguration of {name} is cancelled"
    ))
}

/// `set-power-policy POLICY` (the locks allowed it now).
pub(super) fn set_power_policy(state: &State, policy: &str) -> Result<String, String> {
    let mode = PowerMode::from_name(policy).ok_or_else(|| {
        format!("Unknown power policy {policy}: performance, elastic or disabled")
    })?;
    lock(&state.host).power_mode = mode;
    Ok(format!(
        "The power-management policy of {} is {mode}",
        state.host()
    ))
}
