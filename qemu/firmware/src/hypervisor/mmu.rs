//! Guests run with their MMU on, through translations this hypervisor
//! installs on demand: a guest's virtual addresses are its real addresses
//! (the sun4v "real translation" a hypervisor gives a guest), each 8 KiB
//! page mapped onto its block's physical page. That is what makes dirty
//! tracking real: while a block is logging, a clean page is mapped without
//! write permission, the guest's first store to it traps here (data
//! protection, tt 0x06c), the page is marked dirty and mapped writable, and
//! the store is retried. `MIG_DIRTY_LOG_SYNC` clears the bits and drops the
//! D-TLB, so every page is write-protected again at its next use.
//!
//! QEMU's T1 model has the UltraSPARC's software-loaded TLBs (64 entries
//! each, target/sparc/ldst_helper.c): a miss traps to the hypervisor
//! (tt 0x064 / 0x068, tag access in ASI 0x50 / 0x58 VA 0x30), which writes
//! a TTE through the data-in ASI (0x54 / 0x5c). QEMU ignores sun4v
//! "real translation" entries, hence ordinary entries in the guest's
//! context (primary at TL 0, nucleus in its trap handlers at TL > 0).

use super::domain::PAGE_BYTES;
use super::Machine;
use crate::cpu_registers::{demap_dtlb, demap_itlb};
use ldmig_hv::hypervisor::DomainId;

/// `fast_instruction_access_MMU_miss`.
pub const TT_ITLB_MISS: u64 = 0x064;
/// `fast_data_access_MMU_miss`.
pub const TT_DTLB_MISS: u64 = 0x068;
/// `fast_data_access_protection`.
pub const TT_DATA_PROTECTION: u64 = 0x06c;

/// TTE (sun4u layout, which QEMU's data-in ASIs take at VA 0): valid.
const TTE_VALID: u64 = 1 << 63;
/// TTE: cacheable in the physically indexed caches.
const TTE_CP: u64 = 1 << 5;
/// TTE: cacheable in the virtually indexed cache.
const TTE_CV: u64 = 1 << 4;
/// TTE: privileged code only.
const TTE_PRIVILEGED: u64 = 1 << 2;
/// TTE: writable.
const TTE_WRITABLE: u64 = 1 << 1;
/// TTE: physical address bits 40:13.
const TTE_PA_MASK: u64 = 0x1ff_ffff_e000;
/// Context field of the tag access register.
const TAG_CONTEXT_MASK: u64 = 0x1fff;

/// Why a guest's MMU trap could not be satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmuFaultError {
    /// No guest vCPU was on the strand.
    NoGuestRunning,
    /// The address is in none of the guest's memory blocks.
    Unmapped {
        /// The guest.
        domain: DomainId,
        /// The virtual (= real) address.
        address: u64,
    },
    /// A trap type this handler is not for.
    UnexpectedTrap(u64),
}

impl Machine {
    /// Handles a guest's MMU trap: the TTE to write for `tag_access`.
    pub fn mmu_fault(&mut self, trap_type: u64, tag_access: u64) -> Result<u64, MmuFaultError> {
        let current = self
            .scheduler
            .current()
            .ok_or(MmuFaultError::NoGuestRunning)?;
        let address = tag_access & !TAG_CONTEXT_MASK;
        let domain = self
            .domain_mut(current.domain)
            .ok_or(MmuFaultError::NoGuestRunning)?;
        let id = domain.id;
        let (index, pa) = domain
            .block_of(address, PAGE_BYTES)
            .ok_or(MmuFaultError::Unmapped {
                domain: id,
                address,
            })?;
        let block = &mut domain.blocks[index];
        let page = (address - block.ra) / PAGE_BYTES;
        let mut tte = TTE_VALID | (pa & TTE_PA_MASK) | TTE_CP | TTE_CV | TTE_PRIVILEGED;
        let mut marked = false;
        match trap_type {
            TT_ITLB_MISS => {}
            TT_DTLB_MISS => {
                if !block.logging || block.is_dirty(page) {
                    tte |= TTE_WRITABLE;
                }
            }
            TT_DATA_PROTECTION => {
                marked = block.logging && block.mark_dirty(page);
                tte |= TTE_WRITABLE;
            }
            other => return Err(MmuFaultError::UnexpectedTrap(other)),
        }
        let statistics = &mut self.statistics;
        match trap_type {
            TT_ITLB_MISS => statistics.itlb_misses += 1,
            TT_DTLB_MISS => statistics.dtlb_misses += 1,
            _ => statistics.protection_traps += 1,
        }
        statistics.pages_marked_dirty += u64::from(marked);
        statistics.nucleus_mmu_traps += u64::from(tag_access & TAG_CONTEXT_MASK == 0);
        self.tlb_owner = Some(id);
        Ok(tte)
    }

    /// Drops the D-TLB if it holds `domain`'s translations (after a
    /// dirty-log sync: clean pages must trap on their next store).
    pub fn drop_dtlb_of(&mut self, domain: DomainId) {
        if self.tlb_owner == Some(domain) {
            demap_dtlb();
            self.statistics.dtlb_flushes += 1;
        }
    }

    /// Drops both TLBs if they hold `domain`'s translations (it is gone,
    /// or another guest runs next).
    pub fn drop_tlbs_of(&mut self, domain: DomainId) {
        if self.tlb_owner == Some(domain) {
            demap_dtlb();
            demap_itlb();
            self.statistics.dtlb_flushes += 1;
            self.tlb_owner = None;
        }
    }
}
