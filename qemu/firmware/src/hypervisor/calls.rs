//! The hypervisor-call dispatch: `ta 0x80` (fast trap, function in `%o5`)
//! and `ta 0xff` (core trap), ARG0-ARG4 in `%o0`-`%o4`, status back in
//! `%o0`, RET1-RET4 in `%o1`-`%o4`. Functions are matched by their names in
//! `ldmig_hv::abi` (the numbers may change; the names do not).

use super::caller::Caller;
use super::domain::DomainKind;
use super::migration_group::Outcome;
use super::Machine;
use crate::call_table::{known_call_index, TrapKind, FIRMWARE_ECHO, FIRMWARE_REPORT};
use crate::console::Console;
use ldmig_hv::abi::core::{API_GET_VERSION, API_SET_VERSION};
use ldmig_hv::abi::cpu::{CONS_PUTCHAR, CONS_READ, CONS_WRITE, CPU_YIELD};
use ldmig_hv::abi::error::{EBADTRAP, EINVAL, EOK, EWOULDBLOCK};
use ldmig_hv::abi::{group, migration as mig};

/// What the call asks of the caller's vCPU besides its return values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallEffect {
    /// Return to the caller.
    Return,
    /// The caller yields the strand (`CPU_YIELD`).
    Yield,
    /// The service domain handed in its report (`FIRMWARE_REPORT`): the
    /// physical address and length of its buffer.
    Report {
        /// Physical address of the report.
        address: u64,
        /// Its length in bytes.
        length: u64,
    },
}

/// `%o0`-`%o5` of the calling window: ARG0-ARG4 and the function number
/// in; status, RET1-RET4 (and `%o5` unchanged) out.
pub type CallRegisters = [u64; 6];

impl Machine {
    /// Whether `caller` may use the MIGRATION group at all.
    pub fn may_migrate(&self, caller: Caller) -> bool {
        match caller {
            Caller::Hypervisor => true,
            Caller::Domain(id) => self
                .domain(id)
                .is_some_and(|domain| domain.kind == DomainKind::Service),
        }
    }

    /// One hypercall by `caller`: counts it, runs it, writes the results
    /// into `registers`.
    pub fn hypercall(
        &mut self,
        caller: Caller,
        trap: TrapKind,
        registers: &mut CallRegisters,
    ) -> CallEffect {
        let function = registers[5];
        let args = [
            registers[0],
            registers[1],
            registers[2],
            registers[3],
            registers[4],
        ];
        self.count_call(caller, trap, function);
        if trap == TrapKind::Fast && function == FIRMWARE_ECHO {
            // Status = ARG0, RET1-RET4 = ARG1-ARG4: the registers stay.
            return CallEffect::Return;
        }
        let (outcome, effect) = match trap {
            TrapKind::Core => (self.core_call(caller, function, args), CallEffect::Return),
            TrapKind::Fast => self.fast_call(caller, function, args),
        };
        match outcome {
            Ok(rets) => {
                registers[0] = EOK;
                registers[1..5].copy_from_slice(&rets);
            }
            Err(status) => registers[0] = status,
        }
        effect
    }

    fn count_call(&mut self, caller: Caller, trap: TrapKind, function: u64) {
        let statistics = &mut self.statistics;
        let index = known_call_index(trap, function);
        if index.is_none() {
            statistics.unknown_calls += 1;
        }
        match caller {
            Caller::Hypervisor => {
                statistics.hypercalls_from_hyperprivileged += 1;
                if let Some(index) = index {
                    statistics.hyperprivileged_by_call[index] += 1;
                }
            }
            Caller::Domain(_) => {
                statistics.hypercalls_from_privileged += 1;
                if let Some(index) = index {
                    statistics.privileged_by_call[index] += 1;
                }
            }
        }
    }

    fn core_call(&mut self, caller: Caller, function: u64, args: [u64; 5]) -> Outcome {
        let may_migrate = self.may_migrate(caller);
        match function {
            API_SET_VERSION => {
                self.negotiations
                    .set_version(caller, may_migrate, args[0], args[1], args[2])
            }
            API_GET_VERSION => self.negotiations.get_version(caller, may_migrate, args[0]),
            _ => Err(EBADTRAP),
        }
    }

    fn fast_call(
        &mut self,
        caller: Caller,
        function: u64,
        args: [u64; 5],
    ) -> (Outcome, CallEffect) {
        match function {
            CPU_YIELD => {
                let effect = match caller {
                    Caller::Hypervisor => CallEffect::Return,
                    Caller::Domain(_) => CallEffect::Yield,
                };
                (Ok([0; 4]), effect)
            }
            CONS_WRITE => (
                self.console_write(caller, args[0], args[1]),
                CallEffect::Return,
            ),
            CONS_READ => (
                self.console_read(caller, args[0], args[1]),
                CallEffect::Return,
            ),
            CONS_PUTCHAR => (console_putchar(args[0]), CallEffect::Return),
            FIRMWARE_REPORT => self.firmware_report(caller, args[0], args[1]),
            _ => (
                self.migration_call(caller, function, args),
                CallEffect::Return,
            ),
        }
    }

    /// `CONS_WRITE`: the bytes the UART takes (RET1), `EWOULDBLOCK` when
    /// it takes none (its character device is blocked).
    fn console_write(&mut self, caller: Caller, ra: u64, length: u64) -> Outcome {
        let address = self.caller_bytes(caller, ra, length)?;
        let mut console = Console::new();
        let mut written = 0;
        while written < length {
            // Inside the caller's checked buffer.
            // SAFETY: the caller is stopped in its trap.
            let byte = unsafe { core::ptr::read_volatile((address + written) as *const u8) };
            if !console.try_put_byte(byte) {
                break;
            }
            written += 1;
        }
        if written == 0 && length > 0 {
            return Err(EWOULDBLOCK);
        }
        Ok([written, 0, 0, 0])
    }

    /// `CONS_READ`: the received bytes waiting (RET1, at most `length`),
    /// `EWOULDBLOCK` when none waits.
    fn console_read(&mut self, caller: Caller, ra: u64, length: u64) -> Outcome {
        let address = self.caller_bytes(caller, ra, length)?;
        let mut console = Console::new();
        let mut read = 0;
        while read < length {
            let Some(byte) = console.try_get_byte() else {
                break;
            };
            // Inside the caller's checked buffer.
            // SAFETY: the caller is stopped in its trap.
            unsafe { core::ptr::write_volatile((address + read) as *mut u8, byte) };
            read += 1;
        }
        if read == 0 && length > 0 {
            return Err(EWOULDBLOCK);
        }
        Ok([read, 0, 0, 0])
    }

    fn firmware_report(&mut self, caller: Caller, ra: u64, length: u64) -> (Outcome, CallEffect) {
        let service = matches!(caller, Caller::Domain(id)
            if self.domain(id).is_some_and(|domain| domain.kind == DomainKind::Service));
        if !service {
            return (Err(EBADTRAP), CallEffect::Return);
        }
        match self.caller_buffer(caller, ra, length) {
            Ok(address) => (Ok([0; 4]), CallEffect::Report { address, length }),
            Err(status) => (Err(status), CallEffect::Return),
        }
    }

    /// A MIGRATION-group call: `EBADTRAP` unless `caller` negotiated the
    /// group (or for a function that is not in it).
    fn migration_call(&mut self, caller: Caller, function: u64, args: [u64; 5]) -> Outcome {
        let in_group = crate::call_table::migration_call_index(function).is_some();
        if !in_group || self.negotiations.major(caller, group::MIGRATION) == 0 {
            return Err(EBADTRAP);
        }
        let [a0, a1, a2, _, _] = args;
        match function {
            mig::MIG_DOMAIN_INFO => self.mig_domain_info(a0),
            mig::MIG_MEMBLOCK_INFO => self.mig_memblock_info(a0, a1),
            mig::MIG_DIRTY_LOG_START => self.mig_dirty_log_start(a0, a1),
            mig::MIG_DIRTY_LOG_SYNC => self.mig_dirty_log_sync(caller, args),
            mig::MIG_DIRTY_LOG_STOP => self.mig_dirty_log_stop(a0, a1),
            mig::MIG_PAGE_READ => self.mig_page_copy(caller, args, false),
            mig::MIG_PAGE_WRITE => self.mig_page_copy(caller, args, true),
            mig::MIG_DOMAIN_SUSPEND => self.mig_domain_suspend(a0),
            mig::MIG_DOMAIN_RESUME => self.mig_domain_resume(a0),
            mig::MIG_VCPU_GET_STATE => self.mig_vcpu_get_state(caller, args),
            mig::MIG_VCPU_SET_STATE => self.mig_vcpu_set_state(caller, args),
            mig::MIG_DOMAIN_CREATE => self.mig_domain_create(a0),
            mig::MIG_MEMBLOCK_BIND => self.mig_memblock_bind(a0, a1, a2),
            mig::MIG_DOMAIN_DESTROY => self.mig_domain_destroy(a0),
            mig::MIG_VCPU_THROTTLE => self.mig_vcpu_throttle(a0, a1),
            mig::MIG_CRYPTO_REMOVE => self.mig_crypto_remove(a0),
            mig::MIG_CRYPTO_ADD => self.mig_crypto_add(a0, a1),
            mig::MIG_DOMAIN_SET_STATE => self.mig_domain_set_state(a0, a1),
            _ => Err(EBADTRAP),
        }
    }
}

/// `CONS_PUTCHAR`: a character 0-255 (BREAK, -1, is not supported: EINVAL).
fn console_putchar(character: u64) -> Outcome {
    let byte = u8::try_from(character).map_err(|_| EINVAL)?;
    Console::new().put_byte(byte);
    Ok([0; 4])
}
