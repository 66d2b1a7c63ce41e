/* ldmig firmware: the minimal hypervisor's context switch.
 *
 * Three kinds of context share the one UltraSPARC T1 strand: this
 * hypervisor (hyperprivileged, HTBA, its own stack on trap entry), the
 * service domain that runs the migration engine (privileged, MMU off) and
 * guest domains (privileged, MMU on through translations this hypervisor
 * installs). A privileged context enters the hypervisor only by a trap:
 *
 *   ldmig_privileged_trap_entry   `ta 0x80` / `ta 0xff` from a privileged
 *       context at TL 0. Stores the whole vCPU (every window, the GL 0
 *       globals, the trap state split into PC/NPC/CCR/ASI/PSTATE/CWP/GL,
 *       window control, TBA, PIL, Y, the FP registers, %fsr/%gsr/%fprs,
 *       tick and stick registers, MMU contexts, scratchpads 0-3, 6, 7)
 *       into the running vCPU's VcpuState (ldmig_current_vcpu_state),
 *       calls Rust on the hypervisor stack with fresh windows, and resumes
 *       whichever vCPU Rust returns (the same one, or another after
 *       CPU_YIELD) by loading its VcpuState and `retry` at its PC/NPC.
 *   ldmig_mmu_fault_entry         TLB miss / protection traps (tt 0x064,
 *       0x068, 0x06c) of a guest, at TL 1 or 2 (from the guest's own trap
 *       handlers). Only the windows and window control are kept (Rust uses
 *       neither the trapper's globals, at a lower GL, nor FP); Rust computes
 *       the TTE, which is written with the fault's tag access, then `retry`.
 *   ldmig_launch_service_domain   the first entry into privileged mode,
 *       from the hyperprivileged boot code at TL 0: `wrhpr %g0, %hpstate`
 *       (QEMU 7.2 ignores writes to %htstate, so a `retry` cannot make the
 *       first switch; the state a trap saved is restored correctly, which
 *       is all the two paths above rely on).
 *
 * Offsets: vcpu_state_offsets.h (asserted against the Rust structs).
 */
#include "memory_map.h"
#include "trap_macros.h"
#include "vcpu_state_offsets.h"

	.register %g2, #scratch
	.register %g3, #scratch
	.register %g6, #scratch
	.register %g7, #scratch

	/* Moves scratchpad register \offset / 8 between the strand and
	 * the VcpuState at %g1 (ldxa: save, stxa: restore). */
	.macro	SCRATCHPAD access, offset
	mov	\offset, %g3
	.ifc	\access, ldxa
	ldxa	[%g3] ASI_SCRATCHPAD, %g2
	stx	%g2, [%g1 + VS_SCRATCHPAD + \offset]
	.else
	ldx	[%g1 + VS_SCRATCHPAD + \offset], %g2
	stxa	%g2, [%g3] ASI_SCRATCHPAD
	.endif
	.endm

	.section .text.ldmig_assembly, "ax"

/* ---- ta 0x80 / ta 0xff from a privileged context -------------------- */

	.globl	ldmig_privileged_trap_entry
	.type	ldmig_privileged_trap_entry, #function
ldmig_privileged_trap_entry:
	setx	ldmig_current_vcpu_state, %g2, %g1
	ldx	[%g1], %g1

	/* The trap state: TPC/TNPC as they are (Rust turns them into the
	 * resume point), TSTATE split into its fields. */
	rdpr	%tpc, %g2
	stx	%g2, [%g1 + VS_PC]
	rdpr	%tnpc, %g2
	stx	%g2, [%g1 + VS_NPC]
	rdpr	%tstate, %g2
	and	%g2, 0x1f, %g3
	stx	%g3, [%g1 + VS_CWP]
	srlx	%g2, 8, %g3
	and	%g3, 0xfff, %g3
	stx	%g3, [%g1 + VS_PSTATE]
	srlx	%g2, 24, %g3
	and	%g3, 0xff, %g3
	stx	%g3, [%g1 + VS_ASI]
	srlx	%g2, 32, %g3
	and	%g3, 0xff, %g3
	stx	%g3, [%g1 + VS_CCR]
	srlx	%g2, 40, %g3
	and	%g3, 0x7, %g3
	stx	%g3, [%g1 + VS_GL]
	stx	%g0, [%g1 + VS_TL]

	SAVE_WINDOW_CONTROL %g1, %g2, VS_CANSAVE, VS_CANRESTORE, VS_CLEANWIN, VS_OTHERWIN, VS_WSTATE
	rdpr	%tba, %g2
	stx	%g2, [%g1 + VS_TBA]
	rdpr	%pil, %g2
	stx	%g2, [%g1 + VS_PIL]
	rd	%y, %g2
	stx	%g2, [%g1 + VS_Y]
	rd	%fprs, %g2
	stx	%g2, [%g1 + VS_FPRS]
	rd	%tick, %g2
	stx	%g2, [%g1 + VS_TICK]
	rd	%asr24, %g2			/* %stick */
	stx	%g2, [%g1 + VS_STICK]
	rd	%asr23, %g2			/* %tick_cmpr */
	stx	%g2, [%g1 + VS_TICK_CMPR]
	rd	%asr25, %g2			/* %stick_cmpr */
	stx	%g2, [%g1 + VS_STICK_CMPR]
	rd	%asr22, %g2			/* %softint */
	stx	%g2, [%g1 + VS_SOFTINT]
	mov	MMU_PRIMARY_CONTEXT, %g3
	ldxa	[%g3] ASI_DMMU, %g2
	stx	%g2, [%g1 + VS_PRIMARY_CONTEXT]
	mov	MMU_SECONDARY_CONTEXT, %g3
	ldxa	[%g3] ASI_DMMU, %g2
	stx	%g2, [%g1 + VS_SECONDARY_CONTEXT]
	/* Scratchpads 0-3, 6, 7. On the T1, privileged accesses to 4 and 5
	 * trap for the hypervisor to emulate, and QEMU refuses every access
	 * to them (target/sparc/ldst_helper.c): their VcpuState words are
	 * kept as MIG_VCPU_SET_STATE left them. */
	SCRATCHPAD	ldxa, 0x00
	SCRATCHPAD	ldxa, 0x08
	SCRATCHPAD	ldxa, 0x10
	SCRATCHPAD	ldxa, 0x18
	SCRATCHPAD	ldxa, 0x30
	SCRATCHPAD	ldxa, 0x38

	/* The FP registers: make them accessible first (the trap kept the
	 * caller's PSTATE.PEF and %fprs, both saved above). */
	wrpr	%g0, PSTATE_PRIV | PSTATE_PEF, %pstate
	wr	%g0, FPRS_FEF, %fprs
	std	%f0, [%g1 + VS_FLOAT + 0x00]
	std	%f2, [%g1 + VS_FLOAT + 0x08]
	std	%f4, [%g1 + VS_FLOAT + 0x10]
	std	%f6, [%g1 + VS_FLOAT + 0x18]
	std	%f8, [%g1 + VS_FLOAT + 0x20]
	std	%f10, [%g1 + VS_FLOAT + 0x28]
	std	%f12, [%g1 + VS_FLOAT + 0x30]
	std	%f14, [%g1 + VS_FLOAT + 0x38]
	std	%f16, [%g1 + VS_FLOAT + 0x40]
	std	%f18, [%g1 + VS_FLOAT + 0x48]
	std	%f20, [%g1 + VS_FLOAT + 0x50]
	std	%f22, [%g1 + VS_FLOAT + 0x58]
	std	%f24, [%g1 + VS_FLOAT + 0x60]
	std	%f26, [%g1 + VS_FLOAT + 0x68]
	std	%f28, [%g1 + VS_FLOAT + 0x70]
	std	%f30, [%g1 + VS_FLOAT + 0x78]
	std	%f32, [%g1 + VS_FLOAT + 0x80]
	std	%f34, [%g1 + VS_FLOAT + 0x88]
	std	%f36, [%g1 + VS_FLOAT + 0x90]
	std	%f38, [%g1 + VS_FLOAT + 0x98]
	std	%f40, [%g1 + VS_FLOAT + 0xa0]
	std	%f42, [%g1 + VS_FLOAT + 0xa8]
	std	%f44, [%g1 + VS_FLOAT + 0xb0]
	std	%f46, [%g1 + VS_FLOAT + 0xb8]
	std	%f48, [%g1 + VS_FLOAT + 0xc0]
	std	%f50, [%g1 + VS_FLOAT + 0xc8]
	std	%f52, [%g1 + VS_FLOAT + 0xd0]
	std	%f54, [%g1 + VS_FLOAT + 0xd8]
	std	%f56, [%g1 + VS_FLOAT + 0xe0]
	std	%f58, [%g1 + VS_FLOAT + 0xe8]
	std	%f60, [%g1 + VS_FLOAT + 0xf0]
	std	%f62, [%g1 + VS_FLOAT + 0xf8]
	stx	%fsr, [%g1 + VS_FSR]
	rd	%gsr, %g2
	stx	%g2, [%g1 + VS_GSR]

	/* Every window; then the GL 0 globals, through a window register
	 * (the windows are saved, so %l0-%l1 of CWP 7 are free), because
	 * our own globals are out of sight at GL 0. A privileged context
	 * here ran at TL 0 and GL 0: GL 1-3 held nothing of it. */
	add	%g1, VS_WINDOWS, %g4
	SAVE_WINDOWS %g4, %g2, %g3
	mov	%g1, %l0
	rdpr	%gl, %l1
	wrpr	%g0, 0, %gl
	stx	%g0, [%l0 + VS_GLOBALS + 0x00]
	stx	%g1, [%l0 + VS_GLOBALS + 0x08]
	stx	%g2, [%l0 + VS_GLOBALS + 0x10]
	stx	%g3, [%l0 + VS_GLOBALS + 0x18]
	stx	%g4, [%l0 + VS_GLOBALS + 0x20]
	stx	%g5, [%l0 + VS_GLOBALS + 0x28]
	stx	%g6, [%l0 + VS_GLOBALS + 0x30]
	stx	%g7, [%l0 + VS_GLOBALS + 0x38]
	wrpr	%l1, %gl

	/* Rust on the hypervisor's own stack; it returns the save area of
	 * the vCPU to run next (and has set the LSU and TLB for it). */
	FRESH_WINDOWS HYPERVISOR_STACK_TOP
	call	ldmig_firmware_privileged_trap
	 rdpr	%tt, %o0
	mov	%o0, %g1
	ba,a	resume_vcpu
	.size	ldmig_privileged_trap_entry, . - ldmig_privileged_trap_entry

/* Loads the vCPU whose VcpuState %g1 points to and resumes it at its PC
 * and NPC, at TL 0 and in privileged mode: %htstate[1] was saved by QEMU
 * when the trap that brought us here came from privileged mode. */
resume_vcpu:
	/* GL 0 globals first, through %l0 (the windows are loaded after). */
	mov	%g1, %l0
	rdpr	%gl, %l1
	wrpr	%g0, 0, %gl
	ldx	[%l0 + VS_GLOBALS + 0x08], %g1
	ldx	[%l0 + VS_GLOBALS + 0x10], %g2
	ldx	[%l0 + VS_GLOBALS + 0x18], %g3
	ldx	[%l0 + VS_GLOBALS + 0x20], %g4
	ldx	[%l0 + VS_GLOBALS + 0x28], %g5
	ldx	[%l0 + VS_GLOBALS + 0x30], %g6
	ldx	[%l0 + VS_GLOBALS + 0x38], %g7
	wrpr	%l1, %gl

	/* FP state (FEF is on: FRESH_WINDOWS left PSTATE.PEF set and the
	 * entry path set %fprs). */
	wr	%g0, FPRS_FEF, %fprs
	ldd	[%g1 + VS_FLOAT + 0x00], %f0
	ldd	[%g1 + VS_FLOAT + 0x08], %f2
	ldd	[%g1 + VS_FLOAT + 0x10], %f4
	ldd	[%g1 + VS_FLOAT + 0x18], %f6
	ldd	[%g1 + VS_FLOAT + 0x20], %f8
	ldd	[%g1 + VS_FLOAT + 0x28], %f10
	ldd	[%g1 + VS_FLOAT + 0x30], %f12
	ldd	[%g1 + VS_FLOAT + 0x38], %f14
	ldd	[%g1 + VS_FLOAT + 0x40], %f16
	ldd	[%g1 + VS_FLOAT + 0x48], %f18
	ldd	[%g1 + VS_FLOAT + 0x50], %f20
	ldd	[%g1 + VS_FLOAT + 0x58], %f22
	ldd	[%g1 + VS_FLOAT + 0x60], %f24
	ldd	[%g1 + VS_FLOAT + 0x68], %f26
	ldd	[%g1 + VS_FLOAT + 0x70], %f28
	ldd	[%g1 + VS_FLOAT + 0x78], %f30
	ldd	[%g1 + VS_FLOAT + 0x80], %f32
	ldd	[%g1 + VS_FLOAT + 0x88], %f34
	ldd	[%g1 + VS_FLOAT + 0x90], %f36
	ldd	[%g1 + VS_FLOAT + 0x98], %f38
	ldd	[%g1 + VS_FLOAT + 0xa0], %f40
	ldd	[%g1 + VS_FLOAT + 0xa8], %f42
	ldd	[%g1 + VS_FLOAT + 0xb0], %f44
	ldd	[%g1 + VS_FLOAT + 0xb8], %f46
	ldd	[%g1 + VS_FLOAT + 0xc0], %f48
	ldd	[%g1 + VS_FLOAT + 0xc8], %f50
	ldd	[%g1 + VS_FLOAT + 0xd0], %f52
	ldd	[%g1 + VS_FLOAT + 0xd8], %f54
	ldd	[%g1 + VS_FLOAT + 0xe0], %f56
	ldd	[%g1 + VS_FLOAT + 0xe8], %f58
	ldd	[%g1 + VS_FLOAT + 0xf0], %f60
	ldd	[%g1 + VS_FLOAT + 0xf8], %f62
	ldx	[%g1 + VS_FSR], %fsr
	ldx	[%g1 + VS_GSR], %g2
	wr	%g2, %g0, %gsr
	ldx	[%g1 + VS_FPRS], %g2
	wr	%g2, %g0, %fprs

	/* Every window, then window control, TBA, PIL, Y. */
	add	%g1, VS_WINDOWS, %g4
	RESTORE_WINDOWS %g4, %g2, %g3
	RESTORE_WINDOW_CONTROL %g1, %g2, VS_CANSAVE, VS_CANRESTORE, VS_CLEANWIN, VS_OTHERWIN, VS_WSTATE
	ldx	[%g1 + VS_TBA], %g2
	wrpr	%g2, %tba
	ldx	[%g1 + VS_PIL], %g2
	wrpr	%g2, %pil
	ldx	[%g1 + VS_Y], %g2
	wr	%g2, %g0, %y

	/* MMU contexts and scratchpads (the tick and stick registers are
	 * the strand's own: recorded in the state, not reloaded). */
	ldx	[%g1 + VS_PRIMARY_CONTEXT], %g2
	mov	MMU_PRIMARY_CONTEXT, %g3
	stxa	%g2, [%g3] ASI_DMMU
	ldx	[%g1 + VS_SECONDARY_CONTEXT], %g2
	mov	MMU_SECONDARY_CONTEXT, %g3
	stxa	%g2, [%g3] ASI_DMMU
	membar	#Sync
	SCRATCHPAD	stxa, 0x00
	SCRATCHPAD	stxa, 0x08
	SCRATCHPAD	stxa, 0x10
	SCRATCHPAD	stxa, 0x18
	SCRATCHPAD	stxa, 0x30
	SCRATCHPAD	stxa, 0x38

	/* The trap state `retry` returns through: PC, NPC and a TSTATE
	 * rebuilt from GL, CCR, ASI, PSTATE and CWP. */
	ldx	[%g1 + VS_PC], %g2
	wrpr	%g2, %tpc
	ldx	[%g1 + VS_NPC], %g2
	wrpr	%g2, %tnpc
	ldx	[%g1 + VS_GL], %g2
	sllx	%g2, 40, %g2
	ldx	[%g1 + VS_CCR], %g3
	sllx	%g3, 32, %g3
	or	%g2, %g3, %g2
	ldx	[%g1 + VS_ASI], %g3
	sllx	%g3, 24, %g3
	or	%g2, %g3, %g2
	ldx	[%g1 + VS_PSTATE], %g3
	sllx	%g3, 8, %g3
	or	%g2, %g3, %g2
	ldx	[%g1 + VS_CWP], %g3
	or	%g2, %g3, %g2
	wrpr	%g2, %tstate
	retry

/* ---- MMU traps of a guest -------------------------------------------- */

	.globl	ldmig_mmu_fault_entry
	.type	ldmig_mmu_fault_entry, #function
ldmig_mmu_fault_entry:
	setx	ldmig_mmu_fault_save_area, %g2, %g1
	rdpr	%tt, %g2
	stx	%g2, [%g1 + WS_TRAP_TYPE]
	mov	MMU_TAG_ACCESS, %g3
	cmp	%g2, 0x64
	bne,pt	%xcc, 1f
	 nop
	ba	2f
	 ldxa	[%g3] ASI_IMMU, %g2
1:	ldxa	[%g3] ASI_DMMU, %g2
2:	stx	%g2, [%g1 + WS_TAG_ACCESS]
	rdpr	%cwp, %g2
	stx	%g2, [%g1 + WS_CWP]
	SAVE_WINDOW_CONTROL %g1, %g2, WS_CANSAVE, WS_CANRESTORE, WS_CLEANWIN, WS_OTHERWIN, WS_WSTATE
	add	%g1, WS_WINDOWS, %g4
	SAVE_WINDOWS %g4, %g2, %g3

	FRESH_WINDOWS HYPERVISOR_STACK_TOP
	call	ldmig_firmware_mmu_fault	/* fills WS_TTE (or reports and stops) */
	 nop

	setx	ldmig_mmu_fault_save_area, %g2, %g1
	add	%g1, WS_WINDOWS, %g4
	RESTORE_WINDOWS %g4, %g2, %g3
	RESTORE_WINDOW_CONTROL %g1, %g2, WS_CANSAVE, WS_CANRESTORE, WS_CLEANWIN, WS_OTHERWIN, WS_WSTATE
	ldx	[%g1 + WS_CWP], %g2
	wrpr	%g2, %cwp
	ldx	[%g1 + WS_TAG_ACCESS], %g2
	ldx	[%g1 + WS_TTE], %g3
	ldx	[%g1 + WS_TRAP_TYPE], %g4
	mov	MMU_TAG_ACCESS, %g5
	cmp	%g4, 0x64
	bne,pt	%xcc, 3f
	 nop
	stxa	%g2, [%g5] ASI_IMMU
	stxa	%g3, [%g0] ASI_ITLB_DATA_IN
	membar	#Sync
	retry
3:	stxa	%g2, [%g5] ASI_DMMU
	stxa	%g3, [%g0] ASI_DTLB_DATA_IN
	membar	#Sync
	retry
	.size	ldmig_mmu_fault_entry, . - ldmig_mmu_fault_entry

/* ---- the first switch to privileged mode ----------------------------- */

/* ldmig_launch_service_domain(tba, lsu_control, argument0, argument1):
 * from the hyperprivileged boot code at TL 0, GL 0. Never returns. */
	.globl	ldmig_launch_service_domain
	.type	ldmig_launch_service_domain, #function
ldmig_launch_service_domain:
	mov	%o0, %g1
	mov	%o1, %g2
	mov	%o2, %g3
	mov	%o3, %g4
	FRESH_WINDOWS SERVICE_STACK_TOP
	wr	%g0, FPRS_FEF, %fprs
	wrpr	%g1, %tba
	stxa	%g2, [%g0] ASI_LSU_CONTROL
	membar	#Sync
	mov	%g3, %o0
	mov	%g4, %o1
	mov	%g0, %g1
	mov	%g0, %g2
	mov	%g0, %g3
	mov	%g0, %g4
	wrhpr	%g0, %hpstate		/* privileged from the next instruction */
	call	ldmig_firmware_service_main
	 nop
	/* The service domain's main never returns; if it did: */
	rdpr	%tt, %o0
	mov	%g0, %o1
	rdpr	%tl, %o2
	ta	0xf0
	.size	ldmig_launch_service_domain, . - ldmig_launch_service_domain
