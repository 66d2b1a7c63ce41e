//! The `ta 0x80` / `ta 0xff` trampolines (sparc64 only): the project's only
//! assembly, in `trampoline.S`, one routine per argument count.
//!
//! A call is described by a [`HvCall`] block; the trampoline loads the
//! function number into `%o5` and ARG0.. into `%o0`.., traps, and stores the
//! status and RET1-RET4 back into the block.

use crate::fast_trap::FastTrap;
pub use crate::fast_trap::HvCall;

unsafe extern "C" {
    fn ldmig_fast_trap_0(call: *mut HvCall) -> u64;
    fn ldmig_fast_trap_1(call: *mut HvCall) -> u64;
    fn ldmig_fast_trap_2(call: *mut HvCall) -> u64;
    fn ldmig_fast_trap_3(call: *mut HvCall) -> u64;
    fn ldmig_fast_trap_4(call: *mut HvCall) -> u64;
    fn ldmig_fast_trap_5(call: *mut HvCall) -> u64;
    fn ldmig_core_trap_1(call: *mut HvCall) -> u64;
    fn ldmig_core_trap_3(call: *mut HvCall) -> u64;
}

/// Issues fast trap `function` with `args` (at most 5) through the
/// trampoline for that argument count.
///
/// # Safety
/// The caller must uphold the called function's contract: every real
/// address passed must name memory that the hypervisor may read or write
/// for the call's documented length, and that memory must not be in use by
/// Rust references while the call runs.
pub unsafe fn fast_trap(function: u64, args: &[u64]) -> HvCall {
    let mut call = HvCall::new(function, args);
    let count = args.len().min(5);
    let pointer: *mut HvCall = &mut call;
    // SAFETY: `pointer` is a valid, exclusive HvCall for the whole call; the
    // trampoline touches only that block and the registers the sun4v ABI
    // makes volatile. The caller vouches for the addresses in `args`.
    unsafe {
        match count {
            0 => ldmig_fast_trap_0(pointer),
            1 => ldmig_fast_trap_1(pointer),
            2 => ldmig_fast_trap_2(pointer),
            3 => ldmig_fast_trap_3(pointer),
            4 => ldmig_fast_trap_4(pointer),
            _ => ldmig_fast_trap_5(pointer),
        };
    }
    call
}

/// Issues core trap `function` (`ta 0xff`, e.g. `API_SET_VERSION`) with up
/// to 3 arguments.
///
/// # Safety
/// As for [`fast_trap`]; the CORE_TRAP calls take no addresses.
pub unsafe fn core_trap(function: u64, args: &[u64]) -> HvCall {
    let mut call = HvCall::new(function, &args[..args.len().min(3)]);
    let count = args.len().min(3);
    let pointer: *mut HvCall = &mut call;
    // SAFETY: as in `fast_trap`: an exclusive, valid block; no addresses.
    unsafe {
        if count <= 1 {
            ldmig_core_trap_1(pointer);
        } else {
            ldmig_core_trap_3(pointer);
        }
    }
    call
}

/// The real `ta` instruction, through the trampolines above: the
/// [`FastTrap`] of `Sun4v` ([`crate::sun4v`]).
#[derive(Debug)]
pub struct Trampolines;

impl FastTrap for Trampolines {
    unsafe fn fast_trap(&mut self, function: u64, args: &[u64]) -> HvCall {
        // SAFETY: the caller upholds `FastTrap::fast_trap`'s contract, which
        // is `fast_trap`'s.
        unsafe { fast_trap(function, args) }
    }

    fn core_trap(&mut self, function: u64, args: &[u64]) -> HvCall {
        // SAFETY: the CORE_TRAP functions take no addresses.
        unsafe { core_trap(function, args) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trampolines_are_linked() {
        // The trap itself cannot run in qemu-sparc64 user mode (no
        // hypervisor); this proves the assembly was built and linked.
        let routines = [
            ldmig_fast_trap_0 as *const () as usize,
            ldmig_fast_trap_1 as *const () as usize,
            ldmig_fast_trap_2 as *const () as usize,
            ldmig_fast_trap_3 as *const () as usize,
            ldmig_fast_trap_4 as *const () as usize,
            ldmig_fast_trap_5 as *const () as usize,
            ldmig_core_trap_1 as *const () as usize,
            ldmig_core_trap_3 as *const () as usize,
        ];
        for (index, address) in routines.iter().enumerate() {
            assert_ne!(*address, 0);
            assert_eq!(address % 4, 0, "routine {index} misaligned");
        }
    }
}
