/* ldmig firmware: leaf routines for the CPU registers Rust cannot name
 * (cpu_registers.rs declares them, with who may call each):
 *
 *   ldmig_read_stick()          %stick (privileged or hyperprivileged)
 *   ldmig_write_lsu_control(v)  ASI_LSU_CONTROL: IMMU/DMMU enable
 *   ldmig_demap_dtlb()          invalidate all 64 D-TLB entries
 *   ldmig_demap_itlb()          invalidate all 64 I-TLB entries
 * (the last three hyperprivileged only).
 */
#include "vcpu_state_offsets.h"

	.section .text.ldmig_assembly, "ax"

	.globl	ldmig_read_stick
	.type	ldmig_read_stick, #function
ldmig_read_stick:
	retl
	 rd	%asr24, %o0
	.size	ldmig_read_stick, . - ldmig_read_stick

	.globl	ldmig_write_lsu_control
	.type	ldmig_write_lsu_control, #function
ldmig_write_lsu_control:
	stxa	%o0, [%g0] ASI_LSU_CONTROL
	membar	#Sync
	retl
	 nop
	.size	ldmig_write_lsu_control, . - ldmig_write_lsu_control

	/* Writing an invalid TTE into each entry through the data-access
	 * ASI (entry i at VA i * 8) drops every translation; QEMU flushes its
	 * own cached translations of each dropped entry. */
	.macro	DEMAP_ALL name, asi
	.globl	\name
	.type	\name, #function
\name:
	mov	0, %o0
1:	stxa	%g0, [%o0] \asi
	add	%o0, 8, %o0
	cmp	%o0, 64 * 8
	bl,pt	%xcc, 1b
	 nop
	membar	#Sync
	retl
	 nop
	.size	\name, . - \name
	.endm

	DEMAP_ALL ldmig_demap_dtlb, ASI_DTLB_DATA_ACCESS
	DEMAP_ALL ldmig_demap_itlb, ASI_ITLB_DATA_ACCESS
