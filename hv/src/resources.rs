//! What a host's machine description tells the migration checks.
//!
//! [`HostResources`] is one machine as the control domain sees it before a
//! migration: its processor, its free strands, free physical memory ranges
//! and crypto units, its NIU, the virtual I/O services it offers, its
//! power-management mode, a pending delayed reconfiguration and the wire
//! versions its engine speaks. [`DomainRequirements`] is what one domain
//! needs from the machine that receives it.
//!
//! The types are plain data with public fields, `no_std` and heap-free: names
//! are [`Name`] (a fixed-capacity string) and lists are `heapless::Vec`s with
//! the capacities below. The simulated host descriptions
//! (`sim::description`) fill them from TOML; firmware fills them from the
//! machine description. The checks themselves live in the engine
//! (`ldmig::rules`).

use core::fmt;

/// Bytes a [`Name`] can hold (domain, service, volume, switch, device and
/// CPU type names); also a domain name's bytes on the engine's wires.
pub const NAME_CAPACITY: usize = 64;
/// Free physical ranges a [`HostResources`] can list.
pub const MAX_FREE_RANGES: usize = 32;
/// Virtual disk services a host can list.
pub const MAX_DISK_SERVICES: usize = 8;
/// Volumes one virtual disk service can export.
pub const MAX_VOLUMES_PER_SERVICE: usize = 16;
/// Virtual switches a host can list.
pub const MAX_VIRTUAL_SWITCHES: usize = 8;
/// Memory blocks a domain can have (the one bound: the engine's wire and
/// dirty set use it too).
pub const MAX_MEMORY_BLOCKS: usize = 64;
/// Virtual disks a domain can have.
pub const MAX_VIRTUAL_DISKS: usize = 16;
/// Virtual network devices a domain can have.
pub const MAX_VIRTUAL_NETWORKS: usize = 8;
/// Physical I/O devices a domain can own.
pub const MAX_PHYSICAL_DEVICES: usize = 8;

/// A short name (domain, service, volume, switch, device, CPU type):
/// at most [`NAME_CAPACITY`] bytes of UTF-8.
pub type Name = heapless::String<NAME_CAPACITY>;

/// A fixed-capacity list was full, or a name was too long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityExceeded {
    /// What did not fit ("name", "free range", "memory block", ...).
    pub what: &'static str,
    /// How many items (or bytes, for a name) fit.
    pub capacity: usize,
}

impl fmt::Display for CapacityExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.what == "name" {
            write!(f, "a name holds at most {} bytes", self.capacity)
        } else {
            write!(f, "at most {} {} entries fit", self.capacity, self.what)
        }
    }
}

impl core::error::Error for CapacityExceeded {}

/// `text` as a [`Name`], or an error when it is longer than
/// [`NAME_CAPACITY`] bytes.
pub fn name(text: &str) -> Result<Name, CapacityExceeded> {
    let mut name = Name::new();
    name.push_str(text).map_err(|()| CapacityExceeded {
        what: "name",
        capacity: NAME_CAPACITY,
    })?;
    Ok(name)
}

/// Pushes `item` onto `list`, or names what did not fit.
pub fn push<T, const N: usize>(
    list: &mut heapless::Vec<T, N>,
    item: T,
    what: &'static str,
) -> Result<(), CapacityExceeded> {
    list.push(item)
        .map_err(|_| CapacityExceeded { what, capacity: N })
}

/// A size in bytes, written the way `ldm` writes it: the largest of `G`,
/// `M`, `K` that divides it exactly (`2G`, `512M`, `8K`), else plain bytes
/// with a `B` suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct MemorySize(pub u64);

const KILOBYTE: u64 = 1 << 10;
const MEGABYTE: u64 = 1 << 20;
const GIGABYTE: u64 = 1 << 30;
const TERABYTE: u64 = 1 << 40;

impl fmt::Display for MemorySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        if bytes == 0 {
            return write!(f, "0");
        }
        for (unit, suffix) in [(GIGABYTE, 'G'), (MEGABYTE, 'M'), (KILOBYTE, 'K')] {
            if bytes.is_multiple_of(unit) {
                return write!(f, "{}{}", bytes / unit, suffix);
            }
        }
        write!(f, "{bytes}B")
    }
}

/// Why a size text did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeParseError {
    /// Empty text.
    Empty,
    /// No digits before the unit, or a character that is not a digit.
    NotANumber,
    /// A unit other than `K`, `M`, `G`, `T` (optionally followed by `B`) or `B`.
    UnknownUnit,
    /// The size does not fit in 64 bits.
    TooLarge,
}

impl fmt::Display for SizeParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            SizeParseError::Empty => "the size is empty",
            SizeParseError::NotANumber => {
                "a size is a number with an optional unit, like 2G, 512M, 8K or 8192"
            }
            SizeParseError::UnknownUnit => "the unit must be one of K, M, G, T (or B for bytes)",
            SizeParseError::TooLarge => "the size does not fit in 64 bits",
        };
        f.write_str(text)
    }
}

impl core::error::Error for SizeParseError {}

impl MemorySize {
    /// Parses `2G`, `512M`, `8K`, `1T`, `8192`, `8192B`, `2GB` or a hex
    /// byte count `0x80000000`. Units are binary (K = 1024) and
    /// case-insensitive.
    pub fn parse(text: &str) -> Result<MemorySize, SizeParseError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SizeParseError::Empty);
        }
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            return u64::from_str_radix(hex, 16)
                .map(MemorySize)
                .map_err(|_| SizeParseError::NotANumber);
        }
        let digits_end = text
            .find(|character: char| !character.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(digits_end);
        if digits.is_empty() {
            return Err(SizeParseError::NotANumber);
        }
        let mut value: u64 = 0;
        for digit in digits.bytes() {
            value = value
                .checked_mul(10)
                .and_then(|value| value.checked_add(u64::from(digit - b'0')))
                .ok_or(SizeParseError::TooLarge)?;
        }
        let multiplier = match unit_of(unit) {
            UnitText::Empty | UnitText::Bytes => 1,
            UnitText::Kilo => KILOBYTE,
            UnitText::Mega => MEGABYTE,
            UnitText::Giga => GIGABYTE,
            UnitText::Tera => TERABYTE,
            UnitText::Unknown => return Err(SizeParseError::UnknownUnit),
        };
        value
            .checked_mul(multiplier)
            .map(MemorySize)
            .ok_or(SizeParseError::TooLarge)
    }
}

/// The unit part of a size text, recognised without allocating.
enum UnitText {
    Empty,
    Bytes,
    Kilo,
    Mega,
    Giga,
    Tera,
    Unknown,
}

/// Recognises the unit part of a size text (case-insensitive).
fn unit_of(text: &str) -> UnitText {
    let (first, rest) = match text.as_bytes().split_first() {
        None => return UnitText::Empty,
        Some((first, rest)) => (first.to_ascii_uppercase(), rest),
    };
    let rest_is_byte_suffix = rest.is_empty() || rest.eq_ignore_ascii_case(b"B");
    match first {
        b'B' if rest.is_empty() => UnitText::Bytes,
        b'K' if rest_is_byte_suffix => UnitText::Kilo,
        b'M' if rest_is_byte_suffix => UnitText::Mega,
        b'G' if rest_is_byte_suffix => UnitText::Giga,
        b'T' if rest_is_byte_suffix => UnitText::Tera,
        _ => UnitText::Unknown,
    }
}

/// Defines an enum of values `ldm` names by a spelling: each variant with
/// its spelling, and `ALL` (every value in declaration order), `as_str`
/// and `from_name` between value and spelling, and `Display` as the
/// spelling.
macro_rules! ldm_spelled {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $spelling:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $(
                $(#[$variant_meta])*
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($spelling),+].len()] = [$($name::$variant),+];

            /// The `ldm` spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $spelling,)+
                }
            }

            /// The value spelled `text` (the `ldm` spelling), if any.
            pub fn from_name(text: &str) -> Option<$name> {
                Self::ALL.into_iter().find(|value| value.as_str() == text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

ldm_spelled! {
    /// A domain's cpu-arch class (`ldm set-domain cpu-arch=`): which machines
    /// the domain may move to when their processor types or frequencies differ
    /// from the one it runs on.
    pub enum CpuArchClass {
        /// Only the same processor type at the same frequency (`native`).
        Native = "native",
        /// Any sun4v processor, through the common instruction subset (`generic`).
        Generic = "generic",
        /// SPARC T4 and later, cross-CPU migration class 1 (`migration-class1`).
        MigrationClass1 = "migration-class1",
        /// Fujitsu SPARC64 X and later (`sparc64-class1`).
        Sparc64Class1 = "sparc64-class1",
    }
}

impl CpuArchClass {
    /// True when a processor of type `cpu_type` runs domains of this class:
    /// `native` and `generic` run on every sun4v processor;
    /// `migration-class1` on the SPARC T4 and later (`SPARC T4`, `T5`,
    /// `T7`, `T8`, `M5`, `M6`, `M7`, `M8`, `S7`), not on the UltraSPARC T1,
    /// T2, T2 Plus or the SPARC T3; `sparc64-class1` on the Fujitsu
    /// `SPARC64 X` family (`SPARC64 X`, `X+`, `XII`).
    pub fn runs_on(self, cpu_type: &str) -> bool {
        match self {
            CpuArchClass::Native | CpuArchClass::Generic => true,
            CpuArchClass::MigrationClass1 => {
                const CLASS1: [&str; 9] = [
                    "SPARC T4", "SPARC T5", "SPARC T7", "SPARC T8", "SPARC M5", "SPARC M6",
                    "SPARC M7", "SPARC M8", "SPARC S7",
                ];
                CLASS1.contains(&cpu_type)
            }
            CpuArchClass::Sparc64Class1 => {
                matches!(cpu_type, "SPARC64 X" | "SPARC64 X+" | "SPARC64 XII")
            }
        }
    }
}

ldm_spelled! {
    /// A machine's power-management policy.
    pub enum PowerMode {
        /// Everything powered (`performance`).
        Performance = "performance",
        /// Idle resources powered down (`elastic`): no migration in or out.
        Elastic = "elastic",
        /// Power management off (`disabled`).
        Disabled = "disabled",
    }
}

/// The range of engine wire versions a host speaks, oldest to newest.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRange {
    /// Oldest wire version accepted.
    pub oldest: u16,
    /// Newest wire version spoken.
    pub newest: u16,
}

impl VersionRange {
    /// The newest version both ranges speak, if they overlap.
    pub fn newest_common(&self, other: &VersionRange) -> Option<u16> {
        let oldest = self.oldest.max(other.oldest);
        let newest = self.newest.min(other.newest);
        (oldest <= newest).then_some(newest)
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.oldest == self.newest {
            write!(f, "{}", self.oldest)
        } else {
            write!(f, "{}-{}", self.oldest, self.newest)
        }
    }
}

/// A free range of physical memory on a host.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeRange {
    /// Physical address of the first byte.
    pub pa: u64,
    /// Size in bytes.
    pub size: u64,
}

/// A virtual disk service (`vds`) and the volumes it exports.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DiskService {
    /// Service name, e.g. `primary-vds0`.
    pub name: Name,
    /// Volume names exported by the service.
    pub volumes: heapless::Vec<Name, MAX_VOLUMES_PER_SERVICE>,
}

/// The virtual I/O services a host offers to guest domains.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VirtualIoServices {
    /// Virtual disk services with their volumes.
    pub disk_services: heapless::Vec<DiskService, MAX_DISK_SERVICES>,
    /// Virtual switch names, e.g. `primary-vsw0`.
    pub virtual_switches: heapless::Vec<Name, MAX_VIRTUAL_SWITCHES>,
    /// The virtual console concentrator (`vcc`), if the host has one.
    pub console_concentrator: Option<Name>,
}

impl VirtualIoServices {
    /// The disk service named `service`, if the host has it.
    pub fn disk_service(&self, service: &str) -> Option<&DiskService> {
        self.disk_services
            .iter()
            .find(|candidate| candidate.name == service)
    }

    /// True when the host has a virtual switch named `switch`.
    pub fn has_virtual_switch(&self, switch: &str) -> bool {
        self.virtual_switches
            .iter()
            .any(|candidate| candidate == switch)
    }
}

/// One machine as the migration checks see it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostResources {
    /// Host name (what `ldm migrate-domain` names the target by).
    pub name: Name,
    /// Processor type, e.g. `UltraSPARC T2 Plus`.
    pub cpu_type: Name,
    /// Processor frequency in MHz.
    pub cpu_frequency_mhz: u32,
    /// Strands (virtual CPUs) of the machine.
    pub total_strands: u64,
    /// Strands no domain holds.
    pub free_strands: u64,
    /// Free physical memory ranges, each contiguous.
    pub free_memory: heapless::Vec<FreeRange, MAX_FREE_RANGES>,
    /// Crypto units no domain holds.
    pub free_crypto_units: u64,
    /// True when NIU hybrid I/O resources are free.
    pub niu_available: bool,
    /// Virtual I/O services offered.
    pub virtual_io: VirtualIoServices,
    /// Power-management policy.
    pub power_mode: PowerMode,
    /// True when a delayed reconfiguration is pending on the host (its
    /// control domain or a root domain).
    pub delayed_reconfiguration_pending: bool,
    /// Engine wire versions spoken.
    pub engine_versions: VersionRange,
}

impl HostResources {
    /// Total free physical memory in bytes.
    pub fn free_memory_bytes(&self) -> u64 {
        self.free_memory
            .iter()
            .fold(0u64, |total, range| total.saturating_add(range.size))
    }
}

ldm_spelled! {
    /// A domain's state, as `ldm list` shows it.
    pub enum DomainState {
        /// Bound and running (`active`).
        Active = "active",
        /// Resources bound, not running (`bound`).
        Bound = "bound",
        /// Configured only, no resources held (`inactive`).
        Inactive = "inactive",
    }
}

/// One memory block a domain needs: `size` bytes at real address
/// `real_address`, backed by one contiguous physical range.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRequirement {
    /// Real address of the first byte.
    pub real_address: u64,
    /// Size in bytes.
    pub size: u64,
}

/// A virtual disk of a domain: a volume of a disk service.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VirtualDisk {
    /// Disk name in the domain, e.g. `vdisk0`.
    pub name: Name,
    /// Disk service name, e.g. `primary-vds0`.
    pub service: Name,
    /// Volume name within the service.
    pub volume: Name,
}

/// A virtual network device of a domain, attached to a virtual switch.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VirtualNetwork {
    /// Device name in the domain, e.g. `vnet0`.
    pub name: Name,
    /// Virtual switch name, e.g. `primary-vsw0`.
    pub switch: Name,
}

/// What a domain needs from the machine that receives it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainRequirements {
    /// Domain name.
    pub name: Name,
    /// State on the source machine.
    pub state: DomainState,
    /// Virtual CPUs.
    pub vcpus: u64,
    /// The domain's cpu-arch class: which processors it may move to.
    pub cpu_arch: CpuArchClass,
    /// Memory blocks, in binding order.
    pub memory_blocks: heapless::Vec<BlockRequirement, MAX_MEMORY_BLOCKS>,
    /// Virtual disks.
    pub virtual_disks: heapless::Vec<VirtualDisk, MAX_VIRTUAL_DISKS>,
    /// Virtual network devices.
    pub virtual_networks: heapless::Vec<VirtualNetwork, MAX_VIRTUAL_NETWORKS>,
    /// Physical I/O devices the domain owns directly (an I/O domain).
    pub physical_io_devices: heapless::Vec<Name, MAX_PHYSICAL_DEVICES>,
    /// Crypto units the domain holds (or asks for, when inactive).
    pub crypto_units: u64,
    /// True when the domain has an NIU hybrid I/O constraint.
    pub niu_constraint: bool,
    /// True when the guest OS supports crypto unit dynamic reconfiguration.
    pub supports_crypto_dynamic_reconfiguration: bool,
    /// True when a delayed reconfiguration is pending on the domain itself.
    pub delayed_reconfiguration_pending: bool,
}

impl DomainRequirements {
    /// A domain named `name`, in `state`, with `vcpus` vCPUs and nothing
    /// else: no memory, devices or crypto units, the native CPU class, no
    /// constraint; what else it needs is set on it.
    pub fn bare(name: Name, state: DomainState, vcpus: u64) -> Self {
        DomainRequirements {
            name,
            state,
            vcpus,
            cpu_arch: CpuArchClass::Native,
            memory_blocks: heapless::Vec::new(),
            virtual_disks: heapless::Vec::new(),
            virtual_networks: heapless::Vec::new(),
            physical_io_devices: heapless::Vec::new(),
            crypto_units: 0,
            niu_constraint: false,
            supports_crypto_dynamic_reconfiguration: false,
            delayed_reconfiguration_pending: false,
        }
    }

    /// Total memory of the domain in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_blocks
            .iter()
            .fold(0u64, |total, block| total.saturating_add(block.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_ldm() {
        let mut text = heapless::String::<16>::new();
        for (size, expected) in [
            (2 * GIGABYTE, "2G"),
            (512 * MEGABYTE, "512M"),
            (8 * KILOBYTE, "8K"),
            (1536 * MEGABYTE, "1536M"),
            (1000, "1000B"),
            (0, "0"),
        ] {
            text.clear();
            core::fmt::write(&mut text, format_args!("{}", MemorySize(size))).expect("fits");
            assert_eq!(text.as_str(), expected);
        }
    }

    #[test]
    fn sizes_parse_with_units_and_plain_bytes() {
        assert_eq!(MemorySize::parse("2G"), Ok(MemorySize(2 * GIGABYTE)));
        assert_eq!(MemorySize::parse("2g"), Ok(MemorySize(2 * GIGABYTE)));
        assert_eq!(MemorySize::parse("2GB"), Ok(MemorySize(2 * GIGABYTE)));
        assert_eq!(MemorySize::parse("512M"), Ok(MemorySize(512 * MEGABYTE)));
        assert_eq!(MemorySize::parse("8K"), Ok(MemorySize(8192)));
        assert_eq!(MemorySize::parse("1T"), Ok(MemorySize(TERABYTE)));
        assert_eq!(MemorySize::parse("8192"), Ok(MemorySize(8192)));
        assert_eq!(MemorySize::parse("8192B"), Ok(MemorySize(8192)));
        assert_eq!(
            MemorySize::parse("0x80000000"),
            Ok(MemorySize(2 * GIGABYTE))
        );
        assert_eq!(MemorySize::parse(""), Err(SizeParseError::Empty));
        assert_eq!(MemorySize::parse("G"), Err(SizeParseError::NotANumber));
        assert_eq!(MemorySize::parse("2X"), Err(SizeParseError::UnknownUnit));
        assert_eq!(MemorySize::parse("2GiB"), Err(SizeParseError::UnknownUnit));
        assert_eq!(
            MemorySize::parse("99999999999T"),
            Err(SizeParseError::TooLarge)
        );
    }

    #[test]
    fn version_ranges_overlap_on_their_common_part() {
        let one_two = VersionRange {
            oldest: 1,
            newest: 2,
        };
        let two_three = VersionRange {
            oldest: 2,
            newest: 3,
        };
        let three = VersionRange {
            oldest: 3,
            newest: 3,
        };
        assert_eq!(one_two.newest_common(&two_three), Some(2));
        assert_eq!(two_three.newest_common(&one_two), Some(2));
        assert_eq!(one_two.newest_common(&three), None);
    }

    #[test]
    fn names_longer_than_the_capacity_are_refused() {
        assert_eq!(
            name("primary-vds0").expect("short").as_str(),
            "primary-vds0"
        );
        let bytes = [b'x'; NAME_CAPACITY + 1];
        let long = core::str::from_utf8(&bytes).expect("ASCII");
        assert_eq!(
            name(long),
            Err(CapacityExceeded {
                what: "name",
                capacity: NAME_CAPACITY
            })
        );
    }

    #[test]
    fn class_mode_and_state_names_round_trip() {
        for class in CpuArchClass::ALL {
            assert_eq!(CpuArchClass::from_name(class.as_str()), Some(class));
        }
        for mode in PowerMode::ALL {
            assert_eq!(PowerMode::from_name(mode.as_str()), Some(mode));
        }
        for state in DomainState::ALL {
            assert_eq!(DomainState::from_name(state.as_str()), Some(state));
        }
        assert_eq!(CpuArchClass::from_name("Native"), None);
    }

    #[test]
    fn classes_run_on_the_processors_of_their_family() {
        for cpu in ["UltraSPARC T2 Plus", "SPARC T5", "SPARC64 X+"] {
            assert!(CpuArchClass::Native.runs_on(cpu));
            assert!(CpuArchClass::Generic.runs_on(cpu));
        }
        assert!(CpuArchClass::MigrationClass1.runs_on("SPARC T4"));
        assert!(CpuArchClass::MigrationClass1.runs_on("SPARC M7"));
        assert!(!CpuArchClass::MigrationClass1.runs_on("UltraSPARC T2 Plus"));
        assert!(!CpuArchClass::MigrationClass1.runs_on("SPARC T3"));
        assert!(!CpuArchClass::MigrationClass1.runs_on("SPARC64 X"));
        assert!(CpuArchClass::Sparc64Class1.runs_on("SPARC64 X+"));
        assert!(!CpuArchClass::Sparc64Class1.runs_on("SPARC T5"));
    }
}
