//! The LDC cases: the calls the engine's link and bulk path and the shim's
//! end use, and the region-based local memory, written once for any pair
//! of [`crate::hypervisor::Ldc`] + [`crate::hypervisor::LocalMemory`] ends.

mod fixture;
mod local_memory;
mod map_table;
mod queues;
mod transfer;

pub use fixture::{ldc_cases, LdcFixture, LdcPair, Side, MIN_FIXTURE_MEMORY};
