//! The fast-trap seam: one hypervisor call as the registers carry it
//! ([`HvCall`]) and what issues it ([`FastTrap`]): the `ta 0x80` / `ta 0xff`
//! trampolines on sparc64 ([`crate::trampoline::Trampolines`]), or a
//! simulated hypervisor that answers by function number on the host.
//!
//! [`crate::trap_hypervisor::TrapHypervisor`] turns the [`crate::hypervisor`]
//! traits into calls of a `FastTrap`, so the same marshalling (function
//! numbers, argument order, returns) runs over real traps and, in tests,
//! over the simulated machine.

/// One hypervisor call: function number, arguments, and what came back.
/// The layout is read by `trampoline.S`; do not reorder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

impl HvCall {
    /// A call of `function` with `args` (at most 5; more are ignored), not
    /// yet made.
    pub fn new(function: u64, args: &[u64]) -> Self {
        let mut call = HvCall {
            function,
            ..HvCall::default()
        };
        let count = args.len().min(call.args.len());
        call.args[..count].copy_from_slice(&args[..count]);
        call
    }
}

/// Something that makes sun4v hypervisor calls.
pub trait FastTrap {
    /// `ta 0x80`: fast-trap function `function` with `args` (at most 5).
    ///
    /// # Safety
    /// The caller must uphold the called function's contract: every real
    /// address in `args` must name memory that the hypervisor may read or
    /// write for the call's documented length, and that memory must not be
    /// in use by Rust references while the call runs.
    unsafe fn fast_trap(&mut self, function: u64, args: &[u64]) -> HvCall;

    /// `ta 0xff`: a CORE_TRAP function (`API_SET_VERSION`...) with up to 3
    /// arguments. Those take no addresses, hence safe.
    fn core_trap(&mut self, function: u64, args: &[u64]) -> HvCall;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::assert_layout;

    #[test]
    fn call_block_layout_matches_the_assembly() {
        assert_layout!(
            HvCall {
                function: 0,
                args: 8,
                status: 48,
                rets: 56,
            },
            size: 96
        );
    }

    #[test]
    fn a_new_call_keeps_at_most_five_arguments() {
        let call = HvCall::new(0x800, &[1, 2, 3, 4, 5, 6]);
        assert_eq!((call.function, call.args), (0x800, [1, 2, 3, 4, 5]));
        assert_eq!(HvCall::new(1, &[7]).args, [7, 0, 0, 0, 0]);
        assert_eq!((call.status, call.rets), (0, [0; 5]));
    }
}
