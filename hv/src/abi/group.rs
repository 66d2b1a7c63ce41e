//! API group numbers negotiated with `API_SET_VERSION`.
//!
//! Source: [L] `hypervisor.h` (`HV_GRP_*`), [O] `hcall.s`. The migration group
//! is this project's own ([M], `hv/API.md`), numbered outside every public group.

use crate::abi::spec_numbers;

spec_numbers! {
    /// Every group number, in number order (the migration group last).
    #[cfg(test)]
    const GROUPS: [u64];
    /// Generic sun4v; its major selects CPU errata workarounds. [L] `HV_GRP_SUN4V`.
    pub const SUN4V: u64 = 0x000;
    /// Core calls (machine, CPU, MMU, memory, console). [L] `HV_GRP_CORE`.
    pub const CORE: u64 = 0x001;
    /// Device interrupts. [L] `HV_GRP_INTR`.
    pub const INTR: u64 = 0x002;
    /// Soft state. [L] `HV_GRP_SOFT_STATE`.
    pub const SOFT_STATE: u64 = 0x003;
    /// Transactional memory. [L] `HV_GRP_TM`.
    pub const TM: u64 = 0x080;
    /// PCI. [L] `HV_GRP_PCI`.
    pub const PCI: u64 = 0x100;
    /// Logical domain channels (LDC). [L] `HV_GRP_LDOM`.
    pub const LDOM: u64 = 0x101;
    /// Service channels. [L] `HV_GRP_SVC_CHAN`.
    pub const SVC_CHAN: u64 = 0x102;
    /// Niagara crypto service. [L] `HV_GRP_NCS`.
    pub const NCS: u64 = 0x103;
    /// Random number generator. [L] `HV_GRP_RNG`.
    pub const RNG: u64 = 0x104;
    /// Boot parameters. [L] `HV_GRP_PBOOT`.
    pub const PBOOT: u64 = 0x105;
    /// Trusted platform module. [L] `HV_GRP_TPM`.
    pub const TPM: u64 = 0x107;
    /// SDIO. [L] `HV_GRP_SDIO`.
    pub const SDIO: u64 = 0x108;
    /// SDIO errors. [L] `HV_GRP_SDIO_ERR`.
    pub const SDIO_ERR: u64 = 0x109;
    /// Reboot data. [L] `HV_GRP_REBOOT_DATA`.
    pub const REBOOT_DATA: u64 = 0x110;
    /// ATU. [L] `HV_GRP_ATU`.
    pub const ATU: u64 = 0x111;
    /// DAX coprocessor. [L] `HV_GRP_DAX`.
    pub const DAX: u64 = 0x113;
    /// M7 performance counters. [L] `HV_GRP_M7_PERF`.
    pub const M7_PERF: u64 = 0x114;
    /// Niagara performance counters. [L] `HV_GRP_NIAG_PERF`.
    pub const NIAG_PERF: u64 = 0x200;
    /// Fire performance counters. [L] `HV_GRP_FIRE_PERF`.
    pub const FIRE_PERF: u64 = 0x201;
    /// Niagara-2 CPU. [L] `HV_GRP_N2_CPU`.
    pub const N2_CPU: u64 = 0x202;
    /// NIU. [L] `HV_GRP_NIU`.
    pub const NIU: u64 = 0x204;
    /// Victoria Falls CPU. [L] `HV_GRP_VF_CPU`.
    pub const VF_CPU: u64 = 0x205;
    /// Rainbow Falls (KT) CPU. [L] `HV_GRP_KT_CPU`.
    pub const KT_CPU: u64 = 0x209;
    /// VT CPU. [L] `HV_GRP_VT_CPU`.
    pub const VT_CPU: u64 = 0x20c;
    /// T5 CPU. [L] `HV_GRP_T5_CPU`.
    pub const T5_CPU: u64 = 0x211;
    /// Diagnostics. [L] `HV_GRP_DIAG`.
    pub const DIAG: u64 = 0x300;
    /// Domain migration: this project's group. [M] `hv/API.md` §"Group".
    /// Chosen above every public group number so no firmware confuses it.
    pub const MIGRATION: u64 = 0x4c4d; // "LM"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::assert_in_number_order;

    #[test]
    fn group_numbers_match_the_spec() {
        // Every number as the spec gives it, in the table's order.
        assert_eq!(
            GROUPS,
            [
                0x000, 0x001, 0x002, 0x003, 0x080, 0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x107,
                0x108, 0x109, 0x110, 0x111, 0x113, 0x114, 0x200, 0x201, 0x202, 0x204, 0x205, 0x209,
                0x20c, 0x211, 0x300, 0x4c4d
            ]
        );
        assert_in_number_order(&GROUPS);
    }

    #[test]
    fn migration_group_collides_with_no_public_group() {
        let (public, ours) = GROUPS.split_at(GROUPS.len() - 1);
        assert_eq!(ours, [MIGRATION]);
        assert!(public.iter().all(|&g| g != MIGRATION && g < MIGRATION));
    }
}
