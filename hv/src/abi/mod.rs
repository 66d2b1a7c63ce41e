//! The sun4v hypervisor-call ABI: numbers and wire layouts, no behaviour.
//!
//! One module per API group. Sources, cited on every constant:
//! - [L] Linux `arch/sparc/include/asm/hypervisor.h`, `arch/sparc/kernel/ldc.c`
//! - [O] the OpenSPARC hypervisor source (`sun4v/hypervisor`, HV 1.5.6)
//! - [I] illumos `uts/sun4v`
//! - [M] this project's migration API group, specified in `hv/API.md`
//!
//! Register convention of a fast trap ([L] hypervisor.h header comment):
//!
//! | register | in                       | out            |
//! |----------|--------------------------|----------------|
//! | `%o5`    | function number          | undefined      |
//! | `%o0`    | ARG0                     | status (`EOK`) |
//! | `%o1`-`%o4` | ARG1-ARG4             | RET1-RET4      |

pub mod core;
pub mod cpu;
pub mod error;
pub mod group;
pub mod ldc;
pub mod migration;
pub mod mmu;
pub mod trap;
