//! The sun4v hypervisor side of ldmig: everything below the migration engine.
//!
//! - [`abi`]: the sun4v call ABI as constants and wire types, one module per
//!   API group, names exactly as the spec, each citing its source.
//! - [`trampoline`] (sparc64 only): the `ta 0x80` / `ta 0xff` fast-trap
//!   stubs, one per argument count. The only assembly in the project.
//! - [`hypervisor`]: the `Hypervisor` trait family (memory, dirty log, vCPU,
//!   LDC) that the engine is generic over.
//! - [`ldc`]: the LDC link layer (reliable mode over the `LDC_*` calls).
//! - [`forward`]: macros that implement the traits for a wrapper by
//!   forwarding every call to the hypervisor it holds.
//! - [`fast_trap`]: one call as the registers carry it, and the
//!   [`fast_trap::FastTrap`] seam that issues it.
//! - [`trap_hypervisor`]: the traits over any `FastTrap` (function numbers,
//!   arguments, returns, granted local memory; unaligned buffers staged
//!   through an aligned page, as sun4v wants 8-byte aligned buffer RAs).
//! - [`sun4v`] (sparc64 only): the real implementation, `TrapHypervisor`
//!   over the trampolines.
//! - [`conformance`]: the suite of the traits' contract, generic over the
//!   implementation.
//! - [`resources`]: what a host description tells the migration checks
//!   (host resources, domain requirements), `no_std`, heap-free.
//! - [`domain_name`]: the rule every outside domain name passes.
//!
//! The simulated T-series machine used on the host is the `ldmig-sim` crate.
#![no_std]
#![deny(missing_docs)]
#![warn(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

#[cfg(test)]
#[macro_use]
extern crate std;

pub mod abi;
pub mod conformance;
pub mod domain_name;
pub mod fast_trap;
pub mod forward;
pub mod hypervisor;
pub mod ldc;
pub mod resources;
#[cfg(target_arch = "sparc64")]
pub mod sun4v;
#[cfg(target_arch = "sparc64")]
pub mod trampoline;
pub mod trap_hypervisor;
mod vcpu_loading;

pub use abi::error::HvError;
