//! ldmig, the engine: live migration of a sun4v logical domain.
//!
//! `no_std`, no heap: every buffer is given by the caller. The engine is
//! generic over [`ldmig_hv::hypervisor::Hypervisor`], so the same code runs
//! over real `ta 0x80` calls in firmware and over the simulated machine.
//!
//! - [`page`]: the 8 KiB page and the zero-page check.
//! - [`wire`]: frames and page records on the wire, encoder and decoder.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]

pub mod page;
pub mod wire;
