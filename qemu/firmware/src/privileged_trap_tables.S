/* ldmig firmware: the privileged trap table (TBA) of the privileged
 * contexts. The service domain runs it from the PROM (MMU off); the guest
 * domain runs its own copy: its code block is a copy of this image, which
 * it reaches through its own MMU mappings at the image's addresses, and
 * which moves with it when it is migrated. TBA is part of the vCPU state
 * the context switch saves and restores (and a migration carries).
 *
 * A privileged table is 32 KiB, 32 KiB aligned: entries for traps taken at
 * TL 0 at TBA + tt * 32, for traps at TL > 0 at TBA + 0x4000 + tt * 32
 * (SPARC V9 7.5.2; QEMU target/sparc/int64_helper.c). The traps that go to
 * the hypervisor instead (`ta 0x80`-`ta 0xff`, MMU misses and protection
 * faults on this sun4v CPU) never reach these tables. Each half has:
 *
 *   tt 0x080-0x083    spill_0_normal: 64-bit (biased) stack spill
 *   tt 0x0c0-0x0c3    fill_0_normal:  64-bit (biased) stack fill
 *   any other tt      fatal: `ta 0xf0` with tt, TPC and TL in %o0-%o2;
 *                     the hypervisor reports it (reset.S, trap.rs)
 *
 * Both halves end after tt 0x17f: tt 0x180-0x1ff are `ta 0x80`-`ta 0xff`,
 * which a sun4v CPU takes to the hypervisor (HTBA) from privileged mode,
 * so those 4 KiB of each half are never fetched. The halves are two
 * sections: the linker puts code in the 4 KiB after the TL 0 half, the TL
 * > 0 half at +0x4000, and the image's Rust code after it
 * (linker/niagara.ld).
 */
#include "memory_map.h"
#include "trap_macros.h"

	.macro	PRIVILEGED_FATAL_ENTRY
	rdpr	%tt, %o0
	rdpr	%tpc, %o1
	rdpr	%tl, %o2
	ta	0xf0
	.balign	32
	.endm

	/* One half: the entries for tt 0x000 up to \end - 1 (0x200: the
	 * whole 16 KiB; 0x180: without the hypervisor's software traps). */
	.macro	TABLE_HALF end
	.rept	0x080				/* tt 0x000-0x07f */
	PRIVILEGED_FATAL_ENTRY
	.endr
	SPILL_0_NORMAL				/* tt 0x080-0x083 */
	.rept	0x0c0 - 0x084			/* tt 0x084-0x0bf */
	PRIVILEGED_FATAL_ENTRY
	.endr
	FILL_0_NORMAL				/* tt 0x0c0-0x0c3 */
	.rept	\end - 0x0c4			/* tt 0x0c4 up to \end - 1 */
	PRIVILEGED_FATAL_ENTRY
	.endr
	.endm

	/* 32 KiB aligned by the linker script: a `.balign 32768` here would
	 * make the assembler pad the section's end to 32 KiB too. */
	.section .text.ldmig_privileged_trap_table, "ax"
	.globl	ldmig_privileged_trap_table
	.type	ldmig_privileged_trap_table, #function
ldmig_privileged_trap_table:
	TABLE_HALF 0x180			/* traps at TL 0, up to tt 0x17f */
	.size	ldmig_privileged_trap_table, . - ldmig_privileged_trap_table

	/* At ldmig_privileged_trap_table + 0x4000 (the linker script). */
	.section .text.ldmig_privileged_trap_table_tl1, "ax"
	.globl	ldmig_privileged_trap_table_tl1
	.type	ldmig_privileged_trap_table_tl1, #function
ldmig_privileged_trap_table_tl1:
	TABLE_HALF 0x180			/* traps at TL > 0, up to tt 0x17f */
	.size	ldmig_privileged_trap_table_tl1, . - ldmig_privileged_trap_table_tl1
