//! The engines' hypervisor handle in the service domain: the real `Sun4v`
//! (every call a `ta 0x80` from privileged mode), with each call counted
//! per MIGRATION function, the dirty-log syncs summed, and the switchover
//! check run at the one moment the copies of the domain are complete and
//! stopped: before the target's `MIG_DOMAIN_RESUME`, and (a source's
//! digest between two machines) before the source's `MIG_DOMAIN_DESTROY`.
//!
//! It also stages page buffers that lie outside the service domain's
//! memory: a caller's buffer RA must be inside the caller's memory
//! (hv/API.md, "Caller buffers"), and in a real service domain the
//! engine's static data is; here it is in the PROM with the rest of the
//! image (e.g. the engine's `ZERO_PAGE`, which the target writes for a
//! zero page after round 0), so such a buffer is copied through an aligned
//! page on the service stack first.

use crate::call_table::{migration_call_index, MIGRATION_CALLS};
use crate::memory_map::SERVICE_MEMORY;
use crate::pages::AlignedPage;
use crate::switchover_check::SwitchoverCheck;
use core::cell::Cell;
use ldmig::page::PAGE_SIZE;
use ldmig_hv::abi::migration::{self as mig, VcpuState};
use ldmig_hv::hypervisor::{
    DirtyLog, DomainControl, DomainId, DomainInfo, DomainRunState, GuestMemory, MemoryBlock,
    VcpuControl,
};
use ldmig_hv::sun4v::Sun4v;
use ldmig_hv::HvError;

/// What the engines' calls did, shared by both handles.
#[derive(Debug, Default)]
pub struct CallLog {
    /// Calls per MIGRATION function (call_table.rs order).
    pub calls: [Cell<u64>; MIGRATION_CALLS.len()],
    /// `MIG_DIRTY_LOG_SYNC` calls that succeeded.
    pub syncs: Cell<u64>,
    /// Dirty pages the syncs reported, except the first sync after each
    /// `MIG_DIRTY_LOG_START` (which reports every page).
    pub pages_dirtied: Cell<u64>,
    /// Blocks whose first sync after the start is still to come.
    pub fresh_blocks: Cell<u64>,
    /// The domain was suspended (syncs after that still count: they report
    /// what the last round left).
    pub suspended: Cell<bool>,
}

impl CallLog {
    fn count(&self, function: u64) {
        if let Some(index) = migration_call_index(function) {
            self.calls[index].set(self.calls[index].get() + 1);
        }
    }
}

/// Whether `bytes` must be staged: they lie outside the service domain's
/// memory (the image's static data in the PROM) and fit one staging page.
/// A longer buffer goes to the hypervisor as it is (and is refused there:
/// copying it in parts could leave it half done on an error).
fn needs_staging(bytes: &[u8]) -> bool {
    let address = bytes.as_ptr() as u64;
    bytes.len() <= PAGE_SIZE && !SERVICE_MEMORY.contains(address, bytes.len() as u64)
}

/// A `Sun4v` handle that logs the engine's calls.
pub struct ObservedHypervisor<'a> {
    inner: Sun4v,
    log: &'a CallLog,
    check: Option<&'a SwitchoverCheck>,
}

impl<'a> ObservedHypervisor<'a> {
    /// An engine's handle, logging into `log`, running `check` (if any)
    /// before a resume and before a destroy.
    pub fn new(inner: Sun4v, log: &'a CallLog, check: Option<&'a SwitchoverCheck>) -> Self {
        ObservedHypervisor { inner, log, check }
    }

    /// Runs the switchover check's `step` on `domain`, if there is a check.
    fn check_before(&mut self, step: fn(&SwitchoverCheck, &mut Sun4v, DomainId), domain: DomainId) {
        if let Some(check) = self.check {
            step(check, &mut self.inner, domain);
        }
    }
}

impl GuestMemory for ObservedHypervisor<'_> {
    fn domain_info(&mut self, domain: DomainId) -> Result<DomainInfo, HvError> {
        self.log.count(mig::MIG_DOMAIN_INFO);
        self.inner.domain_info(domain)
    }

    fn memory_block(&mut self, domain: DomainId, index: u64) -> Result<MemoryBlock, HvError> {
        self.log.count(mig::MIG_MEMBLOCK_INFO);
        self.inner.memory_block(domain, index)
    }

    fn read_memory(&mut self, domain: DomainId, ra: u64, buffer: &mut [u8]) -> Result<(), HvError> {
        self.log.count(mig::MIG_PAGE_READ);
        if !needs_staging(buffer) {
            return self.inner.read_memory(domain, ra, buffer);
        }
        let mut staged = AlignedPage::zeroed();
        let part = &mut staged.0[..buffer.len()];
        self.inner.read_memory(domain, ra, part)?;
        buffer.copy_from_slice(part);
        Ok(())
    }

    fn write_memory(&mut self, domain: DomainId, ra: u64, data: &[u8]) -> Result<(), HvError> {
        self.log.count(mig::MIG_PAGE_WRITE);
        if !needs_staging(data) {
            return self.inner.write_memory(domain, ra, data);
        }
        let mut staged = AlignedPage::zeroed();
        let part = &mut staged.0[..data.len()];
        part.copy_from_slice(data);
        self.inner.write_memory(domain, ra, part)
    }
}

impl DirtyLog for ObservedHypervisor<'_> {
    fn dirty_log_start(&mut self, domain: DomainId, block: u64) -> Result<(), HvError> {
        self.log.count(mig::MIG_DIRTY_LOG_START);
        self.inner.dirty_log_start(domain, block)?;
        self.log.fresh_blocks.set(self.log.fresh_blocks.get() + 1);
        Ok(())
    }

    fn dirty_log_sync(
        &mut self,
        domain: DomainId,
        block: u64,
        bitmap: &mut [u64],
    ) -> Result<u64, HvError> {
        self.log.count(mig::MIG_DIRTY_LOG_SYNC);
        let dirty = self.inner.dirty_log_sync(domain, block, bitmap)?;
        self.log.syncs.set(self.log.syncs.get() + 1);
        if self.log.fresh_blocks.get() > 0 {
            self.log.fresh_blocks.set(self.log.fresh_blocks.get() - 1);
        } else {
            self.log
                .pages_dirtied
                .set(self.log.pages_dirtied.get() + dirty);
        }
        Ok(dirty)
    }

    fn dirty_log_stop(&mut self, domain: DomainId, block: u64) -> Result<(), HvError> {
        self.log.count(mig::MIG_DIRTY_LOG_STOP);
        self.inner.dirty_log_stop(domain, block)
    }
}

impl VcpuControl for ObservedHypervisor<'_> {
    fn suspend(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.log.count(mig::MIG_DOMAIN_SUSPEND);
        self.inner.suspend(domain)?;
        self.log.suspended.set(true);
        Ok(())
    }

    fn resume(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.check_before(SwitchoverCheck::before_resume, domain);
        self.log.count(mig::MIG_DOMAIN_RESUME);
        self.inner.resume(domain)
    }

    fn throttle(&mut self, domain: DomainId, percent: u8) -> Result<(), HvError> {
        self.log.count(mig::MIG_VCPU_THROTTLE);
        self.inner.throttle(domain, percent)
    }

    fn vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &mut VcpuState,
    ) -> Result<(), HvError> {
        self.log.count(mig::MIG_VCPU_GET_STATE);
        self.inner.vcpu_state(domain, vcpu, state)
    }

    fn set_vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &VcpuState,
    ) -> Result<(), HvError> {
        self.log.count(mig::MIG_VCPU_SET_STATE);
        self.inner.set_vcpu_state(domain, vcpu, state)
    }
}

impl DomainControl for ObservedHypervisor<'_> {
    fn create_domain(&mut self, vcpus: u64) -> Result<DomainId, HvError> {
        self.log.count(mig::MIG_DOMAIN_CREATE);
        self.inner.create_domain(vcpus)
    }

    fn bind_memory_block(&mut self, domain: DomainId, ra: u64, size: u64) -> Result<u64, HvError> {
        self.log.count(mig::MIG_MEMBLOCK_BIND);
        self.inner.bind_memory_block(domain, ra, size)
    }

    fn destroy_domain(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.check_before(SwitchoverCheck::before_destroy, domain);
        self.log.count(mig::MIG_DOMAIN_DESTROY);
        self.inner.destroy_domain(domain)
    }

    fn set_domain_state(&mut self, domain: DomainId, state: DomainRunState) -> Result<(), HvError> {
        self.log.count(mig::MIG_DOMAIN_SET_STATE);
        self.inner.set_domain_state(domain, state)
    }

    fn remove_crypto_units(&mut self, domain: DomainId) -> Result<u64, HvError> {
        self.log.count(mig::MIG_CRYPTO_REMOVE);
        self.inner.remove_crypto_units(domain)
    }

    fn add_crypto_units(&mut self, domain: DomainId, count: u64) -> Result<u64, HvError> {
        self.log.count(mig::MIG_CRYPTO_ADD);
        self.inner.add_crypto_units(domain, count)
    }
}
