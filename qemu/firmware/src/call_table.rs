//! The hypervisor calls this firmware knows, by name: the MIGRATION group
//! of hv/API.md (always through the `ldmig_hv::abi::migration` constants,
//! never literal numbers), the CORE-group calls the contexts use, and two
//! firmware-private calls. The hypervisor counts calls per entry; the
//! service domain counts the engine's calls per MIGRATION entry, so the
//! report can show that every call the engine made trapped from
//! privileged mode.

use ldmig_hv::abi::core::{API_GET_VERSION, API_SET_VERSION};
use ldmig_hv::abi::cpu::{CONS_PUTCHAR, CONS_READ, CONS_WRITE, CPU_YIELD};
use ldmig_hv::abi::migration as mig;

/// Firmware-private fast-trap function, outside every API group: returns
/// ARG0 as the status and ARG1-ARG4 as RET1-RET4 (the self-test's echo).
pub const FIRMWARE_ECHO: u64 = 0xfe00;
/// Firmware-private fast-trap function: the service domain hands the
/// hypervisor its `ServiceReport` (ARG0 buffer RA, ARG1 bytes); the
/// hypervisor prints the verdict and stops the machine. Never returns.
pub const FIRMWARE_REPORT: u64 = 0xfe01;

/// How a call is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    /// `ta 0x80`, function number in `%o5`.
    Fast,
    /// `ta 0xff`, function number in `%o5`.
    Core,
}

/// One known call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownCall {
    /// Its name in the spec (or this firmware's, for the private ones).
    pub name: &'static str,
    /// Trap it is made with.
    pub trap: TrapKind,
    /// Function number.
    pub function: u64,
}

const fn fast(name: &'static str, function: u64) -> KnownCall {
    KnownCall {
        name,
        trap: TrapKind::Fast,
        function,
    }
}

/// The MIGRATION group, in hv/API.md's order.
pub const MIGRATION_CALLS: [KnownCall; 18] = [
    fast("MIG_DOMAIN_INFO", mig::MIG_DOMAIN_INFO),
    fast("MIG_MEMBLOCK_INFO", mig::MIG_MEMBLOCK_INFO),
    fast("MIG_DIRTY_LOG_START", mig::MIG_DIRTY_LOG_START),
    fast("MIG_DIRTY_LOG_SYNC", mig::MIG_DIRTY_LOG_SYNC),
    fast("MIG_DIRTY_LOG_STOP", mig::MIG_DIRTY_LOG_STOP),
    fast("MIG_PAGE_READ", mig::MIG_PAGE_READ),
    fast("MIG_PAGE_WRITE", mig::MIG_PAGE_WRITE),
    fast("MIG_DOMAIN_SUSPEND", mig::MIG_DOMAIN_SUSPEND),
    fast("MIG_DOMAIN_RESUME", mig::MIG_DOMAIN_RESUME),
    fast("MIG_VCPU_GET_STATE", mig::MIG_VCPU_GET_STATE),
    fast("MIG_VCPU_SET_STATE", mig::MIG_VCPU_SET_STATE),
    fast("MIG_DOMAIN_CREATE", mig::MIG_DOMAIN_CREATE),
    fast("MIG_MEMBLOCK_BIND", mig::MIG_MEMBLOCK_BIND),
    fast("MIG_DOMAIN_DESTROY", mig::MIG_DOMAIN_DESTROY),
    fast("MIG_VCPU_THROTTLE", mig::MIG_VCPU_THROTTLE),
    fast("MIG_CRYPTO_REMOVE", mig::MIG_CRYPTO_REMOVE),
    fast("MIG_CRYPTO_ADD", mig::MIG_CRYPTO_ADD),
    fast("MIG_DOMAIN_SET_STATE", mig::MIG_DOMAIN_SET_STATE),
];

/// The other calls the firmware's contexts make.
pub const OTHER_CALLS: [KnownCall; 8] = [
    KnownCall {
        name: "API_SET_VERSION",
        trap: TrapKind::Core,
        function: API_SET_VERSION,
    },
    KnownCall {
        name: "API_GET_VERSION",
        trap: TrapKind::Core,
        function: API_GET_VERSION,
    },
    fast("CPU_YIELD", CPU_YIELD),
    fast("CONS_WRITE", CONS_WRITE),
    fast("CONS_READ", CONS_READ),
    fast("CONS_PUTCHAR", CONS_PUTCHAR),
    fast("FIRMWARE_ECHO", FIRMWARE_ECHO),
    fast("FIRMWARE_REPORT", FIRMWARE_REPORT),
];

/// Entries of [`MIGRATION_CALLS`] and [`OTHER_CALLS`] together.
pub const KNOWN_CALLS: usize = MIGRATION_CALLS.len() + OTHER_CALLS.len();

/// The known call at `index` (MIGRATION calls first).
pub fn known_call(index: usize) -> Option<KnownCall> {
    match index.checked_sub(MIGRATION_CALLS.len()) {
        None => MIGRATION_CALLS.get(index).copied(),
        Some(other) => OTHER_CALLS.get(other).copied(),
    }
}

/// The index of the known call made with `trap` and `function`.
pub fn known_call_index(trap: TrapKind, function: u64) -> Option<usize> {
    (0..KNOWN_CALLS).find(|&index| {
        known_call(index).is_some_and(|call| call.trap == trap && call.function == function)
    })
}

/// The index in [`MIGRATION_CALLS`] of MIGRATION function `function`.
pub fn migration_call_index(function: u64) -> Option<usize> {
    MIGRATION_CALLS
        .iter()
        .position(|call| call.function == function)
}
