//! The real `Hypervisor`: every trait method is one sun4v fast trap through
//! the [`crate::trampoline`]s (sparc64 only).
//!
//! Addresses: the engine runs hypervisor-side with real addressing (MMU
//! bypass), so a buffer's address *is* its real address. Firmware that maps
//! the engine otherwise must translate in [`Sun4v::real_address`].

use crate::abi::{core as core_api, group, ldc, migration as mig};
use crate::hypervisor::*;
use crate::trampoline::{core_trap, fast_trap, HvCall};
use crate::HvError;
use zerocopy::IntoBytes;

/// The running sun4v hypervisor, reached through `ta 0x80`.
#[derive(Debug, Default)]
pub struct Sun4v {
    _private: (),
}

impl Sun4v {
    /// Negotiates the LDOM and MIGRATION groups with `API_SET_VERSION` and
    /// returns the handle; fails if the hypervisor lacks either group.
    pub fn negotiate() -> Result<Self, HvError> {
        for (api_group, major, minor) in [
            (group::LDOM, 1, 0),
            (group::MIGRATION, mig::MIGRATION_MAJOR, mig::MIGRATION_MINOR),
        ] {
            // SAFETY: API_SET_VERSION takes no addresses.
            let call = unsafe { core_trap(core_api::API_SET_VERSION, &[api_group, major, minor]) };
            HvError::check(call.status)?;
        }
        Ok(Sun4v { _private: () })
    }

    /// The real address of a buffer of the engine (identity, see module docs).
    pub fn real_address<T: ?Sized>(value: &T) -> u64 {
        value as *const T as *const u8 as u64
    }

    fn call(function: u64, args: &[u64]) -> Result<HvCall, HvError> {
        // SAFETY: every caller below passes only real addresses of buffers
        // it borrows exclusively (or shared, for reads) for the whole call,
        // with lengths equal to those buffers' lengths.
        let call = unsafe { fast_trap(function, args) };
        HvError::check(call.status).map(|()| call)
    }
}

impl GuestMemory for Sun4v {
    fn domain_info(&mut self, domain: DomainId) -> Result<DomainInfo, HvError> {
        let call = Self::call(mig::MIG_DOMAIN_INFO, &[domain])?;
        Ok(DomainInfo {
            vcpus: call.rets[0],
            memory_blocks: call.rets[1],
            state: DomainRunState::from_raw(call.rets[2]).ok_or(HvError::Unknown(call.rets[2]))?,
        })
    }

    fn memory_block(&mut self, domain: DomainId, index: u64) -> Result<MemoryBlock, HvError> {
        let call = Self::call(mig::MIG_MEMBLOCK_INFO, &[domain, index])?;
        Ok(MemoryBlock {
            ra: call.rets[0],
            size: call.rets[1],
        })
    }

    fn read_memory(&mut self, domain: DomainId, ra: u64, buffer: &mut [u8]) -> Result<(), HvError> {
        // Unaligned slices are staged (crate::bounce).
        crate::bounce::read_through(buffer, |offset, part| {
            let address = Self::real_address(part);
            Self::call(
                mig::MIG_PAGE_READ,
                &[domain, ra + offset, address, part.len() as u64],
            )
            .map(drop)
        })
    }

    fn write_memory(&mut self, domain: DomainId, ra: u64, data: &[u8]) -> Result<(), HvError> {
        crate::bounce::write_through(data, |offset, part| {
            Self::call(
                mig::MIG_PAGE_WRITE,
                &[
                    domain,
                    ra + offset,
                    Self::real_address(part),
                    part.len() as u64,
                ],
            )
            .map(drop)
        })
    }
}

impl DirtyLog for Sun4v {
    fn dirty_log_start(&mut self, domain: DomainId, block: u64) -> Result<(), HvError> {
        Self::call(mig::MIG_DIRTY_LOG_START, &[domain, block]).map(drop)
    }

    fn dirty_log_sync(
        &mut self,
        domain: DomainId,
        block: u64,
        bitmap: &mut [u64],
    ) -> Result<u64, HvError> {
        let address = Self::real_address(bitmap);
        let bytes = core::mem::size_of_val(bitmap) as u64;
        Self::call(mig::MIG_DIRTY_LOG_SYNC, &[domain, block, address, bytes])
            .map(|call| call.rets[0])
    }

    fn dirty_log_stop(&mut self, domain: DomainId, block: u64) -> Result<(), HvError> {
        Self::call(mig::MIG_DIRTY_LOG_STOP, &[domain, block]).map(drop)
    }
}

impl VcpuControl for Sun4v {
    fn suspend(&mut self, domain: DomainId) -> Result<(), HvError> {
        Self::call(mig::MIG_DOMAIN_SUSPEND, &[domain]).map(drop)
    }

    fn resume(&mut self, domain: DomainId) -> Result<(), HvError> {
        Self::call(mig::MIG_DOMAIN_RESUME, &[domain]).map(drop)
    }

    fn throttle(&mut self, domain: DomainId, percent: u8) -> Result<(), HvError> {
        Self::call(mig::MIG_VCPU_THROTTLE, &[domain, u64::from(percent)]).map(drop)
    }

    fn vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &mut mig::VcpuState,
    ) -> Result<(), HvError> {
        // A VcpuState is 1-aligned: staged unless it happens to be aligned.
        crate::bounce::read_through(state.as_mut_bytes(), |_, part| {
            let address = Self::real_address(part);
            Self::call(
                mig::MIG_VCPU_GET_STATE,
                &[domain, vcpu, address, part.len() as u64],
            )
            .map(drop)
        })
    }

    fn set_vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &mig::VcpuState,
    ) -> Result<(), HvError> {
        crate::bounce::write_through(state.as_bytes(), |_, part| {
            let address = Self::real_address(part);
            Self::call(
                mig::MIG_VCPU_SET_STATE,
                &[domain, vcpu, address, part.len() as u64],
            )
            .map(drop)
        })
    }
}

impl DomainControl for Sun4v {
    fn create_domain(&mut self, vcpus: u64) -> Result<DomainId, HvError> {
        Self::call(mig::MIG_DOMAIN_CREATE, &[vcpus]).map(|call| call.rets[0])
    }

    fn bind_memory_block(&mut self, domain: DomainId, ra: u64, size: u64) -> Result<u64, HvError> {
        Self::call(mig::MIG_MEMBLOCK_BIND, &[domain, ra, size]).map(|call| call.rets[0])
    }

    fn destroy_domain(&mut self, domain: DomainId) -> Result<(), HvError> {
        Self::call(mig::MIG_DOMAIN_DESTROY, &[domain]).map(drop)
    }

    fn set_domain_state(&mut self, domain: DomainId, state: DomainRunState) -> Result<(), HvError> {
        Self::call(mig::MIG_DOMAIN_SET_STATE, &[domain, state.raw()]).map(drop)
    }

    fn remove_crypto_units(&mut self, domain: DomainId) -> Result<u64, HvError> {
        Self::call(mig::MIG_CRYPTO_REMOVE, &[domain]).map(|call| call.rets[0])
    }

    fn add_crypto_units(&mut self, domain: DomainId, count: u64) -> Result<u64, HvError> {
        Self::call(mig::MIG_CRYPTO_ADD, &[domain, count]).map(|call| call.rets[0])
    }
}

fn queue_state(call: HvCall) -> Result<LdcQueueState, HvError> {
    Ok(LdcQueueState {
        head: call.rets[0],
        tail: call.rets[1],
        state: LdcChannelState::from_raw(call.rets[2]).ok_or(HvError::Unknown(call.rets[2]))?,
    })
}

impl Ldc for Sun4v {
    fn ldc_tx_qconf(&mut self, channel: u64, base_ra: u64, entries: u64) -> Result<(), HvError> {
        Self::call(ldc::LDC_TX_QCONF, &[channel, base_ra, entries]).map(drop)
    }
    fn ldc_tx_qinfo(&mut self, channel: u64) -> Result<(u64, u64), HvError> {
        Self::call(ldc::LDC_TX_QINFO, &[channel]).map(|call| (call.rets[0], call.rets[1]))
    }
    fn ldc_tx_get_state(&mut self, channel: u64) -> Result<LdcQueueState, HvError> {
        queue_state(Self::call(ldc::LDC_TX_GET_STATE, &[channel])?)
    }
    fn ldc_tx_set_qtail(&mut self, channel: u64, tail: u64) -> Result<(), HvError> {
        Self::call(ldc::LDC_TX_SET_QTAIL, &[channel, tail]).map(drop)
    }
    fn ldc_rx_qconf(&mut self, channel: u64, base_ra: u64, entries: u64) -> Result<(), HvError> {
        Self::call(ldc::LDC_RX_QCONF, &[channel, base_ra, entries]).map(drop)
    }
    fn ldc_rx_qinfo(&mut self, channel: u64) -> Result<(u64, u64), HvError> {
        Self::call(ldc::LDC_RX_QINFO, &[channel]).map(|call| (call.rets[0], call.rets[1]))
    }
    fn ldc_rx_get_state(&mut self, channel: u64) -> Result<LdcQueueState, HvError> {
        queue_state(Self::call(ldc::LDC_RX_GET_STATE, &[channel])?)
    }
    fn ldc_rx_set_qhead(&mut self, channel: u64, head: u64) -> Result<(), HvError> {
        Self::call(ldc::LDC_RX_SET_QHEAD, &[channel, head]).map(drop)
    }
    fn ldc_set_map_table(
        &mut self,
        channel: u64,
        table_ra: u64,
        entries: u64,
    ) -> Result<(), HvError> {
        Self::call(ldc::LDC_SET_MAP_TABLE, &[channel, table_ra, entries]).map(drop)
    }
    fn ldc_get_map_table(&mut self, channel: u64) -> Result<(u64, u64), HvError> {
        Self::call(ldc::LDC_GET_MAP_TABLE, &[channel]).map(|call| (call.rets[0], call.rets[1]))
    }
    fn ldc_copy(
        &mut self,
        channel: u64,
        direction: u64,
        cookie: u64,
        local_ra: u64,
        length: u64,
    ) -> Result<u64, HvError> {
        Self::call(
            ldc::LDC_COPY,
            &[channel, direction, cookie, local_ra, length],
        )
        .map(|call| call.rets[0])
    }
    fn ldc_mapin(&mut self, channel: u64, cookie: u64) -> Result<(u64, u64), HvError> {
        Self::call(ldc::LDC_MAPIN, &[channel, cookie]).map(|call| (call.rets[0], call.rets[1]))
    }
    fn ldc_unmap(&mut self, ra: u64) -> Result<(), HvError> {
        Self::call(ldc::LDC_UNMAP, &[ra]).map(drop)
    }
    fn ldc_revoke(&mut self, channel: u64, cookie: u64, revoke_cookie: u64) -> Result<(), HvError> {
        Self::call(ldc::LDC_REVOKE, &[channel, cookie, revoke_cookie]).map(drop)
    }
}

impl LocalMemory for Sun4v {
    fn local_read(&mut self, ra: u64, buffer: &mut [u8]) -> Result<(), HvError> {
        if ra == 0 || !ra.is_multiple_of(8) {
            return Err(HvError::BadAlignment);
        }
        // SAFETY: with real addressing (module docs) `ra` is the address of
        // memory the engine owns (a queue or map table it configured), at
        // least `buffer.len()` bytes long, that no Rust reference aliases;
        // the hypervisor may write it concurrently, hence the volatile reads.
        unsafe {
            for (offset, byte) in buffer.iter_mut().enumerate() {
                *byte = core::ptr::read_volatile((ra as usize + offset) as *const u8);
            }
        }
        Ok(())
    }

    fn local_write(&mut self, ra: u64, data: &[u8]) -> Result<(), HvError> {
        if ra == 0 || !ra.is_multiple_of(8) {
            return Err(HvError::BadAlignment);
        }
        // SAFETY: as in `local_read`: engine-owned memory, not aliased.
        unsafe {
            for (offset, byte) in data.iter().enumerate() {
                core::ptr::write_volatile((ra as usize + offset) as *mut u8, *byte);
            }
        }
        Ok(())
    }
}
