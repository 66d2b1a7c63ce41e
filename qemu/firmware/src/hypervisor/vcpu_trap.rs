//! What a hypercall from a privileged vCPU does to its saved state: the
//! context switch stored every register in the vCPU's `VcpuState`; the
//! call's arguments are read from (and its results written to) the saved
//! `%o0`-`%o5`, its resume point is moved past the `ta` (what `done` would
//! do), and on `CPU_YIELD` another vCPU is chosen.

use super::caller::Caller;
use super::calls::{CallEffect, CallRegisters};
use super::domain::DomainKind;
use super::scheduler::VcpuId;
use super::Machine;
use crate::call_table::TrapKind;
use ldmig_hv::abi::migration::VcpuState;
use zerocopy::byteorder::big_endian::U64;

/// `ta 0x80`: `TT_HTRAP` 0x100 + 0x80.
pub const TT_FAST_TRAP: u64 = 0x180;
/// `ta 0xff`.
pub const TT_CORE_TRAP: u64 = 0x1ff;

/// Why a trap from a privileged vCPU cannot be handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuTrapError {
    /// No vCPU is on the strand.
    NoCurrentVcpu,
    /// A trap type the entry does not send here.
    UnexpectedTrap(u64),
    /// The vCPU trapped from TL > 0 or GL > 0 (privileged contexts make
    /// hypercalls from TL 0 only; their TL > 0 state is not saved).
    NotAtTrapLevelZero,
}

/// What the trap ends in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuTrapOutcome {
    /// Resume the vCPU whose save area this is.
    Resume(*mut VcpuState),
    /// The service domain's report: print the verdict and stop.
    Report {
        /// Physical address of the report.
        address: u64,
        /// Its length.
        length: u64,
    },
}

/// `%o0`-`%o5` of the window the vCPU trapped in: the ins of the next
/// window (the outs of window `w` are the ins of window `w + 1`).
fn out_registers(state: &mut VcpuState) -> &mut [U64] {
    let window = ((state.cwp.get() + 1) % 8) as usize;
    &mut state.windows[window][8..14]
}

impl Machine {
    /// Handles trap `trap_type` of the vCPU on the strand, whose registers
    /// the context switch just saved.
    pub fn vcpu_trap(&mut self, trap_type: u64) -> Result<VcpuTrapOutcome, VcpuTrapError> {
        let trap = match trap_type {
            TT_FAST_TRAP => TrapKind::Fast,
            TT_CORE_TRAP => TrapKind::Core,
            other => return Err(VcpuTrapError::UnexpectedTrap(other)),
        };
        let current = self
            .scheduler
            .current()
            .ok_or(VcpuTrapError::NoCurrentVcpu)?;
        let domain = self
            .domain_mut(current.domain)
            .ok_or(VcpuTrapError::NoCurrentVcpu)?;
        let kind = domain.kind;
        let state = &mut domain.vcpus[current.vcpu];
        if state.tl.get() != 0 || state.gl.get() != 0 {
            return Err(VcpuTrapError::NotAtTrapLevelZero);
        }
        // Resume after the `ta`, as `done` would: PC = TNPC, NPC = TNPC + 4.
        let after = state.npc.get();
        state.pc = U64::new(after);
        state.npc = U64::new(after + 4);
        let mut registers: CallRegisters = [0; 6];
        for (register, saved) in registers.iter_mut().zip(out_registers(state).iter()) {
            *register = saved.get();
        }

        let effect = self.hypercall(Caller::Domain(current.domain), trap, &mut registers);

        if let Some(domain) = self.domain_mut(current.domain) {
            let outs = out_registers(&mut domain.vcpus[current.vcpu]);
            for (saved, register) in outs.iter_mut().zip(registers) {
                *saved = U64::new(register);
            }
        }
        let next = match effect {
            CallEffect::Return => current,
            CallEffect::Yield => {
                if kind == DomainKind::Guest {
                    self.statistics.guest_slices += 1;
                }
                self.next_after_yield(current)
            }
            CallEffect::Report { address, length } => {
                return Ok(VcpuTrapOutcome::Report { address, length })
            }
        };
        Ok(VcpuTrapOutcome::Resume(self.switch_to(next)))
    }

    /// The vCPU on the strand, for a fatal report.
    pub fn current_vcpu(&self) -> Option<VcpuId> {
        self.scheduler.current()
    }
}
