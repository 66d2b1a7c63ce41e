/* ldmig firmware: the physical memory map the assembly needs (stacks,
 * service domain memory). The same numbers, documented, are in
 * memory_map.rs; keep the two in step. */
#ifndef LDMIG_MEMORY_MAP_H
#define LDMIG_MEMORY_MAP_H

#define STACK_BIAS		2047		/* SPARC V9 ABI */
#define FRAME			176		/* 16 saved registers + 6 outgoing args */

#define BOOT_STACK_BASE		0x00100000	/* hyperprivileged boot code, 1 MiB */
#define BOOT_STACK_TOP		0x00200000
#define FATAL_STACK_TOP		0x00280000	/* the fatal-trap report */
#define HYPERVISOR_STACK_TOP	0x00400000	/* trap handling from privileged contexts */
#define SERVICE_STACK_TOP	0x01400000	/* the service domain (top of its memory) */

#define STACK_PAINT		0x5354414b5354414b	/* "STAKSTAK": never written */

#endif
