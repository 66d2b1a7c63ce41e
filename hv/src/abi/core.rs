//! CORE_TRAP functions (`ta 0xff`, number in `%o5`): API version negotiation.
//!
//! Source: [L] `hypervisor.h` (`HV_CORE_SET_VER`...), [O] `hcall.s`,
//! [L] `arch/sparc/kernel/hvapi.c` for the negotiation rules:
//! - `API_SET_VERSION` on an unknown group returns `EINVAL`; a known group
//!   with an unknown major returns `ENOTSUPPORTED`.
//! - A requested minor above what the hypervisor has is lowered; the granted
//!   minor comes back in RET1 with `EOK`.
//! - Major 0 disables the group.

use crate::abi::spec_numbers;

spec_numbers! {
    /// Every CORE_TRAP function, in number order.
    #[cfg(test)]
    const CORE_FUNCTIONS: [u64];
    /// ARG0 group, ARG1 major, ARG2 minor -> RET1 granted minor. [L] `HV_CORE_SET_VER`.
    #[doc(alias = "HV_CORE_SET_VER")]
    pub const API_SET_VERSION: u64 = 0x00;
    /// ARG0 character. [L] `HV_CORE_PUTCHAR`.
    #[doc(alias = "HV_CORE_PUTCHAR")]
    pub const API_PUTCHAR: u64 = 0x01;
    /// ARG0 exit code; does not return. [L] `HV_CORE_EXIT`.
    #[doc(alias = "HV_CORE_EXIT")]
    pub const API_EXIT: u64 = 0x02;
    /// ARG0 group -> RET1 major, RET2 minor. [L] `HV_CORE_GET_VER`.
    #[doc(alias = "HV_CORE_GET_VER")]
    pub const API_GET_VERSION: u64 = 0x03;
}

/// An API group version as negotiated with `API_SET_VERSION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    /// Major version; 0 means "disabled".
    pub major: u64,
    /// Minor version; the hypervisor may grant a lower one than asked.
    pub minor: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::assert_in_number_order;

    #[test]
    fn core_function_numbers_match_the_spec() {
        // Every number as the spec gives it, in the table's order.
        assert_eq!(CORE_FUNCTIONS, [0x00, 0x01, 0x02, 0x03]);
        assert_in_number_order(&CORE_FUNCTIONS);
    }
}
