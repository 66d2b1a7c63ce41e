/* ldmig firmware: the power-on reset entry and the hyperprivileged trap table.
 *
 * The first 16 KiB of the image ARE the trap table (HTBA = image base): on
 * the T1 the power-on reset vector is entry 1 of that layout, at +0x20, where
 * QEMU -M niagara starts us (hyperprivileged, TL 6, register windows not
 * initialised; QEMU hw/sparc64/niagara.c, hv/REFERENCES.md). One 32-byte entry per
 * trap type tt at HTBA + tt * 32, whatever the TL (UltraSPARC Architecture
 * 2005; QEMU: target/sparc/int64_helper.c).
 *
 *   tt 0x001          power-on reset: set HTBA, go to reset_continue
 *   tt 0x064          fast_instruction_access_MMU_miss  } from a guest running
 *   tt 0x068          fast_data_access_MMU_miss         } with its MMU on:
 *   tt 0x06c          fast_data_access_protection       } context_switch.S
 *   tt 0x080-0x083    spill_0_normal: 64-bit (biased) stack spill
 *   tt 0x0c0-0x0c3    fill_0_normal:  64-bit (biased) stack fill
 *   tt 0x180          `ta 0x80` (fast trap)  } hyperprivileged callers: the
 *   tt 0x1ff          `ta 0xff` (core trap)  } caller's stack, here; privileged
 *                                             callers: context_switch.S
 *   tt 0x1f0          `ta 0xf0`: a privileged trap table's fatal entry
 *   any other tt      fatal: report tt, TPC, TL on the UART and stop
 *
 * Rust is reached with PC-relative `call`s; symbols are addressed with
 * `setx` (assembled -fno-pic).
 */
#include "memory_map.h"
#include "trap_macros.h"

	.register %g2, #scratch
	.register %g3, #scratch
	.register %g6, #scratch
	.register %g7, #scratch

#define REGISTERS	48		/* %o0-%o5 of the trapping window */

	.macro	FATAL_ENTRY
	ba,a	trap_fatal
	.balign	32
	.endm

	.section .text.ldmig_trap_table, "ax"
	.balign	16384
	.globl	ldmig_firmware_trap_table
	.type	ldmig_firmware_trap_table, #function
ldmig_firmware_trap_table:
	FATAL_ENTRY				/* tt 0x000 */

	/* tt 0x001, +0x20: power-on reset. HTBA = this table = the 16 KiB
	 * aligned base of the PC, wherever the image was placed. */
	.globl	ldmig_firmware_reset
ldmig_firmware_reset:
	rd	%pc, %g1
	srlx	%g1, 14, %g1
	sllx	%g1, 14, %g1
	wrhpr	%g1, %htba
	ba,a	reset_continue
	.balign	32

	.rept	0x064 - 0x002			/* tt 0x002-0x063 */
	FATAL_ENTRY
	.endr

	/* tt 0x064-0x06f: the MMU traps of a guest running with its MMU on
	 * (QEMU raises 0x064, 0x068 and 0x06c only). */
	.rept	3
	ba,a	ldmig_mmu_fault_entry
	.balign	32
	.rept	3
	FATAL_ENTRY
	.endr
	.endr

	.rept	0x080 - 0x070			/* tt 0x070-0x07f */
	FATAL_ENTRY
	.endr

	/* tt 0x080: spill_0_normal (trap_macros.h). */
	.org	0x080 * 32
	SPILL_0_NORMAL

	.rept	0x0c0 - 0x084			/* tt 0x084-0x0bf */
	FATAL_ENTRY
	.endr

	/* tt 0x0c0: fill_0_normal (trap_macros.h). */
	.org	0x0c0 * 32
	FILL_0_NORMAL

	.rept	0x180 - 0x0c4			/* tt 0x0c4-0x17f */
	FATAL_ENTRY
	.endr

	/* tt 0x180: `ta 0x80`, a sun4v fast trap. */
	.org	0x180 * 32
	ba,a	hypervisor_call
	.balign	32

	.rept	0x1f0 - 0x181			/* tt 0x181-0x1ef */
	FATAL_ENTRY
	.endr

	/* tt 0x1f0: `ta 0xf0`, what a privileged trap table's fatal entry
	 * issues (privileged_trap_tables.S), %o0-%o2 = its tt, TPC, TL. */
	.org	0x1f0 * 32
	ba,a	privileged_fatal
	.balign	32

	.rept	0x1ff - 0x1f1			/* tt 0x1f1-0x1fe */
	FATAL_ENTRY
	.endr

	/* tt 0x1ff: `ta 0xff`, the sun4v core trap (API_SET_VERSION...). */
	.org	0x1ff * 32
	ba,a	hypervisor_call
	.balign	32
	.org	0x200 * 32			/* the table is exactly 16 KiB */
	.size	ldmig_firmware_trap_table, . - ldmig_firmware_trap_table

	/* The code the table branches to: in the assembly section that
	 * follows the table (linker/niagara.ld). */
	.section .text.ldmig_assembly, "ax"

/* Leaves the power-on state (RED, TL 6, GL 2, windows undefined) for a
 * plain hyperprivileged TL 0 / GL 0 state, clears .bss (in hypervisor RAM,
 * not in the image), paints the boot stack (stack_usage.rs measures what
 * was used), then runs Rust. */
reset_continue:
	wrpr	%g0, 0, %tl
	wrpr	%g0, 0, %gl
	setx	ldmig_firmware_bss_start, %g2, %g1
	setx	ldmig_firmware_bss_end, %g3, %g2
1:	cmp	%g1, %g2
	bgeu,pn	%xcc, 2f
	 nop
	stx	%g0, [%g1]
	ba	1b
	 add	%g1, 8, %g1
2:	set	BOOT_STACK_BASE, %g1
	set	BOOT_STACK_TOP, %g2
	setx	STACK_PAINT, %g4, %g3
3:	stx	%g3, [%g1]
	add	%g1, 8, %g1
	cmp	%g1, %g2
	blu,pt	%xcc, 3b
	 nop
	FRESH_WINDOWS BOOT_STACK_TOP
	wr	%g0, FPRS_FEF, %fprs
	call	ldmig_firmware_main
	 nop
4:	ba,a	4b

/* `ta 0x80` / `ta 0xff`. Before the first privileged context runs, only
 * the hyperprivileged boot code traps here (its self-test): handled on its
 * own stack below. Once privileged contexts run, every such trap comes from
 * one of them (the hypervisor itself never traps again): full context save
 * in context_switch.S. QEMU's %htstate cannot be read back (it returns
 * garbage), so a flag says which, not the saved HPSTATE. */
hypervisor_call:
	setx	ldmig_privileged_contexts_running, %g2, %g1
	ldub	[%g1], %g1
	brnz,pn	%g1, ldmig_privileged_trap_entry
	 nop
	ba,a	hypervisor_trap

/* A hypervisor call from the trampolines. The trap did not change CWP, so
 * the caller's %o0-%o5 (status/ARG0-ARG4, function number) are ours; after
 * the `save` they are %i0-%i5. They go to a TrapRegisters block on a new
 * frame below the caller's stack (the trampoline is a leaf: its %sp is its
 * caller's). Rust handles the call and rewrites the block; %o0-%o5 are
 * reloaded from it, and `done` resumes after the `ta`. GL went up by one at
 * the trap, so the caller's globals (the trampoline keeps its block pointer
 * in %g1) are untouched. */
hypervisor_trap:
	save	%sp, -(FRAME + REGISTERS), %sp
	stx	%i0, [%sp + STACK_BIAS + FRAME + 0x00]
	stx	%i1, [%sp + STACK_BIAS + FRAME + 0x08]
	stx	%i2, [%sp + STACK_BIAS + FRAME + 0x10]
	stx	%i3, [%sp + STACK_BIAS + FRAME + 0x18]
	stx	%i4, [%sp + STACK_BIAS + FRAME + 0x20]
	stx	%i5, [%sp + STACK_BIAS + FRAME + 0x28]
	add	%sp, STACK_BIAS + FRAME, %o0
	call	ldmig_firmware_hypervisor_trap
	 rdpr	%tt, %o1
	ldx	[%sp + STACK_BIAS + FRAME + 0x00], %i0
	ldx	[%sp + STACK_BIAS + FRAME + 0x08], %i1
	ldx	[%sp + STACK_BIAS + FRAME + 0x10], %i2
	ldx	[%sp + STACK_BIAS + FRAME + 0x18], %i3
	ldx	[%sp + STACK_BIAS + FRAME + 0x20], %i4
	ldx	[%sp + STACK_BIAS + FRAME + 0x28], %i5
	restore
	done

/* A privileged context's trap table reached a fatal entry and issued
 * `ta 0xf0` with its tt, TPC and TL in %o0-%o2 (our %o registers too: the
 * trap did not change CWP). Reported like any fatal trap. */
privileged_fatal:
	mov	%o0, %g1
	mov	%o1, %g2
	mov	%o2, %g3
	FRESH_WINDOWS FATAL_STACK_TOP
	mov	%g1, %o0
	mov	%g2, %o1
	call	ldmig_firmware_privileged_fatal_trap
	 mov	%g3, %o2
1:	ba,a	1b

/* Any trap the firmware does not expect: report it from a fresh window
 * state on a stack of its own (the faulting one may be the problem). TL
 * stays where it is, so a fault while reporting climbs to MAXTL and QEMU
 * stops with "Error state" instead of looping. */
trap_fatal:
	rdpr	%tt, %g1
	rdpr	%tpc, %g2
	rdpr	%tl, %g3
	FRESH_WINDOWS FATAL_STACK_TOP
	mov	%g1, %o0
	mov	%g2, %o1
	call	ldmig_firmware_fatal_trap
	 mov	%g3, %o2
1:	ba,a	1b
