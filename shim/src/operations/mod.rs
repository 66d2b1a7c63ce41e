//! The `ldm` operations a daemon runs on its machine besides migrations:
//! bind, unbind, start, stop (and reboot) a domain; add, remove or set its
//! memory, vCPUs and crypto units; set its cpu-arch; start or cancel a
//! delayed reconfiguration; set the machine's power-management policy.
//!
//! Every operation is first submitted to the machine's operation locks
//! ([`ldmig::rules::OperationLocks`]): while a migration runs here, the
//! guide refuses every change to the migrating domain, bind and stop of the
//! other domains and delayed reconfiguration, and defers a switch to the
//! elastic policy until the migration ends. The reason the locks give is the
//! answer. Then the simulated machine changes: a started domain runs its
//! guest's workload, a stopped one does not.
//!
//! - [`lifecycle`]: bind, unbind, start, stop, reboot;
//! - [`resources`]: memory, vCPUs, crypto units, cpu-arch;
//! - [`host`]: delayed reconfiguration and the power policy.

mod host;
mod lifecycle;
mod resources;

use super::control::Event;
use super::daemon::{lock, Domain, State};
use ldmig::rules::{DomainAction, LockDecision, Operation};
use ldmig_hv::resources::PowerMode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An `ldm` operation, with `ldm`'s names (`bind-domain`, `add-memory`,
/// ...) as its JSON tag.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "operation", rename_all = "kebab-case")]
pub enum AdminOperation {
    /// `bind-domain DOMAIN`: an inactive domain takes its resources.
    BindDomain {
        /// The domain.
        domain: String,
    },
    /// `unbind-domain DOMAIN`: a bound (stopped) domain gives them back.
    UnbindDomain {
        /// The domain.
        domain: String,
    },
    /// `start-domain DOMAIN`: a bound domain boots.
    StartDomain {
        /// The domain.
        domain: String,
    },
    /// `stop-domain [-r] DOMAIN`: an active domain stops (and with
    /// `reboot`, boots again).
    StopDomain {
        /// The domain.
        domain: String,
        /// Reboot instead of staying stopped (`-r`).
        reboot: bool,
    },
    /// `add-memory SIZE DOMAIN`.
    AddMemory {
        /// The domain.
        domain: String,
        /// Bytes to add.
        bytes: u64,
    },
    /// `remove-memory SIZE DOMAIN`.
    RemoveMemory {
        /// The domain.
        domain: String,
        /// Bytes to remove.
        bytes: u64,
    },
    /// `set-memory SIZE DOMAIN`.
    SetMemory {
        /// The domain.
        domain: String,
        /// Bytes the domain ends with.
        bytes: u64,
    },
    /// `add-vcpu COUNT DOMAIN`.
    AddVcpu {
        /// The domain.
        domain: String,
        /// vCPUs to add.
        count: u64,
    },
    /// `remove-vcpu COUNT DOMAIN`.
    RemoveVcpu {
        /// The domain.
        domain: String,
        /// vCPUs to remove.
        count: u64,
    },
    /// `set-vcpu COUNT DOMAIN`.
    SetVcpu {
        /// The domain.
        domain: String,
        /// vCPUs the domain ends with.
        count: u64,
    },
    /// `add-crypto COUNT DOMAIN`.
    AddCrypto {
        /// The domain.
        domain: String,
        /// Crypto units to add.
        count: u64,
    },
    /// `remove-crypto COUNT DOMAIN`.
    RemoveCrypto {
        /// The domain.
        domain: String,
        /// Crypto units to remove.
        count: u64,
    },
    /// `set-crypto COUNT DOMAIN`.
    SetCrypto {
        /// The domain.
        domain: String,
        /// Crypto units the domain ends with.
        count: u64,
    },
    /// `set-domain cpu-arch=CLASS DOMAIN`.
    SetDomain {
        /// The domain.
        domain: String,
        /// The cpu-arch class (`native`, `generic`, `migration-class1`,
        /// `sparc64-class1`).
        cpu_arch: String,
    },
    /// `start-reconf DOMAIN`: start a delayed reconfiguration.
    StartReconf {
        /// The domain (usually the control domain, `primary`).
        domain: String,
    },
    /// `cancel-reconf DOMAIN`: cancel the pending delayed reconfiguration.
    CancelReconf {
        /// The domain.
        domain: String,
    },
    /// `set-power-policy performance|elastic|disabled`: the machine's
    /// power-management policy (on the real machine, its service
    /// processor's `/HOST/power_mgmt policy`).
    SetPowerPolicy {
        /// The policy.
        policy: String,
    },
}

impl AdminOperation {
    /// The domain the operation is for (`None` for the power policy).
    pub fn domain(&self) -> Option<&str> {
        match self {
            AdminOperation::BindDomain { domain }
            | AdminOperation::UnbindDomain { domain }
            | AdminOperation::StartDomain { domain }
            | AdminOperation::StopDomain { domain, .. }
            | AdminOperation::AddMemory { domain, .. }
            | AdminOperation::RemoveMemory { domain, .. }
            | AdminOperation::SetMemory { domain, .. }
            | AdminOperation::AddVcpu { domain, .. }
            | AdminOperation::RemoveVcpu { domain, .. }
            | AdminOperation::SetVcpu { domain, .. }
            | AdminOperation::AddCrypto { domain, .. }
            | AdminOperation::RemoveCrypto { domain, .. }
            | AdminOperation::SetCrypto { domain, .. }
            | AdminOperation::SetDomain { domain, .. }
            | AdminOperation::StartReconf { domain }
            | AdminOperation::CancelReconf { domain } => Some(domain),
            AdminOperation::SetPowerPolicy { .. } => None,
        }
    }

    /// The operation as the locks know it; `Err` names a policy that does
    /// not exist.
    pub fn lock_operation(&self) -> Result<Operation<'_>, String> {
        fn on(domain: &str, action: DomainAction) -> Operation<'_> {
            Operation::Domain { domain, action }
        }
        Ok(match self {
            AdminOperation::BindDomain { domain } => on(domain, DomainAction::Bind),
            AdminOperation::UnbindDomain { domain } => on(domain, DomainAction::Unbind),
            AdminOperation::StartDomain { domain } => on(domain, DomainAction::Start),
            AdminOperation::StopDomain { domain, reboot } => on(
                domain,
                if *reboot {
                    DomainAction::Reboot
                } else {
                    DomainAction::Stop
                },
            ),
            AdminOperation::AddMemory { domain, .. } => on(domain, DomainAction::AddMemory),
            AdminOperation::RemoveMemory { domain, .. } => on(domain, DomainAction::RemoveMemory),
            AdminOperation::SetMemory { domain, .. } => on(domain, DomainAction::SetMemory),
            AdminOperation::AddVcpu { domain, .. } => on(domain, DomainAction::AddVcpus),
            AdminOperation::RemoveVcpu { domain, .. } => on(domain, DomainAction::RemoveVcpus),
            AdminOperation::SetVcpu { domain, .. } => on(domain, DomainAction::SetVcpus),
            AdminOperation::AddCrypto { domain, .. } => on(domain, DomainAction::AddCryptoUnits),
            AdminOperation::RemoveCrypto { domain, .. } => {
                on(domain, DomainAction::RemoveCryptoUnits)
            }
            AdminOperation::SetCrypto { domain, .. } => on(domain, DomainAction::SetCryptoUnits),
            AdminOperation::SetDomain { domain, .. } => on(domain, DomainAction::SetDomain),
            AdminOperation::StartReconf { domain } => {
                Operation::StartDelayedReconfiguration { domain }
            }
            AdminOperation::CancelReconf { domain } => {
                Operation::CancelDelayedReconfiguration { domain }
            }
            AdminOperation::SetPowerPolicy { policy } => Operation::SetPowerMode {
                mode: PowerMode::from_name(policy).ok_or_else(|| {
                    format!("Unknown power policy {policy}: performance, elastic or disabled")
                })?,
            },
        })
    }
}

/// Runs `operation` on this daemon's machine: the locks first, then the
/// change. The answer says what changed, or why nothing did.
pub(crate) fn operate(state: &State, operation: &AdminOperation) -> Event {
    let lock_operation = match operation.lock_operation() {
        Ok(lock_operation) => lock_operation,
        Err(message) => return Event::failed(message),
    };
    let mut domains = lock(&state.domains);
    if let Some(name) = operation.domain() {
        match domains.get(name) {
            None => return Event::failed(format!("Domain {name} not found on {}", state.host())),
            Some(domain) if domain.error_state => {
                return Event::failed(format!(
                    "Domain {name} is in the error state after a failed migration: recover it first (ldmig recover-domain {name} --resume or --remove)"
                ))
            }
            Some(_) => {}
        }
    }
    {
        let mut locks = lock(&state.locks);
        match locks.submit(lock_operation) {
            LockDecision::Allowed => {}
            LockDecision::Refused(reason) => return Event::failed(reason.to_string()),
            LockDecision::Deferred(reason) => {
                let reason = reason.to_string();
                drop(locks);
                // The deferred switch is part of the saved state.
                let _ = state.persist(&domains);
                return Event::done(reason, state.host());
            }
        }
    }
    let result = apply(state, &mut domains, operation);
    match result {
        Ok(message) => match state.persist(&domains) {
            Ok(()) => Event::done(message, state.host()),
            Err(error) => Event::failed(format!("{message}\nbut {error}")),
        },
        Err(message) => Event::failed(message),
    }
}

/// The change itself, once the locks allowed it.
fn apply(
    state: &State,
    domains: &mut BTreeMap<String, Domain>,
    operation: &AdminOperation,
) -> Result<String, String> {
    if let AdminOperation::SetPowerPolicy { policy } = operation {
        return host::set_power_policy(state, policy);
    }
    let name = operation.domain().unwrap_or_default();
    let domain = domains
        .get_mut(name)
        .ok_or_else(|| format!("Domain {name} not found on {}", state.host()))?;
    match operation {
        AdminOperation::BindDomain { .. } => lifecycle::bind(state, domain),
        AdminOperation::UnbindDomain { .. } => lifecycle::unbind(state, domain),
        AdminOperation::StartDomain { .. } => lifecycle::start(state, domain),
        AdminOperation::StopDomain { reboot: false, .. } => lifecycle::stop(state, domain),
        AdminOperation::StopDomain { reboot: true, .. } => lifecycle::reboot(state, domain),
        AdminOperation::AddMemory { bytes, .. } => {
            resources::change_memory(state, domain, resources::Change::Add(*bytes))
        }
        AdminOperation::RemoveMemory { bytes, .. } => {
            resources::change_memory(state, domain, resources::Change::Remove(*bytes))
        }
        AdminOperation::SetMemory { bytes, .. } => {
            resources::change_memory(state, domain, resources::Change::Set(*bytes))
        }
        AdminOperation::AddVcpu { count, .. } => {
            resources::change_vcpus(state, domain, resources::Change::Add(*count))
        }
        AdminOperation::RemoveVcpu { count, .. } => {
            resources::change_vcpus(state, domain, resources::Change::Remove(*count))
        }
        AdminOperation::SetVcpu { count, .. } => {
            resources::change_vcpus(state, domain, resources::Change::Set(*count))
        }
        AdminOperation::AddCrypto { count, .. } => {
            resources::change_crypto_units(state, domain, resources::Change::Add(*count))
        }
        AdminOperation::RemoveCrypto { count, .. } => {
            resources::change_crypto_units(state, domain, resources::Change::Remove(*count))
        }
        AdminOperation::SetCrypto { count, .. } => {
            resources::change_crypto_units(state, domain, resources::Change::Set(*count))
        }
        AdminOperation::SetDomain { cpu_arch, .. } => {
            resources::set_cpu_arch(state, domain, cpu_arch)
        }
        AdminOperation::StartReconf { .. } => host::start_reconfiguration(state, domain),
        AdminOperation::CancelReconf { .. } => host::cancel_reconfiguration(state, domain),
        AdminOperation::SetPowerPolicy { .. } => Err("not a domain operation".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_travel_as_json_with_ldm_names() {
        let operation = AdminOperation::AddMemory {
            domain: "ldg1".into(),
            bytes: 1 << 30,
        };
        let text = serde_json::to_string(&operation).expect("serialises");
        assert!(text.contains("\"operation\":\"add-memory\""), "{text}");
        let back: AdminOperation = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, operation);
    }

    #[test]
    fn each_operation_maps_to_its_lock() {
        let stop = AdminOperation::StopDomain {
            domain: "ldg1".into(),
            reboot: true,
        };
        assert_eq!(
            stop.lock_operation(),
            Ok(Operation::Domain {
                domain: "ldg1",
                action: DomainAction::Reboot
            })
        );
        let policy = AdminOperation::SetPowerPolicy {
            policy: "elastic".into(),
        };
        assert_eq!(
            policy.lock_operation(),
            Ok(Operation::SetPowerMode {
                mode: PowerMode::Elastic
            })
        );
        assert_eq!(policy.domain(), None);
        let unknown = AdminOperation::SetPowerPolicy {
            policy: "turbo".into(),
        };
        assert!(unknown.lock_operation().is_err());
    }
}
