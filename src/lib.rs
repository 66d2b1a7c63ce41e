//! ldmig, the engine: live migration of a sun4v logical domain.
//!
//! `no_std`, no heap: every buffer is given by the caller. The engine is
//! generic over [`ldmig_hv::hypervisor::Hypervisor`], so the same code runs
//! over real `ta 0x80` calls in firmware and over the simulated machine.
//!
//! - [`page`]: the 8 KiB page and the zero-page check.
//! - [`rules`]: the guide's migration rules: every pre-migration check, the
//!   dry-run report, the operation locks.
//! - [`wire`]: every byte format, in one codec idiom: frames, page records,
//!   the source-target protocol's messages, the engine-shim control
//!   messages, the LDC ring descriptor.
//! - [`precopy`]: the source and target migration state machines.
//! - [`pipeline`]: their page work (encode, decode), fanned out over the
//!   host's workers through fixed-size queues.
//! - [`stats`]: QEMU-style migration statistics.
//! - [`transport`]: the frame transport trait between the engines.
//! - [`ldc_transport`]: that transport over LDC to the shim: descriptor
//!   rings exported through the map table and read with `LDC_COPY`, and
//!   the engine–shim control protocol as LDC messages.
//! - [`serial_link`]: that transport over a serial line (a UART) to the
//!   shim: a reliable, flow-controlled stream of frames in CRC-checked
//!   records, with console text and the host's status on the same line.
//!
//! The control-domain shim, the secure channel and the harness are the
//! `ldmig-shim` crate; the simulated machine is `ldmig-sim`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
#[macro_use]
extern crate std;

pub mod ldc_transport;
pub mod page;
pub mod pipeline;
pub mod precopy;
pub mod rules;
pub mod serial_link;
pub mod stats;
pub mod transport;
pub mod wire;
