//! The Rust side of the trap tables (reset.S, context_switch.S,
//! privileged_trap_tables.S): hypervisor calls from the hyperprivileged
//! boot code, traps from privileged vCPUs, guests' MMU traps, and the
//! fatal-trap reports.

use crate::call_table::TrapKind;
use crate::console::Console;
use crate::context_switch::ldmig_mmu_fault_save_area;
use crate::hypervisor::vcpu_trap::{VcpuTrapOutcome, TT_CORE_TRAP, TT_FAST_TRAP};
use crate::hypervisor::MACHINE;
use core::fmt::Write;
use ldmig_hv::abi::migration::VcpuState;

/// Prints the fatal-trap verdict qemu/boot recognises, `report` after
/// "fatal trap", and stops.
fn fatal_trap(report: core::fmt::Arguments<'_>) -> ! {
    let mut console = Console::new();
    let _ = writeln!(console, "\nldmig firmware: fatal trap{report}");
    crate::halt()
}

/// `%o0`-`%o5` of the window that trapped, as reset.S stores them; what is
/// left here when the handler returns is loaded back before `done`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TrapRegisters {
    /// `%o0`-`%o5`: ARG0-ARG4 and the function number in; status and
    /// RET1-RET4 (and `%o5` unchanged) out.
    pub outs: [u64; 6],
}

unsafe extern "C" {
    /// The trap table (reset.S); only its address is used.
    fn ldmig_firmware_trap_table();
}

/// Where the trap table is (= HTBA, set by the reset code).
pub fn trap_table_address() -> usize {
    ldmig_firmware_trap_table as *const () as usize
}

/// Called by reset.S for `ta 0x80` / `ta 0xff` of the hyperprivileged boot
/// code (before any privileged context runs), at TL 1 on the caller's
/// stack; `done` follows.
#[no_mangle]
pub extern "C" fn ldmig_firmware_hypervisor_trap(registers: &mut TrapRegisters, trap_type: u64) {
    let trap = match trap_type {
        TT_FAST_TRAP => TrapKind::Fast,
        TT_CORE_TRAP => TrapKind::Core,
        other => ldmig_firmware_fatal_trap(other, 0, 1),
    };
    MACHINE.with(|machine| {
        machine.hypercall(
            crate::hypervisor::caller::Caller::Hypervisor,
            trap,
            &mut registers.outs,
        )
    });
}

/// Called by context_switch.S for `ta 0x80` / `ta 0xff` of a privileged
/// vCPU, whose registers it saved; returns the save area of the vCPU to
/// resume.
#[no_mangle]
pub extern "C" fn ldmig_firmware_privileged_trap(trap_type: u64) -> *mut VcpuState {
    let outcome = MACHINE.with(|machine| match machine.vcpu_trap(trap_type) {
        Ok(VcpuTrapOutcome::Resume(state)) => state,
        Ok(VcpuTrapOutcome::Report { address, length }) => {
            crate::report::final_report(machine, address, length)
        }
        Err(error) => fatal_trap(format_args!(
            ": tt={trap_type:#x} from vCPU {:?}: {error:?}",
            machine.current_vcpu()
        )),
    });
    outcome
}

/// Called by context_switch.S for a guest's MMU trap (with the address of
/// `ldmig_mmu_fault_save_area`, which it filled): fills in the TTE.
#[no_mangle]
pub extern "C" fn ldmig_firmware_mmu_fault() {
    // The assembly filled the save area and does not touch it until this
    // returns.
    // SAFETY: nothing else references it now (one strand, no nesting).
    let area = unsafe { ldmig_mmu_fault_save_area.get_mut() };
    let (trap_type, tag_access) = (area.trap_type, area.tag_access);
    match MACHINE.with(|machine| machine.mmu_fault(trap_type, tag_access)) {
        Ok(tte) => area.tte = tte,
        Err(error) => fatal_trap(format_args!(
            ": guest MMU trap tt={trap_type:#x} tag access {tag_access:#x}: {error:?}"
        )),
    }
}

/// Called by reset.S for every trap the firmware does not handle: prints
/// what trapped where, as a verdict qemu/boot recognises, and stops.
#[no_mangle]
pub extern "C" fn ldmig_firmware_fatal_trap(trap_type: u64, trap_pc: u64, trap_level: u64) -> ! {
    fatal_trap(format_args!(
        " tt={trap_type:#x} at tpc={trap_pc:#x} (TL {trap_level})"
    ))
}

/// Called by reset.S when a privileged trap table's fatal entry issued
/// `ta 0xf0`: names the vCPU that trapped.
#[no_mangle]
pub extern "C" fn ldmig_firmware_privileged_fatal_trap(
    trap_type: u64,
    trap_pc: u64,
    trap_level: u64,
) -> ! {
    // The hypervisor state may be borrowed by whatever trapped: peek only.
    let vcpu = crate::hypervisor::MACHINE.try_peek(|machine| machine.current_vcpu());
    fatal_trap(format_args!(
        " tt={trap_type:#x} at tpc={trap_pc:#x} (TL {trap_level}) in privileged vCPU {vcpu:?}"
    ))
}
