//! What `state.json` holds: the machine's settings, one record per domain
//! the daemon knows, and the domains that left.

use crate::control::MigrationInfo;
use ldmig_hv::resources::{DomainRequirements, PowerMode};
use serde::{Deserialize, Serialize};

/// The version of the file's format this daemon writes and reads.
pub const STATE_VERSION: u32 = 1;

/// The whole state of one daemon's machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The host it belongs to (the host file's name).
    pub host: String,
    /// The power-management policy in effect.
    pub power_mode: PowerMode,
    /// A switch to this policy waits for the migrations to end.
    #[serde(default)]
    pub deferred_power_mode: Option<PowerMode>,
    /// A delayed reconfiguration is pending on the control domain.
    pub delayed_reconfiguration: bool,
    /// The domains here, in the daemon's order.
    pub domains: Vec<DomainRecord>,
    /// The domains of the host file that are no longer here.
    pub departed: Vec<Departed>,
}

/// One domain as the daemon knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainRecord {
    /// What it is made of and its state (active, bound, inactive).
    pub requirements: DomainRequirements,
    /// While it holds resources: its memory blocks as bound (real address,
    /// size, physical address).
    pub placement: Option<Vec<(u64, u64, u64)>>,
    /// vCPUs it holds (when bound).
    pub vcpus_held: u64,
    /// Crypto units it holds (when bound).
    pub crypto_units_held: u64,
    /// Migration or error state.
    pub condition: Condition,
    /// Memory dynamic reconfiguration is disabled until it reboots (it
    /// migrated here while active).
    pub memory_dr_disabled: bool,
    /// Seed of its guest's workload.
    pub seed: u64,
    /// Its last migration, as `list -o status` shows it.
    pub last_migration: Option<MigrationInfo>,
}

/// Where a domain stands beyond its state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Condition {
    /// Nothing under way.
    Normal,
    /// Migrating to `peer`.
    MigratingOut {
        /// The target.
        peer: String,
        /// How far.
        phase: OutgoingPhase,
    },
    /// Migrating in from `peer` (a reservation).
    MigratingIn {
        /// The source.
        peer: String,
        /// How far.
        phase: IncomingPhase,
    },
    /// Left in the error state by a failed migration.
    Error {
        /// What happened.
        reason: String,
        /// What the administrator must do.
        recovery: String,
    },
}

/// How far an outgoing migration went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutgoingPhase {
    /// Before the commit: the target cannot run the domain.
    PreCopy,
    /// The commit (the domain's final state) may have left: the target
    /// may own the domain.
    Committing,
}

/// How far an incoming migration went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncomingPhase {
    /// Memory reserved and being filled; no commit yet.
    Reserved,
    /// The commit arrived and its acknowledgement may have left: the
    /// source may have let its copy go.
    Acknowledging,
}

/// A domain that left this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Departed {
    /// Its name.
    pub name: String,
    /// How it left ("migrated to t5-b:8101", "removed by recover-domain").
    pub how: String,
}

impl StateFile {
    /// True when the domain named `name` left.
    pub fn departed(&self, name: &str) -> bool {
        self.departed.iter().any(|departed| departed.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_travel_as_tagged_json() {
        let condition = Condition::MigratingOut {
            peer: "t5-b:8101".into(),
            phase: OutgoingPhase::Committing,
        };
        let text = serde_json::to_string(&condition).expect("serialises");
        assert_eq!(
            text,
            r#"{"kind":"migrating-out","peer":"t5-b:8101","phase":"committing"}"#
        );
        let back: Condition = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, condition);
    }
}
