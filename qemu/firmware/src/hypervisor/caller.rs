//! Who made a hypervisor call, and the memory its "buffer RA" arguments
//! may name (hv/API.md, "Caller buffers"): the hypervisor's own boot code
//! (its self-test traps with `ta 0x80` too) names physical addresses in
//! hypervisor RAM or the PROM; a domain names real addresses inside its
//! memory blocks, which the hypervisor translates. Plus the raw copies
//! between physical ranges that the calls then do.

use super::Machine;
use crate::memory_map::HYPERVISOR_CALLER_MEMORY;
use ldmig_hv::abi::error::{EBADALIGN, ENORADDR};
use ldmig_hv::hypervisor::DomainId;

/// Alignment of every buffer RA and length of the MIGRATION group.
pub const BUFFER_ALIGNMENT: u64 = 8;

/// The caller of a hypervisor call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Hyperprivileged code: this firmware's own boot-time self-test.
    Hypervisor,
    /// A privileged context: the vCPU of this domain that trapped.
    Domain(DomainId),
}

impl Machine {
    /// The physical address of the caller's buffer `[ra, ra + length)`:
    /// `EBADALIGN` if `ra` or `length` is not a multiple of 8, `ENORADDR`
    /// if it is not inside the caller's memory.
    pub fn caller_buffer(&self, caller: Caller, ra: u64, length: u64) -> Result<u64, u64> {
        if !ra.is_multiple_of(BUFFER_ALIGNMENT) || !length.is_multiple_of(BUFFER_ALIGNMENT) {
            return Err(EBADALIGN);
        }
        self.caller_bytes(caller, ra, length)
    }

    /// As [`Self::caller_buffer`] without the alignment rule (the console
    /// calls take any bytes). An empty buffer is inside any memory: no byte
    /// of it is touched.
    pub fn caller_bytes(&self, caller: Caller, ra: u64, length: u64) -> Result<u64, u64> {
        if length == 0 {
            return Ok(ra);
        }
        match caller {
            Caller::Hypervisor => HYPERVISOR_CALLER_MEMORY
                .iter()
                .any(|range| range.contains(ra, length))
                .then_some(ra)
                .ok_or(ENORADDR),
            Caller::Domain(id) => self
                .domain(id)
                .and_then(|domain| domain.block_of(ra, length))
                .map(|(_, pa)| pa)
                .ok_or(ENORADDR),
        }
    }
}

/// Copies `length` bytes between physical ranges.
///
/// # Safety
/// Both ranges must be memory the hypervisor manages (a domain's block, a
/// caller's checked buffer, hypervisor RAM), `length` bytes long, and no
/// Rust reference may use them while the copy runs (a calling vCPU is
/// stopped in its trap; guest memory is never borrowed by Rust code).
pub unsafe fn copy_physical(from: u64, to: u64, length: u64) {
    // SAFETY: the caller vouches for both ranges (above); the
    // hyperprivileged code runs untranslated, so these are the bytes.
    unsafe { core::ptr::copy(from as *const u8, to as *mut u8, length as usize) }
}

/// Fills `length` bytes at physical `to` with zeros.
///
/// # Safety
/// As for [`copy_physical`].
pub unsafe fn zero_physical(to: u64, length: u64) {
    // SAFETY: as for copy_physical.
    unsafe { core::ptr::write_bytes(to as *mut u8, 0, length as usize) }
}

/// Reads the 64-bit word at physical `from` (8-byte aligned).
///
/// # Safety
/// As for [`copy_physical`], for 8 bytes.
pub unsafe fn read_physical_word(from: u64) -> u64 {
    // SAFETY: as for copy_physical; the caller checked the alignment.
    unsafe { core::ptr::read_volatile(from as *const u64) }
}

/// Writes the 64-bit word at physical `to` (8-byte aligned).
///
/// # Safety
/// As for [`copy_physical`], for 8 bytes.
pub unsafe fn write_physical_word(to: u64, value: u64) {
    // SAFETY: as for copy_physical; the caller checked the alignment.
    unsafe { core::ptr::write_volatile(to as *mut u64, value) }
}
