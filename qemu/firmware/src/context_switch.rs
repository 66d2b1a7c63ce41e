//! The Rust side of `context_switch.S`: the memory it shares with the
//! assembly (which vCPU's save area is current, whether privileged
//! contexts run yet, the MMU fault path's window save area), the layout
//! checks that tie `vcpu_state_offsets.h` to the Rust structs, and the
//! launch of the service domain.

use crate::strand_cell::AsmShared;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use ldmig_hv::abi::migration::VcpuState;

/// SPARC V9 stack bias.
pub const STACK_BIAS: u64 = 2047;
/// A minimal stack frame (16 saved registers, 6 outgoing arguments).
pub const STACK_FRAME: u64 = 176;
/// Register windows of the UltraSPARC T1.
pub const NWINDOWS: u64 = 8;
/// PSTATE.PRIV.
pub const PSTATE_PRIV: u64 = 0x04;
/// PSTATE.PEF (FP enabled).
pub const PSTATE_PEF: u64 = 0x10;
/// FPRS.FEF.
pub const FPRS_FEF: u64 = 0x04;

/// The save area of the vCPU on the strand: where the privileged trap
/// entry stores the registers (read by the assembly by name).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static ldmig_current_vcpu_state: AtomicPtr<VcpuState> = AtomicPtr::new(core::ptr::null_mut());

/// Set once the first privileged context runs: from then on every
/// `ta 0x80` / `ta 0xff` comes from one (read by reset.S by name).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static ldmig_privileged_contexts_running: AtomicBool = AtomicBool::new(false);

/// What the MMU fault path keeps while Rust runs: the trapper's windows and
/// window control, the trap, and the TTE Rust chose. Layout:
/// `vcpu_state_offsets.h` (WS_*).
#[repr(C)]
pub struct WindowSaveArea {
    /// Per window: 8 locals then 8 ins.
    pub windows: [[u64; 16]; 8],
    /// `%cwp`.
    pub cwp: u64,
    /// `%cansave`.
    pub cansave: u64,
    /// `%canrestore`.
    pub canrestore: u64,
    /// `%cleanwin`.
    pub cleanwin: u64,
    /// `%otherwin`.
    pub otherwin: u64,
    /// `%wstate`.
    pub wstate: u64,
    /// `%tt` of the MMU trap.
    pub trap_type: u64,
    /// The tag access register of the fault (VA | context).
    pub tag_access: u64,
    /// Out: the TTE to load for it.
    pub tte: u64,
}

/// The MMU fault path's save area (read by the assembly by name).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static ldmig_mmu_fault_save_area: AsmShared<WindowSaveArea> = AsmShared::new(WindowSaveArea {
    windows: [[0; 16]; 8],
    cwp: 0,
    cansave: 0,
    canrestore: 0,
    cleanwin: 0,
    otherwin: 0,
    wstate: 0,
    trap_type: 0,
    tag_access: 0,
    tte: 0,
});

/// Makes `state` the save area of the vCPU on the strand.
pub fn set_current_vcpu_state(state: *mut VcpuState) {
    ldmig_current_vcpu_state.store(state, Ordering::Relaxed);
}

unsafe extern "C" {
    fn ldmig_launch_service_domain(tba: u64, lsu_control: u64, argument0: u64, argument1: u64)
        -> !;
    /// The privileged trap table (privileged_trap_tables.S), in the PROM.
    fn ldmig_privileged_trap_table();
}

/// Drops to privileged mode and runs the service domain's main
/// (`service_domain::ldmig_firmware_service_main(argument0, argument1)`)
/// on its stack, MMU off, with its own trap table. Never returns; from
/// here on the hypervisor runs only in traps.
pub fn launch_service_domain(argument0: u64, argument1: u64) -> ! {
    ldmig_privileged_contexts_running.store(true, Ordering::Relaxed);
    let tba = ldmig_privileged_trap_table as *const () as u64;
    // SAFETY: the hypervisor state is set up (the service domain's vCPU is
    // current, its save area ready for its first trap), nothing borrows
    // it, and the boot code's stack is not used again.
    unsafe { ldmig_launch_service_domain(tba, 0, argument0, argument1) }
}

// The assembly's offsets (vcpu_state_offsets.h) against the Rust structs.
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(VcpuState, pc) == 16);
    assert!(offset_of!(VcpuState, npc) == 24);
    assert!(offset_of!(VcpuState, globals) == 32);
    assert!(offset_of!(VcpuState, windows) == 288);
    assert!(offset_of!(VcpuState, float) == 1312);
    assert!(offset_of!(VcpuState, fsr) == 1568);
    assert!(offset_of!(VcpuState, gsr) == 1576);
    assert!(offset_of!(VcpuState, fprs) == 1584);
    assert!(offset_of!(VcpuState, y) == 1784);
    assert!(offset_of!(VcpuState, ccr) == 1792);
    assert!(offset_of!(VcpuState, asi) == 1800);
    assert!(offset_of!(VcpuState, pstate) == 1808);
    assert!(offset_of!(VcpuState, pil) == 1816);
    assert!(offset_of!(VcpuState, tl) == 1824);
    assert!(offset_of!(VcpuState, gl) == 1832);
    assert!(offset_of!(VcpuState, cwp) == 1840);
    assert!(offset_of!(VcpuState, cansave) == 1848);
    assert!(offset_of!(VcpuState, canrestore) == 1856);
    assert!(offset_of!(VcpuState, cleanwin) == 1864);
    assert!(offset_of!(VcpuState, otherwin) == 1872);
    assert!(offset_of!(VcpuState, wstate) == 1880);
    assert!(offset_of!(VcpuState, tba) == 1888);
    assert!(offset_of!(VcpuState, tick) == 1904);
    assert!(offset_of!(VcpuState, stick) == 1912);
    assert!(offset_of!(VcpuState, tick_cmpr) == 1920);
    assert!(offset_of!(VcpuState, stick_cmpr) == 1928);
    assert!(offset_of!(VcpuState, softint) == 1936);
    assert!(offset_of!(VcpuState, primary_context) == 1944);
    assert!(offset_of!(VcpuState, secondary_context) == 1952);
    assert!(offset_of!(VcpuState, scratchpad) == 2368);
    assert!(size_of::<VcpuState>() == 2432);
    assert!(offset_of!(WindowSaveArea, windows) == 0);
    assert!(offset_of!(WindowSaveArea, cwp) == 1024);
    assert!(offset_of!(WindowSaveArea, cansave) == 1032);
    assert!(offset_of!(WindowSaveArea, canrestore) == 1040);
    assert!(offset_of!(WindowSaveArea, cleanwin) == 1048);
    assert!(offset_of!(WindowSaveArea, otherwin) == 1056);
    assert!(offset_of!(WindowSaveArea, wstate) == 1064);
    assert!(offset_of!(WindowSaveArea, trap_type) == 1072);
    assert!(offset_of!(WindowSaveArea, tag_access) == 1080);
    assert!(offset_of!(WindowSaveArea, tte) == 1088);
    assert!(size_of::<WindowSaveArea>() == 1096);
};
