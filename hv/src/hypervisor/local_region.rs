//! [`LocalRegion`]: the token for a range of the caller's own memory, the
//! only way an address of that memory reaches [`super::LocalMemory`] and
//! [`super::Ldc`].
//!
//! Every method that makes the machine read or write the caller's memory
//! by real address (the engine's own loads and stores, the LDC queue bases,
//! the map table, the local side of `LDC_COPY`) takes a `&LocalRegion` and
//! an offset into it instead of a bare RA, so safe code cannot name memory
//! it does not own. A region is minted only by
//! [`super::LocalMemory::local_region`], from memory the implementation
//! says it owns ([`super::LocalMemory::owns_memory`]): for
//! [`crate::trap_hypervisor::TrapHypervisor`] (the real `Sun4v`), memory
//! the integrator granted with the `unsafe`
//! [`crate::trap_hypervisor::TrapHypervisor::grant`]; for the simulated
//! LDC, the endpoint's memory.
//! Narrowing a region ([`LocalRegion::subregion`]) keeps it inside what was
//! vouched for. Implementations check every access against the region and
//! again against what they own, so a region of one implementation handed to
//! another is refused, not trusted.

use crate::HvError;

/// `[ra, ra + length)` of the caller's memory, vouched for by the
/// [`super::LocalMemory`] implementation that minted it. Copy it freely:
/// it is a description, not an owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LocalRegion {
    ra: u64,
    length: u64,
}

impl LocalRegion {
    /// Mints `[ra, ra + length)`: `EINVAL` for length 0, `ENORADDR` when
    /// the range wraps past 2^64. Private to the crate: the only caller is
    /// [`super::LocalMemory::local_region`], after `owns_memory` said yes.
    pub(crate) fn mint(ra: u64, length: u64) -> Result<Self, HvError> {
        if length == 0 {
            return Err(HvError::Invalid);
        }
        ra.checked_add(length).ok_or(HvError::NoRealAddress)?;
        Ok(LocalRegion { ra, length })
    }

    /// Real address of the region's first byte.
    pub fn ra(&self) -> u64 {
        self.ra
    }

    /// Bytes in the region (at least 1).
    pub fn length(&self) -> u64 {
        self.length
    }

    /// The first real address past the region.
    pub fn end(&self) -> u64 {
        // Cannot wrap: `mint` refused regions that do.
        self.ra + self.length
    }

    /// `length` bytes from `offset`, if they lie inside this region.
    pub fn subregion(&self, offset: u64, length: u64) -> Option<LocalRegion> {
        self.address_of(offset, length)?;
        (length > 0).then_some(LocalRegion {
            ra: self.ra + offset,
            length,
        })
    }

    /// The offset of `ra` in this region, for the `offset` arguments of
    /// [`super::LocalMemory`] and [`super::Ldc`]. An `ra` below the region
    /// wraps to an offset past every region, which those methods refuse
    /// with `ENORADDR`; one past its end is refused the same way.
    pub fn offset_of(&self, ra: u64) -> u64 {
        ra.wrapping_sub(self.ra)
    }

    /// The real address of `[offset, offset + length)` of the region, or
    /// `None` when that range does not lie inside it. A length of 0 is
    /// inside when `offset` is at most the region's length.
    pub fn address_of(&self, offset: u64, length: u64) -> Option<u64> {
        let end = offset.checked_add(length)?;
        (end <= self.length).then_some(self.ra + offset)
    }

    /// Whether `other` lies inside this region.
    pub fn contains(&self, other: &LocalRegion) -> bool {
        other.ra >= self.ra && other.end() <= self.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_refuses_empty_and_wrapping_ranges() {
        assert_eq!(LocalRegion::mint(0x1000, 0), Err(HvError::Invalid));
        assert_eq!(
            LocalRegion::mint(u64::MAX - 7, 16),
            Err(HvError::NoRealAddress)
        );
        assert_eq!(
            LocalRegion::mint(u64::MAX - 15, 16),
            Err(HvError::NoRealAddress),
            "its end, 2^64, is not an address"
        );
        let region = LocalRegion::mint(u64::MAX - 15, 15).expect("ends at 2^64 - 1");
        assert_eq!(region.end(), u64::MAX);
    }

    #[test]
    fn offsets_and_subregions_stay_inside() {
        let region = LocalRegion::mint(0x8000_0000, 0x2000).expect("valid");
        assert_eq!((region.ra(), region.length()), (0x8000_0000, 0x2000));
        assert_eq!(region.address_of(0x1ff8, 8), Some(0x8000_1ff8));
        assert_eq!(region.address_of(0x1ff8, 16), None);
        assert_eq!(region.address_of(0x2000, 0), Some(0x8000_2000));
        assert_eq!(
            region.address_of(u64::MAX, 2),
            None,
            "offset + length wraps"
        );
        let inner = region.subregion(0x1000, 0x800).expect("inside");
        assert_eq!((inner.ra(), inner.length()), (0x8000_1000, 0x800));
        assert!(region.contains(&inner));
        assert!(!inner.contains(&region));
        assert_eq!(region.subregion(0x1800, 0x1000), None);
        assert_eq!(region.subregion(0x100, 0), None, "regions are never empty");
        assert_eq!(region.offset_of(0x8000_0040), 0x40);
        assert_eq!(
            region.address_of(region.offset_of(0x7fff_fff8), 8),
            None,
            "an RA below the region is refused"
        );
    }
}
