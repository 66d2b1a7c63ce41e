//! Why setting up the simulated machine failed: the typed [`SimError`].
//!
//! These are the errors of the simulator's own set-up calls
//! ([`crate::machine::Machine::add_domain`], renaming a domain). The
//! hypervisor calls themselves return [`HvError`], as firmware would.

use ldmig_hv::hypervisor::DomainId;
use ldmig_hv::HvError;
use std::fmt;

/// A simulated-machine set-up call that failed, named by what failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// Another domain of the machine already has this name.
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// No domain with this id exists on the machine.
    UnknownDomain {
        /// The id asked for.
        domain: DomainId,
    },
    /// A domain needs at least one vCPU.
    NoVcpus,
    /// The machine has fewer free strands than the domain has vCPUs.
    NotEnoughStrands {
        /// Strands the domain needs.
        wanted: u64,
        /// Strands free on the machine.
        free: u64,
    },
    /// The machine has fewer free crypto units than the domain asks for.
    NotEnoughCryptoUnits {
        /// Units the domain asks for.
        wanted: u64,
        /// Units free on the machine.
        free: u64,
    },
    /// A memory block of zero bytes.
    EmptyBlock {
        /// Real address of the block.
        ra: u64,
    },
    /// A memory block's real address or size is not a multiple of 8 KiB.
    MisalignedBlock {
        /// Real address of the block.
        ra: u64,
        /// Size of the block in bytes.
        size: u64,
    },
    /// A memory block overlaps another block of the same domain in real
    /// address space (or wraps past the end of it).
    OverlappingBlock {
        /// Real address of the block.
        ra: u64,
        /// Size of the block in bytes.
        size: u64,
    },
    /// No free physical range of the block's size exists (first fit).
    NoContiguousRange {
        /// Real address of the block.
        ra: u64,
        /// Size of the block in bytes.
        size: u64,
    },
    /// The physical range asked for is not entirely free (or not aligned).
    PhysicalRangeNotFree {
        /// Physical address asked for.
        pa: u64,
        /// Size in bytes.
        size: u64,
    },
    /// A reconfiguration asked to remove more than the domain holds (it
    /// keeps at least one vCPU and one page of memory).
    NotHeld {
        /// What was to be removed ("vCPUs", "bytes of memory").
        what: &'static str,
        /// How many were to be removed.
        wanted: u64,
        /// How many the domain holds.
        held: u64,
    },
    /// A hypervisor call made on the caller's behalf failed.
    Hv(HvError),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::NameTaken { name } => write!(f, "domain name {name:?} is already taken"),
            SimError::UnknownDomain { domain } => write!(f, "no domain with id {domain}"),
            SimError::NoVcpus => write!(f, "a domain needs at least one vCPU"),
            SimError::NotEnoughStrands { wanted, free } => {
                write!(f, "not enough free strands: {wanted} wanted, {free} free")
            }
            SimError::NotEnoughCryptoUnits { wanted, free } => write!(
                f,
                "not enough free crypto units: {wanted} wanted, {free} free"
            ),
            SimError::EmptyBlock { ra } => {
                write!(f, "memory block at real address {ra:#x} has no bytes")
            }
            SimError::MisalignedBlock { ra, size } => write!(
                f,
                "memory block at real address {ra:#x} of {size:#x} bytes is not 8 KiB aligned"
            ),
            SimError::OverlappingBlock { ra, size } => write!(
                f,
                "memory block at real address {ra:#x} of {size:#x} bytes overlaps another block"
            ),
            SimError::NoContiguousRange { ra, size } => write!(
                f,
                "no contiguous free physical range of {size:#x} bytes for the memory block at real address {ra:#x}"
            ),
            SimError::PhysicalRangeNotFree { pa, size } => write!(
                f,
                "physical range {pa:#x}+{size:#x} is not free"
            ),
            SimError::NotHeld { what, wanted, held } => write!(
                f,
                "cannot remove {wanted} {what}: the domain holds {held} and keeps at least one"
            ),
            SimError::Hv(error) => write!(f, "{error}"),
        }
    }
}

impl SimError {
    /// The sun4v status a hypervisor call returns for this failure (the
    /// mapping `hv/API.md` documents for `MIG_DOMAIN_CREATE` and
    /// `MIG_MEMBLOCK_BIND`).
    pub fn hv_error(&self) -> HvError {
        match self {
            SimError::NameTaken { .. }
            | SimError::UnknownDomain { .. }
            | SimError::NoVcpus
            | SimError::EmptyBlock { .. }
            | SimError::OverlappingBlock { .. }
            | SimError::NotHeld { .. } => HvError::Invalid,
            SimError::NotEnoughStrands { .. } | SimError::NotEnoughCryptoUnits { .. } => {
                HvError::TooMany
            }
            SimError::MisalignedBlock { .. } => HvError::BadAlignment,
            SimError::NoContiguousRange { .. } | SimError::PhysicalRangeNotFree { .. } => {
                HvError::NoRealAddress
            }
            SimError::Hv(error) => *error,
        }
    }
}

impl std::error::Error for SimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SimError::Hv(error) => Some(error),
            _ => None,
        }
    }
}

impl From<HvError> for SimError {
    fn from(error: HvError) -> Self {
        SimError::Hv(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_block_and_the_cause() {
        let text = SimError::NoContiguousRange {
            ra: 0x800_0000,
            size: 2 << 30,
        }
        .to_string();
        assert!(text.contains("0x8000000"), "{text}");
        assert!(text.contains("0x80000000"), "{text}");
        let wrapped = SimError::from(HvError::NoRealAddress);
        assert!(wrapped.to_string().contains("ENORADDR"));
        assert!(std::error::Error::source(&wrapped).is_some());
        assert_eq!(wrapped.hv_error(), HvError::NoRealAddress);
    }

    #[test]
    fn hv_error_maps_each_failure_to_its_documented_status() {
        let table = [
            (SimError::NoVcpus, HvError::Invalid),
            (SimError::EmptyBlock { ra: 0 }, HvError::Invalid),
            (
                SimError::OverlappingBlock { ra: 0, size: 1 },
                HvError::Invalid,
            ),
            (SimError::UnknownDomain { domain: 9 }, HvError::Invalid),
            (
                SimError::NotEnoughStrands { wanted: 2, free: 1 },
                HvError::TooMany,
            ),
            (
                SimError::MisalignedBlock { ra: 1, size: 1 },
                HvError::BadAlignment,
            ),
            (
                SimError::NoContiguousRange { ra: 0, size: 1 },
                HvError::NoRealAddress,
            ),
        ];
        for (error, status) in table {
            assert_eq!(error.hv_error(), status, "{error}");
        }
    }
}
