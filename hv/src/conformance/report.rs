//! What a conformance case reports when the implementation breaks the
//! contract: the check, what `hv/API.md` expects and what came back.
//! Heap-free, so the firmware image can print it.

use core::fmt;

use crate::HvError;

/// One side of a comparison: what a call or a check gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// The call succeeded.
    Success,
    /// The call failed with this status.
    Status(HvError),
    /// A value: a count, an address, an offset, a state.
    Value(u64),
    /// Whether a condition held.
    Holds(bool),
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::Success => f.write_str("success"),
            Observed::Status(error) => write!(f, "{} ({})", error.name(), error.status()),
            Observed::Value(value) => write!(f, "{value:#x}"),
            Observed::Holds(true) => f.write_str("true"),
            Observed::Holds(false) => f.write_str("false"),
        }
    }
}

/// A broken expectation: which check, and both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConformanceFailure {
    /// What was checked, in the contract's words.
    pub check: &'static str,
    /// What `hv/API.md` says must come back.
    pub expected: Observed,
    /// What came back.
    pub actual: Observed,
}

impl fmt::Display for ConformanceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.check, self.expected, self.actual
        )
    }
}

/// What a case returns.
pub type CaseResult = Result<(), ConformanceFailure>;

fn observed<T>(result: &Result<T, HvError>) -> Observed {
    match result {
        Ok(_) => Observed::Success,
        Err(error) => Observed::Status(*error),
    }
}

/// `result` must be the error `expected`.
pub fn fails_with<T>(
    check: &'static str,
    result: Result<T, HvError>,
    expected: HvError,
) -> CaseResult {
    observes(check, observed(&result), Observed::Status(expected))
}

/// Each call must fail with `expected`: [`fails_with`] on each in turn,
/// named by its check, returning from the case at the first that does
/// not (the calls after it are not made); otherwise `Ok(())`.
///
/// ```text
/// each_fails_with!(HvError::Invalid;
///     "MIG_DOMAIN_SUSPEND of an unknown domain" => hypervisor.suspend(unknown),
///     "MIG_DOMAIN_RESUME of an unknown domain" => hypervisor.resume(unknown),
/// )
/// ```
macro_rules! each_fails_with {
    ($expected:expr; $($check:literal => $call:expr),+ $(,)?) => {{
        $($crate::conformance::fails_with($check, $call, $expected)?;)+
        $crate::conformance::CaseResult::Ok(())
    }};
}

pub(crate) use each_fails_with;

/// `result` must succeed; gives its value.
pub fn succeeds<T>(
    check: &'static str,
    result: Result<T, HvError>,
) -> Result<T, ConformanceFailure> {
    result.map_err(|error| ConformanceFailure {
        check,
        expected: Observed::Success,
        actual: Observed::Status(error),
    })
}

/// `actual` must be `expected`: the comparison every other helper makes.
pub fn observes(check: &'static str, actual: Observed, expected: Observed) -> CaseResult {
    if actual == expected {
        return Ok(());
    }
    Err(ConformanceFailure {
        check,
        expected,
        actual,
    })
}

/// `actual` must equal `expected`.
pub fn equals(check: &'static str, actual: u64, expected: u64) -> CaseResult {
    observes(check, Observed::Value(actual), Observed::Value(expected))
}

/// `condition` must hold.
pub fn holds(check: &'static str, condition: bool) -> CaseResult {
    observes(check, Observed::Holds(condition), Observed::Holds(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn each_helper_passes_and_fails_as_it_says() {
        assert_eq!(
            fails_with("a", Err::<(), _>(HvError::Invalid), HvError::Invalid),
            Ok(())
        );
        let wrong = fails_with("a", Err::<(), _>(HvError::NoMap), HvError::NoAccess);
        assert_eq!(
            wrong.map_err(|failure| failure.to_string()),
            Err("a: expected ENOACCESS (10), got ENOMAP (14)".to_string())
        );
        let succeeded = fails_with("b", Ok(7), HvError::Invalid).expect_err("must fail");
        assert_eq!(succeeded.actual, Observed::Success);
        assert_eq!(succeeds("c", Ok::<_, HvError>(5)), Ok(5));
        assert_eq!(
            succeeds("c", Err::<u8, _>(HvError::Busy)).map_err(|f| f.actual),
            Err(Observed::Status(HvError::Busy))
        );
        assert_eq!(equals("d", 3, 3), Ok(()));
        assert_eq!(
            equals("d", 3, 4).map_err(|failure| failure.to_string()),
            Err("d: expected 0x4, got 0x3".to_string())
        );
        assert_eq!(holds("e", true), Ok(()));
        assert_eq!(
            holds("e", false).map_err(|failure| failure.to_string()),
            Err("e: expected true, got false".to_string())
        );
    }
}
