//! The conformance suite of `ldmig-hv` (`ldmig_hv::conformance`) against
//! the simulator: one `#[test]` per case, with the case's name, on a fresh
//! simulated machine or channel pair each; the migration cases once through
//! the machine's traits and once through its fast traps.

mod ldc;
mod migration;
