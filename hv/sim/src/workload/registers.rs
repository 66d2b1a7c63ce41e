//! The synthetic vCPU registers of the workload's guest: what a vCPU that
//! has booted its kernel plausibly holds (loadable by `MIG_VCPU_SET_STATE`),
//! how time moves its clocks, and how each store moves its PC and leaves
//! its operands in registers.

use crate::rng::SplitMix64;
use ldmig_hv::abi::migration::VcpuState;
use ldmig_hv::abi::mmu::{PageSizeMask, TsbDescriptor, PAGE_SIZE};
use zerocopy::byteorder::big_endian::{U16, U32, U64};

/// Page size in bytes as `u64`.
const PAGE: u64 = PAGE_SIZE as u64;
/// Offset of each vCPU's private area (fault area, queues, TSBs) from the
/// first block's RA: vCPU `n` uses `[(n + 1) * VCPU_AREA_BYTES, ...)`.
const VCPU_AREA_BYTES: u64 = 0x1_0000;
/// `%pstate` of a vCPU running its kernel: PEF | PRIV | IE.
pub(super) const PSTATE_KERNEL: u64 = 0x16;
/// `%fprs` with the FPU enabled (FEF).
const FPRS_FEF: u64 = 0x4;
/// `%asi` ASI_PRIMARY.
const ASI_PRIMARY: u64 = 0x80;
/// Entries of each mondo/error queue (64 bytes each: one 8 KiB page).
pub(super) const QUEUE_ENTRIES: u64 = 128;
/// Entries of each TSB (16 bytes each: one 8 KiB page).
pub(super) const TSB_ENTRIES: u32 = 512;

/// The registers of a vCPU that has booted its kernel.
pub(super) fn boot_registers(
    state: &mut VcpuState,
    rng: &mut SplitMix64,
    kernel_base: u64,
    text_bytes: u64,
    vcpu: u64,
) {
    let area = kernel_base + (vcpu + 1) * VCPU_AREA_BYTES;
    let pc = kernel_base + 4 * rng.below((text_bytes / 4).max(1));
    state.pc = U64::new(pc);
    state.npc = U64::new(pc + 4);
    for set in state.globals.iter_mut() {
        for register in set.iter_mut() {
            *register = U64::new(rng.next_u64());
        }
    }
    for window in state.windows.iter_mut() {
        for register in window.iter_mut() {
            *register = U64::new(rng.next_u64());
        }
    }
    for register in state.float.iter_mut() {
        *register = U64::new(rng.next_u64());
    }
    state.fsr = U64::new(0);
    state.gsr = U64::new(rng.below(1 << 32));
    state.fprs = U64::new(FPRS_FEF);
    for (level, trap) in state.trap_levels.iter_mut().enumerate() {
        let tpc = kernel_base + 4 * rng.below((text_bytes / 4).max(1));
        trap.tpc = U64::new(tpc);
        trap.tnpc = U64::new(tpc + 4);
        // TSTATE: CCR [39:32], ASI [31:24], PSTATE [20:8], CWP [4:0].
        let ccr = rng.below(256);
        let cwp = rng.below(8);
        trap.tstate = U64::new((ccr << 32) | (ASI_PRIMARY << 24) | (PSTATE_KERNEL << 8) | cwp);
        trap.tt = U64::new(0x40 + level as u64);
    }
    state.y = U64::new(rng.below(1 << 32));
    state.ccr = U64::new(rng.below(256));
    state.asi = U64::new(ASI_PRIMARY);
    state.pstate = U64::new(PSTATE_KERNEL);
    state.pil = U64::new(0);
    state.tl = U64::new(0);
    state.gl = U64::new(0);
    let canrestore = rng.below(7);
    state.cwp = U64::new(rng.below(8));
    state.canrestore = U64::new(canrestore);
    state.cansave = U64::new(6 - canrestore);
    state.cleanwin = U64::new(7);
    state.otherwin = U64::new(0);
    state.wstate = U64::new(0);
    state.tba = U64::new(kernel_base & !0x7fff);
    state.rtba = U64::new(kernel_base & !0x7fff);
    let tick = rng.next_u64() >> 8;
    state.tick = U64::new(tick);
    state.tick_cmpr = U64::new(tick + 10_000_000);
    let stick = rng.next_u64() >> 8;
    state.stick = U64::new(stick);
    state.stick_cmpr = U64::new(stick + 1_000_000);
    state.softint = U64::new(0);
    state.primary_context = U64::new(1 + rng.below(8191));
    state.secondary_context = U64::new(0);
    state.fault_area_ra = U64::new(area);
    let tsb = |base: u64, context: u32| TsbDescriptor {
        pgsz_idx: U16::new(0),
        assoc: U16::new(1),
        num_ttes: U32::new(TSB_ENTRIES),
        ctx_idx: U32::new(context),
        pgsz_mask: U32::new((PageSizeMask::SIZE_8K | PageSizeMask::SIZE_4MB).bits()),
        tsb_base: U64::new(base),
        resv: U64::new(0),
    };
    state.tsb_ctx0_count = U64::new(1);
    state.tsb_ctx0[0] = tsb(area + 5 * PAGE, 0);
    state.tsb_ctxnon0_count = U64::new(1);
    state.tsb_ctxnon0[0] = tsb(area + 6 * PAGE, 1);
    for (index, queue) in state.queues.iter_mut().enumerate() {
        queue.base_ra = U64::new(area + (1 + index as u64) * PAGE);
        queue.entries = U64::new(QUEUE_ENTRIES);
        let position = 64 * rng.below(QUEUE_ENTRIES);
        queue.head = U64::new(position);
        queue.tail = U64::new(position);
    }
    state.scratchpad[0] = U64::new(area);
    state.scratchpad[1] = U64::new(area + 5 * PAGE);
    for register in state.scratchpad[2..].iter_mut() {
        *register = U64::new(rng.next_u64());
    }
}

/// Time passes on a running vCPU: `%tick` and `%stick` count nanoseconds.
pub(super) fn advance_clocks(state: &mut VcpuState, elapsed_ns: u64) {
    state.tick = U64::new(state.tick.get().wrapping_add(elapsed_ns));
    state.stick = U64::new(state.stick.get().wrapping_add(elapsed_ns));
}

/// A vCPU executed a store to `ra` of `length` bytes: the PC moves on (or
/// jumps), the store's operands sit in globals and a local.
pub(super) fn step_registers(
    state: &mut VcpuState,
    ra: u64,
    length: u64,
    count: u64,
    jump: bool,
    target: u64,
) {
    let pc = state.npc.get();
    let npc = if jump {
        (pc & !0xfffff) | (target & 0xffffc)
    } else {
        pc.wrapping_add(4)
    };
    state.pc = U64::new(pc);
    state.npc = U64::new(npc);
    let last_set = state.globals.len() - 1;
    let gl = usize::try_from(state.gl.get()).map_or(last_set, |gl| gl.min(last_set));
    state.globals[gl][1] = U64::new(ra);
    state.globals[gl][2] = U64::new(length);
    let last_window = state.windows.len() - 1;
    let cwp = usize::try_from(state.cwp.get()).map_or(last_window, |cwp| cwp.min(last_window));
    state.windows[cwp][0] = U64::new(count);
    state.ccr = U64::new(target >> 56);
}
