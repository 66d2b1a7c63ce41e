//! The MIGRATION group's cases: every call of `hv/API.md` and each error
//! code the [`crate::hypervisor`] traits can produce, written once for any
//! [`crate::hypervisor::Hypervisor`].

mod dirty_log;
mod domains;
mod fixture;
mod memory;
mod vcpus;

pub use fixture::{migration_cases, MigrationFixture, MAX_FIXTURE_BLOCKS, MAX_FIXTURE_BLOCK_PAGES};
