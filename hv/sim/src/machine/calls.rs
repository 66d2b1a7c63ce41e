//! The MIGRATION group's hypervisor calls on the simulated machine: the
//! [`ldmig_hv::hypervisor`] traits for [`Machine`].
//!
//! Each method is one call of `hv/API.md` (the MIGRATION section), with the
//! same checks in the same order and the same status codes, so that the
//! engine meets here exactly what firmware gives it. Every call counts in
//! [`Machine::call_count`], whether it succeeds or not.

use super::{Domain, Machine};
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::abi::mmu::PAGE_SIZE;
use ldmig_hv::hypervisor::{
    DirtyLog, DomainControl, DomainId, DomainInfo, DomainRunState, GuestMemory, MemoryBlock,
    VcpuControl,
};
use ldmig_hv::HvError;

/// Alignment of `MIG_PAGE_READ` / `MIG_PAGE_WRITE` addresses and lengths.
const COPY_ALIGNMENT: u64 = 8;
/// Highest throttle `MIG_VCPU_THROTTLE` accepts.
const MAX_THROTTLE_PERCENT: u8 = 99;

impl Machine {
    /// Counts one call and returns the domain, `EINVAL` if unknown.
    fn called(&mut self, domain: DomainId) -> Result<&mut Domain, HvError> {
        self.calls += 1;
        self.domains.get_mut(&domain).ok_or(HvError::Invalid)
    }
}

/// Checks a `MIG_PAGE_READ`/`MIG_PAGE_WRITE` range and finds its block:
/// `EBADALIGN` if `ra` or the length is not a multiple of 8, or if the
/// buffer is longer than a page and its address is not (the real
/// implementation copies shorter ones through an aligned page, so their
/// address does not matter); `ENORADDR` if the range is not inside one
/// block.
fn copy_range(entry: &Domain, ra: u64, buffer: &[u8]) -> Result<(usize, u64), HvError> {
    let length = buffer.len() as u64;
    let buffer_aligned = buffer.as_ptr().addr().is_multiple_of(8);
    if !(ra | length).is_multiple_of(COPY_ALIGNMENT)
        || (!buffer_aligned && buffer.len() > PAGE_SIZE)
    {
        return Err(HvError::BadAlignment);
    }
    entry.block_of(ra, length)
}

/// Checks that a vCPU exists (`ENOCPU`) and that the domain is suspended
/// (`EBUSY`); returns its index.
fn suspended_vcpu(entry: &Domain, vcpu: u64) -> Result<usize, HvError> {
    let index = usize::try_from(vcpu)
        .ok()
        .filter(|&index| index < entry.vcpus.len())
        .ok_or(HvError::NoCpu)?;
    if !entry.suspended {
        return Err(HvError::Busy);
    }
    Ok(index)
}

impl GuestMemory for Machine {
    fn domain_info(&mut self, domain: DomainId) -> Result<DomainInfo, HvError> {
        let entry = self.called(domain)?;
        Ok(DomainInfo {
            vcpus: entry.vcpus.len() as u64,
            memory_blocks: entry.blocks.len() as u64,
            state: entry.run_state,
        })
    }

    fn memory_block(&mut self, domain: DomainId, index: u64) -> Result<MemoryBlock, HvError> {
        let entry = self.called(domain)?;
        Ok(entry.block_mut(index)?.block)
    }

    fn read_memory(&mut self, domain: DomainId, ra: u64, buffer: &mut [u8]) -> Result<(), HvError> {
        let entry = self.called(domain)?;
        let (index, offset) = copy_range(entry, ra, buffer)?;
        entry.blocks[index].read(offset, buffer);
        Ok(())
    }

    fn write_memory(&mut self, domain: DomainId, ra: u64, data: &[u8]) -> Result<(), HvError> {
        let entry = self.called(domain)?;
        let (index, offset) = copy_range(entry, ra, data)?;
        entry.blocks[index].write(offset, data);
        Ok(())
    }
}

impl DirtyLog for Machine {
    fn dirty_log_start(&mut self, domain: DomainId, block: u64) -> Result<(), HvError> {
        self.called(domain)?.block_mut(block)?.dirty_log_start();
        Ok(())
    }

    fn dirty_log_sync(
        &mut self,
        domain: DomainId,
        block: u64,
        bitmap: &mut [u64],
    ) -> Result<u64, HvError> {
        self.called(domain)?
            .block_mut(block)?
            .dirty_log_sync(bitmap)
    }

    fn dirty_log_stop(&mut self, domain: DomainId, block: u64) -> Result<(), HvError> {
        self.called(domain)?.block_mut(block)?.dirty_log_stop()
    }
}

impl VcpuControl for Machine {
    fn suspend(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.called(domain)?.suspended = true;
        Ok(())
    }

    fn resume(&mut self, domain: DomainId) -> Result<(), HvError> {
        let entry = self.called(domain)?;
        if entry.run_state == DomainRunState::Error {
            return Err(HvError::CpuError);
        }
        entry.suspended = false;
        Ok(())
    }

    fn throttle(&mut self, domain: DomainId, percent: u8) -> Result<(), HvError> {
        let entry = self.called(domain)?;
        if percent > MAX_THROTTLE_PERCENT {
            return Err(HvError::Invalid);
        }
        entry.throttle_percent = percent;
        Ok(())
    }

    fn vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &mut VcpuState,
    ) -> Result<(), HvError> {
        let entry = self.called(domain)?;
        let index = suspended_vcpu(entry, vcpu)?;
        *state = entry.vcpus[index];
        Ok(())
    }

    fn set_vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &VcpuState,
    ) -> Result<(), HvError> {
        let entry = self.called(domain)?;
        let index = suspended_vcpu(entry, vcpu)?;
        if !state.loadable_into(vcpu) {
            return Err(HvError::Invalid);
        }
        entry.vcpus[index] = *state;
        Ok(())
    }
}

impl DomainControl for Machine {
    fn create_domain(&mut self, vcpus: u64) -> Result<DomainId, HvError> {
        self.calls += 1;
        let name = self.unused_name(self.next_domain_id);
        self.create(name, vcpus, false)
            .map_err(|error| error.hv_error())
    }

    fn bind_memory_block(&mut self, domain: DomainId, ra: u64, size: u64) -> Result<u64, HvError> {
        self.calls += 1;
        self.bind(domain, ra, size, None)
            .map_err(|error| error.hv_error())
    }

    fn destroy_domain(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.calls += 1;
        if self.destroy(domain) {
            Ok(())
        } else {
            Err(HvError::Invalid)
        }
    }

    fn set_domain_state(&mut self, domain: DomainId, state: DomainRunState) -> Result<(), HvError> {
        let entry = self.called(domain)?;
        entry.run_state = state;
        if state == DomainRunState::Error {
            entry.suspended = true;
        }
        Ok(())
    }

    fn remove_crypto_units(&mut self, domain: DomainId) -> Result<u64, HvError> {
        let entry = self.called(domain)?;
        let removed = core::mem::take(&mut entry.crypto_units);
        self.free_crypto_units += removed;
        Ok(removed)
    }

    fn add_crypto_units(&mut self, domain: DomainId, count: u64) -> Result<u64, HvError> {
        let free = self.free_crypto_units;
        let entry = self.called(domain)?;
        let added = count.min(free);
        entry.crypto_units += added;
        self.free_crypto_units -= added;
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    //! What the conformance suite (`ldmig_hv::conformance`, run by
    //! `conformance_tests`) cannot see through the traits: the guest's own
    //! stores, the machine's free lists, names and call counting.

    use super::super::test_machine::{machine_with_domain, MIB, PAGE, RA};
    use super::super::PhysRange;
    use super::*;

    const UNKNOWN: DomainId = 77;

    #[test]
    fn dirty_log_records_guest_writes_only_in_logging_blocks() {
        let (mut machine, domain) = machine_with_domain();
        let mut bitmap = [0u64; 2];
        machine.dirty_log_start(domain, 0).expect("block 0 exists");
        machine
            .dirty_log_sync(domain, 0, &mut bitmap)
            .expect("logging");
        machine
            .guest_write(domain, RA + 3 * PAGE + 100, &[1; 10])
            .expect("inside block 0");
        machine
            .guest_write(domain, RA + 65 * PAGE - 4, &[2; 8])
            .expect("inside block 0, pages 64 and 65");
        machine
            .guest_write(domain, RA + MIB, &[3; 8])
            .expect("block 1, not logging");
        assert_eq!(machine.dirty_log_sync(domain, 0, &mut bitmap), Ok(3));
        assert_eq!(bitmap, [1 << 3, 0b11]);
        machine.dirty_log_stop(domain, 0).expect("logging");
        machine
            .guest_write(domain, RA, &[1])
            .expect("writes go on after stop");
        assert!(!machine.is_dirty_logging(domain, 0));
    }

    #[test]
    fn suspend_refuses_guest_writes_until_resume() {
        let (mut machine, domain) = machine_with_domain();
        machine.suspend(domain).expect("domain exists");
        assert!(!machine.is_running(domain));
        assert_eq!(
            machine.guest_write(domain, RA, &[1]),
            Err(HvError::WouldBlock)
        );
        machine.resume(domain).expect("domain exists");
        assert!(machine.is_running(domain));
        machine.guest_write(domain, RA, &[1]).expect("running");
    }

    #[test]
    fn throttle_percent_is_recorded_and_kept_on_a_refusal() {
        let (mut machine, domain) = machine_with_domain();
        machine.throttle(domain, 20).expect("valid percent");
        assert_eq!(machine.throttle_percent(domain), 20);
        assert_eq!(machine.throttle(domain, 100), Err(HvError::Invalid));
        assert_eq!(machine.throttle_percent(domain), 20, "unchanged");
        machine.throttle(domain, 0).expect("stop throttling");
        assert_eq!(machine.throttle_percent(domain), 0);
    }

    #[test]
    fn create_domain_takes_strands_and_avoids_a_taken_default_name() {
        let (mut machine, domain) = machine_with_domain();
        machine
            .set_domain_name(domain, "domain-2")
            .expect("name is free");
        let created = machine.create_domain(3).expect("strands free");
        assert_eq!(created, 2);
        assert_eq!(machine.domain_name(created), Some("domain-2-1"));
        assert_eq!(machine.free_strands(), 3);
        assert_eq!(machine.create_domain(4), Err(HvError::TooMany));
        assert_eq!(machine.free_strands(), 3, "a refused create takes nothing");
    }

    #[test]
    fn bind_memory_block_takes_the_first_free_range_that_fits() {
        let (mut machine, _) = machine_with_domain();
        // ldg1 took 1 MiB + 256 KiB of the first 4 MiB range.
        let created = machine.create_domain(1).expect("strands free");
        assert_eq!(
            machine.bind_memory_block(created, RA, 3 * MIB),
            Ok(0x8000_0000),
            "the first range has only 2.75 MiB left"
        );
        assert_eq!(machine.bind_memory_block(created, 0, MIB), Ok(0x4014_0000));
        let free = machine.free_ranges();
        assert_eq!(
            machine.bind_memory_block(created, 4 * MIB, 2 * MIB),
            Err(HvError::NoRealAddress),
            "1.75 and 1 MiB are free, in two ranges"
        );
        assert_eq!(machine.free_ranges(), free, "a refused bind takes nothing");
    }

    #[test]
    fn destroy_domain_frees_and_coalesces_memory_strands_and_crypto() {
        let (mut machine, domain) = machine_with_domain();
        let before = machine.free_ranges();
        let created = machine.create_domain(2).expect("strands free");
        machine
            .bind_memory_block(created, 0, MIB)
            .expect("fits in the first range");
        machine.add_crypto_units(created, 1).expect("domain exists");
        machine.destroy_domain(created).expect("exists");
        assert_eq!(machine.free_ranges(), before);
        machine.destroy_domain(domain).expect("exists, running");
        assert_eq!(
            machine.free_ranges(),
            vec![
                PhysRange {
                    pa: 0x4000_0000,
                    size: 4 * MIB
                },
                PhysRange {
                    pa: 0x8000_0000,
                    size: 4 * MIB
                },
            ]
        );
        assert_eq!(machine.free_strands(), 8);
        assert_eq!(machine.free_crypto_units(), 4);
        assert!(machine.domains().is_empty());
    }

    #[test]
    fn call_count_counts_every_call() {
        let (mut machine, domain) = machine_with_domain();
        let _ = machine.domain_info(domain);
        let _ = machine.domain_info(UNKNOWN);
        let _ = machine.suspend(domain);
        let _ = machine.create_domain(100);
        let _ = machine.destroy_domain(UNKNOWN);
        let _ = machine.bind_memory_block(UNKNOWN, 0, PAGE);
        assert_eq!(machine.call_count(), 6, "failed calls count too");
    }
}
