//! The MIGRATION group (hv/API.md) over partition RAM: one method per call,
//! with the checks in the order hv/API.md gives them and its error codes,
//! as the simulated machine (hv/sim/src/machine/calls.rs) implements them.
//! Dispatched by name (`ldmig_hv::abi::migration::MIG_*`) in calls.rs.
//!
//! Two limits of this hypervisor beyond hv/API.md: at most
//! [`MAX_BLOCKS`](super::domain::MAX_BLOCKS) blocks per domain (a further
//! `MIG_MEMBLOCK_BIND` is `EINVAL`), and a vCPU whose state
//! `MIG_VCPU_SET_STATE` loaded at TL > 0 or GL > 0 is not scheduled (the
//! load itself is accepted, as hv/API.md says; this hypervisor stops and
//! enters vCPUs at a hypercall, TL 0 and GL 0, only: domain.rs).

use super::caller::{copy_physical, write_physical_word, zero_physical, Caller};
use super::domain::{BlockMapping, Domain, DomainKind, MAX_BLOCKS, PAGE_BYTES};
use super::Machine;
use crate::hypervisor::caller::BUFFER_ALIGNMENT;
use ldmig_hv::abi::error::{EBADALIGN, EBUSY, ECPUERROR, EINVAL, ENOCPU, ENORADDR, ETOOMANY};
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::{DomainId, DomainRunState};

/// RET1-RET4 of a successful call, or its error status.
pub type Outcome = Result<[u64; 4], u64>;

/// Highest `MIG_VCPU_THROTTLE` percentage.
const MAX_THROTTLE_PERCENT: u64 = 99;

fn returns(ret1: u64) -> Outcome {
    Ok([ret1, 0, 0, 0])
}

impl Machine {
    fn known(&self, domain: DomainId) -> Result<&Domain, u64> {
        self.domain(domain).ok_or(EINVAL)
    }

    fn known_mut(&mut self, domain: DomainId) -> Result<&mut Domain, u64> {
        self.domain_mut(domain).ok_or(EINVAL)
    }

    /// `MIG_DOMAIN_INFO`: RET1 vCPUs, RET2 blocks, RET3 run state.
    pub fn mig_domain_info(&self, domain: DomainId) -> Outcome {
        let entry = self.known(domain)?;
        Ok([
            entry.vcpu_count as u64,
            entry.blocks.len() as u64,
            entry.run_state.raw(),
            0,
        ])
    }

    /// `MIG_MEMBLOCK_INFO`: RET1 RA, RET2 size.
    pub fn mig_memblock_info(&self, domain: DomainId, index: u64) -> Outcome {
        let block = self
            .known(domain)?
            .blocks
            .get(index as usize)
            .ok_or(EINVAL)?;
        Ok([block.ra, block.size, 0, 0])
    }

    /// `MIG_DIRTY_LOG_START`: logging on, every page dirty.
    pub fn mig_dirty_log_start(&mut self, domain: DomainId, index: u64) -> Outcome {
        let block = self
            .known_mut(domain)?
            .blocks
            .get_mut(index as usize)
            .ok_or(EINVAL)?;
        block.logging = true;
        block.mark_all_dirty();
        returns(0)
    }

    /// `MIG_DIRTY_LOG_SYNC`: copies the dirty bits into the caller's
    /// bitmap and clears them; RET1 the pages that were dirty. The guest
    /// does not run during the call, so it is atomic with respect to its
    /// stores; the D-TLB is dropped after it so that every page is
    /// write-protected again on its next use (mmu.rs).
    pub fn mig_dirty_log_sync(&mut self, caller: Caller, args: [u64; 5]) -> Outcome {
        let [domain, index, bitmap_ra, bitmap_bytes, _] = args;
        self.known(domain)?;
        let bitmap = self.caller_buffer(caller, bitmap_ra, bitmap_bytes)?;
        let block = self
            .known_mut(domain)?
            .blocks
            .get_mut(index as usize)
            .ok_or(EINVAL)?;
        let words = block.words();
        if !block.logging || bitmap_bytes < words as u64 * 8 {
            return Err(EINVAL);
        }
        let mut dirty_pages = 0;
        for (word_index, word) in block.dirty[..words].iter_mut().enumerate() {
            dirty_pages += u64::from(word.count_ones());
            // `bitmap` is the caller's checked, 8-aligned buffer of
            // `bitmap_bytes` bytes, and word_index < words <= bytes / 8.
            // SAFETY: the caller's vCPU is stopped in this trap.
            unsafe { write_physical_word(bitmap + word_index as u64 * 8, *word) };
            *word = 0;
        }
        // Words past the needed ones are set to 0 (hv/API.md).
        // SAFETY: as above, the rest of the same checked buffer.
        unsafe { zero_physical(bitmap + words as u64 * 8, bitmap_bytes - words as u64 * 8) };
        self.drop_dtlb_of(domain);
        returns(dirty_pages)
    }

    /// `MIG_DIRTY_LOG_STOP`: logging off, dirty bits forgotten.
    pub fn mig_dirty_log_stop(&mut self, domain: DomainId, index: u64) -> Outcome {
        let block = self
            .known_mut(domain)?
            .blocks
            .get_mut(index as usize)
            .ok_or(EINVAL)?;
        if !block.logging {
            return Err(EINVAL);
        }
        block.logging = false;
        block.dirty.fill(0);
        returns(0)
    }

    /// `MIG_PAGE_READ` (`to_guest` false) / `MIG_PAGE_WRITE` (true): ARG0
    /// domain, ARG1 guest RA, ARG2 buffer RA, ARG3 length; RET1 the bytes
    /// copied. A write by the hypervisor marks nothing dirty.
    pub fn mig_page_copy(&mut self, caller: Caller, args: [u64; 5], to_guest: bool) -> Outcome {
        let [domain, guest_ra, buffer_ra, length, _] = args;
        let entry = self.known(domain)?;
        if !guest_ra.is_multiple_of(BUFFER_ALIGNMENT) {
            return Err(EBADALIGN);
        }
        let buffer = self.caller_buffer(caller, buffer_ra, length)?;
        if length == 0 {
            // Nothing to copy: success after the domain and alignment
            // checks (hv/API.md).
            return returns(0);
        }
        let (_, guest) = entry.block_of(guest_ra, length).ok_or(ENORADDR)?;
        let (from, to) = if to_guest {
            (buffer, guest)
        } else {
            (guest, buffer)
        };
        // `guest` lies inside one of the domain's blocks of partition RAM
        // and `buffer` inside the caller's memory, both checked above.
        // SAFETY: the caller is stopped in its trap; guest memory is never
        // borrowed by Rust code.
        unsafe { copy_physical(from, to, length) };
        returns(length)
    }

    /// `MIG_DOMAIN_SUSPEND`: none of the domain's vCPUs runs any more.
    /// They are stopped already (a vCPU leaves the strand only in a
    /// hypercall, at an instruction boundary); they are no longer chosen.
    pub fn mig_domain_suspend(&mut self, domain: DomainId) -> Outcome {
        self.known_mut(domain)?.suspended = true;
        returns(0)
    }

    /// `MIG_DOMAIN_RESUME`: `ECPUERROR` in the error state.
    pub fn mig_domain_resume(&mut self, domain: DomainId) -> Outcome {
        let entry = self.known_mut(domain)?;
        if entry.run_state == DomainRunState::Error {
            return Err(ECPUERROR);
        }
        entry.suspended = false;
        returns(0)
    }

    /// Checks for the two vCPU-state calls: domain, buffer, length, vCPU,
    /// suspended (hv/API.md order); the buffer's physical address.
    fn vcpu_call(&self, caller: Caller, args: [u64; 5]) -> Result<(usize, u64), u64> {
        let [domain, vcpu, buffer_ra, length, _] = args;
        self.known(domain)?;
        let buffer = self.caller_buffer(caller, buffer_ra, length)?;
        if length < VcpuState::BYTES as u64 {
            return Err(EINVAL);
        }
        let entry = self.known(domain)?;
        let index = usize::try_from(vcpu)
            .ok()
            .filter(|&index| index < entry.vcpu_count)
            .ok_or(ENOCPU)?;
        if !entry.suspended {
            return Err(EBUSY);
        }
        Ok((index, buffer))
    }

    /// `MIG_VCPU_GET_STATE`: the registers this hypervisor saved when the
    /// vCPU last left the strand.
    pub fn mig_vcpu_get_state(&mut self, caller: Caller, args: [u64; 5]) -> Outcome {
        let (index, buffer) = self.vcpu_call(caller, args)?;
        let entry = self.known(args[0])?;
        let state: *const VcpuState = &entry.vcpus[index];
        // `buffer` holds at least VcpuState::BYTES (checked); the state is
        // hypervisor memory no other reference uses during the call.
        // SAFETY: the caller is stopped in its trap.
        unsafe { copy_physical(state as u64, buffer, VcpuState::BYTES as u64) };
        returns(0)
    }

    /// `MIG_VCPU_SET_STATE`: loaded into the vCPU's save area; it runs
    /// from there at the next resume.
    pub fn mig_vcpu_set_state(&mut self, caller: Caller, args: [u64; 5]) -> Outcome {
        let (index, buffer) = self.vcpu_call(caller, args)?;
        let mut state = VcpuState::zeroed();
        let target: *mut VcpuState = &mut state;
        // `buffer` holds at least VcpuState::BYTES (checked); `state` is
        // a local.
        // SAFETY: the caller is stopped in its trap.
        unsafe { copy_physical(buffer, target as u64, VcpuState::BYTES as u64) };
        if !state.loadable_into(args[1]) {
            return Err(EINVAL);
        }
        self.known_mut(args[0])?.vcpus[index] = state;
        returns(0)
    }

    /// `MIG_DOMAIN_CREATE`: a suspended guest domain with `vcpus` stopped
    /// vCPUs and no memory; RET1 its number. `ETOOMANY` also when all
    /// [`MAX_DOMAINS`](super::MAX_DOMAINS) slots hold live domains.
    pub fn mig_domain_create(&mut self, vcpus: u64) -> Outcome {
        if vcpus == 0 {
            return Err(EINVAL);
        }
        if vcpus > self.free_strands {
            return Err(ETOOMANY);
        }
        let id = self
            .create_domain("target", DomainKind::Guest, vcpus as usize)
            .ok_or(ETOOMANY)?;
        returns(id)
    }

    /// `MIG_MEMBLOCK_BIND`: one contiguous free range, first fit, zeroed;
    /// RET1 its physical address.
    pub fn mig_memblock_bind(&mut self, domain: DomainId, ra: u64, size: u64) -> Outcome {
        let entry = self.known(domain)?;
        if size == 0 {
            return Err(EINVAL);
        }
        if !ra.is_multiple_of(PAGE_BYTES) || !size.is_multiple_of(PAGE_BYTES) {
            return Err(EBADALIGN);
        }
        let wraps = ra.checked_add(size).is_none();
        if wraps || entry.blocks.iter().any(|block| block.overlaps(ra, size)) {
            return Err(EINVAL);
        }
        if entry.blocks.len() == MAX_BLOCKS {
            return Err(EINVAL);
        }
        let pa = self.free_memory.take_first_fit(size).ok_or(ENORADDR)?;
        // [pa, pa + size) was free partition RAM, now this block's.
        // SAFETY: no domain and no Rust reference uses it.
        unsafe { zero_physical(pa, size) };
        let block = BlockMapping::new(ra, size, pa);
        // Cannot fail: the block count was checked above.
        let _ = self.known_mut(domain)?.blocks.push(block);
        returns(pa)
    }

    /// `MIG_DOMAIN_DESTROY`: memory, strands and crypto units back to the
    /// machine. The service domain cannot be destroyed (`EINVAL`).
    pub fn mig_domain_destroy(&mut self, domain: DomainId) -> Outcome {
        if self.known(domain)?.kind == DomainKind::Service {
            return Err(EINVAL);
        }
        if !self.destroy_domain(domain) {
            return Err(EINVAL);
        }
        returns(0)
    }

    /// `MIG_VCPU_THROTTLE`: 0-99 percent of the vCPUs' slices given up.
    pub fn mig_vcpu_throttle(&mut self, domain: DomainId, percent: u64) -> Outcome {
        let entry = self.known_mut(domain)?;
        if percent > MAX_THROTTLE_PERCENT {
            return Err(EINVAL);
        }
        entry.throttle_percent = percent as u8;
        returns(0)
    }

    /// `MIG_CRYPTO_REMOVE`: RET1 the units removed, back to the machine.
    pub fn mig_crypto_remove(&mut self, domain: DomainId) -> Outcome {
        let removed = core::mem::take(&mut self.known_mut(domain)?.crypto_units);
        self.free_crypto_units += removed;
        returns(removed)
    }

    /// `MIG_CRYPTO_ADD`: RET1 the units added, `min(count, free)`.
    pub fn mig_crypto_add(&mut self, domain: DomainId, count: u64) -> Outcome {
        let added = count.min(self.free_crypto_units);
        self.known_mut(domain)?.crypto_units += added;
        self.free_crypto_units -= added;
        returns(added)
    }

    /// `MIG_DOMAIN_SET_STATE`: ERROR also suspends.
    pub fn mig_domain_set_state(&mut self, domain: DomainId, state: u64) -> Outcome {
        let entry = self.known_mut(domain)?;
        let state = DomainRunState::from_raw(state).ok_or(EINVAL)?;
        entry.run_state = state;
        if state == DomainRunState::Error {
            entry.suspended = true;
        }
        returns(0)
    }
}
