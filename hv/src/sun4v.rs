//! The real hypervisor: [`TrapHypervisor`] over the `ta 0x80` / `ta 0xff`
//! [`Trampolines`] (sparc64 only). See [`crate::trap_hypervisor`] for how
//! every trait method becomes one fast trap and how local memory is
//! granted.

use crate::trampoline::Trampolines;
use crate::trap_hypervisor::TrapHypervisor;
use crate::HvError;

/// The running sun4v hypervisor, reached through `ta 0x80`.
pub type Sun4v = TrapHypervisor<Trampolines>;

impl TrapHypervisor<Trampolines> {
    /// Negotiates the LDOM and MIGRATION groups with `API_SET_VERSION` and
    /// returns the handle; fails if the hypervisor lacks either group. The
    /// only way to get a [`Sun4v`].
    pub fn negotiate() -> Result<Self, HvError> {
        TrapHypervisor::negotiate_with(Trampolines)
    }
}
