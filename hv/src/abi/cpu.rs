//! CORE group fast-trap functions: machine, CPU, memory, time, console, soft state.
//!
//! Source: [L] `hypervisor.h` (`HV_FAST_MACH_*`, `HV_FAST_CPU_*`,
//! `HV_FAST_MEM_*`, `HV_FAST_TOD_*`, `HV_FAST_CONS_*`), [O] `hcall.s`,
//! [I] `sys/hypervisor_api.h` for `GUEST_SUSPEND` and the NPT calls.

use crate::abi::spec_numbers;

spec_numbers! {
    /// Every CORE group fast-trap function here, in number order.
    #[cfg(test)]
    const CPU_FUNCTIONS: [u64];
    /// Stop every CPU; never returns. [L] `HV_FAST_MACH_EXIT`.
    pub const MACH_EXIT: u64 = 0x00;
    /// Copy the machine description: ARG0 buffer RA, ARG1 length -> RET1 size. [L] `HV_FAST_MACH_DESC`.
    pub const MACH_DESC: u64 = 0x01;
    /// Software-initiated reset; never returns. [L] `HV_FAST_MACH_SIR`.
    pub const MACH_SIR: u64 = 0x02;
    /// Set the watchdog: ARG0 ms -> RET1 ms remaining. [L] `HV_FAST_MACH_SET_WATCHDOG`.
    pub const MACH_SET_WATCHDOG: u64 = 0x05;
    /// Start a stopped CPU: cpuid, PC, RTBA, arg. [L] `HV_FAST_CPU_START`.
    pub const CPU_START: u64 = 0x10;
    /// Stop a CPU (not the caller). [L] `HV_FAST_CPU_STOP`.
    pub const CPU_STOP: u64 = 0x11;
    /// Sleep until an interrupt. [L] `HV_FAST_CPU_YIELD`.
    pub const CPU_YIELD: u64 = 0x12;
    /// Wake a yielded CPU. [L] `HV_FAST_CPU_POKE`.
    pub const CPU_POKE: u64 = 0x13;
    /// Configure a mondo/error queue: queue, base RA, entries. [L] `HV_FAST_CPU_QCONF`.
    pub const CPU_QCONF: u64 = 0x14;
    /// Query a queue: queue -> RET1 base RA, RET2 entries. [L] `HV_FAST_CPU_QINFO`.
    pub const CPU_QINFO: u64 = 0x15;
    /// RET1 = this CPU's id. [L] `HV_FAST_CPU_MYID`.
    pub const CPU_MYID: u64 = 0x16;
    /// cpuid -> RET1 state. [L] `HV_FAST_CPU_STATE`.
    pub const CPU_STATE: u64 = 0x17;
    /// Set the RTBA -> RET1 previous. [L] `HV_FAST_CPU_SET_RTBA`.
    pub const CPU_SET_RTBA: u64 = 0x18;
    /// RET1 = RTBA. [L] `HV_FAST_CPU_GET_RTBA`.
    pub const CPU_GET_RTBA: u64 = 0x19;
    /// Zero memory: RA, length -> RET1 bytes done. [L] `HV_FAST_MEM_SCRUB`.
    pub const MEM_SCRUB: u64 = 0x31;
    /// Sync memory: RA, length -> RET1 bytes done. [L] `HV_FAST_MEM_SYNC`.
    pub const MEM_SYNC: u64 = 0x32;
    /// Send a cross-call: count, cpu-list RA, data RA. [L] `HV_FAST_CPU_MONDO_SEND`.
    pub const CPU_MONDO_SEND: u64 = 0x42;
    /// RET1 = seconds since the epoch. [L] `HV_FAST_TOD_GET`.
    pub const TOD_GET: u64 = 0x50;
    /// Set the time of day. [L] `HV_FAST_TOD_SET`.
    pub const TOD_SET: u64 = 0x51;
    /// RET1 = console character. [L] `HV_FAST_CONS_GETCHAR`.
    pub const CONS_GETCHAR: u64 = 0x60;
    /// Write one console character. [L] `HV_FAST_CONS_PUTCHAR`.
    pub const CONS_PUTCHAR: u64 = 0x61;
    /// Read console bytes: RA, size -> RET1 count. [L] `HV_FAST_CONS_READ`.
    pub const CONS_READ: u64 = 0x62;
    /// Write console bytes: RA, size -> RET1 count. [L] `HV_FAST_CONS_WRITE`.
    pub const CONS_WRITE: u64 = 0x63;
    /// Set soft state: state, description RA. [O] [I] `SOFT_STATE_SET`;
    /// [L] `HV_FAST_MACH_SET_SOFT_STATE`.
    #[doc(alias = "HV_FAST_MACH_SET_SOFT_STATE")]
    pub const SOFT_STATE_SET: u64 = 0x70;
    /// Get soft state: description RA -> RET1 state. [O] [I] `SOFT_STATE_GET`;
    /// [L] `HV_FAST_MACH_GET_SOFT_STATE`.
    #[doc(alias = "HV_FAST_MACH_GET_SOFT_STATE")]
    pub const SOFT_STATE_GET: u64 = 0x71;
    /// Suspend the calling guest; status returns after resume. [I] `GUEST_SUSPEND`.
    pub const GUEST_SUSPEND: u64 = 0x181;
    /// Set `%tick` NPT: 0 or 1. [I] `TICK_SET_NPT`.
    pub const TICK_SET_NPT: u64 = 0x182;
    /// Set `%stick` NPT: 0 or 1. [I] `STICK_SET_NPT`.
    pub const STICK_SET_NPT: u64 = 0x183;
}

/// `CPU_QCONF` queue: cpu mondo. [L] `HV_CPU_QUEUE_CPU_MONDO`.
pub const CPU_QUEUE_CPU_MONDO: u64 = 0x3c;
/// `CPU_QCONF` queue: device mondo. [L] `HV_CPU_QUEUE_DEVICE_MONDO`.
pub const CPU_QUEUE_DEVICE_MONDO: u64 = 0x3d;
/// `CPU_QCONF` queue: resumable error. [L] `HV_CPU_QUEUE_RES_ERROR`.
pub const CPU_QUEUE_RES_ERROR: u64 = 0x3e;
/// `CPU_QCONF` queue: non-resumable error. [L] `HV_CPU_QUEUE_NONRES_ERROR`.
pub const CPU_QUEUE_NONRES_ERROR: u64 = 0x3f;
/// Bytes per mondo/error queue entry. [L] hypervisor.h, `CPU_QCONF`.
pub const CPU_QUEUE_ENTRY_BYTES: u64 = 64;

/// `CPU_STATE` RET1: stopped. [L] `HV_CPU_STATE_STOPPED`.
pub const CPU_STATE_STOPPED: u64 = 1;
/// `CPU_STATE` RET1: running. [L] `HV_CPU_STATE_RUNNING`.
pub const CPU_STATE_RUNNING: u64 = 2;
/// `CPU_STATE` RET1: error. [L] `HV_CPU_STATE_ERROR`.
pub const CPU_STATE_ERROR: u64 = 3;

/// `SOFT_STATE_SET` state: normal. [L] `HV_SOFT_STATE_NORMAL`.
pub const SOFT_STATE_NORMAL: u64 = 1;
/// `SOFT_STATE_SET` state: transition. [L] `HV_SOFT_STATE_TRANSITION`.
pub const SOFT_STATE_TRANSITION: u64 = 2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::assert_in_number_order;

    #[test]
    fn function_numbers_match_the_spec() {
        // Every number as the spec gives it, in the table's order.
        assert_eq!(
            CPU_FUNCTIONS,
            [
                0x00, 0x01, 0x02, 0x05, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
                0x31, 0x32, 0x42, 0x50, 0x51, 0x60, 0x61, 0x62, 0x63, 0x70, 0x71, 0x181, 0x182,
                0x183
            ]
        );
        assert_in_number_order(&CPU_FUNCTIONS);
    }

    #[test]
    fn queue_and_state_values_match_the_spec() {
        assert_eq!(CPU_QUEUE_CPU_MONDO, 0x3c);
        assert_eq!(CPU_QUEUE_DEVICE_MONDO, 0x3d);
        assert_eq!(CPU_QUEUE_RES_ERROR, 0x3e);
        assert_eq!(CPU_QUEUE_NONRES_ERROR, 0x3f);
        assert_eq!(CPU_QUEUE_ENTRY_BYTES, 64);
        assert_eq!(
            (CPU_STATE_STOPPED, CPU_STATE_RUNNING, CPU_STATE_ERROR),
            (1, 2, 3)
        );
        assert_eq!((SOFT_STATE_NORMAL, SOFT_STATE_TRANSITION), (1, 2));
    }
}
