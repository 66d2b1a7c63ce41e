/* ldmig firmware: byte offsets of the fields of ldmig_hv::abi::migration::
 * VcpuState (hv/API.md, "VcpuState"), which is also the vCPU save area of
 * the minimal hypervisor: the context switch stores the registers straight
 * into it (big-endian 64-bit words, the machine's own order).
 * context_switch.rs asserts each number against the Rust struct. */
#ifndef LDMIG_VCPU_STATE_OFFSETS_H
#define LDMIG_VCPU_STATE_OFFSETS_H

#define VS_PC			16
#define VS_NPC			24
#define VS_GLOBALS		32	/* [4][8]: GL 0 first */
#define VS_WINDOWS		288	/* [8][16]: locals then ins */
#define VS_WINDOW_BYTES		128
#define VS_FLOAT		1312	/* %d0..%d62 */
#define VS_FSR			1568
#define VS_GSR			1576
#define VS_FPRS			1584
#define VS_Y			1784
#define VS_CCR			1792
#define VS_ASI			1800
#define VS_PSTATE		1808
#define VS_PIL			1816
#define VS_TL			1824
#define VS_GL			1832
#define VS_CWP			1840
#define VS_CANSAVE		1848
#define VS_CANRESTORE		1856
#define VS_CLEANWIN		1864
#define VS_OTHERWIN		1872
#define VS_WSTATE		1880
#define VS_TBA			1888
#define VS_TICK			1904
#define VS_STICK		1912
#define VS_TICK_CMPR		1920
#define VS_STICK_CMPR		1928
#define VS_SOFTINT		1936
#define VS_PRIMARY_CONTEXT	1944
#define VS_SECONDARY_CONTEXT	1952
#define VS_SCRATCHPAD		2368
#define VS_BYTES		2432

/* The window-only save area of the MMU fault path (context_switch.rs,
 * WindowSaveArea): the 8 windows, then the window control registers. */
#define WS_WINDOWS		0
#define WS_CWP			1024
#define WS_CANSAVE		1032
#define WS_CANRESTORE		1040
#define WS_CLEANWIN		1048
#define WS_OTHERWIN		1056
#define WS_WSTATE		1064
#define WS_TRAP_TYPE		1072
#define WS_TAG_ACCESS		1080
#define WS_TTE			1088
#define WS_BYTES		1096

/* ASIs (UltraSPARC T1 / UA2005; QEMU target/sparc/asi.h). */
#define ASI_SCRATCHPAD		0x20
#define ASI_LSU_CONTROL		0x45
#define ASI_IMMU		0x50
#define ASI_ITLB_DATA_IN	0x54
#define ASI_ITLB_DATA_ACCESS	0x55
#define ASI_DMMU		0x58
#define ASI_DTLB_DATA_IN	0x5c
#define ASI_DTLB_DATA_ACCESS	0x5d
#define MMU_PRIMARY_CONTEXT	0x08	/* in ASI_DMMU */
#define MMU_SECONDARY_CONTEXT	0x10	/* in ASI_DMMU */
#define MMU_TAG_ACCESS		0x30	/* in ASI_IMMU / ASI_DMMU */

#endif
