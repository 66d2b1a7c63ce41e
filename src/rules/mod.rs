//! The migration rules of the guide: every pre-migration check, the dry-run
//! report, and the operation locks held while a domain migrates.
//!
//! `no_std`, no heap. The inputs are [`ldmig_hv::resources`] values (filled
//! from a host description or the machine description); the outputs are
//! typed findings whose `Display` is the administrator's text.
//!
//! - [`checks`]: [`check_migration`] runs every check and collects every
//!   failure, warning and note (the `ldm` of the guide stops at the first).
//! - [`memory`]: the memory binding plan (each block one contiguous free
//!   range, same RAs and sizes).
//! - [`finding`]: what a check found ([`Finding`]), which rule it belongs to
//!   ([`Rule`]) and how serious it is ([`Severity`]).
//! - [`report`]: the dry-run report ([`CheckReport`]), printed in the
//!   guide's words.
//! - [`locks`]: the operation locks of one machine ([`OperationLocks`]).
//!
//! # Bound and inactive domains: our reading of the guide
//!
//! The Oracle VM Server for SPARC 2.0 guide (821-1485, chapter 9) keeps
//! only the headings of "Migration de domaines associés ou inactifs" (CPU,
//! virtual I/O, PCIe endpoint devices), and the 2.2 guide ("Migrating Bound
//! or Inactive Domains"; `hv/REFERENCES.md`) says that bound and inactive
//! domains migrate too, without memory pre-copy. The published
//! guide's text under those headings, which we follow, says: a bound domain
//! needs the target to satisfy its CPU, memory and I/O constraints; an
//! inactive domain is not checked against them, but binding it on the target
//! later fails if they are not met; neither needs the same processor type or
//! frequency, because neither runs during the move. So, per state:
//!
//! | check | active | bound | inactive |
//! |---|---|---|---|
//! | memory (total, one contiguous range per block) | failure | failure | warning (binding later fails) |
//! | processor type and frequency / cpu-arch class | failure | not checked | not checked |
//! | free strands | failure | failure | warning (binding later fails) |
//! | physical I/O devices | failure | failure | failure |
//! | virtual I/O services | failure | failure | warning (binding later fails) |
//! | NIU constraint unsatisfied | warning | warning | warning |
//! | crypto units without crypto DR in the guest | failure | not checked (no OS runs) | not checked |
//! | crypto units removed and added back | note | — | — |
//! | fewer free crypto units on the target | warning | warning | warning |
//! | delayed reconfiguration (source, target, domain) | failure | failure | failure |
//! | elastic power mode (source, target) | failure | failure | failure |
//! | engine wire versions overlap | failure | failure | failure |
//!
//! The host-level rules (delayed reconfiguration, elastic mode, engine
//! versions) concern the operation itself, not the domain, so they apply in
//! every state; so does the physical I/O rule, which the guide states for
//! I/O domains whatever their state.

pub mod checks;
pub mod finding;
pub mod locks;
pub mod memory;
pub mod report;

pub use checks::check_migration;
pub use finding::{Finding, HostSide, Rule, RuleSet, Severity};
pub use locks::{
    DomainAction, LockDecision, LockError, LockReason, MigrationSide, Operation, OperationLocks,
};
pub use memory::{bind_memory_blocks, BlockBinding, MemoryBinding};
pub use report::{CheckReport, Entry};
