/* ldmig: sun4v hypervisor-call trampolines, one per argument count.
 *
 * Every trampoline takes one argument in %o0: a pointer to a HvCall block
 *     offset  0: function number         (loaded into %o5)
 *     offset  8: ARG0 .. offset 40: ARG4 (loaded into %o0-%o4)
 *     offset 48: status, 56: RET1 .. 88: RET5 (stored back)
 * keeps it in %g1, loads the function number and N arguments, traps, and
 * stores the status and RET1-RET4 (%o0-%o4) back.  It returns the status in
 * %o0.  Leaf routines: no register window.
 * %g1 survives the trap: the hypervisor works on fresh global registers
 * (OpenSPARC src/common/src/hcall.s: "This code has access to fresh
 * g-registers for scratch"), and Linux arch/sparc/kernel/hvcalls.S relies on
 * it, keeping its result pointers in %g1-%g3 across "ta HV_FAST_TRAP" (e.g.
 * sun4v_ldc_tx_get_state).
 * Source for the register convention: Linux arch/sparc/include/asm/hypervisor.h.
 */
	.register %g2, #scratch
	.text

#define LOAD_ARGS_0
#define LOAD_ARGS_1 ldx [%g1 + 8], %o0;
#define LOAD_ARGS_2 LOAD_ARGS_1 ldx [%g1 + 16], %o1;
#define LOAD_ARGS_3 LOAD_ARGS_2 ldx [%g1 + 24], %o2;
#define LOAD_ARGS_4 LOAD_ARGS_3 ldx [%g1 + 32], %o3;
#define LOAD_ARGS_5 LOAD_ARGS_4 ldx [%g1 + 40], %o4;

#define TRAMPOLINE(name, trapnum, nargs)	\
	.align 32;				\
	.globl name;				\
	.type name, #function;			\
name:						\
	mov	%o0, %g1;			\
	ldx	[%g1 + 0], %o5;			\
	LOAD_ARGS_##nargs			\
	ta	trapnum;			\
	stx	%o0, [%g1 + 48];		\
	stx	%o1, [%g1 + 56];		\
	stx	%o2, [%g1 + 64];		\
	stx	%o3, [%g1 + 72];		\
	stx	%o4, [%g1 + 80];		\
	retl;					\
	 nop;					\
	.size name, . - name;

TRAMPOLINE(ldmig_fast_trap_0, 0x80, 0)
TRAMPOLINE(ldmig_fast_trap_1, 0x80, 1)
TRAMPOLINE(ldmig_fast_trap_2, 0x80, 2)
TRAMPOLINE(ldmig_fast_trap_3, 0x80, 3)
TRAMPOLINE(ldmig_fast_trap_4, 0x80, 4)
TRAMPOLINE(ldmig_fast_trap_5, 0x80, 5)
TRAMPOLINE(ldmig_core_trap_1, 0xff, 1)
TRAMPOLINE(ldmig_core_trap_3, 0xff, 3)
