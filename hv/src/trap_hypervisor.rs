//! The [`crate::hypervisor`] traits over sun4v fast traps: every trait
//! method is one call of a [`FastTrap`], with the function numbers, argument
//! order and returns of `hv/API.md`. Over the real trampolines it is
//! `Sun4v` (sparc64); over the simulated machine's trap dispatcher it
//! runs the same conformance suite on the host.
//!
//! Addresses: the engine runs hypervisor-side with real addressing (MMU
//! bypass), so a buffer's address *is* its real address. Firmware that maps
//! the engine otherwise must translate in [`TrapHypervisor::real_address`].
//!
//! Local memory: the only memory [`LocalMemory`] reads and writes, and the
//! only memory handed to the LDC calls (queues, map table, the local side
//! of `LDC_COPY`), is what the integrator granted with the `unsafe`
//! [`TrapHypervisor::grant`]. Every access and every such address is checked
//! against the grants first, so safe code holding one cannot make it touch
//! anything else.
//!
//! ```text
//! let mut hypervisor = Sun4v::negotiate()?;          // the only constructor
//! // SAFETY: ENGINE_MEMORY is this image's, identity-mapped, used by nothing else.
//! let memory = unsafe { hypervisor.grant(ENGINE_MEMORY_RA, ENGINE_MEMORY_BYTES)? };
//! let endpoint = EngineEndpoint::open(hypervisor, EngineConfig::new(channel,
//!     memory.ra(), memory.length(), ring))?;      // mints its regions inside the grant
//! ```

use crate::abi::ldc::MapPermissions;
use crate::abi::mmu::PAGE_SIZE;
use crate::abi::{core as core_api, group, ldc, migration as mig};
use crate::fast_trap::{FastTrap, HvCall};
use crate::hypervisor::*;
use crate::HvError;
use zerocopy::IntoBytes;

/// Ranges of local memory one [`TrapHypervisor`] can be granted.
pub const MAX_GRANTS: usize = 8;

/// A sun4v hypervisor reached through `trap`. Built only by
/// [`TrapHypervisor::negotiate_with`] (there is no `Default`: a handle
/// exists only once the groups it calls are negotiated), with no local
/// memory until [`TrapHypervisor::grant`].
#[derive(Debug)]
pub struct TrapHypervisor<T: FastTrap> {
    trap: T,
    grants: [Option<LocalRegion>; MAX_GRANTS],
}

impl<T: FastTrap> TrapHypervisor<T> {
    /// Negotiates the LDOM and MIGRATION groups with `API_SET_VERSION`
    /// through `trap` and returns the handle; fails with the status of the
    /// first group the hypervisor refuses.
    pub fn negotiate_with(mut trap: T) -> Result<Self, HvError> {
        for (api_group, major, minor) in [
            (group::LDOM, 1, 0),
            (group::MIGRATION, mig::MIGRATION_MAJOR, mig::MIGRATION_MINOR),
        ] {
            let call = trap.core_trap(core_api::API_SET_VERSION, &[api_group, major, minor]);
            HvError::check(call.status)?;
        }
        Ok(TrapHypervisor {
            trap,
            grants: [None; MAX_GRANTS],
        })
    }

    /// What the calls go through.
    pub fn trap(&self) -> &T {
        &self.trap
    }

    /// What the calls go through, mutably (a simulation's inspection).
    pub fn trap_mut(&mut self) -> &mut T {
        &mut self.trap
    }

    /// Grants `[ra, ra + length)` to this handle as local memory and
    /// returns it as a region. `EINVAL` for length 0, `ENORADDR` when the
    /// range wraps, `ETOOMANY` after [`MAX_GRANTS`] grants.
    ///
    /// # Safety
    /// For as long as this handle (or anything it is moved into) lives,
    /// `[ra, ra + length)` must be memory the engine owns: mapped at its own
    /// real address (identity, as the module docs say), readable and
    /// writable, and not aliased by any Rust reference or used by any other
    /// code, because [`LocalMemory`] reads and writes it through raw
    /// pointers and the hypervisor writes into it (LDC receive queues,
    /// `LDC_COPY`) behind the compiler's back.
    pub unsafe fn grant(&mut self, ra: u64, length: u64) -> Result<LocalRegion, HvError> {
        let region = LocalRegion::mint(ra, length)?;
        let free = self
            .grants
            .iter_mut()
            .find(|grant| grant.is_none())
            .ok_or(HvError::TooMany)?;
        *free = Some(region);
        Ok(region)
    }

    /// The real address of `[offset, offset + length)` of `region`, after
    /// checking it lies inside the region (`ENORADDR`) and inside a grant
    /// (`ENORADDR`): the check every local address passes before use.
    fn granted(&self, region: &LocalRegion, offset: u64, length: u64) -> Result<u64, HvError> {
        let ra = region
            .address_of(offset, length)
            .ok_or(HvError::NoRealAddress)?;
        if self.owns_memory(ra, length.max(1)) {
            Ok(ra)
        } else {
            Err(HvError::NoRealAddress)
        }
    }

    /// The base RA to pass for a queue or table of `entries` entries of
    /// `entry_bytes` at the start of `region`: 0 for 0 entries (unconfigure,
    /// as Linux passes); for a count the hypervisor may accept (a power of
    /// 2, at least 2) the region's RA once the whole table is checked to lie
    /// inside the region and a grant (`ENORADDR`); for any other count the
    /// region's RA, which the hypervisor refuses (`EINVAL`) without touching
    /// memory.
    fn table_base(
        &self,
        region: &LocalRegion,
        entries: u64,
        entry_bytes: usize,
    ) -> Result<u64, HvError> {
        if entries == 0 {
            return Ok(0);
        }
        if entries < 2 || !entries.is_power_of_two() {
            return Ok(region.ra());
        }
        let bytes = entries
            .checked_mul(byte_count(entry_bytes))
            .ok_or(HvError::NoRealAddress)?;
        self.granted(region, 0, bytes)
    }

    /// The real address of a buffer of the engine (identity, see module
    /// docs), for a call that only reads it.
    pub fn real_address<V: ?Sized>(value: &V) -> u64 {
        value as *const V as *const u8 as u64
    }

    /// The real address of a buffer the hypervisor writes: taken from an
    /// exclusive borrow, so the write through it is the borrow's.
    fn real_address_mut<V: ?Sized>(value: &mut V) -> u64 {
        value as *mut V as *mut u8 as u64
    }

    fn call(&mut self, function: u64, args: &[u64]) -> Result<HvCall, HvError> {
        // SAFETY: every caller below passes only real addresses of buffers
        // it borrows exclusively (or shared, for reads) for the whole call,
        // with lengths equal to those buffers' lengths, or of local memory
        // checked against the grants (`granted`, `table_base`), which
        // `grant`'s contract makes the engine's own.
        let call = unsafe { self.trap.fast_trap(function, args) };
        HvError::check(call.status).map(|()| call)
    }
}

impl<T: FastTrap> GuestMemory for TrapHypervisor<T> {
    fn domain_info(&mut self, domain: DomainId) -> Result<DomainInfo, HvError> {
        let call = self.call(mig::MIG_DOMAIN_INFO, &[domain])?;
        Ok(DomainInfo {
            vcpus: call.rets[0],
            memory_blocks: call.rets[1],
            state: DomainRunState::from_raw(call.rets[2]).ok_or(HvError::Unknown(call.rets[2]))?,
        })
    }

    fn memory_block(&mut self, domain: DomainId, index: u64) -> Result<MemoryBlock, HvError> {
        let call = self.call(mig::MIG_MEMBLOCK_INFO, &[domain, index])?;
        Ok(MemoryBlock {
            ra: call.rets[0],
            size: call.rets[1],
        })
    }

    fn read_memory(&mut self, domain: DomainId, ra: u64, buffer: &mut [u8]) -> Result<(), HvError> {
        if is_aligned(buffer) {
            let address = Self::real_address_mut(buffer);
            return self.page_call(mig::MIG_PAGE_READ, domain, ra, address, buffer.len());
        }
        let mut bounce = Bounce::for_length(buffer.len())?;
        let part = &mut bounce.0[..buffer.len()];
        let address = Self::real_address_mut(part);
        self.page_call(mig::MIG_PAGE_READ, domain, ra, address, part.len())?;
        buffer.copy_from_slice(part);
        Ok(())
    }

    fn write_memory(&mut self, domain: DomainId, ra: u64, data: &[u8]) -> Result<(), HvError> {
        if is_aligned(data) {
            let address = Self::real_address(data);
            return self.page_call(mig::MIG_PAGE_WRITE, domain, ra, address, data.len());
        }
        let mut bounce = Bounce::for_length(data.len())?;
        let part = &mut bounce.0[..data.len()];
        part.copy_from_slice(data);
        self.page_call(
            mig::MIG_PAGE_WRITE,
            domain,
            ra,
            Self::real_address(part),
            part.len(),
        )
    }
}

impl<T: FastTrap> TrapHypervisor<T> {
    /// `MIG_PAGE_READ` or `MIG_PAGE_WRITE` (`function`) of `length` bytes
    /// between the guest's `ra` and the caller's buffer at `address`.
    fn page_call(
        &mut self,
        function: u64,
        domain: DomainId,
        ra: u64,
        address: u64,
        length: usize,
    ) -> Result<(), HvError> {
        self.call(function, &[domain, ra, address, byte_count(length)])
            .map(drop)
    }
}

impl<T: FastTrap> DirtyLog for TrapHypervisor<T> {
    fn dirty_log_start(&mut self, domain: DomainId, block: u64) -> Result<(), HvError> {
        self.call(mig::MIG_DIRTY_LOG_START, &[domain, block])
            .map(drop)
    }

    fn dirty_log_sync(
        &mut self,
        domain: DomainId,
        block: u64,
        bitmap: &mut [u64],
    ) -> Result<u64, HvError> {
        let address = Self::real_address_mut(bitmap);
        let bytes = byte_count(core::mem::size_of_val(bitmap));
        self.call(mig::MIG_DIRTY_LOG_SYNC, &[domain, block, address, bytes])
            .map(|call| call.rets[0])
    }

    fn dirty_log_stop(&mut self, domain: DomainId, block: u64) -> Result<(), HvError> {
        self.call(mig::MIG_DIRTY_LOG_STOP, &[domain, block])
            .map(drop)
    }
}

impl<T: FastTrap> VcpuControl for TrapHypervisor<T> {
    fn suspend(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.call(mig::MIG_DOMAIN_SUSPEND, &[domain]).map(drop)
    }

    fn resume(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.call(mig::MIG_DOMAIN_RESUME, &[domain]).map(drop)
    }

    fn throttle(&mut self, domain: DomainId, percent: u8) -> Result<(), HvError> {
        self.call(mig::MIG_VCPU_THROTTLE, &[domain, u64::from(percent)])
            .map(drop)
    }

    fn vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &mut mig::VcpuState,
    ) -> Result<(), HvError> {
        let mut aligned = AlignedVcpuState(*state);
        let address = Self::real_address_mut(&mut aligned.0);
        self.call(
            mig::MIG_VCPU_GET_STATE,
            &[domain, vcpu, address, byte_count(mig::VcpuState::BYTES)],
        )?;
        *state = aligned.0;
        Ok(())
    }

    fn set_vcpu_state(
        &mut self,
        domain: DomainId,
        vcpu: u64,
        state: &mig::VcpuState,
    ) -> Result<(), HvError> {
        let aligned = AlignedVcpuState(*state);
        let address = Self::real_address(aligned.0.as_bytes());
        self.call(
            mig::MIG_VCPU_SET_STATE,
            &[domain, vcpu, address, byte_count(mig::VcpuState::BYTES)],
        )
        .map(drop)
    }
}

impl<T: FastTrap> DomainControl for TrapHypervisor<T> {
    fn create_domain(&mut self, vcpus: u64) -> Result<DomainId, HvError> {
        self.call(mig::MIG_DOMAIN_CREATE, &[vcpus])
            .map(|call| call.rets[0])
    }

    fn bind_memory_block(&mut self, domain: DomainId, ra: u64, size: u64) -> Result<u64, HvError> {
        self.call(mig::MIG_MEMBLOCK_BIND, &[domain, ra, size])
            .map(|call| call.rets[0])
    }

    fn destroy_domain(&mut self, domain: DomainId) -> Result<(), HvError> {
        self.call(mig::MIG_DOMAIN_DESTROY, &[domain]).map(drop)
    }

    fn set_domain_state(&mut self, domain: DomainId, state: DomainRunState) -> Result<(), HvError> {
        self.call(mig::MIG_DOMAIN_SET_STATE, &[domain, state.raw()])
            .map(drop)
    }

    fn remove_crypto_units(&mut self, domain: DomainId) -> Result<u64, HvError> {
        self.call(mig::MIG_CRYPTO_REMOVE, &[domain])
            .map(|call| call.rets[0])
    }

    fn add_crypto_units(&mut self, domain: DomainId, count: u64) -> Result<u64, HvError> {
        self.call(mig::MIG_CRYPTO_ADD, &[domain, count])
            .map(|call| call.rets[0])
    }
}

fn queue_state(call: HvCall) -> Result<LdcQueueState, HvError> {
    Ok(LdcQueueState {
        head: call.rets[0],
        tail: call.rets[1],
        state: LdcChannelState::from_raw(call.rets[2]).ok_or(HvError::Unknown(call.rets[2]))?,
    })
}

/// Whether a buffer starts where the hypervisor takes buffers (8-byte
/// aligned).
fn is_aligned(buffer: &[u8]) -> bool {
    buffer.as_ptr().addr().is_multiple_of(8)
}

/// A page the hypervisor can take, for caller buffers at other addresses:
/// the trait takes any `&[u8]`, the hypervisor only 8-byte aligned ones.
#[repr(C, align(8))]
struct Bounce([u8; PAGE_SIZE]);

impl Bounce {
    /// A bounce page for `length` bytes; a misaligned buffer longer than a
    /// page is `EBADALIGN` (copying it in several calls could leave it
    /// half done on an error, which the contract forbids).
    fn for_length(length: usize) -> Result<Self, HvError> {
        if length > PAGE_SIZE {
            return Err(HvError::BadAlignment);
        }
        Ok(Bounce([0; PAGE_SIZE]))
    }
}

/// A [`mig::VcpuState`] where the hypervisor takes one: 8-byte aligned.
/// The type itself is byte-aligned (big-endian fields), so the trait's
/// callers may hand any address; the state goes through this copy.
#[repr(C, align(8))]
struct AlignedVcpuState(mig::VcpuState);

/// A byte count as the 64-bit register value the ABI takes.
fn byte_count(bytes: usize) -> u64 {
    // usize is at most 64 bits on every target: the conversion keeps every bit.
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

impl<T: FastTrap> TrapHypervisor<T> {
    /// A `*_QCONF` or `LDC_SET_MAP_TABLE`: `entries` of `entry_bytes` at
    /// the start of `region` ([`TrapHypervisor::table_base`]).
    fn configure(
        &mut self,
        function: u64,
        channel: u64,
        region: &LocalRegion,
        entries: u64,
        entry_bytes: usize,
    ) -> Result<(), HvError> {
        let base = self.table_base(region, entries, entry_bytes)?;
        self.call(function, &[channel, base, entries]).map(drop)
    }

    /// A `*_QINFO` or `LDC_GET_MAP_TABLE`: (RET1 RA, RET2 entries).
    fn info(&mut self, function: u64, channel: u64) -> Result<(u64, u64), HvError> {
        self.call(function, &[channel])
            .map(|call| (call.rets[0], call.rets[1]))
    }
}

/// The four calls of one queue of a [`TrapHypervisor`], by function
/// number: `*_QCONF` (64-byte entries), `*_QINFO`, `*_GET_STATE`, and
/// `TX_SET_QTAIL` or `RX_SET_QHEAD`.
macro_rules! queue_calls {
    (
        $qconf:ident => $qconf_function:path,
        $qinfo:ident => $qinfo_function:path,
        $get_state:ident => $get_state_function:path,
        $move_pointer:ident => $move_pointer_function:path $(,)?
    ) => {
        fn $qconf(
            &mut self,
            channel: u64,
            queue: &LocalRegion,
            entries: u64,
        ) -> Result<(), HvError> {
            self.configure(
                $qconf_function,
                channel,
                queue,
                entries,
                ldc::LDC_PACKET_SIZE,
            )
        }
        fn $qinfo(&mut self, channel: u64) -> Result<(u64, u64), HvError> {
            self.info($qinfo_function, channel)
        }
        fn $get_state(&mut self, channel: u64) -> Result<LdcQueueState, HvError> {
            queue_state(self.call($get_state_function, &[channel])?)
        }
        fn $move_pointer(&mut self, channel: u64, offset: u64) -> Result<(), HvError> {
            self.call($move_pointer_function, &[channel, offset])
                .map(drop)
        }
    };
}

impl<T: FastTrap> Ldc for TrapHypervisor<T> {
    queue_calls!(
        ldc_tx_qconf => ldc::LDC_TX_QCONF,
        ldc_tx_qinfo => ldc::LDC_TX_QINFO,
        ldc_tx_get_state => ldc::LDC_TX_GET_STATE,
        ldc_tx_set_qtail => ldc::LDC_TX_SET_QTAIL,
    );
    queue_calls!(
        ldc_rx_qconf => ldc::LDC_RX_QCONF,
        ldc_rx_qinfo => ldc::LDC_RX_QINFO,
        ldc_rx_get_state => ldc::LDC_RX_GET_STATE,
        ldc_rx_set_qhead => ldc::LDC_RX_SET_QHEAD,
    );
    fn ldc_set_map_table(
        &mut self,
        channel: u64,
        table: &LocalRegion,
        entries: u64,
    ) -> Result<(), HvError> {
        self.configure(
            ldc::LDC_SET_MAP_TABLE,
            channel,
            table,
            entries,
            ldc::LDC_MTE_BYTES,
        )
    }
    fn ldc_get_map_table(&mut self, channel: u64) -> Result<(u64, u64), HvError> {
        self.info(ldc::LDC_GET_MAP_TABLE, channel)
    }
    fn ldc_copy(
        &mut self,
        channel: u64,
        direction: u64,
        cookie: u64,
        local: &LocalRegion,
        offset: u64,
        length: u64,
    ) -> Result<u64, HvError> {
        let local_ra = self.granted(local, offset, length)?;
        self.call(
            ldc::LDC_COPY,
            &[channel, direction, cookie, local_ra, length],
        )
        .map(|call| call.rets[0])
    }
    fn ldc_mapin(&mut self, channel: u64, cookie: u64) -> Result<(u64, MapPermissions), HvError> {
        self.call(ldc::LDC_MAPIN, &[channel, cookie])
            .map(|call| (call.rets[0], MapPermissions::from_bits_retain(call.rets[1])))
    }
    fn ldc_unmap(&mut self, ra: u64) -> Result<(), HvError> {
        self.call(ldc::LDC_UNMAP, &[ra]).map(drop)
    }
    fn ldc_revoke(&mut self, channel: u64, cookie: u64, revoke_cookie: u64) -> Result<(), HvError> {
        self.call(ldc::LDC_REVOKE, &[channel, cookie, revoke_cookie])
            .map(drop)
    }
}

impl<T: FastTrap> LocalMemory for TrapHypervisor<T> {
    fn owns_memory(&self, ra: u64, length: u64) -> bool {
        LocalRegion::mint(ra, length).is_ok_and(|range| {
            self.grants
                .iter()
                .flatten()
                .any(|grant| grant.contains(&range))
        })
    }

    fn local_read(
        &mut self,
        region: &LocalRegion,
        offset: u64,
        buffer: &mut [u8],
    ) -> Result<(), HvError> {
        let ra = self.local_address(region, offset, buffer.len())?;
        // SAFETY: `ra..ra + buffer.len()` lies inside a grant (checked just
        // above), which `grant`'s contract makes memory the engine
        // owns at its own address, aliased by no Rust reference; the
        // hypervisor may write it concurrently, hence the volatile reads.
        unsafe {
            for (index, byte) in buffer.iter_mut().enumerate() {
                *byte = core::ptr::read_volatile((ra + index) as *const u8);
            }
        }
        Ok(())
    }

    fn local_write(
        &mut self,
        region: &LocalRegion,
        offset: u64,
        data: &[u8],
    ) -> Result<(), HvError> {
        let ra = self.local_address(region, offset, data.len())?;
        // SAFETY: as in `local_read`: granted memory, not aliased.
        unsafe {
            for (index, byte) in data.iter().enumerate() {
                core::ptr::write_volatile((ra + index) as *mut u8, *byte);
            }
        }
        Ok(())
    }
}

impl<T: FastTrap> TrapHypervisor<T> {
    /// The address of a local access of `length` bytes: 8-byte aligned
    /// (`EBADALIGN`), inside `region` and a grant (`ENORADDR`).
    fn local_address(
        &self,
        region: &LocalRegion,
        offset: u64,
        length: usize,
    ) -> Result<usize, HvError> {
        let ra = region.ra().wrapping_add(offset);
        if !ra.is_multiple_of(8) {
            return Err(HvError::BadAlignment);
        }
        let ra = self.granted(region, offset, byte_count(length))?;
        usize::try_from(ra).map_err(|_| HvError::NoRealAddress)
    }
}

#[cfg(test)]
mod tests;
