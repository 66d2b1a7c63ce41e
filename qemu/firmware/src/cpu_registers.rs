//! The CPU registers Rust cannot name, through the leaf routines of
//! `cpu_registers.S`: `%stick`, the LSU control register (MMU enables) and
//! the TLBs (ASIs 0x45, 0x55, 0x5d of the UltraSPARC T1).

unsafe extern "C" {
    fn ldmig_read_stick() -> u64;
    fn ldmig_write_lsu_control(value: u64);
    fn ldmig_demap_dtlb();
    fn ldmig_demap_itlb();
}

/// LSU control: the I-MMU translates instruction fetches (QEMU `IMMU_E`).
pub const LSU_IMMU_ENABLE: u64 = 0x4;
/// LSU control: the D-MMU translates loads and stores (QEMU `DMMU_E`).
pub const LSU_DMMU_ENABLE: u64 = 0x8;
/// `%stick` ticks per second on `-M niagara` (hw/sparc64/sparc64.c:
/// `stick_frequency = 100 * 1000000`).
pub const STICK_HZ: u64 = 100_000_000;

/// `%stick` bit 63: NPT (non-privileged reads trap), not part of the count.
/// QEMU's T1 comes out of reset with it set.
const STICK_NPT: u64 = 1 << 63;

/// `%stick`, the system tick counter (privileged and hyperprivileged code).
pub fn stick() -> u64 {
    // SAFETY: reads one register; privileged code may, whatever NPT says.
    unsafe { ldmig_read_stick() & !STICK_NPT }
}

/// Nanoseconds from `%stick`: the engine's clock.
pub fn now_ns() -> u64 {
    stick().saturating_mul(1_000_000_000 / STICK_HZ)
}

/// Sets the LSU control register: which MMUs translate for the context the
/// hypervisor resumes next. Hyperprivileged code only (it runs untranslated
/// whatever this says).
pub fn set_lsu_control(value: u64) {
    // SAFETY: a hyperprivileged register write; hyperprivileged code
    // itself is never translated, so nothing running now changes.
    unsafe { ldmig_write_lsu_control(value) }
}

/// Drops every D-TLB translation. Hyperprivileged code only.
pub fn demap_dtlb() {
    // SAFETY: removes translations only guests use (the hypervisor and the
    // service domain run untranslated); a guest refills through MMU misses.
    unsafe { ldmig_demap_dtlb() }
}

/// Drops every I-TLB translation. Hyperprivileged code only.
pub fn demap_itlb() {
    // SAFETY: as for demap_dtlb.
    unsafe { ldmig_demap_itlb() }
}
