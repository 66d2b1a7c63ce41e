//! The sun4v hypervisor side of ldmig: everything below the migration engine.
//!
//! - [`abi`]: the sun4v call ABI as constants and wire types, one module per
//!   API group, names exactly as the spec, each citing its source.
//! - [`trampoline`] (sparc64 only): the `ta 0x80` / `ta 0xff` fast-trap
//!   stubs, one per argument count. The only assembly in the project.
//! - [`bounce`]: staging of unaligned buffers for the real calls (sun4v
//!   wants 8-byte aligned buffer RAs; the traits take any slice).
//! - [`hypervisor`]: the `Hypervisor` trait family (memory, dirty log, vCPU,
//!   LDC) that the engine is generic over.
//! - [`ldc`]: the LDC link layer (reliable mode over the `LDC_*` calls).
//! - [`sun4v`] (sparc64 only): the real implementation over the trampolines.
//! - [`resources`]: what a host description tells the migration checks
//!   (host resources, domain requirements), `no_std`, heap-free.
//!
//! The simulated T-series machine used on the host is the `ldmig-sim` crate.
#![no_std]
#![deny(missing_docs)]

#[cfg(test)]
#[macro_use]
extern crate std;

pub mod abi;
pub mod bounce;
pub mod hypervisor;
pub mod ldc;
pub mod resources;
#[cfg(target_arch = "sparc64")]
pub mod sun4v;
#[cfg(target_arch = "sparc64")]
pub mod trampoline;
mod vcpu_loading;

pub use abi::error::HvError;
