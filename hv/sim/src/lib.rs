//! `ldmig-sim`: the simulated T-series machine (std, host only): physical
//! memory, domains, vCPUs, the migration hypervisor calls, LDC channels,
//! seeded workloads, and TOML host descriptions.
//!
//! It implements the [`ldmig_hv::hypervisor`] traits, so the engine runs over it
//! exactly as over real `ta 0x80` calls. It never reads a clock: callers pass
//! time in, so every run replays from its seed.
#![deny(missing_docs)]
#![warn(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

pub mod description;
pub mod error;
pub mod handle;
pub mod ldc;
pub mod machine;
pub mod rng;
pub mod workload;

/// The LDC link layer of `ldmig-hv` over the simulated LDC: handshake,
/// data phase and faults (here because they need the simulated channel).
#[cfg(test)]
mod ldc_link_tests;

/// The conformance suite of `ldmig-hv`, one test per case.
#[cfg(test)]
mod conformance_tests;
