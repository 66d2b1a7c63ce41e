//! The simulated T-series machine (host only, feature `sim`): physical
//! memory, domains, vCPUs, the migration hypervisor calls, LDC channels,
//! seeded workloads, and TOML host descriptions.
//!
//! It implements the [`crate::hypervisor`] traits, so the engine runs over it
//! exactly as over real `ta 0x80` calls. It never reads a clock: callers pass
//! time in, so every run replays from its seed.

pub mod description;
pub mod error;
pub mod handle;
pub mod ldc;
pub mod machine;
pub mod rng;
pub mod workload;
