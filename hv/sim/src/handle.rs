//! A shareable handle to a simulated machine: the engine, the workload and
//! the test harness can each hold one (and threads can too).
//!
//! Every hypervisor call through the handle takes the lock once, so a call is
//! atomic with respect to the guest's own writes, as on real hardware.

use super::machine::Machine;
use std::sync::{Arc, Mutex, MutexGuard};

/// A cloneable, thread-safe handle to one [`Machine`].
#[derive(Clone, Debug)]
pub struct MachineHandle(pub Arc<Mutex<Machine>>);

impl MachineHandle {
    /// Wraps `machine` in a new handle.
    pub fn new(machine: Machine) -> Self {
        MachineHandle(Arc::new(Mutex::new(machine)))
    }

    /// Locks the machine. A lock poisoned by a panicking holder is recovered:
    /// the machine's state is still consistent between calls.
    pub fn lock(&self) -> MutexGuard<'_, Machine> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

ldmig_hv::forward_hypervisor!(impl[] for MachineHandle => .lock());

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::{BlockSpec, DomainSpec, PhysRange};
    use ldmig_hv::abi::migration::VcpuState;
    use ldmig_hv::hypervisor::{DomainId, DomainRunState, GuestMemory, Hypervisor};
    use ldmig_hv::HvError;

    fn handle() -> (MachineHandle, DomainId) {
        let mut machine = Machine::new(
            "t5-a",
            vec![PhysRange {
                pa: 0,
                size: 1 << 20,
            }],
            4,
            1,
        );
        let domain = machine
            .add_domain(DomainSpec {
                name: "ldg1".to_string(),
                vcpus: 1,
                blocks: vec![BlockSpec {
                    ra: 0,
                    size: 1 << 16,
                    pa: None,
                }],
                crypto_units: 1,
                active: true,
            })
            .expect("fits");
        (MachineHandle::new(machine), domain)
    }

    /// Drives every call through the generic `Hypervisor` bound, as the engine does.
    fn exercise(hypervisor: &mut impl Hypervisor, domain: DomainId) -> Result<(), HvError> {
        assert_eq!(hypervisor.domain_info(domain)?.memory_blocks, 1);
        assert_eq!(hypervisor.memory_block(domain, 0)?.size, 1 << 16);
        hypervisor.write_memory(domain, 8, &[4; 8])?;
        let mut buffer = [0u8; 8];
        hypervisor.read_memory(domain, 8, &mut buffer)?;
        assert_eq!(buffer, [4; 8]);
        hypervisor.dirty_log_start(domain, 0)?;
        let mut bitmap = [0u64; 1];
        assert_eq!(hypervisor.dirty_log_sync(domain, 0, &mut bitmap)?, 8);
        hypervisor.dirty_log_stop(domain, 0)?;
        hypervisor.throttle(domain, 10)?;
        hypervisor.suspend(domain)?;
        let mut state = VcpuState::zeroed();
        hypervisor.vcpu_state(domain, 0, &mut state)?;
        hypervisor.set_vcpu_state(domain, 0, &state)?;
        hypervisor.resume(domain)?;
        assert_eq!(hypervisor.remove_crypto_units(domain)?, 1);
        assert_eq!(hypervisor.add_crypto_units(domain, 1)?, 1);
        hypervisor.set_domain_state(domain, DomainRunState::Migrating)?;
        let created = hypervisor.create_domain(2)?;
        hypervisor.bind_memory_block(created, 0, 1 << 16)?;
        hypervisor.destroy_domain(created)?;
        Ok(())
    }

    #[test]
    fn handle_forwards_every_call_to_the_shared_machine() {
        let (handle, domain) = handle();
        let mut engine_side = handle.clone();
        exercise(&mut engine_side, domain).expect("every call succeeds");
        let machine = handle.lock();
        assert_eq!(machine.call_count(), 18);
        assert_eq!(machine.throttle_percent(domain), 10);
        assert_eq!(machine.run_state(domain), Some(DomainRunState::Migrating));
        assert_eq!(machine.domains(), vec![domain]);
    }

    #[test]
    fn handle_recovers_a_poisoned_lock() {
        let (handle, domain) = handle();
        // `resume_unwind` unwinds without the panic hook (no message, no
        // backtrace: slow under qemu) but still poisons the held lock.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = handle.lock();
            std::panic::resume_unwind(Box::new("poison the lock on purpose"));
        }));
        assert!(result.is_err());
        assert!(handle.0.is_poisoned());
        let mut handle = handle;
        assert_eq!(handle.domain_info(domain).map(|info| info.vcpus), Ok(1));
    }
}
