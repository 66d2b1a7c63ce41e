//! A named conformance case and the runner that plays a list of them, each
//! on a fresh subject, reporting every outcome. No heap: the firmware image
//! runs the same runner over real traps.

use super::report::{CaseResult, ConformanceFailure};

/// One check of the contract, written once for every implementation:
/// `run` gets the implementation (`S`) in the state its fixture (`F`)
/// describes.
pub struct Case<S, F> {
    /// The case's name; the simulator's `#[test]` for it has the same name.
    pub name: &'static str,
    /// The calls it checks, as `hv/API.md` names them.
    pub calls: &'static str,
    /// The check itself.
    pub run: fn(&mut S, &F) -> CaseResult,
}

impl<S, F> Clone for Case<S, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, F> Copy for Case<S, F> {}

impl<S, F> core::fmt::Debug for Case<S, F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("calls", &self.calls)
            .finish()
    }
}

/// How a run of cases went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Cases that held.
    pub passed: usize,
    /// Cases that failed, or whose fixture could not be set up.
    pub failed: usize,
}

/// Runs every case of `cases` on a subject fresh from `fresh` and calls
/// `report` with each case and its outcome (a fixture that cannot be set
/// up fails the case with the failure `fresh` gave).
pub fn run_cases<S, F>(
    cases: &[Case<S, F>],
    mut fresh: impl FnMut() -> Result<(S, F), ConformanceFailure>,
    mut report: impl FnMut(&Case<S, F>, &CaseResult),
) -> Tally {
    let mut tally = Tally::default();
    for case in cases {
        let outcome = fresh().and_then(|(mut subject, fixture)| (case.run)(&mut subject, &fixture));
        match outcome {
            Ok(()) => tally.passed += 1,
            Err(_) => tally.failed += 1,
        }
        report(case, &outcome);
    }
    tally
}

/// The case named `name`, if the list has one.
pub fn find_case<'a, S, F>(cases: &'a [Case<S, F>], name: &str) -> Option<&'a Case<S, F>> {
    cases.iter().find(|case| case.name == name)
}

/// Defines a case constructor: `pub fn name<S: Bound>() -> Case<S, F>`
/// whose `run` is the body, named after the function.
macro_rules! define_case {
    (
        $(#[$doc:meta])*
        $name:ident<$subject_type:ident: $bound:path, $fixture_type:ty>,
        calls: $calls:literal,
        |$subject:ident, $fixture:ident| $body:block
    ) => {
        $(#[$doc])*
        pub fn $name<$subject_type: $bound>() -> $crate::conformance::Case<$subject_type, $fixture_type> {
            fn run<$subject_type: $bound>(
                $subject: &mut $subject_type,
                $fixture: &$fixture_type,
            ) -> $crate::conformance::CaseResult $body
            $crate::conformance::Case {
                name: stringify!($name),
                calls: $calls,
                run: run::<$subject_type>,
            }
        }
    };
}

pub(crate) use define_case;

#[cfg(test)]
mod tests {
    use super::super::report::{equals, holds};
    use super::*;
    use std::vec::Vec;

    fn always(_: &mut u64, _: &u64) -> CaseResult {
        holds("always", true)
    }

    fn matches_fixture(subject: &mut u64, fixture: &u64) -> CaseResult {
        *subject += 1;
        equals("subject is the fixture", *subject, *fixture)
    }

    #[test]
    fn run_cases_gives_each_case_a_fresh_subject_and_reports_it() {
        let cases = [
            Case {
                name: "a",
                calls: "X",
                run: always,
            },
            Case {
                name: "b",
                calls: "Y",
                run: matches_fixture,
            },
            Case {
                name: "c",
                calls: "Y",
                run: matches_fixture,
            },
        ];
        let mut setups = 0u64;
        let mut seen = Vec::new();
        let tally = run_cases(
            &cases,
            || {
                setups += 1;
                // The second case gets subject 1 (-> 2) and fixture 2.
                Ok((setups - 1, 2))
            },
            |case, outcome| seen.push((case.name, outcome.is_ok())),
        );
        assert_eq!(setups, 3);
        assert_eq!(seen, [("a", true), ("b", true), ("c", false)]);
        assert_eq!(
            tally,
            Tally {
                passed: 2,
                failed: 1
            }
        );
        assert_eq!(find_case(&cases, "c").map(|case| case.calls), Some("Y"));
        assert!(find_case(&cases, "d").is_none());
    }
}
