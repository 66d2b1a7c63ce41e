//! The conformance suite of `ldmig-hv` (`ldmig_hv::conformance`) against
//! the simulator: one `#[test]` per case, with the case's name, on a fresh
//! simulated machine or channel pair each; the migration cases once through
//! the machine's traits and once through its fast traps.

mod ldc;
mod migration;

use ldmig_hv::conformance::{find_case, Case};

/// Plays the case `name` of `cases` on `subject`, set up as `fixture`,
/// and panics with what broke the contract.
fn run_case<S, F>(cases: &[Case<S, F>], name: &str, subject: &mut S, fixture: &F) {
    let case = find_case(cases, name).unwrap_or_else(|| panic!("no conformance case {name}"));
    if let Err(failure) = (case.run)(subject, fixture) {
        panic!("{name} ({}): {failure}", case.calls);
    }
}

/// Asserts that `tested` (the names a test macro gave its `#[test]`s)
/// names every case of `cases`, in the suite's order.
fn assert_every_case_tested<S, F>(cases: &[Case<S, F>], tested: &[&str]) {
    let names: Vec<&str> = cases.iter().map(|case| case.name).collect();
    assert_eq!(
        names, tested,
        "one #[test] per case (and way), in the suite's order"
    );
}
