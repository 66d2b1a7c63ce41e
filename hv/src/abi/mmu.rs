//! CORE group MMU calls, page-size codes, the TSB descriptor and the fault status area.
//!
//! Source: [L] `hypervisor.h` (`HV_FAST_MMU_*`, `struct hv_tsb_descr`,
//! `HV_FAULT_*_OFFSET`), [O] `hcall.s`.

use bitflags::bitflags;
use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::abi::spec_numbers;

spec_numbers! {
    /// Every MMU function, in number order.
    #[cfg(test)]
    const MMU_FUNCTIONS: [u64];
    /// Install ctx-0 TSBs. [L] `HV_FAST_MMU_TSB_CTX0`.
    pub const MMU_TSB_CTX0: u64 = 0x20;
    /// Install non-ctx-0 TSBs. [L] `HV_FAST_MMU_TSB_CTXNON0`.
    pub const MMU_TSB_CTXNON0: u64 = 0x21;
    /// Demap a page. [L] `HV_FAST_MMU_DEMAP_PAGE`.
    pub const MMU_DEMAP_PAGE: u64 = 0x22;
    /// Demap a context. [L] `HV_FAST_MMU_DEMAP_CTX`.
    pub const MMU_DEMAP_CTX: u64 = 0x23;
    /// Demap everything. [L] `HV_FAST_MMU_DEMAP_ALL`.
    pub const MMU_DEMAP_ALL: u64 = 0x24;
    /// Permanent mapping. [L] `HV_FAST_MMU_MAP_PERM_ADDR`.
    pub const MMU_MAP_PERM_ADDR: u64 = 0x25;
    /// Configure the fault status area. [L] `HV_FAST_MMU_FAULT_AREA_CONF`.
    pub const MMU_FAULT_AREA_CONF: u64 = 0x26;
    /// Enable or disable the MMU. [L] `HV_FAST_MMU_ENABLE`.
    pub const MMU_ENABLE: u64 = 0x27;
    /// Remove a permanent mapping. [L] `HV_FAST_MMU_UNMAP_PERM_ADDR`.
    pub const MMU_UNMAP_PERM_ADDR: u64 = 0x28;
    /// Query ctx-0 TSBs. [L] `HV_FAST_MMU_TSB_CTX0_INFO`.
    pub const MMU_TSB_CTX0_INFO: u64 = 0x29;
    /// Query non-ctx-0 TSBs. [L] `HV_FAST_MMU_TSB_CTXNON0_INFO`.
    pub const MMU_TSB_CTXNON0_INFO: u64 = 0x2a;
    /// Query the fault status area. [L] `HV_FAST_MMU_FAULT_AREA_INFO`.
    pub const MMU_FAULT_AREA_INFO: u64 = 0x2b;
}

/// Page-size code 8 KiB. [L] `HV_PGSZ_IDX_8K`.
pub const PGSZ_8K: u64 = 0;
/// Page-size code 64 KiB. [L] `HV_PGSZ_IDX_64K`.
pub const PGSZ_64K: u64 = 1;
/// Page-size code 512 KiB. [L] `HV_PGSZ_IDX_512K`.
pub const PGSZ_512K: u64 = 2;
/// Page-size code 4 MiB. [L] `HV_PGSZ_IDX_4MB`.
pub const PGSZ_4M: u64 = 3;
/// Page-size code 32 MiB. [L] `HV_PGSZ_IDX_32MB`.
pub const PGSZ_32M: u64 = 4;
/// Page-size code 256 MiB. [L] `HV_PGSZ_IDX_256MB`.
pub const PGSZ_256M: u64 = 5;
/// Page-size code 2 GiB. [L] `HV_PGSZ_IDX_2GB`.
pub const PGSZ_2G: u64 = 6;
/// Page-size code 16 GiB. [L] `HV_PGSZ_IDX_16GB`.
pub const PGSZ_16G: u64 = 7;

bitflags! {
    /// The page sizes a TSB holds (`pgsz_mask` of [`TsbDescriptor`]): bit
    /// `code` for each page-size code. [L] hypervisor.h `HV_PGSZ_MASK_*`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct PageSizeMask: u32 {
        /// 8 KiB pages.
        #[doc(alias = "HV_PGSZ_MASK_8K")]
        const SIZE_8K = 1 << 0;
        /// 64 KiB pages.
        #[doc(alias = "HV_PGSZ_MASK_64K")]
        const SIZE_64K = 1 << 1;
        /// 512 KiB pages.
        #[doc(alias = "HV_PGSZ_MASK_512K")]
        const SIZE_512K = 1 << 2;
        /// 4 MiB pages.
        #[doc(alias = "HV_PGSZ_MASK_4MB")]
        const SIZE_4MB = 1 << 3;
        /// 32 MiB pages.
        #[doc(alias = "HV_PGSZ_MASK_32MB")]
        const SIZE_32MB = 1 << 4;
        /// 256 MiB pages.
        #[doc(alias = "HV_PGSZ_MASK_256MB")]
        const SIZE_256MB = 1 << 5;
        /// 2 GiB pages.
        #[doc(alias = "HV_PGSZ_MASK_2GB")]
        const SIZE_2GB = 1 << 6;
        /// 16 GiB pages.
        #[doc(alias = "HV_PGSZ_MASK_16GB")]
        const SIZE_16GB = 1 << 7;
    }
}

/// log2 of the sun4v base page (8 KiB).
pub const PAGE_SHIFT: u32 = 13;
/// The sun4v base page size in bytes.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

/// Bytes of a page of the given size code: `8 KiB << (3 × code)`.
pub const fn page_size_bytes(code: u64) -> u64 {
    1u64 << (PAGE_SHIFT as u64 + 3 * code)
}

/// Size of the fault status area. [L] hypervisor.h, `MMU_FAULT_AREA_CONF`.
pub const FAULT_AREA_BYTES: usize = 0x80;
/// Instruction fault type offset. [L] `HV_FAULT_I_TYPE_OFFSET`.
pub const FAULT_I_TYPE_OFFSET: usize = 0x00;
/// Instruction fault address offset. [L] `HV_FAULT_I_ADDR_OFFSET`.
pub const FAULT_I_ADDR_OFFSET: usize = 0x08;
/// Instruction fault context offset. [L] `HV_FAULT_I_CTX_OFFSET`.
pub const FAULT_I_CTX_OFFSET: usize = 0x10;
/// Data fault type offset. [L] `HV_FAULT_D_TYPE_OFFSET`.
pub const FAULT_D_TYPE_OFFSET: usize = 0x40;
/// Data fault address offset. [L] `HV_FAULT_D_ADDR_OFFSET`.
pub const FAULT_D_ADDR_OFFSET: usize = 0x48;
/// Data fault context offset. [L] `HV_FAULT_D_CTX_OFFSET`.
pub const FAULT_D_CTX_OFFSET: usize = 0x50;
/// Most permanent mappings a CPU may hold (`ETOOMANY` beyond). [L] hypervisor.h.
pub const MAX_PERM_MAPPINGS: usize = 8;

/// TSB descriptor given to `MMU_TSB_CTX*`: 32 bytes, big-endian. [L] `struct hv_tsb_descr`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct TsbDescriptor {
    /// Page-size index of the TSB's entries.
    pub pgsz_idx: U16,
    /// Associativity.
    pub assoc: U16,
    /// Number of TTEs.
    pub num_ttes: U32,
    /// Context index.
    pub ctx_idx: U32,
    /// The page sizes it holds: a [`PageSizeMask`].
    pub pgsz_mask: U32,
    /// Real address of the TSB.
    pub tsb_base: U64,
    /// Reserved, zero.
    pub resv: U64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{assert_in_number_order, assert_layout};

    #[test]
    fn function_numbers_match_the_spec() {
        // Every number as the spec gives it, in the table's order.
        assert_eq!(
            MMU_FUNCTIONS,
            [0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b]
        );
        assert_in_number_order(&MMU_FUNCTIONS);
    }

    #[test]
    fn page_sizes_match_the_spec() {
        let codes = [
            PGSZ_8K, PGSZ_64K, PGSZ_512K, PGSZ_4M, PGSZ_32M, PGSZ_256M, PGSZ_2G, PGSZ_16G,
        ];
        for (index, code) in codes.iter().enumerate() {
            assert_eq!(*code, index as u64);
        }
        assert_eq!(PAGE_SIZE, 8192);
        assert_eq!(page_size_bytes(PGSZ_8K), 8 << 10);
        assert_eq!(page_size_bytes(PGSZ_64K), 64 << 10);
        assert_eq!(page_size_bytes(PGSZ_4M), 4 << 20);
        assert_eq!(page_size_bytes(PGSZ_2G), 2 << 30);
        assert_eq!(page_size_bytes(PGSZ_16G), 16 << 30);
        let masks = [
            PageSizeMask::SIZE_8K,
            PageSizeMask::SIZE_64K,
            PageSizeMask::SIZE_512K,
            PageSizeMask::SIZE_4MB,
            PageSizeMask::SIZE_32MB,
            PageSizeMask::SIZE_256MB,
            PageSizeMask::SIZE_2GB,
            PageSizeMask::SIZE_16GB,
        ];
        for (code, mask) in codes.iter().zip(masks) {
            assert_eq!(u64::from(mask.bits()), 1 << code, "{mask:?}");
        }
    }

    #[test]
    fn tsb_descriptor_and_fault_area_layout() {
        assert_layout!(TsbDescriptor { tsb_base: 16 }, size: 32);
        assert_eq!(FAULT_AREA_BYTES, 0x80);
        assert_eq!(
            [FAULT_I_TYPE_OFFSET, FAULT_I_ADDR_OFFSET, FAULT_I_CTX_OFFSET],
            [0x00, 0x08, 0x10]
        );
        assert_eq!(
            [FAULT_D_TYPE_OFFSET, FAULT_D_ADDR_OFFSET, FAULT_D_CTX_OFFSET],
            [0x40, 0x48, 0x50]
        );
        assert_eq!(MAX_PERM_MAPPINGS, 8);
    }
}
