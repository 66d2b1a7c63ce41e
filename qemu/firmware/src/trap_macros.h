/* ldmig firmware: assembler macros shared by the trap tables and the
 * context switch (register windows, SPARC V9 / UltraSPARC T1: 8 windows). */
#ifndef LDMIG_TRAP_MACROS_H
#define LDMIG_TRAP_MACROS_H

#define NWINDOWS	8		/* UltraSPARC T1 */
#define PSTATE_PRIV	0x04
#define PSTATE_PEF	0x10
#define FPRS_FEF	0x04

	/* A fresh register-window state (CWP 0, nothing to restore) and a
	 * stack pointer: what every Rust prologue (`save`) needs. PSTATE
	 * becomes PRIV|PEF (interrupts off, no address mask); %fprs is left
	 * alone (the MMU fault path must not disturb the trapper's). */
	.macro	FRESH_WINDOWS stack_top
	wrpr	%g0, PSTATE_PRIV | PSTATE_PEF, %pstate
	wrpr	%g0, 0, %cwp
	wrpr	%g0, NWINDOWS - 2, %cansave
	wrpr	%g0, 0, %canrestore
	wrpr	%g0, 0, %otherwin
	wrpr	%g0, NWINDOWS - 1, %cleanwin
	wrpr	%g0, 0, %wstate
	setx	\stack_top - STACK_BIAS - FRAME, %g7, %sp
	mov	%g0, %fp
	.endm

	/* Stores the locals and ins of all 8 windows at \base (128 bytes per
	 * window, locals first): with the outs being the next window's ins,
	 * that is every window register. Leaves CWP at 7. */
	.macro	SAVE_WINDOWS base, window, cursor
	mov	0, \window
	mov	\base, \cursor
1:	wrpr	\window, %cwp
	stx	%l0, [\cursor + 0x00]
	stx	%l1, [\cursor + 0x08]
	stx	%l2, [\cursor + 0x10]
	stx	%l3, [\cursor + 0x18]
	stx	%l4, [\cursor + 0x20]
	stx	%l5, [\cursor + 0x28]
	stx	%l6, [\cursor + 0x30]
	stx	%l7, [\cursor + 0x38]
	stx	%i0, [\cursor + 0x40]
	stx	%i1, [\cursor + 0x48]
	stx	%i2, [\cursor + 0x50]
	stx	%i3, [\cursor + 0x58]
	stx	%i4, [\cursor + 0x60]
	stx	%i5, [\cursor + 0x68]
	stx	%i6, [\cursor + 0x70]
	stx	%i7, [\cursor + 0x78]
	add	\window, 1, \window
	cmp	\window, NWINDOWS
	bl,pt	%xcc, 1b
	 add	\cursor, 128, \cursor
	.endm

	/* The converse of SAVE_WINDOWS. Leaves CWP at 7. */
	.macro	RESTORE_WINDOWS base, window, cursor
	mov	0, \window
	mov	\base, \cursor
1:	wrpr	\window, %cwp
	ldx	[\cursor + 0x00], %l0
	ldx	[\cursor + 0x08], %l1
	ldx	[\cursor + 0x10], %l2
	ldx	[\cursor + 0x18], %l3
	ldx	[\cursor + 0x20], %l4
	ldx	[\cursor + 0x28], %l5
	ldx	[\cursor + 0x30], %l6
	ldx	[\cursor + 0x38], %l7
	ldx	[\cursor + 0x40], %i0
	ldx	[\cursor + 0x48], %i1
	ldx	[\cursor + 0x50], %i2
	ldx	[\cursor + 0x58], %i3
	ldx	[\cursor + 0x60], %i4
	ldx	[\cursor + 0x68], %i5
	ldx	[\cursor + 0x70], %i6
	ldx	[\cursor + 0x78], %i7
	add	\window, 1, \window
	cmp	\window, NWINDOWS
	bl,pt	%xcc, 1b
	 add	\cursor, 128, \cursor
	.endm

	/* The window control registers to / from memory at \base + offsets. */
	.macro	SAVE_WINDOW_CONTROL base, scratch, cansave, canrestore, cleanwin, otherwin, wstate
	rdpr	%cansave, \scratch
	stx	\scratch, [\base + \cansave]
	rdpr	%canrestore, \scratch
	stx	\scratch, [\base + \canrestore]
	rdpr	%cleanwin, \scratch
	stx	\scratch, [\base + \cleanwin]
	rdpr	%otherwin, \scratch
	stx	\scratch, [\base + \otherwin]
	rdpr	%wstate, \scratch
	stx	\scratch, [\base + \wstate]
	.endm

	.macro	RESTORE_WINDOW_CONTROL base, scratch, cansave, canrestore, cleanwin, otherwin, wstate
	ldx	[\base + \cansave], \scratch
	wrpr	\scratch, %cansave
	ldx	[\base + \canrestore], \scratch
	wrpr	\scratch, %canrestore
	ldx	[\base + \cleanwin], \scratch
	wrpr	\scratch, %cleanwin
	ldx	[\base + \otherwin], \scratch
	wrpr	\scratch, %otherwin
	ldx	[\base + \wstate], \scratch
	wrpr	\scratch, %wstate
	.endm

	/* spill_0_normal: CWP already names the window to save; its %sp is
	 * a biased 64-bit stack pointer. One 128-byte trap-table slot. */
	.macro	SPILL_0_NORMAL
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
	.endm

	/* fill_0_normal, the converse. */
	.macro	FILL_0_NORMAL
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
	.endm

#endif
