//! Trap numbers: the operand of the `ta` instruction that enters the hypervisor.
//!
//! Source: [L] `arch/sparc/include/asm/hypervisor.h` ("HV_FAST_TRAP",
//! "HV_CORE_TRAP", "HV_MMU_MAP_ADDR_TRAP"...), [I] `sys/hypervisor_api.h` for
//! the tick traps.

use crate::abi::spec_numbers;

spec_numbers! {
    /// Every trap number, in number order.
    #[cfg(test)]
    const TRAPS: [u32];
    /// `ta 0x80`: fast trap, function number in `%o5`. [L] `HV_FAST_TRAP`.
    #[doc(alias = "HV_FAST_TRAP")]
    pub const FAST_TRAP: u32 = 0x80;
    /// `ta 0x81`: read `%tick` without the NPT check. [I] `CPU_TICK_NPT`.
    pub const CPU_TICK_NPT: u32 = 0x81;
    /// `ta 0x82`: read `%stick` without the NPT check. [I] `CPU_STICK_NPT`.
    pub const CPU_STICK_NPT: u32 = 0x82;
    /// `ta 0x83`: hyper-fast MMU map. [L] `HV_MMU_MAP_ADDR_TRAP`.
    #[doc(alias = "HV_MMU_MAP_ADDR_TRAP")]
    pub const MMU_MAP_ADDR: u32 = 0x83;
    /// `ta 0x84`: hyper-fast MMU unmap. [L] `HV_MMU_UNMAP_ADDR_TRAP`.
    #[doc(alias = "HV_MMU_UNMAP_ADDR_TRAP")]
    pub const MMU_UNMAP_ADDR: u32 = 0x84;
    /// `ta 0x85`: hyper-fast trap-trace entry. [L] `HV_TTRACE_ADDENTRY_TRAP`.
    #[doc(alias = "HV_TTRACE_ADDENTRY_TRAP")]
    pub const TTRACE_ADDENTRY: u32 = 0x85;
    /// `ta 0x86`: hyper-fast TTE map. [I] `MMU_MAP_TTE`.
    pub const MMU_MAP_TTE: u32 = 0x86;
    /// `ta 0xff`: core trap, unversioned calls usable before negotiation.
    /// [L] `HV_CORE_TRAP`.
    #[doc(alias = "HV_CORE_TRAP")]
    pub const CORE_TRAP: u32 = 0xff;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::assert_in_number_order;

    #[test]
    fn trap_numbers_match_the_spec() {
        // Every number as the spec gives it, in the table's order.
        assert_eq!(TRAPS, [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0xff]);
        assert_in_number_order(&TRAPS);
    }
}
