//! The state a migration case starts from, the list of migration cases,
//! and the small helpers the cases share.

use heapless::Vec;

use super::{dirty_log, domains, memory, vcpus};
use crate::abi::migration::VcpuState;
use crate::abi::mmu::PAGE_SIZE;
use crate::conformance::case::Case;
use crate::conformance::report::{observes, CaseResult, ConformanceFailure, Observed};
use crate::hypervisor::{DomainId, Hypervisor, MemoryBlock};
use crate::HvError;

/// Most memory blocks a fixture's domain may have.
pub const MAX_FIXTURE_BLOCKS: usize = 4;
/// Largest block a fixture may have, in pages (the bitmap the cases keep).
pub const MAX_FIXTURE_BLOCK_PAGES: u64 = 64 * BITMAP_WORDS as u64;
/// Words of the bitmap the dirty-log cases keep (on the stack).
pub(super) const BITMAP_WORDS: usize = 512;

/// What the implementation under test sets up before each migration case.
/// The hypervisor must be in exactly this state: nothing else changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationFixture {
    /// A running domain (not suspended), in state NORMAL, not throttled,
    /// with dirty logging off on every block.
    pub domain: DomainId,
    /// Its vCPUs (at least 1).
    pub vcpus: u64,
    /// Its memory blocks in index order: at least two, block 1 starting
    /// where block 0 ends (adjacent in RA space), block 0 at least 2 pages,
    /// none larger than [`MAX_FIXTURE_BLOCK_PAGES`].
    pub blocks: Vec<MemoryBlock, MAX_FIXTURE_BLOCKS>,
    /// Crypto units the domain has (at least 1).
    pub crypto_units: u64,
    /// Crypto units free on the machine (at least 1).
    pub free_crypto_units: u64,
    /// Strands free on the machine (at least 1).
    pub free_strands: u64,
    /// A domain number no domain has.
    pub unknown_domain: DomainId,
    /// A block size (8 KiB multiple) that one free physical range holds,
    /// with room for one more page elsewhere.
    pub bindable_bytes: u64,
    /// A block size (8 KiB multiple) that no single free range holds.
    pub unbindable_bytes: u64,
}

impl MigrationFixture {
    /// Block `index`, or a failure naming the fixture requirement.
    pub(super) fn block(&self, index: usize) -> Result<MemoryBlock, ConformanceFailure> {
        self.blocks.get(index).copied().ok_or(ConformanceFailure {
            check: "the fixture's domain has the blocks the contract needs",
            expected: Observed::Value(index as u64 + 1),
            actual: Observed::Value(self.blocks.len() as u64),
        })
    }

    /// Whether `[ra, ra + length)` touches any block of the domain.
    pub(super) fn touches_a_block(&self, ra: u64, length: u64) -> bool {
        self.blocks.iter().any(|block| {
            let end = ra.saturating_add(length);
            ra < block.ra + block.size && end > block.ra
        })
    }
}

/// Every migration case, in the order of `hv/API.md`.
pub fn migration_cases<H: Hypervisor>() -> [Case<H, MigrationFixture>; 43] {
    [
        memory::domain_info_reports_vcpus_blocks_and_state(),
        memory::domain_info_unknown_domain_is_einval(),
        memory::memory_block_returns_ra_and_size_by_index(),
        memory::memory_block_bad_index_or_domain_is_einval(),
        dirty_log::dirty_log_start_marks_every_page_and_sync_clears(),
        dirty_log::dirty_log_page_write_does_not_mark_dirty(),
        dirty_log::dirty_log_start_again_resets_every_page_dirty(),
        dirty_log::dirty_log_sync_zeroes_bitmap_words_past_the_block(),
        dirty_log::dirty_log_sync_bitmap_too_small_is_einval(),
        dirty_log::dirty_log_sync_and_stop_without_start_are_einval(),
        dirty_log::dirty_log_bad_block_or_domain_is_einval(),
        memory::page_write_then_read_round_trips_in_any_run_state(),
        memory::page_read_and_write_misaligned_are_ebadalign(),
        memory::page_read_and_write_take_a_page_buffer_at_any_address(),
        memory::page_read_and_write_outside_or_across_blocks_are_enoraddr(),
        memory::page_read_and_write_unknown_domain_is_einval(),
        vcpus::suspend_and_resume_are_idempotent(),
        vcpus::suspend_and_resume_unknown_domain_are_einval(),
        vcpus::resume_in_error_state_is_ecpuerror(),
        vcpus::vcpu_state_round_trips_while_suspended(),
        vcpus::vcpu_state_get_and_set_bad_vcpu_is_enocpu(),
        vcpus::vcpu_state_get_and_set_while_running_is_ebusy(),
        vcpus::vcpu_state_checks_the_vcpu_before_suspension(),
        vcpus::vcpu_state_get_and_set_unknown_domain_is_einval(),
        vcpus::set_vcpu_state_unloadable_state_is_einval(),
        domains::create_domain_is_bound_suspended_and_empty(),
        domains::create_domain_more_vcpus_than_free_strands_is_etoomany(),
        domains::create_domain_zero_vcpus_is_einval(),
        domains::bind_memory_block_binds_zeroed_memory_in_block_order(),
        domains::bind_memory_block_without_a_contiguous_range_is_enoraddr(),
        domains::bind_memory_block_overlapping_ra_is_einval(),
        domains::bind_memory_block_zero_size_or_unknown_domain_is_einval(),
        domains::bind_memory_block_not_8k_aligned_is_ebadalign(),
        domains::bind_memory_block_checks_in_the_documented_order(),
        domains::destroy_domain_frees_its_strands_and_memory(),
        domains::destroy_domain_unknown_is_einval(),
        vcpus::throttle_accepts_0_to_99(),
        vcpus::throttle_above_99_or_unknown_domain_is_einval(),
        domains::set_domain_state_is_reported_by_domain_info(),
        domains::set_domain_state_unknown_domain_is_einval(),
        domains::crypto_remove_returns_units_to_the_machine(),
        domains::crypto_add_gives_fewer_when_the_machine_lacks_units(),
        domains::crypto_remove_and_add_unknown_domain_are_einval(),
    ]
}

/// Whether the domain is suspended, as the contract lets one see it:
/// `MIG_VCPU_GET_STATE` of vCPU 0 succeeds only while it is (`EBUSY` else).
pub(super) fn is_suspended<H: Hypervisor>(
    hypervisor: &mut H,
    domain: DomainId,
) -> Result<bool, ConformanceFailure> {
    let mut state = AlignedVcpuState::zeroed();
    match hypervisor.vcpu_state(domain, 0, &mut state.0) {
        Ok(()) => Ok(true),
        Err(HvError::Busy) => Ok(false),
        Err(error) => Err(ConformanceFailure {
            check: "MIG_VCPU_GET_STATE of vCPU 0 tells whether the domain is suspended",
            expected: Observed::Status(HvError::Busy),
            actual: Observed::Status(error),
        }),
    }
}

/// `holds(check, suspended == expected)` on the domain's run state.
pub(super) fn suspended_is<H: Hypervisor>(
    check: &'static str,
    hypervisor: &mut H,
    domain: DomainId,
    expected: bool,
) -> CaseResult {
    let actual = is_suspended(hypervisor, domain)?;
    observes(check, Observed::Holds(actual), Observed::Holds(expected))
}

/// A page buffer aligned as the hypervisor wants buffers (8 bytes).
#[repr(C, align(8))]
pub(super) struct AlignedPage(pub(super) [u8; PAGE_SIZE]);

impl AlignedPage {
    pub(super) fn filled(byte: u8) -> Self {
        AlignedPage([byte; PAGE_SIZE])
    }
}

/// Two pages, 8-byte aligned: room for buffers longer than a page at any
/// offset.
#[repr(C, align(8))]
pub(super) struct AlignedPages(pub(super) [u8; 2 * PAGE_SIZE]);

impl AlignedPages {
    pub(super) fn filled(byte: u8) -> Self {
        AlignedPages([byte; 2 * PAGE_SIZE])
    }
}

/// A vCPU state buffer, 8-byte aligned.
#[repr(C, align(8))]
pub(super) struct AlignedVcpuState(pub(super) VcpuState);

impl AlignedVcpuState {
    pub(super) fn zeroed() -> Self {
        AlignedVcpuState(VcpuState::zeroed())
    }
}

/// Words of dirty bitmap a block needs: one bit per page.
pub(super) fn bitmap_words(block: &MemoryBlock) -> usize {
    usize::try_from(block.pages().div_ceil(64)).unwrap_or(usize::MAX)
}
