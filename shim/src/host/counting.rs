//! A hypervisor wrapper that counts the calls that change a domain's
//! memory (to prove the source engine never writes the source domain),
//! can look at a domain just before it is destroyed (its final state), and
//! can play a machine out of memory (a test hook: with its switch on,
//! creating a domain, binding memory, writing pages and vCPU state and
//! resuming fail with `ETOOMANY`).

use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::hypervisor::*;
use ldmig_hv::HvError;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Called with a domain's id just before the hypervisor destroys it.
pub type DestroyHook = Arc<dyn Fn(DomainId) + Send + Sync>;

/// Forwards every call to `inner`; counts memory writes and vCPU-state loads.
#[derive(Clone)]
pub struct CountingHv<H> {
    inner: H,
    writes: Arc<AtomicU64>,
    before_destroy: Option<DestroyHook>,
    out_of_memory: Option<Arc<AtomicBool>>,
}

impl<H> CountingHv<H> {
    /// Wraps `inner`.
    pub fn new(inner: H) -> Self {
        CountingHv {
            inner,
            writes: Arc::new(AtomicU64::new(0)),
            before_destroy: None,
            out_of_memory: None,
        }
    }

    /// While `switch` is on, the calls that need memory fail (`ETOOMANY`).
    pub fn with_out_of_memory_switch(mut self, switch: Arc<AtomicBool>) -> Self {
        self.out_of_memory = Some(switch);
        self
    }

    fn allocate(&self) -> Result<(), HvError> {
        match &self.out_of_memory {
            Some(switch) if switch.load(Ordering::SeqCst) => Err(HvError::TooMany),
            _ => Ok(()),
        }
    }

    /// Runs `hook` before every `destroy_domain`.
    pub fn with_destroy_hook(mut self, hook: DestroyHook) -> Self {
        self.before_destroy = Some(hook);
        self
    }

    /// A shared counter of `write_memory` and `set_vcpu_state` calls.
    pub fn writes(&self) -> Arc<AtomicU64> {
        self.writes.clone()
    }
}

impl<H: GuestMemory> GuestMemory for CountingHv<H> {
    fn domain_info(&mut self, domain: DomainId) -> Result<DomainInfo, HvError> {
        self.inner.domain_info(domain)
    }
    fn memory_block(&mut self, domain: DomainId, index: u64) -> Result<MemoryBlock, HvError> {
        self.inner.memory_block(domain, index)
    }
    fn read_memory(&mut self, domain: DomainId, ra: u64, buffer: &mut [u8]) -> Result<(), HvError> {
        self.inner.read_memory(domain, ra, buffer)
    }
    fn write_memory(&mut self, domain: DomainId, ra: u64, data: &[u8]) -> Result<(), HvError> {
        self.allocate()?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.write_memory(domain, ra, data)
    }
}

ldmig_hv::forward_dirty_log!(impl[H: DirtyLog] for CountingHv<H> => .inner);

impl<H: VcpuControl> VcpuControl for CountingHv<H> {
    fn suspend(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.inner.suspend(domain)
    }
    fn resume(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.allocate()?;
        self.inner.resume(domain)
    }
    fn throttle(&mut self, domain: DomainId, percent: u8) -> Result<(), HvError> {
        self.inner.throttle(domain, percent)
    }
    fn vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &mut VcpuState,
    ) -> Result<(), HvError> {
        self.inner.vcpu_state(domain, vcpu, state)
    }
    fn set_vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &VcpuState,
    ) -> Result<(), HvError> {
        self.allocate()?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.set_vcpu_state(domain, vcpu, state)
    }
}

impl<H: DomainControl> DomainControl for CountingHv<H> {
    fn create_domain(&mut self, vcpus: u64) -> Result<DomainId, HvError> {
        self.allocate()?;
        self.inner.create_domain(vcpus)
    }
    fn bind_memory_block(&mut self, domain: DomainId, ra: u64, size: u64) -> Result<u64, HvError> {
        self.allocate()?;
        self.inner.bind_memory_block(domain, ra, size)
    }
    fn destroy_domain(&mut self, domain: DomainId) -> Result<(), HvError> {
        if let Some(hook) = &self.before_destroy {
            hook(domain);
        }
        self.inner.destroy_domain(domain)
    }
    fn set_domain_state(&mut self, domain: DomainId, state: DomainRunState) -> Result<(), HvError> {
        self.inner.set_domain_state(domain, state)
    }
    fn remove_crypto_units(&mut self, domain: DomainId) -> Result<u64, HvError> {
        self.inner.remove_crypto_units(domain)
    }
    fn add_crypto_units(&mut self, domain: DomainId, count: u64) -> Result<u64, HvError> {
        self.inner.add_crypto_units(domain, count)
    }
}
