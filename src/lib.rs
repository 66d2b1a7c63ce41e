//! ldmig, the engine: live migration of a sun4v logical domain.
//!
//! `no_std`, no heap: every buffer is given by the caller. The engine is
//! generic over [`ldmig_hv::hypervisor::Hypervisor`], so the same code runs
//! over real `ta 0x80` calls in firmware and over the simulated machine.
//!
//! - [`page`]: the 8 KiB page and the zero-page check.
//! - [`rules`]: the guide's migration rules: every pre-migration check, the
//!   dry-run report, the operation locks.
//! - [`wire`]: frames and page records on the wire, encoder and decoder.
//! - [`protocol`]: the source-target protocol and its messages.
//! - [`precopy`]: the source and target migration state machines.
//! - [`stats`]: QEMU-style migration statistics.
//! - [`transport`]: the frame transport trait between the engines.
//! - [`ldc_transport`]: that transport over LDC to the shim: descriptor
//!   rings exported through the map table and read with `LDC_COPY`, and
//!   the engine–shim control protocol as LDC messages.
//! - `shim` (feature `shim`, std): the control-domain daemon, its control
//!   protocol and the authenticated link between shims.
//! - `harness` (feature `shim`, std): whole migrations between simulated
//!   machines, for tests, benchmarks and the demo.
//! - `secure` (feature `shim`, std): the authenticated, encrypted channel
//!   between the two control-domain shims (SPAKE2, ChaCha20-Poly1305).
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]

#[cfg(feature = "shim")]
pub mod harness;
pub mod ldc_transport;
pub mod page;
pub mod precopy;
pub mod protocol;
pub mod rules;
#[cfg(feature = "shim")]
pub mod secure;
#[cfg(feature = "shim")]
pub mod shim;
pub mod stats;
pub mod transport;
pub mod wire;
