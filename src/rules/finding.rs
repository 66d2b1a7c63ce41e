//! What a migration check found: [`Finding`], its [`Rule`] and [`Severity`].
//!
//! Every finding carries the data the administrator needs (sizes, names,
//! addresses) and prints as one line of the administrator's text. The memory
//! binding failure prints exactly the guide's words.

use core::fmt;
use ldmig_hv::resources::{CpuArchClass, MemorySize, Name, VersionRange};

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The migration cannot run.
    Failure,
    /// The migration can run, but something will not be as before.
    Warning,
    /// Information about what the migration will do.
    Note,
}

/// Which machine of the migration a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostSide {
    /// The machine the domain leaves.
    Source,
    /// The machine the domain goes to.
    Target,
}

impl fmt::Display for HostSide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostSide::Source => "source",
            HostSide::Target => "target",
        })
    }
}

/// The guide's rules, one per check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Enough free memory; each block one contiguous free range of its size.
    Memory,
    /// Compatible processor (type and frequency, or cpu-arch class); enough
    /// free strands.
    Cpu,
    /// No physical I/O devices (no I/O domains).
    PhysicalIo,
    /// Every virtual I/O service the domain uses exists on the target.
    VirtualIo,
    /// NIU hybrid I/O: kept, possibly unsatisfied.
    Niu,
    /// Crypto units: removed and added back, possibly fewer.
    CryptoUnits,
    /// No delayed reconfiguration pending.
    DelayedReconfiguration,
    /// No elastic power-management mode.
    PowerManagement,
    /// The two engines share a wire version.
    EngineVersion,
}

impl Rule {
    /// Every rule, in the order the checks run.
    pub const ALL: [Rule; 9] = [
        Rule::Memory,
        Rule::Cpu,
        Rule::PhysicalIo,
        Rule::VirtualIo,
        Rule::Niu,
        Rule::CryptoUnits,
        Rule::DelayedReconfiguration,
        Rule::PowerManagement,
        Rule::EngineVersion,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::Memory => "memory",
            Rule::Cpu => "CPU",
            Rule::PhysicalIo => "physical I/O",
            Rule::VirtualIo => "virtual I/O",
            Rule::Niu => "NIU hybrid I/O",
            Rule::CryptoUnits => "crypto units",
            Rule::DelayedReconfiguration => "delayed reconfiguration",
            Rule::PowerManagement => "power management",
            Rule::EngineVersion => "engine version",
        })
    }
}

/// A set of [`Rule`]s (for example, the rules a report found broken).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RuleSet(u16);

impl RuleSet {
    /// The empty set.
    pub const fn new() -> Self {
        RuleSet(0)
    }

    /// Adds `rule`.
    pub fn insert(&mut self, rule: Rule) {
        self.0 |= rule.bit();
    }

    /// True when `rule` is in the set.
    pub fn contains(&self, rule: Rule) -> bool {
        self.0 & rule.bit() != 0
    }

    /// Number of rules in the set.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The rules in the set, in [`Rule::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = Rule> + '_ {
        Rule::ALL.into_iter().filter(|rule| self.contains(*rule))
    }
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The target has less free memory than the domain has.
    NotEnoughFreeMemory {
        /// Memory of the domain.
        required: MemorySize,
        /// Free memory on the target.
        free: MemorySize,
    },
    /// No free range of the target holds this block in one piece (the
    /// guide's `Unable to bind 2G memory region at real address 0x8000000`).
    UnableToBindMemory {
        /// Size of the block.
        size: MemorySize,
        /// Real address of the block.
        real_address: u64,
    },
    /// The target's processor does not run the domain's cpu-arch class
    /// (for `native`: not the same type at the same frequency).
    IncompatibleProcessor {
        /// The domain's cpu-arch class.
        cpu_arch: CpuArchClass,
        /// Processor type of the source.
        source_type: Name,
        /// Frequency of the source in MHz.
        source_frequency_mhz: u32,
        /// Processor type of the target.
        target_type: Name,
        /// Frequency of the target in MHz.
        target_frequency_mhz: u32,
    },
    /// The target has fewer free strands than the domain has vCPUs.
    NotEnoughStrands {
        /// vCPUs of the domain.
        required: u64,
        /// Free strands on the target.
        free: u64,
    },
    /// The domain owns a physical I/O device (it is an I/O domain).
    PhysicalIoDevice {
        /// The device.
        device: Name,
    },
    /// A virtual disk's service does not exist on the target.
    DiskServiceMissing {
        /// The disk in the domain.
        disk: Name,
        /// The disk service it uses.
        service: Name,
    },
    /// A virtual disk's service exists on the target but not its volume.
    DiskVolumeMissing {
        /// The disk in the domain.
        disk: Name,
        /// The disk service it uses.
        service: Name,
        /// The volume it uses.
        volume: Name,
    },
    /// A virtual network's switch does not exist on the target.
    VirtualSwitchMissing {
        /// The network device in the domain.
        network: Name,
        /// The virtual switch it uses.
        switch: Name,
    },
    /// The target has no virtual console concentrator for the domain's
    /// console.
    ConsoleConcentratorMissing,
    /// The domain's NIU constraint cannot be met on the target: kept, but
    /// unsatisfied.
    NiuConstraintUnsatisfied,
    /// The domain holds crypto units and its OS cannot release them (no crypto
    /// unit dynamic reconfiguration).
    CryptoUnitsWithoutDynamicReconfiguration {
        /// Crypto units the domain holds.
        units: u64,
    },
    /// The crypto units are removed at the start and added back at the end.
    CryptoUnitsRemovedAndAddedBack {
        /// Crypto units the domain holds.
        units: u64,
    },
    /// The target has fewer free crypto units than the domain holds: the
    /// domain ends up with fewer.
    FewerCryptoUnits {
        /// Crypto units the domain holds.
        held: u64,
        /// Crypto units free on the target.
        free_on_target: u64,
    },
    /// A delayed reconfiguration is pending on a machine.
    HostDelayedReconfigurationPending {
        /// Which machine.
        side: HostSide,
        /// Its name.
        host: Name,
    },
    /// A delayed reconfiguration is pending on the domain itself.
    DomainDelayedReconfigurationPending,
    /// A machine is in elastic power-management mode.
    ElasticPowerMode {
        /// Which machine.
        side: HostSide,
        /// Its name.
        host: Name,
    },
    /// The two engines share no wire version.
    IncompatibleEngineVersions {
        /// Versions the source speaks.
        source: VersionRange,
        /// Versions the target speaks.
        target: VersionRange,
    },
}

impl Finding {
    /// The rule this finding belongs to.
    pub fn rule(&self) -> Rule {
        match self {
            Finding::NotEnoughFreeMemory { .. } | Finding::UnableToBindMemory { .. } => {
                Rule::Memory
            }
            Finding::IncompatibleProcessor { .. } | Finding::NotEnoughStrands { .. } => Rule::Cpu,
            Finding::PhysicalIoDevice { .. } => Rule::PhysicalIo,
            Finding::DiskServiceMissing { .. }
            | Finding::DiskVolumeMissing { .. }
            | Finding::VirtualSwitchMissing { .. }
            | Finding::ConsoleConcentratorMissing => Rule::VirtualIo,
            Finding::NiuConstraintUnsatisfied => Rule::Niu,
            Finding::CryptoUnitsWithoutDynamicReconfiguration { .. }
            | Finding::CryptoUnitsRemovedAndAddedBack { .. }
            | Finding::FewerCryptoUnits { .. } => Rule::CryptoUnits,
            Finding::HostDelayedReconfigurationPending { .. }
            | Finding::DomainDelayedReconfigurationPending => Rule::DelayedReconfiguration,
            Finding::ElasticPowerMode { .. } => Rule::PowerManagement,
            Finding::IncompatibleEngineVersions { .. } => Rule::EngineVersion,
        }
    }

    /// True for the constraints a domain must meet to be bound on the target
    /// (memory, strands, virtual I/O): failures for active and bound domains,
    /// warnings for inactive ones, whose binding comes later.
    pub fn is_binding_constraint(&self) -> bool {
        matches!(
            self,
            Finding::NotEnoughFreeMemory { .. }
                | Finding::UnableToBindMemory { .. }
                | Finding::NotEnoughStrands { .. }
                | Finding::DiskServiceMissing { .. }
                | Finding::DiskVolumeMissing { .. }
                | Finding::VirtualSwitchMissing { .. }
                | Finding::ConsoleConcentratorMissing
        )
    }
}

/// "version" for a single version, "versions" for a range.
fn versions_word(range: &VersionRange) -> &'static str {
    if range.oldest == range.newest {
        "version"
    } else {
        "versions"
    }
}

/// `count` followed by `singular` or its plural (adds `s`).
struct Counted(u64, &'static str);

impl fmt::Display for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.0 == 1 { "" } else { "s" };
        write!(f, "{} {}{}", self.0, self.1, plural)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::NotEnoughFreeMemory { required, free } => write!(
                f,
                "Not enough free memory on the target machine: the domain needs {required}, the target has {free} free"
            ),
            Finding::UnableToBindMemory { size, real_address } => write!(
                f,
                "Unable to bind {size} memory region at real address {real_address:#x}"
            ),
            Finding::IncompatibleProcessor {
                cpu_arch: CpuArchClass::Native,
                source_type,
                source_frequency_mhz,
                target_type,
                target_frequency_mhz,
            } => write!(
                f,
                "Incompatible processors: the source has {source_type} at {source_frequency_mhz} MHz, the target {target_type} at {target_frequency_mhz} MHz; a domain of cpu-arch native needs the same type at the same frequency (ldm set-domain cpu-arch=generic DOMAIN lets it move between processor types)"
            ),
            Finding::IncompatibleProcessor {
                cpu_arch,
                target_type,
                target_frequency_mhz,
                ..
            } => write!(
                f,
                "Incompatible processors: the target's {target_type} at {target_frequency_mhz} MHz does not run domains of cpu-arch {cpu_arch}"
            ),
            Finding::NotEnoughStrands { required, free } => write!(
                f,
                "Not enough free strands on the target machine: the domain has {}, the target has {} free",
                Counted(*required, "vCPU"),
                free
            ),
            Finding::PhysicalIoDevice { device } => write!(
                f,
                "The domain has direct access to physical I/O device {device}: a domain with physical I/O devices (an I/O domain) cannot be migrated"
            ),
            Finding::DiskServiceMissing { disk, service } => write!(
                f,
                "Virtual disk {disk}: the disk service {service} does not exist on the target machine"
            ),
            Finding::DiskVolumeMissing {
                disk,
                service,
                volume,
            } => write!(
                f,
                "Virtual disk {disk}: the volume {volume} of disk service {service} does not exist on the target machine"
            ),
            Finding::VirtualSwitchMissing { network, switch } => write!(
                f,
                "Virtual network {network}: the virtual switch {switch} does not exist on the target machine"
            ),
            Finding::ConsoleConcentratorMissing => f.write_str(
                "The target machine has no virtual console concentrator (vcc) for the domain's console",
            ),
            Finding::NiuConstraintUnsatisfied => f.write_str(
                "The target machine has no free NIU hybrid I/O resources: the domain keeps its NIU constraint, but it will not be satisfied",
            ),
            Finding::CryptoUnitsWithoutDynamicReconfiguration { units } => write!(
                f,
                "The domain holds {} and its operating system does not support crypto unit dynamic reconfiguration: remove the crypto units, or stop the domain, before migrating it",
                Counted(*units, "crypto unit")
            ),
            Finding::CryptoUnitsRemovedAndAddedBack { units } => write!(
                f,
                "The domain's {} will be removed at the start of the migration and added back at the end",
                Counted(*units, "crypto unit")
            ),
            Finding::FewerCryptoUnits {
                held,
                free_on_target,
            } => write!(
                f,
                "The target machine has {} free for the domain's {}: the domain will have fewer crypto units after the migration",
                Counted(*free_on_target, "crypto unit"),
                held
            ),
            Finding::HostDelayedReconfigurationPending { side, host } => write!(
                f,
                "A delayed reconfiguration is pending on the {side} machine {host}: the migration cannot start until it completes"
            ),
            Finding::DomainDelayedReconfigurationPending => f.write_str(
                "A delayed reconfiguration is pending on the domain: the migration cannot start until it completes",
            ),
            Finding::ElasticPowerMode { side, host } => write!(
                f,
                "The {side} machine {host} is in elastic power-management mode: migration is not supported in elastic mode"
            ),
            Finding::IncompatibleEngineVersions { source, target } => write!(
                f,
                "Incompatible migration engines: the source speaks wire {} {source}, the target wire {} {target}, and they share none",
                versions_word(source),
                versions_word(target)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_binding_failure_prints_the_guides_words() {
        let finding = Finding::UnableToBindMemory {
            size: MemorySize(2 << 30),
            real_address: 0x800_0000,
        };
        assert_eq!(
            std::format!("{finding}"),
            "Unable to bind 2G memory region at real address 0x8000000"
        );
        assert_eq!(finding.rule(), Rule::Memory);
        assert!(finding.is_binding_constraint());
    }

    #[test]
    fn rule_sets_count_distinct_rules() {
        let mut set = RuleSet::new();
        assert!(set.is_empty());
        set.insert(Rule::Memory);
        set.insert(Rule::Memory);
        set.insert(Rule::EngineVersion);
        assert_eq!(set.len(), 2);
        assert!(set.contains(Rule::EngineVersion));
        assert!(!set.contains(Rule::Cpu));
        let listed: std::vec::Vec<Rule> = set.iter().collect();
        assert_eq!(listed, [Rule::Memory, Rule::EngineVersion]);
    }

    #[test]
    fn counts_are_singular_or_plural() {
        let one = Finding::FewerCryptoUnits {
            held: 2,
            free_on_target: 1,
        };
        assert!(std::format!("{one}").contains("has 1 crypto unit free"));
        let none = Finding::FewerCryptoUnits {
            held: 2,
            free_on_target: 0,
        };
        assert!(std::format!("{none}").contains("has 0 crypto units free"));
    }
}
