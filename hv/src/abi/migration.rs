//! MIGRATION group (this project's, [`crate::abi::group::MIGRATION`], v1.0):
//! the calls migration needs and the public sun4v API lacks.
//!
//! Source: [M] `hv/API.md`, the contract a firmware integrator implements.
//! Every call is a fast trap (`ta 0x80`, number in `%o5`). Function numbers
//! start at 0x200, above every public fast-trap function ([L] hypervisor.h
//! ends at 0x19a for PCI, [I] at 0x183 for `STICK_SET_NPT`).
//! All addresses are real addresses; every buffer must be 8-byte aligned.

use crate::abi::mmu::TsbDescriptor;
use zerocopy::byteorder::big_endian::U64;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Major version of the group this crate speaks. [M] API.md §Group.
pub const MIGRATION_MAJOR: u64 = 1;
/// Highest minor version this crate speaks. [M] API.md §Group.
pub const MIGRATION_MINOR: u64 = 0;

/// domain -> RET1 vCPU count, RET2 memory-block count, RET3 domain state. [M] §MIG_DOMAIN_INFO.
pub const MIG_DOMAIN_INFO: u64 = 0x200;
/// domain, block index -> RET1 RA, RET2 size in bytes. [M] §MIG_MEMBLOCK_INFO.
pub const MIG_MEMBLOCK_INFO: u64 = 0x201;
/// domain, block index: start dirty logging (all pages start dirty). [M] §MIG_DIRTY_LOG_START.
pub const MIG_DIRTY_LOG_START: u64 = 0x202;
/// domain, block index, bitmap RA, bitmap bytes -> RET1 dirty pages: copy and clear. [M] §MIG_DIRTY_LOG_SYNC.
pub const MIG_DIRTY_LOG_SYNC: u64 = 0x203;
/// domain, block index: stop dirty logging. [M] §MIG_DIRTY_LOG_STOP.
pub const MIG_DIRTY_LOG_STOP: u64 = 0x204;
/// domain, guest RA, buffer RA, length -> RET1 bytes read. [M] §MIG_PAGE_READ.
pub const MIG_PAGE_READ: u64 = 0x205;
/// domain, guest RA, buffer RA, length -> RET1 bytes written. [M] §MIG_PAGE_WRITE.
pub const MIG_PAGE_WRITE: u64 = 0x206;
/// domain: stop every vCPU of the domain at an instruction boundary. [M] §MIG_DOMAIN_SUSPEND.
pub const MIG_DOMAIN_SUSPEND: u64 = 0x207;
/// domain: let the domain's vCPUs run again. [M] §MIG_DOMAIN_RESUME.
pub const MIG_DOMAIN_RESUME: u64 = 0x208;
/// domain, vCPU, buffer RA, length: store a [`VcpuState`]. [M] §MIG_VCPU_GET_STATE.
pub const MIG_VCPU_GET_STATE: u64 = 0x209;
/// domain, vCPU, buffer RA, length: load a [`VcpuState`]. [M] §MIG_VCPU_SET_STATE.
pub const MIG_VCPU_SET_STATE: u64 = 0x20a;
/// vCPU count -> RET1 new domain id (bound, suspended, no memory). [M] §MIG_DOMAIN_CREATE.
pub const MIG_DOMAIN_CREATE: u64 = 0x20b;
/// domain, RA, size -> RET1 PA: bind one contiguous free range at that RA. [M] §MIG_MEMBLOCK_BIND.
pub const MIG_MEMBLOCK_BIND: u64 = 0x20c;
/// domain: tear the domain down and free its memory and strands. [M] §MIG_DOMAIN_DESTROY.
pub const MIG_DOMAIN_DESTROY: u64 = 0x20d;
/// domain, percent 0-99: make the vCPUs yield that share of their time. [M] §MIG_VCPU_THROTTLE.
pub const MIG_VCPU_THROTTLE: u64 = 0x20e;
/// domain -> RET1 crypto units removed (guest must support crypto DR). [M] §MIG_CRYPTO_REMOVE.
pub const MIG_CRYPTO_REMOVE: u64 = 0x20f;
/// domain, count -> RET1 crypto units added (may be fewer). [M] §MIG_CRYPTO_ADD.
pub const MIG_CRYPTO_ADD: u64 = 0x210;
/// domain, state: mark the domain (1 normal, 2 migrating, 3 error). [M] §MIG_DOMAIN_SET_STATE.
pub const MIG_DOMAIN_SET_STATE: u64 = 0x211;

/// Domain state (RET3 of `MIG_DOMAIN_INFO`): running normally. [M].
pub const MIG_DOMAIN_STATE_NORMAL: u64 = 1;
/// Domain state: being migrated; operations that would change it are refused. [M].
pub const MIG_DOMAIN_STATE_MIGRATING: u64 = 2;
/// Domain state: a failed migration left it stopped; must not run until recovered. [M].
pub const MIG_DOMAIN_STATE_ERROR: u64 = 3;

/// Number of SPARC V9 register windows kept in [`VcpuState`] (T1/T2: 8).
pub const VCPU_WINDOWS: usize = 8;
/// Global register sets kept (GL 0-3).
pub const VCPU_GLOBAL_SETS: usize = 4;
/// Trap levels kept (MAXPTL = 2 for privileged software; T1 hardware has 6).
pub const VCPU_TRAP_LEVELS: usize = 6;
/// TSB descriptions kept per context class.
pub const VCPU_TSBS: usize = 4;

/// One trap level's saved registers.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct TrapLevelState {
    /// `%tpc`.
    pub tpc: U64,
    /// `%tnpc`.
    pub tnpc: U64,
    /// `%tstate`.
    pub tstate: U64,
    /// `%tt`.
    pub tt: U64,
}

/// One mondo/error queue's configuration (`CPU_QCONF`) and its pointers.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct QueueState {
    /// Base RA (0 when unconfigured).
    pub base_ra: U64,
    /// Entry count (0 when unconfigured).
    pub entries: U64,
    /// Head offset (ASI_QUEUE).
    pub head: U64,
    /// Tail offset (ASI_QUEUE).
    pub tail: U64,
}

/// The whole architectural state of one vCPU, as `MIG_VCPU_GET_STATE` stores
/// it: big-endian, fixed layout, 2432 bytes. [M] API.md §VcpuState.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct VcpuState {
    /// The vCPU id inside its domain.
    pub vcpu_id: U64,
    /// `CPU_STATE` value (1 stopped, 2 running, 3 error) before suspension.
    pub cpu_state: U64,
    /// `%pc`, `%npc`.
    pub pc: U64,
    /// Next PC.
    pub npc: U64,
    /// Global registers, one set per GL.
    pub globals: [[U64; 8]; VCPU_GLOBAL_SETS],
    /// Per window: 8 locals then 8 ins (outs are the next window's ins).
    pub windows: [[U64; 16]; VCPU_WINDOWS],
    /// Floating-point registers `%d0`-`%d62`.
    pub float: [U64; 32],
    /// `%fsr`, `%gsr`, `%fprs`.
    pub fsr: U64,
    /// Graphics status register.
    pub gsr: U64,
    /// Floating-point registers state.
    pub fprs: U64,
    /// Trap registers for TL 1..=6.
    pub trap_levels: [TrapLevelState; VCPU_TRAP_LEVELS],
    /// `%y`, `%ccr`, `%asi`.
    pub y: U64,
    /// Condition codes.
    pub ccr: U64,
    /// Current ASI.
    pub asi: U64,
    /// `%pstate`.
    pub pstate: U64,
    /// `%pil`.
    pub pil: U64,
    /// `%tl`.
    pub tl: U64,
    /// `%gl`.
    pub gl: U64,
    /// `%cwp`.
    pub cwp: U64,
    /// `%cansave`.
    pub cansave: U64,
    /// `%canrestore`.
    pub canrestore: U64,
    /// `%cleanwin`.
    pub cleanwin: U64,
    /// `%otherwin`.
    pub otherwin: U64,
    /// `%wstate`.
    pub wstate: U64,
    /// `%tba`.
    pub tba: U64,
    /// RTBA (`CPU_SET_RTBA`).
    pub rtba: U64,
    /// `%tick`, `%stick` and their compare registers, `%softint`.
    pub tick: U64,
    /// System tick.
    pub stick: U64,
    /// Tick compare.
    pub tick_cmpr: U64,
    /// System tick compare.
    pub stick_cmpr: U64,
    /// Pending soft interrupts.
    pub softint: U64,
    /// MMU primary context.
    pub primary_context: U64,
    /// MMU secondary context.
    pub secondary_context: U64,
    /// Fault status area RA (`MMU_FAULT_AREA_CONF`).
    pub fault_area_ra: U64,
    /// Number of valid entries in `tsb_ctx0`.
    pub tsb_ctx0_count: U64,
    /// Number of valid entries in `tsb_ctxnon0`.
    pub tsb_ctxnon0_count: U64,
    /// TSBs given with `MMU_TSB_CTX0`.
    pub tsb_ctx0: [TsbDescriptor; VCPU_TSBS],
    /// TSBs given with `MMU_TSB_CTXNON0`.
    pub tsb_ctxnon0: [TsbDescriptor; VCPU_TSBS],
    /// Queues 0x3c cpu mondo, 0x3d device mondo, 0x3e resumable, 0x3f non-resumable.
    pub queues: [QueueState; 4],
    /// sun4v scratchpad registers (ASI_SCRATCHPAD 0x20).
    pub scratchpad: [U64; 8],
}

impl VcpuState {
    /// Size in bytes of the wire form.
    pub const BYTES: usize = core::mem::size_of::<VcpuState>();

    /// An all-zero state (a freshly created, stopped vCPU).
    pub fn zeroed() -> Self {
        <Self as zerocopy::FromZeros>::new_zeroed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_numbers_match_api_md() {
        let table = [
            (MIG_DOMAIN_INFO, 0x200),
            (MIG_MEMBLOCK_INFO, 0x201),
            (MIG_DIRTY_LOG_START, 0x202),
            (MIG_DIRTY_LOG_SYNC, 0x203),
            (MIG_DIRTY_LOG_STOP, 0x204),
            (MIG_PAGE_READ, 0x205),
            (MIG_PAGE_WRITE, 0x206),
            (MIG_DOMAIN_SUSPEND, 0x207),
            (MIG_DOMAIN_RESUME, 0x208),
            (MIG_VCPU_GET_STATE, 0x209),
            (MIG_VCPU_SET_STATE, 0x20a),
            (MIG_DOMAIN_CREATE, 0x20b),
            (MIG_MEMBLOCK_BIND, 0x20c),
            (MIG_DOMAIN_DESTROY, 0x20d),
            (MIG_VCPU_THROTTLE, 0x20e),
            (MIG_CRYPTO_REMOVE, 0x20f),
            (MIG_CRYPTO_ADD, 0x210),
            (MIG_DOMAIN_SET_STATE, 0x211),
        ];
        for (value, expected) in table {
            assert_eq!(value, expected);
        }
        assert_eq!((MIGRATION_MAJOR, MIGRATION_MINOR), (1, 0));
        assert_eq!(
            (
                MIG_DOMAIN_STATE_NORMAL,
                MIG_DOMAIN_STATE_MIGRATING,
                MIG_DOMAIN_STATE_ERROR
            ),
            (1, 2, 3)
        );
    }

    #[test]
    fn wire_struct_sizes() {
        assert_eq!(core::mem::size_of::<TrapLevelState>(), 32);
        assert_eq!(core::mem::size_of::<QueueState>(), 32);
        assert_eq!(VcpuState::BYTES, 2432);
        assert_eq!(VcpuState::BYTES % 8, 0);
        assert_eq!(core::mem::offset_of!(VcpuState, globals), 32);
        assert_eq!(core::mem::offset_of!(VcpuState, windows), 288);
    }
}
