//! The deterministic whole-migration harness (host only, feature `shim`):
//! two simulated T-series machines, a domain with a seeded workload, an
//! in-memory link, virtual or real time. Tests, benchmarks and the demo use
//! it. This is std tooling around the engine; the engine itself stays
//! `no_std` and heap-free (`--no-default-features` does not build this).

pub mod counting;
pub mod ldc_hop;
pub mod pipe;
pub mod run;

pub use pipe::{pipe, LinkClock, LinkFault, LinkModel, PipeEnd};
pub use run::{run, ClockMode, Report, Scenario};
