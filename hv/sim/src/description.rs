//! Host descriptions: a simulated T-series machine and its domains, in TOML.
//!
//! A [`HostDescription`] is read from the format documented in
//! `hv/sim/hosts/README.md` (examples beside it). It gives the migration checks
//! their inputs ([`HostDescription::resources`],
//! [`HostDescription::domain_requirements`]) and builds the simulated
//! [`Machine`] with its active and bound domains bound at their real and
//! physical addresses ([`HostDescription::build_machine`]).
//!
//! Every value is checked when the text is read; an error names the field
//! that is wrong (`domain[ldg-src].memory[0].size`, `host.power_mode`, ...).
//! Free memory, strands and crypto units are what remains once the active
//! and bound domains are bound, computed by binding them on a machine, so
//! the checks and the simulated machine always agree.

use crate::error::SimError;
use crate::machine::{BlockSpec, DomainSpec, Machine, PhysRange};
use ldmig_hv::domain_name::{domain_name, DomainNameError};
use ldmig_hv::resources::{
    self, BlockRequirement, CapacityExceeded, CpuArchClass, DiskService, DomainRequirements,
    DomainState, FreeRange, HostResources, MemorySize, Name, PowerMode, SizeParseError,
    VersionRange, VirtualDisk, VirtualIoServices, VirtualNetwork,
};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Bytes in the sun4v base page: memory ranges and blocks are multiples.
const PAGE_BYTES: u64 = ldmig_hv::abi::mmu::PAGE_SIZE as u64;

/// Why a host description could not be read, named by what failed.
#[derive(Debug)]
pub enum DescriptionError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// Not valid TOML, or a key that is unknown, missing or of the wrong type
    /// (the message gives the line, the column and the key).
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// A size that does not parse.
    InvalidSize {
        /// The field, e.g. `domain[ldg-src].memory[0].size`.
        field: String,
        /// The text found.
        value: String,
        /// Why it does not parse.
        reason: SizeParseError,
    },
    /// An address or size that is zero or not a multiple of 8 KiB.
    Misaligned {
        /// The field.
        field: String,
        /// The value found.
        value: u64,
    },
    /// A value outside the allowed set or range.
    InvalidValue {
        /// The field.
        field: String,
        /// The value found.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A field that this domain's state requires is missing.
    MissingField {
        /// The field.
        field: String,
        /// Why it is needed.
        reason: &'static str,
    },
    /// A domain name that breaks the rule of [`ldmig_hv::domain_name`]
    /// (empty, a character other than letters, digits, `-`, `_`, `.`, ...).
    InvalidDomainName {
        /// The name found.
        value: String,
        /// What is wrong with it.
        reason: DomainNameError,
    },
    /// A name longer than [`resources::NAME_CAPACITY`] bytes.
    NameTooLong {
        /// The field.
        field: String,
    },
    /// A list longer than its capacity.
    TooMany {
        /// The field.
        field: String,
        /// How many entries fit.
        capacity: usize,
    },
    /// Two domains with the same name.
    DuplicateDomain {
        /// The name.
        name: String,
    },
    /// Two memory blocks of a domain overlap in real address space.
    OverlappingBlocks {
        /// The later of the two blocks.
        field: String,
        /// The earlier block it overlaps.
        other: String,
    },
    /// Two ranges of the host's physical memory overlap.
    OverlappingRanges {
        /// The later of the two ranges.
        field: String,
        /// The earlier range it overlaps.
        other: String,
    },
    /// A range or block whose last byte lies past the top of the 64-bit
    /// address space.
    PastAddressSpace {
        /// The range or block.
        field: String,
        /// Its first address.
        start: u64,
        /// Its size.
        size: u64,
    },
    /// No domain with this name in the description.
    UnknownDomain {
        /// The name asked for.
        name: String,
    },
    /// A domain could not be bound on the machine (memory not free at its
    /// physical address, not enough strands or crypto units, ...).
    Binding {
        /// The domain's field, e.g. `domain[ldg-src]`.
        field: String,
        /// What the machine said.
        source: SimError,
    },
}

impl fmt::Display for DescriptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescriptionError::Read { path, source } => {
                write!(
                    f,
                    "cannot read host description {}: {source}",
                    path.display()
                )
            }
            DescriptionError::Syntax { message } => {
                write!(f, "host description: {}", message.trim_end())
            }
            DescriptionError::InvalidSize {
                field,
                value,
                reason,
            } => write!(f, "{field}: invalid size {value:?}: {reason}"),
            DescriptionError::Misaligned { field, value } => write!(
                f,
                "{field}: {value:#x} must be a non-zero multiple of 8K (the sun4v page)"
            ),
            DescriptionError::InvalidValue {
                field,
                value,
                expected,
            } => write!(f, "{field}: invalid value {value:?}, expected {expected}"),
            DescriptionError::MissingField { field, reason } => {
                write!(f, "{field} is missing: {reason}")
            }
            DescriptionError::InvalidDomainName { value, reason } => {
                write!(f, "domain.name: {value:?}: {reason}")
            }
            DescriptionError::NameTooLong { field } => write!(
                f,
                "{field}: names hold at most {} bytes",
                resources::NAME_CAPACITY
            ),
            DescriptionError::TooMany { field, capacity } => {
                write!(f, "{field}: at most {capacity} entries are supported")
            }
            DescriptionError::DuplicateDomain { name } => {
                write!(f, "domain {name:?} is described twice")
            }
            DescriptionError::OverlappingBlocks { field, other } => {
                write!(f, "{field}: overlaps {other} in real address space")
            }
            DescriptionError::OverlappingRanges { field, other } => {
                write!(f, "{field}: overlaps {other} in physical address space")
            }
            DescriptionError::PastAddressSpace { field, start, size } => write!(
                f,
                "{field}: {start:#x} + {size:#x} runs past the top of the 64-bit address space"
            ),
            DescriptionError::UnknownDomain { name } => {
                write!(f, "no domain named {name:?} in the host description")
            }
            DescriptionError::Binding { field, source } => {
                write!(f, "{field}: cannot be bound on the machine: {source}")
            }
        }
    }
}

/// The causes (`Read`'s I/O error, `InvalidSize`'s reason, `Binding`'s
/// machine error) are part of the message and not repeated as a
/// `source()`: a chain printer (`anyhow`'s `{:#}`) would say them twice
/// ("Is a directory (os error 21): Is a directory (os error 21)").
impl std::error::Error for DescriptionError {}

/// A size as written: an integer byte count or a text like `2G`.
#[derive(Debug, Clone)]
enum SizeText {
    Integer(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = SizeText;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a size: an integer byte count or a text like \"2G\"")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<SizeText, E> {
                Ok(SizeText::Integer(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<SizeText, E> {
                i64::try_from(value)
                    .map(SizeText::Integer)
                    .map_err(|_| E::custom("size too large"))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<SizeText, E> {
                Ok(SizeText::Text(value.to_string()))
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDescription {
    host: RawHost,
    #[serde(default)]
    memory: Vec<RawRange>,
    #[serde(default)]
    services: RawServices,
    #[serde(default, rename = "domain")]
    domains: Vec<RawDomain>,
    #[serde(default)]
    migration: RawMigration,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMigration {
    #[serde(default)]
    allowed_targets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: String,
    cpu_type: String,
    cpu_frequency_mhz: u32,
    strands: u64,
    #[serde(default)]
    crypto_units: u64,
    #[serde(default)]
    niu_available: bool,
    #[serde(default)]
    power_mode: Option<String>,
    #[serde(default)]
    delayed_reconfiguration: bool,
    engine_versions: RawVersions,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersions {
    oldest: u16,
    newest: u16,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    pa: u64,
    size: SizeText,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServices {
    #[serde(default)]
    console_concentrator: Option<String>,
    #[serde(default)]
    virtual_switches: Vec<String>,
    #[serde(default)]
    disk: Vec<RawDiskService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiskService {
    name: String,
    #[serde(default)]
    volumes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    name: String,
    state: String,
    vcpus: u64,
    #[serde(default)]
    cpu_arch: Option<String>,
    #[serde(default)]
    memory: Vec<RawBlock>,
    #[serde(default)]
    crypto_units: u64,
    #[serde(default)]
    supports_crypto_dr: bool,
    #[serde(default)]
    niu_constraint: bool,
    #[serde(default)]
    physical_io: Vec<String>,
    #[serde(default)]
    delayed_reconfiguration: bool,
    #[serde(default)]
    disk: Vec<RawDisk>,
    #[serde(default)]
    network: Vec<RawNetwork>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlock {
    ra: u64,
    #[serde(default)]
    pa: Option<u64>,
    size: SizeText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    name: String,
    service: String,
    volume: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: String,
    switch: String,
}

/// One domain of a description: what the checks see and where its blocks
/// are bound.
#[derive(Clone, Debug)]
struct DescribedDomain {
    requirements: DomainRequirements,
    /// Physical address of each block (`None` for inactive domains).
    physical_addresses: Vec<Option<u64>>,
}

/// A simulated T-series machine and its domains, read from TOML.
#[derive(Clone, Debug)]
pub struct HostDescription {
    physical: Vec<PhysRange>,
    strands: u64,
    crypto_units: u64,
    resources: HostResources,
    domains: Vec<DescribedDomain>,
    allowed_targets: Vec<String>,
}

impl HostDescription {
    /// Reads a description from TOML text, checking every value and binding
    /// the active and bound domains.
    pub fn from_toml_str(text: &str) -> Result<HostDescription, DescriptionError> {
        let raw: RawDescription =
            toml::from_str(text).map_err(|error| DescriptionError::Syntax {
                message: error.to_string(),
            })?;
        let mut description = convert(raw)?;
        let machine = description.build_machine()?;
        description.resources.free_strands = machine.free_strands();
        description.resources.free_crypto_units = machine.free_crypto_units();
        description.resources.free_memory = heapless::Vec::new();
        for range in machine.free_ranges() {
            resources::push(
                &mut description.resources.free_memory,
                FreeRange {
                    pa: range.pa,
                    size: range.size,
                },
                "free range",
            )
            .map_err(|error| too_many("memory (free ranges left)", error))?;
        }
        Ok(description)
    }

    /// Reads the description in the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<HostDescription, DescriptionError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| DescriptionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        HostDescription::from_toml_str(&text)
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.resources.name
    }

    /// What the migration checks know of the host, its free resources being
    /// what the active and bound domains leave.
    pub fn resources(&self) -> HostResources {
        self.resources.clone()
    }

    /// The names of the described domains, in file order.
    pub fn domain_names(&self) -> impl Iterator<Item = &str> {
        self.domains
            .iter()
            .map(|domain| domain.requirements.name.as_str())
    }

    /// What the domain named `name` needs from a target machine.
    pub fn domain_requirements(&self, name: &str) -> Result<DomainRequirements, DescriptionError> {
        self.domains
            .iter()
            .find(|domain| domain.requirements.name == name)
            .map(|domain| domain.requirements.clone())
            .ok_or_else(|| DescriptionError::UnknownDomain {
                name: name.to_string(),
            })
    }

    /// The simulated machine: its physical memory, strands and crypto units,
    /// with every active and bound domain added in file order, each block at
    /// its real and physical address. Inactive domains hold no resources and
    /// are not on the machine.
    pub fn build_machine(&self) -> Result<Machine, DescriptionError> {
        let mut machine = self.bare_machine();
        for domain in &self.domains {
            let Some(spec) = self.domain_spec(domain.requirements.name.as_str()) else {
                continue;
            };
            machine
                .add_domain(spec)
                .map_err(|source| DescriptionError::Binding {
                    field: format!("domain[{}]", domain.requirements.name),
                    source,
                })?;
        }
        Ok(machine)
    }

    /// The machine with no domain on it: its physical memory, strands and
    /// crypto units (a restarted daemon binds its domains as its state
    /// directory says).
    pub fn bare_machine(&self) -> Machine {
        Machine::new(
            self.resources.name.as_str(),
            self.physical.clone(),
            self.strands,
            self.crypto_units,
        )
    }

    /// How the domain named `name` is bound as described (each block at its
    /// real and physical address); `None` for an inactive or unknown one.
    pub fn domain_spec(&self, name: &str) -> Option<DomainSpec> {
        let domain = self
            .domains
            .iter()
            .find(|domain| domain.requirements.name == name)?;
        let requirements = &domain.requirements;
        if requirements.state == DomainState::Inactive {
            return None;
        }
        let blocks = requirements
            .memory_blocks
            .iter()
            .zip(&domain.physical_addresses)
            .map(|(block, pa)| BlockSpec {
                ra: block.real_address,
                size: block.size,
                pa: *pa,
            })
            .collect();
        Some(DomainSpec {
            name: requirements.name.to_string(),
            vcpus: requirements.vcpus,
            blocks,
            crypto_units: requirements.crypto_units,
            active: requirements.state == DomainState::Active,
        })
    }

    /// The targets this host may migrate domains to (`[migration]
    /// allowed_targets`): `HOST` (any port) or `HOST:PORT` each.
    pub fn allowed_targets(&self) -> &[String] {
        &self.allowed_targets
    }
}

fn too_many(field: &str, error: CapacityExceeded) -> DescriptionError {
    DescriptionError::TooMany {
        field: field.to_string(),
        capacity: error.capacity,
    }
}

fn checked_name(field: &str, text: &str) -> Result<Name, DescriptionError> {
    if text.is_empty() {
        return Err(DescriptionError::InvalidValue {
            field: field.to_string(),
            value: String::new(),
            expected: "a non-empty name",
        });
    }
    resources::name(text).map_err(|_| DescriptionError::NameTooLong {
        field: field.to_string(),
    })
}

/// An allowed target: `HOST` or `HOST:PORT` (port 1 to 65535), the host
/// a name or an address without spaces.
fn checked_target(field: &str, text: String) -> Result<String, DescriptionError> {
    let invalid = || DescriptionError::InvalidValue {
        field: field.to_string(),
        value: text.clone(),
        expected: "HOST or HOST:PORT (port 1 to 65535)",
    };
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text.as_str(), None),
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == ':' || c == '/') {
        return Err(invalid());
    }
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(port) if port > 0) {
            return Err(invalid());
        }
    }
    Ok(text)
}

/// A domain's name: the rule of [`ldmig_hv::domain_name`] (its field is
/// `domain.name`, since the name cannot name the domain yet).
fn checked_domain_name(text: &str) -> Result<Name, DescriptionError> {
    domain_name(text).map_err(|error| match error {
        DomainNameError::TooLong { .. } => DescriptionError::NameTooLong {
            field: "domain.name".to_string(),
        },
        reason => DescriptionError::InvalidDomainName {
            value: text.to_string(),
            reason,
        },
    })
}

fn checked_size(field: &str, size: &SizeText) -> Result<u64, DescriptionError> {
    let bytes = match size {
        SizeText::Integer(value) => {
            u64::try_from(*value).map_err(|_| DescriptionError::InvalidValue {
                field: field.to_string(),
                value: value.to_string(),
                expected: "a size that is not negative",
            })?
        }
        SizeText::Text(text) => {
            MemorySize::parse(text)
                .map_err(|reason| DescriptionError::InvalidSize {
                    field: field.to_string(),
                    value: text.clone(),
                    reason,
                })?
                .0
        }
    };
    page_multiple(field, bytes)
}

fn page_multiple(field: &str, value: u64) -> Result<u64, DescriptionError> {
    if value == 0 || !value.is_multiple_of(PAGE_BYTES) {
        return Err(DescriptionError::Misaligned {
            field: field.to_string(),
            value,
        });
    }
    Ok(value)
}

fn page_aligned(field: &str, value: u64) -> Result<u64, DescriptionError> {
    if !value.is_multiple_of(PAGE_BYTES) {
        return Err(DescriptionError::Misaligned {
            field: field.to_string(),
            value,
        });
    }
    Ok(value)
}

/// The last byte of `size` (non-zero) bytes from `start`, or the error of a
/// range running past 2^64 (a range may end exactly at the top).
fn last_byte(field: &str, start: u64, size: u64) -> Result<u64, DescriptionError> {
    start
        .checked_add(size - 1)
        .ok_or_else(|| DescriptionError::PastAddressSpace {
            field: field.to_string(),
            start,
            size,
        })
}

fn push_checked<T, const N: usize>(
    list: &mut heapless::Vec<T, N>,
    item: T,
    field: &str,
) -> Result<(), DescriptionError> {
    resources::push(list, item, "entry").map_err(|error| too_many(field, error))
}

fn convert(raw: RawDescription) -> Result<HostDescription, DescriptionError> {
    let host = raw.host;
    let power_mode = match host.power_mode.as_deref() {
        None => PowerMode::Performance,
        Some(text) => PowerMode::from_name(text).ok_or_else(|| DescriptionError::InvalidValue {
            field: "host.power_mode".to_string(),
            value: text.to_string(),
            expected: "performance, elastic or disabled",
        })?,
    };
    if host.engine_versions.oldest == 0 || host.engine_versions.oldest > host.engine_versions.newest
    {
        return Err(DescriptionError::InvalidValue {
            field: "host.engine_versions".to_string(),
            value: format!(
                "oldest = {}, newest = {}",
                host.engine_versions.oldest, host.engine_versions.newest
            ),
            expected: "1 <= oldest <= newest",
        });
    }
    let mut physical: Vec<PhysRange> = Vec::with_capacity(raw.memory.len());
    for (index, range) in raw.memory.iter().enumerate() {
        let field = format!("memory[{index}]");
        let pa = page_aligned(&format!("{field}.pa"), range.pa)?;
        let size = checked_size(&format!("{field}.size"), &range.size)?;
        let last = last_byte(&field, pa, size)?;
        if let Some(other) = physical.iter().position(|earlier| {
            pa <= earlier.pa.saturating_add(earlier.size - 1) && earlier.pa <= last
        }) {
            return Err(DescriptionError::OverlappingRanges {
                field,
                other: format!("memory[{other}]"),
            });
        }
        physical.push(PhysRange { pa, size });
    }
    let resources = HostResources {
        name: checked_name("host.name", &host.name)?,
        cpu_type: checked_name("host.cpu_type", &host.cpu_type)?,
        cpu_frequency_mhz: host.cpu_frequency_mhz,
        total_strands: host.strands,
        free_strands: host.strands,
        free_memory: heapless::Vec::new(),
        free_crypto_units: host.crypto_units,
        niu_available: host.niu_available,
        virtual_io: convert_services(raw.services)?,
        power_mode,
        delayed_reconfiguration_pending: host.delayed_reconfiguration,
        engine_versions: VersionRange {
            oldest: host.engine_versions.oldest,
            newest: host.engine_versions.newest,
        },
    };
    let mut domains: Vec<DescribedDomain> = Vec::with_capacity(raw.domains.len());
    for raw_domain in raw.domains {
        let domain = convert_domain(raw_domain, &resources.cpu_type)?;
        let name = &domain.requirements.name;
        if domains.iter().any(|other| &other.requirements.name == name) {
            return Err(DescriptionError::DuplicateDomain {
                name: name.to_string(),
            });
        }
        domains.push(domain);
    }
    let mut allowed_targets = Vec::with_capacity(raw.migration.allowed_targets.len());
    for (index, target) in raw.migration.allowed_targets.into_iter().enumerate() {
        allowed_targets.push(checked_target(
            &format!("migration.allowed_targets[{index}]"),
            target,
        )?);
    }
    Ok(HostDescription {
        physical,
        strands: host.strands,
        crypto_units: host.crypto_units,
        resources,
        domains,
        allowed_targets,
    })
}

fn convert_services(raw: RawServices) -> Result<VirtualIoServices, DescriptionError> {
    let mut services = VirtualIoServices {
        console_concentrator: raw
            .console_concentrator
            .as_deref()
            .map(|text| checked_name("services.console_concentrator", text))
            .transpose()?,
        ..VirtualIoServices::default()
    };
    for (index, switch) in raw.virtual_switches.iter().enumerate() {
        let field = format!("services.virtual_switches[{index}]");
        let name = checked_name(&field, switch)?;
        push_checked(&mut services.virtual_switches, name, &field)?;
    }
    for (index, disk) in raw.disk.iter().enumerate() {
        let field = format!("services.disk[{index}]");
        let mut service = DiskService {
            name: checked_name(&format!("{field}.name"), &disk.name)?,
            volumes: heapless::Vec::new(),
        };
        for (volume_index, volume) in disk.volumes.iter().enumerate() {
            let volume_field = format!("{field}.volumes[{volume_index}]");
            let name = checked_name(&volume_field, volume)?;
            push_checked(&mut service.volumes, name, &volume_field)?;
        }
        push_checked(&mut services.disk_services, service, &field)?;
    }
    Ok(services)
}

/// The cpu-arch class a domain asks for (`native` when unsaid); it must be
/// one that the host's processor runs.
fn convert_cpu_arch(
    field: &str,
    text: Option<&str>,
    cpu_type: &str,
) -> Result<CpuArchClass, DescriptionError> {
    let Some(text) = text else {
        return Ok(CpuArchClass::Native);
    };
    let class = CpuArchClass::from_name(text).ok_or_else(|| DescriptionError::InvalidValue {
        field: format!("{field}.cpu_arch"),
        value: text.to_string(),
        expected: "native, generic, migration-class1 or sparc64-class1",
    })?;
    if !class.runs_on(cpu_type) {
        return Err(DescriptionError::InvalidValue {
            field: format!("{field}.cpu_arch"),
            value: text.to_string(),
            expected: "a class the host's processor runs (migration-class1 needs a SPARC T4 or later, sparc64-class1 a SPARC64 X)",
        });
    }
    Ok(class)
}

fn convert_domain(raw: RawDomain, cpu_type: &str) -> Result<DescribedDomain, DescriptionError> {
    let name = checked_domain_name(&raw.name)?;
    let field = format!("domain[{name}]");
    let cpu_arch = convert_cpu_arch(&field, raw.cpu_arch.as_deref(), cpu_type)?;
    let state =
        DomainState::from_name(&raw.state).ok_or_else(|| DescriptionError::InvalidValue {
            field: format!("{field}.state"),
            value: raw.state.clone(),
            expected: "active, bound or inactive",
        })?;
    if raw.vcpus == 0 {
        return Err(DescriptionError::InvalidValue {
            field: format!("{field}.vcpus"),
            value: "0".to_string(),
            expected: "at least 1",
        });
    }
    let mut requirements = DomainRequirements {
        name,
        state,
        vcpus: raw.vcpus,
        cpu_arch,
        memory_blocks: heapless::Vec::new(),
        virtual_disks: heapless::Vec::new(),
        virtual_networks: heapless::Vec::new(),
        physical_io_devices: heapless::Vec::new(),
        crypto_units: raw.crypto_units,
        niu_constraint: raw.niu_constraint,
        supports_crypto_dynamic_reconfiguration: raw.supports_crypto_dr,
        delayed_reconfiguration_pending: raw.delayed_reconfiguration,
    };
    let mut physical_addresses = Vec::with_capacity(raw.memory.len());
    for (index, block) in raw.memory.iter().enumerate() {
        let block_field = format!("{field}.memory[{index}]");
        let real_address = page_aligned(&format!("{block_field}.ra"), block.ra)?;
        let size = checked_size(&format!("{block_field}.size"), &block.size)?;
        let pa = match (state, block.pa) {
            (DomainState::Inactive, Some(pa)) => {
                return Err(DescriptionError::InvalidValue {
                    field: format!("{block_field}.pa"),
                    value: format!("{pa:#x}"),
                    expected: "no physical address: an inactive domain holds no memory",
                })
            }
            (DomainState::Inactive, None) => None,
            (_, None) => {
                return Err(DescriptionError::MissingField {
                    field: format!("{block_field}.pa"),
                    reason: "an active or bound domain's blocks are bound at a physical address",
                })
            }
            (_, Some(pa)) => Some(page_aligned(&format!("{block_field}.pa"), pa)?),
        };
        let last = last_byte(&block_field, real_address, size)?;
        if let Some(other) = requirements.memory_blocks.iter().position(|other| {
            real_address <= other.real_address.saturating_add(other.size - 1)
                && other.real_address <= last
        }) {
            return Err(DescriptionError::OverlappingBlocks {
                field: block_field,
                other: format!("{field}.memory[{other}]"),
            });
        }
        push_checked(
            &mut requirements.memory_blocks,
            BlockRequirement { real_address, size },
            &format!("{field}.memory"),
        )?;
        physical_addresses.push(pa);
    }
    for (index, disk) in raw.disk.iter().enumerate() {
        let disk_field = format!("{field}.disk[{index}]");
        let disk = VirtualDisk {
            name: checked_name(&format!("{disk_field}.name"), &disk.name)?,
            service: checked_name(&format!("{disk_field}.service"), &disk.service)?,
            volume: checked_name(&format!("{disk_field}.volume"), &disk.volume)?,
        };
        push_checked(&mut requirements.virtual_disks, disk, &disk_field)?;
    }
    for (index, network) in raw.network.iter().enumerate() {
        let network_field = format!("{field}.network[{index}]");
        let network = VirtualNetwork {
            name: checked_name(&format!("{network_field}.name"), &network.name)?,
            switch: checked_name(&format!("{network_field}.switch"), &network.switch)?,
        };
        push_checked(&mut requirements.virtual_networks, network, &network_field)?;
    }
    for (index, device) in raw.physical_io.iter().enumerate() {
        let device_field = format!("{field}.physical_io[{index}]");
        let device = checked_name(&device_field, device)?;
        push_checked(&mut requirements.physical_io_devices, device, &device_field)?;
    }
    Ok(DescribedDomain {
        requirements,
        physical_addresses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIGABYTE: u64 = 1 << 30;

    const MINIMAL: &str = r#"
        [host]
        name = "t2-a"
        cpu_type = "UltraSPARC T2"
        cpu_frequency_mhz = 1165
        strands = 64
        crypto_units = 8
        engine_versions = { oldest = 1, newest = 1 }

        [[memory]]
        pa = 0x8000000
        size = "4G"

        [services]
        console_concentrator = "primary-vcc0"

        [[domain]]
        name = "primary"
        state = "active"
        vcpus = 8
        crypto_units = 1
        memory = [{ ra = 0x8000000, pa = 0x8000000, size = "1G" }]

        [[domain]]
        name = "ldg-cold"
        state = "inactive"
        vcpus = 4
        memory = [{ ra = 0x8000000, size = 1073741824 }]
    "#;

    fn with(extra_host: &str, tail: &str) -> String {
        let text = MINIMAL.replacen("[[memory]]", &format!("{extra_host}\n[[memory]]"), 1);
        format!("{text}\n{tail}")
    }

    /// The error of MINIMAL with one more `[[domain]]` of these `name`,
    /// `state` and `vcpus`, and `memory` (a TOML array; empty for none).
    fn error_with_domain(name: &str, state: &str, vcpus: u64, memory: &str) -> DescriptionError {
        let memory = if memory.is_empty() {
            String::new()
        } else {
            format!("memory = {memory}\n")
        };
        let tail = format!(
            "[[domain]]\nname = \"{name}\"\nstate = \"{state}\"\nvcpus = {vcpus}\n{memory}"
        );
        error_of(&with("", &tail))
    }

    fn error_of(text: &str) -> DescriptionError {
        match HostDescription::from_toml_str(text) {
            Ok(_) => panic!("the description should be refused"),
            Err(error) => error,
        }
    }

    #[test]
    fn free_resources_are_what_bound_domains_leave() {
        let description = HostDescription::from_toml_str(MINIMAL).expect("valid");
        let resources = description.resources();
        assert_eq!(resources.total_strands, 64);
        assert_eq!(resources.free_strands, 56);
        assert_eq!(resources.free_crypto_units, 7);
        assert_eq!(
            resources.free_memory.as_slice(),
            &[FreeRange {
                pa: 0x8000000 + GIGABYTE,
                size: 3 * GIGABYTE
            }]
        );
        assert_eq!(resources.power_mode, PowerMode::Performance);
        let cold = description
            .domain_requirements("ldg-cold")
            .expect("described");
        assert_eq!(cold.state, DomainState::Inactive);
        assert_eq!(cold.memory_bytes(), GIGABYTE);
        let machine = description.build_machine().expect("binds");
        assert!(machine.domain_id("primary").is_some());
        assert!(
            machine.domain_id("ldg-cold").is_none(),
            "inactive: not bound"
        );
        assert_eq!(machine.free_strands(), 56);
    }

    #[test]
    fn a_bad_size_names_its_field() {
        let text = MINIMAL.replace("size = \"1G\"", "size = \"1Q\"");
        let error = error_of(&text);
        assert!(
            matches!(&error, DescriptionError::InvalidSize { field, .. } if field == "domain[primary].memory[0].size"),
            "{error}"
        );
        let text = MINIMAL.replace("size = \"1G\"", "size = 12345");
        let error = error_of(&text);
        assert!(
            matches!(&error, DescriptionError::Misaligned { field, .. } if field == "domain[primary].memory[0].size"),
            "{error}"
        );
    }

    #[test]
    fn unknown_enumerations_name_their_field() {
        let error = error_of(&with("power_mode = \"turbo\"", ""));
        assert!(
            matches!(&error, DescriptionError::InvalidValue { field, .. } if field == "host.power_mode"),
            "{error}"
        );
        let error = error_of(&MINIMAL.replace(
            "name = \"ldg-cold\"",
            "name = \"ldg-cold\"\ncpu_arch = \"class9\"",
        ));
        assert!(
            error.to_string().starts_with("domain[ldg-cold].cpu_arch:"),
            "{error}"
        );
        // A T2 runs generic domains, not migration-class1 ones (T4 and later).
        let class = |name: &str| {
            MINIMAL.replace(
                "name = \"ldg-cold\"",
                &format!("name = \"ldg-cold\"\ncpu_arch = \"{name}\""),
            )
        };
        let described = HostDescription::from_toml_str(&class("generic")).expect("valid");
        let cold = described
            .domain_requirements("ldg-cold")
            .expect("described");
        assert_eq!(cold.cpu_arch, CpuArchClass::Generic);
        let error = error_of(&class("migration-class1"));
        assert!(
            error
                .to_string()
                .contains("a class the host's processor runs"),
            "{error}"
        );
        let error = error_of(&MINIMAL.replace("\"inactive\"", "\"sleeping\""));
        assert!(
            error.to_string().starts_with("domain[ldg-cold].state:"),
            "{error}"
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_syntax_errors_naming_the_key() {
        let error = error_of(&with("cpu_speed = 3", ""));
        assert!(
            matches!(&error, DescriptionError::Syntax { message } if message.contains("cpu_speed")),
            "{error}"
        );
        let error = error_of(&MINIMAL.replace("strands = 64", "strands = \"many\""));
        assert!(matches!(error, DescriptionError::Syntax { .. }), "{error}");
    }

    #[test]
    fn bound_blocks_need_a_physical_address_and_inactive_ones_have_none() {
        let text = MINIMAL.replace("pa = 0x8000000, size = \"1G\"", "size = \"1G\"");
        let error = error_of(&text);
        assert!(
            matches!(&error, DescriptionError::MissingField { field, .. } if field == "domain[primary].memory[0].pa"),
            "{error}"
        );
        let text = MINIMAL.replace(
            "ra = 0x8000000, size = 1073741824",
            "ra = 0x8000000, pa = 0x8000000, size = 1073741824",
        );
        let error = error_of(&text);
        assert!(
            error
                .to_string()
                .starts_with("domain[ldg-cold].memory[0].pa:"),
            "{error}"
        );
    }

    #[test]
    fn overcommitted_machines_are_refused() {
        let error = error_with_domain(
            "ldg-big",
            "bound",
            60,
            r#"[{ ra = 0x8000000, pa = 0x48000000, size = "1G" }]"#,
        );
        assert!(
            matches!(&error, DescriptionError::Binding { field, source: SimError::NotEnoughStrands { .. } } if field == "domain[ldg-big]"),
            "{error}"
        );
        let error = error_with_domain(
            "ldg-clash",
            "bound",
            1,
            r#"[{ ra = 0x8000000, pa = 0x8000000, size = "1G" }]"#,
        );
        assert!(
            matches!(&error, DescriptionError::Binding { field, .. } if field == "domain[ldg-clash]"),
            "{error}"
        );
    }

    #[test]
    fn duplicate_domains_and_overlapping_blocks_are_refused() {
        assert!(matches!(
            error_with_domain("primary", "inactive", 1, ""),
            DescriptionError::DuplicateDomain { .. }
        ));
        let error = error_with_domain(
            "ldg-overlap",
            "inactive",
            1,
            r#"[{ ra = 0, size = "1G" }, { ra = 0x20000000, size = "1G" }]"#,
        );
        assert!(
            matches!(&error, DescriptionError::OverlappingBlocks { field, other } if field == "domain[ldg-overlap].memory[1]" && other == "domain[ldg-overlap].memory[0]"),
            "{error}"
        );
    }

    #[test]
    fn host_ranges_that_overlap_or_run_past_the_top_are_refused() {
        let overlapping = with("", "").replacen(
            "[[memory]]",
            "[[memory]]\npa = 0x100000000\nsize = \"1G\"\n\n[[memory]]",
            1,
        );
        let error = error_of(&overlapping);
        assert!(
            matches!(&error, DescriptionError::OverlappingRanges { field, other } if field == "memory[1]" && other == "memory[0]"),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            "memory[1]: overlaps memory[0] in physical address space"
        );
        let past_top = MINIMAL.replace(
            "pa = 0x8000000\n        size = \"4G\"",
            "pa = 0xffffffffc0000000\n        size = \"2G\"",
        );
        let error = error_of(&past_top);
        assert!(
            matches!(&error, DescriptionError::PastAddressSpace { field, start: 0xffff_ffff_c000_0000, size } if field == "memory[0]" && *size == 2 * GIGABYTE),
            "{error}"
        );
        assert!(error.to_string().contains("past the top"), "{error}");
        // A range ending exactly at 2^64 is whole.
        let at_top = MINIMAL.replace(
            "pa = 0x8000000\n        size = \"4G\"",
            "pa = 0xffffffffc0000000\n        size = \"1G\"",
        );
        let error = error_of(&at_top);
        assert!(
            matches!(error, DescriptionError::Binding { .. }),
            "only the binding of primary fails: {error}"
        );
    }

    #[test]
    fn a_block_wrapping_past_the_top_is_not_called_an_overlap() {
        let error = error_with_domain(
            "ldg-wrap",
            "inactive",
            1,
            r#"[{ ra = 0xffffffffffe00000, size = "4M" }]"#,
        );
        assert!(
            matches!(&error, DescriptionError::PastAddressSpace { field, .. } if field == "domain[ldg-wrap].memory[0]"),
            "{error}"
        );
    }

    #[test]
    fn domain_names_follow_the_one_rule() {
        for bad in ["../ldg", "ldg one", "ldg/1", ""] {
            let error = error_of(&MINIMAL.replace("\"ldg-cold\"", &format!("{bad:?}")));
            assert!(
                matches!(error, DescriptionError::InvalidDomainName { .. }),
                "{bad:?}: {error}"
            );
            assert!(error.to_string().starts_with("domain.name: "), "{error}");
        }
    }

    #[test]
    fn allowed_targets_are_hosts_with_an_optional_port() {
        let listed = |list: &str| {
            HostDescription::from_toml_str(&format!(
                "{MINIMAL}\n[migration]\nallowed_targets = {list}\n"
            ))
        };
        let description = listed(r#"["t5-b", "10.0.0.7:8101"]"#).expect("valid");
        assert_eq!(description.allowed_targets(), ["t5-b", "10.0.0.7:8101"]);
        assert!(HostDescription::from_toml_str(MINIMAL)
            .expect("valid")
            .allowed_targets()
            .is_empty());
        for bad in [
            r#"["t5-b:99999"]"#,
            r#"["t5-b:0"]"#,
            r#"[""]"#,
            r#"["a b"]"#,
            r#"[":8101"]"#,
        ] {
            let error = match listed(bad) {
                Ok(_) => panic!("{bad} accepted"),
                Err(error) => error,
            };
            assert!(
                error
                    .to_string()
                    .starts_with("migration.allowed_targets[0]:"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn a_read_error_says_its_cause_once() {
        let directory = std::env::temp_dir();
        let error = match HostDescription::load(&directory) {
            Ok(_) => panic!("a directory is not a description"),
            Err(error) => error,
        };
        // What a chain printer (anyhow's `{:#}`) shows: the error, then
        // each source.
        let mut chain = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            chain.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        let cause = std::io::Error::from_raw_os_error(21).to_string();
        assert_eq!(chain.matches(&cause).count(), 1, "{chain}");
    }

    #[test]
    fn a_long_name_and_an_unknown_domain_are_named() {
        let long = "x".repeat(resources::NAME_CAPACITY + 1);
        let error = error_of(&MINIMAL.replace("\"ldg-cold\"", &format!("\"{long}\"")));
        assert!(
            matches!(&error, DescriptionError::NameTooLong { field } if field == "domain.name"),
            "{error}"
        );
        let description = HostDescription::from_toml_str(MINIMAL).expect("valid");
        assert!(matches!(
            description.domain_requirements("ldg-none"),
            Err(DescriptionError::UnknownDomain { .. })
        ));
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let error = match HostDescription::load("/nonexistent/host.toml") {
            Ok(_) => panic!("no such file"),
            Err(error) => error,
        };
        assert!(matches!(error, DescriptionError::Read { .. }), "{error}");
    }
}
