//! The MIGRATION group's hypervisor calls on the simulated machine: the
//! [`ldmig_hv::hypervisor`] traits for [`Machine`].
//!
//! Each method is one call of `hv/API.md` (the MIGRATION section), with the
//! same checks in the same order and the same status codes, so that the
//! engine meets here exactly what firmware gives it. Every call counts in
//! [`Machine::call_count`], whether it succeeds or not.

use super::{Domain, Machine};
use ldmig_hv::abi::migration::VcpuState;
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
/// `EBADALIGN` if `ra` or `length` is not a multiple of 8, `ENORADDR` if the
/// range is not inside one block.
fn copy_range(entry: &Domain, ra: u64, length: usize) -> Result<(usize, u64), HvError> {
    let length = length as u64;
    if !ra.is_multiple_of(COPY_ALIGNMENT) || !length.is_multiple_of(COPY_ALIGNMENT) {
        return Err(HvError::BadAlignment);
    }
    entry.block_of(ra, length).ok_or(HvError::NoRealAddress)
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
        let (index, offset) = copy_range(entry, ra, buffer.len())?;
        entry.blocks[index].read(offset, buffer);
        Ok(())
    }

    fn write_memory(&mut self, domain: DomainId, ra: u64, data: &[u8]) -> Result<(), HvError> {
        let entry = self.called(domain)?;
        let (index, offset) = copy_range(entry, ra, data.len())?;
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
    use super::super::{BlockSpec, DomainSpec, PhysRange};
    use super::*;
    use ldmig_hv::abi::mmu::PAGE_SIZE;
    use zerocopy::byteorder::big_endian::U64;

    const MIB: u64 = 1 << 20;
    const PAGE: u64 = PAGE_SIZE as u64;
    /// Real address of the test domain's first block (the seed's example RA).
    const RA: u64 = 0x800_0000;
    const UNKNOWN: DomainId = 77;

    /// A machine with 8 MiB of RAM in two 4 MiB ranges, 8 strands, 4 crypto
    /// units, and a running domain "ldg1" (2 vCPUs, 2 crypto units) with
    /// blocks of 1 MiB at `RA` and 256 KiB right after it.
    fn machine_with_domain() -> (Machine, DomainId) {
        let mut machine = Machine::new(
            "t5-a",
            vec![
                PhysRange {
                    pa: 0x4000_0000,
                    size: 4 * MIB,
                },
                PhysRange {
                    pa: 0x8000_0000,
                    size: 4 * MIB,
                },
            ],
            8,
            4,
        );
        let domain = machine
            .add_domain(DomainSpec {
                name: "ldg1".to_string(),
                vcpus: 2,
                blocks: vec![
                    BlockSpec {
                        ra: RA,
                        size: MIB,
                        pa: None,
                    },
                    BlockSpec {
                        ra: RA + MIB,
                        size: 32 * PAGE,
                        pa: None,
                    },
                ],
                crypto_units: 2,
                active: true,
            })
            .expect("the domain fits");
        (machine, domain)
    }

    fn suspended_machine() -> (Machine, DomainId) {
        let (mut machine, domain) = machine_with_domain();
        machine.suspend(domain).expect("domain exists");
        (machine, domain)
    }

    // MIG_DOMAIN_INFO

    #[test]
    fn domain_info_reports_vcpus_blocks_and_state() {
        let (mut machine, domain) = machine_with_domain();
        assert_eq!(
            machine.domain_info(domain),
            Ok(DomainInfo {
                vcpus: 2,
                memory_blocks: 2,
                state: DomainRunState::Normal
            })
        );
        assert_eq!(machine.call_count(), 1);
    }

    #[test]
    fn domain_info_unknown_domain_is_einval() {
        let (mut machine, _) = machine_with_domain();
        assert_eq!(machine.domain_info(UNKNOWN), Err(HvError::Invalid));
        assert_eq!(machine.call_count(), 1, "failed calls count too");
    }

    // MIG_MEMBLOCK_INFO

    #[test]
    fn memory_block_returns_ra_and_size_by_index() {
        let (mut machine, domain) = machine_with_domain();
        assert_eq!(
            machine.memory_block(domain, 0),
            Ok(MemoryBlock { ra: RA, size: MIB })
        );
        assert_eq!(
            machine.memory_block(domain, 1),
            Ok(MemoryBlock {
                ra: RA + MIB,
                size: 32 * PAGE
            })
        );
    }

    #[test]
    fn memory_block_bad_index_or_domain_is_einval() {
        let (mut machine, domain) = machine_with_domain();
        assert_eq!(machine.memory_block(domain, 2), Err(HvError::Invalid));
        assert_eq!(
            machine.memory_block(domain, u64::MAX),
            Err(HvError::Invalid)
        );
        assert_eq!(machine.memory_block(UNKNOWN, 0), Err(HvError::Invalid));
    }

    // MIG_DIRTY_LOG_START / SYNC / STOP

    #[test]
    fn dirty_log_start_marks_every_page_and_sync_clears() {
        let (mut machine, domain) = machine_with_domain();
        machine.dirty_log_start(domain, 1).expect("block 1 exists");
        assert!(machine.is_dirty_logging(domain, 1));
        assert!(!machine.is_dirty_logging(domain, 0));
        let mut bitmap = [0u64; 1];
        assert_eq!(machine.dirty_log_sync(domain, 1, &mut bitmap), Ok(32));
        assert_eq!(bitmap, [0xffff_ffff]);
        assert_eq!(machine.dirty_log_sync(domain, 1, &mut bitmap), Ok(0));
        assert_eq!(bitmap, [0]);
    }

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
    }

    #[test]
    fn dirty_log_page_write_does_not_mark_dirty() {
        let (mut machine, domain) = machine_with_domain();
        let mut bitmap = [0u64; 2];
        machine.dirty_log_start(domain, 0).expect("block 0 exists");
        machine
            .dirty_log_sync(domain, 0, &mut bitmap)
            .expect("logging");
        machine
            .write_memory(domain, RA, &[5; 16])
            .expect("aligned, inside");
        assert_eq!(machine.dirty_log_sync(domain, 0, &mut bitmap), Ok(0));
    }

    #[test]
    fn dirty_log_start_again_resets_every_page_dirty() {
        let (mut machine, domain) = machine_with_domain();
        let mut bitmap = [0u64; 1];
        machine.dirty_log_start(domain, 1).expect("block 1 exists");
        machine
            .dirty_log_sync(domain, 1, &mut bitmap)
            .expect("logging");
        machine.dirty_log_start(domain, 1).expect("restart allowed");
        assert_eq!(machine.dirty_log_sync(domain, 1, &mut bitmap), Ok(32));
    }

    #[test]
    fn dirty_log_sync_zeroes_bitmap_words_past_the_block() {
        let (mut machine, domain) = machine_with_domain();
        let mut bitmap = [u64::MAX; 3];
        machine.dirty_log_start(domain, 1).expect("block 1 exists");
        assert_eq!(machine.dirty_log_sync(domain, 1, &mut bitmap), Ok(32));
        assert_eq!(bitmap, [0xffff_ffff, 0, 0]);
    }

    #[test]
    fn dirty_log_sync_bitmap_too_small_is_einval() {
        let (mut machine, domain) = machine_with_domain();
        machine.dirty_log_start(domain, 0).expect("block 0 exists");
        let mut bitmap = [0u64; 1];
        assert_eq!(
            machine.dirty_log_sync(domain, 0, &mut bitmap),
            Err(HvError::Invalid),
            "128 pages need 2 words"
        );
        assert_eq!(
            machine.dirty_log_sync(domain, 0, &mut []),
            Err(HvError::Invalid)
        );
    }

    #[test]
    fn dirty_log_sync_and_stop_without_start_are_einval() {
        let (mut machine, domain) = machine_with_domain();
        let mut bitmap = [0u64; 2];
        assert_eq!(
            machine.dirty_log_sync(domain, 0, &mut bitmap),
            Err(HvError::Invalid)
        );
        assert_eq!(machine.dirty_log_stop(domain, 0), Err(HvError::Invalid));
        machine.dirty_log_start(domain, 0).expect("block 0 exists");
        assert_eq!(machine.dirty_log_stop(domain, 0), Ok(()));
        assert_eq!(machine.dirty_log_stop(domain, 0), Err(HvError::Invalid));
        machine
            .guest_write(domain, RA, &[1])
            .expect("writes go on after stop");
    }

    #[test]
    fn dirty_log_bad_block_or_domain_is_einval() {
        let (mut machine, domain) = machine_with_domain();
        let mut bitmap = [0u64; 2];
        assert_eq!(machine.dirty_log_start(domain, 2), Err(HvError::Invalid));
        assert_eq!(
            machine.dirty_log_sync(domain, 2, &mut bitmap),
            Err(HvError::Invalid)
        );
        assert_eq!(machine.dirty_log_stop(domain, 2), Err(HvError::Invalid));
        assert_eq!(machine.dirty_log_start(UNKNOWN, 0), Err(HvError::Invalid));
        assert_eq!(
            machine.dirty_log_sync(UNKNOWN, 0, &mut bitmap),
            Err(HvError::Invalid)
        );
        assert_eq!(machine.dirty_log_stop(UNKNOWN, 0), Err(HvError::Invalid));
    }

    // MIG_PAGE_READ / MIG_PAGE_WRITE

    #[test]
    fn page_write_then_read_round_trips_in_any_run_state() {
        let (mut machine, domain) = machine_with_domain();
        let page: Vec<u8> = (0..PAGE_SIZE).map(|i| (i * 7) as u8).collect();
        machine
            .write_memory(domain, RA + MIB, &page)
            .expect("page 0 of block 1");
        let mut back = vec![0u8; PAGE_SIZE];
        machine
            .read_memory(domain, RA + MIB, &mut back)
            .expect("page 0 of block 1");
        assert_eq!(back, page);
        machine.suspend(domain).expect("domain exists");
        machine
            .write_memory(domain, RA, &page)
            .expect("suspended domains can be written");
        machine
            .read_memory(domain, RA, &mut back)
            .expect("and read");
        assert_eq!(back, page);
        machine
            .read_memory(domain, RA + 8, &mut [])
            .expect("zero length copies nothing");
    }

    #[test]
    fn page_read_and_write_misaligned_are_ebadalign() {
        let (mut machine, domain) = machine_with_domain();
        let mut buffer = [0u8; 16];
        assert_eq!(
            machine.read_memory(domain, RA + 4, &mut buffer),
            Err(HvError::BadAlignment)
        );
        assert_eq!(
            machine.read_memory(domain, RA, &mut buffer[..12]),
            Err(HvError::BadAlignment)
        );
        assert_eq!(
            machine.write_memory(domain, RA + 1, &buffer),
            Err(HvError::BadAlignment)
        );
        assert_eq!(
            machine.write_memory(domain, RA, &buffer[..9]),
            Err(HvError::BadAlignment)
        );
    }

    #[test]
    fn page_read_and_write_outside_or_across_blocks_are_enoraddr() {
        let (mut machine, domain) = machine_with_domain();
        let mut buffer = [0u8; 16];
        let outside = [RA - 16, RA + MIB + 32 * PAGE, 0, u64::MAX - 7];
        for ra in outside {
            assert_eq!(
                machine.read_memory(domain, ra, &mut buffer),
                Err(HvError::NoRealAddress),
                "{ra:#x}"
            );
            assert_eq!(
                machine.write_memory(domain, ra, &buffer),
                Err(HvError::NoRealAddress),
                "{ra:#x}"
            );
        }
        // The two blocks are adjacent in RA space, but one copy cannot span them.
        assert_eq!(
            machine.read_memory(domain, RA + MIB - 8, &mut buffer),
            Err(HvError::NoRealAddress)
        );
    }

    #[test]
    fn page_read_and_write_unknown_domain_is_einval() {
        let (mut machine, _) = machine_with_domain();
        let mut buffer = [0u8; 8];
        assert_eq!(
            machine.read_memory(UNKNOWN, RA, &mut buffer),
            Err(HvError::Invalid)
        );
        assert_eq!(
            machine.write_memory(UNKNOWN, RA, &buffer),
            Err(HvError::Invalid)
        );
    }

    // MIG_DOMAIN_SUSPEND / MIG_DOMAIN_RESUME

    #[test]
    fn suspend_and_resume_stop_and_restart_guest_writes() {
        let (mut machine, domain) = machine_with_domain();
        machine.suspend(domain).expect("domain exists");
        machine.suspend(domain).expect("suspend is idempotent");
        assert!(!machine.is_running(domain));
        assert_eq!(
            machine.guest_write(domain, RA, &[1]),
            Err(HvError::WouldBlock)
        );
        machine.resume(domain).expect("domain exists");
        machine.resume(domain).expect("resume is idempotent");
        assert!(machine.is_running(domain));
        machine.guest_write(domain, RA, &[1]).expect("running");
    }

    #[test]
    fn suspend_and_resume_unknown_domain_are_einval() {
        let (mut machine, _) = machine_with_domain();
        assert_eq!(machine.suspend(UNKNOWN), Err(HvError::Invalid));
        assert_eq!(machine.resume(UNKNOWN), Err(HvError::Invalid));
    }

    #[test]
    fn resume_in_error_state_is_ecpuerror() {
        let (mut machine, domain) = machine_with_domain();
        machine
            .set_domain_state(domain, DomainRunState::Error)
            .expect("domain exists");
        assert!(!machine.is_running(domain), "error state suspends");
        assert_eq!(machine.resume(domain), Err(HvError::CpuError));
        assert!(!machine.is_running(domain));
        machine
            .set_domain_state(domain, DomainRunState::Normal)
            .expect("recovery");
        machine.resume(domain).expect("recovered domains run");
    }

    // MIG_VCPU_THROTTLE

    #[test]
    fn throttle_sets_percent_up_to_99() {
        let (mut machine, domain) = machine_with_domain();
        machine.throttle(domain, 20).expect("valid percent");
        assert_eq!(machine.throttle_percent(domain), 20);
        machine.throttle(domain, 99).expect("maximum");
        assert_eq!(machine.throttle_percent(domain), 99);
        machine.throttle(domain, 0).expect("stop throttling");
        assert_eq!(machine.throttle_percent(domain), 0);
    }

    #[test]
    fn throttle_above_99_or_unknown_domain_is_einval() {
        let (mut machine, domain) = machine_with_domain();
        machine.throttle(domain, 30).expect("valid percent");
        assert_eq!(machine.throttle(domain, 100), Err(HvError::Invalid));
        assert_eq!(machine.throttle(domain, u8::MAX), Err(HvError::Invalid));
        assert_eq!(machine.throttle_percent(domain), 30, "unchanged");
        assert_eq!(machine.throttle(UNKNOWN, 10), Err(HvError::Invalid));
    }

    // MIG_VCPU_GET_STATE / MIG_VCPU_SET_STATE

    #[test]
    fn vcpu_state_round_trips_while_suspended() {
        let (mut machine, domain) = suspended_machine();
        let mut state = VcpuState::zeroed();
        machine
            .vcpu_state(domain, 1, &mut state)
            .expect("vcpu 1, suspended");
        assert_eq!(state, machine.vcpu_states(domain)[1]);
        state.pc = U64::new(0x40_0000);
        state.npc = U64::new(0x40_0004);
        state.gl = U64::new(3);
        state.tl = U64::new(6);
        state.cwp = U64::new(7);
        state.tsb_ctx0_count = U64::new(4);
        machine
            .set_vcpu_state(domain, 1, &state)
            .expect("a loadable state");
        let mut back = VcpuState::zeroed();
        machine
            .vcpu_state(domain, 1, &mut back)
            .expect("vcpu 1, suspended");
        assert_eq!(back, state);
    }

    #[test]
    fn vcpu_state_get_and_set_bad_vcpu_is_enocpu() {
        let (mut machine, domain) = suspended_machine();
        let mut state = VcpuState::zeroed();
        assert_eq!(
            machine.vcpu_state(domain, 2, &mut state),
            Err(HvError::NoCpu)
        );
        assert_eq!(
            machine.set_vcpu_state(domain, u64::MAX, &state),
            Err(HvError::NoCpu)
        );
    }

    #[test]
    fn vcpu_state_get_and_set_while_running_is_ebusy() {
        let (mut machine, domain) = machine_with_domain();
        let mut state = VcpuState::zeroed();
        assert_eq!(
            machine.vcpu_state(domain, 0, &mut state),
            Err(HvError::Busy)
        );
        assert_eq!(
            machine.set_vcpu_state(domain, 0, &state),
            Err(HvError::Busy)
        );
    }

    #[test]
    fn vcpu_state_get_and_set_unknown_domain_is_einval() {
        let (mut machine, _) = suspended_machine();
        let mut state = VcpuState::zeroed();
        assert_eq!(
            machine.vcpu_state(UNKNOWN, 0, &mut state),
            Err(HvError::Invalid)
        );
        assert_eq!(
            machine.set_vcpu_state(UNKNOWN, 0, &state),
            Err(HvError::Invalid)
        );
    }

    #[test]
    fn set_vcpu_state_unloadable_state_is_einval() {
        let (mut machine, domain) = suspended_machine();
        let before = machine.vcpu_states(domain)[1];
        type Corrupt = fn(&mut VcpuState);
        let corruptions: [(&str, Corrupt); 11] = [
            ("vcpu id", |s| s.vcpu_id = U64::new(0)),
            ("cpu state 0", |s| s.cpu_state = U64::new(0)),
            ("cpu state 4", |s| s.cpu_state = U64::new(4)),
            ("tl", |s| s.tl = U64::new(7)),
            ("gl", |s| s.gl = U64::new(4)),
            ("cwp", |s| s.cwp = U64::new(8)),
            ("cansave", |s| s.cansave = U64::new(8)),
            ("canrestore", |s| s.canrestore = U64::new(9)),
            ("otherwin", |s| s.otherwin = U64::new(8)),
            ("cleanwin", |s| s.cleanwin = U64::new(8)),
            ("tsb count", |s| s.tsb_ctxnon0_count = U64::new(5)),
        ];
        for (what, corrupt) in corruptions {
            let mut state = before;
            corrupt(&mut state);
            assert_eq!(
                machine.set_vcpu_state(domain, 1, &state),
                Err(HvError::Invalid),
                "{what}"
            );
            assert_eq!(machine.vcpu_states(domain)[1], before, "{what}");
        }
    }

    // MIG_DOMAIN_CREATE

    #[test]
    fn create_domain_is_bound_suspended_and_empty() {
        let (mut machine, _) = machine_with_domain();
        let created = machine.create_domain(3).expect("6 strands free");
        assert_eq!(machine.free_strands(), 3);
        assert!(!machine.is_running(created));
        assert_eq!(
            machine.domain_info(created),
            Ok(DomainInfo {
                vcpus: 3,
                memory_blocks: 0,
                state: DomainRunState::Normal
            })
        );
        assert_eq!(machine.domain_name(created), Some("domain-2"));
        let mut state = VcpuState::zeroed();
        machine
            .vcpu_state(created, 2, &mut state)
            .expect("suspended");
        assert_eq!(state.vcpu_id.get(), 2);
        assert_eq!(machine.domain_crypto_units(created), 0);
    }

    #[test]
    fn create_domain_more_vcpus_than_free_strands_is_etoomany() {
        let (mut machine, _) = machine_with_domain();
        assert_eq!(machine.create_domain(7), Err(HvError::TooMany));
        assert_eq!(machine.free_strands(), 6);
        machine.create_domain(6).expect("exactly the free strands");
        assert_eq!(machine.create_domain(1), Err(HvError::TooMany));
    }

    #[test]
    fn create_domain_zero_vcpus_is_einval() {
        let (mut machine, _) = machine_with_domain();
        assert_eq!(machine.create_domain(0), Err(HvError::Invalid));
    }

    #[test]
    fn create_domain_avoids_a_taken_default_name() {
        let (mut machine, domain) = machine_with_domain();
        machine
            .set_domain_name(domain, "domain-2")
            .expect("name is free");
        let created = machine.create_domain(1).expect("strands free");
        assert_eq!(created, 2);
        assert_eq!(machine.domain_name(created), Some("domain-2-1"));
    }

    // MIG_MEMBLOCK_BIND

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
        assert_eq!(
            machine.memory_block(created, 1),
            Ok(MemoryBlock { ra: 0, size: MIB })
        );
        let mut buffer = [0xffu8; 8];
        machine
            .read_memory(created, RA + 3 * MIB - 8, &mut buffer)
            .expect("bound memory reads");
        assert_eq!(buffer, [0; 8], "new memory is zero");
    }

    #[test]
    fn bind_memory_block_without_a_contiguous_range_is_enoraddr() {
        let (mut machine, _) = machine_with_domain();
        let created = machine.create_domain(1).expect("strands free");
        // 6.75 MiB are free, but in two ranges of 2.75 and 4 MiB.
        assert_eq!(
            machine.bind_memory_block(created, RA, 5 * MIB),
            Err(HvError::NoRealAddress)
        );
        let free = machine.free_ranges();
        assert_eq!(free.len(), 2);
        assert_eq!(
            free.iter().map(|r| r.size).sum::<u64>(),
            6 * MIB + 3 * MIB / 4
        );
    }

    #[test]
    fn bind_memory_block_overlapping_ra_is_einval() {
        let (mut machine, domain) = machine_with_domain();
        assert_eq!(
            machine.bind_memory_block(domain, RA + MIB - PAGE, 2 * PAGE),
            Err(HvError::Invalid)
        );
        assert_eq!(
            machine.bind_memory_block(domain, RA - PAGE, 4 * MIB),
            Err(HvError::Invalid)
        );
        assert_eq!(
            machine.bind_memory_block(domain, u64::MAX - PAGE + 1, 2 * PAGE),
            Err(HvError::Invalid),
            "wraps past the end of RA space"
        );
    }

    #[test]
    fn bind_memory_block_zero_size_or_unknown_domain_is_einval() {
        let (mut machine, domain) = machine_with_domain();
        assert_eq!(
            machine.bind_memory_block(domain, 0, 0),
            Err(HvError::Invalid)
        );
        assert_eq!(
            machine.bind_memory_block(UNKNOWN, 0, PAGE),
            Err(HvError::Invalid)
        );
    }

    #[test]
    fn bind_memory_block_not_8k_aligned_is_ebadalign() {
        let (mut machine, domain) = machine_with_domain();
        assert_eq!(
            machine.bind_memory_block(domain, 0x1000, PAGE),
            Err(HvError::BadAlignment)
        );
        assert_eq!(
            machine.bind_memory_block(domain, 0, PAGE + 8),
            Err(HvError::BadAlignment)
        );
    }

    // MIG_DOMAIN_DESTROY

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
        assert_eq!(machine.domain_info(domain), Err(HvError::Invalid));
    }

    #[test]
    fn destroy_domain_unknown_is_einval() {
        let (mut machine, domain) = machine_with_domain();
        assert_eq!(machine.destroy_domain(UNKNOWN), Err(HvError::Invalid));
        machine.destroy_domain(domain).expect("exists");
        assert_eq!(machine.destroy_domain(domain), Err(HvError::Invalid));
    }

    // MIG_DOMAIN_SET_STATE

    #[test]
    fn set_domain_state_is_reported_by_domain_info() {
        let (mut machine, domain) = machine_with_domain();
        machine
            .set_domain_state(domain, DomainRunState::Migrating)
            .expect("domain exists");
        assert_eq!(machine.run_state(domain), Some(DomainRunState::Migrating));
        assert!(machine.is_running(domain), "migrating keeps running");
        assert_eq!(
            machine.domain_info(domain).map(|info| info.state),
            Ok(DomainRunState::Migrating)
        );
    }

    #[test]
    fn set_domain_state_unknown_domain_is_einval() {
        let (mut machine, _) = machine_with_domain();
        assert_eq!(
            machine.set_domain_state(UNKNOWN, DomainRunState::Normal),
            Err(HvError::Invalid)
        );
    }

    // MIG_CRYPTO_REMOVE / MIG_CRYPTO_ADD

    #[test]
    fn crypto_remove_returns_units_to_the_machine() {
        let (mut machine, domain) = machine_with_domain();
        assert_eq!(machine.free_crypto_units(), 2);
        assert_eq!(machine.remove_crypto_units(domain), Ok(2));
        assert_eq!(machine.free_crypto_units(), 4);
        assert_eq!(machine.remove_crypto_units(domain), Ok(0));
    }

    #[test]
    fn crypto_add_gives_fewer_when_the_machine_lacks_units() {
        let (mut machine, domain) = machine_with_domain();
        assert_eq!(machine.add_crypto_units(domain, 1), Ok(1));
        assert_eq!(machine.add_crypto_units(domain, 5), Ok(1), "only 1 left");
        assert_eq!(machine.add_crypto_units(domain, 2), Ok(0));
        assert_eq!(machine.domain_crypto_units(domain), 4);
        assert_eq!(machine.free_crypto_units(), 0);
        assert_eq!(machine.add_crypto_units(domain, 0), Ok(0));
    }

    #[test]
    fn crypto_remove_and_add_unknown_domain_are_einval() {
        let (mut machine, _) = machine_with_domain();
        assert_eq!(machine.remove_crypto_units(UNKNOWN), Err(HvError::Invalid));
        assert_eq!(machine.add_crypto_units(UNKNOWN, 1), Err(HvError::Invalid));
        assert_eq!(machine.free_crypto_units(), 2);
    }

    #[test]
    fn vcpu_state_layout_matches_api_md() {
        use core::mem::offset_of;
        let table = [
            (offset_of!(VcpuState, vcpu_id), 0),
            (offset_of!(VcpuState, cpu_state), 8),
            (offset_of!(VcpuState, pc), 16),
            (offset_of!(VcpuState, npc), 24),
            (offset_of!(VcpuState, globals), 32),
            (offset_of!(VcpuState, windows), 288),
            (offset_of!(VcpuState, float), 1312),
            (offset_of!(VcpuState, fsr), 1568),
            (offset_of!(VcpuState, trap_levels), 1592),
            (offset_of!(VcpuState, y), 1784),
            (offset_of!(VcpuState, pstate), 1808),
            (offset_of!(VcpuState, cwp), 1840),
            (offset_of!(VcpuState, tba), 1888),
            (offset_of!(VcpuState, tick), 1904),
            (offset_of!(VcpuState, primary_context), 1944),
            (offset_of!(VcpuState, fault_area_ra), 1960),
            (offset_of!(VcpuState, tsb_ctx0_count), 1968),
            (offset_of!(VcpuState, tsb_ctx0), 1984),
            (offset_of!(VcpuState, tsb_ctxnon0), 2112),
            (offset_of!(VcpuState, queues), 2240),
            (offset_of!(VcpuState, scratchpad), 2368),
            (VcpuState::BYTES, 2432),
        ];
        for (index, (actual, documented)) in table.into_iter().enumerate() {
            assert_eq!(actual, documented, "row {index}");
        }
    }

    #[test]
    fn call_count_counts_every_call() {
        let (mut machine, domain) = machine_with_domain();
        let _ = machine.domain_info(domain);
        let _ = machine.suspend(domain);
        let _ = machine.create_domain(100);
        let _ = machine.destroy_domain(UNKNOWN);
        let _ = machine.bind_memory_block(UNKNOWN, 0, PAGE);
        assert_eq!(machine.call_count(), 5);
    }
}
