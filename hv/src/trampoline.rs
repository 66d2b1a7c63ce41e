//! The `ta 0x80` / `ta 0xff` trampolines (sparc64 only): the project's only
//! assembly, in `trampoline.S`, one routine per argument count.
//!
//! A call is described by a [`HvCall`] block; the trampoline loads the
//! function number into `%o5` and ARG0.. into `%o0`.., traps, and stores the
//! status and RET1-RET4 back into the block.

/// One hypervisor call: function number, arguments, and what came back.
/// The layout is read by `trampoline.S`; do not reorder.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct HvCall {
    /// Function number (`%o5`).
    pub function: u64,
    /// ARG0-ARG4 (`%o0`-`%o4`).
    pub args: [u64; 5],
    /// Status (`%o0` after the trap).
    pub status: u64,
    /// RET1-RET4 (`%o1`-`%o4` after the trap); RET5 unused.
    pub rets: [u64; 5],
}

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
    let mut call = HvCall {
        function,
        ..HvCall::default()
    };
    let count = args.len().min(5);
    call.args[..count].copy_from_slice(&args[..count]);
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
    let mut call = HvCall {
        function,
        ..HvCall::default()
    };
    let count = args.len().min(3);
    call.args[..count].copy_from_slice(&args[..count]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_block_layout_matches_the_assembly() {
        assert_eq!(core::mem::offset_of!(HvCall, function), 0);
        assert_eq!(core::mem::offset_of!(HvCall, args), 8);
        assert_eq!(core::mem::offset_of!(HvCall, status), 48);
        assert_eq!(core::mem::offset_of!(HvCall, rets), 56);
        assert_eq!(core::mem::size_of::<HvCall>(), 96);
    }

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
