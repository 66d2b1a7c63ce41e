//! The check at switchover: when the target engine resumes the migrated
//! domain, the source copy is suspended with its last state and the
//! target copy holds everything the engines moved and has not run yet. At
//! that instant (ObservedHypervisor runs this just before the target's
//! `MIG_DOMAIN_RESUME`) both are read back through the hypervisor
//! (`MIG_PAGE_READ`, `MIG_VCPU_GET_STATE`) and compared page by page and
//! vCPU by vCPU. With `--corrupt-page` one page of the target is damaged
//! first (`MIG_PAGE_WRITE`), as a bad memory module would, and the
//! comparison must name it.
//!
//! Between two machines (`qemu/pair`) neither copy can see the other: each
//! side takes a digest of its own copy at that instant instead — the
//! target just before its resume, the source just before its engine
//! destroys it (both are stopped and final then) — and the shims compare
//! the two.

use crate::cpu_registers::now_ns;
use crate::domain_digest::{digest_domain, DomainDigest};
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
    /// Digest of this machine's copy of the domain (two-machine runs).
    pub digest: DomainDigest,
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

/// What the check does at the switchover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchoverMode {
    /// Both copies on this machine: compare them (before the target's
    /// resume).
    Compare {
        /// The source domain.
        source: DomainId,
    },
    /// The target of a two-machine run: digest its copy before its resume.
    TargetDigest,
    /// The source of a two-machine run: digest its copy before the engine
    /// destroys it.
    SourceDigest,
}

/// The check, armed for one migration.
#[derive(Debug)]
pub struct SwitchoverCheck {
    mode: SwitchoverMode,
    corrupt_page: bool,
    result: Cell<SwitchoverResult>,
}

/// A word of the guest's state page of `domain`.
pub fn guest_state_word(
    hv: &mut Sun4v,
    domain: DomainId,
    offset: u64,
) -> Result<u64, ldmig_hv::HvError> {
    let mut page = AlignedPage::zeroed();
    hv.read_memory(domain, GUEST_STATE_RA, &mut page.0)?;
    let offset = offset as usize;
    let mut word = [0u8; 8];
    word.copy_from_slice(&page.0[offset..offset + 8]);
    Ok(u64::from_be_bytes(word))
}

impl SwitchoverCheck {
    /// A check in `mode`; `corrupt_page` damages the target copy first
    /// (compare and target-digest modes).
    pub fn new(mode: SwitchoverMode, corrupt_page: bool) -> Self {
        SwitchoverCheck {
            mode,
            corrupt_page,
            result: Cell::new(SwitchoverResult::default()),
        }
    }

    /// What it found (`ran` false if it never ran).
    pub fn result(&self) -> SwitchoverResult {
        self.result.get()
    }

    /// Before the target's resume of `target`: the comparison or the
    /// target's digest, unless it already ran.
    pub fn before_resume(&self, hv: &mut Sun4v, target: DomainId) {
        if self.mode != SwitchoverMode::SourceDigest {
            self.run_once(hv, target);
        }
    }

    /// Before `domain` is destroyed: the source's digest (source-digest
    /// mode), unless it already ran.
    pub fn before_destroy(&self, hv: &mut Sun4v, domain: DomainId) {
        if self.mode == SwitchoverMode::SourceDigest {
            self.run_once(hv, domain);
        }
    }

    fn run_once(&self, hv: &mut Sun4v, domain: DomainId) {
        if self.result.get().ran {
            return;
        }
        let started = now_ns();
        let mut result = SwitchoverResult {
            ran: true,
            target: domain,
            ..SwitchoverResult::default()
        };
        if let Err(error) = self.check(hv, domain, &mut result) {
            result.failed_status = error.status();
        }
        result.duration_ns = now_ns() - started;
        self.result.set(result);
    }

    fn check(
        &self,
        hv: &mut Sun4v,
        domain: DomainId,
        result: &mut SwitchoverResult,
    ) -> Result<(), ldmig_hv::HvError> {
        if self.corrupt_page && self.mode != SwitchoverMode::SourceDigest {
            let ra =
                GUEST_DATA_RA + (GUEST_WORK_FIRST_PAGE + CORRUPTED_WORK_PAGE) * PAGE_SIZE as u64;
            let mut page = AlignedPage::zeroed();
            hv.read_memory(domain, ra, &mut page.0)?;
            page.0[CORRUPTED_BYTE] ^= 0x5a;
            hv.write_memory(domain, ra, &page.0)?;
            result.corrupted_ra = ra;
        }
        let source = match self.mode {
            SwitchoverMode::Compare { source } => source,
            SwitchoverMode::TargetDigest | SwitchoverMode::SourceDigest => {
                result.progress_at_switchover = guest_state_word(hv, domain, PROGRESS_OFFSET)?;
                result.digest = digest_domain(hv, domain)?;
                return Ok(());
            }
        };
        result.progress_at_switchover = guest_state_word(hv, source, PROGRESS_OFFSET)?;
        Self::compare(hv, source, domain, result)
    }

    fn compare(
        hv: &mut Sun4v,
        source: DomainId,
        target: DomainId,
        result: &mut SwitchoverResult,
    ) -> Result<(), ldmig_hv::HvError> {
        let mut source_page = AlignedPage::zeroed();
        let mut target_page = AlignedPage::zeroed();

        let info = hv.domain_info(source)?;
        for index in 0..info.memory_blocks {
            let block = hv.memory_block(source, index)?;
            if hv.memory_block(target, index)? != block {
                result.differing_pages += block.pages();
                continue;
            }
            for page in 0..block.pages() {
                let ra = block.ra + page * PAGE_SIZE as u64;
                hv.read_memory(source, ra, &mut source_page.0)?;
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
            hv.vcpu_state(source, vcpu, &mut source_state)?;
            hv.vcpu_state(target, vcpu, &mut target_state)?;
            result.vcpus_compared += 1;
            if source_state.as_bytes() != target_state.as_bytes() {
                result.differing_vcpus += 1;
            }
        }
        Ok(())
    }
}
