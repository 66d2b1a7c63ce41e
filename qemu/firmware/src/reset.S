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
 *   tt 0x080-0x083    spill_0_normal: 64-bit (biased) stack spill
 *   tt 0x0c0-0x0c3    fill_0_normal:  64-bit (biased) stack fill
 *   tt 0x180          `ta 0x80` (fast trap):  the stub hypervisor in Rust
 *   tt 0x1ff          `ta 0xff` (core trap):  the stub hypervisor in Rust
 *   any other tt      fatal: report tt, TPC, TL on the UART and stop
 *
 * Only assembly of the image: everything else is Rust. Rust is reached with
 * PC-relative `call`s only (the image is PIC).
 */
	.register %g2, #scratch
	.register %g3, #scratch

#define STACK_BIAS	2047		/* SPARC V9 ABI */
#define FRAME		176		/* 16 saved registers + 6 outgoing args */
#define REGISTERS	48		/* %o0-%o5 of the trapping window */
#define NWINDOWS	8		/* UltraSPARC T1 */
#define PSTATE_PRIV	0x04
#define PSTATE_PEF	0x10
#define FPRS_FEF	0x04
/* Hypervisor RAM starts at 0x100000 (hw/sparc64/niagara.c); the image,
 * its data and bss live in the PROM RAM, the stacks here. */
#define STACK_TOP	0x00200000	/* 1 MiB stack below it */
#define FATAL_STACK_TOP	0x00280000	/* the fatal-trap report's own stack */

	/* Sets up a fresh register-window state (CWP 0, nothing to restore)
	 * and the stack pointer: what every Rust prologue (`save`) needs. */
	.macro	FRESH_WINDOWS stack_top
	wrpr	%g0, PSTATE_PRIV | PSTATE_PEF, %pstate
	wr	%g0, FPRS_FEF, %fprs
	wrpr	%g0, 0, %cwp
	wrpr	%g0, NWINDOWS - 2, %cansave
	wrpr	%g0, 0, %canrestore
	wrpr	%g0, 0, %otherwin
	wrpr	%g0, NWINDOWS - 1, %cleanwin
	wrpr	%g0, 0, %wstate
	set	\stack_top - STACK_BIAS - FRAME, %sp
	mov	%g0, %fp
	.endm

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

	.rept	0x080 - 0x002			/* tt 0x002-0x07f */
	FATAL_ENTRY
	.endr

	/* tt 0x080: spill_0_normal. CWP already names the window to save;
	 * its %sp is a biased 64-bit stack pointer. */
	.org	0x080 * 32
spill_0_normal:
	stx	%l0, [%sp + STACK_BIAS + 0x00]
	stx	%l1, [%sp + STACK_BIAS + 0x08]
	stx	%l2, [%sp + STACK_BIAS + 0x10]
	stx	%l3, [%sp + STACK_BIAS + 0x18]
	stx	%l4, [%sp + STACK_BIAS + 0x20]
	stx	%l5, [%sp + STACK_BIAS + 0x28]
	stx	%l6, [%sp + STACK_BIAS + 0x30]
	stx	%l7, [%sp + STACK_BIAS + 0x38]
	stx	%i0, [%sp + STACK_BIAS + 0x40]
	stx	%i1, [%sp + STACK_BIAS + 0x48]
	stx	%i2, [%sp + STACK_BIAS + 0x50]
	stx	%i3, [%sp + STACK_BIAS + 0x58]
	stx	%i4, [%sp + STACK_BIAS + 0x60]
	stx	%i5, [%sp + STACK_BIAS + 0x68]
	stx	%i6, [%sp + STACK_BIAS + 0x70]
	stx	%i7, [%sp + STACK_BIAS + 0x78]
	saved
	retry
	.balign	128

	.rept	0x0c0 - 0x084			/* tt 0x084-0x0bf */
	FATAL_ENTRY
	.endr

	/* tt 0x0c0: fill_0_normal, the converse. */
	.org	0x0c0 * 32
fill_0_normal:
	ldx	[%sp + STACK_BIAS + 0x00], %l0
	ldx	[%sp + STACK_BIAS + 0x08], %l1
	ldx	[%sp + STACK_BIAS + 0x10], %l2
	ldx	[%sp + STACK_BIAS + 0x18], %l3
	ldx	[%sp + STACK_BIAS + 0x20], %l4
	ldx	[%sp + STACK_BIAS + 0x28], %l5
	ldx	[%sp + STACK_BIAS + 0x30], %l6
	ldx	[%sp + STACK_BIAS + 0x38], %l7
	ldx	[%sp + STACK_BIAS + 0x40], %i0
	ldx	[%sp + STACK_BIAS + 0x48], %i1
	ldx	[%sp + STACK_BIAS + 0x50], %i2
	ldx	[%sp + STACK_BIAS + 0x58], %i3
	ldx	[%sp + STACK_BIAS + 0x60], %i4
	ldx	[%sp + STACK_BIAS + 0x68], %i5
	ldx	[%sp + STACK_BIAS + 0x70], %i6
	ldx	[%sp + STACK_BIAS + 0x78], %i7
	restored
	retry
	.balign	128

	.rept	0x180 - 0x0c4			/* tt 0x0c4-0x17f */
	FATAL_ENTRY
	.endr

	/* tt 0x180: `ta 0x80`, a sun4v fast trap. */
	.org	0x180 * 32
	ba,a	hypervisor_trap
	.balign	32

	.rept	0x1ff - 0x181			/* tt 0x181-0x1fe */
	FATAL_ENTRY
	.endr

	/* tt 0x1ff: `ta 0xff`, the sun4v core trap (API_SET_VERSION...). */
	.org	0x1ff * 32
	ba,a	hypervisor_trap
	.balign	32
	.org	0x200 * 32			/* the table is exactly 16 KiB */
	.size	ldmig_firmware_trap_table, . - ldmig_firmware_trap_table

/* Leaves the power-on state (RED, TL 6, GL 2, windows undefined) for a
 * plain hyperprivileged TL 0 / GL 0 state, then runs Rust. */
reset_continue:
	wrpr	%g0, 0, %tl
	wrpr	%g0, 0, %gl
	FRESH_WINDOWS STACK_TOP
	call	ldmig_firmware_main
	 nop
1:	ba,a	1b

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
