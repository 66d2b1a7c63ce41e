//! Where the `Hypervisor` conformance suite runs in the image: in the
//! service domain, against `Sun4v` (real `ta 0x80` from privileged mode)
//! and this firmware's minimal hypervisor, the same functions that run
//! against the simulated machine on the host.
//!
//! The suite (`ldmig_hv::conformance`, no_std, generic over the
//! `Hypervisor` traits) is being built on the hv branch and does not exist
//! on this one: until it is merged, this hook runs nothing and reports 0
//! passed, 0 failed, "not wired" — it does not pretend. To wire it: call
//! the suite's entry here with `hypervisor` (a negotiated `Sun4v`) and map
//! its per-function results onto [`ConformanceResult`]; the service domain
//! already prints and reports whatever this returns. What the machine
//! offers the suite at that point: free partition RAM (about 126 MiB),
//! free strands and crypto units, the guest domain `ldg1` running (the
//! suite should create its own domains with `MIG_DOMAIN_CREATE` and
//! destroy them after, leaving `ldg1` alone).

use ldmig_hv::sun4v::Sun4v;

/// What the suite did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConformanceResult {
    /// Conformance functions that passed.
    pub passed: u64,
    /// Conformance functions that failed.
    pub failed: u64,
    /// False while the suite is not in the image.
    pub wired: bool,
}

/// Runs the conformance suite against `hypervisor` (see the module docs:
/// nothing yet).
pub fn run_conformance_suite(hypervisor: &mut Sun4v) -> ConformanceResult {
    let _ = hypervisor;
    ConformanceResult::default()
}
