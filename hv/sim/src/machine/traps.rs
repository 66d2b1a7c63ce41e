//! The simulated machine as firmware sees it: a fast-trap dispatcher keyed
//! by function number ([`MachineTraps`], a [`FastTrap`]). Under
//! [`ldmig_hv::trap_hypervisor::TrapHypervisor`] it lets the real
//! marshalling (the MIGRATION function numbers, the argument registers, the
//! returns, the buffer bounces) run on the host against the machine, and
//! the conformance suite check the numbering.
//!
//! It serves `API_SET_VERSION`/`API_GET_VERSION` (core trap) for the LDOM
//! and MIGRATION groups, and every MIGRATION function once that group is
//! negotiated (`EBADTRAP` before, and for any other number: the simulated
//! LDC is [`crate::ldc::SimLdcEndpoint`], not trap-level). Caller buffers
//! are named by their address, as real firmware gets them: the checks of
//! `hv/API.md` (domain first, then the buffer, then the call's own) run
//! here, the rest is the machine's [`ldmig_hv::hypervisor`] implementation.

use super::Machine;
use ldmig_hv::abi::core::{API_GET_VERSION, API_SET_VERSION};
use ldmig_hv::abi::group;
use ldmig_hv::abi::migration::{self as mig, VcpuState};
use ldmig_hv::fast_trap::{FastTrap, HvCall};
use ldmig_hv::hypervisor::{
    DirtyLog, DomainControl, DomainId, DomainRunState, GuestMemory, VcpuControl,
};
use ldmig_hv::HvError;

/// What a served call gives back: RET1-RET4, or the error status.
type Outcome = Result<[u64; 4], HvError>;

/// A [`Machine`] behind a fast-trap dispatcher.
#[derive(Debug)]
pub struct MachineTraps {
    machine: Machine,
    /// Negotiated majors (0: not negotiated) of LDOM and MIGRATION.
    ldom_major: u64,
    migration_major: u64,
}

impl MachineTraps {
    /// `machine` behind a dispatcher; no group negotiated yet.
    pub fn new(machine: Machine) -> Self {
        MachineTraps {
            machine,
            ldom_major: 0,
            migration_major: 0,
        }
    }

    /// The machine.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The machine, mutably (set-up and inspection outside the ABI).
    pub fn machine_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// The negotiated major of `api_group`, and the version this hypervisor has.
    fn group(&mut self, api_group: u64) -> Option<(&mut u64, (u64, u64))> {
        match api_group {
            group::LDOM => Some((&mut self.ldom_major, (1, 0))),
            group::MIGRATION => Some((
                &mut self.migration_major,
                (mig::MIGRATION_MAJOR, mig::MIGRATION_MINOR),
            )),
            _ => None,
        }
    }

    /// `API_SET_VERSION`: unknown group `EINVAL`, major 0 disables, another
    /// major `ENOTSUPPORTED`, a minor above ours lowered (RET1).
    fn set_version(&mut self, api_group: u64, major: u64, minor: u64) -> Outcome {
        let (negotiated, (our_major, our_minor)) = self.group(api_group).ok_or(HvError::Invalid)?;
        if major == 0 {
            *negotiated = 0;
            return Ok([0; 4]);
        }
        if major != our_major {
            return Err(HvError::NotSupported);
        }
        *negotiated = major;
        Ok([minor.min(our_minor), 0, 0, 0])
    }

    /// `API_GET_VERSION`: RET1 the negotiated major (0 if none), RET2 its minor.
    fn get_version(&mut self, api_group: u64) -> Outcome {
        let (negotiated, (_, our_minor)) = self.group(api_group).ok_or(HvError::Invalid)?;
        let major = *negotiated;
        Ok([major, if major == 0 { 0 } else { our_minor }, 0, 0])
    }

    /// `EINVAL` unless `domain` exists: the check every call makes first.
    fn known(&self, domain: DomainId) -> Result<(), HvError> {
        self.machine
            .run_state(domain)
            .map(drop)
            .ok_or(HvError::Invalid)
    }

    /// One MIGRATION function.
    ///
    /// # Safety
    /// As [`FastTrap::fast_trap`]: every buffer RA in `args` names memory
    /// valid for the call's length and used by nothing else meanwhile.
    unsafe fn migration(&mut self, function: u64, args: [u64; 5]) -> Outcome {
        let [domain, a1, a2, a3, _] = args;
        let machine = &mut self.machine;
        match function {
            mig::MIG_DOMAIN_INFO => {
                let info = machine.domain_info(domain)?;
                Ok([info.vcpus, info.memory_blocks, info.state.raw(), 0])
            }
            mig::MIG_MEMBLOCK_INFO => {
                let block = machine.memory_block(domain, a1)?;
                Ok([block.ra, block.size, 0, 0])
            }
            mig::MIG_DIRTY_LOG_START => machine.dirty_log_start(domain, a1).map(|()| [0; 4]),
            mig::MIG_DIRTY_LOG_SYNC => {
                self.known(domain)?;
                // SAFETY: the caller's contract covers the bitmap's bytes.
                let bitmap = unsafe { caller_words(a2, a3)? };
                let dirty = self.machine.dirty_log_sync(domain, a1, bitmap)?;
                Ok([dirty, 0, 0, 0])
            }
            mig::MIG_DIRTY_LOG_STOP => machine.dirty_log_stop(domain, a1).map(|()| [0; 4]),
            mig::MIG_PAGE_READ | mig::MIG_PAGE_WRITE => {
                self.known(domain)?;
                if !(a1 | a3).is_multiple_of(8) {
                    return Err(HvError::BadAlignment);
                }
                // SAFETY: the caller's contract covers the buffer's bytes.
                let buffer = unsafe { caller_bytes(a2, a3)? };
                if function == mig::MIG_PAGE_READ {
                    self.machine.read_memory(domain, a1, buffer)?;
                } else {
                    self.machine.write_memory(domain, a1, buffer)?;
                }
                Ok([a3, 0, 0, 0])
            }
            mig::MIG_DOMAIN_SUSPEND => machine.suspend(domain).map(|()| [0; 4]),
            mig::MIG_DOMAIN_RESUME => machine.resume(domain).map(|()| [0; 4]),
            mig::MIG_VCPU_GET_STATE | mig::MIG_VCPU_SET_STATE => {
                self.known(domain)?;
                // SAFETY: the caller's contract covers the state's bytes.
                let state = unsafe { caller_vcpu_state(a2, a3)? };
                if function == mig::MIG_VCPU_GET_STATE {
                    self.machine.vcpu_state(domain, a1, state)?;
                } else {
                    self.machine.set_vcpu_state(domain, a1, state)?;
                }
                Ok([0; 4])
            }
            mig::MIG_DOMAIN_CREATE => machine.create_domain(domain).map(|id| [id, 0, 0, 0]),
            mig::MIG_MEMBLOCK_BIND => machine
                .bind_memory_block(domain, a1, a2)
                .map(|pa| [pa, 0, 0, 0]),
            mig::MIG_DOMAIN_DESTROY => machine.destroy_domain(domain).map(|()| [0; 4]),
            mig::MIG_VCPU_THROTTLE => {
                self.known(domain)?;
                let percent = u8::try_from(a1).map_err(|_| HvError::Invalid)?;
                self.machine.throttle(domain, percent).map(|()| [0; 4])
            }
            mig::MIG_CRYPTO_REMOVE => machine.remove_crypto_units(domain).map(|n| [n, 0, 0, 0]),
            mig::MIG_CRYPTO_ADD => machine.add_crypto_units(domain, a1).map(|n| [n, 0, 0, 0]),
            mig::MIG_DOMAIN_SET_STATE => {
                self.known(domain)?;
                let state = DomainRunState::from_raw(a1).ok_or(HvError::Invalid)?;
                self.machine
                    .set_domain_state(domain, state)
                    .map(|()| [0; 4])
            }
            _ => Err(HvError::BadTrap),
        }
    }
}

/// Writes `outcome` into the registers of `call`.
fn answer(mut call: HvCall, outcome: Outcome) -> HvCall {
    match outcome {
        Ok(rets) => {
            call.status = 0;
            call.rets[..4].copy_from_slice(&rets);
        }
        Err(error) => call.status = error.status(),
    }
    call
}

impl FastTrap for MachineTraps {
    unsafe fn fast_trap(&mut self, function: u64, args: &[u64]) -> HvCall {
        let call = HvCall::new(function, args);
        let outcome = if !mig::MIGRATION_FUNCTIONS.contains(&function) || self.migration_major == 0
        {
            Err(HvError::BadTrap)
        } else {
            // The caller upholds this method's contract, `migration`'s.
            // SAFETY: see the line above.
            unsafe { self.migration(function, call.args) }
        };
        answer(call, outcome)
    }

    fn core_trap(&mut self, function: u64, args: &[u64]) -> HvCall {
        let call = HvCall::new(function, args);
        let [api_group, major, minor, _, _] = call.args;
        let outcome = match function {
            API_SET_VERSION => self.set_version(api_group, major, minor),
            API_GET_VERSION => self.get_version(api_group),
            _ => Err(HvError::BadTrap),
        };
        answer(call, outcome)
    }
}

/// The caller's buffer of `length` bytes at `address`: `EBADALIGN` unless
/// both are multiples of 8 (the hypervisor's rule).
///
/// # Safety
/// `[address, address + length)` must be valid for reads and writes and
/// used by nothing else for `'a`.
unsafe fn caller_bytes<'a>(address: u64, length: u64) -> Result<&'a mut [u8], HvError> {
    if !(address | length).is_multiple_of(8) {
        return Err(HvError::BadAlignment);
    }
    let length = usize::try_from(length).map_err(|_| HvError::NoRealAddress)?;
    if length == 0 {
        return Ok(&mut []);
    }
    let pointer = usize::try_from(address).map_err(|_| HvError::NoRealAddress)? as *mut u8;
    // The caller vouches for the range; the pointer is non-null (an
    // address the caller's memory has) and 8-byte aligned.
    // SAFETY: see the lines above.
    Ok(unsafe { core::slice::from_raw_parts_mut(pointer, length) })
}

/// The caller's bitmap of `length` bytes at `address`, as words.
///
/// # Safety
/// As [`caller_bytes`].
unsafe fn caller_words<'a>(address: u64, length: u64) -> Result<&'a mut [u64], HvError> {
    // SAFETY: the caller's contract is `caller_bytes`'s.
    let bytes = unsafe { caller_bytes(address, length)? };
    let words = bytes.len() / 8;
    if words == 0 {
        return Ok(&mut []);
    }
    let pointer = bytes.as_mut_ptr().cast::<u64>();
    // The bytes are 8-byte aligned (checked), exclusively borrowed for
    // `'a`, and any bit pattern is a u64.
    // SAFETY: see the lines above.
    Ok(unsafe { core::slice::from_raw_parts_mut(pointer, words) })
}

/// The caller's vCPU-state buffer of `length` bytes at `address`: `EINVAL`
/// when shorter than a [`VcpuState`], `EBADALIGN` unless 8-byte aligned.
///
/// # Safety
/// As [`caller_bytes`].
unsafe fn caller_vcpu_state<'a>(address: u64, length: u64) -> Result<&'a mut VcpuState, HvError> {
    if length < VcpuState::BYTES as u64 {
        return Err(HvError::Invalid);
    }
    // SAFETY: the caller's contract is `caller_bytes`'s.
    let bytes = unsafe { caller_bytes(address, VcpuState::BYTES as u64)? };
    let state = bytes.as_mut_ptr().cast::<VcpuState>();
    // The bytes are exactly a VcpuState's (byte-aligned, every bit
    // pattern valid), exclusively borrowed for `'a`.
    // SAFETY: see the lines above.
    Ok(unsafe { &mut *state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::test_machine::machine_with_domain;
    use ldmig_hv::abi::error::{EBADTRAP, EINVAL, ENOTSUPPORTED};

    #[test]
    fn negotiation_gates_the_group_and_follows_the_rules() {
        let (machine, domain) = machine_with_domain();
        let mut traps = MachineTraps::new(machine);
        // SAFETY: MIG_DOMAIN_INFO takes no addresses.
        let before = unsafe { traps.fast_trap(mig::MIG_DOMAIN_INFO, &[domain]) };
        assert_eq!(before.status, EBADTRAP, "not negotiated yet");
        let unknown = traps.core_trap(API_SET_VERSION, &[0x4242, 1, 0]);
        assert_eq!(unknown.status, EINVAL);
        let wrong = traps.core_trap(API_SET_VERSION, &[group::MIGRATION, 1, 0]);
        assert_eq!(wrong.status, ENOTSUPPORTED, "1.0 is the old numbering");
        let lowered = traps.core_trap(API_SET_VERSION, &[group::MIGRATION, 2, 5]);
        assert_eq!((lowered.status, lowered.rets[0]), (0, 0));
        let version = traps.core_trap(API_GET_VERSION, &[group::MIGRATION]);
        assert_eq!((version.rets[0], version.rets[1]), (2, 0));
        // SAFETY: as above.
        let info = unsafe { traps.fast_trap(mig::MIG_DOMAIN_INFO, &[domain]) };
        assert_eq!((info.status, info.rets[0], info.rets[1]), (0, 2, 2));
        // SAFETY: no addresses.
        let old = unsafe { traps.fast_trap(0x200, &[domain]) };
        assert_eq!(old.status, EBADTRAP, "the old DIAG-colliding number");
        traps.core_trap(API_SET_VERSION, &[group::MIGRATION, 0, 0]);
        // SAFETY: as above.
        let disabled = unsafe { traps.fast_trap(mig::MIG_DOMAIN_INFO, &[domain]) };
        assert_eq!(disabled.status, EBADTRAP, "major 0 disables the group");
    }

    #[test]
    fn buffers_are_checked_after_the_domain() {
        let (machine, domain) = machine_with_domain();
        let mut traps = MachineTraps::new(machine);
        traps.core_trap(API_SET_VERSION, &[group::MIGRATION, 2, 0]);
        #[repr(align(8))]
        struct Buffer([u8; 64]);
        let mut buffer = Buffer([0; 64]);
        let address = buffer.0.as_mut_ptr() as u64;
        let read = |traps: &mut MachineTraps, domain, address, length| {
            // SAFETY: every address names bytes of `buffer`, free meanwhile.
            unsafe { traps.fast_trap(mig::MIG_PAGE_READ, &[domain, 0x800_0000, address, length]) }
                .status
        };
        assert_eq!(read(&mut traps, 77, address + 4, 8), EINVAL, "domain first");
        assert_eq!(
            read(&mut traps, domain, address + 4, 8),
            HvError::BadAlignment.status()
        );
        assert_eq!(
            read(&mut traps, domain, address, 12),
            HvError::BadAlignment.status()
        );
        assert_eq!(read(&mut traps, domain, address, 64), 0);
        // `buffer` holds 64 bytes, less than a VcpuState: refused before
        // any access.
        // SAFETY: see the lines above.
        let short = unsafe { traps.fast_trap(mig::MIG_VCPU_GET_STATE, &[domain, 0, address, 64]) };
        assert_eq!(short.status, EINVAL);
    }
}
