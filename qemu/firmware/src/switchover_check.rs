//! The check at switchover: when the target engine resumes the migrated
//! domain, the source copy is suspended with its last state and the
//! target copy holds everything the engines moved and has not run yet. At
//! that instant (ObservedHypervisor runs this just before the target's
//! `MIG_DOMAIN_RESUME`) both are read back through the hypervisor
//! (`MIG_PAGE_READ`, `MIG_VCPU_GET_STATE`) and compared page by page and
//! vCPU by vCPU. With `--corrupt-page` one page of the target is damaged
//! first (`MIG_PAGE_WRITE`), as a bad memory module would, and the
//! comparison must name it.

use crate::cpu_registers::now_ns;
use crate::guest_layout::{GUEST_DATA_RA, GUEST_STATE_RA, GUEST_WORK_FIRST_PAGE};
use crate::guest_workload::PROGRESS_OFFSET;
use crate::pages::AlignedPage;
use core::cell::Cell;
use ldmig::page::PAGE_SIZE;
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::{DomainId, GuestMemory, VcpuControl};
use ldmig_hv::sun4v::Sun4v;
use zerocopy::IntoBytes;

/// The work page `--corrupt-page` damages (in the guest's data block).
pub const CORRUPTED_WORK_PAGE: u64 = 37;
/// The byte of it that is flipped.
const CORRUPTED_BYTE: usize = 100;

/// What the comparison found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchoverResult {
    /// The check ran (the target was resumed by its engine).
    pub ran: bool,
    /// Pages compared (all pages of all blocks).
    pub pages_compared: u64,
    /// Pages that differ.
    pub differing_pages: u64,
    /// RA of the first differing page (0: none).
    pub first_differing_ra: u64,
    /// vCPUs compared.
    pub vcpus_compared: u64,
    /// vCPUs whose states differ.
    pub differing_vcpus: u64,
    /// The guest's progress counter in the source copy at suspension.
    pub progress_at_switchover: u64,
    /// RA of the page damaged on purpose (0: none).
    pub corrupted_ra: u64,
    /// A hypervisor call of the check failed (its status; 0: none).
    pub failed_status: u64,
    /// The target's domain number.
    pub target: DomainId,
    /// How long the check took (it delays the target's resume, so the
    /// engine's downtime includes it).
    pub duration_ns: u64,
}

impl SwitchoverResult {
    /// Whether every page compared equal.
    pub fn memory_identical(&self) -> bool {
        self.ran && self.failed_status == 0 && self.differing_pages == 0 && self.pages_compared > 0
    }

    /// Whether every vCPU state compared equal.
    pub fn vcpu_state_identical(&self) -> bool {
        self.ran && self.failed_status == 0 && self.differing_vcpus == 0 && self.vcpus_compared > 0
    }
}

/// The check, armed for one source domain.
#[derive(Debug)]
pub struct SwitchoverCheck {
    source: DomainId,
    corrupt_page: bool,
    result: Cell<SwitchoverResult>,
}

impl SwitchoverCheck {
    /// A check of the migration of `source`; `corrupt_page` damages the
    /// target first.
    pub fn new(source: DomainId, corrupt_page: bool) -> Self {
        SwitchoverCheck {
            source,
            corrupt_page,
            result: Cell::new(SwitchoverResult::default()),
        }
    }

    /// What it found (`ran` false if it never ran).
    pub fn result(&self) -> SwitchoverResult {
        self.result.get()
    }

    /// Runs the comparison against `target` unless it already ran.
    pub fn run_once(&self, hv: &mut Sun4v, target: DomainId) {
        if self.result.get().ran {
            return;
        }
        let started = now_ns();
        let mut result = SwitchoverResult {
            ran: true,
            target,
            ..SwitchoverResult::default()
        };
        if let Err(error) = self.compare(hv, target, &mut result) {
            result.failed_status = error.status();
        }
        result.duration_ns = now_ns() - started;
        self.result.set(result);
    }

    fn compare(
        &self,
        hv: &mut Sun4v,
        target: DomainId,
        result: &mut SwitchoverResult,
    ) -> Result<(), ldmig_hv::HvError> {
        let mut source_page = AlignedPage::zeroed();
        let mut target_page = AlignedPage::zeroed();
        if self.corrupt_page {
            let ra =
                GUEST_DATA_RA + (GUEST_WORK_FIRST_PAGE + CORRUPTED_WORK_PAGE) * PAGE_SIZE as u64;
            hv.read_memory(target, ra, &mut target_page.0)?;
            target_page.0[CORRUPTED_BYTE] ^= 0x5a;
            hv.write_memory(target, ra, &target_page.0)?;
            result.corrupted_ra = ra;
        }
        hv.read_memory(self.source, GUEST_STATE_RA, &mut source_page.0)?;
        let offset = PROGRESS_OFFSET as usize;
        let mut progress = [0u8; 8];
        progress.copy_from_slice(&source_page.0[offset..offset + 8]);
        result.progress_at_switchover = u64::from_be_bytes(progress);

        let info = hv.domain_info(self.source)?;
        for index in 0..info.memory_blocks {
            let block = hv.memory_block(self.source, index)?;
            if hv.memory_block(target, index)? != block {
                result.differing_pages += block.pages();
                continue;
            }
            for page in 0..block.pages() {
                let ra = block.ra + page * PAGE_SIZE as u64;
                hv.read_memory(self.source, ra, &mut source_page.0)?;
                hv.read_memory(target, ra, &mut target_page.0)?;
                result.pages_compared += 1;
                if source_page.0 != target_page.0 {
                    result.differing_pages += 1;
                    if result.first_differing_ra == 0 {
                        result.first_differing_ra = ra;
                    }
                }
            }
        }
        for vcpu in 0..info.vcpus {
            let mut source_state = VcpuState::zeroed();
            let mut target_state = VcpuState::zeroed();
            hv.vcpu_state(self.source, vcpu, &mut source_state)?;
            hv.vcpu_state(target, vcpu, &mut target_state)?;
            result.vcpus_compared += 1;
            if source_state.as_bytes() != target_state.as_bytes() {
                result.differing_vcpus += 1;
            }
        }
        Ok(())
    }
}
