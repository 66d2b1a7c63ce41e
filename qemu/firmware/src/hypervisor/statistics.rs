//! What the minimal hypervisor counts: hypercalls by caller mode and by
//! function, MMU traps (the evidence of dirty tracking through the MMU),
//! context switches and throttled slices.

use crate::call_table::KNOWN_CALLS;

/// Counters since power-on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Statistics {
    /// `ta 0x80` / `ta 0xff` taken from privileged mode (service, guests).
    pub hypercalls_from_privileged: u64,
    /// `ta 0x80` / `ta 0xff` taken from hyperprivileged mode (the self-test).
    pub hypercalls_from_hyperprivileged: u64,
    /// Per known call (call_table.rs order), from privileged mode.
    pub privileged_by_call: [u64; KNOWN_CALLS],
    /// Per known call, from hyperprivileged mode.
    pub hyperprivileged_by_call: [u64; KNOWN_CALLS],
    /// Calls of functions nobody implements here (EBADTRAP).
    pub unknown_calls: u64,
    /// Instruction TLB misses of guests (tt 0x064).
    pub itlb_misses: u64,
    /// Data TLB misses of guests (tt 0x068).
    pub dtlb_misses: u64,
    /// Data protection traps of guests (tt 0x06c): a store to a page
    /// mapped without write permission.
    pub protection_traps: u64,
    /// Guest MMU traps in the nucleus context: taken by the guest's own
    /// trap handlers (its window spills and fills at TL 1).
    pub nucleus_mmu_traps: u64,
    /// Pages a protection trap marked dirty (clean before the store).
    pub pages_marked_dirty: u64,
    /// Times the whole D-TLB was dropped (dirty-log syncs, domain switches).
    pub dtlb_flushes: u64,
    /// Switches from one vCPU to another.
    pub context_switches: u64,
    /// Slices a throttled guest vCPU gave up (`MIG_VCPU_THROTTLE`).
    pub throttled_slices: u64,
    /// Slices guest vCPUs ran (each ends with their `CPU_YIELD`).
    pub guest_slices: u64,
}

impl Statistics {
    /// All zero.
    pub const fn new() -> Self {
        Statistics {
            hypercalls_from_privileged: 0,
            hypercalls_from_hyperprivileged: 0,
            privileged_by_call: [0; KNOWN_CALLS],
            hyperprivileged_by_call: [0; KNOWN_CALLS],
            unknown_calls: 0,
            itlb_misses: 0,
            dtlb_misses: 0,
            protection_traps: 0,
            nucleus_mmu_traps: 0,
            pages_marked_dirty: 0,
            dtlb_flushes: 0,
            context_switches: 0,
            throttled_slices: 0,
            guest_slices: 0,
        }
    }
}
