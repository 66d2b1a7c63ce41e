//! The deterministic whole-migration harness: two simulated T-series
//! machines, a domain with a seeded workload, an in-memory link, virtual or
//! real time. Tests, benchmarks and the demo use it.

pub mod pipe;
pub mod run;

pub use pipe::{pipe, LinkClock, LinkFault, LinkModel, PipeEnd};
pub use run::{run, ClockMode, Report, Scenario};
