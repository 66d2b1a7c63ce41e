//! The operation locks of one machine while domains migrate to or from it.
//!
//! The guide's rules: while a migration runs on a machine, every operation
//! that would change the migrating domain's state or configuration is
//! refused, and so are bind and stop of the other domains of that machine;
//! delayed reconfiguration operations are refused; a switch of the
//! power-management policy to elastic waits until the migration ends (then
//! it takes effect). Other operations on other domains, and switches to
//! `performance` or `disabled`, go ahead.
//!
//! The table is per machine: the source machine locks the domain it sends
//! ([`MigrationSide::Source`]), the target machine the domain it receives
//! ([`MigrationSide::Target`]). The control-domain service asks
//! [`OperationLocks::check`] (or [`OperationLocks::submit`], which also
//! records a deferred power-mode switch) before every operation.

use crate::rules::report::truncated_name;
use core::fmt;
use ldmig_hv::resources::{Name, PowerMode};

/// Migrations one machine can run at once.
pub const MAX_MIGRATIONS: usize = 4;
/// Migrated-in domains whose memory reconfiguration stays disabled, at most.
pub const MAX_MIGRATED_DOMAINS: usize = 16;

/// Which end of a migration this machine is for a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationSide {
    /// The machine sends the domain.
    Source,
    /// The machine receives the domain.
    Target,
}

impl fmt::Display for MigrationSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MigrationSide::Source => "being migrated away from this machine",
            MigrationSide::Target => "being migrated to this machine",
        })
    }
}

/// An administrative operation on one domain, named like its `ldm` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainAction {
    /// `add-vcpu`.
    AddVcpus,
    /// `remove-vcpu`.
    RemoveVcpus,
    /// `set-vcpu`.
    SetVcpus,
    /// `add-memory`.
    AddMemory,
    /// `remove-memory`.
    RemoveMemory,
    /// `set-memory`.
    SetMemory,
    /// `add-crypto`.
    AddCryptoUnits,
    /// `remove-crypto`.
    RemoveCryptoUnits,
    /// `set-crypto`.
    SetCryptoUnits,
    /// `add-vdisk`.
    AddVirtualDisk,
    /// `remove-vdisk`.
    RemoveVirtualDisk,
    /// `add-vnet`.
    AddVirtualNetwork,
    /// `remove-vnet`.
    RemoveVirtualNetwork,
    /// `set-variable`.
    SetVariable,
    /// `set-domain` (e.g. `cpu-arch=`).
    SetDomain,
    /// `start-domain`.
    Start,
    /// `stop-domain`.
    Stop,
    /// `stop-domain -r` (reboot).
    Reboot,
    /// `bind-domain`.
    Bind,
    /// `unbind-domain`.
    Unbind,
    /// `remove-domain` (destroy).
    Destroy,
}

impl DomainAction {
    /// Every action, in declaration order.
    pub const ALL: [DomainAction; 21] = [
        DomainAction::AddVcpus,
        DomainAction::RemoveVcpus,
        DomainAction::SetVcpus,
        DomainAction::AddMemory,
        DomainAction::RemoveMemory,
        DomainAction::SetMemory,
        DomainAction::AddCryptoUnits,
        DomainAction::RemoveCryptoUnits,
        DomainAction::SetCryptoUnits,
        DomainAction::AddVirtualDisk,
        DomainAction::RemoveVirtualDisk,
        DomainAction::AddVirtualNetwork,
        DomainAction::RemoveVirtualNetwork,
        DomainAction::SetVariable,
        DomainAction::SetDomain,
        DomainAction::Start,
        DomainAction::Stop,
        DomainAction::Reboot,
        DomainAction::Bind,
        DomainAction::Unbind,
        DomainAction::Destroy,
    ];

    /// The `ldm` subcommand.
    pub fn command(self) -> &'static str {
        match self {
            DomainAction::AddVcpus => "add-vcpu",
            DomainAction::RemoveVcpus => "remove-vcpu",
            DomainAction::SetVcpus => "set-vcpu",
            DomainAction::AddMemory => "add-memory",
            DomainAction::RemoveMemory => "remove-memory",
            DomainAction::SetMemory => "set-memory",
            DomainAction::AddCryptoUnits => "add-crypto",
            DomainAction::RemoveCryptoUnits => "remove-crypto",
            DomainAction::SetCryptoUnits => "set-crypto",
            DomainAction::AddVirtualDisk => "add-vdisk",
            DomainAction::RemoveVirtualDisk => "remove-vdisk",
            DomainAction::AddVirtualNetwork => "add-vnet",
            DomainAction::RemoveVirtualNetwork => "remove-vnet",
            DomainAction::SetVariable => "set-variable",
            DomainAction::SetDomain => "set-domain",
            DomainAction::Start => "start-domain",
            DomainAction::Stop => "stop-domain",
            DomainAction::Reboot => "stop-domain -r",
            DomainAction::Bind => "bind-domain",
            DomainAction::Unbind => "unbind-domain",
            DomainAction::Destroy => "remove-domain",
        }
    }

    /// True for the actions refused on every domain of a machine while a
    /// migration runs there: bind and stop (a reboot stops the domain too).
    pub fn blocked_machine_wide(self) -> bool {
        matches!(
            self,
            DomainAction::Bind | DomainAction::Stop | DomainAction::Reboot
        )
    }

    /// True for the memory dynamic reconfiguration actions, disabled for a
    /// migrated domain until it reboots.
    pub fn changes_memory(self) -> bool {
        matches!(
            self,
            DomainAction::AddMemory | DomainAction::RemoveMemory | DomainAction::SetMemory
        )
    }
}

impl fmt::Display for DomainAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.command())
    }
}

/// An operation the administrator asks for on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation<'a> {
    /// `action` on the domain named `domain`.
    Domain {
        /// The domain.
        domain: &'a str,
        /// What to do to it.
        action: DomainAction,
    },
    /// Start a delayed reconfiguration on the domain named `domain`
    /// (usually the control domain): `start-reconf`.
    StartDelayedReconfiguration {
        /// The domain.
        domain: &'a str,
    },
    /// Cancel the pending delayed reconfiguration of the domain named
    /// `domain`: `cancel-reconf`.
    CancelDelayedReconfiguration {
        /// The domain.
        domain: &'a str,
    },
    /// Switch the machine's power-management policy to `mode`.
    SetPowerMode {
        /// The new policy.
        mode: PowerMode,
    },
}

/// Why an operation is refused or deferred.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockReason {
    /// The domain itself is migrating.
    DomainMigrating {
        /// The domain.
        domain: Name,
        /// What was asked.
        action: DomainAction,
        /// Which end of the migration this machine is.
        side: MigrationSide,
    },
    /// Bind or stop of another domain while a migration runs on the machine.
    MachineMigrating {
        /// The domain the operation was for.
        domain: Name,
        /// What was asked.
        action: DomainAction,
        /// A domain migrating on this machine.
        migrating: Name,
    },
    /// A delayed reconfiguration operation while a migration runs on the
    /// machine.
    DelayedReconfigurationDuringMigration {
        /// The command (`start-reconf`, `cancel-reconf`).
        command: &'static str,
        /// The domain the reconfiguration was for.
        domain: Name,
        /// A domain migrating on this machine.
        migrating: Name,
    },
    /// A switch to elastic mode waits for the migration's end.
    ElasticDuringMigration {
        /// A domain migrating on this machine.
        migrating: Name,
    },
    /// Memory dynamic reconfiguration of a domain that migrated here, before
    /// it rebooted (the guide: disabled until the domain reboots).
    MemoryReconfigurationAfterMigration {
        /// The domain.
        domain: Name,
        /// What was asked.
        action: DomainAction,
    },
}

impl fmt::Display for LockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockReason::DomainMigrating {
                domain,
                action,
                side,
            } => write!(
                f,
                "{action} {domain} refused: the domain is {side}; retry once the migration ends, or cancel it"
            ),
            LockReason::MachineMigrating {
                domain,
                action,
                migrating,
            } => write!(
                f,
                "{action} {domain} refused: domain {migrating} is migrating on this machine, and no domain can be bound or stopped until the migration ends"
            ),
            LockReason::DelayedReconfigurationDuringMigration {
                command,
                domain,
                migrating,
            } => write!(
                f,
                "{command} {domain} refused: domain {migrating} is migrating on this machine, and delayed reconfiguration operations are refused until the migration ends"
            ),
            LockReason::MemoryReconfigurationAfterMigration { domain, action } => write!(
                f,
                "{action} {domain} refused: memory dynamic reconfiguration is disabled for a migrated domain until it reboots"
            ),
            LockReason::ElasticDuringMigration { migrating } => write!(
                f,
                "The switch to elastic power-management mode is deferred: domain {migrating} is migrating on this machine, and the switch takes effect when the migration ends"
            ),
        }
    }
}

/// The answer for one operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockDecision {
    /// Go ahead.
    Allowed,
    /// Refused now; the reason says why and what to do.
    Refused(LockReason),
    /// Accepted, but it takes effect only when the migrations end.
    Deferred(LockReason),
}

/// Why the lock table could not record the start or end of a migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockError {
    /// The domain is already migrating on this machine.
    AlreadyMigrating {
        /// The domain.
        domain: Name,
    },
    /// The domain is not migrating on this machine.
    NotMigrating {
        /// The domain.
        domain: Name,
    },
    /// [`MAX_MIGRATIONS`] migrations already run on this machine.
    TooManyMigrations,
    /// The domain name is longer than a [`Name`] holds.
    NameTooLong,
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::AlreadyMigrating { domain } => {
                write!(f, "domain {domain} is already migrating on this machine")
            }
            LockError::NotMigrating { domain } => {
                write!(f, "domain {domain} is not migrating on this machine")
            }
            LockError::TooManyMigrations => write!(
                f,
                "this machine already runs {MAX_MIGRATIONS} migrations, the most it can"
            ),
            LockError::NameTooLong => write!(
                f,
                "the domain name is longer than {} bytes",
                ldmig_hv::resources::NAME_CAPACITY
            ),
        }
    }
}

impl core::error::Error for LockError {}

/// One migrating domain.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Migration {
    domain: Name,
    side: MigrationSide,
}

/// The operation locks of one machine.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OperationLocks {
    migrations: heapless::Vec<Migration, MAX_MIGRATIONS>,
    deferred_power_mode: Option<PowerMode>,
    memory_locked: heapless::Vec<Name, MAX_MIGRATED_DOMAINS>,
}

impl OperationLocks {
    /// A machine with no migration running.
    pub const fn new() -> Self {
        OperationLocks {
            migrations: heapless::Vec::new(),
            deferred_power_mode: None,
            memory_locked: heapless::Vec::new(),
        }
    }

    /// Records that `domain` arrived here by migration: its memory dynamic
    /// reconfiguration is refused until [`OperationLocks::domain_rebooted`].
    pub fn migrated_in(&mut self, domain: &str) -> Result<(), LockError> {
        if self.memory_locked.iter().any(|locked| locked == domain) {
            return Ok(());
        }
        let name = ldmig_hv::resources::name(domain).map_err(|_| LockError::NameTooLong)?;
        self.memory_locked
            .push(name)
            .map_err(|_| LockError::TooManyMigrations)
    }

    /// The domain rebooted: memory dynamic reconfiguration works again.
    pub fn domain_rebooted(&mut self, domain: &str) {
        self.memory_locked.retain(|locked| locked != domain);
    }

    /// True while memory dynamic reconfiguration of `domain` is disabled.
    pub fn memory_reconfiguration_disabled(&self, domain: &str) -> bool {
        self.memory_locked.iter().any(|locked| locked == domain)
    }

    /// Records that `domain` starts migrating, this machine being `side`.
    pub fn begin_migration(&mut self, domain: &str, side: MigrationSide) -> Result<(), LockError> {
        let domain = ldmig_hv::resources::name(domain).map_err(|_| LockError::NameTooLong)?;
        if self.side_of(&domain).is_some() {
            return Err(LockError::AlreadyMigrating { domain });
        }
        self.migrations
            .push(Migration { domain, side })
            .map_err(|_| LockError::TooManyMigrations)
    }

    /// Records that `domain`'s migration ended (completed, cancelled or
    /// failed). When it was the last one, returns the power mode whose switch
    /// was deferred, if any, for the caller to apply now.
    pub fn end_migration(&mut self, domain: &str) -> Result<Option<PowerMode>, LockError> {
        let index = self
            .migrations
            .iter()
            .position(|migration| migration.domain == domain)
            .ok_or_else(|| LockError::NotMigrating {
                domain: truncated_name(domain),
            })?;
        self.migrations.swap_remove(index);
        if self.migrations.is_empty() {
            Ok(self.deferred_power_mode.take())
        } else {
            Ok(None)
        }
    }

    /// Which end of a migration this machine is for `domain`, if it migrates.
    pub fn side_of(&self, domain: &str) -> Option<MigrationSide> {
        self.migrations
            .iter()
            .find(|migration| migration.domain == domain)
            .map(|migration| migration.side)
    }

    /// True when any migration runs on this machine.
    pub fn migration_running(&self) -> bool {
        !self.migrations.is_empty()
    }

    /// The power mode whose switch waits for the migrations to end.
    pub fn deferred_power_mode(&self) -> Option<PowerMode> {
        self.deferred_power_mode
    }

    /// What would happen to `operation` now. Changes nothing.
    pub fn check(&self, operation: Operation<'_>) -> LockDecision {
        if let Operation::Domain { domain, action } = operation {
            if action.changes_memory()
                && self.memory_reconfiguration_disabled(domain)
                && self.side_of(domain).is_none()
            {
                return LockDecision::Refused(LockReason::MemoryReconfigurationAfterMigration {
                    domain: truncated_name(domain),
                    action,
                });
            }
        }
        let Some(first) = self.migrations.first() else {
            return LockDecision::Allowed;
        };
        match operation {
            Operation::Domain { domain, action } => {
                if let Some(side) = self.side_of(domain) {
                    LockDecision::Refused(LockReason::DomainMigrating {
                        domain: truncated_name(domain),
                        action,
                        side,
                    })
                } else if action.blocked_machine_wide() {
                    LockDecision::Refused(LockReason::MachineMigrating {
                        domain: truncated_name(domain),
                        action,
                        migrating: first.domain.clone(),
                    })
                } else {
                    LockDecision::Allowed
                }
            }
            Operation::StartDelayedReconfiguration { domain } => {
                LockDecision::Refused(LockReason::DelayedReconfigurationDuringMigration {
                    command: "start-reconf",
                    domain: truncated_name(domain),
                    migrating: first.domain.clone(),
                })
            }
            Operation::CancelDelayedReconfiguration { domain } => {
                LockDecision::Refused(LockReason::DelayedReconfigurationDuringMigration {
                    command: "cancel-reconf",
                    domain: truncated_name(domain),
                    migrating: first.domain.clone(),
                })
            }
            Operation::SetPowerMode {
                mode: PowerMode::Elastic,
            } => LockDecision::Deferred(LockReason::ElasticDuringMigration {
                migrating: first.domain.clone(),
            }),
            Operation::SetPowerMode { .. } => LockDecision::Allowed,
        }
    }

    /// Like [`OperationLocks::check`], and records the outcome: a deferred
    /// switch to elastic is remembered (and returned by
    /// [`OperationLocks::end_migration`]); an allowed switch to another mode
    /// replaces a deferred one, the latest request winning.
    pub fn submit(&mut self, operation: Operation<'_>) -> LockDecision {
        let decision = self.check(operation);
        if let Operation::SetPowerMode { mode } = operation {
            match decision {
                LockDecision::Deferred(_) => self.deferred_power_mode = Some(mode),
                LockDecision::Allowed => self.deferred_power_mode = None,
                LockDecision::Refused(_) => {}
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_locked_without_a_migration() {
        let locks = OperationLocks::new();
        for action in DomainAction::ALL {
            let operation = Operation::Domain {
                domain: "ldg1",
                action,
            };
            assert_eq!(locks.check(operation), LockDecision::Allowed);
        }
        let elastic = Operation::SetPowerMode {
            mode: PowerMode::Elastic,
        };
        assert_eq!(locks.check(elastic), LockDecision::Allowed);
    }

    #[test]
    fn begin_and_end_are_checked() {
        let mut locks = OperationLocks::new();
        locks
            .begin_migration("ldg1", MigrationSide::Source)
            .expect("first migration");
        assert!(matches!(
            locks.begin_migration("ldg1", MigrationSide::Target),
            Err(LockError::AlreadyMigrating { .. })
        ));
        for index in 1..MAX_MIGRATIONS {
            let name = [b'a' + index as u8];
            let name = core::str::from_utf8(&name).expect("ASCII");
            locks
                .begin_migration(name, MigrationSide::Target)
                .expect("room left");
        }
        assert_eq!(
            locks.begin_migration("one-too-many", MigrationSide::Source),
            Err(LockError::TooManyMigrations)
        );
        assert!(matches!(
            locks.end_migration("ldg9"),
            Err(LockError::NotMigrating { .. })
        ));
        assert_eq!(locks.end_migration("ldg1"), Ok(None));
        assert_eq!(locks.side_of("ldg1"), None);
    }
}
