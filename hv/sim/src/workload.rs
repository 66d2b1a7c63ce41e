//! A seeded, deterministic guest workload: the stores a running domain makes.
//!
//! A [`Workload`] plays the guest's vCPUs. It fills the domain's memory with
//! a mix of zero, text-like and random pages, gives its vCPUs plausible
//! registers, and then, as simulated time passes, writes pages at a rate
//! (pages per second, reduced by the domain's throttle) through
//! [`crate::machine::Machine::guest_write`], so the hypervisor's dirty log
//! sees every store. Writes are uniform over the domain's pages or
//! concentrated on a hot set.
//!
//! Everything follows from the seed and the times passed in: the same seed
//! and the same total time give the same memory and registers, however the
//! time is split between calls of [`Workload::run_until`].
//!
//! One concept per module:
//! - `spec`: what a workload does ([`WorkloadSpec`] and its presets);
//! - `guest`: the running workload ([`Workload`]): time, rate, throttle;
//! - `writes`: the write generator: which page, what content, how much;
//! - `registers`: the synthetic vCPU registers a booted guest has and how
//!   each store moves them.

mod guest;
mod registers;
mod spec;
#[cfg(test)]
mod test_machine;
mod writes;

pub use guest::Workload;
pub use spec::{ContentMix, WorkloadSpec, WriteSpread};
