//! The conformance suite of the [`crate::hypervisor`] traits: the contract
//! of `hv/API.md` as named cases, written once, generic over the
//! implementation, `no_std` and heap-free.
//!
//! It runs against the simulated machine and the simulated LDC (`ldmig-sim`
//! has one `#[test]` per case, with the case's name, on the host and under
//! qemu-sparc64) and, inside the firmware image, against
//! `Sun4v` ([`crate::trap_hypervisor::TrapHypervisor`] over the
//! trampolines) over real `ta 0x80` traps; `ldmig-sim` also runs the
//! migration cases through `TrapHypervisor` over its trap dispatcher, so the
//! function numbers and registers are checked on the host. An implementation
//! provides a fixture (the state each case starts from, described by
//! [`MigrationFixture`] or [`LdcFixture`]) and a fresh subject per case;
//! [`run_cases`] plays a list and reports each case, a failure saying what
//! the contract expected and what came back ([`ConformanceFailure`]).
//!
//! - [`migration_cases`]: every MIGRATION call and each of its documented
//!   error codes the traits can produce. The traits take Rust slices and
//!   typed arguments, so a bitmap or vCPU-state buffer outside the caller's
//!   memory (`ENORADDR`) or misaligned (`EBADALIGN`: `&mut [u64]` always is
//!   aligned, and `Sun4v` copies a `VcpuState` through an aligned buffer),
//!   a run state outside 1-3 and a page-read buffer outside the caller's
//!   memory cannot be expressed; the firmware's raw-trap checks cover those
//!   with bare `ta 0x80` calls.
//! - [`ldc_cases`]: the LDC calls the engine and the shim use (queue
//!   configuration, information and state, `SET_QTAIL`/`SET_QHEAD`, the map
//!   table, `LDC_COPY`) and the region-based local memory.

mod case;
mod ldc;
mod migration;
mod report;

pub use case::{find_case, run_cases, Case, Tally};
pub use ldc::{ldc_cases, LdcFixture, LdcPair, Side, MIN_FIXTURE_MEMORY};
pub use migration::{
    migration_cases, MigrationFixture, MAX_FIXTURE_BLOCKS, MAX_FIXTURE_BLOCK_PAGES,
};
pub use report::{
    equals, fails_with, holds, observes, succeeds, CaseResult, ConformanceFailure, Observed,
};
