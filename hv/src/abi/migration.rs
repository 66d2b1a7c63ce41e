//! MIGRATION group (this project's, [`crate::abi::group::MIGRATION`], v2.0):
//! the calls migration needs and the public sun4v API lacks.
//!
//! Source: [M] `hv/API.md`, the contract a firmware integrator implements.
//! Every call is a fast trap (`ta 0x80`, number in `%o5`). All addresses are
//! real addresses; every buffer must be 8-byte aligned.
//!
//! # Numbering
//! The function numbers are 0x800-0x811, a range no public API group uses:
//! the public fast-trap functions of Linux `hypervisor.h`, illumos
//! `hypervisor_api.h` and the OpenSPARC hypervisor all lie in 0x00-0x201
//! (the last ones are the DIAG group's 0x200 and 0x201: OpenSPARC
//! `DIAG_RA2PA`/`DIAG_HEXEC`, illumos `HV_RA2PA`/`HV_HPRIV`; Linux's highest
//! is `HV_FAST_T5_SET_PERFREG` 0x1a9). The range starts at 0x800, the upper
//! half of what a SPARC `mov imm, %o5` encodes (a 13-bit signed immediate,
//! the way `hvcalls.S` loads every function number), so 0x202-0x7ff stays
//! free for the public API to grow and every number still fits one `mov`.
//! The test `no_migration_function_is_a_public_function` holds the list of
//! public numbers checked, with their sources. Version 1.0 numbered the
//! calls from 0x200 and collided with the DIAG group: version 2.0 is the
//! renumbering, so a firmware still speaking 1.0 refuses major 2 in
//! `API_SET_VERSION` and is never called with the new numbers.

use crate::abi::mmu::TsbDescriptor;
use crate::abi::spec_numbers;
use zerocopy::byteorder::big_endian::U64;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Major version of the group this crate speaks (2: the 0x800 numbering).
/// [M] API.md, "Negotiation".
pub const MIGRATION_MAJOR: u64 = 2;
/// Highest minor version this crate speaks. [M] API.md, "Negotiation".
pub const MIGRATION_MINOR: u64 = 0;

spec_numbers! {
    /// Every function of the group, in number order (a dispatcher's table).
    pub const MIGRATION_FUNCTIONS: [u64];
    /// domain -> RET1 vCPU count, RET2 memory-block count, RET3 domain state. [M] API.md, MIG_DOMAIN_INFO.
    pub const MIG_DOMAIN_INFO: u64 = 0x800;
    /// domain, block index -> RET1 RA, RET2 size in bytes. [M] API.md, MIG_MEMBLOCK_INFO.
    pub const MIG_MEMBLOCK_INFO: u64 = 0x801;
    /// domain, block index: start dirty logging (all pages start dirty). [M] API.md, MIG_DIRTY_LOG_START.
    pub const MIG_DIRTY_LOG_START: u64 = 0x802;
    /// domain, block index, bitmap RA, bitmap bytes -> RET1 dirty pages: copy and clear. [M] API.md, MIG_DIRTY_LOG_SYNC.
    pub const MIG_DIRTY_LOG_SYNC: u64 = 0x803;
    /// domain, block index: stop dirty logging. [M] API.md, MIG_DIRTY_LOG_STOP.
    pub const MIG_DIRTY_LOG_STOP: u64 = 0x804;
    /// domain, guest RA, buffer RA, length -> RET1 bytes read. [M] API.md, MIG_PAGE_READ.
    pub const MIG_PAGE_READ: u64 = 0x805;
    /// domain, guest RA, buffer RA, length -> RET1 bytes written. [M] API.md, MIG_PAGE_WRITE.
    pub const MIG_PAGE_WRITE: u64 = 0x806;
    /// domain: stop every vCPU of the domain at an instruction boundary. [M] API.md, MIG_DOMAIN_SUSPEND.
    pub const MIG_DOMAIN_SUSPEND: u64 = 0x807;
    /// domain: let the domain's vCPUs run again. [M] API.md, MIG_DOMAIN_RESUME.
    pub const MIG_DOMAIN_RESUME: u64 = 0x808;
    /// domain, vCPU, buffer RA, length: store a [`VcpuState`]. [M] API.md, MIG_VCPU_GET_STATE.
    pub const MIG_VCPU_GET_STATE: u64 = 0x809;
    /// domain, vCPU, buffer RA, length: load a [`VcpuState`]. [M] API.md, MIG_VCPU_SET_STATE.
    pub const MIG_VCPU_SET_STATE: u64 = 0x80a;
    /// vCPU count -> RET1 new domain id (bound, suspended, no memory). [M] API.md, MIG_DOMAIN_CREATE.
    pub const MIG_DOMAIN_CREATE: u64 = 0x80b;
    /// domain, RA, size -> RET1 PA: bind one contiguous free range at that RA. [M] API.md, MIG_MEMBLOCK_BIND.
    pub const MIG_MEMBLOCK_BIND: u64 = 0x80c;
    /// domain: tear the domain down and free its memory and strands. [M] API.md, MIG_DOMAIN_DESTROY.
    pub const MIG_DOMAIN_DESTROY: u64 = 0x80d;
    /// domain, percent 0-99: make the vCPUs yield that share of their time. [M] API.md, MIG_VCPU_THROTTLE.
    pub const MIG_VCPU_THROTTLE: u64 = 0x80e;
    /// domain -> RET1 crypto units removed (guest must support crypto DR). [M] API.md, MIG_CRYPTO_REMOVE.
    pub const MIG_CRYPTO_REMOVE: u64 = 0x80f;
    /// domain, count -> RET1 crypto units added (may be fewer). [M] API.md, MIG_CRYPTO_ADD.
    pub const MIG_CRYPTO_ADD: u64 = 0x810;
    /// domain, state: mark the domain (1 normal, 2 migrating, 3 error). [M] API.md, MIG_DOMAIN_SET_STATE.
    pub const MIG_DOMAIN_SET_STATE: u64 = 0x811;
}

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
/// it: big-endian, fixed layout, 2432 bytes. [M] API.md, "VcpuState".
/// Equal states are equal bytes (`PartialEq` compares the bytes: the
/// derived field-by-field comparison of 300 words took 7 KiB of the
/// firmware image).
#[derive(Clone, Copy, Debug, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
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

impl PartialEq for VcpuState {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::assert_in_number_order;

    #[test]
    fn function_numbers_match_api_md() {
        // Every number as the spec gives it, in the table's order.
        assert_eq!(
            MIGRATION_FUNCTIONS,
            [
                0x800, 0x801, 0x802, 0x803, 0x804, 0x805, 0x806, 0x807, 0x808, 0x809, 0x80a, 0x80b,
                0x80c, 0x80d, 0x80e, 0x80f, 0x810, 0x811
            ]
        );
        assert_in_number_order(&MIGRATION_FUNCTIONS);
        assert_eq!((MIGRATION_MAJOR, MIGRATION_MINOR), (2, 0));
        assert_eq!(
            (
                MIG_DOMAIN_STATE_NORMAL,
                MIG_DOMAIN_STATE_MIGRATING,
                MIG_DOMAIN_STATE_ERROR
            ),
            (1, 2, 3)
        );
    }

    /// Public fast-trap function numbers, as inclusive ranges, with the
    /// file that defines them: Linux `arch/sparc/include/asm/hypervisor.h`
    /// (`HV_FAST_*`, `HV_CCB_*`), Linux `drivers/crypto/n2_core.h` and
    /// `drivers/char/hw_random/n2rng.h`, illumos
    /// `usr/src/uts/sun4v/sys/hypervisor_api.h` and
    /// `usr/src/uts/sun4v/io/nxge/nxge_hcall.s`, OpenSPARC hypervisor
    /// `src/include/hypervisor.h` and the platform headers of
    /// `src/greatlakes/{ontario,huron}`.
    const PUBLIC_FAST_TRAP_FUNCTIONS: [(u64, u64, &str); 43] = [
        (
            0x00,
            0x02,
            "MACH_EXIT, MACH_DESC, MACH_SIR (Linux, illumos, OpenSPARC)",
        ),
        (0x05, 0x05, "MACH_SET_WATCHDOG"),
        (
            0x10,
            0x19,
            "CPU_START .. CPU_GET_RTBA, CPU_POKE 0x13 (Linux)",
        ),
        (0x20, 0x2b, "MMU_TSB_CTX0 .. MMU_FAULT_AREA_INFO"),
        (0x31, 0x32, "MEM_SCRUB, MEM_SYNC"),
        (
            0x34,
            0x36,
            "HV_CCB_SUBMIT, HV_CCB_INFO, HV_CCB_KILL (Linux, DAX)",
        ),
        (
            0x42,
            0x44,
            "CPU_MONDO_SEND; HV_FAST_M7_GET/SET_PERFREG (Linux)",
        ),
        (0x50, 0x51, "TOD_GET, TOD_SET"),
        (0x60, 0x63, "CONS_GETCHAR .. CONS_WRITE"),
        (0x70, 0x71, "HV_FAST_MACH_SET/GET_SOFT_STATE"),
        (0x80, 0x84, "SVC_SEND .. SVC_CLRSTATUS"),
        (0x90, 0x95, "TTRACE_BUF_CONF .. DUMP_BUF_INFO"),
        (0xa0, 0xa6, "INTR_DEVINO2SYSINO .. INTR_SETTARGET"),
        (0xa7, 0xae, "VINTR_GET_COOKIE .. VINTR_SET_TARGET"),
        (0xb0, 0xb8, "PCI IOMMU, config, peek/poke, DMA sync"),
        (0xc0, 0xce, "PCI MSIQ and MSI"),
        (0xd0, 0xd3, "PCI MSG"),
        (0xe0, 0xe7, "LDC queue calls"),
        (0xe8, 0xe9, "LDC_IRQ_CPU, LDC_SET_INO (OpenSPARC)"),
        (0xea, 0xef, "LDC map-table calls"),
        (0xf0, 0xf3, "DISK_READ/WRITE, SNET_READ/WRITE (OpenSPARC)"),
        (0xfc, 0xfc, "MMU_STAT_AREA (illumos)"),
        (0xfd, 0xfd, "MMU_PERM_ADDR_INFO (OpenSPARC)"),
        (0x100, 0x101, "HV_FAST_GET/SET_PERFREG (Niagara)"),
        (0x102, 0x103, "HV_FAST_MMUSTAT_CONF/INFO"),
        (0x104, 0x105, "HV_FAST_N2_GET/SET_PERFREG"),
        (0x110, 0x110, "HV_FAST_NCS_REQUEST"),
        (
            0x111,
            0x117,
            "HV_FAST_NCS_QCONF .. SETHEAD_MARKER (Linux n2_core.h)",
        ),
        (0x120, 0x121, "HV_FAST_FIRE_GET/SET_PERFREG"),
        (
            0x130,
            0x134,
            "HV_FAST_RNG_* (Linux n2rng.h, OpenSPARC huron)",
        ),
        (0x140, 0x141, "N2PIU_GET/SET_PERFREG (OpenSPARC huron)"),
        (0x142, 0x14e, "N2NIU_* logical pages and VRs (illumos nxge)"),
        (0x150, 0x15b, "N2NIU_VRRX/VRTX_* (illumos nxge)"),
        (0x172, 0x172, "HV_FAST_REBOOT_DATA_SET"),
        (0x176, 0x177, "HV_TPM_GET, HV_TPM_PUT (illumos)"),
        (0x180, 0x180, "HV_TM_ENABLE (illumos)"),
        (0x181, 0x181, "GUEST_SUSPEND (illumos)"),
        (0x182, 0x183, "TICK_SET_NPT, STICK_SET_NPT (illumos)"),
        (0x184, 0x185, "HV_FAST_VT_GET/SET_PERFREG"),
        (0x190, 0x19a, "HV_FAST_PCI_IOTSB_* (Linux)"),
        (0x1a8, 0x1a9, "HV_FAST_T5_GET/SET_PERFREG (Linux)"),
        (0x200, 0x200, "DIAG_RA2PA (OpenSPARC), HV_RA2PA (illumos)"),
        (0x201, 0x201, "DIAG_HEXEC (OpenSPARC), HV_HPRIV (illumos)"),
    ];

    #[test]
    fn no_migration_function_is_a_public_function() {
        for function in MIGRATION_FUNCTIONS {
            for (first, last, what) in PUBLIC_FAST_TRAP_FUNCTIONS {
                assert!(
                    !(first..=last).contains(&function),
                    "{function:#x} is public: {what}"
                );
            }
        }
        // The numbering rule: 0x800-0xfff, one `mov simm13, %o5` each.
        assert!(MIGRATION_FUNCTIONS
            .iter()
            .all(|function| (0x800..0x1000).contains(function)));
        let highest_public = PUBLIC_FAST_TRAP_FUNCTIONS
            .iter()
            .map(|&(_, last, _)| last)
            .max();
        assert_eq!(highest_public, Some(0x201));
        // The list is sorted and its ranges are well formed, so a range
        // typed wrongly cannot hide a number.
        for pair in PUBLIC_FAST_TRAP_FUNCTIONS.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    #[test]
    fn migration_functions_are_distinct_and_in_order() {
        for pair in MIGRATION_FUNCTIONS.windows(2) {
            assert_eq!(pair[0] + 1, pair[1]);
        }
        assert_eq!(MIGRATION_FUNCTIONS[0], MIG_DOMAIN_INFO);
        assert_eq!(MIGRATION_FUNCTIONS[17], MIG_DOMAIN_SET_STATE);
    }

    #[test]
    fn vcpu_state_layout_matches_api_md() {
        use core::mem::offset_of;
        let table = [
            (offset_of!(VcpuState, vcpu_id), 0),
            (offset_of!(VcpuState, cpu_state), 8),
            (offset_of!(VcpuState, pc), 16),
            (offset_of!(VcpuState, npc), 24),
            (offset_of!(VcpuState, globals), 32),
            (offset_of!(VcpuState, windows), 288),
            (offset_of!(VcpuState, float), 1312),
            (offset_of!(VcpuState, fsr), 1568),
            (offset_of!(VcpuState, trap_levels), 1592),
            (offset_of!(VcpuState, y), 1784),
            (offset_of!(VcpuState, pstate), 1808),
            (offset_of!(VcpuState, cwp), 1840),
            (offset_of!(VcpuState, tba), 1888),
            (offset_of!(VcpuState, tick), 1904),
            (offset_of!(VcpuState, primary_context), 1944),
            (offset_of!(VcpuState, fault_area_ra), 1960),
            (offset_of!(VcpuState, tsb_ctx0_count), 1968),
            (offset_of!(VcpuState, tsb_ctx0), 1984),
            (offset_of!(VcpuState, tsb_ctxnon0), 2112),
            (offset_of!(VcpuState, queues), 2240),
            (offset_of!(VcpuState, scratchpad), 2368),
            (VcpuState::BYTES, 2432),
        ];
        for (index, (actual, documented)) in table.into_iter().enumerate() {
            assert_eq!(actual, documented, "row {index}");
        }
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
