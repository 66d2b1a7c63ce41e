//! The Rust side of the trap table in reset.S: the hypervisor-call entry
//! (`ta 0x80`, `ta 0xff` from the trampolines) and the fatal-trap report.

use crate::console::Console;
use crate::stub_hypervisor;
use core::fmt::Write;

/// Trap type of `ta 0x80` (TT_HTRAP 0x100 + 0x80): a sun4v fast trap.
pub const TT_FAST_TRAP: u64 = 0x180;
/// Trap type of `ta 0xff`: the sun4v core trap.
pub const TT_CORE_TRAP: u64 = 0x1ff;

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

/// Called by reset.S for trap types 0x180 and 0x1ff, at TL 1 in the
/// trapping window's frame; `done` follows.
#[no_mangle]
pub extern "C" fn ldmig_firmware_hypervisor_trap(registers: &mut TrapRegisters, trap_type: u64) {
    match trap_type {
        TT_FAST_TRAP => stub_hypervisor::fast_trap(&mut registers.outs),
        TT_CORE_TRAP => stub_hypervisor::core_trap(&mut registers.outs),
        other => ldmig_firmware_fatal_trap(other, 0, 1),
    }
}

/// Called by reset.S for every trap the firmware does not handle: prints
/// what trapped where, as a verdict qemu/boot recognises, and stops.
#[no_mangle]
pub extern "C" fn ldmig_firmware_fatal_trap(trap_type: u64, trap_pc: u64, trap_level: u64) -> ! {
    let mut console = Console::new();
    let _ = writeln!(
        console,
        "\nldmig firmware: fatal trap tt={trap_type:#x} at tpc={trap_pc:#x} (TL {trap_level})"
    );
    crate::halt()
}
